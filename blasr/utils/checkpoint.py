"""Checkpoint and output files: written atomically, loaded without executing pickled code.

* :func:`atomic_save` writes to a temporary file in the destination's directory,
  flushes and fsyncs it, then renames it over the destination, so a crash (or
  ``kill -9``) leaves either the old file or the new one, never half of one.
* :func:`load_checkpoint` uses ``torch.load(weights_only=True)``: only tensors and
  plain containers are unpickled. A truncated, corrupt or unsafe file raises
  :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read (missing, truncated, corrupt, or not weights-only)."""


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True``; clear errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for bad files
        raise CheckpointError(
            f"cannot read checkpoint {path} ({type(error).__name__}: {str(error).splitlines()[0]}); "
            "the file is truncated, corrupt, or holds objects other than tensors and plain containers"
        ) from error
