"""Forced alignment: training graphs, GMM and score-matrix alignment, failures, phone segments, class counts."""

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst)
import numpy as np
import pytest

from blasr.kaldi.gmm.align import (
    AlignOptions,
    TrainingGraphCompiler,
    align_with_gmm,
    align_with_log_likelihoods,
    boost_silence,
    class_counts,
    equal_align,
    lexicon_fst,
    phone_segments,
    read_class_counts,
    write_class_counts,
)
from blasr.kaldi.gmm.estimate import log_likelihoods
from blasr.kaldi.formats.io import KaldiFormatError
from blasr.kaldi.formats.model import ali_to_phones
from tests.kaldi.gmm_corpus import LEXICON, SILENCE, corpus, phone_accuracy, trained_mono


@pytest.fixture(scope="module")
def mono():
    result, final = trained_mono()
    return result.system, final


def true_phone_sequence(frame_phones: np.ndarray, frame_states: np.ndarray) -> list[int]:
    starts = np.flatnonzero((np.r_[-1, frame_states[:-1]] > frame_states) | (np.r_[True, np.diff(frame_phones) != 0]))
    return frame_phones[starts].tolist()


def test_alignment_has_one_transition_id_per_frame_and_finds_the_phones(mono):
    system, final = mono
    data = corpus()
    assert not final.failed and not final.retried
    assert set(final.alignments) == set(data.features)
    for utt, alignment in final.alignments.items():
        assert alignment.dtype == np.int32 and len(alignment) == len(data.features[utt])
        assert 1 <= alignment.min() and alignment.max() <= system.transition_model.num_transition_ids
    assert phone_accuracy(system.transition_model, final.alignments, data) >= 0.95
    pdfs = final.pdf_alignments(system.transition_model)
    assert all(len(pdfs[u]) == len(data.features[u]) for u in pdfs)


def test_log_likelihood_matrix_gives_the_gmm_alignment(mono):
    system, final = mono
    data = corpus()
    compiler = system.graph_compiler()
    subset = dict(list(data.phones.items())[:15])
    scores = {utt: log_likelihoods(system.acoustic_model, data.features[utt]) for utt in subset}
    from_gmm = align_with_gmm(compiler, subset, data.features, system.acoustic_model)
    from_matrix = align_with_log_likelihoods(compiler, subset, scores)
    assert set(from_matrix.alignments) == set(subset)
    for utt in subset:
        np.testing.assert_array_equal(from_matrix.alignments[utt], from_gmm.alignments[utt])
        assert from_matrix.log_likelihoods[utt] == pytest.approx(from_gmm.log_likelihoods[utt], rel=1e-4)
    # A callable works too (a network scoring on demand).
    lazy = align_with_log_likelihoods(compiler, subset, scores.__getitem__)
    assert all(np.array_equal(lazy.alignments[u], from_gmm.alignments[u]) for u in subset)


def test_word_transcripts_with_optional_silence(mono):
    system, _ = mono
    data = corpus()
    lexicon = lexicon_fst(LEXICON, silence_phone=SILENCE, silence_prob=0.5)
    compiler = system.graph_compiler(lexicon)
    result = align_with_gmm(compiler, data.words, data.features, system.acoustic_model)
    assert not result.failed
    # The aligner decides where the optional silences are; they must be the true ones.
    for utt, alignment in result.alignments.items():
        phones, _ = phone_segments(system.transition_model, alignment)
        assert phones.tolist() == data.phones[utt], utt
    assert phone_accuracy(system.transition_model, result.alignments, data) >= 0.95


def test_lexicon_fst_refuses_missing_pronunciations():
    with pytest.raises(ValueError, match="word 3 has no pronunciation"):
        lexicon_fst({3: []})
    with pytest.raises(ValueError, match="word 3 has an empty pronunciation"):
        lexicon_fst({3: [[2, 4], []]})
    with pytest.raises(ValueError, match="sil_prob must be in"):
        lexicon_fst({3: [[2, 4]]}, silence_phone=1, silence_prob=1.0)
    plain = lexicon_fst({3: [[2, 4]], 5: [[6]]}, silence_phone=1, silence_prob=0.0)  # words follow each other
    # one loop state, final: word 3 = phones 2 4 (the word on the first arc), word 5 = phone 6
    assert [line.split() for line in str(plain).splitlines()] == [
        ["0", "1", "2", "3"], ["0", "0", "6", "5"], ["0"], ["1", "0", "4", "0"]]


