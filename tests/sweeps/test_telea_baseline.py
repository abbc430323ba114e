"""The sweeps' Telea baseline row: ``sweeps.trial`` scores ``cv2.inpaint`` (``evaluation.baselines``, as the learning
bench) on the row's test split, beside the white-filled masked input."""

from __future__ import annotations

from sweeps.spec import load_sweep
from sweeps.trial import run_masked_input_baseline

DATA = {"dataset": "sample", "image_size": 64, "batch_size": 2, "num_workers": 0, "masks": "aim_free_form",
        "test_length": 4}


def test_telea_row_scores_the_opencv_fill_on_the_same_test_images():
    telea = run_masked_input_baseline({"data": DATA}, ["psnr", "l1"], baseline="telea")["overall"]["metrics"]
    white = run_masked_input_baseline({"data": DATA}, ["psnr", "l1"])["overall"]["metrics"]
    assert telea["psnr"]["n"] == white["psnr"]["n"] == 4
    assert telea["psnr"]["mean"] > white["psnr"]["mean"] + 3 and telea["l1"]["mean"] < white["l1"]["mean"]


def test_sweeps_with_a_masked_input_row_have_a_telea_row_beside_it():
    for name in ("aim_track1", "aim_track2"):
        rows = load_sweep(name).rows
        kinds = [row.baseline for row in rows]
        assert kinds[:2] == ["masked_input", "telea"], (name, kinds)
        assert rows[1].method is None and not rows[1].overrides
