import pytest
import torch

from blasr.core.layout import IMAGE, SPEECH, common_shape


def test_speech_conv_pads_and_strides_frequency_only():
    conv = SPEECH.conv(3, 8, kernel_size=5, stride=2)
    assert conv.stride == (2, 1) and conv.padding == (2, 0)
    out = conv(torch.zeros(1, 3, 64, 49))
    # F: ceil(64 / 2) = 32; T: 49 - (5 - 1) = 45
    assert out.shape == (1, 8, 32, 45)
    assert SPEECH.shrink(5) == 4 and SPEECH.shrink(3) == 2 and SPEECH.shrink(1) == 0


def test_image_conv_pads_and_strides_both_axes():
    conv = IMAGE.conv(3, 8, kernel_size=3, stride=2)
    assert conv.stride == (2, 2) and conv.padding == (1, 1)
    assert conv(torch.zeros(1, 3, 56, 56)).shape == (1, 8, 28, 28)
    assert IMAGE.shrink(3) == 0 and IMAGE.valid_dims == ()


def test_upsample_resampled_axes_only(rng):
    x = torch.randn(2, 4, 8, 11, generator=rng)
    up = SPEECH.upsample(x, 2)
    assert up.shape == (2, 4, 16, 11)
    # time is untouched: every frame is upsampled on its own
    assert torch.allclose(SPEECH.upsample(x[..., 3:4], 2), up[..., 3:4])
    nearest = SPEECH.upsample(x, 4, "nearest")
    assert torch.equal(nearest[:, :, ::4], x) and torch.equal(nearest[:, :, 3::4], x)
    assert IMAGE.upsample(torch.zeros(1, 1, 7, 7), 2).shape == (1, 1, 14, 14)


def test_crop_is_centred_view(rng):
    x = torch.randn(1, 2, 4, 10, generator=rng)
    cropped = SPEECH.crop_to(x, (1, 2, 4, 6))
    assert torch.equal(cropped, x[..., 2:8])
    assert cropped.data_ptr() == x[..., 2:8].data_ptr()  # a view, no copy
    assert common_shape([x, cropped]) == [1, 2, 4, 6]


@pytest.mark.parametrize(
    "layout, reference, message",
    [
        (SPEECH, (1, 2, 4, 7), "even"),  # odd excess
        (SPEECH, (1, 2, 4, 12), "even"),  # longer than the input
        (SPEECH, (1, 2, 2, 10), "padded"),  # frequency is never cropped
        (IMAGE, (1, 2, 4, 8), "padded"),
    ],
)
def test_crop_refuses_what_cannot_be_a_centre_crop(layout, reference, message):
    with pytest.raises(ValueError, match=message):
        layout.crop_to(torch.zeros(1, 2, 4, 10), reference)