def test_failures_are_retried_counted_and_reported(mono):
    system, _ = mono
    data = corpus()
    compiler = system.graph_compiler()
    utt = "utt000"
    transcripts = {
        utt: data.phones[utt],
        "too-short": data.phones[utt],  # 5 frames for a dozen phones: no path at any beam
        "no-features": [2, 3],
    }
    features = {utt: data.features[utt], "too-short": data.features[utt][:5]}
    result = align_with_gmm(compiler, transcripts, features, system.acoustic_model)
    assert list(result.alignments) == [utt]
    assert set(result.failed) == {"too-short", "no-features"}
    assert "retry beam 40" in result.failed["too-short"] and result.failed["no-features"] == "no features"
    assert "too-short" in result.retried
    assert "aligned 1 of 3 utterances" in result.summary() and "2 failed" in result.summary()
    # Scores that favour staying in the first state of 45: with a narrow beam only the tokens
    # near the start survive (Kaldi's decoder keeps its 20 best) and none reaches the end in
    # time; the retry beam keeps the paths that move on.
    model = system.transition_model
    first_state = model.pdf[1:][(model.phone[1:] == 2) & (model.hmm_state[1:] == 0)][0]
    scores = np.full((60, model.num_pdfs), -100.0)
    scores[:, first_state] = 0.0
    transcript = {"u": [2] + [3, 4, 5, 6] * 3 + [3, 4]}  # phone 2 only at the start
    narrow = align_with_log_likelihoods(compiler, transcript, {"u": scores}, AlignOptions(beam=1.0, retry_beam=1000))
    assert narrow.retried == ["u"] and len(narrow.alignments["u"]) == 60
    assert model.hmm_state[narrow.alignments["u"]].tolist()[:16] == [0] * 16  # it stays as long as it can
    no_retry = align_with_log_likelihoods(compiler, transcript, {"u": scores}, AlignOptions(beam=1.0, retry_beam=0))
    assert list(no_retry.failed) == ["u"] and no_retry.retried == []


def test_bad_input_is_refused_before_kaldi(mono):
    system, _ = mono
    compiler = system.graph_compiler()
    with pytest.raises(ValueError, match="utterance 'x'.*not in the lexicon"):
        compiler.compile([2, 99], "x")
    with pytest.raises(ValueError, match="retry_beam"):
        align_with_gmm(compiler, {}, {}, system.acoustic_model, AlignOptions(beam=10, retry_beam=5))
    with pytest.raises(ValueError, match="dimension"):
        align_with_gmm(compiler, {"u": [2]}, {"u": np.zeros((20, 3))}, system.acoustic_model)
    scores = np.zeros((20, system.num_pdfs))
    with pytest.raises(ValueError, match="utterance 'u': 19 log-likelihood columns"):
        align_with_log_likelihoods(compiler, {"u": [2]}, {"u": scores[:, :19]})
    scores[3, :] = np.nan
    with pytest.raises(ValueError, match="utterance 'u'.*NaN"):
        align_with_log_likelihoods(compiler, {"u": [2]}, {"u": scores})


def test_equal_alignment(mono):
    system, _ = mono
    data = corpus()
    compiler = system.graph_compiler()
    lengths = {utt: len(f) for utt, f in data.features.items()}
    lengths["utt001"] = 4
    result = equal_align(compiler, data.phones, lengths)
    assert list(result.failed) == ["utt001"]
    for utt, alignment in result.alignments.items():
        assert len(alignment) == lengths[utt]
        phones, _ = phone_segments(system.transition_model, alignment)
        assert phones.tolist() == data.phones[utt]
        # The frames are spread evenly: every HMM-state visit (a non-self-loop frame and the
        # self-loops after it) lasts the same number of frames, give or take one.
        visits = np.flatnonzero(~system.transition_model.is_self_loop[alignment])
        durations = np.diff(np.r_[visits, len(alignment)])
        assert durations.max() - durations.min() <= 1, utt


