"""LaMa generators vs the CPU oracles and the official statistics (spec masks.md sections 1, 8, 9)."""

from __future__ import annotations

import pytest
import torch
from mask_stats import REFERENCE, assert_matches_table, assert_same_distribution, oracle_ratios, ours_ratios

from datamodules.masks import build_mask_generator

N = 200


@pytest.mark.parametrize("row", ["lama_train_abl04", "lama_medium_256_raw", "lama_thick_256_raw"])
def test_raw_generators_match_oracle_and_table(row):
    oracle_name, size, spec, mean, std, hist = REFERENCE[row]
    ours = ours_ratios(spec, N, size, size)
    assert_same_distribution(ours, oracle_ratios(oracle_name, N, size, size), row)
    assert_matches_table(ours, mean, std, hist, label=row)


def test_eval_set_thick_256_matches_oracle_and_table():
    oracle_name, size, spec, mean, std, hist = REFERENCE["lama_thick_256"]
    ours = ours_ratios(spec, N, size, size)
    assert ours.max() <= 0.5  # the set pipeline drops crops above 0.5
    assert_same_distribution(ours, oracle_ratios(oracle_name, N, size, size), "lama_thick_256")
    assert_matches_table(ours, mean, std, hist, label="lama_thick_256")


@pytest.mark.slow
@pytest.mark.parametrize(
    "row", ["lama_thin_256", "lama_medium_256", "lama_thin_512", "lama_medium_512", "lama_thick_512",
            "lama_thin_256_raw", "lama_thick_512_raw"],
)
def test_other_sets_match_oracle_and_table(row):
    oracle_name, size, spec, mean, std, hist = REFERENCE[row]
    ours = ours_ratios(spec, N, size, size)
    assert_same_distribution(ours, oracle_ratios(oracle_name, N, size, size), row)
    assert_matches_table(ours, mean, std, hist, label=row)
    if spec.get("pipeline", "eval_set") == "eval_set":
        assert ours.max() <= 0.5


def test_presets_resolve_to_the_spec_table():
    thin512 = build_mask_generator({"name": "lama_thin", "preset": 512}).params()
    assert (thin512["preset"], thin512["max_times"], thin512["max_len"], thin512["max_width"]) == (512, 70, 100, 20)
    assert thin512["box_proba"] == 0.0 and thin512["pipeline"] == "eval_set"
    thick512 = build_mask_generator({"name": "lama_thick", "preset": 512}).params()
    assert (thick512["bbox_max_size"], thick512["box_max_times"], thick512["box_margin"]) == (300, 4, 10)
    med = build_mask_generator({"name": "lama_medium", "preset": 256, "max_width": 7}).params()
    assert med["max_width"] == 7 and med["bbox_min_size"] == 10  # kwargs override the preset


def test_bad_preset_and_pipeline_are_clear_errors():
    with pytest.raises(ValueError, match=r"preset must be one of \[256, 512\]"):
        build_mask_generator({"name": "lama_thick", "preset": 384})
    with pytest.raises(ValueError, match="pipeline must be one of"):
        build_mask_generator({"name": "lama_thick", "pipeline": "crop"})


def test_stroke_endpoints_stay_inside_the_far_edge_clip():
    # irregular-only masks never extend beyond the thickness around [0, W] x [0, H]: a 64x64 canvas, thin strokes
    gen = build_mask_generator({"name": "lama_thin", "preset": 256, "pipeline": "raw"})
    m = gen(torch.arange(8), 64, 64, seed=0)
    assert m.shape == (8, 1, 64, 64) and set(m.unique().tolist()) <= {0.0, 1.0}
    assert (m.mean(dim=(1, 2, 3)) > 0).all()


def test_eval_set_crop_contains_the_right_most_hole_column():
    # an all-box generator whose boxes all sit in the right part of a 4:3 canvas still yields holes after the crop
    gen = build_mask_generator({"name": "lama_thick", "preset": 256, "irregular_proba": 0.0})
    m = gen(torch.arange(32), 96, 96, seed=4)
    assert (m.mean(dim=(1, 2, 3)) > 0).all()
    assert gen.last_rounds >= 1


def test_tiny_canvas_falls_back_with_a_warning_instead_of_an_empty_mask():
    gen = build_mask_generator({"name": "lama_thin", "preset": 256, "max_rounds": 3})
    with pytest.warns(UserWarning, match="no candidate crop"):
        m = gen(torch.arange(2), 24, 24, seed=0)
    assert (m.mean(dim=(1, 2, 3)) > 0).all()
