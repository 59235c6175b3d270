"""Registered speech architectures (Big-Little Net, Table 3).

Every name is a row of :data:`VARIANTS` (variants are data, as in
:mod:`blasr.image.zoo`). Each builder takes the network options of
:class:`~blasr.speech.config.SpeechNetConfig` (``width``, ``num_classes``,
``merge``, ``upsample``, ``num_mel_bins``, ``in_channels`` ...) and, for the
Big-Little variants, ``alpha`` and ``beta`` overrides, e.g.
``create_model("bl_resnet22_a4b1", alpha=2, width=0.25, num_classes=500)``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from blasr.core.registry import register_model
from blasr.speech import config as C
from blasr.speech.model import SpeechResNet, speech_resnet


class Variant(NamedTuple):
    """One row of Table 3: the registered name, the family that builds its stages, and its defaults."""

    name: str
    family: str  # "resnet22", "bl_resnet22" or "bl_pyr_resnet22" (the stage builders of blasr.speech.config)
    defaults: dict  # alpha, beta, branch_last (bl_resnet22 only), merge ...; callers may override them
    doc: str


# Table 3, in its order
VARIANTS: list[Variant] = [
    Variant("resnet22", "resnet22", {}, "ResNet-22 baseline (Big-Little Net Table 3 line 1; Saon et al., 2017, "
            "simplified). 1.11 GFLOPs per 49-frame window, 30.2 M parameters (16.4 M in the output layer)."),
    Variant("bl_resnet22_a4b1", "bl_resnet22", {"alpha": 4, "beta": 1},
            "bL-ResNet-22 (alpha=4, beta=1), Table 3 line 2: every module branched."),
    Variant("bl_resnet22_a4b2", "bl_resnet22", {"alpha": 4, "beta": 2},
            "bL-ResNet-22 (alpha=4, beta=2), Table 3 line 3: little branches of (2, 1) / (2,) convs."),
    Variant("bl_resnet22_a4b3", "bl_resnet22", {"alpha": 4, "beta": 3},
            "bL-ResNet-22 (alpha=4, beta=3), Table 3 line 4: little branches of one two-conv block."),
    Variant("bl_resnet22_a2b3", "bl_resnet22", {"alpha": 2, "beta": 3, "branch_last": False},
            "bL-ResNet-22 (alpha=2, beta=3), Table 3 line 5, the paper's best. Deviation by design of the paper: "
            "module 4 is not branched (a plain stage of two two-conv blocks at 512 channels, F=4)."),
    Variant("bl_resnet22_a4b1_cat", "bl_resnet22", {"alpha": 4, "beta": 1, "merge": "cat"},
            "bL-ResNet-22 (alpha=4, beta=1) with concatenation merge + 1x1 conv, Table 3 line 6."),
    Variant("bl_pyr_resnet22_a4b1", "bl_pyr_resnet22", {"alpha": 4, "beta": 1},
            "bL-PYR-ResNet-22 (alpha=4, beta=1), Table 3 line 7: 4/3/2-branch modules, module 4 plain."),
]

# family -> (stage builder, the keywords it takes: not network options)
FAMILIES: dict[str, tuple[Callable[..., tuple[C.StageConfig, ...]], tuple[str, ...]]] = {
    "resnet22": (C.resnet22, ()),
    "bl_resnet22": (C.bl_resnet22, ("alpha", "beta", "branch_last")),
    "bl_pyr_resnet22": (C.bl_pyr_resnet22, ("alpha", "beta")),
}


def _builder(variant: Variant) -> Callable[..., SpeechResNet]:
    stages, stage_keywords = FAMILIES[variant.family]

    def build(**options) -> SpeechResNet:
        options = {**variant.defaults, **options}
        stage_options = {k: options.pop(k) for k in stage_keywords if k in options}
        unknown = set(options) - C.option_names()
        if unknown:
            valid = ", ".join(sorted(C.option_names() | set(stage_keywords)))
            raise ValueError(f"{variant.name}: unknown option(s) {sorted(unknown)}; valid options: {valid}")
        return speech_resnet(stages(**stage_options), variant.name, **options)

    build.__name__ = variant.name
    build.__doc__ = variant.doc
    return build


for _variant in VARIANTS:
    register_model("speech", _variant.name)(_builder(_variant))
