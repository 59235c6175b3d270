"""Hub5'00 / RT scoring as NIST's ``hubscr.pl -h hub5`` does it, without SCTK; and its halves.

Kaldi scores Switchboard test sets with ``local/score_sclite.sh``: hypotheses
are filtered, then ``hubscr.pl`` runs ``csrfilt.sh -dh`` with the glm on both
sides and ``sclite -F -D``. This module does the same steps on per-utterance
hypotheses (a Kaldi ``text`` file; ``cut.id`` = the stm segment's Kaldi id, so
no time alignment of words is needed):

1. **Hypotheses** (``score_sclite.sh``'s ctm filter): ``[noise]``,
   ``[laughter]``, ``[vocalized-noise]``, ``<unk>``, the hesitations
   ``uh um eh mm hm ah huh ha er oof hee ach eee ew`` and partial words
   (ending in ``-``) are removed.
2. **Case**: everything is lower-cased (csrfilt upper-cases; the same).
3. **GLM** (``rfilter1``): rules ``LHS => RHS / [ ] __ [ ]`` replace a word
   sequence by words or by an alternation ``{ a / b / @ }`` (``@`` = nothing).
   Rules are tried longest left side first; replaced words are not rewritten
   again. ``;; INPUT_DEPENDENT_APPLICATION = "regexp"`` sections apply to the
   reference (``stm``/``ref``) or hypothesis (``ctm``/``hyp``) as the regexp
   says. Rules with any other context are not supported: they are counted in
   ``Glm.skipped`` and ignored. In a hypothesis an alternation becomes its
   first alternative (sclite aligns hypothesis alternations too; glm rules list
   the original spelling first, so its reference-side alternation still matches).
4. **-dh**: hyphenated words are split (``well-known`` -> ``well known``);
   fragment markers at a word's start or end stay.
5. **sclite -D -F**: a reference word in parentheses ``(uh)``, and
   ``%hesitation``, is *optionally deletable*: deleting it costs nothing (and it
   is then not counted as a reference word). A *fragment* (``th-``, ``-bout``)
   is optionally deletable and correct against any word that starts (ends) with
   its letters. Alternations ``{ a / b }`` in the stm are matched by their best
   alternative. Alignment is sclite's weighted edit distance (insertion and
   deletion 3, substitution 4) over the reference as a small graph (:func:`align`).

:func:`score_hub5` sums per subset (``sw_`` = Switchboard, ``en_`` = CallHome
for Hub5'00) and in total; ``avg`` is the mean of the subset WERs, the paper's
"WER Avg" column. Without an stm, references come from a Kaldi ``text`` file
and go through the same filter (with no annotations it is a plain WER, minus
noise words and hesitations).

**CTM + STM** (sclite's ``-h hyp.ctm ctm -r ref.stm stm``): :func:`ctm_hypotheses`
groups the CTM's words into the stm's segments, then the per-segment scoring
above runs unchanged. The rule implemented: a word belongs to the segment of
its file and channel (``1``/``2`` = ``A``/``B``) whose time span holds the word's
midpoint (``start <= start + duration / 2 < end``; with overlapping segments the
earliest-starting one). Words in an ``IGNORE_TIME_SEGMENT_IN_SCORING`` segment
are dropped; words in no segment are insertions, collected per channel in a
segment-less bucket ``<file>-<side>_outside`` (a reference of no words, counted
as one more utterance); words of a file / channel that the stm does not have
are not scored (``extra``). This is sclite's grouping by time, not its full
time-mediated alignment (which weighs word times inside the DP and can move a
word across a segment boundary): a word that straddles two segments is scored
in the one that holds its midpoint.

The command line is ``python -m blasr.hub5`` (:mod:`blasr.hub5`).
"""

from __future__ import annotations

import bisect
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from blasr.data.conversations import StmLine, read_stm
from blasr.data.kaldi_ids import TRUNCATE, utterance_id
from blasr.kaldi.scoring.ctm import CtmLine, read_ctm
from blasr.kaldi.scoring.wer import ErrorCounts, read_text

