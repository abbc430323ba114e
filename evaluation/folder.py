"""Evaluate folders of results: ``pred/``, ``gt/`` and ``masks/`` matched by file name (stem), PNG or JPEG.

**Reading.** This module holds no image decoder of its own: the caller injects one (:class:`ImageReader`). The
command line passes ``datamodules.image_io.read_rgb`` / ``read_gray``, so a file scores as training reads it (EXIF
orientation applied, 16-bit data mapped by ``round(v / 257)``, palette and alpha composited over white). The
reader is injected rather than imported because ``evaluation/`` must not import ``datamodules/`` (the two sit at
the same layer; only the ``inpaint_suite/`` CLI joins them).

**Masks** are read as single channel and binarised like training's mask files: values scaled to [0, 1] (``/255``,
or as they are when the file holds only 0 and 1) and thresholded at 0.5 (grey > 127 is white); by default white =
hole (``hole_value="white"``). Masks with values between the two extremes (soft, antialiased, JPEG) are counted and
reported in one warning naming the first few files.

**Polarity check.** Before any metric network is built, up to :data:`POLARITY_PROBE_IMAGES` evenly spaced pairs are
compared: per image, the mean absolute error (grey levels, raw prediction before any compose) inside the declared
holes against the error outside them. A composited prediction equals the ground truth outside its holes, and a raw
network output differs most inside them; the reverse (:func:`looks_inverted`: outside >= 1 grey level and more
than twice the inside error) on more than half of the checked images means the masks are read with the wrong
polarity, and :class:`MaskPolarityError` is raised.

A ``manifest.json`` in the mask folder, if present, gives the mask-set hash and per-file mask types (accepted
layouts: ``{"hash"|"sha256": str, "mask_types"|"types": {name: type}}`` or ``{"masks": [{"name"|"file": ...,
"type"|"mask_type": ...}, ...]}`` or ``{"masks": {name: {"type": ...} | type}}``); without a ``hash`` field the
SHA-256 of the manifest file is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = [
    "IMAGE_EXTENSIONS",
    "POLARITY_PROBE_IMAGES",
    "FolderError",
    "MaskPolarityError",
    "MaskWarning",
    "ImageReader",
    "Pair",
    "list_images",
    "match_folders",
    "read_image",
    "read_mask",
    "binarize_mask",
    "hole_errors",
    "looks_inverted",
    "check_polarity",
    "read_manifest",
    "evaluate_folders",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
_SHOWN = 5
POLARITY_PROBE_IMAGES = 64  # evenly spaced pairs read before the evaluator is built
POLARITY_RATIO = 2.0  # outside error more than this many times the inside error ...
POLARITY_MIN_ERROR = 1.0  # ... and at least this many grey levels (JPEG noise stays below it)


class FolderError(ValueError):
    """Bad folder input (unmatched names, size mismatch, unreadable file, too few images, inverted masks)."""


class MaskPolarityError(FolderError):
    """The masks look inverted for the declared polarity (see :func:`check_polarity`)."""


class MaskWarning(UserWarning):
    """Mask files that needed thresholding (soft or antialiased values)."""


@dataclass(frozen=True)
class ImageReader:
    """How files become pixels, injected by the caller (``evaluation/`` may not import ``datamodules/``).

    ``rgb(path) -> (H, W, 3)`` uint8 and ``gray(path) -> (H, W)`` uint8 (masks); either may raise any exception for
    an unreadable file (it becomes a :class:`FolderError`). ``source`` is recorded in the report's settings. The CLI
    passes ``ImageReader(datamodules.image_io.read_rgb, datamodules.image_io.read_gray, ...)``.
    """

    rgb: Callable[[Path], np.ndarray]
    gray: Callable[[Path], np.ndarray]
    source: str = ""

    def describe(self) -> str:
        return self.source or f"{getattr(self.rgb, '__module__', '?')}.{getattr(self.rgb, '__qualname__', '?')}"


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


def _decode(read: Callable[[Path], np.ndarray], path: Path, what: str) -> np.ndarray:
    try:
        return np.asarray(read(path))
    except Exception as exc:  # the injected reader's own error type is unknown here
        message = " ".join(str(exc).split())
        raise FolderError(message if str(path) in message else f"cannot read {what} {path}: {message}") from exc


def read_image(path: Path, reader: ImageReader) -> torch.Tensor:
    """RGB uint8 ``(3, H, W)`` through ``reader.rgb``."""
    arr = _decode(reader.rgb, path, "image")
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise FolderError(f"image reader returned {arr.dtype} {arr.shape} for {path}; expected (H, W, 3) uint8")
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)  # a copy: readers may return read-only views


def binarize_mask(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(H, W)`` uint8 -> (bool "white" map, whether any value lay strictly between the two extremes).

    The rule of training's mask files (``MaskFolder``): values scaled to [0, 1] by ``/255``, or taken as they are
    when the file's peak is <= 1 (0/1 masks), and thresholded at 0.5 — so grey > 127 is white.
    """
    peak = int(gray.max()) if gray.size else 0
    scale = 1.0 if peak <= 1 else 255.0
    values = gray.astype(np.float32) / scale
    non_binary = bool(np.any((values > 0) & (values < 1)))
    return values > 0.5, non_binary


