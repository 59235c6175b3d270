"""The tests' single-node Slurm (tests/launch/slurm_cluster.py) runs jobs as a cluster would and cleans up."""

import os
import subprocess

import pytest

from tests.launch.slurm_cluster import SlurmCluster, SlurmUnavailable


def test_srun_runs_on_this_host(slurm):
    done = subprocess.run(["srun", "--ntasks", "1", "hostname", "-s"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == slurm.node


def test_job_array_logs_and_exit_status(slurm, tmp_path):
    # sbatch --wait returns the highest exit status of the array's tasks; each task writes its own log
    script = 'echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT"; exit $((SLURM_ARRAY_TASK_ID - 1))'
    done = subprocess.run(["sbatch", "--wait", "--array=1-2", "--output", str(tmp_path / "job.%a.log"),
                           "--wrap", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert (tmp_path / "job.1.log").read_text() == "task 1 of 2\n"
    assert (tmp_path / "job.2.log").read_text() == "task 2 of 2\n"


def test_resources_are_honoured_and_checked(slurm):
    cpus = min(os.cpu_count(), 2)
    done = subprocess.run(["srun", "--mem", "100M", "--cpus-per-task", str(cpus), "bash", "-c",
                           'echo "$SLURM_CPUS_PER_TASK"; scontrol show job "$SLURM_JOB_ID"'],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{cpus}\n")
    assert " MinMemoryNode=100M " in done.stdout
    # more memory than the machine has is refused at submission, not queued for ever
    done = subprocess.run(["sbatch", "--mem", "100000G", "--wrap", "true"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Requested node configuration is not available" in done.stderr


def test_stop_ends_every_daemon_and_removes_the_directory(slurm_cluster):
    # a second cluster beside the session's (its own ports and munge socket), stopped at once
    cluster = SlurmCluster.start()
    processes = list(cluster.processes.values())
    assert len(processes) == 3
    cluster.stop()
    assert all(p.poll() is not None for p in processes)
    assert not cluster.root.exists()
    cluster.stop()  # twice is harmless


def test_a_failed_start_stops_what_it_started(slurm_cluster, monkeypatch):
    # a node name that is not this host: slurmd cannot find itself in slurm.conf and exits
    started = []
    launch = SlurmCluster.launch

    def recording_launch(self):
        launch(self)
        started.append((self.root, list(self.processes.values())))

    monkeypatch.setattr(SlurmCluster, "launch", recording_launch)
    with pytest.raises(SlurmUnavailable, match="slurmd exited with status"):
        SlurmCluster.start(node="no-such-node")
    ((root, processes),) = started
    assert len(processes) == 3
    assert all(p.poll() is not None for p in processes)
    assert not root.exists()
