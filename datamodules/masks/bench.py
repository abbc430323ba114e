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

from . import build_mask_generator

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
