"""``inpaint-suite sweep NAME --export wandb``: a W&B sweep YAML, a grid over the rows, whose program is this CLI.

W&B sweeps need the W&B service (``wandb sweep FILE`` then ``wandb agent ID``); every agent run calls
``inpaint-suite sweep NAME --resume <every option this export was given> --row=<label>``, so results still land in the
same Optuna study and table. The ``metric`` is the one the table scores first (the Optuna objective), on the part of
the report the table reads: ``test/bucket/<B>/<metric>`` when the rows are scored on hole-ratio bucket ``B``,
``test/<metric>`` for all test images, ``sweep/<metric>`` (each row's own score) when rows are scored on different
buckets. ``python -m sweeps.trial`` logs all three.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from sweeps.options import build_parser, cli_layer
from sweeps.row_configs import effective_metrics
from sweeps.spec import LOWER_IS_BETTER, Row, Sweep

# Options the export itself decides: the sweep name, the row (W&B's grid), --resume (always), and the ones that make
# no sense for an agent run.
NOT_PASSED = {"name", "export", "row", "resume", "validate", "max_rows"}


def passthrough(args: argparse.Namespace) -> list[str]:
    """Every option of ``args`` that differs from the parser's default, as ``--flag=value`` (repeatable ones
    repeated), so an option added to the runner later is carried without a change here."""
    out: list[str] = []
    for action in build_parser()._actions:  # argparse has no public list of its actions
        if not action.option_strings or action.dest in NOT_PASSED or action.dest == "help":
            continue
        value, flag = getattr(args, action.dest, action.default), max(action.option_strings, key=len)
        if value == action.default or value is None:
            continue
        if isinstance(action, argparse._StoreTrueAction):
            out.append(flag)
        elif isinstance(value, list):
            out += [f"{flag}={item}" for item in value]
        else:
            out.append(f"{flag}={value}")
    return out


def objective(sweep: Sweep, rows: list[Row], args: argparse.Namespace) -> tuple[str, str, str]:
    """(W&B metric name, goal, what it scores) of the table's first measured metric."""
    profile = args.profile or ("short" if args.data else "smoke")
    measured, _ = effective_metrics(sweep, profile, cli_layer(args))
    metric = (measured or sweep.metrics or ["psnr"])[0]
    goal = "minimize" if metric in LOWER_IS_BETTER else "maximize"
    buckets = {r.bucket for r in rows}
    if buckets == {None}:
        return f"test/{metric}", goal, "all test images"
    if len(buckets) == 1:
        bucket = next(iter(buckets))
        return f"test/bucket/{bucket}/{metric}", goal, f"hole-ratio bucket {bucket}"
    return f"sweep/{metric}", goal, "each row's own bucket"


def wandb_sweep_config(sweep: Sweep, rows: list[Row], args: argparse.Namespace) -> dict:
    name, goal, scored = objective(sweep, rows, args)
    return {
        "name": sweep.name,
        "description": f"{sweep.paper.get('table', '')}: {sweep.paper.get('title', '')} "
                       f"(scored: {name.rsplit('/', 1)[-1]} on {scored})",
        "method": "grid",
        "metric": {"name": name, "goal": goal},
        "parameters": {"row": {"values": [r.label for r in rows]}},
        # ${args} expands to --row=<label>; --resume joins the shared Optuna study instead of starting a new one.
        "command": ["${env}", "inpaint-suite", "sweep", args.name or sweep.name, "--resume", *passthrough(args), "${args}"],
    }


def write_wandb_sweep(sweep: Sweep, rows: list[Row], args: argparse.Namespace, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "wandb_sweep.yaml"
    path.write_text(yaml.safe_dump(wandb_sweep_config(sweep, rows, args), sort_keys=False, allow_unicode=True))
    return path
