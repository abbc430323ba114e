"""Render an evaluation report (the dict from ``InpaintingEvaluator.compute``) as a Rich table, CSV rows or JSON.

Shared by ``inpaint-suite evaluate`` and the sweep runner.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["to_jsonable", "report_to_json", "write_json", "report_rows", "write_csv", "rows_to_csv",
           "render_table", "render_settings", "print_report", "CSV_FIELDS"]

CSV_FIELDS = ("section", "group", "group_n", "metric", "mean", "ci95_low", "ci95_high", "n", "std")
_SECTIONS = (("overall", None), ("bucket", "buckets"), ("mask_type", "mask_types"))


def to_jsonable(obj: Any) -> Any:
    """Strict-JSON copy: NaN -> None, ±inf -> "inf"/"-inf", tuples -> lists, tensors/numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 0) == 0:
        obj = obj.item()
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
    return obj


def report_to_json(report: dict, indent: int = 2) -> str:
    return json.dumps(to_jsonable(report), indent=indent, allow_nan=False)


def write_json(report: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_to_json(report) + "\n")
    return path


def _groups(report: dict) -> Iterable[tuple[str, str, dict]]:
    for section, key in _SECTIONS:
        if key is None:
            if report.get("overall") is not None:
                yield section, "all", report["overall"]
        else:
            for name, group in (report.get(key) or {}).items():
                yield section, name, group


def report_rows(report: dict) -> list[dict[str, Any]]:
    """One row per (group, metric) with the fields of :data:`CSV_FIELDS`."""
    rows = []
    for section, name, group in _groups(report):
        for metric, value in (group.get("metrics") or {}).items():
            value = value or {}
            ci = value.get("ci95") or [None, None]
            rows.append({
                "section": section, "group": name, "group_n": group.get("n"), "metric": metric,
                "mean": value.get("mean"), "ci95_low": ci[0], "ci95_high": ci[1], "n": value.get("n"),
                "std": value.get("std"),
            })
    return rows


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else to_jsonable(row.get(k))) for k in CSV_FIELDS})
    return buf.getvalue()


def write_csv(report: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rows_to_csv(report_rows(report)))
    return path


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return f"{x:.{digits}g}"
    return str(x)


def _cell(value: dict | None) -> str:
    """``mean ±h`` with h the half-width of the 95 % CI (full bounds are in JSON/CSV); KID: ``mean sd s``.

    The mean alone when there is no interval or the value rests on fewer than two images (a report written by an
    older ``stats`` may still hold the zero-width [v, v]): "±0" would claim a certainty one sample cannot give."""
    if not value or value.get("mean") is None:
        return "-"
    text = _fmt(value["mean"])
    ci = value.get("ci95")
    n = value.get("n")
    if isinstance(n, int) and n < 2:
        return text
    if ci and ci[0] is not None and ci[1] is not None:
        text += f" ±{_fmt((ci[1] - ci[0]) / 2, 2)}"
    elif value.get("std") is not None:
        text += f" sd {_fmt(value['std'], 2)}"
    return text


def render_table(report: dict, metrics: list[str] | None = None, title: str | None = "Evaluation"):
    """A ``rich.table.Table``: one row per group (overall, buckets, mask types), one column per metric,
    cells ``mean ±half-width of the 95 % CI`` (KID: ``mean sd std-over-subsets``)."""
    # lazy: the sweep list (a light path) imports this module; Rich costs ~0.05 s
    from rich.table import Table

    if metrics is None:
        metrics = list((report.get("overall") or {}).get("metrics", {}).keys())
    table = Table(title=title, caption="mean ±half-width of the bootstrap 95% CI (KID: sd over subsets); "
                                       "one image: mean only")
    table.add_column("group")
    table.add_column("n", justify="right")
    for m in metrics:
        table.add_column(m, justify="right")
    last_section = None
    for section, name, group in _groups(report):
        if last_section is not None and section != last_section:
            table.add_section()
        last_section = section
        label = name
        cells = [_cell((group.get("metrics") or {}).get(m)) for m in metrics]
        table.add_row(label, str(group.get("n", "")), *cells)
    return table


def render_settings(report: dict) -> str:
    """A few lines with the settings every report must state."""
    s = report.get("settings", {})
    fid = s.get("fid", {})
    lines = [
        f"images: {s.get('num_images')}  size: {s.get('image_size')}  scored: {s.get('image')} "
        f"({s.get('region')})",
        f"data range: {s.get('data_range')}",
        f"mask set: {s.get('mask_set', '-')}  manifest hash: {s.get('mask_set_hash', '-')}",
        f"SSIM: {s.get('ssim', {}).get('preset')}  PSNR zero-MSE: {s.get('psnr', {}).get('zero_mse')}",
    ]
    if fid:
        lines.append(f"FID backend: {fid.get('backend')}  weights: {fid.get('weights')}  resize: {fid.get('resize')}"
                     + (f"  WARNING: {fid['warning']}" if fid.get("warning") else ""))
    if "lpips" in s:
        lines.append(f"LPIPS: {s['lpips'].get('default_net')}  {s['lpips'].get(s['lpips'].get('default_net'), '')}")
    return "\n".join(lines)


def print_report(report: dict, console=None, metrics: list[str] | None = None) -> None:
    # lazy: as in render_table
    from rich.console import Console

    console = console or Console()
    console.print(render_settings(report), highlight=False)
    console.print(render_table(report, metrics=metrics))
