"""What a benchmark reports about the machine it ran on (Linux ``/proc``; portable fallbacks elsewhere)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; ``os.cpu_count()`` where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_per_job(num_jobs: int) -> int:
    """Each of ``num_jobs`` processes' share of :func:`available_cores` (at least 1), as Kaldi's ``--nj`` jobs
    share a machine."""
    return max(1, available_cores() // max(1, num_jobs))


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "?"


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages, or None where ``/proc/loadavg`` does not exist."""
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None