HYP_REMOVED = frozenset({"[noise]", "[laughter]", "[vocalized-noise]", "<unk>", "uh", "um", "eh", "mm", "hm", "ah",
                         "huh", "ha", "er", "oof", "hee", "ach", "eee", "ew"})
HESITATION = "%hesitation"


# -- GLM --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GlmRule:
    lhs: tuple[str, ...]
    alternatives: tuple[tuple[str, ...], ...]  # one alternative: a plain replacement
    ref: bool = True  # applies to references
    hyp: bool = True  # applies to hypotheses


@dataclass
class Glm:
    rules: list[GlmRule] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def rules_for(self, purpose: str) -> dict[tuple[str, ...], GlmRule]:
        """``{lhs: rule}`` of the rules that apply to ``purpose`` (``ref`` / ``hyp``); the first rule wins."""
        table: dict[tuple[str, ...], GlmRule] = {}
        for rule in self.rules:
            if getattr(rule, purpose) and rule.lhs not in table:
                table[rule.lhs] = rule
        return table


_RULE = re.compile(r"^(?P<lhs>[^=]+?)\s*=>\s*(?P<rhs>\{[^}]*\}|[^/{]*?)\s*/\s*(?P<left>.*?)\s*__\s*(?P<right>.*?)\s*$")


def _alternatives(rhs: str) -> tuple[tuple[str, ...], ...]:
    rhs = rhs.strip()
    if rhs.startswith("{") and rhs.endswith("}"):
        return tuple(tuple(w for w in alt.split() if w != "@") for alt in rhs[1:-1].split("/"))
    return (tuple(w for w in rhs.split() if w != "@"),)


def read_glm(path: str | os.PathLike) -> Glm:
    """The word-mapping rules of a NIST glm file (see the module doc for what is supported)."""
    path = Path(path)
    glm = Glm()
    applies = {"ref": True, "hyp": True}
    for number, raw in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        line = raw.strip()
        section = re.match(r'^;;\s+INPUT_DEPENDENT_APPLICATION\s*=\s*"([^"]*)"', line)
        if section:
            expression = re.compile(section.group(1).lower())
            applies = {"ref": bool(expression.search("stm") or expression.search("ref")),
                       "hyp": bool(expression.search("ctm") or expression.search("hyp"))}
            continue
        line = line.split(";;", 1)[0].strip()
        if not line or line.startswith("*"):
            continue
        match = _RULE.match(line.lower())
        if match is None:
            glm.skipped.append(f"{path}:{number}: not a rule: {raw.strip()}")
            continue
        if match["left"].replace(" ", "") != "[]" or match["right"].replace(" ", "") != "[]":
            glm.skipped.append(f"{path}:{number}: context other than [ ] __ [ ]: {raw.strip()}")
            continue
        glm.rules.append(GlmRule(tuple(match["lhs"].split()), _alternatives(match["rhs"]), applies["ref"],
                                 applies["hyp"]))
    return glm


# -- references and hypotheses as slots -------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One position of a reference: alternative word sequences; ``optional``: may be left out for free."""

    alternatives: tuple[tuple[str, ...], ...]
    optional: bool = False


def _is_fragment(word: str) -> bool:
    return len(word) > 1 and (word.startswith("-") or word.endswith("-"))


def _split_hyphens(words: Sequence[str]) -> list[str]:
    """csrfilt ``-dh``: a hyphen inside a word becomes a space; leading / trailing hyphens stay."""
    out = []
    for word in words:
        out.extend(re.sub(r"(?<=[^(])-(?=[^)])", " ", word).split())
    return out


