"""``inpaint-suite report NAME``: the figures and ``report.md`` of a sweep, rebuilt from its stored results.

The sweep runner calls :func:`build_report` after writing ``table.{md,csv,json}``; this command does the same from
what is on disk, without training. Into ``<results>/<name>/figures/`` (each PNG with a JSON sidecar saying what it
shows, see :func:`sweeps.figures.save_figure`):

- ``bars.png``: ours (mean, 95 % CI) beside the paper's number, per metric and row (and ``bars_<group>.png`` per
  mask type / bucket of a ``group_by`` table); ``deltas.png``: Δ = ours − paper;
- ``buckets.png`` / ``mask_types.png``: each metric per hole-ratio bucket / mask type, per row, from the trials'
  ``test_report.json`` (when the reports have them);
- ``curves.png``: the training losses and validation metrics each row logged (its trial's ``csv/metrics.csv``);
- ``samples.png``: the same held-out test images and masks inpainted by every row (the trials' ``samples.pt``).

``report.md`` beside ``table.md`` holds the settings, the table and every figure, linked by relative path.
``--wandb`` also logs the comparison table and the figures to W&B (the runner does this after every sweep).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

from assembly.errors import UsageError
from sweeps.profiles import wandb_mode
from sweeps.samples import load_samples
from sweeps.spec import slug
from sweeps.table import settings_lines
from sweeps.wandb_log import log_comparison

REPORT_FILE = "report.md"
FIGURES_DIR = "figures"
# Logged quantities drawn as curves, in this order when present: the generator's and critic's total losses, then
# every validation metric.
CURVE_KEYS = ("train/g/total", "train/d/total")


# --------------------------------------------------------------------------------------------- reading
def load_table(out_dir: Path) -> dict[str, Any]:
    path = Path(out_dir) / "table.json"
    if not path.is_file():
        raise UsageError(f"{path} does not exist: run `inpaint-suite sweep {Path(out_dir).name}` first")
    return json.loads(path.read_text())


def trial_folder(out_dir: Path, study: str | None, trial: int | None) -> Path | None:
    """A trial's folder: ``runs/<study as a folder name>/<NN>-<row>-t<trial>`` (trial numbers are unique in a
    study, so the ``-t<trial>`` suffix identifies it)."""
    if study is None or trial is None:
        return None

    run = Path(out_dir) / "runs" / slug(study.replace("/", "_").replace("#", "_run"))
    found = sorted(run.glob(f"*-t{int(trial)}"))
    return found[0] if found else None


def row_folders(out_dir: Path, payload: dict[str, Any]) -> dict[str, Path]:
    """``{row label: trial folder}`` of the rows the table shows as complete."""
    study = (payload.get("settings") or {}).get("study")
    out: dict[str, Path] = {}
    for record in payload.get("rows") or []:
        if record.get("status") == "complete" and record["row"] not in out:
            folder = trial_folder(out_dir, study, record.get("trial"))
            if folder is not None:
                out[record["row"]] = folder
    return out


def read_curves(metrics_csv: Path) -> dict[str, tuple[list[float], list[float]]]:
    """``{key: (steps, values)}`` of every train/val quantity in a Lightning CSV log (empty cells skipped)."""
    curves: dict[str, tuple[list[float], list[float]]] = {}
    if not metrics_csv.is_file():
        return curves
    with metrics_csv.open(newline="") as handle:
        for line in csv.DictReader(handle):
            step = line.get("step")
            if not step:
                continue
            for key, value in line.items():
                if not key or not value or not key.startswith(("train/", "val/")):
                    continue
                try:
                    number = float(value)
                except ValueError:
                    continue
                if math.isfinite(number):
                    steps, values = curves.setdefault(key, ([], []))
                    steps.append(float(step))
                    values.append(number)
    return curves


def curve_keys(curves: dict[str, dict[str, Any]]) -> list[str]:
    present = {k for logged in curves.values() for k in logged}
    keys = [k for k in CURVE_KEYS if k in present]
    return keys + sorted(k for k in present if k.startswith("val/"))


# --------------------------------------------------------------------------------------------- building
def headline(settings: dict[str, Any]) -> str:
    """A figure subtitle naming the profile, so smoke numbers are never mistaken for the paper's."""
    parts = [f"profile: {settings.get('profile')}"]
    if settings.get("data"):
        parts.append(f"data: {settings['data']}")
    if settings.get("profile") == "smoke":
        parts.append("NOT comparable with the paper")
    return " | ".join(parts)


