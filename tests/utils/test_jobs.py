import logging
import os

import pytest
from tqdm import tqdm

from blasr.utils import jobs, machine
from blasr.utils.jobs import contiguous_shares, job_progress, run_spawned


def test_contiguous_shares_keep_order_and_cover_everything():
    assert contiguous_shares(list(range(7)), 3) == [[0, 1], [2, 3, 4], [5, 6]]
    assert contiguous_shares("abcd", 1) == ["abcd"]
    assert contiguous_shares([1, 2], 4) == [[], [1], [2], []]  # bounds 0, 0.5, 1, 1.5, 2 rounded half to even
    with pytest.raises(ValueError, match="num_jobs must be at least 1"):
        contiguous_shares([1], 0)


def _exit(code):
    os._exit(code)


def test_run_spawned_returns_results_in_call_order_and_names_a_death():
    assert run_spawned(divmod, [(7, 2), (9, 4), (1, 1)], RuntimeError) == [(3, 1), (2, 1), (1, 0)]
    with pytest.raises(LookupError, match="died"):
        run_spawned(_exit, [(3,)], lambda error: LookupError(f"a job died ({error})"))


def _count_and_log(items, fail_on=None):
    log = logging.getLogger("blasr.test_jobs")
    log.info("job of %s", ",".join(map(str, items)))
    for item in job_progress(items, desc="work"):
        if item == fail_on:
            raise ValueError(f"item {item} is bad")
    return sum(items)


class Bar:
    """Stands in for progress_bar in the parent: records what it is told."""

    def __init__(self, iterable, total=None, desc="", enabled=True):
        self.n, self.total, self.desc, self.enabled, self.closed = 0, total, desc, enabled, False

    def update(self, n):
        self.n += n

    def close(self):
        self.closed = True


def test_the_parent_shows_one_bar_of_the_items_every_job_counts(monkeypatch):
    bars = []
    monkeypatch.setattr(jobs, "progress_bar", lambda *a, **k: bars.append(Bar(*a, **k)) or bars[-1])
    shares = contiguous_shares(list(range(7)), 3)
    assert run_spawned(_count_and_log, [(share,) for share in shares], RuntimeError, stage="align", total=7) == [
        1, 9, 11]
    assert len(bars) == 1 and (bars[0].n, bars[0].total, bars[0].desc, bars[0].closed) == (7, 7, "align", True)


def test_outside_a_job_progress_is_a_bar_of_its_own():
    bar = job_progress([1, 2, 3], desc="align")
    assert isinstance(bar, tqdm) and bar.total == 3 and list(bar) == [1, 2, 3]


def test_each_job_logs_to_its_own_file(tmp_path, capfd):
    shares = [(1, 2), (3,)]
    assert run_spawned(_count_and_log, [(share,) for share in shares], RuntimeError, stage="align",
                       log_dir=tmp_path / "log") == [3, 3]
    assert sorted(p.name for p in (tmp_path / "log").iterdir()) == ["align.1.log", "align.2.log"]
    for job, share in enumerate(shares, 1):
        lines = (tmp_path / "log" / f"align.{job}.log").read_text().splitlines()
        assert lines[0].endswith(f"INFO align job {job} of 2: started (pid {lines[0].split('pid ')[1]}")
        assert lines[1].endswith(f"INFO job of {','.join(map(str, share))}") and "finished in" in lines[2]
    assert "job of" not in capfd.readouterr().err  # INFO lines only in the job's file


def test_a_failing_job_is_named_with_its_log(tmp_path, caplog):
    calls = [((1, 2),), ((3, 4), 4), ((5,),)]
    with pytest.raises(ValueError, match="item 4 is bad"):
        run_spawned(_count_and_log, calls, RuntimeError, stage="align", log_dir=tmp_path / "log")
    log = tmp_path / "log" / "align.2.log"
    assert f"align job 2 of 3 failed; its log: {log}" in caplog.text
    text = log.read_text()
    assert "ERROR align job 2 of 3 failed" in text and "ValueError: item 4 is bad" in text  # with its traceback


def test_a_death_names_the_logs(tmp_path):
    with pytest.raises(LookupError, match=f"the jobs' logs: {tmp_path}/log/align.JOB.log"):
        run_spawned(_exit, [(3,)], lambda error: LookupError(f"died ({error})"), stage="align",
                    log_dir=tmp_path / "log")


def _blas_environment(_):
    import numpy  # noqa: F401 (imported in the job, as a job's work would)

    return {name: os.environ.get(name) for name in jobs.BLAS_THREAD_VARIABLES}


def test_jobs_share_the_cores_among_their_blas_threads(monkeypatch):
    for name in jobs.BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(machine, "available_cores", lambda: 8)
    seen = run_spawned(_blas_environment, [(0,), (1,)], RuntimeError)
    assert seen == [{name: "4" for name in jobs.BLAS_THREAD_VARIABLES}] * 2  # 8 cores // 2 jobs
    with jobs.JobPool(3, RuntimeError) as pool:
        assert pool.run(_blas_environment, [(0,), (1,), (2,)])[2]["OPENBLAS_NUM_THREADS"] == "2"
    assert all(name not in os.environ for name in jobs.BLAS_THREAD_VARIABLES)  # the parent's own is unchanged
    monkeypatch.setattr(machine, "available_cores", lambda: 2)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "7")  # what the user set is kept
    (seen,) = run_spawned(_blas_environment, [(0,)] * 5, RuntimeError)[:1]
    assert seen == {"OPENBLAS_NUM_THREADS": "7", "MKL_NUM_THREADS": "1", "BLIS_NUM_THREADS": "1"}
