import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from blasr.image.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    ImageFolder,
    TrainTransform,
    collate,
    color_jitter,
    default_resize,
    random_resized_crop_box,
)
from tests.image.folders import CLASSES, make_image_folder


def _image(rng: torch.Generator, width: int = 48, height: int = 40) -> Image.Image:
    pixels = torch.randint(0, 256, (height, width, 3), generator=rng, dtype=torch.uint8).numpy()
    return Image.fromarray(pixels)


def test_folder_classes_are_sorted_and_non_images_counted(tmp_path):
    root = make_image_folder(tmp_path)
    (root / "train" / "dog" / "notes.txt").write_text("not a sample")
    train = ImageFolder(root / "train", EvalTransform(32, 36))
    assert train.classes == list(CLASSES) and train.class_to_idx == {"cat": 0, "dog": 1, "emu": 2}
    assert len(train) == 12 and train.num_ignored == 1
    assert [t for _, t in train.samples] == [0] * 4 + [1] * 4 + [2] * 4
    assert {p.rsplit(".", 1)[1] for p, _ in train.samples} == {"png", "JPEG"}

    (root / "val" / "yak").mkdir()
    with pytest.raises(ValueError, match=r"\['yak'\] are not among the 3 training classes"):
        ImageFolder(root / "val", EvalTransform(32, 36), class_to_idx=train.class_to_idx)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ImageFolder(tmp_path / "nowhere", EvalTransform(32, 36))


def test_train_transform_shape_range_and_seeding(rng):
    image = _image(rng)
    transform = TrainTransform(crop_size=32)
    out = transform(image, torch.Generator().manual_seed(7))
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    low = (0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    high = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert (out.amin(dim=(1, 2)) >= low - 1e-6).all() and (out.amax(dim=(1, 2)) <= high + 1e-6).all()
    again = transform(image, torch.Generator().manual_seed(7))
    other = transform(image, torch.Generator().manual_seed(8))
    assert torch.equal(out, again) and not torch.equal(out, other)


def test_random_resized_crop_boxes_follow_scale_and_ratio():
    generator = torch.Generator().manual_seed(0)
    areas, aspects = [], []
    for _ in range(300):
        left, top, w, h = random_resized_crop_box(200, 100, generator)
        assert 0 <= left and left + w <= 200 and 0 <= top and top + h <= 100
        areas.append(w * h / 20000)
        aspects.append(w / h)
    # rounding to whole pixels moves the bounds by well under 5 %
    assert 0.08 * 0.95 <= min(areas) and max(areas) <= 1.0
    assert 0.75 * 0.95 <= min(aspects) and max(aspects) <= 4 / 3 * 1.05
    assert max(areas) > 0.5 and min(areas) < 0.2  # the range is actually explored
    # a 400 x 10 strip never fits a 3/4..4/3 box of 8 % of its area: centred fallback, ratio 4/3
    assert random_resized_crop_box(400, 10, generator) == (193, 0, 13, 10)


def test_eval_transform_is_resize_then_centre_crop(rng):
    assert (default_resize(224), default_resize(256), default_resize(32)) == (256, 292, 36)
    image = _image(rng, width=40, height=50)
    out = EvalTransform(crop_size=32, resize_size=36)(image)
    # shorter side 40 -> 36: 36 x 45; centre crop 32 x 32 from left 2, top round(6.5) = 6
    expected = np.asarray(image.resize((36, 45), Image.Resampling.BILINEAR).crop((2, 6, 34, 38)), dtype=np.float32)
    pixels = (out * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) * 255
    assert out.shape == (3, 32, 32)
    assert torch.allclose(pixels.permute(1, 2, 0), torch.from_numpy(expected), atol=1e-3)
    with pytest.raises(ValueError, match="smaller than the crop"):
        EvalTransform(crop_size=32, resize_size=30)


def test_normalisation_maps_the_imagenet_mean_colour_to_zero():
    mean_colour = tuple(round(255 * m) for m in IMAGENET_MEAN)  # (124, 116, 104)
    image = Image.new("RGB", (40, 40), mean_colour)
    out = EvalTransform(32, 36)(image)
    assert out.abs().max() < 0.01


def test_colour_jitter_is_seeded_and_identity_at_zero(rng):
    image = _image(rng)
    same = color_jitter(image, torch.Generator().manual_seed(1), 0.0, 0.0, 0.0)
    assert np.array_equal(np.asarray(same), np.asarray(image))
    a = np.asarray(color_jitter(image, torch.Generator().manual_seed(1)))
    b = np.asarray(color_jitter(image, torch.Generator().manual_seed(1)))
    c = np.asarray(color_jitter(image, torch.Generator().manual_seed(2)))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_unreadable_files_are_skipped_and_named(tmp_path):
    root = make_image_folder(tmp_path, val_per_class=0)
    (root / "train" / "cat" / "garbage.JPEG").write_bytes(b"this is not an image")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buffer, "JPEG")
    (root / "train" / "dog" / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    dataset = ImageFolder(root / "train", TrainTransform(crop_size=32))
    assert len(dataset) == 14
    paths = [p for p, _ in dataset.samples]
    garbage, truncated = paths.index(str(root / "train/cat/garbage.JPEG")), paths.index(
        str(root / "train/dog/truncated.jpg"))
    image, target, note = dataset[(garbage, 3)]
    assert image is None and target == 0 and note.startswith(f"{root}/train/cat/garbage.JPEG (")
    image, target, note = dataset[truncated]
    assert image is None and target == 1 and "truncated.jpg" in note

    images, targets, bad = collate([dataset[(i, i)] for i in range(len(dataset))])
    assert images.shape == (12, 3, 32, 32) and len(targets) == 12 and len(bad) == 2
    assert sorted(targets.tolist()) == [0] * 4 + [1] * 4 + [2] * 4

    images, targets, bad = collate([dataset[garbage]])
    assert images.numel() == 0 and targets.shape == (0,) and len(bad) == 1


def test_dataset_items_depend_only_on_the_seed(tmp_path):
    dataset = ImageFolder(make_image_folder(tmp_path) / "train", TrainTransform(crop_size=32))
    first, _, _ = dataset[(5, 123)]
    again, _, _ = dataset[(5, 123)]
    other, _, _ = dataset[(5, 124)]
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert math.isfinite(float(first.sum()))
