"""ImageNet-style image folders and the paper's augmentation, with Pillow and torch only.

Layout (the usual ImageNet one; ``val/`` must be reorganised into class folders
too, e.g. with the widely used ``valprep.sh``)::

    root/train/n01440764/n01440764_10026.JPEG
    root/val/n01440764/ILSVRC2012_val_00000293.JPEG

Class indices are the sorted class-folder names of ``train/`` (0..K-1), as in
torchvision's ``ImageFolder``; ``val/`` reuses the training classes.

Augmentation (Big-Little Net Appendix A.1: "the popular augmentation technique
in (Szegedy et al., 2016b; Gross & Wilber, 2016)", i.e. fb.resnet.torch):

* training: random-resized crop (area 8-100 % of the image, aspect ratio 3/4-4/3,
  torchvision's sampling), horizontal flip (p = 0.5), colour jitter (brightness,
  contrast, saturation 0.4 in random order), optional AlexNet PCA lighting noise
  (off by default: not in the paper's text; fb.resnet.torch uses 0.1), then
  ``(x / 255 - mean) / std`` with the ImageNet statistics;
* evaluation: resize the shorter side to ``resize_size`` (256), centre crop
  ``crop_size`` (224). For the paper's "@256" rows (the same network evaluated
  on 256 x 256) use crop 256; the resize then defaults to 292, keeping the
  224/256 crop ratio (the paper does not state it).

Every random draw comes from a ``torch.Generator`` handed in per sample
(:class:`~blasr.utils.distributed.ShardedBatchSampler` gives each sample its
own seed), so a sample's augmentation does not depend on loader workers, and a
resumed run sees the same images as an uninterrupted one. The operations and
their sampling are those torchvision applies to PIL images (it calls the same
Pillow functions), so torchvision is not needed and would not be faster here;
the one difference is that the crop and resize are one Pillow call, which
filters across the crop's edges instead of stopping at them.

Unreadable files (truncated, not an image) do not stop training: the dataset
returns ``None`` for them, :func:`collate` drops them from the batch and passes
their paths on, and the trainer names each one and reports the count at the
end of the epoch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageEnhance

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# AlexNet PCA lighting (Krizhevsky et al., 2012), eigen-decomposition of ImageNet
# RGB covariance in [0, 1] units, as in fb.resnet.torch.
PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
PCA_EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))
# Errors Pillow raises for files it cannot decode: OSError (truncated data,
# UnidentifiedImageError), SyntaxError/ValueError (broken headers), decompression bombs.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def default_resize(crop_size: int) -> int:
    """Evaluation resize that keeps the standard 224/256 crop ratio: 224 -> 256, 256 -> 292, 32 -> 36."""
    return crop_size * 8 // 7


def _uniform(generator: torch.Generator | None, low: float, high: float) -> float:
    return float(torch.empty(()).uniform_(low, high, generator=generator))


def _randint(generator: torch.Generator | None, low: int, high: int) -> int:
    """Uniform integer in ``[low, high]`` (inclusive)."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def random_resized_crop_box(width: int, height: int, generator: torch.Generator | None,
                            scale: tuple[float, float] = (0.08, 1.0),
                            ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """``(left, top, w, h)`` of an Inception-style crop (Szegedy et al., 2015), torchvision's sampling.

    Area uniform in ``scale`` of the image, log-aspect uniform in ``ratio``; ten
    tries, then the largest centred crop whose aspect ratio is within ``ratio``.
    """
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * _uniform(generator, *scale)
        aspect = math.exp(_uniform(generator, *log_ratio))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = _randint(generator, 0, height - h)
            return _randint(generator, 0, width - w), top, w, h
    aspect = width / height
    if aspect < min(ratio):
        w, h = width, round(width / min(ratio))
    elif aspect > max(ratio):
        h, w = height, round(height * max(ratio))
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def color_jitter(image: Image.Image, generator: torch.Generator | None,
                 brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4) -> Image.Image:
    """Scale brightness, contrast and saturation by factors uniform in ``[1 - s, 1 + s]``, in random order.

    Pillow's ``ImageEnhance`` blends with black, the mean grey level and the
    greyscale image respectively (torchvision's ``ColorJitter`` on PIL images).
    """
    enhancers = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)
    order = torch.randperm(len(enhancers), generator=generator).tolist()
    factors = [_uniform(generator, 1 - s, 1 + s) if s > 0 else None
               for s in (brightness, contrast, saturation)]
    for k in order:
        if factors[k] is not None:
            image = enhancers[k](image).enhance(factors[k])
    return image


