"""Model selection's arithmetic: the epoch chosen, the window averaged, the average of N states."""

import math

import pytest
import torch

from blasr import create_model
from blasr.training.averaging import average_state_dicts, averaged_epochs, choose_epoch
from tests.conftest import randomize_batchnorm


def test_best_is_the_lowest_metric_and_last_the_last_epoch():
    values = {1: 1.20, 2: 0.81, 3: 0.64, 4: 0.70, 5: 0.66}
    assert choose_epoch(values, "best") == 3
    assert choose_epoch(values, "last") == 5
    assert choose_epoch({1: 0.5, 2: 0.4, 3: 0.4}, "best") == 2            # the earliest of equal ones
    assert choose_epoch({1: math.nan, 2: 0.9, 3: math.nan}, "best") == 2  # an epoch without a metric never wins
    with pytest.raises(ValueError, match="select 'worst'"):
        choose_epoch(values, "worst")
    with pytest.raises(ValueError, match="NaN"):
        choose_epoch({1: math.nan}, "best")


def test_the_window_ends_at_the_chosen_epoch():
    assert averaged_epochs(5, 3) == [3, 4, 5]
    assert averaged_epochs(7, 1) == [7]
    assert averaged_epochs(2, 4) == [1, 2]  # icefall's --epoch 2 --avg 4 has only two
    with pytest.raises(ValueError):
        averaged_epochs(3, 0)


def test_average_of_written_out_states():
    states = [{"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3), "h": torch.tensor([0.5], dtype=torch.float16)},
              {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(5), "h": torch.tensor([1.5], dtype=torch.float16)},
              {"w": torch.tensor([8.0, 1.0]), "n": torch.tensor(9), "h": torch.tensor([2.5], dtype=torch.float16)}]
    averaged = average_state_dicts(states)
    assert torch.equal(averaged["w"], torch.tensor([4.0, 3.0]))
    assert torch.equal(averaged["n"], torch.tensor(9))   # integer buffers: the last state's
    assert averaged["h"].dtype == torch.float16 and torch.equal(averaged["h"], torch.tensor([1.5], dtype=torch.float16))
    with pytest.raises(ValueError, match="other entries"):
        average_state_dicts([{"w": torch.zeros(2)}, {"v": torch.zeros(2)}])
    with pytest.raises(ValueError, match="shape"):
        average_state_dicts([{"w": torch.zeros(2)}, {"w": torch.zeros(3)}])


def test_averaging_n_models_is_the_mean_of_their_weights(rng):
    states = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = create_model("bl_resnet22_a2b3", width=1 / 16, num_classes=5)
        randomize_batchnorm(model, rng)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.num_batches_tracked.fill_(10 * (seed + 1))
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    averaged = average_state_dicts(states)
    assert averaged.keys() == states[0].keys()
    floats = 0
    for name, value in averaged.items():
        if name.endswith("num_batches_tracked"):
            assert int(value) == 30  # the last model's
            continue
        floats += 1
        expected = torch.stack([s[name] for s in states]).double().mean(0).float()
        assert value.dtype == torch.float32 and torch.equal(value, expected), name
    assert floats > 100 and any(name.endswith("running_var") for name in averaged)
    # averaging distinct models changes the weights: the test would see a copy of one of them
    assert not torch.equal(averaged["stem.0.weight"], states[-1]["stem.0.weight"])
