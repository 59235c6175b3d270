import pytest
import torch
import torch.nn.functional as F

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")


def test_onednn_linear_equals_f_linear_plain_and_prepacked(output_layer):
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 7, 24, generator=generator)
    weight = torch.randn(40, 24, generator=generator)
    bias = torch.randn(40, generator=generator)
    expected = F.linear(x, weight, bias)
    got = output_layer.onednn_linear(x, weight, bias)
    assert got.shape == (2, 7, 40)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, 14)
    torch.testing.assert_close(output_layer.onednn_linear(x, packed, bias), expected, rtol=1e-5, atol=1e-5)


def test_smoke_run_reports_both_layers_and_the_speed_up(output_layer, keep_threads, capsys):
    assert output_layer.main(["--frames", "16", "--channels", "32", "--classes", "20", "--repeats", "1",
                              "--archs", "resnet22", "--dense-frames", "4", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    layer = [line for line in lines if line.startswith("layer 16 x 32 -> 20")]
    assert [line.split(":")[1].split()[0] for line in layer] == ["F.linear", "oneDNN", "oneDNN,"]
    dense = [line for line in lines if line.startswith("dense resnet22")]
    assert len(dense) == 2 and all("speed-up over resnet22 1.000" in line for line in dense)
