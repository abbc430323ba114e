"""Fixed evaluation masks: export to PNG + ``manifest.json``, hole-ratio statistics, verification.

Layout of an exported set ``DIR``: ``00000.png`` ... (8-bit grey, 255 = hole, 0 = known) and ``manifest.json``:
``generator`` (name), ``spec`` (what was asked), ``params`` (resolved constructor parameters), ``height``,
``width``, ``n``, ``seed``, ``files`` (``name``, ``index``, ``hole_ratio``, ``mask_type``, ``bucket``),
``stats`` (:func:`ratio_stats`) and ``content_sha256`` (sha256 over the PNG bytes in name order). The manifest has
no timestamp, so exporting the same spec and seed twice gives byte-identical folders.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import build_mask_generator
from .buckets import hole_ratio_bucket

MANIFEST = "manifest.json"


def ratio_stats(ratios: Iterable[float]) -> dict[str, Any]:
    """``{"hole_ratio_mean", "hole_ratio_std", "histogram", "n"}``; histogram = fraction of masks in the 10 bins
    ``[0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]`` (the layout of the spec's reference table)."""
    r = np.asarray(list(ratios), dtype=np.float64)
    n = int(r.size)
    hist = np.histogram(np.clip(r, 0, 1), bins=10, range=(0.0, 1.0))[0] / max(n, 1)
    return {
        "hole_ratio_mean": float(r.mean()) if n else float("nan"),
        "hole_ratio_std": float(r.std()) if n else float("nan"),
        "histogram": [round(float(h), 6) for h in hist],
        "n": n,
    }


def png_bytes(mask: np.ndarray) -> bytes:
    """``(H, W)`` {0, 1} -> PNG bytes, 8-bit grey, 255 = hole (deterministic encoding)."""
    buf = io.BytesIO()
    Image.fromarray((np.asarray(mask) > 0.5).astype(np.uint8) * 255, mode="L").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def read_mask_png(path: str | Path) -> np.ndarray:
    """A mask PNG (first channel ``> 127`` = hole) -> ``(H, W)`` float32 {0, 1}."""
    a = np.asarray(Image.open(path))
    a = a[..., 0] if a.ndim == 3 else a
    return (a > 127).astype(np.float32)


def parse_size(size: int | str | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``512`` / ``"512"`` -> (512, 512); ``"256x341"`` / ``(256, 341)`` -> (H, W)."""
    if isinstance(size, (tuple, list)):
        h, w = (int(v) for v in size)
    elif isinstance(size, str) and "x" in size.lower():
        h, w = (int(v) for v in size.lower().split("x"))
    else:
        h = w = int(size)
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return h, w


def generate_ratios(spec, size, n: int, seed: int, device="cpu", batch: int = 64) -> tuple[np.ndarray, list[str]]:
    """Hole ratios and mask types of masks ``0..n-1`` of ``spec`` at ``size`` (nothing written)."""
    gen = build_mask_generator(spec)
    h, w = parse_size(size)
    ratios, types = [], []
    for b in range(0, n, batch):
        m = gen(torch.arange(b, min(n, b + batch)), h, w, device=device, seed=seed)
        ratios.append(m.mean(dim=(1, 2, 3)).cpu().numpy())
        types.extend(gen.last_types)
    return (np.concatenate(ratios) if ratios else np.zeros(0)), types


def export_masks(spec, size, n: int, seed: int, out_dir: str | Path, device="cpu", batch: int = 64) -> dict[str, Any]:
    """Write masks ``0..n-1`` of generator ``spec`` as PNGs + ``manifest.json`` into ``out_dir``; returns the
    manifest. Refuses a folder that already holds PNGs (so sets are never mixed)."""
    gen = build_mask_generator(spec)
    h, w = parse_size(size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("*.png")):
        raise FileExistsError(f"{out} already contains PNG files; export into an empty folder")
    digest = hashlib.sha256()
    files, ratios = [], []
    width = max(5, len(str(max(n - 1, 0))))
    for b in range(0, n, batch):
        idx = torch.arange(b, min(n, b + batch))
        masks = gen(idx, h, w, device=device, seed=seed)[:, 0].cpu().numpy()
        for i, m, t in zip(idx.tolist(), masks, gen.last_types):
            name = f"{i:0{width}d}.png"
            data = png_bytes(m)
            (out / name).write_bytes(data)
            digest.update(data)  # files are written in name order (zero-padded indices)
            ratio = float(m.mean())
            ratios.append(ratio)
            files.append({"name": name, "index": i, "hole_ratio": round(ratio, 8), "mask_type": t,
                          "bucket": hole_ratio_bucket(ratio)})
    manifest = {
        "generator": gen.name,
        "spec": spec if isinstance(spec, (str, Mapping)) else gen.name,
        "params": gen.params(),
        "height": h,
        "width": w,
        "n": n,
        "seed": int(seed),
        "polarity": "255 = hole",
        "files": files,
        "stats": ratio_stats(ratios),
        "content_sha256": digest.hexdigest(),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return manifest


def content_hash(folder: str | Path) -> str:
    """sha256 over the bytes of every ``*.png`` in ``folder``, in name order."""
    digest = hashlib.sha256()
    for p in sorted(Path(folder).glob("*.png")):
        digest.update(p.read_bytes())
    return digest.hexdigest()


def dir_stats(folder: str | Path) -> dict[str, Any]:
    """:func:`ratio_stats` of every ``*.png`` mask in ``folder`` (first channel ``> 127`` = hole)."""
    files = sorted(Path(folder).glob("*.png"))
    if not files:
        raise FileNotFoundError(f"no .png masks in {folder}")
    return ratio_stats(float(read_mask_png(p).mean()) for p in files)


def verify_export(folder: str | Path) -> bool:
    """True if the PNGs in ``folder`` still hash to the manifest's ``content_sha256``."""
    manifest = json.loads((Path(folder) / MANIFEST).read_text())
    return content_hash(folder) == manifest["content_sha256"]
