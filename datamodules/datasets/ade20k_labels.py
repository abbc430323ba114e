"""AIM 2020 Track-2 semantic maps: ADE20K label images → the challenge's 51 classes + "other" (aim2020.md §3.2-3.3).

Two source encodings:

- ``ade_full_rgb`` (full ``ADE20K_2016_07_26`` release, ``*_seg.png``): ``full_id = (R // 10) * 256 + G``; B holds
  instances and is never read (forbidden in Track 2). ``full_id`` → ADE150 index through ``mapFromADE.txt``
  (unmapped ids → 0), then ADE150 → label.
- ``ade150`` (SceneParsing ``ADEChallengeData2016/annotations/*.png``): the pixel value already is the ADE150 index
  (0 = other).

ADE150 → label: position (1..51) of the index in the challenge's ``new_class_indices.txt``; every other index → 0
("other"). :func:`one_hot` turns the ``(H, W)`` labels into ``(52, H, W)`` channels, channel 0 = other/unlabelled
(or 51 channels with an all-zero "other" when ``other_channel=False``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from datamodules.image_io import ImageReadError

# The 51 ADE150 indices kept by the challenge, in file order (aim2020.md §3.2 table; label = position + 1).
AIM_CLASS_INDICES: tuple[int, ...] = tuple(range(1, 41)) + (42, 44, 48, 67, 68, 83, 88, 94, 126, 135, 136)
NUM_AIM_CLASSES = 51
# Largest full-ADE id the RGB encoding can hold: R // 10 <= 25, G <= 255.
_FULL_ID_LIMIT = 26 * 256


def parse_map_from_ade(path: str | os.PathLike) -> dict[int, int]:
    """``mapFromADE.txt`` → ``{full_ade_id: ade150_index}``.

    Lines are ``<ade150 index> <full id>`` separated by tabs/spaces (some with trailing blanks); an ADE150 class may
    own several full ids (e.g. 15 → 774 and 783).
    """
    mapping: dict[int, int] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 2 or not tokens[0].isdigit() or not tokens[1].isdigit():
            raise ValueError(f"{path}:{number}: expected '<ade150 index> <full ade id>', got {line!r}")
        mapping[int(tokens[1])] = int(tokens[0])
    if not mapping:
        raise ValueError(f"{path}: no class mapping lines")
    return mapping


def ade150_to_label_lut(class_indices: tuple[int, ...] | list[int] = AIM_CLASS_INDICES) -> np.ndarray:
    """``(256,)`` uint8 lookup: ADE150 index → challenge label 1..51, everything else 0."""
    if len(set(class_indices)) != len(class_indices):
        raise ValueError("duplicate class indices")
    lut = np.zeros(256, np.uint8)
    for label, index in enumerate(class_indices, 1):
        if not 1 <= index <= 255:
            raise ValueError(f"ADE150 index out of range: {index}")
        lut[index] = label
    return lut


def full_id_to_label_lut(map_from_ade: dict[int, int],
                         class_indices: tuple[int, ...] | list[int] = AIM_CLASS_INDICES) -> np.ndarray:
    """``(26*256,)`` uint8 lookup: full-ADE id → challenge label (via ADE150)."""
    to_label = ade150_to_label_lut(class_indices)
    lut = np.zeros(_FULL_ID_LIMIT, np.uint8)
    for full_id, ade150 in map_from_ade.items():
        if 0 <= full_id < _FULL_ID_LIMIT and 0 <= ade150 < 256:
            lut[full_id] = to_label[ade150]
    return lut


def decode_full_ids(seg_rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 ADE full-release seg PNG → ``(H, W)`` int32 full class ids (B/instances ignored)."""
    if seg_rgb.ndim != 3 or seg_rgb.shape[2] < 2:
        raise ValueError(f"an ADE full seg map must be RGB, got shape {seg_rgb.shape}")
    return (seg_rgb[..., 0].astype(np.int32) // 10) * 256 + seg_rgb[..., 1].astype(np.int32)


class SegDecoder:
    """Reads one label file → ``(H, W)`` uint8 challenge labels (0 = other, 1..51).

    Args:
        encoding: ``ade_full_rgb`` or ``ade150`` (see the module docstring).
        map_from_ade: ``{full id: ade150}`` (required for ``ade_full_rgb``).
        class_indices: the challenge's ADE150 indices (default: the spec's table).
    """

    def __init__(self, encoding: str, map_from_ade: dict[int, int] | None = None,
                 class_indices: tuple[int, ...] | list[int] = AIM_CLASS_INDICES) -> None:
        if encoding == "ade_full_rgb":
            if map_from_ade is None:
                raise ValueError("ade_full_rgb decoding needs the mapFromADE.txt mapping")
            self.lut = full_id_to_label_lut(map_from_ade, class_indices)
        elif encoding == "ade150":
            self.lut = ade150_to_label_lut(class_indices)
        else:
            raise ValueError(f"unknown seg encoding {encoding!r}; choose ade_full_rgb or ade150")
        self.encoding = encoding

    def labels_from_array(self, array: np.ndarray) -> np.ndarray:
        if self.encoding == "ade_full_rgb":
            return self.lut[np.clip(decode_full_ids(array), 0, len(self.lut) - 1)]
        if array.ndim == 3:
            array = array[..., 0]
        return self.lut[array.astype(np.int64).clip(0, 255)]

    def __call__(self, path: str | os.PathLike) -> np.ndarray:
        try:
            with Image.open(path) as image:
                # No EXIF transpose and no colour conversion: label PNGs are raw data.
                if self.encoding == "ade_full_rgb":
                    array = np.asarray(image.convert("RGB"))
                else:
                    array = np.asarray(image if image.mode in ("L", "P", "I", "I;16") else image.convert("L"))
        except (OSError, ValueError, SyntaxError) as error:
            raise ImageReadError(path, f"label map: {type(error).__name__}: {error}") from error
        return np.ascontiguousarray(self.labels_from_array(array))


def one_hot(labels: np.ndarray | torch.Tensor, num_classes: int = NUM_AIM_CLASSES,
            other_channel: bool = True) -> torch.Tensor:
    """``(H, W)`` labels in 0..num_classes → ``(num_classes + 1, H, W)`` float32 one-hot (channel 0 = other), or
    ``(num_classes, H, W)`` with "other" as all zeros when ``other_channel=False``."""
    labels = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if labels.size and int(labels.max()) > num_classes:
        raise ValueError(f"label {int(labels.max())} exceeds num_classes={num_classes}")
    first = 0 if other_channel else 1
    # A broadcast comparison is ~5x faster than F.one_hot + permute on the CPU workers.
    channels = np.arange(first, num_classes + 1, dtype=labels.dtype)[:, None, None]
    return torch.from_numpy(labels[None] == channels).float()
