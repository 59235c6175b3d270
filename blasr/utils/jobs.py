"""Kaldi's ``nj``: a list of items split into contiguous shares, each share run in its own spawned process.

Progress: a job's loop iterates through :func:`job_progress`, which counts
each item done into a number its parent shares with every job; the parent
draws one bar (or log line) over all of them (:func:`run_spawned`'s ``total``),
so N jobs are not N bars. Outside a job (one process), :func:`job_progress` is
a plain :func:`~blasr.utils.progress.progress_bar`. Logs: given a
``log_dir``, job J of a ``stage`` writes its log lines to
``log_dir/<stage>.J.log`` (Kaldi's ``exp/x/log/align.JOB.log``), its warnings
also to stderr, and a job that fails is named with its log file.
:class:`JobPool` keeps its N processes for several rounds of calls (one per
training pass), call J of every round in process J.

Threads: N jobs share the machine's cores, as Kaldi's single-threaded jobs do.
numpy's BLAS (OpenBLAS) would otherwise start a thread per core in every job,
N x cores threads that spin while they wait for each other; each job's BLAS
gets ``cores // N`` threads (at least 1) instead (:data:`BLAS_THREAD_VARIABLES`,
set for the jobs' processes as they start; a variable the user has set is
kept). Torch's threads in a job are the job's own to set.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from blasr.utils.logs import job_log
from blasr.utils.machine import threads_per_job
from blasr.utils.progress import progress_bar

T = TypeVar("T")

logger = logging.getLogger("blasr.jobs")

_done: Any = None  # in a job's process: the count of items done that its parent reads (a shared integer)

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
"""What numpy's BLAS libraries read for their thread count when a job's process imports numpy."""


@contextmanager
def blas_threads_for_jobs(num_jobs: int) -> Iterator[int]:
    """While it is open, processes started from here see ``cores // num_jobs`` (at least 1) in each of
    :data:`BLAS_THREAD_VARIABLES` that the environment does not set already; yields that count."""
    threads = threads_per_job(num_jobs)
    added = [name for name in BLAS_THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = str(threads)
    try:
        yield threads
    finally:
        for name in added:
            os.environ.pop(name, None)


def contiguous_shares(items: Sequence[T], num_jobs: int) -> list[Sequence[T]]:
    """``items`` in ``num_jobs`` contiguous, nearly equal slices, in order (some empty if there are fewer items)."""
    if num_jobs < 1:
        raise ValueError(f"num_jobs must be at least 1, not {num_jobs}")
    bounds = [round(i * len(items) / num_jobs) for i in range(num_jobs + 1)]
    return [items[start:end] for start, end in zip(bounds[:-1], bounds[1:])]


def job_progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
    """``items``, reporting progress: inside a job of :func:`run_spawned` each item counts towards its
    parent's bar; elsewhere a :func:`~blasr.utils.progress.progress_bar` of its own."""
    if _done is None:
        return progress_bar(items, total=total, desc=desc)
    return _counted(items, _done)


def _counted(items: Iterable[T], done: Any) -> Iterator[T]:
    for item in items:
        yield item
        with done.get_lock():
            done.value += 1


def _start_job(done: Any) -> None:
    global _done
    _done = done


def _run_job(function: Callable[..., T], arguments: tuple, log: Path | None, name: str) -> T:
    """One job: ``function(*arguments)``, its log lines to ``log`` (if any), with a first and a last line."""
    if log is None:
        return function(*arguments)
    with job_log(log, prefix=f"[{name}] "):
        logger.info("%s: started (pid %d)", name, os.getpid())
        start = time.perf_counter()
        try:
            result = function(*arguments)
        except Exception:
            logger.exception("%s failed", name)
            raise
        logger.info("%s: finished in %.1f s", name, time.perf_counter() - start)
        return result


def job_log_path(log_dir: str | os.PathLike, stage: str, job: int) -> Path:
    """Where job ``job`` (from 1) of ``stage`` writes its log: ``log_dir/<stage>.<job>.log``."""
    return Path(log_dir) / f"{stage}.{job}.log"


