import errno
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys

import pytest

from blasr.utils import lock as lock_module
from blasr.utils.lock import DirectoryInUseError, lock_directory, remove_stale_temporaries

HOLD = """
import sys, time
from blasr.utils.lock import lock_directory
with lock_directory(sys.argv[1], "advice"):
    print("held", flush=True)
    time.sleep(60)
"""


def hold_in_another_process(directory) -> subprocess.Popen:
    """A process that holds ``directory``'s lock until killed."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    return holder


def test_a_second_holder_is_refused_with_the_first_named(tmp_path):
    exp = tmp_path / "exp"
    with lock_directory(exp, "wait for it to finish, or choose another --exp") as path:
        assert path == exp / ".lock"
        recorded = path.read_text()
        assert recorded.startswith(f"pid {os.getpid()} on {socket.gethostname()} since ")
        with pytest.raises(DirectoryInUseError) as refused:
            with lock_directory(exp, "wait for it to finish, or choose another --exp"):
                pass
        assert str(refused.value) == (f"{exp} is in use by another run ({recorded.strip()}; lock {path}); "
                                      "wait for it to finish, or choose another --exp")
        assert isinstance(refused.value, FileExistsError)  # what the programs report as a user's error
    assert path.read_text() == ""  # released: no holder recorded
    with lock_directory(exp, "advice"):  # and free again
        assert path.read_text().startswith(f"pid {os.getpid()} ")


def test_a_killed_holder_blocks_nobody(tmp_path):
    holder = hold_in_another_process(tmp_path)
    try:
        with pytest.raises(DirectoryInUseError, match=f"in use by another run \\(pid {holder.pid} on "):
            with lock_directory(tmp_path, "advice"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / ".lock").read_text().startswith(f"pid {holder.pid} ")  # the dead holder's record stays
    with lock_directory(tmp_path, "advice") as path:
        assert path.read_text().startswith(f"pid {os.getpid()} ")


def test_a_file_system_without_locks_runs_unprotected_with_a_warning(tmp_path, monkeypatch, caplog):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(lock_module.fcntl, "flock", no_locks)
    with caplog.at_level(logging.WARNING), lock_directory(tmp_path, "advice"):
        pass
    assert f"nothing stops a second run from writing {tmp_path} too" in caplog.text


def test_stale_temporaries_are_removed_by_pattern_only(tmp_path):
    for name in (".epoch_002.pt.a1b2.tmp", ".epoch_003_batch_000004.pt.c3d4.tmp", "epoch_001.pt", ".lock"):
        (tmp_path / name).touch()
    assert remove_stale_temporaries(tmp_path, ".epoch_*.tmp") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "epoch_001.pt"]


@pytest.mark.parametrize("program", ["export", "average", "decode"])
def test_a_program_refuses_a_directory_another_run_holds(tmp_path, capsys, program):
    out = tmp_path / "dir"
    argv = {"export": ["--model", "final.pt", "--data", "cuts.jsonl.gz", "--out", str(out)],
            "average": ["--exp", str(out)],
            "decode": ["--graph", "g", "--model", "final.mdl", "--loglikes", "scp:x.scp", "--out", str(out)],
            }[program]
    holder = hold_in_another_process(out)
    try:
        try:
            status = importlib.import_module(f"blasr.{program}").main(argv)
        except SystemExit as stop:
            status = stop.code
    finally:
        holder.kill()
        holder.wait()
    error = capsys.readouterr().err
    assert status == 1 and "Traceback" not in error
    assert f"{out} is in use by another run (pid {holder.pid} on {socket.gethostname()} since " in error
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing of its own written
