"""Masks from files: the NVIDIA irregular mask set (Liu et al., PConv), frozen evaluation sets, any folder of PNGs.

:class:`MaskFolder` reads a folder of mask images as ``(H, W)`` uint8 {0, 1}, **1 = hole**; :class:`WithMaskFiles`
wraps an image dataset and adds ``mask`` ``(1, H, W)`` float32 and ``mask_type`` to every item.

**Reading.** Single channel (the first channel of colour files; see :func:`datamodules.image_io.read_gray`), values
scaled to [0, 1] (``/255``, or as they are when the file holds only 0/1) and **thresholded at 0.5**. A file with
values other than the two extremes (a soft or JPEG-compressed mask) is thresholded with a warning naming it. A mask
whose size differs from the image is resized with centre-aligned nearest neighbour (``nearest-exact``, = PIL
NEAREST), with one warning per (file size, image size) pair, since a whole folder is usually one size.

**Polarity** (``polarity=``): ``white_hole`` (255 = hole: NVIDIA *test* set, AIM masks, HiFill templates, the
suite's own exports), ``black_hole`` (0 = hole: NVIDIA *training* set, MADF examples), or ``auto`` (default):

1. ``manifest.json`` in the folder with ``"polarity": "white_hole"|"black_hole"`` (or ``"hole_value": 255|0``) wins;
2. otherwise the **mean white fraction** over up to 64 evenly spaced files decides. Inpainting masks are meant to
   hide less than half of the image, so a set whose files are on average **more than half white** is taken to be
   stored inverted (white = valid → ``black_hole``); below half → ``white_hole``. Sets right at one half (AIM CA masks
   hide 0.50-0.55 of the image) are ambiguous: within ``0.5 ± 0.05`` the conventional ``white_hole`` is kept and a
   warning asks for an explicit ``polarity``. The decision is made once per folder — never per file, which would
   flip the legitimately large masks of a set — and logged.

**Training augmentation** (``augment=``, files drawn uniformly at random per item, independent of the image):

- ``aotgan`` (aotgan.md §4.4, masks.md §5.2): resize to the image size (nearest-exact), horizontal flip p = 0.5,
  rotation by θ ~ U[0°, 45°) counter-clockwise about the centre, nearest, fill 0 (rotated-in corners are *known*).
- ``madf`` (madf.md §4.4, masks.md §5.3; the official code's choices): resize (bilinear, then thresholded at 0.5 as
  the project requires), rotation θ ~ U[−10°, 10°), nearest, fill **hole** (MADF's code fills with 0 = hole in its
  1 = valid convention), horizontal flip p = 0.5.
- ``none``: resize only.

In training the worker only reads the file (``mask_file``: ``(1, h, w)`` uint8 at the file's own size); the
augmentation runs on the batch's device after the transfer (:meth:`InpaintDataModule.on_after_batch_transfer`),
batched, with Kornia: ``kornia.geometry.transform.resize`` (``nearest-exact``; ``madf``: bilinear), ``hflip`` and ``rotate``
(nearest, about the centre ``((w - 1) / 2, (h - 1) / 2)``). It equals the former OpenCV augmentation pixel for pixel
(tested) except in one case: a nearest-exact resize by a non-integer ratio (e.g. 64 → 48), where a source coordinate
``(i + 0.5) h / H`` that is exactly an integer is rounded by Kornia (``F.interpolate``, float32) to one side and by
OpenCV / PIL (16.16 fixed point) to the other, so those rows or columns come from the neighbouring source row
(measured: 10 % of the pixels of a random map, 64 → 48). NVIDIA masks (512) resized to 256 or 512 are not affected. The flip and the angle of item ``i`` come from :func:`augmentation_params`, seeded by
``(mask seed, epoch, i)`` like the generated masks, so a run repeats and resumes bit for bit; the file drawn for item
``i`` comes from the item's CPU stream (:func:`datamodules.datasets.common.item_rng`), like its crop.

**Evaluation** (``fixed=True``): masks are resized only, and item ``i`` gets file ``order[i mod N]``, a pure function
of (``seed``, ``i``, the file list), so every model of a sweep sees the same pairs. ``pairing=``:

- ``stratified``: the files are grouped by hole-ratio bucket (:mod:`datamodules.masks.buckets`; ratios from
  ``manifest.json`` when it lists them, else read once from the files), each group is shuffled with ``seed``, and
  the groups are interleaved round robin (``0-10%``, ``10-20%``, ...). Any ``val_length`` therefore sees every bucket
  in equal shares (the NVIDIA test set is stored sorted by bucket: ``i mod N`` gave a 500-image validation only
  1-10 % holes), and a test set as large as the folder pairs one-to-one (a seeded permutation, MADF's protocol).
- ``cyclic``: ``order`` = the file order (names sorted, or as a manifest lists them): a stored pair list (an exported
  set whose mask ``k`` belongs to image ``k``; AOT-GAN's per-bucket folders, image ``i`` -> mask ``i mod 2,000``).
- ``auto`` (default): ``cyclic`` when the manifest pairs files with items (a ``masks`` list, or ``files`` entries
  with an ``index``, as ``inpaint-suite masks export`` writes), else ``stratified``.

``mask_type`` comes from
``manifest.json`` when it names one per file (``{"masks": [{"file": ..., "mask_type": ...}, ...]}`` or
``{"files": {name: type}}`` or a set-wide ``"mask_type"``), else ``"file"``.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.datasets.common import BadImageWarning, DatasetSetupError, item_rng, list_images
from datamodules.image_io import ImageReadError, is_image_file, read_gray
from datamodules.masks.buckets import BUCKETS, hole_ratio_bucket
from datamodules.masks.rng import SampleRNG, salt_of, sample_seed

log = logging.getLogger(__name__)

POLARITIES = ("auto", "white_hole", "black_hole")
AUGMENTATIONS = ("aotgan", "madf", "none")
PAIRINGS = ("auto", "stratified", "cyclic")  # evaluation: which file each item gets (module docstring)
POLARITY_PROBE_FILES = 64
POLARITY_AMBIGUITY = 0.05  # |mean white fraction − 0.5| within this: keep white = hole, warn


class MaskFileWarning(UserWarning):
    """A mask file that needed fixing (resized, thresholded) or could not be read."""


def _load_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        warnings.warn(f"mask folder {folder}: manifest.json is unreadable ({error}); ignored", MaskFileWarning,
                      stacklevel=3)
        return {}
    return manifest if isinstance(manifest, dict) else {"masks": manifest}


def _manifest_types(manifest: dict) -> tuple[list[str] | None, dict[str, str]]:
    """(file order listed by the manifest or None, {file name: mask_type})."""
    types: dict[str, str] = {}
    order: list[str] | None = None
    entries = manifest.get("masks")
    if isinstance(entries, list):
        order = []
        for entry in entries:
            if isinstance(entry, str):
                order.append(Path(entry).name)
                continue
            name = entry.get("file") or entry.get("name") or entry.get("path")
            if not name:
                continue
            name = Path(name).name
            order.append(name)
            kind = entry.get("mask_type") or entry.get("type")
            if kind:
                types[name] = str(kind)
    files = manifest.get("files")
    if isinstance(files, dict):
        types.update({Path(k).name: str(v) for k, v in files.items()})
    return order, types


def binarize(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(H, W)`` uint8 → ({0, 1} uint8 "white" map thresholded at 0.5, whether the input was non-binary)."""
    peak = int(gray.max()) if gray.size else 0
    scale = 1.0 if peak <= 1 else 255.0
    values = gray.astype(np.float32) / scale
    non_binary = bool(np.any((values > 0) & (values < 1)))
    return (values > 0.5).astype(np.uint8), non_binary


