import math

import pytest
import torch

from evaluation.stats import bootstrap_ci, summarize


def test_bootstrap_ci_contains_mean_and_shrinks_with_n():
    g = torch.Generator().manual_seed(0)
    small, large = torch.randn(20, generator=g), torch.randn(2000, generator=g)
    lo, hi = bootstrap_ci(small, resamples=500)
    assert lo < float(small.mean()) < hi
    lo2, hi2 = bootstrap_ci(large, resamples=500)
    assert lo2 < float(large.mean()) < hi2
    assert hi2 - lo2 < (hi - lo) / 3  # ~ 1/sqrt(n)
    # about 2 * 1.96 * sd / sqrt(n)
    assert hi2 - lo2 == pytest.approx(2 * 1.96 * float(large.std()) / math.sqrt(2000), rel=0.25)
    assert bootstrap_ci(small, resamples=200, seed=3) == bootstrap_ci(small, resamples=200, seed=3)


def test_summarize_ignores_nan_and_handles_edge_cases():
    s = summarize(torch.tensor([1.0, float("nan"), 3.0]), resamples=100)
    assert s["n"] == 2 and s["mean"] == 2.0 and s["ci95"][0] <= 2.0 <= s["ci95"][1]
    assert summarize(torch.tensor([float("nan")]))["mean"] is None
    one = summarize(torch.tensor([5.0, float("nan")]))  # one image: a mean, but no interval and no spread
    assert one == {"mean": 5.0, "ci95": None, "n": 1, "std": None}
    assert bootstrap_ci(torch.tensor([5.0])) is None and bootstrap_ci(torch.tensor([])) is None
    inf = summarize(torch.tensor([1.0, float("inf")]))
    assert math.isinf(inf["mean"]) and inf["ci95"] is None