def run_spawned(function: Callable[..., T], calls: Sequence[tuple],
                died: Callable[[BaseException], Exception], *, stage: str = "job",
                log_dir: str | os.PathLike | None = None, total: int | None = None) -> list[T]:
    """``[function(*arguments) for arguments in calls]``, each call in its own fresh interpreter (spawn:
    kaldi-hmm-gmm's native state is not fork-safe), results in call order. ``function`` and the arguments
    must pickle. A process that dies (killed, out of memory, aborted in native code) raises ``died(error)``.

    With ``log_dir``, call J (from 1) logs to :func:`job_log_path` ``(log_dir, stage, J)``; a call that raises
    is named with that file (an ERROR line) before its exception propagates. With ``total``, the parent shows
    one :func:`~blasr.utils.progress.progress_bar` of the items the calls count with :func:`job_progress`.
    """
    context = multiprocessing.get_context("spawn")
    done = context.Value("q", 0)
    with ProcessPoolExecutor(len(calls), mp_context=context, initializer=_start_job, initargs=(done,)) as pool:
        return _run_calls([pool] * len(calls), done, function, calls, died, stage, log_dir, total)


class JobPool:
    """``num_jobs`` spawned processes kept for several rounds of calls (a context manager): call J of every
    :meth:`run` runs in process J, so what job J keeps in memory (its share's features) serves its next round,
    where :func:`run_spawned` would start every round's processes afresh."""

    def __init__(self, num_jobs: int, died: Callable[[BaseException], Exception]) -> None:
        context = multiprocessing.get_context("spawn")
        self.died = died
        self.done = context.Value("q", 0)
        self.pools = [ProcessPoolExecutor(1, mp_context=context, initializer=_start_job, initargs=(self.done,))
                      for _ in range(num_jobs)]

    def run(self, function: Callable[..., T], calls: Sequence[tuple], *, stage: str = "job",
            log_dir: str | os.PathLike | None = None, total: int | None = None) -> list[T]:
        """As :func:`run_spawned`, with one call per process of the pool."""
        if len(calls) != len(self.pools):
            raise ValueError(f"{len(calls)} calls for a pool of {len(self.pools)} processes")
        with self.done.get_lock():
            self.done.value = 0
        return _run_calls(self.pools, self.done, function, calls, self.died, stage, log_dir, total)

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown(cancel_futures=True)

    def __enter__(self) -> "JobPool":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _run_calls(pools: Sequence[ProcessPoolExecutor], done: Any, function: Callable[..., T], calls: Sequence[tuple],
               died: Callable[[BaseException], Exception], stage: str, log_dir: str | os.PathLike | None,
               total: int | None) -> list[T]:
    """Call J in ``pools[J]``; waits, shows progress, and on the first failure names its log and raises."""
    logs = [job_log_path(log_dir, stage, job) if log_dir is not None else None for job in range(1, len(calls) + 1)]
    names = [f"{stage} job {job} of {len(calls)}" for job in range(1, len(calls) + 1)]
    if log_dir is not None:
        logger.info("%s: %d jobs, their logs in %s", stage, len(calls), job_log_path(log_dir, stage, "JOB"))
    with blas_threads_for_jobs(len(calls)):  # a pool's processes start at its first submit
        futures = [pool.submit(_run_job, function, arguments, log, name)
                   for pool, arguments, log, name in zip(pools, calls, logs, names)]
    bar = progress_bar(None, total=total, desc=stage, enabled=total is not None)
    pending = set(futures)
    while pending:  # the first failure ends the wait: the other jobs' work would be thrown away
        finished, pending = wait(pending, timeout=1.0, return_when=FIRST_EXCEPTION)
        bar.update(done.value - bar.n)
        if any(future.exception() is not None for future in finished):
            break
    bar.close()
    failed = [(future, log, name) for future, log, name in zip(futures, logs, names)
              if future.done() and future.exception() is not None]
    if failed:
        for future in pending:
            future.cancel()
        future, log, name = failed[0]
        if isinstance(future.exception(), BrokenProcessPool):
            where = f"; the jobs' logs: {job_log_path(log_dir, stage, 'JOB')}" if log_dir is not None else ""
            raise died(BrokenProcessPool(f"{future.exception()}{where}")) from None
        if log is not None:
            logger.error("%s failed; its log: %s", name, log)
        future.result()  # raises the job's error
    return [future.result() for future in futures]
