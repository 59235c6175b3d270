"""The GMM recipe's corpus glue: GMM features from stored log-mel, lazy feature mapping, transcripts, passes in jobs."""

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst: the other order deadlocks at import)
import kaldi_native_fbank as knf
import json
import sys
from functools import partial
import numpy as np
import pytest
import torch
from lhotse import CutSet

from blasr.data import cuts_from_audio_files
from blasr.features import FbankConfig, compute_features, logmel
from blasr.features.extract import load_static
from blasr.kaldi.formats.io import read_int_vectors
from blasr.kaldi.formats.model import read_model
from blasr.kaldi.gmm.align import AlignmentResult, AlignOptions
from blasr.kaldi.gmm.estimate import GmmStats
from blasr.kaldi.gmm.recipe import (
    STATS_FIELDS,
    CutFeatures,
    GmmFeatureOptions,
    GmmRecipeOptions,
    JobPasses,
    cut_transcripts,
    dct_matrix,
    gmm_features,
    lifter_coefficients,
    load_stats,
    save_stats,
    train_gmm_system,
)
from blasr.kaldi.gmm.train import GmmSystem, LocalPasses, MonoOptions, TriOptions, with_iterations
from blasr.kaldi.lang.lang_dir import load_lang
from blasr.kaldi.lang.prepare import prepare_lang
from tests.data.test_perturb import tone_corpus, tone_lang
from tests.features.synthetic import tones_and_noise, write_wav


def test_cepstra_of_the_stored_log_mel_are_kaldis_mfcc():
    samples = (np.random.default_rng(0).standard_normal(8000) * 0.1).astype(np.float32)
    options = knf.MfccOptions()
    options.frame_opts.dither = 0.0
    options.frame_opts.samp_freq = 16000
    options.mel_opts.num_bins = 64
    options.mel_opts.low_freq = 20.0
    options.num_ceps = 13
    options.use_energy = False
    mfcc = knf.OnlineMfcc(options)
    mfcc.accept_waveform(16000, (samples * 32768).tolist())
    mfcc.input_finished()
    expected = np.array([mfcc.get_frame(i) for i in range(mfcc.num_frames_ready)])
    # (T, 64) @ (64, 13) -> (T, 13), then liftering: compute-mfcc-feats from the same filterbank
    ours = logmel(samples, 16000) @ dct_matrix(13, 64).T * lifter_coefficients(13, 22.0)
    assert ours.shape == expected.shape == (48, 13)  # 1 + (8000 - 400) // 160 frames, snip_edges
    np.testing.assert_allclose(ours, expected, atol=1e-3)


def test_dct_is_orthonormal_and_lifter_is_kaldis():
    square = dct_matrix(64, 64)
    np.testing.assert_allclose(square @ square.T, np.eye(64), atol=1e-12)
    lifter = lifter_coefficients(13, 22.0)
    assert lifter[0] == 1.0 and lifter[11] == pytest.approx(1 + 11 * np.sin(np.pi / 2))


def test_gmm_features_layout_and_normalisation():
    static = np.random.default_rng(1).normal(5.0, 2.0, size=(40, 64))
    features = gmm_features(static)
    assert features.shape == (40, 39) and features.dtype == np.float32  # 13 cepstra + delta + delta-delta
    np.testing.assert_allclose(features[:, :13].mean(axis=0), 0.0, atol=1e-4)  # per-utterance mean removed
    assert features[:, :13].std(axis=0).max() > 1.5  # variances kept (norm_vars false, Kaldi's GMM default)
    fbank = gmm_features(static, GmmFeatureOptions(kind="fbank", norm_vars=True))
    assert fbank.shape == (40, 192)
    np.testing.assert_allclose(fbank[:, :64].std(axis=0), 1.0, atol=1e-3)
    assert GmmFeatureOptions().dim(64) == 39 and GmmFeatureOptions(kind="fbank").dim(64) == 192
    with pytest.raises(ValueError, match="mfcc"):
        GmmFeatureOptions(kind="plp")


