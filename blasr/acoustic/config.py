"""Speech training options: one dataclass, YAML files, command-line overrides.

Every option of ``python -m blasr.train`` is a field of :class:`TrainConfig`.
Its defaults are the paper's recipe (Big-Little Net, Appendix B.1) and equal
``blasr/acoustic/conf/default.yaml`` (a test keeps the two in step). A run's
options are resolved in this order, later ones winning::

    TrainConfig defaults (= conf/default.yaml)
      < YAML files given with --config, in the order given
      < command-line flags

A YAML file is a flat mapping of field names (``batch_size: 128``); an unknown
name is an error naming the file, as Kaldi's option parsing refuses unknown
options. ``--config chunk`` or ``--config debug`` name a packaged file in
``conf/``; anything else is a path. The architecture comes only from ``--arch``
(plus ``width`` / ``upsample`` overrides).

:func:`resolve` then derives what depends on the number of processes:

* ``batch_size`` (rows per process) defaults to 256 *target frames*: 256
  windows in window mode (the paper's per-GPU batch), ``256 // chunk_frames``
  chunks in chunk mode;
* ``lr`` defaults to ``base_lr`` (0.03) per ``base_batch_frames`` (512, the
  paper's 2 x 256) target frames per optimiser step, scaled linearly with the
  global number of target frames per step (Goyal et al., 2017).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from blasr.acoustic.selection import METRICS as SELECT_METRICS
from blasr.data.spec_augment import SpecAugment
from blasr.training.averaging import SELECTIONS

CONF_DIR = Path(__file__).parent / "conf"
MODES = ("window", "chunk")
NORMALIZATIONS = ("utterance", "speaker", "side", "none")


@dataclass
class TrainConfig:
    """Every option of ``python -m blasr.train``; ``None`` means "derive it" (see :func:`resolve`)."""

    arch: str = ""                   # speech architecture, e.g. bl_resnet22_a2b3 (required)
    data: str = ""                   # training cuts: features + targets (blasr.data.attach_targets)
    exp: str = ""                    # experiment directory
    valid_data: str | None = None    # held-out cuts with targets: frame accuracy / CE every epoch
    # model
    num_pdfs: int | None = None      # output classes; None: the num_pdfs file beside the training targets
    width: float | None = None       # channel multiplier (small experiments)
    upsample: str | None = None      # bilinear (default) or nearest
    # data
    mode: str = "window"             # window: 49-frame windows (the paper's); chunk: dense prediction
    chunk_frames: int = 64           # target frames per row in chunk mode
    batch_size: int | None = None    # rows per process; None: 256 target frames
    normalization: str = "utterance"  # utterance (the paper's), speaker, side, none
    cmvn: str | None = None          # CmvnTable .npz for speaker / side normalisation
    norm_vars: bool = True
    shuffle_buffer_frames: int = 100_000
    workers: int = 2                 # loader processes per training process
    valid_chunk_frames: int = 256    # evaluation is dense (chunk mode): same numbers as windows
    valid_batch_size: int = 8
    # SpecAugment masks on the training input (Park et al. 2019, no time warping); off: the paper's recipe
    spec_freq_masks: int = 0         # m_F: frequency masks per utterance
    spec_freq_width: int = 20        # F: the widest frequency mask, in mel bins
    spec_time_masks: int = 0         # m_T: time masks per utterance
    spec_time_width: int = 40        # T: the widest time mask, in frames
    spec_time_fraction: float = 0.2  # p: a time mask covers at most this fraction of the utterance
    spec_freq_warp: float = 0.0      # VTLP: a warp factor per utterance from U[1 - this, 1 + this]; 0: none
    # optimisation (Appendix B.1)
    epochs: int = 16
    lr: float | None = None          # None: base_lr x global target frames per step / base_batch_frames
    base_lr: float = 0.03
    base_batch_frames: int = 512
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-6
    lr_decay: float = math.sqrt(0.5)  # lr x lr_decay at the start of every epoch >= lr_decay_from_epoch
    lr_decay_from_epoch: int = 10
    grad_clip: float = 10.0          # max global gradient norm; 0 disables
    label_smoothing: float = 0.0     # training targets (1 - this) on the state, this / K spread; 0: the paper's
    # hardware
    device: str | None = None        # None: cuda when available
    amp: bool | None = None          # bf16 autocast; None: on with CUDA
    channels_last: bool | None = None  # None: on with CUDA
    compile: bool = False            # torch.compile the model
    sync_bn: bool = False            # batch-norm statistics over all processes (SyncBatchNorm)
    deterministic: bool = False
    # run control
    seed: int = 0
    resume: str | None = None        # checkpoint path, or "auto" (newest good one in exp/checkpoints)
    max_steps_per_epoch: int | None = None  # shorten epochs (smoke tests, benchmarks)
    save_every_steps: int = 1000     # also checkpoint inside epochs; 0: epoch ends only
    keep_checkpoints: int = 0        # epoch checkpoints kept (newest); 0 keeps all
    log_every: int = 50              # steps between log lines / TensorBoard points / NaN checks
    tensorboard: bool = True
    plot: bool = True                # EXP/curves.png after every epoch
    # model selection: final.pt is the average of the `avg` epochs ending at the selected one
    select: str = "last"             # last: the last epoch; best: the lowest select_metric on valid_data
    select_metric: str = "loss"      # loss: validation cross-entropy; frame_error: 100 - frame accuracy
    avg: int = 1                     # epochs averaged (icefall's --avg); 1: the selected epoch itself

    @property
    def target_frames_per_row(self) -> int:
        return 1 if self.mode == "window" else self.chunk_frames

    @property
    def spec_augment(self) -> SpecAugment:
        return SpecAugment(self.spec_freq_masks, self.spec_freq_width, self.spec_time_masks, self.spec_time_width,
                           self.spec_time_fraction, self.spec_freq_warp)


def spec_augment_for(spec: SpecAugment, features: dict[str, Any]) -> SpecAugment:
    """``spec`` with the warp band of the training features (``fbank.json`` in ``feature_settings``), if known."""
    fbank = features.get("fbank")
    if not fbank or spec.freq_warp <= 0:
        return spec
    nyquist = fbank["sample_rate"] / 2
    high = fbank["high_freq"] if fbank["high_freq"] > 0 else nyquist + fbank["high_freq"]
    return replace(spec, low_hz=float(fbank["low_freq"]), high_hz=float(high))


def field_names() -> set[str]:
    return {f.name for f in fields(TrainConfig)}


def default_options() -> dict[str, Any]:
    return asdict(TrainConfig())


def config_path(name: str | os.PathLike) -> Path:
    """``chunk`` -> ``blasr/acoustic/conf/chunk.yaml``; a path is returned as it is."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    packaged = CONF_DIR / f"{name}.yaml"
    if not packaged.is_file():
        known = sorted(p.stem for p in CONF_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"config {name!r}: no such file, and not one of the packaged configs {known}")
    return packaged


