"""Streaming recognition: audio in chunks -> features -> dense network forward -> decoder, all incremental.

:class:`OnlineRecognizer` takes audio chunks of any size (100-200 ms in
practice) and, per chunk, computes the network input of the frames the audio
completed (:class:`~blasr.features.online.OnlineModelInput`), runs the network
densely over the new output frames only (each sees its 49-frame window: 24
frames of left context kept from earlier chunks, 24 of right context are the
look-ahead), turns the logits into what ``nnet-forward`` writes
(:class:`~blasr.inference.posteriors.PosteriorTransform`) and advances the
best-path search (:class:`~blasr.kaldi.decoding.online.OnlineDecoder`).
At the end of the utterance the features are flushed and the last input frame
is replicated 24 times, exactly as the offline export pads an utterance
(:func:`~blasr.inference.forward.dense_logits`), so the score matrix equals
the offline one (up to the float rounding of the convolution kernels, which
depends on the input length: under 1e-4) and the final hypothesis is the
offline one.

Look-ahead: an output frame needs 24 input frames after it (the network) and
each input frame 4 statics after it (Δ/ΔΔ), so frame ``t`` is scored once
static frame ``t + 28`` exists, i.e. 28 x 10 ms plus the 15 ms by which a
25 ms window overhangs its 10 ms shift. Algorithmic latency = 295 ms + the chunk.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from blasr.acoustic.model_file import TrainedModel
from blasr.features.cmvn import CmvnStats
from blasr.features.config import FbankConfig
from blasr.features.online import DELTA_REACH, OnlineModelInput
from blasr.inference.forward import window_logits
from blasr.inference.posteriors import NnetForwardOptions, PosteriorTransform
from blasr.kaldi.decoding.decode import Decoder, Hypothesis
from blasr.kaldi.decoding.online import OnlineDecoder


class OnlineRecognizer:
    """One utterance, recognised while it arrives.

    Args:
        model: the acoustic network in eval mode (``left_context`` / ``right_context`` frames of context).
        decoder: a :class:`~blasr.kaldi.decoding.decode.Decoder` (graph, transition model, words and
            options: acoustic scale, beam, max-active, word-insertion penalty); shared by every stream.
        fbank: the feature settings the network was trained on; audio must be at ``fbank.sample_rate``.
        transform: logits -> log-likelihoods (priors subtracted, prior scale applied).
        normalization, stats, norm_vars: the network's feature normalisation with fixed statistics
            (:class:`~blasr.features.online.OnlineModelInput`; per-utterance CMVN cannot stream).
        utterance: the name in hypotheses and error messages.
        device, amp: where the network runs; bf16 autocast.
        keep_scores: keep every log-likelihood row (:attr:`loglikes`), e.g. to compare with offline.

    Use::

        recognizer = OnlineRecognizer.from_trained(trained, decoder, stats=stats)
        for chunk in chunks:                       # e.g. 1600 samples = 100 ms at 16 kHz
            recognizer.accept_waveform(chunk)
            print(recognizer.partial().words)      # may change with later audio
        hypothesis = recognizer.finalize()         # Hypothesis: words, word_ids, tids (alignment), score

    One recognizer per utterance; make the next with the same model and decoder.
    """

    def __init__(self, model: nn.Module, decoder: Decoder, fbank: FbankConfig, transform: PosteriorTransform,
                 normalization: str = "none", stats: CmvnStats | None = None, norm_vars: bool = True,
                 utterance: str = "stream", device: str | torch.device | None = None, amp: bool = False,
                 keep_scores: bool = False) -> None:
        if model.training:
            raise ValueError("the online recognizer needs the model in eval mode (batch-norm running statistics)")
        self.model = model
        self.transform = transform
        self.utterance = utterance
        self.features = OnlineModelInput(fbank, normalization, stats, norm_vars, utterance)
        self.search = OnlineDecoder(decoder, utterance)
        self._device, self._amp = device, amp
        self._context = model.left_context + model.right_context
        self._window: np.ndarray | None = None  # (3, F, n) input frames not yet consumed, left padding included
        self._kept: list[np.ndarray] | None = [] if keep_scores else None
        self._final: Hypothesis | None = None
        self.chunk_seconds: list[float] = []  # compute time of each accept_waveform call

    @classmethod
    def from_trained(cls, trained: TrainedModel, decoder: Decoder, options: NnetForwardOptions = NnetForwardOptions(),
                     stats: CmvnStats | None = None, fbank: FbankConfig | None = None, **kwargs: Any
                     ) -> OnlineRecognizer:
        """A recognizer for a loaded model file: its fbank settings, normalisation and class counts (the
        priors), ``options``' prior scale. ``fbank`` overrides the file's (needed when it has none)."""
        features = trained.features
        if fbank is None:
            if not features.get("fbank"):
                raise ValueError(f"{trained.path} records no fbank settings; pass fbank=FbankConfig(...)")
            fbank = FbankConfig.from_dict(features["fbank"])
        counts = trained.class_counts if options.apply_log or options.no_softmax else None
        return cls(trained.model, decoder, fbank, PosteriorTransform(options, counts),
                   features.get("normalization", "utterance"), stats, features.get("norm_vars", True), **kwargs)

    @property
    def look_ahead_frames(self) -> int:
        """Feature frames of audio after a frame before it is scored: the network's right context plus Δ/ΔΔ's."""
        return self.model.right_context + DELTA_REACH

    @property
    def num_frames(self) -> int:
        """Frames scored and searched so far."""
        return self.search.num_frames

    @property
    def loglikes(self) -> np.ndarray:
        """``(num_frames, num_classes)`` every row the decoder read (``keep_scores=True`` only)."""
        if self._kept is None:
            raise ValueError("the recognizer was made with keep_scores=False")
        return np.concatenate(self._kept) if self._kept else np.zeros((0, 0), dtype=np.float32)

    def accept_waveform(self, samples) -> int:
        """Take the next chunk of audio (mono, at the network's sample rate, float in [-1, 1] or int16); score
        and search every frame it completes. Returns the number of new frames searched."""
        if self._final is not None:
            raise ValueError(f"{self.utterance}: audio after finalize(); make a new recognizer")
        start = time.perf_counter()
        before = self.num_frames
        self._score(self.features.accept_waveform(samples), last=False)
        self.chunk_seconds.append(time.perf_counter() - start)
        return self.num_frames - before

    def partial(self) -> Hypothesis | None:
        """The best path through the frames searched so far (no final costs; later audio may change it);
        None before the first frame is scored."""
        if self._final is not None:
            return self._final
        return self.search.best_path(final=False)

    def finalize(self) -> Hypothesis | None:
        """End of the utterance: flush features and look-ahead, finish the search; the final hypothesis
        (None when no path survives). :class:`~blasr.features.fbank.FeatureError` for audio without one frame."""
        if self._final is None:
            self._score(self.features.finish(), last=True)
            self._final = self.search.best_path(final=True)
        return self._final

    def _score(self, inputs: np.ndarray, last: bool) -> None:
        """Append ``(3, F, n)`` input frames; run the network over every output frame whose window is complete."""
        left, right = self.model.left_context, self.model.right_context
        if self._window is None:
            if inputs.shape[-1] == 0:
                return
            # before the first frame: that frame again, as replicate_edges pads offline
            self._window = np.repeat(inputs[..., :1], left, axis=-1)
        parts = [self._window, inputs]
        if last:
            parts.append(np.repeat(parts[-1][..., -1:] if inputs.shape[-1] else self._window[..., -1:], right,
                                   axis=-1))
        window = np.concatenate(parts, axis=-1)
        num_out = window.shape[-1] - self._context
        if num_out > 0:
            logits = window_logits(self.model, torch.from_numpy(window), self._device, self._amp)  # (num_out, K)
            loglikes = self.transform(logits).numpy()
            if not np.isfinite(loglikes).all():
                raise ValueError(f"{self.utterance}: non-finite output: NaN or infinite values in the network's "
                                 "output")
            if self._kept is not None:
                self._kept.append(loglikes)
            self.search.advance(loglikes)
            window = window[..., num_out:]  # the last 48 frames: the next output's left and right context
        self._window = window
