"""Word error rate the Kaldi way, on kaldialign's edit distance.

* :func:`score` aligns every reference utterance with its hypothesis and keeps
  per-utterance counts; an utterance without a hypothesis is scored as all
  deletions (and listed in ``Score.missing``), a hypothesis without a reference
  is ignored (and listed in ``Score.extra``): nothing is dropped silently.
* ``ErrorCounts.kaldi_line()`` prints Kaldi's ``compute-wer`` line,
  ``%WER 14.67 [ 5765 / 39300, 670 ins, 1523 del, 3572 sub ]``.
* :func:`subset_counts` breaks a score down by subset (e.g. the Switchboard and
  CallHome halves of Hub5'00, told apart by utterance-id prefix).
* :func:`best_setting` picks the best of a sweep (acoustic scale / LM weight x
  word-insertion penalty) on a dev set, as Kaldi's ``utils/best_wer.sh``.
* :func:`per_utterance_details` writes the ``ref / hyp / op / #csid`` lines of
  Kaldi's ``wer_per_utt_details.pl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Hashable, Iterable, Mapping, Sequence

import kaldialign

EPSILON = "***"


@dataclass
class ErrorCounts:
    ref_words: int = 0
    insertions: int = 0
    deletions: int = 0
    substitutions: int = 0
    utterances: int = 0
    utterances_with_errors: int = 0

    @property
    def errors(self) -> int:
        return self.insertions + self.deletions + self.substitutions

    @property
    def wer(self) -> float:
        """Word error rate in percent (Kaldi prints 0 errors over 0 words as 0)."""
        return 100.0 * self.errors / self.ref_words if self.ref_words else (100.0 if self.errors else 0.0)

    @property
    def ser(self) -> float:
        return 100.0 * self.utterances_with_errors / self.utterances if self.utterances else 0.0

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(
            self.ref_words + other.ref_words,
            self.insertions + other.insertions,
            self.deletions + other.deletions,
            self.substitutions + other.substitutions,
            self.utterances + other.utterances,
            self.utterances_with_errors + other.utterances_with_errors,
        )

    def kaldi_line(self, name: str = "") -> str:
        """``%WER 14.67 [ 5765 / 39300, 670 ins, 1523 del, 3572 sub ] name``, as compute-wer."""
        line = (
            f"%WER {self.wer:.2f} [ {self.errors} / {self.ref_words}, {self.insertions} ins, "
            f"{self.deletions} del, {self.substitutions} sub ]"
        )
        return f"{line} {name}".rstrip()


@dataclass
class Score:
    total: ErrorCounts
    per_utterance: dict[str, ErrorCounts]
    alignments: dict[str, list[tuple[str, str]]]
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


def _utterance_counts(ref: Sequence[str], alignment: list[tuple[str, str]]) -> ErrorCounts:
    ins = sum(r == EPSILON for r, _ in alignment)
    dels = sum(h == EPSILON for _, h in alignment)
    subs = sum(r != h and EPSILON not in (r, h) for r, h in alignment)
    return ErrorCounts(len(ref), ins, dels, subs, 1, int(ins + dels + subs > 0))


def score(
    refs: Mapping[str, Sequence[str]],
    hyps: Mapping[str, Sequence[str]],
    ignore: Iterable[str] = (),
) -> Score:
    """Align every reference with its hypothesis; ``ignore`` lists words removed from both
    (e.g. ``[noise]``, ``[laughter]``, hesitations), as a scoring filter would."""
    ignored = set(ignore)
    total = ErrorCounts()
    per_utterance: dict[str, ErrorCounts] = {}
    alignments: dict[str, list[tuple[str, str]]] = {}
    missing = [utt for utt in refs if utt not in hyps]
    for utt, ref_words in refs.items():
        ref = [w for w in ref_words if w not in ignored]
        hyp = [w for w in hyps.get(utt, ()) if w not in ignored]
        alignment = kaldialign.align(ref, hyp, EPSILON)
        counts = _utterance_counts(ref, alignment)
        per_utterance[utt] = counts
        alignments[utt] = alignment
        total = total + counts
    extra = [utt for utt in hyps if utt not in refs]
    return Score(total, per_utterance, alignments, missing, extra)


def subset_counts(
    result: Score, subset_of: Callable[[str], Hashable] | Mapping[str, Hashable]
) -> dict[Hashable, ErrorCounts]:
    """Counts per subset; ``subset_of`` maps an utterance id to its subset (a function or a dict)."""
    lookup = subset_of.__getitem__ if isinstance(subset_of, Mapping) else subset_of
    subsets: dict[Hashable, ErrorCounts] = {}
    for utt, counts in result.per_utterance.items():
        key = lookup(utt)
        subsets[key] = subsets.get(key, ErrorCounts()) + counts
    return subsets


def best_setting(results: Mapping[Hashable, ErrorCounts]) -> tuple[Hashable, ErrorCounts]:
    """The setting with the lowest WER as ``compute-wer`` prints it (two decimals), the first in the
    mapping's order among equals: Kaldi's ``utils/best_wer.sh`` keeps the first line whose ``%WER`` is lower
    than every earlier one, over the ``wer_LMWT_WIP`` files in ``score_kaldi.sh``'s order (penalty outer,
    LM weight inner)."""
    if not results:
        raise ValueError("no results to choose from")
    return min(results.items(), key=lambda item: float(f"{item[1].wer:.2f}"))


def per_utterance_details(result: Score) -> list[str]:
    """Kaldi's ``wer_per_utt_details.pl`` lines: ref, hyp, op (C/S/I/D) and #csid per utterance."""
    lines = []
    for utt, alignment in result.alignments.items():
        ops = ["I" if r == EPSILON else "D" if h == EPSILON else "C" if r == h else "S" for r, h in alignment]
        width = [max(len(r), len(h), 1) for r, h in alignment]
        lines.append(f"{utt} ref  " + "  ".join(r.ljust(w) for r, w in zip((r for r, _ in alignment), width)).rstrip())
        lines.append(f"{utt} hyp  " + "  ".join(h.ljust(w) for h, w in zip((h for _, h in alignment), width)).rstrip())
        lines.append(f"{utt} op   " + "  ".join(o.ljust(w) for o, w in zip(ops, width)).rstrip())
        c = result.per_utterance[utt]
        correct = c.ref_words - c.deletions - c.substitutions
        lines.append(f"{utt} #csid {correct} {c.substitutions} {c.insertions} {c.deletions}")
    return lines


def read_text(path: str | Path) -> dict[str, list[str]]:
    """A Kaldi ``text`` file (``utt-id word word ...`` per line) as {utt: words}."""
    texts: dict[str, list[str]] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if fields[0] in texts:
            raise ValueError(f"{path}:{number}: utterance {fields[0]!r} appears twice")
        texts[fields[0]] = fields[1:]
    return texts


def write_text(texts: Mapping[str, Sequence[str]], path: str | Path) -> None:
    Path(path).write_text("".join(f"{utt} {' '.join(words)}".rstrip() + "\n" for utt, words in texts.items()), encoding="utf-8")
