"""Decoding on HCLG into word lattices (kaldi-decoder) and their rescoring, from a score matrix or from the GMM.

* :func:`decode_matrix` is ``latgen-faster-mapped``: per-frame log-likelihoods
  ``(frames, num_pdfs)`` (the hybrid network's log-posteriors minus the scaled
  log-priors, float32, as the export writes them, or read from a Kaldi archive
  with :func:`read_matrices` or, streaming a script, :func:`open_matrices`) times the acoustic scale.
* :func:`decode_gmm` is ``gmm-latgen-faster``: the GMM scores the features
  (kaldi-hmm-gmm's ``DecodableAmDiagGmmScaled``), the baseline.
* :func:`sweep` decodes a dev set into lattices once and rescores them over LM
  weights (acoustic scale = 1 / LM weight) and word-insertion penalties, and
  picks the best with :func:`blasr.kaldi.scoring.wer.best_setting`, as Kaldi's
  ``score_kaldi.sh`` does.

How the matrix reaches the decoder: kaldi-decoder's ``DecodableCtc`` returns
``matrix[frame, index - 1]`` for graph input label ``index``; HCLG's input labels
are transition-ids, so the ``(frames, num_pdfs)`` matrix is expanded once per
utterance to ``(frames, num_transition_ids)`` (column ``t - 1`` holds pdf(t)'s
score, Kaldi's ``DecodableMatrixMappedOffset`` as a copy): 4 bytes per frame and
transition-id, e.g. 80 MB for 1,000 frames of a 20,000-transition-id model.

Lattices: kaldi-decoder's ``LatticeSimpleDecoder`` (the PyPI builds of
``LatticeFasterDecoder`` return the best path only) gives the raw state-level
lattice, which :func:`blasr.kaldi.decoding.lattice.determinize` prunes and
determinizes on words, as ``latgen-faster-mapped --determinize-lattice=true``.
Each utterance is decoded once; a sweep finds every setting's best path in that
lattice (:func:`blasr.kaldi.decoding.lattice.best_paths`), as ``score_kaldi.sh``
rescores ``lat.N.gz``. ``rescore=False`` searches once per setting instead
(word-insertion penalty on the graph's word arcs), the reference. The GMM's
own decoding (:meth:`Decoder.decode_gmm`) uses kaldi-hmm-gmm's lattice-faster
decoder, best path only. :func:`decode_many` splits the utterances over
``num_jobs`` processes that each take a contiguous share (Kaldi's ``nj``).
Speed is reported as the real-time factor: decoding seconds (summed over
processes) over audio seconds, at 100 frames per second.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, Union

import kaldi_decoder
import kaldi_hmm_gmm as khg
import numpy as np

from blasr.kaldi.decoding.graph import add_word_penalty
from blasr.kaldi.decoding.lattice import LatticeError, best_paths, determinize
from blasr.kaldi.formats.ark import open_matrices, read_matrices
from blasr.kaldi.formats.fst import fst_arrays, read_fst
from blasr.kaldi.formats.gmm import AmDiagGmm
from blasr.kaldi.formats.lattice import CompactLattice, RawLattice, parse_raw_lattice
from blasr.kaldi.formats.model import TransitionModel, as_transition_model
from blasr.kaldi.formats.symbols import SymbolTable, read_symbol_table
from blasr.kaldi.scoring.wer import ErrorCounts, best_setting, score, write_text
from blasr.utils.errors import BlasrError
from blasr.utils.jobs import contiguous_shares, job_progress, run_spawned

logger = logging.getLogger("blasr")

FRAME_RATE = 100.0  # frames per second of audio (10 ms shift)
Matrices = Union[Mapping[str, np.ndarray], Iterable[tuple[str, np.ndarray]], str, os.PathLike]


class DecodeError(BlasrError, ValueError):
    """Scores that do not fit the model or graph (the message names the utterance)."""


def check_num_pdfs(num_classes: int, transition_model: TransitionModel, source: str | os.PathLike) -> None:
    """Scores of ``num_classes`` columns from ``source`` must have the transition model's ``num_pdfs``."""
    if num_classes != transition_model.num_pdfs:
        raise DecodeError(f"{source} scores {num_classes} classes, the graph's model has {transition_model.num_pdfs} "
                          "pdfs: the network was trained on the targets of another tree (see the num_pdfs beside "
                          "its targets)")


