"""Kaldi utterance ids of conversational corpora, and joining Kaldi's alignments to our cuts.

Kaldi names an utterance by conversation side and time in centiseconds,
``sw02001-A_000098-001156`` = call ``sw02001``, side ``A`` (channel 0),
0.98 s .. 11.56 s. Kaldi's scripts compute the centiseconds differently:

* ``swbd1_data_prep.sh``: ``int(100 * t + 0.5)`` (rounded) — :data:`ROUND`;
* ``eval2000_data_prep.sh``, ``rt03_data_prep.sh`` (awk ``%06d`` of ``t * 100``)
  and Fisher's ``fisher_data_prep.sh`` (``sprintf("%06d", t * 100.0)``):
  truncated — :data:`TRUNCATE`. Fisher separates side and times with ``-``
  (``fe_03_00001-A-000098-001156``).

:func:`join_kaldi_ids` matches ids of one naming (a Kaldi alignment directory)
to ids of another (our cuts) by call, side and time: an equal id first, else
the cut of the same call and side whose start and end both lie within
``tolerance`` centiseconds (1 = one 10 ms frame) of the Kaldi id's, the
closest one if several do. Kaldi ids that match nothing, and Kaldi ids that
lose a cut to a closer one, are counted and listed; nothing is dropped
silently. :func:`join_kaldi_alignments` applies the join to an alignment
directory (``ali-to-pdf`` included) and writes pdf-id vectors keyed by cut id.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

from blasr.features.extract import open_cuts
from blasr.kaldi.formats.ark import ArkWriter
from blasr.kaldi.formats.experiment import load_kaldi_experiment

logger = logging.getLogger("blasr")

ROUND = "round"
TRUNCATE = "truncate"

_ID = re.compile(r"^(?P<call>.+)-(?P<side>[AB])(?P<sep>[_-])(?P<start>\d+)-(?P<end>\d+)$")


def centiseconds(seconds: float, rounding: str = ROUND) -> int:
    """Kaldi's centiseconds of a time: ``int(100 t + 0.5)`` (round) or ``int(t * 100)`` (truncate)."""
    if rounding == ROUND:
        return int(100 * seconds + 0.5)
    if rounding == TRUNCATE:
        return int(seconds * 100)
    raise ValueError(f"rounding must be {ROUND!r} or {TRUNCATE!r}, got {rounding!r}")


def utterance_id(call: str, side: str, start: float, end: float, rounding: str = ROUND, separator: str = "_") -> str:
    """``<call>-<side><separator><start cs:06d>-<end cs:06d>``, e.g. ``sw02001-A_000098-001156``."""
    if side not in ("A", "B"):
        raise ValueError(f"side must be 'A' or 'B', got {side!r} (call {call})")
    return f"{call}-{side}{separator}{centiseconds(start, rounding):06d}-{centiseconds(end, rounding):06d}"


class ParsedId(NamedTuple):
    call: str
    side: str
    start: int  # centiseconds
    end: int


def parse_utterance_id(utterance: str) -> ParsedId | None:
    """Call, side and times of a Kaldi conversational id; None if it is not one."""
    match = _ID.match(utterance)
    if match is None:
        return None
    return ParsedId(match["call"], match["side"], int(match["start"]), int(match["end"]))


@dataclass
class JoinResult:
    """What :func:`join_kaldi_ids` found.

    ``mapping``: cut id -> Kaldi id; ``exact``: how many of them are the same
    id; ``unmatched``: Kaldi ids that matched no cut (with the reason);
    ``displaced``: Kaldi ids whose cut went to a closer Kaldi id.
    """

    mapping: dict[str, str] = field(default_factory=dict)
    exact: int = 0
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    displaced: list[tuple[str, str]] = field(default_factory=list)

    @property
    def approximate(self) -> int:
        return len(self.mapping) - self.exact

    def summary(self, num_cuts: int | None = None) -> str:
        text = (f"joined {len(self.mapping)} Kaldi utterances to cuts ({self.exact} same id, "
                f"{self.approximate} within the time tolerance); {len(self.unmatched)} matched no cut, "
                f"{len(self.displaced)} lost their cut to a closer one")
        if num_cuts is not None:
            text += f"; {num_cuts - len(self.mapping)} of {num_cuts} cuts have no Kaldi utterance"
        return text


