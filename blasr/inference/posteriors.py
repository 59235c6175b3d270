"""What Kaldi nnet1's ``nnet-forward`` writes, from the network's logits.

``nnet-forward`` (``src/nnetbin/nnet-forward.cc``) with its options:

* default: softmax posteriors;
* ``--apply-log``: ``log(posterior + 1e-20)``;
* ``--no-softmax``: the logits (pre-softmax activations; they decode to the
  same lattices as log-posteriors, the per-frame normaliser being constant);
* ``--class-frame-counts FILE`` (needs ``--apply-log`` or ``--no-softmax``):
  subtract ``prior_scale * log_prior`` from every row, the log-priors of
  :func:`blasr.acoustic.priors.log_priors` (``PdfPrior``; classes below
  ``--prior-floor`` get ``sqrt(FLT_MAX)`` and are thereby disabled).

The result with priors is the pseudo log-likelihood ``log p(s|x) - prior_scale
* log p(s)`` that ``latgen-faster-mapped`` decodes. All arithmetic is float32
as in Kaldi (the log-priors are computed in double and rounded once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from blasr.acoustic.priors import PRIOR_FLOOR, log_priors


@dataclass(frozen=True)
class NnetForwardOptions:
    """nnet-forward's output options. blasr's default is ``--apply-log`` with the model's priors."""

    apply_log: bool = True
    no_softmax: bool = False
    prior_scale: float = 1.0
    prior_floor: float = PRIOR_FLOOR

    def __post_init__(self) -> None:
        if self.apply_log and self.no_softmax:
            raise ValueError("cannot use both --apply-log and --no-softmax (as nnet-forward); use only one")


class PosteriorTransform:
    """Logits ``(T, K)`` -> the matrix nnet-forward writes with these options and class counts.

    ``class_counts``: ``(K,)`` frame counts (e.g. analyze-counts output) or
    None for no prior subtraction.
    """

    def __init__(self, options: NnetForwardOptions, class_counts: np.ndarray | None = None) -> None:
        if class_counts is not None and not (options.apply_log or options.no_softmax):
            raise ValueError("class frame counts need --apply-log or --no-softmax (as in nnet-forward): "
                             "priors are subtracted in the log domain")
        self.options = options
        self.log_prior = None if class_counts is None else torch.from_numpy(
            log_priors(class_counts, options.prior_floor))
        self.num_disabled = 0 if class_counts is None else int(
            (np.asarray(class_counts, dtype=np.float64) / np.sum(class_counts) < options.prior_floor).sum())

    @property
    def kind(self) -> str:
        """A name for the output: loglikes, logpost, logits or post."""
        if self.log_prior is not None:
            return "loglikes"
        return "logits" if self.options.no_softmax else "logpost" if self.options.apply_log else "post"

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.log_prior is not None and self.log_prior.numel() != logits.shape[-1]:
            raise ValueError(f"dimension mismatch: {self.log_prior.numel()} class counts, "
                             f"{logits.shape[-1]} network outputs")
        if self.options.no_softmax:
            out = logits.clone()
        else:
            out = torch.softmax(logits, dim=-1)
            if self.options.apply_log:
                out = torch.log(out + 1e-20)  # nnet-forward: Add(1e-20), ApplyLog()
        if self.log_prior is not None:
            # PdfPrior::SubtractOnLogpost: llk->AddVecToRows(-prior_scale, log_priors)
            out += np.float32(-self.options.prior_scale) * self.log_prior
        return out
