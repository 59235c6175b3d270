"""GMM training and alignment speed on this machine, and what it implies at Switchboard scale (~108 M frames).

    python benchmarks/gmm.py                                # defaults: 400k frames, 4000 leaves, 64 dims
    python benchmarks/gmm.py --frames 100000 --leaves 1000  # quick look

A synthetic corpus (41 phones with 3-state HMMs, random phone sequences,
2-8 frames per state, Gaussian frames around a mean per phone state) is
aligned from its true state sequence; on it the script measures:

1. ``accumulate_tree_stats`` (acc-tree-stats): frames/s;
2. ``cluster_phones`` and ``build_tree`` to ``--leaves`` leaves: seconds;
3. ``accumulate_gmm_stats`` (gmm-acc-stats-ali) with the triphone GMMs
   (``--gauss-per-leaf`` Gaussians in every pdf): frames/s;
4. one ``gmm-est`` (transitions, MLE update, mixing up): seconds;
5. ``TrainingGraphCompiler.compile`` alone, ``align_with_gmm`` (graphs
   compiled on the fly, beam 10, retry 40) and ``align_with_log_likelihoods``
   (a given score matrix, as a network's): frames/s.

Per-frame timings are the median of ``--runs`` runs (the machine may be shared).

Then it prints the implied time per pass at 108 M frames.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst)
import kaldifst
import numpy as np

from blasr.kaldi.formats.gmm import AmDiagGmm
from blasr.kaldi.formats.model import HmmState, HmmTopology
from blasr.kaldi.gmm.align import AlignOptions, align_with_gmm, align_with_log_likelihoods
from blasr.kaldi.gmm.estimate import (
    accumulate_gmm_stats,
    gaussian_from_stats,
    log_likelihoods,
    mix_up,
    split_gmm,
    update_gmms,
    update_transitions,
)
from blasr.kaldi.gmm.train import GmmSystem, convert_alignments, init_mono, transition_model_for
from blasr.kaldi.gmm.tree import (
    Questions,
    accumulate_tree_stats,
    build_tree,
    cluster_phones,
    leaf_statistics,
    roots_per_phone,
)
from blasr.utils.machine import cpu_model

SWITCHBOARD_FRAMES = 108_000_000


def topology(num_phones: int) -> HmmTopology:
    states = [
        HmmState(0, 0, [(0, 0.75), (1, 0.25)]),
        HmmState(1, 1, [(1, 0.75), (2, 0.25)]),
        HmmState(2, 2, [(2, 0.75), (3, 0.25)]),
        HmmState(),
    ]
    return HmmTopology([states], {p: 0 for p in range(1, num_phones + 1)})


def corpus(num_frames: int, num_phones: int, dim: int, rng: np.random.Generator):
    means = rng.normal(size=(num_phones + 1, 3, dim)) * 2.0
    features, transcripts, truth = {}, {}, {}
    total = 0
    while total < num_frames:
        phones = [1] + rng.integers(2, num_phones + 1, size=18).tolist() + [1]
        durations = rng.integers(2, 9, size=(len(phones), 3))
        frame_means = np.concatenate([np.repeat(means[p], d, axis=0) for p, d in zip(phones, durations)])
        utt = f"utt{len(features):06d}"
        features[utt] = (frame_means + rng.normal(size=frame_means.shape)).astype(np.float32)
        transcripts[utt], truth[utt] = phones, durations
        total += len(frame_means)
    return features, transcripts, truth


def true_alignment(model, phones, durations) -> np.ndarray:
    # Kaldi's reordered layout: each state visit is its forward transition, then self-loops.
    tids = []
    for phone, lengths in zip(phones, durations):
        for state, length in enumerate(lengths.tolist()):
            same = (model.phone == phone) & (model.hmm_state == state)
            forward = np.flatnonzero(same & ~model.is_self_loop)[0]
            loop = np.flatnonzero(same & model.is_self_loop)[0]
            tids += [forward] + [loop] * (length - 1)
    return np.array(tids, dtype=np.int32)


def _graph_pdfs(compiler, transcript, utterance) -> np.ndarray:
    """The pdfs on an utterance's training graph."""
    graph = compiler.compile(transcript, utterance)
    ids = [arc.ilabel for state in range(graph.num_states) for arc in kaldifst.ArcIterator(graph, state)]
    ids = np.array([i for i in ids if i > 0])
    return np.unique(compiler.transition_model.pdf[ids])


