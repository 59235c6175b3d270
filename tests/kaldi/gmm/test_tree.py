"""Decision-tree building: statistics, phone questions, greedy splitting, Kaldi's tree format, kaldi-hmm-gmm."""

import itertools
import os
import subprocess
from pathlib import Path

import kaldi_hmm_gmm  # noqa: I001
import numpy as np
import pytest

from blasr.kaldi.formats.model import write_topology
from blasr.kaldi.formats.tree import (
    ConstantEventMap,
    ContextDependency,
    SplitEventMap,
    TableEventMap,
    iter_answers,
    read_tree,
    write_tree,
)
from blasr.kaldi.gmm.align import phone_segments
from blasr.kaldi.gmm.tree import (
    NOT_RECORDED,
    Questions,
    TreeBuildInfo,
    TreeRoot,
    TreeStats,
    _merge_leaves_by_thresh,
    _renumber_leaves,
    accumulate_tree_stats,
    build_tree,
    cluster_phones,
    context_windows,
    gaussian_objf,
    leaf_statistics,
    map_events,
    roots_per_phone,
)
from tests.kaldi.gmm_corpus import PHONES, SILENCE, corpus, topology, trained_mono

AS_SPLIT = {"cluster_thresh": 0, "round_num_leaves": False}  # Kaldi's merging and rounding off: the tree as split


@pytest.fixture(scope="module")
def stats() -> TreeStats:
    result, final = trained_mono()
    return accumulate_tree_stats(
        result.system.transition_model, final.alignments, corpus().features, ci_phones=[SILENCE]
    )


@pytest.fixture(scope="module")
def questions(stats) -> Questions:
    return Questions.compile(cluster_phones(stats, [[p] for p in PHONES]), corpus().topology)


def test_tree_stats_sum_the_frames_of_each_context(stats):
    result, final = trained_mono()
    model, data = result.system.transition_model, corpus()
    frames = np.concatenate(list(data.features.values())).astype(np.float64)
    assert stats.num_frames == len(frames)
    np.testing.assert_allclose(stats.sums.sum(0), frames.sum(0), rtol=1e-9)
    np.testing.assert_allclose(stats.sums_sq.sum(0), (frames**2).sum(0), rtol=1e-9)
    # Silence is context-independent: its events record no context.
    silence = stats.phones[:, 1] == SILENCE
    assert (stats.phones[silence][:, [0, 2]] == NOT_RECORDED).all()
    assert (stats.phones[~silence] >= 0).all()
    # One event, recomputed by hand: phone 3 after phone 4 before phone 5 (word 2), pdf-class 1.
    expected = np.zeros(data.features["utt000"].shape[1])
    count = 0
    for utt, alignment in final.alignments.items():
        phones, starts = phone_segments(model, alignment)
        windows = context_windows(phones, 3, 1)
        ends = np.r_[starts[1:], len(alignment)]
        for window, start, end in zip(windows, starts, ends):
            if window.tolist() == [4, 3, 5]:
                states = model.hmm_state[alignment[start:end]]
                expected += data.features[utt][start:end][states == 1].sum(0)
                count += int((states == 1).sum())
    # Chunked accumulation (merged at the end, Kaldi's sum-tree-stats) gives the same statistics.
    chunked = accumulate_tree_stats(model, final.alignments, data.features, ci_phones=[SILENCE], chunk_frames=300)
    np.testing.assert_array_equal(chunked.phones, stats.phones)
    np.testing.assert_array_equal(chunked.pdf_classes, stats.pdf_classes)
    np.testing.assert_allclose(chunked.sums, stats.sums, rtol=1e-10, atol=1e-8)
    row = np.flatnonzero((stats.phones == [4, 3, 5]).all(1) & (stats.pdf_classes == 1))
    assert count > 0 and len(row) == 1
    assert stats.counts[row[0]] == count
    np.testing.assert_allclose(stats.sums[row[0]], expected, rtol=1e-5)


