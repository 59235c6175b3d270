"""Import the Big-Little Net authors' released ImageNet checkpoints.

    python -m blasr.convert_image ImageNet-bLResNet-50-a2-b4.pth.tar bl_resnet50_a2b4.pt --arch bl_resnet50_a2b4

The released checkpoints (seven alpha=2, beta=4 models) hold
``checkpoint["state_dict"]`` with the authors' module names (``conv1``,
``b_conv0``, ``l_conv0..2``, ``bl_init``, ``layerK.big.i``, ``layerK.little.i``,
``layerK.little_e``, ``layerK.fusion.0``, ``layer4.i``, ``fc``; a ``module.``
prefix when saved from DataParallel). Every entry is renamed onto the blasr
model; any entry missing, left over or of the wrong shape stops the conversion
with a message listing them. Those weights were trained with nearest
upsampling, so the converted model is built with ``upsample="nearest"``.

The output holds ``{"arch", "overrides", "state_dict"}`` (tensors and plain
containers only, written atomically); :func:`load_converted` rebuilds the model.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from blasr.core.registry import create_model, get_entry
from blasr.utils.checkpoint import atomic_save, load_checkpoint
from blasr.utils.errors import BlasrError

RELEASED_OVERRIDES = {"upsample": "nearest"}

# stem: the authors' flat names -> blasr module paths
_STEM = {
    "conv1": "stem.0",
    "bn1": "stem.1",
    "b_conv0": "bl_stem.branches.0.blocks.0.0",
    "bn_b0": "bl_stem.branches.0.blocks.0.1",
    "l_conv0": "bl_stem.branches.1.blocks.0.0",
    "bn_l0": "bl_stem.branches.1.blocks.0.1",
    "l_conv1": "bl_stem.branches.1.blocks.1.0",
    "bn_l1": "bl_stem.branches.1.blocks.1.1",
    "l_conv2": "bl_stem.branches.1.projection.0",
    "bn_l2": "bl_stem.branches.1.projection.1",
    "bl_init": "stem_fuse.0",
    "bn_bl_init": "stem_fuse.1",
    "fc": "fc",
}
# inside a bottleneck
_BLOCK = {
    "conv1": "body.0.0",
    "bn1": "body.0.1",
    "conv2": "body.1.0",
    "bn2": "body.1.1",
    "conv3": "body.2.0",
    "bn3": "body.2.1",
    "se_layer": "body.3",
}
_BLOCK_PREFIX = [
    (re.compile(r"^layer([123])\.big\.(\d+)\.(.*)$"), "stages.{s}.0.branches.0.blocks.{i}."),
    (re.compile(r"^layer([123])\.little\.(\d+)\.(.*)$"), "stages.{s}.0.branches.1.blocks.{i}."),
    (re.compile(r"^layer([123])\.fusion\.(0)\.(.*)$"), "stages.{s}.1."),
    (re.compile(r"^layer(4)\.(\d+)\.(.*)$"), "stages.3.{i}."),
]
_LITTLE_E = re.compile(r"^layer([123])\.little_e\.([01])\.(.*)$")


class ConversionError(BlasrError, ValueError):
    """The source checkpoint does not fit the requested architecture."""


def arch_from_filename(path: str | Path) -> str:
    """``ImageNet-bLSEResNeXt-50-32x4d-a2-b4.pth.tar`` -> ``bl_seresnext50_32x4d_a2b4``."""
    match = re.match(
        r"ImageNet-bL(SE)?(ResNeXt|ResNet)-(\d+)(?:-(\d+x\d+d))?-a(\d+)-b(\d+)", Path(path).name
    )
    if not match:
        raise ConversionError(f"cannot tell the architecture from {Path(path).name!r}: pass --arch")
    se, family, depth, groups, alpha, beta = match.groups()
    name = f"bl_{'se' if se else ''}{family.lower()}{depth}{'_' + groups if groups else ''}_a{alpha}b{beta}"
    get_entry(name)
    return name


def rename(name: str, source_names: set[str]) -> str:
    """The blasr state-dict name of one entry of the authors' state dict."""
    head, _, tail = name.partition(".")
    if head in _STEM:
        return f"{_STEM[head]}.{tail}"
    match = _LITTLE_E.match(name)
    if match:
        stage, index, rest = match.groups()
        return f"stages.{int(stage) - 1}.0.branches.1.projection.{index}.{rest}"
    for pattern, template in _BLOCK_PREFIX:
        match = pattern.match(name)
        if not match:
            continue
        stage, index, rest = match.groups()
        prefix = template.format(s=int(stage) - 1, i=index)
        part, _, leaf = rest.partition(".")
        if part in _BLOCK:
            return f"{prefix}{_BLOCK[part]}.{leaf}"
        if part == "downsample":
            # (AvgPool, conv, BN) when the block strides, else (conv, BN)
            position, _, leaf = leaf.partition(".")
            source_block = name[: len(name) - len(rest)]
            pooled = f"{source_block}downsample.2.weight" in source_names
            layer = int(position) - (1 if pooled else 0)
            return f"{prefix}shortcut.{1 if pooled else 0}.{layer}.{leaf}"
        break
    raise ConversionError(f"unexpected entry {name!r}: not a name of the authors' bL-Net models")


def source_state_dict(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The state dict inside a released checkpoint, without a DataParallel prefix."""
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError("the checkpoint holds no state dict of tensors (expected checkpoint['state_dict'])")
    return {k.removeprefix("module."): v for k, v in state.items()}


def convert_state_dict(source: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename ``source`` onto ``model``'s names; refuse any missing, extra or mis-shaped entry."""
    target = model.state_dict()
    names = set(source)
    converted: dict[str, torch.Tensor] = {}
    claimed: set[str] = set()  # model entries some source entry maps to (even mis-shaped)
    problems: list[str] = []
    for name, tensor in source.items():
        try:
            new = rename(name, names)
        except ConversionError as error:
            problems.append(str(error))
            continue
        claimed.add(new)
        if new not in target:
            problems.append(f"extra entry {name!r} (-> {new!r}) has no place in the model")
        elif target[new].shape != tensor.shape:
            problems.append(
                f"entry {name!r} has shape {tuple(tensor.shape)}, the model's {new!r} needs "
                f"{tuple(target[new].shape)}"
            )
        else:
            converted[new] = tensor
    missing = sorted(set(target) - claimed)
    problems += [f"missing entry for the model's {name!r}" for name in missing]
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ConversionError(f"{len(problems)} problem(s) converting the checkpoint:\n  {shown}{more}")
    return converted


def convert_checkpoint(src: str | Path, dst: str | Path, arch: str | None = None) -> Path:
    """Convert a released checkpoint file into a blasr checkpoint at ``dst``."""
    arch = arch or arch_from_filename(src)
    try:
        source = source_state_dict(load_checkpoint(src))
        model = create_model(arch, **RELEASED_OVERRIDES)
        state = convert_state_dict(source, model)
    except ConversionError as error:
        raise ConversionError(f"{src} -> {arch}: {error}") from None
    model.load_state_dict(state)
    return atomic_save(
        {"arch": arch, "overrides": dict(RELEASED_OVERRIDES), "state_dict": model.state_dict()}, dst
    )


def load_converted(path: str | Path) -> nn.Module:
    """Rebuild the model saved by :func:`convert_checkpoint` (weights_only loading)."""
    checkpoint = load_checkpoint(path)
    model = create_model(checkpoint["arch"], **checkpoint["overrides"])
    model.load_state_dict(checkpoint["state_dict"])
    return model
