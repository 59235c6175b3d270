import pytest
import torch
from torch import nn

from blasr import create_model, list_models
from blasr.speech import SpeechResNet
from tests.conftest import randomize_batchnorm

SPEECH_ARCHS = list_models(domain="speech")
TINY = dict(width=1 / 16, num_classes=7)


def test_registered_names():
    assert SPEECH_ARCHS == [
        "resnet22",
        "bl_resnet22_a4b1",
        "bl_resnet22_a4b2",
        "bl_resnet22_a4b3",
        "bl_resnet22_a2b3",
        "bl_resnet22_a4b1_cat",
        "bl_pyr_resnet22_a4b1",
    ]


@pytest.mark.parametrize("arch", SPEECH_ARCHS)
def test_registry_sweep_forward_backward(arch, rng):
    torch.manual_seed(0)
    model = create_model(arch, **TINY)
    x = torch.randn(2, 3, 64, 53, generator=rng)
    logits = model(x)
    assert logits.shape == (2, 5, 7)  # (N, T - 48, classes)
    targets = torch.randint(0, 7, (2, 5), generator=rng)
    loss = nn.functional.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1))
    loss.backward()
    assert torch.isfinite(loss)
    for name, param in model.named_parameters():
        assert param.grad is not None, f"{arch}: {name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{arch}: {name} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("arch", SPEECH_ARCHS)
def test_output_length_contract(arch, rng):
    model = create_model(arch, **TINY).eval()
    assert (model.left_context, model.right_context, model.receptive_field) == (24, 24, 49)
    with torch.no_grad():
        for frames in (49, 50, 51, 64, 97, 150):
            out = model(torch.randn(1, 3, 64, frames, generator=rng))
            assert out.shape == (1, frames - 48, 7) == (1, model.output_length(frames), 7)


@pytest.mark.parametrize("arch", SPEECH_ARCHS)
def test_dense_equals_per_window(arch, rng):
    model = create_model(arch, width=1 / 8, num_classes=11).eval()
    randomize_batchnorm(model, rng)
    frames = 49 + 30
    x = torch.randn(1, 3, 64, frames, generator=rng)
    with torch.no_grad():
        dense = model(x)[0]  # (31, 11)
        windows = torch.cat([x[..., t : t + 49] for t in range(frames - 48)])  # (31, 3, 64, 49)
        per_window = model(windows)[:, 0]  # (31, 11)
    scale = per_window.abs().max()
    assert scale > 0
    assert ((dense - per_window).abs().max() / scale).item() <= 1e-5


# Frames along the time axis, per module, for a 49-frame window (docs/conventions.md):
# ResNet-22:  stem 49-4=45; stage 1: 6 convs 45-12=33; 2: 33-12=21; 3: 21-12=9; 4: 4 convs 9-8=1
# bL (x, y): stage 1: 5 convs 45-10=35; 2: transition -2, 5 convs -10 -> 23; 3: 11; 4: 9-8=1
FRAMES = {
    "resnet22": (45, 33, 21, 9, 1),
    "bl_resnet22_a4b1": (45, 35, 23, 11, 1),
    "bl_resnet22_a2b3": (45, 35, 23, 11, 1),
    "bl_pyr_resnet22_a4b1": (45, 35, 23, 11, 1),
}


@pytest.mark.parametrize("arch", SPEECH_ARCHS)
def test_feature_info_matches_real_outputs(arch, rng):
    model = create_model(arch, **TINY).eval()
    shapes = {}
    modules = dict(model.named_modules())
    for info in model.feature_info:
        modules[info["module"]].register_forward_hook(
            lambda _m, _i, out, key=info["module"]: shapes.__setitem__(key, out.shape)
        )
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 49, generator=rng))
    nominal = [64, 64, 128, 256, 512]
    for info, channels in zip(model.feature_info, nominal):
        shape = shapes[info["module"]]
        assert shape[1] == info["num_chs"] == round(channels / 16)
        assert shape[2] == 64 // info["reduction"]
        assert shape[3] == 49 - info["shrink"]
    assert [info["reduction"] for info in model.feature_info] == [2, 2, 4, 8, 16]
    if arch in FRAMES:
        assert tuple(49 - info["shrink"] for info in model.feature_info) == FRAMES[arch]


def test_little_branch_is_cropped_to_the_big_branch(rng):
    # bL(2, 3), module 1: big 5 convs (45 -> 35), little 2 convs (45 -> 41), cropped by 3 each side
    model = create_model("bl_resnet22_a2b3", **TINY).eval()
    module = model.stages[0][0]
    big, little = module.branches
    assert (big.shrink, little.shrink) == (10, 4)
    assert little.projection[0].in_channels == 2 and little.projection[0].out_channels == 4
    x = torch.randn(1, 4, 32, 45, generator=rng)
    with torch.no_grad():
        assert little(x).shape == (1, 4, 32, 41) and module(x).shape == (1, 4, 32, 35)


def test_architecture_details_at_full_width():
    with torch.device("meta"):
        a2b3 = create_model("bl_resnet22_a2b3")
        a4b2 = create_model("bl_resnet22_a4b2")
        pyr = create_model("bl_pyr_resnet22_a4b1")
    # (2, 3): module 4 is a plain stage of two two-conv blocks at 512 channels
    stage4 = a2b3.stages[3]
    assert [type(m).__name__ for m in stage4] == ["ResidualBlock", "ResidualBlock", "ResidualBlock"]
    assert stage4[1].shortcut[0].in_channels == 256 and stage4[1].shortcut[0].out_channels == 512
    # (4, 2): little branches of (2, 1) convs in modules 1-3 and (2,) in module 4
    little_convs = [
        [len(b.body) for b in stage[-1].branches[1].blocks] for stage in a4b2.stages
    ]
    assert little_convs == [[2, 1], [2, 1], [2, 1], [2]]
    # pyramid: 4 / 3 / 2 branches, module 4 plain
    widths = [[b.blocks[0].body[0][0].out_channels for b in stage[-1].branches] for stage in pyr.stages[:3]]
    assert widths == [[256, 64, 16, 4], [128, 32, 8], [256, 64]]
    assert [b.scale for b in pyr.stages[0][0].branches] == [8, 4, 2, 1]


def test_overrides():
    model = create_model("bl_resnet22_a4b1", alpha=2, beta=3, num_classes=5, width=0.25)
    assert isinstance(model, SpeechResNet)
    assert model.config.num_classes == 5 and model.output.out_features == 5
    little = model.stages[0][0].branches[1]
    assert little.blocks[0].body[0][0].out_channels == 8  # 64 * 0.25 / 2
    assert len(little.blocks) == 1
    assert create_model("resnet22", width=None).config.width == 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown architecture 'resnet23'.*resnet22"):
        create_model("resnet23")
    with pytest.raises(ValueError, match="unknown option"):
        create_model("resnet22", depth=50)
    with pytest.raises(ValueError, match="alpha must divide"):
        create_model("bl_resnet22_a4b1", alpha=3)
    with pytest.raises(ValueError, match="unknown merge"):
        create_model("bl_resnet22_a4b1", merge="mul")
    model = create_model("resnet22", **TINY)
    with pytest.raises(ValueError, match="at least 49 frames"):
        model(torch.zeros(1, 3, 64, 48))
    with pytest.raises(ValueError, match="3 input channels"):
        model(torch.zeros(1, 1, 64, 49))
    with pytest.raises(ValueError, match="64 mel bins"):
        model(torch.zeros(1, 3, 40, 49))
    with pytest.raises(ValueError, match=r"shape \(N, 3, 64, T\)"):
        model(torch.zeros(3, 64, 49))
