"""Polyphase resampling in numpy (scipy is not a dependency): :func:`resample_poly`, as ``scipy.signal.resample_poly``."""

from __future__ import annotations

import functools
import math

import numpy as np


def resample_poly(x: np.ndarray, up: int, down: int, half_width: int = 10, beta: float = 5.0) -> np.ndarray:
    """Resample ``x`` (shape ``(T,)``) by ``up / down`` with a polyphase FIR filter, as ``scipy.signal.resample_poly``.

    The filter is a Kaiser-windowed (``beta``) sinc at the upsampled rate with
    cutoff ``f_c = 1 / max(up, down)`` of its Nyquist frequency,
    ``2 * half_width * max(up, down) + 1`` taps, scaled to gain ``up``. Output
    sample ``n`` is the filtered signal at input time ``n * down / up`` (no
    delay): ``y[n] = sum_j x[j] h[n * down - j * up + H]``, ``H`` the filter's
    centre. Length: ``ceil(T * up / down)``.

    The phases repeat every ``up`` outputs: output ``q * up + r`` reads the
    same taps for every block ``q``, from inputs ``q * down + offset[r] - m``.
    Phases are taken in groups of consecutive ``r`` that read one narrow band of
    inputs (:func:`_polyphase_taps`), so the whole thing is one ``einsum``
    (numpy's own loops: single-threaded and bit-reproducible, unlike BLAS).
    """
    gcd = math.gcd(up, down)
    up, down = up // gcd, down // gcd
    x = np.asarray(x, dtype=np.float64)
    if up == down == 1:
        return x.copy()
    starts, weights = _polyphase_taps(up, down, half_width, beta)
    num_groups, band, group = weights.shape
    num_out = -(-x.size * up // down)
    blocks = -(-num_out // up)
    # Block q, group g reads x[q * down + starts[g] + b], b < band (zeros outside x).
    first_read = (np.arange(blocks) * down)[:, None] + starts[None, :]  # (Q, G)
    left = max(0, -int(starts.min()))
    right = max(0, int(first_read.max()) + band - x.size)
    padded = np.concatenate([np.zeros(left), x, np.zeros(right)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, band)[first_read + left]  # (Q, G, band)
    y = np.einsum("qgb,gbp->qgp", windows, weights)  # (Q, G, group)
    return y.reshape(blocks, num_groups * group)[:, :up].reshape(-1)[:num_out]  # (Q, up) -> (T_out,)


@functools.lru_cache(maxsize=8)
def _polyphase_taps(up: int, down: int, half_width: int, beta: float, group: int = 32):
    """The filter of :func:`resample_poly` as ``(starts (G,), weights (G, band, group))``.

    Phase ``r = g * group + p`` computes ``sum_b weights[g, b, p] * x[q * down + starts[g] + b]``.
    """
    max_rate = max(up, down)
    centre = half_width * max_rate
    taps = np.arange(2 * centre + 1)
    h = np.sinc((taps - centre) / max_rate) * np.kaiser(taps.size, beta)
    h *= up / h.sum()
    num_taps = -(-h.size // up)  # inputs under the filter per output
    r = np.arange(up)
    newest, phase = np.divmod(r * down + centre, up)  # newest input read (relative to q * down), first tap
    group = min(group, up)
    g, p = np.divmod(r, group)
    starts = newest[::group] - (num_taps - 1)  # oldest input read by each group (newest is non-decreasing)
    band = int(np.max(newest - starts[g])) + 1
    weights = np.zeros((len(starts), band, group))
    for m in range(num_taps):  # input newest - m through tap phase + m * up
        tap = phase + m * up
        valid = tap < h.size
        weights[g[valid], (newest - m - starts[g])[valid], p[valid]] = h[tap[valid]]
    starts.flags.writeable = weights.flags.writeable = False  # cached: shared by every call
    return starts, weights
