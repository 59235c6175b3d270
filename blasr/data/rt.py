"""RT-03 / RT-02 conversational telephone speech (NIST Rich Transcription evaluations) as per-side cuts.

lhotse has no recipe for these; this follows Kaldi's ``egs/swbd/s5c/local/rt03_data_prep.sh``.

**Layout.** For RT-03 (LDC2007S10) Kaldi expects::

    RT/data/audio/eval03/english/cts/*.sph            two-channel 8 kHz conversations
    RT/data/references/eval03/english/cts/*.stm        references, channel 1 = side A, 2 = side B
    RT/data/trans_rules/en20030506.glm                 scoring rules (optional here)

RT-02 is assumed to follow the same NIST layout with ``eval02``. Neither could
be checked against a real copy here, so the search is lenient: audio is
``data/audio/*/english/cts/*.sph`` if that exists, else every ``*.sph`` under
the directory; references ``data/references/*/english/cts/*.stm``, else every
``*.stm``; the glm ``data/trans_rules/*.glm``, else any ``*.glm``. Missing audio
or references is an error naming the directory searched.

**Segments.** One utterance per stm segment (``;;`` comments and
``inter_segment_gap`` lines left out), Kaldi id from the stm times, truncated
(``sw_46143-A_001234-001567``), no extension; ``IGNORE_TIME_SEGMENT_IN_SCORING``
segments get no cut. Cut text is :func:`~blasr.data.text_norm.plain_reference`
of the stm words; the stm itself (channels as ``A``/``B``, Kaldi's fixes for
hubscr) and the glm are copied for :mod:`blasr.kaldi.scoring.hub5` scoring. A segment
whose recording is missing or has one channel only is skipped and counted.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from blasr.data.conversations import Part, Segment, read_stm, recordings_from_files, write_part, write_stm
from blasr.data.kaldi_ids import TRUNCATE, utterance_id
from blasr.data.text_norm import plain_reference
from blasr.utils.errors import BlasrError


class RtLayoutError(BlasrError, FileNotFoundError):
    """An RT directory without audio or references; the message names where they were looked for."""


def find_rt_files(rt_dir: str | os.PathLike) -> tuple[list[Path], list[Path], Path | None]:
    """``(sph files, stm files, glm or None)`` of an RT directory (see the module doc for the search)."""
    rt_dir = Path(rt_dir)
    if not rt_dir.is_dir():
        raise RtLayoutError(f"{rt_dir}: not a directory (an RT-02/RT-03 release, e.g. LDC2007S10)")
    audio = sorted(rt_dir.glob("data/audio/*/english/cts/*.sph")) or sorted(rt_dir.rglob("*.sph"))
    if not audio:
        raise RtLayoutError(f"{rt_dir}: no .sph audio (expected data/audio/eval03/english/cts/*.sph)")
    stms = sorted(rt_dir.glob("data/references/*/english/cts/*.stm")) or sorted(rt_dir.rglob("*.stm"))
    if not stms:
        raise RtLayoutError(f"{rt_dir}: no .stm references (expected data/references/eval03/english/cts/*.stm)")
    glms = sorted(rt_dir.glob("data/trans_rules/*.glm")) or sorted(rt_dir.rglob("*.glm"))
    return audio, stms, glms[0] if glms else None


def prepare_rt(rt_dir: str | os.PathLike, out_dir: str | os.PathLike, name: str = "rt03") -> Part:
    """Cuts, manifests, Kaldi data directory, ``stm`` and ``glm`` of an RT set in ``out_dir``."""
    audio, stms, glm = find_rt_files(rt_dir)
    recordings = {r.id: r for r in recordings_from_files(audio)}
    lines = [line for stm in stms for line in read_stm(stm)]
    segments = [
        Segment(utterance_id(line.file, line.side, line.start, line.end, TRUNCATE), line.file, line.side,
                line.start, line.end, plain_reference(line.text))
        for line in lines if not line.ignored
    ]
    out_dir = Path(out_dir)
    part = write_part(out_dir, recordings, segments, name)
    write_stm(lines, out_dir / "stm")
    if glm is not None:
        shutil.copyfile(glm, out_dir / "glm")
    part.extra.update(stm=[str(s) for s in stms], glm=str(glm) if glm else None)
    return part