@dataclass(frozen=True)
class DecodeOptions:
    """``latgen-faster-mapped`` options (Kaldi's nnet decoding defaults, beam 13, lattice beam 8).

    ``max_active`` and ``min_active`` bound the GMM's best-path decoder only: the lattice decoder
    (kaldi-decoder's ``LatticeSimpleDecoder``) prunes by ``beam`` alone, so flat scores (a barely
    trained network) widen its search; lower the beam for those.
    """

    acoustic_scale: float = 0.1
    beam: float = 13.0
    lattice_beam: float = 8.0
    max_active: int = 7000
    min_active: int = 200
    word_insertion_penalty: float = 0.0
    allow_partial: bool = True  # output the best partial path when no final state is reached (steps/decode.sh)


@dataclass
class Hypothesis:
    """The best path of one utterance.

    ``score`` is the log-likelihood of the path as the decoder sees it:
    ``acoustic_scale * acoustic log-likelihood - graph cost`` (Kaldi's
    ``-(graph + acoustic cost)``). ``pdfs`` has one pdf-id per frame.
    """

    utterance: str
    words: list[str]
    word_ids: list[int]
    pdfs: np.ndarray
    score: float
    num_frames: int
    seconds: float
    partial: bool = False  # no final state was reached
    tids: np.ndarray | None = None  # the alignment: one transition-id per frame
    lattice: CompactLattice | None = None  # the utterance's lattice, when it was decoded into one


@dataclass
class Decoding:
    """Hypotheses of a set of utterances, with what failed and the speed."""

    hypotheses: dict[str, Hypothesis] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    num_frames: int = 0
    seconds: float = 0.0

    @property
    def hyps(self) -> dict[str, list[str]]:
        return {utt: h.words for utt, h in self.hypotheses.items()}

    @property
    def partial(self) -> list[str]:
        return [utt for utt, h in self.hypotheses.items() if h.partial]

    @property
    def rtf(self) -> float:
        """Real-time factor: decoding seconds per second of audio (frames at 100 per second)."""
        return self.seconds / (self.num_frames / FRAME_RATE) if self.num_frames else 0.0

    def add(self, hypothesis: Hypothesis | None, utterance: str) -> None:
        if hypothesis is None:
            self.failed.append(utterance)
        else:
            self.hypotheses[utterance] = hypothesis
            self.num_frames += hypothesis.num_frames
            self.seconds += hypothesis.seconds

    def summary(self) -> str:
        return (
            f"decoded {len(self.hypotheses)} utterances ({self.num_frames} frames, "
            f"{self.num_frames / FRAME_RATE:.1f} s of audio) in {self.seconds:.2f} s, RTF {self.rtf:.4f}; "
            f"{len(self.partial)} partial, {len(self.failed)} failed"
        )

    def write_text(self, path: str | os.PathLike) -> None:
        """A Kaldi ``text`` file of the hypotheses (``utt word word ...``)."""
        write_text(self.hyps, path)


def raw_lattice(fst: Any) -> RawLattice:
    """A ``kaldifst.Lattice`` (what kaldi-decoder returns) as arrays, through its OpenFst binary."""
    with tempfile.TemporaryDirectory(prefix="blasr-lat-") as tmp:
        path = os.path.join(tmp, "raw.fst")
        fst.write(path)
        with open(path, "rb") as f:
            return parse_raw_lattice(f.read(), "raw lattice")


def _as_mapping(items: Matrices) -> Mapping[str, np.ndarray]:
    if isinstance(items, (str, os.PathLike)):
        return open_matrices(items)
    if isinstance(items, Mapping):
        return items
    return dict(items)


def _iter_matrices(items: Matrices) -> Iterator[tuple[str, np.ndarray]]:
    if isinstance(items, (str, os.PathLike)):
        return read_matrices(items)
    if isinstance(items, Mapping):
        return iter(items.items())
    return iter(items)


