"""GMM-HMM training: monophones from a flat start, triphones on a built tree, statistics checked against kaldi-hmm-gmm."""

import functools

import kaldi_hmm_gmm  # noqa: I001
import numpy as np
import pytest

from blasr.kaldi.formats.experiment import load_kaldi_experiment
from blasr.kaldi.formats.gmm import AmDiagGmm
from blasr.kaldi.formats.model import ali_to_phones
from blasr.kaldi.gmm.align import read_class_counts
from blasr.kaldi.gmm.estimate import (
    MleOptions,
    accumulate_gmm_stats,
    mix_up,
    split_targets,
    update_gmms,
    update_transitions,
)
from blasr.kaldi.gmm.train import (
    GmmSystem,
    MonoOptions,
    TriOptions,
    align_corpus,
    convert_alignments,
    train_tri,
    with_iterations,
    write_alignment_dir,
)
from blasr.utils import jobs
from tests.kaldi.gmm_corpus import SILENCE, corpus, phone_accuracy, trained_mono, true_alignments

NUM_LEAVES = 32  # at most: 24 after Kaldi's merging and rounding, more than the corpus's 20 distinct states


@functools.lru_cache(maxsize=None)
def trained_tri():
    mono, final = trained_mono()
    data = corpus()
    options = TriOptions(num_leaves=NUM_LEAVES, total_gauss=80, num_iters=8, max_iter_inc=5, realign_iters=(3, 6))
    result = train_tri(
        mono.system, final.alignments, data.topology, data.phones, data.features, options, silence_phones=[SILENCE]
    )
    return result, align_corpus(result.system, data.phones, data.features)


def test_mono_converges_and_recovers_the_segmentation():
    mono, final = trained_mono()
    data = corpus()
    likes = mono.log_likelihoods
    assert len(likes) == 12
    # EM with realignment and mixing up: the log-likelihood per frame rises pass after pass.
    assert all(b > a - 1e-3 for a, b in zip(likes, likes[1:])), likes
    assert likes[-1] > likes[0] + 5.0
    assert mono.num_gauss[0] == mono.system.num_pdfs and 50 <= mono.num_gauss[-1] <= 60
    # Realignment finds the phones. (Inside a phone, a flat start can settle with one state
    # covering two true states, a local optimum of Viterbi training; see the test from the
    # true alignment below for the state level.)
    assert phone_accuracy(mono.system.transition_model, final.alignments, data) >= 0.95
    assert any("mono pass 1: aligned 80 of 80" in line for line in mono.reports)


def test_tri_has_at_most_the_requested_leaves_and_aligns_better():
    mono, mono_final = trained_mono()
    tri, final = trained_tri()
    data = corpus()
    system = tri.system
    # NUM_LEAVES is the maximum: Kaldi's build-tree merges leaves back after splitting and rounds to a multiple of 8.
    info = tri.tree_info
    assert info.num_split_leaves == NUM_LEAVES and info.stopped_by == "max_leaves"
    assert system.num_pdfs == system.tree.num_pdfs == system.acoustic_model.num_pdfs == info.num_leaves
    assert info.num_leaves == NUM_LEAVES - info.num_merged - info.num_rounded == 24 and info.num_merged > 0
    assert (system.tree.context_width, system.tree.central_position) == (3, 1)
    assert not final.failed
    for utt, alignment in final.alignments.items():
        assert len(alignment) == len(data.features[utt])
    pdfs = final.pdf_alignments(system.transition_model)
    assert all(p.min() >= 0 and p.max() < system.num_pdfs for p in pdfs.values())
    assert phone_accuracy(system.transition_model, final.alignments, data) >= 0.95
    assert all(b > a - 1e-3 for a, b in zip(tri.log_likelihoods, tri.log_likelihoods[1:])), tri.log_likelihoods
    assert 70 <= tri.num_gauss[-1] <= 80