def _tokenize(text: str) -> list[Slot]:
    """stm / text words -> slots: ``(w)`` optional, ``{ a / b / @ }`` alternations, ``<tags>`` dropped."""
    text = re.sub(r"<[^<>]*>", " ", text.lower())
    text = text.replace("{", " { ").replace("}", " } ")
    slots: list[Slot] = []
    tokens = text.split()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "{":
            close = tokens.index("}", i) if "}" in tokens[i:] else len(tokens)
            alternatives = []
            for alt in " ".join(tokens[i + 1: close]).split("/"):
                words = [w.strip("()") for w in alt.split() if w.strip("()") not in ("@", "")]
                alternatives.append(tuple(words))
            slots.append(Slot(tuple(alternatives), optional=any(not a for a in alternatives)))
            i = close + 1
            continue
        optional = token.startswith("(") and token.endswith(")")
        word = token.strip("()")
        if word:
            slots.append(Slot(((word,),), optional=optional))
        i += 1
    return slots


def _apply_glm(slots: list[Slot], rules: Mapping[tuple[str, ...], GlmRule], first_only: bool) -> list[Slot]:
    """rfilter1 over the plain single-word slots, longest left side first, left to right."""
    if not rules:
        return slots
    longest = max(len(lhs) for lhs in rules)
    out: list[Slot] = []
    i = 0
    while i < len(slots):
        for n in range(min(longest, len(slots) - i), 0, -1):
            window = slots[i: i + n]
            if not all(len(s.alternatives) == 1 and len(s.alternatives[0]) == 1 for s in window):
                continue
            rule = rules.get(tuple(s.alternatives[0][0] for s in window))
            if rule is not None:
                alternatives = rule.alternatives[:1] if first_only else rule.alternatives
                out.append(Slot(alternatives, optional=all(s.optional for s in window) or
                                any(not a for a in alternatives)))
                i += n
                break
        else:
            out.append(slots[i])
            i += 1
    return out


def reference_slots(text: str, glm: Glm | None = None) -> list[Slot]:
    """A reference transcript as scored: glm applied, hyphens split, hesitations and fragments optional,
    noise words and ``<unk>`` removed."""
    slots = _apply_glm(_tokenize(text), glm.rules_for("ref") if glm else {}, first_only=False)
    out = []
    for slot in slots:
        alternatives = tuple(tuple(_split_hyphens([w for w in alt if not _is_noise(w)])) for alt in slot.alternatives)
        if all(not a for a in alternatives):
            continue
        single = alternatives[0] if len(alternatives) == 1 and len(alternatives[0]) == 1 else None
        optional = slot.optional or any(not a for a in alternatives) or (
            single is not None and (single[0] == HESITATION or _is_fragment(single[0])))
        if len(alternatives) == 1 and len(alternatives[0]) > 1:  # a split word: one slot per part
            out.extend(Slot(((w,),), optional=slot.optional) for w in alternatives[0])
        else:
            out.append(Slot(alternatives, optional))
    return out


def _is_noise(word: str) -> bool:
    return word == "<unk>" or (word.startswith("[") and word.endswith("]"))


def hypothesis_words(words: Sequence[str], glm: Glm | None = None) -> list[str]:
    """A hypothesis as scored: Kaldi's ctm filter, the glm (first alternatives), hyphens split."""
    kept = [w.lower() for w in words if w.lower() not in HYP_REMOVED and not w.endswith("-")]
    slots = _apply_glm([Slot(((w,),)) for w in kept], glm.rules_for("hyp") if glm else {}, first_only=True)
    return _split_hyphens([w for slot in slots for w in slot.alternatives[0]])


# -- alignment --------------------------------------------------------------------------------------


def _matches(ref: str, hyp: str) -> bool:
    if ref == hyp:
        return True
    if _is_fragment(ref):
        stem = ref.strip("-")
        return hyp.startswith(stem) if ref.endswith("-") else hyp.endswith(stem)
    return False


@dataclass
class _Arc:
    source: int
    target: int
    word: str | None  # None: free (an optional slot or an empty alternative)


