"""Progress reporting for long loops: a progress bar (or periodic log lines) and TensorBoard scalars.

On a terminal the bar is drawn on stderr (count, total, rate, ETA); off one (a
log file, a batch job) the same numbers come as a log line at most every
``interval`` seconds, so logs stay readable. Only the main process reports, and
the scalar writer exists only there. Domain-agnostic.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Iterable, Mapping

from tqdm import tqdm

logger = logging.getLogger("blasr.progress")

LOG_LINE = "{desc}: {n_fmt}/{total_fmt} ({percentage:.0f}%), {rate_fmt}, ETA {remaining}{postfix}"
LOG_LINE_NO_TOTAL = "{desc}: {n_fmt}, {rate_fmt}, {elapsed} so far{postfix}"


class LogBar(tqdm):
    """A tqdm that writes to :class:`LogLines`: ``set_postfix`` changes the next line, never writes one."""

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        super().set_postfix_str(s, refresh=False)


def draws_bar(bar: tqdm) -> bool:
    """Whether ``bar`` is drawn on a terminal (not disabled, not log lines): callers that put their own
    report in its postfix log it themselves otherwise."""
    return not bar.disable and not isinstance(bar, LogBar)


class LogLines:
    """The file a tqdm writes to when stderr is not a terminal: each refresh becomes one INFO line."""

    def write(self, text: str) -> None:
        text = text.strip("\r\n ")
        if text:
            logger.info("%s", text)

    def flush(self) -> None:
        pass


def progress_bar(iterable: Iterable, *, total: int | None = None, desc: str = "",
                 enabled: bool = True, interval: float = 60.0) -> tqdm:
    """A tqdm bar over ``iterable`` on a terminal's stderr; elsewhere an INFO log line (done/total,
    rate, ETA) at most every ``interval`` seconds, the first after ``interval``. Nothing unless ``enabled``.

    A disabled bar still iterates and accepts ``set_postfix`` (as a no-op).
    """
    if not enabled or sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, disable=not enabled, leave=False,
                    dynamic_ncols=True, file=sys.stderr)
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    return LogBar(iterable, total=total, desc=desc or "progress", leave=False, file=LogLines(), ascii=True,
                mininterval=interval, maxinterval=max(interval, 10.0), delay=interval,
                bar_format=LOG_LINE if total else LOG_LINE_NO_TOTAL)


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
