import pytest
import torch
from torch import nn

from blasr import create_model, list_models
from blasr.image.cost import image_cost

IMAGE_ARCHS = list_models(domain="image")
TINY = dict(width=0.25, num_classes=5)


def test_required_names_are_registered():
    required = {
        "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x4d",
        "resnext101_64x4d", "seresnext50_32x4d", "seresnext101_32x4d",
        "bl_resnet50_a2b4", "bl_resnet101_a2b4", "bl_resnet152_a2b4", "bl_resnext50_32x4d_a2b4",
        "bl_resnext101_32x4d_a2b4", "bl_resnext101_64x4d_a2b4", "bl_seresnext50_32x4d_a2b4",
        "bl_seresnext101_32x4d_a2b4",
    }
    assert required <= set(IMAGE_ARCHS)
    assert not set(IMAGE_ARCHS) & set(list_models(domain="speech"))


@pytest.mark.parametrize("arch", IMAGE_ARCHS)
def test_registry_sweep_forward_backward(arch, rng):
    torch.manual_seed(0)
    model = create_model(arch, **TINY)
    images = torch.randn(2, 3, 64, 64, generator=rng)
    logits = model(images)
    assert logits.shape == (2, 5)
    loss = nn.functional.cross_entropy(logits, torch.tensor([1, 3]))
    loss.backward()
    assert torch.isfinite(loss)
    for name, param in model.named_parameters():
        assert param.grad is not None, f"{arch}: {name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{arch}: {name}"
    # zero-init residual: the last BN of every bottleneck starts at 0
    assert all(
        m.last_norm.weight.abs().sum() == 0 for m in model.modules() if hasattr(m, "last_norm")
    )


def test_bl_resnet_block_counts_follow_table5():
    with torch.device("meta"):
        model = create_model("bl_resnet152_a2b4")
    big = [len(stage[0].branches[0].blocks) for stage in model.stages[:3]]
    little = [len(stage[0].branches[1].blocks) for stage in model.stages[:3]]
    # L = (5, 12, 30): big L - 1; little max(1, floor(L / 4) - 1)
    assert big == [4, 11, 29] and little == [1, 2, 6]
    assert len(model.stages[3]) == 3
    transition_strides = [stage[1].body[1][0].stride for stage in model.stages[:3]]
    assert transition_strides == [(2, 2), (2, 2), (1, 1)]


def test_resnext_little_branch_keeps_group_width():
    with torch.device("meta"):
        model = create_model("bl_resnext50_32x4d_a2b4")
    big_conv = model.stages[0][0].branches[0].blocks[0].body[1][0]
    little_conv = model.stages[0][0].branches[1].blocks[0].body[1][0]
    assert (big_conv.out_channels, big_conv.groups) == (128, 32)  # group width 4
    assert (little_conv.out_channels, little_conv.groups) == (64, 16)  # group width 4, 32 / alpha groups


def test_feature_map_sizes(rng):
    model = create_model("bl_resnet50_a2b4", **TINY).eval()
    sizes = []
    for stage in model.stages:
        stage.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape[1:])))
    with torch.no_grad():
        model(torch.randn(1, 3, 224, 224, generator=rng))
    assert sizes == [(64, 28, 28), (128, 14, 14), (256, 14, 14), (512, 7, 7)]


def test_upsampling_is_selectable(rng):
    bilinear = create_model("bl_resnet50_a2b4", **TINY).eval()
    nearest = create_model("bl_resnet50_a2b4", upsample="nearest", **TINY).eval()
    nearest.load_state_dict(bilinear.state_dict())
    for module in bilinear.modules():  # undo zero-init so the big branches matter
        if isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
    nearest.load_state_dict(bilinear.state_dict())
    images = torch.randn(1, 3, 64, 64, generator=rng)
    with torch.no_grad():
        assert not torch.allclose(bilinear(images), nearest(images))
    assert {b.upsample for b in nearest.stages[0][0].branches} == {"nearest"}


def test_bad_arguments():
    model = create_model("resnet50", **TINY)
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 3, 50, 64))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="unknown option"):
        create_model("bl_resnet50_a2b4", gamma=3)
    with pytest.raises(ValueError, match="must divide the cardinality"):
        create_model("bl_resnext50_32x4d_a2b4", alpha=3)


# (GFLOPs @224, GFLOPs @256 or None, params 1e6): Tables 1, 2 and 11 of the paper
PAPER = {
    "resnet50": (4.09, None, 25.55),
    "bl_resnet50_a1b1": (5.65, None, 34.12),
    "bl_resnet50_a1b2": (4.34, None, 30.14),
    "bl_resnet50_a2b2": (2.91, None, 26.97),
    "bl_resnet50_a2b4": (2.85, None, 26.69),
    "bl_resnet50_a4b2": (2.49, None, 26.31),
    "bl_resnet50_a4b4": (2.48, None, 26.24),
    "resnet101": (7.80, None, 44.54),
    "bl_resnet101_a1b1": (10.29, None, 63.32),
    "bl_resnet101_a2b2": (4.27, None, 43.39),
    "bl_resnet101_a2b4": (3.89, 5.08, 41.85),
    "resnet152": (11.51, None, 60.19),
    "bl_resnet152_a2b4": (5.04, 6.58, 57.36),
    "resnext50_32x4d": (4.23, None, 25.03),
    "bl_resnext50_32x4d_a2b4": (3.03, 3.95, 26.19),
    "resnext101_32x4d": (7.97, None, 44.17),
    "bl_resnext101_32x4d_a2b4": (4.08, 5.33, 41.51),
    "resnext101_64x4d": (15.46, None, 83.46),
    "bl_resnext101_64x4d_a2b4": (7.14, 9.32, 77.36),
    "seresnext50_32x4d": (4.23, None, 27.56),
    "bl_seresnext50_32x4d_a2b4": (3.03, 3.95, 28.77),
    "seresnext101_32x4d": (7.97, None, 48.96),
    "bl_seresnext101_32x4d_a2b4": (4.08, 5.33, 45.88),
}


@pytest.mark.parametrize("arch", PAPER)
def test_paper_tables_within_0_3_percent(arch):
    cost = image_cost(arch)
    gflops, gflops_256, params = PAPER[arch]
    assert abs(cost.conv_macs_224 / 1e9 / gflops - 1) <= 0.003
    assert abs(cost.params / 1e6 / params - 1) <= 0.003
    if gflops_256 is not None:
        assert abs(cost.conv_macs_256 / 1e9 / gflops_256 - 1) <= 0.003


def test_resnet50_exact_parameter_count():
    assert image_cost("resnet50").params == 25_557_032  # torchvision's, printed 25.55
