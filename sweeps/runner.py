"""``inpaint-suite sweep [NAME] [options]``: train and evaluate every row of an ablation table, one Optuna study.

No NAME lists the sweeps. A trial is one ``fit`` + ``test`` in its own process (``python -m sweeps.trial``), so DDP
launches cleanly, a NaN or OOM fails only that row (recorded with its reason) and this process stays light. Several
runner processes on one storage (``--storage postgresql://...`` or the default SQLite file) share the rows: each
takes the next unclaimed row (see :mod:`sweeps.study`). Output: a Rich table and ``results/<name>/table.{md,csv,json}``.

A re-run row (lost with a killed worker, handed back by a preempted one) continues from the newest ``last.ckpt`` of
its earlier attempts that loads. SIGTERM/SIGUSR1 to a worker (preemption) is passed to its trial, which saves a
checkpoint; the row is handed back (claimable again, not counted against ``--max-lost``) and the worker exits with
``128 + signal`` (143, 138) without writing the table.

This module is the command: it reads the sweep file and hands it to the part that runs its kind (:mod:`sweeps.worker`
for tables, :mod:`sweeps.search` for TPE studies, :func:`run_model_info`, :mod:`sweeps.wandb_export`). Those are
imported when the kind is known: they bring Optuna and Lightning (seconds), which ``sweep --help``, the list of
sweeps and ``--export`` do not need. Rich, likewise, is imported where a table is printed (it would double the time
``sweep --help`` takes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assembly.errors import UsageError
from sweeps.options import build_parser
from sweeps.progress import SweepProgress
from sweeps.provenance import git_commit
from sweeps.report import after_sweep
from sweeps.spec import Row, Sweep, base_config_name, config_flags, load_sweep, sweep_paths, validate_sweep
from sweeps.table import print_table, write_tables
from sweeps.trial import classify_failure
from sweeps.wandb_export import write_wandb_sweep


def list_sweeps() -> int:
    from rich.console import Console  # Rich (tenths of a second) only when a table is printed: see the docstring
    from rich.table import Table

    table = Table(title="sweeps (inpaint-suite sweep NAME | make sweep ABLATION=NAME)")
    for column in ("name", "kind", "method", "paper", "rows"):
        table.add_column(column)
    for name, path in sweep_paths().items():
        try:
            sweep = load_sweep(path)
            table.add_row(name, sweep.kind, str(sweep.method or "per row"),
                          f"{sweep.paper.get('table', '?')}: {str(sweep.paper.get('title', ''))[:60]}",
                          str(len(sweep.rows)))
        except UsageError as error:
            table.add_row(name, "INVALID", "", str(error)[:90], "")
    Console().print(table)
    return 0


def select_rows(sweep: Sweep, args: argparse.Namespace) -> list[Row]:
    rows = list(sweep.rows)
    if args.row:
        labels = {r.label for r in rows}
        missing = [label for label in args.row if label not in labels]
        if missing:
            raise UsageError(f"{sweep.path}: no row {missing[0]!r}; rows: {', '.join(sorted(labels))}")
        rows = [r for r in rows if r.label in args.row]
    if args.max_rows:
        rows = rows[: args.max_rows]
    return rows


def run_model_info(sweep: Sweep, rows: list[Row], args: argparse.Namespace) -> int:
    """``kind: model_info``: params and GFLOPs per row, no training."""
    from assembly.model_info import model_info  # torch (about 1 s): only this kind counts parameters

    results = []
    for row in rows:
        overrides = {k.removeprefix("model.init_args."): v for k, v in row.overrides.items()}
        try:
            info = model_info(row.method, overrides, size=sweep.size, config=base_config_name(sweep, row))
        except Exception as error:  # noqa: BLE001 - a row that cannot be built is reported, the rest go on
            results.append({"label": row.label, "status": "failed", "reason": classify_failure(error)})
            continue
        gflops = next((v for k, v in info.items() if k.startswith("gflops")), None)
        values = {"params": info.get("generator_params"), "generator_params": info.get("generator_params"),
                  "discriminator_params": info.get("discriminator_params"), "gflops": gflops}
        metrics = {k: {"mean": v} for k, v in values.items() if v is not None}
        results.append({"label": row.label, "status": "complete", "reason": None,
                        "summary": {"overall": {"n": None, "metrics": metrics}}})
    settings = {"profile": "model_info", "size": f"{sweep.size}x{sweep.size}",
                "flops": "torch.utils.flop_counter, FLOPs = 2 x MACs of generate()", "commit": git_commit()}
    payload = write_tables(Path(args.results).resolve() / sweep.name, sweep, results, settings)
    if not args.no_table:
        print_table(sweep, payload)
    after_sweep(Path(args.results).resolve() / sweep.name, payload)
    return 0 if all(r["status"] == "complete" for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if not args.name:
        return list_sweeps()
    sweep = load_sweep(args.name)
    validate_sweep(sweep)
    selected = select_rows(sweep, args)
    rows = sweep.rows
    if args.export == "wandb":
        path = write_wandb_sweep(sweep, selected, args, Path(args.results).resolve() / sweep.name)
        print(f"wrote {path}: `wandb sweep {path}` then `wandb agent <id>` (needs the W&B service)")
        return 0
    if sweep.kind == "evaluation":
        raise UsageError(f"{sweep.name} is an evaluation protocol ({sweep.paper.get('table')}): it scores a trained "
                         f"checkpoint on the real test set, which needs the dataset and the trained weights; "
                         f"the file is valid — run `inpaint-suite test {config_flags(sweep.config or sweep.method)} "
                         f"--ckpt_path CKPT` with its `evaluation` settings")
    if sweep.kind == "model_info":
        return 0 if args.validate else run_model_info(sweep, selected, args)
    if sweep.kind == "search":
        from sweeps.search import run_search  # Optuna and Lightning: see the module docstring

        return run_search(sweep, args)
    profile = args.profile or ("short" if args.data else "smoke")
    if not args.data and not args.profile:
        print(f"[sweep {sweep.name}] no --data given: built-in sample photos, smoke profile "
              f"(a pipeline check; numbers are not comparable with the paper's)", flush=True)
    from sweeps.worker import SweepRun  # Optuna and Lightning: see the module docstring

    run = SweepRun(sweep, rows, args, profile, selected)
    run.check_configs()
    if args.validate:
        print(f"{sweep.path}: {len(selected)} row(s) valid")
        return 0
    run.open()
    print(f"[sweep {sweep.name}] study {run.study_name} on {run.storage_url.split('@')[-1]}", flush=True)
    run.preemption.install()
    done = sum(r["status"] == "complete" for r in run.results() if r["label"] in {x.label for x in selected})
    run.progress = SweepProgress(sweep.name, total=len(selected), done=done, interval=args.progress_every)
    with run.progress:
        run.work()
    if run.preemption.signum:
        # Preempted: exit at once (the cluster's grace period is short); the table is written by whoever finishes.
        print(f"[sweep {sweep.name}] preempted by {run.preemption.name}: running row handed back; continue with "
              f"--resume (exit {run.preemption.exit_code})", flush=True)
        return run.preemption.exit_code
    results = run.results()
    payload = write_tables(run.out_dir, sweep, results, run.settings(results))
    if not args.no_table:
        print_table(sweep, payload)
    print(f"[sweep {sweep.name}] wrote {run.out_dir / 'table.md'} (.csv, .json)", flush=True)
    after_sweep(run.out_dir, payload, run.logger_mode)  # figures/, report.md, the W&B comparison run
    chosen = {r.label for r in selected}
    return 0 if all(r["status"] == "complete" for r in results if r["label"] in chosen) else 1
