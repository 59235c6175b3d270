"""Progress reporting for long loops: a terminal progress bar and TensorBoard scalars.

Both are quiet where they would only add noise: the bar is drawn only on the
main process and only when stderr is a terminal (batch logs stay clean), and
the scalar writer exists only on the main process. Domain-agnostic.
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, Mapping

from tqdm import tqdm


def progress_bar(iterable: Iterable, *, total: int | None = None, desc: str = "",
                 enabled: bool = True) -> tqdm:
    """A tqdm bar over ``iterable``, disabled unless ``enabled`` and stderr is a tty.

    A disabled bar still iterates and accepts ``set_postfix`` (as a no-op).
    """
    show = enabled and sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=not show, leave=False,
                dynamic_ncols=True, file=sys.stderr)


class ScalarWriter:
    """TensorBoard scalars under ``log_dir``; every call is a no-op when not ``enabled``.

    ``torch.utils.tensorboard`` is imported only when a writer is enabled, so
    processes that never log (other ranks, ``--no-tensorboard``) do not pay for it.
    """

    def __init__(self, log_dir: str | os.PathLike, enabled: bool = True) -> None:
        self._writer = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as error:  # the `tensorboard` package is missing
                raise RuntimeError(
                    f"TensorBoard logging to {log_dir} needs the `tensorboard` package "
                    "(pip install tensorboard), or pass --no-tensorboard"
                ) from error
            self._writer = SummaryWriter(log_dir=str(log_dir))

    def add_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Log each ``tag: value`` at global ``step`` (tags like ``train/loss``, ``val/top1``)."""
        if self._writer is not None:
            for tag, value in scalars.items():
                self._writer.add_scalar(tag, float(value), global_step=step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
