"""Image architectures as data: (bL-)ResNet, (bL-)ResNeXt, (bL-)SE-ResNeXt for ImageNet.

One :class:`ImageNetConfig` describes every network of Tables 1, 2, 4, 5 and 11
of Big-Little Net (Appendix A); :class:`~blasr.image.model.ImageResNet` builds it.

Stage ``k`` (k = 0..3) ends with ``256 * 2**k`` channels (times ``width``) at
56, 28, 14, 7 pixels for a 224 x 224 input; a bottleneck of output width ``C``
has ``C / 4`` planes and ``floor(planes * base_width / 64) * cardinality``
channels in its 3x3 convolution (ResNet: ``base_width=64``, ``cardinality=1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from blasr.core.big_little import MERGES
from blasr.core.layout import UPSAMPLE_MODES

STAGE_CHANNELS = (256, 512, 1024, 2048)

# Blocks per stage. The bL-ResNet-101/152 move blocks from stage 3 to stages 1
# and 2 (Appendix A.2, Table 5); ResNeXt-101 bL variants do the same.
LAYERS = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
BL_LAYERS = {
    50: (3, 4, 6, 3),
    101: (4, 8, 18, 3),
    152: (5, 12, 30, 3),
}


@dataclass(frozen=True)
class ImageNetConfig:
    """A complete image network.

    ``big_little=False`` gives the torchvision-style baseline (7x7 stem, max
    pool, four bottleneck stages, strided 1x1 shortcuts). ``big_little=True``
    gives bL-Net: a Big-Little stem instead of the max pool, stages 1-3 as
    Big-Little modules each followed by a transition bottleneck, stage 4 plain,
    average-pool shortcuts (Appendix A).
    """

    layers: tuple[int, int, int, int]
    big_little: bool = False
    alpha: int = 2
    beta: int = 4
    cardinality: int = 1
    base_width: int = 64
    se_reduction: int | None = None
    num_classes: int = 1000
    in_channels: int = 3
    upsample: str = "bilinear"
    merge: str = "add"
    width: float = 1.0
    zero_init_last: bool = True
    arch: str = field(default="resnet50", compare=False)

    def __post_init__(self) -> None:
        if self.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"unknown upsample {self.upsample!r}; choose one of {UPSAMPLE_MODES}")
        if self.merge not in MERGES:
            raise ValueError(f"unknown merge {self.merge!r}; choose one of {MERGES}")
        if self.width <= 0 or self.alpha < 1 or self.beta < 1:
            raise ValueError("width, alpha and beta must be positive")
        if self.cardinality % self.alpha and self.cardinality > 1 and self.big_little:
            raise ValueError(
                f"alpha={self.alpha} must divide the cardinality {self.cardinality}: the little "
                "branch keeps the group width and uses cardinality / alpha groups"
            )
        if len(self.layers) != 4 or min(self.layers) < 1:
            raise ValueError(f"layers must be four positive block counts, got {self.layers}")

    def channels(self, nominal: int) -> int:
        return max(1, round(nominal * self.width))

    def bottleneck(self, out_channels: int) -> tuple[int, int]:
        """(3x3 width, groups) of a big-path bottleneck with ``out_channels`` outputs."""
        planes = out_channels // 4
        group_width = planes * self.base_width // 64
        if group_width < 1:
            raise ValueError(f"width {self.width} leaves bottlenecks of {out_channels} outputs without channels")
        return group_width * self.cardinality, self.cardinality

    def little_bottleneck(self, out_channels: int) -> tuple[int, int]:
        """(3x3 width, groups) of a little-branch bottleneck of a stage with ``out_channels``.

        The little branch has ``C / alpha`` output channels; ResNet: planes / alpha;
        ResNeXt: the big branch's group width with ``cardinality / alpha`` groups
        (Section 4.1, "align with the input channels of a group convolution").
        """
        width, groups = self.bottleneck(out_channels)
        return max(1, width // self.alpha), max(1, groups // self.alpha)


def big_blocks(num_blocks: int) -> int:
    """Big branch: L - 1 bottlenecks (the transition block is shared), Appendix A.2."""
    return num_blocks - 1


def little_blocks(num_blocks: int, beta: int) -> int:
    """Little branch: max(1, floor(L / beta) - 1) bottlenecks (floor matches Table 5)."""
    return max(1, num_blocks // beta - 1)


def option_names() -> set[str]:
    return {f.name for f in fields(ImageNetConfig)} - {"layers", "big_little", "arch"}
