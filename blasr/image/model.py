"""ImageNet classifiers on the shared Big-Little core (Big-Little Net, Appendix A).

Input ``(N, 3, H, W)`` (224 x 224 in the paper, 256 x 256 for the "@256"
rows; any size divisible by 32 works) -> logits ``(N, num_classes)``.

bL-Net layout (Table 4, bL-ResNet-50, alpha=2, beta=4)::

    stem        7x7, 64, s2                                  112 x 112
    bl_stem     big: 3x3, 64, s2 | little: 3x3, 32; 3x3, 32, s2; 1x1, 64     56 x 56
    stem_fuse   1x1, 64
    stages.0    Big-Little module (big 2 x 256 at 28, little 1 x 128 at 56), transition s2
    stages.1    ... 512 ch, transition s2                                    28 -> 14
    stages.2    ... 1024 ch, transition s1                                   14
    stages.3    3 bottlenecks, 2048 ch, s2                                   7
    pool, fc

The baselines are torchvision's ResNet v1.5 / ResNeXt (plus SE after the last
BN of every bottleneck for SE-ResNeXt).
"""

from __future__ import annotations

from dataclasses import asdict

from torch import Tensor, nn

from blasr.core.big_little import BigLittleModule, Branch, BranchSpec, big_little_module
from blasr.core.blocks import ConvNormAct, ResidualBlock, bottleneck_block, init_weights
from blasr.core.layout import IMAGE
from blasr.image.config import STAGE_CHANNELS, ImageNetConfig, big_blocks, little_blocks


class ImageResNet(nn.Module):
    """(bL-)ResNet / ResNeXt / SE-ResNeXt built from an :class:`ImageNetConfig`."""

    def __init__(self, config: ImageNetConfig) -> None:
        super().__init__()
        self.config = config
        ch = config.channels
        stem = ch(64)
        self.stem = ConvNormAct(IMAGE, config.in_channels, stem, 7, stride=2, bias=False)
        shortcut = "avgpool_conv" if config.big_little else "conv"

        def block(c_in: int, c_out: int, stride: int, shape: tuple[int, int], final_act: bool = True) -> ResidualBlock:
            width, groups = shape
            return bottleneck_block(
                IMAGE, c_in, c_out, width, stride, groups, config.se_reduction,
                bias=False, shortcut=shortcut, final_act=final_act,
            )

        if config.big_little:
            self.bl_stem = self._bl_stem(stem)
            self.stem_fuse = ConvNormAct(IMAGE, stem, stem, 1, bias=False)
        else:
            self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        stages = []
        channels = stem
        for k, (num_blocks, nominal) in enumerate(zip(config.layers, STAGE_CHANNELS)):
            out = ch(nominal)
            shape = config.bottleneck(out)
            if config.big_little and k < 3:
                branches = [
                    BranchSpec(out, 2, (shape,) * big_blocks(num_blocks)),
                    BranchSpec(
                        ch(nominal // config.alpha),
                        1,
                        (config.little_bottleneck(out),) * little_blocks(num_blocks, config.beta),
                    ),
                ]
                module = big_little_module(
                    IMAGE, channels, out, branches, block, config.merge, config.upsample,
                    bias=False, project_little=True,
                )
                # the transition block fuses the merged branches; stride 2 after stages 1-2 only
                transition = block(out, out, 2 if k < 2 else 1, shape)
                stages.append(nn.Sequential(module, transition))
            else:
                stride = 1 if k == 0 else 2
                stages.append(
                    nn.Sequential(
                        *(block(channels if i == 0 else out, out, stride if i == 0 else 1, shape) for i in range(num_blocks))
                    )
                )
            channels = out
        self.stages = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, config.num_classes)
        self.num_features = channels
        init_weights(self, config.zero_init_last)

    def _bl_stem(self, channels: int) -> BigLittleModule:
        """Big: 3x3 s2 conv; little: 3x3 to C/alpha, 3x3 s2, 1x1 back to C (Table 4).

        Both branches end at the same (halved) resolution, so neither upsamples.
        The little 1x1 is kept at alpha=1 too, as Table 11's alpha=1 rows count it.
        """
        little = self.config.channels(64 // self.config.alpha)
        big = Branch([ConvNormAct(IMAGE, channels, channels, 3, 2, bias=False, act=False)], 1, IMAGE)
        little_branch = Branch(
            [
                ConvNormAct(IMAGE, channels, little, 3, bias=False),
                ConvNormAct(IMAGE, little, little, 3, 2, bias=False),
            ],
            1,
            IMAGE,
            projection=ConvNormAct(IMAGE, little, channels, 1, bias=False, act=False),
        )
        return BigLittleModule([big, little_branch], [channels, channels], channels, IMAGE, bias=False)

    def forward_features(self, images: Tensor) -> Tensor:
        """(N, 3, H, W) -> (N, 2048, H / 32, W / 32)."""
        if images.dim() != 4 or images.shape[1] != self.config.in_channels:
            raise ValueError(
                f"expected images of shape (N, {self.config.in_channels}, H, W), got {tuple(images.shape)}"
            )
        if images.shape[2] % 32 or images.shape[3] % 32:
            raise ValueError(f"image height and width must be multiples of 32, got {tuple(images.shape[2:])}")
        x = self.stem(images)
        if self.config.big_little:
            x = self.stem_fuse(self.bl_stem(x))
        else:
            x = self.pool(x)
        return self.stages(x)

    def forward(self, images: Tensor) -> Tensor:
        """(N, 3, H, W) -> logits (N, num_classes)."""
        return self.fc(self.avgpool(self.forward_features(images)).flatten(1))

    def describe(self) -> dict:
        return dict(config=asdict(self.config))


def image_resnet(layers: tuple[int, int, int, int], arch: str, **options) -> ImageResNet:
    return ImageResNet(ImageNetConfig(layers=layers, arch=arch, **options))
