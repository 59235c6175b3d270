"""Forced alignment with any scorer: training graphs, Viterbi alignment, phone segments, class counts.

Kaldi's alignment tools, on kaldi-hmm-gmm's C++ graph compiler and decoder:

* :class:`TrainingGraphCompiler` is ``compile-train-graphs``: per-utterance
  graphs H∘C∘L∘G (transition-ids in, words or phones out), built with transition
  and self-loop scales 0 as Kaldi's tool does (the probabilities change with
  every model update, so they are added at alignment time). The lexicon L comes
  from :func:`phone_lexicon_fst` (transcripts are phone sequences),
  :func:`lexicon_fst` (words, a pronunciation dictionary, optional silence as
  Kaldi's ``make_lexicon_fst.py``), or any L.fst (a lang directory's).
* :func:`align_with_gmm` is ``gmm-align-compiled`` (optionally after
  ``gmm-boost-silence``); :func:`align_with_log_likelihoods` aligns from a
  per-frame log-likelihood matrix ``(T, num_pdfs)`` of any scorer: a GMM, or a
  neural network's log-posteriors minus log-priors (``align-compiled-mapped``),
  so a network can realign its own training data. Both add transition
  probabilities (``AddTransitionProbs``), search with ``beam``, retry a failed
  utterance with ``retry_beam`` and count what still fails: nothing is dropped
  silently (:class:`AlignmentResult`).
* :func:`equal_align` is ``align-equal-compiled`` (the flat start).
* :func:`phone_segments` is ``SplitToPhones`` (which frames belong to which phone);
  :func:`class_counts` is ``analyze-counts`` (pdf counts + 0.5, the priors of a
  hybrid model) with a writer and reader in Kaldi's vector format.

Transition-ids are 1-based, pdf-ids 0-based, as in Kaldi (``ali-to-pdf``:
:func:`blasr.kaldi.formats.model.ali_to_pdf`).
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import kaldi_hmm_gmm  # noqa: I001  (kaldi-hmm-gmm must be imported before kaldifst)
import kaldifst
import numpy as np

from blasr.kaldi.formats.gmm import AmDiagGmm, DiagGmm
from blasr.kaldi.formats.io import KaldiFormatError, KaldiReader, KaldiWriter
from blasr.kaldi.formats.model import TransitionModel, ali_to_pdf
from blasr.kaldi.formats.symbols import SymbolTable
from blasr.kaldi.formats.tree import ContextDependency
from blasr.kaldi.lang.lexicon import LexiconEntry, make_lexicon_fst
from blasr.utils.jobs import job_progress


@dataclass
class AlignOptions:
    """Kaldi's alignment options (``steps/align_si.sh``: beam 10, retry-beam 40; ``scale_opts``).

    ``acoustic_scale`` scales the log-likelihoods, ``transition_scale`` the
    transition log-probabilities other than self-loops and ``self_loop_scale``
    the self-loops (Kaldi's ``--transition-scale=1.0 --acoustic-scale=0.1
    --self-loop-scale=0.1``). ``retry_beam`` 0 disables the retry.
    """

    beam: float = 10.0
    retry_beam: float = 40.0
    acoustic_scale: float = 0.1
    transition_scale: float = 1.0
    self_loop_scale: float = 0.1
    careful: bool = False

    def check(self) -> None:
        # kaldi-hmm-gmm aborts the process on these, so refuse them here.
        if not self.beam > 0:
            raise ValueError(f"beam must be positive, got {self.beam}")
        if self.retry_beam != 0 and not self.retry_beam > self.beam:
            raise ValueError(f"retry_beam ({self.retry_beam}) must be 0 (no retry) or larger than beam ({self.beam})")
        if not self.acoustic_scale > 0:
            raise ValueError(f"acoustic_scale must be positive, got {self.acoustic_scale}")


# -- lexicons and training graphs ---------------------------------------------------------


def _check_label(value: int, what: str) -> int:
    value = int(value)
    if value <= 0:
        raise ValueError(f"{what} {value}: symbol ids must be positive (0 is epsilon)")
    return value


def phone_lexicon_fst(phones: Iterable[int]) -> kaldifst.StdVectorFst:
    """L for transcripts that are phone sequences: one state, a loop ``p:p`` per phone, no silence added."""
    lexicon = kaldifst.StdVectorFst()
    state = lexicon.add_state()
    lexicon.start = state
    lexicon.set_final(state, 0.0)
    for phone in sorted({_check_label(p, "phone") for p in phones}):
        lexicon.add_arc(state, kaldifst.StdArc(phone, phone, 0.0, state))
    return lexicon


def lexicon_fst(
    lexicon: Mapping[int, Sequence[Sequence[int]]],
    silence_phone: int | None = None,
    silence_prob: float = 0.5,
) -> kaldifst.StdVectorFst:
    """L with optional silence between words, as Kaldi's ``utils/lang/make_lexicon_fst.py``, from ids.

    ``lexicon`` maps a word id to its pronunciations (phone-id sequences).
    Silence is optional at the start and after every word, with probability
    ``silence_prob``; without ``silence_phone`` (or with ``silence_prob`` 0) the
    words simply follow each other. No disambiguation symbols: this L is for
    training graphs (``compile-train-graphs`` reads ``L.fst``, not ``L_disambig.fst``).
    The FST is :func:`blasr.kaldi.lang.lexicon.make_lexicon_fst`'s, over symbol tables
    that name every id by its number.
    """
    entries, phone_ids = [], set()
    for word in sorted(lexicon):
        word = _check_label(word, "word")
        if not lexicon[word]:
            raise ValueError(f"word {word} has no pronunciation")
        for pron in lexicon[word]:
            pron = [_check_label(p, f"word {word}: phone") for p in pron]
            if not pron:
                raise ValueError(f"word {word} has an empty pronunciation")
            phone_ids.update(pron)
            entries.append(LexiconEntry(str(word), 1.0, tuple(map(str, pron))))
    with_silence = silence_phone is not None and silence_prob > 0
    if with_silence:
        phone_ids.add(_check_label(silence_phone, "silence phone"))
    phones = SymbolTable({str(p): p for p in sorted(phone_ids)})
    words = SymbolTable({entry.word: int(entry.word) for entry in entries})
    if not with_silence:
        return make_lexicon_fst(entries, phones, words, sil_prob=0.0)
    return make_lexicon_fst(entries, phones, words, sil_prob=silence_prob, sil_phone=str(silence_phone))


def _output_labels(fst: kaldifst.StdVectorFst) -> set[int]:
    labels = set()
    for state in range(fst.num_states):
        for arc in kaldifst.ArcIterator(fst, state):
            labels.add(arc.olabel)
    labels.discard(0)
    return labels


class TrainingGraphCompiler:
    """Kaldi's ``compile-train-graphs``: a transcript (word or phone ids) to its training graph.

    The graph's input labels are transition-ids (self-loops included, Kaldi's
    ``reorder`` layout by default), its output labels the transcript's symbols;
    it carries no transition probabilities (scales 0, as Kaldi's tool; the
    aligners add them). Symbols that the lexicon does not know are refused with
    an error naming the utterance (kaldi-hmm-gmm would abort the process).
    With ``cache``, each distinct transcript is compiled once and copies are
    handed out (Kaldi keeps ``fsts.JOB.gz`` for the same reason); that costs
    memory in proportion to the corpus.
    """

    def __init__(
        self,
        transition_model: TransitionModel,
        tree: ContextDependency,
        lexicon: kaldifst.StdVectorFst,
        disambig_symbols: Sequence[int] = (),
        reorder: bool = True,
        cache: bool = False,
    ):
        if tree.num_pdfs != transition_model.num_pdfs:
            raise ValueError(f"the tree has {tree.num_pdfs} pdfs, the transition model {transition_model.num_pdfs}")
        self.transition_model = transition_model
        self.tree = tree
        self.reorder = reorder
        self.symbols = _output_labels(lexicon)
        self._cache: dict[tuple[int, ...], kaldifst.StdVectorFst] | None = {} if cache else None
        # kaldi-hmm-gmm keeps references to these two: they must live as long as the compiler.
        self._kaldi_model = transition_model.to_kaldi_hmm_gmm()
        self._kaldi_tree = tree.to_kaldi_hmm_gmm()
        options = kaldi_hmm_gmm.TrainingGraphCompilerOptions(transition_scale=0.0, self_loop_scale=0.0, reorder=reorder)
        self._compiler = kaldi_hmm_gmm.TrainingGraphCompiler(
            trans_model=self._kaldi_model,
            ctx_dep=self._kaldi_tree,
            lex_fst=lexicon,
            disambig_syms=list(disambig_symbols),
            opts=options,
        )

    @classmethod
    def for_phones(
        cls, transition_model: TransitionModel, tree: ContextDependency, **kwargs
    ) -> "TrainingGraphCompiler":
        """Transcripts are phone-id sequences (:func:`phone_lexicon_fst` over the model's phones)."""
        return cls(transition_model, tree, phone_lexicon_fst(transition_model.phones), **kwargs)

    @property
    def kaldi_transition_model(self):
        return self._kaldi_model

    def compile(self, transcript: Sequence[int], utterance: str = "") -> kaldifst.StdVectorFst:
        unknown = sorted({int(s) for s in transcript} - self.symbols)
        if unknown:
            where = f"utterance {utterance!r}: " if utterance else ""
            raise ValueError(f"{where}symbol(s) {unknown} are not in the lexicon of the training-graph compiler")
        key = tuple(int(s) for s in transcript)
        if self._cache is None:
            return self._compiler.compile_graph_from_text(list(key))
        if key not in self._cache:
            self._cache[key] = self._compiler.compile_graph_from_text(list(key))
        return self._cache[key].copy()


# -- alignment ----------------------------------------------------------------------------


@dataclass
class AlignmentResult:
    """Transition-id alignments of the utterances that aligned, and what happened to the others.

    ``log_likelihoods`` holds each aligned utterance's total acoustic plus
    transition log-likelihood (divided by the acoustic scale, as Kaldi prints
    it). ``retried`` lists the utterances that needed the retry beam (aligned
    or not), ``failed`` those that did not align, with the reason.
    """

    alignments: dict[str, np.ndarray] = field(default_factory=dict)
    log_likelihoods: dict[str, float] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return sum(len(a) for a in self.alignments.values())

    def pdf_alignments(self, transition_model: TransitionModel) -> dict[str, np.ndarray]:
        """Per-frame pdf-ids (Kaldi's ``ali-to-pdf``)."""
        return {utt: ali_to_pdf(transition_model, ali, utt).astype(np.int32) for utt, ali in self.alignments.items()}

    def summary(self) -> str:
        total = len(self.alignments) + len(self.failed)
        frames = self.num_frames
        like = sum(self.log_likelihoods.values()) / frames if frames else float("nan")
        text = f"aligned {len(self.alignments)} of {total} utterances ({frames} frames"
        if self.log_likelihoods:
            text += f", log-likelihood per frame {like:.3f}"
        text += f"); {len(self.retried)} retried with the larger beam, {len(self.failed)} failed"
        if self.failed:
            shown = ", ".join(f"{u} ({why})" for u, why in list(self.failed.items())[:5])
            text += f": {shown}" + (", ..." if len(self.failed) > 5 else "")
        return text


def _align_graph(
    graph: kaldifst.StdVectorFst,
    decodable,
    options: AlignOptions,
    utterance: str,
    result: AlignmentResult,
    label_map: np.ndarray | None = None,
) -> None:
    config = kaldi_hmm_gmm.AlignConfig(beam=options.beam, retry_beam=options.retry_beam, careful=options.careful)
    done, _, retried, like, _, alignment, _ = kaldi_hmm_gmm.align_utterance_wrapper(
        config=config,
        utt=utterance,
        acoustic_scale=options.acoustic_scale,
        fst=graph,
        decodable=decodable,
        num_done=0,
        num_error=0,
        num_retried=0,
        tot_like=0.0,
        frame_count=0,
    )
    if retried:
        result.retried.append(utterance)
    if not done:
        beams = f"beam {options.beam}" + (f" and retry beam {options.retry_beam}" if options.retry_beam else "")
        result.failed[utterance] = f"no path to a final state with {beams}"
        return
    alignment = np.asarray(alignment, dtype=np.int32)
    if label_map is not None:
        alignment = label_map[alignment - 1]
    result.alignments[utterance] = alignment
    result.log_likelihoods[utterance] = float(like)


def _graph_with_transition_probs(
    compiler: TrainingGraphCompiler, transcript: Sequence[int], utterance: str, options: AlignOptions
) -> kaldifst.StdVectorFst:
    graph = compiler.compile(transcript, utterance)
    kaldi_hmm_gmm.add_transition_probs(
        trans_model=compiler.kaldi_transition_model,
        disambig_syms=[],
        transition_scale=options.transition_scale,
        self_loop_scale=options.self_loop_scale,
        fst=graph,
    )
    return graph


def _check_frames(features: np.ndarray, utterance: str, what: str) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"utterance {utterance!r}: {what} must be a (frames, dim) matrix, got shape {features.shape}")
    return features


