"""ADE20K for AIM 2020 (aim2020.md §3): full ``ADE20K_2016_07_26`` release or SceneParsing ``ADEChallengeData2016``.

Layouts (``layout="auto"`` finds either under ``root``, or ``root`` may be the layout folder itself):

- ``full``: ``ADE20K_2016_07_26/images/{training,validation}/<letter>/<scene>/ADE_*_XXXXXXXX.jpg`` with
  ``..._seg.png`` beside each image (RGB class encoding, see :mod:`ade20k_labels`). This is the AIM 2020 source.
- ``sceneparsing``: ``ADEChallengeData2016/images/{training,validation}/ADE_*.jpg`` with
  ``ADEChallengeData2016/annotations/{training,validation}/ADE_*.png`` (ADE150 indices). Images are down-scaled
  (short side ≤ 512), so this is a stand-in, not the challenge data.

Splits:

- ``train``: ADE training images restricted to the official AIM 2020 list (``subset="aim2020"``, default): the
  10,330 names of ``new_image_names.txt``, loaded (never re-derived, aim2020.md §3.2 caveat) from ``aim_list=PATH``
  or fetched once and cached (:mod:`remote_lists`). ``subset="all"``: every training image.
- ``val`` / ``test`` (the project's substitute for the unpublished AIM sets, aim2020.md §3.4): the ADE validation
  images, optionally filtered (``eval_filter=True``: ≥ 90 % of pixels in the 51 classes, which needs the label
  maps), then split 50/50 into val and test by a seeded permutation (``eval_split_seed``).

``semantic=True`` adds ``seg`` (Track 2): the label map mapped to 51 classes + other, cropped/flipped/rotated
together with the image. The full layout needs ``mapFromADE.txt`` (``ade_map=PATH`` or fetched and cached).
With ``seg_encoding="ade_rgb"`` (full layout only) the item carries the ``*_seg.png``'s raw RGB instead
(``seg_rgb``, B = instance ids included), resampled like the image: the input of the official DeepGIN Track-2
weights (``rlct1/gin-sg``); no ``mapFromADE.txt`` is needed for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from datamodules.datasets.ade20k_labels import AIM_CLASS_INDICES, SegDecoder, parse_map_from_ade
from datamodules.datasets.common import BadImageWarning, DatasetSetupError, ImageFileDataset, list_images
from datamodules.datasets.remote_lists import cache_dir, read_int_list, read_name_list, resolve_list_file
from datamodules.image_io import ImageReadError, read_rgb

FULL_LAYOUT = ("ROOT/ADE20K_2016_07_26/images/{training,validation}/<letter>/<scene>/ADE_*.jpg with *_seg.png "
               "beside each image")
SCENEPARSING_LAYOUT = ("ROOT/ADEChallengeData2016/images/{training,validation}/ADE_*.jpg and "
                       "ROOT/ADEChallengeData2016/annotations/{training,validation}/ADE_*.png")
EVAL_FILTER_MIN_FRACTION = 0.9  # aim2020.md §3.2: ≥ 90 % of the pixels in the 51 classes


def read_seg_colours(path: os.PathLike) -> np.ndarray:
    """``(H, W, 3)`` uint8: an ADE20K full-release ``*_seg.png`` as stored (no EXIF rotation), as RGB, like the
    official ``Image.open(path).convert('RGB')`` of ``rlct1/gin-sg``; raises :class:`ImageReadError`."""
    return read_rgb(path, exif_transpose=False)


def find_layout(root: Path, layout: str = "auto") -> tuple[str, Path]:
    """``(layout, base)`` where ``base/images/{training,validation}`` holds the images.

    ``root`` may contain ``ADE20K_2016_07_26/`` or ``ADEChallengeData2016/``, or be one of them (a folder with
    ``images/`` and ``annotations/`` is SceneParsing, one with ``images/`` only is the full release), or be the
    full release's ``images/`` folder.
    """
    if layout not in ("auto", "full", "sceneparsing"):
        raise ValueError(f"ade20k layout must be auto, full or sceneparsing, got {layout!r}")
    found: list[tuple[str, Path]] = []
    if (root / "ADE20K_2016_07_26" / "images").is_dir():
        found.append(("full", root / "ADE20K_2016_07_26"))
    if (root / "ADEChallengeData2016" / "images").is_dir():
        found.append(("sceneparsing", root / "ADEChallengeData2016"))
    if (root / "images").is_dir():
        found.append(("sceneparsing" if (root / "annotations").is_dir() else "full", root))
    if root.name == "images" and ((root / "training").is_dir() or (root / "validation").is_dir()):
        found.append(("full", root.parent))
    for name, base in found:
        if layout in ("auto", name):
            return name, base
    raise DatasetSetupError(f"ade20k: no {'' if layout == 'auto' else layout + ' '}ADE20K layout under {root}; "
                            f"expected either\n  full: {FULL_LAYOUT}\n  sceneparsing: {SCENEPARSING_LAYOUT}")



def _checked_root(root, subset: str) -> Path:
    """The data root as a Path, refusing a missing root or an unknown subset (naming the expected layouts)."""
    if root is None:
        raise DatasetSetupError(f"ade20k: data_root is not set; expected {FULL_LAYOUT} (or {SCENEPARSING_LAYOUT})")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetSetupError(f"ade20k: data_root {root} is not a folder; expected {FULL_LAYOUT}")
    if subset not in ("aim2020", "all"):
        raise ValueError(f"ade20k subset must be aim2020 or all, got {subset!r}")
    return root

class ADE20KDataset(ImageFileDataset):
    """ADE20K images (+ optional Track-2 semantic maps) for AIM 2020; see the module docstring.

    Args (besides :class:`ImageFileDataset`'s):
        layout: ``auto``, ``full`` or ``sceneparsing``.
        subset: ``aim2020`` (official training list) or ``all`` (train split only).
        aim_list: path of ``new_image_names.txt`` (no download); default: cache / download.
        ade_map: path of ``mapFromADE.txt`` (full layout, semantic maps); default: cache / download.
        class_indices: path of ``new_class_indices.txt`` to use instead of the spec's 51 indices.
        eval_filter: val/test keep only images with ≥ 90 % of pixels in the 51 classes (reads every label map).
        eval_split_seed: seed of the 50/50 val/test split of the validation images.
    """

    kind = "ade20k"
    flat_names = True  # ADE file stems are unique: ADE_train_00000976

    @classmethod
    def check_root(cls, root, split: str, layout: str = "auto", subset: str = "aim2020", **options) -> None:
        name, base = find_layout(_checked_root(root, subset), layout)
        image_dir = base / "images" / ("training" if split == "train" else "validation")
        if not image_dir.is_dir():
            raise DatasetSetupError(f"ade20k: no folder {image_dir}; expected layout: "
                                    f"{FULL_LAYOUT if name == 'full' else SCENEPARSING_LAYOUT}")

    def __init__(self, split: str = "train", root: str | None = None, image_size: int = 256,
                 crop: str = "random_crop", semantic: bool = False, layout: str = "auto", subset: str = "aim2020",
                 aim_list: str | None = None, ade_map: str | None = None, class_indices: str | None = None,
                 eval_filter: bool = False, eval_split_seed: int = 0, **options) -> None:
        root = _checked_root(root, subset)
        self.layout_name, base = find_layout(root, layout)
        layout_text = FULL_LAYOUT if self.layout_name == "full" else SCENEPARSING_LAYOUT
        part = "training" if split == "train" else "validation"
        image_dir = base / "images" / part
        files = [Path(f) for f in list_images(image_dir) if f.lower().endswith((".jpg", ".jpeg"))]
        if not files:
            raise DatasetSetupError(f"ade20k: no images in {image_dir}; expected layout: {layout_text}")
        indices = tuple(read_int_list(class_indices)) if class_indices else AIM_CLASS_INDICES
        if len(indices) != 51:
            raise ValueError(f"ade20k: {class_indices} lists {len(indices)} classes, the challenge has 51")
        self._aim_list, self._ade_map, self._indices = aim_list, ade_map, indices
        seg_files = [self._seg_path(base, f, part) for f in files]
        seg_encoding = options.get("seg_encoding", "labels")
        if semantic and seg_encoding == "ade_rgb" and self.layout_name != "full":
            raise DatasetSetupError(f"ade20k: seg_encoding ade_rgb needs the raw *_seg.png colour maps of the full "
                                    f"release ({FULL_LAYOUT}); {base} is the SceneParsing layout (ADE150 indices)")
        needs_labels = (semantic and seg_encoding != "ade_rgb") or (split != "train" and eval_filter)
        decoder = self._decoder() if needs_labels else None
        reader = read_seg_colours if semantic and seg_encoding == "ade_rgb" else decoder

        if split == "train" and subset == "aim2020":
            files, seg_files = self._restrict_to_aim_list(files, seg_files, image_dir)
        elif split != "train":
            files, seg_files = self._eval_part(files, seg_files, split, eval_filter, eval_split_seed, decoder)
        super().__init__(files, split=split, root=image_dir, layout=layout_text, image_size=image_size, crop=crop,
                         semantic=semantic, seg_files=seg_files, seg_decoder=reader, **options)

    # ------------------------------------------------------------------------------------------------ pieces
    def _seg_path(self, base: Path, image: Path, part: str) -> Path:
        if self.layout_name == "full":
            return image.with_name(image.stem + "_seg.png")
        return base / "annotations" / part / (image.stem + ".png")

    def _decoder(self) -> SegDecoder:
        if self.layout_name == "sceneparsing":
            return SegDecoder("ade150", class_indices=self._indices)
        map_file = resolve_list_file("mapFromADE.txt", self._ade_map, option="ade_map")
        return SegDecoder("ade_full_rgb", parse_map_from_ade(map_file), self._indices)

    def _restrict_to_aim_list(self, files: list[Path], seg_files: list[Path], image_dir: Path):
        list_file = resolve_list_file("new_image_names.txt", self._aim_list, option="aim_list")
        wanted = read_name_list(list_file)
        by_name = {f.name: i for i, f in enumerate(files)}
        keep = [by_name[name] for name in wanted if name in by_name]
        missing = len(wanted) - len(keep)
        if not keep:
            raise DatasetSetupError(f"ade20k: none of the {len(wanted)} names of the AIM list {list_file} is under "
                                    f"{image_dir}")
        if missing:
            warnings.warn(f"ade20k: {missing} of the {len(wanted)} AIM 2020 training images are missing under "
                          f"{image_dir}; training on the {len(keep)} present", stacklevel=3)
        self.aim_list_file, self.aim_list_missing = str(list_file), missing
        return [files[i] for i in keep], [seg_files[i] for i in keep]

    def _class_fractions(self, files: list[Path], seg_files: list[Path], decoder: SegDecoder) -> dict[str, float]:
        """Share of each image's pixels in the 51 classes, cached as JSON (decoding 2,000 label maps takes minutes).

        The cache key covers the image folder, the layout and the class list, so a different map or list recomputes.
        """
        key = hashlib.sha1(f"{files[0].parent.parent.resolve()}|{self.layout_name}|{self._indices}|"
                           f"{decoder.lut.tobytes().hex()}".encode()).hexdigest()[:16]
        cache = cache_dir() / f"ade20k_class_fraction_{key}.json"
        fractions: dict[str, float] = {}
        if cache.is_file():
            try:
                fractions = json.loads(cache.read_text())
            except (OSError, ValueError):
                fractions = {}
        missing = [(f, s) for f, s in zip(files, seg_files) if f.name not in fractions]
        for image, seg in missing:
            try:
                fractions[image.name] = float((decoder(seg) > 0).mean())
            except ImageReadError as error:
                warnings.warn(f"ade20k: label map {seg} unreadable ({error.reason}); image left out of val/test",
                              BadImageWarning, stacklevel=4)
                fractions[image.name] = -1.0
        if missing:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps(fractions))
                os.replace(tmp, cache)
            except OSError as error:  # a read-only home must not stop evaluation
                warnings.warn(f"ade20k: could not write the filter cache {cache}: {error}", stacklevel=4)
        return fractions

    def _eval_part(self, files, seg_files, split, eval_filter, seed, decoder):
        if eval_filter:
            fractions = self._class_fractions(files, seg_files, decoder)
            kept = [i for i, f in enumerate(files) if fractions[f.name] >= EVAL_FILTER_MIN_FRACTION]
            files, seg_files = [files[i] for i in kept], [seg_files[i] for i in kept]
        order = np.random.default_rng(seed).permutation(len(files))
        half = (len(files) + 1) // 2
        chosen = np.sort(order[:half] if split == "val" else order[half:])
        if len(chosen) == 0:  # a single validation image: val and test share it
            chosen = np.arange(len(files))
        return [files[i] for i in chosen], [seg_files[i] for i in chosen]

