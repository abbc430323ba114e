"""Helpers shared by the datasets: array → tensor conversion, crop boxes, file listing, and the base class of
every file-backed dataset (:class:`ImageFileDataset`) with its bad-file policy.

Bad-file policy (issue 13):

- An unreadable image (corrupt, truncated, zero bytes, unknown format, no permission) never stops an epoch: the
  item is served from the next readable index instead, the file is named once in a :class:`BadImageWarning`, and it
  is recorded in a bitmap in shared memory, so DataLoader workers and the main process see the same record and a
  known-bad file is never decoded again. ``dataset.bad_files()`` / ``bad_file_count()`` give the run summary.
- The returned item keeps the *requested* ``index`` (masks are seeded by index, so the mask stream stays stable) and
  the ``name`` of the file actually read.
- A split with no files, or whose first files are all unreadable, fails at construction (setup) with a
  :class:`DatasetSetupError` naming the root and the expected layout.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.image_io import ImageReadError, is_image_file, read_rgb
from datamodules.transforms import build_crop

log = logging.getLogger(__name__)

# How many files the setup probe tries before declaring a dataset unreadable.
SETUP_PROBE_FILES = 16
# data.seg_encoding: 51-class labels (one-hot on the device) or the raw ADE20K seg colours (official DeepGIN Track 2).
SEG_ENCODINGS = ("labels", "ade_rgb")


class BadImageWarning(UserWarning):
    """An image (or label map) that could not be read and was skipped."""


class DatasetSetupError(RuntimeError):
    """A dataset that cannot be used at all (no files, wrong layout, nothing readable)."""

    exit_code = 2  # bad user input (assembly.errors.known_error)


def to_tensor_image(array: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 (or uint16) RGB → ``(3, H, W)`` float32 in [-1, 1]."""
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float()
    return tensor / (scale / 2) - 1


def item_rng(seed: int, index: int, train: bool) -> np.random.Generator:
    """The random stream of one item's augmentation (crop, flip, mask-file choice).

    Evaluation: fixed by ``(seed, index)``. Training: ``(seed, index)`` plus one draw from torch's generator, so
    the crop changes every epoch yet a run is reproducible under ``seed_everything`` / ``torch.manual_seed``: inside
    a DataLoader worker torch's generator is seeded from the loader's base seed (drawn from the main process's
    generator each time the loader is iterated) plus the worker id, and batches go to workers in a fixed order.
    """
    if not train:
        return np.random.default_rng([int(seed), int(index)])
    draw = int(torch.randint(0, 2**62, (1,)).item())
    return np.random.default_rng([int(seed), int(index), draw])