def test_context_windows_pad_with_zero():
    np.testing.assert_array_equal(context_windows(np.array([5, 6, 7]), 3, 1), [[0, 5, 6], [5, 6, 7], [6, 7, 0]])
    np.testing.assert_array_equal(context_windows(np.array([5]), 1, 0), [[5]])


def test_cluster_phones_builds_a_hierarchy_of_similar_phones():
    # Phones 2 and 3 are alike, 4 and 5 are alike, 6 is far away from all.
    rng = np.random.default_rng(0)
    centres = {2: 0.0, 3: 0.5, 4: 10.0, 5: 10.5, 6: 30.0}
    rows, sums, squares = [], [], []
    for phone, centre in centres.items():
        x = centre + rng.normal(size=(200, 4))
        rows.append([0, phone, 0])
        sums.append(x.sum(0))
        squares.append((x**2).sum(0))
    stats = TreeStats(
        3, 1, np.array(rows), np.ones(5, dtype=np.int32), np.full(5, 200.0), np.array(sums), np.array(squares)
    )
    questions = cluster_phones(stats, [[p] for p in centres])
    assert {(2,), (3,), (4,), (5,), (6,), (2, 3), (4, 5), (2, 3, 4, 5, 6)} <= set(questions)
    # Every two questions are nested or disjoint (nodes of one binary tree).
    for a, b in itertools.combinations(map(set, questions), 2):
        assert a <= b or b <= a or not (a & b)
    assert (2, 4) not in questions and (3, 5) not in questions


def test_questions_for_the_pdf_class_follow_compile_questions():
    questions = Questions.compile([[3, 2], [2, 3], [4]], corpus().topology)
    assert questions.phone_questions == [(2, 3), (4,)]
    assert questions.pdf_class_questions == [(0,), (0, 1), (0, 1, 2), (0, 1, 2, 3)]  # silence has 5 pdf-classes


@pytest.mark.parametrize("num_leaves", [14, 23, 31])
def test_tree_has_the_requested_number_of_leaves(stats, questions, num_leaves):
    tree, info = build_tree(stats, roots_per_phone(PHONES), questions, corpus().topology, num_leaves, **AS_SPLIT)
    assert info.stopped_by == "max_leaves" and info.num_leaves == num_leaves == tree.num_pdfs
    assert sorted(set(iter_answers(tree.to_pdf))) == list(range(num_leaves))
    assert info.leaves_without_stats == []
    # The gain reported is the objective of the leaves minus that of the roots.
    counts, sums, squares = leaf_statistics(tree, stats)
    roots = map_events(
        build_tree(stats, roots_per_phone(PHONES), questions, corpus().topology, 6)[0].to_pdf,
        stats.phones,
        stats.pdf_classes,
    )
    assert info.num_stub_leaves == 6
    root_objf = sum(
        gaussian_objf(stats.counts[roots == r].sum(), stats.sums[roots == r].sum(0), stats.sums_sq[roots == r].sum(0))
        for r in range(6)
    )
    assert gaussian_objf(counts, sums, squares).sum() - root_objf == pytest.approx(info.likelihood_gain, rel=1e-6)


def test_tree_finds_the_context_effects(stats, questions):
    tree, _ = build_tree(stats, roots_per_phone(PHONES), questions, corpus().topology, 40)
    # Phone 3 depends on its left phone being 2 or 4; phone 5's last state on its right phone being 6.
    assert tree.compute([2, 3, 6], 0) == tree.compute([4, 3, 2], 0) != tree.compute([5, 3, 2], 0)
    assert tree.compute([2, 5, 6], 2) != tree.compute([2, 5, 4], 2)
    assert tree.compute([2, 5, 4], 2) == tree.compute([3, 5, 2], 2)
    # Silence (context-independent) splits only on the pdf-class: its pdfs ignore the context.
    for pdf_class in range(5):
        assert len({tree.compute([a, SILENCE, b], pdf_class) for a in (0, *PHONES) for b in (0, *PHONES)}) == 1


