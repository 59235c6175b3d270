"""A trained recogniser in one directory, and speech to words with it: :func:`package_system`, :class:`System`.

Layout of a system directory (``python -m blasr.package`` writes it)::

    system.json        kind (network | gmm), sample rate, mel bins, pdfs, the LM weight and insertion penalty
                       chosen on dev, the prior scale, the decoder's beams
    final.pt           network: weights, arch, feature settings, class counts (priors)
    final.mdl          the transition model (with the GMMs of a GMM system)
    gmm_features.json  GMM: how its features are made from the log-mel
    fbank.json         the log-mel settings (blasr.features.FbankConfig)
    HCLG.fst           the decoding graph, words.txt its output symbols
    phones/word_boundary.int   when the lang has position-dependent phones: word times
    phones/align_lexicon.int   word times from the lexicon, for any lang (``lattice-align-words-lexicon``)
    global_cmvn.json   the training features' global statistics: streaming a per-utterance-CMVN network
    README.md          the model card: training, WER table, arch, params, MACs/frame, date, git revision

:meth:`System.load` checks every piece against the others (class count against the transition model's pdfs,
feature dimension and sample rate against the log-mel settings, graph labels against the model and
words.txt) and raises :class:`SystemDirError` naming the piece that does not fit.

:meth:`System.transcribe` takes samples at any rate and channel count, or a file: down-mixed, resampled to the
system's rate, log-mel, the network (or the GMMs) and the decoder at the dev-chosen setting, as the recipe's
test decoding; the words come with their times when the directory has word boundaries or the lexicon.
:meth:`System.stream` recognises audio while it arrives (:class:`Stream`, partial and final transcripts).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch

from blasr.acoustic.model_file import TrainedModel, load_model_file
from blasr.features.cmvn import CmvnStats
from blasr.features.config import FbankConfig
from blasr.features.extract import load_static, open_cuts
from blasr.features.fbank import FeatureError, compute_logmel
from blasr.features.input import model_input
from blasr.inference.audio import AudioError, AudioInput, mono_at_rate, read_audio
from blasr.inference.forward import dense_logits
from blasr.inference.online import OnlineRecognizer
from blasr.inference.optimize import optimize_for_inference
from blasr.inference.posteriors import NnetForwardOptions, PosteriorTransform
from blasr.kaldi.decoding.decode import DecodeError, DecodeOptions, Decoder, Hypothesis
from blasr.kaldi.formats.model import read_model, read_transition_model
from blasr.kaldi.formats.symbols import read_symbol_table
from blasr.kaldi.gmm.estimate import log_likelihoods
from blasr.kaldi.gmm.recipe import FEATURES_FILE, GmmFeatureOptions, gmm_features
from blasr.kaldi.lang.lang_dir import align_lexicon_lines, read_align_lexicon, read_word_boundary
from blasr.kaldi.lang.lexicon import LangError, lexicon_entries
from blasr.kaldi.scoring.ctm import WordAlignmentError, lexicon_word_alignment, word_alignment
from blasr.kaldi.scoring.results import results_table, system_cost
from blasr.utils.checkpoint import CheckpointError
from blasr.utils.errors import BlasrError
from blasr.utils.experiment import describe_revision
from blasr.utils.jobs import contiguous_shares, run_spawned
from blasr.utils.machine import threads_per_job

logger = logging.getLogger("blasr")

FORMAT = "blasr.system/1"
KINDS = ("network", "gmm")
# file -> what it is, for the errors that name a missing piece
PIECES = {
    "system.json": "the system's settings",
    "final.pt": "the network file",
    "final.mdl": "the transition model",
    "gmm_features.json": "the GMM feature settings",
    "fbank.json": "the log-mel settings",
    "HCLG.fst": "the decoding graph",
    "words.txt": "the graph's word symbols",
}
WORD_BOUNDARY = "phones/word_boundary.int"
ALIGN_LEXICON = "phones/align_lexicon.int"
GLOBAL_CMVN = "global_cmvn.json"


class SystemDirError(BlasrError, ValueError):
    """A system directory with a missing piece or pieces that do not fit each other (the message names it)."""


@dataclass(frozen=True)
class Word:
    """One recognised word; ``start`` and ``duration`` in seconds (None without word boundaries or lexicon)."""

    word: str
    start: float | None = None
    duration: float | None = None


@dataclass
class Transcript:
    """The words of one utterance, in order; ``partial``: the decoder reached no final state.
    Streamed: ``chunk_seconds`` the compute time of each chunk, ``finalize_seconds`` that of the end."""

    utterance: str
    words: list[Word]
    num_frames: int
    partial: bool = False
    chunk_seconds: list[float] = field(default_factory=list)
    finalize_seconds: float | None = None

    @property
    def text(self) -> str:
        return " ".join(w.word for w in self.words)


def package_system(
    out_dir: str | os.PathLike,
    graph_dir: str | os.PathLike,
    *,
    network: str | os.PathLike | None = None,
    gmm_dir: str | os.PathLike | None = None,
    transition_model: str | os.PathLike | None = None,
    fbank: str | os.PathLike | None = None,
    lm_weight: float = 10.0,
    word_insertion_penalty: float = 0.0,
    prior_scale: float = 1.0,
    options: DecodeOptions | None = None,
    name: str | None = None,
    card_dir: str | os.PathLike | None = None,
    card_sets: tuple[str, ...] = ("dev", "test"),
    lexicon: str | os.PathLike | None = None,
    cmvn_from: str | os.PathLike | None = None,
) -> Path:
    """Gather a network (``final.pt``; with ``transition_model``, the tree's ``final.mdl``) or a GMM
    (``gmm_dir``: ``final.mdl`` + ``gmm_features.json``, with ``fbank``: the ``fbank.json`` of its
    features) with ``graph_dir`` (HCLG.fst, words.txt) and the decoding setting into ``out_dir``.

    ``card_dir`` is the experiment whose ``decode_<set>/wer`` files fill the model card's WER table
    (``card_sets``). Word times: ``phones/word_boundary.int`` and ``phones/align_lexicon.int`` of the graph
    directory, or ``lexicon`` (a ``lexicon.txt`` of the lang's phones) made into the latter. ``cmvn_from``: the
    training features' cut manifest, whose global statistics let a per-utterance-CMVN network stream.
    The directory is assembled beside ``out_dir`` and renamed into place (atomic), then
    loaded once (:meth:`System.load`), so a directory that does not fit together is never left behind.
    """
    if (network is None) == (gmm_dir is None):
        raise ValueError("give either a network (final.pt) or a GMM directory, not both or neither")
    kind = "network" if network is not None else "gmm"
    graph_dir, out = Path(graph_dir), Path(out_dir)
    files: dict[str, Path] = {"HCLG.fst": graph_dir / "HCLG.fst", "words.txt": graph_dir / "words.txt"}
    for piece in (WORD_BOUNDARY, ALIGN_LEXICON):
        if (graph_dir / piece).is_file():
            files[piece] = graph_dir / piece
    if kind == "network":
        if transition_model is None:
            raise ValueError("a network system needs the transition model of its tree (final.mdl)")
        files.update({"final.pt": Path(network), "final.mdl": Path(transition_model)})
    else:
        files.update({"final.mdl": Path(transition_model or Path(gmm_dir) / "final.mdl"),
                      FEATURES_FILE: Path(gmm_dir) / FEATURES_FILE})
    for piece, source in files.items():
        if not source.is_file():
            raise FileNotFoundError(f"{source}: no such file ({PIECES.get(piece, 'word times')})")
    if kind == "network":
        trained = load_model_file(files["final.pt"])
        fbank_config = _network_fbank(trained, fbank)
        num_classes = trained.num_classes
    else:
        if fbank is None:
            raise ValueError("a GMM system needs the log-mel settings of its features (fbank.json beside them)")
        fbank_config = FbankConfig.from_dict(json.loads(Path(fbank).read_text()))
        num_classes = read_transition_model(files["final.mdl"]).num_pdfs
    options = options or DecodeOptions()
    settings = dict(format=FORMAT, kind=kind, name=name or kind, sample_rate=fbank_config.sample_rate,
                    num_mel_bins=fbank_config.num_mel_bins, num_pdfs=num_classes, lm_weight=float(lm_weight),
                    word_insertion_penalty=float(word_insertion_penalty), prior_scale=float(prior_scale),
                    decode=dict(beam=options.beam, lattice_beam=options.lattice_beam,
                                max_active=options.max_active, min_active=options.min_active))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for piece, source in files.items():
            (staging / piece).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / piece)
        if lexicon is not None:
            (staging / ALIGN_LEXICON).parent.mkdir(parents=True, exist_ok=True)
            (staging / ALIGN_LEXICON).write_text(align_lexicon_text(lexicon, graph_dir))
        if cmvn_from is not None:
            stats = global_cmvn(cmvn_from, fbank_config.num_mel_bins)
            (staging / GLOBAL_CMVN).write_text(json.dumps(dict(source=str(cmvn_from), **stats.as_dict())) + "\n")
        (staging / "fbank.json").write_text(fbank_config.to_json() + "\n")
        (staging / "system.json").write_text(json.dumps(settings, indent=1) + "\n")
        (staging / "README.md").write_text(model_card(settings, staging, card_dir, card_sets))
        System.load(staging, device="cpu")  # every piece checked before it is published
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("wrote the %s system %s (%d pdfs, LM weight %g, penalty %g)", kind, out, num_classes, lm_weight,
                word_insertion_penalty)
    return out


def align_lexicon_text(lexicon: str | os.PathLike, graph_dir: Path) -> str:
    """``phones/align_lexicon.int`` from a ``lexicon.txt`` / ``lexiconp.txt`` of the graph's words and phones,
    each silence phone (``phones/silence.csl``) allowed between words."""
    phones = read_symbol_table(graph_dir / "phones.txt")
    silence_csl = graph_dir / "phones" / "silence.csl"
    if not silence_csl.is_file():
        raise FileNotFoundError(f"{silence_csl}: no such file (the graph's silence phones, for the lexicon)")
    silence = [phones.symbol(int(i)) for i in silence_csl.read_text().strip().split(":") if i]
    entries = [(e.word, e.phones) for e in lexicon_entries(lexicon)]
    try:
        _, lines = align_lexicon_lines(entries, silence, read_symbol_table(graph_dir / "words.txt"), phones)
    except LangError as error:
        raise LangError(f"{lexicon}: {error} (give the lexicon the graph's lang was made from)") from None
    return "".join(line + "\n" for line in lines)


def global_cmvn(manifest: str | os.PathLike, num_mel_bins: int) -> CmvnStats:
    """The count, sum and sum of squares of every frame of a cut manifest's stored features."""
    total: CmvnStats | None = None
    num_cuts = 0
    for cut in open_cuts(manifest):
        stats = CmvnStats.from_features(load_static(cut))
        if stats.sum.shape != (num_mel_bins,):
            raise ValueError(f"{manifest}: cut {cut.id} has {stats.sum.shape[0]} features, the network "
                             f"{num_mel_bins}: not its training features")
        if total is None:
            total = stats
        else:
            total.add(stats)
        num_cuts += 1
    if total is None:
        raise ValueError(f"{manifest}: no cuts to take statistics from")
    logger.info("global CMVN statistics of %d cuts (%d frames) from %s", num_cuts, total.count, manifest)
    return total


def _network_fbank(trained, fbank: str | os.PathLike | None) -> FbankConfig:
    """The log-mel settings of a network: ``fbank`` if given, else those stored in its file."""
    if fbank is not None:
        return FbankConfig.from_dict(json.loads(Path(fbank).read_text()))
    stored = trained.features.get("fbank")
    if stored is None:
        raise ValueError(f"{trained.path} holds no log-mel settings (no fbank.json beside its training features); "
                         "give the fbank.json of its features")
    return FbankConfig.from_dict(stored)


def _number(value, spec: str) -> str:
    return "?" if value is None else format(value, spec)


def model_card(settings: dict[str, Any], directory: Path, card_dir: str | os.PathLike | None,
               sets: tuple[str, ...]) -> str:
    """The system directory's README.md, from measured values only: the experiment's WER table and cost
    (:func:`blasr.kaldi.scoring.results.results_table`), the network's training summary, date, git revision."""
    lines = [f"# {settings['name']}: a blasr {settings['kind']} system", ""]
    lines += ["Transcribe audio (any sample rate and channel count):", "",
              "    python -m blasr.transcribe THIS_DIR audio.wav more.flac data/test/   # Kaldi text lines",
              "    python -c \"import blasr; print(blasr.System.load('THIS_DIR').transcribe('audio.wav').text)\"", ""]
    lines += ["| setting | value |", "|---|---|",
              f"| sample rate | {settings['sample_rate']} Hz ({settings['num_mel_bins']} mel bins) |",
              f"| classes (pdfs) | {settings['num_pdfs']} |",
              f"| LM weight / insertion penalty (chosen on dev) | {settings['lm_weight']:g} / "
              f"{settings['word_insertion_penalty']:g} |"]
    if settings["kind"] == "network":
        info = load_model_file(directory / "final.pt").info
        training = info.get("training", {})
        lines += [f"| arch | {info['arch']} {info['model_options']} |",
                  f"| prior scale | {settings['prior_scale']:g} |",
                  f"| training | {training.get('epochs', '?')} epochs, {training.get('global_step', '?')} steps, "
                  f"validation frame accuracy {_number(training.get('valid_frame_acc'), '.2f')} % |",
                  f"| trained at revision | {training.get('git', {}).get('commit', '?')} |"]
        if "data" in training:
            hours = training["data_frames"] * float(info["features"]["frame_shift"]) / 3600
            lines += [f"| training data | {training['data']}: {training['data_cuts']:,} cuts, "
                      f"{training['data_frames']:,} frames ({hours:.2f} h); "
                      f"{_number(training.get('target_frames'), ',')} target frames seen |"]
    cost = None
    if card_dir is not None:
        try:
            cost = system_cost(Path(card_dir))
        except FileNotFoundError:
            cost = None
    if cost is not None:
        lines += [f"| params | {cost.params:,} |", f"| MACs per frame (dense) | {cost.macs_per_frame / 1e6:.2f} M |"]
    lines += [f"| packaged | {date.today().isoformat()}, blasr revision {describe_revision()} |", ""]
    if card_dir is not None and cost is not None:
        lines += [f"WER (the recipe's scoring, {card_dir}):", "",
                  results_table([(settings["name"], Path(card_dir))], list(sets)), ""]
    return "\n".join(lines)


class System:
    """A loaded system directory: log-mel settings, acoustic model, graph and decoder, checked to fit."""

    def __init__(self, directory: Path, settings: dict[str, Any], fbank: FbankConfig, decoder: Decoder,
                 score, word_boundary: dict[int, str] | None, lexicon: dict[int, list[tuple[int, ...]]] | None = None,
                 global_stats: CmvnStats | None = None, network: NetworkParts | None = None) -> None:
        self.directory = directory
        self.settings = settings
        self.fbank = fbank
        self.decoder = decoder
        self._score = score  # (T, F) static log-mel -> (T, num_pdfs) float32 log-likelihoods
        self.word_boundary = word_boundary
        self.lexicon = lexicon  # {word id: pronunciations}, 0: the silence between words
        self.global_stats = global_stats
        self.network = network
        self._converted: set[tuple[int, int]] = set()  # (rate, channels) already logged

    @property
    def sample_rate(self) -> int:
        return self.fbank.sample_rate

    @property
    def has_word_times(self) -> bool:
        """Word boundaries or an alignment lexicon: the words come with their times (CTM)."""
        return self.word_boundary is not None or self.lexicon is not None

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str | None = None) -> "System":
        """Read and check a system directory; :class:`SystemDirError` names the piece that is missing or
        does not fit. ``device``: where a network runs (default: CUDA when available)."""
        directory = Path(directory)
        settings = _read_settings(directory)
        kind = settings["kind"]
        needed = ["fbank.json", "final.mdl", "HCLG.fst", "words.txt"]
        needed += ["final.pt"] if kind == "network" else [FEATURES_FILE]
        for piece in needed:
            if not (directory / piece).is_file():
                raise SystemDirError(f"{directory / piece} is missing ({PIECES[piece]}); package the system "
                                     "again (python -m blasr.package)")
        try:
            fbank = FbankConfig.from_dict(json.loads((directory / "fbank.json").read_text()))
        except (ValueError, TypeError) as error:
            raise SystemDirError(f"{directory / 'fbank.json'}: not log-mel settings: {error}") from None
        if fbank.sample_rate != settings["sample_rate"] or fbank.num_mel_bins != settings["num_mel_bins"]:
            raise SystemDirError(
                f"{directory / 'fbank.json'}: {fbank.sample_rate} Hz, {fbank.num_mel_bins} mel bins; system.json "
                f"says {settings['sample_rate']} Hz, {settings['num_mel_bins']} bins")
        try:
            transition_model, acoustic_model = read_model(directory / "final.mdl")
        except Exception as error:  # a corrupt Kaldi model file raises from the parser
            raise SystemDirError(f"{directory / 'final.mdl'}: unreadable: {error}") from None
        if transition_model.num_pdfs != settings["num_pdfs"]:
            raise SystemDirError(f"{directory / 'final.mdl'} has {transition_model.num_pdfs} pdfs, system.json "
                                 f"{settings['num_pdfs']}: the transition model of another tree")
        network = None
        if kind == "network":
            score, network = _network_scorer(directory, settings, fbank, transition_model.num_pdfs, device)
        else:
            score = _gmm_scorer(directory, fbank, acoustic_model)
        decode = settings.get("decode", {})
        options = DecodeOptions(acoustic_scale=1.0 / settings["lm_weight"],
                                word_insertion_penalty=settings["word_insertion_penalty"], **decode)
        try:
            decoder = Decoder(directory / "HCLG.fst", transition_model, directory / "words.txt", options)
        except (DecodeError, ValueError, OSError) as error:
            raise SystemDirError(f"{directory / 'HCLG.fst'} does not fit final.mdl and words.txt: {error}") from None
        word_boundary = None
        if (directory / WORD_BOUNDARY).is_file():
            word_boundary = read_word_boundary(directory / WORD_BOUNDARY)
            unknown = set(np.unique(transition_model.phone[1:]).tolist()) - set(word_boundary)
            if unknown:
                raise SystemDirError(f"{directory / WORD_BOUNDARY} lacks phones {sorted(unknown)[:5]} of final.mdl: "
                                     "the word boundaries of another lang")
        lexicon = _read_lexicon(directory, transition_model, decoder) if (directory / ALIGN_LEXICON).is_file() else None
        if word_boundary is None and lexicon is None:
            logger.info("%s has neither %s nor %s: words without times", directory, WORD_BOUNDARY, ALIGN_LEXICON)
        global_stats = None
        if (directory / GLOBAL_CMVN).is_file():
            try:
                global_stats = CmvnStats.from_dict(json.loads((directory / GLOBAL_CMVN).read_text()))
            except ValueError as error:
                raise SystemDirError(f"{directory / GLOBAL_CMVN}: {error}") from None
            if global_stats.sum.shape != (fbank.num_mel_bins,):
                raise SystemDirError(f"{directory / GLOBAL_CMVN} has statistics of {global_stats.sum.shape[0]} "
                                     f"features, fbank.json {fbank.num_mel_bins} mel bins")
        return cls(directory, settings, fbank, decoder, score, word_boundary, lexicon, global_stats, network)

    def features(self, samples: Any, sample_rate: int, utterance: str = "audio") -> np.ndarray:
        """Samples ``(N,)`` or ``(channels, N)`` at any rate -> ``(T, F)`` static log-mel at the system's rate."""
        mono = mono_at_rate(samples, sample_rate, self.sample_rate, utterance)
        channels = 1 if np.ndim(samples) == 1 else int(np.shape(samples)[0])
        if (sample_rate != self.sample_rate or channels > 1) and (sample_rate, channels) not in self._converted:
            self._converted.add((sample_rate, channels))
            logger.info("audio at %d Hz with %d channel(s) (first: %s) is down-mixed and resampled to %d Hz",
                        sample_rate, channels, utterance, self.sample_rate)
        return compute_logmel(mono, self.fbank, name=utterance)

    def log_likelihoods(self, static: np.ndarray) -> np.ndarray:
        """``(T, F)`` static log-mel -> ``(T, num_pdfs)`` float32: what the decoder reads."""
        return self._score(static)

    def decode(self, loglikes: np.ndarray, utterance: str = "audio") -> Transcript:
        """The best path at the dev-chosen LM weight and penalty, with word times when there are word boundaries."""
        hypothesis = self.decoder.search_best_path(loglikes, utterance)
        if hypothesis is None:
            raise DecodeError(f"utterance {utterance!r}: no path survived the beam")
        return Transcript(utterance, self._words(hypothesis), hypothesis.num_frames, hypothesis.partial)

    def transcribe(self, samples_or_path: Any, sample_rate: int | None = None, utterance: str | None = None
                   ) -> Transcript:
        """Words (with times) of a file (WAV / FLAC / SPHERE) or of samples ``(N,)`` / ``(channels, N)`` (float
        in [-1, 1] or int16) at ``sample_rate``; any rate and channel count (down-mixed, resampled)."""
        if isinstance(samples_or_path, (str, os.PathLike)):
            samples, rate = read_audio(samples_or_path)
            utterance = utterance or Path(samples_or_path).stem
        elif sample_rate is None:
            raise ValueError("samples need their sample_rate (Hz)")
        else:
            samples, rate = samples_or_path, int(sample_rate)
        utterance = utterance or "audio"
        return self.decode(self.log_likelihoods(self.features(samples, rate, utterance)), utterance)

    def stream(self, utterance: str = "stream", final_pass: bool = False) -> Stream:
        """A :class:`Stream` for one utterance arriving in chunks (a network system). A network normalised per
        utterance streams with the training features' global statistics (``global_cmvn.json``); with
        ``final_pass`` the final transcript is the offline one (the whole utterance decoded again at the end)."""
        if self.network is None:
            raise SystemDirError(f"{self.directory} is a {self.settings['kind']} system: streaming needs a network")
        stats = None
        if self.network.normalization != "none":
            stats = self.global_stats
            if stats is None:
                raise SystemDirError(
                    f"{self.directory}: the network normalises each utterance by its own statistics, which a stream "
                    f"does not have before its end; package the system with --cmvn-from TRAIN_CUTS (the training "
                    f"features' global statistics, {GLOBAL_CMVN})")
        recognizer = OnlineRecognizer(self.network.trained.model, self.decoder, self.fbank, self.network.transform,
                                      self.network.normalization, stats, self.network.norm_vars, utterance,
                                      self.network.device)
        return Stream(self, recognizer, final_pass)

    def transcribe_stream(self, samples: Any, sample_rate: int, utterance: str = "audio", chunk_ms: float = 100.0,
                          final_pass: bool = False, on_partial: Callable[[Transcript], None] | None = None
                          ) -> Transcript:
        """:meth:`transcribe` through :meth:`stream`: the audio (down-mixed, resampled) fed in ``chunk_ms``
        chunks; ``on_partial`` gets each partial transcript whose words changed."""
        mono = mono_at_rate(samples, sample_rate, self.sample_rate, utterance)
        chunk = max(1, round(chunk_ms * self.sample_rate / 1000))
        stream = self.stream(utterance, final_pass)
        shown: list[str] = []
        for start in range(0, len(mono), chunk):
            stream.accept_waveform(mono[start:start + chunk])
            partial = stream.partial() if on_partial is not None else None
            if partial is not None and [w.word for w in partial.words] != shown:
                shown = [w.word for w in partial.words]
                on_partial(partial)
        return stream.finalize()

    def _words(self, hypothesis: Hypothesis, times: bool = True) -> list[Word]:
        if not times or hypothesis.tids is None or not self.has_word_times:
            return [Word(w) for w in hypothesis.words]
        if self.word_boundary is not None:
            spans = word_alignment(hypothesis.tids, hypothesis.word_ids, self.decoder.transition_model,
                                   self.word_boundary, utterance=hypothesis.utterance)
        else:
            spans = lexicon_word_alignment(hypothesis.tids, hypothesis.word_ids, self.decoder.transition_model,
                                           self.lexicon, partial=hypothesis.partial, utterance=hypothesis.utterance)
        shift = self.fbank.frame_shift_seconds
        return [Word(self.decoder.words.symbol(s.word), round(s.start * shift, 6), round(s.num_frames * shift, 6))
                for s in spans]


class Stream:
    """One utterance recognised while it arrives (:meth:`System.stream`): :meth:`accept_waveform` each chunk
    (mono, at the system's rate), :meth:`partial` at any time, :meth:`finalize` at the end."""

    def __init__(self, system: System, recognizer: OnlineRecognizer, final_pass: bool) -> None:
        self.system = system
        self.recognizer = recognizer
        self.final_pass = final_pass
        self._chunks: list[np.ndarray] = []  # the audio, for the final pass
        self._final: Transcript | None = None

    def accept_waveform(self, samples: Any) -> int:
        """Score and search the frames the chunk completes; their number."""
        if self.final_pass:
            self._chunks.append(np.asarray(samples))
        return self.recognizer.accept_waveform(samples)

    def partial(self) -> Transcript | None:
        """The words so far (without times; later audio may change them); None before the first frame."""
        if self._final is not None:
            return self._final
        hypothesis = self.recognizer.partial()
        if hypothesis is None:
            return None
        return Transcript(hypothesis.utterance, self.system._words(hypothesis, times=False), hypothesis.num_frames,
                          True, list(self.recognizer.chunk_seconds))

    def finalize(self) -> Transcript:
        """The end of the utterance: the final words with times. :class:`DecodeError` when no path survives."""
        if self._final is not None:
            return self._final
        utterance = self.recognizer.utterance
        start = time.perf_counter()
        if self.final_pass:
            samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
            final = self.system.transcribe(samples, self.system.sample_rate, utterance)
        else:
            hypothesis = self.recognizer.finalize()
            if hypothesis is None:
                raise DecodeError(f"utterance {utterance!r}: no path survived the beam")
            final = Transcript(utterance, self.system._words(hypothesis), hypothesis.num_frames, hypothesis.partial)
        final.chunk_seconds = list(self.recognizer.chunk_seconds)
        final.finalize_seconds = time.perf_counter() - start
        self._final = final
        return final


def _read_lexicon(directory: Path, transition_model, decoder: Decoder) -> dict[int, list[tuple[int, ...]]]:
    """``phones/align_lexicon.int``, checked against the model's phones and the graph's words."""
    path = directory / ALIGN_LEXICON
    try:
        lexicon = read_align_lexicon(path)
    except LangError as error:
        raise SystemDirError(str(error)) from None
    phones = set(np.unique(transition_model.phone[1:]).tolist())
    unknown_phones = {p for prons in lexicon.values() for pron in prons for p in pron} - phones
    unknown_words = [w for w in lexicon if w not in decoder.words]
    if unknown_phones or unknown_words:
        raise SystemDirError(f"{path}: phones {sorted(unknown_phones)[:5]} not in final.mdl, words "
                             f"{sorted(unknown_words)[:5]} not in words.txt: the lexicon of another lang")
    return lexicon


def _read_settings(directory: Path) -> dict[str, Any]:
    path = directory / "system.json"
    if not directory.is_dir():
        raise SystemDirError(f"{directory}: no such directory (make one with python -m blasr.package)")
    if not path.is_file():
        raise SystemDirError(f"{path} is missing ({PIECES['system.json']}): {directory} is not a system directory "
                             "(python -m blasr.package makes one)")
    try:
        settings = json.loads(path.read_text())
    except ValueError as error:
        raise SystemDirError(f"{path}: not JSON: {error}") from None
    if settings.get("format") != FORMAT or settings.get("kind") not in KINDS:
        raise SystemDirError(f"{path}: not a {FORMAT} file of kind {' or '.join(KINDS)}")
    return settings


@dataclass(frozen=True)
class NetworkParts:
    """What a network system streams with: the loaded file, logits -> log-likelihoods, its normalisation."""

    trained: TrainedModel
    transform: PosteriorTransform
    normalization: str  # none, or utterance (speaker / side statistics do not exist for one new recording)
    norm_vars: bool
    device: str


def _network_scorer(directory: Path, settings: dict[str, Any], fbank: FbankConfig, num_pdfs: int,
                    device: str | None) -> tuple[Callable[[np.ndarray], np.ndarray], NetworkParts]:
    """The network's pseudo log-likelihoods, as the export computes them (nnet-forward with the priors)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        trained = load_model_file(directory / "final.pt", device)
    except (CheckpointError, OSError, KeyError, RuntimeError) as error:
        raise SystemDirError(f"{directory / 'final.pt'}: unreadable network file: {error}") from None
    if trained.num_classes != num_pdfs:
        raise SystemDirError(f"{directory / 'final.pt'} has {trained.num_classes} outputs, final.mdl {num_pdfs} "
                             "pdfs: the network was trained on the targets of another tree")
    expected = trained.features
    if expected.get("num_features") not in (None, fbank.num_mel_bins):
        raise SystemDirError(f"{directory / 'final.pt'} was trained on {expected['num_features']} mel bins, "
                             f"fbank.json gives {fbank.num_mel_bins}")
    if expected.get("sampling_rate") not in (None, fbank.sample_rate):
        raise SystemDirError(f"{directory / 'final.pt'} was trained on {expected['sampling_rate']} Hz features, "
                             f"fbank.json is at {fbank.sample_rate} Hz")
    if trained.class_counts is None or len(trained.class_counts) != num_pdfs:
        raise SystemDirError(f"{directory / 'final.pt'} holds no class counts for its {num_pdfs} outputs "
                             "(the priors): export it from a blasr training run")
    transform = PosteriorTransform(NnetForwardOptions(prior_scale=settings["prior_scale"]), trained.class_counts)
    # batch norm folded, channels-last, as the export's default (within 5e-4 + 1e-4 |x|: docs/training.md, Export)
    trained = replace(trained, model=optimize_for_inference(trained.model))
    # speaker / side statistics do not exist for one new recording: each is normalised by its own
    normalization = "none" if expected.get("normalization") == "none" else "utterance"
    norm_vars = expected.get("norm_vars", True)

    def score(static: np.ndarray) -> np.ndarray:
        inputs = model_input(static, normalization, None, norm_vars)  # (3, F, T)
        return transform(dense_logits(trained.model, inputs, 3000)).numpy()  # (T, K)

    return score, NetworkParts(trained, transform, normalization, norm_vars, device)


def _gmm_scorer(directory: Path, fbank: FbankConfig, acoustic_model):
    """The GMMs' log-likelihoods (``gmm-compute-likes``) of the GMM features, as the recipe's test decoding."""
    try:
        options = GmmFeatureOptions.load(directory)
    except (ValueError, TypeError) as error:
        raise SystemDirError(f"{directory / FEATURES_FILE}: not GMM feature settings: {error}") from None
    if options.dim(fbank.num_mel_bins) != acoustic_model.dim:
        raise SystemDirError(f"{directory / FEATURES_FILE} makes {options.dim(fbank.num_mel_bins)}-dim features "
                             f"from {fbank.num_mel_bins} mel bins; the GMMs of final.mdl are {acoustic_model.dim}-dim")

    def score(static: np.ndarray) -> np.ndarray:
        return log_likelihoods(acoustic_model, gmm_features(static, options)).astype(np.float32)

    return score


def settings_summary(system: System) -> str:
    """One line: kind, rate, pdfs and the decoding setting (what the program logs at start)."""
    s = system.settings
    return (f"{s['name']} ({s['kind']}, {s['sample_rate']} Hz, {s['num_pdfs']} pdfs, LM weight {s['lm_weight']:g}, "
            f"penalty {s['word_insertion_penalty']:g})")



# what one input may fail with: named, counted and reported, the rest of the batch goes on
INPUT_ERRORS = (AudioError, FeatureError, DecodeError, WordAlignmentError)


@dataclass(frozen=True)
class OnlineOptions:
    """Streamed recognition of each input (:meth:`System.transcribe_stream`)."""

    chunk_ms: float = 100.0
    final_pass: bool = False


def transcribe_inputs(directory: str | os.PathLike, inputs: Sequence[AudioInput], device: str | None = None,
                      num_jobs: int = 1, system: System | None = None, online: OnlineOptions | None = None,
                      on_partial: Callable[[Transcript], None] | None = None
                      ) -> Iterator[tuple[AudioInput, Transcript | str]]:
    """``(input, transcript or the reason it failed)`` for every input, in order. One job streams them as they
    are done (``system``: an already loaded one); ``num_jobs`` > 1 processes each load the system and take a
    contiguous share, the results come when all are done. ``online``: each input streamed in chunks
    (``on_partial``: its partial transcripts, one job only)."""
    if num_jobs < 1:
        raise ValueError(f"num_jobs must be at least 1, not {num_jobs}")
    num_jobs = min(num_jobs, len(inputs))
    if num_jobs <= 1:
        system = system or System.load(directory, device)
        for item in inputs:
            yield item, _transcribe_one(system, item, online, on_partial)
        return
    if on_partial is not None:
        raise ValueError("partial transcripts come from one job only (num_jobs 1)")
    threads = threads_per_job(num_jobs)  # the processes share the cores
    shares = contiguous_shares(list(inputs), num_jobs)
    results = run_spawned(_transcribe_share, [(str(directory), share, device, threads, online) for share in shares],
                          lambda error: SystemDirError(f"a transcription process died ({error}); run with --nj 1 "
                                                       "to see why"))
    for share, outcomes in zip(shares, results):
        yield from zip(share, outcomes)


def _transcribe_one(system: System, item: AudioInput, online: OnlineOptions | None = None,
                    on_partial: Callable[[Transcript], None] | None = None) -> Transcript | str:
    try:
        samples, rate = item.load()
        if online is not None:
            return system.transcribe_stream(samples, rate, item.utterance, online.chunk_ms, online.final_pass,
                                            on_partial)
        return system.transcribe(samples, rate, item.utterance)
    except INPUT_ERRORS as error:
        message = str(error)
        return message if item.utterance in message else f"{item.utterance}: {message}"


def _transcribe_share(directory: str, share: Sequence[AudioInput], device: str | None, threads: int,
                      online: OnlineOptions | None) -> list[Transcript | str]:
    torch.set_num_threads(threads)
    system = System.load(directory, device)
    return [_transcribe_one(system, item, online) for item in share]
