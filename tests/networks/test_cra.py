"""Tests for networks/cra.py: streamed residual aggregation vs a direct per-patch computation, bit-exact known
pixels at 1024 and 4096 (HiFill generator, base 512), resampling grid, wrapping a generator without attention.

Also holds :func:`bench_cra` (time + peak RSS per size, one fresh process per size), which the bench can import:
peak-memory measurement (``resource``) is kept out of ``networks/``.
"""
from __future__ import annotations

import math
import multiprocessing as std_mp
import os
import resource
import sys
import time

import pytest
import torch
import torch.nn.functional as F

from networks.cra import (
    DOWNSAMPLE_MODES,
    UPSAMPLE_MODES,
    ContextualResidualAggregation,
    aggregate_residual_direct,
    downsample,
    time_cra,
    upsample,
    upsample_rows,
)
from networks.hifill import HiFillGenerator


class StubGenerator:
    """A fixed 'inpainting' (a smooth ramp in the hole) plus fixed row-stochastic scores; records its inputs."""

    def __init__(self, grid: int, seed: int = 0, with_scores: bool = True):
        g = torch.Generator().manual_seed(seed)
        self.scores = torch.softmax(3 * torch.randn(1, grid * grid, grid * grid, generator=g), -1)
        self.with_scores = with_scores
        self.calls = []

    def __call__(self, image, mask):
        self.calls.append((image.clone(), mask.clone()))
        size = image.shape[-1]
        ramp = torch.linspace(-0.8, 0.8, size).view(1, 1, 1, size).expand(1, 3, size, size)
        out = ramp * mask + image * (1 - mask)
        return {"output": out, "scores": self.scores} if self.with_scores else out


