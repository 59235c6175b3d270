"""torch's CPU thread count under load: keep all threads while they pay, drop one when another process takes a core.

Why: torch runs each operator on an OpenMP team of ``torch.get_num_threads()``
threads, and every operator ends at a barrier that waits for the slowest
member. When another busy process shares a core with one member, each of the
thousands of small operators of a training step waits for the scheduler to
give that member its turn. Measured on a 2-core machine (bl_resnet22_a2b3 at
1/8 width, the digits recipe's training): idle, 2 threads 5,100 frames/s and 1
thread 4,500; with one busy process started from another session, 2 threads
77 frames/s (``OMP_WAIT_POLICY=PASSIVE``: 1,100) but 1 thread 4,100.

:class:`ThreadTuner` watches the time of each unit of work (a training step, an
utterance) at the current thread count. While that stays near the best rate
seen at this count, nothing changes, so a run on an undisturbed machine keeps
its thread count from the first step to the last and stays bitwise
reproducible (the thread count changes floating-point summation order, so a
switch changes the numbers). When the rate falls below half of it for two
windows in a row (or, at the start, when other processes already keep cores
busy: :func:`busy_cores`), the tuner measures one thread fewer and keeps whichever is
faster; while below the maximum it re-measures one thread more now and then
(after ``period`` seconds, doubling up to ``max_period`` while it keeps
losing), so the threads come back when the load goes. ``BLASR_THREADS=N``
(or ``fixed``: torch's count as it is) fixes the count instead (:func:`thread_tuner`).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable

import torch

logger = logging.getLogger("blasr")


def busy_cores(interval: float = 0.25) -> float:
    """How many cores other processes keep busy, from ``/proc/stat`` over ``interval`` seconds (0 where
    there is no ``/proc``). Read before the caller starts its own work."""

    def times() -> tuple[int, int] | None:
        try:
            fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    first = times()
    time.sleep(interval)
    second = times()
    if first is None or second is None or second[0] <= first[0]:
        return 0.0
    busy = 1.0 - (second[1] - first[1]) / (second[0] - first[0])
    return max(0.0, busy * (os.cpu_count() or 1))


def thread_tuner() -> "ThreadTuner | None":
    """The tuner for this process's CPU work, as ``BLASR_THREADS`` asks: unset or ``auto``, a
    :class:`ThreadTuner` up to torch's thread count; a number N, exactly N threads and no tuning;
    ``fixed``, torch's thread count as it is (``OMP_NUM_THREADS``) and no tuning. Without tuning,
    runs stay bitwise reproducible whatever else the machine does."""
    value = os.environ.get("BLASR_THREADS", "auto").strip()
    if value == "fixed":  # keep torch's count (OMP_NUM_THREADS, torch.set_num_threads), no tuning
        return None
    if value == "auto":
        tuner = ThreadTuner()
        if tuner.enabled:  # a core already taken: start with a thread fewer (and try more now and then)
            others = round(busy_cores())
            if others:
                tuner.start(max(1, tuner.max_threads - others), f"{others} core(s) busy with other work")
        return tuner
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"BLASR_THREADS={value!r}: give 'auto', 'fixed' or a positive number of threads")
    torch.set_num_threads(int(value))
    return None


class ThreadTuner:
    """Chooses ``torch.set_num_threads`` between 1 and ``max_threads`` from measured throughput.

    Call :meth:`update` after each unit of work with its duration (seconds) and
    size (frames, or 1 per step). ``max_threads`` defaults to torch's current
    thread count; with 1 the tuner does nothing.
    """

    def __init__(self, max_threads: int | None = None, window: int = 8, window_seconds: float = 2.0,
                 slow: float = 0.5, period: float = 30.0, max_period: float = 480.0,
                 clock: Callable[[], float] = time.monotonic,
                 set_threads: Callable[[int], None] = torch.set_num_threads) -> None:
        self.max_threads = max(1, max_threads or torch.get_num_threads())
        self.window, self.window_seconds, self.slow = window, window_seconds, slow
        self.base_period, self.max_period = period, max_period
        self.clock, self.set_threads = clock, set_threads
        self.threads = self.max_threads
        self.best: dict[int, float] = {}  # threads -> best window rate seen (work / second)
        self.last: dict[int, float] = {}  # threads -> rate of the last window measured at it
        self.period = period
        self.probe_from: int | None = None  # the thread count a probe will return to if it loses
        self.slow_windows = 0
        self.changed_at = clock()
        self.switches = 0
        self._reset_window()

    def start(self, threads: int, why: str) -> None:
        """Begin at ``threads`` (fewer than the maximum when other work holds cores)."""
        self._use(min(max(1, threads), self.max_threads), why)

    @property
    def enabled(self) -> bool:
        return self.max_threads > 1

    def _reset_window(self) -> None:
        self.work = self.seconds = 0.0
        self.count = 0

    def _use(self, threads: int, why: str) -> None:
        if threads != self.threads:
            logger.info("torch threads %d -> %d (%s)", self.threads, threads, why)
            self.threads = threads
            self.set_threads(threads)
            self.switches += 1
        self.changed_at = self.clock()
        self._reset_window()

    def update(self, seconds: float, work: float = 1.0) -> None:
        """One unit of work of size ``work`` took ``seconds`` at the current thread count."""
        if not self.enabled or seconds <= 0:
            return
        self.work += work
        self.seconds += seconds
        self.count += 1
        if self.count < self.window and self.seconds < self.window_seconds:
            return
        rate = self.work / self.seconds
        self._reset_window()
        self._decide(rate)

    def _decide(self, rate: float) -> None:
        n = self.threads
        self.last[n] = rate
        if self.probe_from is not None:  # a probe window ended: keep the faster of the two
            other, before = self.probe_from, self.last.get(self.probe_from, 0.0)
            self.probe_from = None
            why = f"{rate:,.0f} work/s with {n} threads, {before:,.0f} with {other}"
            if rate < before:  # the probe lost
                if n > other:  # more threads still lose: wait longer before trying again
                    self.period = min(2 * self.period, self.max_period)
                self.best = {other: before}  # the load is what it is: measure slowness from here
                self._use(other, why)
            else:
                if n > other:
                    self.period = self.base_period
                self.best = {n: rate}  # rates measured under another load mislead
                self._use(n, why)
            return
        best = self.best.get(n, 0.0)
        self.best[n] = max(best, rate)
        self.slow_windows = self.slow_windows + 1 if best and rate < self.slow * best else 0
        if self.slow_windows >= 2 and n > 1:  # a collapse: another process probably took a core
            self.slow_windows = 0
            self.probe_from = n
            self._use(n - 1, f"throughput fell to {rate:,.0f} from {best:,.0f} work/s")
        elif n < self.max_threads and self.clock() - self.changed_at >= self.period:
            self.probe_from = n
            self._use(n + 1, "trying one more")
