"""Which model ``final.pt`` holds: the last or the best epoch on the held-out set, averaged over N epochs.

The speech trainer calls :func:`select_model` after its last epoch
(``--select``, ``--select-metric``, ``--avg``); ``python -m blasr.average``
calls it on a finished experiment to choose again without retraining.

* ``select="last"``: the last epoch; ``"best"``: the epoch with the lowest
  held-out metric in ``EXP/metrics.jsonl`` (``metric="loss"``: cross-entropy,
  ``"frame_error"``: 100 - frame accuracy), the earliest of equal ones.
* ``avg=N``: the weights are the average of the epoch checkpoints
  ``E - N + 1 .. E`` ending at the chosen epoch ``E`` (icefall's
  ``--epoch E --avg N``; fewer when ``E < N``), batch-norm running statistics
  included (:func:`blasr.training.averaging.average_state_dicts`).

``EXP/final.pt`` (written atomically) records the choice in
``training["selection"]``, and ``EXP/selection.json`` holds the same record:
which epochs, the metric of every epoch, the chosen one.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from blasr.acoustic.model_file import TRAINING_FORMAT, save_model_file
from blasr.training.averaging import average_state_dicts, averaged_epochs, choose_epoch
from blasr.utils.checkpoint import CheckpointError, checkpoint_name, load_checkpoint
from blasr.utils.files import atomic_write_text

logger = logging.getLogger("blasr.train")

METRICS = ("loss", "frame_error")


@dataclass
class Selection:
    """One model-selection decision, as recorded in ``final.pt`` and ``selection.json``."""

    select: str                      # last or best
    metric: str                      # loss or frame_error (on the held-out set)
    avg: int                         # epochs asked for
    epoch: int                       # the chosen epoch (1-based)
    epochs: list[int]                # the epochs averaged (ending at `epoch`)
    values: dict[int, float] = field(default_factory=dict)  # every epoch's held-out metric (NaN: none)

    @property
    def value(self) -> float:
        return self.values.get(self.epoch, math.nan)


def metric_values(history: list[dict[str, Any]], metric: str) -> dict[int, float]:
    """``{epoch: held-out metric}`` of a run's per-epoch records (NaN for an epoch without validation)."""
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}: choose one of {METRICS}")
    values = {}
    for record in history:
        if metric == "loss":
            value = record.get("valid_loss")
        else:
            accuracy = record.get("valid_frame_acc")
            value = None if accuracy is None else 100.0 - accuracy
        values[int(record["epoch"])] = math.nan if value is None else float(value)
    return values


def choose(history: list[dict[str, Any]], select: str = "last", metric: str = "loss", avg: int = 1) -> Selection:
    """The epochs to average for ``select`` / ``metric`` / ``avg``, from a run's per-epoch records."""
    values = metric_values(history, metric)
    if select == "best" and all(math.isnan(v) for v in values.values()):
        raise ValueError("--select best needs held-out metrics, and no epoch has one: train with --valid-data")
    epoch = choose_epoch(values, select)
    return Selection(select, metric, avg, epoch, averaged_epochs(epoch, avg), values)


def read_history(exp: str | os.PathLike) -> list[dict[str, Any]]:
    """The per-epoch records of an experiment (``EXP/metrics.jsonl``)."""
    path = Path(exp) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {exp} is not a finished blasr.train experiment")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def select_model(exp: str | os.PathLike, select: str = "last", metric: str = "loss", avg: int = 1,
                 history: list[dict[str, Any]] | None = None, out: str | os.PathLike | None = None) -> Selection:
    """Choose and average epoch checkpoints of ``exp``; write ``out`` (default ``EXP/final.pt``) and
    ``EXP/selection.json``. ``history``: the per-epoch records (default ``EXP/metrics.jsonl``)."""
    exp = Path(exp)
    selection = choose(read_history(exp) if history is None else history, select, metric, avg)
    paths = [exp / "checkpoints" / checkpoint_name(epoch) for epoch in selection.epochs]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise CheckpointError(f"{exp / 'checkpoints'} lacks {', '.join(missing)} needed to average epochs "
                              f"{selection.epochs}; they were pruned (--keep-checkpoints) or the run stopped early")
    states = []
    for path in paths:
        state = load_checkpoint(path)  # weights_only
        if not isinstance(state, dict) or state.get("format") != TRAINING_FORMAT:
            raise CheckpointError(f"{path} is not a blasr speech-training checkpoint ({TRAINING_FORMAT})")
        if states and (state["model_info"]["arch"], state["model_info"]["model_options"]) != (
                states[0]["model_info"]["arch"], states[0]["model_info"]["model_options"]):
            raise CheckpointError(f"{path} holds another model than {paths[0]}")
        states.append(state)
    averaged = average_state_dicts([state["model"] for state in states])
    info = states[-1]["model_info"]  # the chosen epoch's: its validation metrics, steps, git revision
    record = {**asdict(selection),
              "values": {str(k): None if math.isnan(v) else v for k, v in selection.values.items()}}
    info = {**info, "training": {**info["training"], "selection": record}}
    written = save_model_file(exp / "final.pt" if out is None else out, averaged, info)
    atomic_write_text(exp / "selection.json", json.dumps({**record, "model": str(written)}, indent=1) + "\n")
    shown = "" if math.isnan(selection.value) else f", valid {metric} {selection.value:.4f}"
    logger.info("wrote %s: epoch %d (%s%s), averaged over epochs %s", written, selection.epoch, select, shown,
                ", ".join(map(str, selection.epochs)))
    return selection
