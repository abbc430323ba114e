"""``global_step`` counts generator steps only: discriminator steps must not advance it.

GAN papers count iterations in generator updates, and so do ``trainer.max_steps`` and every loss-schedule boundary
here. Lightning's manual optimisation counts every optimiser's ``step()`` in ``global_step``
(Lightning-AI/pytorch-lightning#17958): ``_ManualOptimization.on_run_start`` assigns its counting closures to each
``LightningOptimizer``'s ``_on_before_step`` / ``_on_after_step`` at the start of **every** batch (and resets them to
no-ops at its end). :func:`count_generator_steps_only` is installed once per fit: it turns the discriminator's
``LightningOptimizer`` into a subclass whose two hooks are read-only properties that only time the step in the
profiler, so Lightning's per-batch re-assignments are ignored and no per-batch patch is needed.

This touches the private hook names of ``LightningOptimizer`` (the only place Lightning counts steps); a Lightning
release that renames them fails :func:`count_generator_steps_only` loudly instead of silently counting D steps.
"""

from __future__ import annotations

from typing import Any


class _ProfiledOnly:
    """Mixin for a ``LightningOptimizer``: the step hooks time the step but never count it; assignments ignored."""

    @property
    def _on_before_step(self):
        profiler = self._strategy.lightning_module.trainer.profiler
        return lambda: profiler.start("optimizer_step")

    @_on_before_step.setter
    def _on_before_step(self, hook) -> None:  # Lightning re-assigns its counting hook every batch: ignored
        pass

    @property
    def _on_after_step(self):
        profiler = self._strategy.lightning_module.trainer.profiler
        return lambda: profiler.stop("optimizer_step")

    @_on_after_step.setter
    def _on_after_step(self, hook) -> None:
        pass


def count_generator_steps_only(lightning_optimizer: Any) -> None:
    """Make ``lightning_optimizer``'s steps (the discriminator's) invisible to ``global_step``; idempotent."""
    cls = type(lightning_optimizer)
    if issubclass(cls, _ProfiledOnly):
        return
    if "_on_before_step" not in vars(lightning_optimizer) or "_on_after_step" not in vars(lightning_optimizer):
        raise RuntimeError(f"{cls.__name__} has no _on_before_step/_on_after_step hooks: this Lightning release "
                           "counts optimiser steps differently; lightning_modules/step_counting.py needs updating")
    # LightningOptimizer itself builds a per-instance class ("Lightning" + the optimiser's class name); derive from it
    lightning_optimizer.__class__ = type(cls.__name__, (_ProfiledOnly, cls), {})
