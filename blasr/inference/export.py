"""Export a trained model's outputs over a manifest as a Kaldi archive, for Kaldi's decoders.

For every cut: its stored static log-mel (``blasr.features.load_static``),
normalised and with Δ/ΔΔ exactly as in training (the model file's feature
settings), run densely through the model (:func:`~blasr.inference.forward.dense_logits`),
turned into what ``nnet-forward`` writes (:class:`~blasr.inference.posteriors.PosteriorTransform`),
one float32 matrix of exactly ``feature_frames(cut)`` rows per utterance.

Outputs in ``out_dir`` (``NAME`` = loglikes, logpost, logits or post)::

    NAME.ark, NAME.scp     Kaldi binary matrices (kaldiio / Kaldi read them), keyed by cut id
    export.report.json     every cut written or skipped, with the reason
    export.json            the settings: model, options, priors, counts

Writes are atomic: the archive and its index are written to temporary files
and renamed when every cut has been processed, so a crash never leaves a
half-written ``NAME.ark``. Split across a launcher (``python -m blasr.export
--cmd``), job J writes ``NAME.J.ark`` and its part of the index, and
:func:`merge_job_exports` joins the parts into one ``NAME.scp`` (pointing into
the N archives) and one report. A cut that fails (unreadable or mismatched
features, a non-finite output, ...) is listed with its reason and the export
goes on; :attr:`ExportResult.failed` tells the caller (``python -m
blasr.export`` exits non-zero).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from blasr.acoustic.model_file import load_model_file
from blasr.acoustic.priors import read_counts
from blasr.features.cmvn import CmvnTable, compute_cmvn_table
from blasr.features.extract import feature_frames, load_static, open_cuts
from blasr.features.input import model_input
from blasr.features.report import StageReport
from blasr.inference.forward import batched_dense_logits, dense_logits
from blasr.inference.optimize import optimize_for_inference
from blasr.inference.posteriors import NnetForwardOptions, PosteriorTransform
from blasr.kaldi.formats.ark import ArkWriter, open_writer
from blasr.utils.errors import BlasrError
from blasr.utils.files import atomic_write_text
from blasr.utils.jobs import contiguous_shares
from blasr.utils.progress import progress_bar
from blasr.utils.threads import ThreadTuner, thread_tuner

logger = logging.getLogger("blasr.export")


@dataclass
class ExportResult:
    ark: Path | None  # None when written to a stream (``ark:-``, ``ark:| COMMAND``)
    scp: Path | None
    report: StageReport

    @property
    def failed(self) -> int:
        return self.report.num_skipped


def export_posteriors(
    model_path: str | os.PathLike,
    cuts,
    out_dir: str | os.PathLike,
    options: NnetForwardOptions = NnetForwardOptions(),
    use_priors: bool = True,
    class_frame_counts: str | os.PathLike | None = None,
    chunk_frames: int | None = 3000,
    device: str | None = None,
    amp: bool = False,
    name: str | None = None,
    cmvn: str | os.PathLike | None = None,
    progress: bool = True,
    optimize: bool = True,
    wspecifier: str | None = None,
    job: int | None = None,
    num_jobs: int = 1,
) -> ExportResult:
    """Write nnet-forward's output for every cut of ``cuts`` (a manifest path or CutSet) to ``out_dir``.

    Args:
        model_path: ``EXP/final.pt`` or a training checkpoint.
        options: nnet-forward's ``--apply-log`` / ``--no-softmax`` / ``--prior-scale`` / ``--prior-floor``.
        use_priors: subtract log-priors (pseudo log-likelihoods); the counts are
            ``class_frame_counts`` (a Kaldi text vector file) or else the model's.
        chunk_frames: utterances longer than this run in chunks of this many
            output frames (same numbers); None: always whole.
        device: ``cuda`` / ``cpu``; None: CUDA when available.
        amp: bf16 autocast (GPU); off by default, so outputs are float32 throughout.
        name: archive name; default by content (loglikes, logpost, logits, post).
        cmvn: CmvnTable for a model trained with speaker / side normalisation;
            None: computed over ``cuts`` (the test speakers' own statistics).
        optimize: run a batch-norm-folded, channels-last copy of the model
            (:func:`~blasr.inference.optimize.optimize_for_inference`), the default:
            1.2-1.4x faster on CPU, the same outputs within 5e-4 + 1e-4 |x| (float
            rounding; docs/training.md, Export); False runs the model as trained.
        wspecifier: where the archive goes instead of ``out_dir/NAME.{ark,scp}``, as Kaldi's programs take it:
            ``ark:-`` (standard output, for ``| latgen-faster-mapped ... ark:-``), ``ark,t:-``,
            ``ark:| gzip -c > x.gz``, ``ark,scp:x.ark,x.scp``; the report and settings stay in ``out_dir``.
        job: one job of a launcher's ``num_jobs``: only share ``job`` (1-based, contiguous) of ``cuts``, into
            ``out_dir/NAME.J.ark``; its index, report and settings into ``out_dir/splitN/J/``
            (:func:`merge_job_exports` joins them). Give every job the same ``cmvn`` (:func:`job_cmvn`).
    """
    start = time.perf_counter()
    scores = NetworkScores(model_path, cuts, options, use_priors, class_frame_counts, chunk_frames, device, amp,
                           cmvn, optimize)
    trained, transform = scores.trained, scores.transform
    out_dir = Path(out_dir)
    name = name or transform.kind
    report = StageReport("export")
    target = wspecifier or f"{out_dir}/{name}.ark"
    logger.info("exporting %s (%s, %d classes) over %s to %s: %s%s", model_path, trained.info["arch"],
                trained.num_classes, cuts if isinstance(cuts, (str, os.PathLike)) else "cuts", target,
                transform.kind, f", prior scale {options.prior_scale}" if transform.log_prior is not None else "")
    if transform.num_disabled:
        logger.warning("%d classes are below --prior-floor %g and disabled (as nnet-forward does)",
                       transform.num_disabled, options.prior_floor)
    _check_first_cut(scores, model_path, cuts)
    frames = 0
    source = open_cuts(cuts)
    if job is not None:
        if wspecifier:
            raise ValueError("the jobs of a launched export write OUT/NAME.J.ark each; they take no wspecifier")
        if not 1 <= job <= num_jobs:
            raise ValueError(f"job {job} is not one of 1..{num_jobs}")
        share = contiguous_shares(range(len(source)), num_jobs)[job - 1]
        source = itertools.islice(source, share.start, share.stop)
        part_dir = out_dir / f"split{num_jobs}" / str(job)
        writer = ArkWriter(out_dir / f"{name}.{job}.ark", part_dir / f"{name}.scp")
        target, out_dir = f"{out_dir}/{name}.{job}.ark", part_dir
    elif wspecifier:
        writer = open_writer(wspecifier)
    else:
        writer = ArkWriter(out_dir / f"{name}.ark", out_dir / f"{name}.scp")
    with writer:
        for group in _groups(progress_bar(source, desc="export", enabled=progress), chunk_frames or 3000):
            for cut, matrix in zip(group, scores.score_batch(group)):
                if cut.id in writer.keys:
                    report.skip(cut.id, "duplicate: this utterance id was already written")
                elif isinstance(matrix, ScoreError):
                    report.skip(cut.id, str(matrix))
                else:
                    writer.write(cut.id, matrix)
                    report.kept += 1
                    frames += len(matrix)
    seconds = time.perf_counter() - start
    report.stats.update(frames=frames, seconds=round(seconds, 3), frames_per_sec=round(frames / max(seconds, 1e-9)))
    report.save(out_dir / "export.report.json")
    settings = dict(model=str(model_path), cuts=str(cuts) if isinstance(cuts, (str, os.PathLike)) else None,
                    archive=target, kind=transform.kind, options=asdict(options),
                    priors=transform.log_prior is not None,
                    class_frame_counts=str(class_frame_counts) if class_frame_counts else "model",
                    disabled_classes=transform.num_disabled, chunk_frames=chunk_frames, amp=amp, optimize=optimize,
                    normalization=scores.normalization, written=report.kept, failed=report.num_skipped)
    (out_dir / "export.json").write_text(json.dumps(settings, indent=1) + "\n")
    report.log()
    return ExportResult(writer.ark, writer.scp, report)


def job_cmvn(model_path: str | os.PathLike, cuts, out_dir: str | os.PathLike, num_jobs: int,
             cmvn: str | os.PathLike | None = None) -> Path | None:
    """The CMVN table a launched export's jobs share: for a speaker / side normalised model without ``cmvn``,
    computed over all of ``cuts`` (as one process does; a job sees only its share) and saved to
    ``out_dir/splitN/cmvn.npz``; else None (the jobs use ``cmvn`` or normalise per utterance)."""
    normalization = load_model_file(model_path, "cpu").features.get("normalization", "utterance")
    if cmvn is not None or normalization not in ("speaker", "side"):
        return None
    path = Path(out_dir) / f"split{num_jobs}" / "cmvn.npz"
    compute_cmvn_table(open_cuts(cuts), normalization).save(path)
    logger.info("%s statistics over %s for the %d jobs: %s", normalization,
                cuts if isinstance(cuts, (str, os.PathLike)) else "the cuts", num_jobs, path)
    return path


def merge_job_exports(out_dir: str | os.PathLike, num_jobs: int) -> ExportResult:
    """The parts of a launched export's jobs as one: ``out_dir/NAME.scp`` (the jobs' indexes in job order,
    pointing into ``NAME.1.ark .. NAME.N.ark``, a later duplicate of an utterance id skipped and reported),
    ``export.report.json`` and ``export.json`` (the jobs' summed); ``out_dir/splitN`` removed. The shares
    are contiguous, so the index lists the utterances in the manifest's order, as one process writes them."""
    out_dir = Path(out_dir)
    split = out_dir / f"split{num_jobs}"
    report, lines, keys, seconds = StageReport("export"), [], set(), 0.0
    settings: dict = {}
    for job in range(1, num_jobs + 1):
        part_dir = split / str(job)
        if not (part_dir / "export.json").is_file():
            raise ScoreError(f"job {job} of {num_jobs} left no export in {part_dir}: see its log "
                             f"({out_dir / 'log' / f'export.{job}.log'}) and run again")
        settings = settings or json.loads((part_dir / "export.json").read_text())
        name = Path(settings["archive"]).name.removesuffix(".1.ark")  # job 1 wrote NAME.1.ark
        part = json.loads((part_dir / "export.report.json").read_text())
        report.kept += part["kept"]
        for line in (part_dir / f"{name}.scp").read_text().splitlines():
            key = line.split(" ", 1)[0]
            if key in keys:  # in an earlier job's share: its job counted it as written
                report.skip(key, "duplicate: this utterance id was already written")
                report.kept -= 1
                continue
            keys.add(key)
            lines.append(line + "\n")
        report.skipped += [tuple(item) for item in part["skipped"]]
        report.stats["frames"] = report.stats.get("frames", 0) + part["stats"]["frames"]
        seconds = max(seconds, part["stats"]["seconds"])  # the jobs run side by side
    scp = out_dir / f"{name}.scp"
    atomic_write_text(scp, "".join(lines))
    report.stats.update(seconds=seconds, frames_per_sec=round(report.stats["frames"] / max(seconds, 1e-9)))
    report.save(out_dir / "export.report.json")
    settings.update(archive=f"{out_dir}/{name}.JOB.ark", jobs=num_jobs, written=report.kept,
                    failed=report.num_skipped)
    atomic_write_text(out_dir / "export.json", json.dumps(settings, indent=1) + "\n")
    shutil.rmtree(split)
    report.log()
    return ExportResult(None, scp, report)


class ScoreError(BlasrError, ValueError):
    """A cut the network cannot score; the message is the reason (the export's report lists it)."""


class NetworkScores(Mapping):
    """``utterance -> (frames, classes)`` float32: what :func:`export_posteriors` writes for each cut of ``cuts``,
    computed on access instead of stored.

    ``python -m blasr.decode --nnet`` decodes from it directly, so a 32k-class
    test set never touches the disk. The arguments are
    :func:`export_posteriors`'; ``threads`` sets torch's CPU threads. The model
    loads on first use, and an instance pickles as its settings, so decoding
    processes each load their own copy (:attr:`crosses_processes`). A cut that
    cannot be scored raises :class:`ScoreError` naming the reason.
    """

    crosses_processes = True  # blasr.kaldi.decoding.decode.decode_many hands it to its worker processes as it is

    def __init__(self, model_path: str | os.PathLike, cuts, options: NnetForwardOptions = NnetForwardOptions(),
                 use_priors: bool = True, class_frame_counts: str | os.PathLike | None = None,
                 chunk_frames: int | None = 3000, device: str | None = None, amp: bool = False,
                 cmvn: str | os.PathLike | None = None, optimize: bool = True, threads: int | None = None):
        self._settings = dict(model_path=model_path, cuts=cuts, options=options, use_priors=use_priors,
                              class_frame_counts=class_frame_counts, chunk_frames=chunk_frames, device=device,
                              amp=amp, cmvn=cmvn, optimize=optimize, threads=threads)
        self._cuts: dict | None = None  # id -> cut, read on first lookup (the export only iterates)
        self._loaded: tuple | None = None
        self._tuner: ThreadTuner | None = None

    def __reduce__(self):
        return _network_scores, (self._settings,)

    def _load(self) -> tuple:
        if self._loaded is None:
            settings = self._settings
            if settings["threads"] is not None:
                torch.set_num_threads(settings["threads"])
            device = settings["device"] or ("cuda" if torch.cuda.is_available() else "cpu")
            trained = load_model_file(settings["model_path"], device)
            if settings["optimize"]:
                trained = replace(trained, model=optimize_for_inference(trained.model))
            counts = None
            if settings["use_priors"]:
                counts_file = settings["class_frame_counts"]
                counts = read_counts(counts_file) if counts_file is not None else trained.class_counts
                if counts is None:
                    raise ValueError(f"{settings['model_path']} holds no class counts; "
                                     "give --class-frame-counts or --no-priors")
            if counts is not None and len(counts) != trained.num_classes:
                raise ValueError(f"{len(counts)} class counts for a model with {trained.num_classes} outputs")
            transform = PosteriorTransform(settings["options"], counts)
            normalization = trained.features.get("normalization", "utterance")
            table = None
            if normalization in ("speaker", "side"):
                table = (CmvnTable.load(settings["cmvn"]) if settings["cmvn"] is not None
                         else compute_cmvn_table(open_cuts(settings["cuts"]), normalization))
            # CPU threads follow the load (blasr.utils.threads)
            self._tuner = thread_tuner() if torch.device(device).type == "cpu" else None
            self._loaded = (trained, transform, normalization, table)
        return self._loaded

    @property
    def trained(self):
        """The loaded model file (:class:`~blasr.acoustic.model_file.TrainedModel`)."""
        return self._load()[0]

    @property
    def transform(self) -> PosteriorTransform:
        return self._load()[1]

    @property
    def normalization(self) -> str:
        return self._load()[2]

    @property
    def cuts(self) -> dict:
        """``utterance -> cut`` of the manifest."""
        if self._cuts is None:
            self._cuts = {cut.id: cut for cut in open_cuts(self._settings["cuts"])}
        return self._cuts

    def __getitem__(self, utterance: str) -> np.ndarray:
        return self.score(self.cuts[utterance])

    def __iter__(self):
        return iter(self.cuts)

    def __len__(self) -> int:
        return len(self.cuts)

    def check_features(self, cut) -> None:
        """:class:`ScoreError` unless ``cut`` has features of the model's dimension and sample rate."""
        if cut.features is None:
            raise ScoreError("no features: run python -m blasr.features on this manifest first")
        expected = self.trained.features
        dim = cut.features.num_features
        if expected.get("num_features") not in (None, dim):
            raise ScoreError(f"wrong features: {dim} per frame, the model was trained on {expected['num_features']}")
        rate = cut.features.sampling_rate
        if expected.get("sampling_rate") not in (None, rate):
            raise ScoreError(f"wrong features: computed at {rate} Hz, the model's at {expected['sampling_rate']} Hz")

    def score(self, cut) -> np.ndarray:
        """``(feature_frames(cut), classes)`` float32 for one cut; :class:`ScoreError` when it cannot be scored."""
        return self._score_inputs(*self._inputs(cut))

    def _score_inputs(self, inputs: np.ndarray, num_frames: int) -> np.ndarray:
        chunk_frames, amp = self._settings["chunk_frames"], self._settings["amp"]
        logits = self._run_model(lambda: dense_logits(self.trained.model, inputs, chunk_frames, amp=amp),
                                 work=inputs.shape[-1])  # (T, K)
        return self._output(logits, num_frames)

    def _run_model(self, forward, work: int):
        """``forward()``, timed for the thread tuner (``work`` frames); a model's error as :class:`ScoreError`."""
        try:
            started = time.perf_counter()
            logits = forward()
            if self._tuner is not None:
                self._tuner.update(time.perf_counter() - started, work=work)
        except (ValueError, KeyError, RuntimeError) as error:
            raise ScoreError(f"model error: {type(error).__name__}: {_first_line(error)}") from None
        return logits

    def score_batch(self, cuts: list) -> list:
        """:meth:`score` of each cut (its matrix, or the :class:`ScoreError` it raised), the short ones run
        together (:func:`~blasr.inference.forward.batched_dense_logits`) as long as the padded batch holds at
        most ``chunk_frames`` output frames; the same numbers up to float rounding."""
        budget, amp = self._settings["chunk_frames"] or 3000, self._settings["amp"]
        results: list = [None] * len(cuts)
        ready = []  # (position, inputs, num_frames) of the cuts that go into batches
        for i, cut in enumerate(cuts):
            try:
                inputs, num_frames = self._inputs(cut)
            except ScoreError as error:
                results[i] = error
                continue
            if inputs.shape[-1] > budget:
                try:
                    results[i] = self._score_inputs(inputs, num_frames)
                except ScoreError as error:
                    results[i] = error
            else:
                ready.append((i, inputs, num_frames))
        start = 0
        while start < len(ready):
            end, longest = start + 1, ready[start][1].shape[-1]
            while end < len(ready) and (end - start + 1) * max(longest, ready[end][1].shape[-1]) <= budget:
                longest = max(longest, ready[end][1].shape[-1])
                end += 1
            group = ready[start:end]
            try:
                logits = self._run_model(
                    lambda: batched_dense_logits(self.trained.model, [inputs for _, inputs, _ in group], amp=amp),
                    work=len(group) * longest)
            except ScoreError as error:
                logits = [error] * len(group)
            for (i, _, num_frames), rows in zip(group, logits):
                try:
                    results[i] = rows if isinstance(rows, ScoreError) else self._output(rows, num_frames)
                except ScoreError as error:
                    results[i] = error
            start = end
        return results

    def _inputs(self, cut) -> tuple[np.ndarray, int]:
        """The model's ``(3, F, T)`` input for ``cut`` and its frame count; :class:`ScoreError` if none."""
        trained, _, normalization, table = self._load()
        self.check_features(cut)
        try:
            static = load_static(cut)
        except Exception as error:  # lhotse / lilcom / OS errors for a missing, truncated or corrupt archive
            raise ScoreError(f"unreadable features: {type(error).__name__}: {_first_line(error)}") from None
        num_frames = feature_frames(cut)
        if not np.all(np.isfinite(static)):
            raise ScoreError("bad features: NaN or infinite values")
        try:
            stats = table.for_cut(cut) if table is not None else None
            inputs = model_input(static, normalization, stats, trained.features.get("norm_vars", True))  # (3, F, T)
        except (ValueError, KeyError, RuntimeError) as error:
            raise ScoreError(f"model error: {type(error).__name__}: {_first_line(error)}") from None
        return inputs, num_frames

    def _output(self, logits: torch.Tensor, num_frames: int) -> np.ndarray:
        output = self.transform(logits)
        if output.shape[0] != num_frames:  # the time-unpadded model with replicated edges keeps every frame
            raise ScoreError(f"model error: {output.shape[0]} output frames for {num_frames} feature frames")
        if not torch.isfinite(output).all():
            raise ScoreError("non-finite output: NaN or infinite values in the model's output")
        return output.numpy()


def _groups(cuts, frames: int):
    """Consecutive cuts, about ``frames`` feature frames a group (one cut at least): the batches of
    :meth:`NetworkScores.score_batch`, and the matrices held before they are written."""
    group, total = [], 0
    for cut in cuts:
        try:
            count = feature_frames(cut)
        except Exception:  # no or odd features: score_batch names the problem
            count = 0
        if group and total + count > frames:
            yield group
            group, total = [], 0
        group.append(cut)
        total += count
    if group:
        yield group


def _check_first_cut(scores: NetworkScores, model_path, cuts) -> None:
    """Stop before writing anything when the data's features are not the model's: every cut would fail alike."""
    first = next(iter(open_cuts(cuts)), None)
    if first is None or first.features is None:
        return
    try:
        scores.check_features(first)
    except ScoreError as error:
        expected = scores.trained.features
        options = " ".join(f"{flag} {expected[key]}" for flag, key in (("--sample-rate", "sampling_rate"),
                                                                      ("--num-mel-bins", "num_features"))
                           if expected.get(key) is not None)
        data = cuts if isinstance(cuts, (str, os.PathLike)) else "the cuts"
        raise ValueError(f"{model_path} does not fit {data} ({first.id}: {error}); compute the data's features "
                         f"as the model's: python -m blasr.features {options}") from None


def _network_scores(settings: dict) -> NetworkScores:
    """Unpickles a :class:`NetworkScores` from its settings (the model loads on first use)."""
    return NetworkScores(**settings)


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else ""
