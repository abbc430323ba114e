"""Every figure of the suite's results, in one place: the sweep reports (:mod:`sweeps.report`) and the notebooks
(``notebooks/_common.py`` re-exports these) draw with the same code.

The functions take plain data (the table's records, evaluation reports, logged curves, sample tensors) and return a
matplotlib figure; :func:`save_figure` writes it as PNG with a JSON sidecar (``<name>.json``) that records what was
drawn — each panel's title, axis labels, legend and tick labels, read back from the figure's artists — so a test, or
a script comparing runs, can check a figure without looking at pixels. The Agg backend: figures are files (CI, SSH).
Images: ``(3, H, W)`` in [-1, 1] (or uint8 0..255); masks ``(1, H, W)``, 1 (or 255) = hole.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch

OURS_COLOR, PAPER_COLOR = "tab:blue", "tab:gray"


# --------------------------------------------------------------------------------------------- helpers
def _float(x: Any) -> float | None:
    if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x)):
        return float(x)
    return None


def _nan(values: list[Any]) -> list[float]:
    return [np.nan if _float(v) is None else float(v) for v in values]


def _half_width(ci: Any) -> float:
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and _float(ci[0]) is not None and _float(ci[1]) is not None:
        return (float(ci[1]) - float(ci[0])) / 2
    return 0.0


def short(label: str, n: int = 28) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _suptitle(fig, title: str, subtitle: str = "") -> None:
    fig.suptitle(f"{title}\n{subtitle}" if subtitle else title, fontsize=9)


# --------------------------------------------------------------------------------------------- tables
def bars_vs_paper(records: list[dict[str, Any]], metrics: list[str], title: str = "", subtitle: str = ""):
    """One panel per metric: our mean with its 95 % CI (error bar) beside the paper's number, per row.

    ``records``: the table's records of one group (``{"row", "metrics": {m: {"ours", "ci95", "paper"}}}``), in row
    order. A missing number leaves its bar out (ours: a "—" marks it).
    """
    labels = [r["row"] for r in records]
    width = max(4.0, 0.55 * len(labels) + 1.5)
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(width * max(1, len(metrics)), 4.2), squeeze=False)
    x = np.arange(len(labels))
    for ax, metric in zip(axes[0], metrics):
        cells = [(r.get("metrics") or {}).get(metric) or {} for r in records]
        ours = [_float(c.get("ours")) for c in cells]
        paper = [_float(c.get("paper")) for c in cells]
        ax.bar(x - 0.2, _nan(ours), 0.4, yerr=[_half_width(c.get("ci95")) for c in cells], label="ours",
               color=OURS_COLOR, capsize=2)
        ax.bar(x + 0.2, _nan(paper), 0.4, label="paper", color=PAPER_COLOR)
        for xi, value in zip(x, ours):
            if value is None:
                ax.text(xi - 0.2, 0, "—", ha="center", va="bottom", fontsize=7)
        ax.set_title(metric)
        ax.set_xticks(x, [short(label) for label in labels], rotation=60, ha="right", fontsize=7)
        ax.legend(fontsize=7)
    _suptitle(fig, title or "ours (95% CI) vs paper", subtitle)
    fig.tight_layout()
    return fig


def delta_heatmap(records: list[dict[str, Any]], metrics: list[str], title: str = "", subtitle: str = ""):
    """Δ = ours − paper per (row, metric) as a diverging heat map (cells the paper lacks stay blank)."""
    grid = np.array([[_nan([((r.get("metrics") or {}).get(m) or {}).get("delta")])[0] for m in metrics]
                     for r in records], dtype=float).reshape(len(records), len(metrics))
    fig, ax = plt.subplots(figsize=(1.4 * len(metrics) + 3, 0.45 * len(records) + 1.5))
    scale = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    im = ax.imshow(grid, cmap="coolwarm", vmin=-scale, vmax=scale, aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        ax.text(j, i, "—" if not np.isfinite(value) else f"{value:+.3g}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(metrics)), metrics)
    ax.set_yticks(range(len(records)), [short(r["row"], 40) for r in records], fontsize=7)
    fig.colorbar(im, ax=ax, label="Δ = ours − paper")
    _suptitle(fig, title or "Δ = ours − paper", subtitle)
    fig.tight_layout()
    return fig


def group_metrics(reports: dict[str, dict[str, Any]], section: str, metrics: list[str], groups: list[str] | None = None,
                  title: str = "", subtitle: str = ""):
    """One panel per metric: the mean (95 % CI) per group of ``section`` (``buckets``: hole-ratio buckets,
    ``mask_types``), one bar per row. ``reports``: ``{row label: evaluation report}``."""
    if groups is None:
        groups = []
        for report in reports.values():
            groups += [g for g in (report.get(section) or {}) if g not in groups]
    labels = list(reports)
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(max(4.0, 1.1 * len(groups) + 2) * max(1, len(metrics)),
                                                                 4.0), squeeze=False)
    x = np.arange(len(groups))
    width = 0.8 / max(1, len(labels))
    for ax, metric in zip(axes[0], metrics):
        for k, label in enumerate(labels):
            stats = [((reports[label].get(section) or {}).get(g) or {}).get("metrics", {}).get(metric) or {}
                     for g in groups]
            stats = [s if isinstance(s, dict) else {"mean": s} for s in stats]
            ax.bar(x - 0.4 + width * (k + 0.5), _nan([s.get("mean") for s in stats]), width,
                   yerr=[_half_width(s.get("ci95")) for s in stats], capsize=2, label=short(label))
        ax.set_title(metric)
        ax.set_xticks(x, groups, rotation=30, ha="right", fontsize=7)
        ax.set_xlabel({"buckets": "hole ratio", "mask_types": "mask type"}.get(section, section))
        ax.legend(fontsize=7)
    _suptitle(fig, title or f"per {section}", subtitle)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------- curves
def training_curves(curves: dict[str, dict[str, tuple[list[float], list[float]]]], keys: list[str],
                    title: str = "", subtitle: str = ""):
    """One panel per logged quantity (``keys``, e.g. ``train/g/total``, ``val/psnr``), one line per row.
    ``curves``: ``{row label: {key: (steps, values)}}``."""
    cols = min(3, max(1, len(keys)))
    nrows = max(1, math.ceil(len(keys) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for i, key in enumerate(keys):
        ax = axes[i // cols][i % cols]
        for label, logged in curves.items():
            if key in logged:
                steps, values = logged[key]
                ax.plot(steps, values, marker="." if len(steps) < 30 else None, label=short(label))
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    for j in range(len(keys), nrows * cols):
        axes[j // cols][j % cols].set_visible(False)
    _suptitle(fig, title or "training and validation curves", subtitle)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------- images
def as_float_image(x):
    """uint8 0..255 -> float [-1, 1] (images) or [0, 1] (a 1-channel mask); float tensors unchanged."""
    if x.dtype == torch.uint8:
        return x.float() / 255 if x.shape[0] == 1 else x.float() / 127.5 - 1
    return x


def to_display(x) -> np.ndarray:
    """``(3, H, W)`` in [-1, 1] (tensor) -> ``(H, W, 3)`` float in [0, 1]; ``(1, H, W)`` -> ``(H, W)``."""
    x = as_float_image(x.detach().cpu()).float()
    x = ((x.clamp(-1, 1) + 1) / 2) if x.shape[0] == 3 else x
    arr = x.numpy()
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def image_grid(rows: list[list[Any]], row_titles: list[str], col_titles: list[str], title: str = "",
               cell: float = 1.8):
    """Draw a grid of images (tensors ``(3|1, H, W)``; masks in gray); returns the figure."""
    fig, axes = plt.subplots(len(rows), len(col_titles), figsize=(cell * len(col_titles), cell * len(rows) + 0.6),
                             squeeze=False)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            ax = axes[i][j]
            arr = to_display(image)
            ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col_titles[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(row_titles[i], fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def inpainting_grid(samples: dict[str, dict[str, Any]], title: str = "", subtitle: str = ""):
    """The same held-out images and masks inpainted by every row: columns input (hole in white), each row's
    composite, ground truth; one line per image. ``samples``: ``{row label: sweeps.samples file content}``."""
    labels = list(samples)
    first = samples[labels[0]]
    rows, names = [], []
    for i in range(len(first["index"])):
        image = as_float_image(first["image"][i])
        mask = as_float_image(first["mask"][i])
        masked = image * (1 - mask) + mask  # the hole in white, as the image grids of training show it
        rows.append([masked] + [samples[label]["composite"][i] for label in labels] + [image])
        name = first["name"][i] if first.get("name") else ""
        names.append(f"#{first['index'][i]} {Path(name).stem[:14]}".strip())
    fig = image_grid(rows, names, ["input"] + [short(label, 18) for label in labels] + ["ground truth"],
                     cell=max(1.4, min(2.2, 12 / (len(labels) + 2))))
    _suptitle(fig, title or "test images inpainted by every row", subtitle)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------- files
def figure_meta(fig) -> dict[str, Any]:
    """What a figure shows, read from its artists: the title and, per visible panel, title, axis labels, legend
    entries and x tick labels."""
    panels = []
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        legend = ax.get_legend()
        panel = {"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                 "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
                 "xticklabels": [t.get_text() for t in ax.get_xticklabels()] if ax.get_xticks().size else [],
                 "yticklabels": [t.get_text() for t in ax.get_yticklabels()] if ax.get_yticks().size else []}
        panel = {k: v for k, v in panel.items() if v and (not isinstance(v, list) or any(v))}
        if panel:  # the inner cells of an image grid say nothing
            panels.append(panel)
    title = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    return {"title": title, "panels": panels}


def save_figure(fig, path: Path, dpi: int = 110, **extra: Any) -> Path:
    """Write ``fig`` as PNG at ``path`` and its :func:`figure_meta` (plus ``extra``) as ``path.with_suffix('.json')``;
    the figure is closed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    meta = {"file": path.name, **figure_meta(fig), **extra}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    plt.close(fig)
    return path
