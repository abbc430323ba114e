"""Loggers as the README documents them: TensorBoard when selected, the `make demo` outputs (CSV metrics,
last.ckpt, image grids whose header row names the columns)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from lightning_modules.callbacks.image_grids import GRID_COLUMNS, with_column_labels

REPO = Path(__file__).resolve().parents[2]


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
