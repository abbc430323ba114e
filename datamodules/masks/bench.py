"""Throughput of the mask generators against CPU reference implementations.

The oracles live in ``tests/datamodules/masks/mask_oracles.py`` (numpy/OpenCV/PIL, one mask at a time); the
caller passes them in, e.g. ``bench_masks({"aim_free_form": "aim_free_form"}, oracles={"aim_free_form":
mask_oracles.aim_free_form})``. Timings are wall clock; on CUDA the device is synchronised around each call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from kornia.utils import draw_convex_polygon

from . import build_mask_generator
from .raster import SpanCanvas

Oracle = Callable[[np.random.Generator, int, int], np.ndarray]


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _best_of(fn: Callable[[], Any], repeats: int, device) -> float:
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def bench_masks(
    generators: Mapping[str, Any] | Sequence[str],
    batch: int = 64,
    sizes: Sequence[int] = (256, 512),
    device="cpu",
    oracles: Mapping[str, Oracle | Mapping[int, Oracle]] | None = None,
    oracle_masks: int = 16,
    repeats: int = 3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Time one batch of ``batch`` masks per generator and size (best of ``repeats``, after one warm-up call).

    Args:
        generators: ``{label: spec}`` (or a list of names; the label is the name). A spec may hold the size
            placeholder ``"{size}"`` as a value (e.g. ``{"name": "lama_thick", "preset": "{size}"}``).
        oracles: ``{label: oracle}`` or ``{label: {size: oracle}}``; each is timed on ``oracle_masks`` masks.
    Returns one dict per (generator, size): ``generator, size, batch, device, ours_ms_per_mask,
    oracle_ms_per_mask, speedup`` (oracle / ours; None without an oracle).
    """
    if not isinstance(generators, Mapping):
        generators = {name: name for name in generators}
    oracles = oracles or {}
    rows = []
    for label, spec in generators.items():
        for size in sizes:
            concrete = _fill_size(spec, size)
            gen = build_mask_generator(concrete)
            idx = torch.arange(batch)
            gen(idx, size, size, device=device, seed=seed)  # warm-up (kernels, caches)
            ours = _best_of(lambda g=gen, i=idx, s=size: g(i, s, s, device=device, seed=seed), repeats, device) / batch
            oracle = oracles.get(label)
            if isinstance(oracle, Mapping):
                oracle = oracle.get(size)
            oracle_ms = None
            if oracle is not None:
                rng = np.random.default_rng(seed)

                def run_oracle(fn=oracle, rng=rng, s=size):
                    for _ in range(oracle_masks):
                        fn(rng, s, s)

                oracle_ms = _best_of(run_oracle, max(1, repeats - 1), "cpu") / oracle_masks * 1e3
            rows.append({
                "generator": label,
                "size": size,
                "batch": batch,
                "device": str(device),
                "ours_ms_per_mask": ours * 1e3,
                "oracle_ms_per_mask": oracle_ms,
                "speedup": (oracle_ms / (ours * 1e3)) if oracle_ms is not None else None,
            })
    return rows


def _fill_size(spec, size: int):
    if isinstance(spec, Mapping):
        return {k: (size if v == "{size}" else v) for k, v in spec.items()}
    return spec


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of :func:`bench_masks` rows."""
    lines = [f"{'generator':24s} {'size':>5s} {'ours ms/mask':>13s} {'oracle ms/mask':>15s} {'speedup':>8s}"]
    for r in rows:
        o = "-" if r["oracle_ms_per_mask"] is None else f"{r['oracle_ms_per_mask']:.2f}"
        s = "-" if r["speedup"] is None else f"{r['speedup']:.1f}x"
        lines.append(f"{r['generator']:24s} {r['size']:5d} {r['ours_ms_per_mask']:13.2f} {o:>15s} {s:>8s}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- thick strokes: ours vs Kornia
def capsule_outlines(x0, y0, x1, y1, radius, arc_points: int = 16) -> torch.Tensor:
    """The outline of each capsule as a convex polygon ``(..., 2 * (arc_points + 1), 2)`` (x, y): a half circle of
    ``arc_points + 1`` vertices around each end, joined by the two sides. Inputs ``(...)`` float tensors."""
    phi = torch.atan2(y1 - y0, x1 - x0).unsqueeze(-1)
    t = torch.linspace(0.0, torch.pi, arc_points + 1, dtype=x0.dtype, device=x0.device)
    ends = []
    for cx, cy, start in ((x1, y1, phi - torch.pi / 2), (x0, y0, phi + torch.pi / 2)):
        angle = start + t
        r = radius.unsqueeze(-1)
        ends.append(torch.stack([cx.unsqueeze(-1) + r * torch.cos(angle), cy.unsqueeze(-1) + r * torch.sin(angle)], -1))
    return torch.cat(ends, -2)


def bench_stroke_rasteriser(device="cpu", sizes: Sequence[int] = (256, 512), batch: int = 64, strokes: int = 40,
                            repeats: int = 3, seed: int = 0) -> list[dict[str, Any]]:
    """The span rasteriser (:class:`SpanCanvas`, exact capsules, all strokes of the batch in one pass) against
    ``kornia.utils.draw_convex_polygon`` (one convex polygon per image per call: one call per stroke, each capsule
    as its 34-vertex outline) on ``batch`` masks of ``strokes`` random thick segments (width 10-40 px).

    Returns one row per size: ms per mask for each, their ratio, and the share of pixels where the two differ (the
    polygon approximates the round caps; pixel centres on the boundary count as inside in both)."""
    rows = []
    for size in sizes:
        g = torch.Generator().manual_seed(seed)
        x0, y0, x1, y1 = (torch.rand(batch, strokes, generator=g, dtype=torch.float64) * size for _ in range(4))
        radius = 5.0 + 15.0 * torch.rand(batch, strokes, generator=g, dtype=torch.float64)
        valid = torch.ones(batch, strokes, dtype=torch.bool)
        polygons = capsule_outlines(x0, y0, x1, y1, radius).float().to(device)
        colour = torch.ones(batch, 1, device=device)

        def spans(s=size, shapes=(x0, y0, x1, y1, radius, valid)):
            canvas = SpanCanvas(batch, s, s, device)
            canvas.add_capsules(*shapes)
            return canvas.mask()

        def kornia(s=size, polygons=polygons, colour=colour):
            image = torch.zeros(batch, 1, s, s, device=device)
            for k in range(strokes):
                draw_convex_polygon(image, polygons[:, k], colour)
            return image

        ours_s, kornia_s = (_best_of(fn, repeats, device) for fn in (spans, kornia))
        rows.append({"size": size, "batch": batch, "strokes": strokes, "device": str(device),
                     "spans_ms_per_mask": 1e3 * ours_s / batch, "kornia_ms_per_mask": 1e3 * kornia_s / batch,
                     "kornia_over_spans": kornia_s / ours_s,
                     "differing_pixels": float((spans() != kornia()).float().mean())})
    return rows