def load_yaml_options(name: str | os.PathLike) -> dict[str, Any]:
    """The options of one YAML file, checked against :class:`TrainConfig`'s fields."""

    path = config_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        options = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(options, dict):
        raise ValueError(f"{path}: expected a mapping of option names to values, got {type(options).__name__}")
    unknown = sorted(set(options) - field_names())
    if unknown:
        raise ValueError(f"{path}: unknown option(s) {unknown}; valid options are the fields of "
                         "blasr.acoustic.config.TrainConfig (python -m blasr.train --help)")
    return options


def build_config(config_files: list[str] = (), **overrides: Any) -> TrainConfig:
    """Defaults < each YAML file in order < ``overrides`` (the flags given on the command line)."""
    options = default_options()
    for name in config_files:
        options.update(load_yaml_options(name))
    unknown = sorted(set(overrides) - field_names())
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}")
    options.update(overrides)
    return check(TrainConfig(**options))


def check(config: TrainConfig) -> TrainConfig:
    """Refuse inconsistent options with a message naming them."""
    for name in ("arch", "data", "exp"):
        if not getattr(config, name):
            raise ValueError(f"--{name} is required")
    if config.mode not in MODES:
        raise ValueError(f"mode {config.mode!r}: choose one of {MODES}")
    if config.normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization {config.normalization!r}: choose one of {NORMALIZATIONS}")
    if config.normalization in ("speaker", "side") and not config.cmvn:
        raise ValueError(f"normalization {config.normalization!r} needs --cmvn (a CmvnTable .npz from "
                         "blasr.features.compute_cmvn_table)")
    positive = ("chunk_frames", "epochs", "base_batch_frames", "valid_chunk_frames", "valid_batch_size",
                "log_every", "avg")
    for name in positive:
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")
    for name in ("batch_size", "num_pdfs", "max_steps_per_epoch"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not 0 < config.lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {config.lr_decay}")
    if config.grad_clip < 0 or config.weight_decay < 0 or config.workers < 0 or config.save_every_steps < 0:
        raise ValueError("grad_clip, weight_decay, workers and save_every_steps must be >= 0")
    for name in ("spec_freq_masks", "spec_freq_width", "spec_time_masks", "spec_time_width"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(config, name)}")
    if not 0 <= config.spec_time_fraction <= 1:
        raise ValueError(f"spec_time_fraction must be in [0, 1], got {config.spec_time_fraction}")
    if not 0 <= config.label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {config.label_smoothing}")
    if not 0 <= config.spec_freq_warp < 0.5:
        raise ValueError(f"spec_freq_warp must be in [0, 0.5), got {config.spec_freq_warp}")
    if config.select not in SELECTIONS:
        raise ValueError(f"select {config.select!r}: choose one of {SELECTIONS}")
    if config.select_metric not in SELECT_METRICS:
        raise ValueError(f"select_metric {config.select_metric!r}: choose one of {SELECT_METRICS}")
    if config.select == "best" and not config.valid_data:
        raise ValueError("--select best chooses the epoch on the held-out set: give --valid-data")
    return config


def resolve(config: TrainConfig, world_size: int) -> TrainConfig:
    """Fill the derived options: rows per batch and the learning rate (see the module doc)."""
    per_row = config.target_frames_per_row
    batch_size = config.batch_size if config.batch_size is not None else max(1, 256 // per_row)
    frames_per_step = batch_size * per_row * world_size
    lr = config.lr if config.lr is not None else config.base_lr * frames_per_step / config.base_batch_frames
    return replace(config, batch_size=batch_size, lr=lr,
                   chunk_frames=per_row)


def to_yaml(config: TrainConfig) -> str:
    """The configuration as a YAML file that ``--config`` reads back."""

    return yaml.safe_dump(asdict(config), sort_keys=False)