def test_tree_stops_when_the_statistics_run_out(stats, questions):
    topology = corpus().topology
    tree, info = build_tree(stats, roots_per_phone(PHONES), questions, topology, 32000, min_count=40, **AS_SPLIT)
    assert info.stopped_by == "no_split" and info.num_leaves < 32000
    counts, _, _ = leaf_statistics(tree, stats)
    assert counts.min() >= 40  # no split left fewer than min_count frames on a side
    # The rule: asking for exactly that many leaves gives the same tree.
    again, info_again = build_tree(
        stats, roots_per_phone(PHONES), questions, topology, info.num_leaves, min_count=40, **AS_SPLIT
    )
    assert again == tree and info_again.stopped_by == "max_leaves"
    # A gain threshold stops earlier.
    _, thresholded = build_tree(stats, roots_per_phone(PHONES), questions, topology, 32000, thresh=1000.0)
    assert thresholded.stopped_by == "no_split" and thresholded.smallest_split > 1000.0


def test_tree_round_trips_through_kaldi_format_and_loads_in_kaldi_hmm_gmm(stats, questions, tmp_path):
    topology = corpus().topology
    tree, info = build_tree(stats, roots_per_phone(PHONES), questions, topology, 25)  # merged and renumbered
    assert info.num_split_leaves == 25 and tree.num_pdfs == info.num_leaves == 24  # as Kaldi's build-tree (below)
    for binary in (True, False):
        path = write_tree(tree, tmp_path / f"tree.{binary}", binary=binary)
        assert read_tree(path) == tree
    kaldi_tree = tree.to_kaldi_hmm_gmm()
    assert (kaldi_tree.context_width, kaldi_tree.central_position, kaldi_tree.num_pdfs) == (3, 1, 24)
    contexts = [0, *PHONES]
    for left, phone, right in itertools.product(contexts, PHONES, contexts):
        for pdf_class in range(topology.num_pdf_classes(phone)):
            ok, pdf = kaldi_tree.compute([left, phone, right], pdf_class)
            assert ok and pdf == tree.compute([left, phone, right], pdf_class)
    assert ContextDependency.from_kaldi_hmm_gmm(kaldi_tree) == tree
    # kaldi-hmm-gmm builds a transition model on it (Kaldi's gmm-init-model does the same).
    model = kaldi_hmm_gmm.TransitionModel(ctx_dep=kaldi_tree, hmm_topo=topology.to_kaldi_hmm_gmm())
    assert model.num_pdfs == 24


def test_map_events_agrees_with_compute(stats, questions):
    tree, _ = build_tree(stats, roots_per_phone(PHONES), questions, corpus().topology, 30)
    answers = map_events(tree.to_pdf, stats.phones, stats.pdf_classes)
    for window, pdf_class, answer in zip(stats.phones.tolist(), stats.pdf_classes.tolist(), answers.tolist()):
        if window[0] == NOT_RECORDED:
            window = [0, window[1], 0]  # silence: any context gives the same pdf
        assert tree.compute(window, pdf_class) == answer


def test_root_per_phone_state_and_unsplit_roots(stats, questions):
    topology = corpus().topology
    roots = [TreeRoot((SILENCE,), shared=False, split=False)] + [TreeRoot((p,), shared=False) for p in PHONES[1:]]
    tree, info = build_tree(stats, roots, questions, topology, 22, **AS_SPLIT)
    assert info.num_stub_leaves == 5 + 5 * 3 and tree.num_pdfs == 22

    # One root per state: no split ever asks about the pdf-class; silence is never split.
    def keys(node):
        if isinstance(node, SplitEventMap):
            yield node.key
            yield from keys(node.yes)
            yield from keys(node.no)
        elif isinstance(node, TableEventMap):
            for child in node.table:
                yield from keys(child)

    splits = [k for k in keys(tree.to_pdf) if k != 1]
    assert splits and -1 not in splits
    assert sorted(tree.compute([0, SILENCE, 0], c) for c in range(5)) == list(range(5))
    # Shared phone sets: two phones in one root share their pdfs unless a question separates them.
    shared, _ = build_tree(
        stats, [TreeRoot((SILENCE,), split=False), TreeRoot((2, 3, 4, 5, 6), split=False)], questions, topology, 100
    )
    assert shared.num_pdfs == 2


