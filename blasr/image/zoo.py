"""Registered image architectures (Big-Little Net, Tables 1, 2, 11).

Every name is a row of :data:`VARIANTS` (variants are data). Each builder
accepts :class:`~blasr.image.config.ImageNetConfig` options as overrides
(``alpha``, ``beta``, ``upsample``, ``num_classes``, ``width``, ``merge`` ...),
e.g. ``create_model("bl_resnet50_a2b4", alpha=4, beta=2, upsample="nearest")``.
"""

from __future__ import annotations

from blasr.core.registry import register_model
from blasr.image.config import BL_LAYERS, LAYERS, option_names
from blasr.image.model import ImageResNet, image_resnet

# family -> (cardinality, base width, SE reduction)
FAMILIES = {
    "resnet": (1, 64, None),
    "resnext": (None, None, None),  # cardinality and width come from the name (32x4d)
    "seresnext": (None, None, 16),
}

# (family, depth, "CxWd" or "", alphas/betas of the Big-Little rows or None for a baseline)
VARIANTS: list[tuple[str, int, str, tuple[tuple[int, int], ...]]] = [
    ("resnet", 50, "", ((1, 1), (1, 2), (2, 2), (2, 4), (4, 2), (4, 4))),  # Tables 1, 11
    ("resnet", 101, "", ((1, 1), (2, 2), (2, 4))),  # Tables 2, 11
    ("resnet", 152, "", ((2, 4),)),  # Table 2
    ("resnext", 50, "32x4d", ((2, 4),)),
    ("resnext", 101, "32x4d", ((2, 4),)),
    ("resnext", 101, "64x4d", ((2, 4),)),
    ("seresnext", 50, "32x4d", ((2, 4),)),
    ("seresnext", 101, "32x4d", ((2, 4),)),
]


def _builder(name: str, family: str, depth: int, groups: str, big_little: tuple[int, int] | None):
    cardinality, base_width, se = FAMILIES[family]
    if groups:
        cardinality, base_width = (int(v) for v in groups.rstrip("d").split("x"))
    defaults = dict(cardinality=cardinality, base_width=base_width, se_reduction=se)
    if big_little:
        defaults.update(alpha=big_little[0], beta=big_little[1])
    layers = (BL_LAYERS if big_little else LAYERS)[depth]

    def build(**options) -> ImageResNet:
        unknown = set(options) - option_names()
        if unknown:
            raise ValueError(f"{name}: unknown option(s) {sorted(unknown)}; valid: {', '.join(sorted(option_names()))}")
        return image_resnet(layers, name, big_little=big_little is not None, **{**defaults, **options})

    kind = f"bL-Net (alpha={big_little[0]}, beta={big_little[1]})" if big_little else "baseline"
    build.__name__ = name
    build.__doc__ = f"{family}-{depth} {groups} {kind}; blocks per stage {layers} (Big-Little Net, Appendix A)."
    return build


def _register_all() -> None:
    for family, depth, groups, rows in VARIANTS:
        suffix = f"_{groups}" if groups else ""
        base = f"{family}{depth}{suffix}"
        register_model("image", base)(_builder(base, family, depth, groups, None))
        for alpha, beta in rows:
            name = f"bl_{base}_a{alpha}b{beta}"
            register_model("image", name)(_builder(name, family, depth, groups, (alpha, beta)))


_register_all()
