"""One model registry for every domain (speech, image).

Architecture names follow one grammar::

    [bl_][pyr_]<family><depth>[_<cardinality>x<width>d][_a<alpha>b<beta>][_<modifier>]

* ``bl_``        Big-Little Net (Chen et al., ICLR 2019); absent for the baselines;
* ``pyr_``       the pyramidal speech variant (more than two branches per module);
* ``family``     ``resnet``, ``resnext``, ``seresnext``; ``depth`` 22 (speech), 50/101/152 (image);
* ``_32x4d``     ResNeXt cardinality x bottleneck width;
* ``_a4b1``      alpha (little-branch width reduction) and beta (depth reduction);
* ``_cat``       modifier: concatenation merge instead of addition.

Examples: ``resnet22``, ``bl_resnet22_a2b3``, ``bl_resnet22_a4b1_cat``,
``bl_pyr_resnet22_a4b1``. Any constructor keyword (``alpha``, ``beta``,
``width``, ``num_classes``, ``upsample`` ...) can be overridden in
:func:`create_model`; ``None`` overrides are dropped, so command-line defaults of
``None`` leave the registered configuration alone.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from typing import Callable

from torch import nn

DOMAINS = ("speech", "image")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    domain: str
    builder: Callable[..., nn.Module]


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(domain: str, name: str | None = None) -> Callable:
    """Decorator registering a builder under ``name`` (default: the function's name)."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; choose one of {DOMAINS}")

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or builder.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is already registered")
        _REGISTRY[key] = ModelEntry(key, domain, builder)
        return builder

    return decorator


def get_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown architecture {name!r}{hint} (list them with "
            "`python -m blasr.profile --list`)"
        ) from None


def create_model(name: str, **overrides) -> nn.Module:
    """Build a registered architecture; keyword overrides of ``None`` are ignored."""
    entry = get_entry(name)
    kwargs = {key: value for key, value in overrides.items() if value is not None}
    return entry.builder(**kwargs)


def list_models(pattern: str = "*", domain: str | None = None) -> list[str]:
    """Registered names matching a shell-style ``pattern``, optionally of one domain.

    Names come in registration order, which follows the paper's tables.
    """
    return [
        name
        for name, entry in _REGISTRY.items()
        if fnmatch.fnmatchcase(name, pattern) and (domain is None or entry.domain == domain)
    ]