def join_kaldi_ids(cut_ids: Iterable[str], kaldi_ids: Iterable[str], tolerance: int = 1) -> JoinResult:
    """Match Kaldi utterance ids to cut ids by call, side and time (see the module doc).

    ``tolerance``: the largest difference, in centiseconds, of the start and of the end.
    """
    cut_ids = list(cut_ids)
    known = set(cut_ids)
    by_side: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for cut_id in cut_ids:
        parsed = parse_utterance_id(cut_id)
        if parsed is not None:
            by_side[parsed.call, parsed.side].append((parsed.start, parsed.end, cut_id))
    for spans in by_side.values():
        spans.sort()
    starts = {key: [s for s, _, _ in spans] for key, spans in by_side.items()}

    result = JoinResult()
    best: dict[str, tuple[int, str]] = {}  # cut id -> (distance, Kaldi id)
    for kaldi_id in kaldi_ids:
        if kaldi_id in known:
            candidate = (0, kaldi_id)
            cut_id = kaldi_id
        else:
            parsed = parse_utterance_id(kaldi_id)
            if parsed is None:
                result.unmatched.append((kaldi_id, "not a <call>-<side>_<start>-<end> id"))
                continue
            key = (parsed.call, parsed.side)
            if key not in by_side:
                result.unmatched.append((kaldi_id, f"no cut of call {parsed.call} side {parsed.side}"))
                continue
            spans = by_side[key]
            low = bisect.bisect_left(starts[key], parsed.start - tolerance)
            high = bisect.bisect_right(starts[key], parsed.start + tolerance)
            found = [(abs(s - parsed.start) + abs(e - parsed.end), c) for s, e, c in spans[low:high]
                     if abs(e - parsed.end) <= tolerance]
            if not found:
                result.unmatched.append((kaldi_id, f"no cut of {parsed.call}-{parsed.side} within {tolerance} cs"))
                continue
            distance, cut_id = min(found)
            candidate = (distance, kaldi_id)
        if cut_id in best:
            loser = max(best[cut_id], candidate)
            result.displaced.append((loser[1], f"cut {cut_id} is closer to {min(best[cut_id], candidate)[1]}"))
            candidate = min(best[cut_id], candidate)
        best[cut_id] = candidate
    result.mapping = {cut_id: kaldi_id for cut_id, (_, kaldi_id) in sorted(best.items())}
    result.exact = sum(cut_id == kaldi_id for cut_id, kaldi_id in result.mapping.items())
    return result


def join_kaldi_alignments(
    cuts,
    ali_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    lang_dir: str | os.PathLike | None = None,
    tolerance: int = 1,
    allow_empty: bool = False,
) -> tuple[Path, JoinResult]:
    """Kaldi alignments (``ali_dir``: ``final.mdl`` + ``ali.*.gz``) as pdf-id vectors keyed by cut id.

    Writes ``out_dir/pdf.ark`` + ``pdf.scp`` (for ``python -m blasr.targets
    --pdf-ali scp:OUT/pdf.scp``), ``num_pdfs`` and ``join.report.json`` (the
    counts and every unmatched or displaced Kaldi id). ValueError when nothing
    joined, unless ``allow_empty``.
    """

    experiment = load_kaldi_experiment(ali_dir, lang_dir, load_gmm=False)
    cut_ids = [cut.id for cut in open_cuts(cuts)]
    result = join_kaldi_ids(cut_ids, experiment.pdf_alignments, tolerance)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with ArkWriter(out_dir / "pdf.ark", out_dir / "pdf.scp") as writer:
        for cut_id, kaldi_id in result.mapping.items():
            writer.write(cut_id, experiment.pdf_alignments[kaldi_id])
    (out_dir / "num_pdfs").write_text(f"{experiment.num_pdfs}\n")
    report = {
        "ali_dir": str(ali_dir), "cuts": len(cut_ids), "kaldi_utterances": len(experiment.pdf_alignments),
        "joined": len(result.mapping), "same_id": result.exact, "within_tolerance": result.approximate,
        "tolerance_centiseconds": tolerance, "unmatched": result.unmatched, "displaced": result.displaced,
        "cuts_without_alignment": len(cut_ids) - len(result.mapping), "notes": experiment.notes,
    }
    (out_dir / "join.report.json").write_text(json.dumps(report, indent=1) + "\n")
    logger.info("%s", result.summary(len(cut_ids)))
    for kaldi_id, reason in result.unmatched[:5]:
        logger.info("  unmatched %s: %s", kaldi_id, reason)
    if not result.mapping and not allow_empty:
        raise ValueError(f"no utterance of {ali_dir} matched a cut of {cuts} (see {out_dir / 'join.report.json'}); "
                         "are the cuts and the alignments of the same corpus and naming?")
    return out_dir / "pdf.scp", result
