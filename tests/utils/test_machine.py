import os

import pytest

from blasr.utils import machine
from blasr.utils.machine import cpu_model, load_average, threads_per_job


def test_cpu_model_names_something():
    assert cpu_model().strip() not in ("", "?")


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="no /proc/loadavg on this system")
def test_load_average_is_three_non_negative_numbers():
    values = load_average()
    assert len(values) == 3 and all(isinstance(v, float) and v >= 0 for v in values)


def test_jobs_split_the_available_cores(monkeypatch):
    monkeypatch.setattr(machine, "available_cores", lambda: 8)
    assert [threads_per_job(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    assert threads_per_job(0) == 8  # no jobs count as one
