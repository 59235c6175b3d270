"""The shared loop on a toy domain: linear regression, 24 rows, 6 steps per epoch, global-RNG noise per step."""

import json
import logging
import os
import shutil
from dataclasses import dataclass, replace

import pytest
import torch
import torch.nn.functional as F

from blasr.training import Curve, NonFiniteLossError, NoUsableCheckpointError, Step, Trainer, run
from blasr.utils.checkpoint import CheckpointError, atomic_save, list_checkpoints, load_checkpoint, prune_checkpoints
from blasr.utils.distributed import DistContext
from blasr.utils.lock import DirectoryInUseError, lock_directory
from tests.utils.test_distributed import TORCHRUN_VARS

ROWS = 24
log = logging.getLogger("blasr.tests.toy")


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)


@dataclass
class ToyConfig:
    exp: str
    epochs: int = 2
    batch_size: int = 4
    lr: float = 0.1
    seed: int = 0
    poison_step: int = 0  # a NaN loss at this step (0: never)
    device: str = "cpu"
    resume: str | None = None
    save_every_steps: int = 0
    keep_checkpoints: int = 0
    log_every: int = 2
    tensorboard: bool = False
    deterministic: bool = False


class ToyTrainer(Trainer):
    checkpoint_format = "tests.toy/1"
    checkpoint_kind = "toy"
    sum_names = ("loss", "rows")
    resume_options = ("lr",)
    curves = (Curve("loss", "train/loss", "mean squared error"),)
    batch_items = "rows"

    def __init__(self, config: ToyConfig, context: DistContext) -> None:
        super().__init__(config, context)
        data = torch.Generator().manual_seed(0)
        self.x = torch.randn(ROWS, 3, generator=data)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(ROWS, generator=data)
        torch.manual_seed(config.seed)
        self.model = torch.nn.Linear(3, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=0.9)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: 0.95**step)
        self.steps_per_epoch = ROWS // config.batch_size

    @property
    def has_validation(self) -> bool:
        return True

    def train_batches(self) -> list[torch.Tensor]:
        order = torch.randperm(ROWS, generator=torch.Generator().manual_seed(self.config.seed + self.epoch))
        size = self.config.batch_size
        return [order[b * size:(b + 1) * size] for b in range(self.batch, self.steps_per_epoch)]

    def train_step(self, rows: torch.Tensor) -> Step:
        x = self.x[rows] + 0.01 * torch.randn(len(rows), 3)  # the global RNG: resume must restore it
        loss = F.mse_loss(self.model(x).squeeze(1), self.y[rows])
        if self.global_step + 1 == self.config.poison_step:
            loss = loss * float("nan")
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        loss = loss.detach()
        return Step(torch.stack([loss.double() * len(rows), torch.tensor(float(len(rows)), dtype=torch.float64)]),
                    loss=loss, ids=[f"row{int(r)}" for r in rows])

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        return {"valid_loss": F.mse_loss(self.model(self.x).squeeze(1), self.y).item()}

    def interval_report(self, totals, seconds):
        scalars = {"train/loss": totals["loss"] / totals["rows"]}
        return scalars, f"loss {scalars['train/loss']:.4f}"

    def epoch_metrics(self, totals, new, steps, seconds):
        return {"train_loss": totals["loss"] / totals["rows"], "train_rows": totals["rows"], "new_rows": new["rows"]}

    def epoch_report(self, record):
        return {"train/epoch_loss": record["train_loss"]}, f"train loss {record['train_loss']:.4f}"


def toy_run(config: ToyConfig) -> list[dict]:
    return run(ToyTrainer, config, log)


def without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("train_seconds", "new_rows")} for r in history]