# -- merging leaves after splitting (Kaldi's --cluster-thresh, --round-num-leaves) --------------

CONTEXTS = (3, 4, 5, 6)


def additive_stats(centres=(2,), frames=200, dim=2, seed=0) -> TreeStats:
    """Events of pdf-class 0 of each phone in ``centres`` in every left and right context of ``CONTEXTS``.

    The mean is ``10·[left ∈ {5, 6}] + 10·[right ∈ {5, 6}]`` (unit variance): split on both
    sides, the tree has leaves of means 0, 10, 10, 20, two of them alike under different
    branches. Every phone gets the same frames, so the phones' leaves are alike too.
    """
    rng = np.random.default_rng(seed)
    phones, sums, squares = [], [], []
    for left, right in itertools.product(CONTEXTS, CONTEXTS):
        x = 10.0 * (left >= 5) + 10.0 * (right >= 5) + rng.normal(size=(frames, dim))
        for centre in centres:
            phones.append([left, centre, right])
            sums.append(x.sum(0))
            squares.append((x**2).sum(0))
    n = len(phones)
    return TreeStats(
        3,
        1,
        np.array(phones, np.int32),
        np.zeros(n, np.int32),
        np.full(n, float(frames)),
        np.array(sums),
        np.array(squares),
    )


ADDITIVE_QUESTIONS = Questions([(3, 4), (5, 6)], [])
ADDITIVE_MAX = 6 + 3  # the 6 roots of the corpus topology, then 3 splits of phone 2


def test_merging_joins_near_identical_leaves_of_a_root():
    stats = additive_stats()
    split, split_info = build_tree(
        stats, roots_per_phone(PHONES), ADDITIVE_QUESTIONS, topology(), ADDITIVE_MAX, **AS_SPLIT
    )
    # As split: four leaves for phone 2, the "10" ones (left 3 right 5, left 5 right 3) apart.
    assert split_info.num_leaves == split.num_pdfs == 9 and split_info.num_merged == 0
    assert len({split.compute([left, 2, right], 0) for left in (3, 5) for right in (3, 5)}) == 4
    # Kaldi's default: merging costs less than the smallest split gained only for the two alike leaves.
    tree, info = build_tree(stats, roots_per_phone(PHONES), ADDITIVE_QUESTIONS, topology(), ADDITIVE_MAX)
    assert info.merge_thresh == info.smallest_split > 1000.0
    assert (info.num_split_leaves, info.num_merged, info.num_rounded, info.num_leaves) == (9, 1, 0, 8)
    assert tree.num_pdfs == 8 and sorted(set(iter_answers(tree.to_pdf))) == list(range(8))
    assert tree.compute([3, 2, 5], 0) == tree.compute([5, 2, 3], 0) == tree.compute([4, 2, 6], 0)
    assert len({tree.compute([3, 2, 3], 0), tree.compute([3, 2, 5], 0), tree.compute([5, 2, 5], 0)}) == 3
    assert "9 leaves after splitting, 1 merged" in info.summary()
    # The merged tree is still a Kaldi tree: it round-trips through the format and kaldi-hmm-gmm.
    assert ContextDependency.from_kaldi_hmm_gmm(tree.to_kaldi_hmm_gmm()) == tree
    # A threshold of one's own: below the alike pair's cost nothing merges, above every pair's all of a root does.
    _, small = build_tree(
        stats,
        roots_per_phone(PHONES),
        ADDITIVE_QUESTIONS,
        topology(),
        ADDITIVE_MAX,
        cluster_thresh=1e-6,
        round_num_leaves=False,
    )
    assert (small.num_leaves, small.merge_thresh) == (9, 1e-6)
    everything, huge = build_tree(
        stats,
        roots_per_phone(PHONES),
        ADDITIVE_QUESTIONS,
        topology(),
        ADDITIVE_MAX,
        cluster_thresh=1e12,
        round_num_leaves=False,
    )
    assert (huge.num_leaves, huge.num_merged) == (6, 3)
    assert len({everything.compute([left, 2, right], 0) for left in CONTEXTS for right in CONTEXTS}) == 1


