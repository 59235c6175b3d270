"""Audio transforms for perturbed copies, stored in lhotse manifests and applied as the audio is read.

lhotse's ``AudioTransform`` subclasses register themselves by name when they
are defined, and lhotse instantiates a recording's transforms when it reads a
manifest (``Recording.from_dict``), so every process that opens a manifest of
perturbed copies needs them defined: :mod:`blasr.features` imports this module,
and every blasr program reads manifests through it (:func:`open_cuts`).
lhotse's own reverberation without a RIR recording, its narrow-band effect and
its codecs need torchaudio, which blasr does not install; these need numpy
and scipy:

* :class:`AdditiveNoise` — white, pink (1/f) or brown (1/f²) Gaussian noise
  generated from a seed, or babble: the sum of other utterances, each at unit
  power; scaled to a signal-to-noise ratio measured over the whole waveform it
  is added to.
* :class:`Reverb` — convolution with a simulated room impulse response
  (Polack's statistical model: a unit direct path followed by Gaussian noise
  whose amplitude decays by 60 dB over T60, scaled to a direct-to-reverberant
  ratio), output power equal to input power and length kept, as Kaldi's
  ``wav-reverberate --shift-output``.
* :class:`Telephone` — 8 kHz round trip (polyphase resampling, low-pass at
  3.9 kHz), with a 300-3400 Hz band-pass (4th-order Butterworth, zero phase)
  and optionally G.711 µ-law (8 bits) at 8 kHz.
* :class:`Equalizer` — a random spectral envelope: a cascade of peaking
  filters (the RBJ *Audio EQ Cookbook* biquads), each boosting or cutting a band
  around its centre, output power equal to input power (a "random EQ"
  augmentation: another microphone, channel or voice's spectral tilt).

Each takes and returns ``(channels, N)`` samples and keeps ``N``. The copies
are made by :mod:`blasr.data.perturb`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from lhotse import Recording
from lhotse.augmentation.transform import AudioTransform

NOISE_COLORS = ("white", "pink", "brown")


@dataclass
class AdditiveNoise(AudioTransform):
    """``x + g·n``: noise ``n`` (from ``seed``, or babble from ``babble``) scaled to ``snr_db`` over ``x``.

    ``color``: ``white``, ``pink`` (power ∝ 1/f), ``brown`` (∝ 1/f²; both flat
    below 20 Hz, the filterbank's low edge, so that the noise power is not all
    below it) or ``babble``, whose ``babble`` lists its sources as
    ``{"recording": Recording dict, "start", "duration", "channel"}``: each
    is read, scaled to unit power, rotated by a random offset and repeated to
    the length of ``x``. ``x`` that is all zeros is returned as it is.
    """

    snr_db: float
    seed: int
    color: str = "white"
    babble: list | None = None

    def __call__(self, samples: np.ndarray, sampling_rate: int) -> np.ndarray:
        # samples: (channels, N)
        power = float(np.mean(np.square(samples, dtype=np.float64))) if samples.size else 0.0
        if power == 0.0:
            return samples
        noise = self.noise(samples.shape[-1], sampling_rate)
        gain = np.sqrt(power / (np.mean(np.square(noise)) * 10.0 ** (self.snr_db / 10.0)))
        return (samples + gain * noise).astype(samples.dtype)

    def noise(self, num_samples: int, sampling_rate: int) -> np.ndarray:
        """``(num_samples,)`` float64 noise of this transform (before scaling)."""
        rng = np.random.default_rng(self.seed)
        if self.color == "babble":
            return self._babble(num_samples, sampling_rate, rng)
        white = rng.standard_normal(num_samples)
        if self.color == "white":
            return white
        exponent = {"pink": 1.0, "brown": 2.0}.get(self.color)
        if exponent is None:
            raise ValueError(f"unknown noise color {self.color!r}; choose one of {NOISE_COLORS + ('babble',)}")
        frequencies = np.maximum(np.fft.rfftfreq(num_samples, 1.0 / sampling_rate), 20.0)
        return np.fft.irfft(np.fft.rfft(white) * frequencies ** (-exponent / 2), n=num_samples)

    def _babble(self, num_samples: int, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
        if not self.babble:
            raise ValueError("babble noise needs its source utterances (babble=[...])")
        total = np.zeros(num_samples)
        for source in self.babble:
            recording = Recording.from_dict(source["recording"])
            if recording.sampling_rate != sampling_rate:
                raise ValueError(f"babble source {recording.id} is {recording.sampling_rate} Hz, "
                                 f"the audio {sampling_rate} Hz")
            speech = recording.load_audio(channels=source["channel"], offset=source["start"],
                                          duration=source["duration"])[0].astype(np.float64)
            power = np.mean(np.square(speech))
            if power == 0.0:
                continue
            speech = np.roll(speech / np.sqrt(power), int(rng.integers(len(speech))))
            total += np.resize(speech, num_samples)  # repeated to the length
        return total if np.any(total) else rng.standard_normal(num_samples)

    def reverse_timestamps(self, offset, duration, sampling_rate):
        return offset, duration


@dataclass
class Reverb(AudioTransform):
    """Convolution with :meth:`impulse_response`; the first ``N`` samples, scaled to the input's power.

    ``t60``: seconds for a 60 dB decay; ``drr_db``: direct-to-reverberant
    energy ratio; ``seed``: the tail's noise.
    """

    t60: float
    drr_db: float
    seed: int

    def impulse_response(self, sampling_rate: int) -> np.ndarray:
        """``(L,)``, ``L = t60 · rate``: 1 at sample 0, then a decaying noise tail of energy ``10^(-drr/10)``."""
        length = max(2, int(self.t60 * sampling_rate))
        t = np.arange(1, length) / sampling_rate
        # energy falls 60 dB over t60: amplitude exp(-3 ln(10) t / t60)
        tail = np.random.default_rng(self.seed).standard_normal(length - 1) * np.exp(-3 * np.log(10) * t / self.t60)
        tail *= np.sqrt(10.0 ** (-self.drr_db / 10.0) / np.sum(np.square(tail)))
        return np.concatenate([[1.0], tail])

    def __call__(self, samples: np.ndarray, sampling_rate: int) -> np.ndarray:
        # samples: (channels, N); the direct path is at lag 0, so no shift is needed
        if not samples.size:
            return samples
        rir = self.impulse_response(sampling_rate)
        x = samples.astype(np.float64)
        from scipy import signal  # imported on use: it costs every blasr program a second to start
        return _at_power_of(signal.fftconvolve(x, rir[None, :], axes=-1)[:, : x.shape[-1]], x, samples.dtype)

    def reverse_timestamps(self, offset, duration, sampling_rate):
        return offset, duration


@dataclass
class Telephone(AudioTransform):
    """Down to 8 kHz, optional band-pass ``band`` (Hz) and µ-law, back to the input rate; length kept."""

    band: list | None = field(default_factory=lambda: [300.0, 3400.0])
    mulaw: bool = False

    RATE = 8000

    def __call__(self, samples: np.ndarray, sampling_rate: int) -> np.ndarray:
        # samples: (channels, N) -> (channels, N)
        x = samples.astype(np.float64)
        if sampling_rate != self.RATE:
            x = _resample(x, sampling_rate, self.RATE)
        if self.band:
            from scipy import signal  # imported on use: it costs every blasr program a second to start
            sos = signal.butter(4, list(self.band), btype="bandpass", fs=self.RATE, output="sos")
            x = signal.sosfiltfilt(sos, x, axis=-1)
        if self.mulaw:
            x = mulaw_round_trip(x)
        if sampling_rate != self.RATE:
            x = _resample(x, self.RATE, sampling_rate)
        n = samples.shape[-1]
        x = x[:, :n] if x.shape[-1] >= n else np.pad(x, [(0, 0), (0, n - x.shape[-1])])
        return x.astype(samples.dtype)

    def reverse_timestamps(self, offset, duration, sampling_rate):
        return offset, duration


@dataclass
class Equalizer(AudioTransform):
    """Peaking filters in cascade, ``bands`` = ``[[centre Hz, gain dB, Q], ...]``; output scaled to the input's power.

    Each band is the RBJ cookbook's peaking biquad (unit gain far from the
    centre, ``gain_db`` at it, bandwidth set by ``Q``), run forward once
    (minimum phase: a delay of a few samples at most, so frame targets stay
    valid). A centre at or above the Nyquist frequency is left out.
    """

    bands: list

    def __call__(self, samples: np.ndarray, sampling_rate: int) -> np.ndarray:
        # samples: (channels, N) -> (channels, N)
        if not samples.size or not self.bands:
            return samples
        sos = peaking_sos(self.bands, sampling_rate)
        if not len(sos):
            return samples
        x = samples.astype(np.float64)
        from scipy import signal  # imported on use: it costs every blasr program a second to start
        return _at_power_of(signal.sosfilt(sos, x, axis=-1), x, samples.dtype)

    def reverse_timestamps(self, offset, duration, sampling_rate):
        return offset, duration


def peaking_sos(bands, sampling_rate: int) -> np.ndarray:
    """``(K, 6)`` second-order sections of the peaking filters ``[[centre Hz, gain dB, Q], ...]`` below Nyquist."""
    sections = []
    for centre, gain_db, q in bands:
        if not 0 < centre < sampling_rate / 2 or q <= 0:
            continue
        amplitude = 10.0 ** (gain_db / 40.0)
        w0 = 2 * np.pi * centre / sampling_rate
        alpha = np.sin(w0) / (2 * q)
        b = [1 + alpha * amplitude, -2 * np.cos(w0), 1 - alpha * amplitude]
        a = [1 + alpha / amplitude, -2 * np.cos(w0), 1 - alpha / amplitude]
        sections.append([*(v / a[0] for v in b), 1.0, a[1] / a[0], a[2] / a[0]])
    return np.asarray(sections, dtype=np.float64).reshape(-1, 6)


def _at_power_of(y: np.ndarray, x: np.ndarray, dtype) -> np.ndarray:
    """``y`` scaled to the mean power of ``x`` (unless ``y`` is silent), as ``dtype``."""
    before, after = np.mean(np.square(x)), np.mean(np.square(y))
    if after > 0:
        y = y * np.sqrt(before / after)
    return y.astype(dtype)


def _resample(x: np.ndarray, rate: int, new_rate: int, cutoff: float = 3900.0) -> np.ndarray:
    """Polyphase resampling along the last axis with a sharp low-pass at ``cutoff`` Hz.

    scipy's default filter (Kaiser, beta 5, 10 zero crossings) leaves about
    0.5 % of white noise's power between 4 and 4.5 kHz after a 16 -> 8 -> 16 kHz
    round trip; this one (Kaiser, beta 8, 10 taps per kHz of the intermediate
    rate: 161 at 16 kHz) leaves under 1e-5 above 4 kHz (measured).
    """
    common = np.gcd(rate, new_rate)
    up, down = new_rate // common, rate // common
    intermediate = rate * up
    from scipy import signal  # imported on use: it costs every blasr program a second to start
    taps = signal.firwin(10 * (intermediate // 1000) + 1, min(cutoff, 0.49 * min(rate, new_rate)), fs=intermediate,
                         window=("kaiser", 8.0))
    return signal.resample_poly(x, up, down, axis=-1, window=taps)


def mulaw_round_trip(x: np.ndarray, mu: int = 255) -> np.ndarray:
    """G.711-style µ-law: compress, quantise to 8 bits, expand (``x`` in [-1, 1], clipped)."""
    x = np.clip(x, -1.0, 1.0)
    compressed = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    quantised = np.round((compressed + 1) / 2 * mu) / mu * 2 - 1
    return np.sign(quantised) * ((1 + mu) ** np.abs(quantised) - 1) / mu
