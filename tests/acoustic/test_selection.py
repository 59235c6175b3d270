"""Model selection in speech training (--select, --avg, python -m blasr.average) and SpecAugment in the trainer."""

import json

import pytest
import torch

from blasr.acoustic.config import check
from blasr.acoustic.model_file import load_model_file
from blasr.acoustic.selection import choose, metric_values, select_model
from blasr.acoustic.trainer import SpeechTrainer, train
from blasr.average import main as average_main
from blasr.utils.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from blasr.utils.distributed import DistContext
from tests.acoustic.test_trainer import tiny_config


def test_choose_reads_the_held_out_metric_of_every_epoch():
    history = [{"epoch": 1, "valid_loss": 0.9, "valid_frame_acc": 70.0},
               {"epoch": 2, "valid_loss": 0.6, "valid_frame_acc": 79.0},
               {"epoch": 3, "valid_loss": 0.7, "valid_frame_acc": 81.5},
               {"epoch": 4, "valid_loss": 0.8, "valid_frame_acc": 80.0}]
    assert metric_values(history, "frame_error") == pytest.approx({1: 30.0, 2: 21.0, 3: 18.5, 4: 20.0})
    by_loss = choose(history, "best", "loss", avg=2)
    assert (by_loss.epoch, by_loss.epochs, by_loss.value) == (2, [1, 2], 0.6)
    by_error = choose(history, "best", "frame_error", avg=3)
    assert (by_error.epoch, by_error.epochs) == (3, [1, 2, 3])
    assert choose(history, "last", avg=3).epochs == [2, 3, 4]
    with pytest.raises(ValueError, match="--valid-data"):
        choose([{"epoch": 1, "train_loss": 1.0}], "best")


def average_of(exp, epochs):
    states = [load_checkpoint(exp / "checkpoints" / f"epoch_{e:03d}.pt")["model"] for e in epochs]
    return {k: torch.stack([s[k] for s in states]).double().mean(0).float() if v.is_floating_point() else v
            for k, v in states[-1].items()}


def test_best_epoch_averaged_then_selected_again_without_retraining(corpus, tmp_path, capsys):
    exp = tmp_path / "exp"
    history = train(tiny_config(corpus, exp, epochs=4, max_steps_per_epoch=6, lr=0.3, keep_checkpoints=1,
                                select="best", select_metric="frame_error", avg=2))
    errors = {r["epoch"]: 100 - r["valid_frame_acc"] for r in history}
    best = min(sorted(errors), key=errors.get)
    chosen = [e for e in (best - 1, best) if e >= 1]
    # --keep-checkpoints 1 keeps the newest epoch, plus the window of the best one
    kept = {p.name for p in list_checkpoints(exp / "checkpoints")}
    assert kept == {f"epoch_{e:03d}.pt" for e in {*chosen, 4, 3}}

    record = json.loads((exp / "selection.json").read_text())
    assert (record["select"], record["metric"], record["avg"], record["epoch"], record["epochs"]) == (
        "best", "frame_error", 2, best, chosen)
    assert record["values"] == pytest.approx({str(e): v for e, v in errors.items()})
    final = load_model_file(exp / "final.pt")
    assert final.info["training"]["selection"]["epochs"] == chosen
    assert final.info["training"]["epochs"] == best  # the description of the chosen epoch
    expected = average_of(exp, chosen)
    for name, value in final.model.state_dict().items():
        assert torch.equal(value, expected[name]), name

    # python -m blasr.average: the last epoch alone is the last checkpoint exactly
    average_main(["--exp", str(exp), "--select", "last"])
    last = load_checkpoint(exp / "checkpoints" / "epoch_004.pt")["model"]
    for name, value in load_checkpoint(exp / "final.pt")["model"].items():
        assert torch.equal(value, last[name]), name
    assert json.loads((exp / "selection.json").read_text())["epochs"] == [4]
    average_main(["--exp", str(exp), "--avg", "2", "--out", str(tmp_path / "avg.pt")])
    expected = average_of(exp, [3, 4])
    for name, value in load_checkpoint(tmp_path / "avg.pt")["model"].items():
        assert torch.equal(value, expected[name]), name
    # an epoch that was pruned cannot be averaged: a named error, final.pt untouched
    assert average_main(["--exp", str(exp), "--avg", "4"]) == 1
    err = capsys.readouterr().err
    assert "lacks" in err and "--keep-checkpoints" in err


def test_masks_change_training_batches_only(corpus, tmp_path):
    masks = dict(spec_freq_masks=2, spec_freq_width=30, spec_time_masks=2, spec_time_width=20,
                 spec_time_fraction=0.5)
    context = DistContext()  # one process, CPU
    plain = SpeechTrainer(tiny_config(corpus, tmp_path / "plain"), context)
    masked = SpeechTrainer(tiny_config(corpus, tmp_path / "masked", **masks), context)
    assert masked.valid_loader.dataset.spec_augment is None
    for a, b in zip(plain.train_batches(), masked.train_batches()):
        assert a["cut_ids"] == b["cut_ids"] and torch.equal(a["targets"], b["targets"])
        assert not torch.equal(a["features"], b["features"])
        assert (b["features"] == 0).float().mean() > (a["features"] == 0).float().mean() + 0.05
    # the held-out metrics of the same weights are those of the unmasked input
    assert masked.evaluate() == plain.evaluate()


def test_bad_selection_options_are_refused(corpus, tmp_path):
    with pytest.raises(ValueError, match="--valid-data"):
        check(tiny_config(corpus, tmp_path, valid_data=None, select="best"))
    with pytest.raises(ValueError, match="avg must be >= 1"):
        check(tiny_config(corpus, tmp_path, avg=0))
    with pytest.raises(ValueError, match="spec_time_masks must be >= 0"):
        check(tiny_config(corpus, tmp_path, spec_time_masks=-1))
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(CheckpointError, match="lacks epoch_003.pt"):
        select_model(tmp_path, "last", avg=1, history=[{"epoch": 3}])
