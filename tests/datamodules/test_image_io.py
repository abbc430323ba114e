"""``datamodules.image_io.read_rgb``: every awkward file of a real photo folder, built in a tmp dir."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from datamodules.image_io import ImageReadError, read_gray, read_rgb


def _photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth RGB test picture (JPEG-friendly) with a red left half."""
    rng = np.random.default_rng(seed)
    base = np.zeros((h, w, 3), np.uint8)
    base[:, : w // 2] = (220, 20, 20)
    base[:, w // 2:] = (20, 20, 220)
    return np.clip(base.astype(int) + rng.integers(-5, 6, base.shape), 0, 255).astype(np.uint8)


def make_awkward_files(folder: Path) -> dict[str, Path]:
    """One file per awkward case; keys say what it is (``bad_*`` cannot be read)."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = _photo()
    files: dict[str, Path] = {}

    files["good_jpeg"] = folder / "good.jpg"
    Image.fromarray(photo).save(files["good_jpeg"], quality=95)
    files["grayscale"] = folder / "gray.png"
    Image.fromarray(photo[..., 0]).save(files["grayscale"])
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:8, :8] = (0, 0, 0, 0)  # fully transparent, stored black
    files["rgba"] = folder / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(files["rgba"])
    gray16 = (photo[..., 2].astype(np.uint16) * 257)
    files["gray16"] = folder / "gray16.png"
    Image.fromarray(gray16).save(files["gray16"])
    files["rgb16"] = folder / "rgb16.png"
    cv2.imwrite(str(files["rgb16"]), (photo[..., ::-1].astype(np.uint16) * 257))  # cv2 writes BGR
    files["cmyk"] = folder / "cmyk.jpg"
    Image.new("CMYK", (40, 30), (0, 255, 0, 0)).save(files["cmyk"], quality=100)
    files["tiny"] = folder / "tiny.png"
    Image.fromarray(photo[:5, :3]).save(files["tiny"])
    files["exif_rotated"] = folder / "exif6.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    Image.fromarray(photo).save(files["exif_rotated"], quality=95, exif=exif)
    files["palette"] = folder / "palette.gif"
    Image.fromarray(photo).convert("P").save(files["palette"])

    files["bad_corrupt"] = folder / "corrupt.jpg"
    files["bad_corrupt"].write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    files["bad_truncated"] = folder / "truncated.jpg"
    full = (folder / "good.jpg").read_bytes()
    files["bad_truncated"].write_bytes(full[: len(full) // 2])
    files["bad_zero"] = folder / "zero.png"
    files["bad_zero"].write_bytes(b"")
    files["bad_text"] = folder / "notes.png"
    files["bad_text"].write_text("this is not an image")
    files["bad_permission"] = folder / "secret.jpg"
    Image.fromarray(photo).save(files["bad_permission"], quality=95)
    os.chmod(files["bad_permission"], 0)
    return files


@pytest.fixture
def awkward(tmp_path, monkeypatch) -> dict[str, Path]:
    files = make_awkward_files(tmp_path / "photos")
    if os.geteuid() == 0:
        # root ignores file modes: simulate the permission failure at open() for that one path.
        denied, real_open = str(files["bad_permission"]), builtins.open

        def guarded_open(file, *args, **kwargs):
            if str(file) == denied:
                raise PermissionError(13, "Permission denied (simulated: tests run as root)", denied)
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded_open)
    return files


def test_good_files_decode_to_rgb_uint8(awkward):
    photo = _photo()
    for key in ("good_jpeg", "grayscale", "rgba", "gray16", "rgb16", "cmyk", "tiny", "exif_rotated", "palette"):
        array = read_rgb(awkward[key])
        assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3, key
    assert np.abs(read_rgb(awkward["good_jpeg"]).astype(int) - photo).mean() < 4
    gray = read_rgb(awkward["grayscale"])
    assert np.array_equal(gray[..., 0], photo[..., 0]) and np.array_equal(gray[..., 0], gray[..., 2])
    assert read_rgb(awkward["tiny"]).shape == (5, 3, 3)


def test_sixteen_bit_is_scaled_not_clipped(awkward):
    photo = _photo()
    gray16 = read_rgb(awkward["gray16"])
    assert np.array_equal(gray16[..., 0], photo[..., 2])  # v*257 → v exactly
    rgb16 = read_rgb(awkward["rgb16"])
    assert np.abs(rgb16.astype(int) - photo).max() <= 1


def test_sixteen_bit_rounding(tmp_path):
    values = np.array([[0, 128, 129, 257, 385, 386, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "v.png")
    assert read_rgb(tmp_path / "v.png")[0, :, 0].tolist() == [0, 0, 1, 1, 1, 2, 255]


def test_alpha_is_composited_over_white(awkward):
    rgba = read_rgb(awkward["rgba"])
    assert (rgba[:8, :8] == 255).all()
    assert rgba[20, 5, 0] > 200 and rgba[20, 5, 2] < 40  # opaque red stays red


def test_cmyk_is_converted(awkward):
    assert np.abs(read_rgb(awkward["cmyk"])[10, 10].astype(int) - (255, 0, 255)).max() <= 3


def test_exif_orientation_is_honoured(awkward):
    rotated = read_rgb(awkward["exif_rotated"])
    assert rotated.shape == (64, 48, 3)  # stored 48x64 (h x w), displayed rotated by 90°
    top, bottom = rotated[:28].astype(int), rotated[36:].astype(int)
    # Stored red left half → displayed (90° clockwise) top half.
    assert top[..., 0].mean() > 150 and top[..., 2].mean() < 80
    assert bottom[..., 2].mean() > 150 and bottom[..., 0].mean() < 80


@pytest.mark.parametrize("key", ["bad_corrupt", "bad_truncated", "bad_zero", "bad_text", "bad_permission"])
def test_bad_files_raise_one_error_type_naming_the_file(awkward, key):
    with pytest.raises(ImageReadError) as info:
        read_rgb(awkward[key])
    assert str(awkward[key]) in str(info.value)
    assert isinstance(info.value, OSError)


def test_missing_file_raises_image_read_error(tmp_path):
    with pytest.raises(ImageReadError, match="nothing.png"):
        read_rgb(tmp_path / "nothing.png")


def test_read_gray_masks(tmp_path):
    mask = np.zeros((10, 12), np.uint8)
    mask[2:5, 3:9] = 255
    Image.fromarray(np.dstack([mask] * 3)).save(tmp_path / "rgb_mask.png")
    assert np.array_equal(read_gray(tmp_path / "rgb_mask.png"), mask)
    alpha_only = np.zeros((10, 12, 4), np.uint8)
    alpha_only[..., 3] = mask
    Image.fromarray(alpha_only, "RGBA").save(tmp_path / "alpha_mask.png")
    assert np.array_equal(read_gray(tmp_path / "alpha_mask.png"), mask)
