"""Δ and ΔΔ exactly as Kaldi's ``add-deltas`` (``DeltaFeatures``, ``src/feat/feature-functions.cc``).

With window ``N = 2`` the first-order filter is the regression slope::

    delta_t = sum_{n=1..N} n (c_{t+n} - c_{t-n}) / (2 sum_{n=1..N} n^2)
            = [-2, -1, 0, 1, 2] / 10  applied around t

Kaldi builds the order-``i`` filter as the convolution of the order-``i-1``
filter with the first-order one, so ΔΔ is one 9-tap filter::

    w2 = w1 * w1 = [4, 4, 1, -4, -10, -4, 1, 4, 4] / 100

applied to the *static* features, and every tap that falls outside the
utterance reads the first or last static frame (edge replication at the
original edges). Near the edges this differs from applying the 5-tap delta
twice with replication in between; the interior is identical.
"""

from __future__ import annotations

import numpy as np


def delta_kernels(order: int = 2, window: int = 2) -> list[np.ndarray]:
    """Kaldi's ``scales_``: ``order + 1`` float32 filters of ``1 + 2 i window`` taps each.

    ``kernels[0] = [1]``; ``kernels[i] = kernels[i-1] * [-window..window] / sum(j^2)``
    (``*`` = convolution), computed in float32 like Kaldi's ``BaseFloat`` vectors.
    """
    if order < 0 or window < 1:
        raise ValueError(f"need order >= 0 and window >= 1, got order={order}, window={window}")
    taps = np.arange(-window, window + 1, dtype=np.float32)
    scale = np.float32(1.0 / float((taps * taps).sum()))  # Kaldi: Scale(1.0 / normalizer)
    kernels = [np.ones(1, dtype=np.float32)]
    for _ in range(order):
        kernels.append((np.convolve(kernels[-1], taps) * scale).astype(np.float32))
    return kernels


def add_deltas(feats: np.ndarray, order: int = 2, window: int = 2) -> np.ndarray:
    """Static features plus their Δ (and ΔΔ ...), Kaldi's ``add-deltas``.

    Args:
        feats: ``(T, F)`` static features, ``T >= 1``.
        order, window: Kaldi's ``--delta-order`` (2) and ``--delta-window`` (2).

    Returns:
        ``(order + 1, T, F)`` float32: ``[static, Δ, ΔΔ]``. Kaldi's own layout,
        ``(T, (order + 1) F)``, is ``out.transpose(1, 0, 2).reshape(T, -1)``.
    """
    feats = np.asarray(feats, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[0] == 0:
        raise ValueError(f"expected (T, F) features with T >= 1, got shape {feats.shape}")
    reach = order * window
    # Edge replication = Kaldi's clamping of t + j to [0, T - 1].
    return deltas_of_padded(np.pad(feats, ((reach, reach), (0, 0)), mode="edge"), order, window)


def deltas_of_padded(padded: np.ndarray, order: int = 2, window: int = 2) -> np.ndarray:
    """:func:`add_deltas` of the ``T`` middle frames of ``(reach + T + reach, F)`` statics, ``reach = order *
    window``: the frames around them are read as given (the utterance's, or its replicated edge frames).

    Streaming computes a block of frames this way as soon as ``reach`` frames after it exist, with the
    same float32 sums as the whole utterance (:class:`blasr.features.online.OnlineModelInput`).
    """
    kernels = delta_kernels(order, window)
    reach = order * window
    num_frames = padded.shape[0] - 2 * reach
    if num_frames < 1:
        raise ValueError(f"need more than {2 * reach} padded frames, got {padded.shape[0]}")
    out = np.zeros((order + 1, num_frames, padded.shape[1]), dtype=np.float32)
    for i, kernel in enumerate(kernels):
        half = (len(kernel) - 1) // 2
        for j, scale in enumerate(kernel):
            if scale != 0.0:  # Kaldi skips zero taps; keeps the float sums identical
                start = reach - half + j
                out[i] += scale * padded[start : start + num_frames]
    return out