def test_realignment_keeps_the_true_state_segmentation():
    mono, _ = trained_mono()
    data = corpus()
    truth = true_alignments(mono.system.transition_model, data)
    options = TriOptions(num_leaves=NUM_LEAVES, total_gauss=80, num_iters=8, max_iter_inc=5, realign_iters=(3, 6))
    tri = train_tri(mono.system, truth, data.topology, data.phones, data.features, options, silence_phones=[SILENCE])
    final = align_corpus(tri.system, data.phones, data.features)
    model = tri.system.transition_model
    states = np.concatenate([model.hmm_state[a] == data.frame_states[u] for u, a in final.alignments.items()])
    assert states.mean() >= 0.99 and phone_accuracy(model, final.alignments, data) >= 0.99
    # From the right segmentation the context-dependent system fits better than the flat-start monophones.
    assert tri.log_likelihoods[-1] > mono.log_likelihoods[-1]


def test_alignment_dir_round_trips_through_the_kaldi_importer(tmp_path):
    tri, final = trained_tri()
    system = tri.system
    directory = write_alignment_dir(tmp_path / "tri_ali", system, final.alignments)
    experiment = load_kaldi_experiment(directory, keep_transition_ids=True)
    assert experiment.num_pdfs == system.num_pdfs and experiment.tree == system.tree
    pdfs = final.pdf_alignments(system.transition_model)
    assert set(experiment.pdf_alignments) == set(pdfs)
    for utt, alignment in pdfs.items():
        np.testing.assert_array_equal(experiment.pdf_alignments[utt], alignment)
        np.testing.assert_array_equal(experiment.transition_alignments[utt], final.alignments[utt])
    counts = read_class_counts(directory / "ali_train_pdf.counts")
    np.testing.assert_allclose(counts, experiment.pdf_counts() + 0.5)
    loaded = GmmSystem.load(directory)
    assert loaded.tree == system.tree
    np.testing.assert_array_equal(loaded.transition_model.log_probs, system.transition_model.log_probs)
    for a, b in zip(loaded.acoustic_model.pdfs, system.acoustic_model.pdfs):
        np.testing.assert_array_equal(a.means_invvars, b.means_invvars)


def test_convert_alignments_keeps_the_state_paths():
    mono, final = trained_mono()
    tri, _ = trained_tri()
    old, new = mono.system.transition_model, tri.system.transition_model
    same = convert_alignments(old, old, mono.system.tree, final.alignments)
    assert all(np.array_equal(same[u], final.alignments[u]) for u in final.alignments)
    converted = convert_alignments(old, new, tri.system.tree, final.alignments)
    for utt, alignment in converted.items():
        original = final.alignments[utt]
        np.testing.assert_array_equal(ali_to_phones(new, alignment), ali_to_phones(old, original))
        np.testing.assert_array_equal(new.hmm_state[alignment], old.hmm_state[original])
        np.testing.assert_array_equal(new.is_self_loop[alignment], old.is_self_loop[original])
    # The pdf of a frame is the tree's answer for its phone in context.
    utt = "utt000"
    from blasr.kaldi.gmm.align import phone_segments

    phones, starts = phone_segments(old, final.alignments[utt])
    padded = [0, *phones.tolist(), 0]
    for i, start in enumerate(starts.tolist()):
        tid = converted[utt][start]
        window = padded[i : i + 3]
        assert new.pdf[tid] == tri.system.tree.compute(window, int(new.hmm_state[tid]))


