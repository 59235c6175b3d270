import json

import kaldiio
import numpy as np
import pytest
import torch
from torch import nn

from blasr import create_model, list_models
from blasr.acoustic.model_file import feature_settings, model_info, save_model_file
from blasr.acoustic.priors import analyze_counts, count_targets
from blasr.core.blocks import bottleneck_block
from blasr.core.layout import IMAGE
from blasr.export import main as export_main
from blasr.features import open_cuts
from blasr.inference import dense_logits, export_posteriors, fold_batch_norm, is_channels_last, optimize_for_inference
from tests.acoustic.conftest import NUM_CLASSES
from tests.conftest import randomize_batchnorm

SPEECH_ARCHS = list_models(domain="speech")
TINY = dict(width=1 / 16, num_classes=7)


def trained_like(arch: str, rng: torch.Generator, **options) -> nn.Module:
    """A model in eval mode with random weights, random BN affine parameters and BN statistics that
    normalise its activations, as training leaves them (logits of order 1 to 10, not 1e3)."""
    torch.manual_seed(0)
    model = create_model(arch, **{**TINY, **options})
    randomize_batchnorm(model, rng)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 64, 60, generator=rng))
    return model.eval()


@pytest.mark.parametrize("arch", SPEECH_ARCHS)
def test_folded_model_computes_the_same_logits(arch, rng):
    model = trained_like(arch, rng)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batch_norm(model)
    x = torch.randn(2, 3, 64, 48 + 30, generator=rng)  # (N, 3, F, T) -> logits (N, T - 48, 7)
    with torch.no_grad():
        expected, got = model(x), folded(x)
    assert got.shape == expected.shape == (2, 30, 7)
    assert expected.abs().max() > 1e-2  # a test that cannot fail on all-zero outputs is no test
    assert torch.allclose(got, expected, rtol=0, atol=1e-4), (got - expected).abs().max()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert not folded.training and not any(p.requires_grad for p in folded.parameters())
    # the original is untouched and still trainable
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())
    # geometry the inference code relies on survives the copy
    assert (folded.left_context, folded.right_context) == (24, 24)


@pytest.mark.parametrize("arch", ["resnet22", "bl_resnet22_a2b3", "bl_pyr_resnet22_a4b1"])
def test_channels_last_copy_and_dense_logits(arch, rng):
    model = trained_like(arch, rng)
    optimized = optimize_for_inference(model)
    assert is_channels_last(optimized) and not is_channels_last(model)
    assert not is_channels_last(optimize_for_inference(model, channels_last=False))
    inputs = torch.randn(3, 64, 120, generator=rng).numpy()  # one utterance (3, F, T)
    expected = dense_logits(model, inputs)
    for chunk in (None, 37):
        got = dense_logits(optimized, inputs, chunk)
        assert got.shape == (120, 7)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=0, atol=1e-4)


def test_fold_conv_without_bias_and_affine_free_norm(rng):
    # image bottlenecks have bias-free convs: folding gives them a bias
    block = bottleneck_block(IMAGE, 16, 32, width=8, stride=2, shortcut="avgpool_conv")
    randomize_batchnorm(block, rng)
    block.body[2][1] = nn.BatchNorm2d(32, affine=False)
    block.body[2][1].running_var.uniform_(0.5, 1.5, generator=rng)
    block.eval()
    folded = fold_batch_norm(block)
    assert all(seq[0].bias is not None for seq in folded.body[:3])
    x = torch.randn(2, 16, 12, 12, generator=rng)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), block(x), rtol=0, atol=1e-5)


def test_norm_without_running_statistics_is_left_alone(rng):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False), nn.ReLU())
    folded = fold_batch_norm(model)
    assert isinstance(folded[1], nn.BatchNorm2d)
    x = torch.randn(2, 3, 8, 8, generator=rng)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model.eval()(x))


def test_export_with_optimize_writes_the_same_archive(corpus, tmp_path, rng):
    model = trained_like("bl_resnet22_a2b3", rng, width=0.25, num_classes=NUM_CLASSES)
    counts = analyze_counts(count_targets(corpus["train"]))
    features = feature_settings(next(iter(open_cuts(corpus["train"]))), "utterance", True, None)
    info = model_info("bl_resnet22_a2b3", {"num_classes": NUM_CLASSES, "width": 0.25}, model, counts, features)
    model_file = save_model_file(tmp_path / "final.pt", model.state_dict(), info)
    plain = export_posteriors(model_file, corpus["valid"], tmp_path / "plain", progress=False, optimize=False)
    export_main(["--model", str(model_file), "--data", str(corpus["valid"]), "--out", str(tmp_path / "fast"),
                 "--chunk-frames", "50", "--device", "cpu"])  # the CLI's default
    expected = dict(kaldiio.load_scp(str(plain.scp)))
    got = dict(kaldiio.load_scp(str(tmp_path / "fast" / "loglikes.scp")))
    assert got.keys() == expected.keys() and len(got) == 3
    for key in got:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=5e-4)  # the stated tolerance
    assert json.loads((tmp_path / "fast" / "export.json").read_text())["optimize"] is True
    assert json.loads((tmp_path / "plain" / "export.json").read_text())["optimize"] is False
