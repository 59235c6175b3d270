import pytest
import torch
from torch import nn

from blasr.core.big_little import BigLittleModule, BranchSpec, big_little_module
from blasr.core.blocks import basic_block, bottleneck_block
from blasr.core.layout import IMAGE, SPEECH
from tests.conftest import randomize_batchnorm


def speech_block(c_in, c_out, stride, num_convs, final_act):
    return basic_block(SPEECH, c_in, c_out, num_convs, stride, final_act=final_act)


def image_block(c_in, c_out, stride, _arg, final_act):
    return bottleneck_block(IMAGE, c_in, c_out, width=c_out // 4, stride=stride, shortcut="avgpool_conv", final_act=final_act)


def speech_module(merge="add", upsample="bilinear"):
    branches = [BranchSpec(8, 2, (2, 2, 1)), BranchSpec(2, 1, (2,))]
    return big_little_module(SPEECH, 8, 8, branches, speech_block, merge, upsample)


def test_speech_module_crops_time_to_the_big_branch(rng):
    module = speech_module().eval()
    randomize_batchnorm(module, rng)
    x = torch.randn(2, 8, 16, 21, generator=rng)
    # big branch: 5 convs -> 21 - 10 = 11 frames; little: 2 convs -> 17, cropped to 11
    assert module.shrink == 10
    big, little = module.branches
    assert (big.shrink, little.shrink) == (10, 4)
    with torch.no_grad():
        out = module(x)
        big_out, little_out = big(x), little(x)
    assert big_out.shape == (2, 8, 16, 11) and little_out.shape == (2, 8, 16, 17)
    expected = torch.relu(big_out + little_out[..., 3:14])
    assert out.shape == (2, 8, 16, 11)
    assert torch.allclose(out, expected, atol=1e-6)


def test_speech_module_structure():
    module = speech_module()
    big, little = module.branches
    # big: first conv strides frequency, no projection, no ReLU before the merge
    assert big.blocks[0].body[0][0].stride == (2, 1)
    assert isinstance(big.projection, nn.Identity) and isinstance(big.blocks[-1].act, nn.Identity)
    # little: full resolution, keeps its ReLU, then a 1x1 conv + BN to the module's channels
    assert little.blocks[0].body[0][0].stride == (1, 1)
    assert isinstance(little.blocks[-1].act, nn.ReLU)
    assert little.projection[0].kernel_size == (1, 1) and little.projection[0].out_channels == 8


def test_concatenation_merge(rng):
    module = speech_module(merge="cat").eval()
    _, little = module.branches
    assert isinstance(little.projection, nn.Identity)  # no 1x1 on the branch ...
    assert module.fuse[0].in_channels == 8 + 2  # ... a 1x1 after concatenating
    with torch.no_grad():
        out = module(torch.randn(1, 8, 16, 21, generator=rng))
    assert out.shape == (1, 8, 16, 11) and (out >= 0).all()


def test_more_than_two_branches(rng):
    branches = [BranchSpec(8, 4, (2, 2)), BranchSpec(4, 2, (2,)), BranchSpec(2, 1, (1,))]
    module = big_little_module(SPEECH, 4, 8, branches, speech_block)
    out = module(torch.randn(1, 4, 16, 15, generator=rng))
    assert out.shape == (1, 8, 16, 15 - 8)
    assert [b.scale for b in module.branches] == [4, 2, 1]


def test_upsampling_modes_differ_only_in_resampling(rng):
    bilinear = speech_module(upsample="bilinear").eval()
    nearest = speech_module(upsample="nearest").eval()
    nearest.load_state_dict(bilinear.state_dict())
    x = torch.randn(1, 8, 16, 21, generator=rng)
    with torch.no_grad():
        assert not torch.allclose(bilinear(x), nearest(x))
        big = nearest.branches[0]
        low = big.blocks(x)  # (1, 8, 8, 11)
        assert torch.equal(big(x), low.repeat_interleave(2, dim=2))


def test_image_module_with_bottlenecks(rng):
    branches = [BranchSpec(16, 2, (None, None)), BranchSpec(4, 1, (None,))]
    module = big_little_module(IMAGE, 16, 16, branches, image_block, upsample="nearest", bias=False)
    out = module(torch.randn(2, 16, 8, 8, generator=rng))
    assert out.shape == (2, 16, 8, 8) and module.shrink == 0
    big = module.branches[0]
    assert big.blocks[0].body[1][0].stride == (2, 2)  # v1.5: stride on the 3x3
    assert isinstance(big.blocks[0].shortcut[0], nn.AvgPool2d)


def test_bad_module_arguments():
    blocks = speech_module().branches
    with pytest.raises(ValueError, match="at least 2 branches"):
        BigLittleModule(blocks[:1], [8], 8, SPEECH)
    with pytest.raises(ValueError, match="merge='add' needs"):
        BigLittleModule(blocks, [8, 2], 8, SPEECH)
    with pytest.raises(ValueError, match="unknown merge"):
        BigLittleModule(blocks, [8, 8], 8, SPEECH, merge="max")
    with pytest.raises(ValueError, match="unknown upsampling"):
        speech_module(upsample="bicubic")
    with pytest.raises(ValueError, match="invalid branch"):
        BranchSpec(0, 1, (2,))


@pytest.mark.parametrize("layout, block", [(SPEECH, speech_block), (IMAGE, image_block)])
def test_project_little_adds_a_1x1_at_equal_width(layout, block, rng):
    arg = 2 if layout is SPEECH else None
    branches = [BranchSpec(8, 2, (arg,)), BranchSpec(8, 1, (arg,))]
    plain = big_little_module(layout, 8, 8, branches, block)
    projected = big_little_module(layout, 8, 8, branches, block, project_little=True)
    assert isinstance(plain.branches[1].projection, nn.Identity)
    assert projected.branches[1].projection[0].kernel_size == (1, 1)
    assert isinstance(projected.branches[0].projection, nn.Identity)  # never the big branch
    x = torch.randn(1, 8, 8, 12, generator=rng)
    assert projected(x).shape == plain(x).shape
