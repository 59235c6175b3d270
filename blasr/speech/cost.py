"""Cost of the speech models under the counting convention of Table 3.

FLOPs per 49-frame window = conv and output-layer multiply-accumulates plus one
addition per output element of every layer with a bias (all of them, as in
PyTorch's default); params = all trainable parameters. With these rules every
FLOPs and params entry of Table 3 is reproduced (params in units of 1e7: the
table's header says 1e6).

Run densely over a long input, each extra output frame costs only the
per-frame slope of the MAC count (about 10x less than a 49-frame window), which
:func:`speech_cost` measures by counting at two input lengths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from blasr.core.cost import build_on_meta, count_cost
from blasr.core.registry import create_model


@dataclass(frozen=True)
class SpeechCost:
    arch: str
    params: int
    window_flops: int
    window_macs: int
    dense_macs_per_frame: float
    left_context: int
    right_context: int

    def as_dict(self) -> dict:
        return asdict(self)


def speech_cost(arch: str, dense_frames: int = 1000, **overrides) -> SpeechCost:
    """Count one 49-frame window and the dense per-frame slope of ``arch``."""
    model = build_on_meta(lambda: create_model(arch, **overrides))
    config = model.config

    def inputs(num_frames: int) -> torch.Tensor:
        return torch.empty(1, config.in_channels, config.num_mel_bins, num_frames, device="meta")

    window = count_cost(model, inputs(model.receptive_field))
    longer = count_cost(model, inputs(model.receptive_field + dense_frames))
    return SpeechCost(
        arch=arch,
        params=window.params,
        window_flops=window.macs + window.bias_adds,
        window_macs=window.macs,
        dense_macs_per_frame=(longer.macs - window.macs) / dense_frames,
        left_context=model.left_context,
        right_context=model.right_context,
    )
