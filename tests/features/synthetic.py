"""Generated test audio: tones plus noise, written as 16-bit PCM WAV (no binary files in git)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch


def tones_and_noise(num_samples: int, sample_rate: int, rng: torch.Generator) -> np.ndarray:
    """int16 ``(N,)``: three random tones below Nyquist, a slow amplitude wobble, white noise."""
    t = torch.arange(num_samples, dtype=torch.float64) / sample_rate
    freqs = torch.rand(3, generator=rng, dtype=torch.float64) * (0.4 * sample_rate - 100) + 100
    phases = torch.rand(3, generator=rng, dtype=torch.float64) * 2 * torch.pi
    signal = sum(torch.sin(2 * torch.pi * f * t + p) for f, p in zip(freqs, phases)) / 3
    signal = signal * (0.6 + 0.4 * torch.sin(2 * torch.pi * 3 * t))
    signal = 0.5 * signal + 0.05 * torch.randn(num_samples, generator=rng, dtype=torch.float64)
    return (signal.clamp(-1, 1) * 32767).round().to(torch.int16).numpy()


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write int16 samples (``(N,)`` or ``(N, channels)``) as PCM_16."""
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, samples, sample_rate, subtype="PCM_16")
    return path
