"""Loggers as the README documents them: TensorBoard when selected, the `make demo` outputs (CSV metrics,
last.ckpt, image grids whose header row names the columns)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from lightning_modules.callbacks.image_grids import GRID_COLUMNS, with_column_labels

REPO = Path(__file__).resolve().parents[3]


def _fit(tmp_path, monkeypatch, *args: str) -> None:
    from inpaint_suite.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(["fit", "--config", "tiny", "--trainer.max_steps=2", "--trainer.val_check_interval=2",
                 "--trainer.accelerator=cpu", "--trainer.log_every_n_steps=1", "--image_grids.every_n_steps=2",
                 *args])
    assert code == 0


def test_tensorboard_logger_writes_scalars_and_the_image_grid(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")  # the `tensorboard` extra, part of `dev` (CI)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _fit(tmp_path, monkeypatch, "--trainer.logger=lightning.pytorch.loggers.TensorBoardLogger",
         f"--trainer.logger.save_dir={tmp_path / 'tb'}", "--trainer.callbacks=[]",
         "--trainer.enable_checkpointing=false")
    events = list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    assert events
    accumulator = EventAccumulator(str(events[0].parent), size_guidance={"images": 0, "scalars": 0}).Reload()
    tags = accumulator.Tags()
    assert "train/g/total" in tags["scalars"] and "val/psnr" in tags["scalars"]
    assert "val/images" in tags["images"]
    image = accumulator.Images("val/images")[-1]
    assert image.height == 14 + 2 * 64 and image.width == 5 * 64  # header row + 2 samples, 5 columns


def test_image_grid_header_names_each_column():
    grid = np.full((2 * 64, 5 * 64, 3), 128, dtype=np.uint8)
    labelled = with_column_labels(grid, list(GRID_COLUMNS))
    assert labelled.shape == (14 + 128, 320, 3)
    assert (labelled[14:] == grid).all()
    header = labelled[:14]
    for i in range(5):  # dark text on white in every column's part of the header
        column = header[:, i * 64:(i + 1) * 64]
        assert column.max() == 255 and column.min() < 100, i


def demo_args() -> list[str]:
    """The arguments `make demo` passes to `inpaint-suite` (read from the Makefile, so the test follows it)."""
    recipe = (REPO / "Makefile").read_text().split("\ndemo:", 1)[1]
    line = next(line for line in recipe.splitlines() if "inpaint-suite" in line)
    return re.split(r"\s+", line.split("inpaint-suite", 1)[1].strip())


def test_make_demo_uses_the_demo_part():
    assert demo_args() == ["fit", "--config", "aotgan_smoke", "--config", "demo"]


def test_demo_part_writes_csv_metrics_checkpoint_and_labelled_grids(tmp_path, monkeypatch):
    # the demo part on the tiny method (AOT-GAN's smoke run is the slow test below)
    _fit(tmp_path, monkeypatch, "--config", "demo", "--trainer.default_root_dir=results/runs/aotgan_smoke")
    run = tmp_path / "results" / "runs" / "aotgan_smoke"
    _check_demo_outputs(run)


def _check_demo_outputs(run: Path) -> None:
    from PIL import Image

    header = (run / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "train/g/total" in header and "val/psnr" in header
    assert (run / "checkpoints" / "last.ckpt").is_file()
    grids = sorted((run / "csv" / "images").glob("val_images_*.png"))
    assert grids
    image = np.asarray(Image.open(grids[-1]))
    assert image.shape[0] % 64 == 14 and (image[:14] < 100).any()  # the labelled header row


@pytest.mark.slow
def test_make_demo_command_writes_what_the_readme_promises(tmp_path, monkeypatch):
    from inpaint_suite.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(demo_args()) == 0
    _check_demo_outputs(tmp_path / "results" / "runs" / "aotgan_smoke")


def test_every_n_steps_writes_training_grids_after_generator_steps_only(tmp_path):
    """A grid every N generator steps (the D-only batches of a critic cycle write none; with every_n_steps=1 they
    would repeat the step's number) plus the first val batch's."""
    import lightning as L
    from helpers import make_batch
    from torch.utils.data import DataLoader

    from lightning_modules.callbacks.image_grids import ImageGridLogger
    from lightning_modules.tiny import TinyInpainter

    batch = make_batch(8, 32)
    items = [{"image": batch["image"][i], "mask": batch["mask"][i], "index": i, "name": f"s{i}"} for i in range(8)]
    model = TinyInpainter(width=4, vgg_weights="random", perceptual_weight=0.0, d_steps_per_g=2)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=4, logger=L.pytorch.loggers.CSVLogger(tmp_path),
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=1, val_check_interval=4, num_sanity_val_steps=0,
                        callbacks=[ImageGridLogger(every_n_steps=2, n=2)])
    trainer.fit(model, DataLoader(items, batch_size=2), DataLoader(items, batch_size=2))
    names = sorted(p.name for p in (Path(trainer.log_dir) / "images").glob("*.png"))
    # 4 batches per epoch (2 per generator step); validation every 4 batches = at generator steps 2 and 4
    assert names == ["train_images_00000002.png", "train_images_00000004.png", "val_images_00000002.png",
                     "val_images_00000004.png"]


def test_image_grids_option_is_checked():
    from lightning_modules.callbacks.image_grids import ImageGridLogger

    with pytest.raises(ValueError, match="every_n_steps must be an integer >= 0"):
        ImageGridLogger(every_n_steps=-1)
