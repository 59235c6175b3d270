"""Streaming recognition: any chunking gives the offline score matrix and the offline hypothesis."""

import kaldi_hmm_gmm  # noqa: F401, I001  (before kaldifst: the other order deadlocks at import)

from pathlib import Path

import numpy as np
import pytest
import torch

from blasr import create_model
from blasr.acoustic.model_file import TrainedModel
from blasr.features import CmvnStats, FbankConfig, FeatureError, logmel, model_input
from blasr.inference import NnetForwardOptions, PosteriorTransform, dense_logits
from blasr.inference.online import OnlineRecognizer
from blasr.kaldi.decoding.decode import Decoder, DecodeOptions
from tests.acoustic.conftest import SAMPLE_RATE, tone_segments
from tests.conftest import randomize_batchnorm
from tests.kaldi.decoding.test_decode import world  # noqa: F401


@pytest.fixture(scope="module")
def system(world):  # noqa: F811
    """A random bL-ResNet-22 (2, 3) at width 1/4 scoring the tiny graph's pdfs, and a decoder on that graph."""
    _, _, transition_model, graph, _, _ = world
    torch.manual_seed(2)
    num_pdfs = transition_model.num_pdfs
    model = create_model("bl_resnet22_a2b3", width=0.25, num_classes=num_pdfs).eval()
    randomize_batchnorm(model, torch.Generator().manual_seed(3))
    counts = torch.rand(num_pdfs, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 100 + 1
    fbank = FbankConfig(sample_rate=SAMPLE_RATE)
    info = dict(arch="bl_resnet22_a2b3", model_options=dict(num_classes=num_pdfs, width=0.25), class_counts=counts,
                features=dict(fbank=fbank.as_dict(), normalization="none", norm_vars=True))
    # a low acoustic scale and a bonus per word: the random network's best path goes through words
    decoder = Decoder(graph.graph_dir, transition_model,
                      options=DecodeOptions(acoustic_scale=0.01, word_insertion_penalty=-5.0))
    return TrainedModel(model, info, Path("final.pt")), decoder


def offline(trained, decoder, samples, normalization="none", stats=None):
    """What decoding the whole utterance gives: the features, the export's matrix, the best path."""
    inputs = model_input(logmel(samples, SAMPLE_RATE), normalization, stats)
    transform = PosteriorTransform(NnetForwardOptions(prior_scale=0.8), trained.class_counts)
    loglikes = transform(dense_logits(trained.model, inputs)).numpy()
    return loglikes, decoder.search_best_path(loglikes, "utt")


def stream(recognizer: OnlineRecognizer, samples: np.ndarray, sizes) -> list:
    partials, start = [], 0
    for size in sizes:
        recognizer.accept_waveform(samples[start:start + size])
        partials.append(recognizer.partial())
        start += size
    assert start >= len(samples)
    return partials


@pytest.mark.parametrize("normalization", ["none", "side"])
def test_streamed_equals_offline_for_any_chunks(system, normalization):
    trained, decoder = system
    rng = np.random.default_rng(8)
    options = NnetForwardOptions(prior_scale=0.8)
    words_seen = 0
    for index, num_frames in enumerate((30, 157, 240)):
        samples = tone_segments(num_frames, rng)
        stats = CmvnStats.from_features(logmel(samples[:4000], SAMPLE_RATE)) if normalization == "side" else None
        if stats is not None:
            trained.info["features"]["normalization"] = "side"
        expected, hypothesis = offline(trained, decoder, samples, normalization, stats)
        assert expected.shape[0] == num_frames
        words_seen += len(hypothesis.words)
        chunkings = [[len(samples)], [800] * (len(samples) // 800 + 1), [1600] * (len(samples) // 1600 + 1)]
        chunkings += [list(rng.integers(1, 2000, size=len(samples) // 100 + 1))]  # random, up to 250 ms
        for sizes in chunkings:
            recognizer = OnlineRecognizer.from_trained(trained, decoder, options, stats=stats, keep_scores=True,
                                                       utterance=f"utt{index}")
            partials = stream(recognizer, samples, sizes)
            final = recognizer.finalize()
            # the same rows up to the convolution kernels' float32 rounding, which depends on the input
            # length: this random network's logits reach ~1300 on unnormalised log-mel, and offline chunking
            # (dense_logits' chunk_frames) moves them by up to 1.4e-3 too
            np.testing.assert_allclose(recognizer.loglikes, expected, rtol=1e-5, atol=5e-3)
            assert final.words == hypothesis.words and np.array_equal(final.tids, hypothesis.tids), sizes
            assert final.score == pytest.approx(hypothesis.score, rel=1e-4) and not final.partial
            # partial results trail the audio by the look-ahead: 24 + 4 frames, until finalize flushes them
            heard = min(num_frames, (sum(sizes[:1]) - 200) // 80 + 1)
            first = partials[0]
            assert (first.num_frames if first else 0) == max(0, heard - recognizer.look_ahead_frames)
            assert recognizer.partial() is final and recognizer.finalize() is final
        trained.info["features"]["normalization"] = "none"
    assert words_seen >= 3, words_seen  # the comparison is on real word sequences


def test_look_ahead_and_errors(system):
    trained, decoder = system
    recognizer = OnlineRecognizer.from_trained(trained, decoder, utterance="short")
    assert recognizer.look_ahead_frames == 28 and recognizer.partial() is None
    # 40 frames of audio: 40 - 28 scored, the rest wait for look-ahead or the end
    assert recognizer.accept_waveform(tone_segments(40, np.random.default_rng(0))) == 12
    assert recognizer.num_frames == 12 and recognizer.finalize().num_frames == 40
    with pytest.raises(ValueError, match="short: audio after finalize"):
        recognizer.accept_waveform(np.zeros(100, np.int16))
    empty = OnlineRecognizer.from_trained(trained, decoder, utterance="empty")
    with pytest.raises(FeatureError, match="empty: too short"):
        empty.finalize()
    trained.info["features"]["normalization"] = "utterance"
    try:
        with pytest.raises(ValueError, match="per utterance, which needs statistics"):
            OnlineRecognizer.from_trained(trained, decoder)
    finally:
        trained.info["features"]["normalization"] = "none"
    with pytest.raises(ValueError, match="keep_scores=False"):
        OnlineRecognizer.from_trained(trained, decoder).loglikes
