"""``predict --pipeline official`` with converted (random) official weights against the re-typed official test
scripts (``official_reference/pipelines.py``) running the re-typed official networks, on the real AIM photo."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaint_suite.cli import main

HERE = Path(__file__).resolve().parent


def _reference(name: str):
    spec = importlib.util.spec_from_file_location(f"official_reference_{name}", HERE / "official_reference" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _aim_photo(fixtures_dir):
    folder = fixtures_dir / "aim2020_validation"
    return folder / "AIM_IC_t1_validation_0_with_holes.png", folder / "AIM_IC_t1_validation_0_mask.png"


def _convert(tmp_path, official_files, method, g, d=None):
    out = tmp_path / f"{method}.ckpt"
    args = ["convert", method, str(official_files[g][0]), "--out", str(out)]
    assert main(args + (["--discriminator", str(official_files[d][0])] if d else [])) == 0
    return out


def _close(ours: np.ndarray, official: np.ndarray) -> None:
    """Equal up to the odd uint8 step where the networks' 1e-6 differences straddle a quantisation boundary."""
    diff = np.abs(ours.astype(int) - official.astype(int))
    assert ours.shape == official.shape and diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), diff.mean())


def test_predict_official_aotgan_runs_the_256_px_photo_at_its_size(tmp_path, fixtures_dir, official_files):
    """src/test.py at 256 px (the config's base size is 512: ours would go through CRA), truncated to uint8."""
    ref = _reference("aotgan")
    pipelines = _reference("pipelines")
    weights = _convert(tmp_path, official_files, "aotgan", "aotgan_generator")
    image, mask = _aim_photo(fixtures_dir)
    g = ref.InpaintGenerator()
    g.load_state_dict(official_files["aotgan_generator"][1], strict=True)
    official = pipelines.aotgan_test(g.eval(), image, mask)
    out = tmp_path / "out.png"
    assert main(["predict", "--pipeline", "official", "--method", "aotgan", "--weights", str(weights),
                 "--image", str(image), "--mask", str(mask), "--out", str(out)]) == 0
    _close(np.asarray(Image.open(out)), official)


@pytest.mark.slow  # 43 M-parameter G, x5 ensemble at 256 px, twice
def test_predict_official_deepgin_is_test_ensemble(tmp_path, fixtures_dir, official_files):
    ref = _reference("deepgin")
    pipelines = _reference("pipelines")
    weights = _convert(tmp_path, official_files, "deepgin", "deepgin_generator", "deepgin_discriminator")
    image, mask = _aim_photo(fixtures_dir)
    g = ref.ImageTinker2(4)
    g.load_state_dict(official_files["deepgin_generator"][1], strict=True)
    g.eval()
    official = pipelines.deepgin_test_ensemble(lambda x, m: g(x, m)[:3], image, mask)
    out = tmp_path / "out.png"
    assert main(["predict", "--pipeline", "official", "--method", "deepgin", "--weights", str(weights),
                 "--image", str(image), "--mask", str(mask), "--out", str(out)]) == 0
    _close(np.asarray(Image.open(out)), official)


def test_predict_official_refuses_a_method_without_a_script(tmp_path, fixtures_dir, capsys):
    image, mask = _aim_photo(fixtures_dir)
    assert main(["predict", "--pipeline", "official", "--method", "tiny", "--random-weights", "--image", str(image),
                 "--mask", str(mask), "--out", str(tmp_path / "o.png")]) == 2
    assert "--pipeline official" in capsys.readouterr().err and not (tmp_path / "o.png").exists()
