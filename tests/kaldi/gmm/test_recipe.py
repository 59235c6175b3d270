"""The GMM recipe's corpus glue: GMM features from stored log-mel, lazy feature mapping, transcripts."""

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst: the other order deadlocks at import)
import kaldi_native_fbank as knf
from functools import partial
import numpy as np
import pytest
import torch
from lhotse import CutSet

from blasr.data import cuts_from_audio_files
from blasr.features import FbankConfig, compute_features, logmel
from blasr.features.extract import load_static
from blasr.kaldi.gmm.recipe import (
    CutFeatures,
    GmmFeatureOptions,
    cut_transcripts,
    dct_matrix,
    gmm_features,
    lifter_coefficients,
)
from blasr.kaldi.lang.prepare import prepare_lang
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
