"""Word lattices: the decoder's raw lattice pruned and determinized to a ``CompactLattice``, and best paths
under many LM weights and word-insertion penalties at once.

:func:`determinize` is Kaldi's ``DeterminizeLatticePruned`` (``lat/determinize-lattice-pruned.h``, as
``latgen-faster-mapped`` calls it with ``--determinize-lattice=true``, word-level) written in Python,
because the PyPI builds of Kaldi's decoders return the raw state-level lattice only:

1. prune the raw lattice to ``lattice_beam`` (forward-backward over the total
   cost, Kaldi's ``PruneLattice``);
2. subset construction over words: a determinized state is a set of
   ``(raw state, transition-id string, weight)`` residuals, closed over the
   arcs without a word (keeping, for each raw state, the best residual, as
   Kaldi's ``EpsilonClosure``) and normalized: the best weight and the common
   prefix of the strings move onto the arc that enters it. The result has one
   path per word sequence, carrying that sequence's best alignment and its
   ``(graph, acoustic)`` costs (Kaldi's order of weights: by total cost, then
   graph cost, then string length and value);
3. the acoustic costs are unscaled (divided by the decoding's acoustic scale),
   as Kaldi writes lattices.

:func:`best_paths` finds, in one pass over a lattice, its best path under each
of a list of ``(lm_weight, penalty)`` settings: the path minimizing
``graph + acoustic / lm_weight + penalty * words`` (``lattice-scale
--inv-acoustic-scale=LMWT | lattice-add-penalty --word-ins-penalty=WIP |
lattice-best-path``, what Kaldi's ``score_kaldi.sh`` runs per setting).
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from blasr.kaldi.formats.lattice import CompactLattice, RawLattice
from blasr.utils.errors import BlasrError

logger = logging.getLogger("blasr")

DELTA = 1.0 / 1024  # Kaldi's determinization delta: weights this close are the same in a subset's identity
MAX_STATES = 50_000  # determinized states before the beam is halved (lattice-determinize-pruned's max-mem retry)

Residual = tuple[float, float, tuple[int, ...]]  # (graph, acoustic, transition-ids)


class LatticeError(BlasrError, ValueError):
    """A lattice that cannot be determinized or has no path (the message names the utterance)."""


def topological_order(num_states: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """States in an order where every arc goes forward (Kahn's algorithm); raises on a cycle."""
    indegree = np.bincount(dst, minlength=num_states)
    order_arcs = np.argsort(src, kind="stable")
    first = np.zeros(num_states + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=num_states), out=first[1:])
    targets = dst[order_arcs].tolist()
    first_list = first.tolist()
    degree = indegree.tolist()
    ready = [s for s in range(num_states) if degree[s] == 0]
    order = []
    while ready:
        state = ready.pop()
        order.append(state)
        for target in targets[first_list[state]:first_list[state + 1]]:
            degree[target] -= 1
            if degree[target] == 0:
                ready.append(target)
    if len(order) != num_states:
        raise LatticeError("the lattice has a cycle")
    return np.array(order, dtype=np.int64)


def _prune(raw: RawLattice, beam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kaldi's ``PruneLattice``: the arcs (a mask) whose best path through them is within ``beam`` of the best
    path; also returns the states' topological order and their best costs to the end."""
    n = raw.num_states
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(raw.first))
    dst = raw.arcs["nextstate"].astype(np.int64)
    cost = raw.arcs["graph"].astype(np.float64) + raw.arcs["acoustic"]
    order = topological_order(n, src, dst)
    alpha = np.full(n, np.inf)
    alpha[raw.start] = 0.0
    first = raw.first
    for state in order:
        lo, hi = first[state], first[state + 1]
        if hi > lo and np.isfinite(alpha[state]):
            np.minimum.at(alpha, dst[lo:hi], alpha[state] + cost[lo:hi])
    beta = raw.final.astype(np.float64).sum(axis=1)
    for state in order[::-1]:
        lo, hi = first[state], first[state + 1]
        if hi > lo:
            beta[state] = min(beta[state], float(np.min(cost[lo:hi] + beta[dst[lo:hi]])))
    best = float(np.min(alpha + raw.final.astype(np.float64).sum(axis=1)))
    if not np.isfinite(best):
        raise LatticeError("the lattice has no successful path")
    keep = alpha[src] + cost + beta[dst] <= best + beam + 1e-4
    return keep, order, beta


def _better(x: Residual, y: Residual) -> bool:
    """Kaldi's ``Compare`` on compact lattice weights: lower total cost, then lower graph cost, then the
    shorter, then the smaller string."""
    tx, ty = x[0] + x[1], y[0] + y[1]
    if tx != ty:
        return tx < ty
    if x[0] != y[0]:
        return x[0] < y[0]
    if len(x[2]) != len(y[2]):
        return len(x[2]) < len(y[2])
    return x[2] < y[2]


