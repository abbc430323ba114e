"""Mask files: polarity detection, binarisation, resizing, per-paper augmentation, ``WithMaskFiles``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules.datasets.mask_files import (
    MaskFileWarning,
    MaskFolder,
    WithMaskFiles,
    augment_masks,
    augmentation_params,
)


def _hole_maps(count: int = 5, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """{0, 1} hole maps with 10-35 % holes (rectangles)."""
    rng = np.random.default_rng(seed)
    maps = []
    for _ in range(count):
        hole = np.zeros((size, size), np.uint8)
        h, w = rng.integers(size // 3, size // 2, 2)
        y, x = rng.integers(0, size - h), rng.integers(0, size - w)
        hole[y: y + h, x: x + w] = 1
        maps.append(hole)
    return maps


def _write(folder: Path, maps: list[np.ndarray], white_is_hole: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, hole in enumerate(maps):
        stored = hole if white_is_hole else 1 - hole
        Image.fromarray(stored * 255).save(folder / f"{i:05d}.png")
    return folder


class _Images(torch.utils.data.Dataset):
    def __init__(self, n: int = 7, size: int = 32) -> None:
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"image": torch.zeros(3, self.size, self.size), "index": i, "name": f"im{i}"}


def test_polarity_is_detected_per_folder(tmp_path):
    maps = _hole_maps()
    white = MaskFolder(str(_write(tmp_path / "white", maps, white_is_hole=True)))
    black = MaskFolder(str(_write(tmp_path / "black", maps, white_is_hole=False)))
    assert white.polarity == "white_hole" and black.polarity == "black_hole"
    for i, hole in enumerate(maps):
        assert np.array_equal(white.read(i), hole) and np.array_equal(black.read(i), hole)


def test_large_masks_in_a_white_hole_set_are_not_flipped(tmp_path):
    maps = _hole_maps(6)
    big = np.ones((64, 64), np.uint8)
    big[:, :16] = 0  # 75 % hole: legitimately large
    folder = MaskFolder(str(_write(tmp_path / "m", maps + [big])))
    assert folder.polarity == "white_hole" and folder.read(6).mean() == 0.75


def test_ambiguous_half_white_sets_keep_white_hole_with_a_warning(tmp_path):
    half = np.zeros((20, 20), np.uint8)
    half[:, :10] = 1
    with pytest.warns(MaskFileWarning, match="polarity"):
        assert MaskFolder(str(_write(tmp_path / "half", [half, half]))).polarity == "white_hole"


def test_manifest_sets_polarity_order_and_types(tmp_path):
    maps = _hole_maps(3)
    folder = _write(tmp_path / "m", maps, white_is_hole=False)
    manifest = {"polarity": "white_hole", "masks": [{"file": "00002.png", "mask_type": "ca"},
                                                    {"file": "00000.png", "mask_type": "box"},
                                                    {"file": "00001.png", "mask_type": "free_form"}]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    masks = MaskFolder(str(folder))
    assert masks.polarity == "white_hole"  # the manifest wins over the (black = hole) statistics
    assert [f.name for f in masks.files] == ["00002.png", "00000.png", "00001.png"]
    assert [masks.mask_type(i) for i in range(3)] == ["ca", "box", "free_form"]
    assert np.array_equal(masks.read(0), 1 - maps[2])


def test_resize_and_threshold_warn(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    soft = np.zeros((40, 40), np.uint8)
    soft[10:30, 10:30] = 200
    soft[10:30, 30:34] = 100  # below one half: valid after thresholding
    Image.fromarray(soft).save(folder / "a.png")
    Image.fromarray(_hole_maps(1, 40)[0] * 255).save(folder / "b.png")
    masks = MaskFolder(str(folder), polarity="white_hole")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hole = masks.read(0, (20, 20))
        masks.read(1, (20, 20))
    messages = [str(w.message) for w in caught if issubclass(w.category, MaskFileWarning)]
    assert any("not binary" in m and "a.png" in m for m in messages)
    assert sum("resized nearest-exact" in m for m in messages) == 1  # once per (file size, image size)
    assert hole.shape == (20, 20) and set(np.unique(hole)) == {0, 1}
    assert hole[5:15, 5:15].all() and hole[:, 15:].sum() == 0


def test_zero_one_valued_pngs_are_binary(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    hole = _hole_maps(1, 32)[0]
    Image.fromarray(hole).save(folder / "01.png")  # values 0/1, not 0/255
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskFileWarning)
        assert np.array_equal(MaskFolder(str(folder), polarity="white_hole").read(0), hole)


def _opencv_augment(hole: np.ndarray, hw, kind: str, flip: bool, degrees: float) -> np.ndarray:
    """The former CPU augmentation (OpenCV, one mask at a time): the reference of the Kornia one."""
    import cv2

    def rotate(mask, fill):
        h, w = mask.shape
        matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
        return cv2.warpAffine(mask, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=fill)

    if kind == "aotgan":
        out = cv2.resize(hole, (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST_EXACT)
        out = rotate(np.ascontiguousarray(out[:, ::-1] if flip else out), 0)
    else:
        out = (cv2.resize(hole.astype(np.float32), (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR) > 0.5)
        out = rotate(out.astype(np.uint8), 1)
        out = out[:, ::-1] if flip else out
    return out


@pytest.mark.parametrize("kind, hw, differing", [("aotgan", (64, 80), 0), ("aotgan", (32, 40), 0), ("madf", (64, 80), 0),
                                                 ("madf", (96, 96), 0), ("madf", (48, 40), 0),
                                                 ("aotgan", (48, 40), 0.03)])
def test_kornia_augmentation_equals_the_opencv_one(kind, hw, differing):
    """Pixel for pixel, except a nearest resize by a non-integer ratio (64 → 48 rows), where Kornia and OpenCV round
    exact-integer source coordinates to different sides (module docstring): a small share of pixels there."""
    import cv2

    rng = np.random.default_rng(0)
    raw = [cv2.dilate((rng.random((64, 80)) > 0.97).astype(np.uint8), np.ones((9, 9), np.uint8)) for _ in range(8)]
    flip, angle = augmentation_params(kind, range(8), seed=3)
    assert flip.any() and not flip.all() and angle.unique().numel() == 8
    out = augment_masks(torch.from_numpy(np.stack(raw))[:, None], hw, kind, flip, angle)
    assert out.shape == (8, 1, *hw) and out.dtype == torch.float32
    for i in range(8):
        ref = _opencv_augment(raw[i], hw, kind, bool(flip[i]), float(angle[i]))
        assert (out[i, 0].numpy() != ref).mean() <= differing, i


def test_aotgan_rotation_fills_corners_with_known_and_madf_with_hole():
    full_hole, no_hole = torch.ones(40, 1, 64, 64), torch.zeros(40, 1, 64, 64)
    aot = augment_masks(full_hole, (32, 32), "aotgan", *augmentation_params("aotgan", range(40), 0)).mean((1, 2, 3))
    madf = augment_masks(no_hole, (32, 32), "madf", *augmentation_params("madf", range(40), 0)).mean((1, 2, 3))
    # AOT: θ ~ U[0°, 45°) → mean 11.7 % of the canvas rotated in as known (masks.md §5.2).
    assert 0.05 < 1 - aot.mean() < 0.2 and aot.max() <= 1
    # MADF: θ ~ U[−10°, 10°) → mean 3.9 % of the canvas rotated in as hole (masks.md §5.3).
    assert 0.01 < madf.mean() < 0.08 and madf.max() < 0.12
    none = augment_masks(full_hole[:2], (32, 48), "none", *augmentation_params("none", range(2), 0))
    assert torch.equal(none, torch.ones(2, 1, 32, 48))


def _mask_file_datamodule(folder: Path, augment: str = "aotgan", epoch: int = 0):
    from types import SimpleNamespace

    from datamodules import InpaintDataModule

    dm = InpaintDataModule(dataset="sample", image_size=32, batch_size=4, num_workers=0, train_length=4,
                           mask_dir=str(folder), mask_seed=5, mask_file_options={"augment": augment})
    dm.trainer = SimpleNamespace(current_epoch=epoch, training=True)
    return dm


@pytest.mark.parametrize("augment", ["aotgan", "madf"])
def test_mask_file_augmentation_is_seeded_per_seed_index_and_epoch(tmp_path, augment):
    from datamodules.collate import collate_inpainting

    folder = _write(tmp_path / "m", _hole_maps(3, 64))
    dm = _mask_file_datamodule(folder, augment)
    train = dm._make("train")
    batch = collate_inpainting([train[i] for i in range(4)])
    assert batch["mask_file"].shape == (4, 1, 64, 64) and batch["mask_file"].dtype == torch.uint8

    def masks(epoch: int, order=torch.arange(4)) -> torch.Tensor:
        dm.trainer.current_epoch = epoch
        part = {k: v[order] for k, v in batch.items() if isinstance(v, torch.Tensor)}
        return dm.on_after_batch_transfer({**part, "name": batch["name"]}, 0)["mask"]

    first = masks(0)
    assert first.shape == (4, 1, 32, 32) and set(first.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(masks(0), first)  # same seed, index and epoch: the same masks
    assert torch.equal(masks(0, torch.arange(3, -1, -1)), first.flip(0))  # batch order plays no part
    again = _mask_file_datamodule(folder, augment)  # a fresh run (a resumed one) draws the same
    assert torch.equal(again.on_after_batch_transfer(dict(batch), 0)["mask"], first)
    assert not torch.equal(masks(1), first)  # another epoch: other flips and angles


def test_mask_files_of_different_sizes_batch_as_a_list(tmp_path):
    from datamodules.collate import collate_inpainting

    dm = _mask_file_datamodule(_write(tmp_path / "m", _hole_maps(1, 64)), "aotgan")
    files = [torch.from_numpy(m)[None] for m in (_hole_maps(1, 64)[0], _hole_maps(1, 48, seed=1)[0],
                                                 _hole_maps(1, 64, seed=2)[0])]
    items = [{"image": torch.zeros(3, 32, 32), "index": i, "name": f"im{i}", "mask_file": f, "mask_type": "file"}
             for i, f in enumerate(files)]
    batch = collate_inpainting(items)
    assert isinstance(batch["mask_file"], list)
    out = dm.on_after_batch_transfer(batch, 0)
    assert out["mask"].shape == (3, 1, 32, 32) and out["mask_type"] == ["file"] * 3
    flip, angle = augmentation_params("aotgan", range(3), dm.mask_seed_for(True))
    for i, f in enumerate(files):  # the same as each file augmented alone
        assert torch.equal(out["mask"][i], augment_masks(f[None], (32, 32), "aotgan", flip[i:i + 1],
                                                          angle[i:i + 1])[0])


def test_with_mask_files_fixed_and_random(tmp_path):
    maps = _hole_maps(3, 32)
    folder = _write(tmp_path / "m", maps)
    fixed = WithMaskFiles(_Images(), str(folder), 32, fixed=True, pairing="cyclic")
    for i in range(7):
        item = fixed[i]
        assert item["mask"].shape == (1, 32, 32) and item["mask"].dtype == torch.float32
        assert np.array_equal(item["mask"][0].numpy(), maps[i % 3]) and item["mask_type"] == "file"
    train = WithMaskFiles(_Images(), str(folder), 32)
    drawn = {train[0]["mask_file"].numpy().tobytes() for _ in range(12)}  # the file drawn changes per draw
    assert len(drawn) > 1
    for _ in range(5):
        item = train[1]
        assert "mask" not in item and item["mask_file"].dtype == torch.uint8  # augmented on the device
        assert any(np.array_equal(item["mask_file"][0].numpy(), m) for m in maps)


def test_unreadable_mask_files_are_skipped(tmp_path):
    folder = _write(tmp_path / "m", _hole_maps(2, 32))
    (folder / "00000.png").write_bytes(b"")
    fixed = WithMaskFiles(_Images(2), str(folder), 32, fixed=True, polarity="white_hole", pairing="cyclic")
    with pytest.warns(MaskFileWarning, match="00000.png"):
        item = fixed[0]
    assert item["mask"].sum() > 0


def test_real_mask_sets_polarity(fixtures_dir):
    aim = fixtures_dir / "aim2020_validation"
    madf = fixtures_dir / "madf_examples" / "places2"
    aot = fixtures_dir / "aotgan_examples" / "logos" / "mask"
    if not (aim.is_dir() and madf.is_dir() and aot.is_dir()):
        pytest.skip("mask fixtures missing")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # AIM validation masks: 255 = hole; CA masks hide ≈ 50 % (the ambiguous band: white = hole is kept).
        aim_masks = MaskFolder(str(aim), pattern="*_mask.png")
    assert aim_masks.polarity == "white_hole" and len(aim_masks) == 2
    assert aim_masks.read(1).shape == (600, 400) and 0.45 < aim_masks.read(1).mean() < 0.55
    # AOT-GAN's hand-drawn masks: 255 = hole.
    assert MaskFolder(str(aot)).polarity == "white_hole"
    # MADF's example masks are stored white = valid: detected as inverted.
    for subset in ("places2", "celeba"):
        madf_masks = MaskFolder(str(fixtures_dir / "madf_examples" / subset), pattern="*_mask.png")
        assert madf_masks.polarity == "black_hole", subset
        assert madf_masks.read(0).mean() < 0.45


def test_bucket_filter_keeps_only_masks_of_that_hole_ratio(tmp_path):
    import numpy as np
    from PIL import Image

    from datamodules.datasets.mask_files import MaskFolder

    for i, ratio in enumerate([0.05, 0.15, 0.45, 0.42, 0.7]):
        mask = np.zeros((20, 20), np.uint8)
        mask.flat[: round(ratio * 400)] = 255
        Image.fromarray(mask).save(tmp_path / f"m{i}.png")
    folder = MaskFolder(str(tmp_path), polarity="white_hole", bucket="40-50%")
    assert sorted(p.name for p in folder.files) == ["m2.png", "m3.png"]
    with pytest.raises(ValueError, match="unknown mask bucket"):
        MaskFolder(str(tmp_path), polarity="white_hole", bucket="40-50")


def _bucketed_folder(folder: Path, per_bucket: int = 4, size: int = 64) -> Path:
    """6 buckets x ``per_bucket`` masks, files sorted by bucket (as the NVIDIA test set is stored), white = hole."""
    folder.mkdir(parents=True, exist_ok=True)
    for b in range(6):
        for k in range(per_bucket):
            ratio = 0.1 * b + 0.03 + 0.015 * k  # inside (0.1 b, 0.1 (b + 1)]
            mask = np.zeros((size, size), np.uint8)
            mask.flat[: round(ratio * size * size)] = 255
            Image.fromarray(mask).save(folder / f"{b * per_bucket + k:05d}.png")
    return folder


def _val_buckets(folder: Path, seed: int) -> list[tuple[str, bytes]]:
    from datamodules import InpaintDataModule
    from datamodules.masks.buckets import hole_ratio_bucket

    data = InpaintDataModule(dataset="sample", image_size=64, eval_mask_dir=str(folder), eval_masks=None,
                             val_length=12, mask_seed=seed, num_workers=0)
    data.setup("fit")
    items = [data._datasets["val"][i]["mask"] for i in range(12)]
    return [(hole_ratio_bucket(float(m.mean())), m.numpy().tobytes()) for m in items]


def test_validation_masks_cover_every_bucket_are_reproducible_and_follow_the_seed(tmp_path):
    folder = _bucketed_folder(tmp_path / "masks")
    first = _val_buckets(folder, seed=0)
    # 12 validation images over 6 buckets: two of each (i mod N gave the first 12 files: three buckets only)
    counts = {b: sum(1 for bucket, _ in first if bucket == b) for b in {b for b, _ in first}}
    assert counts == {b: 2 for b in ("0-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-60%")}
    assert _val_buckets(folder, seed=0) == first  # a second build (another model of the sweep) gets the same masks
    other = _val_buckets(folder, seed=1)
    assert [m for _, m in other] != [m for _, m in first]
    assert sorted(b for b, _ in other) == sorted(b for b, _ in first)


def test_stratified_pairing_is_one_to_one_up_to_the_folder_size_and_cyclic_keeps_file_order(tmp_path):
    from datamodules.datasets.mask_files import stratified_order

    folder = _bucketed_folder(tmp_path / "masks", per_bucket=3)
    fixed = WithMaskFiles(_Images(18, 64), str(folder), 64, fixed=True, seed=5)
    assert fixed.pairing == "stratified" and sorted(fixed.order) == list(range(18))
    assert stratified_order(["a", "a", "b"], 3) == stratified_order(["a", "a", "b"], 3)
    cyclic = WithMaskFiles(_Images(18, 64), str(folder), 64, fixed=True, pairing="cyclic")
    assert cyclic.order == list(range(18))
    # an exported set (manifest files with an index) keeps its stored pairs under the default `auto`
    (folder / "manifest.json").write_text(json.dumps(
        {"files": [{"name": f"{i:05d}.png", "index": i} for i in range(18)]}))
    assert WithMaskFiles(_Images(18, 64), str(folder), 64, fixed=True).pairing == "cyclic"
    with pytest.raises(ValueError, match="pairing must be one of"):
        WithMaskFiles(_Images(2, 64), str(folder), 64, fixed=True, pairing="sorted")