def test_a_run_resumed_anywhere_ends_like_an_uninterrupted_one(tmp_path):
    full = tmp_path / "full"
    history = toy_run(ToyConfig(str(full), save_every_steps=1))
    assert [r["step"] for r in history] == [6, 12] and history[-1]["train_loss"] < history[0]["train_loss"]
    assert [r["train_rows"] for r in history] == [24.0, 24.0] and "valid_loss" in history[-1]
    # mid-epoch checkpoints are pruned once superseded: the newest two and the epoch ends remain
    assert [p.name for p in list_checkpoints(full / "checkpoints")] == [
        "epoch_001.pt", "epoch_002_batch_000005.pt", "epoch_002.pt"]
    assert [json.loads(line) for line in (full / "metrics.jsonl").read_text().splitlines()] == history
    assert (full / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((full / "config.json").read_text())["config"]["save_every_steps"] == 1
    final = load_checkpoint(full / "checkpoints" / "epoch_002.pt")
    assert final["step_points"].shape == (6, 2)  # (step, train/loss) every 2 steps

    for start in ("epoch_001.pt", "epoch_002_batch_000005.pt"):
        exp = tmp_path / start
        (exp / "checkpoints").mkdir(parents=True)
        shutil.copy(full / "checkpoints" / start, exp / "checkpoints" / start)
        resumed = toy_run(ToyConfig(str(exp), save_every_steps=1, resume="auto"))
        assert without_timing(resumed) == without_timing(history)
        got = load_checkpoint(exp / "checkpoints" / "epoch_002.pt")
        for name, value in final["model"].items():
            assert torch.equal(got["model"][name], value), name
        assert torch.equal(got["step_points"][:, 0], final["step_points"][:, 0])
        if start == "epoch_001.pt":  # resumed at a log point (the interval's partial sums are not checkpointed)
            assert torch.equal(got["step_points"], final["step_points"])
        assert (exp / "config.resumed_at_step{}.json".format(6 if start == "epoch_001.pt" else 11)).is_file()
    assert resumed[-1]["new_rows"] == 4.0  # the resumed epoch's sums went on from the checkpoint's
    with pytest.raises(FileExistsError, match="--resume auto"):
        toy_run(ToyConfig(str(full)))


def test_resume_auto_falls_back_past_unreadable_checkpoints(tmp_path, caplog):
    exp = tmp_path / "exp"
    toy_run(ToyConfig(str(exp), save_every_steps=1))
    checkpoints = exp / "checkpoints"
    (checkpoints / "epoch_002.pt").write_bytes(os.urandom(1000))
    (checkpoints / "epoch_002_batch_000005.pt").write_bytes(b"")
    trainer = ToyTrainer(ToyConfig(str(exp)), DistContext())
    assert trainer.load_latest()
    assert (trainer.epoch, trainer.batch, trainer.global_step) == (1, 0, 6)
    assert "falling back to the previous checkpoint" in caplog.text and "an empty file" in caplog.text
    (checkpoints / "epoch_001.pt").write_bytes(b"garbage")
    with pytest.raises(NoUsableCheckpointError, match="no checkpoint in .* can be loaded.*move the unreadable"):
        ToyTrainer(ToyConfig(str(exp)), DistContext()).load_latest()
    shutil.rmtree(checkpoints)
    assert not ToyTrainer(ToyConfig(str(exp)), DistContext()).load_latest()  # nothing to resume: afresh


def test_checkpoints_of_another_run_are_refused(tmp_path):
    exp = tmp_path / "exp"
    toy_run(ToyConfig(str(exp), epochs=1, save_every_steps=2))
    foreign = atomic_save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="foreign.pt is not a blasr toy checkpoint"):
        ToyTrainer(ToyConfig(str(tmp_path / "a")), DistContext()).load(foreign)
    with pytest.raises(CheckpointError, match="stops inside an epoch at global batch 4.*this run: 3"):
        ToyTrainer(ToyConfig(str(tmp_path / "b"), batch_size=3), DistContext()).load(
            exp / "checkpoints" / "epoch_001_batch_000004.pt")


def test_a_changed_option_is_warned_about(tmp_path, caplog):
    exp = tmp_path / "exp"
    toy_run(ToyConfig(str(exp), epochs=1))
    toy_run(ToyConfig(str(exp), epochs=2, lr=0.05, resume="auto"))
    assert "with changed lr: the run will not repeat an uninterrupted one" in caplog.text


def test_non_finite_loss_stops_naming_the_step_and_its_rows(tmp_path):
    exp = tmp_path / "exp"
    config = ToyConfig(str(exp), poison_step=3, log_every=50, save_every_steps=5)
    with pytest.raises(NonFiniteLossError, match=r"NaN or infinite at step 3 \(epoch 1 of 2, batch 3\); rows of "
                                                 r"that batch: row\d+, row\d+, row\d+, row\d+; stopped"):
        toy_run(config)
    assert not list_checkpoints(exp / "checkpoints")  # the save at step 5 found the NaN first
    with pytest.raises(NonFiniteLossError, match=r"at step 9 \(epoch 2 of 2, batch 3\)"):
        toy_run(replace(config, exp=str(tmp_path / "later"), poison_step=9, log_every=1))
    assert [p.name for p in list_checkpoints(tmp_path / "later" / "checkpoints")] == [
        "epoch_001_batch_000005.pt", "epoch_001.pt"]


def test_a_second_run_on_a_held_experiment_is_refused(tmp_path, caplog):
    exp = tmp_path / "exp"
    with lock_directory(exp, "another run's advice") as lock:
        with pytest.raises(DirectoryInUseError, match=f"{exp} is in use by another run \\(pid {os.getpid()} on "
                                                      ".*choose another --exp"):
            toy_run(ToyConfig(str(exp)))
        assert "DirectoryInUseError" in caplog.text
        assert sorted(p.name for p in exp.iterdir()) == [".lock"]  # no log, config or checkpoint of its own
        assert lock.read_text().startswith(f"pid {os.getpid()} ")  # the holder's record untouched
    assert len(toy_run(ToyConfig(str(exp)))) == 2  # released: the run goes ahead


def test_a_resumed_run_removes_a_killed_run_s_temporary_files_and_prune_leaves_them(tmp_path):
    exp = tmp_path / "exp"
    toy_run(ToyConfig(str(exp), epochs=1))
    leftovers = [exp / "checkpoints" / ".epoch_002_batch_000003.pt.k1ll.tmp", exp / ".metrics.jsonl.k1ll.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    prune_checkpoints(exp / "checkpoints")  # during a run: someone else's temporary file is not its to remove
    assert all(path.exists() for path in leftovers)
    assert len(toy_run(ToyConfig(str(exp), resume="auto"))) == 2
    assert not any(path.exists() for path in leftovers)  # the lock proves their writer gone
