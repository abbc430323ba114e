"""What a sweep puts into W&B beyond Lightning's own logging.

Per row (in the trial, through its ``WandbLogger``; the runs of a sweep share ``group=<sweep name>``, see
:mod:`sweeps.profiles`):

- the run's config gets everything needed to repeat it: the complete generated LightningCLI config (method class and
  its arguments, data, trainer settings, ``seed_everything``) under ``cli``, the sweep, row, profile, the paper's
  numbers and the git commit under ``sweep`` (:func:`log_run_context`);
- after the test, the paper's numbers and the deltas as ``paper/<metric>`` and ``delta/<metric>`` (``.../<group>/...``
  for the groups of a ``group_by`` table), beside the ``sweep/<metric>`` the trial logs (:func:`log_paper_deltas`).

Per sweep (in the runner, after the table): one run ``<sweep>/comparison`` (``job_type: comparison``, same group)
logging the comparison table (``wandb.Table``: one line per row and group, ``<metric> ours``, ``<metric> ci95 low``,
``<metric> ci95 high``, ``<metric> paper``, ``<metric> delta``) under ``comparison`` and every figure of the report
under ``figures/<name>`` (:func:`log_comparison`).

The runner passes the row's context to its trial in ``<trial>/row.json`` (:func:`write_row_file`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from sweeps.spec import paper_groups
from sweeps.table import score_group

ROW_FILE = "row.json"


# --------------------------------------------------------------------------------------------- runner -> trial
def row_context(sweep, row, profile: str, commit: str) -> dict[str, Any]:
    """The row's context for its trial: sweep, table, row label, profile, commit and the paper's numbers per group
    in the suite's units (``paper_units`` applied, as the table does)."""
    paper = {}
    for group, numbers in paper_groups(row).items():
        converted = {}
        for metric, value in (numbers or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                converted[metric] = float(value) * float(sweep.paper_units.get(metric, 1.0))
        paper[group] = converted
    return {"sweep": sweep.name, "table": sweep.paper.get("table"), "paper_title": sweep.paper.get("title"),
            "row": row.label, "row_index": row.index, "method": row.method, "baseline": row.baseline,
            "bucket": row.bucket, "profile": profile, "git_commit": commit, "metrics": list(sweep.metrics),
            "paper": paper}


def write_row_file(out: Path, context: dict[str, Any]) -> Path:
    path = Path(out) / ROW_FILE
    path.write_text(json.dumps(context, indent=2) + "\n")
    return path


def read_row_file(out: Path) -> dict[str, Any] | None:
    path = Path(out) / ROW_FILE
    return json.loads(path.read_text()) if path.is_file() else None


# --------------------------------------------------------------------------------------------- in the trial
def _wandb_loggers(loggers) -> list:
    # Lightning and wandb inside the functions: the sweep command imports this module (after the table it logs the
    # comparison run), and W&B loads only when something is logged.
    from lightning.pytorch.loggers import WandbLogger

    return [logger for logger in loggers or [] if isinstance(logger, WandbLogger)]


def log_run_context(loggers, config: dict[str, Any], context: dict[str, Any] | None) -> None:
    """Put the complete trial config and the row's context into each W&B run's config."""
    wandb_loggers = _wandb_loggers(loggers)
    if not wandb_loggers:
        return
    model = config.get("model") or {}
    params = {"cli": config, "method_class": model.get("class_path"), "seed_everything": config.get("seed_everything"),
              "trainer": config.get("trainer"), "sweep": context or {},
              "git_commit": (context or {}).get("git_commit")}
    for logger in wandb_loggers:
        try:
            logger.log_hyperparams(params)
        except Exception as error:  # noqa: BLE001 - the config is on disk; W&B must not fail the row
            print(f"could not log the run config to W&B: {error}", flush=True)


def paper_delta_metrics(report: dict[str, Any], context: dict[str, Any]) -> dict[str, float]:
    """``paper/<m>`` and ``delta/<m>`` (ours − paper) for the row's scored group (its bucket when the report has it,
    else all images), ``paper/<group>/<m>``, ``delta/<group>/<m>`` for the other groups the paper gives."""
    def mean(group: dict[str, Any] | None, metric: str) -> float | None:
        stat = ((group or {}).get("metrics") or {}).get(metric)
        value = stat.get("mean") if isinstance(stat, dict) else stat
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    out: dict[str, float] = {}
    for group, numbers in (context.get("paper") or {}).items():
        if group == "overall":
            measured, prefix = score_group(report, context.get("bucket")), ""
        else:
            measured = (report.get("mask_types") or {}).get(group) or (report.get("buckets") or {}).get(group)
            prefix = f"{group}/"
        for metric, theirs in numbers.items():
            out[f"paper/{prefix}{metric}"] = theirs
            ours = mean(measured, metric)
            if ours is not None:
                out[f"delta/{prefix}{metric}"] = ours - theirs
    return out


def log_paper_deltas(loggers, report: dict[str, Any], context: dict[str, Any] | None, step: int) -> None:
    if not context:
        return
    values = paper_delta_metrics(report, context)
    for logger in _wandb_loggers(loggers):
        try:
            logger.log_metrics(values, step=step)
        except Exception as error:  # noqa: BLE001 - the report is on disk
            print(f"could not log the paper numbers to W&B: {error}", flush=True)


# --------------------------------------------------------------------------------------------- the sweep
def comparison_columns(metrics: list[str]) -> list[str]:
    columns = ["row", "group", "status", "trial", "n"]
    for m in metrics:
        columns += [f"{m} ours", f"{m} ci95 low", f"{m} ci95 high", f"{m} paper", f"{m} delta"]
    return columns


def comparison_rows(payload: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for record in payload.get("rows") or []:
        line = [record["row"], record["group"], record.get("status"), record.get("trial"), record.get("n")]
        for m in payload.get("metrics") or []:
            cell = (record.get("metrics") or {}).get(m) or {}
            ci = cell.get("ci95") or [None, None]
            line += [cell.get("ours"), ci[0], ci[1], cell.get("paper"), cell.get("delta")]
        rows.append(line)
    return rows


def log_comparison(out_dir: Path, payload: dict[str, Any], figures: list[Path], mode: str) -> str:
    """One W&B run per sweep (``<sweep>/comparison``, grouped with the rows) with the comparison table and the
    figures; returns the run's local folder."""
    import wandb

    name = payload.get("sweep") or Path(out_dir).name
    settings = payload.get("settings") or {}
    profile = str(settings.get("profile"))
    run = wandb.init(project=os.environ.get("WANDB_PROJECT", "inpaint-suite"), group=name,
                     name=f"{name}/comparison", job_type="comparison", tags=[name, profile, "comparison"],
                     dir=str(out_dir), mode="offline" if mode == "offline" else "online", reinit="create_new",
                     config={"sweep": name, "paper": payload.get("paper"), "metrics": payload.get("metrics"),
                             "settings": settings})
    try:
        table = wandb.Table(columns=comparison_columns(list(payload.get("metrics") or [])),
                            data=comparison_rows(payload), allow_mixed_types=True)
        logged: dict[str, Any] = {"comparison": table}
        for path in figures:
            logged[f"figures/{Path(path).stem}"] = wandb.Image(str(path), caption=Path(path).stem)
        run.log(logged)
        return str(run.dir if mode != "offline" else Path(run.dir).parent)
    finally:
        run.finish()
