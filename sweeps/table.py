"""The result of a sweep as a table: our number ± the 95 % CI half-width beside the paper's, and the delta.

Written as ``table.md`` (with the settings on top), ``table.csv`` (one line per row, group and metric) and
``table.json`` (settings + rows), and shown as a Rich table. The profile heads every output: smoke numbers come from
a few dozen steps on the built-in photos and must never be mistaken for the paper's.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from evaluation.report import to_jsonable
from sweeps.spec import Sweep, paper_groups

PROFILE_NOTES = {
    "smoke": "SMOKE profile: a few dozen CPU steps on the built-in photos — checks the pipeline; "
             "these numbers are NOT comparable with the paper's",
    "short": "SHORT profile: a few thousand steps — a trend check, not the paper's schedule",
    "paper": "PAPER profile: the paper's schedule",
}


def summarize_report(report: dict[str, Any]) -> dict[str, Any]:
    """The part of a test report a table needs (small enough for an Optuna user attribute)."""

    def group(g: dict[str, Any] | None) -> dict[str, Any] | None:
        if not g:
            return None
        metrics = {}
        for name, value in (g.get("metrics") or {}).items():
            value = value if isinstance(value, dict) else {"mean": value}
            metrics[name] = {"mean": _num(value.get("mean")), "ci95": value.get("ci95"), "n": value.get("n")}
        return {"n": g.get("n"), "metrics": metrics}

    settings = report.get("settings") or {}
    return {
        "overall": group(report.get("overall")),
        "buckets": {k: group(v) for k, v in (report.get("buckets") or {}).items()},
        "mask_types": {k: group(v) for k, v in (report.get("mask_types") or {}).items()},
        "settings": {k: settings.get(k) for k in ("num_images", "image_size", "mask_set", "mask_set_hash", "image",
                                                  "protocol", "eval_protocol", "mask_pairing")},
    }


def score_group(report: dict[str, Any], bucket: str | None) -> dict[str, Any]:
    """The part of a report (or of its summary) the table scores for a row: its bucket when the report has it, else
    overall (smoke masks are not bucketed; :func:`build_rows` falls back the same way)."""
    found = (report.get("buckets") or {}).get(bucket) if bucket else None
    return found or report.get("overall") or {}


def _num(x: Any) -> float | None:
    if isinstance(x, (int, float)) and not (isinstance(x, float) and math.isnan(x)):
        return float(x)
    return None


def _group_of(summary: dict[str, Any] | None, group: str, group_by: str | None, bucket: str | None,
              bucket_fallback: bool = False):
    if not summary:
        return None
    if group == "overall":
        if bucket:
            found = (summary.get("buckets") or {}).get(bucket)
            # Smoke masks are not drawn per bucket: score the row on every image rather than show nothing.
            return found if found or not bucket_fallback else summary.get("overall")
        return summary.get("overall")
    section = "buckets" if group_by == "bucket" else "mask_types"
    return (summary.get(section) or {}).get(group)


def table_groups(sweep: Sweep, results: list[dict[str, Any]]) -> list[str]:
    groups = ["overall"]
    if sweep.group_by:
        section = "buckets" if sweep.group_by == "bucket" else "mask_types"
        for row in sweep.rows:
            groups += [g for g in paper_groups(row) if g not in groups]
        for result in results:
            groups += [g for g in ((result.get("summary") or {}).get(section) or {}) if g not in groups]
    return groups


def build_rows(sweep: Sweep, results: list[dict[str, Any]], bucket_fallback: bool = False) -> list[dict[str, Any]]:
    """One record per (row, group): ``{"row", "group", "status", "reason", "trial", "n",
    "metrics": {m: {"ours", "ci95", "paper", "delta"}}}``."""
    by_label = {r["label"]: r for r in results}
    records = []
    for group in table_groups(sweep, results):
        for row in sweep.rows:
            result = by_label.get(row.label, {"status": "not run"})
            paper = paper_groups(row).get(group, {})
            measured = _group_of(result.get("summary"), group, sweep.group_by, row.bucket, bucket_fallback)
            if group != "overall" and not paper and not measured:
                continue
            metrics = {}
            for m in sweep.metrics:
                value = ((measured or {}).get("metrics") or {}).get(m) or {}
                ours, theirs = _num(value.get("mean")), _num(paper.get(m))
                if theirs is not None and m in sweep.paper_units:  # the paper's unit -> the suite's
                    theirs *= sweep.paper_units[m]
                metrics[m] = {"ours": ours, "ci95": value.get("ci95"), "paper": theirs,
                              "delta": None if ours is None or theirs is None else ours - theirs}
            records.append({"row": row.label, "group": group, "status": result.get("status"),
                            "reason": result.get("reason"), "trial": result.get("trial"),
                            "n": (measured or {}).get("n"), "metrics": metrics})
    return records


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "—"
    if abs(x) >= 1e5:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _ours(cell: dict[str, Any]) -> str:
    text = _fmt(cell["ours"])
    ci = cell.get("ci95")
    if cell["ours"] is not None and ci and ci[0] is not None and ci[1] is not None:
        text += f" ±{_fmt((ci[1] - ci[0]) / 2, 2)}"
    return text


def _delta(cell: dict[str, Any]) -> str:
    return "—" if cell["delta"] is None else f"{cell['delta']:+.4g}"


def settings_lines(settings: dict[str, Any]) -> list[str]:
    profile = settings.get("profile")
    lines = [PROFILE_NOTES.get(profile, f"profile: {profile}")]
    # how the numbers are scored gets lines of its own: a different protocol makes them incomparable
    own = ("evaluation_protocol", "network_eval_protocol", "test_resolution")
    lines += [f"{k.replace('_', ' ')}: {settings[k]}" for k in own if settings.get(k)]
    lines.append("  ".join(f"{k}: {v}" for k, v in settings.items() if k not in ("paper", *own) and v is not None))
    return lines


def render_markdown(sweep: Sweep, records: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    title = f"# {sweep.name}: {sweep.paper.get('table', '')} — {sweep.paper.get('title', '')}"
    out = [title, ""]
    out += [f"> {line}" for line in settings_lines(settings)]
    out.append("")
    head = ["row", "group", "status"] + [f"{m} {w}" for m in sweep.metrics for w in ("ours", "paper", "Δ")]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for r in records:
        cells = [r["row"], r["group"], _status(r)]
        for m in sweep.metrics:
            c = r["metrics"][m]
            cells += [_ours(c), _fmt(c["paper"]), _delta(c)]
        out.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    out += ["", "ours: mean ±half-width of the bootstrap 95% CI over test images; Δ = ours − paper."]
    return "\n".join(out) + "\n"


def _status(record: dict[str, Any]) -> str:
    status = record.get("status") or "-"
    if record.get("reason") and status != "complete":
        status += f" ({record['reason'][:80]})"
    return status


CSV_FIELDS = ("sweep", "profile", "row", "group", "status", "reason", "trial", "n", "metric", "ours", "ci95_low",
              "ci95_high", "paper", "delta")


def render_csv(sweep: Sweep, records: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in records:
        for m, c in r["metrics"].items():
            ci = c.get("ci95") or [None, None]
            row = {"sweep": sweep.name, "profile": settings.get("profile"), "row": r["row"], "group": r["group"],
                   "status": r["status"], "reason": r["reason"], "trial": r["trial"], "n": r["n"], "metric": m,
                   "ours": c["ours"], "ci95_low": ci[0], "ci95_high": ci[1], "paper": c["paper"], "delta": c["delta"]}
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def render_rich(sweep: Sweep, records: list[dict[str, Any]], settings: dict[str, Any]):
    from rich.table import Table  # Rich where a table is printed: the sweep command imports this module at start-up

    table = Table(title=f"{sweep.name}: {sweep.paper.get('table', '')} [{settings.get('profile')} profile]",
                  caption="\n".join(settings_lines(settings)) + "\nours ±95% CI half-width | paper | Δ = ours − paper")
    table.add_column("row")
    if sweep.group_by:
        table.add_column("group")
    table.add_column("status")
    for m in sweep.metrics:
        table.add_column(f"{m}\nours", justify="right")
        table.add_column(f"{m}\npaper", justify="right")
        table.add_column("Δ", justify="right")
    last_group = None
    for r in records:
        if last_group is not None and r["group"] != last_group:
            table.add_section()
        last_group = r["group"]
        cells = [r["row"]] + ([r["group"]] if sweep.group_by else []) + [_status(r)]
        for m in sweep.metrics:
            c = r["metrics"][m]
            cells += [_ours(c), _fmt(c["paper"]), _delta(c)]
        table.add_row(*cells)
    return table


def write_tables(out_dir: Path, sweep: Sweep, results: list[dict[str, Any]], settings: dict[str, Any]) -> dict:
    """Write ``table.{md,csv,json}`` under ``out_dir``; return the JSON payload."""
    records = build_rows(sweep, results, bucket_fallback=settings.get("profile") == "smoke")
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"sweep": sweep.name, "paper": sweep.paper, "kind": sweep.kind, "settings": settings,
               "metrics": sweep.metrics, "rows": records}
    (out_dir / "table.json").write_text(json.dumps(to_jsonable(payload), indent=2, allow_nan=False) + "\n")
    (out_dir / "table.csv").write_text(render_csv(sweep, records, settings))
    (out_dir / "table.md").write_text(render_markdown(sweep, records, settings))
    return payload


def print_table(sweep: Sweep, payload: dict[str, Any]) -> None:
    """The table of ``payload`` (from :func:`write_tables`) on the console, wide enough for every metric."""
    from rich.console import Console

    Console(width=max(160, 30 + 30 * len(sweep.metrics))).print(render_rich(sweep, payload["rows"],
                                                                              payload["settings"]))
