"""Big-Little Net, Table 3: FLOPs (1e9) and params per architecture, counted from the models.

The params column of the paper is printed as 1e6 but is in units of 1e7 (docs/conventions.md).
"""

import pytest

from blasr.speech.cost import speech_cost

TABLE_3 = {
    "resnet22": (1.11, 3.02),
    "bl_resnet22_a4b1": (0.68, 3.15),
    "bl_resnet22_a4b2": (0.66, 3.11),
    "bl_resnet22_a4b3": (0.65, 3.10),
    "bl_resnet22_a2b3": (0.77, 3.07),
    "bl_resnet22_a4b1_cat": (0.70, 3.18),
    "bl_pyr_resnet22_a4b1": (0.98, 3.32),
}


@pytest.mark.parametrize("arch", TABLE_3)
def test_table3_entry(arch):
    cost = speech_cost(arch)
    gflops, params = TABLE_3[arch]
    assert round(cost.window_flops / 1e9, 2) == gflops
    assert round(cost.params / 1e7, 2) == params


def test_resnet22_exact_counts():
    cost = speech_cost("resnet22", dense_frames=100)
    assert cost.params == 30_193_792  # 16,416,000 of them in the 512 x 32000 output layer
    # densely, a frame costs the per-frame slope of every layer: ~97.5 M MACs, ~11x less
    assert round(cost.dense_macs_per_frame / 1e6, 1) == 97.5
    assert cost.window_macs / cost.dense_macs_per_frame > 10
