"""Cost of the image models under the counting convention of Tables 1, 2 and 11.

FLOPs = convolution multiply-accumulates only (the classifier excluded), at
224 x 224 (the "@256" rows: the same network on 256 x 256); params = all
trainable parameters. The paper sometimes truncates rather than rounds
(ResNet-50: 25,557,032 parameters, printed 25.55).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from blasr.core.cost import build_on_meta, count_cost
from blasr.core.registry import create_model


@dataclass(frozen=True)
class ImageCost:
    arch: str
    params: int
    conv_macs_224: int
    conv_macs_256: int

    def as_dict(self) -> dict:
        return asdict(self)


def image_cost(arch: str, **overrides) -> ImageCost:
    """Count ``arch`` at 224 x 224 and 256 x 256."""
    model = build_on_meta(lambda: create_model(arch, **overrides))
    channels = model.config.in_channels
    costs = {
        size: count_cost(model, torch.empty(1, channels, size, size, device="meta"))
        for size in (224, 256)
    }
    return ImageCost(arch, costs[224].params, costs[224].conv_macs, costs[256].conv_macs)
