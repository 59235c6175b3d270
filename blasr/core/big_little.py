"""The Big-Little module (Chen et al., ICLR 2019, Section 3), shared by all domains.

A module has K >= 2 branches fed by the same input. Branch ``k`` runs a sequence
of residual blocks at a reduced resolution (its first block strides by
``scale``), upsamples its output back by ``scale`` (bilinear by default, nearest
as in the authors' released image weights), and optionally projects it with a
1x1 conv + BN to the module's channels (the little branch's "S0"). Branch
outputs are centre-cropped along the layout's valid axis to the deepest branch
(speech: time, Appendix B.2) and merged:

* ``"add"`` (the paper's default): unit-weight sum, then ReLU;
* ``"cat"``: concatenation along channels, 1x1 conv + BN back to the module's
  channels, then ReLU (Section 3.2, Table 3 line 6).

Shapes (speech layout): input ``(N, C_in, F, T)`` -> output ``(N, C, F, T - shrink)``
where ``shrink`` is the largest branch shrink. Image layout: ``(N, C_in, H, W)``
-> ``(N, C, H, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from blasr.core.blocks import ConvNormAct, ResidualBlock
from blasr.core.layout import UPSAMPLE_MODES, Layout, common_shape

MERGES = ("add", "cat")

BlockFactory = Callable[[int, int, int, Any, bool], ResidualBlock]
"""``(in_channels, out_channels, stride, block_arg, final_act) -> ResidualBlock``."""


@dataclass(frozen=True)
class BranchSpec:
    """One branch of a Big-Little module, as data.

    ``channels``: width of the branch's blocks. ``scale``: resolution reduction
    (1 = full resolution, the little branch; 2 = the big branch; 4, 8 in the
    pyramidal speech model). ``blocks``: one entry per residual block, handed to
    the domain's block factory (speech: the block's number of 3x3 convs).
    """

    channels: int
    scale: int
    blocks: tuple[Any, ...]

    def __post_init__(self) -> None:
        if self.channels < 1 or self.scale < 1 or not self.blocks:
            raise ValueError(f"invalid branch {self}: need channels >= 1, scale >= 1, >= 1 block")


class Branch(nn.Module):
    """Blocks (first one strided by ``scale``) -> upsample by ``scale`` -> [1x1 conv + BN].

    ``blocks`` are usually residual blocks; any module with a ``shrink``
    attribute works (the image stem's branches are plain conv + BN layers).
    """

    def __init__(
        self,
        blocks: Sequence[nn.Module],
        scale: int,
        layout: Layout,
        projection: nn.Module | None = None,
        upsample: str = "bilinear",
    ) -> None:
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"unknown upsampling {upsample!r}; choose one of {UPSAMPLE_MODES}")
        self.blocks = nn.Sequential(*blocks)
        self.scale = scale
        self.layout = layout
        self.upsample = upsample
        self.projection = projection if projection is not None else nn.Identity()
        self.shrink = sum(block.shrink for block in blocks)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(x)
        x = self.layout.upsample(x, self.scale, self.upsample)
        # the projection sees the uncropped output; the module crops afterwards
        return self.projection(x)


class BigLittleModule(nn.Module):
    """K parallel branches, cropped to the deepest one, merged by add or cat, then ReLU."""

    def __init__(
        self,
        branches: Sequence[Branch],
        branch_channels: Sequence[int],
        out_channels: int,
        layout: Layout,
        merge: str = "add",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if len(branches) < 2:
            raise ValueError(f"a Big-Little module needs at least 2 branches, got {len(branches)}")
        if merge not in MERGES:
            raise ValueError(f"unknown merge {merge!r}; choose one of {MERGES}")
        if merge == "add" and any(c != out_channels for c in branch_channels):
            raise ValueError(
                f"merge='add' needs every branch to end with {out_channels} channels, "
                f"got {list(branch_channels)}"
            )
        self.branches = nn.ModuleList(branches)
        self.layout = layout
        self.merge = merge
        self.fuse = (
            ConvNormAct(layout, sum(branch_channels), out_channels, 1, bias=bias, act=False)
            if merge == "cat"
            else nn.Identity()
        )
        self.act = nn.ReLU(inplace=True)
        self.shrink = max(branch.shrink for branch in branches)

    def forward(self, x: Tensor) -> Tensor:
        outputs = [branch(x) for branch in self.branches]
        target = common_shape(outputs)
        outputs = [self.layout.crop_to(out, target) for out in outputs]
        if self.merge == "cat":
            merged = self.fuse(torch.cat(outputs, dim=1))
        else:
            merged = outputs[0]
            for out in outputs[1:]:
                merged = merged + out
        return self.act(merged)


def big_little_module(
    layout: Layout,
    in_channels: int,
    out_channels: int,
    branches: Sequence[BranchSpec],
    make_block: BlockFactory,
    merge: str = "add",
    upsample: str = "bilinear",
    bias: bool = True,
    project_little: bool = False,
) -> BigLittleModule:
    """Build a :class:`BigLittleModule` from branch specs and a domain's block factory.

    With ``merge="add"`` a branch narrower than ``out_channels`` ends with a 1x1
    conv + BN to ``out_channels``; ``project_little=True`` gives every branch
    but the first (the big one) that 1x1 even at equal width (the image
    networks' "ResBlockL", Table 4: needed to reproduce the alpha=1 rows of
    Table 11). With ``"cat"`` no branch is projected. The
    last block of a branch that feeds the merge directly has no final ReLU: the
    ReLU after the merge takes its place (as in the authors' code).
    """
    built: list[Branch] = []
    ends: list[int] = []
    for spec in branches:
        project = merge == "add" and (
            spec.channels != out_channels or (project_little and spec is not branches[0])
        )
        blocks = []
        channels = in_channels
        for i, block_arg in enumerate(spec.blocks):
            last = i == len(spec.blocks) - 1
            stride = spec.scale if i == 0 else 1
            blocks.append(make_block(channels, spec.channels, stride, block_arg, project or not last))
            channels = spec.channels
        projection = (
            ConvNormAct(layout, spec.channels, out_channels, 1, bias=bias, act=False)
            if project
            else None
        )
        built.append(Branch(blocks, spec.scale, layout, projection, upsample))
        ends.append(out_channels if project else spec.channels)
    return BigLittleModule(built, ends, out_channels, layout, merge, bias)
