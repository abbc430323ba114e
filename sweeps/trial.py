"""One trial in its own process: ``python -m sweeps.trial --config CONFIG.yaml --out DIR``.

Fits the config's model, then tests the trained model (in memory, right after fit) with the evaluation harness, and
writes ``DIR/test_report.json`` and ``DIR/result.json`` (``{"status": "complete" | "failed" | "pruned", "reason"}``).
A failure (non-finite loss, out of memory, any exception) is caught and written with its reason; the exit code is
0 for a finished trial of any status, so the runner reads ``result.json``. A row with ``--baseline masked_input`` fits
nothing: it scores the white-filled input itself on the test set (``--baseline telea``: OpenCV's Telea fill).

Runs under DDP too (``trainer.devices: N``): Lightning re-launches this module once per extra rank, every rank fits and
tests, rank 0 writes the files. Every process of a trial dies with its parent (``PR_SET_PDEATHSIG``), so a killed
sweep worker leaves no orphan training behind.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

import yaml


def die_with_parent() -> None:
    """Linux: get SIGKILL when the parent process exits (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent is already gone
            os._exit(1)
    except OSError:
        pass


def classify_failure(error: BaseException) -> str:
    """A short reason: ``nan: ...``, ``oom: ...`` or ``error: Type: message``."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = type(error).__name__
    if name == "NonFiniteLossError" or isinstance(error, FloatingPointError):
        return f"nan: {text}"[:500]
    if "out of memory" in str(error).lower() or name in ("OutOfMemoryError", "MemoryError"):
        return f"oom: {name}: {text}"[:500]
    return f"error: {name}: {text}"[:500]


def _write(out: Path, name: str, payload: dict[str, Any]) -> None:
    from evaluation.report import report_to_json

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{name}.tmp"
    tmp.write_text(report_to_json(payload) + "\n")
    tmp.replace(out / name)  # atomic: the runner never reads a half-written file


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0


def run_fit_test(config_path: Path, prune: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    """Fit then test; returns (report on rank 0 else None, is_rank_zero)."""
    from inpaint_suite.lightning_cli import build_cli

    cli = build_cli(["--config", str(config_path)], run=False)
    trainer, model, datamodule = cli.trainer, cli.model, cli.datamodule
    if prune:
        trainer.callbacks.append(_pruning_callback(prune))
    trainer.fit(model, datamodule=datamodule)
    if trainer.interrupted:
        raise RuntimeError("training was interrupted")
    trainer.test(model, datamodule=datamodule, verbose=False)
    return getattr(model, "test_report", None), trainer.is_global_zero


def _pruning_callback(prune: dict[str, Any]):
    """Optuna's Lightning pruning callback on this trial (storage, study and trial id come from the runner)."""
    import optuna
    from optuna_integration import PyTorchLightningPruningCallback

    study = optuna.load_study(study_name=prune["study"], storage=prune["storage"])
    trial = optuna.Trial(study, int(prune["trial_id"]))
    return PyTorchLightningPruningCallback(trial, monitor=prune.get("monitor", "val/psnr"))


def run_masked_input_baseline(config: dict[str, Any], metrics: list[str], baseline: str = "masked_input"
                              ) -> dict[str, Any]:
    """Score a training-free fill on the test split: the input with its hole filled white (+1 in [-1, 1], the AIM
    challenge baseline) or ``telea`` (``cv2.inpaint``), from ``evaluation.baselines`` as the learning bench."""
    import torch

    from datamodules import InpaintDataModule
    from evaluation import InpaintingEvaluator
    from evaluation.baselines import baseline_composite

    data = InpaintDataModule(**(config.get("data") or {}))
    data.setup("test")
    evaluator = InpaintingEvaluator(metrics=metrics or ["psnr", "ssim", "l1"], image="composite")
    with torch.no_grad():
        for batch in data.test_dataloader():
            batch = data.add_masks(batch, training=False)
            image, mask = batch["image"], batch["mask"]
            filled = baseline_composite(baseline, image, mask)
            evaluator.update(filled, image, mask, mask_type=batch.get("mask_type"), index=batch.get("index"))
    return evaluator.compute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweeps.trial", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--baseline", choices=["masked_input", "telea"])
    parser.add_argument("--metrics", default="psnr,ssim,l1", help="baseline only: comma-separated test metrics")
    parser.add_argument("--prune", help="JSON: {storage, study, trial_id, monitor} for the pruning callback")
    args = parser.parse_args(argv)
    die_with_parent()
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    rank_zero = _is_rank_zero()
    try:
        if args.baseline:
            config = yaml.safe_load(args.config.read_text()) or {}
            report = run_masked_input_baseline(config, [m for m in args.metrics.split(",") if m], args.baseline)
        else:
            report, rank_zero = run_fit_test(args.config, json.loads(args.prune) if args.prune else None)
        if rank_zero:
            if report is None:
                raise RuntimeError("the test loop produced no report")
            _write(args.out, "test_report.json", report)
            _write(args.out, "result.json", {"status": "complete", "reason": None})
    except BaseException as error:  # noqa: BLE001 - every failure is recorded with its reason
        if type(error).__name__ == "TrialPruned":
            if rank_zero:
                _write(args.out, "result.json", {"status": "pruned", "reason": str(error)[:500]})
            return 0
        if isinstance(error, KeyboardInterrupt):
            raise
        if rank_zero:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "error.txt").write_text(traceback.format_exc())
            _write(args.out, "result.json", {"status": "failed", "reason": classify_failure(error)})
        traceback.print_exc()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
