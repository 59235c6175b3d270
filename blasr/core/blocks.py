"""Residual blocks shared by the speech and image networks.

A :class:`ResidualBlock` is ``act(body(x) + crop(shortcut(x)))``. The shortcut is
computed on the uncropped input and centre-cropped along the layout's valid
(time) axis to the body's output, as in Saon et al. (2017) and Big-Little Net
Appendix B.2; on image layouts nothing is cropped.

Two bodies are provided:

* :func:`basic_block` -- ``num_convs`` 3x3 convolutions (the speech ResNet-22 and
  bL-ResNet-22 use blocks of one or two);
* :func:`bottleneck_block` -- 1x1, 3x3 (grouped for ResNeXt), 1x1, optional
  squeeze-and-excitation (the image networks, ResNet v1.5: stride on the 3x3).
"""

from __future__ import annotations

from torch import Tensor, nn

from blasr.core.layout import Layout

SHORTCUTS = ("conv", "avgpool_conv")


class ConvNormAct(nn.Sequential):
    """Convolution, batch norm and (optionally) ReLU."""

    def __init__(
        self,
        layout: Layout,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        bias: bool = True,
        act: bool = True,
    ) -> None:
        layers: list[nn.Module] = [
            layout.conv(in_channels, out_channels, kernel_size, stride, groups, bias),
            nn.BatchNorm2d(out_channels),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)
        self.shrink = layout.shrink(kernel_size)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al., 2018): channel gates from global pooling."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)
        self.shrink = 0

    def forward(self, x: Tensor) -> Tensor:
        gate = self.fc2(self.fc1(self.pool(x)).relu()).sigmoid()  # (N, C, 1, 1)
        return x * gate


def make_shortcut(
    layout: Layout,
    in_channels: int,
    out_channels: int,
    stride: int = 1,
    kind: str = "conv",
    bias: bool = True,
) -> nn.Module:
    """Identity when nothing changes; else a projection with the block's stride.

    ``kind="conv"``: strided 1x1 conv + BN (speech, torchvision).
    ``kind="avgpool_conv"``: 3x3 average pool (stride 2, pad 1) then a 1x1 conv + BN,
    only the pool when the channels are unchanged (Big-Little Net, Appendix A).
    """
    if kind not in SHORTCUTS:
        raise ValueError(f"unknown shortcut {kind!r}; choose one of {SHORTCUTS}")
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    if kind == "conv":
        return ConvNormAct(layout, in_channels, out_channels, 1, stride, bias=bias, act=False)
    layers: list[nn.Module] = []
    if stride != 1:
        layers.append(
            nn.AvgPool2d(
                kernel_size=3,
                stride=layout.stride(stride),
                padding=layout.padding(3),
                count_include_pad=True,
            )
        )
    if in_channels != out_channels:
        layers.append(ConvNormAct(layout, in_channels, out_channels, 1, bias=bias, act=False))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """``act(body(x) + crop(shortcut(x)))``.

    ``shrink`` is the number of elements the block removes along the layout's
    valid axis (``2 * num_convs`` frames for a speech basic block, 0 on images).
    """

    def __init__(
        self, body: nn.Sequential, shortcut: nn.Module, layout: Layout, final_act: bool = True
    ) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.layout = layout
        self.act = nn.ReLU(inplace=True) if final_act else nn.Identity()
        self.shrink = sum(getattr(layer, "shrink", 0) for layer in body)

    @property
    def last_norm(self) -> nn.BatchNorm2d:
        """The body's last batch norm (zero-initialised for "zero-init residual")."""
        norms = [m for m in self.body.modules() if isinstance(m, nn.BatchNorm2d)]
        return norms[-1]

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        identity = self.layout.crop_to(self.shortcut(x), out.shape)
        return self.act(out + identity)


def basic_block(
    layout: Layout,
    in_channels: int,
    out_channels: int,
    num_convs: int = 2,
    stride: int = 1,
    bias: bool = True,
    shortcut: str = "conv",
    final_act: bool = True,
) -> ResidualBlock:
    """``num_convs`` 3x3 convolutions; only the first one strides."""
    if num_convs < 1:
        raise ValueError(f"a basic block needs at least one convolution, got {num_convs}")
    convs = [
        ConvNormAct(
            layout,
            in_channels if i == 0 else out_channels,
            out_channels,
            3,
            stride if i == 0 else 1,
            bias=bias,
            act=i < num_convs - 1,
        )
        for i in range(num_convs)
    ]
    return ResidualBlock(
        nn.Sequential(*convs),
        make_shortcut(layout, in_channels, out_channels, stride, shortcut, bias),
        layout,
        final_act,
    )


def bottleneck_block(
    layout: Layout,
    in_channels: int,
    out_channels: int,
    width: int,
    stride: int = 1,
    groups: int = 1,
    se_reduction: int | None = None,
    bias: bool = False,
    shortcut: str = "conv",
    final_act: bool = True,
) -> ResidualBlock:
    """1x1 (in -> width), 3x3 (width, ``groups``, stride), 1x1 (width -> out), [SE].

    ResNet v1.5: the stride sits on the 3x3 convolution. SE, when asked for,
    follows the last batch norm, before the addition (Hu et al., 2018).
    """
    layers: list[nn.Module] = [
        ConvNormAct(layout, in_channels, width, 1, bias=bias),
        ConvNormAct(layout, width, width, 3, stride, groups=groups, bias=bias),
        ConvNormAct(layout, width, out_channels, 1, bias=bias, act=False),
    ]
    if se_reduction:
        layers.append(SqueezeExcite(out_channels, se_reduction))
    return ResidualBlock(
        nn.Sequential(*layers),
        make_shortcut(layout, in_channels, out_channels, stride, shortcut, bias),
        layout,
        final_act,
    )


def init_weights(model: nn.Module, zero_init_last: bool = False) -> None:
    """Kaiming normal (fan out) convs with zero biases; BN weight 1, bias 0.

    ``zero_init_last``: every residual block's last BN starts at 0, so each
    block starts as its shortcut (Goyal et al., 2017; Big-Little Net, Appendix A).
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_last:
        for module in model.modules():
            if isinstance(module, ResidualBlock):
                nn.init.zeros_(module.last_norm.weight)