def build_report(out_dir: Path, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the figures and ``report.md`` of the sweep whose results are in ``out_dir``; returns
    ``{"report": path, "figures": [paths], "notes": [what could not be drawn and why]}``."""
    from sweeps import figures as F  # matplotlib: the sweep command imports this module, only a report draws

    out_dir = Path(out_dir)
    payload = payload or load_table(out_dir)
    name, metrics = payload.get("sweep") or out_dir.name, list(payload.get("metrics") or [])
    settings = payload.get("settings") or {}
    sub = headline(settings)
    records = payload.get("rows") or []
    groups = list(dict.fromkeys(r["group"] for r in records))
    fig_dir = out_dir / FIGURES_DIR
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in list(fig_dir.glob("*.png")) + list(fig_dir.glob("*.json")):
        old.unlink()  # a rebuilt report shows only what the current results give
    made: list[tuple[Path, str]] = []
    notes: list[str] = []
    table = (payload.get("paper") or {}).get("table", "")

    def save(fig, filename: str, caption: str, **extra) -> None:
        made.append((F.save_figure(fig, fig_dir / filename, **extra), caption))

    # ours vs paper, per group of the table
    for group in groups:
        recs = [r for r in records if r["group"] == group]
        suffix = "" if group == "overall" else f"_{_file_part(group)}"
        save(F.bars_vs_paper(recs, metrics, title=f"{name}: {table} ({group})", subtitle=sub), f"bars{suffix}.png",
             f"Ours (mean, bootstrap 95% CI) beside the paper, {group}", rows=[r["row"] for r in recs],
             metrics=metrics, group=group)
    overall = [r for r in records if r["group"] == "overall"]
    if any(((r.get("metrics") or {}).get(m) or {}).get("delta") is not None for r in overall for m in metrics):
        save(F.delta_heatmap(overall, metrics, title=f"{name}: Δ = ours − paper", subtitle=sub), "deltas.png",
             "Δ = ours − paper (overall)", rows=[r["row"] for r in overall], metrics=metrics)

    folders = row_folders(out_dir, payload)
    if not folders:
        notes.append("no trial folders of complete rows: no per-bucket, curve or sample figures")
    reports = {}
    for label, folder in folders.items():
        path = folder / "test_report.json"
        if path.is_file():
            reports[label] = json.loads(path.read_text())
    measured = [m for m in metrics if any(m in (((r.get("overall") or {}).get("metrics")) or {})
                                          for r in reports.values())]
    for section, filename, what in (("buckets", "buckets.png", "hole-ratio bucket"),
                                    ("mask_types", "mask_types.png", "mask type")):
        if measured and any(r.get(section) for r in reports.values()):
            order = None
            if section == "buckets":  # the harness's bucket order (0-10% ... >60%), not the order of appearance
                names = [n for r in reports.values() for n in (((r.get("settings") or {}).get("buckets") or {})
                                                               .get("names") or [])]
                present = {g for r in reports.values() for g in (r.get(section) or {})}
                order = [n for n in dict.fromkeys(names) if n in present] or None
            save(F.group_metrics(reports, section, measured, order, title=f"{name}: metrics per {what}",
                                 subtitle=sub), filename, f"Each metric per {what} (mean, 95% CI), per row",
                 rows=list(reports), metrics=measured)

    curves = {label: read_curves(folder / "csv" / "metrics.csv") for label, folder in folders.items()}
    curves = {label: c for label, c in curves.items() if c}
    if curves:
        keys = curve_keys(curves)
        save(F.training_curves(curves, keys, title=f"{name}: training and validation curves", subtitle=sub),
             "curves.png", "Training losses and validation metrics per row (the trials' CSV logs)",
             rows=list(curves), keys=keys)
    elif folders:
        notes.append("no CSV logs (csv/metrics.csv) in the trial folders: no curves")

    samples = {label: s for label, s in ((lb, load_samples(f)) for lb, f in folders.items()) if s}
    if samples:
        first = next(iter(samples.values()))
        same = {label: s for label, s in samples.items()
                if s["index"] == first["index"] and s["image"].shape == first["image"].shape}
        skipped = sorted(set(samples) - set(same))
        if skipped:
            notes.append(f"samples of {', '.join(skipped)} are other images or sizes: left out of samples.png")
        save(F.inpainting_grid(same, title=f"{name}: the same test images inpainted by every row", subtitle=sub),
             "samples.png", "The same held-out test images and masks: input, each row's composite, ground truth",
             rows=list(same), indices=first["index"])
    elif folders:
        notes.append("no samples.pt in the trial folders (trials from before the report existed): no samples.png")

    report = write_markdown(out_dir, payload, made, notes)
    return {"report": report, "figures": [p for p, _ in made], "notes": notes}


def _file_part(text: str) -> str:
    return slug(text.replace("%", "pct").replace(">", "gt").replace("<", "lt"))


def write_markdown(out_dir: Path, payload: dict[str, Any], made: list[tuple[Path, str]], notes: list[str]) -> Path:
    settings = payload.get("settings") or {}
    paper = payload.get("paper") or {}
    lines = [f"# {payload.get('sweep')}: {paper.get('table', '')} — {paper.get('title', '')}", ""]
    lines += [f"> {line}" for line in settings_lines(settings)] + [""]
    table_md = Path(out_dir) / "table.md"
    if table_md.is_file():
        body = [line for line in table_md.read_text().splitlines() if line.startswith("|")]
        lines += ["## Table", "", *body, "",
                  "ours: mean ±half-width of the bootstrap 95% CI over test images; Δ = ours − paper "
                  "(also `table.md`, `table.csv`, `table.json`).", ""]
    lines += ["## Figures", ""]
    for path, caption in made:
        lines += [f"### {caption}", "", f"![{caption}]({FIGURES_DIR}/{path.name})", ""]
    if notes:
        lines += ["## Not drawn", ""] + [f"- {note}" for note in notes] + [""]
    path = Path(out_dir) / REPORT_FILE
    path.write_text("\n".join(lines))
    return path


# --------------------------------------------------------------------------------------------- after a sweep
def after_sweep(out_dir: Path, payload: dict[str, Any], logger_mode: str = "disabled") -> dict[str, Any] | None:
    """The runner's last step: figures, ``report.md`` and the W&B comparison run; prints where they are. A failure
    here is reported and does not fail the sweep (the table is written)."""
    try:
        built = build_report(out_dir, payload=payload)
    except Exception as error:  # noqa: BLE001 - the table is the result; the report is a view of it
        print(f"[sweep {out_dir.name}] could not draw the report: {type(error).__name__}: {error}", flush=True)
        return None
    print(f"[sweep {out_dir.name}] report: {built['report']} ({len(built['figures'])} figures in "
          f"{out_dir / FIGURES_DIR})", flush=True)
    if logger_mode != "disabled":
        try:
            run_dir = log_comparison(out_dir, payload, built["figures"], logger_mode)
            print(f"[sweep {out_dir.name}] W&B comparison run: {run_dir}", flush=True)
        except Exception as error:  # noqa: BLE001 - W&B is a copy of what is on disk
            print(f"[sweep {out_dir.name}] could not log the comparison to W&B: {type(error).__name__}: {error}",
                  flush=True)
    return built


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inpaint-suite report", description=(__doc__ or "").splitlines()[0])
    p.add_argument("name", help="sweep name (its results are <results>/<name>/) or a sweep YAML path")
    p.add_argument("--results", default="results", help="results folder (default ./results)")
    p.add_argument("--wandb", action="store_true", help="also log the comparison table and figures to W&B")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    name = Path(args.name).stem if args.name.endswith((".yaml", ".yml")) else args.name
    out_dir = Path(args.results).resolve() / name
    payload = load_table(out_dir)
    if args.wandb:
        built = after_sweep(out_dir, payload, wandb_mode())
        return 0 if built else 1
    built = build_report(out_dir, payload=payload)
    print(f"wrote {built['report']} and {len(built['figures'])} figures in {out_dir / FIGURES_DIR}:")
    for path in built["figures"]:
        print(f"  {path}")
    for note in built["notes"]:
        print(f"  not drawn: {note}")
    return 0
