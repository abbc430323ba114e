"""``inpaint-suite predict --image``: any size through CRA, known pixels untouched, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inpaint_suite.cli import main


def write_pair(tmp_path, h=96, w=160):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[30:60, 40:100] = 255
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return photo, mask


@pytest.mark.parametrize("base", [64, 96])
def test_predict_any_size_keeps_known_pixels(tmp_path, base):
    photo, mask = write_pair(tmp_path)
    out = tmp_path / "out.png"
    code = main(["predict", "--method", "tiny", "--random-weights", "--image", str(tmp_path / "photo.png"),
                 "--mask", str(tmp_path / "mask.png"), "--out", str(out), "--base-size", str(base)])
    assert code == 0
    result = np.asarray(Image.open(out))
    assert result.shape == photo.shape
    known = mask == 0
    assert np.array_equal(result[known], photo[known])
    assert not np.array_equal(result[~known], photo[~known])


def test_predict_on_a_real_aim_validation_photo(tmp_path, fixtures_dir):
    folder = fixtures_dir / "aim2020_validation"
    out = tmp_path / "out.png"
    code = main(["predict", "--method", "tiny", "--random-weights", "--base-size", "64",
                 "--image", str(folder / "AIM_IC_t1_validation_0_with_holes.png"),
                 "--mask", str(folder / "AIM_IC_t1_validation_0_mask.png"), "--out", str(out)])
    assert code == 0 and out.is_file()


def test_predict_bad_inputs_exit_2(tmp_path, capsys):
    write_pair(tmp_path)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small_mask.png")
    args = ["predict", "--method", "tiny", "--random-weights", "--image", str(tmp_path / "photo.png"),
            "--out", str(tmp_path / "o.png")]
    assert main(args + ["--mask", str(tmp_path / "small_mask.png")]) == 2
    assert "small_mask.png" in capsys.readouterr().err
    (tmp_path / "broken.png").write_bytes(b"not a png")
    bad = ["predict", "--method", "tiny", "--random-weights", "--image", str(tmp_path / "broken.png"),
           "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "o.png")]
    assert main(bad) == 2
    assert "broken.png" in capsys.readouterr().err
    assert main(["predict", "--method", "nope", "--random-weights", "--image", str(tmp_path / "photo.png"),
                 "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "o.png")]) == 2
