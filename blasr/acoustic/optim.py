"""The optimiser and learning-rate schedule of the speech recipe (Big-Little Net, Appendix B.1).

SGD with Nesterov momentum 0.9 and weight decay 1e-6 on every parameter; the
learning rate is constant for epochs 1-9 and multiplied by sqrt(0.5) at the
start of every epoch >= 10 ("annealed by sqrt(0.5) per epoch >= 10"), so epoch
``e`` (1-based) runs at ``lr * sqrt(0.5) ** max(0, e - 9)``: 0.03 for epochs
1-9, 0.0212 for epoch 10, ..., 0.00265 for epoch 16.
"""

from __future__ import annotations

import torch
from torch import nn


def build_optimizer(model: nn.Module, lr: float, momentum: float = 0.9, nesterov: bool = True,
                    weight_decay: float = 1e-6) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov,
                           weight_decay=weight_decay)


def lr_factor(epoch: int, decay: float, decay_from_epoch: int) -> float:
    """Learning-rate multiplier of 0-based ``epoch``: ``decay ** max(0, epoch + 1 - (decay_from_epoch - 1))``."""
    return decay ** max(0, epoch + 2 - decay_from_epoch)


def epoch_decay_schedule(optimizer: torch.optim.Optimizer, steps_per_epoch: int, decay: float,
                         decay_from_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per optimiser step; step ``s`` belongs to 0-based epoch ``s // steps_per_epoch``.

    Only the step count is checkpointed (``last_epoch``); the curve comes from
    the current configuration.
    """
    steps_per_epoch = max(1, steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step // steps_per_epoch, decay, decay_from_epoch))
