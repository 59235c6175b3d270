import json
import os
import stat
import sys

import pytest

from blasr.utils import launch
from blasr.utils.launch import (
    JobArray,
    JobsFailed,
    LauncherError,
    bash_line,
    ended_code,
    run_jobs,
    split_launcher_words,
)

PY = sys.executable


def test_the_words_split_as_run_pl_reads_them():
    options, array = split_launcher_words(["--mem", "4G", "JOB=1:3", "-V", "--gpu", "1", "l/x.JOB.log", "echo",
                                           "--mem", "JOB"], "t")
    assert options == ["--mem", "4G", "-V", "--gpu", "1"]
    assert (array.name, array.jobs, array.log, array.command) == ("JOB", range(1, 4), "l/x.JOB.log",
                                                                  ["echo", "--mem", "JOB"])
    assert array.line_of(2) == "echo --mem 2" and str(array.log_of(3)) == "l/x.3.log"
    _, one = split_launcher_words(["SPLIT=4", "x.log", "echo", "SPLIT"], "t")
    assert (one.jobs, one.line_of(4)) == (range(4, 5), "echo 4")
    _, plain = split_launcher_words(["x.log", "echo", "JOB"], "t")
    assert plain.name is None and plain.line_of(1) == "echo JOB"
    with pytest.raises(LauncherError, match="one log file x.log: put JOB in its name"):
        split_launcher_words(["JOB=1:2", "x.log", "echo"], "t")
    with pytest.raises(LauncherError, match="invalid job range JOB=0:2"):
        split_launcher_words(["JOB=0:2", "x.JOB.log", "echo"], "t")
    with pytest.raises(LauncherError, match="no log file and command"):
        split_launcher_words(["JOB=1:2", "x.JOB.log"], "t")


def test_words_are_quoted_as_run_pl_quotes_them():
    assert bash_line(["a", "b c", 'say "x"', "|", "", "ark:gunzip -c x.gz|"]) == \
        "a \"b c\" 'say \"x\"' | \"\" \"ark:gunzip -c x.gz|\""


def _tree(tmp_path, num_jobs):
    return [(tmp_path / f"out.{job}").read_text() for job in range(1, num_jobs + 1)]


WRITE = [PY, "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"]


@pytest.mark.parametrize("cmd", [None, "blasr-run"])
def test_run_jobs_passes_each_word_as_given(cmd, tmp_path, monkeypatch):
    # an argv word is no shell syntax in the job: '<unk>' no redirection, '[noise]' no glob (a file 'n' is here)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "n").write_text("")
    words = ["<unk>", "[noise]", "it's", "$HOME", "a;b", "x|y", "", "two words"]
    run_jobs([PY, "-c", "import sys, json; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))",
              f"{tmp_path}/out.JOB", *words, "JOB"], 2, tmp_path / "log" / "w.JOB.log", cmd=cmd)
    assert _tree(tmp_path, 2) == [json.dumps([*words, "1"]), json.dumps([*words, "2"])]


@pytest.mark.parametrize("cmd", [None, "blasr-run", "blasr-run --max-jobs-run 1 --mem 4G"])
def test_run_jobs_runs_each_job_with_its_index_and_log(cmd, tmp_path):
    run_jobs([*WRITE, f"{tmp_path}/out.JOB", "job JOB of 3"], 3, tmp_path / "log" / "w.JOB.log", cmd=cmd)
    assert _tree(tmp_path, 3) == ["job 1 of 3", "job 2 of 3", "job 3 of 3"]
    for job in (1, 2, 3):
        lines = (tmp_path / "log" / f"w.{job}.log").read_text().splitlines()
        assert lines[0] == f"# {PY} -c \"import sys; open(sys.argv[1], 'w').write(sys.argv[2])\" " \
                           f"{tmp_path}/out.{job} \"job {job} of 3\""
        assert lines[1].startswith("# Started at ") and lines[-2].startswith("# Accounting: time=")
        assert lines[-1].startswith("# Ended (code 0) at ")
        assert ended_code(tmp_path / "log" / f"w.{job}.log") == 0


FAIL_ON_2 = [PY, "-c", "import sys; j = int(sys.argv[1]); print('error: job', j, 'is bad') if j % 2 == 0 else 0; "
             "sys.exit(3 if j % 2 == 0 else 0)", "JOB"]