def read_mask(path: Path, reader: ImageReader, hole_value: str = "white") -> tuple[torch.Tensor, bool]:
    """(float ``(1, H, W)`` in {0, 1} with 1 = hole, whether the file was not binary); see :func:`binarize_mask`."""
    gray = _decode(reader.gray, path, "mask")
    if gray.ndim != 2:
        raise FolderError(f"mask reader returned shape {gray.shape} for {path}; expected (H, W)")
    white, non_binary = binarize_mask(gray)
    hole = white if hole_value == "white" else ~white
    return torch.from_numpy(hole).float().unsqueeze(0), non_binary


def hole_errors(pred: torch.Tensor, gt: torch.Tensor, hole: torch.Tensor) -> tuple[float, float] | None:
    """(mean |pred - gt| inside the declared holes, the same outside) in grey levels 0..255, averaged over channels,
    for one image (``pred``/``gt`` uint8 ``(3, H, W)``, ``hole`` ``(1, H, W)`` {0, 1}); None when either region is
    empty (no evidence either way)."""
    inside = hole[0] > 0.5
    n_in = int(inside.sum())
    if n_in == 0 or n_in == inside.numel():
        return None
    err = (pred.float() - gt.float()).abs().mean(dim=0)
    return float(err[inside].mean()), float(err[~inside].mean())


def looks_inverted(inside: float, outside: float) -> bool:
    """One image's evidence of inverted masks: the prediction is (nearly) the ground truth inside the declared holes
    and differs outside them — the error outside is at least :data:`POLARITY_MIN_ERROR` grey levels and more than
    :data:`POLARITY_RATIO` times the error inside. A composite (error only in the holes) and a raw network output
    (a little error everywhere, most in the holes) both give the opposite; a prediction that differs equally
    everywhere gives no evidence."""
    return outside >= POLARITY_MIN_ERROR and outside > POLARITY_RATIO * inside


def check_polarity(evidence: dict[str, tuple[float, float] | None], hole_value: str) -> dict[str, Any]:
    """Decide from ``{name: hole_errors(...)}`` (raw predictions) whether the masks are inverted.

    Raises :class:`MaskPolarityError` (one line naming a few files and the option to change) when more than half of
    the images with both regions non-empty look inverted; returns a summary for the report's settings otherwise.
    """
    checked = {k: v for k, v in evidence.items() if v is not None}
    flagged = [k for k, (inside, outside) in checked.items() if looks_inverted(inside, outside)]
    summary = {"images_checked": len(checked), "images_flagged": len(flagged),
               "rule": f"outside-hole error >= {POLARITY_MIN_ERROR:g} grey level and > {POLARITY_RATIO:g}x the "
                       "inside-hole error (raw prediction) on more than half of the checked images"}
    if checked and len(flagged) > len(checked) / 2:
        other = "black" if hole_value == "white" else "white"
        inside = float(np.median([checked[k][0] for k in flagged]))
        outside = float(np.median([checked[k][1] for k in flagged]))
        named = ", ".join(flagged[:3]) + (", ..." if len(flagged) > 3 else "")
        raise MaskPolarityError(
            f"the masks look inverted: on {len(flagged)} of {len(checked)} images checked ({named}) the prediction "
            f"(nearly) matches the ground truth inside the declared holes (median error {inside:.2f} grey levels) "
            f"and differs outside them ({outside:.2f}); holes are declared {hole_value} (--mask-hole {hole_value}): "
            f"if your masks mark holes in {other}, pass --mask-hole {other} (--no-polarity-check scores them as "
            "declared)")
    return summary


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


def _read_pair(pair: Pair, reader: ImageReader, hole_value: str) -> tuple[torch.Tensor, torch.Tensor,
                                                                         torch.Tensor, bool]:
    """(pred, gt uint8 ``(3, H, W)``, hole ``(1, H, W)``, mask not binary); a size mismatch is a FolderError."""
    pred, gt = read_image(pair.pred, reader), read_image(pair.gt, reader)
    mask, non_binary = read_mask(pair.mask, reader, hole_value)
    if pred.shape != gt.shape or mask.shape[1:] != gt.shape[1:]:
        raise FolderError(
            f"size mismatch for {pair.name!r}: pred {tuple(pred.shape[1:])}, gt {tuple(gt.shape[1:])}, "
            f"mask {tuple(mask.shape[1:])}"
        )
    return pred, gt, mask, non_binary


