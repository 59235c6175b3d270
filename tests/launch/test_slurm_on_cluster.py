"""blasr-slurm (blasr.launch.slurm) on the tests' single-node Slurm: job arrays, per-job logs, options, failures."""

import subprocess
import sys

import pytest

from blasr.utils.launch import JobsFailed, run_jobs


def blasr_slurm(*words, cwd):
    return subprocess.run([sys.executable, "-m", "blasr.launch.slurm", *words], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_two_jobs_run_as_array_tasks_with_their_own_logs(slurm, tmp_path):
    done = blasr_slurm("JOB=1:2", "log/echo.JOB.log",
                       "bash", "-c", "echo job JOB task $SLURM_ARRAY_TASK_ID on $(hostname -s)", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for job in (1, 2):
        lines = (tmp_path / "log" / f"echo.{job}.log").read_text().splitlines()
        assert f"job {job} task {job} on {slurm.node}" in lines
        assert lines[-1].startswith("# Ended (code 0)")


def test_options_become_sbatch_options(slurm, tmp_path):
    done = blasr_slurm("--mem", "100M", "--num-threads", "2", "JOB=1:1", "log/show.JOB.log",
                       "bash", "-c", 'scontrol show job "$SLURM_JOB_ID"', cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "log" / "show.1.log").read_text()
    assert " MinMemoryNode=100M " in log
    assert " MinCPUsNode=2 " in log


def test_a_failing_job_fails_the_array_and_names_its_log(slurm, tmp_path):
    done = blasr_slurm("JOB=1:2", "log/fail.JOB.log", "bash", "-c", "echo job JOB; exit $((JOB - 1))", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "log/fail.2.log" in done.stderr
    assert "fail.1.log" not in done.stderr
    assert (tmp_path / "log" / "fail.1.log").read_text().splitlines()[-1].startswith("# Ended (code 0)")
    assert (tmp_path / "log" / "fail.2.log").read_text().splitlines()[-1].startswith("# Ended (code 1)")


def test_run_jobs_through_blasr_slurm(slurm, tmp_path):
    # what every program does with --cmd blasr-slurm: an argv with JOB in it, waited for
    write = "import os, sys; open(sys.argv[1], 'w').write(os.environ['SLURM_ARRAY_TASK_ID'])"
    run_jobs([sys.executable, "-c", write, str(tmp_path / "out.JOB.txt")], 2, tmp_path / "log" / "w.JOB.log",
             cmd="blasr-slurm --mem 100M")
    assert [(tmp_path / f"out.{job}.txt").read_text() for job in (1, 2)] == ["1", "2"]
    with pytest.raises(JobsFailed, match=r"w2\.2\.log"):
        run_jobs([sys.executable, "-c", "import sys; sys.exit(JOB - 1)"], 2, tmp_path / "log" / "w2.JOB.log",
                 cmd="blasr-slurm")


@pytest.mark.parametrize("option, said", [(["--mem", "100000G"], "Requested node configuration is not available"),
                                          (["--gpu", "1"], "Invalid generic resource")])
def test_an_array_sbatch_refuses_fails_in_one_line_with_sbatchs_error(slurm, tmp_path, option, said):
    done = blasr_slurm(*option, "JOB=1:2", "log/x.JOB.log", "true", cwd=tmp_path)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: blasr-slurm: sbatch refused the array of 2 jobs (")
    assert f"sbatch: error: {said}" in line or said in line, line
    assert "not written" not in line and "Traceback" not in line
    with pytest.raises(JobsFailed, match=r"exited with status 1 before any job wrote its log"):
        run_jobs(["true"], 2, tmp_path / "log" / "y.JOB.log", cmd=f"blasr-slurm {' '.join(option)}")
