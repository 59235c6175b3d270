"""GMM-HMM systems trained on a cut manifest: features, transcripts, the mono → tri recipe, likelihoods.

This is the corpus-level glue between lhotse manifests (cuts with the stored
64-dim log-mel of :mod:`blasr.features`) and :mod:`blasr.kaldi.gmm.train`:

* :func:`gmm_features` — the GMM's own view of the stored log-mel: cepstra
  (MFCC computed from the same filterbank: DCT-II + liftering, as Kaldi's
  ``compute-mfcc-feats``), mean normalisation per utterance (Kaldi's
  ``apply-cmvn --norm-vars=false``) and Δ + ΔΔ (``add-deltas``): 39 dims by
  default. Diagonal Gaussians need decorrelated features, which log-mel
  channels are not (``kind="fbank"`` keeps them, 192 dims).
* :class:`CutFeatures` — a lazy ``utterance -> (T, D)`` mapping over a
  manifest, so the GMM code never holds a large corpus in memory (``cache``
  keeps small ones).
* :func:`cut_transcripts` — word ids of every cut's supervision text.
* :func:`train_gmm_system` — Kaldi's ``train_mono.sh`` on the shortest
  utterances, ``align_si.sh``, ``train_deltas.sh`` with a tree of at most
  ``num_leaves`` leaves (Kaldi's ``build-tree`` merges some back after
  splitting: :class:`TriOptions`), ``align_si.sh`` again; writes ``mono/``, ``tri/`` and
  ``tri_ali/`` (``final.mdl``, ``tree``, ``ali.1.gz``, class counts) and the
  feature settings, so :func:`compute_log_likelihoods` (``gmm-compute-likes``)
  scores new data exactly as training saw it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from lhotse import CutSet

from blasr.features.cmvn import utterance_cmvn
from blasr.features.deltas import add_deltas
from blasr.features.extract import feature_frames, load_static, open_cuts
from blasr.features.report import StageReport
from blasr.kaldi.formats.ark import ArkWriter, open_matrices
from blasr.kaldi.formats.io import read_int_vectors, write_int_vectors
from blasr.kaldi.formats.model import read_model, write_model
from blasr.kaldi.formats.tree import read_tree, write_tree
from blasr.kaldi.gmm.align import AlignmentResult, AlignOptions, align_with_log_likelihoods
from blasr.kaldi.gmm.estimate import GmmStats, log_likelihoods
from blasr.kaldi.gmm.train import (
    GmmSystem,
    LocalPasses,
    MonoOptions,
    TriOptions,
    align_corpus,
    train_mono,
    train_tri,
    write_alignment_dir,
)
from blasr.kaldi.lang.lang_dir import Lang, load_lang
from blasr.utils.files import atomic_write, atomic_write_text
from blasr.utils.jobs import JobPool, contiguous_shares, run_spawned
from blasr.utils.launch import run_jobs
from blasr.utils.progress import progress_bar

logger = logging.getLogger("blasr.gmm")

FEATURES_FILE = "gmm_features.json"


@dataclass(frozen=True)
class GmmFeatureOptions:
    """How the stored ``(T, 64)`` log-mel becomes GMM features.

    ``kind``: ``mfcc`` (``num_ceps`` cepstra of the log-mel, Kaldi's DCT and
    ``cepstral_lifter``) or ``fbank`` (the log-mel itself). ``norm_vars``:
    variance normalisation too (Kaldi's GMM recipes: means only).
    ``delta_order``: 2 = statics + Δ + ΔΔ (``add-deltas``, window 2).
    """

    kind: str = "mfcc"
    num_ceps: int = 13
    cepstral_lifter: float = 22.0
    norm_vars: bool = False
    delta_order: int = 2

    def __post_init__(self) -> None:
        if self.kind not in ("mfcc", "fbank"):
            raise ValueError(f"GMM feature kind must be 'mfcc' or 'fbank', got {self.kind!r}")

    def dim(self, num_mel_bins: int) -> int:
        static = self.num_ceps if self.kind == "mfcc" else num_mel_bins
        return static * (self.delta_order + 1)

    def save(self, directory: str | os.PathLike) -> Path:
        path = Path(directory) / FEATURES_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "GmmFeatureOptions":
        path = Path(directory) / FEATURES_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file (the GMM feature settings, written by train_gmm_system)")
        return cls(**json.loads(path.read_text()))


def dct_matrix(num_ceps: int, num_bins: int) -> np.ndarray:
    """Kaldi's ``ComputeDctMatrix`` cut to ``num_ceps`` rows: ``(num_ceps, num_bins)``, orthonormal DCT-II."""
    k = np.arange(num_ceps)[:, None]
    n = np.arange(num_bins)[None, :]
    matrix = np.sqrt(2.0 / num_bins) * np.cos(np.pi / num_bins * (n + 0.5) * k)
    matrix[0] = np.sqrt(1.0 / num_bins)
    return matrix


def lifter_coefficients(num_ceps: int, cepstral_lifter: float) -> np.ndarray:
    """Kaldi's ``ComputeLifterCoeffs``: ``1 + 0.5 Q sin(pi i / Q)``."""
    i = np.arange(num_ceps)
    return 1.0 + 0.5 * cepstral_lifter * np.sin(np.pi * i / cepstral_lifter)


def gmm_features(static: np.ndarray, options: GmmFeatureOptions = GmmFeatureOptions()) -> np.ndarray:
    """``(T, F)`` stored log-mel -> ``(T, D)`` float32 GMM features (D = 39 for the defaults)."""
    static = np.asarray(static, dtype=np.float64)
    if options.kind == "mfcc":
        # (T, F) @ (F, C) -> (T, C): compute-mfcc-feats without its own filterbank, c0 kept (use-energy=false)
        static = static @ dct_matrix(options.num_ceps, static.shape[1]).T
        static *= lifter_coefficients(options.num_ceps, options.cepstral_lifter)
    static = utterance_cmvn(static, options.norm_vars)
    return add_deltas(static, order=options.delta_order, window=2).transpose(1, 0, 2).reshape(len(static), -1).astype(
        np.float32
    )


class CutFeatures(Mapping):
    """``utterance -> (T, D)`` GMM features of a cut manifest, loaded on access (or cached with ``cache``)."""

    def __init__(self, cuts, options: GmmFeatureOptions = GmmFeatureOptions(), cache: bool = False) -> None:
        self.cuts = {cut.id: cut for cut in open_cuts(cuts)}
        self.options = options
        self._cache: dict[str, np.ndarray] | None = {} if cache else None

    def __getitem__(self, utterance: str) -> np.ndarray:
        if self._cache is not None and utterance in self._cache:
            return self._cache[utterance]
        features = gmm_features(load_static(self.cuts[utterance]), self.options)
        if self._cache is not None:
            self._cache[utterance] = features
        return features

    def __iter__(self) -> Iterator[str]:
        return iter(self.cuts)

    def __len__(self) -> int:
        return len(self.cuts)

    def num_frames(self, utterance: str) -> int:
        return feature_frames(self.cuts[utterance])


def cut_transcripts(cuts, lang: Lang, map_oov: bool = False) -> tuple[dict[str, list[int]], StageReport]:
    """Word ids of every cut's supervision text (supervisions joined in time order).

    A cut without text or with a word not in ``words.txt`` (unless ``map_oov``
    and the lang has an OOV word) is skipped and counted in the report.
    """
    report = StageReport("transcripts")
    transcripts = {}
    for cut in open_cuts(cuts):
        words = " ".join(s.text or "" for s in sorted(cut.supervisions, key=lambda s: s.start)).split()
        if not words:
            report.skip(cut.id, "no text: the cut has no supervision text")
            continue
        try:
            transcripts[cut.id] = lang.word_ids(words, cut.id, map_oov)
        except KeyError as error:
            report.skip(cut.id, f"unknown word: {error.args[0]}")
            continue
        report.kept += 1
    return transcripts, report


@dataclass
class GmmRecipeOptions:
    """The mono → tri recipe: Kaldi's ``train_mono.sh`` (on ``mono_utterances`` shortest cuts) and ``train_deltas.sh``.

    ``num_jobs`` > 1 or a launcher ``cmd`` runs every pass's alignment and accumulation in jobs (:class:`JobPasses`).
    """

    features: GmmFeatureOptions = field(default_factory=GmmFeatureOptions)
    mono_utterances: int = 1000
    mono: MonoOptions = field(default_factory=MonoOptions)
    tri: TriOptions = field(default_factory=TriOptions)
    boost_silence: float = 1.0
    map_oov: bool = False
    cache_features: bool = True
    num_jobs: int = 1
    cmd: str | None = None


def train_gmm_system(cuts, lang_dir: str | os.PathLike, exp_dir: str | os.PathLike,
                     options: GmmRecipeOptions | None = None) -> dict:
    """Train mono and tri systems on ``cuts`` and align them; returns (and writes) a summary.

    Writes ``exp_dir/mono`` and ``exp_dir/tri`` (``final.mdl``, ``tree``, the
    feature settings) and ``exp_dir/tri_ali`` (plus ``ali.1.gz``, ``num_jobs``,
    ``ali_train_pdf.counts``), and ``exp_dir/summary.json``.
    """
    options = options or GmmRecipeOptions()
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    lang = load_lang(lang_dir)
    silence = list(lang.silence)
    lexicon = lang.read_fst("L.fst")
    features = CutFeatures(cuts, options.features, cache=options.cache_features)
    transcripts, report = cut_transcripts(features.cuts.values(), lang, options.map_oov)
    report.log()
    if not transcripts:
        raise ValueError(f"no cut of {cuts} has a usable transcript: {report.summary(3)}")
    summary: dict = {"utterances": len(transcripts), "skipped": report.skipped, "seconds": {}}
    summary["frames"] = int(sum(features.num_frames(u) for u in transcripts))

    jobs = None
    if options.num_jobs > 1 or options.cmd is not None:
        jobs = JobPasses(exp_dir, lang_dir, options.features, features.cuts, options.num_jobs, options.cmd,
                         options.boost_silence, options.cache_features)
    summary["num_jobs"] = options.num_jobs
    try:
        _train_stages(summary, options, lang, lexicon, silence, features, transcripts, exp_dir, jobs)
    finally:
        if jobs is not None:
            jobs.close()
    (exp_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return summary


def _train_stages(summary: dict, options: GmmRecipeOptions, lang: Lang, lexicon, silence: list[int],
                  features: CutFeatures, transcripts: dict[str, list[int]], exp_dir: Path,
                  jobs: "JobPasses | None") -> None:
    """mono, its alignment, tri, its alignment: the stages of :func:`train_gmm_system`, their numbers in ``summary``."""
    # train_mono.sh on a subset of short utterances (utils/subset_data_dir.sh --shortest):
    # the equal alignment of the flat start drifts over long ones
    shortest = sorted(transcripts, key=features.num_frames)[: options.mono_utterances]
    mono_transcripts = {u: transcripts[u] for u in sorted(shortest)}
    start = time.perf_counter()
    mono = train_mono(lang.topology, mono_transcripts, features, options.mono, lexicon=lexicon, silence_phones=silence,
                      passes=jobs)
    summary["seconds"]["mono"] = time.perf_counter() - start
    mono.system.save(exp_dir / "mono")
    options.features.save(exp_dir / "mono")
    summary["mono"] = {"utterances": len(mono_transcripts), "gaussians": mono.num_gauss[-1],
                       "log_likelihood": mono.log_likelihoods[-1], "pdfs": mono.system.num_pdfs}
    logger.info("mono: %d pdfs, %d Gaussians, log-likelihood %.3f per frame (%.0f s)", mono.system.num_pdfs,
                mono.num_gauss[-1], mono.log_likelihoods[-1], summary["seconds"]["mono"])

    start = time.perf_counter()
    mono_ali = _align_all(jobs, "mono_ali", mono.system, transcripts, features, lexicon, options.boost_silence,
                          silence)
    summary["seconds"]["mono_align"] = time.perf_counter() - start
    logger.info("mono alignment: %s", mono_ali.summary())
    summary["mono_align"] = mono_ali.summary()

    start = time.perf_counter()
    tri_transcripts = {u: transcripts[u] for u in mono_ali.alignments}
    tri = train_tri(mono.system, mono_ali.alignments, lang.topology, tri_transcripts, features, options.tri,
                    lexicon=lexicon, silence_phones=silence, passes=jobs)
    summary["seconds"]["tri"] = time.perf_counter() - start
    tri.system.save(exp_dir / "tri")
    options.features.save(exp_dir / "tri")
    summary["tri"] = {"leaves": tri.system.num_pdfs, "gaussians": tri.num_gauss[-1],
                      "log_likelihood": tri.log_likelihoods[-1],
                      "tree": tri.tree_info.summary() if tri.tree_info else None}
    logger.info("tri: %d pdfs, %d Gaussians, log-likelihood %.3f per frame (%.0f s)", tri.system.num_pdfs,
                tri.num_gauss[-1], tri.log_likelihoods[-1], summary["seconds"]["tri"])

    start = time.perf_counter()
    final = _align_all(jobs, "tri_ali", tri.system, transcripts, features, lexicon, options.boost_silence, silence)
    summary["seconds"]["tri_align"] = time.perf_counter() - start
    logger.info("tri alignment: %s", final.summary())
    summary["tri_align"] = final.summary()
    summary["failed"] = dict(final.failed)
    write_alignment_dir(exp_dir / "tri_ali", tri.system, final.alignments)
    options.features.save(exp_dir / "tri_ali")


def _align_all(jobs: "JobPasses | None", stage: str, system: GmmSystem, transcripts: dict[str, list[int]],
               features: CutFeatures, lexicon, boost: float, silence: list[int]) -> AlignmentResult:
    """``align_si.sh``: every utterance aligned with ``system`` (beam 10, retry beam 40), here or in the jobs."""
    if jobs is None:
        return align_corpus(system, transcripts, features, lexicon, boost=boost, silence_phones=silence)
    jobs.begin(stage, system, transcripts, AlignmentResult())
    return jobs.run(system, AlignOptions(), accumulate=False)[0]


# -- EM passes in jobs: Kaldi's gmm-align-compiled + gmm-acc-stats-ali per JOB, gmm-sum-accs ----------------------

STATS_FIELDS = ("offsets", "occupancy", "mean_acc", "var_acc", "transition_counts", "log_likelihood", "num_frames")


def save_stats(stats: GmmStats, path: str | os.PathLike) -> Path:
    """Write statistics as ``.npz`` (plain arrays, atomically): a job's ``ITER.JOB.acc.npz``."""
    arrays = {name: np.asarray(getattr(stats, name)) for name in STATS_FIELDS}
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def load_stats(path: str | os.PathLike) -> GmmStats:
    """Statistics written by :func:`save_stats` (read without pickle)."""
    with np.load(path, allow_pickle=False) as data:
        missing = [name for name in STATS_FIELDS if name not in data]
        if missing:
            raise ValueError(f"{path}: not GMM statistics (no {', '.join(missing)})")
        return GmmStats(*(data[name] for name in STATS_FIELDS[:5]), float(data["log_likelihood"]),
                        int(data["num_frames"]))


class JobPasses(LocalPasses):
    """:class:`~blasr.kaldi.gmm.train.LocalPasses` in ``num_jobs`` jobs, each over a contiguous share of the
    utterances, through files in the stage's directory (``EXP/mono``, ``EXP/tri``, as Kaldi's):

    * at :meth:`begin`: ``tree``, ``gmm_features.json`` and per job ``splitN/cuts.JOB.jsonl.gz``,
      ``splitN/text.JOB.gz`` (word ids) and ``splitN/ali.JOB.gz`` (the first alignments);
    * each pass ``ITER``: the driver writes ``ITER.mdl``; job JOB (:func:`accumulate_job`, ``python -m
      blasr.gmm acc-stats``) realigns if asked (new ``splitN/ali.JOB.gz`` and ``.json``) and writes
      ``ITER.JOB.acc.npz``; the driver sums them in job order (``gmm-sum-accs``) and removes them and the model.

    With ``cmd`` the jobs go through that Kaldi-style launcher (:func:`blasr.utils.launch.run_jobs`), logs
    ``log/acc.ITER.JOB.log``; without, through a :class:`~blasr.utils.jobs.JobPool` of processes that keep
    their share's features between passes (with ``cache``). Call :meth:`close` at the end.
    """

    def __init__(self, exp_dir: str | os.PathLike, lang_dir: str | os.PathLike, feature_options: GmmFeatureOptions,
                 cuts: Mapping, num_jobs: int, cmd: str | None = None, boost: float = 1.0, cache: bool = True) -> None:
        if num_jobs < 1:
            raise ValueError(f"num_jobs must be at least 1, not {num_jobs}")
        self.exp_dir, self.lang_dir = Path(exp_dir), Path(lang_dir)
        self.feature_options, self.cuts, self.num_jobs, self.cmd = feature_options, cuts, num_jobs, cmd
        self.boost, self.cache = boost, cache
        self.pool: JobPool | None = None

    def begin(self, stage: str, system: GmmSystem, transcripts: Mapping[str, list[int]],
              alignments: AlignmentResult) -> None:
        self.directory = self.exp_dir / stage
        self.split = self.directory / f"split{self.num_jobs}"
        self.split.mkdir(parents=True, exist_ok=True)
        write_tree(system.tree, self.directory / "tree")
        self.feature_options.save(self.directory)
        for job, share in enumerate(contiguous_shares(list(transcripts), self.num_jobs), 1):
            _write_cuts([self.cuts[u] for u in share], self.split / f"cuts.{job}.jsonl.gz")
            write_int_vectors({u: transcripts[u] for u in share}, self.split / f"text.{job}.gz")
            write_int_vectors({u: alignments.alignments[u] for u in share if u in alignments.alignments},
                              self.split / f"ali.{job}.gz")
        self.alignments, self.iteration, self.num_utterances = alignments, 0, len(transcripts)

    def run(self, system: GmmSystem, realign: AlignOptions | None = None,
            accumulate: bool = True) -> tuple[AlignmentResult, GmmStats | None]:
        model = write_model(system.transition_model, system.acoustic_model, self.directory / f"{self.iteration}.mdl")
        stage = f"acc.{self.iteration}" if accumulate else "align"
        arguments = (self.directory, self.iteration, self.lang_dir, realign, self.boost, accumulate)
        if self.cmd is not None:
            run_jobs([sys.executable, "-m", "blasr.gmm", "acc-stats", *job_arguments(*arguments), "--job", "JOB",
                      "--nj", str(self.num_jobs)], self.num_jobs, self.directory / "log" / f"{stage}.JOB.log",
                     cmd=self.cmd)
        else:
            if self.pool is None:
                self.pool = JobPool(self.num_jobs, lambda error: ValueError(
                    f"a GMM training job died ({error}); see its log in {self.directory / 'log'}"))
            calls = [(*arguments, job, self.num_jobs, self.cache) for job in range(1, self.num_jobs + 1)]
            total = self.num_utterances * ((realign is not None) + accumulate)
            self.pool.run(accumulate_job, calls, stage=stage, log_dir=self.directory / "log", total=total)
        model.unlink()
        if realign is not None:
            self.alignments = AlignmentResult()
            for job in range(1, self.num_jobs + 1):  # shares are contiguous: the utterance order is kept
                part = json.loads((self.split / f"ali.{job}.json").read_text())
                self.alignments.alignments.update(read_int_vectors(self.split / f"ali.{job}.gz"))
                self.alignments.log_likelihoods.update(part["log_likelihoods"])
                self.alignments.retried += part["retried"]
                self.alignments.failed.update(part["failed"])
        stats = None
        if accumulate:
            for job in range(1, self.num_jobs + 1):
                path = self.directory / f"{self.iteration}.{job}.acc.npz"
                stats = load_stats(path) if stats is None else stats.add(load_stats(path))
                path.unlink()
        self.iteration += 1
        return self.alignments, stats

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def _write_cuts(cuts: list, path: Path) -> None:
    temporary = path.with_name(f".{os.getpid()}.{path.name}")  # same suffix: lhotse picks the format by it
    CutSet.from_cuts(cuts).to_file(temporary)
    os.replace(temporary, path)


def job_arguments(directory: Path, iteration: int, lang_dir: Path, realign: AlignOptions | None, boost: float,
                  accumulate: bool) -> list[str]:
    """The options of ``python -m blasr.gmm acc-stats`` for one pass (without ``--job``/``--nj``)."""
    words = ["--dir", str(directory), "--iter", str(iteration), "--lang", str(lang_dir), "--boost-silence",
             repr(boost)]
    if realign is not None:
        words += ["--beam", repr(realign.beam), "--retry-beam", repr(realign.retry_beam)]
    return words + ([] if accumulate else ["--no-accumulate"])


_kept_features: dict[str, np.ndarray] = {}  # in a pool's job process: its share's features, kept between passes


def accumulate_job(directory: str | os.PathLike, iteration: int, lang_dir: str | os.PathLike,
                   realign: AlignOptions | None, boost: float, accumulate: bool, job: int, num_jobs: int,
                   keep_features: bool = False) -> None:
    """Job ``job`` of ``num_jobs`` of pass ``iteration`` of :class:`JobPasses`: with ``realign``, Kaldi's
    ``gmm-align-compiled`` of its share (``splitN/ali.JOB.gz`` and ``.json`` rewritten), then with
    ``accumulate`` ``gmm-acc-stats-ali`` on its alignments into ``ITER.JOB.acc.npz``."""
    if not 1 <= job <= num_jobs:
        raise ValueError(f"job {job} is not one of 1..{num_jobs}")
    directory = Path(directory)
    split = directory / f"split{num_jobs}"
    transition_model, acoustic_model = read_model(directory / f"{iteration}.mdl")
    system = GmmSystem(transition_model, read_tree(directory / "tree"), acoustic_model)
    features = CutFeatures(split / f"cuts.{job}.jsonl.gz", GmmFeatureOptions.load(directory), cache=keep_features)
    if keep_features:
        for utterance in set(_kept_features) - set(features.cuts):
            del _kept_features[utterance]
        features._cache = _kept_features
    lang = load_lang(lang_dir)
    passes = LocalPasses(features, lang.read_fst("L.fst"), list(lang.silence), boost)
    transcripts = read_int_vectors(split / f"text.{job}.gz")
    passes.begin(directory.name, system, transcripts, AlignmentResult(read_int_vectors(split / f"ali.{job}.gz")))
    alignments, stats = passes.run(system, realign, accumulate)
    if realign is not None:
        write_int_vectors(alignments.alignments, split / f"ali.{job}.gz")
        report = {"log_likelihoods": alignments.log_likelihoods, "retried": alignments.retried,
                  "failed": alignments.failed}
        atomic_write_text(split / f"ali.{job}.json", json.dumps(report) + "\n")
    if stats is not None:
        save_stats(stats, directory / f"{iteration}.{job}.acc.npz")


def align_cuts(model_dir: str | os.PathLike, cuts, lang_dir: str | os.PathLike, out_dir: str | os.PathLike,
               boost_silence: float = 1.0, map_oov: bool = False, loglikes: str | os.PathLike | None = None,
               num_jobs: int = 1, job: int | None = None, from_jobs: bool = False) -> dict | None:
    """Kaldi's ``align_si.sh``: align ``cuts`` with ``model_dir``'s system into the alignment directory ``out_dir``.

    With ``loglikes`` (an archive or ``scp:`` of per-frame ``(frames, num_pdfs)``
    scores, e.g. a network's pseudo log-likelihoods from ``python -m blasr.export``)
    the scores replace the GMMs, as Kaldi's ``align-compiled-mapped`` /
    ``steps/nnet/align.sh``: a trained network realigns the data; ``model_dir``
    then gives the transition model and tree only. ``num_jobs`` processes
    (Kaldi's ``nj``) each align a contiguous share of the utterances, reading
    the model, lang, features and scores themselves; job J logs to
    ``out_dir/log/align.J.log``. Returns a summary (also
    ``out_dir/summary.json``); failed and skipped utterances are listed there.

    Split across a launcher (``--cmd``): with ``job`` J only share J of ``num_jobs`` is aligned, into
    ``out_dir/splitN/ali.J.gz`` and ``ali.J.json``, and None is returned; with ``from_jobs`` those parts
    are merged (then removed) instead of aligning: the same directory as one process writes.
    """
    if num_jobs < 1:
        raise ValueError(f"num_jobs must be at least 1, not {num_jobs}")
    lang = load_lang(lang_dir)
    system = GmmSystem.load(model_dir)
    options = GmmFeatureOptions.load(model_dir)
    features = CutFeatures(cuts, options)
    transcripts, report = cut_transcripts(features.cuts.values(), lang, map_oov)
    report.log()
    start = time.perf_counter()
    utterances = list(transcripts)
    split = Path(out_dir) / f"split{num_jobs}"
    if job is not None:
        if not 1 <= job <= num_jobs:
            raise ValueError(f"job {job} is not one of 1..{num_jobs}")
        share = contiguous_shares(utterances, num_jobs)[job - 1]
        part = _align(system, lang, features, {utt: transcripts[utt] for utt in share}, boost_silence, loglikes)
        split.mkdir(parents=True, exist_ok=True)
        write_int_vectors(part.alignments, split / f"ali.{job}.gz")
        atomic_write_text(split / f"ali.{job}.json", json.dumps(
            {"log_likelihoods": part.log_likelihoods, "retried": part.retried, "failed": part.failed}) + "\n")
        return None
    if not from_jobs:
        num_jobs = max(1, min(num_jobs, len(utterances)))
    if from_jobs:
        result = _read_align_parts(split, num_jobs)
    elif num_jobs == 1:
        result = _align(system, lang, features, transcripts, boost_silence, loglikes)
    else:
        calls = [(model_dir, cuts, lang_dir, {utt: transcripts[utt] for utt in share}, boost_silence, loglikes)
                 for share in contiguous_shares(utterances, num_jobs)]
        parts = run_spawned(_align_share, calls, lambda error: ValueError(
            f"an alignment process died ({error}); run with one job to see why"),
            stage="align", log_dir=Path(out_dir) / "log", total=len(utterances))
        result = AlignmentResult()
        for part in parts:  # shares are contiguous: the utterance order is kept
            result.alignments.update(part.alignments)
            result.log_likelihoods.update(part.log_likelihoods)
            result.retried += part.retried
            result.failed.update(part.failed)
    logger.info("alignment: %s", result.summary())
    if not result.alignments:
        raise ValueError(f"no utterance of {cuts} aligned: {result.summary()}")
    out_dir = write_alignment_dir(out_dir, system, result.alignments)
    options.save(out_dir)
    summary = {"alignment": result.summary(), "failed": dict(result.failed), "skipped": report.skipped,
               "num_jobs": num_jobs, "seconds": time.perf_counter() - start}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _read_align_parts(split: Path, num_jobs: int) -> AlignmentResult:
    """The jobs' parts of :func:`align_cuts` (``split/ali.J.gz`` and ``.json``) as one result; ``split`` removed."""
    result = AlignmentResult()
    for job in range(1, num_jobs + 1):  # shares are contiguous: the utterance order is kept
        part = json.loads((split / f"ali.{job}.json").read_text())
        result.alignments.update(read_int_vectors(split / f"ali.{job}.gz"))
        result.log_likelihoods.update(part["log_likelihoods"])
        result.retried += part["retried"]
        result.failed.update(part["failed"])
    shutil.rmtree(split)
    return result


def _align(system: GmmSystem, lang: Lang, features: Mapping[str, np.ndarray], transcripts: dict[str, list[int]],
           boost_silence: float, loglikes: str | os.PathLike | None) -> AlignmentResult:
    if loglikes is None:
        return align_corpus(system, transcripts, features, lang.read_fst("L.fst"), boost=boost_silence,
                            silence_phones=list(lang.silence))
    compiler = system.graph_compiler(lang.read_fst("L.fst"))
    return align_with_log_likelihoods(compiler, transcripts, open_matrices(loglikes))  # a .scp streams


def _align_share(model_dir: str | os.PathLike, cuts, lang_dir: str | os.PathLike, transcripts: dict[str, list[int]],
                 boost_silence: float, loglikes: str | os.PathLike | None) -> AlignmentResult:
    """One job of :func:`align_cuts`: everything read from the files, only ``transcripts``' utterances aligned."""
    features = CutFeatures(cuts, GmmFeatureOptions.load(model_dir))
    return _align(GmmSystem.load(model_dir), load_lang(lang_dir), features, transcripts, boost_silence, loglikes)


def compute_log_likelihoods(model_dir: str | os.PathLike, cuts, out_dir: str | os.PathLike,
                            name: str = "loglikes") -> tuple[Path, StageReport]:
    """Kaldi's ``gmm-compute-likes``: ``(T, num_pdfs)`` log-likelihoods of every cut, as ``NAME.ark``/``.scp``.

    Uses ``model_dir``'s ``final.mdl`` and its feature settings; the archive is
    written atomically. Returns the scp path and a report.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    system = GmmSystem.load(model_dir)
    features = CutFeatures(cuts, GmmFeatureOptions.load(model_dir))
    dim = system.acoustic_model.pdfs[0].dim
    report = StageReport("gmm-compute-likes")
    start, frames = time.perf_counter(), 0
    with ArkWriter(out_dir / f"{name}.ark", out_dir / f"{name}.scp") as writer:
        for utterance in progress_bar(features, desc="gmm-compute-likes"):
            try:
                matrix = features[utterance]
            except (OSError, ValueError) as error:
                report.skip(utterance, f"unreadable features: {error}")
                continue
            if matrix.shape[1] != dim:
                raise ValueError(f"{utterance}: features have {matrix.shape[1]} dims, the model "
                                 f"{model_dir / 'final.mdl'} expects {dim}")
            writer.write(utterance, log_likelihoods(system.acoustic_model, matrix).astype(np.float32))
            frames += len(matrix)
            report.kept += 1
    report.stats.update(frames=frames, frames_per_second=frames / max(time.perf_counter() - start, 1e-9))
    report.save(out_dir / f"{name}.report.json")
    return out_dir / f"{name}.scp", report