def _probe(pairs: list[Pair], limit: int) -> list[Pair]:
    if len(pairs) <= limit:
        return list(pairs)
    return [pairs[i] for i in sorted({round(k * (len(pairs) - 1) / (limit - 1)) for k in range(limit)})]


def _warn(message: str) -> None:
    warnings.warn(message, MaskWarning, stacklevel=3)


def evaluate_folders(
    pred_dir,
    gt_dir,
    mask_dir,
    *,
    metrics: list[str],
    reader: ImageReader,
    allow_missing: bool = False,
    batch_size: int = 8,
    device: str = "cpu",
    hole_value: str = "white",
    compose: bool = False,
    check_mask_polarity: bool = True,
    progress: bool = True,
    evaluator_kwargs: dict[str, Any] | None = None,
    on_pairs: Callable[[list[Pair]], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run :class:`InpaintingEvaluator` over matched folders, reading one batch at a time.

    ``reader``: how files are decoded (the CLI passes training's, ``datamodules.image_io``).
    ``compose=True``: ``pred`` holds raw outputs; the composite ``pred*mask + gt*(1-mask)`` is scored.
    ``check_mask_polarity``: refuse masks that look inverted (:func:`check_polarity` on up to
    :data:`POLARITY_PROBE_IMAGES` pairs) before the evaluator (and its networks) is built.
    ``warn``: receives one line about non-binary masks (default: ``warnings.warn`` with :class:`MaskWarning`).
    Returns the report with the folder facts added to ``settings``.
    """
    # lazy: importing the collection runs the torchvision check (evaluation.guard), which must raise here, inside the
    # call the `evaluate` command reports, not when the command's module loads
    from .collection import InpaintingEvaluator

    if hole_value not in ("white", "black"):
        raise ValueError(f"hole_value must be 'white' or 'black', got {hole_value!r}")
    warn = warn or _warn
    pairs, unmatched = match_folders(pred_dir, gt_dir, mask_dir, allow_missing=allow_missing)
    if on_pairs is not None:
        on_pairs(pairs)
    if any(m in metrics for m in ("fid", "kid", "pids", "uids")) and len(pairs) < 2:
        raise FolderError(f"FID/KID/IDS need at least 2 images, found {len(pairs)} matched file(s)")
    manifest = read_manifest(mask_dir)
    types = (manifest or {}).get("mask_types") or {}

    polarity: dict[str, Any] | str = "skipped (check_mask_polarity=False)"
    if check_mask_polarity:  # cheap: a few file reads, before any network is loaded
        evidence = {}
        for pair in _probe(pairs, POLARITY_PROBE_IMAGES):
            pred, gt, mask, _ = _read_pair(pair, reader, hole_value)
            evidence[pair.name] = hole_errors(pred, gt, mask)
        polarity = check_polarity(evidence, hole_value)

    kwargs = dict(evaluator_kwargs or {})
    settings = dict(kwargs.pop("settings", {}) or {})
    settings.update({
        "pred_dir": str(pred_dir), "gt_dir": str(gt_dir), "mask_dir": str(mask_dir),
        "mask_set_hash": manifest["hash"] if manifest else None,
        "mask_set": (manifest or {}).get("name") or str(mask_dir),
        "mask_polarity": f"{hole_value} = hole, binarised at 0.5 of the range (grey > 127; 0/1 files as they are)",
        "polarity_check": polarity,
        "reader": reader.describe(),
        "skipped_unmatched": {k: len(v) for k, v in unmatched.items()},
        "storage": "files as read (PNG is lossless; JPEG results are not recommended)",
    })
    if types:
        kwargs.setdefault("mask_types", sorted(set(types.values())))
    if compose:
        kwargs["image"] = "composite"
    evaluator = InpaintingEvaluator(metrics, settings=settings, **kwargs).to(device)


    bar = Progress(TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   disable=not progress, transient=True)
    batch: list[tuple[int, Pair, torch.Tensor, torch.Tensor, torch.Tensor]] = []
    soft: list[str] = []

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
            pred, gt, mask, non_binary = _read_pair(pair, reader, hole_value)
            if non_binary:
                soft.append(pair.mask.name)
            if batch and batch[0][3].shape != gt.shape:  # batches need one size
                flush()
            batch.append((i, pair, pred, gt, mask))
            if len(batch) >= batch_size:
                flush()
        flush()
    if soft:
        warn(f"{len(soft)} of {len(pairs)} masks are not binary (soft or antialiased values): {_first(soft)}; "
             f"thresholded at 0.5 of the range (grey > 127 is white, {hole_value} = hole)")
    report = evaluator.compute()
    report["settings"]["non_binary_masks"] = {"count": len(soft), "files": soft[:_SHOWN]}
    return report