def _graph(slots: Sequence[Slot]) -> tuple[int, list[_Arc]]:
    """The reference as a graph: nodes numbered in topological order, slot by slot; returns (final node, arcs).

    A slot runs from its start node to its end node through one chain of word
    arcs per alternative (intermediate nodes numbered in between); an empty
    alternative or an optional slot adds a free arc start -> end.
    """
    arcs: list[_Arc] = []
    node = 0
    for slot in slots:
        end = node + 1 + sum(max(len(a) - 1, 0) for a in slot.alternatives)
        fresh = node + 1
        for alternative in slot.alternatives:
            current = node
            for k, word in enumerate(alternative):
                target = end if k == len(alternative) - 1 else fresh
                fresh += target != end
                arcs.append(_Arc(current, target, word))
                current = target
            if not alternative:
                arcs.append(_Arc(node, end, None))
        if slot.optional:
            arcs.append(_Arc(node, end, None))
        node = end
    return node, arcs


# sclite's default alignment weights (its -w): a substitution is cheaper than a deletion plus an
# insertion, and an optionally deletable word left out plus an insertion beats substituting it
INS, DEL, SUB = 3, 3, 4


def _step(word: str, hyp: str) -> int:
    return 0 if _matches(word, hyp) else SUB


def align(slots: Sequence[Slot], hyp: Sequence[str]) -> ErrorCounts:
    """sclite's weighted edit distance of ``hyp`` against the reference graph of ``slots``; one utterance's counts.

    Reference words are those on the best path that were matched, substituted or
    deleted (an optional word left out for free is not one).
    """
    final, arcs = _graph(slots)
    incoming: list[list[_Arc]] = [[] for _ in range(final + 1)]
    for arc in arcs:
        incoming[arc.target].append(arc)
    m = len(hyp)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(final + 1)]
    for v in range(final + 1):
        row = cost[v] if v else [float(INS * j) for j in range(m + 1)]
        for arc in incoming[v]:
            source = cost[arc.source]
            for j in range(m + 1):
                if arc.word is None:
                    row[j] = min(row[j], source[j])
                    continue
                row[j] = min(row[j], source[j] + DEL)
                if j:
                    row[j] = min(row[j], source[j - 1] + _step(arc.word, hyp[j - 1]))
        for j in range(1, m + 1):
            row[j] = min(row[j], row[j - 1] + INS)
        cost[v] = row
    # backtrace from (final, m): a match or substitution, a free skip, a deletion, else an insertion
    counts = ErrorCounts(utterances=1)
    v, j = final, m
    while v or j:
        here = cost[v][j]
        step = None
        for arc in incoming[v]:
            if arc.word is not None and j and cost[arc.source][j - 1] + _step(arc.word, hyp[j - 1]) == here:
                step = ("c" if _matches(arc.word, hyp[j - 1]) else "s", arc)
                break
        if step is None:
            step = next((("free", arc) for arc in incoming[v] if arc.word is None and cost[arc.source][j] == here),
                        None)
        if step is None:
            step = next((("d", arc) for arc in incoming[v]
                         if arc.word is not None and cost[arc.source][j] + DEL == here), None)
        if step is None:
            counts.insertions += 1
            j -= 1
            continue
        kind, arc = step
        if kind in ("c", "s"):
            counts.ref_words += 1
            counts.substitutions += kind == "s"
            j -= 1
        elif kind == "d":
            counts.ref_words += 1
            counts.deletions += 1
        v = arc.source
    counts.utterances_with_errors = int(counts.errors > 0)
    return counts


# -- scoring a set ----------------------------------------------------------------------------------