def resize_shorter(image: Image.Image, size: int) -> Image.Image:
    """Bilinear resize so that the shorter side is ``size`` (torchvision ``Resize(int)``)."""
    width, height = image.size
    if width <= height:
        new = (size, int(size * height / width))
    else:
        new = (int(size * width / height), size)
    return image if new == image.size else image.resize(new, Image.Resampling.BILINEAR)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    if width < size or height < size:
        raise ValueError(f"cannot centre-crop {size} x {size} from a {width} x {height} image")
    left, top = int(round((width - size) / 2.0)), int(round((height - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor ``(3, H, W)`` in ``[0, 1]``."""
    array = np.array(image, dtype=np.uint8)  # (H, W, 3), a writable copy
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255)


def normalize(tensor: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """``(x - mean) / std`` per channel of a ``(3, H, W)`` tensor."""
    mean = torch.tensor(mean, dtype=tensor.dtype).view(3, 1, 1)
    std = torch.tensor(std, dtype=tensor.dtype).view(3, 1, 1)
    return tensor.sub_(mean).div_(std)


def pca_lighting(tensor: torch.Tensor, std: float, generator: torch.Generator | None) -> torch.Tensor:
    """AlexNet lighting noise: add ``eigvec @ (alpha * eigval)``, ``alpha ~ N(0, std)``, per image."""
    alpha = torch.randn(3, generator=generator) * std
    rgb = torch.tensor(PCA_EIGVEC) @ (alpha * torch.tensor(PCA_EIGVAL))
    return tensor.add_(rgb.view(3, 1, 1))


@dataclass(frozen=True)
class TrainTransform:
    """PIL image -> normalised ``(3, crop_size, crop_size)`` float tensor, randomly augmented."""

    crop_size: int = 224
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    jitter: float = 0.4
    lighting: float = 0.0

    def __call__(self, image: Image.Image, generator: torch.Generator | None = None) -> torch.Tensor:
        left, top, w, h = random_resized_crop_box(*image.size, generator, self.scale, self.ratio)
        # crop + bilinear resize in one call: Pillow filters the crop box only
        image = image.resize((self.crop_size, self.crop_size), Image.Resampling.BILINEAR,
                             box=(left, top, left + w, top + h))
        if float(torch.rand((), generator=generator)) < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if self.jitter > 0:
            image = color_jitter(image, generator, self.jitter, self.jitter, self.jitter)
        tensor = to_tensor(image)
        if self.lighting > 0:
            tensor = pca_lighting(tensor, self.lighting, generator)
        return normalize(tensor)


@dataclass(frozen=True)
class EvalTransform:
    """PIL image -> normalised ``(3, crop_size, crop_size)``: resize shorter side, centre crop."""

    crop_size: int = 224
    resize_size: int = 256

    def __post_init__(self) -> None:
        if self.resize_size < self.crop_size:
            raise ValueError(f"eval resize {self.resize_size} is smaller than the crop {self.crop_size}")

    def __call__(self, image: Image.Image, generator: torch.Generator | None = None) -> torch.Tensor:
        return normalize(to_tensor(center_crop(resize_shorter(image, self.resize_size), self.crop_size)))


def find_classes(root: str | os.PathLike) -> list[str]:
    """Sorted names of the class folders of ``root`` (hidden folders ignored)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"{root} has no class folders; expected {root}/<class>/*.JPEG")
    return classes


class ImageFolder(torch.utils.data.Dataset):
    """``root/<class>/<image>`` files with extensions :data:`IMAGE_EXTENSIONS` (any case).

    ``class_to_idx`` defaults to the sorted class folders; pass the training
    set's mapping for a validation set (a class it lacks is an error). Item
    ``i`` or ``(i, seed)`` -> ``(image (3, S, S) or None, target, bad or None)``;
    ``seed`` seeds the transform's generator, ``bad`` is
    ``"path (error)"`` for a file that cannot be decoded (its image is ``None``).
    Files with other extensions are not samples; their count is ``num_ignored``.
    """

    def __init__(self, root: str | os.PathLike, transform: Callable,
                 class_to_idx: dict[str, int] | None = None) -> None:
        self.root = Path(root)
        classes = find_classes(self.root)
        if class_to_idx is None:
            class_to_idx = {name: i for i, name in enumerate(classes)}
        unknown = [name for name in classes if name not in class_to_idx]
        if unknown:
            raise ValueError(f"{self.root}: class folders {unknown[:5]} are not among the "
                             f"{len(class_to_idx)} training classes")
        self.class_to_idx = class_to_idx
        self.classes = sorted(class_to_idx, key=class_to_idx.get)
        self.transform = transform
        self.samples: list[tuple[str, int]] = []
        self.num_ignored = 0
        for name in classes:
            for entry in sorted(os.scandir(self.root / name), key=lambda e: e.name):
                if entry.is_file() and entry.name.lower().endswith(IMAGE_EXTENSIONS):
                    self.samples.append((entry.path, class_to_idx[name]))
                elif not entry.name.startswith("."):
                    self.num_ignored += 1
        if not self.samples:
            raise FileNotFoundError(f"no {'/'.join(IMAGE_EXTENSIONS)} images under {self.root}/<class>/")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor | None, int, str | None]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        path, target = self.samples[index]
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")  # decodes fully: truncated data fails here
        except DECODE_ERRORS as error:
            return None, target, f"{path} ({type(error).__name__}: {error})"
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        return self.transform(image, generator), target, None


def collate(items: list[tuple[torch.Tensor | None, int, str | None]]
            ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Stack the decodable samples: ``images (N, 3, S, S)``, ``targets (N,)`` int64, bad-file notes.

    ``N`` is the batch size minus the unreadable files; when none is readable
    ``images`` is an empty ``(0,)`` tensor.
    """
    good = [(image, target) for image, target, _ in items if image is not None]
    bad = [note for _, _, note in items if note is not None]
    if not good:
        return torch.zeros(0), torch.zeros(0, dtype=torch.int64), bad
    images = torch.stack([image for image, _ in good])
    targets = torch.tensor([target for _, target in good], dtype=torch.int64)
    return images, targets, bad