def test_cluster_thresh_zero_keeps_the_split_tree(stats, questions):
    topology_ = corpus().topology
    plain, info = build_tree(stats, roots_per_phone(PHONES), questions, topology_, 40, **AS_SPLIT)
    assert (info.num_leaves, info.num_merged, info.num_rounded, info.merge_thresh) == (40, 0, 0, None)
    # 40 is a multiple of 8: Kaldi's rounding (on by default, also with --cluster-thresh=0) leaves it alone.
    rounded, rounded_info = build_tree(stats, roots_per_phone(PHONES), questions, topology_, 40, cluster_thresh=0)
    assert rounded == plain and rounded_info.num_leaves == 40
    # 43 is not: 3 leaves go, the cheapest merges over all roots; the rest of the tree is unchanged.
    _, info_43 = build_tree(stats, roots_per_phone(PHONES), questions, topology_, 43, cluster_thresh=0)
    assert (info_43.num_split_leaves, info_43.num_merged, info_43.num_rounded, info_43.num_leaves) == (43, 0, 3, 40)


@pytest.mark.parametrize("max_leaves", [9, 14, 25, 40])
@pytest.mark.parametrize("cluster_thresh", [-1.0, 0.0, 300.0])
@pytest.mark.parametrize("round_num_leaves", [True, False])
def test_merged_trees_never_exceed_the_maximum(stats, questions, max_leaves, cluster_thresh, round_num_leaves):
    tree, info = build_tree(
        stats,
        roots_per_phone(PHONES),
        questions,
        corpus().topology,
        max_leaves,
        cluster_thresh=cluster_thresh,
        round_num_leaves=round_num_leaves,
    )
    assert info.num_split_leaves == max_leaves and info.stopped_by == "max_leaves"
    assert info.num_leaves == tree.num_pdfs == max_leaves - info.num_merged - info.num_rounded <= max_leaves
    assert sorted(set(iter_answers(tree.to_pdf))) == list(range(tree.num_pdfs))  # dense, as RenumberEventMap
    if round_num_leaves and not info.notes:
        assert info.num_leaves % 8 == 0
    elif round_num_leaves:  # fewer than 8 ... : Kaldi warns and does not round
        assert info.num_rounded == 0
    if cluster_thresh == 0:
        assert info.num_merged == 0
    # Merging never joins leaves of different phones (the roots).
    for phone_a, phone_b in itertools.combinations(PHONES, 2):
        assert tree.compute([0, phone_a, 0], 0) != tree.compute([0, phone_b, 0], 0)
    # Every leaf keeps statistics: the merged leaves' statistics are the sums.
    counts, _, _ = leaf_statistics(tree, stats)
    assert counts.min() > 0 and counts.sum() == stats.num_frames