def test_cut_features_and_transcripts(tmp_path):
    rng = torch.Generator().manual_seed(2)
    paths = [write_wav(tmp_path / f"u{i}.wav", tones_and_noise(4000 + 800 * i, 16000, rng), 16000) for i in range(3)]
    cuts, _ = cuts_from_audio_files(paths, sample_rate=16000)
    texts = {"u0": "one two", "u1": "two", "u2": "three"}  # "three" is not in the lexicon
    cuts = CutSet.from_cuts(cut.map_supervisions(partial(_with_text, texts=texts)) for cut in cuts)
    manifest, _ = compute_features(cuts, tmp_path / "fbank", FbankConfig(), progress=False)
    features = CutFeatures(manifest, cache=True)
    assert sorted(features) == ["u0", "u1", "u2"] and len(features) == 3
    for utterance in features:
        expected = gmm_features(load_static(features.cuts[utterance]))
        np.testing.assert_array_equal(features[utterance], expected)
        assert features.num_frames(utterance) == len(expected)
    assert features["u0"] is features["u0"]  # cached

    lang = prepare_lang([("one", ["w", "ah", "n"]), ("two", ["t", "uw"])], tmp_path / "lang",
                        silence_phones=["sil"], optional_silence="sil", word_loop=True)
    transcripts, report = cut_transcripts(manifest, lang)
    assert transcripts == {"u0": [lang.words.id("one"), lang.words.id("two")], "u1": [lang.words.id("two")]}
    assert report.kept == 2 and report.skipped[0][0] == "u2" and "three" in report.skipped[0][1]


def _with_text(supervision, texts):
    from dataclasses import replace

    return replace(supervision, text=texts[supervision.recording_id])


# -- training passes in jobs: nj=2 (in-process pool or a launcher) equals one process -----------------------------


@pytest.fixture(scope="module")
def tone_data(tmp_path_factory):
    """A 3-word tone corpus (tests/data/test_perturb.py's), its lang and 64-bin features."""
    root = tmp_path_factory.mktemp("tones")
    tone_lang(root)
    cuts, _ = compute_features(tone_corpus(root / "audio", 20, 0), root / "fbank", FbankConfig(), progress=False)
    return cuts, root / "lang"


def _train(tone_data, exp, **jobs):
    cuts, lang = tone_data
    options = GmmRecipeOptions(mono_utterances=20, mono=with_iterations(MonoOptions(total_gauss=40), 8),
                               tri=with_iterations(TriOptions(num_leaves=16, total_gauss=60), 8), **jobs)
    return train_gmm_system(cuts, lang, exp, options)


@pytest.fixture(scope="module")
def one_process(tone_data, tmp_path_factory):
    exp = tmp_path_factory.mktemp("nj1")
    _train(tone_data, exp)
    return exp


def _assert_same_system(exp, reference):
    for stage in ("mono", "tri"):
        (transitions, gmms), (ref_transitions, ref_gmms) = (read_model(d / stage / "final.mdl")
                                                            for d in (exp, reference))
        # float tolerance: the jobs' sums group the float32 products differently, and EM carries that on
        np.testing.assert_allclose(transitions.log_probs, ref_transitions.log_probs, rtol=1e-4, atol=1e-4)
        assert [g.num_gauss for g in gmms.pdfs] == [g.num_gauss for g in ref_gmms.pdfs]
        for gmm, ref in zip(gmms.pdfs, ref_gmms.pdfs):
            np.testing.assert_allclose(gmm.weights, ref.weights, rtol=1e-3, atol=1e-5)
            np.testing.assert_allclose(gmm.means, ref.means, rtol=2e-3, atol=2e-3)
            np.testing.assert_allclose(gmm.variances, ref.variances, rtol=2e-3, atol=2e-3)
    alignments, reference_alignments = (read_int_vectors(d / "tri_ali" / "ali.1.gz") for d in (exp, reference))
    assert list(alignments) == list(reference_alignments)  # the same utterances, in the same order
    for utterance, alignment in alignments.items():
        np.testing.assert_array_equal(alignment, reference_alignments[utterance])