def timed(fn, runs: int = 1):
    """The result of ``fn`` and the median of ``runs`` timings."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def machine() -> str:
    cpu = cpu_model()
    return f"{cpu}, {os.cpu_count()} cores, numpy {np.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=400_000)
    parser.add_argument("--phones", type=int, default=41)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--leaves", type=int, default=4000)
    parser.add_argument("--gauss-per-leaf", type=int, default=16)
    parser.add_argument(
        "--align-utterances", type=int, default=300, help="utterances aligned for the alignment timings"
    )
    parser.add_argument("--runs", type=int, default=3, help="per-frame timings: median of this many runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the start")
    topo = topology(args.phones)
    features, transcripts, truth = corpus(args.frames, args.phones, args.dim, rng)
    num_frames = sum(len(f) for f in features.values())
    print(f"corpus: {len(features)} utterances, {num_frames} frames, {args.dim} dims, {args.phones} phones")
    mono = init_mono(topo, features)
    alignments = {u: true_alignment(mono.transition_model, transcripts[u], truth[u]) for u in features}

    rows = []

    def report(what: str, seconds: float, frames: int | None = None) -> None:
        if frames:
            rate = frames / seconds
            rows.append((what, f"{rate:,.0f} frames/s", f"{SWITCHBOARD_FRAMES / rate / 60:,.1f} min"))
        else:
            rows.append((what, f"{seconds:.2f} s", ""))
        print(f"  {rows[-1][0]}: {rows[-1][1]}" + (f" (108 M frames: {rows[-1][2]})" if rows[-1][2] else ""))

    stats, seconds = timed(lambda: accumulate_tree_stats(mono.transition_model, alignments, features), args.runs)
    report(f"acc-tree-stats ({stats.num_events} events)", seconds, num_frames)
    questions, seconds = timed(lambda: cluster_phones(stats, [[p] for p in topo.phones]))
    report(f"cluster-phones ({len(questions)} questions)", seconds)
    compiled = Questions.compile(questions, topo)
    (tree, info), seconds = timed(lambda: build_tree(stats, roots_per_phone(topo.phones), compiled, topo, args.leaves))
    report(f"build-tree ({info.num_leaves} leaves, stopped by {info.stopped_by})", seconds)

    # gmm-init-model: the tree's transition model, one Gaussian per leaf.
    counts, sums, sums_sq = leaf_statistics(tree, stats)
    gmms = [gaussian_from_stats(max(counts[j], 1.0), sums[j], sums_sq[j]) for j in range(tree.num_pdfs)]
    tri = GmmSystem(transition_model_for(tree, topo), tree, AmDiagGmm(gmms))
    converted = convert_alignments(mono.transition_model, tri.transition_model, tri.tree, alignments)
    # Every pdf split to the same number of Gaussians, so that the cost per frame is known
    # (training shares them by occupancy ** 0.25; the cost follows the frame-weighted average).
    model = AmDiagGmm([split_gmm(g, args.gauss_per_leaf, 0.1, rng) for g in tri.acoustic_model.pdfs])
    tri = GmmSystem(tri.transition_model, tri.tree, model)
    print(f"triphone system: {tri.num_pdfs} pdfs, {tri.acoustic_model.num_gauss} Gaussians")

    # Per pass, the GMMs are flattened and the accumulators allocated once (a fixed cost,
    # timed on one utterance and reported apart); the rest grows with the frames.
    one = dict(list(converted.items())[:1])
    _, fixed = timed(lambda: accumulate_gmm_stats(tri.transition_model, tri.acoustic_model, one, features), args.runs)
    report("gmm-acc-stats-ali, fixed cost per pass", fixed)
    stats_gmm, seconds = timed(
        lambda: accumulate_gmm_stats(tri.transition_model, tri.acoustic_model, converted, features), args.runs
    )
    report(f"gmm-acc-stats-ali ({tri.acoustic_model.num_gauss} Gaussians)", seconds - fixed, num_frames)

    def estimate():
        transitions, _ = update_transitions(tri.transition_model, stats_gmm.transition_counts)
        updated, _ = update_gmms(tri.acoustic_model, stats_gmm)
        return mix_up(updated, stats_gmm.pdf_occupancy, updated.num_gauss + tri.num_pdfs, rng=rng)

    _, seconds = timed(estimate)
    report("gmm-est (transitions, MLE, mix-up), per pass", seconds)

    subset = dict(list(transcripts.items())[: args.align_utterances])
    subset_frames = sum(len(features[u]) for u in subset)
    compiler = tri.graph_compiler()
    _, seconds = timed(lambda: [compiler.compile(t, u) for u, t in subset.items()])
    report(
        f"compile-train-graphs ({len(subset)} utterances, {seconds / len(subset) * 1000:.2f} ms each)",
        seconds,
        subset_frames,
    )
    # The GMMs go to kaldi-hmm-gmm once per alignment pass (a fixed cost, reported apart).
    _, convert = timed(lambda: tri.acoustic_model.to_kaldi_hmm_gmm())
    report("GMMs to kaldi-hmm-gmm, once per alignment pass", convert)
    result, seconds = timed(
        lambda: align_with_gmm(compiler, subset, features, tri.acoustic_model, AlignOptions()), args.runs
    )
    failed = f"{len(result.failed)} failed, {len(result.retried)} retried"
    report(f"gmm-align-compiled, graphs included ({failed})", seconds - convert, subset_frames)
    # A network's scores: a (frames, num_pdfs) float32 matrix per utterance, handed over on
    # demand (a callable). Here they are the GMM's for the pdfs of each graph, written into one
    # reused -inf buffer, so that making them costs next to nothing.
    compact = {}
    for utt, transcript in subset.items():
        pdfs = _graph_pdfs(compiler, transcript, utt)
        compact[utt] = pdfs, log_likelihoods(tri.acoustic_model, features[utt], pdfs)[:, pdfs].astype(np.float32)
    buffer = np.full((max(len(features[u]) for u in subset), tri.num_pdfs), -np.inf, dtype=np.float32)
    written = [np.zeros(0, dtype=np.int64)]

    def network(utt: str) -> np.ndarray:
        buffer[:, written[0]] = -np.inf
        pdfs, values = compact[utt]
        buffer[: len(values), pdfs] = values
        written[0] = pdfs
        return buffer[: len(values)]

    scored, seconds = timed(lambda: align_with_log_likelihoods(compiler, subset, network), args.runs)
    report("align from a score matrix, graphs included", seconds, subset_frames)
    same = all(np.array_equal(scored.alignments[u], result.alignments[u]) for u in result.alignments)
    print(f"  score-matrix alignment equals the GMM alignment: {same}")

    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print("\n| measurement | result | at 108 M frames |\n|---|---:|---:|")
    for what, value, extrapolated in rows:
        print(f"| {what} | {value} | {extrapolated} |")


if __name__ == "__main__":
    main()