def decode_many(
    loglikes: Matrices,
    graph: Any,
    transition_model: TransitionModel | str | os.PathLike,
    words: SymbolTable | str | os.PathLike | None,
    settings: Sequence[DecodeOptions],
    num_jobs: int = 1,
    lattice_options: DecodeOptions | None = None,
    rescore: bool = False,
    log_dir: str | os.PathLike | None = None,
) -> list[Decoding]:
    """Decode every ``(utterance, matrix)`` of ``loglikes`` under each of ``settings``: one :class:`Decoding` per
    setting, utterances in input order.

    By default each setting is a search of its own (:meth:`Decoder.search_best_path`). With ``rescore=True``
    each utterance is decoded once into a lattice instead (with ``lattice_options``, default the first
    setting's: acoustic scale, beams) and its best path is found under every setting's acoustic scale and
    penalty by rescoring the lattice; each hypothesis holds the lattice and counts the one decoding's time. A ``.scp`` is streamed, one matrix in memory per process. With
    ``num_jobs`` > 1 the utterances are split into that many contiguous shares, each decoded by its own
    process with its own copy of the graph; ``graph`` must then be a file or graph directory, and with
    ``log_dir`` job J logs to ``log_dir/decode.J.log``. Progress: one bar over the utterances.
    """
    if not settings:
        raise ValueError("no decoding settings")
    if num_jobs < 1:
        raise ValueError(f"num_jobs must be at least 1, not {num_jobs}")
    matrices = _as_mapping(loglikes)
    utterances = list(matrices)
    if not utterances:
        raise DecodeError("no utterances to decode")
    num_jobs = min(num_jobs, len(utterances))
    first = lattice_options or settings[0]
    if num_jobs == 1:
        shards = [_decode_shard(graph, transition_model, words, settings, first, rescore, matrices, utterances)]
    else:
        if not isinstance(graph, (str, os.PathLike)):
            raise ValueError("decoding with num_jobs > 1 needs the graph as a file (HCLG.fst or its directory)")
        source = _shareable_source(loglikes, matrices)
        calls = [(graph, transition_model, words, settings, first, rescore,
                  {key: source[key] for key in keys} if isinstance(source, dict) else source, keys)
                 for keys in contiguous_shares(utterances, num_jobs)]
        shards = run_spawned(_decode_shard, calls, lambda error: DecodeError(
            f"a decoding process died ({error}); run with one job (--nj 1) to see why, "
            "or with fewer jobs if memory ran out (each holds a copy of the graph)"),
            stage="decode", log_dir=log_dir, total=len(utterances))
    decodings = []
    for index in range(len(settings)):
        decoding = Decoding()
        for shard in shards:
            for utterance, hypothesis in shard[index]:
                decoding.add(hypothesis, utterance)
        decodings.append(decoding)
    return decodings


class MatrixShare(Mapping):
    """The utterances ``keys`` of a mapping of matrices, read from it on access (a job's share of an scp)."""

    def __init__(self, matrices: Mapping[str, np.ndarray], keys: Sequence[str]) -> None:
        self.matrices, self.utterances = matrices, list(keys)

    def __getitem__(self, utterance: str) -> np.ndarray:
        return self.matrices[utterance]

    def __iter__(self) -> Iterator[str]:
        return iter(self.utterances)

    def __len__(self) -> int:
        return len(self.utterances)


def job_share(loglikes: Matrices, job: int, num_jobs: int) -> MatrixShare:
    """Share ``job`` (1-based) of ``num_jobs`` of ``loglikes``' utterances: the contiguous share
    :func:`decode_many` gives its process ``job`` (empty when there are fewer utterances than jobs)."""
    if not 1 <= job <= num_jobs:
        raise ValueError(f"job {job} is not one of 1..{num_jobs}")
    matrices = _as_mapping(loglikes)
    utterances = list(matrices)
    shares = contiguous_shares(utterances, min(num_jobs, len(utterances)) or 1)
    return MatrixShare(matrices, shares[job - 1] if job <= len(shares) else [])


