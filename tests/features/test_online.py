"""Streaming features: chunk by chunk, the network input of the whole waveform, bit for bit."""

import numpy as np
import pytest

from blasr.features import CmvnStats, CmvnTable, FbankConfig, FeatureError, logmel, model_input
from blasr.features.online import OnlineModelInput

RATE = 8000


def streamed(stream: OnlineModelInput, samples: np.ndarray, sizes: list[int]) -> np.ndarray:
    parts, start = [], 0
    for size in sizes:
        parts.append(stream.accept_waveform(samples[start:start + size]))
        start += size
    assert start >= len(samples)
    parts.append(stream.finish())
    return np.concatenate(parts, axis=-1)


@pytest.mark.parametrize("normalization", ["none", "speaker"])
def test_any_chunking_gives_the_offline_input(normalization):
    rng = np.random.default_rng(3)
    samples = (rng.standard_normal(RATE * 3 // 2) * 3000).astype(np.int16)  # 1.5 s: 148 frames
    config = FbankConfig(sample_rate=RATE)
    static = logmel(samples, RATE)
    stats = CmvnStats.from_features(static[:40] + 1.0) if normalization == "speaker" else None  # not its own
    expected = model_input(static, normalization, stats)  # (3, 64, 148)
    assert expected.shape == (3, 64, 148)
    chunkings = [[len(samples)], [1] * len(samples), [0, 5, 200, 0] + [80] * 200, [800] * 15, [1600] * 8]
    chunkings += [list(rng.integers(1, 2500, size=60)) for _ in range(3)]
    for sizes in chunkings:
        got = streamed(OnlineModelInput(config, normalization, stats), samples, sizes)
        np.testing.assert_array_equal(got, expected, err_msg=f"chunks {sizes[:5]}")


def test_frames_wait_for_the_delta_look_ahead():
    config = FbankConfig(sample_rate=RATE)
    stream = OnlineModelInput(config)
    # 10 frames need 200 + 9 * 80 samples; frame t's Δ/ΔΔ need static t + 4, so 6 are final
    assert stream.accept_waveform(np.full(200 + 9 * 80, 0.01, np.float32)).shape == (3, 64, 6)
    assert stream.accept_waveform(np.full(79, 0.01, np.float32)).shape == (3, 64, 0)  # no new frame
    assert stream.accept_waveform(np.full(1, 0.01, np.float32)).shape == (3, 64, 1)
    assert stream.finish().shape == (3, 64, 4) and stream.num_frames_ready == 11
    with pytest.raises(ValueError, match="after finish"):
        stream.accept_waveform(np.zeros(10, np.float32))


def test_bad_streams_are_named_errors():
    config = FbankConfig(sample_rate=RATE)
    with pytest.raises(ValueError, match="utt1: the network normalises its features per utterance.*CmvnTable.total"):
        OnlineModelInput(config, "utterance", name="utt1")
    stream = OnlineModelInput(config, name="utt2")
    stream.accept_waveform(np.zeros(0, np.float32))
    stream.accept_waveform(np.zeros(199, np.float32))
    with pytest.raises(FeatureError, match="utt2: too short: the audio gives no 25 ms frame at 8000 Hz"):
        stream.finish()
    with pytest.raises(FeatureError, match="utt3: not finite"):
        OnlineModelInput(config, name="utt3").accept_waveform(np.array([0.1, np.nan], np.float32))


def test_table_total_adds_every_group():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((7, 3))
    table = CmvnTable("speaker")
    table.add("s1", a)
    table.add("s2", b)
    total = table.total()
    whole = CmvnStats.from_features(np.concatenate([a, b]))
    assert total.count == 12
    np.testing.assert_allclose(total.sum, whole.sum)
    np.testing.assert_allclose(total.sum_sq, whole.sum_sq)
    assert table.stats["s1"].count == 5  # the groups are left as they were
    with pytest.raises(ValueError, match="no side statistics"):
        CmvnTable("side").total()
