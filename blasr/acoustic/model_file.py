"""The trained acoustic model as one file (``EXP/final.pt``): weights plus what it takes to use them.

Contents (tensors and plain containers only, so it loads with
``torch.load(weights_only=True)``)::

    format          "blasr.acoustic_model/1"
    arch            registered architecture, e.g. "bl_resnet22_a2b3"
    model_options   the create_model overrides (num_classes, width, upsample)
    architecture    model.describe(): the configuration, context (24, 24), per-stage geometry
    class_counts    float64 (K,) tensor: analyze-counts of the training targets (+0.5 each)
    features        the feature settings: fbank options, normalisation, dimension, frame shift
    training        where it came from: epochs, steps, last validation metrics, git revision
    model           the state_dict (eval-ready: batch-norm running statistics)

:func:`load_model_file` also reads a training checkpoint of
:mod:`blasr.acoustic.trainer` (``EXP/checkpoints/epoch_012.pt``), which carries
the same description, so any epoch can be exported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from blasr.core.registry import create_model
from blasr.utils.checkpoint import CheckpointError, atomic_save, load_checkpoint

FORMAT = "blasr.acoustic_model/1"
TRAINING_FORMAT = "blasr.train/1"


@dataclass
class TrainedModel:
    """A model rebuilt from a file, in eval mode, with its description (:attr:`info`)."""

    model: nn.Module
    info: dict[str, Any]
    path: Path

    @property
    def class_counts(self) -> np.ndarray | None:
        counts = self.info.get("class_counts")
        return None if counts is None else counts.numpy()

    @property
    def features(self) -> dict[str, Any]:
        return self.info.get("features", {})

    @property
    def num_classes(self) -> int:
        return int(self.info["model_options"]["num_classes"])


def feature_settings(first_cut, normalization: str, norm_vars: bool, cmvn: str | None) -> dict[str, Any]:
    """What the model expects as input, from the first training cut and the loader options.

    ``fbank`` is the ``fbank.json`` that :func:`blasr.features.compute_features`
    wrote beside the feature archive (None if it is not there).
    """
    features = first_cut.features
    fbank = None
    settings_file = Path(features.storage_path).parent / "fbank.json"
    if settings_file.is_file():
        fbank = json.loads(settings_file.read_text())
    return dict(type=features.type, num_features=int(features.num_features),
                frame_shift=float(features.frame_shift), sampling_rate=int(features.sampling_rate),
                fbank=fbank, normalization=normalization, norm_vars=bool(norm_vars), cmvn=cmvn,
                deltas=dict(order=2, window=2))


def model_info(arch: str, model_options: dict[str, Any], model: nn.Module, class_counts: np.ndarray,
               features: dict[str, Any], training: dict[str, Any] | None = None) -> dict[str, Any]:
    """The description stored with the weights (everything but ``model``)."""
    return dict(
        arch=arch,
        model_options=dict(model_options),
        architecture=model.describe(),
        class_counts=torch.as_tensor(np.asarray(class_counts, dtype=np.float64)),
        features=features,
        training=dict(training or {}),
    )


def save_model_file(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    """Write ``final.pt`` atomically."""
    return atomic_save({"format": FORMAT, **info, "model": state_dict}, path)


def load_model_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the model of a ``final.pt`` (or of a training checkpoint) in eval mode on ``device``."""
    path = Path(path)
    state = load_checkpoint(path)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a blasr acoustic model")
    if state.get("format") == FORMAT:
        info = {k: v for k, v in state.items() if k not in ("format", "model")}
    elif state.get("format") == TRAINING_FORMAT and "model_info" in state:
        info = state["model_info"]
    else:
        raise CheckpointError(f"{path} is not a blasr acoustic model ({FORMAT}) nor a training checkpoint "
                              f"({TRAINING_FORMAT})")
    model = create_model(info["arch"], **info["model_options"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: the weights do not fit {info['arch']} with {info['model_options']}: "
                              f"{str(error).splitlines()[0]}") from error
    return TrainedModel(model.to(device).eval(), info, path)
