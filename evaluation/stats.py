"""Summaries of per-image scores: mean and percentile-bootstrap confidence interval."""

from __future__ import annotations

import math

import torch

__all__ = ["bootstrap_ci", "summarize"]


def bootstrap_ci(
    values: torch.Tensor, *, resamples: int = 1000, level: float = 0.95, seed: int = 0, chunk: int = 100
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean of ``values`` ``(n,)`` (finite values only).

    None for n < 2: resampling one value gives the zero-width "interval" [v, v], which says nothing about the
    uncertainty of the mean, so no interval is reported at all.

    Resamples are drawn from a ``torch.Generator`` seeded with ``seed`` in chunks (memory ``chunk * n`` indices).
    """
    v = values.detach().double().cpu().flatten()
    n = v.numel()
    if n < 2:
        return None
    gen = torch.Generator().manual_seed(seed)
    means = []
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        idx = torch.randint(n, (b, n), generator=gen)
        means.append(v[idx].mean(dim=1))
    means_t = torch.cat(means)
    alpha = (1.0 - level) / 2
    lo, hi = torch.quantile(means_t, torch.tensor([alpha, 1 - alpha], dtype=torch.float64))
    return float(lo), float(hi)


def summarize(values: torch.Tensor, *, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """``{"mean", "ci95": [lo, hi] | None, "n", "std"}`` over the non-NaN entries of ``values`` (NaN = not applicable).

    ``std`` is the sample standard deviation over images (AIM 2020 reports mean ± std); ``std`` and ``ci95`` are
    None for n < 2 (one image has no spread and no interval).

    Infinite values (PSNR with ``zero_mse="inf"``) make the mean infinite and the CI None.
    """
    v = values.detach().double().cpu().flatten()
    v = v[~torch.isnan(v)]
    n = int(v.numel())
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0, "std": None}
    mean = float(v.mean())
    if not math.isfinite(mean):
        return {"mean": mean, "ci95": None, "n": n, "std": None}
    ci = bootstrap_ci(v, resamples=resamples, level=level, seed=seed)
    std = float(v.std()) if n > 1 else None
    return {"mean": mean, "ci95": list(ci) if ci is not None else None, "n": n, "std": std}
