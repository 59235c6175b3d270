import kaldi_native_fbank as knf
import numpy as np
import pytest
import torch

from blasr.features import add_deltas, delta_kernels


def kaldi_delta_features(feats: np.ndarray, order: int = 2, window: int = 2) -> np.ndarray:
    """Kaldi's DeltaFeatures (constructor + Process), loop for loop; returns Kaldi's (T, (order+1) F)."""
    scales = [np.array([1.0], dtype=np.float32)]
    for i in range(1, order + 1):
        prev = scales[i - 1]
        prev_offset = (len(prev) - 1) // 2
        cur_offset = prev_offset + window
        cur = np.zeros(len(prev) + 2 * window, dtype=np.float32)
        normalizer = 0.0
        for j in range(-window, window + 1):
            normalizer += j * j
            for k in range(-prev_offset, prev_offset + 1):
                cur[j + k + cur_offset] += np.float32(j) * prev[k + prev_offset]
        scales.append(cur * np.float32(1.0 / normalizer))
    num_frames, dim = feats.shape
    out = np.zeros((num_frames, dim * (order + 1)), dtype=np.float32)
    for frame in range(num_frames):
        for i in range(order + 1):
            max_offset = (len(scales[i]) - 1) // 2
            for j in range(-max_offset, max_offset + 1):
                offset_frame = min(max(frame + j, 0), num_frames - 1)  # edge frames replicated
                scale = scales[i][j + max_offset]
                if scale != 0.0:
                    out[frame, i * dim : (i + 1) * dim] += scale * feats[offset_frame]
    return out


def delta_once(feats: np.ndarray) -> np.ndarray:
    """sum_{n=1,2} n (c_{t+n} - c_{t-n}) / 10 with edge replication."""
    padded = np.pad(feats, ((2, 2), (0, 0)), mode="edge")
    t = np.arange(len(feats)) + 2
    return sum(n * (padded[t + n] - padded[t - n]) for n in (1, 2)) / 10


def test_kernels_are_kaldis():
    first, second = delta_kernels(2, 2)[1:]
    np.testing.assert_allclose(first, np.array([-2, -1, 0, 1, 2]) / 10, rtol=1e-7)
    # the self-convolution of the first-order filter
    np.testing.assert_allclose(second, np.array([4, 4, 1, -4, -10, -4, 1, 4, 4]) / 100, rtol=1e-6)


@pytest.mark.parametrize("num_frames", [1, 2, 3, 5, 9, 40])
def test_add_deltas_equals_kaldi_delta_features(num_frames, rng):
    feats = (torch.randn(num_frames, 6, generator=rng) * 3 + 10).numpy()
    ours = add_deltas(feats)
    assert ours.shape == (3, num_frames, 6) and ours.dtype == np.float32
    kaldi_layout = ours.transpose(1, 0, 2).reshape(num_frames, -1)
    np.testing.assert_allclose(kaldi_layout, kaldi_delta_features(feats), rtol=1e-6, atol=1e-6)
    if hasattr(knf, "compute_deltas"):  # kaldi-native-fbank's port of add-deltas, in recent releases
        reference = knf.compute_deltas(knf.DeltaOptions(order=2, window=2), feats)
        np.testing.assert_allclose(kaldi_layout, reference, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ours[0], feats)


def test_delta_delta_is_one_filter_on_the_statics(rng):
    feats = torch.randn(30, 4, generator=rng).numpy()
    ours = add_deltas(feats)
    np.testing.assert_allclose(ours[1], delta_once(feats), atol=1e-6)
    twice = delta_once(delta_once(feats))
    # Interior frames (the 9-tap filter stays inside): identical to applying the delta twice.
    np.testing.assert_allclose(ours[2, 4:-4], twice[4:-4], atol=1e-6)
    # Near the edges Kaldi replicates the static frames, not the deltas: the results differ.
    assert np.abs(ours[2, :2] - twice[:2]).min() > 1e-3
    assert np.abs(ours[2, -2:] - twice[-2:]).min() > 1e-3


def test_constant_and_ramp_features():
    constant = np.full((7, 3), 5.0, np.float32)
    np.testing.assert_allclose(add_deltas(constant)[1:], 0.0, atol=1e-6)  # float32 taps, as in Kaldi
    ramp = np.repeat(np.arange(20, dtype=np.float32)[:, None], 2, axis=1)
    out = add_deltas(ramp)
    np.testing.assert_allclose(out[1, 2:-2], 1.0, rtol=1e-6)  # slope 1 away from the edges
    np.testing.assert_allclose(out[2, 4:-4], 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="T >= 1"):
        add_deltas(np.zeros((0, 3), np.float32))
