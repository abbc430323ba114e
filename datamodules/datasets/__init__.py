"""Datasets by kind. Each returns dict items: ``image`` (3, H, W) in [-1, 1], ``index``, ``name``, and optionally
``seg`` (52, H, W) one-hot (AIM Track 2) and ``mask`` (1, H, W), 1 = hole (mask-file datasets).

| kind | class | layout |
|---|---|---|
| ``sample`` | :class:`SampleDataset` | photos shipped in installed wheels (no files needed) |
| ``folder`` | :class:`FolderDataset` | any folder of images, optionally with ``train/``, ``val/``, ``test/`` |
| ``ade20k`` | :class:`ADE20KDataset` | full ``ADE20K_2016_07_26`` or SceneParsing ``ADEChallengeData2016``; AIM list |
| ``places2`` | :class:`Places2Dataset` | Places365-Standard: ``data_large/``, ``val_large/``, list files |
| ``celebahq`` | :class:`CelebAHQDataset` | one folder of 30k faces; 28k/2k (default) or 27k/3k split, or lists |
| ``paris`` | :class:`ParisStreetViewDataset` | ``paris_train_original/``, ``paris_eval_gt/`` |
"""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.data import Dataset

from datamodules.datasets.ade20k import ADE20KDataset
from datamodules.datasets.common import BadImageWarning, DatasetSetupError, bad_file_summary
from datamodules.datasets.folders import CelebAHQDataset, FolderDataset, ParisStreetViewDataset, Places2Dataset
from datamodules.datasets.sample import SampleDataset

DATASETS: dict[str, Callable[..., Dataset]] = {
    "sample": SampleDataset,
    "folder": FolderDataset,
    "ade20k": ADE20KDataset,
    "places2": Places2Dataset,
    "celebahq": CelebAHQDataset,
    "paris": ParisStreetViewDataset,
}

__all__ = ["DATASETS", "build_dataset", "check_root", "BadImageWarning", "DatasetSetupError", "bad_file_summary"]


def check_root(kind: str, root, split: str, **options) -> None:
    """A cheap check that ``root`` has dataset ``kind``'s expected folders for ``split`` (no file listing), before a
    model is built; raises the :class:`DatasetSetupError` (naming the expected layout) or ValueError (a bad
    ``dataset_options`` choice) that building the dataset would."""
    if kind not in DATASETS:
        raise ValueError(f"unknown dataset {kind!r}; choose from {sorted(DATASETS)}")
    check = getattr(DATASETS[kind], "check_root", None)
    if check is not None:  # the built-in sample photos have no root
        check(root, split, **options)


def build_dataset(kind: str, split: str, **options) -> Dataset:
    """Build dataset ``kind`` for ``split``; ``options`` are the dataset's constructor arguments."""
    if kind not in DATASETS:
        raise ValueError(f"unknown dataset {kind!r}; choose from {sorted(DATASETS)}")
    return DATASETS[kind](split=split, **options)
