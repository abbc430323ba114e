"""Lightning's progress bars on step-limited runs count steps (assembly/progress.py), and fit installs them."""

from __future__ import annotations

import io

import pytest
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
from lightning.pytorch.demos.boring_classes import BoringModel

from assembly.progress import StepRichProgressBar, StepTQDMProgressBar, install


def _fit(bar, tmp_path, **kwargs):
    # 2 batches per epoch, 5 steps: three epochs, the bar must run on over them
    options = dict(max_steps=5, limit_train_batches=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
                   enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path)
    options.update(kwargs)
    trainer = Trainer(callbacks=[bar], **options)
    trainer.fit(BoringModel())
    return trainer


def test_tqdm_bar_counts_steps_over_epochs(tmp_path):
    bar = StepTQDMProgressBar(refresh_rate=1)
    trainer = _fit(bar, tmp_path)
    assert trainer.global_step == 5
    assert (bar.train_progress_bar.n, bar.train_progress_bar.total) == (5, 5)
    assert bar.train_progress_bar.desc.startswith("Epoch 2 · step")


def test_tqdm_bar_keeps_epochs_on_epoch_limited_runs(tmp_path):
    bar = StepTQDMProgressBar(refresh_rate=1)
    _fit(bar, tmp_path, max_steps=-1, max_epochs=2)
    assert bar.train_progress_bar.total == 2  # batches of the epoch, as Lightning shows them
    assert bar.train_progress_bar.desc.startswith("Epoch 1")


def test_rich_bar_counts_steps_and_says_no_minus_two(tmp_path):
    bar = StepRichProgressBar(refresh_rate=1, leave=True, console_kwargs={"file": io.StringIO(), "force_terminal": True})
    _fit(bar, tmp_path)
    task = next(t for t in bar.progress.tasks if t.id == bar.train_progress_bar_id)
    assert (task.completed, task.total) == (5, 5)
    assert task.description.startswith("Epoch 2 · step") and "/-2" not in task.description


@pytest.mark.parametrize("stock, replacement", [(TQDMProgressBar, StepTQDMProgressBar),
                                                (RichProgressBar, StepRichProgressBar)])
def test_install_replaces_the_stock_bar(tmp_path, stock, replacement):
    trainer = Trainer(callbacks=[stock(refresh_rate=3)], max_steps=1, logger=False, default_root_dir=tmp_path)
    install(trainer)
    assert type(trainer.progress_bar_callback) is replacement and trainer.progress_bar_callback.refresh_rate == 3


def test_fit_cli_uses_the_step_bar(tmp_path, monkeypatch):
    from assembly.lightning_cli import build_cli

    monkeypatch.chdir(tmp_path)
    cli = build_cli(["--config", "tiny", "--trainer.logger=false", "--trainer.max_steps=3"], run=False)
    assert isinstance(cli.trainer.progress_bar_callback, (StepRichProgressBar, StepTQDMProgressBar))
