"""Running a trained acoustic model: dense forward passes, nnet-forward's outputs, Kaldi archives.

* :mod:`~blasr.inference.forward` — :func:`dense_logits`: one utterance, whole or in chunks, same numbers;
  :func:`batched_dense_logits`: several utterances in one forward pass, the same numbers.
* :mod:`~blasr.inference.posteriors` — :class:`PosteriorTransform`: posteriors, log-posteriors or
  pseudo log-likelihoods exactly as Kaldi nnet1's ``nnet-forward``.
* :mod:`~blasr.inference.optimize` — :func:`fold_batch_norm`, :func:`optimize_for_inference`: eval-only
  copies with batch norm folded into the convolutions (and channels-last weights), same outputs.
* :mod:`~blasr.inference.export` — :func:`export_posteriors`: a manifest to ``NAME.ark``/``.scp``
  (atomic), with a report of every utterance that failed; :class:`NetworkScores`: the same matrices
  computed on access, for decoding without storing them.
* :mod:`~blasr.inference.online` — :class:`OnlineRecognizer`: streaming recognition, audio chunk by chunk,
  partial hypotheses, the offline result at the end.

See ``docs/training.md``.
"""

from blasr.inference.export import ExportResult, NetworkScores, ScoreError, export_posteriors
from blasr.inference.forward import batched_dense_logits, dense_logits, window_logits
from blasr.inference.online import OnlineRecognizer
from blasr.inference.optimize import fold_batch_norm, is_channels_last, optimize_for_inference
from blasr.inference.posteriors import NnetForwardOptions, PosteriorTransform

__all__ = [
    "ExportResult",
    "NetworkScores",
    "NnetForwardOptions",
    "OnlineRecognizer",
    "PosteriorTransform",
    "ScoreError",
    "batched_dense_logits",
    "dense_logits",
    "export_posteriors",
    "fold_batch_norm",
    "is_channels_last",
    "optimize_for_inference",
    "window_logits",
]
