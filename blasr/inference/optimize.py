"""Inference-only copies of a network: batch norm folded into convolutions, channels-last memory.

In eval mode a batch norm is a per-channel affine map, ``y = (x - mean) /
sqrt(var + eps) * gamma + beta``; following a convolution it can be folded into
the convolution's weights and bias::

    scale = gamma / sqrt(var + eps)
    W' = W * scale (per output channel),  b' = (b - mean) * scale + beta

which removes one pass over every activation (measured in
``docs/benchmarks.md``). The folded copy computes the same function up to float
rounding (the fold is done in float64 and rounded once); it has no batch-norm
modules, so it can neither be trained nor loaded from / saved to a training
checkpoint: fold a trained model right before running it.

Folding happens inside every :class:`torch.nn.Sequential` whose children
include a ``Conv2d`` immediately followed by a ``BatchNorm2d`` (blasr's
``ConvNormAct``, the speech head, the image stem); the batch norm is replaced
by ``nn.Identity`` so module names, and therefore the network's structure, stay
as they were. A batch norm anywhere else is left alone.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every (Conv2d, BatchNorm2d) pair folded into the conv.

    ``model`` itself is not modified. The copy's parameters do not require gradients.
    """
    folded = copy.deepcopy(model).eval()
    for sequential in folded.modules():
        if not isinstance(sequential, nn.Sequential):
            continue
        names = list(sequential._modules)
        for conv_name, norm_name in zip(names, names[1:]):
            conv, norm = sequential._modules[conv_name], sequential._modules[norm_name]
            if type(conv) is nn.Conv2d and _foldable(norm):
                _fold(conv, norm)
                sequential._modules[norm_name] = nn.Identity()
    for parameter in folded.parameters():
        parameter.requires_grad_(False)
    return folded


def optimize_for_inference(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """:func:`fold_batch_norm`, then (by default) channels-last weights: the fastest float32 CPU setting measured.

    Feed the result channels-last inputs (:func:`~blasr.inference.forward.dense_logits`
    does so by itself for a channels-last model, see :func:`is_channels_last`).
    """
    folded = fold_batch_norm(model)
    return folded.to(memory_format=torch.channels_last) if channels_last else folded


def is_channels_last(model: nn.Module) -> bool:
    """True when the model's first convolution keeps its weight in channels-last order."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            weight = module.weight
            return weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    return False


def _foldable(norm: nn.Module) -> bool:
    # SyncBatchNorm (training only) and BatchNorm2d; without running statistics eval mode uses batch
    # statistics, which cannot be folded
    return isinstance(norm, (nn.BatchNorm2d, nn.SyncBatchNorm)) and norm.running_var is not None


@torch.no_grad()
def _fold(conv: nn.Conv2d, norm: nn.modules.batchnorm._BatchNorm) -> None:
    var, mean = norm.running_var.double(), norm.running_mean.double()
    scale = torch.rsqrt(var + norm.eps)
    shift = -mean * scale
    if norm.affine:
        scale, shift = scale * norm.weight.double(), shift * norm.weight.double() + norm.bias.double()
    weight = conv.weight.double() * scale.reshape(-1, 1, 1, 1)  # (C_out, C_in / groups, kH, kW)
    bias = shift if conv.bias is None else conv.bias.double() * scale + shift
    dtype = conv.weight.dtype
    conv.weight.copy_(weight.to(dtype))
    if conv.bias is None:
        conv.bias = nn.Parameter(bias.to(dtype), requires_grad=False)
    else:
        conv.bias.copy_(bias.to(dtype))
