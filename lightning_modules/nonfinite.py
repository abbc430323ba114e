"""The non-finite guard (``nan_policy``): before each optimiser step, is its loss and are its gradients finite?

:class:`NonFiniteGuard` decides (``raise`` stops with :class:`NonFiniteLossError`, ``skip`` skips the step,
``ignore`` steps anyway); the base calls :meth:`NonFiniteGuard.may_step` once per optimiser step. With ``skip``,
consecutive skipped steps are counted (:class:`SkipStreaks`), and a run whose steps keep coming out non-finite stops
instead of printing "skipping step" forever (a skipped generator step does not advance ``global_step``, so neither
``max_steps`` nor a schedule ever ends such a run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

NAN_POLICIES = ("raise", "skip", "ignore")


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or Inf; the message names the step and the term. Training stops on purpose: the
    console prints the message and exits with :attr:`exit_code`."""

    exit_code = 1
    console_prefix = "training stopped: "  # how assembly.errors.known_error introduces the message


class NonFiniteGuard:
    """``nan_policy`` for the optimiser steps of one module; ``skipped`` counts the steps skipped so far (the module
    checkpoints it). The streaks are not checkpointed: a resumed run starts them afresh."""

    def __init__(self, policy: str = "raise", max_consecutive_skips: int = 100) -> None:
        if policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {policy!r}")
        if isinstance(max_consecutive_skips, bool) or not isinstance(max_consecutive_skips, int) \
                or max_consecutive_skips < 1:
            raise ValueError(f"max_consecutive_skips must be an integer >= 1, got {max_consecutive_skips!r}")
        self.policy = policy
        self.streaks = SkipStreaks(max_consecutive_skips)
        self.skipped = 0

    def may_step(self, module: Any, optimizer: str, opt: Any, total: Tensor, values: dict[str, Tensor]) -> bool:
        """True if ``opt`` (of ``module``, a LightningModule) may step: its loss and its gradients are finite.

        Gradients are checked too because a finite loss can still give inf/NaN gradients (an overflow inside
        backward, a sqrt at 0). Under DDP the gradients are already all-reduced and the decision is reduced over
        ranks, so every rank skips or raises together. One host sync per optimiser step; the culprit is named only
        on failure. A refused step's gradients are cleared."""
        if self.policy == "ignore":
            return True
        bad = ~torch.isfinite(total.detach())
        grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            bad = bad | ~torch.isfinite(torch.nn.utils.get_total_norm(grads, error_if_nonfinite=False))
        decision = bool(bad)
        trainer = module._trainer
        if trainer is not None and trainer.world_size > 1:
            decision = trainer.strategy.reduce_boolean_decision(decision, all=False)
        if not decision:
            self.streaks.stepped(optimizer)
            return True
        culprits = [f"{name}={v.item()}" for name, v in values.items() if not torch.isfinite(v)]
        if not culprits and bool(torch.isfinite(total)):
            culprits = [f"gradients of {name}" for name in nonfinite_grad_names(module, opt)[:3]] \
                or ["another rank's loss or gradients"]
            culprits[0] = f"loss finite (total={total.item():.4g}) but non-finite " + culprits[0]
        message = (f"non-finite {optimizer} loss at generator step {module.global_step}: "
                   f"{', '.join(culprits) or 'total=' + str(total.item())}")
        opt.zero_grad(set_to_none=True)
        if self.policy == "raise":
            raise NonFiniteLossError(message + " (set model.init_args.nan_policy=skip to skip such steps; "
                                     "the last checkpoint is kept)")
        self.skipped += 1
        module.print(f"skipping step: {message}")
        if self.streaks.skipped(optimizer, message):
            # raised before any optimiser step: the weights (and the checkpoint named) are the last finite ones
            raise NonFiniteLossError(self.streaks.stop_message(optimizer, last_checkpoint(trainer)))
        return False


def nonfinite_grad_names(module: torch.nn.Module, opt: Any) -> list[str]:
    """Names of ``module``'s parameters optimised by ``opt`` whose gradient holds a NaN or Inf."""
    own = {id(p) for group in opt.param_groups for p in group["params"]}
    return [name for name, p in module.named_parameters()
            if id(p) in own and p.grad is not None and not bool(torch.isfinite(p.grad).all())]


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