@dataclass
class Hub5Score:
    """Counts in total and per subset, the mean of the subset WERs, what could not be scored."""

    total: ErrorCounts
    subsets: dict[str, ErrorCounts]
    missing: list[str] = field(default_factory=list)  # references without a hypothesis (all deletions)
    extra: list[str] = field(default_factory=list)  # hypotheses without a reference (not scored)
    glm_skipped: list[str] = field(default_factory=list)

    @property
    def average(self) -> float | None:
        """The paper's "WER Avg": the mean of the subsets' WERs (None without subsets)."""
        return sum(c.wer for c in self.subsets.values()) / len(self.subsets) if self.subsets else None

    def lines(self) -> list[str]:
        lines = [counts.kaldi_line(name) for name, counts in self.subsets.items()]
        lines.append(self.total.kaldi_line("total"))
        if self.average is not None:
            lines.append(f"%WER {self.average:.2f} avg ({' '.join(self.subsets)})")
        return lines

    def notes(self) -> list[str]:
        """What was not scored as usual, one line each: missing hypotheses, extra ones, skipped glm rules."""
        notes = []
        if self.missing:
            notes.append(f"{len(self.missing)} reference utterances have no hypothesis (scored as deletions)")
        if self.extra:
            notes.append(f"{len(self.extra)} hypotheses have no reference (not scored)")
        if self.glm_skipped:
            notes.append(f"{len(self.glm_skipped)} glm lines not supported, ignored (see hub5.json)")
        return notes


def stm_references(path: str | os.PathLike) -> dict[str, str]:
    """``{Kaldi id: annotated text}`` of an stm's scored segments (ids as the data preparation made them)."""
    references: dict[str, str] = {}
    for line in read_stm(path):
        if line.ignored:
            continue
        key = utterance_id(line.file, line.side, line.start, line.end, TRUNCATE)
        references[key] = (references[key] + " " + line.text) if key in references else line.text
    return references


OUTSIDE = "_outside"  # suffix of a channel's bucket of CTM words outside every stm segment


@dataclass
class CtmAssignment:
    """A CTM's words grouped by stm segment (:func:`ctm_hypotheses`), ready for :func:`score_hub5`."""

    references: dict[str, str]  # stm_references' (plus an empty reference per outside bucket)
    hypotheses: dict[str, list[str]]  # segment id -> its CTM words in time order
    outside: int = 0  # words in no segment (insertions, in the <file>-<side>_outside buckets)
    ignored: int = 0  # words in IGNORE_TIME_SEGMENT_IN_SCORING segments (dropped)
    unscored: int = 0  # words of a file / channel the stm does not have (hypotheses without a reference)

    def notes(self) -> list[str]:
        notes = []
        if self.outside:
            notes.append(f"{self.outside} ctm words lie outside every stm segment (insertions, once filtered)")
        if self.ignored:
            notes.append(f"{self.ignored} ctm words lie in IGNORE_TIME_SEGMENT_IN_SCORING segments (not scored)")
        return notes


def ctm_hypotheses(
    ctm: str | os.PathLike | Sequence[CtmLine], stm: str | os.PathLike | Sequence[StmLine]
) -> CtmAssignment:
    """Group a CTM's words into an stm's segments by their midpoint time (the rule in the module doc).

    The segment ids are :func:`stm_references`' (so ``--subset`` prefixes
    apply); every scored segment of a file and channel the CTM has gets a
    hypothesis (maybe empty), so only channels missing from the CTM are
    ``missing`` in the score.
    """
    ctm_lines = read_ctm(ctm) if isinstance(ctm, (str, os.PathLike)) else list(ctm)
    stm_lines = read_stm(stm) if isinstance(stm, (str, os.PathLike)) else list(stm)
    references: dict[str, str] = {}
    channels: dict[tuple[str, str], list[tuple[float, float, str | None]]] = {}
    for line in stm_lines:
        key = None if line.ignored else utterance_id(line.file, line.side, line.start, line.end, TRUNCATE)
        if key is not None:
            references[key] = (references[key] + " " + line.text) if key in references else line.text
        channels.setdefault((line.file, line.side), []).append((line.start, line.end, key))
    searchable = {}
    for channel, segments in channels.items():
        segments.sort(key=lambda s: (s[0], s[1]))
        starts = [s[0] for s in segments]
        reach = []  # the latest end among segments 0..i: the backward search stops below it
        for _, end, _ in segments:
            reach.append(max(end, reach[-1]) if reach else end)
        searchable[channel] = (segments, starts, reach)
    hypotheses: dict[str, list[str]] = {}
    assignment = CtmAssignment(references, hypotheses)
    present = {(w.file, w.channel) for w in ctm_lines}
    for channel in sorted(present & set(channels)):
        for _, _, key in channels[channel]:
            if key is not None:
                hypotheses.setdefault(key, [])
    for word in sorted(ctm_lines, key=lambda w: (w.file, w.channel, w.start)):
        if (word.file, word.channel) not in searchable:
            hypotheses.setdefault(f"{word.file}-{word.channel}", []).append(word.word)
            assignment.unscored += 1
            continue
        segments, starts, reach = searchable[(word.file, word.channel)]
        middle = word.midpoint
        found = None
        i = bisect.bisect_right(starts, middle) - 1
        while i >= 0 and reach[i] > middle:
            if segments[i][1] > middle:
                found = segments[i]  # keep going: the earliest-starting segment that holds it wins
            i -= 1
        if found is None:
            bucket = f"{word.file}-{word.channel}{OUTSIDE}"
            references.setdefault(bucket, "")
            hypotheses.setdefault(bucket, []).append(word.word)
            assignment.outside += 1
        elif found[2] is None:
            assignment.ignored += 1
        else:
            hypotheses[found[2]].append(word.word)
    return assignment


