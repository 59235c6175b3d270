"""Tiny ImageNet-style folders generated with Pillow (no binary files in git)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "emu")


def make_image_folder(root: Path, train_per_class: int = 4, val_per_class: int = 2, seed: int = 0) -> Path:
    """``root/{train,val}/{cat,dog,emu}/`` of random-colour 40 x (40..52) images, PNG and JPEG mixed.

    Each image is a random colour plus noise, so classes are not separable:
    the tests check mechanics, not learning.
    """
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for name in CLASSES:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                colour = rng.integers(0, 256, 3)
                noise = rng.integers(-40, 41, (40, 40 + 4 * i, 3))
                pixels = np.clip(colour + noise, 0, 255).astype(np.uint8)
                suffix = ".png" if i % 2 else ".JPEG"
                Image.fromarray(pixels).save(folder / f"{name}_{i}{suffix}")
    return root
