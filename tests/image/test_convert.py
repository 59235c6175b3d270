import ast
from pathlib import Path

import pytest
import torch

from blasr import create_model
from blasr.convert_image import main
from blasr.image.convert import ConversionError, arch_from_filename, convert_state_dict, load_converted, rename

KEYS = Path(__file__).parent / "released_keys"
RELEASED = sorted(KEYS.glob("*.txt"))


def released_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """name -> shape, in file order, from a listing of a released checkpoint."""
    shapes = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape = line.split("\t")
            shapes[name] = tuple(ast.literal_eval(shape))
    return shapes


def synthetic(shapes, device="cpu", generator=None):
    state = {}
    for name, shape in shapes.items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(1000, dtype=torch.long, device=device)
        elif device == "meta":
            state[name] = torch.empty(shape, device="meta")
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[name] = torch.randn(shape, generator=generator) * 0.05
    return state


def test_all_seven_listings_are_present():
    assert len(RELEASED) == 7


@pytest.mark.parametrize("listing", RELEASED, ids=lambda p: p.stem)
def test_every_released_layout_maps_onto_its_arch(listing):
    arch = arch_from_filename(listing.stem + ".pth.tar")
    with torch.device("meta"):
        model = create_model(arch, upsample="nearest")
    source = synthetic(released_shapes(listing), device="meta")
    converted = convert_state_dict(source, model)
    assert set(converted) == set(model.state_dict())  # every entry of the model, none left over
    assert len(converted) == len(source)


def test_round_trip_through_files(tmp_path, rng):
    listing = KEYS / "ImageNet-bLResNet-50-a2-b4.txt"
    shapes = released_shapes(listing)
    source = synthetic(shapes, generator=rng)
    src = tmp_path / "ImageNet-bLResNet-50-a2-b4.pth.tar"
    # as saved from DataParallel, with the training state beside the weights
    torch.save({"epoch": 110, "state_dict": {f"module.{k}": v for k, v in source.items()}}, src)
    dst = tmp_path / "out" / "bl_resnet50_a2b4.pt"
    assert main([str(src), str(dst)]) == 0  # the arch is told by the file name

    model = load_converted(dst)
    assert model.config.arch == "bl_resnet50_a2b4" and model.config.upsample == "nearest"
    state = model.state_dict()
    names = set(source)
    for name, tensor in source.items():
        assert torch.equal(state[rename(name, names)], tensor), name
    # spot checks of the mapping itself
    assert torch.equal(model.bl_stem.branches[1].projection[0].weight, source["l_conv2.weight"])
    assert torch.equal(model.stages[0][0].branches[1].projection[1].bias, source["layer1.little_e.1.bias"])
    assert torch.equal(model.stages[1][0].branches[0].blocks[0].shortcut[1][0].weight, source["layer2.big.0.downsample.1.weight"])
    assert torch.equal(model.stages[0][0].branches[1].blocks[0].shortcut[0][1].running_var, source["layer1.little.0.downsample.1.running_var"])
    assert torch.equal(model.stages[3][2].body[2][0].weight, source["layer4.2.conv3.weight"])
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 64, 64, generator=rng))
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()


@pytest.fixture
def meta_resnet50():
    with torch.device("meta"):
        model = create_model("bl_resnet50_a2b4", upsample="nearest")
    return model, synthetic(released_shapes(KEYS / "ImageNet-bLResNet-50-a2-b4.txt"), device="meta")


def test_refuses_missing_entries(meta_resnet50):
    model, source = meta_resnet50
    del source["layer3.little_e.0.weight"]
    with pytest.raises(ConversionError, match=r"missing entry for the model's 'stages.2.0.branches.1.projection.0.weight'"):
        convert_state_dict(source, model)


def test_refuses_extra_entries(meta_resnet50):
    model, source = meta_resnet50
    source["layer3.big.5.conv1.weight"] = torch.empty(256, 1024, 1, 1, device="meta")
    source["classifier.weight"] = torch.empty(3, device="meta")
    with pytest.raises(ConversionError, match="2 problem") as error:
        convert_state_dict(source, model)
    assert "extra entry 'layer3.big.5.conv1.weight'" in str(error.value)
    assert "unexpected entry 'classifier.weight'" in str(error.value)


def test_refuses_misshaped_entries(meta_resnet50):
    model, source = meta_resnet50
    source["layer2.fusion.0.conv2.weight"] = torch.empty(128, 64, 3, 3, device="meta")
    with pytest.raises(ConversionError, match=r"'layer2.fusion.0.conv2.weight' has shape \(128, 64, 3, 3\).*\(128, 128, 3, 3\)"):
        convert_state_dict(source, model)


def test_refuses_the_wrong_arch(tmp_path, capsys):
    source = synthetic(released_shapes(KEYS / "ImageNet-bLResNet-50-a2-b4.txt"), generator=torch.Generator().manual_seed(0))
    src = tmp_path / "weights.pth.tar"
    torch.save({"state_dict": source}, src)
    assert main([str(src), str(tmp_path / "x.pt"), "--arch", "bl_resnext50_32x4d_a2b4"]) == 1
    message = capsys.readouterr().err
    assert "weights.pth.tar -> bl_resnext50_32x4d_a2b4" in message and "has shape" in message
    assert not (tmp_path / "x.pt").exists()
    assert main([str(src), str(tmp_path / "x.pt")]) == 1
    assert "pass --arch" in capsys.readouterr().err


def test_arch_from_filename():
    assert arch_from_filename("ImageNet-bLSEResNeXt-101-32x4d-a2-b4.pth.tar") == "bl_seresnext101_32x4d_a2b4"
    assert arch_from_filename("ImageNet-bLResNet-101-a2-b4.pth.tar") == "bl_resnet101_a2b4"