def test_merging_stays_within_a_root():
    # Phones 2, 3 and 5 have the same frames in every context: their leaves are alike, but each phone is a
    # root. Phones 1, 4 and 6 share an unsplit root (with phone 4's frames), so that every root has statistics.
    stats = additive_stats(centres=(2, 3, 5, 4))
    roots = [TreeRoot((1, 4, 6), split=False), TreeRoot((2,)), TreeRoot((3,)), TreeRoot((5,))]

    def pdfs(tree):
        return [
            {tree.compute([left, phone, right], 0) for left in CONTEXTS for right in CONTEXTS} for phone in (2, 3, 5)
        ]

    tree, info = build_tree(stats, roots, ADDITIVE_QUESTIONS, topology(), 4 + 9, round_num_leaves=False)
    assert (info.num_split_leaves, info.num_merged, info.num_leaves) == (13, 3, 10)
    assert [len(p) for p in pdfs(tree)] == [3, 3, 3]
    assert not set.intersection(*pdfs(tree))
    # Rounding to a multiple of 8 is restricted to the roots too: 10 -> 8, still no pdf shared by two phones.
    rounded, rounded_info = build_tree(stats, roots, ADDITIVE_QUESTIONS, topology(), 4 + 9)
    assert (rounded_info.num_merged, rounded_info.num_rounded, rounded_info.num_leaves) == (3, 2, 8)
    assert sum(len(p) for p in pdfs(rounded)) == 7
    assert all(not a & b for a, b in itertools.combinations(pdfs(rounded), 2))
    # One root for phones 2 and 3: now their alike leaves merge across the phones.
    shared_roots = [TreeRoot((1, 4, 5, 6), split=False), TreeRoot((2, 3))]
    shared, shared_info = build_tree(stats, shared_roots, ADDITIVE_QUESTIONS, topology(), 2 + 3)
    assert shared_info.num_leaves == 4 and shared.compute([3, 2, 5], 0) == shared.compute([5, 3, 3], 0)
    # As Kaldi, roots without statistics still count as leaves when rounding, and when the count
    # required cannot be reached Kaldi warns and leaves the tree alone: so does blasr (info.notes).
    _, unrounded_info = build_tree(
        additive_stats(centres=(2, 3)), roots_per_phone(PHONES), ADDITIVE_QUESTIONS, topology(), 6 + 6
    )
    assert (unrounded_info.num_merged, unrounded_info.num_rounded, unrounded_info.num_leaves) == (2, 0, 10)
    assert "7 leaves with statistics required but only 6 exist" in unrounded_info.notes[0]


def test_merged_leaves_are_numbered_as_kaldi_numbers_them():
    # One root, three leaves: 0 (left 3, mean 0), 1 (left 4, mean 10), 2 (left 5, mean 0 again).
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(100, 2)) + mean for mean in (0.0, 10.0, 0.0)]
    stats = TreeStats(
        3,
        1,
        np.array([[3, 2, 0], [4, 2, 0], [5, 2, 0]], np.int32),
        np.zeros(3, np.int32),
        np.full(3, 100.0),
        np.array([a.sum(0) for a in x]),
        np.array([(a**2).sum(0) for a in x]),
    )
    tree_map = SplitEventMap(
        0, (3,), ConstantEventMap(0), SplitEventMap(0, (4,), ConstantEventMap(1), ConstantEventMap(2))
    )
    merged, removed = _merge_leaves_by_thresh(tree_map, ConstantEventMap(0), stats, 100.0, 0.01)
    # ClusterBottomUp merges point 0 into point 2; the surviving clusters (points 1, 2) take the root's
    # first leaf ids in their order: leaf 1 -> 0, leaves 0 and 2 -> 1 (ClusterEventMapGetMapping).
    assert removed == 1
    renumbered, num_leaves = _renumber_leaves(merged)
    assert num_leaves == 2
    assert map_events(renumbered, stats.phones, stats.pdf_classes).tolist() == [1, 0, 1]


def test_info_summary_mentions_the_merging():
    info = TreeBuildInfo(
        272,
        20,
        280,
        1000.0,
        500.0,
        "max_leaves",
        123.4,
        num_merged=25,
        num_split_leaves=300,
        merge_thresh=123.4,
        num_rounded=3,
    )
    assert "272 leaves" in info.summary()
    expected = "300 leaves after splitting, 25 merged (cost < 123.4), 3 merged to round to a multiple of 8"
    assert expected in info.summary()


def test_bad_roots_are_refused(stats, questions):
    topology = corpus().topology
    with pytest.raises(ValueError, match=r"phones \[6\] of the topology are in no tree root"):
        build_tree(stats, roots_per_phone(PHONES[:-1]), questions, topology, 10)
    with pytest.raises(ValueError, match="more than one tree root"):
        build_tree(stats, roots_per_phone(PHONES) + [TreeRoot((2,))], questions, topology, 10)


