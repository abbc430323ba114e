"""Network options a method exposes as its own config keys, forwarded by name.

A method module's ``__init__`` parameters are its config keys (``model.init_args.rates``: short sweep keys, checked
by jsonargparse and by ``assembly.config.init_arg_names``, saved by Lightning's ``save_hyperparameters``). The
options that shape a network (``rates``, ``residual``, ``coarse_gate``...) belong to that network's constructor in
``networks/``. :class:`Forward` is the one table that ties the two: the network, the module's name of each option
where it differs (``disc_layout`` → ``layout``), and the constructor parameters the module sets itself (the seg-map
channels, fixed widths). The module builds the network with ``Forward.kwargs(locals())``, not with one keyword
argument per option, and ``tests/lightning_modules/test_network_options.py`` holds every forwarded option's name,
type and default in the module's signature equal to the network's, and every network parameter either forwarded
or fixed: an option is declared with its meaning in one place (the network) and cannot drift in the other.

Why not inject the networks as components (``model.init_args.generator: {class_path: ..., init_args: ...}``, as
lightning-hydra-template's ``net:``): every sweep key (``model.init_args.rates``, ``model.init_args.residual``, ...)
would become ``model.init_args.generator.init_args.rates``. Why not build the module's signature from the network's
at import time: Lightning's ``save_hyperparameters`` reads the constructor's local variables by the signature's
names, so a synthesised signature breaks every module built outside LightningCLI (tests, ``convert``, ``predict``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Forward:
    """The options of ``network``'s constructor that a method takes as its own ``init_args``.

    ``rename``: module option name → constructor parameter name, where they differ. ``fixed``: constructor
    parameters the module sets itself (never a config key). Every other constructor parameter is an option.
    """

    network: type
    rename: Mapping[str, str] = field(default_factory=dict)
    fixed: tuple[str, ...] = ()

    def parameters(self) -> dict[str, inspect.Parameter]:
        """Module option name → the network's constructor parameter (its type annotation and default)."""
        to_module = {net: mod for mod, net in self.rename.items()}
        params = inspect.signature(self.network.__init__).parameters.values()
        return {to_module.get(p.name, p.name): p for p in params
                if p.name != "self" and p.name not in self.fixed and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def kwargs(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The network's keyword arguments from the module's constructor values (``locals()`` in ``__init__``)."""
        return {param.name: values[option] for option, param in self.parameters().items()}
