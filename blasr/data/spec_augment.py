"""SpecAugment-style frequency and time masking, and frequency warping, of the network input (training only).

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

``freq_warp`` > 0 adds vocal-tract-length perturbation (VTLP; Jaitly and
Hinton, *Vocal Tract Length Perturbation (VTLP) improves speech recognition*,
ICML 2013 workshop) before the masks: a warp factor ``α ~ U[1 - w, 1 + w]``
per utterance and epoch, and each mel bin takes the value the input has at
the frequency Kaldi's VTLN maps its centre to (``VtlnWarpFreq``: ``f / α``
between the inflection points ``100 · max(1, α)`` Hz and ``(high - 500) ·
min(1, α)`` Hz, linear to the band edges beyond them), interpolated linearly
between the two nearest bins (edge bins repeated). The band (``low_hz``,
``high_hz``) is the features' (the trainer takes it from ``fbank.json``).
Frame counts and targets are unchanged, so the warp costs no alignment.

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
    freq_warp: float = 0.0       # w, VTLP warp factor drawn from U[1 - w, 1 + w] (0: no warp)
    low_hz: float = 20.0         # the mel band of the features (Kaldi's --low-freq)
    high_hz: float = 8000.0      # (Kaldi's --high-freq, resolved: Nyquist for 0)

    def __post_init__(self) -> None:
        for name in ("freq_masks", "freq_width", "time_masks", "time_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"SpecAugment {name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.time_fraction <= 1:
            raise ValueError(f"SpecAugment time_fraction must be in [0, 1], got {self.time_fraction}")
        if not 0 <= self.freq_warp < 0.5:
            raise ValueError(f"SpecAugment freq_warp must be in [0, 0.5), got {self.freq_warp}")
        if not 0 <= self.low_hz < self.high_hz - 500:
            raise ValueError(f"SpecAugment band {self.low_hz}-{self.high_hz} Hz: need 0 <= low < high - 500")

    @property
    def enabled(self) -> bool:
        return (self.freq_masks > 0 and self.freq_width > 0) or (
            self.time_masks > 0 and self.time_width > 0 and self.time_fraction > 0) or self.freq_warp > 0

    def warp_factor(self, seed: int, epoch: int, utterance: str) -> float:
        """This epoch's VTLP factor α of one utterance (1.0 without ``freq_warp``); a stream apart from the masks'."""
        if self.freq_warp <= 0:
            return 1.0
        rng = np.random.default_rng([seed, epoch, zlib.crc32(utterance.encode()), 1])
        return float(rng.uniform(1 - self.freq_warp, 1 + self.freq_warp))

    def warp_sources(self, alpha: float, num_bins: int) -> np.ndarray:
        """``(num_bins,)`` fractional input bin each output bin reads under warp factor ``alpha``."""
        mel_low, mel_high = _mel(self.low_hz), _mel(self.high_hz)
        delta = (mel_high - mel_low) / (num_bins + 1)
        centres = _mel_inverse(mel_low + delta * np.arange(1, num_bins + 1))
        sources = _vtln_warp(centres, alpha, self.low_hz, self.high_hz)
        return np.clip((_mel(sources) - mel_low) / delta - 1, 0, num_bins - 1)

    def warp(self, inputs: np.ndarray, alpha: float) -> np.ndarray:
        """``(..., F)`` -> the same, each bin linearly interpolated at its warped source bin."""
        if alpha == 1.0:
            return inputs
        sources = self.warp_sources(alpha, inputs.shape[-1])
        below = np.floor(sources).astype(np.int64)
        above = np.minimum(below + 1, inputs.shape[-1] - 1)
        weight = (sources - below).astype(inputs.dtype)
        return inputs[..., below] * (1 - weight) + inputs[..., above] * weight

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
        out = self.warp(inputs, self.warp_factor(seed, epoch, utterance))
        out = out.copy() if out is inputs else out
        for start, width in freq:
            out[:, :, start : start + width] = MASK_VALUE
        for start, width in time:
            out[:, start : start + width, :] = MASK_VALUE
        return out


def _mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_inverse(mel):
    return 700.0 * (np.exp(np.asarray(mel, dtype=np.float64) / 1127.0) - 1.0)


def _vtln_warp(freq: np.ndarray, alpha: float, low: float, high: float) -> np.ndarray:
    """Kaldi's ``MelBanks::VtlnWarpFreq`` (vtln-low 100 Hz, vtln-high ``high - 500`` Hz) at ``freq`` Hz."""
    inflect_low, inflect_high = 100.0 * max(1.0, alpha), (high - 500.0) * min(1.0, alpha)
    scale = 1.0 / alpha
    return np.where(
        freq < inflect_low,
        low + (scale * inflect_low - low) / (inflect_low - low) * (freq - low),
        np.where(freq < inflect_high, scale * freq,
                 high + (scale * inflect_high - high) / (inflect_high - high) * (freq - high)))
