"""Manifests: lhotse RecordingSet / SupervisionSet / CutSet from a Kaldi data directory or audio files.

One cut per utterance, ``cut.id`` = the Kaldi utterance id (so alignments and
cuts join on the same key), one supervision per cut carrying text and speaker.

Kaldi data directory (``wav.scp`` required; ``segments``, ``text``,
``utt2spk``, ``reco2dur`` optional):

* ``wav.scp`` entries are files or commands ending in ``|`` (``sph2pipe ... |``).
  Each recording is probed for its sample rate, length and channels (from
  ``reco2dur`` instead when present, so pipes are not run twice).
* ``segments`` boundaries are snapped to the samples Kaldi's
  ``extract-segments`` takes: ``start_sample = int(start * rate)``,
  ``end_sample = int(end * rate)`` (truncation), ``end = -1`` = to the end; a
  segment overshooting the audio by less than ``max_overshoot`` (0.5 s) is
  truncated, by more it is skipped; segments of at most ``min_segment_length``
  (0.1 s) are skipped. Cuts then start and end on exact samples, so the
  features of a cut are computed from the very samples Kaldi used.

Audio at another rate than the one asked for is resampled as it is read
(lhotse's ``Recording.resample``): the report lists each such recording among
the fixed items, and one log line per source rate gives the count. Nothing is
dropped for its rate. Everything skipped (unreadable, empty, bad segments) is
counted in the returned report with its reason and the file's name.

:func:`find_audio_files` lists the audio under directories,
:func:`write_manifests` writes the cuts, recordings and supervisions with the
report: what ``python -m blasr.manifests`` does (:mod:`blasr.manifests`).
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import soundfile
from lhotse import CutSet, MonoCut, Recording, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.audio import AudioSource
from lhotse.utils import fastcopy

from blasr.features.report import StageReport

logger = logging.getLogger("blasr")

AUDIO_EXTENSIONS = (".wav", ".flac", ".sph")
REPORT = "manifests.report.json"


def read_kaldi_data_dir(
    data_dir: str | os.PathLike,
    sample_rate: int,
    min_segment_length: float = 0.1,
    max_overshoot: float = 0.5,
) -> tuple[RecordingSet, SupervisionSet, StageReport]:
    """Recordings and utterance supervisions of a Kaldi data directory (see the module doc), or of a bare
    ``wav.scp`` file (every entry one utterance; no other file is read).

    Supervisions start on the recording's time line. Without ``segments`` every
    recording is one utterance (``utt2spk`` keyed by recording id). Missing
    ``utt2spk`` entries make the utterance its own speaker (Kaldi's convention).
    """
    path = Path(data_dir)
    bare = path.is_file()  # a wav.scp alone
    data_dir = path.parent if bare else path
    report = StageReport("manifests")
    wav_scp = _read_table(path if bare else data_dir / "wav.scp", required=True)
    reco2dur, texts, utt2spk = ({} if bare else _read_table(data_dir / name)
                                for name in ("reco2dur", "text", "utt2spk"))

    recordings: dict[str, Recording] = {}
    source_rates: Counter = Counter()  # recordings resampled, by their own rate
    for recording_id, source in wav_scp.items():
        try:
            recording = _kaldi_recording(recording_id, source, sample_rate, reco2dur)
        except ValueError as error:
            report.skip(recording_id, str(error))
            continue
        recordings[recording_id] = _resampled(recording, sample_rate, source, report, source_rates)
    _log_resampled(source_rates, sample_rate, report)

    if not bare and (data_dir / "segments").is_file():
        lines = _read_lines(data_dir / "segments")
    else:  # every recording is one utterance
        lines = [[r, r, "0", "-1"] for r in wav_scp]
    supervisions = []
    for fields in lines:
        utterance = fields[0]
        if len(fields) not in (4, 5):
            report.skip(utterance, f"bad segments line: {' '.join(fields)!r} (want utt reco start end [channel])")
            continue
        recording = recordings.get(fields[1])
        if recording is None:
            reason = "not in wav.scp" if fields[1] not in wav_scp else "skipped (see its entry)"
            report.skip(utterance, f"no recording: {fields[1]} {reason}")
            continue
        try:
            start, end, channel = _kaldi_segment(fields, recording, min_segment_length, max_overshoot)
        except ValueError as error:
            report.skip(utterance, str(error))
            continue
        rate = recording.sampling_rate
        supervisions.append(
            SupervisionSegment(
                id=utterance,
                recording_id=recording.id,
                start=start / rate,
                duration=(end - start) / rate,
                channel=channel,
                text=texts.get(utterance),
                speaker=utt2spk.get(utterance, utterance),
            )
        )
    report.kept = len(supervisions)
    report.stats.update(
        recordings=len(recordings),
        hours=sum(s.duration for s in supervisions) / 3600,
    )
    return RecordingSet.from_recordings(recordings.values()), SupervisionSet.from_segments(supervisions), report


def cuts_from_manifests(recordings: RecordingSet, supervisions: Iterable[SupervisionSegment]) -> CutSet:
    """One :class:`MonoCut` per supervision, ``cut.id`` = the supervision (utterance) id."""
    cuts = []
    for supervision in supervisions:
        recording = recordings[supervision.recording_id]
        cuts.append(
            MonoCut(
                id=supervision.id,
                start=supervision.start,
                duration=supervision.duration,
                channel=supervision.channel,
                recording=recording,
                supervisions=[fastcopy(supervision, start=0.0)],  # cut-relative
            )
        )
    return CutSet.from_cuts(cuts)


def cuts_from_kaldi_data_dir(data_dir: str | os.PathLike, sample_rate: int, **options) -> tuple[CutSet, StageReport]:
    """:func:`read_kaldi_data_dir` + :func:`cuts_from_manifests`; the report is logged."""
    recordings, supervisions, report = read_kaldi_data_dir(data_dir, sample_rate, **options)
    report.log()
    return cuts_from_manifests(recordings, supervisions), report


def cuts_from_audio_files(
    paths: Iterable[str | os.PathLike],
    sample_rate: int | None = None,
    speakers: Mapping[str, str] | None = None,
    texts: Mapping[str, str] | None = None,
) -> tuple[CutSet, StageReport]:
    """One cut per file (per channel for multi-channel files), id = the file's stem (``stem-<channel>``).

    ``speakers`` and ``texts`` are keyed by cut id. Files at a rate other than
    ``sample_rate`` (when given) are resampled (counted as fixed, one log line
    per source rate); unreadable and empty files are skipped and counted; two
    files with the same stem are an error.
    """
    report = StageReport("manifests")
    source_rates: Counter = Counter()  # files resampled, by their own rate
    sources: dict[str, Path] = {}
    cuts = []
    for path in map(Path, paths):
        recording_id = path.stem
        if recording_id in sources:
            raise ValueError(f"files {sources[recording_id]} and {path} would both get the id {recording_id!r}")
        sources[recording_id] = path
        try:
            recording = Recording.from_file(path, recording_id=recording_id)
        except Exception as error:  # lhotse raises several types for unreadable files
            first = str(error).strip().splitlines()
            report.skip(recording_id, f"unreadable audio: {path}: {first[0] if first else type(error).__name__}")
            continue
        if recording.num_samples == 0:
            report.skip(recording_id, f"empty audio: {path} has 0 samples")
            continue
        if sample_rate is not None:
            recording = _resampled(recording, sample_rate, path, report, source_rates)
        channels = recording.channel_ids
        for channel in channels:
            cut_id = recording_id if len(channels) == 1 else f"{recording_id}-{channel}"
            supervision = SupervisionSegment(
                id=cut_id,
                recording_id=recording_id,
                start=0.0,
                duration=recording.duration,
                channel=channel,
                text=(texts or {}).get(cut_id),
                speaker=(speakers or {}).get(cut_id, cut_id),
            )
            cuts.append(
                MonoCut(id=cut_id, start=0.0, duration=recording.duration, channel=channel,
                        recording=recording, supervisions=[supervision])
            )
    report.kept = len(cuts)
    report.stats["hours"] = sum(c.duration for c in cuts) / 3600
    _log_resampled(source_rates, sample_rate, report)
    report.log()
    return CutSet.from_cuts(cuts), report


def find_audio_files(paths: Iterable[str | os.PathLike], extensions: Sequence[str] = AUDIO_EXTENSIONS) -> list[Path]:
    """The files among ``paths``, and under each directory the files ending in one of ``extensions`` (sorted).

    A path that does not exist is kept (reading it will report it unreadable).
    """
    suffixes = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes)))
        else:
            found.append(path)
    return found


def read_path_list(path: str | os.PathLike) -> list[Path]:
    """The paths listed in a text file, one a line (blank lines and ``#`` comments ignored)."""
    with open(path, encoding="utf-8") as f:
        return [Path(line.strip()) for line in f if line.strip() and not line.lstrip().startswith("#")]


def write_manifests(cuts: CutSet, out_dir: str | os.PathLike, report: StageReport) -> Path:
    """``cuts.jsonl.gz``, ``recordings.jsonl.gz``, ``supervisions.jsonl.gz`` and the report in ``out_dir``.

    Supervisions are written on their recording's time line; returns the cut manifest's path.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recordings, supervisions, _ = cuts.decompose()  # None when there are none
    (recordings or RecordingSet()).to_file(out_dir / "recordings.jsonl.gz")
    (supervisions or SupervisionSet()).to_file(out_dir / "supervisions.jsonl.gz")
    cuts.to_file(out_dir / "cuts.jsonl.gz")
    report.save(out_dir / REPORT)
    return out_dir / "cuts.jsonl.gz"


def _resampled(recording: Recording, sample_rate: int, source, report: StageReport, rates: Counter) -> Recording:
    """``recording`` at ``sample_rate``: as it is, or resampled as it is read (noted in the report and ``rates``)."""
    if recording.sampling_rate == sample_rate:
        return recording
    report.fix(recording.id, f"resampled: {source} is {recording.sampling_rate} Hz, read at {sample_rate} Hz")
    rates[recording.sampling_rate] += 1
    return recording.resample(sample_rate)


def _log_resampled(rates: Counter, sample_rate: int | None, report: StageReport) -> None:
    """One log line per source rate with how many recordings are resampled from it (also in the report's stats)."""
    for rate, count in sorted(rates.items()):
        logger.info("resampling %d recording(s) from %d Hz to %d Hz", count, rate, sample_rate)
        report.stats[f"resampled_from_{rate}_hz"] = count


def _kaldi_recording(recording_id: str, source: str, sample_rate: int, reco2dur: Mapping[str, str]) -> Recording:
    """A Recording for one ``wav.scp`` entry; ValueError says why it cannot be used."""
    is_command = source.endswith("|")
    audio_source = AudioSource(type="command" if is_command else "file", channels=[0],
                               source=source[:-1].strip() if is_command else source)
    if recording_id in reco2dur:
        num_samples = round(float(reco2dur[recording_id]) * sample_rate)
        rate, channels = sample_rate, 1
    else:
        rate, num_samples, channels = _probe(audio_source)
    if num_samples == 0:
        raise ValueError(f"empty audio: {source} has 0 samples")
    audio_source.channels = list(range(channels))
    return Recording(id=recording_id, sources=[audio_source], sampling_rate=rate, num_samples=num_samples,
                     duration=num_samples / rate, channel_ids=list(range(channels)))


def _probe(source: AudioSource) -> tuple[int, int, int]:
    """(sample rate, samples, channels) of a file or of a command's output."""
    try:
        if source.type == "command":
            output = subprocess.run(source.source, shell=True, capture_output=True, check=True).stdout
            info = soundfile.info(io.BytesIO(output))
        else:
            if ".ark:" in source.source:
                raise ValueError("wav.scp entries pointing into archives (file.ark:offset) are not supported")
            info = soundfile.info(source.source)
    except ValueError:
        raise
    except Exception as error:  # soundfile / subprocess errors
        first = str(error).strip().splitlines()
        raise ValueError(f"unreadable audio: {source.source}: {first[0] if first else type(error).__name__}") from error
    return int(info.samplerate), int(info.frames), int(info.channels)


def _kaldi_segment(fields: list[str], recording: Recording, min_length: float, max_overshoot: float):
    """``(start_sample, end_sample, channel)`` as Kaldi's extract-segments computes them."""
    rate, num_samples = recording.sampling_rate, recording.num_samples
    try:
        start_time, end_time = float(fields[2]), float(fields[3])
        channel = int(fields[4]) if len(fields) == 5 else None
    except ValueError:
        raise ValueError(f"bad segments line: {' '.join(fields)!r}") from None
    if start_time < 0 or (end_time != -1 and (end_time <= 0 or start_time >= end_time)):
        raise ValueError(f"empty or invalid segment: {start_time} .. {end_time} s")
    start = int(start_time * rate)  # C++ float-to-int conversion truncates
    end = int(end_time * rate) if end_time != -1 else num_samples
    if start >= num_samples:
        raise ValueError(f"segment out of range: starts at sample {start}, {recording.id} has {num_samples}")
    if end > num_samples:
        if end >= num_samples + int(max_overshoot * rate):
            raise ValueError(
                f"segment out of range: ends at sample {end}, {recording.id} has {num_samples} "
                f"(overshoot >= {max_overshoot} s)"
            )
        end = num_samples  # Kaldi truncates small overshoots
    if end <= start + int(min_length * rate):
        raise ValueError(f"segment too short: {(end - start) / rate:.3f} s <= {min_length} s (Kaldi skips it)")
    num_channels = len(recording.channel_ids)
    if channel is None:
        if num_channels != 1:
            raise ValueError(f"multi-channel: {recording.id} has {num_channels} channels; give one in segments")
        channel = 0
    elif channel >= num_channels:
        raise ValueError(f"bad channel: {channel} >= {num_channels} channels of {recording.id}")
    return start, end, channel


def _read_lines(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8") as f:
        return [line.split() for line in f if line.strip()]


def _read_table(path: Path, required: bool = False) -> dict[str, str]:
    """A Kaldi ``key value...`` table; the value is the rest of the line (may be empty)."""
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"{path} does not exist; a Kaldi data directory needs it")
        return {}
    table = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            parts = line.strip().split(maxsplit=1)
            if not parts:
                continue
            if parts[0] in table:
                raise ValueError(f"{path}:{number}: duplicate key {parts[0]!r}")
            table[parts[0]] = parts[1] if len(parts) > 1 else ""
    return table
