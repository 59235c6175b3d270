"""SpecAugment-style frequency and time masking of the network input, for training only.

Park et al., *SpecAugment: A Simple Data Augmentation Method for Automatic
Speech Recognition* (Interspeech 2019), section 2, without time warping:

* ``freq_masks`` (m_F) frequency masks: each covers ``f ~ U{0..F}`` consecutive
  mel bins starting at ``f0 ~ U{0..ν - f}`` (ν = 64 bins, F = ``freq_width``);
* ``time_masks`` (m_T) time masks: each covers ``t ~ U{0..min(T, ⌊p τ⌋)}``
  consecutive frames starting at ``t0 ~ U{0..τ - t}`` (τ = the utterance's
  frames, T = ``time_width``, p = ``time_fraction``).

Masks are drawn per utterance and applied to the *normalised* input with
Δ/ΔΔ, ``(3, T, F)``: the same bins and frames of all three channels are set to
0, which is the mean after mean normalisation (exactly for the statics under
``utterance`` normalisation; with ``normalization="none"`` 0 is just 0). The
frame targets are never touched. Every window or chunk of the utterance then
sees the same masks, as in SpecAugment on whole utterances.

The draw depends only on ``(seed, epoch, utterance id)``: the same for any
number of processes or loader workers, and a resumed run repeats it exactly.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

MASK_VALUE = 0.0  # the mean of a normalised feature


@dataclass(frozen=True)
class SpecAugment:
    """Mask counts and widths (Park et al. 2019: m_F, F, m_T, T, p); no masks when both counts are 0."""

    freq_masks: int = 0          # m_F, frequency masks per utterance
    freq_width: int = 20         # F, the widest frequency mask (bins)
    time_masks: int = 0          # m_T, time masks per utterance
    time_width: int = 40         # T, the widest time mask (frames)
    time_fraction: float = 0.2   # p, a time mask covers at most this fraction of the utterance

    def __post_init__(self) -> None:
        for name in ("freq_masks", "freq_width", "time_masks", "time_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"SpecAugment {name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.time_fraction <= 1:
            raise ValueError(f"SpecAugment time_fraction must be in [0, 1], got {self.time_fraction}")

    @property
    def enabled(self) -> bool:
        return (self.freq_masks > 0 and self.freq_width > 0) or (
            self.time_masks > 0 and self.time_width > 0 and self.time_fraction > 0)

    def draw(self, num_frames: int, num_bins: int, seed: int, epoch: int,
             utterance: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The masks of one utterance in one epoch: ``([(f0, f), ...], [(t0, t), ...])``, start and width."""
        rng = np.random.default_rng([seed, epoch, zlib.crc32(utterance.encode())])
        freq = []
        for _ in range(self.freq_masks):
            width = int(rng.integers(0, min(self.freq_width, num_bins) + 1))
            freq.append((int(rng.integers(0, num_bins - width + 1)), width))
        time = []
        widest = min(self.time_width, int(self.time_fraction * num_frames))
        for _ in range(self.time_masks):
            width = int(rng.integers(0, widest + 1))
            time.append((int(rng.integers(0, num_frames - width + 1)), width))
        return freq, time

    def apply(self, inputs: np.ndarray, seed: int, epoch: int, utterance: str) -> np.ndarray:
        """``(3, T, F)`` normalised input with Δ/ΔΔ -> the same with this epoch's masks (a copy; 0 masked)."""
        if not self.enabled:
            return inputs
        _, num_frames, num_bins = inputs.shape
        freq, time = self.draw(num_frames, num_bins, seed, epoch, utterance)
        out = inputs.copy()
        for start, width in freq:
            out[:, :, start : start + width] = MASK_VALUE
        for start, width in time:
            out[:, start : start + width, :] = MASK_VALUE
        return out
