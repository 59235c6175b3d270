"""The Big-Little core: layouts, residual blocks, the Big-Little module, registry, cost.

Knows nothing of speech or images beyond the :class:`~blasr.core.layout.Layout`
that tells which axes are padded and resampled.
"""

from blasr.core.big_little import BigLittleModule, Branch, BranchSpec, big_little_module
from blasr.core.blocks import (
    ConvNormAct,
    ResidualBlock,
    SqueezeExcite,
    basic_block,
    bottleneck_block,
    init_weights,
    make_shortcut,
)
from blasr.core.cost import Cost, build_on_meta, count_cost, count_params
from blasr.core.layout import IMAGE, SPEECH, Layout
from blasr.core.registry import create_model, list_models, register_model

__all__ = [
    "BigLittleModule",
    "Branch",
    "BranchSpec",
    "ConvNormAct",
    "Cost",
    "IMAGE",
    "Layout",
    "ResidualBlock",
    "SPEECH",
    "SqueezeExcite",
    "basic_block",
    "big_little_module",
    "bottleneck_block",
    "build_on_meta",
    "count_cost",
    "count_params",
    "init_weights",
    "create_model",
    "list_models",
    "make_shortcut",
    "register_model",
]