def random_crop_box(hw: tuple[int, int], size: int, rng: np.random.Generator) -> tuple[int, int]:
    """Top-left corner of a ``size``-square crop inside an ``hw`` image, uniformly at random."""
    h, w = int(hw[0]), int(hw[1])
    if h < size or w < size:
        raise ValueError(f"image {h}x{w} is smaller than the crop {size}")
    return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[str]:
    """Image files under ``folder`` (by extension, case-insensitive) as path strings, sorted; hidden entries skipped.

    Strings, not ``Path`` objects: listing a 1.8 M-image folder stays fast and small.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return []
    found: list[str] = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found.extend(os.path.join(dirpath, f) for f in filenames if not f.startswith(".") and is_image_file(f))
    else:
        with os.scandir(folder) as entries:
            found = [e.path for e in entries if not e.name.startswith(".") and e.is_file() and is_image_file(e.name)]
    return sorted(found)


def name_of(path: Path, root: Path | None) -> str:
    """Item name: the path relative to ``root`` without extension, ``/`` → ``_`` (unique and flat)."""
    try:
        relative = path.relative_to(root) if root is not None else Path(path.name)
    except ValueError:
        relative = Path(path.name)
    return relative.with_suffix("").as_posix().replace("/", "_")


def subset_indices(n: int, length: int | None, seed: int) -> np.ndarray:
    """All of ``range(n)``, or a seeded random subset of ``length`` of them in increasing order."""
    if length is None or length >= n:
        return np.arange(n)
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    return np.sort(np.random.default_rng(seed).choice(n, size=length, replace=False))


class PathTable(Sequence):
    """Paths packed into one numpy bytes array, indexable like a list of :class:`Path`.

    Why: a Python list of 1.8 M ``Path`` objects (Places2) is copied into every forked DataLoader worker as soon as
    the workers touch the objects' reference counts; one flat array is never written, so its pages stay shared.
    """

    def __init__(self, paths: Sequence[str | os.PathLike]) -> None:
        encoded = [os.fsencode(p) for p in paths]
        self._data = np.array(encoded, dtype=np.bytes_) if encoded else np.zeros(0, dtype="S1")

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return Path(os.fsdecode(bytes(self._data[index])))


class ImageFileDataset(Dataset):
    """Base of every file-backed dataset: one image file (and optionally one label file) per item.

    Items: ``{"image": (3, S, S) float32 in [-1, 1], "index": int, "name": str}`` plus, with ``semantic=True``,
    ``"seg_labels": (S, S) uint8`` labels 0..51 (0 = other), expanded by the DataModule into ``seg`` ``(52, S, S)``
    one-hot (see :mod:`datamodules.datasets.ade20k_labels`), or with ``seg_encoding="ade_rgb"`` ``"seg_rgb": (3, S, S)
    uint8``, the raw colours of the seg file resampled like the image (the official DeepGIN Track-2 input). The size
    is the crop policy's output (native size for ``crop="none"``).

    Args:
        files: image paths, in a fixed order (item ``i`` = ``files[i]`` before the ``length`` cap).
        split: ``train`` (random augmentation) or ``val``/``test``/``predict`` (deterministic).
        root: the dataset root (for names and error messages).
        layout: one line describing the expected layout, quoted in setup errors.
        image_size: square output side S.
        crop: training crop policy (:mod:`datamodules.transforms`); evaluation uses its deterministic counterpart.
        eval_crop: a different policy for val/test (default: ``crop``).
        semantic: load ``seg_files`` through ``seg_decoder`` and add ``seg_labels`` (or ``seg_rgb``).
        seg_encoding: ``labels`` (``seg_decoder`` returns ``(H, W)`` labels, resampled nearest) or ``ade_rgb``
            (it returns the ``(H, W, 3)`` raw colours, resampled like the image).
        length: keep a seeded random subset of this many files (all when ``None`` or larger).
        seed: seed of the subset and of evaluation-time randomness.
        other_channel: ``seg`` has an explicit "other" channel 0 (52 channels) or not (51).
        color_jitter: ColorJitter strength of ``random_resized_crop``.
        flip: random horizontal flips when training (``False`` for HiFill).
        probe: read the first files at construction to fail early on an unreadable dataset.
    """

    kind = "images"
    flat_names = False  # True: an item's name is its file stem (unique stems, e.g. ADE20K)

    def __init__(self, files: Sequence[str | os.PathLike], *, split: str, root: str | os.PathLike | None,
                 layout: str, image_size: int = 256, crop: str = "random_crop", eval_crop: str | None = None,
                 semantic: bool = False, seg_files: Sequence[str | os.PathLike] | None = None,
                 seg_decoder: Callable[[os.PathLike], np.ndarray] | None = None,
                 length: int | None = None, seed: int = 0, other_channel: bool = True,
                 color_jitter: float = 0.05, flip: bool = True, probe: bool = True,
                 seg_encoding: str = "labels") -> None:
        if split not in ("train", "val", "test", "predict"):
            raise ValueError(f"split must be train/val/test/predict, got {split!r}")
        self.split, self.root, self.layout = split, Path(root) if root is not None else None, layout
        self.train = split == "train"
        if not len(files):
            raise DatasetSetupError(f"{self.kind}: no images for split {split!r} under {self.root}; "
                                    f"expected layout: {layout}")
        if seg_encoding not in SEG_ENCODINGS:
            raise ValueError(f"seg_encoding must be one of {SEG_ENCODINGS}, got {seg_encoding!r}")
        if semantic and (seg_files is None or seg_decoder is None):
            raise DatasetSetupError(f"{self.kind}: semantic=True but this dataset/layout has no semantic maps "
                                    f"(root {self.root})")
        keep = subset_indices(len(files), length, seed)
        self.files = PathTable([files[i] for i in keep])
        self.seg_files = PathTable([seg_files[i] for i in keep]) if semantic else None
        self.seg_decoder = seg_decoder if semantic else None
        self.semantic, self.other_channel, self.seed, self.image_size = semantic, other_channel, seed, image_size
        self.seg_encoding = seg_encoding
        policy = crop if self.train else (eval_crop or crop)
        self.crop_name = policy
        self.transform = build_crop(policy, image_size, self.train, color_jitter=color_jitter, flip=flip,
                                    seg="image" if seg_encoding == "ade_rgb" else "labels")
        # Shared memory: workers mark bad files, the main process (and the other workers) see it.
        self._bad = torch.zeros(len(self.files), dtype=torch.uint8).share_memory_()
        if probe:
            self._probe()

    # ------------------------------------------------------------------------------------------------ bad files
    def _probe(self) -> None:
        """Fail at setup when none of the first files can be read (wrong layout, permissions, wrong format)."""
        errors = []
        for j in range(min(SETUP_PROBE_FILES, len(self.files))):
            try:
                read_rgb(self.files[j])
                return
            except ImageReadError as error:
                self._mark_bad(j, error)
                errors.append(error.reason)
        raise DatasetSetupError(
            f"{self.kind}: none of the first {len(errors)} images of split {self.split!r} under {self.root} can be "
            f"read (first error: {errors[0]}); expected layout: {self.layout}")

    def _mark_bad(self, j: int, error: Exception) -> None:
        if int(self._bad[j]):
            return
        self._bad[j] = 1
        reason = error.reason if isinstance(error, ImageReadError) else f"{type(error).__name__}: {error}"
        message = (f"{self.kind}/{self.split}: skipping unreadable file {self.files[j]} ({reason}); "
                   f"{self.bad_file_count()} bad file(s) so far")
        log.warning(message)
        warnings.warn(message, BadImageWarning, stacklevel=3)

    def bad_file_count(self) -> int:
        """How many files were found unreadable so far (all workers together)."""
        return int(self._bad.sum())

    def bad_files(self) -> list[str]:
        """Paths of the files found unreadable so far (all workers together)."""
        return [str(self.files[j]) for j in torch.nonzero(self._bad).flatten().tolist()]

    # ------------------------------------------------------------------------------------------------ items
    def name_at(self, j: int) -> str:
        """Name of file ``j``: its stem (``flat_names``) or its path under the root, ``/`` → ``_``."""
        path = self.files[j]
        return path.stem if self.flat_names else name_of(path, self.root)

    @property
    def names(self) -> list[str]:
        """Every item's name, in order (computed on demand)."""
        return [self.name_at(j) for j in range(len(self.files))]

    def __len__(self) -> int:
        return len(self.files)

    def _rng(self, index: int) -> np.random.Generator:
        # Training: a new crop every epoch, reproducible under a seed; eval: fixed per index (see item_rng).
        return item_rng(self.seed, index, self.train)

    def _read_image_and_seg(self, j: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The image and (with ``semantic``) its ``(H, W)`` label map (``(H, W, 3)`` colours with ``ade_rgb``),
        brought to the same pixel grid.

        Label maps are drawn on the *stored* pixel grid. When an image carries an EXIF rotation the displayed image no
        longer matches its labels, so such an image is read without the rotation (with a warning); any other size
        mismatch resizes the labels (nearest-exact), also with a warning.
        """
        image = read_rgb(self.files[j])
        if not self.semantic:
            return image, None
        labels = self.seg_decoder(self.seg_files[j])
        if labels.shape[:2] == image.shape[:2]:
            return image, labels
        stored = read_rgb(self.files[j], exif_transpose=False)
        if stored.shape[:2] == labels.shape[:2]:
            warnings.warn(f"{self.kind}: {self.files[j]} has an EXIF rotation; read unrotated to match its label map",
                          BadImageWarning, stacklevel=3)
            return stored, labels
        warnings.warn(f"{self.kind}: label map {self.seg_files[j]} is {labels.shape[1]}x{labels.shape[0]}, its image "
                      f"{image.shape[1]}x{image.shape[0]}: labels resized nearest-exact", BadImageWarning, stacklevel=3)
        labels = cv2.resize(labels, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST_EXACT)
        return image, labels

    def load(self, j: int, rng: np.random.Generator) -> dict:
        """Item ``j`` without the bad-file fallback (raises :class:`ImageReadError`)."""
        image, seg = self._read_image_and_seg(j)
        try:
            image, seg = self.transform(image, seg, rng)
        except (ValueError, cv2.error) as error:  # e.g. a degenerate size the resize cannot handle
            raise ImageReadError(self.files[j], f"cannot be cropped/resized: {error}") from error
        item = {"image": to_tensor_image(image), "index": j, "name": self.name_at(j)}
        if seg is not None and self.seg_encoding == "ade_rgb":
            # raw colours travel as uint8 too; the DataModule scales them to [0, 1] on the device (seg_from_colours)
            item["seg_rgb"] = torch.from_numpy(np.ascontiguousarray(seg, dtype=np.uint8)).permute(2, 0, 1).contiguous()
        elif seg is not None:
            # labels travel as uint8 (1 byte/pixel instead of 52 floats); the DataModule expands them on the device
            item["seg_labels"] = torch.from_numpy(np.ascontiguousarray(seg, dtype=np.uint8))
        return item

    def __getitem__(self, index: int) -> dict:
        n = len(self.files)
        index = int(index)
        rng = self._rng(index)
        for step in range(n):
            j = (index + step) % n
            if int(self._bad[j]):
                continue
            try:
                item = self.load(j, rng)
            except ImageReadError as error:
                self._mark_bad(j, error)
                continue
            item["index"] = index
            return item
        raise DatasetSetupError(f"{self.kind}: every image of split {self.split!r} under {self.root} is unreadable "
                                f"({n} files); expected layout: {self.layout}")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(split={self.split!r}, root={str(self.root)!r}, n={len(self)}, "
                f"crop={self.crop_name!r}, semantic={self.semantic})")


def unwrap(dataset: Dataset) -> Dataset:
    """The innermost dataset under wrappers that expose ``.dataset`` (``WithMaskFiles``, ``Subset``)."""
    while hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    return dataset


def bad_file_summary(dataset: Dataset) -> dict:
    """``{"count": int, "files": [str]}`` of unreadable files met so far (for the run summary)."""
    inner = unwrap(dataset)
    if not hasattr(inner, "bad_files"):
        return {"count": 0, "files": []}
    return {"count": inner.bad_file_count(), "files": inner.bad_files()}
