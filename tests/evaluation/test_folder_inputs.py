"""``inpaint-suite evaluate`` checks its inputs: mask polarity, soft masks, files read as training reads them.

The folders are photo-like pictures (smooth colour fields with texture and edges) with irregular stroke masks; a
"composite" prediction is the ground truth with noise in the holes only, a "raw output" has a little noise
everywhere and more in the holes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from datamodules.datasets.mask_files import binarize as training_binarize
from datamodules.image_io import read_gray, read_rgb
from evaluation.folder import (
    POLARITY_PROBE_IMAGES,
    ImageReader,
    MaskPolarityError,
    _probe,
    binarize_mask,
    check_polarity,
    hole_errors,
    looks_inverted,
)
from evaluation.metrics import PSNR_CAP_DB
from inpaint_suite.commands.evaluate import main

REPO = Path(__file__).resolve().parents[2]
SIZE = (48, 64)


def _photo(rng: np.random.Generator, size=SIZE) -> np.ndarray:
    """A photo-like RGB picture: two colour gradients split by a slanted edge, plus fine texture."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    a, b = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    left = a + (y[..., None] / h) * rng.uniform(-30, 30, 3)
    right = b + (x[..., None] / w) * rng.uniform(-30, 30, 3)
    edge = (x + rng.uniform(-0.5, 0.5) * y) < w * rng.uniform(0.3, 0.7)
    img = np.where(edge[..., None], left, right) + rng.normal(0, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _strokes(rng: np.random.Generator, size=SIZE) -> np.ndarray:
    """An irregular free-form mask (thick random strokes), ``(H, W)`` bool, True = hole, 10-40 % of the image."""
    h, w = size
    while True:
        mask = np.zeros((h, w), np.uint8)
        for _ in range(rng.integers(2, 5)):
            pts = np.cumsum(rng.integers(-12, 13, (5, 2)), axis=0) + [rng.integers(0, w), rng.integers(0, h)]
            cv2.polylines(mask, [pts.astype(np.int32)], False, 1, int(rng.integers(4, 9)))
        if 0.1 <= mask.mean() <= 0.4:
            return mask.astype(bool)


def _folders(root: Path, n: int = 6, *, raw: bool = False, stored: str = "white", seed: int = 0) -> Path:
    """pred/ gt/ masks/; predictions are GT with noise in the holes (``raw``: plus a little everywhere); mask files
    store the hole as ``stored`` (white = 255)."""
    rng = np.random.default_rng(seed)
    for d in ("pred", "gt", "masks"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        gt, hole = _photo(rng), _strokes(rng)
        pred = gt.astype(np.float64)
        pred[hole] += rng.normal(0, 25, pred[hole].shape)
        if raw:
            pred += rng.normal(0, 2.5, pred.shape)
        Image.fromarray(gt).save(root / "gt" / f"img{i}.png")
        Image.fromarray(np.clip(pred.round(), 0, 255).astype(np.uint8)).save(root / "pred" / f"img{i}.png")
        white = hole if stored == "white" else ~hole
        Image.fromarray(white.astype(np.uint8) * 255).save(root / "masks" / f"img{i}.png")
    return root


def _run(root: Path, *extra: str, out: Path | None = None) -> int:
    args = ["--pred", str(root / "pred"), "--gt", str(root / "gt"), "--masks", str(root / "masks"),
            "--metrics", "psnr", "l1", "l1_hole", "--no-progress", "--quiet", "--bootstrap", "20", *extra]
    return main(args + (["--json", str(out)] if out else []))


# ------------------------------------------------------------------------------------------------ polarity
@pytest.mark.parametrize("raw", [False, True], ids=["composites", "raw-outputs"])
def test_inverted_masks_are_refused_and_both_declared_polarities_work(tmp_path, capsys, raw):
    compose = ["--compose"] if raw else []
    white = _folders(tmp_path / "white", raw=raw, stored="white")
    black = _folders(tmp_path / "black", raw=raw, stored="black")  # same pictures, holes stored black

    assert _run(white, *compose, out=tmp_path / "w.json") == 0
    assert _run(black, "--mask-hole", "black", *compose, out=tmp_path / "b.json") == 0
    w, b = (json.loads((tmp_path / f).read_text()) for f in ("w.json", "b.json"))
    assert w["overall"]["metrics"] == b["overall"]["metrics"]
    assert 20 < w["overall"]["metrics"]["psnr"]["mean"] < 40  # real errors, not the 100 dB cap
    assert w["settings"]["polarity_check"]["images_flagged"] == 0
    assert w["settings"]["polarity_check"]["images_checked"] == 6
    assert capsys.readouterr().err == ""

    for root, declared, hint in ((black, [], "--mask-hole black"), (white, ["--mask-hole", "black"],
                                                                    "--mask-hole white")):
        for extra in ([], ["--compose"]):  # the user's case: inverted masks + --compose scored a perfect 100 dB
            assert _run(root, *declared, *extra) == 2
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1
            assert "inverted" in err and hint in err and "img0" in err and "6 of 6" in err


def test_no_polarity_check_scores_as_declared(tmp_path, capsys):
    root = _folders(tmp_path, stored="black")
    assert _run(root, "--compose", "--no-polarity-check", out=tmp_path / "r.json") == 0
    report = json.loads((tmp_path / "r.json").read_text())
    # why the check exists: composing with the inverted mask pastes GT over the whole error
    assert report["overall"]["metrics"]["psnr"]["mean"] == PSNR_CAP_DB
    assert report["settings"]["polarity_check"].startswith("skipped")


def test_a_minority_of_odd_images_is_not_refused(tmp_path, capsys):
    root = _folders(tmp_path, n=5)
    for i in (1, 3):  # two of five masks inverted
        mask = np.asarray(Image.open(root / "masks" / f"img{i}.png"))
        Image.fromarray(255 - mask).save(root / "masks" / f"img{i}.png")
    assert _run(root, out=tmp_path / "r.json") == 0
    check = json.loads((tmp_path / "r.json").read_text())["settings"]["polarity_check"]
    assert (check["images_checked"], check["images_flagged"]) == (5, 2)
    mask = np.asarray(Image.open(root / "masks" / "img4.png"))
    Image.fromarray(255 - mask).save(root / "masks" / "img4.png")  # now 3 of 5: most
    assert _run(root) == 2
    assert "3 of 5" in capsys.readouterr().err


def test_per_image_rule():
    gt = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    hole = torch.zeros(1, 16, 16)
    hole[:, 4:10, 4:12] = 1
    noise = torch.randint(-20, 21, gt.shape)

    def pred(inside: float, outside: float) -> torch.Tensor:
        scale = hole * inside + (1 - hole) * outside
        return (gt.int() + (noise * scale).round().int()).clamp(0, 255).to(torch.uint8)

    composite = hole_errors(pred(1, 0), gt, hole)
    assert composite[1] == 0 and composite[0] > 5 and not looks_inverted(*composite)
    raw = hole_errors(pred(1, 0.2), gt, hole)
    assert 0 < raw[1] < raw[0] and not looks_inverted(*raw)
    assert looks_inverted(*hole_errors(pred(0, 1), gt, hole))  # equal in the holes, different outside
    assert looks_inverted(*hole_errors(pred(0.2, 1), gt, hole))
    assert not looks_inverted(*hole_errors(pred(1, 1), gt, hole))  # differs equally everywhere: no evidence
    assert not looks_inverted(0.0, 0.6)  # sub-grey-level noise outside (JPEG) is no evidence
    assert not looks_inverted(*hole_errors(gt, gt, hole))
    assert hole_errors(gt, gt, torch.zeros(1, 16, 16)) is None and hole_errors(gt, gt, torch.ones(1, 16, 16)) is None
    assert check_polarity({"a": None, "b": None}, "white")["images_checked"] == 0
    with pytest.raises(MaskPolarityError, match="--mask-hole white"):
        check_polarity({"a": (0.0, 9.0), "b": (0.0, 8.0), "c": (7.0, 1.0)}, "black")
    picked = _probe([str(i) for i in range(1000)], POLARITY_PROBE_IMAGES)
    assert len(picked) == POLARITY_PROBE_IMAGES and picked[0] == "0" and picked[-1] == "999"


def test_real_composites_with_the_wrong_polarity_are_refused(fixtures_dir, tmp_path, capsys):
    """MADF's official CelebA-HQ composites store holes black; read as white = hole they must be refused."""
    src = fixtures_dir / "madf_examples" / "celeba"
    for d in ("pred", "gt", "masks"):
        (tmp_path / d).mkdir()
    for case in ("case1", "case2", "case3"):
        (tmp_path / "pred" / f"{case}.png").write_bytes((src / f"{case}_output.png").read_bytes())
        (tmp_path / "gt" / f"{case}.png").write_bytes((src / f"{case}.png").read_bytes())
        (tmp_path / "masks" / f"{case}.png").write_bytes((src / f"{case}_mask.png").read_bytes())
    assert _run(tmp_path) == 2
    err = capsys.readouterr().err
    assert "3 of 3" in err and "--mask-hole black" in err
    assert _run(tmp_path, "--mask-hole", "black") == 0


# ------------------------------------------------------------------------------------------------ soft masks
def test_soft_masks_warn_once_naming_files_and_threshold(tmp_path, capsys):
    root = _folders(tmp_path, n=8)
    for i in (2, 5, 6):  # antialiased edges
        mask = np.asarray(Image.open(root / "masks" / f"img{i}.png"))
        Image.fromarray(cv2.GaussianBlur(mask, (5, 5), 1.0)).save(root / "masks" / f"img{i}.png")
    assert _run(root, out=tmp_path / "r.json") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warning" in err[0]
    assert "3 of 8 masks are not binary" in err[0] and "img2.png, img5.png, img6.png" in err[0]
    assert "0.5" in err[0] and "127" in err[0]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["settings"]["non_binary_masks"] == {"count": 3, "files": ["img2.png", "img5.png", "img6.png"]}


def test_binary_masks_do_not_warn_and_binarisation_matches_training(tmp_path, capsys):
    assert _run(_folders(tmp_path, n=3)) == 0
    assert capsys.readouterr().err == ""
    rng = np.random.default_rng(1)
    cases = [rng.integers(0, 256, (9, 7), dtype=np.uint8), np.array([[0, 1], [1, 0]], np.uint8),
             np.array([[0, 255], [255, 0]], np.uint8), np.array([[127, 128], [0, 255]], np.uint8),
             np.zeros((3, 3), np.uint8), np.full((3, 3), 255, np.uint8)]
    for gray in cases:
        ours, soft = binarize_mask(gray)
        theirs, their_soft = training_binarize(gray)
        assert np.array_equal(ours, theirs.astype(bool)) and soft == their_soft


# ------------------------------------------------------------------------------------------------ reading
def test_files_are_read_as_training_reads_them(tmp_path, capsys):
    """16-bit, EXIF-rotated, palette and RGBA ground truths against the 8-bit upright RGB a viewer shows."""
    rng = np.random.default_rng(3)
    for d in ("pred", "gt", "masks"):
        (tmp_path / d).mkdir()
    hole = _strokes(rng)
    photo = _photo(rng)

    gray = photo[..., 1]  # 16-bit grey GT holding the 8-bit values * 257
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "gt" / "sixteen.png")
    assert Image.open(tmp_path / "gt" / "sixteen.png").mode.startswith("I")
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(tmp_path / "pred" / "sixteen.png")

    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: a viewer rotates it 90 degrees clockwise
    stored = np.ascontiguousarray(np.rot90(photo, 1))
    Image.fromarray(stored).save(tmp_path / "gt" / "rotated.jpg", quality=95, exif=exif.tobytes())
    with Image.open(tmp_path / "gt" / "rotated.jpg") as img:
        assert img.size == (SIZE[0], SIZE[1])  # the stored grid is W x H swapped
        upright = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    assert upright.shape[:2] == SIZE
    Image.fromarray(upright).save(tmp_path / "pred" / "rotated.png")

    Image.fromarray(photo).quantize(32).save(tmp_path / "gt" / "palette.png")
    with Image.open(tmp_path / "gt" / "palette.png") as img:
        assert img.mode == "P"
        Image.fromarray(np.asarray(img.convert("RGB"))).save(tmp_path / "pred" / "palette.png")

    rgba = np.dstack([photo, np.full(SIZE, 255, np.uint8)])
    rgba[:10, :20] = (0, 0, 0, 0)  # transparent, stored black: training sees white there
    Image.fromarray(rgba, "RGBA").save(tmp_path / "gt" / "rgba.png")
    over_white = photo.copy()
    over_white[:10, :20] = 255
    Image.fromarray(over_white).save(tmp_path / "pred" / "rgba.png")

    for name in ("sixteen", "rotated", "palette", "rgba"):
        Image.fromarray(hole.astype(np.uint8) * 255).save(tmp_path / "masks" / f"{name}.png")
        assert np.array_equal(read_rgb(tmp_path / "gt" / next((tmp_path / "gt").glob(f"{name}.*")).name),
                              read_rgb(tmp_path / "pred" / f"{name}.png"))
    assert _run(tmp_path, out=tmp_path / "r.json") == 0
    report = json.loads((tmp_path / "r.json").read_text())
    metrics = report["overall"]["metrics"]
    assert metrics["psnr"]["mean"] >= PSNR_CAP_DB and metrics["l1"]["mean"] == 0 and metrics["l1_hole"]["mean"] == 0
    assert report["settings"]["psnr"]["zero_mse_images"] == 4
    assert "datamodules.image_io" in report["settings"]["reader"]


def test_masks_are_read_as_training_reads_them(tmp_path, capsys):
    """A 0/1 mask file and an alpha-only mask mark the same hole as the 0/255 file (training's read_gray rules)."""
    root = _folders(tmp_path, n=3)
    plain = np.asarray(Image.open(root / "masks" / "img0.png"))
    Image.fromarray((plain > 0).astype(np.uint8)).save(root / "masks" / "img0.png")  # 0/1 values
    alpha = np.zeros((*SIZE, 4), np.uint8)
    alpha[..., 3] = np.asarray(Image.open(root / "masks" / "img1.png"))
    Image.fromarray(alpha, "RGBA").save(root / "masks" / "img1.png")
    reader = ImageReader(read_rgb, read_gray)
    from evaluation.folder import read_mask

    for name, expected in (("img0", plain > 0), ("img1", alpha[..., 3] > 0)):
        hole, soft = read_mask(root / "masks" / f"{name}.png", reader)
        assert np.array_equal(hole[0].numpy() > 0, expected) and not soft
    assert _run(root) == 0


def test_an_unreadable_file_is_one_line_naming_it(tmp_path, capsys):
    root = _folders(tmp_path, n=2)
    (root / "gt" / "img1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"broken")
    assert _run(root) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(root / "gt" / "img1.png") in err


def test_evaluation_does_not_import_datamodules():
    """The reader is injected by the CLI: importing the evaluation side alone loads no ``datamodules`` module."""
    code = ("import sys, evaluation.folder, evaluation.collection, evaluation.report; "
            "print([m for m in sys.modules if m == 'datamodules' or m.startswith('datamodules.')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
