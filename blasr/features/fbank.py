"""Kaldi log-mel filterbank of one waveform: :func:`logmel`.

The computation is kaldi-native-fbank's port of Kaldi's ``FbankComputer``
(``src/feat/feature-fbank.cc``): per frame of ``L`` samples every ``S``
samples, remove the DC offset, pre-emphasise, apply the Povey window, zero-pad
to a power of two, take the power spectrum, weight it with triangular filters
on Kaldi's mel scale ``1127 ln(1 + f / 700)`` and take ``log(max(e, FLT_EPSILON))``.

Samples are taken at Kaldi's int16 scale: float input in [-1, 1] (what
soundfile, lhotse and torchaudio return) is multiplied by 32768, int16 input
is used as is.
"""

from __future__ import annotations

import kaldi_native_fbank as knf
import numpy as np

from blasr.features.config import INT16_SCALE, FbankConfig
from blasr.utils.errors import BlasrError


class FeatureError(BlasrError, ValueError):
    """Audio that cannot give features (empty, too short, not finite, wrong shape or rate)."""


# A float waveform whose peak is far above 1.0 is almost surely already at int16
# scale; scaling it again would shift every log-mel value by 20.8.
_MAX_FLOAT_PEAK = 4.0


def logmel(samples, sample_rate: int, **options) -> np.ndarray:
    """Kaldi-compatible log-mel filterbank of one mono waveform.

    Args:
        samples: ``(N,)`` or ``(1, N)`` waveform: float in [-1, 1] or int16 (numpy
            array, torch tensor or sequence).
        sample_rate: the waveform's sample rate in Hz (8000 for Switchboard).
        **options: any other :class:`FbankConfig` field, e.g. ``num_mel_bins=40``,
            ``snip_edges=False``, ``dither=1.0``.

    Returns:
        ``(T, num_mel_bins)`` float32, ``T = 1 + (N - L) // S`` with snip_edges
        (``L``, ``S`` = frame length and shift in samples), as Kaldi's
        ``compute-fbank-feats``.

    Raises:
        FeatureError: empty, too short (no whole frame), non-finite or multi-channel input.

    Example::

        >>> feats = logmel(np.zeros(16000, np.float32) + 0.1, 16000)   # 1 s
        >>> feats.shape
        (98, 64)
    """
    return compute_logmel(samples, FbankConfig(sample_rate=sample_rate, **options))


def compute_logmel(samples, config: FbankConfig, name: str = "waveform") -> np.ndarray:
    """:func:`logmel` with a ready :class:`FbankConfig`; ``name`` labels error messages."""
    waveform = kaldi_waveform(samples, config, name)

    computer = knf.OnlineFbank(config.knf_options())
    computer.accept_waveform(float(config.sample_rate), waveform)
    computer.input_finished()
    num_frames = computer.num_frames_ready
    expected = config.num_frames(len(waveform))
    if num_frames != expected:  # guards the option plumbing, not the input
        raise RuntimeError(f"{name}: kaldi-native-fbank gave {num_frames} frames, Kaldi gives {expected}")
    feats = np.empty((num_frames, config.num_mel_bins), dtype=np.float32)
    for t in range(num_frames):
        feats[t] = computer.get_frame(t)
    return feats


def kaldi_waveform(samples, config: FbankConfig, name: str, whole: bool = True) -> np.ndarray:
    """Validate ``samples`` and return a contiguous float32 ``(N,)`` array at Kaldi's scale.

    ``whole=False``: one chunk of a stream, which may be empty or shorter than a frame.
    """
    if hasattr(samples, "detach"):  # torch.Tensor
        samples = samples.detach().cpu().numpy()
    array = np.asarray(samples)
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1:
        raise FeatureError(
            f"{name}: multi-channel: expected a mono waveform of shape (N,) or (1, N), got shape {array.shape}; "
            "select one channel first"
        )
    if array.size == 0 and whole:
        raise FeatureError(f"{name}: empty audio: 0 samples")
    if array.size == 0:
        return np.zeros(0, dtype=np.float32)
    if array.size < config.min_samples() and whole:
        raise FeatureError(
            f"{name}: too short: {array.size} samples ({1000 * array.size / config.sample_rate:.1f} ms) "
            f"give no {config.frame_length_ms:g} ms frame at {config.sample_rate} Hz "
            f"(need >= {config.min_samples()} samples with snip_edges={config.snip_edges})"
        )
    if array.dtype == np.int16:
        return np.ascontiguousarray(array, dtype=np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        raise FeatureError(f"{name}: bad dtype: samples must be float in [-1, 1] or int16, got dtype {array.dtype}")
    waveform = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(waveform).all():
        raise FeatureError(f"{name}: not finite: the audio contains NaN or infinite samples")
    if config.int16_scale:
        peak = float(np.abs(waveform).max())
        if peak > _MAX_FLOAT_PEAK:
            raise FeatureError(
                f"{name}: bad scale: float samples peak at {peak:.1f}, so they look int16-scaled already; "
                "pass int16 arrays, divide by 32768, or set int16_scale=False"
            )
        waveform = waveform * np.float32(INT16_SCALE)
    return waveform
