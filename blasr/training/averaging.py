"""Model selection after training: which epoch, and the average of the epochs ending at it.

* :func:`choose_epoch` picks the last epoch or the one with the lowest held-out
  metric (the paper chose its epoch on a tune set, RT-02);
* :func:`averaged_epochs` is icefall's ``--epoch E --avg N`` window, epochs
  ``E - N + 1 .. E`` (fewer when E < N);
* :func:`average_state_dicts` averages model states as icefall's
  ``average_checkpoints``: every floating tensor (weights, biases, batch-norm
  running means and variances) is the mean of the N states; integer buffers
  (batch norm's ``num_batches_tracked``) are taken from the last state, where
  icefall floor-divides their sum.

Domain-free: the speech trainer and ``python -m blasr.average`` use these
(:mod:`blasr.acoustic.selection`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

SELECTIONS = ("last", "best")


def choose_epoch(values: Mapping[int, float], select: str) -> int:
    """The epoch (1-based) ``select`` picks from ``{epoch: metric}``: ``last``, or ``best`` (the lowest
    metric; the earliest of equal ones). NaN values never win."""
    if select not in SELECTIONS:
        raise ValueError(f"select {select!r}: choose one of {SELECTIONS}")
    if not values:
        raise ValueError("no epoch to choose from")
    if select == "last":
        return max(values)
    finite = {epoch: value for epoch, value in values.items() if not math.isnan(value)}
    if not finite:
        raise ValueError("every epoch's metric is NaN: no best epoch")
    return min(sorted(finite), key=lambda epoch: finite[epoch])


def averaged_epochs(epoch: int, avg: int) -> list[int]:
    """The epochs averaged for ``epoch`` with ``avg`` (icefall's ``--epoch --avg``): ``max(1, epoch - avg + 1)
    .. epoch``."""
    if avg < 1 or epoch < 1:
        raise ValueError(f"epoch and avg must be >= 1, got {epoch} and {avg}")
    return list(range(max(1, epoch - avg + 1), epoch + 1))


def average_state_dicts(states: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The mean of N model states (floating tensors, summed in float64, back in their dtype); other tensors
    from the last state. All states must have the same keys and shapes."""
    if not states:
        raise ValueError("no state to average")
    last = states[-1]
    for index, state in enumerate(states[:-1]):
        if state.keys() != last.keys():
            raise ValueError(f"state {index} has other entries than the last: "
                             f"{sorted(set(state.keys()) ^ set(last.keys()))[:5]}")
    averaged = {}
    for name, value in last.items():
        if not value.is_floating_point():
            averaged[name] = value.clone()
            continue
        total = torch.zeros(value.shape, dtype=torch.float64)
        for index, state in enumerate(states):
            if state[name].shape != value.shape:
                raise ValueError(f"{name}: state {index} has shape {tuple(state[name].shape)}, the last "
                                 f"{tuple(value.shape)}")
            total += state[name].detach().to("cpu", torch.float64)
        averaged[name] = (total / len(states)).to(value.dtype)
    return averaged
