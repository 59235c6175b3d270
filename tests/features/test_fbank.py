import math

import kaldi_native_fbank as knf
import numpy as np
import pytest
import torch

from blasr.features import FbankConfig, FeatureError, logmel
from tests.features.synthetic import tones_and_noise


def knf_reference(samples: np.ndarray, sample_rate: int, snip_edges: bool = True) -> np.ndarray:
    """kaldi-native-fbank set up by hand with Kaldi's fbank options (64 bins, dither 0)."""
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = sample_rate
    opts.frame_opts.dither = 0.0
    opts.frame_opts.snip_edges = snip_edges
    opts.mel_opts.num_bins = 64
    computer = knf.OnlineFbank(opts)
    computer.accept_waveform(sample_rate, samples.astype(np.float32))  # int16 values, Kaldi's scale
    computer.input_finished()
    return np.stack([computer.get_frame(i) for i in range(computer.num_frames_ready)])


def numpy_kaldi_fbank(samples: np.ndarray, sample_rate: int, num_bins: int = 64) -> np.ndarray:
    """Kaldi's FbankComputer written out in float64 (snip_edges, no dither), for an independent check."""
    x = samples.astype(np.float64)
    length, shift = int(sample_rate * 0.025), int(sample_rate * 0.010)
    num_frames = 1 + (len(x) - length) // shift
    frames = np.stack([x[t * shift : t * shift + length] for t in range(num_frames)])
    frames = frames - frames.mean(axis=1, keepdims=True)  # remove DC
    emphasized = frames.copy()
    emphasized[:, 1:] -= 0.97 * frames[:, :-1]  # x[i] -= 0.97 x[i-1]
    emphasized[:, 0] -= 0.97 * frames[:, 0]  # x[0] -= 0.97 x[0]
    povey = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / (length - 1))) ** 0.85
    fft_size = 1 << (length - 1).bit_length()  # 256 at 8 kHz, 512 at 16 kHz
    power = np.abs(np.fft.rfft(emphasized * povey, fft_size)) ** 2
    num_fft_bins = fft_size // 2  # Kaldi's mel banks do not use the Nyquist bin

    def mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    low, high = mel(20.0), mel(sample_rate / 2)
    delta = (high - low) / (num_bins + 1)
    bin_mel = mel(np.arange(num_fft_bins) * sample_rate / fft_size)
    weights = np.zeros((num_bins, num_fft_bins))
    for b in range(num_bins):
        left, center, right = low + b * delta, low + (b + 1) * delta, low + (b + 2) * delta
        rising = (bin_mel - left) / (center - left)
        falling = (right - bin_mel) / (right - center)
        inside = (bin_mel > left) & (bin_mel < right)
        weights[b] = np.where(inside, np.where(bin_mel <= center, rising, falling), 0.0)
    energies = power[:, :num_fft_bins] @ weights.T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps))


@pytest.mark.parametrize("sample_rate", [8000, 16000])
def test_logmel_equals_kaldi_native_fbank(sample_rate, rng):
    samples = tones_and_noise(int(1.37 * sample_rate), sample_rate, rng)
    ours = logmel(samples.astype(np.float32) / 32768, sample_rate)  # what soundfile returns
    reference = knf_reference(samples, sample_rate)
    assert ours.dtype == np.float32 and ours.shape == reference.shape == (135, 64)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)


@pytest.mark.parametrize("sample_rate", [8000, 16000])
def test_logmel_equals_kaldi_algorithm_written_out(sample_rate, rng):
    samples = tones_and_noise(sample_rate // 2, sample_rate, rng)
    ours = logmel(samples, sample_rate)
    reference = numpy_kaldi_fbank(samples, sample_rate)
    assert ours.shape == reference.shape == (48, 64)  # 1 + (N/2 - 25 ms) // 10 ms
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-3)  # observed <= 2.5e-4


def test_int16_scale(rng):
    samples = tones_and_noise(8000, 16000, rng)
    as_int16 = logmel(samples, 16000)
    as_float = logmel(samples.astype(np.float32) / 32768, 16000)
    np.testing.assert_array_equal(as_int16, as_float)
    # Without Kaldi's scale every (non-floored) value drops by log(32768^2) = 20.79.
    unscaled = logmel(samples.astype(np.float32) / 32768, 16000, int16_scale=False)
    np.testing.assert_allclose(as_float - unscaled, 2 * math.log(32768), atol=1e-3)
    assert logmel(torch.from_numpy(samples)[None], 16000).shape == as_int16.shape  # (1, N) tensor


@pytest.mark.parametrize("sample_rate", [8000, 16000])
@pytest.mark.parametrize("snip_edges", [True, False])
def test_frame_counts(sample_rate, snip_edges, rng):
    length, shift = sample_rate // 40, sample_rate // 100  # 25 ms, 10 ms: 200/80 or 400/160
    for num_samples in (length, length + 1, length + shift - 1, length + shift, 3 * sample_rate + 7):
        if snip_edges:
            expected = 1 + (num_samples - length) // shift
        else:
            expected = (num_samples + shift // 2) // shift
        samples = tones_and_noise(num_samples, sample_rate, rng)
        feats = logmel(samples, sample_rate, snip_edges=snip_edges)
        assert feats.shape == (expected, 64)
        assert FbankConfig(sample_rate=sample_rate, snip_edges=snip_edges).num_frames(num_samples) == expected
        if not snip_edges:
            np.testing.assert_allclose(feats, knf_reference(samples, sample_rate, snip_edges=False), atol=1e-5)
    # 3 s: Kaldi's 298 frames against lhotse's (snip_edges=false) 300.
    assert FbankConfig(sample_rate=sample_rate).num_frames(3 * sample_rate) == 298
    assert FbankConfig(sample_rate=sample_rate, snip_edges=False).num_frames(3 * sample_rate) == 300


def test_dither_zero_is_reproducible(rng):
    samples = tones_and_noise(4000, 8000, rng)
    np.testing.assert_array_equal(logmel(samples, 8000), logmel(samples, 8000))


@pytest.mark.parametrize(
    "samples, message",
    [
        (np.zeros(0, np.float32), "empty audio"),
        (np.zeros(399, np.float32), "too short: 399 samples"),
        (np.full(1000, np.nan, np.float32), "NaN"),
        (np.zeros((2, 1000), np.float32), "mono waveform"),
        (np.full(1000, 300.0, np.float32), "int16-scaled already"),
        (np.zeros(1000, np.int32), "dtype int32"),
    ],
)
def test_bad_waveforms_are_refused_clearly(samples, message):
    with pytest.raises(FeatureError, match=message):
        logmel(samples, 16000)


def test_config_checks_and_kaldi_conf():
    with pytest.raises(ValueError, match="sample_rate"):
        FbankConfig(sample_rate=0)
    with pytest.raises(ValueError, match="window_type"):
        FbankConfig(window_type="kaiser")
    with pytest.raises(ValueError, match="unknown feature options"):
        FbankConfig.from_dict({"sample_rate": 8000, "nmel": 40})
    config = FbankConfig(sample_rate=8000)
    assert (config.frame_length, config.frame_shift, config.frame_shift_seconds) == (200, 80, 0.01)
    assert FbankConfig.from_dict(config.as_dict()) == config
    conf = config.kaldi_conf().splitlines()
    assert "--sample-frequency=8000" in conf and "--snip-edges=true" in conf and "--dither=0" in conf
