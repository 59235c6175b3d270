"""Decision-tree building: statistics, phone questions, greedy splitting, Kaldi's tree format, kaldi-hmm-gmm."""

import itertools

import kaldi_hmm_gmm  # noqa: I001
import numpy as np
import pytest

from blasr.kaldi.formats.tree import (
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
    TreeRoot,
    TreeStats,
    accumulate_tree_stats,
    build_tree,
    cluster_phones,
    context_windows,
    gaussian_objf,
    leaf_statistics,
    map_events,
    roots_per_phone,
)
from tests.kaldi.gmm_corpus import PHONES, SILENCE, corpus, trained_mono


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
    tree, info = build_tree(stats, roots_per_phone(PHONES), questions, corpus().topology, num_leaves)
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
    tree, info = build_tree(stats, roots_per_phone(PHONES), questions, topology, 32000, min_count=40)
    assert info.stopped_by == "no_split" and info.num_leaves < 32000
    counts, _, _ = leaf_statistics(tree, stats)
    assert counts.min() >= 40  # no split left fewer than min_count frames on a side
    # The rule: asking for exactly that many leaves gives the same tree.
    again, info_again = build_tree(stats, roots_per_phone(PHONES), questions, topology, info.num_leaves, min_count=40)
    assert again == tree and info_again.stopped_by == "max_leaves"
    # A gain threshold stops earlier.
    _, thresholded = build_tree(stats, roots_per_phone(PHONES), questions, topology, 32000, thresh=1000.0)
    assert thresholded.stopped_by == "no_split" and thresholded.smallest_split > 1000.0


def test_tree_round_trips_through_kaldi_format_and_loads_in_kaldi_hmm_gmm(stats, questions, tmp_path):
    topology = corpus().topology
    tree, _ = build_tree(stats, roots_per_phone(PHONES), questions, topology, 25)
    for binary in (True, False):
        path = write_tree(tree, tmp_path / f"tree.{binary}", binary=binary)
        assert read_tree(path) == tree
    kaldi_tree = tree.to_kaldi_hmm_gmm()
    assert (kaldi_tree.context_width, kaldi_tree.central_position, kaldi_tree.num_pdfs) == (3, 1, 25)
    contexts = [0, *PHONES]
    for left, phone, right in itertools.product(contexts, PHONES, contexts):
        for pdf_class in range(topology.num_pdf_classes(phone)):
            ok, pdf = kaldi_tree.compute([left, phone, right], pdf_class)
            assert ok and pdf == tree.compute([left, phone, right], pdf_class)
    assert ContextDependency.from_kaldi_hmm_gmm(kaldi_tree) == tree
    # kaldi-hmm-gmm builds a transition model on it (Kaldi's gmm-init-model does the same).
    model = kaldi_hmm_gmm.TransitionModel(ctx_dep=kaldi_tree, hmm_topo=topology.to_kaldi_hmm_gmm())
    assert model.num_pdfs == 25


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
    tree, info = build_tree(stats, roots, questions, topology, 22)
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


def test_clustering_merges_leaves_within_roots(stats, questions):
    topology = corpus().topology
    tree, info = build_tree(stats, roots_per_phone(PHONES), questions, topology, 40, cluster_thresh=-1)
    plain, _ = build_tree(stats, roots_per_phone(PHONES), questions, topology, 40)
    assert info.num_leaves == tree.num_pdfs == 40 - info.num_merged
    assert sorted(set(iter_answers(tree.to_pdf))) == list(range(tree.num_pdfs))
    # Merging never joins leaves of different phones.
    for phone_a, phone_b in itertools.combinations(PHONES, 2):
        assert tree.compute([0, phone_a, 0], 0) != tree.compute([0, phone_b, 0], 0)
    huge, huge_info = build_tree(stats, roots_per_phone(PHONES), questions, topology, 40, cluster_thresh=1e12)
    assert huge.num_pdfs == 6 and huge_info.num_merged == 34 and plain.num_pdfs == 40


def test_bad_roots_are_refused(stats, questions):
    topology = corpus().topology
    with pytest.raises(ValueError, match=r"phones \[6\] of the topology are in no tree root"):
        build_tree(stats, roots_per_phone(PHONES[:-1]), questions, topology, 10)
    with pytest.raises(ValueError, match="more than one tree root"):
        build_tree(stats, roots_per_phone(PHONES) + [TreeRoot((2,))], questions, topology, 10)
