import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

import blasr.training.loop as loop_module
from blasr.image.trainer import (
    ImageTrainer,
    TrainConfig,
    build_optimizer,
    cosine_schedule,
    resolve,
    topk_correct,
    train,
)
from blasr.training.loop import NonFiniteLossError, NoUsableCheckpointError
from blasr.utils.checkpoint import (
    CheckpointError,
    atomic_save,
    checkpoint_name,
    find_latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
)
from blasr.utils.distributed import DistContext, ShardedBatchSampler, cleanup, init_distributed
from tests.image.folders import make_image_folder
from tests.utils.test_distributed import TORCHRUN_VARS, free_port, torchrun_env

REPO = Path(__file__).resolve().parents[2]
TIMING_KEYS = {"train_seconds", "images_per_sec"}


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """3 classes x (4 train + 2 val) images of 40 x 40..52, plus one unreadable training file."""
    root = make_image_folder(tmp_path / "data")
    (root / "train" / "dog" / "broken.JPEG").write_bytes(b"\xff\xd8 truncated")
    return root


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)


def tiny_config(data_root: Path, exp: Path, **overrides) -> TrainConfig:
    """bL-ResNet-50 at 1/8 width on 32 x 32 crops (eval: resize 36, crop 32), 3 steps per epoch."""
    options = dict(arch="bl_resnet50_a2b4", data=str(data_root), exp=str(exp), epochs=2, batch_size=4,
                   width=0.125, crop_size=32, workers=0, device="cpu", seed=3, log_every=2,
                   lr=0.05, tensorboard=False)
    return TrainConfig(**{**options, **overrides})


def final_weights(exp: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(find_latest_checkpoint(exp / "checkpoints"))["model"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def sixths(percent: float) -> bool:
    """Accuracy over the 6 validation images is k/6 for a whole k."""
    return any(percent == pytest.approx(100 * k / 6) for k in range(7))


def without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k not in TIMING_KEYS} for record in history]


def test_recipe_defaults_and_lr_scaling():
    options = TrainConfig(arch="resnet50", data="d", exp="e", batch_size=64)
    config = resolve(options, world_size=8)
    assert config.lr == pytest.approx(0.2)  # 0.1 x 512 / 256
    assert (config.epochs, config.momentum, config.nesterov, config.weight_decay) == (110, 0.9, True, 1e-4)
    assert (config.crop_size, config.eval_crop_size, config.eval_resize) == (224, 224, 256)
    at256 = resolve(replace(options, eval_crop_size=256), world_size=8)
    assert (at256.eval_crop_size, at256.eval_resize) == (256, 292)


