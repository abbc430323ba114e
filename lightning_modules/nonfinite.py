"""The end of ``nan_policy: skip``: consecutive skipped optimiser steps are counted, and a run whose steps keep
coming out non-finite stops instead of printing "skipping step" forever (a skipped generator step does not advance
``global_step``, so neither ``max_steps`` nor a schedule ever ends such a run).

Kept apart from :mod:`lightning_modules.base`, which calls it from its finiteness check: this module only counts and
words the stop; the base raises :class:`~lightning_modules.base.NonFiniteLossError` with the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class SkipStreaks:
    """Consecutive skipped steps of each optimiser (``generator``, ``discriminator``) and the last skip's message.

    Counted per optimiser, not together: with one shared count, a healthy generator step would reset the count of a
    discriminator that skips every one of its steps (or the reverse), and such a run would never stop. An optimiser's
    own successful step resets only its own streak. The limit is in that optimiser's steps (a WGAN critic with
    ``d_steps_per_g: 5`` reaches it five times sooner, in generator steps, than the generator would).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count: dict[str, int] = {}
        self.last: dict[str, str] = {}  # optimiser -> the message of its latest skip in the current streak

    def stepped(self, optimizer: str) -> None:
        """``optimizer``'s loss and gradients were finite: its streak starts again."""
        self.count[optimizer] = 0
        self.last.pop(optimizer, None)

    def skipped(self, optimizer: str, message: str) -> bool:
        """Count one skip of ``optimizer``; True when it has now skipped ``limit`` steps in a row."""
        self.count[optimizer] = self.count.get(optimizer, 0) + 1
        self.last[optimizer] = message
        return self.count[optimizer] >= self.limit

    def stop_message(self, optimizer: str, checkpoint: str | None) -> str:
        """One line: how many steps in a row were skipped, the last non-finite values seen (of every optimiser in a
        streak), and the last good checkpoint."""
        parts = [f"{self.count[optimizer]} consecutive {optimizer} steps skipped (nan_policy=skip, "
                 f"model.init_args.max_consecutive_skips={self.limit}); last: {self.last[optimizer]}"]
        parts += [f"the {name} skipped its last {self.count[name]} steps too, last: {message}"
                  for name, message in self.last.items() if name != optimizer]
        parts.append(f"last good checkpoint: {checkpoint} (resume or init_from it, e.g. with a lower learning rate)"
                     if checkpoint else "no checkpoint was written")
        return "; ".join(parts)


def last_checkpoint(trainer: Any) -> str | None:
    """The file a ``ModelCheckpoint`` wrote most recently, or None: the newest existing file among every checkpoint
    callback's ``last_model_path``, ``best_model_path`` and latest save (``last.ckpt`` is the usual answer; without
    ``save_last`` it is the latest step or best file)."""
    if trainer is None:
        return None
    candidates: list[str] = []
    for callback in getattr(trainer, "checkpoint_callbacks", None) or []:
        # _last_checkpoint_saved: Lightning's record of its latest save (private, hence getattr with a default)
        for name in ("last_model_path", "_last_checkpoint_saved", "best_model_path"):
            path = getattr(callback, name, "")
            if path and path not in candidates and Path(path).is_file():
                candidates.append(path)
    if not candidates:
        return None
    # the newest write; on equal times the order above (last, latest save, best) decides, as max keeps the first
    return max(candidates, key=lambda path: Path(path).stat().st_mtime_ns)
