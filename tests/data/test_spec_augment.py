"""SpecAugment masks and VTLP warps: drawn per utterance from (seed, epoch, id), on all three channels, never on
targets."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from lhotse import CutSet

from blasr.data import FrameLoader
from blasr.data.spec_augment import SpecAugment
from blasr.features import load_static, replicate_edges
from blasr.features.input import normalized_with_deltas
from tests.data.conftest import FRAMES
from tests.data.test_loader import rows

MASKS = SpecAugment(freq_masks=2, freq_width=20, time_masks=2, time_width=10, time_fraction=0.3)


def test_masks_follow_the_paper_bounds_and_the_seed():
    for utterance in ("a", "b", "c", "d"):
        for epoch in range(20):
            freq, time = MASKS.draw(100, 64, 0, epoch, utterance)
            assert len(freq) == len(time) == 2
            assert all(0 <= f <= 20 and 0 <= f0 and f0 + f <= 64 for f0, f in freq)
            assert all(0 <= t <= 10 and 0 <= t0 and t0 + t <= 100 for t0, t in time)
    # p bounds the time masks of a short utterance: 0.3 x 20 frames = 6 frames at most
    assert max(t for e in range(50) for _, t in MASKS.draw(20, 64, 0, e, "short")[1]) == 6
    assert MASKS.draw(100, 64, 3, 1, "x") == MASKS.draw(100, 64, 3, 1, "x")
    draws = {str(MASKS.draw(100, 64, seed, epoch, utt)) for seed in (0, 1) for epoch in (0, 1) for utt in ("x", "y")}
    assert len(draws) == 8  # seed, epoch and utterance each change the masks


def test_masked_values_are_zero_on_all_three_channels(rng):
    inputs = torch.randn(3, 100, 64, generator=rng).numpy() + 5.0  # no zero anywhere
    masked = MASKS.apply(inputs, 0, 0, "utt")
    assert masked is not inputs and not np.shares_memory(masked, inputs)
    freq, time = MASKS.draw(100, 64, 0, 0, "utt")
    expected = np.ones((100, 64), dtype=bool)
    for f0, f in freq:
        expected[:, f0 : f0 + f] = False
    for t0, t in time:
        expected[t0 : t0 + t, :] = False
    assert (~expected).any()
    for channel in range(3):
        np.testing.assert_array_equal(masked[channel][~expected], 0.0)
        np.testing.assert_array_equal(masked[channel][expected], inputs[channel][expected])
    off = SpecAugment()
    assert not off.enabled and off.apply(inputs, 0, 0, "utt") is inputs
    with pytest.raises(ValueError, match="time_fraction"):
        SpecAugment(time_fraction=1.5)
    with pytest.raises(ValueError, match="freq_masks"):
        SpecAugment(freq_masks=-1)


def test_vtlp_warp_reads_each_bin_at_its_vtln_warped_centre():
    warp = SpecAugment(freq_warp=0.1)
    identity = warp.warp_sources(1.0, 64)
    np.testing.assert_allclose(identity, np.arange(64), atol=1e-9)
    inputs = np.random.default_rng(0).standard_normal((3, 7, 64)).astype(np.float32)
    assert warp.warp(inputs, 1.0) is inputs
    mel = lambda hz: 1127.0 * np.log(1.0 + hz / 700.0)  # noqa: E731
    step = (mel(8000.0) - mel(20.0)) / 65
    for alpha in (0.9, 1.1):
        sources = warp.warp_sources(alpha, 64)
        assert np.all(np.diff(sources) >= 0) and sources.min() >= 0 and sources.max() <= 63
        # between the inflection points Kaldi's VTLN maps f to f / alpha: the bin centred at
        # c reads the input at the fractional bin of c / alpha
        for k in (10, 30, 50):
            centre_hz = 700.0 * (np.exp((mel(20.0) + step * (k + 1)) / 1127.0) - 1.0)
            assert sources[k] == pytest.approx((mel(centre_hz / alpha) - mel(20.0)) / step - 1, abs=1e-9)
        # a ramp over the bins is read back at the sources, on every channel
        ramp = np.broadcast_to(np.arange(64, dtype=np.float32), (3, 5, 64))
        np.testing.assert_allclose(warp.warp(ramp, alpha), np.broadcast_to(sources, (3, 5, 64)), atol=1e-4)
    # the factor is U[0.9, 1.1], fixed by (seed, epoch, utterance), drawn apart from the masks
    factors = [warp.warp_factor(0, epoch, "utt") for epoch in range(200)]
    assert 0.9 <= min(factors) < 0.92 and 1.08 < max(factors) <= 1.1
    assert warp.warp_factor(0, 3, "utt") == warp.warp_factor(0, 3, "utt") != warp.warp_factor(1, 3, "utt")
    warped_masks = replace(MASKS, freq_warp=0.1)
    assert warped_masks.draw(100, 64, 0, 2, "x") == MASKS.draw(100, 64, 0, 2, "x")
    out = warped_masks.apply(inputs, 0, 2, "x")
    masked = MASKS.apply(warp.warp(inputs, warped_masks.warp_factor(0, 2, "x")), 0, 2, "x")
    np.testing.assert_array_equal(out, masked)  # warp first, then the same masks
    assert SpecAugment(freq_warp=0.05).enabled and not SpecAugment().enabled
    with pytest.raises(ValueError, match="freq_warp"):
        SpecAugment(freq_warp=0.6)


def test_the_trainer_takes_the_warp_band_from_the_features():
    from blasr.acoustic.config import spec_augment_for

    fbank = dict(sample_rate=8000, low_freq=20.0, high_freq=-200.0)
    spec = spec_augment_for(SpecAugment(freq_warp=0.1), dict(fbank=fbank))
    assert (spec.low_hz, spec.high_hz) == (20.0, 3800.0)
    assert spec_augment_for(SpecAugment(freq_warp=0.1), dict(fbank=None)).high_hz == 8000.0
    assert spec_augment_for(SpecAugment(), dict(fbank=fbank)).high_hz == 8000.0  # no warp: untouched


def masked_reference(manifest, seed: int, epoch: int) -> dict:
    """cut id -> (3, 64, T + 48): normalised statics + Δ/ΔΔ, masked, edges replicated."""
    out = {}
    for cut in CutSet.from_file(manifest):
        inputs = MASKS.apply(normalized_with_deltas(load_static(cut)), seed, epoch, cut.id)  # (3, T, F)
        out[cut.id] = replicate_edges(np.ascontiguousarray(inputs.transpose(0, 2, 1)))
    return out


@pytest.mark.parametrize("mode, chunk_frames", [("window", None), ("chunk", 16)])
def test_the_loader_masks_inputs_and_leaves_targets_alone(corpus, mode, chunk_frames):
    options = dict(mode=mode, chunk_frames=chunk_frames, batch_size=16, num_workers=0, seed=7)
    unmasked = FrameLoader(corpus, **options)
    loader = FrameLoader(corpus, spec_augment=MASKS, **options)
    unmasked.set_epoch(1)
    loader.set_epoch(1)
    plain, plain_batches = rows(unmasked)
    masked, masked_batches = rows(loader)
    reference = masked_reference(corpus, seed=7, epoch=1)
    assert masked.keys() == plain.keys()
    zeros = 0
    for (cut_id, t), (window, target) in masked.items():
        assert target == plain[(cut_id, t)][1]  # the target of every frame is untouched
        np.testing.assert_array_equal(window.numpy(), reference[cut_id][:, :, t : t + 49])
        zeros += int((window == 0).sum())
    assert zeros > 0.02 * 3 * 64 * 49 * len(masked)  # masks were drawn
    # the plan is the same: rows, targets and positions of every batch (only the features differ)
    for got, expected in zip(masked_batches, plain_batches):
        assert got["cut_ids"] == expected["cut_ids"] and torch.equal(got["frames"], expected["frames"])
        assert torch.equal(got["targets"], expected["targets"])


def test_masked_epochs_resume_bit_for_bit_with_workers(corpus):
    options = dict(mode="chunk", chunk_frames=8, batch_size=5, seed=11, shuffle_buffer_frames=100, spec_augment=MASKS)
    reference = list(FrameLoader(corpus, num_workers=0, **options))
    loader = FrameLoader(corpus, num_workers=2, **options)
    head = [batch for _, batch in zip(range(4), loader)]
    resumed = FrameLoader(corpus, num_workers=2, **options)
    resumed.load_state_dict(loader.state_dict())
    tail = list(resumed)
    assert len(head) + len(tail) == len(reference) == -(-sum(-(-n // 8) for n in FRAMES) // 5)
    for got, expected in zip(head + tail, reference):
        assert torch.equal(got["features"], expected["features"]) and torch.equal(got["targets"], expected["targets"])
    assert any((batch["features"] == 0).any() for batch in reference)