def test_cosine_schedule_per_step_with_optional_warmup():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.4)
    schedule = cosine_schedule(optimizer, total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs == pytest.approx([0.2 * (1 + math.cos(math.pi * t / 10)) for t in range(10)])
    optimizer = torch.optim.SGD([param], lr=0.4)
    schedule = cosine_schedule(optimizer, total_steps=12, warmup_steps=2)
    lrs = []
    for _ in range(4):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs == pytest.approx([0.2, 0.4, 0.4, 0.2 * (1 + math.cos(math.pi / 10))])


def test_weight_decay_groups():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    config = TrainConfig(arch="resnet50", data="d", exp="e", lr=0.1)
    (everything,) = build_optimizer(model, config).param_groups
    assert len(everything["params"]) == 4 and everything["weight_decay"] == 1e-4 and everything["nesterov"]
    decay, no_decay = build_optimizer(model, replace(config, decay_norm_bias=False)).param_groups
    assert [p.shape for p in decay["params"]] == [(4, 3, 3, 3)] and decay["weight_decay"] == 1e-4
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0


def test_topk_correct():
    logits = torch.tensor([[0.1, 0.5, 0.2, 0.0, 0.3, 0.9], [1.0, 0.5, 0.4, 0.3, 0.2, 0.1]])
    targets = torch.tensor([1, 5])  # 2nd best / worst
    assert topk_correct(logits, targets, (1, 3, 5)).tolist() == [0, 1, 1]
    assert topk_correct(logits[:, :3], torch.tensor([2, 0]), (1, 5)).tolist() == [1, 2]  # k > K: all


def test_checkpoint_names_sort_by_position(tmp_path):
    assert checkpoint_name(3) == "epoch_003.pt" and checkpoint_name(3, 500) == "epoch_004_batch_000500.pt"
    for name in ("epoch_002.pt", "epoch_003_batch_000007.pt", "epoch_003.pt", "epoch_010_batch_000001.pt",
                 "notes.pt"):
        (tmp_path / name).touch()
    assert find_latest_checkpoint(tmp_path).name == "epoch_010_batch_000001.pt"
    (tmp_path / "epoch_010_batch_000001.pt").unlink()
    assert find_latest_checkpoint(tmp_path).name == "epoch_003.pt"


def test_one_epoch_end_to_end(data_root, tmp_path):
    exp = tmp_path / "exp"
    history = train(tiny_config(data_root, exp, epochs=1, tensorboard=True))
    (record,) = history
    # 13 files, one unreadable (index 4: dog/broken.JPEG sorts first): 3 steps of 4, one file unused
    used = {i for batch in ShardedBatchSampler(13, 4, seed=3, with_seeds=True) for i, _ in batch}
    assert record["epoch"] == 1 and record["step"] == 3
    assert record["train_skipped"] == (1.0 if 4 in used else 0.0)
    assert record["val_skipped"] == 0 and record["val_top5"] == 100.0  # 3 classes: top-5 is every class
    assert sixths(record["val_top1"])
    assert math.isfinite(record["train_loss"]) and math.isfinite(record["val_loss"])

    state = load_checkpoint(exp / "checkpoints" / "epoch_001.pt")  # weights_only=True
    assert (state["epoch"], state["batch"], state["global_step"]) == (1, 0, 3)
    assert state["arch"] == "bl_resnet50_a2b4" and state["classes"] == ["cat", "dog", "emu"]
    assert state["config"]["lr"] == 0.05 and state["config"]["eval_resize"] == 36
    assert {"python", "numpy", "torch"} <= set(state["rng"]) and state["history"] == history
    assert state["scheduler"]["last_epoch"] == 3 and len(state["optimizer"]["state"]) > 0
    assert state["model"]["fc.weight"].shape[0] == 3

    info = json.loads((exp / "config.json").read_text())
    assert info["config"]["arch"] == "bl_resnet50_a2b4" and info["config"]["world_size"] == 1
    assert len(info["git"]["commit"] or "") == 40 and "torch" in info["versions"]
    assert [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()] == history
    log = (exp / "train.log").read_text()
    assert "epoch 1/1: train loss" in log and "val loss" in log

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(exp / "tb"))
    events.Reload()
    (top1,) = events.Scalars("val/top1")
    assert top1.step == 3 and top1.value == pytest.approx(record["val_top1"])
    assert [e.step for e in events.Scalars("train/loss")] == [2]


def test_unreadable_image_is_counted_once_per_epoch(data_root, tmp_path, caplog):
    history = train(tiny_config(data_root, tmp_path / "exp", epochs=2, batch_size=13, max_steps_per_epoch=1))
    # a batch of 13 holds every file: the broken one is skipped in both epochs
    assert [r["train_skipped"] for r in history] == [1.0, 1.0]
    named = [r.getMessage() for r in caplog.records if "broken.JPEG" in r.getMessage()]
    assert len(named) == 2 and "skipping unreadable image" in named[0]
    assert any("skipped 1 unreadable train images" in r.getMessage() for r in caplog.records)


