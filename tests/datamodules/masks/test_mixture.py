from __future__ import annotations

import numpy as np
import pytest
import torch

from datamodules.masks import build_mask_generator

SPEC = {"name": "mixture", "components": [
    {"generator": "center_box", "weight": 3},
    {"generator": {"name": "aim_box"}, "weight": 1},
]}


def test_weights_and_types():
    g = build_mask_generator(SPEC)
    idx = torch.arange(400)
    types = g.sample_types(idx, seed=0)
    share = np.mean([t == "center_box" for t in types])
    assert abs(share - 0.75) < 0.07
    m = g(idx[:50], 64, 64, seed=0)
    assert g.last_types == types[:50]
    # each sample really comes from the component it is labelled with
    centre = build_mask_generator("center_box")(torch.arange(1), 64, 64)[0]
    for mask, t in zip(m, g.last_types):
        assert torch.equal(mask, centre) == (t == "center_box")


def test_deterministic_and_batch_independent():
    g = build_mask_generator({"name": "mixture", "components": [
        {"generator": "aim_free_form", "weight": 1}, {"generator": "deepfill_v2", "weight": 1}]})
    a = g(torch.arange(10), 64, 64, seed=3)
    b = torch.cat([g(torch.arange(0, 4), 64, 64, seed=3), g(torch.arange(4, 10), 64, 64, seed=3)])
    c = g(torch.arange(10), 64, 64, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_params_round_trip():
    g = build_mask_generator(SPEC)
    p = g.params()
    assert [c["weight"] for c in p["components"]] == [0.75, 0.25]
    assert p["components"][0]["generator"]["name"] == "center_box"


def test_aim_mixed_uses_the_three_types():
    g = build_mask_generator("aim_mixed")
    assert set(g.sample_types(torch.arange(60), seed=0)) == {"aim_box", "aim_cellular_automata", "aim_free_form"}


def test_bad_mixture_specs():
    with pytest.raises(ValueError, match="needs 'components'"):
        build_mask_generator({"name": "mixture"})
    with pytest.raises(ValueError, match="weights must be >= 0"):
        build_mask_generator({"name": "mixture", "components": [{"generator": "aim_box", "weight": -1}]})
    with pytest.raises(ValueError, match="unknown mask generator 'nope'"):
        build_mask_generator({"name": "mixture", "components": [{"generator": "nope"}]})
