"""One trial in its own process: ``python -m sweeps.trial --config CONFIG.yaml --out DIR``.

Fits the config's model, then tests the trained model (in memory, right after fit) with the evaluation harness, and
writes ``DIR/test_report.json`` and ``DIR/result.json`` (``{"status": "complete" | "failed" | "pruned", "reason"}``).
A failure (non-finite loss, out of memory, any exception) is caught and written with its reason; the exit code is
0 for a finished trial of any status, so the runner reads ``result.json``. A row with ``--baseline masked_input`` fits
nothing: it scores the white-filled input itself on the test set (``--baseline telea``: OpenCV's Telea fill).

Runs under DDP too (``trainer.devices: N``): Lightning re-launches this module once per extra rank, every rank fits and
tests, rank 0 writes the files. Every process of a trial dies with its parent (``PR_SET_PDEATHSIG``), so a killed
sweep worker leaves no orphan training behind.

``--ckpt-path CKPT`` continues the fit from a checkpoint (a row re-run after a kill or a preemption: the runner finds
the row's newest loadable ``last.ckpt``). SIGTERM or SIGUSR1 (a cluster's preemption, usually forwarded by the sweep
worker) stops the fit after the current batch through Lightning's own SIGTERM handling (``SIGTERMException``),
``<out>/checkpoints/last.ckpt`` is saved and ``result.json`` says ``{"status": "handed back", "checkpoint", "step"}``.
``--bucket B``: after the test, the row's score (bucket ``B`` of the report, else overall) is also logged as
``sweep/<metric>``, and every bucket and mask type as ``test/bucket/<B>/<metric>`` / ``test/mask_type/<T>/<metric>``
(the names the W&B export optimises).

For the sweep's progress and report the trial also writes ``<out>/progress.json`` (its step, about once a second:
:mod:`sweeps.progress`) and ``<out>/samples.pt`` (the first test items inpainted: :mod:`sweeps.samples`), and logs
its config, the paper's numbers and the deltas to W&B (:mod:`sweeps.wandb_log`, from the runner's ``row.json``).
"""

from __future__ import annotations

# Lightning, torch, Optuna and the data/evaluation packages are imported inside the functions that run the trial:
# the sweep worker (and the tests' fast stand-in trial) import this module for its constants and helpers, and must
# stay light (Lightning alone takes seconds to import).
import argparse
import ctypes
import json
import math
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

from assembly.resume import read_training_state
from evaluation.report import report_to_json
from sweeps.progress import progress_callback
from sweeps.samples import masked_input_samples, model_samples, save_samples_safely
from sweeps.table import score_group
from sweeps.wandb_log import log_paper_deltas, log_run_context, read_row_file


def die_with_parent() -> None:
    """Linux: get SIGKILL when the parent process exits (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
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
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{name}.tmp"
    tmp.write_text(report_to_json(payload) + "\n")
    tmp.replace(out / name)  # atomic: the runner never reads a half-written file


HANDED_BACK = "handed back"
PREEMPT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1") if hasattr(signal, name))
LAST_CKPT = "last.ckpt"


class Preempted(Exception):
    """A preemption signal arrived outside Lightning's loops (before the fit or between fit and test)."""


class Preemption:
    """SIGTERM/SIGUSR1 while this trial runs.

    Lightning turns SIGTERM into ``SIGTERMException`` after the current batch, but only while ``fit``/``test`` run
    (it installs its handler then, composed with ours, and resets its flag when it does), and it ignores SIGUSR1
    outside SLURM. So: outside Lightning's loops the signal raises :class:`Preempted` at once (nothing to save);
    inside, SIGUSR1 is re-sent as SIGTERM to reach Lightning's handler, and a signal that came while Lightning's
    handler was not installed yet is re-sent at ``on_train_start`` (see :func:`preemption_callback`).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.at: float = 0.0
        self.in_lightning = False
        self.delivered = False

    def install(self) -> None:
        for signum in PREEMPT_SIGNALS:
            signal.signal(signum, self._handle)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def _handle(self, signum: int, frame) -> None:
        if self.signum is None:
            self.signum, self.at = signum, time.time()
        if not self.in_lightning:
            raise Preempted(f"{signal.Signals(signum).name} before training")
        if signum != signal.SIGTERM:
            self.resend()

    def resend(self) -> None:
        """Hand the preemption to Lightning's SIGTERM handler (which also stops the other DDP ranks)."""
        self.delivered = True
        os.kill(os.getpid(), signal.SIGTERM)


PREEMPTION = Preemption()


