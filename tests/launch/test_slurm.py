"""blasr-slurm against a stand-in ``sbatch`` on PATH that runs the array's tasks here, one after another
(a real Slurm: tests/launch/test_slurm_cluster.py)."""

import json
import os
import stat
import sys

import pytest

from blasr.launch import slurm
from blasr.utils.launch import JobsFailed, run_jobs

FAKE_SBATCH = f"""#!{sys.executable}
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_SBATCH_RECORD"], "a") as record:
    record.write(json.dumps(args) + "\\n")
first, last = map(int, next(a for a in args if a.startswith("--array=")).split("=")[1].split("%")[0].split("-"))
print("4242", flush=True)
skip = os.environ.get("FAKE_SBATCH_SKIP", "")
codes = [subprocess.run(["bash", args[-1]], env={{**os.environ, "SLURM_ARRAY_TASK_ID": str(task)}}).returncode
         if str(task) != skip else 9 for task in range(first, last + 1)]
sys.exit(max(codes))
"""


@pytest.fixture
def sbatch(tmp_path, monkeypatch):
    """The stand-in sbatch on PATH; returns a function giving the argument lists it was called with."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "sbatch").chmod(0o755 | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SBATCH_RECORD", str(tmp_path / "record"))
    monkeypatch.chdir(tmp_path)
    return lambda: [json.loads(line) for line in (tmp_path / "record").read_text().splitlines()]


def test_one_array_with_the_options_mapped_and_a_log_per_job(sbatch, tmp_path):
    assert slurm.main(["--mem", "4G", "--num-threads", "2", "--gpu", "1", "--num-nodes", "2", "--max-jobs-run", "2",
                       "-V", "JOB=1:3",
                       "exp/log/align.JOB.log", "echo", "job", "JOB", "|", "tr", "a-z", "A-Z"]) == 0
    [args] = sbatch()
    assert args == ["--export=ALL", "--gres=gpu:1", "--mem=4G", "--cpus-per-task=2", "--nodes=2",
                    "--ntasks-per-node=1", "--array=1-3%2",
                    "--wait", "--parsable", "--job-name=align", "--output=exp/log/q/align.%a.out",
                    "exp/log/q/align.sh"]
    for job in (1, 2, 3):
        lines = (tmp_path / f"exp/log/align.{job}.log").read_text().splitlines()
        assert lines[0] == f"# echo job {job} | tr a-z A-Z" and lines[1].startswith("# Started at ")
        assert lines[3] == f"JOB {job}"
        assert lines[4] == "# Accounting: time=0 threads=2" and lines[5].startswith("# Ended (code 0) at ")


def test_no_gpu_adds_nothing_and_a_config_file_is_honoured(sbatch, tmp_path):
    assert slurm.main(["JOB=1:1", "one.JOB.log", "true"]) == 0
    (tmp_path / "slurm.conf").write_text("command sbatch --export=PATH --ntasks-per-node=1\n"
                                         "option mem=* --mem-per-cpu $0  # as Kaldi's conf/slurm.conf\n"
                                         "default partition=cpu\n"
                                         "option partition=* -p $0\n")
    assert slurm.main(["--config", "slurm.conf", "--mem", "2G", "JOB=1:2", "two.JOB.log", "true"]) == 0
    assert [args[:-5] for args in sbatch()] == [
        ["--export=ALL", "--array=1-1"],
        ["--export=PATH", "--ntasks-per-node=1", "-p", "cpu", "--mem-per-cpu", "2G", "--array=1-2"]]


def test_an_option_the_configuration_lacks_is_refused(sbatch, capsys):
    assert slurm.main(["--partition", "gpu", "JOB=1:2", "x.JOB.log", "true"]) == 1
    assert capsys.readouterr().err == ("error: blasr-slurm: option --partition gpu is not in blasr-slurm's default "
                                       "configuration: add 'option partition=* <sbatch options with $0>' to a "
                                       "--config file\n")


def test_each_tasks_status_is_collected_and_a_failure_names_its_log(sbatch, tmp_path, capsys):
    assert slurm.main(["JOB=1:3", "log/t.JOB.log", "test", "JOB", "-ne", "2"]) == 1
    assert capsys.readouterr().err == "error: 1 of 3 jobs failed (jobs 2); the log of job 2: log/t.2.log\n"


def test_a_task_killed_before_its_log_points_to_slurms_output(sbatch, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_SBATCH_SKIP", "3")
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "k.3.log").write_text("# Ended (code 0) at an earlier run\n")  # not this run's
    assert slurm.main(["JOB=1:3", "log/k.JOB.log", "true"]) == 1
    assert capsys.readouterr().err == ("error: 1 of 3 jobs failed (jobs 3); the log of job 3: log/k.3.log (not "
                                       "written; Slurm's output of the task: log/q/k.3.out)\n")


def test_run_jobs_through_blasr_slurm(sbatch, tmp_path):
    run_jobs([sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[1])", "out.JOB"], 2,
             tmp_path / "log" / "w.JOB.log", cmd="blasr-slurm --mem 1G")
    assert [(tmp_path / f"out.{job}").read_text() for job in (1, 2)] == ["out.1", "out.2"]
    assert "--mem=1G" in sbatch()[0]
    with pytest.raises(JobsFailed, match=r"1 of 2 jobs failed \(through 'blasr-slurm', status 1\) \(jobs 1\)"):
        run_jobs(["test", "JOB", "-ne", "1"], 2, tmp_path / "log" / "f.JOB.log", cmd="blasr-slurm")
