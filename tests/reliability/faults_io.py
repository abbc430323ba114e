"""Fault injectors for the long-run tests (checkpoint writes, preemption), named by class path on a ``fit``
command line (``conftest.py`` puts this folder on the subprocess's ``PYTHONPATH``)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import lightning as L

from assembly.checkpoint_io import AtomicCheckpointIO


class HangInsideCheckpointWrite(AtomicCheckpointIO):
    """Writes checkpoints normally until generator step ``step``; that checkpoint's write stops half-way through
    the file (``marker`` is written then) and blocks until the test kills the process with SIGKILL."""

    def __init__(self, step: int, marker: str) -> None:
        super().__init__()
        self.step, self.marker = step, marker

    def write(self, checkpoint, handle) -> None:
        if checkpoint.get("global_step", 0) < self.step:
            return super().write(checkpoint, handle)
        buffer = io.BytesIO()
        super().write(checkpoint, buffer)
        data = buffer.getvalue()
        handle.write(data[: len(data) // 2])
        handle.flush()
        Path(self.marker).write_text(str(checkpoint["global_step"]))
        while True:  # until SIGKILL
            time.sleep(0.2)


class SlowAfterStep(L.Callback):
    """From generator step ``step`` on, writes ``marker`` and sleeps ``delay`` s after every batch, so a signal
    sent by the test arrives while training is still running."""

    def __init__(self, step: int, marker: str, delay: float = 0.3) -> None:
        self.step, self.marker, self.delay = step, marker, delay

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            Path(self.marker).write_text(str(trainer.global_step))
            time.sleep(self.delay)