# -- against Kaldi's build-tree ------------------------------------------------------------------

KALDI = os.environ.get("KALDI_ROOT", "")
KALDI_BIN = Path(KALDI) / "src" / "bin"


def write_kaldi_tree_stats(stats: TreeStats, path: Path) -> None:
    """``acc-tree-stats``' output in Kaldi's text form (``WriteBuildTreeStats`` of ``GaussClusterable``s, var
    floor 0.01), events sorted as Kaldi's map sorts them; keys not recorded (context-independent phones) left out."""
    events = sorted(
        ([(-1, int(stats.pdf_classes[e]))] + [(k, int(v)) for k, v in enumerate(stats.phones[e]) if v >= 0], e)
        for e in range(stats.num_events)
    )
    lines = [f"BTS {len(events)} "]
    for event, e in events:
        lines.append(f"EV {len(event)} " + " ".join(f"{k} {v}" for k, v in event) + " ")
        lines.append(f"T GCL {float(stats.counts[e])!r} 0.01  [")
        lines.append("  " + " ".join(repr(float(x)) for x in stats.sums[e]))
        lines.append("  " + " ".join(repr(float(x)) for x in stats.sums_sq[e]) + " ]")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.skipif(
    not KALDI or not all((KALDI_BIN / t).is_file() for t in ("build-tree", "compile-questions")),
    reason="needs $KALDI_ROOT with src/bin/build-tree and compile-questions",
)
@pytest.mark.parametrize("max_leaves", [25, 40])
@pytest.mark.parametrize(
    "blasr_options, kaldi_options",
    [
        (AS_SPLIT, ["--cluster-thresh=0", "--round-num-leaves=false"]),
        ({"round_num_leaves": False}, ["--round-num-leaves=false"]),
        ({}, []),  # the defaults: merge below the smallest split, round to a multiple of 8
        ({"cluster_thresh": 300.0, "round_num_leaves": False}, ["--cluster-thresh=300", "--round-num-leaves=false"]),
    ],
)
def test_same_leaves_as_kaldi_build_tree(stats, questions, tmp_path, max_leaves, blasr_options, kaldi_options):
    """Kaldi's build-tree (``--thresh=0``, as blasr) on the same statistics, questions and roots."""
    topology_ = corpus().topology
    write_kaldi_tree_stats(stats, tmp_path / "treeacc")
    write_topology(topology_, tmp_path / "topo")
    (tmp_path / "questions.int").write_text("".join(" ".join(map(str, q)) + "\n" for q in questions.phone_questions))
    (tmp_path / "roots.txt").write_text("".join(f"shared split {p}\n" for p in PHONES))
    for command in (
        [KALDI_BIN / "compile-questions", tmp_path / "topo", tmp_path / "questions.int", tmp_path / "questions.qst"],
        [
            KALDI_BIN / "build-tree",
            "--thresh=0",
            f"--max-leaves={max_leaves}",
            *kaldi_options,
            tmp_path / "treeacc",
            tmp_path / "roots.txt",
            tmp_path / "questions.qst",
            tmp_path / "topo",
            tmp_path / "tree",
        ],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    kaldi = read_tree(tmp_path / "tree")
    tree, info = build_tree(stats, roots_per_phone(PHONES), questions, topology_, max_leaves, **blasr_options)
    assert tree.num_pdfs == info.num_leaves == kaldi.num_pdfs
    # The same leaves: the events fall into the same groups (Kaldi may number the split leaves otherwise
    # where two splits gain the same, in its single precision).
    ours = map_events(tree.to_pdf, stats.phones, stats.pdf_classes)
    theirs = map_events(kaldi.to_pdf, stats.phones, stats.pdf_classes)
    assert len(set(zip(ours.tolist(), theirs.tolist()))) == tree.num_pdfs
