"""The folder evaluator on real files: MADF's official CelebA-HQ examples (composites, masks white = valid)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaint_suite.commands.evaluate import main

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "madf_examples" / "celeba"


@pytest.fixture
def madf_folders(tmp_path):
    if not FIXTURES.is_dir():
        pytest.skip(f"real fixtures not present at {FIXTURES}")
    for d in ("pred", "gt", "masks"):
        (tmp_path / d).mkdir()
    for case in ("case1", "case2", "case3"):  # copies into tmp only, never into the repository
        shutil.copy(FIXTURES / f"{case}_output.png", tmp_path / "pred" / f"{case}.png")
        shutil.copy(FIXTURES / f"{case}.png", tmp_path / "gt" / f"{case}.png")
        shutil.copy(FIXTURES / f"{case}_mask.png", tmp_path / "masks" / f"{case}.png")
    return tmp_path


def _load(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float64)


def test_madf_examples(madf_folders, tmp_path):
    root = madf_folders
    out = tmp_path / "r.json"
    args = ["--pred", str(root / "pred"), "--gt", str(root / "gt"), "--masks", str(root / "masks"),
            "--mask-hole", "black", "--metrics", "psnr", "ssim", "l1", "l1_hole", "l1_rel", "--no-progress",
            "--quiet", "--bootstrap", "100", "--json", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text())
    psnrs, ratios, l1s, holes = [], [], [], []
    for case in ("case1", "case2", "case3"):
        gt, pred = _load(root / "gt" / f"{case}.png"), _load(root / "pred" / f"{case}.png")
        hole = _load(root / "masks" / f"{case}.png")[..., 0] <= 127
        psnrs.append(10 * np.log10(255**2 / ((gt - pred) ** 2).mean()))
        ratios.append(hole.mean())
        l1s.append(np.abs(gt - pred).mean() / 255)
        holes.append(np.abs(gt - pred)[hole].mean() / 255)
    m = report["overall"]["metrics"]
    assert m["psnr"]["mean"] == pytest.approx(np.mean(psnrs))
    assert 24 < m["psnr"]["mean"] < 32 and 0.7 < m["ssim"]["mean"] < 1.0
    assert m["l1"]["mean"] == pytest.approx(np.mean(l1s))
    assert m["l1_hole"]["mean"] == pytest.approx(np.mean(holes))
    # the outputs are composites: the error lives in the hole only
    assert np.mean(l1s) == pytest.approx(np.mean(np.array(holes) * np.array(ratios)), rel=1e-9)
    assert sorted(report["buckets"]) == ["30-40%", "40-50%"]
    # scoring the composite built from the same files gives the same numbers
    assert main([*args[:-1], str(tmp_path / "c.json"), "--compose"]) == 0
    composed = json.loads((tmp_path / "c.json").read_text())
    assert composed["overall"]["metrics"]["psnr"]["mean"] == pytest.approx(m["psnr"]["mean"])