@dataclass
class _Graph:
    """The pruned raw lattice as per-state Python lists (what the subset construction walks)."""

    rank: list[int]  # topological position of each state
    beta: list[float]  # best total cost from each state to the end
    epsilon: list[list[tuple[int, float, float, int]]]  # (tid, graph, acoustic, next) of arcs without a word
    words: list[list[tuple[int, int, float, float, int]]]  # (word, tid, graph, acoustic, next)
    final: list[tuple[float, float] | None]


def _graph(raw: RawLattice, keep: np.ndarray, order: np.ndarray, beta: np.ndarray) -> _Graph:
    n = raw.num_states
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    epsilon: list[list] = [[] for _ in range(n)]
    words: list[list] = [[] for _ in range(n)]
    arcs = raw.arcs
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(raw.first))
    index = np.flatnonzero(keep)
    for s, i, o, g, a, d in zip(src[index].tolist(), arcs["ilabel"][index].tolist(), arcs["olabel"][index].tolist(),
                                arcs["graph"][index].tolist(), arcs["acoustic"][index].tolist(),
                                arcs["nextstate"][index].tolist()):
        if o == 0:
            epsilon[s].append((i, g, a, d))
        else:
            words[s].append((o, i, g, a, d))
    final = [None if not np.isfinite(g) else (float(g), float(a)) for g, a in raw.final.tolist()]
    return _Graph(rank.tolist(), beta.tolist(), epsilon, words, final)


def _string(base: tuple[int, ...], tail: tuple | None) -> tuple[int, ...]:
    """A string kept as a tuple plus a linked list of later transition-ids, newest first (extending it in
    the closure costs nothing; only the elements that survive are spelt out)."""
    later = []
    while tail is not None:
        later.append(tail[0])
        tail = tail[1]
    return base + tuple(reversed(later))


def _better_open(x: tuple, y: tuple) -> bool:
    """:func:`_better` on ``(graph, acoustic, base, tail)`` elements of a closure."""
    tx, ty = x[0] + x[1], y[0] + y[1]
    if tx != ty:
        return tx < ty
    if x[0] != y[0]:
        return x[0] < y[0]
    return _better((x[0], x[1], _string(x[2], x[3])), (y[0], y[1], _string(y[2], y[3])))


def _closure(graph: _Graph, subset: dict[int, tuple], limit: float) -> dict[int, Residual]:
    """Follow the arcs without a word from every ``(graph, acoustic, base, tail)`` element, keeping the best
    per raw state and only elements whose best path to the end costs at most ``limit``; returns the
    elements with their strings spelt out."""
    rank, epsilon, beta = graph.rank, graph.epsilon, graph.beta
    heap = [(rank[s], s) for s in subset]
    heapq.heapify(heap)
    done = set()
    while heap:
        _, state = heapq.heappop(heap)
        if state in done:
            continue
        done.add(state)
        g0, a0, base, tail = subset[state]
        for tid, g, a, target in epsilon[state]:
            g1, a1 = g0 + g, a0 + a
            if g1 + a1 + beta[target] > limit:
                continue
            candidate = (g1, a1, base, (tid, tail) if tid else tail)
            current = subset.get(target)
            if current is None or _better_open(candidate, current):
                subset[target] = candidate
                heapq.heappush(heap, (rank[target], target))
    return {s: (g, a, _string(base, tail)) for s, (g, a, base, tail) in subset.items()
            if graph.words[s] or graph.final[s] is not None}


def _common_prefix(strings: list[tuple[int, ...]]) -> int:
    first = strings[0]
    length = min(len(s) for s in strings)
    for other in strings[1:]:
        i = 0
        while i < length and other[i] == first[i]:
            i += 1
        length = i
        if length == 0:
            break
    return length


def _normalize(subset: dict[int, Residual]) -> tuple[tuple, Residual, dict[int, Residual]]:
    """Move the best weight and the common string prefix out of a closed subset (:func:`_closure` keeps only
    elements with a word arc or a final weight); returns the subset's identity, what moved out and the
    residuals."""
    if not subset:
        return (), (0.0, 0.0, ()), {}
    best = None
    for residual in subset.values():
        if best is None or _better(residual, best):
            best = residual
    prefix = _common_prefix([r[2] for r in subset.values()])
    g0, a0 = best[0], best[1]
    residuals = {s: (g - g0, a - a0, string[prefix:]) for s, (g, a, string) in subset.items()}
    key = tuple(sorted((s, round(g / DELTA), round(a / DELTA), string) for s, (g, a, string) in residuals.items()))
    return key, (g0, a0, best[2][:prefix]), residuals


