import json
import random

import numpy as np
import torch

from blasr.utils.checkpoint import atomic_save, load_checkpoint
from blasr.utils.experiment import (
    describe_revision,
    git_revision,
    rng_state,
    seed_everything,
    set_rng_state,
    write_run_info,
)


def draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    seed_everything(11)
    draws()
    path = atomic_save({"rng": rng_state()}, tmp_path / "rng.pt")
    expected = draws()
    draws()  # move every generator on
    set_rng_state(load_checkpoint(path)["rng"])  # weights_only=True
    assert draws() == expected


def test_seed_everything_seeds_every_generator():
    seed_everything(5)
    first = draws()
    seed_everything(5)
    assert draws() == first
    seed_everything(6)
    assert draws() != first


def test_run_info_names_config_and_revision(tmp_path):
    path = write_run_info(tmp_path / "exp", {"arch": "resnet50", "lr": 0.1})
    info = json.loads(path.read_text())
    assert info["config"] == {"arch": "resnet50", "lr": 0.1}
    assert info["git"] == git_revision() and len(info["git"]["commit"]) == 40
    assert info["versions"]["torch"] == torch.__version__
    assert git_revision(tmp_path) == {"commit": None, "dirty": None}  # not a checkout
    short = describe_revision()
    assert short.split("-")[0] == info["git"]["commit"][:7] and short.endswith("-dirty") == info["git"]["dirty"]
    assert describe_revision(tmp_path) == "?"
