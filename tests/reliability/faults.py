"""Fault injectors for the reliability tests, importable by a ``inpaint-suite fit`` subprocess (the tests put this
folder on its ``PYTHONPATH`` and name the classes by class path on the command line).

- :class:`HangAfterStep`: a callback that, once generator step ``step`` has finished, writes ``marker`` and then
  sleeps forever, so the test can ``kill -9`` the run at a known point.
- :class:`NaNTiny`: the ``tiny`` method whose ``l1`` term turns NaN (or Inf) on chosen training batches.
- :func:`make_code_pickle`: a ``.ckpt`` whose unpickling runs code (it writes a marker file), for the
  ``weights_only`` refusal tests; :func:`make_shell_pickle`: the same through ``os.system`` or ``builtins.eval``, as
  a ``torch.save`` zip, a legacy ``torch.save`` file or a plain ``pickle.dump`` (torch words each refusal
  differently).
"""

from __future__ import annotations

import builtins
import os
import pickle
import shlex
import time
from pathlib import Path

import lightning as L

from lightning_modules.tiny import TinyInpainter


class HangAfterStep(L.Callback):
    """After generator step ``step`` completes, write ``marker`` and block (the test then kills the process).

    Lightning runs ModelCheckpoint callbacks after all others, so the checkpoint of ``step`` itself is *not* written
    before the hang: the last checkpoint on disk is the one before it."""

    def __init__(self, step: int, marker: str) -> None:
        self.step, self.marker = step, marker

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            Path(self.marker).write_text(str(trainer.global_step))
            while True:  # until SIGKILL
                time.sleep(0.2)


class NaNTiny(TinyInpainter):
    """``tiny`` whose ``l1`` term is ``bad_value`` (``nan`` or ``inf``) on the training batches numbered in
    ``bad_batches`` (0-based count of ``training_step`` calls, so a skipped step does not repeat forever), and on
    every batch from ``bad_from`` on (a diverged model: every later step is non-finite)."""

    def __init__(self, bad_batches: list[int] | None = None, bad_value: str = "nan", bad_from: int | None = None,
                 **kw) -> None:
        super().__init__(**kw)
        self.bad_batches, self.bad_value, self.bad_from = list(bad_batches or []), float(bad_value), bad_from
        self._batches_seen = 0

    def _bad(self) -> bool:
        return self._batches_seen in self.bad_batches or (self.bad_from is not None
                                                          and self._batches_seen >= self.bad_from)

    def training_step(self, batch, batch_idx):
        try:
            return super().training_step(batch, batch_idx)
        finally:
            self._batches_seen += 1

    def loss_functions(self):
        fns = super().loss_functions()
        l1 = fns["l1"]

        def poisoned(x):
            value = l1(x)
            return value * self.bad_value if self._bad() else value

        fns["l1"] = poisoned
        return fns


class _RunsCode:
    """Unpickling this calls ``Path(marker).write_text("pwned")``: harmless, but it is code execution."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


def make_code_pickle(path: Path, marker: Path, as_checkpoint: bool = True) -> Path:
    """Write a ``torch.save``-compatible file (zip or legacy pickle) whose load executes code.

    ``as_checkpoint`` wraps the payload in a Lightning-checkpoint-shaped dict (``state_dict`` etc.), so loaders that
    look for those keys still reach it."""
    import torch

    payload = _RunsCode(str(marker))
    obj = {"state_dict": {"generator.payload": payload}, "global_step": 1, "epoch": 0} if as_checkpoint \
        else {"generator.net.0.weight": payload}
    # torch.save pickles with the stdlib pickler, so __reduce__ is honoured exactly as an attacker's file would be.
    torch.save(obj, path, pickle_module=pickle)
    return path


class _RunsShell:
    """Unpickling this runs ``echo pwned > marker`` through ``os.system`` (a global in module ``posix`` on Linux)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {shlex.quote(self.marker)}",))


class _RunsEval:
    """Unpickling this evaluates Python code that writes ``marker`` (the global ``builtins.eval``)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.eval, (f"__import__('pathlib').Path({self.marker!r}).write_text('pwned')",))


SHELL_PICKLE_KINDS = ("system-zip", "system-legacy", "system-pickle", "eval-zip", "eval-pickle")


def make_shell_pickle(path: Path, marker: Path, kind: str) -> tuple[Path, str]:
    """Write a checkpoint-shaped file whose load runs code that writes ``marker``; returns it and the global it
    references. ``kind`` = ``<system|eval>-<zip|legacy|pickle>``: ``torch.save`` (zip), ``torch.save`` in the legacy
    format, or a plain ``pickle.dump`` (loaded by ``torch.load`` too)."""
    import torch

    code, form = kind.split("-")
    payload = _RunsShell(str(marker)) if code == "system" else _RunsEval(str(marker))
    target = os.system if code == "system" else builtins.eval
    obj = {"state_dict": {"generator.payload": payload}, "global_step": 1, "epoch": 0}
    if form == "pickle":
        with open(path, "wb") as file:
            pickle.dump(obj, file)
    else:
        torch.save(obj, path, pickle_module=pickle, _use_new_zipfile_serialization=form == "zip")
    return path, f"{target.__module__}.{target.__name__}"