def test_resume_continues_exactly(data_root, tmp_path, monkeypatch):
    # An uninterrupted 2-epoch run that also checkpoints every step, keeping them all.
    monkeypatch.setattr(loop_module, "prune_checkpoints", lambda directory, keep, keep_recent, protect=(): None)
    full = tmp_path / "full"
    history = train(tiny_config(data_root, full, save_every_steps=1))
    names = sorted(p.name for p in (full / "checkpoints").iterdir())
    assert names == ["epoch_001.pt", "epoch_001_batch_000001.pt", "epoch_001_batch_000002.pt",
                     "epoch_002.pt", "epoch_002_batch_000001.pt", "epoch_002_batch_000002.pt"]
    expected = final_weights(full)
    monkeypatch.undo()

    # 1 epoch, then resume for the second; and a resume from inside epoch 2
    for start, exp in (("epoch_001.pt", tmp_path / "from_epoch"),
                       ("epoch_002_batch_000001.pt", tmp_path / "from_step")):
        resumed = train(tiny_config(data_root, exp, resume=str(full / "checkpoints" / start)))
        assert_same_weights(final_weights(exp), expected)
        assert without_timing(resumed) == without_timing(history)
        assert (exp / "config.resumed_at_step3.json").exists() == (start == "epoch_001.pt")

    # --resume auto picks the newest checkpoint of the experiment: nothing left to do
    again = train(tiny_config(data_root, tmp_path / "from_step", resume="auto"))
    assert without_timing(again) == without_timing(history)
    # a plain start refuses to overwrite an experiment
    with pytest.raises(FileExistsError, match="--resume auto"):
        train(tiny_config(data_root, full))


def test_bad_checkpoints_give_clear_errors(data_root, tmp_path):
    exp = tmp_path / "exp"
    train(tiny_config(data_root, exp, epochs=1, max_steps_per_epoch=1))
    good = exp / "checkpoints" / "epoch_001.pt"
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated.pt.*truncated, corrupt"):
        train(tiny_config(data_root, tmp_path / "a", resume=str(truncated)))
    foreign = atomic_save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="foreign.pt is not a blasr image-training checkpoint"):
        train(tiny_config(data_root, tmp_path / "b", resume=str(foreign)))
    with pytest.raises(CheckpointError, match="trained as bl_resnet50_a2b4 on 3 classes; this run is resnet50"):
        train(tiny_config(data_root, tmp_path / "c", arch="resnet50", resume=str(good)))


def test_resume_auto_falls_back_past_corrupt_and_empty_checkpoints(data_root, tmp_path, caplog):
    exp = tmp_path / "exp"
    history = train(tiny_config(data_root, exp, save_every_steps=1))
    expected = final_weights(exp)
    checkpoints = exp / "checkpoints"
    assert [p.name for p in list_checkpoints(checkpoints)] == [
        "epoch_001.pt", "epoch_002_batch_000002.pt", "epoch_002.pt"]  # the newest two and the epoch ends
    (checkpoints / "epoch_002.pt").write_bytes(os.urandom(4096))  # garbage
    (checkpoints / "epoch_002_batch_000002.pt").write_bytes(b"")  # zero bytes (a full disk)
    config = tiny_config(data_root, exp, save_every_steps=1, resume="auto")
    trainer = ImageTrainer(config, DistContext())
    assert trainer.load_latest()
    assert (trainer.epoch, trainer.batch, trainer.global_step) == (1, 0, 3)  # epoch_001.pt, the newest good one
    assert "epoch_002.pt" in caplog.text and "epoch_002_batch_000002.pt" in caplog.text
    assert "falling back to the previous checkpoint" in caplog.text
    # the run resumed from there ends where the uninterrupted one did
    resumed = train(config)
    assert without_timing(resumed) == without_timing(history)
    assert_same_weights(final_weights(exp), expected)
    assert (exp / "config.resumed_at_step3.json").exists()


def test_resume_auto_with_every_checkpoint_unreadable_says_what_to_do(data_root, tmp_path):
    checkpoints = tmp_path / "exp" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "epoch_001.pt").write_bytes(b"not a checkpoint")
    (checkpoints / "epoch_002_batch_000001.pt").write_bytes(b"")
    with pytest.raises(NoUsableCheckpointError, match=r"no checkpoint in .*checkpoints can be loaded.*epoch_001.pt.*"
                                                      r"move the unreadable checkpoints out of .*--resume"):
        train(tiny_config(data_root, tmp_path / "exp", resume="auto"))
    assert issubclass(NoUsableCheckpointError, CheckpointError)  # python -m blasr.train_image exits with 1


