"""Time-unpadded (bL-)ResNet acoustic models for hybrid speech recognition.

Input: log-mel features with deltas, ``(N, 3, F, T)``, F = 64 mel bins.
Output: per-frame logits ``(N, T - 48, num_classes)``, frame-major like a Kaldi
matrix: ``logits[n, t]`` scores input frame ``t + 24`` (24 frames of left and
right context). A 49-frame window gives exactly one frame (the paper's
training setting); a longer input gives dense predictions for every frame
whose window lies inside it (Sercu & Goel, 2016).

Time is never padded nor strided (Big-Little Net, Appendix B.2): every 3x3
convolution removes 2 frames, the 5x5 stem 4, and shortcuts and shallower
branches are centre-cropped to the deeper path. Dense output over a long input
therefore equals, frame for frame, the output on each 49-frame window.
"""

from __future__ import annotations

from dataclasses import asdict, replace

from torch import Tensor, nn

from blasr.core.big_little import big_little_module
from blasr.core.blocks import ConvNormAct, ResidualBlock, basic_block, init_weights
from blasr.core.layout import SPEECH
from blasr.speech.config import SpeechNetConfig, StageConfig


class SpeechResNet(nn.Module):
    """ResNet-22 / bL-ResNet-22 family, built from a :class:`SpeechNetConfig`.

    Attributes:
        left_context, right_context: frames of context each output frame needs (24, 24).
        receptive_field: input frames per output frame (49).
        feature_info: per stage, its module name, channels, frequency reduction
            and the frames removed so far (``shrink``).
    """

    def __init__(self, config: SpeechNetConfig) -> None:
        super().__init__()
        self.config = config
        layout = SPEECH
        ch = config.channels

        self.stem = ConvNormAct(layout, config.in_channels, ch(config.stem_channels), 5, stride=2)
        freq = _strided(config.num_mel_bins, 2)
        channels = ch(config.stem_channels)
        shrink = self.stem.shrink
        self.feature_info = [dict(module="stem", num_chs=channels, reduction=2, shrink=shrink)]

        stages = []
        for index, stage in enumerate(config.stages):
            layers: list[nn.Module] = []
            if stage.transition:
                layers.append(basic_block(layout, channels, channels, num_convs=1, stride=2))
                freq = _strided(freq, 2)
            out_channels = ch(stage.channels)
            if stage.branches:
                layers.append(self._module(stage, channels, out_channels, freq, index))
            else:
                for i, num_convs in enumerate(stage.blocks):
                    stride = stage.stride if i == 0 else 1
                    layers.append(
                        basic_block(layout, channels, out_channels, num_convs, stride)
                    )
                    freq = _strided(freq, stride)
                    channels = out_channels
            channels = out_channels
            shrink += sum(layer.shrink for layer in layers)
            stages.append(nn.Sequential(*layers))
            self.feature_info.append(
                dict(
                    module=f"stages.{index}",
                    num_chs=channels,
                    reduction=config.num_mel_bins // freq,
                    shrink=shrink,
                )
            )
        self.stages = nn.Sequential(*stages)

        # (F_last x 1) projection without frequency padding: (N, C, 4, T) -> (N, C, 1, T)
        head_channels = ch(config.head_channels)
        self.head = nn.Sequential(
            nn.Conv2d(channels, head_channels, kernel_size=(freq, 1)),
            nn.BatchNorm2d(head_channels),
            nn.ReLU(inplace=True),
        )
        # the paper's 1x1 conv to the CD states, as a Linear on frame-major features
        self.output = nn.Linear(head_channels, config.num_classes)

        self.shrink = shrink
        self.left_context = shrink // 2
        self.right_context = shrink - shrink // 2
        self.receptive_field = shrink + 1
        init_weights(self)

    def _module(
        self, stage: StageConfig, in_channels: int, out_channels: int, freq: int, index: int
    ) -> nn.Module:
        config = self.config
        branches = []
        for spec in stage.branches:
            if freq % spec.scale:
                raise ValueError(
                    f"stage {index}: a branch at 1/{spec.scale} frequency resolution needs "
                    f"the frequency size ({freq}) to be a multiple of {spec.scale}; "
                    "choose num_mel_bins accordingly"
                )
            branches.append(replace(spec, channels=config.channels(spec.channels)))

        def make_block(c_in: int, c_out: int, stride: int, num_convs: int, final_act: bool) -> ResidualBlock:
            return basic_block(SPEECH, c_in, c_out, num_convs, stride, final_act=final_act)

        return big_little_module(
            SPEECH, in_channels, out_channels, branches, make_block, config.merge, config.upsample
        )

    def output_length(self, num_frames: int) -> int:
        """Output frames for ``num_frames`` input frames: ``T - 48``."""
        return num_frames - self.shrink

    def check_input(self, feats: Tensor) -> None:
        config = self.config
        if feats.dim() != 4:
            raise ValueError(
                f"expected features of shape (N, {config.in_channels}, {config.num_mel_bins}, T), "
                f"got {tuple(feats.shape)}"
            )
        _, channels, bins, frames = feats.shape
        if channels != config.in_channels:
            raise ValueError(
                f"expected {config.in_channels} input channels (static, delta, delta-delta), "
                f"got {channels} in a {tuple(feats.shape)} tensor"
            )
        if bins != config.num_mel_bins:
            raise ValueError(f"expected {config.num_mel_bins} mel bins, got {bins}")
        if frames < self.receptive_field:
            raise ValueError(
                f"need at least {self.receptive_field} frames ({self.left_context} left + 1 + "
                f"{self.right_context} right context), got {frames}"
            )

    def forward_features(self, feats: Tensor) -> Tensor:
        """(N, 3, F, T) -> (N, head_channels, T - 48), before the output layer."""
        self.check_input(feats)
        x = self.stages(self.stem(feats))
        return self.head(x).squeeze(2)  # (N, C, 1, T') -> (N, C, T')

    def forward(self, feats: Tensor) -> Tensor:
        """(N, 3, F, T) -> logits (N, T - 48, num_classes)."""
        x = self.forward_features(feats).transpose(1, 2)  # (N, C, T') -> (N, T', C)
        return self.output(x)

    def describe(self) -> dict:
        """The architecture's configuration and geometry, for experiment directories."""
        return dict(
            config=asdict(self.config),
            left_context=self.left_context,
            right_context=self.right_context,
            feature_info=self.feature_info,
        )


def _strided(size: int, stride: int) -> int:
    """Output size of a 'same'-padded (odd kernel) convolution with ``stride``."""
    return -(-size // stride)


def speech_resnet(stages: tuple[StageConfig, ...], arch: str, **options) -> SpeechResNet:
    """Build a :class:`SpeechResNet` from stage configs plus network options."""
    return SpeechResNet(SpeechNetConfig(stages=stages, arch=arch, **options))


__all__ = ["SpeechResNet", "speech_resnet"]
