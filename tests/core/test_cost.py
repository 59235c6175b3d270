import torch
from torch import nn

from blasr.core.cost import build_on_meta, count_cost, count_params


def test_counts_convs_linears_and_bias_adds():
    model = nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, padding=1),  # 8*10*10 outputs x 27 MACs, bias
        nn.BatchNorm2d(8),
        nn.Conv2d(8, 8, kernel_size=1, groups=2, bias=False),  # 800 outputs x 4 MACs
        nn.Flatten(),
        nn.Linear(800, 5),  # 5 x 800 MACs, bias
    )
    cost = count_cost(model, torch.zeros(2, 3, 10, 10))  # per batch item
    assert cost.conv_macs == 800 * 27 + 800 * 4
    assert cost.linear_macs == 5 * 800
    assert cost.bias_adds == 800 + 5
    # weights + biases + BN affine (running statistics are buffers, not counted)
    assert cost.params == 8 * 27 + 8 + 16 + 8 * 4 + 800 * 5 + 5 == count_params(model)
    assert model.training  # restored after counting in eval mode


def test_counting_on_meta_allocates_nothing():
    model = build_on_meta(lambda: nn.Conv2d(4, 4, 3))
    assert model.weight.device.type == "meta"
    cost = count_cost(model, torch.empty(1, 4, 5, 5, device="meta"))
    assert cost.conv_macs == 4 * 3 * 3 * 4 * 3 * 3
