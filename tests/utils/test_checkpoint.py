import os
from dataclasses import dataclass

import pytest
import torch

from blasr.utils.checkpoint import CheckpointError, atomic_save, load_checkpoint


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
