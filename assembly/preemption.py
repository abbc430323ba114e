"""Preemption: SIGTERM or SIGUSR1 saves ``last.ckpt`` and ends the run cleanly, so a requeued job resumes.

Lightning already turns SIGTERM into a ``SIGTERMException`` raised after the current batch (on every DDP rank), and on
SLURM with auto-requeue handles SIGUSR1 itself (it writes ``hpc_ckpt_N.ckpt`` and requeues the job). What it does not
do is keep the work of a plain SIGTERM (a scheduler's preemption, ``kill``, a cloud spot reclaim), nor react to
SIGUSR1 outside SLURM. This callback adds both: the signal stops the run after the current batch, ``last.ckpt`` is
written (atomically, see ``assembly.checkpoint_io``) in the run's checkpoint folder, and the process exits with
``128 + signal number`` (143 for SIGTERM, 138 for SIGUSR1), the shell's convention for "ended by this signal".
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

LAST_NAME = ModelCheckpoint.CHECKPOINT_NAME_LAST + ModelCheckpoint.FILE_EXTENSION


class Preempted(SIGTERMException):
    """The run was stopped by ``signum`` after saving ``checkpoint`` (Lightning's SIGTERMException, so the
    Trainer treats it as the SIGTERM it already knows)."""

    def __init__(self, signum: int = signal.SIGTERM, checkpoint: str | None = None) -> None:
        super().__init__(128 + int(signum))
        self.signum, self.checkpoint = int(signum), checkpoint


def exit_code(signum: int) -> int:
    return 128 + int(signum)


class PreemptionCheckpoint(L.Callback):
    """Save ``last.ckpt`` when a SIGTERM/SIGUSR1 stops ``fit`` (see the module docstring).

    Args:
        dirpath: where to write ``last.ckpt``; default: the folder of the first ``ModelCheckpoint`` with one, else
            ``<default_root_dir>/checkpoints``.
    """

    def __init__(self, dirpath: str | None = None) -> None:
        self.dirpath = dirpath
        self.saved: str | None = None
        self.signum: int | None = None
        self._usr1 = False
        self._previous_usr1: Any = None

    # ---------------------------------------------------------------------------------------------- SIGUSR1
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        slurm = getattr(trainer.strategy, "cluster_environment", None)
        if isinstance(slurm, SLURMEnvironment) and slurm.auto_requeue:
            return  # Lightning's SLURM handler owns SIGUSR1 (hpc checkpoint + requeue)
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGUSR1"):
            return
        if signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, None):
            return  # someone owns SIGUSR1 already (a sweep trial forwards it as SIGTERM): leave it to them
        self._previous_usr1 = signal.signal(signal.SIGUSR1, self._on_usr1)

    def _on_usr1(self, signum, frame) -> None:
        self._usr1 = True

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        stop = self._usr1
        if trainer.world_size > 1:  # a signal sent to one rank stops them all, after the same batch
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            raise Preempted(signal.SIGUSR1)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._previous_usr1 is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGUSR1, self._previous_usr1)
            self._previous_usr1 = None

    # ---------------------------------------------------------------------------------------------- save
    def checkpoint_path(self, trainer: L.Trainer) -> Path:
        folder = self.dirpath
        if folder is None:
            folder = next((cb.dirpath for cb in trainer.checkpoint_callbacks
                           if isinstance(cb, ModelCheckpoint) and cb.dirpath), None)
        if folder is None:
            folder = os.path.join(trainer.default_root_dir, "checkpoints")
        return Path(folder) / LAST_NAME

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException) or trainer.state.fn != "fit":
            return
        path = self.checkpoint_path(trainer)
        # a full checkpoint (optimisers, loops, callbacks): the resume needs it; explicit, so Lightning logs no default
        trainer.save_checkpoint(path, weights_only=False)  # every rank calls it (a barrier inside); rank 0 writes
        self.saved, self.signum = str(path), getattr(exception, "signum", int(signal.SIGTERM))
        if isinstance(exception, Preempted):
            exception.checkpoint = self.saved
        if trainer.is_global_zero:
            print(f"preempted by signal {self.signum}: saved {path} at generator step {trainer.global_step}; "
                  "run the same command with --ckpt_path last to continue", flush=True)