def _photo(size: int, seed: int = 0, hole=None):
    g = torch.Generator().manual_seed(seed)
    # smooth content + fine noise, so the residual is far from zero
    low = torch.rand(1, 3, 8, 8, generator=g) * 2 - 1
    image = (F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)
             + 0.2 * torch.randn(1, 3, size, size, generator=g)).clamp(-1, 1)
    mask = torch.zeros(1, 1, size, size)
    y0, y1, x0, x1 = hole or (size // 4, size // 2, size // 3, 2 * size // 3)
    mask[..., y0:y1, x0:x1] = 1
    return image, mask


@pytest.mark.parametrize("k, down, up", [(2, "average", "bilinear"), (3, "bicubic", "bicubic"),
                                         (4, "nearest", "nearest")])
def test_aggregated_residual_equals_direct_per_patch_computation(k, down, up):
    base, grid = 32, 4  # cells: 8 px at the base size, 8k px at full resolution
    size = base * k
    image, mask = _photo(size, seed=k, hole=(5, 3 * size // 5, 7, size // 2 + 3))
    gen = StubGenerator(grid, seed=k)
    out = ContextualResidualAggregation(gen, base_size=base, downsample=down, upsample=up)(image, mask)

    # direct computation with whole-image operators and explicit per-patch loops (spec 2.7 steps 2-6)
    mask_base = F.max_pool2d(mask, k)
    image_base = downsample(image, k, down) * (1 - mask_base)
    x2_pasted = gen(image_base, mask_base)["output"]
    hole_l = (upsample(mask_base, k, "nearest") + mask) > 0
    residual = (image - upsample(image_base, k, up)).masked_fill(hole_l, 0)
    aggregated = aggregate_residual_direct(residual[0], gen.scores[0], grid)
    expected = (upsample(x2_pasted, k, up)[0] + aggregated).clamp(-1, 1)
    expected = torch.where(mask[0] > 0, expected, image[0])
    assert torch.allclose(out[0], expected, atol=1e-5)
    assert torch.equal(gen.calls[0][0] * gen.calls[0][1], torch.zeros_like(gen.calls[0][0]))  # hole zeroed


def test_residual_is_what_the_fill_gets_beyond_upsampling():
    """With the residual the hole differs from a plain up-sampled fill by exactly the aggregated residual."""
    image, mask = _photo(128)
    gen = StubGenerator(4, seed=3)
    cra = ContextualResidualAggregation(gen, base_size=32)
    out = cra(image, mask)
    mask_base = F.max_pool2d(mask, 4)
    plain = upsample(gen(downsample(image, 4, "average") * (1 - mask_base), mask_base)["output"], 4, "bilinear")
    assert (out - plain).abs()[mask.expand_as(out) > 0].mean() > 0.01


def _bit_exact_known_pixels(size: int):
    torch.manual_seed(0)
    generator = HiFillGenerator().eval()
    image = torch.rand(1, 3, size, size) * 2 - 1
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 5: size // 2, size // 3: size // 3 + size // 4] = 1
    mask[..., 3 * size // 4: 3 * size // 4 + 3, :] = 1  # a 3-pixel scratch: thinner than one base pixel
    out = ContextualResidualAggregation(generator)(image, mask)
    known = mask.expand_as(image) == 0
    assert out.shape == image.shape
    assert torch.equal(out[known], image[known])  # bit for bit
    assert torch.isfinite(out).all() and out.abs().max() <= 1
    assert not torch.equal(out[~known], image[~known])


def test_known_pixels_untouched_bit_for_bit_1024():
    _bit_exact_known_pixels(1024)


def test_known_pixels_untouched_bit_for_bit_4096():
    start = time.perf_counter()
    _bit_exact_known_pixels(4096)
    assert time.perf_counter() - start < 300


def test_base_size_image_is_the_plain_generator_pasted():
    torch.manual_seed(0)
    generator = HiFillGenerator().eval()
    image, mask = _photo(64)
    out = ContextualResidualAggregation(generator, base_size=64)(image, mask)
    with torch.no_grad():
        direct = generator(image, mask)["refine"]
    assert torch.allclose(out, direct * mask + image * (1 - mask), atol=1e-6)


def test_non_square_photo_and_generator_without_attention():
    image, mask = _photo(160)
    image, mask = image[..., :100, :], mask[..., :100, :]  # 100 x 160 -> working size 2 x 96 = 192
    gen = StubGenerator(6, with_scores=False)
    cra = ContextualResidualAggregation(gen, base_size=96, grid=6)
    out = cra(image, mask)
    assert out.shape == image.shape
    assert gen.calls[0][0].shape == (1, 3, 96, 96)
    assert cra.last_scores.shape == (1, 36, 36)  # computed from the image
    known = mask.expand_as(image) == 0
    assert torch.equal(out[known], image[known])


def test_generator_attention_required_but_missing_raises():
    gen = StubGenerator(4, with_scores=False)
    with pytest.raises(ValueError):
        ContextualResidualAggregation(gen, base_size=32, attention="generator")(*_photo(64))


@pytest.mark.parametrize("down", DOWNSAMPLE_MODES)
@pytest.mark.parametrize("up", UPSAMPLE_MODES)
def test_fig3_resampling_grid_runs(down, up):
    image, mask = _photo(96)
    out = ContextualResidualAggregation(StubGenerator(4), base_size=32, downsample=down, upsample=up)(image, mask)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("mode", UPSAMPLE_MODES)
@pytest.mark.parametrize("k", [2, 3, 6])
def test_banded_upsampling_equals_full_upsampling(mode, k):
    low = torch.randn(1, 3, 12, 10)
    full = upsample(low, k, mode)
    for r0, r1 in [(0, 3), (3, 6), (9, 12), (0, 12)]:
        assert torch.allclose(upsample_rows(low, k, mode, r0, r1), full[:, :, r0 * k:r1 * k], atol=1e-5)


def test_bad_operator_names_are_rejected():
    with pytest.raises(ValueError):
        ContextualResidualAggregation(StubGenerator(4), downsample="lanczos")
    with pytest.raises(ValueError):
        ContextualResidualAggregation(StubGenerator(4), upsample="area")


# ---------------------------------------------------------------------------------------------- benchmark helper
def _bench_child(size: int, queue) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = time_cra(size)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    queue.put((seconds, peak / 1024, before / 1024))


# spawn children unpickle the target by module name: this module's plain name, from its folder on sys.path, since
# "tests.networks..." can resolve to another distribution's top-level "tests" package (torch-fidelity installs one)
if os.path.dirname(__file__) not in sys.path:
    sys.path.append(os.path.dirname(__file__))
_bench_child.__module__ = "test_cra"
sys.modules.setdefault("test_cra", sys.modules[__name__])  # the parent pickles this very function


def bench_cra(sizes) -> list[dict]:
    """CRA wall time and peak resident memory per square size, each size in a fresh process (HiFill, random weights,
    centred square hole of 25 % area, base 512). Returns ``[{"size", "seconds", "peak_mb", "baseline_mb"}]``:
    ``peak_mb`` is the child's peak RSS, ``baseline_mb`` its peak RSS after importing torch, before building the
    model and the image (so ``peak_mb - baseline_mb`` is what model + image + inpainting added)."""
    ctx = std_mp.get_context("spawn")
    rows = []
    for size in sizes:
        queue = ctx.Queue()
        proc = ctx.Process(target=_bench_child, args=(int(size), queue))
        proc.start()
        seconds, peak, baseline = queue.get()
        proc.join()
        rows.append({"size": int(size), "seconds": round(seconds, 3), "peak_mb": round(peak, 1),
                     "baseline_mb": round(baseline, 1)})
    return rows


@pytest.mark.slow
def test_bench_cra_reports_time_and_memory():
    (row,) = bench_cra([512])
    assert row["size"] == 512 and row["seconds"] > 0 and row["peak_mb"] >= row["baseline_mb"] > 0
    assert math.isfinite(row["peak_mb"])
