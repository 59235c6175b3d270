import importlib
import os
from dataclasses import dataclass

import pytest
import torch

from blasr.utils.checkpoint import (
    CheckpointError,
    atomic_save,
    atomic_write_text,
    checkpoint_name,
    checkpoint_position,
    find_latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_latest_checkpoint,
    prune_checkpoints,
)


def test_round_trip_and_no_leftovers(tmp_path, rng):
    state = {"weights": torch.randn(3, 4, generator=rng), "step": 7, "name": "bl", "ids": [1, 2]}
    path = atomic_save(state, tmp_path / "sub" / "ckpt.pt")
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["weights"], state["weights"]) and loaded["step"] == 7
    assert loaded["ids"] == [1, 2] and loaded["name"] == "bl"
    assert os.listdir(tmp_path / "sub") == ["ckpt.pt"]


def test_truncated_and_missing_files_name_the_file(tmp_path, rng):
    path = atomic_save({"w": torch.randn(100, generator=rng)}, tmp_path / "ckpt.pt")
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="ckpt.pt.*truncated, corrupt"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    path.write_bytes(b"")  # a zero-byte file (a full disk): torch's error has no message
    with pytest.raises(CheckpointError, match="ckpt.pt .*an empty file.*truncated, corrupt"):
        load_checkpoint(path)


@dataclass
class Arbitrary:
    payload: str


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"obj": Arbitrary("would run on load")}, path)  # not weights-only
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(path)


def test_failed_write_keeps_the_old_file(tmp_path):
    path = atomic_save({"v": 1}, tmp_path / "ckpt.pt")

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_save({"v": Unpicklable()}, path)
    assert load_checkpoint(path) == {"v": 1}
    assert os.listdir(tmp_path) == ["ckpt.pt"]


def test_atomic_text_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    path = atomic_write_text(tmp_path / "sub" / "metrics.jsonl", "a\n")
    assert path.read_text() == "a\n"
    atomic_write_text(path, "a\nb\n")
    assert path.read_text() == "a\nb\n" and os.listdir(path.parent) == ["metrics.jsonl"]

    def crash(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "half")
    assert path.read_text() == "a\nb\n" and os.listdir(path.parent) == ["metrics.jsonl"]  # no temp file left


def test_saved_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_save({"v": 1}, tmp_path / "ckpt.pt")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600: shared experiment directories


def test_checkpoint_names_sort_by_training_position(tmp_path):
    assert checkpoint_name(3) == "epoch_003.pt" and checkpoint_name(3, 500) == "epoch_004_batch_000500.pt"
    assert checkpoint_position("epoch_003.pt") == (3, 0)
    assert checkpoint_position("x/epoch_004_batch_000500.pt") == (3, 500)
    assert checkpoint_position("notes.pt") is None and checkpoint_position("epoch_3.pt.tmp") is None
    names = ["epoch_002.pt", "epoch_003_batch_000007.pt", "epoch_010_batch_000001.pt", "epoch_003.pt",
             "epoch_003_batch_000010.pt", "notes.pt"]
    for name in names:
        (tmp_path / name).touch()
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "epoch_002.pt", "epoch_003_batch_000007.pt", "epoch_003_batch_000010.pt", "epoch_003.pt",
        "epoch_010_batch_000001.pt"]
    assert find_latest_checkpoint(tmp_path).name == "epoch_010_batch_000001.pt"
    assert find_latest_checkpoint(tmp_path / "none") is None


def test_prune_keeps_recent_and_epoch_checkpoints(tmp_path):
    for name in ("epoch_001.pt", "epoch_002_batch_000005.pt", "epoch_002.pt", "epoch_003_batch_000005.pt",
                 "epoch_003_batch_000010.pt", ".epoch_003_batch_000015.pt.x1y2.tmp"):
        (tmp_path / name).touch()
    prune_checkpoints(tmp_path, keep_epochs=0, keep_recent=2)
    # the two newest survive whatever they are; older mid-epoch ones go; a temporary file is a writer's own
    # (a killed run's leftovers go when the next run has locked the directory: tests/training/test_loop.py)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".epoch_003_batch_000015.pt.x1y2.tmp", "epoch_001.pt", "epoch_002.pt", "epoch_003_batch_000005.pt",
        "epoch_003_batch_000010.pt"]
    prune_checkpoints(tmp_path, keep_epochs=1, keep_recent=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".epoch_003_batch_000015.pt.x1y2.tmp", "epoch_002.pt", "epoch_003_batch_000010.pt"]


def test_load_latest_falls_back_past_a_corrupt_checkpoint(tmp_path, caplog):
    assert load_latest_checkpoint(tmp_path) is None
    atomic_save({"step": 1}, tmp_path / "epoch_001.pt")
    atomic_save({"step": 2}, tmp_path / "epoch_002_batch_000001.pt")
    newest = atomic_save({"step": 3, "w": torch.zeros(1000)}, tmp_path / "epoch_002_batch_000002.pt")
    newest.write_bytes(newest.read_bytes()[:100])  # truncated (a disk full, a bad copy)
    path, state = load_latest_checkpoint(tmp_path)
    assert path.name == "epoch_002_batch_000001.pt" and state == {"step": 2}
    assert "epoch_002_batch_000002.pt" in caplog.text and "falling back" in caplog.text

    def refuse_step_2(path, state):
        if state["step"] == 2:
            raise CheckpointError(f"{path} is from another run")

    path, state = load_latest_checkpoint(tmp_path, check=refuse_step_2)
    assert path.name == "epoch_001.pt" and state == {"step": 1}
    (tmp_path / "epoch_001.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="no checkpoint in .* can be loaded"):
        load_latest_checkpoint(tmp_path, check=refuse_step_2)


@pytest.mark.parametrize("program", ["export", "decode", "convert_image"])
def test_a_program_given_an_empty_checkpoint_says_so_in_one_line(tmp_path, capsys, program):
    """A zero-byte model file (a full disk) is a user's error in every program that reads one, not a crash."""
    empty = tmp_path / "final.pt"
    empty.write_bytes(b"")
    (tmp_path / "cuts.jsonl").write_text("")
    argv = {"export": ["--model", str(empty), "--data", str(tmp_path / "cuts.jsonl"), "--out", str(tmp_path / "o")],
            "decode": ["--nnet", str(empty), "--data", str(tmp_path / "cuts.jsonl"), "--graph", str(tmp_path),
                       "--model", str(tmp_path / "final.mdl"), "--out", str(tmp_path / "o")],
            "convert_image": [str(empty), str(tmp_path / "out.pt"), "--arch", "bl_resnet50_a2b4"]}[program]
    main = importlib.import_module(f"blasr.{program}").main
    try:
        status = main(argv)
    except SystemExit as stop:
        status = stop.code
    error = capsys.readouterr().err
    assert status == 1 and "Traceback" not in error
    assert f"cannot read checkpoint {empty} (EOFError: an empty file)" in error and not (tmp_path / "out.pt").exists()
