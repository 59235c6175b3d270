"""Batch-norm statistics over all processes (``--sync-bn``), on GPU and on CPU.

Under DDP every process normalises with the statistics of its own share of
the batch; with ``--sync-bn`` they are those of the global batch, so N
processes compute what one process would on the whole batch (up to float
rounding). On CUDA this is torch's :class:`torch.nn.SyncBatchNorm`; torch's
version refuses CPU tensors, so on CPU (gloo) :class:`AllReduceBatchNorm2d`
does the same with differentiable all-reduces of the per-channel sums.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient is summed over processes too (each one's loss used the sum)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class AllReduceBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics cover every process of the default group (any backend).

    The mean and the biased variance come from all-reduced sums (the variance
    from centred squares, for accuracy); the all-reduces are differentiable, so
    gradients flow back to every process, as in SyncBatchNorm. Running
    statistics use the unbiased variance of the global batch, as BatchNorm2d
    does for its own batch. Outside training, or without a process group, it is
    a plain BatchNorm2d. Same parameters and buffers.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        all_reduce = _AllReduceSum.apply
        dims = (0, 2, 3)
        count = torch.tensor(float(x.numel() // x.shape[1]), dtype=x.dtype, device=x.device)
        sums = all_reduce(torch.cat([x.sum(dims), count.reshape(1)]))
        total = sums[-1]
        mean = sums[:-1] / total                                          # (C,)
        centred = x - mean[None, :, None, None]
        var = all_reduce(centred.square().sum(dims)) / total              # biased, (C,)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                unbiased = var.detach() * total / (total - 1).clamp(min=1)
                self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
        out = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            out = out * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return out


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm2d: torch's SyncBatchNorm on CUDA, :class:`AllReduceBatchNorm2d` on CPU.

    Parameter and buffer names are unchanged, so checkpoints load into the plain model.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _convert_cpu(model)


def _convert_cpu(module: nn.Module) -> nn.Module:
    if type(module) is nn.BatchNorm2d:
        converted = AllReduceBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                         module.track_running_stats)
        converted.load_state_dict(module.state_dict())
        converted.train(module.training)
        return converted
    for name, child in module.named_children():
        setattr(module, name, _convert_cpu(child))
    return module