def boost_silence(
    transition_model: TransitionModel, acoustic_model: AmDiagGmm, silence_phones: Iterable[int], boost: float
) -> AmDiagGmm:
    """Kaldi's ``gmm-boost-silence``: the pdfs of the silence phones get their weights times ``boost``.

    (Every log-likelihood of those pdfs rises by ``log(boost)``; weights no longer sum to one, as in Kaldi.)
    """
    silence = np.isin(transition_model.phone, list(silence_phones))
    silence[0] = False
    pdfs = set(np.unique(transition_model.pdf[silence]).tolist())
    if boost == 1.0 or not pdfs:
        return acoustic_model
    gmms = [
        DiagGmm(gmm.weights * np.float32(boost), gmm.means_invvars, gmm.inv_vars) if pdf in pdfs else gmm
        for pdf, gmm in enumerate(acoustic_model.pdfs)
    ]
    return AmDiagGmm(gmms)


def align_with_gmm(
    compiler: TrainingGraphCompiler,
    transcripts: Mapping[str, Sequence[int]],
    features: Mapping[str, np.ndarray],
    acoustic_model: AmDiagGmm,
    options: AlignOptions | None = None,
) -> AlignmentResult:
    """Kaldi's ``gmm-align-compiled``: Viterbi alignment of each utterance against its training graph.

    ``features[utt]`` is a ``(frames, dim)`` matrix; the alignment has exactly
    that many transition-ids. Boost silence beforehand with :func:`boost_silence`.
    """
    options = options or AlignOptions()
    options.check()
    kaldi_model = compiler.kaldi_transition_model
    kaldi_am = acoustic_model.to_kaldi_hmm_gmm()
    result = AlignmentResult()
    for utterance, transcript in job_progress(transcripts.items(), "align", total=len(transcripts)):
        if utterance not in features:
            result.failed[utterance] = "no features"
            continue
        feats = _check_frames(features[utterance], utterance, "features")
        if feats.shape[1] != acoustic_model.dim:
            raise ValueError(
                f"utterance {utterance!r}: features have dimension {feats.shape[1]}, the GMMs {acoustic_model.dim}"
            )
        if len(feats) == 0:
            result.failed[utterance] = "no frames"
            continue
        graph = _graph_with_transition_probs(compiler, transcript, utterance, options)
        decodable = kaldi_hmm_gmm.DecodableAmDiagGmmScaled(
            am=kaldi_am,
            tm=kaldi_model,
            feats=np.ascontiguousarray(feats, dtype=np.float32),
            scale=options.acoustic_scale,
        )
        _align_graph(graph, decodable, options, utterance, result)
    return result


