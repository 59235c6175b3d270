"""The network input computed while audio arrives: :class:`OnlineModelInput`.

Every stage is per frame or has a fixed reach, so a frame's input is final
once enough audio has followed it, and the whole stream gives exactly what
:func:`~blasr.features.input.model_input` gives for the whole waveform:

* log-mel: kaldi-native-fbank's ``OnlineFbank`` (Kaldi's ``OnlineFbank``), fed
  chunk by chunk; a frame exists once its 25 ms window has arrived;
* normalisation: fixed statistics (:class:`~blasr.features.cmvn.CmvnStats`),
  applied per frame. Per-utterance statistics need the whole utterance and
  cannot be streamed; a model trained with them gets fixed statistics here
  (e.g. :meth:`~blasr.features.cmvn.CmvnTable.total` of the training
  features), which is an approximation of what it was trained on;
* Δ/ΔΔ (order 2, window 2): frame ``t`` reads statics ``t - 4 .. t + 4``, so it
  waits for 4 frames (40 ms) of look-ahead; at the utterance's end
  (:meth:`OnlineModelInput.finish`) the last frame is replicated, as
  ``add-deltas`` does.
"""

from __future__ import annotations

import kaldi_native_fbank as knf
import numpy as np

from blasr.features.cmvn import CmvnStats, apply_cmvn
from blasr.features.config import FbankConfig
from blasr.features.deltas import deltas_of_padded
from blasr.features.fbank import FeatureError, kaldi_waveform

DELTA_ORDER, DELTA_WINDOW = 2, 2
DELTA_REACH = DELTA_ORDER * DELTA_WINDOW  # statics read on each side of a frame by ΔΔ


class OnlineModelInput:
    """Audio chunks -> ``(3, F, n)`` network input (static, Δ, ΔΔ) of every frame that later audio can no
    longer change.

    Args:
        config: the fbank settings the network was trained on (its sample rate is the stream's).
        normalization: ``none``, or ``speaker`` / ``side`` / ``utterance`` with ``stats``.
        stats: fixed statistics, applied to every frame.
        norm_vars: divide by the standard deviation too (Kaldi's ``--norm-vars``).
        name: the stream's name in error messages.

    Concatenated, the blocks returned by :meth:`accept_waveform` and
    :meth:`finish` equal ``model_input(logmel(whole waveform), normalization,
    stats)``, bit for bit.
    """

    def __init__(self, config: FbankConfig, normalization: str = "none", stats: CmvnStats | None = None,
                 norm_vars: bool = True, name: str = "stream") -> None:
        if normalization != "none" and stats is None:
            raise ValueError(
                f"{name}: the network normalises its features per {normalization}, which needs statistics "
                "before the first frame: pass fixed stats (CmvnStats: the speaker's, or CmvnTable.total() of the "
                "training features for a per-utterance model)")
        self.config = config
        self.name = name
        self._stats = None if normalization == "none" else stats
        self._norm_vars = norm_vars
        self._fbank = knf.OnlineFbank(config.knf_options())
        self._statics = np.zeros((0, config.num_mel_bins), dtype=np.float32)  # normalised, from frame _first
        self._first = 0          # utterance frame index of _statics[0]
        self._next = 0           # first frame not yet returned
        self._finished = False

    @property
    def num_frames_ready(self) -> int:
        """Feature frames returned so far."""
        return self._next

    def accept_waveform(self, samples) -> np.ndarray:
        """Take the next chunk (mono, at ``config.sample_rate``, float in [-1, 1] or int16; any length, also
        0) and return the ``(3, F, n)`` input of the frames it completed (``n`` may be 0)."""
        if self._finished:
            raise ValueError(f"{self.name}: audio after finish(); start a new stream")
        waveform = kaldi_waveform(samples, self.config, self.name, whole=False)
        if len(waveform):
            self._fbank.accept_waveform(float(self.config.sample_rate), waveform)
        self._read_statics()
        return self._emit(self._first + len(self._statics) - DELTA_REACH)

    def finish(self) -> np.ndarray:
        """End of the utterance: the input of every remaining frame, the last static frame replicated for
        Δ/ΔΔ. :class:`~blasr.features.fbank.FeatureError` when the whole stream gave no frame."""
        if self._finished:
            raise ValueError(f"{self.name}: finish() twice; start a new stream")
        self._finished = True
        self._fbank.input_finished()
        self._read_statics()
        total = self._first + len(self._statics)
        if total == 0:
            raise FeatureError(f"{self.name}: too short: the audio gives no {self.config.frame_length_ms:g} ms "
                               f"frame at {self.config.sample_rate} Hz")
        return self._emit(total)

    def _read_statics(self) -> None:
        ready = self._fbank.num_frames_ready
        start = self._first + len(self._statics)
        if ready > start:
            new = np.stack([self._fbank.get_frame(t) for t in range(start, ready)]).astype(np.float32)
            if self._stats is not None:
                new = apply_cmvn(new, self._stats, self._norm_vars)
            self._statics = np.concatenate([self._statics, new])

    def _emit(self, end: int) -> np.ndarray:
        """The input of frames ``_next .. end - 1``, then drop the statics no later frame reads."""
        if end <= self._next:
            return np.zeros((DELTA_ORDER + 1, self.config.num_mel_bins, 0), dtype=np.float32)
        lo, hi = self._next - DELTA_REACH, end + DELTA_REACH  # statics the block reads
        total = self._first + len(self._statics)
        window = self._statics[max(lo, 0) - self._first:min(hi, total) - self._first]
        # beyond the utterance's first (and, after finish, last) frame: that frame again, as add-deltas
        padded = np.pad(window, ((max(0, -lo), max(0, hi - total)), (0, 0)), mode="edge")
        block = deltas_of_padded(padded, DELTA_ORDER, DELTA_WINDOW)  # (3, n, F)
        self._next = end
        keep = max(0, self._next - DELTA_REACH - self._first)
        self._statics, self._first = self._statics[keep:], self._first + keep
        # (3, n, F) -> (3, F, n), model_input's layout
        return np.ascontiguousarray(block.transpose(0, 2, 1))