def sweep_grid(lm_weights: Sequence[float], word_insertion_penalties: Sequence[float], **options: Any
               ) -> tuple[list[tuple[float, float]], list[DecodeOptions], DecodeOptions]:
    """:func:`sweep`'s settings: ``(LM weight, penalty)`` in ``score_kaldi.sh``'s order (penalty outer), their
    :class:`DecodeOptions` (acoustic scale ``1 / LM weight``) and the lattice decoding's options."""
    grid = [(float(lm_weight), float(penalty)) for penalty in word_insertion_penalties for lm_weight in lm_weights]
    settings = [DecodeOptions(**{**options, "acoustic_scale": 1.0 / lm_weight, "word_insertion_penalty": penalty})
                for lm_weight, penalty in grid]
    return grid, settings, DecodeOptions(**{**options, "word_insertion_penalty": 0.0})


def _shareable_source(loglikes: Matrices, matrices: Mapping[str, np.ndarray]) -> Matrices:
    """What a worker process needs to read its utterances: the script's path, a mapping that computes its
    matrices where it is used (``crosses_processes``, e.g. :class:`blasr.inference.NetworkScores`), or the
    matrices themselves."""
    if getattr(matrices, "crosses_processes", False):
        return matrices
    if isinstance(loglikes, (str, os.PathLike)) and not isinstance(matrices, dict):
        return str(loglikes)  # a .scp: each process streams its own share
    return dict(matrices)


def _decode_shard(
    graph: Any,
    transition_model: TransitionModel | str | os.PathLike,
    words: SymbolTable | str | os.PathLike | None,
    settings: Sequence[DecodeOptions],
    lattice_options: DecodeOptions,
    rescore: bool,
    source: Matrices,
    utterances: Sequence[str],
) -> list[list[tuple[str, Hypothesis | None]]]:
    base = Decoder(graph, transition_model, words, lattice_options)
    searchers = [] if rescore else [base.with_options(**vars(options)) for options in settings]  # graphs shared
    matrices = _as_mapping(source)
    results: list[list[tuple[str, Hypothesis | None]]] = [[] for _ in settings]
    for utterance in job_progress(utterances, "decode", total=len(utterances)):
        try:
            matrix = matrices[utterance]
        except ValueError as error:  # e.g. a cut the network cannot score: counted as failed, not fatal
            logger.warning("utterance %s: no scores (%s)", utterance, error)
            matrix = None
        if matrix is None:
            hypotheses: list[Hypothesis | None] = [None] * len(settings)
        elif rescore:
            hypotheses = _rescored(base, matrix, utterance, settings)
        else:
            hypotheses = [searcher.search_best_path(matrix, utterance) for searcher in searchers]
        for hypothesis, result in zip(hypotheses, results):
            result.append((utterance, hypothesis))
    return results


def _rescored(decoder: "Decoder", matrix: np.ndarray, utterance: str, settings: Sequence[DecodeOptions]
              ) -> list[Hypothesis | None]:
    decoder._lattice_decoder()  # built once, outside the timing
    start = time.perf_counter()
    result = decoder.decode_lattice(matrix, utterance)
    if result is None:
        return [None] * len(settings)
    lattice, partial = result
    hypotheses = decoder.hypotheses(lattice, settings, utterance)
    seconds = time.perf_counter() - start
    for hypothesis in hypotheses:
        if hypothesis is not None:
            hypothesis.seconds, hypothesis.partial = seconds, partial
    return hypotheses


