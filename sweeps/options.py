"""The command line of ``inpaint-suite sweep`` and the config layer its options make.

:mod:`sweeps.wandb_export` reads the same parser to pass every option on to the W&B agents.
"""

from __future__ import annotations

import argparse
from typing import Any

from assembly.config import parse_sets
from sweeps.spec import PROFILES

DESCRIPTION = "train and evaluate every row of an ablation table, one Optuna study"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inpaint-suite sweep", description=DESCRIPTION)
    p.add_argument("name", nargs="?", help="sweep name (sweeps/<name>.yaml) or a sweep YAML path; none: list them")
    p.add_argument("--data", help="dataset kind (places2, celebahq, ade20k, folder, sample, ...); none: built-in photos")
    p.add_argument("--data-root", help="root folder of --data")
    p.add_argument("--profile", choices=PROFILES,
                   help="budget: smoke (built-in data, CPU, minutes), short (a few thousand steps), paper "
                        "(the paper's schedule); default smoke without --data, short with it")
    p.add_argument("--storage", help="Optuna RDB URL (default sqlite:///<results>/optuna.db); PostgreSQL lets "
                                     "several machines share one study")
    p.add_argument("--devices", type=int, help="devices per trial (DDP inside a trial when > 1)")
    p.add_argument("--resume", action="store_true",
                   help="join the latest study of this sweep/profile/data: finished rows are reused, lost ones re-run "
                        "(also how extra workers join)")
    p.add_argument("--retry-failed", action="store_true", help="with --resume: re-run rows that failed (NaN, OOM...)")
    p.add_argument("--export", choices=["wandb"], help="write a W&B sweep YAML (grid over the rows) and exit")
    p.add_argument("--results", default="results", help="results folder (default ./results)")
    p.add_argument("--row", action="append", default=[], metavar="LABEL", help="run only this row (repeatable)")
    p.add_argument("--max-rows", type=int, help="run only the first N rows (CI budgets)")
    p.add_argument("--max-steps", type=int, help="override trainer.max_steps of every row (CI budgets)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override for every row, VALUE read as YAML (e.g. data.batch_size=4); repeatable")
    p.add_argument("--heartbeat", type=int, default=30, help="trial heartbeat interval in s (lost after 3x)")
    p.add_argument("--max-lost", type=int, default=3, help="re-run a row lost by a killed worker at most N times")
    p.add_argument("--trial-timeout", type=float, help="fail a trial after this many seconds")
    p.add_argument("--validate", action="store_true",
                   help="check the sweep file and parse every row's config as the trial will, then exit")
    p.add_argument("--no-table", action="store_true", help="do not print the Rich table")
    p.add_argument("--progress-every", type=float, default=60, metavar="S",
                   help="when the output is not a terminal: a progress line every S seconds (0: none; a terminal "
                        "gets a live Rich display)")
    return p


def cli_layer(args: argparse.Namespace) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    if args.data:
        layer["data.dataset"] = args.data
    if args.data_root:
        layer["data.data_root"] = args.data_root
    if args.devices:
        layer["trainer.devices"] = args.devices
    if args.max_steps:
        layer["trainer.max_steps"] = args.max_steps
    layer.update(parse_sets(args.sets))
    return layer

