"""Dense forward passes of a time-unpadded acoustic model over whole utterances.

The model maps ``T + 48`` input frames to ``T`` output frames, each of which
depends only on its own 49-frame window (no padding in time), so an utterance
can be run at once or in chunks of ``C`` output frames (input ``C + 48``
frames, overlapping by 48) and gives the same numbers either way: no
approximation at chunk boundaries. Only float rounding can differ, because
convolution libraries pick their kernels by input length (oneDNN on CPU,
cuDNN on GPU): measured under 1e-4 on logits of magnitude ~20 on CPU
(often bitwise equal, e.g. at width 1 for chunks of 16 frames or more).
Beyond the utterance's ends the input repeats
its first / last frame (``replicate_edges``), as the training loaders do, so
the output has exactly one row per feature frame, as Kaldi expects.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from blasr.features.input import replicate_edges
from blasr.inference.optimize import is_channels_last


@torch.no_grad()
def dense_logits(model: nn.Module, inputs: np.ndarray, chunk_frames: int | None = None,
                 device: str | torch.device | None = None, amp: bool = False) -> torch.Tensor:
    """``(3, F, T)`` network input of one utterance -> ``(T, num_classes)`` float32 logits on the CPU.

    ``chunk_frames``: output frames per forward pass (``None``: the whole
    utterance at once). Chunks are run one at a time, so every forward has
    batch size 1. ``model`` must be in eval mode. A model with channels-last
    weights (:func:`~blasr.inference.optimize.optimize_for_inference`) gets
    channels-last inputs.
    """
    num_frames = inputs.shape[-1]
    padded = torch.from_numpy(np.ascontiguousarray(
        replicate_edges(inputs, model.left_context, model.right_context)))  # (3, F, left + T + right)
    context = model.left_context + model.right_context
    step = num_frames if not chunk_frames or chunk_frames >= num_frames else chunk_frames
    outputs = [window_logits(model, padded[:, :, start:min(num_frames, start + step) + context], device, amp)
               for start in range(0, num_frames, step)]
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


@torch.no_grad()
def batched_dense_logits(model: nn.Module, inputs: list[np.ndarray], device: str | torch.device | None = None,
                         amp: bool = False) -> list[torch.Tensor]:
    """Several utterances' ``(3, F, T_i)`` inputs in one forward pass -> their ``(T_i, num_classes)`` logits.

    Each input gets its replicated edges and is then padded on the right, repeating its last frame, to the
    longest one's length: its own output rows see the same 49 input frames as in :func:`dense_logits`, so
    they are the same numbers up to float rounding; the padding's rows are dropped. Many short utterances
    run several times faster this way than one at a time (docs/benchmarks.md).
    """
    if model.training:
        raise ValueError("dense_logits needs the model in eval mode (batch-norm running statistics)")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    lengths = [x.shape[-1] for x in inputs]
    longest = max(lengths)
    rows = []
    for x in inputs:
        padded = replicate_edges(x, model.left_context, model.right_context + longest - x.shape[-1])
        rows.append(torch.from_numpy(np.ascontiguousarray(padded)))
    memory_format = torch.channels_last if is_channels_last(model) else torch.preserve_format
    batch = torch.stack(rows).to(device, memory_format=memory_format)  # (N, 3, F, longest + 48)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        logits = model(batch)                                            # (N, longest, K)
    logits = logits.float().cpu()
    return [logits[i, :length] for i, length in enumerate(lengths)]


@torch.no_grad()
def window_logits(model: nn.Module, window: torch.Tensor, device: str | torch.device | None = None,
                  amp: bool = False) -> torch.Tensor:
    """One forward pass: ``(3, F, C + left + right)`` input frames -> ``(C, num_classes)`` float32 logits on the
    CPU, output ``c`` seeing input frames ``c .. c + left + right``. ``model`` must be in eval mode."""
    if model.training:
        raise ValueError("dense_logits needs the model in eval mode (batch-norm running statistics)")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    memory_format = torch.channels_last if is_channels_last(model) else torch.preserve_format
    x = window[None].to(device, memory_format=memory_format)  # (1, 3, F, C + 48)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        logits = model(x)                                     # (1, C, K)
    return logits[0].float().cpu()
