"""``inpaint-suite bench --sections learning`` at a toy budget, and the OpenCV baselines it compares against."""

from __future__ import annotations

import json

import pytest
import torch

from evaluation.baselines import baseline_composite, masked_input, opencv_inpaint
from inpaint_suite.cli import main


def test_learning_section_prints_the_table_writes_the_figure_and_the_first_step_beating_telea(tmp_path, capsys):
    out, figure = tmp_path / "bench.json", tmp_path / "learning.png"
    code = main(["bench", "--device", "cpu", "--sections", "learning", "--learn-methods", "tiny",
                 "--learn-steps", "3", "--learn-eval-every", "2", "--learn-eval-images", "7",
                 "--learn-figure", str(figure), "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "first_step_beating_telea" in printed and "telea" in printed and "navier_stokes" in printed
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    learning = json.loads(out.read_text())["learning"]
    assert [r["step"] for r in learning["curves"]["tiny"]] == [0, 2, 3]  # untrained, every 2, and the last step
    (summary,) = learning["summary"]
    first = summary["first_step_beating_telea"]
    assert first == "not within budget" or first in (2, 3)
    assert summary["telea_l1_hole"] == learning["baselines"]["64"]["telea"]["l1_hole"]
    for values in [*learning["baselines"]["64"].values(), *learning["curves"]["tiny"]]:
        assert set(values) >= {"l1_hole", "psnr", "ssim", "lpips"}
        assert all(f"l1_hole@{b}" in values for b in ("0-10%", "30-40%", ">60%"))  # every bucket has masks


def test_learning_options_are_checked(capsys):
    assert main(["bench", "--device", "cpu", "--sections", "learning", "--learn-steps", "gan=3"]) == 2
    assert "unknown method 'gan'" in capsys.readouterr().err


def _photo_and_hole():
    from datamodules.datasets.sample import SampleDataset

    image = SampleDataset("test", image_size=64, length=1)[0]["image"][None]
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:36, 24:40] = 1
    return image, mask


@pytest.mark.parametrize("method", ["telea", "navier_stokes"])
def test_opencv_inpaint_keeps_known_pixels_and_fills_the_hole_from_its_border(method):
    image, mask = _photo_and_hole()
    out = opencv_inpaint(image, mask, method)
    assert out.shape == image.shape and out.dtype == image.dtype
    torch.testing.assert_close(out * (1 - mask), image * (1 - mask), rtol=0, atol=0)
    hole = lambda x: (x - image).abs().mul(mask).sum() / (3 * mask.sum())  # noqa: E731
    assert hole(out) < 0.5 * hole(masked_input(image, mask))  # far closer than a white fill
    flat = torch.full_like(image, 0.2)  # a flat image is filled with its own colour, within 2 uint8 levels (Telea)
    assert (opencv_inpaint(flat, mask, method) - flat).abs().max() <= 2 * 2 / 255 + 1e-6


def test_baseline_composite_names():
    image, mask = _photo_and_hole()
    torch.testing.assert_close(baseline_composite("masked_input", image, mask), image * (1 - mask) + mask)
    with pytest.raises(ValueError, match="telea"):
        baseline_composite("patchmatch", image, mask)