def _determinize_pruned(graph: _Graph, start: int, beam: float, max_states: int) -> CompactLattice | None:
    """Subset construction on words, expanding determinized states best first (by forward cost) and only
    those on a path within ``beam`` of the best (Kaldi's pruned determinization: without it, every
    combination of in-beam words would be enumerated); None past ``max_states`` states."""
    beta = graph.beta
    cutoff = beta[start] + beam + 1e-4

    def backward(subset: dict[int, Residual]) -> float:
        return min(g + a + beta[s] for s, (g, a, _) in subset.items())

    initial = _closure(graph, {start: (0.0, 0.0, (), None)}, cutoff)
    states: dict[tuple, int] = {_normalize(dict(initial))[0]: 0}
    subsets: list[dict[int, Residual]] = [initial]  # the start subset is kept as it is (nothing to move out to)
    forward = [0.0]
    done = [False]
    heap = [(0.0, 0)]
    src, dst, word, weight, tids = [], [], [], [], []
    final: dict[int, Residual] = {}
    while heap:
        cost, state = heapq.heappop(heap)
        if done[state] or cost > forward[state]:
            continue
        done[state] = True
        if len(subsets) > max_states:
            return None
        subset = subsets[state]
        transitions: dict[int, dict[int, tuple]] = {}
        for raw_state, (g0, a0, string) in subset.items():
            f = graph.final[raw_state]
            if f is not None:
                candidate = (g0 + f[0], a0 + f[1], string)
                if state not in final or _better(candidate, final[state]):
                    final[state] = candidate
            for label, tid, g, a, target in graph.words[raw_state]:
                g1, a1 = g0 + g, a0 + a
                if forward[state] + g1 + a1 + beta[target] > cutoff:
                    continue
                candidate = (g1, a1, string, (tid, None) if tid else None)
                elements = transitions.setdefault(label, {})
                current = elements.get(target)
                if current is None or _better_open(candidate, current):
                    elements[target] = candidate
        for label in sorted(transitions):
            key, moved, residuals = _normalize(_closure(graph, transitions[label], cutoff - forward[state]))
            if not residuals:
                continue
            reached = forward[state] + moved[0] + moved[1]
            if reached + backward(residuals) > cutoff:
                continue
            target = states.get(key)
            if target is None:
                target = states[key] = len(subsets)
                subsets.append(residuals)
                forward.append(reached)
                done.append(False)
                heapq.heappush(heap, (reached, target))
            elif reached < forward[target] and not done[target]:
                forward[target] = reached
                heapq.heappush(heap, (reached, target))
            src.append(state)
            dst.append(target)
            word.append(label)
            weight.append(moved[:2])
            tids.append(moved[2])
    num_states = len(subsets)
    final_weights = np.full((num_states, 2), np.inf, dtype=np.float32)
    final_tids: list[tuple[int, ...]] = [()] * num_states
    for state, (g, a, string) in final.items():
        final_weights[state] = g, a
        final_tids[state] = string
    lattice = CompactLattice(0, np.array(src, np.int32), np.array(dst, np.int32), np.array(word, np.int32),
                             np.array(weight, np.float32).reshape(-1, 2), tids, final_weights, final_tids)
    return _connect(lattice, done)


def _connect(lattice: CompactLattice, expanded: list[bool]) -> CompactLattice:
    """Drop the states that were never expanded (beyond the beam) or lead to no final state, and their arcs."""
    n = lattice.num_states
    alive = np.array(expanded, dtype=bool)
    coaccessible = np.isfinite(lattice.final[:, 0]) & alive
    arcs_ok = alive[lattice.src] & alive[lattice.dst]
    changed = True
    while changed:  # backward reachability of a final state (lattices are small: a few passes)
        reach = np.zeros(n, dtype=bool)
        reach[lattice.src[arcs_ok & coaccessible[lattice.dst]]] = True
        new = coaccessible | (reach & alive)
        changed = bool((new != coaccessible).any())
        coaccessible = new
    keep_state = coaccessible
    keep_state[lattice.start] = True
    keep_arc = keep_state[lattice.src] & keep_state[lattice.dst]
    index = -np.ones(n, dtype=np.int64)
    index[keep_state] = np.arange(int(keep_state.sum()))
    arcs = np.flatnonzero(keep_arc)
    return CompactLattice(int(index[lattice.start]), index[lattice.src[arcs]].astype(np.int32),
                          index[lattice.dst[arcs]].astype(np.int32), lattice.word[arcs], lattice.weight[arcs],
                          [lattice.tids[k] for k in arcs], lattice.final[keep_state],
                          [t for t, k in zip(lattice.final_tids, keep_state) if k])


