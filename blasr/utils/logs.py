"""One log line format for every program, and a log file of its own for each job of a split run.

Every line is ``2026-12-03 08:12:30 INFO message``: :func:`formatter` is the
only place the format is spelt (a process that is not rank 0 of a training
puts ``[rank r] `` before the message). :func:`setup_logging` is what a
program calls; a training's ranks set theirs up in
:func:`blasr.utils.distributed.setup_logging`. :func:`job_log` sends a job's
lines to its own file, as Kaldi's ``exp/x/log/align.JOB.log``.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOG_FORMAT = "%(asctime)s %(levelname)s {prefix}%(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def formatter(prefix: str = "") -> logging.Formatter:
    """The one format: date, time, level, then ``prefix`` (plain text) and the message."""
    return logging.Formatter(LOG_FORMAT.format(prefix=prefix.replace("%", "%%")), datefmt=DATE_FORMAT)


def setup_logging() -> None:
    """A program's logging: INFO and up on stderr in the one format (nothing changes if already set up)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])


@contextmanager
def job_log(path: str | os.PathLike, prefix: str = "", name: str = "blasr") -> Iterator[Path]:
    """Within the block, the ``name`` logger writes INFO and up to ``path`` (created or overwritten) and
    only its warnings and errors to stderr, after ``prefix``; on exit its earlier state returns. Yields ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger(name)
    saved = log.handlers[:], log.level, log.propagate
    to_file, to_stderr = logging.FileHandler(path, mode="w"), logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.WARNING)
    to_file.setFormatter(formatter())
    to_stderr.setFormatter(formatter(prefix))
    log.handlers, log.propagate = [to_file, to_stderr], False
    log.setLevel(logging.INFO)
    try:
        yield path
    finally:
        to_file.close()
        log.handlers, log.level, log.propagate = saved
