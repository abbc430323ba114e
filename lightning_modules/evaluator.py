"""The evaluation harness as a training module uses it: building ``evaluation.InpaintingEvaluator`` from a module's
``evaluator_options`` (``test``), the ``val/`` pixel metrics with the harness's own definitions (so ``val/psnr`` and
``test/psnr`` on the same images are the same number), and the test report.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from evaluation import InpaintingEvaluator
from evaluation.collection import pixel_scale, pixel_scores
from evaluation.protocols import protocol_options
from evaluation.report import print_report, write_json

VAL_METRICS = ("l1_hole", "psnr")  # logged as val/<name> every validation run (per image, [0, 1], NaN-free mean)


def evaluator_kwargs(evaluator_options: dict[str, Any] | None) -> dict[str, Any]:
    """``InpaintingEvaluator`` keyword arguments from a module's ``evaluator_options``: a named ``protocol`` is
    expanded from the registry (``evaluation.protocols``), the other keys win, and the report records the name."""
    options = dict(evaluator_options or {})
    name = options.pop("protocol", None)
    if name is None:
        return options

    _, settings = protocol_options(name)
    merged = {**settings, **options}
    merged["settings"] = {"protocol": name, **(options.get("settings") or {})}
    return merged


def build_evaluator(module: Any) -> nn.Module:
    """The harness for ``module.test_metric_names`` on ``module.eval_image``, with the data module's and the
    method's ``evaluation_settings()`` recorded in the report."""
    options = evaluator_kwargs(module.evaluator_options)
    # the data side states what was evaluated (dataset, split, mask set and its hash) without us importing it
    describe = getattr(getattr(module.trainer, "datamodule", None), "evaluation_settings", None)
    settings = {**(describe() if callable(describe) else {}), **module.evaluation_settings(),
                **options.get("settings", {})}
    if settings:
        options["settings"] = settings
    return InpaintingEvaluator(metrics=module.test_metric_names, image=module.eval_image, **options)


def _harness_default(name: str) -> Any:
    return inspect.signature(InpaintingEvaluator.__init__).parameters[name].default


def validation_scores(pred: Tensor, target: Tensor, mask: Tensor,
                      evaluator_options: dict[str, Any] | None) -> dict[str, Tensor]:
    """Per-image ``(B,)`` values of :data:`VAL_METRICS` exactly as ``test`` computes them with the same
    ``evaluator_options`` (PNG round trip unless ``quantize: false``, [0, 1] L1, PSNR's ``psnr_zero_mse``).
    ``pred``/``target`` ``(B, 3, H, W)`` in [-1, 1]; ``mask`` ``(B, 1, H, W)``, 1 = hole."""
    options = evaluator_kwargs(evaluator_options)
    quantize = options.get("quantize", _harness_default("quantize"))
    zero_mse = options.get("psnr_zero_mse", _harness_default("psnr_zero_mse"))
    return pixel_scores(VAL_METRICS, pixel_scale(pred, quantize), pixel_scale(target, quantize), mask,
                        psnr_zero_mse=zero_mse)


def finite_mean(values: Tensor) -> tuple[Tensor, int]:
    """The mean over the non-NaN entries and their count (the report's ``summarize`` drops NaN the same way: an
    image without a hole has no ``l1_hole``)."""
    kept = values[~values.isnan()]
    return (kept.mean() if kept.numel() else values.new_zeros(())), int(kept.numel())


def write_test_report(module: Any, report: dict[str, Any]) -> None:
    """Print the report and write ``test_report.json`` to the run's log folder (rank 0), and log ``test/<name>``."""
    trainer = module.trainer
    log_dir = trainer.log_dir  # a broadcast under DDP: every rank must ask
    if trainer.is_global_zero:
        print_report(report)
        write_json(report, Path(log_dir or trainer.default_root_dir) / "test_report.json")
    for name, stat in report.get("overall", {}).get("metrics", {}).items():
        value = stat.get("mean") if isinstance(stat, dict) else stat
        if isinstance(value, (int, float)) and math.isfinite(value):
            module.log(f"test/{name}", float(value), sync_dist=False, rank_zero_only=True)