class Decoder:
    """One graph, one transition model, one set of options: decodes utterances one at a time.

    Args:
        graph: a ``kaldifst.StdVectorFst``, an ``HCLG.fst`` file (const or
            vector) or a graph directory (then ``words`` defaults to its ``words.txt``).
        transition_model: a :class:`TransitionModel` or a model file (``final.mdl``).
        words: a :class:`SymbolTable` or ``words.txt``; None only with a graph directory.
        options: :class:`DecodeOptions`.
    """

    def __init__(
        self,
        graph: Any,
        transition_model: TransitionModel | str | os.PathLike,
        words: SymbolTable | str | os.PathLike | None = None,
        options: DecodeOptions | None = None,
    ):
        if isinstance(graph, (str, os.PathLike)):
            path = Path(graph)
            if path.is_dir():
                words = path / "words.txt" if words is None else words
                path = path / "HCLG.fst"
            graph = read_fst(path)
        if words is None:
            raise ValueError("words (words.txt) is needed to turn word ids into words")
        self.words = words if isinstance(words, SymbolTable) else read_symbol_table(words)
        self.transition_model = as_transition_model(transition_model)
        self.options = options or DecodeOptions()
        self._graphs: dict[float, Any] = {0.0: graph}  # by word-insertion penalty
        self._decoders: dict[float, Any] = {}
        self._lattice_decoders: dict[tuple[float, float], Any] = {}  # by (beam, lattice beam)
        self._kaldi_model = self.transition_model.to_kaldi_hmm_gmm()
        self._gmm: tuple[AmDiagGmm, Any] | None = None
        self._check_graph(graph)

    def _check_graph(self, graph: Any) -> None:
        arrays = fst_arrays(graph)
        if arrays.start < 0:
            raise DecodeError("the decoding graph is empty (no start state)")
        num_tids = self.transition_model.num_transition_ids
        if arrays.num_arcs and arrays.arcs["ilabel"].max() > num_tids:
            raise DecodeError(
                f"the graph has input label {arrays.arcs['ilabel'].max()} but the model only {num_tids} "
                "transition-ids: disambiguation symbols left in, or a graph built for another model"
            )
        unknown = set(np.unique(arrays.arcs["olabel"]).tolist()) - {i for _, i in self.words}
        if unknown:
            raise DecodeError(
                f"the graph outputs word ids {sorted(unknown)[:5]} that are not in {self.words.name or 'the words'}"
            )

    def with_options(self, **changes: Any) -> "Decoder":
        """The same decoder (graphs shared) with some options changed."""
        other = object.__new__(Decoder)
        other.__dict__.update(self.__dict__)
        other.options = replace(self.options, **changes)
        other._decoders = {}
        return other

    def _graph(self, penalty: float) -> Any:
        """HCLG (transition-id input labels) with ``penalty`` added to every word arc."""
        if penalty not in self._graphs:
            self._graphs[penalty] = add_word_penalty(self._graphs[0.0], penalty)
        return self._graphs[penalty]

    def search_graph(self) -> Any:
        """HCLG with these options' word-insertion penalty on its word arcs: the graph the best-path search reads."""
        return self._graph(self.options.word_insertion_penalty)

    def _decoder(self) -> Any:
        """kaldi-hmm-gmm's lattice-faster decoder (best path only, beam and max-active) on HCLG with this penalty."""
        key = self.options.word_insertion_penalty
        if key not in self._decoders:
            config = khg.LatticeFasterDecoderConfig(
                beam=self.options.beam,
                max_active=self.options.max_active,
                min_active=self.options.min_active,
                lattice_beam=self.options.lattice_beam,
            )
            self._decoders[key] = khg.LatticeFasterDecoderStdVectorFst(self.search_graph(), config)
        return self._decoders[key]

    def _lattice_decoder(self) -> Any:
        """kaldi-decoder's lattice decoder on HCLG (no penalty on the graph: lattices are penalized when rescored)."""
        key = (self.options.beam, self.options.lattice_beam)
        if key not in self._lattice_decoders:
            config = kaldi_decoder.LatticeSimpleDecoderConfig(beam=self.options.beam,
                                                              lattice_beam=self.options.lattice_beam)
            self._lattice_decoders[key] = kaldi_decoder.LatticeSimpleDecoder(self._graph(0.0), config)
        return self._lattice_decoders[key]

    def _run(self, decodable: Any, utterance: str, num_frames: int, start: float) -> Hypothesis | None:
        decoder = self._decoder()
        partial = False
        ok, alignment, word_ids, score = khg.decode_utterance_lattice_faster(
            decoder=decoder, decodable=decodable, trans_model=self._kaldi_model, utt=utterance, allow_partial=False
        )
        if not ok and self.options.allow_partial:
            partial = True
            ok, alignment, word_ids, score = khg.decode_utterance_lattice_faster(
                decoder=decoder, decodable=decodable, trans_model=self._kaldi_model, utt=utterance, allow_partial=True
            )
        seconds = time.perf_counter() - start
        if not ok:
            logger.warning("utterance %s: decoding failed (no surviving path)", utterance)
            return None
        tids = np.asarray(alignment, dtype=np.int32)
        words = [self.words.symbol(i) for i in word_ids]
        return Hypothesis(utterance, words, list(word_ids), self.transition_model.pdf[tids], float(score), num_frames,
                          seconds, partial, tids)

    def scaled(self, loglikes: np.ndarray, utterance: str) -> np.ndarray:
        """The ``(frames, num_transition_ids)`` scores the decoder reads (column ``t - 1``: transition-id ``t``'s
        pdf), times the acoustic scale: Kaldi's ``DecodableMatrixMappedOffset``, as a copy."""
        matrix = np.asarray(loglikes)
        num_pdfs = self.transition_model.num_pdfs
        if matrix.ndim != 2 or matrix.shape[1] != num_pdfs:
            raise DecodeError(
                f"utterance {utterance!r}: scores have shape {matrix.shape}; expected (frames, {num_pdfs}) "
                "for this model's pdfs"
            )
        if len(matrix) == 0:
            raise DecodeError(f"utterance {utterance!r}: no frames")
        if not np.isfinite(matrix).all():
            raise DecodeError(f"utterance {utterance!r}: scores hold NaN or infinity")
        columns = self.transition_model.pdf[1:]
        return np.ascontiguousarray(matrix[:, columns] * np.float32(self.options.acoustic_scale), dtype=np.float32)

    def _search(self, decoder: Any, scaled: np.ndarray, utterance: str) -> tuple[Any, bool]:
        decoder.decode(kaldi_decoder.DecodableCtc(scaled))
        reached_final = np.isfinite(decoder.final_relative_cost())
        if not reached_final and not self.options.allow_partial:
            return None, True
        return decoder, not reached_final

    def decode_lattice(self, loglikes: np.ndarray, utterance: str = "utt") -> tuple[CompactLattice, bool] | None:
        """Decode ``(frames, num_pdfs)`` log-likelihoods (unscaled) into a determinized lattice
        (``latgen-faster-mapped``): returns it and whether it is partial (no final state reached, then the
        best partial paths are kept, as ``--allow-partial``), or None when nothing survives (logged)."""
        scaled = self.scaled(loglikes, utterance)
        decoder, partial = self._search(self._lattice_decoder(), scaled, utterance)
        if decoder is None:
            logger.warning("utterance %s: no final state reached (partial output not allowed)", utterance)
            return None
        ok, raw = decoder.get_raw_lattice(True)  # no final state reached: every last-frame state is final
        if not ok or raw.num_states == 0:
            logger.warning("utterance %s: decoding failed (no surviving path)", utterance)
            return None
        try:
            lattice = determinize(raw_lattice(raw), self.options.lattice_beam, self.options.acoustic_scale)
        except LatticeError as error:
            logger.warning("utterance %s: %s", utterance, error)
            return None
        if partial:
            logger.warning("utterance %s: no final state reached: partial lattice", utterance)
        return lattice, partial

    def decode_matrix(self, loglikes: np.ndarray, utterance: str = "utt") -> Hypothesis | None:
        """Decode ``(frames, num_pdfs)`` log-likelihoods (unscaled: the acoustic scale is applied here): the best
        path (:meth:`search_best_path`). Returns None when no path survives (logged)."""
        return self.search_best_path(loglikes, utterance)

    def hypotheses(self, lattice: CompactLattice, settings: Sequence[DecodeOptions], utterance: str = "utt"
                   ) -> list[Hypothesis | None]:
        """The lattice's best path under each setting's acoustic scale and word-insertion penalty
        (rescoring: ``lattice-scale``, ``lattice-add-penalty``, ``lattice-best-path``)."""
        paths = best_paths(lattice, [(1.0 / s.acoustic_scale, s.word_insertion_penalty) for s in settings])
        out: list[Hypothesis | None] = []
        for options, path in zip(settings, paths):
            if path is None:
                out.append(None)
                continue
            score = -(path.graph_cost + options.word_insertion_penalty * len(path.word_ids)
                      + options.acoustic_scale * path.acoustic_cost)
            out.append(Hypothesis(utterance, [self.words.symbol(i) for i in path.word_ids], path.word_ids,
                                  self.transition_model.pdf[path.tids], score, len(path.tids), 0.0, False, path.tids,
                                  lattice))
        return out

    def search_best_path(self, loglikes: np.ndarray, utterance: str = "utt") -> Hypothesis | None:
        """``latgen-faster-mapped``'s best path, without a lattice: kaldi-hmm-gmm's lattice-faster decoder
        (beam, max-active) at these options' acoustic scale, the penalty on the graph's word arcs."""
        self._decoder()  # the decoder and its graph, once: not counted in the decoding time
        start = time.perf_counter()
        scaled = self.scaled(loglikes, utterance)
        return self._run(khg.DecodableCtc(scaled), utterance, len(scaled), start)

    def decode_gmm(self, feats: np.ndarray, acoustic_model: AmDiagGmm, utterance: str = "utt") -> Hypothesis | None:
        """Decode features ``(frames, dim)`` scored by the GMMs (``gmm-latgen-faster``)."""

        if acoustic_model.num_pdfs != self.transition_model.num_pdfs:
            raise DecodeError(
                f"the GMMs have {acoustic_model.num_pdfs} pdfs, the transition model {self.transition_model.num_pdfs}"
            )
        self._decoder()
        if self._gmm is None or self._gmm[0] is not acoustic_model:  # converted once per model
            self._gmm = (acoustic_model, acoustic_model.to_kaldi_hmm_gmm())
        start = time.perf_counter()
        feats = np.ascontiguousarray(feats, dtype=np.float32)
        if feats.ndim != 2 or feats.shape[1] != acoustic_model.dim or len(feats) == 0:
            raise DecodeError(
                f"utterance {utterance!r}: features have shape {feats.shape}; expected (frames, {acoustic_model.dim})"
            )
        decodable = khg.DecodableAmDiagGmmScaled(
            am=self._gmm[1], tm=self._kaldi_model, feats=feats, scale=self.options.acoustic_scale
        )
        return self._run(decodable, utterance, len(feats), start)

    def decode_matrices(self, items: Matrices) -> Decoding:
        """Every ``(utterance, matrix)`` of a mapping, an iterable or a Kaldi archive; logs the summary."""
        decoding = Decoding()
        for utterance, matrix in _iter_matrices(items):
            decoding.add(self.decode_matrix(matrix, utterance), utterance)
        logger.info("%s", decoding.summary())
        return decoding

    def decode_gmm_all(self, items: Matrices, acoustic_model: AmDiagGmm) -> Decoding:
        """Every ``(utterance, features)``, scored by the GMMs; logs the summary."""
        decoding = Decoding()
        for utterance, feats in _iter_matrices(items):
            decoding.add(self.decode_gmm(feats, acoustic_model, utterance), utterance)
        logger.info("%s", decoding.summary())
        return decoding


