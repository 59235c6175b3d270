"""Spatial layouts: how the two spatial axes of an ``(N, C, H, W)`` tensor behave.

The Big-Little core is shared by images and speech; the only thing that differs
between them at this level is which axes are padded, strided and upsampled:

* image  ``(N, C, H, W)``: both axes padded ("same"), strided and upsampled;
* speech ``(N, C, F, T)``: frequency is padded, strided and upsampled; time is
  never padded nor strided (Big-Little Net, Appendix B.2), so every convolution
  of kernel width ``k`` removes ``k - 1`` frames and branches of different
  depths are centre-cropped in time before they are merged.

A :class:`Layout` turns those rules into convolution arguments, upsampling sizes
and crops, so blocks and modules never special-case a domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

UPSAMPLE_MODES = ("bilinear", "nearest")


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


@dataclass(frozen=True)
class Layout:
    """Which spatial axes (0 = H/F, 1 = W/T) are resampled and which are padded.

    ``resampled`` axes take the stride of a strided convolution and the factor of
    an upsampling. ``padded`` axes keep their size through a stride-1
    convolution; the others ("valid" axes) shrink by ``k - 1``.
    """

    name: str
    resampled: tuple[bool, bool]
    padded: tuple[bool, bool]

    @property
    def valid_dims(self) -> tuple[int, ...]:
        """Tensor dimensions (of NCHW) that are not padded and therefore shrink."""
        return tuple(2 + axis for axis in (0, 1) if not self.padded[axis])

    def stride(self, stride: int) -> tuple[int, int]:
        return tuple(stride if r else 1 for r in self.resampled)  # type: ignore[return-value]

    def padding(self, kernel_size: int | Sequence[int]) -> tuple[int, int]:
        kernel = _pair(kernel_size)
        return tuple(k // 2 if p else 0 for k, p in zip(kernel, self.padded))  # type: ignore[return-value]

    def shrink(self, kernel_size: int | Sequence[int]) -> int:
        """Elements a stride-1 convolution removes along the valid axis (0 if none)."""
        kernel = _pair(kernel_size)
        return sum(k - 1 for k, p in zip(kernel, self.padded) if not p)

    def conv(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int] = 3,
        stride: int = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> nn.Conv2d:
        """A convolution padded on padded axes only and strided on resampled axes only."""
        return nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size=_pair(kernel_size),
            stride=self.stride(stride),
            padding=self.padding(kernel_size),
            groups=groups,
            bias=bias,
        )

    def upsample(self, x: Tensor, factor: int, mode: str = "bilinear") -> Tensor:
        """Upsample the resampled axes of ``x`` (N, C, H, W) by an integer ``factor``."""
        if factor == 1:
            return x
        size = tuple(
            n * factor if r else n for n, r in zip(x.shape[2:], self.resampled)
        )
        if mode == "nearest":
            return F.interpolate(x, size=size, mode="nearest")
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def crop_to(self, x: Tensor, reference: Sequence[int]) -> Tensor:
        """Centre-crop the valid axes of ``x`` to the sizes in ``reference`` (a shape).

        Returns a view (no copy). Only valid axes may differ; they must differ
        by an even number (each unpadded convolution removes ``k - 1`` elements,
        split evenly between both ends).
        """
        for dim in range(2, 4):
            have, want = x.shape[dim], reference[dim]
            if have == want:
                continue
            excess = have - want
            if dim not in self.valid_dims or excess < 0 or excess % 2:
                raise ValueError(
                    f"cannot centre-crop axis {dim} of a {tuple(x.shape)} tensor to "
                    f"{want} in the {self.name} layout (padded axes must already "
                    "agree; valid axes must be longer by an even amount)"
                )
            x = x.narrow(dim, excess // 2, want)
        return x


SPEECH = Layout("speech", resampled=(True, False), padded=(True, False))
"""(N, C, F, T): frequency padded and strided, time unpadded and never strided."""

IMAGE = Layout("image", resampled=(True, True), padded=(True, True))
"""(N, C, H, W): both axes padded and strided."""


def common_shape(tensors: Sequence[Tensor]) -> list[int]:
    """Per dimension, the smallest size among ``tensors``: what a merge crops them to."""
    return [min(t.shape[d] for t in tensors) for d in range(tensors[0].dim())]
