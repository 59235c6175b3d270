"""Acoustic-model training for hybrid speech recognition: recipe options, the trainer, priors, the model file.

* :mod:`~blasr.acoustic.config` — :class:`TrainConfig`, YAML files (``conf/*.yaml``), overrides.
* :mod:`~blasr.acoustic.trainer` — :class:`SpeechTrainer`, :func:`train` (DDP, exact resume), on the shared
  loop of :mod:`blasr.training`.
* :mod:`~blasr.acoustic.objective` — frame cross-entropy with ignored targets.
* :mod:`~blasr.acoustic.optim` — Nesterov SGD, lr x sqrt(0.5) per epoch >= 10.
* :mod:`~blasr.acoustic.priors` — class counts (analyze-counts), Kaldi text vectors, nnet1 log-priors.
* :mod:`~blasr.acoustic.model_file` — ``final.pt``: weights, architecture, priors, feature settings.

See ``docs/training.md``.
"""

from blasr.acoustic.config import TrainConfig, build_config, load_yaml_options, resolve
from blasr.acoustic.model_file import TrainedModel, load_model_file
from blasr.acoustic.priors import ClassCountError, analyze_counts, count_targets, log_priors, read_counts, write_counts

__all__ = [
    "ClassCountError",
    "TrainConfig",
    "TrainedModel",
    "analyze_counts",
    "build_config",
    "count_targets",
    "load_model_file",
    "load_yaml_options",
    "log_priors",
    "read_counts",
    "resolve",
    "write_counts",
]
