"""``InpaintDataModule``: one DataModule for every dataset; masks are synthesised on the batch's device.

The CPU side (workers) decodes, crops and flips images; it never makes masks (with ``mask_dir`` it only reads the
drawn mask file). After the batch reaches its device, :meth:`InpaintDataModule.on_after_batch_transfer` draws the
masks there (or augments the mask files there with Kornia), vectorised over the batch, from a seeded
generator: a mask depends only on (seed, dataset index, epoch for training), never on the device or the batch
composition. Evaluation masks use a fixed seed, so every model of a sweep is tested on the same masks.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from datamodules.collate import collate_inpainting
from datamodules.datasets import bad_file_summary, build_dataset
from datamodules.datasets.ade20k_labels import NUM_AIM_CLASSES
from datamodules.datasets.common import SEG_ENCODINGS
from datamodules.datasets.mask_files import WithMaskFiles, augment_masks, augmentation_params
from datamodules.masks import build_mask_generator
from datamodules.masks.manifest import MANIFEST, content_hash

# Seeds of evaluation masks are offset from the training seed so val/test never reuse a training mask.
EVAL_SEED_OFFSET = 1_000_003


class InpaintDataModule(L.LightningDataModule):
    """Images from ``dataset`` plus on-device masks from ``masks``.

    Args:
        dataset: dataset kind (``sample``, ``folder``, ``ade20k``, ``places2``, ``celebahq``, ``paris``).
        data_root: its root folder (unused by ``sample``).
        image_size: square crop size S (training, validation and, unless ``test_image_size`` is set, test).
        crop: crop/resize policy (see ``datamodules.transforms``); ``None`` = the dataset's default.
        batch_size, eval_batch_size, num_workers: loader settings (``eval_batch_size`` defaults to ``batch_size``).
        persistent_workers: keep DataLoader workers between epochs (default). ``False`` restarts them every epoch,
            so they re-seed from the run's generator each epoch and a resume from an end-of-epoch checkpoint repeats
            the uninterrupted run bit for bit also with workers (persistent ones draw their seed once per run).
        masks: training mask generator spec: a registered name or ``{"name": ..., **params}`` (mixtures too).
        eval_masks: generator spec for val/test masks (default: ``masks``), or ``None`` when ``eval_mask_dir`` is set.
        eval_mask_dir: a folder of fixed mask PNGs (``inpaint-suite masks export``) used for val/test instead.
        mask_dir: a folder of mask files for *training* (e.g. NVIDIA irregular masks) instead of synthesis.
        mask_seed: seed of every synthesised mask.
        semantic: also load Track-2 semantic maps (``seg``).
        seg_encoding: with ``semantic``, what ``seg`` holds: ``labels`` (default: the 51 AIM classes + other,
            one-hot ``(B, 52, H, W)`` float on the device) or ``ade_rgb`` (the raw ADE20K ``*_seg.png`` colours,
            resampled like the image, delivered as ``(B, 3, H, W)`` float colours / 255; instance ids in B included):
            the input of the official DeepGIN Track-2 weights (``model.init_args.semantic_channels: 3``). ``ade20k``
            full layout only. The CLI links this option to the model's ``seg_encoding``.
        train_length, val_length, test_length: cap (or, for ``sample``, set) the number of items per split.
        dataset_options: extra keyword arguments of the dataset class (e.g. list files, split names).
        masks_per_image: training only: a list of generator specs; every image is repeated once per spec, each copy
            masked by its own generator, copies of one image adjacent (DeepGIN/AIM: ``[aim_box,
            aim_cellular_automata, aim_free_form]`` turns 4 images into 12 samples ordered box, CA, free-form).
        mask_file_options: extra keyword arguments of ``WithMaskFiles`` for ``mask_dir`` / ``eval_mask_dir``
            (``augment``: ``aotgan`` | ``madf`` | ``none``; ``polarity``: ``auto`` | ``white_hole`` | ``black_hole``;
            ``pattern``: a file-name glob; ``pairing``: ``auto`` | ``stratified`` | ``cyclic``, how val/test items
            get their file from ``eval_mask_dir``: stratified by hole-ratio bucket and seeded by ``mask_seed``, or
            item ``i`` -> file ``i mod N``; see ``datamodules.datasets.mask_files``).
        test_image_size: the side S of the test and predict splits (default: ``image_size``), for a paper that tests
            at another size than it trains and validates (DeepGIN Table 1: 1024-px CelebA-HQ for its 16 polyphase
            tiles of 256, validation at 256 in the same run). Ignored with ``dataset_options.eval_crop: none``
            (native size).
    """

    def __init__(
        self,
        dataset: str = "sample",
        data_root: str | None = None,
        image_size: int = 256,
        crop: str | None = None,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        persistent_workers: bool = True,
        masks: str | dict = "aim_free_form",
        eval_masks: str | dict | None = None,
        eval_mask_dir: str | None = None,
        mask_dir: str | None = None,
        mask_seed: int = 0,
        semantic: bool = False,
        seg_encoding: str = "labels",
        train_length: int | None = None,
        val_length: int | None = None,
        test_length: int | None = None,
        dataset_options: dict[str, Any] | None = None,
        mask_file_options: dict[str, Any] | None = None,
        masks_per_image: list[str | dict] | None = None,
        test_image_size: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.dataset, self.data_root, self.image_size, self.crop = dataset, data_root, image_size, crop
        if test_image_size is not None and (isinstance(test_image_size, bool) or not isinstance(test_image_size, int)
                                            or test_image_size < 1):
            raise ValueError(f"data.test_image_size must be an integer >= 1 (or null = data.image_size), "
                             f"got {test_image_size!r}")
        self.test_image_size = test_image_size or image_size
        self.batch_size, self.num_workers, self.persistent_workers = batch_size, num_workers, persistent_workers
        self.eval_batch_size = eval_batch_size or batch_size
        self.mask_spec, self.eval_mask_spec = masks, eval_masks if eval_masks is not None else masks
        self.eval_mask_dir, self.mask_dir, self.mask_seed = eval_mask_dir, mask_dir, mask_seed

        if seg_encoding not in SEG_ENCODINGS:
            raise ValueError(f"data.seg_encoding must be one of {SEG_ENCODINGS}, got {seg_encoding!r}")
        if seg_encoding == "ade_rgb" and not semantic:
            raise ValueError("data.seg_encoding: ade_rgb describes the semantic map: it needs data.semantic: true")
        if seg_encoding == "ade_rgb" and dataset == "sample":
            raise ValueError("data.seg_encoding: ade_rgb needs the raw ADE20K *_seg.png colour maps (data.dataset: "
                             "ade20k, full layout); the sample dataset has stand-in labels only")
        self.semantic, self.seg_encoding = semantic, seg_encoding
        self.lengths = {"train": train_length, "val": val_length, "test": test_length, "predict": test_length}
        self.dataset_options = dict(dataset_options or {})
        self.mask_file_options = dict(mask_file_options or {})

        # Built eagerly so a bad spec fails at start-up, before any model is trained.
        self.train_masks = build_mask_generator(masks)
        self.eval_masks = build_mask_generator(self.eval_mask_spec)
        if masks_per_image and mask_dir:
            raise ValueError("masks_per_image synthesises the training masks; it cannot be combined with mask_dir")
        self.per_image_masks = [build_mask_generator(spec) for spec in masks_per_image or []]
        self.mask_file_augment = self.mask_file_options.get("augment", "aotgan")
        self._datasets: dict[str, Dataset] = {}

    # ------------------------------------------------------------------------------------------ datasets
    def size_for(self, split: str) -> int:
        """The crop side S of ``split``: ``test_image_size`` for test and predict, else ``image_size``."""
        return self.test_image_size if split in ("test", "predict") else self.image_size

    def _options(self, split: str) -> dict[str, Any]:
        options = {"image_size": self.size_for(split), **self.dataset_options}
        if self.dataset == "sample":
            options.pop("other_channel", None)  # read by the on-device one-hot expansion, not by the dataset
            if self.semantic:
                options["semantic"] = True
        else:
            options["root"] = self.data_root
            options["semantic"] = self.semantic
            if self.semantic:
                options["seg_encoding"] = self.seg_encoding
            if self.crop is not None:
                options["crop"] = self.crop
        if self.lengths[split] is not None:
            options["length"] = self.lengths[split]
        return options

    def _make(self, split: str) -> Dataset:
        if split not in self._datasets:
            dataset = build_dataset(self.dataset, split, **self._options(split))
            if split == "train" and self.mask_dir:
                dataset = WithMaskFiles(dataset, self.mask_dir, self.image_size, seed=self.mask_seed,
                                        **self.mask_file_options)
                self.mask_file_augment = dataset.augment
            elif split != "train" and self.eval_mask_dir:
                options = {k: v for k, v in self.mask_file_options.items() if k != "augment"}
                dataset = WithMaskFiles(dataset, self.eval_mask_dir, self.size_for(split), seed=self.mask_seed,
                                        fixed=True, **options)
            self._datasets[split] = dataset
        return self._datasets[split]

    # the splits each stage builds (read by the CLI's checks too, to look at the folders the stage will read)
    STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("predict",)}

    def setup(self, stage: str | None = None) -> None:
        for split in self.STAGE_SPLITS.get(stage, ("train", "val", "test")):
            self._make(split)

    def bad_file_summary(self) -> dict[str, dict]:
        """``{split: {"count": int, "files": [str]}}`` of unreadable images met so far (all workers together)."""
        return {split: bad_file_summary(dataset) for split, dataset in self._datasets.items()}

    def teardown(self, stage: str | None = None) -> None:
        """Print the unreadable-file summary of the run (each file was already named once when it was met)."""
        for split, summary in self.bad_file_summary().items():
            if summary["count"]:
                logging.getLogger(__name__).warning(
                    "%s: %d unreadable image(s) skipped: %s", split, summary["count"], ", ".join(summary["files"][:20])
                    + (" ..." if summary["count"] > 20 else ""))

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(self._make(split), batch_size=self.batch_size if split == "train" else self.eval_batch_size,
                          shuffle=shuffle, num_workers=self.num_workers, drop_last=split == "train",
                          persistent_workers=self.num_workers > 0 and self.persistent_workers,
                          pin_memory=torch.cuda.is_available(),
                          collate_fn=collate_inpainting)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", shuffle=False)

    def evaluation_settings(self) -> dict[str, Any]:
        """What the test split is, for the evaluation report: dataset, size, and the mask set with its hash."""
        native = self.dataset != "sample" and (self.dataset_options.get("eval_crop") or self.crop) == "none"
        settings: dict[str, Any] = {"dataset": self.dataset, "data_root": self.data_root, "split": "test",
                                    "crop": self.crop, "image_size": "native" if native else self.test_image_size}
        if self.eval_mask_dir:
            manifest = Path(self.eval_mask_dir) / MANIFEST
            stated = json.loads(manifest.read_text()).get("content_sha256") if manifest.is_file() else None
            settings["mask_set"] = str(self.eval_mask_dir)
            settings["mask_set_hash"] = stated or content_hash(self.eval_mask_dir)
            if self.mask_file_options.get("bucket"):
                settings["mask_bucket"] = self.mask_file_options["bucket"]
            pairing = getattr(self._datasets.get("test"), "pairing", None)
            if pairing:
                settings["mask_pairing"] = f"{pairing}, seed {self.mask_seed}" if pairing == "stratified" else pairing
        else:
            settings["mask_set"] = f"synthesised on the fly: {self.eval_mask_spec!r}, seed {self.mask_seed_for(False)}"
        return settings

    # ------------------------------------------------------------------------------------------ masks on device
    def mask_seed_for(self, training: bool) -> int:
        """Training masks change every epoch; evaluation masks never do."""
        if not training:
            return self.mask_seed + EVAL_SEED_OFFSET
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        return self.mask_seed + 7919 * epoch

    def augment_mask_files(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Raw training mask files ``mask_file`` (``(B, 1, h, w)`` uint8, or a list of ``(1, h, w)`` when the files'
        sizes differ) → ``mask`` ``(B, 1, H, W)`` in the image dtype, augmented on the batch's device with Kornia
        (``mask_file_options.augment``), flip and angle seeded per (mask seed, epoch, index) like generated masks."""
        files, image = batch.pop("mask_file"), batch["image"]
        hw = tuple(image.shape[-2:])
        flip, angle = augmentation_params(self.mask_file_augment, batch["index"].tolist(), self.mask_seed_for(True))
        if isinstance(files, torch.Tensor):
            batch["mask"] = augment_masks(files, hw, self.mask_file_augment, flip, angle).to(image.dtype)
        else:  # files of different sizes: one call per size
            mask = image.new_zeros(image.shape[0], 1, *hw)
            sizes = [tuple(f.shape) for f in files]
            for size in dict.fromkeys(sizes):
                rows = [i for i, s in enumerate(sizes) if s == size]
                group = torch.stack([files[i] for i in rows]).to(image.device)
                mask[rows] = augment_masks(group, hw, self.mask_file_augment, flip[rows], angle[rows]).to(image.dtype)
            batch["mask"] = mask
        return batch

    def add_masks(self, batch: dict[str, Any], training: bool) -> dict[str, Any]:
        """Add ``mask`` ``(B, 1, H, W)`` (1 = hole) and ``mask_type`` to ``batch`` on its device (if absent)."""
        if "mask_file" in batch:
            self.augment_mask_files(batch)
        if "mask" in batch:
            batch.setdefault("mask_type", ["file"] * batch["image"].shape[0])
            return batch
        if training and self.per_image_masks:
            return self._add_masks_per_image(batch)
        image = batch["image"]
        generator = self.train_masks if training else self.eval_masks
        seed = self.mask_seed_for(training)
        batch["mask"] = generator(batch["index"], image.shape[-2], image.shape[-1], device=image.device,
                                  seed=seed).to(image.dtype)
        types = getattr(generator, "last_types", None)
        batch["mask_type"] = list(types) if types is not None else [generator.name] * image.shape[0]
        return batch

    def _add_masks_per_image(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Repeat each image once per generator of ``masks_per_image`` (copies adjacent), one mask type per copy."""
        k, image = len(self.per_image_masks), batch["image"]
        b, (h, w), seed = image.shape[0], image.shape[-2:], self.mask_seed_for(True)
        masks, types = [], []
        for generator in self.per_image_masks:
            masks.append(generator(batch["index"], h, w, device=image.device, seed=seed).to(image.dtype))
            last = getattr(generator, "last_types", None)
            types.append(list(last) if last is not None else [generator.name] * b)
        out = {key: value.repeat_interleave(k, 0) if isinstance(value, torch.Tensor) and value.shape[:1] == (b,)
               else value for key, value in batch.items()}
        out["name"] = [name for name in batch["name"] for _ in range(k)]
        out["mask"] = torch.stack(masks, 1).reshape(b * k, 1, h, w)
        out["mask_type"] = [types[j][i] for i in range(b) for j in range(k)]
        return out

    def add_semantic_channels(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Decode the Track-2 map on the batch's device into ``seg``, float in the image's dtype, as the model reads
        it (``data.seg_encoding``, the one option for it; the CLI passes it on to the model):

        - ``labels``: ``seg_labels`` ``(B, H, W)`` uint8 -> ``(B, 52, H, W)`` one-hot (51 channels, "other" dropped,
          with ``dataset_options.other_channel: false``);
        - ``ade_rgb``: ``seg_rgb`` ``(B, 3, H, W)`` uint8 raw colours -> ``seg_rgb / 255`` in [0, 1], the official
          DeepGIN Track-2 ``ToTensor`` (:func:`seg_from_colours`)."""
        if "seg_rgb" in batch and "seg" not in batch:
            batch["seg"] = seg_from_colours(batch.pop("seg_rgb"), batch["image"].dtype)
        if "seg_labels" in batch and "seg" not in batch:
            labels = batch.pop("seg_labels").long()
            seg = torch.nn.functional.one_hot(labels, NUM_AIM_CLASSES + 1).permute(0, 3, 1, 2)
            if not self.dataset_options.get("other_channel", True):
                seg = seg[:, 1:]
            batch["seg"] = seg.to(batch["image"].dtype).contiguous()
        return batch

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        training = self.trainer is not None and self.trainer.training
        return self.add_masks(self.add_semantic_channels(batch), training)


def seg_from_colours(rgb: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """ADE20K ``*_seg.png`` colours ``(B, 3, H, W)`` uint8 -> ``(B, 3, H, W)`` ``dtype`` in [0, 1] (``rgb / 255``, the
    official DeepGIN Track-2 ``ToTensor``): ``data.seg_encoding: ade_rgb`` and ``predict --seg`` for such a model."""
    return rgb.to(dtype) / 255