def _relabel_to_columns(graph: kaldifst.StdVectorFst) -> tuple[kaldifst.StdVectorFst, np.ndarray]:
    """The graph with transition-ids renumbered 1..K (the columns of a compact score matrix), and the K ids."""
    arcs = []
    for state in range(graph.num_states):
        for arc in kaldifst.ArcIterator(graph, state):
            arcs.append((state, arc.ilabel, arc.olabel, arc.weight.value, arc.nextstate))
    ids = np.unique([a[1] for a in arcs if a[1] != 0]).astype(np.int32)
    column = {int(t): k + 1 for k, t in enumerate(ids.tolist())}
    relabelled = kaldifst.StdVectorFst()
    for _ in range(graph.num_states):
        relabelled.add_state()
    relabelled.start = graph.start
    for state in range(graph.num_states):
        final = graph.final(state).value
        if math.isfinite(final):
            relabelled.set_final(state, final)
    for state, ilabel, olabel, weight, nextstate in arcs:
        relabelled.add_arc(state, kaldifst.StdArc(column.get(ilabel, 0), olabel, weight, nextstate))
    return relabelled, ids


def align_with_log_likelihoods(
    compiler: TrainingGraphCompiler,
    transcripts: Mapping[str, Sequence[int]],
    log_likelihoods: Mapping[str, np.ndarray] | Callable[[str], np.ndarray],
    options: AlignOptions | None = None,
) -> AlignmentResult:
    """Alignment from per-frame log-likelihoods of any scorer (Kaldi's ``align-compiled-mapped``).

    ``log_likelihoods[utt]`` (or ``log_likelihoods(utt)``) is a ``(frames,
    num_pdfs)`` matrix: a GMM's log-likelihoods, or a network's log-posteriors
    minus scaled log-priors (pseudo log-likelihoods). With a GMM's own
    log-likelihoods the result equals :func:`align_with_gmm`'s.
    """
    options = options or AlignOptions()
    options.check()
    model = compiler.transition_model
    result = AlignmentResult()
    lookup = log_likelihoods if callable(log_likelihoods) else log_likelihoods.get
    for utterance, transcript in job_progress(transcripts.items(), "align", total=len(transcripts)):
        scores = lookup(utterance)
        if scores is None:
            result.failed[utterance] = "no log-likelihoods"
            continue
        scores = _check_frames(scores, utterance, "log-likelihoods")
        if scores.shape[1] != model.num_pdfs:
            raise ValueError(
                f"utterance {utterance!r}: {scores.shape[1]} log-likelihood columns, the model has {model.num_pdfs} pdfs"
            )
        if len(scores) == 0:
            result.failed[utterance] = "no frames"
            continue
        graph = _graph_with_transition_probs(compiler, transcript, utterance, options)
        graph, ids = _relabel_to_columns(graph)
        # Column k holds the score of transition-id ids[k], i.e. of its pdf (kaldi-hmm-gmm's DecodableCtc reads column label-1).
        matrix = np.ascontiguousarray(options.acoustic_scale * scores[:, model.pdf[ids]], dtype=np.float32)
        if np.isnan(matrix).any() or np.isposinf(matrix).any():
            raise ValueError(f"utterance {utterance!r}: the log-likelihoods hold NaN or +inf")
        _align_graph(graph, kaldi_hmm_gmm.DecodableCtc(matrix), options, utterance, result, label_map=ids)
    return result


