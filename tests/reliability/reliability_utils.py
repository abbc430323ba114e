"""Helpers of the fault-injection tests (imported by the tests; ``conftest.py`` puts this folder on sys.path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

EXE = [sys.executable, "-m", "inpaint_suite.cli"]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1", WANDB_MODE="offline",
               PYTHONPATH=os.pathsep.join([str(HERE), str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def run_cli(args, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(EXE + [str(a) for a in args], capture_output=True, text=True, cwd=REPO, timeout=timeout,
                          env=child_env(**env))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("inpaint-suite")]


def write_image_folder(root: Path) -> Path:
    """``train/`` (4 images) and ``val/`` (2 images) of random 40x48 PNGs: with ``crop=center_crop`` and
    ``flip: false`` every training item is a pure function of its index (random crops resume bit-equal too, in the main process:
    see test_resume_at_an_epoch_boundary_repeats_random_crops_and_flips)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        (root / split).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / split / f"{i}.png")
    return root


def tiny_fit_args(root: Path, data: Path, max_steps: int, every: int = 2, extra: list[str] | None = None) -> list[str]:
    """``fit --config tiny`` on ``data`` at 32 px, batch 2 (2 generator steps per epoch), no validation, a
    ModelCheckpoint (``last.ckpt`` + every ``every`` steps) in ``root/ckpt``."""
    return [
        "fit", "--config", "tiny", "--seed_everything=0",
        "--data.dataset=folder", f"--data.data_root={data}", "--data.crop=center_crop", "--data.image_size=32",
        "--data.dataset_options={flip: false}", "--data.batch_size=2", "--data.num_workers=0",
        "--data.masks=aim_box",
        "--model.init_args.width=4", "--model.init_args.perceptual_weight=0",
        "--image_grids.every_n_steps=0",
        "--trainer.accelerator=cpu", "--trainer.devices=1", "--trainer.logger=false", "--trainer.limit_val_batches=0",
        "--trainer.val_check_interval=null", "--trainer.check_val_every_n_epoch=1",
        "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={root}", f"--trainer.max_steps={max_steps}",
        "--trainer.callbacks=[]", "--trainer.callbacks+=ModelCheckpoint", f"--trainer.callbacks.dirpath={root}/ckpt",
        "--trainer.callbacks.save_last=true", f"--trainer.callbacks.every_n_train_steps={every}",
        "--trainer.callbacks.save_top_k=-1",
        *(extra or []),
    ]
