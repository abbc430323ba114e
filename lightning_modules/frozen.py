"""The one way a module keeps frozen networks out of its checkpoints.

A frozen network (the VGG of the perceptual/style losses, the evaluation harness with its LPIPS/Inception networks)
is re-created from options (``vgg_weights``, ``evaluator_options``), so its weights do not belong in a checkpoint:
they would bloat every ``last.ckpt`` and tie old checkpoints to today's backbone files. :class:`FrozenSubmodules`
registers it as an ordinary submodule (so ``.to(device)``, ``.half()`` and DDP device placement move it with the
model) and adds two ``nn.Module`` state-dict hooks, the same mechanism ``evaluation.InpaintingEvaluator`` uses for its
metric networks:

- a ``state_dict`` post-hook drops every key under a frozen name (nothing frozen is ever saved);
- a ``load_state_dict`` pre-hook fills those keys from the live networks, so strict loading passes, and a file that
  does hold them (written before this) loads them over themselves only where they are missing.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import nn


class FrozenSubmodules:
    """Frozen submodules of ``owner`` by attribute name; see the module docstring."""

    def __init__(self, owner: nn.Module) -> None:
        self.names: list[str] = []
        # partials, not bound methods: torch marks a hook with an attribute (a bound method takes none), and they
        # pickle with the module (DDP spawn)
        owner.register_state_dict_post_hook(partial(FrozenSubmodules._drop, self))
        owner.register_load_state_dict_pre_hook(partial(FrozenSubmodules._fill, self))

    def add(self, owner: nn.Module, name: str, module: nn.Module) -> nn.Module:
        """Register ``module`` as ``owner.<name>``, kept out of checkpoints; returns it."""
        owner.add_module(name, module)
        if name not in self.names:
            self.names.append(name)
        return module

    def _frozen_key(self, key: str, prefix: str) -> bool:
        return key.startswith(prefix) and key[len(prefix):].split(".", 1)[0] in self.names

    def _drop(self, owner: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
        for key in [k for k in state_dict if self._frozen_key(k, prefix)]:
            del state_dict[key]

    def _fill(self, owner: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        for name in self.names:
            module = getattr(owner, name, None)
            if module is None:
                continue
            for key, value in module.state_dict().items():  # the frozen module's own hooks apply (evaluator)
                state_dict.setdefault(f"{prefix}{name}.{key}", value)
