"""Evaluate folders of results: ``pred/``, ``gt/`` and ``masks/`` matched by file name (stem), PNG or JPEG.

Masks are read as single channel and binarised at 127; by default white (255) = hole (``hole_value="white"``).
A ``manifest.json`` in the mask folder, if present, gives the mask-set hash and per-file mask types (accepted
layouts: ``{"hash"|"sha256": str, "mask_types"|"types": {name: type}}`` or ``{"masks": [{"name"|"file": ...,
"type"|"mask_type": ...}, ...]}`` or ``{"masks": {name: {"type": ...} | type}}``); without a ``hash`` field the
SHA-256 of the manifest file is used.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderError",
    "Pair",
    "list_images",
    "match_folders",
    "read_image",
    "read_mask",
    "read_manifest",
    "evaluate_folders",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
_SHOWN = 5


class FolderError(ValueError):
    """Bad folder input (unmatched names, size mismatch, unreadable file, too few images)."""


@dataclass(frozen=True)
class Pair:
    name: str
    pred: Path
    gt: Path
    mask: Path


def list_images(folder: str | os.PathLike) -> dict[str, Path]:
    """``{stem: path}`` of the PNG/JPEG files directly in ``folder`` (sorted). Two files with one stem is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FolderError(f"not a folder: {folder}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            if path.stem in found:
                raise FolderError(f"two images named {path.stem!r} in {folder}: {found[path.stem].name}, {path.name}")
            found[path.stem] = path
    return found


def _first(names: list[str]) -> str:
    return ", ".join(names[:_SHOWN]) + (f", ... ({len(names)} in all)" if len(names) > _SHOWN else "")


def match_folders(pred_dir, gt_dir, mask_dir, *, allow_missing: bool = False) -> tuple[list[Pair], dict[str, list]]:
    """Pair files by stem. Returns ``(pairs, unmatched)`` where ``unmatched`` maps each folder to the names missing
    from at least one other folder. Raises :class:`FolderError` listing the first few unless ``allow_missing``."""
    pred, gt, masks = list_images(pred_dir), list_images(gt_dir), list_images(mask_dir)
    common = sorted(set(pred) & set(gt) & set(masks))
    unmatched = {
        "pred": sorted(set(pred) - set(common)),
        "gt": sorted(set(gt) - set(common)),
        "masks": sorted(set(masks) - set(common)),
    }
    if not allow_missing and any(unmatched.values()):
        parts = [f"{k} has {len(v)} without a match ({_first(v)})" for k, v in unmatched.items() if v]
        raise FolderError("unmatched files: " + "; ".join(parts) + " (use --allow-missing to skip them)")
    if not common:
        raise FolderError(f"no file name is present in all of {pred_dir}, {gt_dir}, {mask_dir}")
    return [Pair(n, pred[n], gt[n], masks[n]) for n in common], unmatched


def read_image(path: Path) -> torch.Tensor:
    """RGB uint8 ``(3, H, W)``."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except Exception as exc:
        raise FolderError(f"cannot read image {path}: {exc}") from exc
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def read_mask(path: Path, hole_value: str = "white") -> torch.Tensor:
    """Float ``(1, H, W)`` in {0, 1}, 1 = hole. Grey level > 127 is white."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("L"), dtype=np.uint8)
    except Exception as exc:
        raise FolderError(f"cannot read mask {path}: {exc}") from exc
    white = torch.from_numpy(arr > 127)
    hole = white if hole_value == "white" else ~white
    return hole.float().unsqueeze(0)


def read_manifest(mask_dir: str | os.PathLike) -> dict[str, Any] | None:
    """``{"hash", "path", "mask_types": {stem: type}, "name"}`` from ``manifest.json`` or None if absent."""
    file = Path(mask_dir) / "manifest.json"
    if not file.is_file():
        return None
    raw = file.read_bytes()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FolderError(f"cannot parse {file}: {exc}") from exc
    types: dict[str, str] = {}
    if isinstance(data, dict):
        for key in ("mask_types", "types"):
            if isinstance(data.get(key), dict):
                types.update({Path(k).stem: str(v) for k, v in data[key].items()})
        masks = data.get("masks")
        if isinstance(masks, list):
            for item in masks:
                if isinstance(item, dict):
                    name = item.get("name") or item.get("file") or item.get("path")
                    kind = item.get("type") or item.get("mask_type") or item.get("generator")
                    if name and kind:
                        types[Path(str(name)).stem] = str(kind)
        elif isinstance(masks, dict):
            for name, item in masks.items():
                kind = item.get("type") or item.get("mask_type") if isinstance(item, dict) else item
                if kind:
                    types[Path(name).stem] = str(kind)
        digest = data.get("hash") or data.get("sha256") or data.get("manifest_hash")
        name = data.get("name")
    else:
        digest, name = None, None
    return {
        "hash": str(digest) if digest else "sha256:" + hashlib.sha256(raw).hexdigest(),
        "path": str(file),
        "name": name,
        "mask_types": types,
    }


def evaluate_folders(
    pred_dir,
    gt_dir,
    mask_dir,
    *,
    metrics: list[str],
    allow_missing: bool = False,
    batch_size: int = 8,
    device: str = "cpu",
    hole_value: str = "white",
    compose: bool = False,
    progress: bool = True,
    evaluator_kwargs: dict[str, Any] | None = None,
    on_pairs: Callable[[list[Pair]], None] | None = None,
) -> dict[str, Any]:
    """Run :class:`InpaintingEvaluator` over matched folders, reading one batch at a time.

    ``compose=True``: ``pred`` holds raw outputs; the composite ``pred*mask + gt*(1-mask)`` is scored.
    Returns the report with the folder facts added to ``settings``.
    """
    from .collection import InpaintingEvaluator

    pairs, unmatched = match_folders(pred_dir, gt_dir, mask_dir, allow_missing=allow_missing)
    if on_pairs is not None:
        on_pairs(pairs)
    if any(m in metrics for m in ("fid", "kid", "pids", "uids")) and len(pairs) < 2:
        raise FolderError(f"FID/KID/IDS need at least 2 images, found {len(pairs)} matched file(s)")
    manifest = read_manifest(mask_dir)
    types = (manifest or {}).get("mask_types") or {}
    kwargs = dict(evaluator_kwargs or {})
    settings = dict(kwargs.pop("settings", {}) or {})
    settings.update({
        "pred_dir": str(pred_dir), "gt_dir": str(gt_dir), "mask_dir": str(mask_dir),
        "mask_set_hash": manifest["hash"] if manifest else None,
        "mask_set": (manifest or {}).get("name") or str(mask_dir),
        "mask_polarity": f"{hole_value} = hole, binarised at 127",
        "skipped_unmatched": {k: len(v) for k, v in unmatched.items()},
        "storage": "files as read (PNG is lossless; JPEG results are not recommended)",
    })
    if types:
        kwargs.setdefault("mask_types", sorted(set(types.values())))
    if compose:
        kwargs["image"] = "composite"
    evaluator = InpaintingEvaluator(metrics, settings=settings, **kwargs).to(device)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   disable=not progress, transient=True)
    batch: list[tuple[int, Pair, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def flush() -> None:
        if not batch:
            return
        pred = torch.stack([b[2] for b in batch]).to(device).float() / 127.5 - 1
        gt = torch.stack([b[3] for b in batch]).to(device).float() / 127.5 - 1
        mask = torch.stack([b[4] for b in batch]).to(device)
        if compose:
            pred = pred * mask + gt * (1 - mask)
        mask_type = [types.get(b[1].name, "unspecified") for b in batch] if types else None
        evaluator.update(pred, gt, mask, mask_type=mask_type, index=torch.tensor([b[0] for b in batch]))
        bar.advance(task, len(batch))
        batch.clear()

    with bar:
        task = bar.add_task("eval", total=len(pairs))
        for i, pair in enumerate(pairs):
            pred, gt = read_image(pair.pred), read_image(pair.gt)
            mask = read_mask(pair.mask, hole_value)
            if pred.shape != gt.shape or mask.shape[1:] != gt.shape[1:]:
                raise FolderError(
                    f"size mismatch for {pair.name!r}: pred {tuple(pred.shape[1:])}, gt {tuple(gt.shape[1:])}, "
                    f"mask {tuple(mask.shape[1:])}"
                )
            if batch and batch[0][3].shape != gt.shape:  # batches need one size
                flush()
            batch.append((i, pair, pred, gt, mask))
            if len(batch) >= batch_size:
                flush()
        flush()
    return evaluator.compute()
