"""Datasets of the shared DataModule: layouts, splits, bad files, AIM 2020 list and Track-2 semantic maps."""

from __future__ import annotations

import os
import urllib.request
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from datamodules.collate import collate_inpainting
from datamodules.datasets import DATASETS, BadImageWarning, DatasetSetupError, bad_file_summary, build_dataset
from datamodules.datasets.ade20k_labels import (
    AIM_CLASS_INDICES,
    SegDecoder,
    decode_full_ids,
    one_hot,
    parse_map_from_ade,
)
from datamodules.datasets.remote_lists import read_int_list, read_name_list, resolve_list_file
from datamodules.image_io import read_rgb


def _load_awkward_builder():
    """``make_awkward_files`` from the sibling ``test_image_io.py`` (tests/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_image_io_cases", Path(__file__).with_name("test_image_io.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_awkward_files


make_awkward_files = _load_awkward_builder()

# A few real lines of CSAILVision/sceneparsing convertFromADE/mapFromADE.txt (ADE150 index, full-ADE id), covering
# the classes of the fixture images; 1788 ("path", not a 150 class) is deliberately absent, as in the real file.
MAP_FROM_ADE_LINES = "1\t2978\t\n2\t312\t   \n3\t2420\n5\t2855\n10\t1125\n14\t838\n15\t774\n15\t783\n22 \t2994\n" \
                     "33      907\t   \n35      2138\t   \n"


def _save_photos(folder: Path, count: int, size=(40, 52), start: int = 0, ext: str = "png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    paths = []
    for i in range(start, start + count):
        path = folder / f"{i}.{ext}"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return ((image.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)


# ---------------------------------------------------------------------------------------------- folder + bad files
def test_registry_has_every_kind():
    assert {"sample", "folder", "ade20k", "places2", "celebahq", "paris"} <= set(DATASETS)
    with pytest.raises(ValueError, match="unknown dataset"):
        build_dataset("imagenet", "train")


def test_folder_with_awkward_files_trains_to_the_end(tmp_path, monkeypatch):
    files = make_awkward_files(tmp_path / "photos")
    if os.geteuid() == 0:
        # root ignores file modes: simulate the permission failure at open() for that one path.
        import builtins

        denied, real_open = str(files["bad_permission"]), builtins.open

        def guarded_open(file, *args, **kwargs):
            if str(file) == denied:
                raise PermissionError(13, "Permission denied (simulated: tests run as root)", denied)
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded_open)
    bad = sorted(str(p) for k, p in files.items() if k.startswith("bad_"))
    dataset = build_dataset("folder", "train", root=str(tmp_path / "photos"), image_size=32, crop="random_crop")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [dataset[i] for i in range(len(dataset))] + [dataset[i] for i in range(len(dataset))]  # 2 epochs
    assert len(items) == 2 * len(files)
    for item in items:
        assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
        assert -1 <= float(item["image"].min()) and float(item["image"].max()) <= 1
    assert sorted(dataset.bad_files()) == bad and dataset.bad_file_count() == len(bad)
    named = [str(w.message) for w in caught if issubclass(w.category, BadImageWarning)]
    for path in bad:  # each bad file named exactly once over both epochs
        assert sum(path in message for message in named) == 1, path
    assert bad_file_summary(dataset)["count"] == len(bad)
    # Requested indices are kept (masks are seeded by index); names say which file was actually served.
    assert [it["index"] for it in items[: len(files)]] == list(range(len(files)))


def test_bad_file_record_is_shared_with_dataloader_workers(tmp_path):
    folder = tmp_path / "photos"
    _save_photos(folder, 6)
    (folder / "3.png").write_bytes(b"")
    (folder / "5.png").write_bytes(b"garbage")
    dataset = build_dataset("folder", "train", root=str(folder), image_size=16)
    loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=collate_inpainting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batches = list(loader)
    assert sum(b["image"].shape[0] for b in batches) == 6
    assert sorted(Path(p).name for p in dataset.bad_files()) == ["3.png", "5.png"]


def test_empty_or_unreadable_folder_fails_at_setup_naming_root_and_layout(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetSetupError, match="empty.*expected layout"):
        build_dataset("folder", "train", root=str(tmp_path / "empty"))
    junk = tmp_path / "junk"
    junk.mkdir()
    for i in range(3):
        (junk / f"{i}.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetSetupError, match="junk.*expected layout"):
        build_dataset("folder", "train", root=str(junk))
    with pytest.raises(DatasetSetupError, match="not a folder"):
        build_dataset("folder", "train", root=str(tmp_path / "missing"))


def test_folder_splits_and_eval_determinism(tmp_path):
    _save_photos(tmp_path / "train", 4, size=(70, 90))
    _save_photos(tmp_path / "val", 3, size=(70, 90), start=10)
    train = build_dataset("folder", "train", root=str(tmp_path), image_size=32)
    val = build_dataset("folder", "val", root=str(tmp_path), image_size=32)
    assert len(train) == 4 and len(val) == 3
    assert torch.equal(val[1]["image"], val[1]["image"])
    assert val[1]["name"] == "11"
    with pytest.raises(DatasetSetupError, match="no test/"):
        build_dataset("folder", "test", root=str(tmp_path), image_size=32)
    capped = build_dataset("folder", "train", root=str(tmp_path), image_size=32, length=2)
    assert len(capped) == 2


def _two_epochs(dataset, workers: int, seed: int) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    loader = DataLoader(dataset, batch_size=2, shuffle=False, num_workers=workers, collate_fn=collate_inpainting)
    return [batch["image"] for _ in range(2) for batch in loader]


@pytest.mark.parametrize("kind", ["folder", "sample"])
@pytest.mark.parametrize("workers", [0, 2])
def test_training_crops_change_every_epoch_and_repeat_under_a_seed(tmp_path, kind, workers):
    if kind == "folder":
        _save_photos(tmp_path / "train", 4, size=(70, 90))
        dataset = build_dataset("folder", "train", root=str(tmp_path), image_size=32)
    else:
        dataset = build_dataset("sample", "train", image_size=32, length=4)
    first, again, other = (_two_epochs(dataset, workers, seed) for seed in (0, 0, 1))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))  # same seed, same crops
    epoch0, epoch1 = torch.cat(first[:2]), torch.cat(first[2:])
    assert not torch.equal(epoch0, epoch1)  # a new crop each epoch
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))  # another seed, other crops


# ---------------------------------------------------------------------------------------------- other layouts
def test_places2_layout_and_lists(tmp_path):
    root = tmp_path / "places"
    _save_photos(root / "data_large" / "a" / "abbey", 3, ext="jpg")
    _save_photos(root / "data_large" / "b" / "bakery" / "shop", 2, start=3, ext="jpg")
    val = root / "val_large"
    val.mkdir(parents=True)
    for i in range(5):
        Image.fromarray(np.full((40, 40, 3), 10 * i, np.uint8)).save(val / f"Places365_val_{i + 1:08d}.jpg")
    train = build_dataset("places2", "train", root=str(root), image_size=16)
    assert len(train) == 5 and "a_abbey_0" in train.names and "b_bakery_shop_3" in train.names
    (root / "places365_train_standard.txt").write_text("/a/abbey/0.jpg 0\n/b/bakery/shop/4.jpg 1\n")
    assert len(build_dataset("places2", "train", root=str(root), image_size=16)) == 2
    assert len(build_dataset("places2", "val", root=str(root), image_size=16)) == 5
    subset = build_dataset("places2", "test", root=str(root), image_size=16, test_count=3)
    again = build_dataset("places2", "test", root=str(root), image_size=16, test_count=3)
    assert len(subset) == 3 and subset.names == again.names
    with pytest.raises(DatasetSetupError, match="val_large"):
        build_dataset("places2", "val", root=str(root / "data_large"), image_size=16)


def test_celebahq_splits(tmp_path):
    folder = tmp_path / "celeba"
    _save_photos(folder, 30, size=(24, 24))
    train = build_dataset("celebahq", "train", root=str(folder), image_size=16)
    test = build_dataset("celebahq", "test", root=str(folder), image_size=16)
    assert len(train) == 28 and test.names == ["28", "29"]  # 28k/2k by number, numeric (not string) order
    t27 = build_dataset("celebahq", "train", root=str(folder), image_size=16, split_mode="27k_3k")
    v27 = build_dataset("celebahq", "val", root=str(folder), image_size=16, split_mode="27k_3k")
    assert len(t27) == 27 and len(v27) == 3 and not set(t27.names) & set(v27.names)
    assert v27.names != ["27", "28", "29"]  # random, seeded
    other_seed = build_dataset("celebahq", "val", root=str(folder), image_size=16, split_mode="27k_3k", split_seed=5)
    assert other_seed.names != v27.names
    (tmp_path / "train.txt").write_text("1.png\n2.png\n")
    assert build_dataset("celebahq", "train", root=str(folder), image_size=16,
                         train_list=str(tmp_path / "train.txt")).names == ["1", "2"]


def test_paris_layout(tmp_path):
    _save_photos(tmp_path / "paris_train_original", 3)
    _save_photos(tmp_path / "paris_eval_gt", 2, start=100)
    assert len(build_dataset("paris", "train", root=str(tmp_path), image_size=16)) == 3
    assert len(build_dataset("paris", "test", root=str(tmp_path), image_size=16)) == 2
    with pytest.raises(DatasetSetupError, match="paris_train_original"):
        build_dataset("paris", "train", root=str(tmp_path / "paris_eval_gt"), image_size=16)


def test_semantic_is_refused_for_datasets_without_maps(tmp_path):
    _save_photos(tmp_path, 2)
    with pytest.raises(DatasetSetupError, match="semantic"):
        build_dataset("folder", "train", root=str(tmp_path), semantic=True)


# ---------------------------------------------------------------------------------------------- remote lists
def test_list_resolution_override_cache_and_offline_error(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("INPAINT_SUITE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="aim_list=PATH"):
        resolve_list_file("new_image_names.txt", option="aim_list")
    cached = tmp_path / "cache" / "lists" / "new_image_names.txt"
    cached.parent.mkdir(parents=True)
    cached.write_text("ADE_train_00000001.jpg\nADE_train_00000003.jpg")
    assert resolve_list_file("new_image_names.txt") == cached
    assert read_name_list(cached) == ["ADE_train_00000001.jpg", "ADE_train_00000003.jpg"]
    explicit = tmp_path / "mine.txt"
    explicit.write_text("x.jpg\n")
    assert resolve_list_file("new_image_names.txt", explicit) == explicit
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve_list_file("new_image_names.txt", tmp_path / "absent.txt", option="aim_list")


def test_official_lists_match_the_spec(fixtures_dir):
    lists = fixtures_dir / "aim2020_lists"
    names = read_name_list(lists / "new_image_names.txt")
    assert len(names) == 10330 and len(set(names)) == 10330
    assert names[0] == "ADE_train_00000001.jpg" and names[-1] == "ADE_train_00020210.jpg"
    assert tuple(read_int_list(lists / "new_class_indices.txt")) == AIM_CLASS_INDICES


# ---------------------------------------------------------------------------------------------- ADE20K
def _ade_fixture(fixtures_dir: Path) -> Path:
    root = fixtures_dir / "ade20k_full"
    if not (root / "ADE20K_2016_07_26").is_dir():
        pytest.skip(f"ADE20K fixture not found at {root}")
    return root


@pytest.fixture
def ade_tmp(fixtures_dir, tmp_path) -> dict:
    """A full-layout copy (symlinks) of the fixture plus one image that is NOT in the AIM list, and a val split."""
    src = _ade_fixture(fixtures_dir) / "ADE20K_2016_07_26" / "images"
    root = tmp_path / "ade"
    for part in ("training", "validation"):
        for image in sorted(src.glob("training/*/*/*.jpg")):
            scene = root / "ADE20K_2016_07_26" / "images" / part / image.parent.parent.name / image.parent.name
            scene.mkdir(parents=True, exist_ok=True)
            stem = image.stem if part == "training" else image.stem.replace("train", "val")
            (scene / f"{stem}.jpg").symlink_to(image)
            (scene / f"{stem}_seg.png").symlink_to(image.with_name(image.stem + "_seg.png"))
    abbey = root / "ADE20K_2016_07_26" / "images" / "training" / "a" / "abbey"
    (abbey / "ADE_train_00000002.jpg").symlink_to(src / "training/a/abbey/ADE_train_00000976.jpg")
    map_file = tmp_path / "mapFromADE.txt"
    map_file.write_text(MAP_FROM_ADE_LINES)
    return {"root": root, "map": str(map_file), "aim_list": str(fixtures_dir / "aim2020_lists/new_image_names.txt")}


def test_ade20k_full_layout_uses_the_aim_list(ade_tmp):
    with pytest.warns(UserWarning, match="10326 of the 10330"):
        train = build_dataset("ade20k", "train", root=str(ade_tmp["root"]), image_size=32,
                              aim_list=ade_tmp["aim_list"])
    assert train.layout_name == "full"
    assert sorted(train.names) == ["ADE_train_00000976", "ADE_train_00000985", "ADE_train_00000992",
                                   "ADE_train_00020206"]  # ADE_train_00000002 is not in the official list
    everything = build_dataset("ade20k", "train", root=str(ade_tmp["root"]), image_size=32, subset="all")
    assert len(everything) == 5
    val = build_dataset("ade20k", "val", root=str(ade_tmp["root"]), image_size=32)
    test = build_dataset("ade20k", "test", root=str(ade_tmp["root"]), image_size=32)
    assert len(val) + len(test) == 4 and not set(val.names) & set(test.names)


def test_ade20k_layout_errors(tmp_path):
    (tmp_path / "nothing_here").mkdir()
    with pytest.raises(DatasetSetupError, match="(?s)ADE20K_2016_07_26.*ADEChallengeData2016"):
        build_dataset("ade20k", "train", root=str(tmp_path / "nothing_here"))


def test_full_seg_decoding_and_mapping(fixtures_dir):
    root = _ade_fixture(fixtures_dir)
    seg_path = next(root.rglob("ADE_train_00000976_seg.png"))
    rgb = np.asarray(Image.open(seg_path).convert("RGB"))
    ids = decode_full_ids(rgb)
    assert set(np.unique(ids).tolist()) >= {312, 1125, 2420, 2855, 1788}  # building, grass, sky, tree, path
    mapping = {int(b): int(a) for a, b in (line.split()[:2] for line in MAP_FROM_ADE_LINES.splitlines())}
    labels = SegDecoder("ade_full_rgb", mapping)(seg_path)
    # building: ADE150 2 → label 2; grass 10 → 10; path (1788, unmapped) → other 0; unlabelled 0 → 0.
    assert (labels[ids == 312] == 2).all() and (labels[ids == 1125] == 10).all()
    assert (labels[ids == 1788] == 0).all() and (labels[ids == 0] == 0).all()
    assert 0.10 < float((labels == 0).mean()) < 0.16  # spec §3.2: 11.9 % "path" (+ 1.4 % unlabelled)
    # ADE150 → label: indices beyond 40 map to positions 41..51, others to "other".
    ade150 = np.array([[0, 40, 41, 42, 136, 150]], np.uint8)
    assert SegDecoder("ade150").labels_from_array(ade150).tolist() == [[0, 40, 0, 41, 51, 0]]


def test_parse_map_from_ade_handles_messy_whitespace(tmp_path):
    (tmp_path / "m.txt").write_text(MAP_FROM_ADE_LINES)
    parsed = parse_map_from_ade(tmp_path / "m.txt")
    assert parsed[774] == 15 and parsed[783] == 15 and parsed[2994] == 22 and parsed[907] == 33


def test_one_hot_channels():
    labels = np.array([[0, 1], [51, 2]], np.uint8)
    onehot = one_hot(labels)
    assert onehot.shape == (52, 2, 2) and torch.equal(onehot.sum(0), torch.ones(2, 2))
    assert onehot[51, 1, 0] == 1 and onehot[0, 0, 0] == 1
    assert one_hot(labels, other_channel=False).shape == (51, 2, 2)


def _find_crop(full: np.ndarray, crop: np.ndarray) -> tuple[int, int, bool]:
    """Where ``crop`` (possibly flipped) sits in ``full``, exactly."""
    for flipped in (False, True):
        template = crop[:, ::-1] if flipped else crop
        scores = cv2.matchTemplate(full.astype(np.float32), np.ascontiguousarray(template).astype(np.float32),
                                   cv2.TM_SQDIFF)
        y, x = np.unravel_index(np.argmin(scores), scores.shape)
        if np.array_equal(full[y: y + crop.shape[0], x: x + crop.shape[1]], template):
            return int(y), int(x), flipped
    raise AssertionError("crop not found in the source image")


def test_track2_maps_stay_pixel_aligned_with_random_crops(ade_tmp):
    train = build_dataset("ade20k", "train", root=str(ade_tmp["root"]), image_size=48, semantic=True,
                          ade_map=ade_tmp["map"], aim_list=ade_tmp["aim_list"], crop="random_crop")
    j = train.names.index("ADE_train_00000976")
    full = read_rgb(train.files[j])
    labels = train.seg_decoder(train.seg_files[j])
    seen_flip = set()
    for _ in range(6):
        item = train[j]
        assert item["seg_labels"].shape == (48, 48) and item["seg_labels"].dtype == torch.uint8
        y, x, flipped = _find_crop(full, _to_uint8(item["image"]))
        expected = labels[y: y + 48, x: x + 48]
        expected = expected[:, ::-1] if flipped else expected
        assert np.array_equal(item["seg_labels"].numpy(), expected)
        seen_flip.add(flipped)
    full_eval = build_dataset("ade20k", "val", root=str(ade_tmp["root"]), semantic=True, ade_map=ade_tmp["map"],
                              crop="none")
    item = full_eval[0]
    k = full_eval.names.index(item["name"])
    assert np.array_equal(item["seg_labels"].numpy(), full_eval.seg_decoder(full_eval.seg_files[k]))
    assert item["image"].shape[-2:] == item["seg_labels"].shape


def _no_map_needed(monkeypatch):
    """``ade_rgb`` reads the seg colours as they are: fetching mapFromADE.txt would be a bug."""
    import datamodules.datasets.ade20k as ade20k

    def refuse(name, *args, **kwargs):
        raise AssertionError(f"{name} must not be needed with seg_encoding ade_rgb")

    monkeypatch.setattr(ade20k, "resolve_list_file",
                        lambda name, *a, **k: refuse(name) if name == "mapFromADE.txt" else resolve_list_file(
                            name, *a, **k))


def test_ade_rgb_seg_colours_stay_aligned_with_random_crops_and_flips(ade_tmp, monkeypatch):
    """``seg_encoding="ade_rgb"``: ``seg_rgb`` is the raw ``*_seg.png`` RGB (B = instances included), cut and flipped
    exactly like the image (no resampling at native scale)."""
    _no_map_needed(monkeypatch)
    train = build_dataset("ade20k", "train", root=str(ade_tmp["root"]), image_size=48, semantic=True,
                          seg_encoding="ade_rgb", aim_list=ade_tmp["aim_list"], crop="random_crop")
    j = train.names.index("ADE_train_00000976")
    full = read_rgb(train.files[j])
    colours = np.asarray(Image.open(train.seg_files[j]).convert("RGB"))  # the official reading
    seen_flip = set()
    for _ in range(8):
        item = train[j]
        assert "seg_labels" not in item
        assert item["seg_rgb"].shape == (3, 48, 48) and item["seg_rgb"].dtype == torch.uint8
        y, x, flipped = _find_crop(full, _to_uint8(item["image"]))
        expected = colours[y: y + 48, x: x + 48]
        expected = expected[:, ::-1] if flipped else expected
        assert np.array_equal(item["seg_rgb"].permute(1, 2, 0).numpy(), expected)
        seen_flip.add(flipped)
    assert seen_flip == {False, True}
    full_eval = build_dataset("ade20k", "val", root=str(ade_tmp["root"]), semantic=True, seg_encoding="ade_rgb",
                              crop="none")
    item = full_eval[0]
    k = full_eval.names.index(item["name"])
    stored = np.asarray(Image.open(full_eval.seg_files[k]).convert("RGB"))
    assert np.array_equal(item["seg_rgb"].permute(1, 2, 0).numpy(), stored)


def test_ade_rgb_seg_colours_follow_the_deepgin_policy_like_the_image(ade_tmp, monkeypatch):
    """``crop="deepgin"`` (resize 2S bicubic, rot90, 2x2 polyphase, flip): the colours take every step the image
    takes, the resize included (bicubic, as gin-sg's loader resizes the seg PNG), not the labels' nearest."""
    _no_map_needed(monkeypatch)
    size = 32
    train = build_dataset("ade20k", "train", root=str(ade_tmp["root"]), image_size=size, semantic=True,
                          seg_encoding="ade_rgb", aim_list=ade_tmp["aim_list"], crop="deepgin")
    j = train.names.index("ADE_train_00000985")
    big = cv2.resize(read_rgb(train.files[j]), (2 * size, 2 * size), interpolation=cv2.INTER_CUBIC)
    colours = np.asarray(Image.open(train.seg_files[j]).convert("RGB"))
    big_seg = cv2.resize(colours, (2 * size, 2 * size), interpolation=cv2.INTER_CUBIC)

    def candidates(array):
        for k in range(4):
            for row, col in ((0, 0), (1, 1), (1, 0), (0, 1)):
                for flipped in (False, True):
                    out = np.rot90(array, k)[row::2, col::2]
                    yield (k, row, col, flipped), (out[:, ::-1] if flipped else out)

    seen = set()
    for _ in range(6):
        item = train[j]
        image, seg = _to_uint8(item["image"]), item["seg_rgb"].permute(1, 2, 0).numpy()
        found = [key for key, cand in candidates(big) if np.array_equal(cand, image)]
        assert len(found) == 1, found
        expected = dict(candidates(big_seg))[found[0]]
        assert np.array_equal(seg, expected)
        seen.add(found[0])
    palette = {tuple(c) for c in colours.reshape(-1, 3)}
    assert any(tuple(c) not in palette for c in seg.reshape(-1, 3))  # bicubic mixes colours at class borders
    assert len(seen) > 1


def test_ade_rgb_needs_the_full_release_layout(tmp_path):
    base = tmp_path / "ADEChallengeData2016"
    for part in ("images", "annotations"):
        (base / part / "training").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(base / "images/training/ADE_train_00000001.jpg")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(base / "annotations/training/ADE_train_00000001.png")
    with pytest.raises(DatasetSetupError, match="seg_encoding ade_rgb.*full"):
        build_dataset("ade20k", "train", root=str(tmp_path), semantic=True, seg_encoding="ade_rgb", subset="all")


def test_datamodule_batches_ade_rgb_seg_with_three_masks_per_image(ade_tmp, monkeypatch):
    from datamodules.datamodule import InpaintDataModule

    _no_map_needed(monkeypatch)
    dm = InpaintDataModule(dataset="ade20k", data_root=str(ade_tmp["root"]), image_size=32, crop="deepgin",
                           batch_size=2, num_workers=0, semantic=True, seg_encoding="ade_rgb", masks="aim_box",
                           masks_per_image=["aim_box", "aim_cellular_automata", "aim_free_form"],
                           dataset_options={"aim_list": ade_tmp["aim_list"]})
    dm.setup("fit")

    class Trainer:  # what on_after_batch_transfer reads
        training, current_epoch = True, 0

    dm.trainer = Trainer()
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    # decoded by the data module: the raw seg colours / 255, float (the model never sees uint8)
    assert batch["seg"].shape == (6, 3, 32, 32) and batch["seg"].dtype == torch.float32
    assert torch.equal(batch["seg"] * 255, (batch["seg"] * 255).round()) and 0 <= batch["seg"].min() <= batch["seg"].max() <= 1
    assert torch.equal(batch["seg"][0], batch["seg"][2]) and batch["mask"].shape == (6, 1, 32, 32)


def test_sceneparsing_layout(tmp_path):
    base = tmp_path / "ADEChallengeData2016"
    for part, prefix in (("training", "ADE_train"), ("validation", "ADE_val")):
        (base / "images" / part).mkdir(parents=True)
        (base / "annotations" / part).mkdir(parents=True)
        for i in (1, 2, 3):
            Image.fromarray(np.full((30, 40, 3), 40 * i, np.uint8)).save(base / "images" / part / f"{prefix}_{i:08d}.jpg")
            ann = np.zeros((30, 40), np.uint8)
            ann[:, 20:] = 136  # vase → label 51
            ann[:15, :20] = 41  # not a challenge class → other
            ann[15:, :20] = 3  # sky → 3
            Image.fromarray(ann).save(base / "annotations" / part / f"{prefix}_{i:08d}.png")
    aim_list = tmp_path / "names.txt"
    aim_list.write_text("ADE_train_00000001.jpg\nADE_train_00000003.jpg")
    train = build_dataset("ade20k", "train", root=str(tmp_path), image_size=30, semantic=True,
                          aim_list=str(aim_list), crop="center_crop")
    assert train.layout_name == "sceneparsing" and train.names == ["ADE_train_00000001", "ADE_train_00000003"]
    seg = train[0]["seg_labels"].long()
    sides = {frozenset(torch.unique(seg[:, :5]).tolist()), frozenset(torch.unique(seg[:, -5:]).tolist())}
    assert sides == {frozenset({0, 3}), frozenset({51})}  # (the training flip may swap the sides)
    val = build_dataset("ade20k", "val", root=str(tmp_path), image_size=30)
    test = build_dataset("ade20k", "test", root=str(tmp_path), image_size=30)
    assert sorted(val.names + test.names) == [f"ADE_val_{i:08d}" for i in (1, 2, 3)]


def test_sceneparsing_eval_filter(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_SUITE_CACHE", str(tmp_path / "cache"))
    base = tmp_path / "ADEChallengeData2016"
    (base / "images" / "validation").mkdir(parents=True)
    (base / "annotations" / "validation").mkdir(parents=True)
    for i, other_fraction in enumerate((0.0, 0.05, 0.2, 0.5)):
        Image.fromarray(np.full((20, 20, 3), 100, np.uint8)).save(base / "images/validation" / f"ADE_val_{i:08d}.jpg")
        ann = np.full((20, 20), 1, np.uint8)
        ann.reshape(-1)[: int(other_fraction * 400)] = 0
        Image.fromarray(ann).save(base / "annotations/validation" / f"ADE_val_{i:08d}.png")
    kept = set()
    for split in ("val", "test"):
        kept |= set(build_dataset("ade20k", split, root=str(base), image_size=16, eval_filter=True).names)
    assert kept == {"ADE_val_00000000", "ADE_val_00000001"}
    assert len(list((tmp_path / "cache" / "lists").glob("ade20k_class_fraction_*.json"))) == 1
    (base / "annotations/validation/ADE_val_00000000.png").write_bytes(b"")  # the cached fractions are reused
    assert build_dataset("ade20k", "val", root=str(base), image_size=16, eval_filter=True).names[0] in kept


# ---------------------------------------------------------------------------------------------- datamodule
def test_datamodule_with_folder_dataset_and_mask_files(tmp_path):
    pytest.importorskip("lightning")
    from datamodules import InpaintDataModule

    _save_photos(tmp_path / "img" / "train", 4, size=(40, 40))
    _save_photos(tmp_path / "img" / "val", 2, size=(40, 40), start=10)
    (tmp_path / "img" / "train" / "broken.png").write_bytes(b"")
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(3):
        m = np.zeros((64, 64), np.uint8)
        m[10 * i: 10 * i + 20, 5:30] = 255
        Image.fromarray(m).save(masks / f"{i:05d}.png")
    dm = InpaintDataModule(dataset="folder", data_root=str(tmp_path / "img"), image_size=32, batch_size=2,
                           num_workers=0, masks="aim_box", mask_dir=str(masks), eval_mask_dir=str(masks))
    dm.setup("fit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)  # files augmented here
        val = next(iter(dm.val_dataloader()))
    assert batch["image"].shape == (2, 3, 32, 32) and batch["mask"].shape == (2, 1, 32, 32)
    assert set(torch.unique(batch["mask"]).tolist()) <= {0.0, 1.0}
    assert val["mask_type"] == ["file", "file"]
    train_set = dm.train_dataloader().dataset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(len(train_set)):  # the raw file: augmented on the device after the transfer
            assert train_set[i]["mask_file"].shape == (1, 64, 64)
    summary = dm.bad_file_summary()
    assert summary["train"]["count"] == 1 and summary["train"]["files"][0].endswith("broken.png")
    assert summary["val"]["count"] == 0


def test_datamodule_three_masks_per_image():
    """DeepGIN / AIM: every training image appears once per mask type, copies adjacent (box, CA, free-form)."""
    pytest.importorskip("lightning")
    from datamodules import InpaintDataModule

    kinds = ["aim_box", "aim_cellular_automata", "aim_free_form"]
    dm = InpaintDataModule(dataset="sample", image_size=32, batch_size=2, num_workers=0, train_length=2,
                           masks_per_image=kinds)
    batch = collate_inpainting([dm._make("train")[i] for i in range(2)])
    out = dm.add_masks(dict(batch), training=True)
    assert out["image"].shape == (6, 3, 32, 32) and out["mask"].shape == (6, 1, 32, 32)
    assert out["index"].tolist() == [0, 0, 0, 1, 1, 1] and out["name"][:3] == [batch["name"][0]] * 3
    assert torch.equal(out["image"][1], batch["image"][0]) and torch.equal(out["image"][3], batch["image"][1])
    assert out["mask_type"] == kinds * 2
    assert not torch.equal(out["mask"][0], out["mask"][1])
    evaluated = dm.add_masks(dict(batch), training=False)  # evaluation keeps one mask per image
    assert evaluated["mask"].shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="mask_dir"):
        InpaintDataModule(dataset="sample", mask_dir="/tmp", masks_per_image=kinds)


def test_exif_rotated_image_keeps_its_label_grid(tmp_path):
    """Labels are drawn on the stored pixel grid: an EXIF-rotated image is read unrotated when it has labels."""
    base = tmp_path / "ADEChallengeData2016"
    (base / "images" / "training").mkdir(parents=True)
    (base / "annotations" / "training").mkdir(parents=True)
    photo = np.zeros((20, 40, 3), np.uint8)
    photo[:, :20] = 250  # bright left half, labelled wall (1); right half sky (3)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(photo).save(base / "images/training/ADE_train_00000001.jpg", quality=95, exif=exif)
    ann = np.full((20, 40), 3, np.uint8)
    ann[:, :20] = 1
    Image.fromarray(ann).save(base / "annotations/training/ADE_train_00000001.png")
    names = tmp_path / "names.txt"
    names.write_text("ADE_train_00000001.jpg")
    dataset = build_dataset("ade20k", "train", root=str(base), semantic=True, aim_list=str(names), crop="none",
                            flip=False)
    with pytest.warns(BadImageWarning, match="EXIF"):
        item = dataset[0]
    assert item["image"].shape == (3, 20, 40)
    bright = _to_uint8(item["image"])[..., 0] > 128
    labels = item["seg_labels"].numpy()
    assert (labels[bright] == 1).mean() > 0.95 and (labels[~bright] == 3).mean() > 0.95
