"""Phonetic decision-tree building in numpy: Kaldi's acc-tree-stats, cluster-phones, compile-questions, build-tree.

kaldi-hmm-gmm reads and applies trees but cannot build them. This module
follows Kaldi's recipe (``steps/train_deltas.sh``) and source
(``src/tree/build-tree.cc``, ``build-tree-utils.cc``, ``clusterable-classes.cc``,
``src/bin/acc-tree-stats.cc``, ``cluster-phones.cc``, ``compile-questions.cc``):

1. :func:`accumulate_tree_stats` — Gaussian statistics (count, Σx, Σx²) per
   *event*: the phones in the context window (``N`` = 3, centre ``P`` = 1 for
   triphones; 0 beyond the utterance edges) and the pdf-class of the frame.
   Context-independent phones (``ci_phones``, typically silence) record no
   context, so their trees can only ask about the pdf-class.
2. :func:`cluster_phones` — phone-set questions by top-down 2-means clustering
   of the per-phone statistics (every node of the binary tree is a question).
3. :class:`Questions` — ``compile-questions``: those phone sets for every
   context position, and ``[0], [0 1], ...`` for the pdf-class.
4. :func:`build_tree` — ``build-tree``: a stub with one root per
   :class:`TreeRoot` (shared by all pdf-classes, or one per pdf-class), then
   greedy splitting: the leaf and question with the largest likelihood gain is
   split next, until ``max_leaves`` leaves exist or no split gains more than
   ``thresh`` while leaving ``min_count`` frames on each side; then, as Kaldi's
   default, bottom-up merging of leaves within each root while a merge costs
   less than the smallest split gained (``cluster_thresh=-1``; 0: none) and
   rounding the count down to a multiple of 8 (``round_num_leaves``).

The tree is a :class:`blasr.kaldi.formats.tree.ContextDependency` of Kaldi event maps
(split maps over table maps, leaves numbered as Kaldi numbers them), so it is
written in Kaldi's ``tree`` format and loads in kaldi-hmm-gmm.

The likelihood of a set of frames under one diagonal Gaussian fitted to them is
``-count/2 · Σ_d (σ²_d / f_d + log f_d + log 2π)`` with ``f_d = max(σ²_d, var_floor)``
(``GaussClusterable::Objf``: ``-count/2 · (Σ_d log σ²_d + D (1 + log 2π))`` unless a
variance is floored); a split's gain is the children's sum minus the parent's.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from blasr.kaldi.formats.model import HmmTopology, TransitionModel
from blasr.kaldi.formats.tree import (
    PDF_CLASS_KEY,
    ConstantEventMap,
    ContextDependency,
    EventMap,
    SplitEventMap,
    TableEventMap,
    iter_answers,
)
from blasr.kaldi.gmm.align import phone_segments
from blasr.utils.jobs import job_progress

NOT_RECORDED = -1  # a context position not recorded (the central phone is context-independent)
LOG_2PI = math.log(2 * math.pi)


# -- statistics ----------------------------------------------------------------------------


@dataclass(eq=False)
class TreeStats:
    """Gaussian statistics per event (Kaldi's ``BuildTreeStatsType`` of ``GaussClusterable``).

    Row ``e``: ``phones[e]`` is the context window (``N`` phone ids; 0 beyond
    the utterance; -1 where not recorded), ``pdf_classes[e]`` the pdf-class,
    then the frame count, Σx and Σx² (float64).
    """

    context_width: int
    central_position: int
    phones: np.ndarray  # (E, N) int32
    pdf_classes: np.ndarray  # (E,) int32
    counts: np.ndarray  # (E,)
    sums: np.ndarray  # (E, D)
    sums_sq: np.ndarray  # (E, D)

    @property
    def num_events(self) -> int:
        return len(self.counts)

    @property
    def num_frames(self) -> float:
        return float(self.counts.sum())

    @property
    def dim(self) -> int:
        return self.sums.shape[1]

    @classmethod
    def merge(cls, parts: Sequence["TreeStats"]) -> "TreeStats":
        """Sum statistics accumulated separately (Kaldi's ``sum-tree-stats``)."""
        if not parts:
            raise ValueError("nothing to merge")
        first = parts[0]
        return _reduce_events(
            first.context_width,
            first.central_position,
            np.concatenate([p.phones for p in parts]),
            np.concatenate([p.pdf_classes for p in parts]),
            np.concatenate([p.counts for p in parts]),
            np.concatenate([p.sums for p in parts]),
            np.concatenate([p.sums_sq for p in parts]),
        )


def _reduce_events(n, p, phones, classes, counts, sums, sums_sq) -> TreeStats:
    """Sum the rows that have the same event."""
    # One int64 key per event (mixed radix over the shifted phone ids and the pdf-class), so
    # that a 1-D sort finds the groups.
    columns = np.concatenate([phones.astype(np.int64) + 1, classes[:, None].astype(np.int64)], axis=1)
    radix = columns.max(axis=0) + 1 if len(columns) else np.ones(n + 1, dtype=np.int64)
    if float(np.prod(radix.astype(np.float64))) >= 2.0**62:
        raise ValueError("too many phones for the event keys")
    keys = np.zeros(len(columns), dtype=np.int64)
    for column, size in zip(columns.T, radix):
        keys = keys * size + column
    order = np.argsort(keys, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(keys[order]) != 0])
    first = columns[order[starts]]
    return TreeStats(
        n,
        p,
        (first[:, :n] - 1).astype(np.int32),
        first[:, n].astype(np.int32),
        np.add.reduceat(counts[order], starts),
        np.add.reduceat(sums[order], starts, axis=0),
        np.add.reduceat(sums_sq[order], starts, axis=0),
    )


def pdf_classes_of_transition_ids(transition_model: TransitionModel) -> np.ndarray:
    """The pdf-class of every transition-id (index 0 unused): the self-loop class for a self-loop, else the forward one."""
    classes = np.full(transition_model.num_transition_ids + 1, -1, dtype=np.int32)
    for tid in range(1, transition_model.num_transition_ids + 1):
        state = transition_model.topology.topology_for_phone(int(transition_model.phone[tid]))[
            int(transition_model.hmm_state[tid])
        ]
        classes[tid] = state.self_loop_pdf_class if transition_model.is_self_loop[tid] else state.forward_pdf_class
    return classes


def context_windows(phones: np.ndarray, context_width: int, central_position: int) -> np.ndarray:
    """``(num_phones, N)``: each phone with ``P`` phones of left and ``N - P - 1`` of right context, 0 beyond the edges."""
    padded = np.concatenate(
        [np.zeros(central_position, np.int32), phones, np.zeros(context_width - central_position - 1, np.int32)]
    )
    return np.lib.stride_tricks.sliding_window_view(padded, context_width).astype(np.int32)


def accumulate_tree_stats(
    transition_model: TransitionModel,
    alignments: Mapping[str, np.ndarray],
    features: Mapping[str, np.ndarray],
    context_width: int = 3,
    central_position: int = 1,
    ci_phones: Iterable[int] = (),
    reorder: bool = True,
    chunk_frames: int = 1_000_000,
) -> TreeStats:
    """Kaldi's ``acc-tree-stats``: statistics per (context window, pdf-class) from transition-id alignments.

    Frames are grouped and summed with numpy (no per-frame Python), in chunks of
    about ``chunk_frames`` frames. Utterances whose alignment length differs from
    their feature count are an error (naming the utterance).
    """
    classes_of = pdf_classes_of_transition_ids(transition_model)
    ci = np.array(sorted(set(int(p) for p in ci_phones)), dtype=np.int32)
    parts: list[TreeStats] = []
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    pending_frames = 0

    def flush():
        nonlocal pending, pending_frames
        if pending:
            windows = np.concatenate([w for w, _, _ in pending])
            classes = np.concatenate([c for _, c, _ in pending])
            feats = np.concatenate([f for _, _, f in pending]).astype(np.float64)
            parts.append(
                _reduce_events(context_width, central_position, windows, classes, np.ones(len(feats)), feats, feats**2)
            )
        pending, pending_frames = [], 0

    for utterance, alignment in job_progress(alignments.items(), "tree statistics", total=len(alignments)):
        feats = np.asarray(features[utterance])
        alignment = np.asarray(alignment)
        if len(feats) != len(alignment):
            raise ValueError(
                f"utterance {utterance!r}: {len(alignment)} alignment frames but {len(feats)} feature frames"
            )
        if len(alignment) == 0:
            continue
        phones, starts = phone_segments(transition_model, alignment, reorder)
        windows = context_windows(phones, context_width, central_position)
        if ci.size:
            is_ci = np.isin(phones, ci)
            context = np.arange(context_width) != central_position
            windows[np.ix_(is_ci, context)] = NOT_RECORDED
        lengths = np.diff(np.r_[starts, len(alignment)])
        pending.append((np.repeat(windows, lengths, axis=0), classes_of[alignment], feats))
        pending_frames += len(alignment)
        if pending_frames >= chunk_frames:
            flush()
    flush()
    if not parts:
        raise ValueError("no frames to accumulate tree statistics from")
    return TreeStats.merge(parts) if len(parts) > 1 else parts[0]


# -- the Gaussian objective ----------------------------------------------------------------


def gaussian_objf(counts: np.ndarray, sums: np.ndarray, sums_sq: np.ndarray, var_floor: float = 0.01) -> np.ndarray:
    """Log-likelihood of the frames under their own diagonal Gaussian (``GaussClusterable::Objf``), per row.

    As Kaldi: per dimension ``-0.5 (var / floored + log floored + log 2π)`` with
    ``floored = max(var, var_floor)``, so a dimension whose variance is floored
    (e.g. a single frame) counts ``var / var_floor`` rather than 1; 0 for no frames.
    """
    counts = np.asarray(counts, dtype=np.float64)
    safe = np.where(counts > 0, counts, 1.0)[..., None]
    mean = sums / safe
    var = sums_sq / safe - mean**2
    floored = np.maximum(var, var_floor)
    dim = sums.shape[-1]
    objf = -0.5 * counts * ((var / floored).sum(-1) + np.log(floored).sum(-1) + dim * LOG_2PI)
    return np.where(counts > 0, objf, 0.0)


# -- questions ------------------------------------------------------------------------------


def _two_means(counts, sums, sums_sq, rng, num_tries, var_floor) -> tuple[np.ndarray, float]:
    """Best 2-way partition of the points (Kaldi's ``ClusterKMeans`` with 2 clusters): assignments and objective gain.

    From ``num_tries`` random starts, points move one at a time (the best move
    first) to the other cluster while that raises the objective.
    """
    n = len(counts)
    total = float(gaussian_objf(counts.sum(), sums.sum(0), sums_sq.sum(0), var_floor))
    best_assign, best_gain = None, -np.inf
    for _ in range(num_tries):
        assign = rng.permutation(np.arange(n) % 2)
        for _ in range(10 * n):
            c = np.array([counts[assign == k].sum() for k in (0, 1)])
            s = np.stack([sums[assign == k].sum(0) for k in (0, 1)])
            q = np.stack([sums_sq[assign == k].sum(0) for k in (0, 1)])
            current = float(gaussian_objf(c, s, q, var_floor).sum())
            # The objective after moving each point alone to the other cluster (sign +1: from 0 to 1).
            sign = np.where(assign == 0, 1.0, -1.0)
            moved = gaussian_objf(
                c[0] - sign * counts, s[0] - sign[:, None] * sums, q[0] - sign[:, None] * sums_sq, var_floor
            ) + gaussian_objf(
                c[1] + sign * counts, s[1] + sign[:, None] * sums, q[1] + sign[:, None] * sums_sq, var_floor
            )
            size = np.bincount(assign, minlength=2)
            gain = np.where(size[assign] > 1, moved - current, -np.inf)
            best = int(np.argmax(gain))
            if not gain[best] > 1e-9 * max(1.0, abs(current)):
                break
            assign[best] = 1 - assign[best]
        if current - total > best_gain:
            best_assign, best_gain = assign.copy(), current - total
    return best_assign, best_gain


def cluster_phones(
    stats: TreeStats,
    phone_sets: Sequence[Sequence[int]],
    pdf_classes: Sequence[int] = (1,),
    num_tries: int = 10,
    seed: int = 0,
    var_floor: float = 0.01,
) -> list[tuple[int, ...]]:
    """Kaldi's ``cluster-phones``: questions (phone sets) by top-down binary clustering.

    The statistics of ``pdf_classes`` (Kaldi's default: the middle state, 1)
    are summed per phone set (``sets.int``: e.g. the position variants of a
    phone); the sets are split recursively into two by 2-means on the
    Gaussian objective until single sets remain (or no split helps). Every
    node of that binary tree, and every original set, becomes a question.
    """
    sets = [tuple(sorted(int(p) for p in s)) for s in phone_sets]
    if any(not s for s in sets):
        raise ValueError("empty phone set")
    all_phones = [p for s in sets for p in s]
    if len(set(all_phones)) != len(all_phones):
        raise ValueError("a phone is in more than one phone set")
    keep = np.isin(stats.pdf_classes, list(pdf_classes))
    central = stats.phones[keep, stats.central_position]
    size = max(all_phones) + 1
    phone_counts = np.bincount(central, weights=stats.counts[keep], minlength=size)[:size]
    phone_sums = np.zeros((size, stats.dim))
    phone_sq = np.zeros((size, stats.dim))
    inside = central < size
    np.add.at(phone_sums, central[inside], stats.sums[keep][inside])
    np.add.at(phone_sq, central[inside], stats.sums_sq[keep][inside])
    counts = np.array([phone_counts[list(s)].sum() for s in sets])
    sums = np.array([phone_sums[list(s)].sum(0) for s in sets])
    sums_sq = np.array([phone_sq[list(s)].sum(0) for s in sets])

    rng = np.random.default_rng(seed)
    questions: set[tuple[int, ...]] = set(sets)

    def split(members: np.ndarray) -> None:
        questions.add(tuple(sorted(p for m in members for p in sets[m])))
        if len(members) < 2:
            return
        assign, gain = _two_means(counts[members], sums[members], sums_sq[members], rng, num_tries, var_floor)
        if not gain > 0:
            return
        split(members[assign == 0])
        split(members[assign == 1])

    split(np.arange(len(sets)))
    return sorted(questions)


@dataclass
class Questions:
    """Kaldi's compiled questions (``questions.qst``): candidate yes-sets per event key.

    Keys ``0 .. N-1`` (context positions) share the phone questions; key -1 (the
    pdf-class) gets ``[0], [0 1], ..., [0 .. max-2]`` as ``compile-questions``.
    """

    phone_questions: list[tuple[int, ...]]
    pdf_class_questions: list[tuple[int, ...]]

    @classmethod
    def compile(cls, phone_questions: Iterable[Iterable[int]], topology: HmmTopology) -> "Questions":
        unique = sorted({tuple(sorted(set(int(p) for p in q))) for q in phone_questions if q})
        max_classes = max(topology.num_pdf_classes(p) for p in topology.phones)
        return cls(unique, [tuple(range(i + 1)) for i in range(max_classes - 1)])

    def for_key(self, key: int) -> list[tuple[int, ...]]:
        return self.pdf_class_questions if key == PDF_CLASS_KEY else self.phone_questions


# -- building the tree ----------------------------------------------------------------------


@dataclass(frozen=True)
class TreeRoot:
    """One root of the tree (a line of Kaldi's ``roots.txt``).

    ``shared``: one root for all pdf-classes of these phones (Kaldi's
    ``shared``; the first questions then usually ask about the pdf-class);
    otherwise one root per pdf-class (``not-shared``, i.e. one tree per phone
    state). ``split``: the root may be split by questions (Kaldi only splits
    shared roots; blasr also splits per-state roots).
    """

    phones: tuple[int, ...]
    shared: bool = True
    split: bool = True


def roots_per_phone(phones: Iterable[int], shared: bool = True, split: bool = True) -> list[TreeRoot]:
    """One root per phone (a ``roots.txt`` without phone sets)."""
    return [TreeRoot((int(p),), shared, split) for p in sorted(set(phones))]


@dataclass
class TreeBuildInfo:
    """What :func:`build_tree` did.

    ``stopped_by``: ``"max_leaves"`` or ``"no_split"`` (no allowed split gains > thresh).
    ``num_split_leaves``: the leaves after splitting; ``num_merged`` of them
    were merged away by the clustering threshold (``merge_thresh``, the one
    used: the smallest split's gain for Kaldi's -1; None without merging),
    ``num_rounded`` more to round the count down to a multiple of 8.
    ``notes``: Kaldi's warnings (a rounding it could not do).
    """

    num_leaves: int
    num_stub_leaves: int
    num_splits: int
    likelihood_gain: float  # total over the splits
    num_frames: float
    stopped_by: str
    smallest_split: float | None
    num_merged: int = 0
    leaves_without_stats: list[int] = field(default_factory=list)
    num_split_leaves: int = 0
    merge_thresh: float | None = None
    num_rounded: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        per_frame = self.likelihood_gain / self.num_frames if self.num_frames else float("nan")
        text = (
            f"{self.num_leaves} leaves ({self.num_stub_leaves} roots, {self.num_splits} splits, stopped by "
            f"{self.stopped_by}); likelihood gain {per_frame:.4f} per frame over {self.num_frames:.0f} frames"
        )
        if self.num_merged or self.num_rounded:
            text += f"; {self.num_split_leaves} leaves after splitting"
        if self.num_merged:
            text += f", {self.num_merged} merged (cost < {self.merge_thresh:.1f})"
        if self.num_rounded:
            text += f", {self.num_rounded} merged to round to a multiple of 8"
        if self.leaves_without_stats:
            text += f"; {len(self.leaves_without_stats)} leaves without statistics: {self.leaves_without_stats[:10]}"
        for note in self.notes:
            text += f"; {note}"
        return text


def map_events(event_map: EventMap | None, phones: np.ndarray, pdf_classes: np.ndarray) -> np.ndarray:
    """The leaf (answer) of every event, vectorized (Kaldi's ``EventMap::Map``); -1 where the map has no answer."""
    answers = np.full(len(pdf_classes), -1, dtype=np.int64)
    stack = [(event_map, np.arange(len(pdf_classes)))]
    while stack:
        node, rows = stack.pop()
        if node is None or rows.size == 0:
            continue
        if isinstance(node, ConstantEventMap):
            answers[rows] = node.answer
            continue
        if node.key != PDF_CLASS_KEY and not 0 <= node.key < phones.shape[1]:
            raise ValueError(f"the tree asks about key {node.key}; the events have {phones.shape[1]} positions")
        values = pdf_classes[rows] if node.key == PDF_CLASS_KEY else phones[rows, node.key]
        rows, values = rows[values >= 0], values[values >= 0]  # a key not recorded has no answer
        if isinstance(node, TableEventMap):
            for value in np.unique(values).tolist():
                if value < len(node.table):
                    stack.append((node.table[value], rows[values == value]))
        else:
            yes = np.isin(values, node.yes_set)
            stack.append((node.yes, rows[yes]))
            stack.append((node.no, rows[~yes]))
    return answers


def _stub_map(roots: Sequence[TreeRoot], topology: HmmTopology, central: int, next_leaf: list[int]) -> EventMap:
    # Kaldi's GetStubMap: split the roots list in halves on the central phone; leaves numbered depth first.
    if len(roots) == 1:
        root = roots[0]
        if root.shared:
            next_leaf[0] += 1
            return ConstantEventMap(next_leaf[0] - 1)
        num_classes = max(topology.num_pdf_classes(p) for p in root.phones)
        table = []
        for _ in range(num_classes):
            table.append(ConstantEventMap(next_leaf[0]))
            next_leaf[0] += 1
        return TableEventMap(PDF_CLASS_KEY, table)
    half = len(roots) // 2
    first = _stub_map(roots[:half], topology, central, next_leaf)
    second = _stub_map(roots[half:], topology, central, next_leaf)
    return SplitEventMap(central, [p for r in roots[:half] for p in r.phones], first, second)


@dataclass
class _Leaf:
    leaf: int
    rows: np.ndarray
    gain: float = 0.0
    key: int = 0
    yes_set: tuple[int, ...] = ()
    yes: "_Leaf | None" = None
    no: "_Leaf | None" = None

    def event_map(self) -> EventMap:
        if self.yes is None:
            return ConstantEventMap(self.leaf)
        return SplitEventMap(self.key, self.yes_set, self.yes.event_map(), self.no.event_map())


class _Splitter:
    """The best split of a set of events (``FindBestSplitForKey`` over all keys with questions)."""

    def __init__(self, stats: TreeStats, questions: Questions, min_count: float, var_floor: float):
        self.stats, self.min_count, self.var_floor = stats, min_count, var_floor
        # Keys in Kaldi's order (its Questions map is sorted): the pdf-class (-1), then positions 0 .. N-1.
        self.keys = [PDF_CLASS_KEY] if questions.pdf_class_questions else []
        if questions.phone_questions:
            self.keys += list(range(stats.context_width))
        self.question_sets, self.membership = {}, {}
        for key in self.keys:
            sets = questions.for_key(key)
            width = 1 + max(
                max((max(q) for q in sets), default=0),
                int(stats.pdf_classes.max()) if key == PDF_CLASS_KEY else int(stats.phones.max()),
            )
            member = np.zeros((len(sets), width), dtype=bool)
            for i, q in enumerate(sets):
                member[i, list(q)] = True
            self.question_sets[key], self.membership[key] = sets, member

    def best(self, leaf: _Leaf) -> None:
        stats, rows = self.stats, leaf.rows
        leaf.gain = 0.0
        if rows.size < 2:
            return
        counts, sums, sums_sq = stats.counts[rows], stats.sums[rows], stats.sums_sq[rows]
        total = (counts.sum(), sums.sum(0), sums_sq.sum(0))
        parent = float(gaussian_objf(*total, self.var_floor))
        for key in self.keys:
            values = stats.pdf_classes[rows] if key == PDF_CLASS_KEY else stats.phones[rows, key]
            if (values < 0).any():
                continue  # Kaldi: the key is not defined for every event, so it cannot be asked about
            present, inverse = np.unique(values, return_inverse=True)
            if len(present) < 2:
                continue
            # Statistics per value of the key: (V,), (V, D).
            order = np.argsort(inverse, kind="stable")
            starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
            value_counts = np.add.reduceat(counts[order], starts)
            value_sums = np.add.reduceat(sums[order], starts, axis=0)
            value_sq = np.add.reduceat(sums_sq[order], starts, axis=0)
            # Questions restricted to the values present; only distinct, non-trivial partitions (first one kept).
            member = self.membership[key][:, present]
            sizes = member.sum(1)
            candidates = np.flatnonzero((sizes > 0) & (sizes < len(present)))
            if candidates.size == 0:
                continue
            packed = np.packbits(member[candidates], axis=1)
            _, first = np.unique(packed, axis=0, return_index=True)
            candidates = candidates[np.sort(first)]
            yes = member[candidates].astype(np.float64)
            yes_counts, yes_sums, yes_sq = yes @ value_counts, yes @ value_sums, yes @ value_sq
            no_counts, no_sums, no_sq = total[0] - yes_counts, total[1] - yes_sums, total[2] - yes_sq
            gains = (
                gaussian_objf(yes_counts, yes_sums, yes_sq, self.var_floor)
                + gaussian_objf(no_counts, no_sums, no_sq, self.var_floor)
                - parent
            )
            allowed = (yes_counts >= self.min_count) & (no_counts >= self.min_count)
            allowed &= (yes_counts > 0) & (no_counts > 0)
            gains = np.where(allowed, gains, -np.inf)
            best = int(np.argmax(gains))
            if gains[best] > leaf.gain:  # strict: the first key and question win ties, as in Kaldi
                leaf.gain = float(gains[best])
                leaf.key = key
                leaf.yes_set = self.question_sets[key][candidates[best]]

    def split(self, leaf: _Leaf, new_leaf: int) -> tuple[_Leaf, _Leaf]:
        values = (
            self.stats.pdf_classes[leaf.rows] if leaf.key == PDF_CLASS_KEY else self.stats.phones[leaf.rows, leaf.key]
        )
        yes = np.isin(values, leaf.yes_set)
        leaf.yes = _Leaf(leaf.leaf, leaf.rows[yes])  # the "yes" child keeps the leaf number (Kaldi)
        leaf.no = _Leaf(new_leaf, leaf.rows[~yes])
        leaf.rows = leaf.rows[:0]
        for child in (leaf.yes, leaf.no):
            self.best(child)
        return leaf.yes, leaf.no


def _leaf_sums(answers: np.ndarray, stats: TreeStats, num_leaves: int, rows: np.ndarray | None = None):
    rows = np.arange(stats.num_events) if rows is None else rows
    rows = rows[answers[rows] >= 0]
    counts = np.bincount(answers[rows], weights=stats.counts[rows], minlength=num_leaves)
    sums = np.zeros((num_leaves, stats.dim))
    sums_sq = np.zeros((num_leaves, stats.dim))
    np.add.at(sums, answers[rows], stats.sums[rows])
    np.add.at(sums_sq, answers[rows], stats.sums_sq[rows])
    return counts, sums, sums_sq


# -- merging leaves after splitting ---------------------------------------------------------


@dataclass
class _RootLeaves:
    """The leaves of one root that have statistics (ascending leaf ids) and their summed statistics."""

    leaves: np.ndarray  # (n,) int64
    counts: np.ndarray  # (n,)
    sums: np.ndarray  # (n, D)
    sums_sq: np.ndarray  # (n, D)


def _leaves_by_root(tree_map: EventMap, stub: EventMap, stats: TreeStats) -> list[_RootLeaves]:
    """Kaldi's ``SplitStatsByMap(stats, stub)`` then ``SumStatsVec`` over the tree's leaves, per root.

    One entry per stub leaf from 0 to the largest that has statistics (a root
    without statistics is an empty entry, as Kaldi's empty ``split_stats[i]``).
    """
    leaves = map_events(tree_map, stats.phones, stats.pdf_classes)
    roots = map_events(stub, stats.phones, stats.pdf_classes)
    valid = (leaves >= 0) & (roots >= 0)
    if not valid.any():
        return []
    num_leaves = int(leaves.max()) + 1
    counts, sums, sums_sq = _leaf_sums(np.where(valid, leaves, -1), stats, num_leaves)
    pairs = np.unique(np.stack([roots[valid], leaves[valid]], axis=1), axis=0)  # sorted by root, then leaf
    groups = []
    for root in range(int(roots[valid].max()) + 1):
        ids = pairs[pairs[:, 0] == root, 1]
        groups.append(_RootLeaves(ids, counts[ids], sums[ids], sums_sq[ids]))
    return groups


class _BottomUpClusterer:
    """Kaldi's ``BottomUpClusterer`` and ``CompartmentalizedBottomUpClusterer`` on Gaussian statistics.

    Each compartment (a root's leaves) is clustered on its own: the pair of
    clusters whose merging loses the least likelihood (``Clusterable::Distance``:
    ``objf(a) + objf(b) - objf(a + b)``, never below 0) is merged next, the
    higher-numbered point absorbing the lower, while that loss is below
    ``thresh`` (Kaldi queues a pair at ``<=`` when it starts and at ``<`` after a
    merge) and more than ``min_clusters`` clusters remain in all. Ties go to the
    lower compartment, then the lower pair (Kaldi's queue order).
    """

    def __init__(self, groups: Sequence[_RootLeaves], thresh: float, var_floor: float):
        self.thresh, self.var_floor = thresh, var_floor
        self.counts = [g.counts.astype(np.float64) for g in groups]
        self.sums = [g.sums.astype(np.float64) for g in groups]
        self.sums_sq = [g.sums_sq.astype(np.float64) for g in groups]
        self.objf = [gaussian_objf(c, s, q, var_floor) for c, s, q in zip(self.counts, self.sums, self.sums_sq)]
        self.parent = [np.arange(len(c)) for c in self.counts]
        self.alive = [np.ones(len(c), dtype=bool) for c in self.counts]
        self.dist: list[np.ndarray] = []  # (n, n): [i, j] for j < i, inf where not queued
        self.best = np.full(len(groups), np.inf)
        self.best_at = np.zeros(len(groups), dtype=np.int64)
        self.num_clusters = sum(len(c) for c in self.counts)
        for g, n in enumerate(len(c) for c in self.counts):
            dist = np.full((n, n), np.inf)
            for i in range(1, n):
                d = self._distances(g, i, np.arange(i))
                dist[i, :i] = np.where(d <= thresh, d, np.inf)
            self.dist.append(dist)
            self._refresh(g)

    def _distances(self, g: int, i: int, others: np.ndarray) -> np.ndarray:
        c, s, q, objf = self.counts[g], self.sums[g], self.sums_sq[g], self.objf[g]
        merged = gaussian_objf(c[i] + c[others], s[i] + s[others], q[i] + q[others], self.var_floor)
        return np.maximum(objf[i] + objf[others] - merged, 0.0)

    def _refresh(self, g: int) -> None:
        dist = self.dist[g]
        if dist.size:
            self.best_at[g] = int(np.argmin(dist))  # row-major: the lowest i, then the lowest j, win ties
            self.best[g] = dist.flat[self.best_at[g]]

    def run(self, min_clusters: int = 0) -> float:
        """Merge until no pair qualifies or ``min_clusters`` remain; the (negative) likelihood change."""
        change = 0.0
        while self.num_clusters > min_clusters:
            g = int(np.argmin(self.best)) if len(self.best) else 0
            if not len(self.best) or not np.isfinite(self.best[g]):
                break
            i, j = divmod(int(self.best_at[g]), len(self.counts[g]))
            change -= float(self.best[g])
            self._merge(g, i, j)
        return change

    def _merge(self, g: int, i: int, j: int) -> None:
        # Kaldi's MergeClusters(i, j), j < i: j joins i; the distances from i are computed again.
        c, s, q, dist, alive = self.counts[g], self.sums[g], self.sums_sq[g], self.dist[g], self.alive[g]
        c[i] += c[j]
        s[i] += s[j]
        q[i] += q[j]
        self.objf[g][i] = gaussian_objf(c[i], s[i], q[i], self.var_floor)
        alive[j] = False
        self.parent[g][j] = i
        dist[j, :] = dist[:, j] = np.inf
        others = np.flatnonzero(alive)
        others = others[others != i]
        d = self._distances(g, i, others)
        d = np.where(d < self.thresh, d, np.inf)
        lower = others < i
        dist[i, others[lower]] = d[lower]
        dist[others[~lower], i] = d[~lower]
        self.num_clusters -= 1
        self._refresh(g)

    def assignments(self) -> list[np.ndarray]:
        """Per compartment, each point's cluster; clusters numbered in the order of their surviving point
        (Kaldi's ``Renumber``)."""
        result = []
        for parent, alive in zip(self.parent, self.alive):
            number = np.cumsum(alive) - 1
            root = parent.copy()
            while (parent[root] != root).any():
                root = parent[root]
            result.append(number[root])
        return result


def _leaf_mapping(groups: Sequence[_RootLeaves], assignments: Sequence[np.ndarray]) -> dict[int, int]:
    # Kaldi's ClusterEventMapGetMapping: cluster k of a root takes that root's k-th leaf id (so ids never
    # collide with other roots'); leaves without statistics keep theirs.
    mapping = {}
    for group, assign in zip(groups, assignments):
        for leaf, cluster in zip(group.leaves.tolist(), assign.tolist()):
            mapping[leaf] = int(group.leaves[cluster])
    return mapping


def _merge_leaves_by_thresh(
    tree_map: EventMap, stub: EventMap, stats: TreeStats, thresh: float, var_floor: float
) -> tuple[EventMap, int]:
    """Kaldi's ``ClusterEventMapRestrictedByMap``: merge leaves of the same root while a merge costs < ``thresh``.

    The result is not renumbered (see :func:`_renumber_leaves`); also returns the number of leaves removed.
    """
    groups = _leaves_by_root(tree_map, stub, stats)
    clusterer = _BottomUpClusterer(groups, thresh, var_floor)
    clusterer.run()
    assignments = clusterer.assignments()
    removed = sum(len(g.leaves) - (int(a.max()) + 1) for g, a in zip(groups, assignments) if len(a))
    mapping = _leaf_mapping(groups, assignments)
    return _map_leaves(tree_map, lambda leaf: mapping.get(leaf, leaf)), removed


def _merge_leaves_to_count(
    tree_map: EventMap, stub: EventMap, stats: TreeStats, num_required: int, var_floor: float
) -> tuple[EventMap, int, str | None]:
    """Kaldi's ``ClusterEventMapToNClustersRestrictedByMap``: the cheapest merges, over all roots, until
    ``num_required`` leaves remain (a root without statistics counts as one).

    Returns the map (not renumbered), the number of leaves removed, and Kaldi's
    warning where it does nothing (more roots than ``num_required``, or fewer
    leaves with statistics than needed).
    """
    groups = _leaves_by_root(tree_map, stub, stats)
    if num_required < len(groups):
        return tree_map, 0, f"{num_required} leaves required but the stub has {len(groups)} roots: not merged"
    num_nonempty_required = num_required - sum(1 for g in groups if not len(g.leaves))
    num_nonempty = sum(len(g.leaves) for g in groups)
    if num_nonempty_required > num_nonempty:
        note = f"{num_nonempty_required} leaves with statistics required but only {num_nonempty} exist: not merged"
        return tree_map, 0, note
    clusterer = _BottomUpClusterer(groups, math.inf, var_floor)
    clusterer.run(num_nonempty_required)
    assignments = clusterer.assignments()
    removed = sum(len(g.leaves) - (int(a.max()) + 1) for g, a in zip(groups, assignments) if len(a))
    mapping = _leaf_mapping(groups, assignments)
    return _map_leaves(tree_map, lambda leaf: mapping.get(leaf, leaf)), removed, None


def _renumber_leaves(tree_map: EventMap) -> tuple[EventMap, int]:
    """Kaldi's ``RenumberEventMap``: the leaf ids in use, ascending, become 0, 1, ...; and their number."""
    renumber = {old: new for new, old in enumerate(sorted(set(iter_answers(tree_map))))}
    return _map_leaves(tree_map, renumber.__getitem__), len(renumber)


def _map_leaves(node: EventMap | None, mapping) -> EventMap | None:
    if node is None:
        return None
    if isinstance(node, ConstantEventMap):
        return ConstantEventMap(mapping(node.answer))
    if isinstance(node, TableEventMap):
        return TableEventMap(node.key, [_map_leaves(child, mapping) for child in node.table])
    return SplitEventMap(node.key, node.yes_set, _map_leaves(node.yes, mapping), _map_leaves(node.no, mapping))


def build_tree(
    stats: TreeStats,
    roots: Sequence[TreeRoot],
    questions: Questions,
    topology: HmmTopology,
    max_leaves: int,
    thresh: float = 0.0,
    min_count: float = 0.0,
    cluster_thresh: float = -1.0,
    round_num_leaves: bool = True,
    var_floor: float = 0.01,
) -> tuple[ContextDependency, TreeBuildInfo]:
    """Kaldi's ``build-tree``: a tree of at most ``max_leaves`` leaves.

    Splitting: the leaf and question that gain the most split next, until
    ``max_leaves`` leaves exist or no allowed split remains. ``thresh``: a split
    must gain more log-likelihood than this (Kaldi's ``--thresh``, default 300
    there; 0 here so that the splitting reaches ``max_leaves`` whenever the
    statistics allow). ``min_count``: each side of a split keeps at least this
    many frames (Kaldi has no such option; its ``--thresh`` does the job).

    Then, as Kaldi's ``BuildTree``, leaves are merged back bottom-up
    (``ClusterEventMapRestrictedByMap``): within each root of the stub only
    (leaves of different roots never merge), the pair whose merging loses the
    least likelihood is merged while that loss is below ``cluster_thresh``
    (Kaldi's ``--cluster-thresh``: the default -1, any negative value, means
    the gain of the smallest split made; 0 merges nothing). With
    ``round_num_leaves`` (Kaldi's ``--round-num-leaves``, on by default there)
    the cheapest merges over all roots then bring the count down to a multiple
    of 8 (``ClusterEventMapToNClustersRestrictedByMap``; this also happens with
    ``cluster_thresh=0``). Leaves are renumbered 0, 1, ... in the order of their
    old numbers (``RenumberEventMap``), as Kaldi does. ``cluster_thresh=0,
    round_num_leaves=False`` keeps the tree as split.

    Every phone of ``topology`` must be in exactly one root. Leaves whose root
    saw no data are listed in ``info.leaves_without_stats``.
    """
    if max_leaves < 1:
        raise ValueError(f"max_leaves must be positive, got {max_leaves}")
    roots = list(roots)
    rooted = [p for r in roots for p in r.phones]
    if len(set(rooted)) != len(rooted):
        raise ValueError("a phone is in more than one tree root")
    missing = sorted(set(topology.phones) - set(rooted))
    if missing:
        raise ValueError(f"phones {missing} of the topology are in no tree root")
    central = stats.central_position
    next_leaf = [0]
    stub = _stub_map(roots, topology, central, next_leaf)
    num_leaves = next_leaf[0]
    stub_answers = map_events(stub, stats.phones, stats.pdf_classes)
    splittable = np.isin(stats.phones[:, central], [p for r in roots if r.split for p in r.phones])

    splitter = _Splitter(stats, questions, min_count, var_floor)
    leaves = [_Leaf(leaf, np.flatnonzero((stub_answers == leaf) & splittable)) for leaf in range(num_leaves)]
    heap = []
    for leaf in leaves:
        splitter.best(leaf)
        if leaf.gain > 0:
            heapq.heappush(heap, (-leaf.gain, leaf.leaf, leaf))
    total_gain, num_splits, smallest = 0.0, 0, None
    while heap and -heap[0][0] > thresh and num_leaves < max_leaves:
        gain, _, leaf = heapq.heappop(heap)
        total_gain += -gain
        smallest = -gain if smallest is None else min(smallest, -gain)
        for child in splitter.split(leaf, num_leaves):
            if child.gain > 0:
                heapq.heappush(heap, (-child.gain, child.leaf, child))
        num_leaves += 1
        num_splits += 1
    stopped_by = "max_leaves" if num_leaves >= max_leaves else "no_split"

    by_leaf = {leaf.leaf: leaf.event_map() for leaf in leaves}
    tree_map = _replace_stub_leaves(stub, by_leaf)
    num_split_leaves = num_leaves
    merged, rounded, merge_thresh, notes = 0, 0, None, []
    if cluster_thresh != 0:
        # Kaldi: a negative threshold is the smallest split's gain (1e20 when nothing was split).
        merge_thresh = cluster_thresh if cluster_thresh > 0 else (smallest if smallest is not None else 1e20)
        tree_map, merged = _merge_leaves_by_thresh(tree_map, stub, stats, merge_thresh, var_floor)
    if round_num_leaves:
        required = (num_leaves - merged) // 8 * 8
        tree_map, rounded, note = _merge_leaves_to_count(tree_map, stub, stats, required, var_floor)
        if note:
            notes.append(f"rounding to a multiple of 8: {note}")
    if cluster_thresh != 0 or round_num_leaves:
        tree_map, num_leaves = _renumber_leaves(tree_map)
    answers = map_events(tree_map, stats.phones, stats.pdf_classes)
    seen = set(np.unique(answers[answers >= 0]).tolist())
    info = TreeBuildInfo(
        num_leaves=num_leaves,
        num_stub_leaves=next_leaf[0],
        num_splits=num_splits,
        likelihood_gain=total_gain,
        num_frames=stats.num_frames,
        stopped_by=stopped_by,
        smallest_split=smallest,
        num_merged=merged,
        leaves_without_stats=sorted(set(range(num_leaves)) - seen),
        num_split_leaves=num_split_leaves,
        merge_thresh=merge_thresh,
        num_rounded=rounded,
        notes=notes,
    )
    return ContextDependency(stats.context_width, central, tree_map), info


def _replace_stub_leaves(node: EventMap, by_leaf: dict[int, EventMap]) -> EventMap:
    if isinstance(node, ConstantEventMap):
        return by_leaf[node.answer]
    if isinstance(node, TableEventMap):
        return TableEventMap(node.key, [_replace_stub_leaves(c, by_leaf) for c in node.table])
    return SplitEventMap(
        node.key, node.yes_set, _replace_stub_leaves(node.yes, by_leaf), _replace_stub_leaves(node.no, by_leaf)
    )


def leaf_statistics(tree: ContextDependency, stats: TreeStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, Σx and Σx² per pdf (leaf) of the tree: what ``gmm-init-model`` initialises the GMMs from."""
    if tree.context_width != stats.context_width or tree.central_position != stats.central_position:
        raise ValueError(
            f"tree context (N={tree.context_width}, P={tree.central_position}) differs from the statistics' "
            f"(N={stats.context_width}, P={stats.central_position})"
        )
    answers = map_events(tree.to_pdf, stats.phones, stats.pdf_classes)
    return _leaf_sums(answers, stats, tree.num_pdfs)