def preemption_callback():
    """A callback handing a signal that came before Lightning installed its SIGTERM handler (which resets its flag)
    to that handler once training starts.

    The checkpoint itself is ``assembly.preemption.PreemptionCheckpoint``'s: ``build_cli`` installs it on every
    trainer, and on a ``SIGTERMException`` during ``fit`` it writes ``last.ckpt`` atomically (only on that exception,
    unlike Lightning's ``OnExceptionCheckpoint``, which would resume a NaN row from NaN weights and deletes its file at
    teardown). :func:`run_fit_test` points it at ``<out>/checkpoints``; this module saves only where that callback
    does not (a signal after the last batch, or during the test).
    """
    from lightning.pytorch.callbacks import Callback

    class PreemptionResend(Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            if PREEMPTION.signum is not None and not PREEMPTION.delivered:
                PREEMPTION.resend()

    return PreemptionResend()


def save_preemption_checkpoint(trainer, path: Path) -> None:
    """``last.ckpt`` written under a temporary name and renamed: a kill during the save leaves the previous one."""
    if path.is_file() and path.stat().st_mtime >= PREEMPTION.at:
        return  # already saved after the signal
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    trainer.save_checkpoint(tmp, weights_only=False)  # full state for the resume; every rank calls it; rank 0 writes
    if trainer.is_global_zero:
        os.replace(tmp, path)


def checkpoint_step(path: Path) -> int:
    """The ``global_step`` of a checkpoint, loaded as ``--ckpt_path last`` checks it (weights only, memory-mapped)."""
    return int(read_training_state(Path(path))["global_step"])


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0


def run_fit_test(config_path: Path, prune: dict[str, Any] | None, out: Path, ckpt_path: Path | None = None,
                 bucket: str | None = None) -> tuple[dict[str, Any] | None, bool]:
    """Fit (from ``ckpt_path`` when given) then test; returns (report on rank 0 else None, is_rank_zero).

    A preemption raises :class:`Preempted` once the checkpoint is saved.
    """
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from assembly.lightning_cli import build_cli
    from assembly.preemption import PreemptionCheckpoint

    cli = build_cli(["--config", str(config_path)], run=False)
    trainer, model, datamodule = cli.trainer, cli.model, cli.datamodule
    if prune:
        trainer.callbacks.append(_pruning_callback(prune))
    path = out / "checkpoints" / LAST_CKPT  # where the worker's resume and write_handed_back look
    for saver in trainer.callbacks:
        if isinstance(saver, PreemptionCheckpoint):
            saver.dirpath = str(path.parent)
    trainer.callbacks.append(preemption_callback())
    trainer.callbacks.append(progress_callback(out))  # the sweep worker reads the step from <out>/progress.json
    context = read_row_file(out)
    log_run_context(trainer.loggers, yaml.safe_load(Path(config_path).read_text()), context)
    PREEMPTION.in_lightning = True
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=str(ckpt_path) if ckpt_path else None,
                    weights_only=True if ckpt_path else None)
    except SIGTERMException:
        raise Preempted(f"{PREEMPTION.name or 'SIGTERM'} during training") from None
    if PREEMPTION.signum is not None:  # came between the last batch and the end of fit: keep the trained model
        save_preemption_checkpoint(trainer, path)
        raise Preempted(f"{PREEMPTION.name} after training")
    if trainer.interrupted:
        raise RuntimeError("training was interrupted")
    try:
        trainer.test(model, datamodule=datamodule, verbose=False)
    except SIGTERMException:
        save_preemption_checkpoint(trainer, path)
        raise Preempted(f"{PREEMPTION.name or 'SIGTERM'} during the test") from None
    report = getattr(model, "test_report", None)
    if report is not None and trainer.is_global_zero:
        log_paper_deltas(trainer.loggers, report, context, trainer.global_step)
        log_scores(trainer.loggers, report, bucket, trainer.global_step)
        save_samples_safely(out, lambda: model_samples(model, datamodule))  # the report's image grid
    return report, trainer.is_global_zero


def score_metrics(report: dict[str, Any], bucket: str | None) -> dict[str, float]:
    """``{name: value}`` to log: ``sweep/<m>`` (the row's score), ``test/bucket/<b>/<m>``, ``test/mask_type/<t>/<m>``."""
    def means(group: dict[str, Any] | None) -> dict[str, float]:
        out = {}
        for name, stat in ((group or {}).get("metrics") or {}).items():
            value = stat.get("mean") if isinstance(stat, dict) else stat
            if isinstance(value, (int, float)) and math.isfinite(value):
                out[name] = float(value)
        return out

    logged = {f"sweep/{m}": v for m, v in means(score_group(report, bucket)).items()}
    for section, prefix in (("buckets", "bucket"), ("mask_types", "mask_type")):
        for group, values in (report.get(section) or {}).items():
            logged.update({f"test/{prefix}/{group}/{m}": v for m, v in means(values).items()})
    return logged


