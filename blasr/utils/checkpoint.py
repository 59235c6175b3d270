"""Checkpoint and output files: written atomically, loaded without executing pickled code.

* :func:`atomic_save` writes to a temporary file in the destination's directory,
  flushes and fsyncs it, then renames it over the destination, so a crash (or
  ``kill -9``) leaves either the old file or the new one, never half of one.
* :func:`load_checkpoint` uses ``torch.load(weights_only=True)``: only tensors and
  plain containers are unpickled. A truncated, corrupt or unsafe file raises
  :class:`CheckpointError` naming the file.

A training run keeps its checkpoints in one directory, named by position
(:func:`checkpoint_name`): ``epoch_003.pt`` after 3 epochs,
``epoch_004_batch_000500.pt`` 500 batches into epoch 4, so that names sort by
training progress. :func:`find_latest_checkpoint` picks the furthest,
:func:`load_latest_checkpoint` the furthest that still loads (a corrupt newest
file is reported and the previous good one used), :func:`prune_checkpoints`
drops superseded ones. The temporary files a killed writer left behind
(``.epoch_*.tmp``, :data:`TEMPORARY`) are removed once, when the next run has
locked the experiment directory (:mod:`blasr.utils.lock`), never while
another process might be writing them. Every trainer (image, speech) uses these.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Collection

import torch

from blasr.utils.errors import BlasrError
from blasr.utils.files import atomic_write, atomic_write_text, default_file_mode  # noqa: F401  (re-exported)

logger = logging.getLogger(__name__)

_CHECKPOINT_NAME = re.compile(r"epoch_(\d+)(?:_batch_(\d+))?\.pt$")
TEMPORARY = ".epoch_*.tmp"  # an interrupted atomic_save of a checkpoint (atomic_write's temporary name)


class CheckpointError(BlasrError, RuntimeError):
    """A checkpoint that cannot be read (missing, truncated, corrupt, or not weights-only)."""


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (temp file + fsync + rename)."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True``; clear errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for bad files
        detail = str(error).partition("\n")[0] or ("an empty file" if path.stat().st_size == 0 else "no message")
        raise CheckpointError(
            f"cannot read checkpoint {path} ({type(error).__name__}: {detail}); "
            "the file is truncated, corrupt, or holds objects other than tensors and plain containers"
        ) from error


def checkpoint_name(epochs_done: int, batch: int = 0) -> str:
    """``epoch_003.pt`` after 3 epochs; ``epoch_004_batch_000500.pt`` 500 batches into epoch 4."""
    if batch == 0:
        return f"epoch_{epochs_done:03d}.pt"
    return f"epoch_{epochs_done + 1:03d}_batch_{batch:06d}.pt"


def checkpoint_position(path: str | os.PathLike) -> tuple[int, int] | None:
    """(epochs done, batches into the next epoch) encoded in a checkpoint name; None for other files."""
    match = _CHECKPOINT_NAME.fullmatch(Path(path).name)
    if match is None:
        return None
    epoch, batch = int(match.group(1)), match.group(2)
    return (epoch, 0) if batch is None else (epoch - 1, int(batch))


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """The checkpoints in ``directory``, least to furthest into training (other files ignored)."""
    directory = Path(directory)
    found = [(pos, p) for p in directory.glob("epoch_*.pt") if (pos := checkpoint_position(p)) is not None]
    return [p for _, p in sorted(found)]


def find_latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The checkpoint furthest into training in ``directory`` (by name), or None."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def load_latest_checkpoint(
    directory: str | os.PathLike,
    check: Callable[[Path, Any], None] | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[Path, Any] | None:
    """``(path, state)`` of the furthest checkpoint that loads, or None when there is none.

    A file that cannot be read (truncated, corrupt) or that ``check(path,
    state)`` rejects with :class:`CheckpointError` is logged as an error naming
    it, and the previous one is tried. If every checkpoint is bad the last
    error is raised: silently starting afresh would throw the run away.
    """
    candidates = list_checkpoints(directory)
    error: CheckpointError | None = None
    for path in reversed(candidates):
        try:
            state = load_checkpoint(path, map_location=map_location)
            if check is not None:
                check(path, state)
        except CheckpointError as bad:
            logger.error("%s; falling back to the previous checkpoint", bad)
            error = bad
            continue
        if error is not None:
            logger.warning("resuming from %s, the newest checkpoint that loads", path)
        return path, state
    if error is not None:
        raise CheckpointError(f"no checkpoint in {directory} can be loaded; the newest error: {error}")
    return None


def prune_checkpoints(directory: str | os.PathLike, keep_epochs: int = 0, keep_recent: int = 1,
                      protect: Collection[str] = ()) -> None:
    """Drop superseded checkpoints in ``directory``.

    A mid-epoch checkpoint is kept only while it is among the ``keep_recent``
    newest checkpoints; of the epoch-end ones the newest ``keep_epochs`` are
    kept (0 keeps all), and those named in ``protect`` too.
    """
    directory = Path(directory)
    found = list_checkpoints(directory)
    recent = set(found[-keep_recent:]) if keep_recent > 0 else set()
    epoch_ends = [p for p in found if checkpoint_position(p)[1] == 0]
    for path in found:
        if checkpoint_position(path)[1] > 0 and path not in recent:
            path.unlink(missing_ok=True)
    if keep_epochs > 0:
        for path in epoch_ends[:-keep_epochs]:
            if path.name not in protect:
                path.unlink(missing_ok=True)
