"""Speech acoustic-model training: recipe options, the trainer, priors, the model file, curves.

* :mod:`~blasr.training.config` — :class:`TrainConfig`, YAML files (``conf/*.yaml``), overrides.
* :mod:`~blasr.training.trainer` — :class:`SpeechTrainer`, :func:`train` (DDP, exact resume).
* :mod:`~blasr.training.objective` — frame cross-entropy with ignored targets.
* :mod:`~blasr.training.optim` — Nesterov SGD, lr x sqrt(0.5) per epoch >= 10.
* :mod:`~blasr.training.sync_bn` — batch-norm statistics over processes (GPU and CPU).
* :mod:`~blasr.training.priors` — class counts (analyze-counts), Kaldi text vectors, nnet1 log-priors.
* :mod:`~blasr.training.model_file` — ``final.pt``: weights, architecture, priors, feature settings.
* :mod:`~blasr.training.plots` — ``curves.png``.

See ``docs/training.md``.
"""

from blasr.training.config import TrainConfig, build_config, load_yaml_options, resolve
from blasr.training.model_file import TrainedModel, load_model_file
from blasr.training.priors import analyze_counts, count_targets, log_priors, read_counts, write_counts

__all__ = [
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
