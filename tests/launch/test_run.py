import subprocess
import sys
import time

from blasr.launch import run


def test_jobs_run_with_their_index_and_logs(tmp_path, capsys):
    assert run.main(["--mem", "4G", "JOB=1:2", f"{tmp_path}/log/e.JOB.log", "echo", "job", "JOB", "|", "tr", "a-z",
                     "A-Z"]) == 0
    for job in (1, 2):
        assert (tmp_path / "log" / f"e.{job}.log").read_text().splitlines()[3] == f"JOB {job}"


def test_a_failed_job_exits_1_naming_its_log(tmp_path, capsys):
    assert run.main(["JOB=1:3", f"{tmp_path}/f.JOB.log", "test", "JOB", "-ne", "3"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: 1 of 3 jobs failed (jobs 3); the log of job 3: {tmp_path}/f.3.log\n"


def test_usage_errors_are_one_line(tmp_path, capsys):
    assert run.main(["JOB=1:2", f"{tmp_path}/one.log", "true"]) == 1
    assert run.main(["--max-jobs-run", "0", "JOB=1:2", f"{tmp_path}/x.JOB.log", "true"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: blasr-run: 2 jobs would all write one log file {tmp_path}/one.log: put JOB in its name",
        "error: blasr-run: --max-jobs-run must be at least 1, not 0"]


def _overlapping(tmp_path, options, seconds=0.5):
    """How many jobs each of 3 saw running, itself included: each marks itself running for ``seconds`` and
    counts the marks halfway (counting before marking raced: jobs started together all saw none)."""
    (tmp_path / "running").mkdir(parents=True)
    script = f"touch {tmp_path}/running/JOB; sleep {seconds / 2}; ls {tmp_path}/running | wc -l >> {tmp_path}/seen; " \
             f"sleep {seconds / 2}; rm {tmp_path}/running/JOB"
    assert run.main([*options, "JOB=1:3", f"{tmp_path}/o.JOB.log", "bash", "-c", script]) == 0
    return [int(n) for n in (tmp_path / "seen").read_text().split()]


def test_max_jobs_run_limits_the_jobs_at_once(tmp_path):
    start = time.monotonic()
    assert _overlapping(tmp_path / "a", ["--max-jobs-run", "1"]) == [1, 1, 1]
    assert time.monotonic() - start >= 1.5
    assert max(_overlapping(tmp_path / "b", [], seconds=3.0)) >= 2  # all at once by default (3 s: a busy machine)


def test_the_console_script_and_python_dash_m(tmp_path):
    done = subprocess.run([sys.executable, "-m", "blasr.launch.run", "JOB=1:2", f"{tmp_path}/p.JOB.log", "false"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("error: 2 of 2 jobs failed (jobs 1, 2)"), done.stderr