def decode_matrix(
    loglikes: np.ndarray | Matrices,
    graph: Any,
    transition_model: TransitionModel | str | os.PathLike,
    words: SymbolTable | str | os.PathLike | None = None,
    acoustic_scale: float = 0.1,
    beam: float = 13.0,
    lattice_beam: float = 8.0,
    max_active: int = 7000,
    **options: Any,
) -> Hypothesis | Decoding | None:
    """Decode log-likelihood matrices ``(frames, num_pdfs)`` on HCLG (``latgen-faster-mapped``).

    ``loglikes``: one matrix (returns its :class:`Hypothesis`, or None if
    decoding failed) or many (a mapping or ``(utterance, matrix)`` pairs, or a
    Kaldi archive: returns a :class:`Decoding`). Other options:
    :class:`DecodeOptions` fields (``word_insertion_penalty``, ``min_active``, ...).
    """
    settings = DecodeOptions(
        acoustic_scale=acoustic_scale, beam=beam, lattice_beam=lattice_beam, max_active=max_active, **options
    )
    decoder = Decoder(graph, transition_model, words, settings)
    if isinstance(loglikes, np.ndarray):
        return decoder.decode_matrix(loglikes)
    return decoder.decode_matrices(loglikes)


def decode_gmm(
    feats: np.ndarray | Matrices,
    graph: Any,
    transition_model: TransitionModel | str | os.PathLike,
    acoustic_model: AmDiagGmm,
    words: SymbolTable | str | os.PathLike | None = None,
    acoustic_scale: float = 0.1,
    beam: float = 13.0,
    lattice_beam: float = 8.0,
    max_active: int = 7000,
    **options: Any,
) -> Hypothesis | Decoding | None:
    """Decode features with the GMMs (``gmm-latgen-faster``); ``feats`` as ``loglikes`` of :func:`decode_matrix`."""
    settings = DecodeOptions(
        acoustic_scale=acoustic_scale, beam=beam, lattice_beam=lattice_beam, max_active=max_active, **options
    )
    decoder = Decoder(graph, transition_model, words, settings)
    if isinstance(feats, np.ndarray):
        return decoder.decode_gmm(feats, acoustic_model)
    return decoder.decode_gmm_all(feats, acoustic_model)


