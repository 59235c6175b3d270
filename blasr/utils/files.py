"""File helpers that need nothing but the standard library."""

from __future__ import annotations

import os


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0666 minus the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask
