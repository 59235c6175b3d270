import json
import math
import os
import re

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from lhotse import CutSet

from blasr import create_model
from blasr.acoustic.config import TrainConfig
from blasr.acoustic.model_file import load_model_file
from blasr.acoustic.objective import frame_sums, mean_loss
from blasr.acoustic.priors import ClassCountError, read_counts
from blasr.acoustic.trainer import SpeechTrainer, train
from blasr.data import IGNORE_INDEX, FrameLoader, load_targets
from blasr.data.storage import KaldiArkWriter
from blasr.features import open_cuts
from blasr.training.loop import NonFiniteLossError
from blasr.utils.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from blasr.utils.distributed import DistContext, cleanup, init_distributed, unwrap_model
from blasr.utils.threads import ThreadTuner
from tests.acoustic.conftest import NUM_CLASSES
from tests.conftest import randomize_batchnorm
from tests.utils.test_distributed import free_port, torchrun_env


def tiny_config(corpus, exp, **overrides) -> TrainConfig:
    """bL-ResNet-22 (2, 3) at 1/16 width, chunks of 16 frames, 4 rows per batch, CPU."""
    options = dict(arch="bl_resnet22_a2b3", data=str(corpus["train"]), valid_data=str(corpus["valid"]),
                   exp=str(exp), width=1 / 16, mode="chunk", chunk_frames=16, batch_size=4, lr=0.1, epochs=2,
                   workers=0, device="cpu", tensorboard=False, plot=False, log_every=5, save_every_steps=0)
    return TrainConfig(**{**options, **overrides})


def test_a_tiny_model_learns_and_the_experiment_is_complete(corpus, tmp_path):
    exp = tmp_path / "exp"
    history = train(tiny_config(corpus, exp, epochs=4, tensorboard=True, plot=True))
    losses = [r["train_loss"] for r in history]
    assert losses[-1] < 0.7 * losses[0] and history[-1]["valid_loss"] < history[0]["valid_loss"]
    chance = 100 * max(read_counts(exp / "priors.counts")) / 1252  # the commonest class: ~30 %
    assert history[-1]["train_frame_acc"] > chance + 30 and history[-1]["valid_frame_acc"] > chance + 25
    assert [r["train_frames"] for r in history] == [1250.0] * 4 and history[0]["valid_frames"] == 290.0
    assert [r["step"] for r in history] == [21, 42, 63, 84]  # 1250 frames -> 80 chunks of 16 -> 21 batches of 4

    # the experiment directory: configuration, architecture, features, priors, log, curves, model
    info = json.loads((exp / "config.json").read_text())
    assert info["config"]["mode"] == "chunk" and info["config"]["lr"] == 0.1 and len(info["git"]["commit"]) == 40
    assert "mode: chunk" in (exp / "config.yaml").read_text()
    model = json.loads((exp / "model.json").read_text())
    assert model["arch"] == "bl_resnet22_a2b3" and model["left_context"] == model["right_context"] == 24
    assert model["model_options"] == {"num_classes": NUM_CLASSES, "width": 0.0625}
    features = json.loads((exp / "features.json").read_text())
    assert features["fbank"]["sample_rate"] == 8000 and features["num_features"] == 64
    assert features["normalization"] == "utterance"
    counts = read_counts(exp / "priors.counts")
    assert counts.sum() == 1250 + 0.5 * NUM_CLASSES and all(c % 1 == 0.5 for c in counts)
    assert (exp / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()] == history
    log = (exp / "train.log").read_text()
    assert "epoch 4/4: train loss" in log
    # off a terminal every --log-every steps is a line of its own, with the step (not a stale progress line)
    assert re.search(r"epoch 1 step 5: loss [0-9.]+ frame acc", log) and "0/21 (0%)" not in log
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(exp / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("valid/frame_acc")] == [21, 42, 63, 84]
    assert {"train/loss", "train/frame_acc", "train/frames_per_sec", "train/lr"} <= set(events.Tags()["scalars"])

    trained = load_model_file(exp / "final.pt")  # weights_only
    assert not trained.model.training and trained.num_classes == NUM_CLASSES
    assert np.array_equal(trained.class_counts, counts)
    assert trained.info["training"]["epochs"] == 4 and trained.info["features"] == features
    summary = trained.info["training"]  # what the system directory's model card states
    assert (summary["data_cuts"], summary["data_frames"], summary["target_frames"]) == (
        len(CutSet.from_file(corpus["train"])), 1250, 4 * 1250)
    last = load_checkpoint(exp / "checkpoints" / "epoch_004.pt")
    for name, value in trained.model.state_dict().items():
        assert torch.equal(value, last["model"][name]), name


def test_window_and_chunk_modes_agree_on_the_loss_in_eval_mode(corpus, rng):
    model = create_model("bl_resnet22_a2b3", width=0.25, num_classes=NUM_CLASSES)
    randomize_batchnorm(model, rng)
    model.eval()
    chunk = next(iter(FrameLoader(corpus["train"], mode="chunk", chunk_frames=64, batch_size=5, num_workers=0,
                                  seed=4)))
    assert (chunk["targets"] == IGNORE_INDEX).any()  # an utterance's tail is in the batch
    windows = {}
    for batch in FrameLoader(corpus["train"], mode="window", batch_size=512, num_workers=0, shuffle=False):
        for i, (cut_id, frame) in enumerate(zip(batch["cut_ids"], batch["frames"].tolist())):
            windows[cut_id, frame] = (batch["features"][i], batch["targets"][i])
    # the same frames as window rows (the paper's mode): (valid frames, 3, 64, 49)
    keys = [(cut_id, int(first) + j) for cut_id, first, row in zip(chunk["cut_ids"], chunk["frames"], chunk["targets"])
            for j in range(row.numel()) if row[j] != IGNORE_INDEX]
    window_features = torch.stack([windows[k][0] for k in keys])
    window_targets = torch.stack([windows[k][1] for k in keys])
    with torch.no_grad():
        by_chunk = frame_sums(model(chunk["features"]), chunk["targets"])
        by_window = frame_sums(model(window_features), window_targets)
    assert by_chunk[2] == by_window[2] == len(keys) and by_chunk[1] == by_window[1]
    assert by_chunk[0].item() == pytest.approx(by_window[0].item(), rel=1e-5)


def test_an_all_ignored_batch_has_zero_loss_not_nan():
    logits = torch.randn(2, 3, 5, requires_grad=True)
    targets = torch.full((2, 3), IGNORE_INDEX)
    loss_sum, correct, count = frame_sums(logits, targets)
    loss = mean_loss(loss_sum, count)
    loss.backward()
    assert loss.item() == 0.0 and correct == count == 0 and torch.equal(logits.grad, torch.zeros(2, 3, 5))
    # loss over the global count, times the world size (DDP averages gradients)
    targets[0, 0] = 2
    assert mean_loss(frame_sums(logits, targets)[0], torch.tensor(4), world_size=2).item() == pytest.approx(
        F.cross_entropy(logits[0, :1], torch.tensor([2])).item() / 2)


def test_label_smoothing_spreads_epsilon_over_the_classes_on_valid_frames_only():
    logits = torch.randn(2, 3, 5)
    targets = torch.tensor([[0, 4, IGNORE_INDEX], [2, IGNORE_INDEX, 1]])
    eps = 0.1
    log_p = logits.log_softmax(dim=-1)
    valid = targets != IGNORE_INDEX
    # (1 - eps) x the target's -log p + eps x the mean over the 5 classes of -log p, summed over the 4 valid frames
    expected = sum(-(1 - eps) * log_p[n, c, targets[n, c]] - eps * log_p[n, c].mean()
                   for n in range(2) for c in range(3) if valid[n, c])
    loss_sum, correct, count = frame_sums(logits, targets, label_smoothing=eps)
    assert loss_sum.item() == pytest.approx(expected.item(), rel=1e-6) and count == 4
    assert frame_sums(logits, targets)[0].item() == pytest.approx(
        -sum(log_p[n, c, targets[n, c]] for n in range(2) for c in range(3) if valid[n, c]).item(), rel=1e-6)


def test_non_finite_loss_stops_naming_the_step_and_its_utterances(corpus, tmp_path, monkeypatch):
    real, calls = F.cross_entropy, []

    def poisoned(logits, targets, **kwargs):
        calls.append(1)
        loss = real(logits, targets, **kwargs)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(F, "cross_entropy", poisoned)
    config = tiny_config(corpus, tmp_path / "exp", log_every=50, max_steps_per_epoch=5, valid_data=None)
    third = list(FrameLoader(config.data, mode="chunk", chunk_frames=16, batch_size=4, num_workers=0))[2]
    with pytest.raises(NonFiniteLossError, match=r"NaN or infinite at step 3 \(epoch 1 of 2, batch 3\)") as error:
        train(config)
    assert sorted(set(third["cut_ids"])) == sorted(str(error.value).split("utterances of that batch: ")[1]
                                                   .split(";")[0].split(", "))
    assert not list((tmp_path / "exp" / "checkpoints").glob("*.pt"))  # nothing saved after the NaN
    assert "NaN or infinite at step 3" in (tmp_path / "exp" / "train.log").read_text()


def test_resume_falls_back_past_a_corrupt_checkpoint(corpus, tmp_path, caplog):
    exp = tmp_path / "exp"
    train(tiny_config(corpus, exp, epochs=1, max_steps_per_epoch=6, save_every_steps=2, valid_data=None))
    names = sorted(p.name for p in (exp / "checkpoints").iterdir())
    assert names == ["epoch_001.pt", "epoch_001_batch_000004.pt"]  # the newest two; older mid-epoch ones pruned
    newest = exp / "checkpoints" / "epoch_001.pt"
    newest.write_bytes(newest.read_bytes()[:2000])  # a truncated copy
    config = tiny_config(corpus, exp, epochs=2, max_steps_per_epoch=6, valid_data=None, resume="auto")
    with pytest.raises(CheckpointError, match="epoch_001.pt.*truncated, corrupt"):
        SpeechTrainer(config, DistContext()).load(newest)
    trainer = SpeechTrainer(config, DistContext())
    assert trainer.load_latest()
    assert (trainer.epoch, trainer.batch, trainer.global_step) == (0, 4, 4)
    assert "epoch_001.pt" in caplog.text and "falling back to the previous checkpoint" in caplog.text
    # a plain start refuses to overwrite the experiment
    with pytest.raises(FileExistsError, match="--resume auto"):
        train(tiny_config(corpus, exp))
    with pytest.raises(CheckpointError, match="holds bl_resnet22_a2b3 with .* this run is resnet22"):
        train(tiny_config(corpus, exp, arch="resnet22", resume=str(exp / "checkpoints" / "epoch_001_batch_000004.pt")))


def _ddp_step(rank: int, world_size: int, port: int, config: TrainConfig, batch_file: str, out: str) -> None:
    os.environ.update(torchrun_env(rank, world_size, port))
    torch.set_num_threads(1)  # two processes on a small CI machine
    context = init_distributed("cpu")
    trainer = SpeechTrainer(config, context)
    batch = torch.load(batch_file)
    rows = len(batch["cut_ids"]) // world_size
    share = slice(rank * rows, (rank + 1) * rows)
    trainer.train_step({"features": batch["features"][share], "targets": batch["targets"][share],
                        "cut_ids": batch["cut_ids"][share]})
    torch.save(unwrap_model(trainer.model).state_dict(), os.path.join(out, f"rank{rank}.pt"))
    cleanup(context)


def test_two_processes_with_sync_bn_step_like_one_process(corpus, tmp_path):
    batch = next(iter(FrameLoader(corpus["train"], mode="chunk", chunk_frames=16, batch_size=8, num_workers=0)))
    batch["targets"][:2, 5:] = IGNORE_INDEX  # rank 0's share has fewer valid frames than rank 1's
    torch.save(batch, tmp_path / "batch.pt")
    config = tiny_config(corpus, tmp_path / "exp", batch_size=4, sync_bn=True, valid_data=None, width=0.25)
    mp.spawn(_ddp_step, args=(2, free_port(), config, str(tmp_path / "batch.pt"), str(tmp_path)), nprocs=2,
             join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    torch.set_num_threads(1)
    single = SpeechTrainer(tiny_config(corpus, tmp_path / "single", batch_size=8, valid_data=None, width=0.25),
                           DistContext())
    initial = {k: v.clone() for k, v in single.model.state_dict().items()}
    single.train_step(batch)
    expected = single.model.state_dict()
    # One step: this tiny network at lr 0.1 is chaotic enough that float rounding (summing in two halves)
    # grows to 1e-3 in a second step's gradients, in one process alone too.
    for name, value in expected.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # replicas stay identical
        torch.testing.assert_close(ranks[0][name], value, rtol=1e-5, atol=2e-6, msg=name)
    moved = [n for n in expected if n.endswith("weight") and not torch.equal(initial[n], expected[n])]
    assert len(moved) > 20  # the steps changed the weights, so the agreement means something
    assert not torch.equal(initial["stem.1.running_mean"], expected["stem.1.running_mean"])


def test_speech_training_refuses_an_image_architecture(corpus, tmp_path):
    with pytest.raises(ValueError, match="resnet50 is an image architecture"):
        train(tiny_config(corpus, tmp_path / "exp", arch="resnet50"))


def test_window_mode_and_the_lr_schedule_in_training(corpus, tmp_path):
    config = tiny_config(corpus, tmp_path / "exp", mode="window", batch_size=32, epochs=3, lr_decay_from_epoch=2,
                         lr_decay=0.5, max_steps_per_epoch=2)
    history = train(config)
    assert [r["lr"] for r in history] == [0.1, 0.05, 0.025]  # x 0.5 from the second epoch on
    assert [r["train_frames"] for r in history] == [64.0] * 3  # 2 steps of 32 windows
    assert history[0]["valid_frames"] == 290.0 and all(math.isfinite(r["train_loss"]) for r in history)


def test_the_class_count_comes_with_the_targets_or_stops_the_run(corpus, tmp_path):
    """num_pdfs beside the targets decides the output layer; none, or a disagreeing one, is a named error."""
    targets = corpus["train"].parent
    assert (targets / "num_pdfs").read_text().strip() == str(NUM_CLASSES)
    wrong = f"have {NUM_CLASSES} classes .* the model {NUM_CLASSES + 1} \\(--num-pdfs\\)"
    with pytest.raises(ClassCountError, match=wrong):
        SpeechTrainer(tiny_config(corpus, tmp_path / "a", num_pdfs=NUM_CLASSES + 1), DistContext())
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "cuts.jsonl.gz").write_bytes(corpus["train"].read_bytes())  # the same cuts, no num_pdfs beside them
    with pytest.raises(ClassCountError, match="no --num-pdfs and no num_pdfs beside the training targets"):
        SpeechTrainer(tiny_config(corpus, tmp_path / "b", data=str(copy / "cuts.jsonl.gz"), valid_data=None),
                      DistContext())
    trainer = SpeechTrainer(tiny_config(corpus, tmp_path / "c", data=str(copy / "cuts.jsonl.gz"), valid_data=None,
                                        num_pdfs=NUM_CLASSES + 3), DistContext())
    assert trainer.model_options["num_classes"] == NUM_CLASSES + 3 == len(trainer.class_counts)


def with_bad_target(manifest, out_dir, value, cut_index=1, frame=7):
    """A copy of ``manifest`` (targets and num_pdfs) whose ``cut_index``-th cut has ``value`` at ``frame``."""
    out_dir.mkdir()
    cuts = list(open_cuts(manifest))
    with KaldiArkWriter(out_dir / "targets") as storage, CutSet.open_writer(out_dir / "cuts.jsonl.gz") as writer:
        for index, cut in enumerate(cuts):
            targets = load_targets(cut)
            if index == cut_index:
                targets[frame] = value
            writer.write(cut.with_custom("targets", storage.store_targets(cut.id, targets, cut.features.frame_shift,
                                                                          cut.start)))
    (out_dir / "num_pdfs").write_text(f"{NUM_CLASSES}\n")
    return out_dir / "cuts.jsonl.gz", cuts[cut_index].id


@pytest.mark.parametrize("part", ["valid", "train"])
@pytest.mark.parametrize("value", [NUM_CLASSES, -1])
def test_a_target_outside_the_classes_stops_the_run_before_training(corpus, tmp_path, part, value):
    """Every target file is checked up front: a held-out id the output layer lacks would fail the first
    evaluation, a whole epoch later; a negative id other than IGNORE_INDEX would fail the loss mid-epoch."""
    bad, cut_id = with_bad_target(corpus[part], tmp_path / "bad", value)
    config = tiny_config(corpus, tmp_path / "exp", epochs=1, max_steps_per_epoch=2,
                         **{"data" if part == "train" else "valid_data": str(bad)})
    expected = (f"{bad}: cut {cut_id} has target {value} at frame 7 (targets in {tmp_path / 'bad' / 'targets.ark'}); "
                f"pdf-ids must lie in [0, {NUM_CLASSES}) (or be {IGNORE_INDEX}, an ignored frame); make targets and "
                "model from the same tree")
    with pytest.raises(ClassCountError) as stopped:
        train(config)
    assert str(stopped.value).startswith(expected)
    assert not list_checkpoints(tmp_path / "exp" / "checkpoints")  # no epoch was spent


def test_cpu_training_measures_its_steps_for_the_thread_tuner(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("BLASR_THREADS", "auto")
    trainer = SpeechTrainer(tiny_config(corpus, tmp_path / "exp", epochs=1, valid_data=None), DistContext())
    assert trainer.thread_tuner is not None
    trainer.thread_tuner = ThreadTuner(max_threads=2, window=4)  # this process may run 1 thread; 21 steps
    trainer.fit()
    assert trainer.thread_tuner.best and all(rate > 0 for rate in trainer.thread_tuner.best.values())
    deterministic = SpeechTrainer(tiny_config(corpus, tmp_path / "det", deterministic=True), DistContext())
    assert deterministic.thread_tuner is None  # --deterministic keeps the thread count fixed
