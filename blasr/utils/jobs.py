"""Kaldi's ``nj``: a list of items split into contiguous shares, each share run in its own spawned process."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


def contiguous_shares(items: Sequence[T], num_jobs: int) -> list[Sequence[T]]:
    """``items`` in ``num_jobs`` contiguous, nearly equal slices, in order (some empty if there are fewer items)."""
    if num_jobs < 1:
        raise ValueError(f"num_jobs must be at least 1, not {num_jobs}")
    bounds = [round(i * len(items) / num_jobs) for i in range(num_jobs + 1)]
    return [items[start:end] for start, end in zip(bounds[:-1], bounds[1:])]


def run_spawned(function: Callable[..., T], calls: Sequence[tuple],
                died: Callable[[BaseException], Exception]) -> list[T]:
    """``[function(*arguments) for arguments in calls]``, each call in its own fresh interpreter (spawn:
    kaldi-hmm-gmm's native state is not fork-safe), results in call order. ``function`` and the arguments
    must pickle. A process that dies (killed, out of memory, aborted in native code) raises ``died(error)``."""
    with ProcessPoolExecutor(len(calls), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(function, *arguments) for arguments in calls]
        try:
            return [future.result() for future in futures]
        except BrokenProcessPool as error:
            raise died(error) from None


