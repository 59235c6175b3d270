"""Two-channel telephone conversations as per-side cuts and Kaldi data directories (Switchboard, Hub5'00, RT).

A conversation is one lhotse :class:`Recording` with two channels (side A =
channel 0, side B = channel 1, as Kaldi's ``sph2pipe -c 1`` / ``-c 2``). Each
utterance becomes one :class:`MonoCut` of one channel at the recording's 8 kHz,
``cut.id`` = its Kaldi utterance id (:mod:`blasr.data.kaldi_ids`), speaker =
the conversation side (``sw02001-A``: Kaldi's one speaker per side).

Cut boundaries sit on the samples Kaldi's ``extract-segments`` takes:
``int(start * rate)`` .. ``int(end * rate)``; a segment overshooting the
audio by less than 0.5 s is cut at its end, by more it is skipped, as is one of
at most 0.1 s (Kaldi's ``--max-overshoot`` and ``--min-segment-length``).
Every skip is counted with its reason.

:func:`write_part` writes one data set (``train_nodup``, ``eval2000`` ...)::

    recordings.jsonl.gz  supervisions.jsonl.gz  cuts.jsonl.gz
    text  segments  utt2spk  spk2utt  reco2file_and_channel   # a Kaldi data directory (no wav.scp)
    report.json

:func:`read_stm` reads NIST stm references; :func:`extend_segments` is Kaldi's
``local/extend_segments.pl``.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from lhotse import CutSet, MonoCut, Recording, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.utils import fastcopy

from blasr.data.sphere import sphere_info_backend, sphere_source
from blasr.features.report import StageReport

SIDES = ("A", "B")
MAX_OVERSHOOT = 0.5  # seconds, extract-segments --max-overshoot
MIN_SEGMENT_LENGTH = 0.1  # seconds, extract-segments --min-segment-length


@dataclass
class Segment:
    """One utterance: Kaldi id, recording (call) id, side, times in seconds, words."""

    id: str
    recording: str
    side: str
    start: float
    end: float
    words: list[str]

    @property
    def channel(self) -> int:
        return SIDES.index(self.side)

    @property
    def speaker(self) -> str:
        return f"{self.recording}-{self.side}"


def resource_recordings(recordings) -> "RecordingSet":  # noqa: F821
    """The recordings with their ``.sph`` sources made readable here (:func:`blasr.data.sphere.sphere_source`)."""


    fixed = []
    for recording in recordings:
        sources = []
        for source in recording.sources:
            if source.type == "file" and source.source.lower().endswith(".sph"):
                source = sphere_source(source.source, source.channels)
            sources.append(source)
        fixed.append(fastcopy(recording, sources=sources))
    return RecordingSet.from_recordings(fixed)


def recordings_from_files(paths: Iterable[str | os.PathLike]) -> "RecordingSet":  # noqa: F821
    """One Recording per audio file (id = file stem), SPHERE read with or without sph2pipe."""


    with sphere_info_backend():
        recordings = [Recording.from_file(Path(p).resolve()) for p in sorted(paths)]
    return resource_recordings(RecordingSet.from_recordings(recordings))


@dataclass
class Part:
    """One written data set: its directory, cuts and report."""

    directory: Path
    cuts: "CutSet"  # noqa: F821
    report: StageReport
    extra: dict = field(default_factory=dict)


def make_cuts(recordings, segments: Sequence[Segment], report: StageReport):
    """One :class:`MonoCut` per segment (sorted by id); skips are recorded in ``report``."""

    recordings = {r.id: r for r in recordings} if not isinstance(recordings, dict) else recordings
    cuts, seen = [], set()
    for segment in sorted(segments, key=lambda s: s.id):
        if segment.id in seen:
            report.skip(segment.id, "duplicate id: another segment has the same Kaldi id")
            continue
        seen.add(segment.id)
        if segment.recording not in recordings:
            report.skip(segment.id, f"no recording: no audio file for {segment.recording}")
            continue
        recording = recordings[segment.recording]
        rate, num_samples = recording.sampling_rate, recording.num_samples
        if segment.channel >= recording.num_channels:
            report.skip(segment.id, f"no channel: {segment.recording} has {recording.num_channels} channel(s), "
                                    f"side {segment.side} needs channel {segment.channel}")
            continue
        start, end = int(segment.start * rate), int(segment.end * rate)  # extract-segments truncates
        if end > num_samples:
            if end - num_samples >= int(MAX_OVERSHOOT * rate):
                report.skip(segment.id, f"segment out of range: ends at {segment.end:.2f} s, "
                                        f"{segment.recording} lasts {recording.duration:.2f} s")
                continue
            end = num_samples
        if end <= start + int(MIN_SEGMENT_LENGTH * rate):
            report.skip(segment.id, f"segment too short: {(end - start) / rate:.3f} s")
            continue
        supervision = SupervisionSegment(
            id=segment.id, recording_id=recording.id, start=start / rate, duration=(end - start) / rate,
            channel=segment.channel, text=" ".join(segment.words), speaker=segment.speaker, language="English")
        cuts.append(MonoCut(id=segment.id, start=start / rate, duration=(end - start) / rate,
                            channel=segment.channel, recording=recording, supervisions=[supervision]))
        report.kept += 1
    return CutSet.from_cuts(cuts)


def write_part(out_dir: str | os.PathLike, recordings, segments: Sequence[Segment], name: str,
               settings: dict | None = None) -> Part:
    """Cuts, manifests and a Kaldi data directory for ``segments`` in ``out_dir`` (see the module doc).

    Only the recordings that have a cut are written. ``settings`` go into
    ``report.json`` and the ``.completed`` marker.
    """

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ".completed").unlink(missing_ok=True)
    report = StageReport(name)
    recordings = {r.id: r for r in recordings} if not isinstance(recordings, dict) else recordings
    cuts = make_cuts(recordings, segments, report)
    used = sorted({cut.recording_id for cut in cuts})
    RecordingSet.from_recordings(recordings[r] for r in used).to_file(out_dir / "recordings.jsonl.gz")
    SupervisionSet.from_segments(s for cut in cuts for s in cut.supervisions).to_file(
        out_dir / "supervisions.jsonl.gz")
    cuts.to_file(out_dir / "cuts.jsonl.gz")
    write_kaldi_data_dir(out_dir, cuts)
    report.stats.update(hours=sum(c.duration for c in cuts) / 3600, recordings=len(used),
                        speakers=len({c.supervisions[0].speaker for c in cuts}))
    report.save(out_dir / "report.json")
    report.log()
    if settings is not None:
        (out_dir / ".completed").write_text(json.dumps(settings, sort_keys=True) + "\n")
    return Part(out_dir, cuts, report)


def completed(out_dir: str | os.PathLike, settings: dict) -> bool:
    """True when ``out_dir`` holds a part written with exactly these settings."""
    marker = Path(out_dir) / ".completed"
    return marker.is_file() and marker.read_text().strip() == json.dumps(settings, sort_keys=True)


def load_part(out_dir: str | os.PathLike) -> Part:

    out_dir = Path(out_dir)
    report = StageReport(**json.loads((out_dir / "report.json").read_text()))
    return Part(out_dir, CutSet.from_file(out_dir / "cuts.jsonl.gz"), report)


def write_kaldi_data_dir(out_dir: Path, cuts) -> None:
    """``text``, ``segments``, ``utt2spk``, ``spk2utt``, ``reco2file_and_channel`` (sorted, as Kaldi's)."""
    lines: dict[str, list[str]] = defaultdict(list)
    spk2utt: dict[str, list[str]] = defaultdict(list)
    sides = set()
    for cut in sorted(cuts, key=lambda c: c.id):
        supervision = cut.supervisions[0]
        side = f"{cut.recording_id}-{SIDES[cut.channel]}"
        sides.add((side, cut.recording_id, SIDES[cut.channel]))
        lines["text"].append(f"{cut.id} {supervision.text}".rstrip())
        lines["segments"].append(f"{cut.id} {side} {cut.start:.4f} {cut.end:.4f}")
        lines["utt2spk"].append(f"{cut.id} {supervision.speaker}")
        spk2utt[supervision.speaker].append(cut.id)
    lines["spk2utt"] = [f"{speaker} {' '.join(utts)}" for speaker, utts in sorted(spk2utt.items())]
    lines["reco2file_and_channel"] = [" ".join(item) for item in sorted(sides)]
    for name in ("text", "segments", "utt2spk", "spk2utt", "reco2file_and_channel"):
        (out_dir / name).write_text("".join(line + "\n" for line in lines[name]), encoding="utf-8")


def extend_segments(segments: list[Segment], extend: float = 0.1) -> list[Segment]:
    """Kaldi's ``local/extend_segments.pl``: every segment grows by ``extend`` seconds at both ends,
    but never into its neighbour on the same side (at most half the gap) nor below 0; segments that
    already overlap keep their times. Times are rounded to centiseconds (its ``%.2f``)."""
    by_side: dict[tuple[str, str], list[int]] = defaultdict(list)
    starts = [s.start for s in segments]
    ends = [s.end for s in segments]
    for index, segment in enumerate(segments):
        by_side[segment.recording, segment.side].append(index)
    for indices in by_side.values():
        indices.sort(key=lambda i: segments[i].start)
        starts[indices[0]] = max(0.0, starts[indices[0]] - extend)
        ends[indices[-1]] = ends[indices[-1]] + extend
        for earlier, later in zip(indices, indices[1:]):
            end, start = ends[earlier], starts[later]
            if end > start:
                continue
            step = min(extend, 0.5 * (start - end))
            ends[earlier], starts[later] = end + step, start - step
    return [Segment(s.id, s.recording, s.side, round(starts[i], 2), round(ends[i], 2), s.words)
            for i, s in enumerate(segments)]


@dataclass
class StmLine:
    """One stm segment: ``file channel speaker begin end [<label>] words``."""

    file: str
    side: str  # A / B (channels 1 / 2 are mapped)
    speaker: str
    start: float
    end: float
    label: str
    text: str  # the transcript field as written (with its scoring annotations)

    @property
    def ignored(self) -> bool:
        return "IGNORE_TIME_SEGMENT" in self.text.upper() or "IGNORE_TIME_SEGMENT" in self.speaker.upper()


def read_stm(path: str | os.PathLike) -> list[StmLine]:
    """Segments of an stm file; ``;;`` comments and ``inter_segment_gap`` lines are left out.

    Channels ``1``/``2`` (RT-03) become sides ``A``/``B``; Kaldi's fixes for
    hubscr are applied to the text (``((`` -> ``(``, ``<B_ASIDE>``/``<E_ASIDE>``
    removed). A malformed line is an error naming the file and line.
    """
    path = Path(path)
    lines = []
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith(";;") or "inter_segment_gap" in raw:
            continue
        fields = raw.split(None, 5)
        if len(fields) < 5:
            raise ValueError(f"{path}:{number}: expected 'file channel speaker begin end [<label>] text', got {raw!r}")
        file, channel, speaker, begin, end = fields[:5]
        rest = fields[5] if len(fields) > 5 else ""
        label = ""
        if rest.startswith("<"):
            label, _, rest = rest.partition(">")
            label += ">"
        side = {"1": "A", "2": "B", "a": "A", "b": "B"}.get(channel.lower(), channel)
        if side not in SIDES:
            raise ValueError(f"{path}:{number}: channel {channel!r} is not A, B, 1 or 2")
        try:
            start, stop = float(begin), float(end)
        except ValueError:
            raise ValueError(f"{path}:{number}: bad times {begin!r} {end!r}") from None
        text = rest.replace("((", "(").replace("<B_ASIDE>", "").replace("<E_ASIDE>", "")
        lines.append(StmLine(file, side, speaker, start, stop, label, " ".join(text.split())))
    return lines


def write_stm(lines: Sequence[StmLine], path: str | os.PathLike) -> Path:
    """An stm file of ``lines`` (sides A/B), sorted by file, side and time."""
    path = Path(path)
    ordered = sorted(lines, key=lambda s: (s.file, s.side, s.start))
    path.write_text("".join(f"{s.file} {s.side} {s.speaker} {s.start:.2f} {s.end:.2f} {s.label} {s.text}".rstrip()
                            .replace("  ", " ") + "\n" for s in ordered), encoding="utf-8")
    return path