@pytest.fixture(scope="module")
def statistics():
    """Statistics of 20 utterances under the monophones: ours, and kaldi-hmm-gmm's from its per-frame loop."""
    mono, final = trained_mono()
    system = mono.system
    features = corpus().features
    subset = dict(list(final.alignments.items())[:20])
    ours = accumulate_gmm_stats(system.transition_model, system.acoustic_model, subset, features)
    kaldi_model, kaldi_am = system.transition_model.to_kaldi_hmm_gmm(), system.acoustic_model.to_kaldi_hmm_gmm()
    accs = kaldi_hmm_gmm.AccumAmDiagGmm()
    accs.init(model=kaldi_am, flags=int(kaldi_hmm_gmm.GmmUpdateFlags.kGmmAll))
    transitions = kaldi_model.init_stats()
    total = 0.0
    for utt, alignment in subset.items():  # gmm-acc-stats-ali
        for frame, tid in zip(features[utt], alignment.tolist()):
            transitions = kaldi_model.accumulate(1.0, tid, transitions)
            pdf = int(system.transition_model.pdf[tid])
            total += accs.accumulate_for_gmm(model=kaldi_am, data=frame, gmm_index=pdf, weight=1.0)
    return system, subset, ours, (accs, np.array(transitions).ravel(), total)


