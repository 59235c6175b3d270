"""ThreadTuner on a simulated machine: a fake clock, and work rates that depend on the thread count and the load."""

from blasr.utils.machine import available_cores
from blasr.utils.threads import ThreadTuner

IDLE = {1: 90.0, 2: 100.0}  # steps per second: two threads pay a little on an idle machine
LOADED = {1: 80.0, 2: 2.0}  # another busy process: two threads collapse (measured: 4,100 vs 77 frames/s)


class Machine:
    def __init__(self) -> None:
        self.now = 0.0
        self.set_calls: list[int] = []

    def tuner(self, **options) -> ThreadTuner:
        return ThreadTuner(max_threads=2, clock=lambda: self.now, set_threads=self.set_calls.append, **options)

    def run(self, tuner: ThreadTuner, rates: dict[int, float], seconds: float) -> dict[int, float]:
        """Work for ``seconds`` of simulated time; returns the time spent at each thread count."""
        spent = {1: 0.0, 2: 0.0}
        end = self.now + seconds
        while self.now < end:
            step = 1.0 / rates[tuner.threads]
            spent[tuner.threads] += step
            self.now += step
            tuner.update(step)
        return spent


def test_an_idle_machine_keeps_its_threads_from_first_step_to_last():
    machine = Machine()
    tuner = machine.tuner()
    spent = machine.run(tuner, IDLE, 3600)
    assert machine.set_calls == [] and tuner.switches == 0 and spent[1] == 0.0  # bitwise reproducible runs


def test_a_collapse_drops_a_thread_and_the_threads_come_back_with_the_cores():
    machine = Machine()
    tuner = machine.tuner()
    machine.run(tuner, IDLE, 60)
    spent = machine.run(tuner, LOADED, 1800)
    assert machine.set_calls[0] == 1 and tuner.threads == 1
    # found within two windows (2 s each at most) plus one probe; afterwards a few one-step probes of 2 threads
    assert spent[2] < 0.01 * 1800 + 6, spent
    probes_up = machine.set_calls.count(2)
    assert 2 <= probes_up <= 10 and tuner.period > 30  # backing off while more threads keep losing
    machine.run(tuner, IDLE, 600)
    assert tuner.threads == 2 and tuner.period == 30  # back to two threads within the backed-off period


def test_a_probe_that_loses_is_undone():
    machine = Machine()
    tuner = machine.tuner()
    machine.run(tuner, IDLE, 60)
    # load that slows both counts alike: one thread fewer does not help, so the two threads stay
    machine.run(tuner, {1: 40.0, 2: 45.0}, 600)
    assert tuner.threads == 2 and machine.set_calls[:2] == [1, 2]
    assert machine.set_calls.count(1) == 1  # slowness is measured from the new level: no repeated probing


def test_one_core_means_nothing_to_tune():
    machine = Machine()
    tuner = ThreadTuner(max_threads=1, clock=lambda: machine.now, set_threads=machine.set_calls.append)
    assert not tuner.enabled
    machine.run(tuner, {1: 10.0}, 100)
    assert machine.set_calls == []
    assert available_cores() >= 1


def test_blasr_threads_fixes_the_count_or_asks_for_a_tuner(monkeypatch):
    import pytest
    import torch

    from blasr.utils.threads import thread_tuner

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("BLASR_THREADS", "1")
        assert thread_tuner() is None and torch.get_num_threads() == 1
        monkeypatch.setenv("BLASR_THREADS", "fixed")
        assert thread_tuner() is None and torch.get_num_threads() == 1  # left as it is
        monkeypatch.setenv("BLASR_THREADS", "auto")
        tuner = thread_tuner()
        assert isinstance(tuner, ThreadTuner) and tuner.max_threads == 1  # up to torch's count
        monkeypatch.setenv("BLASR_THREADS", "two")
        with pytest.raises(ValueError, match="BLASR_THREADS='two'"):
            thread_tuner()
    finally:
        torch.set_num_threads(before)


def test_load_at_the_start_begins_with_a_thread_fewer_and_more_are_tried_later():
    machine = Machine()
    tuner = machine.tuner()
    tuner.start(1, "a core busy")
    assert machine.set_calls == [1]
    spent = machine.run(tuner, LOADED, 600)
    assert tuner.threads == 1 and spent[2] < 0.02 * 600
    machine.run(tuner, IDLE, 600)
    assert tuner.threads == 2


def test_busy_cores_sees_a_busy_process():
    import subprocess
    import sys

    from blasr.utils.threads import busy_cores

    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        __import__("time").sleep(0.3)
        assert busy_cores(0.5) > 0.6
    finally:
        hog.kill()
        hog.wait()
