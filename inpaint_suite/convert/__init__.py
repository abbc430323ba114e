"""Converters from the authors' released checkpoints to ours (``inpaint-suite convert``; docs/CONVERT.md).

One module per method holds the explicit key table (official key + shape -> our key, transform): ``aotgan``,
``madf``, ``deepgin``, ``hifill``. :func:`convert` checks a file against its table, renames/transforms every
tensor and returns our checkpoint dict::

    {"state_dict": {"generator.<k>": ..., "discriminator.<k>": ...},
     "inpaint_suite": {"converted_from": [...], "method": ..., "mapping_version": 1, "model_init_args": {...}}}

which ``InpaintingModule.load_generator_weights`` (``predict --weights``, ``--model.init_args.init_from``) reads.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from inpaint_suite.convert.common import (
    ConvertError,
    Entry,
    apply_table,
    build_checkpoint,
    load_torch_file,
)

CONVERTERS = {name: f"inpaint_suite.convert.{name}" for name in ("aotgan", "madf", "deepgin", "hifill")}

__all__ = ["CONVERTERS", "ConvertError", "convert", "converter", "read_official", "tables_for"]


def converter(method: str) -> ModuleType:
    """The mapping module of ``method``."""
    if method not in CONVERTERS:
        raise ConvertError(f"no converter for {method!r}; choose from {', '.join(CONVERTERS)}")
    return importlib.import_module(CONVERTERS[method])


def read_official(method: str, path: str | Path, role: str, trust_pickle: bool = False,
                  notes: list[str] | None = None) -> dict:
    """The official ``{key: tensor}`` of ``path`` for ``role`` (``generator`` | ``discriminator``).

    A converter's ``split_unused(obj, where)`` may first remove tensors that the official inference ignores on
    purpose (MADF: the VGG loss network in ``train.py`` snapshots); its one-line notes are appended to ``notes``.
    """
    module = converter(method)
    if hasattr(module, "read_official"):
        return module.read_official(path, role, trust_pickle)
    obj = load_torch_file(path, trust_pickle)
    if hasattr(module, "split_unused"):
        obj, dropped = module.split_unused(obj, str(path))
        if notes is not None:
            notes.extend(dropped)
    return module.extract_state(obj, role, str(path))


def tables_for(method: str, variant: str | None = None, **options: Any) -> dict[str, list[Entry]]:
    module = converter(method)
    return module.tables(variant or module.VARIANTS[0], **options)


def convert(method: str, generator: str | Path, discriminator: str | Path | None = None, variant: str | None = None,
            trust_pickle: bool = False) -> dict[str, Any]:
    """Convert the official ``generator`` file (and ``discriminator`` file when released) of ``method``.

    Raises :class:`ConvertError` (one line) for an unreadable/unsafe file or a key/shape mismatch.
    """
    module = converter(method)
    variant = variant or module.VARIANTS[0]
    files = {"generator": generator}
    if discriminator is not None:
        files["discriminator"] = discriminator
    notes: list[str] = []
    one_file_roles = getattr(module, "ROLES_FROM_ONE_FILE", ())
    if one_file_roles:  # e.g. a TF checkpoint holding generator and discriminator variables
        if discriminator is not None:
            raise ConvertError(f"{method}: one checkpoint holds both networks; drop --discriminator")
        states = {}
        for role in one_file_roles:
            state = read_official(method, generator, role, trust_pickle)
            if state or role == "generator":
                states[role] = state
        files = {role: generator for role in states}
    else:
        states = {role: read_official(method, path, role, trust_pickle, notes) for role, path in files.items()}
    options: dict[str, Any] = {}
    if "discriminator" in states and hasattr(module, "discriminator_layout"):
        options["d_layout"] = module.discriminator_layout(states["discriminator"])
    tables = module.tables(variant, **options)
    ours: dict[str, Any] = {}
    for role, state in states.items():
        if role not in tables:
            raise ConvertError(f"{method} has no released {role}; drop --discriminator")
        ours.update(apply_table(state, tables[role], f"{files[role]} ({role})", module.HINTS.get(role, "")))
    sources = sorted({str(Path(p)) for p in files.values()})
    extra: dict[str, Any] = {"variant": variant, "roles": sorted(states)}
    if notes:
        extra["notes"] = notes  # printed by the convert command
    return build_checkpoint(ours, method, sources, module.model_args(variant), extra)
