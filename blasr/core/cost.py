"""Counting what a network costs, from the real modules (forward hooks).

Counting conventions differ between the paper's tables, so the raw counts are
kept apart and each domain combines them as its table does:

* speech (Table 3): FLOPs = conv + output-layer MACs + one add per output element
  of every layer with a bias; params = all trainable parameters;
* image (Tables 1, 2, 11): FLOPs = conv MACs only (the classifier excluded).

Counting runs on the ``meta`` device by default, so no memory is allocated and
no arithmetic is done: only shapes flow through the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


@dataclass(frozen=True)
class Cost:
    conv_macs: int
    linear_macs: int
    bias_adds: int
    params: int

    @property
    def macs(self) -> int:
        return self.conv_macs + self.linear_macs


def count_params(model: nn.Module) -> int:
    """Trainable parameters (weights, biases, BN affine); BN running statistics excluded."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_cost(model: nn.Module, inputs: torch.Tensor) -> Cost:
    """MACs and bias additions of one forward pass on ``inputs``, per batch item."""
    batch = inputs.shape[0]
    totals = {"conv": 0, "linear": 0, "bias": 0}

    def on_conv(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        per_output = (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]
        totals["conv"] += output.numel() // batch * per_output
        if module.bias is not None:
            totals["bias"] += output.numel() // batch

    def on_linear(module: nn.Linear, _inputs, output: torch.Tensor) -> None:
        totals["linear"] += output.numel() // batch * module.in_features
        if module.bias is not None:
            totals["bias"] += output.numel() // batch

    hooks = {nn.Conv2d: on_conv, nn.Linear: on_linear}
    handles = [
        module.register_forward_hook(hook)
        for module in model.modules()
        for kind, hook in hooks.items()
        if type(module) is kind
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return Cost(totals["conv"], totals["linear"], totals["bias"], count_params(model))


def build_on_meta(builder: Callable[[], nn.Module]) -> nn.Module:
    """Build a model without allocating its weights (for counting only)."""
    with torch.device("meta"):
        return builder()
