"""Speech architectures as data: ResNet-22 and the bL-ResNet-22 family.

Every variant of Table 3 (Big-Little Net, Appendix B, Table 12) is one
:class:`SpeechNetConfig`; :class:`~blasr.speech.model.SpeechResNet` builds any of
them. Channel counts here are the paper's (width 1.0); ``width`` scales them all
when the network is built.

Reference (nominal) sizes for a 49-frame window, ``F x T``::

    stem       5x5, 64, s2            64x49 -> 32x45
    stage 1    64 ch                  32x45 -> 32x33 (ResNet) / 32x35 (bL)
    stage 2    128 ch                 16x..
    stage 3    256 ch                  8x..
    stage 4    512 ch                  4x.. -> 4x1
    head       (4x1), 512; 1x1, 32k    1x1
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from blasr.core.big_little import MERGES, BranchSpec
from blasr.core.layout import UPSAMPLE_MODES

STAGE_CHANNELS = (64, 128, 256, 512)


@dataclass(frozen=True)
class StageConfig:
    """One stage: a plain ResNet stage (``blocks``) or a Big-Little module (``branches``).

    ``blocks``: convs per residual block of a plain stage. ``stride``: frequency
    stride of a plain stage's first block. ``branches``: the branches of a
    Big-Little module (``BranchSpec.blocks`` = convs per block). ``transition``:
    the stage is entered through a transition layer, a one-conv residual block
    striding frequency by 2 at the incoming channel count (Table 12).
    """

    channels: int
    blocks: tuple[int, ...] = ()
    stride: int = 1
    branches: tuple[BranchSpec, ...] = ()
    transition: bool = False

    def __post_init__(self) -> None:
        if bool(self.blocks) == bool(self.branches):
            raise ValueError("a stage has either plain blocks or Big-Little branches")


@dataclass(frozen=True)
class SpeechNetConfig:
    """A complete time-unpadded acoustic model. ``width`` scales every channel count."""

    stages: tuple[StageConfig, ...]
    stem_channels: int = 64
    head_channels: int = 512
    num_classes: int = 32000
    in_channels: int = 3
    num_mel_bins: int = 64
    merge: str = "add"
    upsample: str = "bilinear"
    width: float = 1.0
    arch: str = field(default="resnet22", compare=False)

    def __post_init__(self) -> None:
        if self.merge not in MERGES:
            raise ValueError(f"unknown merge {self.merge!r}; choose one of {MERGES}")
        if self.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"unknown upsample {self.upsample!r}; choose one of {UPSAMPLE_MODES}")
        if self.width <= 0:
            raise ValueError(f"width must be positive, got {self.width}")
        if self.num_classes < 1 or self.in_channels < 1:
            raise ValueError("num_classes and in_channels must be positive")

    def channels(self, nominal: int) -> int:
        """A nominal channel count scaled by ``width`` (at least 1)."""
        return max(1, round(nominal * self.width))


def option_names() -> set[str]:
    """Keywords :func:`create_model` accepts on top of the variant's own (alpha, beta ...)."""
    return {f.name for f in fields(SpeechNetConfig)} - {"stages", "arch"}


def little_blocks(big_blocks: tuple[int, ...], beta: int) -> tuple[int, ...]:
    """ceil(L / beta) convs (L = the big branch's conv count) packed into two-conv blocks.

    beta=1: (2, 2, 1) -> (2, 2, 1); beta=2: (2, 1); beta=3: (2,). Module 4,
    L = 4: beta=1 (2, 2), beta=2 and 3 (2,) (Appendix B.2).
    """
    if beta < 1:
        raise ValueError(f"beta must be >= 1, got {beta}")
    convs = math.ceil(sum(big_blocks) / beta)
    return (2,) * (convs // 2) + (1,) * (convs % 2)


def _little_channels(channels: int, alpha: int) -> int:
    if alpha < 1 or channels % alpha:
        raise ValueError(f"alpha must divide the stage's {channels} channels, got {alpha}")
    return channels // alpha


def resnet22() -> tuple[StageConfig, ...]:
    """ResNet-22 (Appendix B.2): (3x3, 64)x3; (3x3, 128, s2)x3; (3x3, 256, s2)x3; (3x3, 512, s2)x2."""
    return (
        StageConfig(64, blocks=(2, 2, 2)),
        StageConfig(128, blocks=(2, 2, 2), stride=2),
        StageConfig(256, blocks=(2, 2, 2), stride=2),
        StageConfig(512, blocks=(2, 2), stride=2),
    )


def bl_resnet22(alpha: int, beta: int, branch_last: bool = True) -> tuple[StageConfig, ...]:
    """bL-ResNet-22 (alpha, beta) (Appendix B.2, Table 12).

    Big branches: (2, 2, 1) convs per block in modules 1-3 (one conv moved into
    the transition layer) and (2, 2) in module 4, at half frequency resolution.
    Little branches: C/alpha channels at full resolution, :func:`little_blocks`.
    ``branch_last=False`` keeps module 4 a plain stage of two two-conv blocks at
    512 channels, as the paper's (alpha=2, beta=3) model does.
    """
    stages = []
    for k, channels in enumerate(STAGE_CHANNELS):
        big = (2, 2, 1) if k < 3 else (2, 2)
        transition = k > 0
        if k == 3 and not branch_last:
            stages.append(StageConfig(channels, blocks=(2, 2), transition=transition))
            continue
        branches = (
            BranchSpec(channels, 2, big),
            BranchSpec(_little_channels(channels, alpha), 1, little_blocks(big, beta)),
        )
        stages.append(StageConfig(channels, branches=branches, transition=transition))
    return tuple(stages)


def bl_pyr_resnet22(alpha: int, beta: int) -> tuple[StageConfig, ...]:
    """bL-PYR-ResNet-22 (Appendix B.2): 4, 3 and 2 branches in modules 1-3, module 4 plain.

    Module 1 (64 ch, F=32): branches of 64*alpha, 64, 64/alpha, 64/alpha^2
    channels at F/8, F/4, F/2, F (the big branch widened so that the smallest
    branch keeps more than one channel). Module 2 (128 ch, F=16): 128,
    128/alpha, 128/alpha^2 at F/4, F/2, F. Module 3 as in bL(alpha, beta).
    Every branch has the big branch's (2, 2, 1) convs when beta=1.
    """
    big = (2, 2, 1)
    little = little_blocks(big, beta)
    module_1 = tuple(
        BranchSpec(64 * alpha // alpha**i, 2 ** (3 - i), big if i == 0 else little)
        for i in range(4)
    )
    module_2 = tuple(
        BranchSpec(_little_channels(128, alpha**i), 2 ** (2 - i), big if i == 0 else little)
        for i in range(3)
    )
    _little_channels(64, alpha**2)  # the smallest module-1 branch must have >= 1 channel
    stages = bl_resnet22(alpha, beta, branch_last=False)
    return (
        StageConfig(64, branches=module_1),
        StageConfig(128, branches=module_2, transition=True),
        stages[2],
        stages[3],
    )