def sort_topologically(lattice: CompactLattice) -> CompactLattice:
    """The same lattice with its states renumbered so that every arc goes to a higher state (start 0)."""
    order = topological_order(lattice.num_states, lattice.src.astype(np.int64), lattice.dst.astype(np.int64))
    if lattice.num_states and order[0] != lattice.start:
        raise LatticeError("the start state has incoming arcs")
    new = np.empty(lattice.num_states, dtype=np.int64)
    new[order] = np.arange(lattice.num_states)
    src, dst = new[lattice.src], new[lattice.dst]
    arcs = np.lexsort((dst, src))
    return CompactLattice(0, src[arcs].astype(np.int32), dst[arcs].astype(np.int32), lattice.word[arcs],
                          lattice.weight[arcs], [lattice.tids[k] for k in arcs], lattice.final[order],
                          [lattice.final_tids[s] for s in order])


def determinize(raw: RawLattice, lattice_beam: float = 8.0, acoustic_scale: float = 1.0,
                max_states: int = MAX_STATES) -> CompactLattice:
    """The raw lattice of one utterance (acoustic costs scaled by ``acoustic_scale``), pruned to
    ``lattice_beam`` and determinized on words; acoustic costs unscaled; topologically sorted.

    If determinization passes ``max_states`` states the beam is halved and it starts again (logged), as
    Kaldi's ``lattice-determinize-pruned`` does when it runs out of memory.
    """
    beam = lattice_beam
    while True:
        keep, order, beta = _prune(raw, beam)
        lattice = _determinize_pruned(_graph(raw, keep, order, beta), raw.start, beam, max_states)
        if lattice is not None:
            break
        logger.warning("lattice determinization passed %d states at beam %g: trying beam %g", max_states, beam,
                       beam / 2)
        beam /= 2
    lattice.weight[:, 1] /= acoustic_scale
    finite = np.isfinite(lattice.final[:, 1])
    lattice.final[finite, 1] /= acoustic_scale
    return sort_topologically(lattice)


@dataclass
class BestPath:
    """The best path of a lattice under one setting: its words, per-frame transition-ids and costs."""

    word_ids: list[int]
    tids: np.ndarray  # int32, one per frame
    graph_cost: float
    acoustic_cost: float


def best_paths(lattice: CompactLattice, settings: Sequence[tuple[float, float]]) -> list[BestPath | None]:
    """The best path for each ``(lm_weight, penalty)``: minimum of ``graph + acoustic / lm_weight + penalty *
    words`` (``lattice-scale --inv-acoustic-scale | lattice-add-penalty | lattice-best-path``); None for a
    lattice without a final state. The lattice must be topologically sorted (as :func:`determinize` makes it).
    """
    if not lattice.is_topologically_sorted():
        lattice = sort_topologically(lattice)
    n, num = lattice.num_states, len(settings)
    inverse = np.array([1.0 / lm_weight for lm_weight, _ in settings])
    penalty = np.array([p for _, p in settings])
    g = lattice.weight[:, 0].astype(np.float64)
    a = lattice.weight[:, 1].astype(np.float64)
    arc_cost = g[:, None] + a[:, None] * inverse[None, :] + np.where(lattice.word > 0, 1.0, 0.0)[:, None] * penalty
    cost = np.full((n, num), np.inf)
    back = np.full((n, num), -1, dtype=np.int64)
    cost[lattice.start] = 0.0
    by_dst = np.argsort(lattice.dst, kind="stable")
    first = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(lattice.dst, minlength=n), out=first[1:])
    for state in range(n):
        lo, hi = first[state], first[state + 1]
        if hi == lo:
            continue
        incoming = by_dst[lo:hi]
        candidates = cost[lattice.src[incoming]] + arc_cost[incoming]
        best = np.argmin(candidates, axis=0)
        cost[state] = candidates[best, np.arange(num)]
        back[state] = incoming[best]
    final = lattice.final[:, 0].astype(np.float64)[:, None] + lattice.final[:, 1].astype(np.float64)[:, None] * inverse
    total = cost + final
    results: list[BestPath | None] = []
    for k in range(num):
        end = int(np.argmin(total[:, k]))
        if not np.isfinite(total[end, k]):
            results.append(None)
            continue
        arcs = []
        state = end
        while state != lattice.start:
            arc = int(back[state, k])
            arcs.append(arc)
            state = int(lattice.src[arc])
        arcs.reverse()
        tids = [t for arc in arcs for t in lattice.tids[arc]] + list(lattice.final_tids[end])
        results.append(BestPath([int(lattice.word[arc]) for arc in arcs], np.array(tids, dtype=np.int32),
                                float(g[arcs].sum() + lattice.final[end, 0]),
                                float(a[arcs].sum() + lattice.final[end, 1])))
    return results
