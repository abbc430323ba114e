"""AIM 2020 generators vs the CPU oracles and the official statistics (spec masks.md sections 4, 8, 9)."""

from __future__ import annotations

import mask_oracles
import numpy as np
import pytest
import torch
from mask_stats import REFERENCE, assert_matches_table, assert_same_distribution, oracle_ratios, ours_ratios

from datamodules.masks import build_mask_generator

N = 200  # per side; see mask_stats for what this N can resolve


@pytest.mark.parametrize("row", ["aim_box", "aim_cellular_automata", "aim_free_form", "aim_mixed"])
def test_matches_oracle_and_official_table(row):
    oracle_name, size, spec, mean, std, hist = REFERENCE[row]
    ours = ours_ratios(spec, N, size, size)
    ref = oracle_ratios(oracle_name, N, size, size)
    assert_same_distribution(ours, ref, row)
    assert_matches_table(ours, mean, std, hist, label=f"ours {row}")
    assert_matches_table(ref, mean, std, hist, label=f"oracle {row}")


@pytest.mark.slow
@pytest.mark.parametrize("row", ["aim_box_512", "aim_free_form_512", "aim_cellular_automata_512"])
def test_matches_official_table_512(row):
    oracle_name, size, spec, mean, std, hist = REFERENCE[row]
    ours = ours_ratios(spec, 1000, size, size)
    assert_matches_table(ours, mean, std, hist, label=row)


def _share_right_of(mask: torch.Tensor, col: int) -> float:
    return float(mask[..., col:].sum() / mask.sum())


def test_free_form_axis_swap_keeps_strokes_in_left_square():
    # spec section 9 test 5: on 256x512 (H x W) the share of hole pixels in columns >= 256 is below 10 % with the
    # official swap (measured 7.9 %), about half without it
    swap = build_mask_generator("aim_free_form")(torch.arange(64), 256, 512, seed=0)
    fixed = build_mask_generator({"name": "aim_free_form", "official_axis_swap": False})(torch.arange(64), 256, 512, seed=0)
    assert _share_right_of(swap, 256) < 0.10
    assert 0.35 < _share_right_of(fixed, 256) < 0.65
    rng = np.random.default_rng(0)
    oracle = np.stack([mask_oracles.aim_free_form(rng, 256, 512) for _ in range(64)])
    assert _share_right_of(torch.as_tensor(oracle), 256) < 0.10


def test_box_is_one_rectangle_with_the_official_side_ranges():
    h, w = 100, 300
    masks = build_mask_generator("aim_box")(torch.arange(50), h, w, seed=3)[:, 0]
    for m in masks:
        rows = torch.nonzero(m.any(1)).flatten()
        cols = torch.nonzero(m.any(0)).flatten()
        bh, bw = len(rows), len(cols)
        assert int(0.3 * h) <= bh <= int(0.7 * h) and int(0.3 * w) <= bw <= int(0.7 * w)
        assert rows[-1] - rows[0] + 1 == bh and cols[-1] - cols[0] + 1 == bw
        assert int(m.sum()) == bh * bw  # filled, a single rectangle


def test_cellular_automaton_step_range_is_a_parameter():
    paper = build_mask_generator({"name": "aim_cellular_automata", "steps": [2, 5]})
    code = build_mask_generator("aim_cellular_automata")
    assert paper.params()["steps"] == [2, 5] and code.params()["steps"] == [2, 6]
    a = code(torch.arange(16), 64, 64, seed=0)
    b = code(torch.arange(16), 64, 64, seed=0)
    c = code(torch.arange(16), 64, 64, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_cellular_automaton_single_scale_matches_majority_rule():
    # scale 1, one step: compare against the scipy median filter applied to the same initial grid
    from scipy import ndimage

    from datamodules.masks.rng import hash_bernoulli

    gen = build_mask_generator({"name": "aim_cellular_automata", "scales": [1], "steps": [1, 1]})
    params = {"scale": np.array([1]), "steps": np.array([1]), "key": np.array([12345])}
    out = gen.rasterize(params, 40, 50, "cpu")[0, 0].numpy()
    grid = hash_bernoulli(torch.tensor([12345]), (40, 50)).numpy()[0].astype(np.uint8)
    ref = ndimage.median_filter(grid, size=3, mode="constant", cval=0)
    assert np.array_equal(out, ref.astype(np.float32))


def test_free_form_quirk_switches():
    base = build_mask_generator("aim_free_form")
    smooth = build_mask_generator({"name": "aim_free_form", "continuous_angles": True})
    assert not torch.equal(base(torch.arange(4), 64, 64, seed=0), smooth(torch.arange(4), 64, 64, seed=0))
    # absolute sizes: holes shrink on a larger canvas; reference_size=256 keeps the 256^2 hole ratio at 512^2
    rel = build_mask_generator({"name": "aim_free_form", "reference_size": 256})
    r256 = base(torch.arange(48), 256, 256, seed=0).mean()
    r512_abs = base(torch.arange(48), 512, 512, seed=0).mean()
    r512_rel = rel(torch.arange(48), 512, 512, seed=0).mean()
    assert r512_abs < 0.5 * r256 and abs(r512_rel - r256) < 0.05


def test_cellular_automaton_filters_equal_kornias():
    """The shifted-add majority filter and cross dilation are Kornia's 3x3 median (zero border) and its dilation with
    the cross, exactly; they stay hand-written only for speed (see datamodules/masks/aim.py)."""
    kornia = pytest.importorskip("kornia")
    from datamodules.masks.aim import _box3_sum, _dilate_cross

    grid = (torch.rand(6, 1, 37, 50, generator=torch.Generator().manual_seed(0)) > 0.5).to(torch.uint8)
    median = kornia.filters.median_blur(grid.float(), (3, 3), border_type="constant")
    assert torch.equal((_box3_sum(grid) >= 5).float(), median)
    cross = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    assert torch.equal(_dilate_cross(grid).float(), kornia.morphology.dilation(grid.float(), cross))
