"""``inpaint-suite sweep NAME --export wandb``: a W&B sweep YAML, a grid over the rows, whose program is this CLI.

W&B sweeps need the W&B service (``wandb sweep FILE`` then ``wandb agent ID``); every agent run calls
``inpaint-suite sweep NAME --row=<label> --resume ...``, so results still land in the Optuna study and the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from sweeps.spec import LOWER_IS_BETTER, Row, Sweep


def wandb_sweep_config(sweep: Sweep, rows: list[Row], args: argparse.Namespace) -> dict:
    passthrough = []
    for flag, value in (("--data", args.data), ("--data-root", args.data_root), ("--profile", args.profile),
                        ("--storage", args.storage), ("--devices", args.devices), ("--max-steps", args.max_steps)):
        if value is not None:
            passthrough += [flag, str(value)]
    metric = sweep.metrics[0] if sweep.metrics else "psnr"
    return {
        "name": sweep.name,
        "description": f"{sweep.paper.get('table', '')}: {sweep.paper.get('title', '')}",
        "method": "grid",
        "metric": {"name": f"test/{metric}", "goal": "minimize" if metric in LOWER_IS_BETTER else "maximize"},
        "parameters": {"row": {"values": [r.label for r in rows]}},
        # ${args} expands to --row=<label>; --resume joins the shared Optuna study instead of starting a new one.
        "command": ["${env}", "inpaint-suite", "sweep", sweep.name, "--resume", *passthrough, "${args}"],
    }


def write_wandb_sweep(sweep: Sweep, rows: list[Row], args: argparse.Namespace, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "wandb_sweep.yaml"
    path.write_text(yaml.safe_dump(wandb_sweep_config(sweep, rows, args), sort_keys=False, allow_unicode=True))
    return path
