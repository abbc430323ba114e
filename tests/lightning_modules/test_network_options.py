"""Each network option a method takes as a config key is the network's own: same name (or the module's stated
rename), same type, same default; every constructor parameter of the network is either such an option or set by
the module itself (``Forward.fixed``), so no network option is unreachable from a config (see
``lightning_modules/network_options.py``)."""

from __future__ import annotations

import inspect
import typing

import pytest

from assembly.config import init_arg_names
from lightning_modules import METHODS, method_class

FORWARDING = [name for name in sorted(METHODS) if hasattr(method_class(name), "NETWORKS")]


def _normal(value):
    return list(value) if isinstance(value, tuple) else value


def test_every_method_with_networks_of_options_declares_them():
    assert set(FORWARDING) == {"aotgan", "deepgin", "hifill", "madf"}


@pytest.mark.parametrize("method", FORWARDING)
def test_forwarded_options_are_the_networks_own(method):
    cls = method_class(method)
    module_params = inspect.signature(cls.__init__).parameters
    module_hints = typing.get_type_hints(cls.__init__)
    keys = set(init_arg_names(cls))
    for forward in cls.NETWORKS:
        net_hints = typing.get_type_hints(forward.network.__init__)
        options = forward.parameters()
        assert options, forward.network
        for option, param in options.items():
            where = f"{cls.__name__}.{option} -> {forward.network.__name__}.{param.name}"
            assert option in module_params and option in keys, where
            assert _normal(module_params[option].default) == _normal(param.default), where
            assert module_hints[option] == net_hints[param.name], where
        net_names = {p for p in inspect.signature(forward.network.__init__).parameters if p != "self"}
        assert set(forward.fixed) <= net_names and set(forward.rename.values()) <= net_names
        assert not set(forward.fixed) & keys - {"semantic_channels"}, "a fixed parameter is not a config key"


@pytest.mark.parametrize("method", FORWARDING)
def test_a_changed_option_reaches_the_network(method):
    """``Forward.kwargs`` passes the module's value, not the network's default."""
    cls = method_class(method)
    for forward in cls.NETWORKS:
        options = forward.parameters()
        values = {name: f"value-of-{name}" for name in options}
        assert forward.kwargs({**values, "unrelated": 1}) == {p.name: values[o] for o, p in options.items()}


def test_sweep_keys_reach_the_generator():
    from lightning_modules.aotgan import AOTGAN
    from lightning_modules.madf import MADF

    module = AOTGAN(vgg_weights="random", rates=[1, 2], residual="identity", num_blocks=1, channels=32,
                    disc_layout="paper")
    assert module.generator.blocks[0].rates == [1, 2] and module.generator.blocks[0].residual == "identity"
    assert len(module.generator.blocks) == 1
    module = MADF(vgg_weights="random", encoder_block="pconv", num_refine=1, refine_norm="bn")
    assert (module.generator.encoder_block, module.generator.num_refine, module.generator.refine_norm) == (
        "pconv", 1, "bn")