def equal_align(
    compiler: TrainingGraphCompiler, transcripts: Mapping[str, Sequence[int]], num_frames: Mapping[str, int]
) -> AlignmentResult:
    """Kaldi's ``align-equal-compiled``: a path through each graph with equal state durations (the flat start).

    The path is chosen at random, seeded by the utterance id (reproducible).
    An utterance with fewer frames than its shortest path fails (counted in the result).
    """
    result = AlignmentResult()
    for utterance, transcript in transcripts.items():
        if utterance not in num_frames:
            result.failed[utterance] = "no features"
            continue
        length = int(num_frames[utterance])
        graph = compiler.compile(transcript, utterance)
        ok, path = kaldifst.equal_align(
            ifst=graph, length=length, rand_seed=zlib.crc32(utterance.encode()) & 0x7FFFFFFF, num_retries=10
        )
        if ok:
            ok, alignment, _, _ = kaldifst.get_linear_symbol_sequence(path)
        if not ok or len(alignment) != length:
            result.failed[utterance] = f"no path of {length} frames (too few frames for the transcript?)"
            continue
        result.alignments[utterance] = np.asarray(alignment, dtype=np.int32)
    return result


# -- phone segments -----------------------------------------------------------------------


def phone_segments(
    transition_model: TransitionModel, alignment: np.ndarray, reorder: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The phones of an alignment and the frame where each starts (Kaldi's ``SplitToPhones``).

    A phone ends with the transition into its HMM's final state; with Kaldi's
    default ``reorder`` layout that transition comes first in its state and the
    state's self-loops follow it, so a new phone starts at the first
    non-self-loop frame after it. Returns ``(phones, starts)``; phone ``i``
    covers frames ``starts[i] .. starts[i + 1] - 1``.
    """
    tids = np.asarray(alignment, dtype=np.int64)
    if tids.size == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    transition_model._check_ids(tids)
    frames = np.arange(len(tids))
    if reorder:
        loop = transition_model.is_self_loop[tids]
        # The last non-self-loop frame at or before each frame (-1 where none).
        anchor = np.maximum.accumulate(np.where(loop, -1, frames))
        previous = np.concatenate([[-1], anchor[:-1]])
        ended = np.zeros(len(tids), dtype=bool)
        ended[1:] = (previous[1:] >= 0) & transition_model.is_final[tids[np.maximum(previous[1:], 0)]]
        starts = np.flatnonzero((frames == 0) | (~loop & ended))
    else:
        starts = np.flatnonzero(np.concatenate([[True], transition_model.is_final[tids[:-1]]]))
    return transition_model.phone[tids[starts]].astype(np.int32), starts


# -- class counts -------------------------------------------------------------------------


def class_counts(pdf_alignments: Mapping[str, np.ndarray] | Iterable[np.ndarray], num_pdfs: int) -> np.ndarray:
    """Frames per pdf-id plus 0.5, as Kaldi's ``analyze-counts --counts-dim=num_pdfs`` writes them.

    The half frame keeps unseen classes away from zero (their prior is then
    tiny, not undefined). Returns float64 counts, length ``num_pdfs``.
    """
    values = pdf_alignments.values() if isinstance(pdf_alignments, Mapping) else pdf_alignments
    counts = np.zeros(num_pdfs, dtype=np.float64)
    for alignment in values:
        alignment = np.asarray(alignment)
        if alignment.size and (alignment.min() < 0 or alignment.max() >= num_pdfs):
            raise ValueError(f"pdf-id outside 0..{num_pdfs - 1} in an alignment")
        counts += np.bincount(alignment, minlength=num_pdfs)
    return counts + 0.5


def write_class_counts(counts: np.ndarray, path: str | os.PathLike, binary: bool = False) -> Path:
    """Kaldi's vector format: text `` [ c0 c1 ... ]`` (analyze-counts' default) or binary ``DV``."""
    writer = KaldiWriter(binary)
    writer.vector(np.asarray(counts, dtype=np.float64))
    path = Path(path)
    path.write_bytes(writer.getvalue())
    return path


def read_class_counts(path: str | os.PathLike) -> np.ndarray:
    """Counts written by :func:`write_class_counts` or by Kaldi's ``analyze-counts`` (text or binary)."""
    reader = KaldiReader.open(path)
    counts = reader.read_vector().astype(np.float64)
    at = reader.pos
    if not reader.at_end():
        raise reader.error("unexpected data after the counts vector", at)
    if counts.size == 0 or (counts < 0).any():
        raise KaldiFormatError(f"{path}: counts must be a non-empty vector of non-negative numbers")
    return counts
