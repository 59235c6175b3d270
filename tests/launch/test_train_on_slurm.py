"""Network training through blasr-slurm on the tests' single-node Slurm: one process, and local/slurm_torchrun.sh
(srun torchrun, the rendezvous from Slurm's environment) with 2 CPU processes (gloo)."""

import subprocess
import sys
from pathlib import Path

import pytest

from blasr.acoustic.model_file import load_model_file
from tests.acoustic.conftest import cli_env, make_corpus

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "local" / "slurm_torchrun.sh"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("speech")
    return {"train": make_corpus(root / "train", [150, 90, 130, 60], seed=1),
            "valid": make_corpus(root / "valid", [120, 70], seed=2)}


def train_options(corpus, exp: Path) -> list[str]:
    """Two steps of a 1/16-width bL-ResNet-22 (conf debug) on 4 tone utterances."""
    return ["--arch", "bl_resnet22_a2b3", "--config", "debug", "--data", str(corpus["train"]),
            "--valid-data", str(corpus["valid"]), "--exp", str(exp), "--mode", "chunk", "--chunk-frames", "16",
            "--batch-size", "4", "--epochs", "1", "--max-steps-per-epoch", "2", "--log-every", "1", "--no-plot"]


def blasr_slurm(slurm, *words) -> subprocess.CompletedProcess:
    env = {**cli_env(), "SLURM_CONF": str(slurm.conf), "PATH": slurm.env["PATH"]}
    return subprocess.run([sys.executable, "-m", "blasr.launch.slurm", *map(str, words)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def finished(exp: Path) -> str:
    """The launcher's log of the training, checked to end in code 0 with a final.pt written."""
    log = (exp / "log" / "train.log").read_text()
    assert log.splitlines()[-1].startswith("# Ended (code 0)"), log[-2000:]
    assert load_model_file(exp / "final.pt").info["arch"] == "bl_resnet22_a2b3"
    return log


def test_one_training_process_as_a_slurm_job(slurm, corpus, tmp_path):
    exp = tmp_path / "plain"
    done = blasr_slurm(slurm, "--mem", "1G", exp / "log" / "train.log", sys.executable, "-m", "blasr.train",
                       *train_options(corpus, exp))
    assert done.returncode == 0, done.stderr
    assert "global batch 4 rows = 4 x 1 processes" in finished(exp)


def test_srun_torchrun_on_the_jobs_nodes(slurm, corpus, tmp_path):
    exp = tmp_path / "ddp"
    done = blasr_slurm(slurm, "--num-nodes", "1", "--num-threads", "2", "--mem", "2G", exp / "log" / "train.log",
                       "bash", SCRIPT, "--nproc-per-node", "2", *train_options(corpus, exp))
    assert done.returncode == 0, done.stderr
    log = finished(exp)
    assert f"1 node(s) x 2 process(es), rendezvous {slurm.node}:" in log
    assert "global batch 8 rows = 4 x 2 processes" in log  # both ranks joined one group


def test_outside_a_slurm_job_the_script_stops_in_one_line(tmp_path):
    env = {k: v for k, v in cli_env().items() if not k.startswith("SLURM_")}
    done = subprocess.run(["bash", SCRIPT, "--nproc-per-node", "2", "--arch", "resnet22"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.strip().endswith(
        "not inside a Slurm job (no SLURM_JOB_ID): submit it with sbatch, or run it through blasr-slurm")
    done = subprocess.run(["bash", SCRIPT, "--nproc-per-node", "0"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "--nproc-per-node must be a whole number >= 1, not '0'" in done.stderr
