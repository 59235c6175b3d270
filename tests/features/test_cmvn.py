import numpy as np
import pytest
import torch
from lhotse import MonoCut, Recording, SupervisionSegment
from lhotse.audio import AudioSource

from blasr.features import (
    CmvnStats,
    CmvnTable,
    add_deltas,
    compute_cmvn_table,
    model_input,
    replicate_edges,
    utterance_cmvn,
)


def cut(cut_id: str, speaker: str, recording: str, channel: int = 0) -> MonoCut:
    supervision = SupervisionSegment(cut_id, recording, 0.0, 1.0, channel=channel, speaker=speaker)
    source = AudioSource("file", channels=[0, 1], source=f"{recording}.wav")  # never read
    audio = Recording(recording, [source], sampling_rate=8000, num_samples=8000, duration=1.0)
    return MonoCut(cut_id, start=0.0, duration=1.0, channel=channel, recording=audio, supervisions=[supervision])


def random_feats(rng: torch.Generator, num_frames: int, dim: int = 5) -> np.ndarray:
    return (torch.randn(num_frames, dim, generator=rng) * torch.arange(1, dim + 1) + 7).numpy()


def test_utterance_cmvn_gives_zero_mean_unit_variance(rng):
    feats = random_feats(rng, 50)
    normalized = utterance_cmvn(feats)
    np.testing.assert_allclose(normalized.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalized.std(axis=0), 1.0, atol=1e-5)
    means_only = utterance_cmvn(feats, norm_vars=False)
    np.testing.assert_allclose(means_only, feats - feats.mean(axis=0), atol=1e-5)


def test_constant_bin_uses_kaldis_variance_floor():
    feats = np.zeros((10, 2), np.float32)
    feats[:, 1] = np.arange(10)
    normalized = utterance_cmvn(feats)
    assert np.isfinite(normalized).all()
    np.testing.assert_array_equal(normalized[:, 0], 0.0)


def test_speaker_and_side_tables(rng, tmp_path):
    cuts = [cut("a1", "spk1", "rec1"), cut("a2", "spk1", "rec2"), cut("b1", "spk2", "rec1", channel=1)]
    feats = {c.id: random_feats(rng, n) for c, n in zip(cuts, (30, 20, 25))}
    table = compute_cmvn_table(cuts, "speaker", load=lambda c: feats[c.id])
    pooled = np.concatenate([feats["a1"], feats["a2"]]).astype(np.float64)
    stats = table.for_cut(cuts[0])
    assert stats.count == 50
    mean, scale = stats.mean_and_scale()
    np.testing.assert_allclose(mean, pooled.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(scale, 1 / pooled.std(axis=0), rtol=1e-8)

    loaded = CmvnTable.load(table.save(tmp_path / "cmvn_speaker.npz"))
    assert loaded.group == "speaker" and sorted(loaded.stats) == ["spk1", "spk2"]
    np.testing.assert_array_equal(loaded.stats["spk1"].sum_sq, stats.sum_sq)

    sides = compute_cmvn_table(cuts, "side", load=lambda c: feats[c.id])
    assert sorted(sides.stats) == ["rec1-0", "rec1-1", "rec2-0"]
    with pytest.raises(KeyError, match="no speaker statistics for cut x"):
        table.for_cut(cut("x", "spk9", "rec1"))
    with pytest.raises(ValueError, match="exactly one"):
        compute_cmvn_table([cut("y", None, "rec1")], "speaker", load=lambda c: feats["a1"])


def test_model_input_normalises_then_adds_deltas(rng):
    static = random_feats(rng, 12, dim=64)
    x = model_input(static)
    assert x.shape == (3, 64, 12) and x.dtype == np.float32
    expected = add_deltas(utterance_cmvn(static)).transpose(0, 2, 1)
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-6)
    stats = CmvnStats.from_features(static[:6])
    y = model_input(static, "speaker", stats)
    np.testing.assert_allclose(y[0].T, (static - static[:6].mean(0)) / static[:6].std(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(model_input(static, "none")[0], static.T)
    with pytest.raises(ValueError, match="needs the group's CmvnStats"):
        model_input(static, "side")

    padded = replicate_edges(x, 24, 24)
    assert padded.shape == (3, 64, 60)
    np.testing.assert_array_equal(padded[..., :25], np.repeat(x[..., :1], 25, axis=-1))
    np.testing.assert_array_equal(padded[..., 24:36], x)