def test_phone_segments_match_the_truth(mono):
    system, final = mono
    data = corpus()
    for utt, alignment in list(final.alignments.items())[:20]:
        phones, starts = phone_segments(system.transition_model, alignment)
        assert phones.tolist() == data.phones[utt]
        # Boundaries: every frame inside a segment has that segment's phone.
        per_frame = np.repeat(phones, np.diff(np.r_[starts, len(alignment)]))
        np.testing.assert_array_equal(per_frame, ali_to_phones(system.transition_model, alignment))


def test_phone_segments_without_reordering(mono):
    system, _ = mono
    model = system.transition_model

    # Build a non-reordered alignment by hand: per state, self-loops then the forward transition.
    def tid(phone, hmm_state, self_loop):
        ids = np.flatnonzero(
            (model.phone == phone) & (model.hmm_state == hmm_state) & (model.is_self_loop == self_loop)
        )
        if not self_loop:
            ids = [i for i in ids if model.is_final[i] == (hmm_state == 2)] if phone != SILENCE else ids
        return int(ids[0])

    alignment = []
    for phone in (2, 3, 3, 4):
        for state in range(3):
            alignment += [tid(phone, state, True)] * 2 + [tid(phone, state, False)]
    phones, starts = phone_segments(model, np.array(alignment), reorder=False)
    assert phones.tolist() == [2, 3, 3, 4] and starts.tolist() == [0, 9, 18, 27]


def test_boost_silence_raises_silence_likelihoods_only(mono):
    system, _ = mono
    model = system.transition_model
    boosted = boost_silence(model, system.acoustic_model, [SILENCE], 2.0)
    frames = corpus().features["utt000"]
    before, after = log_likelihoods(system.acoustic_model, frames), log_likelihoods(boosted, frames)
    silence_pdfs = np.unique(model.pdf[1:][model.phone[1:] == SILENCE])
    other = np.setdiff1d(np.arange(model.num_pdfs), silence_pdfs)
    np.testing.assert_allclose(after[:, silence_pdfs] - before[:, silence_pdfs], np.log(2.0), atol=1e-4)
    np.testing.assert_allclose(after[:, other], before[:, other], atol=1e-6)


def test_class_counts_follow_analyze_counts(tmp_path):
    alignments = {"a": np.array([0, 0, 2, 2, 2]), "b": np.array([3, 0])}
    counts = class_counts(alignments, num_pdfs=5)
    np.testing.assert_array_equal(counts, [3.5, 0.5, 3.5, 1.5, 0.5])  # frames + 0.5, as analyze-counts writes
    path = write_class_counts(counts, tmp_path / "ali_train_pdf.counts")
    assert path.read_bytes() == b" [ 3.5 0.5 3.5 1.5 0.5 ]\n"
    np.testing.assert_array_equal(read_class_counts(path), counts)
    binary = write_class_counts(counts, tmp_path / "counts.bin", binary=True)
    assert binary.read_bytes()[:5] == b"\0BDV "
    np.testing.assert_array_equal(read_class_counts(binary), counts)
    # Large counts in Kaldi's text (7 significant digits, as analyze-counts prints them).
    (tmp_path / "kaldi.counts").write_bytes(b" [ 2.170542e+07 0.5 1234567 ]\n")
    np.testing.assert_allclose(read_class_counts(tmp_path / "kaldi.counts"), [21705420, 0.5, 1234567])
    with pytest.raises(ValueError, match="pdf-id outside"):
        class_counts([np.array([5])], num_pdfs=5)
    (tmp_path / "bad.counts").write_bytes(b" [ 1 2 ]\n [ 3 ]\n")
    with pytest.raises(KaldiFormatError, match="unexpected data"):
        read_class_counts(tmp_path / "bad.counts")


def test_graph_compiler_checks_the_tree_matches_the_model(mono):
    system, _ = mono
    from blasr.kaldi.formats.tree import ConstantEventMap, ContextDependency

    with pytest.raises(ValueError, match="pdfs"):
        TrainingGraphCompiler.for_phones(system.transition_model, ContextDependency(1, 0, ConstantEventMap(0)))
