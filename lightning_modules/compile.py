"""``torch.compile`` for the methods: the networks are compiled, not the training step.

Compiling the whole step puts the optimiser updates, the D/G freezing (``requires_grad`` toggles) and the loss
schedule under dynamo's guards, and cannot express a WGAN-GP: ``aot_autograd`` does not support double backward.
Compiling the generator and the discriminator modules in place (``nn.Module.compile``) keeps the step eager, the
``state_dict`` keys unchanged (checkpoints load either way) and leaves :func:`eager` to run a network uncompiled
where a double backward goes through it (the gradient penalty).

Use in training: ``inpaint-suite fit --config NAME --trainer.callbacks+=lightning_modules.compile.CompileNetworks``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lightning.pytorch import Callback
from torch import nn


def compile_networks(module: nn.Module, **options: Any) -> list[str]:
    """Compile ``module.generator`` and ``module.discriminator`` (where present) in place with ``options``
    (``torch.compile`` keyword arguments). Returns the names of the networks compiled."""
    done = []
    for name in ("generator", "discriminator"):
        network = getattr(module, name, None)
        if isinstance(network, nn.Module):
            network.compile(**options)
            done.append(name)
    return done


def eager(network: Callable) -> Callable:
    """``network`` called without its compiled graph (hooks included), for a double backward through it; a network
    that was never compiled is returned as it is."""
    if hasattr(network, "_orig_mod"):  # wrapped by torch.compile(network)
        network = network._orig_mod
    if isinstance(network, nn.Module) and getattr(network, "_compiled_call_impl", None) is not None:
        return network._call_impl  # compiled in place: the uncompiled call path
    return network


class CompileNetworks(Callback):
    """Compile the method's generator and discriminator at the start of fitting (``torch.compile`` options as
    keyword arguments, e.g. ``mode="max-autotune"``)."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def on_fit_start(self, trainer, pl_module) -> None:
        compile_networks(pl_module, **self.options)