@dataclass
class Sweep:
    """Word error rates over ``(lm_weight, word_insertion_penalty)``, and the best setting."""

    results: dict[tuple[float, float], ErrorCounts]
    decodings: dict[tuple[float, float], Decoding]
    best: tuple[float, float]
    best_counts: ErrorCounts

    @property
    def best_hyps(self) -> dict[str, list[str]]:
        return self.decodings[self.best].hyps

    def kaldi_lines(self) -> list[str]:
        """One ``compute-wer`` line per setting, named as Kaldi's ``wer_LMWT_WIP`` files."""
        return [counts.kaldi_line(f"wer_{lmwt:g}_{wip:g}") for (lmwt, wip), counts in self.results.items()]


def sweep(
    loglikes: Matrices,
    refs: Mapping[str, Sequence[str]],
    graph: Any,
    transition_model: TransitionModel | str | os.PathLike,
    words: SymbolTable | str | os.PathLike | None = None,
    lm_weights: Sequence[float] = tuple(range(7, 18)),
    word_insertion_penalties: Sequence[float] = (0.0, 0.5, 1.0),
    ignore: Iterable[str] = (),
    num_jobs: int = 1,
    rescore: bool = False,
    log_dir: str | os.PathLike | None = None,
    decoded: Sequence[Decoding] | None = None,
    **options: Any,
) -> Sweep:
    """Kaldi's ``score_kaldi.sh`` sweep: for every word-insertion penalty and LM weight (acoustic scale
    ``1 / lm_weight``), the best paths, scored against ``refs`` (``ignore``: words left out of the
    scoring); the best setting is kept (:func:`blasr.kaldi.scoring.wer.best_setting`: settings in
    ``score_kaldi.sh``'s order, penalty outer and LM weight inner, the first lowest printed ``%WER`` wins).
    Defaults: LMWT 7..17, WIP 0, 0.5, 1.

    By default every setting is searched on its own (``options``: :class:`DecodeOptions`); with
    ``rescore=True`` each utterance is decoded once into a lattice (acoustic scale 0.1 unless given) and
    every setting rescores it.
    ``num_jobs`` processes share the utterances (:func:`decode_many`, with its ``log_dir``). ``decoded``: the
    decodings of :func:`sweep_grid`'s settings, done elsewhere (a launcher's jobs); only scored here."""
    grid, settings, lattice_options = sweep_grid(lm_weights, word_insertion_penalties, **options)
    results: dict[tuple[float, float], ErrorCounts] = {}
    decodings: dict[tuple[float, float], Decoding] = {}
    start = time.perf_counter()
    if decoded is None:
        decoded = decode_many(loglikes, graph, transition_model, words, settings, num_jobs, lattice_options,
                              rescore, log_dir)
    for setting, decoding in zip(grid, decoded):
        decodings[setting] = decoding
        results[setting] = score(refs, decoding.hyps, ignore).total
    if rescore:
        logger.info("decoded once into lattices and rescored %d settings: %s", len(grid), decoded[0].summary())
    else:
        for setting, decoding in decodings.items():
            logger.info("LMWT %g, WIP %g: %s", *setting, decoding.summary())
    best, best_counts = best_setting(results)
    logger.info("sweep (%.1f s): best %s (LMWT %g, WIP %g)", time.perf_counter() - start, best_counts.kaldi_line(),
                *best)
    return Sweep(results, decodings, best, best_counts)