def log_scores(loggers, report: dict[str, Any], bucket: str | None, step: int) -> None:
    metrics = score_metrics(report, bucket)
    for logger in loggers:
        try:
            logger.log_metrics(metrics, step=step)
            logger.save()
        except Exception as error:  # noqa: BLE001 - the report is on disk; a logger hiccup must not fail the row
            print(f"could not log the sweep scores to {type(logger).__name__}: {error}", flush=True)


def _pruning_callback(prune: dict[str, Any]):
    """Optuna's Lightning pruning callback on this trial (storage, study and trial id come from the runner)."""
    import optuna
    from optuna_integration import PyTorchLightningPruningCallback

    study = optuna.load_study(study_name=prune["study"], storage=prune["storage"])
    trial = optuna.Trial(study, int(prune["trial_id"]))
    return PyTorchLightningPruningCallback(trial, monitor=prune.get("monitor", "val/psnr"))


def run_masked_input_baseline(config: dict[str, Any], metrics: list[str], protocol: str | None = None,
                              baseline: str = "masked_input") -> dict[str, Any]:
    """Score a training-free fill on the test split: the input with its hole filled white (+1 in [-1, 1], the AIM
    challenge baseline) or ``telea`` (``cv2.inpaint``), from ``evaluation.baselines`` as the learning bench, with the
    metric settings of the evaluation ``protocol`` (the sweep's) when given."""
    import torch

    from datamodules import InpaintDataModule
    from evaluation import InpaintingEvaluator
    from evaluation.baselines import baseline_composite

    data = InpaintDataModule(**(config.get("data") or {}))
    data.setup("test")
    metrics = metrics or ["psnr", "ssim", "l1"]
    settings = data.evaluation_settings()
    if protocol:
        evaluator = InpaintingEvaluator.from_protocol(protocol, metrics=metrics, image="composite", settings=settings)
    else:
        evaluator = InpaintingEvaluator(metrics=metrics, image="composite", settings=settings)
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
    parser.add_argument("--protocol", help="baseline only: the evaluation protocol (evaluation.protocols)")
    parser.add_argument("--prune", help="JSON: {storage, study, trial_id, monitor} for the pruning callback")
    parser.add_argument("--ckpt-path", type=Path, help="continue the fit from this checkpoint")
    parser.add_argument("--bucket", help="the hole-ratio bucket the table scores this row on")
    args = parser.parse_args(argv)
    die_with_parent()
    PREEMPTION.install()
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    rank_zero = _is_rank_zero()
    try:
        if args.baseline:
            config = yaml.safe_load(args.config.read_text()) or {}
            report = run_masked_input_baseline(config, [m for m in args.metrics.split(",") if m], args.protocol,
                                               args.baseline)
            save_samples_safely(args.out, lambda: masked_input_samples(config, args.baseline))
        else:
            report, rank_zero = run_fit_test(args.config, json.loads(args.prune) if args.prune else None, args.out,
                                             args.ckpt_path, args.bucket)
        if rank_zero:
            if report is None:
                raise RuntimeError("the test loop produced no report")
            _write(args.out, "test_report.json", report)
            _write(args.out, "result.json", {"status": "complete", "reason": None})
    except Preempted as error:
        if rank_zero:
            write_handed_back(args.out, str(error))
        return 0
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


def write_handed_back(out: Path, why: str) -> None:
    """``result.json`` of a preempted trial: the checkpoint the row continues from (if any) and its step.

    Any ``last.ckpt`` in ``out`` is this attempt's (each attempt has its own folder). Its modification time is not
    compared with the signal's: file times come from the kernel's coarse clock and can read a few milliseconds
    earlier than a save made right after the signal."""
    path = out / "checkpoints" / LAST_CKPT
    checkpoint, step = None, None
    if path.is_file():
        checkpoint, step = str(path), checkpoint_step(path)
    where = f"checkpoint {checkpoint} at step {step}" if checkpoint else "no checkpoint saved"
    _write(out, "result.json", {"status": HANDED_BACK, "reason": f"{HANDED_BACK}: preempted by {why}; {where}",
                                "checkpoint": checkpoint, "step": step})


if __name__ == "__main__":
    sys.exit(main())
