"""Budgets (``smoke | short | paper``) and the generated LightningCLI config of one trial.

A row's config is built in layers, later ones winning:

1. the packaged config (``config:`` of the sweep, else the method's; see :func:`sweeps.spec.row_base_config`) as
   ``--config`` reads it: its ``compose:`` parts merged by ``assembly.config.load_config``; then the sweep's ``evaluation_protocol`` (``model.init_args.evaluator_options``: its name and every setting),
2. the sweep's common ``overrides``,
3. the runner's profile defaults (:data:`PROFILE_DEFAULTS`),
4. the sweep's ``profiles.<profile>`` (what differs for this table, e.g. the paper's step count),
5. the row's ``overrides`` (the ablation itself), then the row's ``profiles.<profile>``,
6. the command line: ``--data/--data-root``, ``--devices``, ``--max-steps``, ``--set key=value``.

Then the runner owns where things go: ``default_root_dir``, loggers (CSV always, W&B unless disabled) and
checkpoint folders point into the trial's folder, and ``test_metrics`` is the sweep's ``metrics``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from assembly.config import set_dotted
from evaluation.names import ALL_METRICS

# The smoke profile: built-in photos, 64 px, a few dozen CPU steps, random VGG (no download), nothing else read
# from disk. Keys a method's config uses for real data (mask folders, list files) are cleared.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "smoke": {
        "data.dataset": "sample",
        "data.data_root": None,
        "data.crop": None,
        "data.image_size": 64,
        "data.batch_size": 2,
        "data.eval_batch_size": 2,
        "data.num_workers": 0,
        "data.mask_dir": None,
        "data.eval_mask_dir": None,
        "data.dataset_options": {},
        "data.val_length": 2,
        "data.test_length": 4,
        "trainer.max_steps": 30,
        "trainer.accelerator": "cpu",
        "trainer.devices": 1,
        "trainer.precision": "32-true",
        "trainer.num_sanity_val_steps": 0,
        "trainer.limit_val_batches": 1,
        "trainer.check_val_every_n_epoch": None,
        "trainer.log_every_n_steps": 1,
        "trainer.enable_progress_bar": False,
        "model.init_args.vgg_weights": "random",
        # DeepGIN: one pass at the batch's size (the tables' polyphase/native tiling upsamples 64 px to 256-1024)
        "model.init_args.eval_protocol": "direct",
    },
    # A few thousand steps on the real data, validation every 500 steps.
    "short": {
        # DeepGIN: one pass at 256 (Table 2 "(256)"), not Table 1's 16 polyphase passes per image
        "model.init_args.eval_protocol": "resize256",
        "trainer.max_steps": 5000,
        "trainer.val_check_interval": 500,
        "trainer.check_val_every_n_epoch": None,
        "trainer.enable_progress_bar": False,
    },
    # The paper's schedule is the method's packaged config; the sweep file states what differs.
    "paper": {"trainer.enable_progress_bar": False},
}

# Smoke runs read no mask files (the NVIDIA masks a config names are not on a fresh machine). A config that trains
# and tests on mask files gets LaMa "medium" masks instead: measured at 64 px (seed 1, 64 masks), their hole ratios
# span 4-50 % (mean 34 %), while the default AIM free-form strokes, sized for 256 px and up, cover 88-100 % of a
# 64-px image and leave nothing to inpaint from.
SMOKE_FILE_MASKS = "lama_medium"

CHECKPOINT_CLASS = "lightning.pytorch.callbacks.ModelCheckpoint"


def wandb_mode() -> str:
    """``online`` if the user configured W&B (``WANDB_API_KEY`` or a netrc entry), else ``offline``;
    ``WANDB_MODE`` (``online|offline|disabled``) always wins."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return "disabled" if mode in ("disabled", "dryrun_disabled") else mode
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        if "api.wandb.ai" in netrc.read_text():
            return "online"
    except OSError:
        pass
    return "offline"


def _apply(config: dict[str, Any], overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        set_dotted(config, key, copy.deepcopy(value))


def _section_is_model(key: str) -> bool:
    return key.startswith("model.")


def build_trial_config(base: dict[str, Any], *, layers: list[dict[str, Any]], trial_dir: Path, sweep_name: str,
                       label: str, profile: str, metrics: list[str] | None, logger_mode: str,
                       has_model: bool = True) -> dict[str, Any]:
    """The complete config of one trial (a plain dict, saved as ``config.yaml`` in ``trial_dir``)."""
    config = copy.deepcopy(base)
    for layer in layers:
        if not has_model:
            layer = {k: v for k, v in layer.items() if not _section_is_model(k)}
        _apply(config, layer)
    trainer = config.setdefault("trainer", {})
    trial_dir = Path(trial_dir).resolve()
    trainer["default_root_dir"] = str(trial_dir)
    # Validation must happen within the budget, or Lightning never validates (and complains).
    steps, interval = trainer.get("max_steps"), trainer.get("val_check_interval")
    if isinstance(steps, int) and steps > 0 and isinstance(interval, int) and interval > steps:
        trainer["val_check_interval"] = steps
    if has_model and metrics:
        config.setdefault("model", {}).setdefault("init_args", {})["test_metrics"] = _test_metrics(metrics)
    trainer["logger"] = _loggers(trial_dir, sweep_name, label, profile, logger_mode)
    callbacks = [c for c in (trainer.get("callbacks") or []) if isinstance(c, dict)]
    if profile == "smoke":
        # Smoke runs keep no checkpoints: the trial tests the model in memory right after fit.
        callbacks = [c for c in callbacks if c.get("class_path") != CHECKPOINT_CLASS]
        trainer["enable_checkpointing"] = False
    else:
        for c in callbacks:
            if c.get("class_path") == CHECKPOINT_CLASS:
                c.setdefault("init_args", {})["dirpath"] = str(trial_dir / "checkpoints")
    trainer["callbacks"] = callbacks
    return config


def _test_metrics(metrics: list[str]) -> list[str]:
    """The evaluation harness's metric names among the sweep's metrics (``params``/``gflops`` are not test metrics)."""
    return [m for m in metrics if m in ALL_METRICS]


def _loggers(trial_dir: Path, sweep_name: str, label: str, profile: str, mode: str) -> list[dict[str, Any]]:
    loggers = [{"class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": str(trial_dir), "name": "csv", "version": ""}}]
    if mode != "disabled":
        loggers.append({"class_path": "lightning.pytorch.loggers.WandbLogger",
                        "init_args": {"project": os.environ.get("WANDB_PROJECT", "inpaint-suite"),
                                      "group": sweep_name, "name": f"{sweep_name}/{label}",
                                      "tags": [sweep_name, label[:64], profile], "save_dir": str(trial_dir),
                                      "offline": mode == "offline", "job_type": profile}})
    return loggers