def text_references(path: str | os.PathLike) -> dict[str, str]:
    """``{utterance: text}`` of a Kaldi text file, as references (no stm annotations)."""
    return {utterance: " ".join(words) for utterance, words in read_text(path).items()}


def parse_subsets(specs: Sequence[str]) -> dict[str, str]:
    """``{name: utterance-id prefix}`` from ``NAME=PREFIX`` arguments (``swbd=sw_``)."""
    subsets = {}
    for spec in specs:
        name, sep, prefix = spec.partition("=")
        if not sep or not name:
            raise ValueError(f"subset {spec!r}: expected NAME=PREFIX")
        subsets[name] = prefix
    return subsets


def score_hub5(
    references: Mapping[str, str],
    hypotheses: Mapping[str, Sequence[str]],
    glm: Glm | None = None,
    subsets: Mapping[str, str] | None = None,
) -> Hub5Score:
    """Score every reference utterance; ``subsets`` maps a name to an utterance-id prefix (``swbd: sw_``)."""
    subsets = dict(subsets or {})
    total = ErrorCounts()
    per_subset = {name: ErrorCounts() for name in subsets}
    missing = [u for u in references if u not in hypotheses]
    for utterance, text in sorted(references.items()):
        counts = align(reference_slots(text, glm), hypothesis_words(hypotheses.get(utterance, ()), glm))
        total = total + counts
        for name, prefix in subsets.items():
            if utterance.startswith(prefix):
                per_subset[name] = per_subset[name] + counts
    extra = [u for u in hypotheses if u not in references]
    return Hub5Score(total, per_subset, missing, extra, list(glm.skipped) if glm else [])


def write_score(score: Hub5Score, out_dir: str | os.PathLike) -> Path:
    """``wer`` (total), ``wer_<subset>``, ``wer_avg`` and ``hub5.json`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "wer").write_text(score.total.kaldi_line() + "\n")
    for name, counts in score.subsets.items():
        (out_dir / f"wer_{name}").write_text(counts.kaldi_line() + "\n")
    if score.average is not None:
        (out_dir / "wer_avg").write_text(f"%WER {score.average:.2f} avg ({' '.join(score.subsets)})\n")
    summary = {"total": asdict(score.total), "subsets": {n: asdict(c) for n, c in score.subsets.items()},
               "wer": score.total.wer, "subset_wer": {n: c.wer for n, c in score.subsets.items()},
               "average": score.average, "missing": score.missing, "extra": score.extra,
               "glm_skipped": score.glm_skipped}
    (out_dir / "hub5.json").write_text(json.dumps(summary, indent=1) + "\n")
    return out_dir / "hub5.json"