def test_non_finite_loss_stops_naming_the_step(data_root, tmp_path, monkeypatch):
    calls = []
    real = F.cross_entropy

    def poisoned(logits, targets, **kwargs):
        calls.append(1)
        loss = real(logits, targets, **kwargs)
        return loss * float("nan") if len(calls) == 2 else loss

    monkeypatch.setattr(F, "cross_entropy", poisoned)
    exp = tmp_path / "exp"
    # log_every 50: the NaN of step 2 is found at the end of the epoch, and named
    with pytest.raises(NonFiniteLossError, match=r"NaN or infinite at step 2 \(epoch 1 of 2\)"):
        train(tiny_config(data_root, exp, log_every=50))
    assert not list((exp / "checkpoints").glob("*.pt"))  # nothing saved after the NaN
    assert "NaN or infinite at step 2" in (exp / "train.log").read_text()


def test_speech_arch_is_refused(data_root, tmp_path):
    with pytest.raises(ValueError, match="resnet22 is a speech architecture"):
        train(tiny_config(data_root, tmp_path / "exp", arch="resnet22"))


def test_command_line_runs_one_epoch(data_root, tmp_path):
    exp = tmp_path / "exp"
    command = [sys.executable, "-m", "blasr.train_image", "--arch", "resnet50", "--width", "0.125",
               "--data", str(data_root), "--exp", str(exp), "--epochs", "1", "--batch-size", "4",
               "--crop-size", "32", "--eval-resize", "36", "--workers", "0", "--max-steps-per-epoch", "2",
               "--no-tensorboard", "--upsample", "nearest", "--seed", "1"]
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    state = load_checkpoint(exp / "checkpoints" / "epoch_001.pt")
    assert state["global_step"] == 2 and state["config"]["upsample"] == "nearest"
    assert state["config"]["lr"] == pytest.approx(0.1 * 4 / 256)
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "already holds checkpoints" in again.stderr


def _ddp_worker(rank: int, world_size: int, port: int, config: TrainConfig, out: str) -> None:
    os.environ.update(torchrun_env(rank, world_size, port))
    torch.set_num_threads(1)  # two processes on a small CI machine
    context = init_distributed("cpu")
    trainer = ImageTrainer(config, context)
    history = trainer.fit()
    torch.save({"history": history, "model": trainer.model.module.state_dict(),
                "train_shard": sum(trainer.train_sampler, [])}, os.path.join(out, f"rank{rank}.pt"))
    cleanup(context)


def test_two_process_ddp_on_gloo(data_root, tmp_path):
    # without the broken file: a batch of 1 cannot train batch norm at 1 x 1 pixels (32 x 32 input)
    (data_root / "train" / "dog" / "broken.JPEG").unlink()
    config = tiny_config(data_root, tmp_path / "exp", epochs=1, batch_size=2)
    mp.spawn(_ddp_worker, args=(2, free_port(), config, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    # replicas stay identical (gradients all-reduced, BN statistics broadcast before evaluation)
    assert_same_weights(ranks[0]["model"], ranks[1]["model"])
    assert_same_weights(ranks[0]["model"], final_weights(tmp_path / "exp"))
    # 12 files // global batch 4 = 3 steps; the two shards never share a file
    (record,) = ranks[0]["history"]
    assert record["step"] == 3 and without_timing(ranks[1]["history"]) == without_timing(ranks[0]["history"])
    shard0, shard1 = (set(i for i, _ in r["train_shard"]) for r in ranks)
    assert len(shard0) == len(shard1) == 6 and not shard0 & shard1
    assert record["val_top5"] == 100.0 and sixths(record["val_top1"])
    state = load_checkpoint(tmp_path / "exp" / "checkpoints" / "epoch_001.pt")
    assert state["world_size"] == 2 and state["config"]["lr"] == 0.05


def test_loader_workers_do_not_change_the_result(data_root, tmp_path):
    # every sample's augmentation is seeded by the sampler, not by the worker that loads it
    runs = {}
    for workers in (0, 2):
        exp = tmp_path / f"workers{workers}"
        train(tiny_config(data_root, exp, epochs=1, workers=workers))
        runs[workers] = final_weights(exp)
    assert_same_weights(runs[0], runs[2])