@pytest.mark.parametrize("cmd", [None, "blasr-run"])
def test_failed_jobs_are_named_with_the_first_ones_log(cmd, tmp_path):
    with pytest.raises(JobsFailed) as failed:
        run_jobs(FAIL_ON_2, 5, tmp_path / "log" / "f.JOB.log", cmd=cmd)
    log = tmp_path / "log" / "f.2.log"
    assert failed.value.failed == [2, 4] and failed.value.log == log
    assert str(failed.value).startswith("2 of 5 jobs failed")
    assert f"(jobs 2, 4); the log of job 2: {log}; it ends: error: job 2 is bad" in str(failed.value)
    assert [ended_code(tmp_path / "log" / f"f.{job}.log") for job in range(1, 6)] == [0, 3, 0, 3, 0]


def _fake_launcher(path, body):
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_another_launcher_gets_kaldis_arguments_and_its_logs_tell_the_failed_jobs(tmp_path, monkeypatch):
    # a stand-in for queue.pl: records its arguments, writes job 2's log as failed and exits 1
    fake = _fake_launcher(tmp_path / "queue.pl", f'echo "$@" > {tmp_path}/args\n'
                          f'mkdir -p {tmp_path}/log\n'
                          f'for j in 1 2 3; do echo "# Ended (code $((j == 2))) at now" > {tmp_path}/log/q.$j.log; '
                          'done\n'
                          'exit 1')
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(JobsFailed, match=r"1 of 3 jobs failed \(through 'queue.pl --mem 4G', status 1\) \(jobs 2\)"):
        run_jobs(["echo", "JOB"], 3, tmp_path / "log" / "q.JOB.log", cmd="queue.pl --mem 4G")
    assert (tmp_path / "args").read_text() == f"--mem 4G JOB=1:3 {tmp_path}/log/q.JOB.log echo JOB\n"
    assert launch.resolve_launcher("queue.pl -q all.q") == [str(fake), "-q", "all.q"]


def test_a_launcher_that_fails_with_clean_logs_is_still_a_failure(tmp_path, monkeypatch):
    _fake_launcher(tmp_path / "clean.pl", f'for j in 1 2; do echo "# Ended (code 0) at now" > {tmp_path}/x.$j.log; '
                   'done\nexit 2')
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(JobsFailed, match=r"'clean.pl' exited with status 2 though every job's log ends with code 0"):
        run_jobs(["true"], 2, tmp_path / "x.JOB.log", cmd="clean.pl")


def test_a_launcher_that_fails_before_any_job_says_so(tmp_path, monkeypatch):
    # as a scheduler refusing the submission: the launcher's own message is the one to read, not a missing log
    _fake_launcher(tmp_path / "refused.pl", "echo 'refused.pl: no such queue' >&2; exit 2")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(JobsFailed, match=r"'refused.pl' exited with status 2 before any job wrote its log "
                                         r"\(.*y\.JOB\.log\): its message is above") as failure:
        run_jobs(["true"], 2, tmp_path / "y.JOB.log", cmd="refused.pl")
    assert failure.value.failed == [1, 2]


def test_launchers_are_found_on_path_or_beside_python(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # not the virtual environment's bin
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    _fake_launcher(bin_dir / "blasr-run", "exit 0")
    monkeypatch.setattr(launch.sys, "executable", str(bin_dir / "python"))
    assert launch.resolve_launcher("blasr-run --max-jobs-run 2") == [str(bin_dir / "blasr-run"), "--max-jobs-run",
                                                                     "2"]
    with pytest.raises(LauncherError, match="launcher 'nope.pl' .* is not a program on PATH"):
        launch.resolve_launcher("nope.pl --mem 1G")


def test_bad_calls_are_refused_by_name(tmp_path):
    with pytest.raises(LauncherError, match="one log file"):
        run_jobs(["true"], 2, tmp_path / "x.log")
    with pytest.raises(LauncherError, match="--cmd is empty"):
        run_jobs(["true"], 1, tmp_path / "x.log", cmd=" ")
    with pytest.raises(LauncherError, match="at least 1"):
        run_jobs(["true"], 0, tmp_path / "x.JOB.log")


def test_run_local_kills_its_jobs_when_interrupted(tmp_path, monkeypatch):
    array = JobArray("JOB", 1, 2, str(tmp_path / "s.JOB.log"), ["sleep", "30"])
    started = []
    real_start = launch._start

    def start_then_interrupt(array, job):
        started.append(real_start(array, job))
        if len(started) == 2:
            raise KeyboardInterrupt
        return started[-1]

    monkeypatch.setattr(launch, "_start", start_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        launch.run_local(array)
    assert started[0][0].returncode == -9  # the job that was running is killed, not left behind
