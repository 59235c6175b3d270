"""Training curves as a PNG in the experiment directory (matplotlib, Agg: no display needed).

Two panels: cross-entropy (nats per frame) and frame accuracy (%), against
epochs. Training points logged every ``log_every`` steps are drawn thin,
per-epoch training and validation values as lines with markers.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

from blasr.utils.checkpoint import default_file_mode


def plot_curves(history: Sequence[dict], step_points: Sequence[Sequence[float]], steps_per_epoch: int,
                path: str | os.PathLike, title: str = "") -> Path:
    """Write the curves to ``path`` atomically.

    ``history``: one dict per epoch with ``epoch``, ``train_loss``,
    ``train_frame_acc`` and, if evaluated, ``valid_loss``, ``valid_frame_acc``.
    ``step_points``: ``(step, loss, frame accuracy %)`` rows logged during training.
    """
    # The object-oriented API with an explicit Agg canvas: no global backend switch, no pyplot state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(figure)
    loss_axes, acc_axes = figure.subplots(1, 2)
    per_epoch = max(1, steps_per_epoch)
    if len(step_points):
        epochs = [row[0] / per_epoch for row in step_points]
        loss_axes.plot(epochs, [row[1] for row in step_points], color="tab:blue", alpha=0.3, linewidth=0.8,
                       label="train (interval)")
        acc_axes.plot(epochs, [row[2] for row in step_points], color="tab:blue", alpha=0.3, linewidth=0.8,
                      label="train (interval)")
    done = [r["epoch"] for r in history]
    for key, axes in (("loss", loss_axes), ("frame_acc", acc_axes)):
        axes.plot(done, [r[f"train_{key}"] for r in history], "o-", color="tab:blue", label="train (epoch)")
        valid = [(r["epoch"], r[f"valid_{key}"]) for r in history if f"valid_{key}" in r]
        if valid:
            axes.plot(*zip(*valid), "s-", color="tab:orange", label="validation")
        axes.set_xlabel("epoch")
        axes.grid(True, alpha=0.3)
        axes.legend()
    loss_axes.set_ylabel("cross-entropy (nats / frame)")
    acc_axes.set_ylabel("frame accuracy (%)")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, default_file_mode())
        with os.fdopen(fd, "wb") as f:
            figure.savefig(f, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
