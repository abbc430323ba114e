"""The global random states in every checkpoint, restored when a fit resumes from it.

Resuming a fit continues the global random streams where the checkpoint left them: the train sampler's shuffle order
(drawn from torch's global generator at every epoch start) and any noise a method draws, so a resumed run equals an
uninterrupted one. Always installed by the CLI (``assembly.lightning_cli.prepare_trainer_for_long_runs``): resume
determinism must not depend on a user's callback list.

Lightning's own ``lightning.fabric.utilities.seed._collect_rng_states`` is not used: it is private, and it returns
NumPy's state as a ``numpy.ndarray``, which a checkpoint loaded with ``weights_only=True`` (every load in this
suite) refuses. :func:`rng_states` writes plain tensors and tuples instead.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch


class RNGStateCheckpoint(L.Callback):
    """Saves :func:`rng_states` in its callback state; restores them (:func:`set_rng_states`) when a Trainer
    resumes a **fit** from the checkpoint, so ``test``/``validate`` from a checkpoint never reseed anything.
    Checkpoints written before this callback existed hold the states in ``checkpoint["inpaint_suite"]["rng"]``
    (written by the model): they are restored too."""

    def state_dict(self) -> dict[str, Any]:
        return {"rng": rng_states()}

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        if trainer.state.fn != "fit":
            return
        own = (checkpoint.get("callbacks") or {}).get(self.state_key) or {}
        legacy = checkpoint.get("inpaint_suite") or {}
        states = own.get("rng", legacy.get("rng") if isinstance(legacy, dict) else None)
        if states is not None:
            set_rng_states(states)


def rng_states() -> dict[str, Any]:
    """The global random states (torch CPU, every initialised CUDA device, NumPy, Python) as plain tensors and
    tuples, so a checkpoint holding them still loads with ``weights_only=True``."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda,
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
            "python": random.getstate()}


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned (CUDA states only when the device count matches)."""
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
