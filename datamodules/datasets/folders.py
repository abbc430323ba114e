"""Plain image-folder datasets: any folder (``folder``), Places2, CelebA-HQ and Paris StreetView.

Every class builds a file list for its split and hands it to :class:`ImageFileDataset` (crop policies, bad files).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

from datamodules.datasets.common import DatasetSetupError, ImageFileDataset, list_images
from datamodules.datasets.remote_lists import read_name_list

EVAL_SPLITS = ("val", "test", "predict")


def _require_root(kind: str, root, layout: str) -> Path:
    if root is None:
        raise DatasetSetupError(f"{kind}: data_root is not set; expected layout: {layout}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetSetupError(f"{kind}: data_root {root} is not a folder; expected layout: {layout}")
    return root


def _first_dir(root: Path, candidates: tuple[str, ...]) -> Path | None:
    for name in candidates:
        if (root / name).is_dir():
            return root / name
    return None


def _files_from_list(list_file: str | os.PathLike, base: Path, kind: str) -> list[str]:
    """Paths from a list file: one per line, first whitespace-separated token, relative to ``base``.

    Handles the Places365 lists (``/a/abbey/00000000.jpg 0``, ``Places365_val_00000001.jpg 165``) and plain lists.
    """
    names = [line.split()[0].lstrip("/") for line in read_name_list(list_file)]
    if not names:
        raise DatasetSetupError(f"{kind}: list file {list_file} is empty")
    prefix = os.fspath(base).rstrip(os.sep) + os.sep
    return [prefix + name for name in names]  # strings: 1.8 M Path objects take ~10x longer to build


class FolderDataset(ImageFileDataset):
    """Any folder of images (searched recursively).

    Split: if ``root/<split>`` exists (``train``, ``val``, ``test``; ``predict`` uses ``test``), that folder is
    used; otherwise every split reads the whole root (convenient for a quick look, but train and eval then
    overlap, so a warning says so for eval splits). ``file_list`` restricts the files to those named in a text
    file (paths relative to the split folder, one per line).
    """

    kind = "folder"
    LAYOUT = "ROOT/**/*.{jpg,png,...} or ROOT/{train,val,test}/**/*.{jpg,png,...}"

    @classmethod
    def check_root(cls, root, split: str, **options) -> None:
        root = _require_root(cls.kind, root, cls.LAYOUT)
        folder = "test" if split == "predict" else split
        if split != "train" and not (root / folder).is_dir() and (root / "train").is_dir():
            raise DatasetSetupError(f"folder: {root} has a train/ folder but no {folder}/; expected layout: {cls.LAYOUT}")

    def __init__(self, split: str = "train", root: str | None = None, image_size: int = 256,
                 crop: str = "random_crop", semantic: bool = False, file_list: str | None = None, **options) -> None:
        root = _require_root(self.kind, root, self.LAYOUT)
        folder = root / ("test" if split == "predict" else split)
        if not folder.is_dir():
            if split != "train" and (root / "train").is_dir():
                raise DatasetSetupError(f"folder: {root} has a train/ folder but no {folder.name}/; "
                                        f"expected layout: {self.LAYOUT}")
            folder = root
            if split != "train":
                warnings.warn(f"folder: {root} has no {split}/ subfolder; the {split} split reads the same images "
                              "as training", stacklevel=2)
        files = _files_from_list(file_list, folder, self.kind) if file_list else list_images(folder)
        super().__init__(files, split=split, root=folder, layout=self.LAYOUT, image_size=image_size, crop=crop,
                         semantic=semantic, **options)


class Places2Dataset(ImageFileDataset):
    """Places365-Standard (high-resolution ``*_large`` or 256 release).

    - train: ``train_list`` if given, else ``ROOT/places365_train_standard.txt`` when present (paths relative to the
      train folder), else every image under the first existing of ``data_large``, ``data_256``, ``train_large``,
      ``train_256``, ``train`` (``<letter>/<scene>[/<sub>]/*.jpg``).
    - val / test: the flat folder ``val_large`` (or ``val_256``, ``val``), all 36,500 images sorted by name, or the
      files of ``val_list``/``test_list``. ``test_count`` keeps a seeded subset (MADF: 12,000) — stored as the list
      of names in ``dataset.names``.
    """

    kind = "places2"
    LAYOUT = ("ROOT/data_large/<letter>/<scene>/*.jpg (or data_256/, train_large/) and ROOT/val_large/*.jpg "
              "(or val_256/); optional ROOT/places365_train_standard.txt, ROOT/places365_val.txt")
    TRAIN_DIRS = ("data_large", "data_256", "train_large", "train_256", "train")
    VAL_DIRS = ("val_large", "val_256", "val")

    @classmethod
    def check_root(cls, root, split: str, **options) -> None:
        root = _require_root(cls.kind, root, cls.LAYOUT)
        train = split == "train"
        if _first_dir(root, cls.TRAIN_DIRS if train else cls.VAL_DIRS) is None:
            raise DatasetSetupError(f"places2: no {'training' if train else 'validation'} folder "
                                    f"({', '.join(cls.TRAIN_DIRS if train else cls.VAL_DIRS)}) under {root}; "
                                    f"expected layout: {cls.LAYOUT}")

    def __init__(self, split: str = "train", root: str | None = None, image_size: int = 256,
                 crop: str = "random_crop", semantic: bool = False, train_list: str | None = None,
                 val_list: str | None = None, test_list: str | None = None, test_count: int | None = None,
                 **options) -> None:
        root = _require_root(self.kind, root, self.LAYOUT)
        if split == "train":
            folder = _first_dir(root, self.TRAIN_DIRS)
            if folder is None:
                raise DatasetSetupError(f"places2: no training folder ({', '.join(self.TRAIN_DIRS)}) under {root}; "
                                        f"expected layout: {self.LAYOUT}")
            listed = train_list or (root / "places365_train_standard.txt"
                                    if (root / "places365_train_standard.txt").is_file() else None)
            files = _files_from_list(listed, folder, self.kind) if listed else list_images(folder)
        else:
            folder = _first_dir(root, self.VAL_DIRS)
            if folder is None:
                raise DatasetSetupError(f"places2: no validation folder ({', '.join(self.VAL_DIRS)}) under {root}; "
                                        f"expected layout: {self.LAYOUT}")
            listed = test_list if split in ("test", "predict") and test_list else val_list
            files = _files_from_list(listed, folder, self.kind) if listed else list_images(folder, recursive=False)
            if test_count is not None and split in ("test", "predict") and test_count < len(files):
                seed = options.get("seed", 0)
                keep = np.sort(np.random.default_rng(seed).choice(len(files), size=test_count, replace=False))
                files = [files[i] for i in keep]
        super().__init__(files, split=split, root=folder, layout=self.LAYOUT, image_size=image_size, crop=crop,
                         semantic=semantic, **options)


def _celeba_number(path: Path) -> tuple[int, str]:
    """Sort key: the number in the file name (``0.jpg``, ``00012.png``, ``imgHQ00012.npy``-style), then the name."""
    digits = re.findall(r"\d+", path.stem)
    return (int(digits[-1]) if digits else -1, path.name)


class CelebAHQDataset(ImageFileDataset):
    """CelebA-HQ: one folder of 30,000 faces (``0.jpg`` … ``29999.jpg`` or ``00000.png`` …), split by lists or rule.

    - ``train_list`` / ``test_list`` (file names, one per line, as published by some repositories) win when given.
    - ``split_mode="28k_2k"`` (default; AOT-GAN, HiFill): images sorted by their number, the first 28/30 train,
      the rest val/test (28,000 / 2,000 for the full set; other sizes keep the same ratio).
    - ``split_mode="27k_3k"`` (DeepGIN): a seeded random 90 % / 10 % split (``split_seed``, default 0); the paper's
      split is unpublished, so the seed is the published one.
    val and test are the same held-out images (cap val with ``val_length``).
    """

    kind = "celebahq"
    LAYOUT = "ROOT/*.{jpg,png} (or ROOT/CelebA-HQ-img/, ROOT/celeba_hq/, ROOT/images/)"
    SUBDIRS = ("CelebA-HQ-img", "celeba_hq", "celeba-hq", "images", "data1024x1024", "img")
    SPLIT_MODES = {"28k_2k": 28 / 30, "27k_3k": 27 / 30}

    @classmethod
    def check_root(cls, root, split: str, **options) -> None:
        _require_root(cls.kind, root, cls.LAYOUT)
        split_mode = options.get("split_mode", "28k_2k")
        if split_mode not in cls.SPLIT_MODES:
            raise ValueError(f"celebahq split_mode must be one of {sorted(cls.SPLIT_MODES)}, got {split_mode!r}")

    def __init__(self, split: str = "train", root: str | None = None, image_size: int = 256, crop: str = "resize",
                 semantic: bool = False, split_mode: str = "28k_2k", split_seed: int = 0,
                 train_list: str | None = None, test_list: str | None = None, **options) -> None:
        root = _require_root(self.kind, root, self.LAYOUT)
        folder = _first_dir(root, self.SUBDIRS) or root
        if split_mode not in self.SPLIT_MODES:
            raise ValueError(f"celebahq split_mode must be one of {sorted(self.SPLIT_MODES)}, got {split_mode!r}")
        listed = train_list if split == "train" else test_list
        if listed:
            files = _files_from_list(listed, folder, self.kind)
        else:
            files = sorted((Path(f) for f in list_images(folder, recursive=False)), key=_celeba_number)
            n_train = round(len(files) * self.SPLIT_MODES[split_mode])
            if split_mode == "27k_3k":
                order = np.random.default_rng(split_seed).permutation(len(files))
                chosen = np.sort(order[:n_train] if split == "train" else order[n_train:])
            else:
                chosen = np.arange(n_train) if split == "train" else np.arange(n_train, len(files))
            files = [files[i] for i in chosen]
        super().__init__(files, split=split, root=folder, layout=self.LAYOUT, image_size=image_size, crop=crop,
                         semantic=semantic, **options)


class ParisStreetViewDataset(ImageFileDataset):
    """Paris StreetView (Pathak et al.): ``paris_train_original/`` (14,900) for training, ``paris_eval_gt/`` (100)
    for val/test (the standard split; also accepted: ``train/`` and ``eval/``, ``val/`` or ``test/``)."""

    kind = "paris"
    LAYOUT = "ROOT/paris_train_original/*.png and ROOT/paris_eval_gt/*.png (or ROOT/train/, ROOT/eval/)"
    TRAIN_DIRS = ("paris_train_original", "train")
    EVAL_DIRS = ("paris_eval_gt", "eval", "val", "test")

    @classmethod
    def check_root(cls, root, split: str, **options) -> None:
        root = _require_root(cls.kind, root, cls.LAYOUT)
        if _first_dir(root, cls.TRAIN_DIRS if split == "train" else cls.EVAL_DIRS) is None:
            raise DatasetSetupError(f"paris: no {'training' if split == 'train' else 'evaluation'} folder under "
                                    f"{root}; expected layout: {cls.LAYOUT}")

    def __init__(self, split: str = "train", root: str | None = None, image_size: int = 256,
                 crop: str = "resize_crop", semantic: bool = False, **options) -> None:
        root = _require_root(self.kind, root, self.LAYOUT)
        folder = _first_dir(root, self.TRAIN_DIRS if split == "train" else self.EVAL_DIRS)
        if folder is None:
            raise DatasetSetupError(f"paris: no {'training' if split == 'train' else 'evaluation'} folder under "
                                    f"{root}; expected layout: {self.LAYOUT}")
        super().__init__(list_images(folder), split=split, root=folder, layout=self.LAYOUT, image_size=image_size,
                         crop=crop, semantic=semantic, **options)
