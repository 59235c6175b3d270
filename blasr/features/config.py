"""Feature settings: Kaldi's ``compute-fbank-feats`` options, as one frozen dataclass.

The defaults are Kaldi's fbank defaults (``src/feat/feature-fbank.h``,
``feature-window.h``) except for the three that the paper's setting and
reproducibility need: 64 mel bins, ``dither = 0`` (Kaldi: 1.0, which adds
random noise and makes every run differ) and a 16 kHz default sample rate
(set 8000 for Switchboard).

Frame arithmetic (Kaldi's ``NumFrames`` in ``feature-window.cc``), with
``L = frame_length`` and ``S = frame_shift`` in samples::

    snip_edges = true  (Kaldi's default):  T = 1 + (N - L) // S   if N >= L else 0
    snip_edges = false (lhotse's default): T = (N + S // 2) // S

e.g. 1 s at 16 kHz: L = 400, S = 160 -> T = 98 (snip) or 100 (no snip).
Kaldi alignments are computed on snip_edges = true features, so only that
setting makes feature frames and alignment frames line up one to one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

import kaldi_native_fbank as knf

WINDOW_TYPES = ("povey", "hamming", "hanning", "rectangular", "blackman", "sine")

# Kaldi reads 16-bit PCM as raw integers; audio libraries return them divided by
# 2^15. Multiplying back restores Kaldi's scale exactly (log-mel differs by
# 2 * ln(32768) = 20.8 otherwise).
INT16_SCALE = 32768.0


@dataclass(frozen=True)
class FbankConfig:
    """Kaldi log-mel filterbank options (names follow Kaldi's flags with ``-`` -> ``_``).

    Attributes:
        sample_rate: Hz (Kaldi ``--sample-frequency``); 8000 for Switchboard.
        num_mel_bins: mel filters = feature dimension F (64, the paper's setting).
        frame_length_ms, frame_shift_ms: 25 ms windows every 10 ms.
        window_type: ``povey`` = ``(0.5 - 0.5 cos(2 pi n / (L - 1))) ** 0.85``.
        preemph_coeff: ``x[n] -= 0.97 x[n - 1]`` within each frame (``x[0] -= 0.97 x[0]``).
        remove_dc_offset: subtract each frame's mean before pre-emphasis.
        dither: Gaussian noise scale added to every sample; 0 = reproducible.
        snip_edges: only whole frames inside the signal (Kaldi's default; see the module doc).
        low_freq, high_freq: mel range in Hz; ``high_freq <= 0`` means Nyquist + high_freq.
        int16_scale: multiply float samples in [-1, 1] by 32768 (Kaldi's int16 scale).
    """

    sample_rate: int = 16000
    num_mel_bins: int = 64
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    window_type: str = "povey"
    preemph_coeff: float = 0.97
    remove_dc_offset: bool = True
    dither: float = 0.0
    snip_edges: bool = True
    low_freq: float = 20.0
    high_freq: float = 0.0
    int16_scale: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.sample_rate, int) or self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer (Hz), got {self.sample_rate!r}")
        if self.num_mel_bins < 3:
            raise ValueError(f"num_mel_bins must be >= 3, got {self.num_mel_bins}")
        if self.window_type not in WINDOW_TYPES:
            raise ValueError(f"unknown window_type {self.window_type!r}; choose one of {WINDOW_TYPES}")
        if self.frame_shift < 1 or self.frame_length < self.frame_shift:
            raise ValueError(
                f"frame length {self.frame_length_ms} ms / shift {self.frame_shift_ms} ms give "
                f"{self.frame_length} / {self.frame_shift} samples at {self.sample_rate} Hz; "
                "need 1 <= shift <= length"
            )
        if self.dither < 0:
            raise ValueError(f"dither must be >= 0, got {self.dither}")
        nyquist = self.sample_rate / 2
        high = self.high_freq if self.high_freq > 0 else nyquist + self.high_freq
        if not 0 <= self.low_freq < high <= nyquist:
            raise ValueError(
                f"need 0 <= low_freq < high_freq <= Nyquist ({nyquist} Hz), "
                f"got low_freq={self.low_freq}, high_freq={self.high_freq} (-> {high})"
            )

    @property
    def frame_length(self) -> int:
        """Window length in samples, truncated as Kaldi's ``WindowSize()`` does (400 at 16 kHz)."""
        return int(self.sample_rate * 0.001 * self.frame_length_ms)

    @property
    def frame_shift(self) -> int:
        """Hop in samples, truncated as Kaldi's ``WindowShift()`` does (160 at 16 kHz)."""
        return int(self.sample_rate * 0.001 * self.frame_shift_ms)

    @property
    def frame_shift_seconds(self) -> float:
        return self.frame_shift / self.sample_rate

    def num_frames(self, num_samples: int) -> int:
        """Frames for ``num_samples`` samples, exactly as Kaldi counts them (module doc)."""
        length, shift = self.frame_length, self.frame_shift
        if self.snip_edges:
            return 0 if num_samples < length else 1 + (num_samples - length) // shift
        return (num_samples + shift // 2) // shift

    def min_samples(self) -> int:
        """The fewest samples that give one frame."""
        return self.frame_length if self.snip_edges else (self.frame_shift + 1) // 2

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FbankConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown feature options {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True)

    def kaldi_conf(self) -> str:
        """The same settings as a Kaldi ``conf/fbank.conf`` (for ``compute-fbank-feats``)."""
        lines = [
            f"--sample-frequency={self.sample_rate}",
            f"--num-mel-bins={self.num_mel_bins}",
            f"--frame-length={self.frame_length_ms:g}",
            f"--frame-shift={self.frame_shift_ms:g}",
            f"--window-type={self.window_type}",
            f"--preemphasis-coefficient={self.preemph_coeff:g}",
            f"--remove-dc-offset={str(self.remove_dc_offset).lower()}",
            f"--dither={self.dither:g}",
            f"--snip-edges={str(self.snip_edges).lower()}",
            f"--low-freq={self.low_freq:g}",
            f"--high-freq={self.high_freq:g}",
        ]
        return "\n".join(lines) + "\n"

    def knf_options(self):
        """The equivalent ``kaldi_native_fbank.FbankOptions`` (cached per configuration)."""
        return _knf_options(self)


@lru_cache(maxsize=32)
def _knf_options(config: FbankConfig):

    opts = knf.FbankOptions()
    frame = opts.frame_opts
    frame.samp_freq = float(config.sample_rate)
    frame.frame_length_ms = float(config.frame_length_ms)
    frame.frame_shift_ms = float(config.frame_shift_ms)
    frame.window_type = config.window_type
    frame.preemph_coeff = float(config.preemph_coeff)
    frame.remove_dc_offset = bool(config.remove_dc_offset)
    frame.dither = float(config.dither)
    frame.snip_edges = bool(config.snip_edges)
    frame.round_to_power_of_two = True  # Kaldi's default: FFT size 512 at 16 kHz, 256 at 8 kHz
    mel = opts.mel_opts
    mel.num_bins = int(config.num_mel_bins)
    mel.low_freq = float(config.low_freq)
    mel.high_freq = float(config.high_freq)
    for name in ("is_librosa", "htk_mode"):  # newer releases only; Kaldi's mel filters when False
        if hasattr(mel, name):
            setattr(mel, name, False)
    opts.use_energy = False
    opts.use_log_fbank = True
    opts.use_power = True
    return opts
