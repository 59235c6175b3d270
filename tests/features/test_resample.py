"""Polyphase resampling: equal to its defining sum, in-band tones kept, aliases removed."""

import numpy as np
import pytest

from blasr.features.resample import resample_poly


def _direct_resample(x, up, down, half_width=10, beta=5.0):
    """The defining sum y[n] = sum_j x[j] h[n * down - j * up + H], term by term."""
    max_rate = max(up, down)
    centre = half_width * max_rate
    taps = np.arange(2 * centre + 1)
    h = np.sinc((taps - centre) / max_rate) * np.kaiser(taps.size, beta)
    h *= up / h.sum()
    j = np.arange(x.size)
    out = []
    for n in range(-(-x.size * up // down)):
        index = n * down - j * up + centre
        inside = (index >= 0) & (index < h.size)
        out.append(np.sum(x[inside] * h[index[inside]]))
    return np.array(out)


@pytest.mark.parametrize("up, down", [(320, 441), (441, 320), (1, 2), (3, 2)])
def test_resample_poly_equals_the_defining_sum(up, down):
    x = np.random.default_rng(1).standard_normal(1000)
    for length in (1, 2, 7, 441, 1000):
        expected = _direct_resample(x[:length], up, down)
        got = resample_poly(x[:length], up, down)
        assert got.shape == expected.shape == (-(-length * up // down),)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(resample_poly(x, 5, 5), x)


def test_resample_poly_passes_speech_band_and_removes_aliases():
    t = np.arange(11025) / 22050  # 0.5 s at 22050 Hz
    n = np.arange(8000) / 16000
    middle = slice(400, -400)  # away from the edges, where the filter sees the zero padding
    for frequency in (300.0, 1000.0, 5000.0):  # well inside the 8 kHz band: the same sine at 16 kHz
        y = resample_poly(np.sin(2 * np.pi * frequency * t), 16000, 22050)
        assert y.shape == (8000,)
        np.testing.assert_allclose(y[middle], np.sin(2 * np.pi * frequency * n)[middle], atol=3e-3)
    alias = resample_poly(np.sin(2 * np.pi * 10000.0 * t), 16000, 22050)  # above 8 kHz: would alias to 6 kHz
    assert np.sqrt(2 * np.mean(alias[middle] ** 2)) < 0.01  # > 40 dB down
