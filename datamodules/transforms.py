"""Crop / resize policies: how each paper turns a photo (and its semantic map) into a fixed-size training sample.

A policy is chosen by name (``crop:`` in the data config) and built per split with :func:`build_crop`. It is called
as ``policy(image, seg=None, rng=None) -> (image, seg)`` on an ``(H, W, 3)`` uint8 RGB array and an optional
``(H, W)`` uint8 label map; the label map gets exactly the same geometry (crop boxes, flips, rotations, decimation)
and is only ever resampled with centre-aligned nearest neighbour (``INTER_NEAREST_EXACT``), so labels stay labels
and stay aligned with the image. With ``seg="image"`` the map is an ``(H, W, 3)`` uint8 colour map (the raw ADE20K
``*_seg.png`` colours, ``data.seg_encoding: ade_rgb``) that is resampled **like the image** (same interpolation at
every step), as the official DeepGIN Track-2 code does with its PIL bicubic resizes (see docs/CONVERT.md). ``rng`` (a ``numpy.random.Generator``) drives every random choice; without one a
fresh generator is used (a new crop each call).

| name | training | evaluation (deterministic) | used by |
|---|---|---|---|
| ``random_resized_crop`` | ``RandomResizedCrop(S, scale=(0.08, 1), ratio=(3/4, 4/3))`` bilinear, h-flip, ColorJitter 0.05 | resize to S×S | AOT-GAN code (aotgan.md §4.4) |
| ``resize`` | resize to S×S (aspect not kept), h-flip | resize to S×S | AOT-GAN paper (``data.train_resize=resize``), CelebA-HQ, MADF test |
| ``resize_crop`` | short side → round(S·572/512) (286 at 256), random S crop, h-flip | resize to S×S | MADF ``train.py`` / ``test.py`` (madf.md §4.4, §5) |
| ``random_crop`` | random S crop at native scale, h-flip | centre S crop | HiFill (random 512² crops of Places2), AIM teams |
| ``center_crop`` | short side → S, centre crop, h-flip | short side → S, centre crop | figures, OpenLogo |
| ``deepgin`` | resize 2S×2S bicubic, random 90° rotation, 2×2 polyphase decimation (random phase), h-flip | resize S×S bicubic | DeepGIN (deepgin.md §4.9) |
| ``none`` | h-flip only, native size | native size | full-resolution evaluation (AIM 2020); batch size 1 |

Every training flip can be switched off with ``flip=False`` (dataset option ``flip: false``): HiFill trains with
no flips or colour augmentation (hifill.md §4.3).

**Images smaller than the crop** (``random_crop``, ``center_crop``): they are first upscaled (bicubic; labels
nearest) so their short side equals S, then cropped. A 20×30 thumbnail therefore becomes a blurry but valid sample
instead of an error; the other policies resize to S anyway.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence

import cv2
import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations checks PyPI at import otherwise
import albumentations as A  # noqa: E402

__all__ = ["CROP_POLICIES", "CropPolicy", "build_crop", "MADF_LOAD_RATIO"]

# MADF trains 512 crops out of images whose short side is 572; the project keeps this ratio at other sizes.
MADF_LOAD_RATIO = 572 / 512
LABEL_INTERPOLATION = cv2.INTER_NEAREST_EXACT  # centre-aligned nearest, = PIL NEAREST = torch nearest-exact

Stage = Callable[[np.ndarray, "np.ndarray | None", np.random.Generator], "tuple[np.ndarray, np.ndarray | None]"]


def _albu(transforms: Sequence[A.BasicTransform]) -> Stage:
    """An albumentations pipeline as a stage; the label map travels as the ``seg`` mask target."""
    compose = A.Compose(list(transforms), additional_targets={"seg": "mask"})

    def stage(image, seg, rng):
        # Own the randomness: albumentations' generator is not worker-aware, so forked DataLoader workers would
        # otherwise all draw the same crops.
        compose.set_random_state(rng, random.Random(int(rng.integers(2 ** 63))))
        out = compose(image=image, seg=seg) if seg is not None else compose(image=image)
        return out["image"], out.get("seg") if seg is not None else None

    return stage


SEG_MODES = ("labels", "image")  # how a seg map is resampled: nearest (labels) or like the image (colour maps)


def _resize(image: np.ndarray, seg: np.ndarray | None, hw: tuple[int, int],
            interpolation: int, seg_like_image: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    h, w = hw
    if image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=interpolation)
        if seg is not None:
            seg = cv2.resize(seg, (w, h), interpolation=interpolation if seg_like_image else LABEL_INTERPOLATION)
    return image, seg


def _upscale_short_side(size: int, interpolation: int = cv2.INTER_CUBIC, seg_like_image: bool = False) -> Stage:
    """Upscale so the short side is at least ``size`` (images already large enough are untouched)."""

    def stage(image, seg, rng):
        h, w = image.shape[:2]
        short = min(h, w)
        if short >= size:
            return image, seg
        scale = size / short
        hw = (max(size, round(h * scale)), max(size, round(w * scale)))
        return _resize(image, seg, hw, interpolation, seg_like_image)

    return stage


def _short_side_to(size: int, interpolation: int = cv2.INTER_AREA, seg_like_image: bool = False) -> Stage:
    """Resize (up or down) so the short side is exactly ``size``; area filter when shrinking, bicubic when growing."""

    def stage(image, seg, rng):
        h, w = image.shape[:2]
        short = min(h, w)
        if short == size:
            return image, seg
        scale = size / short
        hw = (max(size, round(h * scale)), max(size, round(w * scale)))
        return _resize(image, seg, hw, interpolation if scale < 1 else cv2.INTER_CUBIC, seg_like_image)

    return stage


def _square_resize(size: int, interpolation: int = cv2.INTER_AREA, seg_like_image: bool = False) -> Stage:
    def stage(image, seg, rng):
        h, w = image.shape[:2]
        inter = interpolation if interpolation != cv2.INTER_AREA or (h >= size and w >= size) else cv2.INTER_CUBIC
        return _resize(image, seg, (size, size), inter, seg_like_image)

    return stage


# The four phases of the 2×2 polyphase decimation, (row, col) offsets, drawn uniformly (deepgin.md §4.9 step 3).
POLYPHASE_OFFSETS = ((0, 0), (1, 1), (1, 0), (0, 1))


def _polyphase(image, seg, rng):
    row, col = POLYPHASE_OFFSETS[int(rng.integers(len(POLYPHASE_OFFSETS)))]
    image = np.ascontiguousarray(image[row::2, col::2])
    return image, None if seg is None else np.ascontiguousarray(seg[row::2, col::2])


def _policy_stages(name: str, size: int, train: bool, color_jitter: float, flip: bool,
                   seg_like_image: bool = False) -> list[Stage]:
    bilinear, nearest = cv2.INTER_LINEAR, LABEL_INTERPOLATION
    flips = [A.HorizontalFlip(p=0.5)] if train and flip else []
    like = seg_like_image
    if name == "random_resized_crop":
        if not train:
            return [_square_resize(size, seg_like_image=like)]
        ops = [A.RandomResizedCrop(size=(size, size), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                                   interpolation=bilinear, mask_interpolation=bilinear if like else nearest, p=1.0),
               *flips]
        if color_jitter > 0:
            ops.append(A.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter,
                                     hue=color_jitter, p=1.0))
        return [_albu(ops)]
    if name == "resize":
        return [_square_resize(size, seg_like_image=like)] + ([_albu(flips)] if flips else [])
    if name == "resize_crop":
        if not train:
            return [_square_resize(size, seg_like_image=like)]
        return [_short_side_to(round(size * MADF_LOAD_RATIO), seg_like_image=like),
                _albu([A.RandomCrop(size, size, p=1.0), *flips])]
    if name == "random_crop":
        crop = A.RandomCrop(size, size, p=1.0) if train else A.CenterCrop(size, size, p=1.0)
        return [_upscale_short_side(size, seg_like_image=like), _albu([crop, *flips])]
    if name == "center_crop":
        return [_short_side_to(size, seg_like_image=like), _albu([A.CenterCrop(size, size, p=1.0), *flips])]
    if name == "deepgin":
        if not train:
            return [_square_resize(size, cv2.INTER_CUBIC, like)]
        return [_square_resize(2 * size, cv2.INTER_CUBIC, like), _albu([A.RandomRotate90(p=1.0)]), _polyphase] + (
            [_albu(flips)] if flips else [])
    if name == "none":
        return [_albu(flips)] if flips else []
    raise ValueError(f"unknown crop policy {name!r}; choose from {sorted(CROP_POLICIES)}")


CROP_POLICIES: dict[str, str] = {
    "random_resized_crop": "AOT-GAN code: RandomResizedCrop(0.08-1, 3/4-4/3) + flip + ColorJitter 0.05",
    "resize": "resize to SxS (+ flip when training)",
    "resize_crop": "MADF: short side -> S*572/512, random SxS crop, flip; eval: resize SxS",
    "random_crop": "HiFill/AIM: random SxS crop at native scale (+ flip); eval: centre crop",
    "center_crop": "short side -> S, centre crop",
    "deepgin": "DeepGIN: resize 2S bicubic, rot90, 2x2 polyphase, flip; eval: resize S bicubic",
    "none": "native resolution (full-resolution evaluation)",
}


class CropPolicy:
    """A named crop policy for one split; ``policy(image, seg=None, rng=None) -> (image, seg)``.

    Args:
        name: a key of :data:`CROP_POLICIES`.
        image_size: the square output side S (ignored by ``none``).
        train: random training augmentation (True) or the deterministic evaluation transform (False).
        color_jitter: strength of ``random_resized_crop``'s ColorJitter (AOT-GAN: 0.05; 0 = off).
        flip: random horizontal flips when training (HiFill trains without: ``flip=False``).
        seg: ``labels`` (an ``(H, W)`` label map, resampled nearest) or ``image`` (an ``(H, W, 3)`` colour map,
            resampled with the image's interpolation: ``data.seg_encoding: ade_rgb``).
    """

    def __init__(self, name: str, image_size: int, train: bool, color_jitter: float = 0.05,
                 flip: bool = True, seg: str = "labels") -> None:
        if name not in CROP_POLICIES:
            raise ValueError(f"unknown crop policy {name!r}; choose from {sorted(CROP_POLICIES)}")
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        if seg not in SEG_MODES:
            raise ValueError(f"seg must be one of {SEG_MODES}, got {seg!r}")
        self.name, self.image_size, self.train, self.seg = name, int(image_size), bool(train), seg
        self.stages = _policy_stages(name, self.image_size, self.train, color_jitter, flip, seg == "image")

    def __call__(self, image: np.ndarray, seg: np.ndarray | None = None,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``image`` ``(H, W, 3)`` uint8, ``seg`` ``(H, W)`` uint8 labels (or ``(H, W, 3)`` colours with
        ``seg="image"``) → the same, cropped/resized together."""
        if seg is not None and seg.shape[:2] != image.shape[:2]:
            raise ValueError(f"image {image.shape[:2]} and label map {seg.shape[:2]} differ in size")
        rng = rng if rng is not None else np.random.default_rng()
        for stage in self.stages:
            image, seg = stage(image, seg, rng)
        return np.ascontiguousarray(image), None if seg is None else np.ascontiguousarray(seg)

    def __repr__(self) -> str:
        return f"CropPolicy({self.name!r}, image_size={self.image_size}, train={self.train})"


def build_crop(name: str, image_size: int, train: bool, **options) -> CropPolicy:
    """The :class:`CropPolicy` ``name`` at size ``image_size`` for training (``train=True``) or evaluation."""
    return CropPolicy(name, image_size, train, **options)