def test_statistics_equal_kaldi_hmm_gmm_accumulation(statistics):
    _, subset, ours, (accs, transitions, total) = statistics
    occupancy = np.concatenate([np.array(accs.get_acc(j).occupancy) for j in range(accs.num_accs)])
    means = np.concatenate([np.array(accs.get_acc(j).mean_accumulator) for j in range(accs.num_accs)])
    variances = np.concatenate([np.array(accs.get_acc(j).variance_accumulator) for j in range(accs.num_accs)])
    np.testing.assert_allclose(ours.occupancy, occupancy, atol=1e-2)
    np.testing.assert_allclose(ours.mean_acc, means, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(ours.var_acc, variances, rtol=1e-4, atol=1e-1)
    np.testing.assert_array_equal(ours.transition_counts, transitions)
    assert ours.log_likelihood == pytest.approx(total, rel=1e-6)
    assert ours.num_frames == sum(len(a) for a in subset.values())
    # Chunks of any size give the same statistics, and statistics add (gmm-sum-accs).
    system = statistics[0]
    halves = [dict(list(subset.items())[:7]), dict(list(subset.items())[7:])]
    parts = [
        accumulate_gmm_stats(system.transition_model, system.acoustic_model, h, corpus().features, 250) for h in halves
    ]
    summed = parts[0].add(parts[1])
    np.testing.assert_allclose(summed.mean_acc, ours.mean_acc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(summed.occupancy, ours.occupancy, rtol=1e-5, atol=1e-6)
    assert summed.num_frames == ours.num_frames


def test_updates_equal_kaldi_hmm_gmm(statistics):
    system, _, stats, (accs, transitions, _) = statistics
    # Gaussians under the minimum occupancy are removed (never a pdf's last one); none sits at the threshold.
    threshold = 10.0
    assert (np.abs(stats.occupancy - threshold) > 0.05).all()
    ours, report = update_gmms(system.acoustic_model, stats, MleOptions(min_gaussian_occupancy=threshold))
    kaldi_am = system.acoustic_model.to_kaldi_hmm_gmm()
    change, count = kaldi_hmm_gmm.mle_am_diag_gmm_update(
        config=kaldi_hmm_gmm.MleDiagGmmOptions(min_gaussian_occupancy=threshold),
        amdiag_gmm_acc=accs,
        flags=int(kaldi_hmm_gmm.GmmUpdateFlags.kGmmAll),
        am_gmm=kaldi_am,
    )
    theirs = AmDiagGmm.from_kaldi_hmm_gmm(kaldi_am)
    assert report.removed_gaussians > 0
    assert [g.num_gauss for g in ours.pdfs] == [g.num_gauss for g in theirs.pdfs]
    assert report.objf_change_per_frame == pytest.approx(change / count, rel=1e-3)
    for a, b in zip(ours.pdfs, theirs.pdfs):
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(a.means, b.means, rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(a.variances, b.variances, rtol=1e-3)
    # Transitions (TransitionModel::MleUpdate).
    kaldi_model = system.transition_model.to_kaldi_hmm_gmm()
    new_model, gain = update_transitions(system.transition_model, stats.transition_counts)
    kaldi_gain, kaldi_count = kaldi_model.mle_update(transitions, kaldi_hmm_gmm.MleTransitionUpdateConfig())
    np.testing.assert_allclose(new_model.log_probs, np.array(kaldi_model.log_probs).ravel(), atol=1e-6)
    assert gain == pytest.approx(kaldi_gain / kaldi_count, abs=1e-6)


def test_mixing_up_shares_gaussians_as_kaldi(statistics):
    system, _, stats, _ = statistics
    # Kaldi takes float32 occupancies: give ours the same values, or an occupancy a hair above a min_count
    # boundary in float64 (80.00000008 = 4 x 20 on one machine) splits in ours and not in Kaldi's
    occupancy = stats.pdf_occupancy.astype(np.float32).astype(np.float64)
    target = system.acoustic_model.num_gauss + 40
    kaldi_am = system.acoustic_model.to_kaldi_hmm_gmm()
    kaldi_am.split_by_count(
        state_occs=occupancy.astype(np.float32),
        target_components=target,
        perturb_factor=0.01,
        power=0.25,
        min_count=20.0,
    )
    mixed = mix_up(system.acoustic_model, occupancy, target, power=0.25, min_count=20.0, rng=np.random.default_rng(1))
    ours = np.array([g.num_gauss for g in mixed.pdfs])
    theirs = np.array([kaldi_am.num_gauss_in_pdf(j) for j in range(system.num_pdfs)])
    assert ours.sum() == theirs.sum()
    # Pdfs with equal occupancy may trade a Gaussian (Kaldi's priority queue breaks ties its own way).
    unique = np.array([(occupancy == o).sum() == 1 for o in occupancy])
    np.testing.assert_array_equal(ours[unique], theirs[unique])
    targets = split_targets(occupancy, target, 0.25, 20.0)
    assert np.maximum(targets, [g.num_gauss for g in system.acoustic_model.pdfs]).sum() == ours.sum()
    # A pdf with little data is not split below min_count frames per Gaussian.
    assert (split_targets(np.array([30.0, 1000.0]), 10, 1.0, 20.0) == [1, 9]).all()
    # Splitting keeps the weights summing to one and perturbs the means symmetrically.
    gmm = mixed.pdfs[int(np.argmax(occupancy))]
    assert gmm.weights.sum() == pytest.approx(1.0, abs=1e-5)


def test_with_iterations_shortens_the_schedule():
    mono = with_iterations(MonoOptions(total_gauss=400), 25)
    assert (mono.num_iters, mono.max_iter_inc, mono.total_gauss) == (25, 20, 400)
    assert list(mono.realign_iters) == [i for i in MonoOptions.realign_iters if i < 25]
    tri = with_iterations(TriOptions(), 12)
    assert (tri.num_iters, tri.max_iter_inc, list(tri.realign_iters)) == (12, 7, [10])
    assert with_iterations(TriOptions(), 3).max_iter_inc == 1
    default = with_iterations(MonoOptions(), MonoOptions.num_iters)
    assert default == MonoOptions(realign_iters=list(MonoOptions.realign_iters))  # the defaults are Kaldi's schedule


def test_alignment_and_accumulation_count_every_utterance_towards_a_total(monkeypatch):
    """A training pass's long loops report progress (a bar or log lines): one item per utterance, total known."""
    seen = []

    def recorded(items, total=None, desc=""):
        seen.append([desc, total, 0])
        for item in items:
            seen[-1][2] += 1
            yield item

    mono, _ = trained_mono()
    data = corpus()
    phones = dict(list(data.phones.items())[:6])
    monkeypatch.setattr(jobs, "progress_bar", recorded)
    aligned = align_corpus(mono.system, phones, data.features)
    accumulate_gmm_stats(mono.system.transition_model, mono.system.acoustic_model, aligned.alignments, data.features)
    assert seen == [["align", 6, 6], ["accumulate", len(aligned.alignments), len(aligned.alignments)]]
