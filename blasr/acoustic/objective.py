"""The frame-level cross-entropy objective over CD states, with ignored positions.

Targets of ``IGNORE_INDEX`` (-100: the tail of an utterance's last chunk, a
padding batch) contribute nothing. The loss of a step is the summed
cross-entropy divided by the number of valid targets of the *global* batch
(summed over processes), never a per-process mean: a batch whose targets are
all ignored would make the mean NaN, and processes holding different numbers
of valid frames would be weighted unequally.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from blasr.data.targets import IGNORE_INDEX


def frame_sums(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0,
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(summed cross-entropy, correct frames, valid frames)`` of a batch.

    ``logits (N, C, K)`` (computed in float32), ``targets (N, C)`` int64 with
    ``IGNORE_INDEX`` for ignored positions. The loss keeps its graph; the
    counts are int64 tensors on the logits' device (no host synchronisation).
    ``label_smoothing`` ε: the cross-entropy against ``(1 - ε)`` on the target
    plus ``ε / K`` on every class (Szegedy et al. 2016; torch's definition).
    """
    logits = logits.float().flatten(0, 1)  # (N, C, K) -> (N C, K)
    targets = targets.flatten()
    loss = F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, reduction="sum",
                           label_smoothing=label_smoothing)
    valid = targets != IGNORE_INDEX
    correct = ((logits.detach().argmax(dim=1) == targets) & valid).sum()
    return loss, correct, valid.sum()


def mean_loss(loss_sum: torch.Tensor, global_count: torch.Tensor, world_size: int = 1) -> torch.Tensor:
    """The loss to back-propagate on one process: its summed cross-entropy over the global count of valid
    frames, times the world size because DDP averages gradients over processes. Summed over processes,
    the gradients are those of (all summed cross-entropy) / (all valid frames)."""
    return loss_sum * world_size / global_count.clamp(min=1)