def resize_nearest(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Centre-aligned nearest resize (``nearest-exact`` = PIL NEAREST) of an ``(H, W)`` map to ``hw``."""
    if mask.shape[:2] == tuple(hw):
        return mask
    return cv2.resize(mask, (int(hw[1]), int(hw[0])), interpolation=cv2.INTER_NEAREST_EXACT)


MASK_FILE_OPTIONS = ("augment", "polarity", "pattern", "bucket", "pairing")  # data.mask_file_options keys


def _manifest_pairs(manifest: dict) -> bool:
    """Whether a manifest fixes which item each file belongs to (an exported evaluation set)."""
    files = manifest.get("files")
    return isinstance(manifest.get("masks"), list) or (
        isinstance(files, list) and any(isinstance(e, dict) and "index" in e for e in files))


def stratified_order(labels: list[str], seed: int) -> list[int]:
    """File indices grouped by ``labels`` (hole-ratio buckets), each group shuffled by ``seed``, interleaved round
    robin in bucket order: a permutation of ``range(len(labels))`` whose every prefix spreads over the buckets."""
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    rank = {b: k for k, b in enumerate(BUCKETS)}
    names = sorted(groups, key=lambda b: (rank.get(b, len(rank)), b))
    rng = np.random.default_rng([int(seed), 0x6D61736B])  # own stream: not the per-item augmentation draws
    shuffled = [[groups[b][j] for j in rng.permutation(len(groups[b]))] for b in names]
    order = []
    for k in range(max((len(g) for g in shuffled), default=0)):
        order += [g[k] for g in shuffled if k < len(g)]
    return order


def check_mask_folder(mask_dir, augment: str = "aotgan", polarity: str = "auto", pattern: str | None = None,
                      bucket: str | None = None, pairing: str = "auto") -> None:
    """A cheap look at a mask folder and its options before any model is built: the choices, that the folder
    exists, and that it holds an image file (the search stops at the first one: no listing of a 55k-mask set).
    Raises the ValueError / :class:`DatasetSetupError` that :class:`WithMaskFiles` would."""
    if augment not in AUGMENTATIONS:
        raise ValueError(f"mask augmentation must be one of {AUGMENTATIONS}, got {augment!r}")
    if polarity not in POLARITIES:
        raise ValueError(f"mask polarity must be one of {POLARITIES}, got {polarity!r}")
    if pairing not in PAIRINGS:
        raise ValueError(f"mask pairing must be one of {PAIRINGS}, got {pairing!r}")
    if bucket is not None and bucket not in BUCKETS:
        raise ValueError(f"unknown mask bucket {bucket!r}; choose from {', '.join(BUCKETS)}")
    folder = Path(mask_dir).expanduser()
    if not folder.is_dir():
        raise DatasetSetupError(f"mask folder {folder} does not exist; expected a folder of mask PNGs "
                                "(white = hole, or black = hole with polarity detection)")
    pending = [folder]
    while pending:  # breadth first, lazily: stops at the first matching file
        subfolders = []
        with os.scandir(pending.pop(0)) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    subfolders.append(entry.path)
                elif is_image_file(entry.name) and fnmatch.fnmatch(entry.name, pattern or "*"):
                    return
        pending += sorted(subfolders)
    raise DatasetSetupError(f"mask folder {folder} holds no image files (*.png, *.jpg, ...)"
                            + (f" matching {pattern!r}" if pattern else ""))


_BUCKET_CACHE: dict[tuple, list[str]] = {}


class MaskFolder:
    """Mask files of a folder (recursive), read as ``(H, W)`` uint8 {0, 1} with 1 = hole.

    Args:
        mask_dir: the folder.
        polarity: ``auto``, ``white_hole`` or ``black_hole`` (see the module docstring).
        pattern: only files whose name matches this glob (e.g. ``*_mask.png`` beside ``*_with_holes.png``).
        bucket: only masks whose hole ratio falls in this bucket (``"40-50%"``, see
            :mod:`datamodules.masks.buckets`); ratios come from ``manifest.json`` when it lists them, else from the files.
    """

    def __init__(self, mask_dir: str, polarity: str = "auto", pattern: str | None = None,
                 bucket: str | None = None) -> None:
        if polarity not in POLARITIES:
            raise ValueError(f"mask polarity must be one of {POLARITIES}, got {polarity!r}")
        self.folder = Path(mask_dir).expanduser()
        if not self.folder.is_dir():
            raise DatasetSetupError(f"mask folder {self.folder} does not exist; expected a folder of mask PNGs "
                                    "(white = hole, or black = hole with polarity detection)")
        self.manifest = _load_manifest(self.folder)
        order, self.type_of = _manifest_types(self.manifest)
        files = [Path(f) for f in list_images(self.folder)]
        if pattern:
            files = [f for f in files if fnmatch.fnmatch(f.name, pattern)]
        if order:
            by_name = {f.name: f for f in files}
            files = [by_name[name] for name in order if name in by_name] or files
        if not files:
            raise DatasetSetupError(f"mask folder {self.folder} holds no image files (*.png, *.jpg, ...)")
        self.files = files
        self._warned: set = set()
        self.polarity = self._decide_polarity(polarity)
        self.set_type = str(self.manifest.get("mask_type", "file")) if isinstance(
            self.manifest.get("mask_type", "file"), str) else "file"
        if bucket is not None:
            self._keep_bucket(bucket)

    def _keep_bucket(self, bucket: str) -> None:
        """Restrict the folder to masks of one hole-ratio bucket (the AOT-GAN / MADF per-bucket protocol)."""
        if bucket not in BUCKETS:
            raise ValueError(f"unknown mask bucket {bucket!r}; choose from {', '.join(BUCKETS)}")
        listed = {Path(e["name"]).name: float(e["hole_ratio"]) for e in self.manifest.get("files", [])
                  if isinstance(e, dict) and "name" in e and "hole_ratio" in e} \
            if isinstance(self.manifest.get("files"), list) else {}
        keep = []
        for i, path in enumerate(self.files):
            ratio = listed.get(path.name)
            if ratio is None:
                ratio = float(self.read(i).mean())
            if hole_ratio_bucket(ratio) == bucket:
                keep.append(path)
        if not keep:
            raise DatasetSetupError(f"mask folder {self.folder} has no mask in bucket {bucket}")
        self.files = keep

    def buckets(self) -> list[str]:
        """The hole-ratio bucket of every file (from the manifest when it lists ratios, else read once, natively)."""
        key = (str(self.folder), self.polarity, tuple(f.name for f in self.files))
        if key not in _BUCKET_CACHE:  # val and test of one run read the same folder: read it once
            listed = {Path(e["name"]).name: float(e["hole_ratio"]) for e in self.manifest.get("files", [])
                      if isinstance(e, dict) and "name" in e and "hole_ratio" in e} \
                if isinstance(self.manifest.get("files"), list) else {}
            labels = []
            for i, f in enumerate(self.files):
                try:
                    labels.append(hole_ratio_bucket(listed[f.name] if f.name in listed else float(self.read(i).mean())))
                except ImageReadError:
                    labels.append("unreadable")  # a group of its own; reading it later falls back to the next file
            _BUCKET_CACHE.clear()
            _BUCKET_CACHE[key] = labels
        return list(_BUCKET_CACHE[key])

    def __len__(self) -> int:
        return len(self.files)

    def mask_type(self, i: int) -> str:
        return self.type_of.get(self.files[i].name, self.set_type)

    def _warn_once(self, key, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        log.warning(message)
        warnings.warn(message, MaskFileWarning, stacklevel=4)

    def _decide_polarity(self, polarity: str) -> str:
        if polarity != "auto":
            return polarity
        stated = self.manifest.get("polarity")
        if stated in ("white_hole", "black_hole"):
            return stated
        if self.manifest.get("hole_value") in (255, 1, 0):
            return "black_hole" if self.manifest["hole_value"] == 0 else "white_hole"
        picks = np.unique(np.linspace(0, len(self.files) - 1, min(POLARITY_PROBE_FILES, len(self.files))).astype(int))
        fractions = []
        for i in picks:
            try:
                white, _ = binarize(read_gray(self.files[i]))
            except ImageReadError:
                continue
            fractions.append(float(white.mean()))
        if not fractions:
            raise DatasetSetupError(f"mask folder {self.folder}: none of the probed mask files can be read")
        mean = float(np.mean(fractions))
        if abs(mean - 0.5) <= POLARITY_AMBIGUITY:
            self._warn_once("polarity", f"mask folder {self.folder}: masks are {mean:.0%} white on average, too "
                                        "close to one half to tell the polarity; assuming white = hole (pass "
                                        "polarity='black_hole' if holes are black)")
            return "white_hole"
        decided = "black_hole" if mean > 0.5 else "white_hole"
        log.info("mask folder %s: mean white fraction %.3f over %d files -> %s", self.folder, mean,
                 len(fractions), decided)
        return decided

    def read(self, i: int, hw: tuple[int, int] | None = None) -> np.ndarray:
        """Mask ``i`` as ``(H, W)`` uint8 {0, 1}, 1 = hole; resized (nearest-exact) to ``hw`` when given."""
        path = self.files[i]
        white, non_binary = binarize(read_gray(path))
        if non_binary:
            self._warn_once(("soft", path), f"mask {path} is not binary: thresholded at 0.5")
        hole = white if self.polarity == "white_hole" else 1 - white
        if hw is not None and hole.shape != tuple(hw):
            self._warn_once(("size", hole.shape, tuple(hw)),
                            f"mask folder {self.folder}: {hole.shape[1]}x{hole.shape[0]} masks (e.g. {path.name}) "
                            f"resized nearest-exact to {hw[1]}x{hw[0]}")
            hole = resize_nearest(hole, hw)
        return np.ascontiguousarray(hole)


MASK_FILE_SALT = "mask_file"  # sub-stream of the per-sample draws (flip, angle) of the device-side augmentation


def augmentation_params(kind: str, indices, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ``(flip (B,) bool, angle (B,) float32 degrees)`` of augmentation ``kind``, a pure function of
    ``(seed, index)`` (the DataModule folds the epoch into ``seed``, as for generated masks)."""
    low, high = {"aotgan": (0.0, 45.0), "madf": (-10.0, 10.0), "none": (0.0, 0.0)}[kind]
    flips, angles = [], []
    for index in (int(i) for i in indices):
        rng = SampleRNG(sample_seed(seed, index, salt_of(f"{MASK_FILE_SALT}/{kind}")))
        flips.append(bool(rng.uniform() < 0.5))
        angles.append(float(rng.uniform(low, high)))
    return torch.tensor(flips), torch.tensor(angles, dtype=torch.float32)


def augment_masks(holes: torch.Tensor, hw: tuple[int, int], kind: str, flip: torch.Tensor,
                  angle: torch.Tensor) -> torch.Tensor:
    """Training augmentation ``kind`` of raw hole maps on their device, with Kornia (module docstring).

    ``holes`` ``(B, 1, h, w)`` {0, 1} (any dtype, one file size), ``flip`` ``(B,)`` bool, ``angle`` ``(B,)`` degrees
    counter-clockwise about the centre ``((w - 1) / 2, (h - 1) / 2)``. Returns ``(B, 1, H, W)`` float32 {0, 1}.
    """
    # lazy: Kornia costs ~0.2 s at import and only mask-file training uses it; this module loads at every CLI start
    # (assembly.checks)
    from kornia.geometry.transform import hflip, resize, rotate

    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown mask augmentation {kind!r}; choose from {AUGMENTATIONS}")
    x = holes.float()
    flip = flip.to(x.device).view(-1, 1, 1, 1)
    angle = angle.to(device=x.device, dtype=x.dtype)
    if kind == "madf":
        # MADF's code resizes bilinearly; the project thresholds at 0.5 to stay binary.
        if tuple(x.shape[-2:]) != tuple(hw):
            x = (resize(x, hw, interpolation="bilinear", align_corners=False) > 0.5).float()
        # Fill = hole: rotating the known map with zero padding and inverting is exact for nearest sampling.
        x = 1.0 - rotate(1.0 - x, angle, mode="nearest", padding_mode="zeros", align_corners=True)
        return torch.where(flip, hflip(x), x)
    if tuple(x.shape[-2:]) != tuple(hw):
        x = resize(x, hw, interpolation="nearest-exact")  # centre-aligned, like evaluation masks (see the docstring)
    if kind == "aotgan":
        x = torch.where(flip, hflip(x), x)
        x = rotate(x, angle, mode="nearest", padding_mode="zeros", align_corners=True)  # rotated-in corners: known
    return x


class WithMaskFiles(Dataset):
    """``dataset`` items plus a mask from ``mask_dir`` and ``mask_type``: evaluation (``fixed``) items get ``mask``
    ``(1, H, W)`` float32 {0, 1} (1 = hole); training items get ``mask_file`` ``(1, h, w)`` uint8 {0, 1}, the file as
    read, which :func:`augment_masks` turns into ``mask`` on the batch's device.

    Args:
        dataset: an image dataset (items with ``image`` ``(3, H, W)``).
        mask_dir: folder of mask files (see :class:`MaskFolder`).
        image_size: nominal size (masks are brought to each item's actual ``H, W``).
        seed: seed of the evaluation order (``fixed``) — training file draws are fresh each time.
        fixed: evaluation mode: item ``i`` → mask ``i mod N``, no augmentation.
        augment: training augmentation, ``aotgan`` (default), ``madf`` or ``none``.
        polarity: ``auto`` (default), ``white_hole`` or ``black_hole``.
        pattern: only mask files whose name matches this glob.
        bucket: only masks of this hole-ratio bucket (evaluation per bucket, e.g. ``"40-50%"``).
        pairing: evaluation pairing, ``auto`` (default), ``stratified`` or ``cyclic`` (module docstring);
            ``pairing`` says which one is used (``None`` in training, where files are drawn at random).
    """

    def __init__(self, dataset: Dataset, mask_dir: str, image_size: int, seed: int = 0, fixed: bool = False,
                 augment: str = "aotgan", polarity: str = "auto", pattern: str | None = None,
                 bucket: str | None = None, pairing: str = "auto") -> None:
        if augment not in AUGMENTATIONS:
            raise ValueError(f"mask augmentation must be one of {AUGMENTATIONS}, got {augment!r}")
        if pairing not in PAIRINGS:
            raise ValueError(f"mask pairing must be one of {PAIRINGS}, got {pairing!r}")
        self.dataset, self.image_size, self.seed, self.fixed = dataset, image_size, seed, fixed
        self.augment = "none" if fixed else augment
        self.masks = MaskFolder(mask_dir, polarity, pattern, bucket)
        self.pairing: str | None = None
        if fixed:
            if pairing == "auto":
                pairing = "cyclic" if _manifest_pairs(self.masks.manifest) else "stratified"
            self.pairing = pairing
            self.order = list(range(len(self.masks))) if pairing == "cyclic" else \
                stratified_order(self.masks.buckets(), seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def mask_index(self, index: int, rng: np.random.Generator) -> int:
        return self.order[int(index) % len(self.order)] if self.fixed else int(rng.integers(len(self.masks)))

    def __getitem__(self, index: int) -> dict:
        item = self.dataset[index]
        if item is None:
            return None
        hw = tuple(item["image"].shape[-2:])
        rng = item_rng(self.seed, index, train=not self.fixed)
        # A mask file that cannot be read is replaced by the next one (named once in a warning), like images.
        for attempt in range(len(self.masks)):
            j = (self.mask_index(index, rng) + attempt) % len(self.masks)
            try:
                hole = self.masks.read(j, hw if self.fixed else None)
            except ImageReadError as error:
                self.masks._warn_once(("bad", j), f"skipping unreadable mask {error.path} ({error.reason})")
                continue
            if self.fixed:
                item["mask"] = torch.from_numpy(hole).float()[None]
            else:  # raw file, augmented on the device (see the module docstring)
                item["mask_file"] = torch.from_numpy(hole)[None]
            item["mask_type"] = self.masks.mask_type(j)
            return item
        raise DatasetSetupError(f"mask folder {self.masks.folder}: no mask file can be read")

    def bad_files(self) -> list[str]:
        return self.dataset.bad_files() if hasattr(self.dataset, "bad_files") else []

    def bad_file_count(self) -> int:
        return self.dataset.bad_file_count() if hasattr(self.dataset, "bad_file_count") else 0


__all__ = ["MaskFolder", "WithMaskFiles", "MaskFileWarning", "BadImageWarning", "augment_masks",
           "augmentation_params", "binarize", "resize_nearest", "stratified_order", "PAIRINGS"]
