"""Lightning's progress bars, counting steps on step-limited runs.

The suite's configs limit training by ``trainer.max_steps`` (generator steps, as the papers count them) and leave
``max_epochs`` unset, which Lightning turns into ``-1``: its bars then say ``Epoch 0/-2`` and restart at every epoch
of the (small, arbitrary) dataset. On such runs these subclasses show ``Epoch E · step S/max_steps`` with the bar
over the whole run (``S`` = ``trainer.global_step``, so a resumed run starts where it stopped). Epoch-limited runs
keep Lightning's display. :func:`install` swaps the trainer's stock bar for the matching subclass.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar


def step_limited(trainer) -> bool:
    """``max_steps`` bounds the run and no epoch limit does."""
    return (trainer.max_steps or -1) > 0 and trainer.max_epochs in (None, -1)


def train_description(trainer) -> str:
    if step_limited(trainer):
        return f"Epoch {trainer.current_epoch} · step"
    if trainer.max_epochs is not None and trainer.max_epochs > 0:
        return f"Epoch {trainer.current_epoch}/{trainer.max_epochs - 1}"
    return f"Epoch {trainer.current_epoch}"


class StepTQDMProgressBar(TQDMProgressBar):
    """:class:`TQDMProgressBar` whose training bar runs over ``max_steps`` on step-limited runs."""

    def on_train_start(self, trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        if step_limited(trainer):
            self.train_progress_bar.reset(total=trainer.max_steps)
            self.train_progress_bar.initial = 0
            self.train_progress_bar.n = trainer.global_step
            self.train_progress_bar.set_description(train_description(trainer))

    def on_train_epoch_start(self, trainer, *args: Any) -> None:
        if not step_limited(trainer):
            super().on_train_epoch_start(trainer, *args)
            return
        self.train_progress_bar.set_description(train_description(trainer))  # the count runs on across epochs

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not step_limited(trainer):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            return
        bar, step = self.train_progress_bar, trainer.global_step
        if bar is not None and self._should_update(step, bar.total):
            bar.n = step
            bar.refresh()
            bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not step_limited(trainer):
            super().on_train_epoch_end(trainer, pl_module)
        elif not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))


class StepRichProgressBar(RichProgressBar):
    """:class:`RichProgressBar` whose training task runs over ``max_steps`` on step-limited runs."""

    def _get_train_description(self, current_epoch: int) -> str:
        description = train_description(self.trainer)
        if len(self.validation_description) > len(description):  # as Lightning: no flicker beside "Validation"
            description = f"{description:{len(self.validation_description)}}"
        return description

    def _steps(self, trainer) -> None:
        if self.progress is not None and self.train_progress_bar_id is not None and step_limited(trainer):
            self.progress.update(self.train_progress_bar_id, total=trainer.max_steps, completed=trainer.global_step)
            self.refresh()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self._steps(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self._steps(trainer)


def install(trainer) -> None:
    """Replace Lightning's stock TQDM/Rich bar of ``trainer`` by the step-aware subclass (same refresh rate, same
    theme); a user's own progress-bar class is left alone."""
    callbacks = trainer.callbacks
    for i, callback in enumerate(callbacks):
        if type(callback) is TQDMProgressBar:
            new = StepTQDMProgressBar(refresh_rate=callback.refresh_rate, process_position=callback.process_position,
                                      leave=callback._leave)
        elif type(callback) is RichProgressBar:
            new = StepRichProgressBar(refresh_rate=callback.refresh_rate, leave=callback._leave,
                                      theme=callback.theme, console_kwargs=callback._console_kwargs)
        else:
            continue
        callbacks[i] = new
