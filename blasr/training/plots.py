"""Training curves as a PNG in the experiment directory (matplotlib, Agg: no display needed).

One panel per :class:`Curve` (e.g. loss and accuracy), against epochs.
Training values logged every ``log_every`` steps are drawn thin, per-epoch
training and validation values as lines with markers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from blasr.utils.files import atomic_write


@dataclass(frozen=True)
class Curve:
    """One panel: the epoch records' ``train_<metric>`` and ``<valid>_<metric>``, and the interval scalar."""

    metric: str   # e.g. "loss": the records hold train_loss (and valid_loss when evaluated)
    scalar: str   # the TensorBoard tag logged every log_every steps, e.g. "train/loss"
    label: str    # the y axis, e.g. "cross-entropy (nats / frame)"


def plot_curves(history: Sequence[dict], step_points: Sequence[Sequence[float]], steps_per_epoch: int,
                path: str | os.PathLike, curves: Sequence[Curve], valid: str = "valid", title: str = "") -> Path:
    """Write the curves to ``path`` atomically.

    ``history``: one dict per epoch with ``epoch``, ``train_<metric>`` and, if
    evaluated, ``<valid>_<metric>`` for each curve. ``step_points``: rows
    ``(step, value of each curve's scalar)`` logged during training.
    """
    # The object-oriented API with an explicit Agg canvas: no global backend switch, no pyplot state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5 * len(curves), 4), dpi=100)
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, len(curves), squeeze=False)[0]
    per_epoch = max(1, steps_per_epoch)
    done = [r["epoch"] for r in history]
    for column, (curve, axes) in enumerate(zip(curves, panels), start=1):
        if len(step_points):
            axes.plot([row[0] / per_epoch for row in step_points], [row[column] for row in step_points],
                      color="tab:blue", alpha=0.3, linewidth=0.8, label="train (interval)")
        axes.plot(done, [r[f"train_{curve.metric}"] for r in history], "o-", color="tab:blue",
                  label="train (epoch)")
        evaluated = [(r["epoch"], r[f"{valid}_{curve.metric}"]) for r in history if f"{valid}_{curve.metric}" in r]
        if evaluated:
            axes.plot(*zip(*evaluated), "s-", color="tab:orange", label="validation")
        axes.set_xlabel("epoch")
        axes.set_ylabel(curve.label)
        axes.grid(True, alpha=0.3)
        axes.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return atomic_write(path, lambda f: figure.savefig(f, format="png"))
