"""Registered speech architectures (Big-Little Net, Table 3).

Each builder takes the network options of
:class:`~blasr.speech.config.SpeechNetConfig` (``width``, ``num_classes``,
``merge``, ``upsample``, ``num_mel_bins``, ``in_channels`` ...) and, for the
Big-Little variants, ``alpha`` and ``beta`` overrides, e.g.
``create_model("bl_resnet22_a4b1", alpha=2, width=0.25, num_classes=500)``.
"""

from __future__ import annotations

from blasr.core.registry import register_model
from blasr.speech import config as C
from blasr.speech.model import SpeechResNet, speech_resnet


def _checked(arch: str, options: dict, extra: set[str] = frozenset()) -> dict:
    unknown = set(options) - C.option_names() - set(extra)
    if unknown:
        valid = ", ".join(sorted(C.option_names() | set(extra)))
        raise ValueError(f"{arch}: unknown option(s) {sorted(unknown)}; valid options: {valid}")
    return options


def _bl(arch: str, alpha: int, beta: int, branch_last: bool = True, **options) -> SpeechResNet:
    options = _checked(arch, options)
    return speech_resnet(C.bl_resnet22(alpha, beta, branch_last), arch, **options)


@register_model("speech")
def resnet22(**options) -> SpeechResNet:
    """ResNet-22 baseline (Big-Little Net Table 3 line 1; Saon et al., 2017, simplified).

    1.11 GFLOPs per 49-frame window, 30.2 M parameters (16.4 M in the output layer).
    """
    return speech_resnet(C.resnet22(), "resnet22", **_checked("resnet22", options))


@register_model("speech")
def bl_resnet22_a4b1(**options) -> SpeechResNet:
    """bL-ResNet-22 (alpha=4, beta=1), Table 3 line 2: every module branched."""
    return _bl("bl_resnet22_a4b1", **{"alpha": 4, "beta": 1, **options})


@register_model("speech")
def bl_resnet22_a4b2(**options) -> SpeechResNet:
    """bL-ResNet-22 (alpha=4, beta=2), Table 3 line 3: little branches of (2, 1) / (2,) convs."""
    return _bl("bl_resnet22_a4b2", **{"alpha": 4, "beta": 2, **options})


@register_model("speech")
def bl_resnet22_a4b3(**options) -> SpeechResNet:
    """bL-ResNet-22 (alpha=4, beta=3), Table 3 line 4: little branches of one two-conv block."""
    return _bl("bl_resnet22_a4b3", **{"alpha": 4, "beta": 3, **options})


@register_model("speech")
def bl_resnet22_a2b3(**options) -> SpeechResNet:
    """bL-ResNet-22 (alpha=2, beta=3), Table 3 line 5, the paper's best.

    Deviation by design of the paper: module 4 is not branched (a plain stage of
    two two-conv blocks at 512 channels, F=4).
    """
    return _bl("bl_resnet22_a2b3", **{"alpha": 2, "beta": 3, "branch_last": False, **options})


@register_model("speech")
def bl_resnet22_a4b1_cat(**options) -> SpeechResNet:
    """bL-ResNet-22 (alpha=4, beta=1) with concatenation merge + 1x1 conv, Table 3 line 6."""
    return _bl("bl_resnet22_a4b1_cat", **{"alpha": 4, "beta": 1, "merge": "cat", **options})


@register_model("speech")
def bl_pyr_resnet22_a4b1(**options) -> SpeechResNet:
    """bL-PYR-ResNet-22 (alpha=4, beta=1), Table 3 line 7: 4/3/2-branch modules, module 4 plain."""
    options = {"alpha": 4, "beta": 1, **options}
    alpha, beta = options.pop("alpha"), options.pop("beta")
    options = _checked("bl_pyr_resnet22_a4b1", options)
    return speech_resnet(C.bl_pyr_resnet22(alpha, beta), "bl_pyr_resnet22_a4b1", **options)
