"""GPU mask synthesis: every hole-mask distribution the project trains or evaluates with (spec ``masks.md``).

Build a generator with :func:`build_mask_generator` from a name (defaults), ``{"name": ..., **params}``, or
``{"name": "mixture", "components": [{"generator": spec, "weight": w}, ...]}``; call it as
``gen(indices, height, width, device=..., seed=...) -> (B, 1, H, W)`` float32 in {0, 1}, 1 = hole.
``gen.last_types`` (or ``gen.sample_types(indices, seed)``) names the generator of each sample.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .aim import AimBoxMaskGenerator, AimCellularAutomataMaskGenerator, AimFreeFormMaskGenerator
from .base import MaskGenerator
from .buckets import hole_ratio_bucket
from .center_box import CenterBoxMaskGenerator
from .deepfill import DeepFillV2MaskGenerator
from .hifill import HiFillTemplateMaskGenerator, hifill
from .lama import LamaMaskGenerator, lama_medium, lama_thick, lama_thin, lama_train
from .mat import RandomMaskGenerator, comodgan, mat_large, mat_small
from .mixture import MixtureMaskGenerator


def aim_mixed() -> MixtureMaskGenerator:
    """AIM 2020 ``get_random_mask``: box, cellular automaton, free form with 1/3 each (one type per mask)."""
    return MixtureMaskGenerator(
        [(AimBoxMaskGenerator(), 1.0), (AimCellularAutomataMaskGenerator(), 1.0), (AimFreeFormMaskGenerator(), 1.0)],
        name="aim_mixed",
    )


# name -> factory (a class or a function); its keyword arguments are the generator's parameters
REGISTRY: dict[str, Callable[..., MaskGenerator]] = {
    "aim_box": AimBoxMaskGenerator,
    "aim_cellular_automata": AimCellularAutomataMaskGenerator,
    "aim_free_form": AimFreeFormMaskGenerator,
    "aim_mixed": aim_mixed,
    "deepfill_v2": DeepFillV2MaskGenerator,
    "lama_thin": lama_thin,
    "lama_medium": lama_medium,
    "lama_thick": lama_thick,
    "lama_train": lama_train,
    "mat_large": mat_large,
    "mat_small": mat_small,
    "comodgan": comodgan,
    "center_box": CenterBoxMaskGenerator,
    "hifill_template": HiFillTemplateMaskGenerator,
    "hifill": hifill,
    "mixture": None,  # handled by build_mask_generator
}

# factories that forward **overrides to a class: their accepted names are the union of both signatures
_FORWARDS_TO = {
    "lama_thin": LamaMaskGenerator, "lama_medium": LamaMaskGenerator, "lama_thick": LamaMaskGenerator,
    "lama_train": LamaMaskGenerator, "mat_large": RandomMaskGenerator, "mat_small": RandomMaskGenerator,
    "comodgan": RandomMaskGenerator,
}
_NOT_OVERRIDABLE = {"self", "name"}


def generator_names() -> list[str]:
    """Every registered generator name (sorted)."""
    return sorted(REGISTRY)


def generator_params(name: str) -> list[str]:
    """The keyword parameters the generator ``name`` accepts."""
    if name not in REGISTRY:
        raise _unknown(name)
    if name == "mixture":
        return ["components"]
    fns = [REGISTRY[name]] + ([_FORWARDS_TO[name]] if name in _FORWARDS_TO else [])
    out: list[str] = []
    for fn in fns:
        target = fn.__init__ if inspect.isclass(fn) else fn
        for p in inspect.signature(target).parameters.values():
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.name in _NOT_OVERRIDABLE or p.name in out:
                continue
            out.append(p.name)
    return out


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown mask generator {name!r}; valid names: {', '.join(generator_names())}")


def build_mask_generator(spec: str | Mapping[str, Any] | MaskGenerator) -> MaskGenerator:
    """Build a generator from a name, a ``{"name": ..., **params}`` dict, or a mixture spec.

    Raises ValueError naming the valid choices for an unknown generator or parameter.
    """
    if isinstance(spec, MaskGenerator):
        return spec
    name, params = _parse_spec(spec)
    if name == "mixture":
        return _build_mixture(params)
    _check_params(name, params)
    return REGISTRY[name](**params)


def _parse_spec(spec: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(name, params)`` of a spec; ValueError for a malformed spec or an unknown generator name."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ValueError(f"a mask generator spec is a name or a dict with a 'name' key, got {spec!r}")
    params = dict(spec)
    name = params.pop("name")
    if name not in REGISTRY:
        raise _unknown(name)
    return name, params


def check_mask_spec(spec: str | Mapping[str, Any] | MaskGenerator) -> None:
    """Validate a spec's generator names, parameter names and mixture structure without building anything (the
    HiFill templates, for one, are computed at construction); raises the ValueError that
    :func:`build_mask_generator` would. Parameter *values* are checked by the generators' constructors."""
    if isinstance(spec, MaskGenerator):
        return
    name, params = _parse_spec(spec)
    if name == "mixture":
        for component in _mixture_components(params):
            check_mask_spec(component["generator"])
        return
    _check_params(name, params)


def _check_params(name: str, params: Mapping[str, Any]) -> None:
    valid = generator_params(name)
    bad = sorted(set(params) - set(valid))
    if bad:
        raise ValueError(
            f"mask generator {name!r}: unknown parameter(s) {bad}; valid parameters: {', '.join(valid) or '(none)'}"
        )


def _mixture_components(params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The mixture's components after checking its structure (keys of the spec and of every component)."""
    extra = sorted(set(params) - {"components", "labels", "mixture_name"})
    if extra:
        raise ValueError(f"mask generator 'mixture': unknown parameter(s) {extra}; valid parameters: components, labels")
    comps = params.get("components")
    if not comps:
        raise ValueError("mask generator 'mixture' needs 'components': [{'generator': spec, 'weight': w}, ...]")
    for c in comps:
        if not isinstance(c, Mapping) or "generator" not in c:
            raise ValueError(f"mixture component must be {{'generator': spec, 'weight': w}}, got {c!r}")
        bad = sorted(set(c) - {"generator", "weight"})
        if bad:
            raise ValueError(f"mixture component: unknown key(s) {bad}; valid keys: generator, weight")
    return list(comps)


def _build_mixture(params: dict[str, Any]) -> MixtureMaskGenerator:
    comps = _mixture_components(params)
    built = [(build_mask_generator(c["generator"]), float(c.get("weight", 1.0))) for c in comps]
    return MixtureMaskGenerator(built, name=params.get("mixture_name", "mixture"), labels=params.get("labels"))


__all__ = [
    "REGISTRY",
    "MaskGenerator",
    "MixtureMaskGenerator",
    "build_mask_generator",
    "check_mask_spec",
    "generator_names",
    "generator_params",
    "hole_ratio_bucket",
]
