"""Log-mel extraction over a manifest: parallel, with a progress bar, a speed report and a skip list.

:func:`compute_features` reads every cut's audio (lhotse), computes the
``(T, 64)`` static log-mel with :func:`~blasr.features.fbank.compute_logmel`
and stores it in one lilcom "chunky" archive (``feats.lca``, lhotse's
``lilcom_chunky`` storage, 500-frame chunks, quantised to ``2 ** tick_power``).
Only the statics are stored; Δ/ΔΔ and normalisation are computed on the fly.

Frame counts follow Kaldi (snip_edges = true by default), *not* lhotse:
``cut.features.num_frames`` is the stored, Kaldi-exact count, whereas lhotse's
``cut.num_frames`` is computed from the duration as ``round(duration / shift)``
(the snip_edges = false count, about 2 frames more). Use
:func:`feature_frames` and :func:`load_static`, never ``cut.num_frames`` or
``cut.load_features()``, with these manifests.

Workers compute and compress; the parent writes the archive and the manifest
in input order, so the output is the same for any ``num_jobs``.
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import os
import shutil
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import lilcom
import numpy as np
import torch
from lhotse import CutSet, Features, MonoCut
from lhotse.caching import AudioCache

from blasr.features.config import FbankConfig
from blasr.features.fbank import FeatureError, compute_logmel
from blasr.features.report import StageReport
from blasr.features.wav import wav_shortfall
from blasr.utils.jobs import contiguous_shares
from blasr.utils.progress import progress_bar

logger = logging.getLogger("blasr")

FEATURE_TYPE = "kaldi-fbank"
ARCHIVE = "feats.lca"
MANIFEST = "cuts.jsonl.gz"
_CHUNK_FRAMES = 500  # lhotse's CHUNKY_FORMAT_CHUNK_SIZE: the reader assumes it


def open_cuts(cuts):
    """A CutSet from a CutSet, or from a manifest path opened lazily (streamed, never all in RAM)."""

    if isinstance(cuts, (str, os.PathLike)):
        path = Path(cuts)
        if not path.is_file():
            raise FileNotFoundError(f"cut manifest {path} does not exist")
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            return CutSet.from_jsonl_lazy(path)
        return CutSet.from_file(path)
    return cuts


def feature_frames(cut) -> int:
    """Kaldi-exact frame count of a cut's stored features (not lhotse's ``cut.num_frames``)."""
    if cut.features is None:
        raise ValueError(f"cut {cut.id} has no features; run python -m blasr.features on its manifest first")
    return cut.features.num_frames


def load_static(cut) -> np.ndarray:
    """The full stored ``(T, F)`` static log-mel of a cut, ``T = feature_frames(cut)``."""
    feats = cut.features.load()  # no start/duration: the whole matrix, no lhotse frame arithmetic
    if feats.shape[0] != cut.features.num_frames:
        raise ValueError(
            f"cut {cut.id}: storage {cut.features.storage_path} holds {feats.shape[0]} frames, "
            f"the manifest says {cut.features.num_frames}; the archive is stale or corrupt"
        )
    return feats


def compute_features(
    cuts,
    output_dir: str | os.PathLike,
    config: FbankConfig | None = None,
    num_jobs: int = 1,
    tick_power: int = -5,
    cuts_per_task: int = 16,
    progress: bool = True,
    overwrite: bool = False,
    job: int | None = None,
    from_jobs: bool = False,
) -> tuple[Path, StageReport]:
    """Extract and store static log-mel for every cut of a manifest.

    Args:
        cuts: a CutSet or the path of a cut manifest (streamed).
        output_dir: gets ``feats.lca``, ``cuts.jsonl.gz`` (the input cuts with
            ``features`` attached, skipped cuts left out), ``fbank.json`` and
            ``fbank.conf`` (the settings), ``features.report.json``, ``.completed``.
        config: feature settings; its sample rate must equal the recordings'.
        num_jobs: worker processes (1 = in this process); with ``job`` or ``from_jobs`` the launcher's job count.
        tick_power: lilcom precision: values are stored to multiples of ``2 ** tick_power``.
        cuts_per_task: cuts sent to a worker at a time (more to keep a recording's cuts together).
        progress: show progress: a bar on a terminal, else a log line a minute (``progress_bar``).
        overwrite: recompute even if ``output_dir`` holds a completed run with the same settings.
        job: split across a launcher (``--cmd``): extract only share ``job`` (1-based) of ``num_jobs``
            contiguous shares, into ``output_dir/splitN/J/`` (a complete feature directory of its own).
        from_jobs: merge those shares instead of extracting (:func:`merge_job_features`, then removed):
            the same archive and manifest, byte for byte, as one process writes.

    Returns:
        ``(manifest path, report)``. The report lists every skipped cut with its
        reason (unreadable, empty or too short audio, wrong sample rate, several
        channels), every cut read from a WAV file shorter than its header says
        as fixed (``truncated audio``, warned once per file), and the speed:
        ``x_real_time`` (audio seconds per wall second) and ``x_real_time_per_job``.

    Raises:
        FeatureError: when not a single cut could be extracted.
    """
    config = config or FbankConfig()
    if num_jobs < 1:
        raise ValueError(f"num_jobs must be >= 1, got {num_jobs}")
    output_dir = Path(output_dir)
    if job is not None:
        if not 1 <= job <= num_jobs:
            raise ValueError(f"job {job} is not one of 1..{num_jobs}")
        source = open_cuts(cuts)
        share = contiguous_shares(range(len(source)), num_jobs)[job - 1]
        job_dir = output_dir / f"split{num_jobs}" / str(job)
        job_dir.mkdir(parents=True, exist_ok=True)
        report = _extract(itertools.islice(source, share.start, share.stop), job_dir, config, 1, tick_power,
                          cuts_per_task, progress, len(share) if progress else None)
        report.save(job_dir / "features.report.json")
        report.log()
        return job_dir / MANIFEST, report
    manifest = output_dir / MANIFEST
    done = output_dir / ".completed"
    settings = output_dir / "fbank.json"
    if not overwrite and features_complete(output_dir, config):
        logger.info("features in %s are complete with these settings; not recomputing", output_dir)
        return manifest, StageReport("features", stats={"reused": 1})
    output_dir.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    settings.write_text(config.to_json())
    (output_dir / "fbank.conf").write_text(config.kaldi_conf())
    if from_jobs:
        report = merge_job_features(output_dir, num_jobs)
    else:
        source = open_cuts(cuts)
        total = len(source) if progress else None  # a manifest's cuts counted: one quick pass over its lines
        report = _extract(source, output_dir, config, num_jobs, tick_power, cuts_per_task, progress, total)
    report.save(output_dir / "features.report.json")
    report.log()
    if report.kept == 0:
        first = "; ".join(f"{item}: {reason}" for item, reason in report.skipped[:3])
        raise FeatureError(f"no cut could be extracted into {output_dir} ({report.num_skipped} skipped: {first})")
    done.write_text("")
    return manifest, report


def features_complete(output_dir: str | os.PathLike, config: FbankConfig) -> bool:
    """Whether ``output_dir`` holds a completed extraction with these settings (:func:`compute_features` reuses it)."""
    output_dir = Path(output_dir)
    settings = output_dir / "fbank.json"
    return (output_dir / ".completed").is_file() and settings.is_file() and settings.read_text() == config.to_json()


def _extract(source: Iterable, output_dir: Path, config: FbankConfig, num_jobs: int, tick_power: int,
             cuts_per_task: int, progress: bool, total: int | None) -> StageReport:
    """Extract ``source``'s cuts into ``output_dir``'s archive and manifest; the report with the speed."""
    archive_path = (output_dir / ARCHIVE).resolve()
    report = StageReport("features")
    audio_seconds, frames = 0.0, 0
    warned: set[str] = set()  # truncated files, each warned about once
    start = time.perf_counter()
    tasks = _tasks(source, cuts_per_task)
    executor = _executor(num_jobs)
    try:
        with open(archive_path, "wb") as archive, CutSet.open_writer(output_dir / MANIFEST) as writer, progress_bar(
            None, total=total, desc="log-mel", enabled=progress
        ) as bar:
            for batch, results in _ordered_map(executor, _extract_task, tasks, config, tick_power, num_jobs):
                for cut, result in zip(batch, results):
                    if isinstance(result, str):
                        report.skip(cut.id, result)
                    else:
                        num_frames, chunks, truncated = result
                        if truncated:
                            _warn_truncated(truncated, warned)
                            report.fix(cut.id, truncated)
                        key = _write_chunks(archive, chunks)
                        writer.write(replace(cut, features=_features(cut, config, num_frames, archive_path, key)))
                        report.kept += 1
                        audio_seconds += cut.duration
                        frames += num_frames
                    bar.update(1)
                elapsed = time.perf_counter() - start
                bar.set_postfix(xRT=f"{audio_seconds / max(elapsed, 1e-9):.0f}", skipped=report.num_skipped)
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    wall = time.perf_counter() - start
    report.stats.update(
        audio_hours=audio_seconds / 3600,
        frames=frames,
        wall_seconds=wall,
        num_jobs=num_jobs,
        x_real_time=audio_seconds / wall,
        x_real_time_per_job=audio_seconds / wall / num_jobs,
    )
    return report


def merge_job_features(output_dir: str | os.PathLike, num_jobs: int) -> StageReport:
    """The launcher's jobs' feature directories ``output_dir/splitN/1..N`` as one (``splitN`` then removed).

    The jobs' archives are concatenated into ``output_dir/feats.lca`` in job order and each cut's chunky
    key (``"offset,len1,len2,..."``) shifted by its archive's start: the shares are contiguous, so archive
    and manifest equal the ones a single process writes. The report sums the jobs' (the wall time is the
    slowest job's: they run side by side).
    """
    output_dir = Path(output_dir)
    split = output_dir / f"split{num_jobs}"
    archive_path = (output_dir / ARCHIVE).resolve()
    report = StageReport("features")
    audio_seconds, frames, wall = 0.0, 0, 0.0
    with open(archive_path, "wb") as archive, CutSet.open_writer(output_dir / MANIFEST) as writer:
        for job in range(1, num_jobs + 1):
            job_dir = split / str(job)
            if not (job_dir / "features.report.json").is_file():
                raise FeatureError(f"job {job} of {num_jobs} left no features in {job_dir}: see its log "
                                   f"({output_dir / 'log' / f'features.{job}.log'}) and run again")
            part = json.loads((job_dir / "features.report.json").read_text())
            offset = archive.tell()
            with open(job_dir / ARCHIVE, "rb") as chunks:
                shutil.copyfileobj(chunks, archive)
            for cut in CutSet.from_jsonl_lazy(job_dir / MANIFEST):
                first, _, lengths = cut.features.storage_key.partition(",")
                key = f"{int(first) + offset},{lengths}" if lengths else str(int(first) + offset)
                writer.write(replace(cut, features=replace(cut.features, storage_path=str(archive_path),
                                                           storage_key=key)))
            report.kept += part["kept"]
            report.skipped += [tuple(item) for item in part["skipped"]]
            report.fixed += [tuple(item) for item in part["fixed"]]
            audio_seconds += part["stats"]["audio_hours"] * 3600
            frames += part["stats"]["frames"]
            wall = max(wall, part["stats"]["wall_seconds"])
    report.stats.update(audio_hours=audio_seconds / 3600, frames=frames, wall_seconds=wall, num_jobs=num_jobs,
                        x_real_time=audio_seconds / wall, x_real_time_per_job=audio_seconds / wall / num_jobs)
    shutil.rmtree(split)
    return report


def extract_cut(cut, config: FbankConfig) -> np.ndarray:
    """``(T, F)`` static log-mel of one cut's audio; :class:`FeatureError` says why not.

    The audio is read sample-exactly from ``cut.start`` for ``cut.duration``
    (``round(t * sample_rate)`` samples, lhotse's rule; cuts built by
    :mod:`blasr.data.manifests` sit on Kaldi's sample indices).
    """

    if not isinstance(cut, MonoCut):
        raise FeatureError(f"{cut.id}: unsupported cut: {type(cut).__name__}; features are per MonoCut "
                           "(one channel of one recording)")
    if cut.sampling_rate != config.sample_rate:
        raise FeatureError(
            f"{cut.id}: wrong sample rate: the audio is {cut.sampling_rate} Hz, the features are "
            f"configured for {config.sample_rate} Hz; compute them with --sample-rate {cut.sampling_rate} "
            f"(python -m blasr.features) or make the cuts at {config.sample_rate} Hz "
            f"(python -m blasr.manifests --sample-rate {config.sample_rate})"
        )
    if not cut.has_recording:
        raise FeatureError(f"{cut.id}: no recording: the cut has no audio attached")
    try:
        audio = cut.load_audio()
    except Exception as error:  # lhotse raises several types; keep the first line, name the source
        detail = str(error).strip().splitlines()
        source = ", ".join(str(s.source) for s in cut.recording.sources)
        raise FeatureError(
            f"{cut.id}: unreadable audio: {type(error).__name__}: {detail[0] if detail else ''} (source {source})"
        ) from error
    if audio.ndim == 2 and audio.shape[0] != 1:
        raise FeatureError(f"{cut.id}: multi-channel: {audio.shape[0]} channels; make one cut per channel")
    return compute_logmel(audio, config, name=cut.id)


def truncated_audio(cut) -> str:
    """Why a cut's audio is shorter than its file's header says (``"truncated audio: ..."``), or ``""``.

    As Kaldi's ``WaveData::Read``, what the file holds is read and used; the
    features stage warns and counts the cut as fixed. Only WAV files are checked.
    """
    for source in cut.recording.sources if cut.has_recording else ():
        if source.type != "file" or not os.path.isfile(source.source):
            continue
        short = wav_shortfall(source.source)
        if short is not None:
            return (f"truncated audio: {source.source}: its header promises {short[0]} samples, "
                    f"the file holds {short[1]}; reading what there is")
    return ""


def _warn_truncated(note: str, warned: set[str]) -> None:
    """Log a truncated file once (Kaldi warns too), however many cuts it holds (they share the note)."""
    if note not in warned:
        warned.add(note)
        logger.warning("%s", note)


def _extract_task(cuts: list, config: FbankConfig, tick_power: int) -> list:
    """Worker: per cut ``(num_frames, compressed chunks, truncated_audio(cut))`` or the skip reason (a string)."""

    # lhotse reads a command source whole for every cut; its bounded cache (100 files,
    # 500 MB) makes that once per recording within a task.
    was_enabled = AudioCache.enabled()
    AudioCache.enable(True)
    # Speed-perturbed cuts (blasr.data.perturb) are resampled by lhotse with torch: one
    # thread per job, as the jobs fill the cores (torch's default pool on a shared 2-core
    # machine made it 10x slower, measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    results = []
    try:
        for cut in cuts:
            try:
                feats = extract_cut(cut, config)
            except FeatureError as error:
                results.append(str(error).removeprefix(f"{cut.id}: "))
                continue
            chunks = [
                lilcom.compress(feats[i : i + _CHUNK_FRAMES], tick_power=tick_power, do_regression=True)
                for i in range(0, len(feats), _CHUNK_FRAMES)
            ]
            results.append((len(feats), chunks, truncated_audio(cut)))
    finally:
        AudioCache.enable(was_enabled)
        torch.set_num_threads(threads)
    return results


def _write_chunks(archive, chunks: list[bytes]) -> str:
    """Append compressed chunks; return lhotse's chunky key ``"offset,len1,len2,..."``."""
    offsets = [archive.tell()]
    for chunk in chunks:
        offsets.append(archive.write(chunk))
    return ",".join(map(str, offsets))


def _features(cut, config: FbankConfig, num_frames: int, archive: Path, key: str):

    return Features(
        type=FEATURE_TYPE,
        num_frames=num_frames,
        num_features=config.num_mel_bins,
        frame_shift=config.frame_shift_seconds,
        sampling_rate=config.sample_rate,
        start=cut.start,
        duration=cut.duration,
        storage_type="lilcom_chunky",
        storage_path=str(archive),
        storage_key=key,
        recording_id=cut.recording_id,
        channels=cut.channel,
    )


def _tasks(cuts: Iterable, size: int, limit: int = 1024) -> Iterator[list]:
    """Consecutive cuts, ``>= size`` per task, a recording's cuts kept together (up to ``limit``)
    so that a recording read through a command (``sph2pipe ... |``) is decoded once per task."""
    batch: list = []
    for cut in cuts:
        if batch and (len(batch) >= limit or (len(batch) >= size and cut.recording_id != batch[-1].recording_id)):
            yield batch
            batch = []
        batch.append(cut)
    if batch:
        yield batch


def _executor(num_jobs: int) -> Executor | None:
    if num_jobs == 1:
        return None
    # fork where there is one: workers start in milliseconds, and scripts need no
    # `if __name__ == "__main__"` guard. They run kaldi-native-fbank, lilcom and
    # soundfile, and torch only in one thread (lhotse's resampling of speed-perturbed
    # audio), so the parent's threads cannot deadlock them.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(num_jobs, mp_context=multiprocessing.get_context(method))


def _ordered_map(executor, fn, tasks: Iterator[list], config, tick_power, num_jobs) -> Iterator[tuple]:
    """``(task, fn(task))`` in input order with at most ``4 * num_jobs`` tasks in flight (bounded memory)."""
    if executor is None:
        for task in tasks:
            yield task, fn(task, config, tick_power)
        return
    pending: deque = deque()
    for task in tasks:
        pending.append((task, executor.submit(fn, task, config, tick_power)))
        if len(pending) >= 4 * num_jobs:
            task, future = pending.popleft()
            yield task, future.result()
    while pending:
        task, future = pending.popleft()
        yield task, future.result()
