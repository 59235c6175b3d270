"""``python -m blasr.train`` end to end: a small CPU run, kill -9, ``--resume auto``, then export."""

import json
import subprocess
import sys
import time
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from blasr.acoustic.model_file import load_model_file
from blasr.features import load_static, model_input, open_cuts
from blasr.inference import NnetForwardOptions, PosteriorTransform, dense_logits
from blasr.utils.checkpoint import checkpoint_position, list_checkpoints, load_checkpoint
from tests.acoustic.conftest import assert_same_weights, cli_env

REPO = Path(__file__).resolve().parents[2]
STEPS_PER_EPOCH = 8
TIMING = {"train_seconds", "frames_per_sec"}


def train_command(corpus, exp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "blasr.train", "--arch", "bl_resnet22_a2b3", "--config", "debug",
            "--data", str(corpus["train"]), "--valid-data", str(corpus["valid"]), "--exp", str(exp),
            "--mode", "chunk", "--chunk-frames", "16", "--batch-size", "4", "--epochs", "2",
            "--max-steps-per-epoch", str(STEPS_PER_EPOCH), "--save-every-steps", "1", "--log-every", "4", *extra]


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=180)


def history(exp: Path) -> list[dict]:
    lines = (exp / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


@pytest.fixture(scope="module")
def uninterrupted(corpus, tmp_path_factory) -> Path:
    exp = tmp_path_factory.mktemp("cli") / "full"
    done = run(train_command(corpus, exp))
    assert done.returncode == 0, done.stderr
    return exp


def test_command_line_training(uninterrupted, corpus):
    exp = uninterrupted
    assert (exp / "final.pt").is_file() and (exp / "curves.png").is_file() and (exp / "priors.counts").is_file()
    info = json.loads((exp / "config.json").read_text())["config"]
    assert (info["width"], info["mode"], info["chunk_frames"], info["lr"], info["epochs"]) == (
        0.0625, "chunk", 16, 0.1, 2)  # debug.yaml, then the flags
    assert [r["step"] for r in history(exp)] == [8, 16]
    # mid-epoch checkpoints are pruned once superseded: the newest two and the epoch ends remain
    assert [p.name for p in list_checkpoints(exp / "checkpoints")] == [
        "epoch_001.pt", "epoch_002_batch_000007.pt", "epoch_002.pt"]
    again = run(train_command(corpus, exp))
    assert again.returncode == 1 and "already holds checkpoints" in again.stderr


def test_killed_run_resumes_to_the_same_weights(uninterrupted, corpus, tmp_path):
    exp = tmp_path / "killed"
    process = subprocess.Popen(train_command(corpus, exp), cwd=REPO, env=cli_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 150
    try:
        while time.monotonic() < deadline and process.poll() is None:
            found = [checkpoint_position(p) for p in list_checkpoints(exp / "checkpoints")]
            if any(epoch * STEPS_PER_EPOCH + batch >= 5 for epoch, batch in found):
                break
            time.sleep(0.01)
    finally:
        process.kill()  # SIGKILL: wherever it is, even inside a checkpoint write
        process.wait()
    assert process.returncode == -9, "the run ended before it could be killed"
    killed_at = max(checkpoint_position(p) for p in list_checkpoints(exp / "checkpoints"))
    assert killed_at < (2, 0)

    resumed = run(train_command(corpus, exp, "--resume", "auto"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr
    expected, got = load_checkpoint(uninterrupted / "final.pt"), load_checkpoint(exp / "final.pt")
    assert_same_weights(got["model"], expected["model"])
    assert history(exp) == history(uninterrupted)
    assert list((exp).glob("config.resumed_at_step*.json"))


def test_export_command_round_trip(uninterrupted, corpus, tmp_path):
    out = tmp_path / "export"
    done = run([sys.executable, "-m", "blasr.export", "--model", str(uninterrupted / "final.pt"),
                "--data", str(corpus["valid"]), "--out", str(out)])
    assert done.returncode == 0, done.stderr
    written = dict(kaldiio.load_scp(str(out / "loglikes.scp")))
    trained = load_model_file(uninterrupted / "final.pt")
    transform = PosteriorTransform(NnetForwardOptions(), trained.class_counts)
    cuts = list(open_cuts(corpus["valid"]))
    assert sorted(written) == sorted(c.id for c in cuts)
    torch.set_num_threads(1)
    for cut in cuts:
        expected = transform(dense_logits(trained.model, model_input(load_static(cut)))).numpy()
        assert written[cut.id].shape == (cut.features.num_frames, 4)
        # the export runs short utterances in batches (batched_dense_logits): the kernels round differently
        np.testing.assert_allclose(written[cut.id], expected, rtol=1e-5, atol=1e-4)
    report = json.loads((out / "export.report.json").read_text())
    assert report["kept"] == 3 and report["skipped"] == []
