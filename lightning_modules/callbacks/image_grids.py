"""Image grids of the training and validation outputs: input / mask / output / composite / target, one row per
sample, to every logger that takes images (W&B, TensorBoard) and as a PNG under ``<log_dir>/images/``.

Configured in a config's top-level ``image_grids:`` section (``InpaintCLI`` adds it as a forced callback)::

    image_grids:
      every_n_steps: 10000   # a training grid every N generator steps; 0 = none

The grids show what the step computed, without running anything again: ``InpaintingModule.training_step`` returns the
batch's (detached) generator outputs and whether the generator stepped, ``validation_step`` its evaluation outputs,
and Lightning hands both to ``on_*_batch_end``. A second forward here would cost time and, for a method that draws
noise, consume the global random stream (a run with grids would then differ from one without).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

GRID_COLUMNS = ("input", "mask", "output", "composite", "target")


class ImageGridLogger(L.Callback):
    """Args:
        every_n_steps: a training grid every N generator steps (``global_step`` % N == 0 after a generator step);
            0 = no training grids.
        n: samples (rows) per grid.
        on_validation: also a grid of the first validation batch of every validation run (the sanity check too).
    """

    def __init__(self, every_n_steps: int = 500, n: int = 4, on_validation: bool = True) -> None:
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 0:
            raise ValueError(f"image_grids.every_n_steps must be an integer >= 0 (0 = off), got {every_n_steps!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"image_grids.n must be an integer >= 1, got {n!r}")
        self.every_n_steps, self.n, self.on_validation = every_n_steps, n, on_validation

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        every = self.every_n_steps
        if not every or not isinstance(outputs, dict) or "outputs" not in outputs:
            return
        if outputs.get("generator_step") and trainer.global_step % every == 0:
            self.log_grid(trainer, "train/images", batch, outputs["outputs"])

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.on_validation and batch_idx == 0 and dataloader_idx == 0 and isinstance(outputs, dict):
            self.log_grid(trainer, "val/images", batch, outputs)

    @torch.no_grad()
    def log_grid(self, trainer: L.Trainer, key: str, batch: dict[str, Any], outputs: dict[str, Tensor]) -> None:
        """``batch`` images ``(B, 3, H, W)`` in [-1, 1], masks ``(B, 1, H, W)`` 1 = hole; ``outputs`` with ``output``
        and ``composite``; the first ``n`` samples."""
        log_dir = trainer.log_dir  # a broadcast under DDP: every rank must ask, or rank 0 waits forever
        if not trainer.is_global_zero:
            return
        n = self.n
        image, mask = batch["image"][:n].float(), batch["mask"][:n].float()
        cols = [image * (1 - mask) + mask, mask.expand_as(image) * 2 - 1, outputs["output"][:n].float(),
                outputs["composite"][:n].float(), image]
        grid = torch.cat([torch.cat(list(c), dim=-1) for c in zip(*cols)], dim=-2)  # rows: samples, cols: kinds
        array = ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        array = with_column_labels(array, list(GRID_COLUMNS))
        step = trainer.global_step
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):  # W&B
                logger.log_image(key=key, images=[array], step=step, caption=[" | ".join(GRID_COLUMNS)])
            elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
                logger.experiment.add_image(key, array, step, dataformats="HWC")
        if log_dir:
            out = Path(log_dir) / "images"
            out.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(out / f"{key.replace('/', '_')}_{step:08d}.png")


def with_column_labels(array: np.ndarray, labels: list[str], height: int = 14) -> np.ndarray:
    """``array`` (H, W, 3 uint8, equal-width columns side by side) with a white header row naming each column,
    drawn with PIL's default font, so a grid PNG says what it shows without its caption."""
    width = array.shape[1] // len(labels)
    header = Image.new("RGB", (array.shape[1], height), "white")
    draw = ImageDraw.Draw(header)
    for i, label in enumerate(labels):
        draw.text((i * width + 2, 1), label, fill="black")
    return np.concatenate([np.asarray(header, dtype=np.uint8), array], axis=0)
