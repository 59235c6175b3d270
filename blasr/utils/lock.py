"""One writer per directory: an exclusive OS lock on ``DIR/.lock`` while a run writes there.

Two trainings (or exports) into one directory would overwrite each other's
checkpoints, logs and configuration, and a later ``--resume auto`` could
continue the wrong run. :func:`lock_directory` takes ``fcntl.flock`` on
``DIR/.lock`` without waiting: a second process is refused with
:class:`DirectoryInUseError`, naming the holder (pid, host, start time,
command) recorded in the file. The kernel drops the lock when its process
ends, however it ends, so the file a killed run leaves behind blocks nobody;
the file itself is never removed (removing it would let two processes lock
two different files of the same name).

Holding the lock also proves that no other run writes there, so leftovers of
an earlier, dead one (temporary files of an interrupted atomic write) can be
removed: :func:`remove_stale_temporaries`.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from blasr.utils.errors import BlasrError

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"


class DirectoryInUseError(BlasrError, FileExistsError):
    """Another live process holds the directory's lock (a ``FileExistsError``: the directory is taken)."""


def holder_text() -> str:
    """What this process records in a lock it holds: pid, host, start time and command."""
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}: {' '.join(sys.argv)}\n"


@contextmanager
def lock_directory(directory: str | os.PathLike, advice: str) -> Iterator[Path]:
    """Hold the exclusive lock of ``directory`` (created if need be) within the block; yields the lock file.

    A process holding it already is named in the :class:`DirectoryInUseError`,
    followed by ``advice`` (e.g. "wait for it to finish, stop it, or choose
    another --exp"). On a file system without locks (some network mounts)
    the run goes on unprotected, with a warning.
    """
    path = Path(directory) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        locked = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "which one it has not said yet"
                raise DirectoryInUseError(f"{directory} is in use by another run ({holder}; lock {path}); "
                                          f"{advice}") from None
            logger.warning("cannot lock %s (%s): nothing stops a second run from writing %s too",
                           path, error.strerror, directory)
            locked = False
        if locked:
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder_text().encode("utf-8"), 0)
        try:
            yield path
        finally:
            if locked:
                os.ftruncate(fd, 0)  # a process refused meanwhile reads no stale holder
    finally:
        os.close(fd)  # releases the lock


def remove_stale_temporaries(directory: str | os.PathLike, pattern: str) -> int:
    """Remove the files matching ``pattern`` (temporary files of interrupted atomic writes) in ``directory``;
    their number. Call it only while holding the directory's :func:`lock_directory`: then no live writer
    owns them."""
    removed = 0
    for stale in Path(directory).glob(pattern):
        stale.unlink(missing_ok=True)
        removed += 1
    if removed:
        logger.info("removed %d temporary file(s) an interrupted run left in %s", removed, directory)
    return removed