def test_training_in_two_jobs_equals_one_process(tone_data, one_process, tmp_path):
    summary = _train(tone_data, tmp_path, num_jobs=2)
    _assert_same_system(tmp_path, one_process)
    reference = json.loads((one_process / "summary.json").read_text())
    assert summary["num_jobs"] == 2 and summary["tri_align"] == reference["tri_align"]
    assert summary["tri"]["log_likelihood"] == pytest.approx(reference["tri"]["log_likelihood"], rel=1e-6)
    # Kaldi's exp/tri/log/acc.ITER.JOB.log and exp/tri_ali/log/align.JOB.log; statistics and models removed
    logs = {p.name for p in (tmp_path / "tri" / "log").iterdir()}
    assert {f"acc.{i}.{j}.log" for i in range(1, 7) for j in (1, 2)} <= logs
    assert {p.name for p in (tmp_path / "tri_ali" / "log").iterdir()} == {"align.1.log", "align.2.log"}
    assert not list(tmp_path.glob("*/*.acc.npz")) and not list(tmp_path.glob("*/[0-9]*.mdl"))


def test_a_pass_through_a_launcher_equals_one_process(tone_data, one_process, tmp_path):
    cuts, lang = tone_data
    features = CutFeatures(cuts)
    transcripts, _ = cut_transcripts(features.cuts.values(), load_lang(lang))
    system = GmmSystem.load(one_process / "tri")
    local = LocalPasses(features, load_lang(lang).read_fst("L.fst"), list(load_lang(lang).silence))
    local.begin("tri", system, transcripts, AlignmentResult())
    expected_alignments, expected = local.run(system, AlignOptions())
    jobs = JobPasses(tmp_path, lang, GmmFeatureOptions(), features.cuts, 2, f"{sys.executable} -m blasr.launch.run")
    jobs.begin("tri", system, transcripts, AlignmentResult())
    alignments, stats = jobs.run(system, AlignOptions())  # python -m blasr.gmm acc-stats ... --job JOB
    assert list(alignments.alignments) == list(expected_alignments.alignments)
    for utterance, alignment in alignments.alignments.items():
        np.testing.assert_array_equal(alignment, expected_alignments.alignments[utterance])
    assert stats.num_frames == expected.num_frames > 0
    np.testing.assert_array_equal(stats.transition_counts, expected.transition_counts)
    for name in ("occupancy", "mean_acc", "var_acc"):
        np.testing.assert_allclose(getattr(stats, name), getattr(expected, name), rtol=1e-4, atol=1e-2)  # float32
    assert {p.name for p in (tmp_path / "tri" / "log").iterdir()} == {"acc.0.1.log", "acc.0.2.log"}


@pytest.mark.parametrize("launcher", [None, "launcher"])
def test_a_failing_job_names_its_log(tone_data, one_process, tmp_path, launcher, caplog):
    cuts, lang = tone_data
    features = CutFeatures(cuts)
    transcripts, _ = cut_transcripts(features.cuts.values(), load_lang(lang))
    system = GmmSystem.load(one_process / "tri")
    cmd = f"{sys.executable} -m blasr.launch.run" if launcher else None
    jobs = JobPasses(tmp_path, lang, GmmFeatureOptions(), features.cuts, 2, cmd)
    try:
        jobs.begin("tri", system, transcripts, AlignmentResult())
        (tmp_path / "tri" / "split2" / "text.2.gz").write_bytes(b"not an archive")
        with pytest.raises(Exception) as error:
            jobs.run(system, AlignOptions())
    finally:
        jobs.close()
    log = tmp_path / "tri" / "log" / "acc.0.2.log"
    assert str(log) in str(error.value) + caplog.text
    assert "text.2.gz" in log.read_text()  # the job's own error is in its log


def test_statistics_files_round_trip_without_pickle(tmp_path):
    rng = np.random.default_rng(0)
    stats = GmmStats(np.array([0, 2, 3]), rng.random(3), rng.random((3, 4)), rng.random((3, 4)), rng.random(7),
                     -12.5, 42)
    back = load_stats(save_stats(stats, tmp_path / "0.1.acc.npz"))
    for name in STATS_FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(stats, name))
    np.savez(tmp_path / "other.npz", offsets=np.zeros(2))
    with pytest.raises(ValueError, match="other.npz: not GMM statistics"):
        load_stats(tmp_path / "other.npz")
