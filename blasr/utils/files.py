"""File helpers that need nothing but the standard library."""

from __future__ import annotations

import fcntl
import glob
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

logger = logging.getLogger("blasr")


class CommitOnExit:
    """A writer used as ``with W(...) as w:`` commits on a normal exit and aborts (removes its
    temporary output) on an exception; subclasses define ``commit`` and ``abort``."""

    def commit(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0666 minus the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: readers see the old file or the new one, never half."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` through ``write(file)`` atomically (temp file in the same directory + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path)
    try:
        os.chmod(tmp, default_file_mode())  # mkstemp's files are private (0600); use the usual umask
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def temporary_beside(path: str | os.PathLike) -> tuple[int, str]:
    """A new temporary file ``.NAME.XXXXXXXX.tmp`` next to ``path``, for writing it atomically: ``(fd, name)``.

    The file is held under an exclusive ``flock`` as long as ``fd`` is open, so a
    killed writer's file is free and a live writer's is not. Free ones of the
    same ``path`` (what a killed or crashed run left: the same name pattern, no
    process holding them) are removed first, and logged; nothing else in the
    directory is touched.
    """
    path = Path(path)
    remove_leftover_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody else knows the new name yet
    return fd, tmp


def remove_leftover_temporaries(path: str | os.PathLike) -> int:
    """Remove the temporary files of ``path`` (:func:`temporary_beside`'s names) that no live process holds;
    their number."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")
    removed, size = 0, 0
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if not pattern.fullmatch(candidate.name):
            continue
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # a live writer holds it
            continue
        try:
            size += os.fstat(fd).st_size
            candidate.unlink(missing_ok=True)
            removed += 1
        finally:
            os.close(fd)
    if removed:
        logger.info("removed %d temporary file(s) of %s (%.1f MB) that an interrupted run left", removed, path,
                    size / 1e6)
    return removed

