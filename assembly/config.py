"""Reading packaged configs, applying dotted overrides, and building a model from a config's ``model`` section."""

from __future__ import annotations

import copy
import importlib
import inspect
from pathlib import Path
from typing import Any

import yaml

from assembly.errors import UsageError
from lightning_modules import config_names, config_path


def load_config(name_or_path: str) -> dict[str, Any]:
    """A packaged config by name (``aotgan``) or a YAML file, as a dict."""
    path = Path(name_or_path)
    if not path.is_file():
        try:
            path = config_path(name_or_path)
        except KeyError:
            raise UsageError(f"unknown config {name_or_path!r}; packaged configs: {', '.join(config_names())}") \
                from None
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def parse_value(text: str) -> Any:
    """``--set key=VALUE``: VALUE is read as YAML (``[1,2]``, ``true``, ``1e-4``, ``null``, strings)."""
    return yaml.safe_load(text)


def parse_sets(items: list[str], strip_prefix: str = "") -> dict[str, Any]:
    """``--set KEY=VALUE`` items → ``{KEY: VALUE}``, VALUE read as YAML; ``strip_prefix`` is removed from keys."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip().removeprefix(strip_prefix)] = parse_value(value)
    return out


def set_dotted(config: dict[str, Any], key: str, value: Any) -> None:
    """``set_dotted(cfg, "model.init_args.rates", [1, 2])``, creating intermediate dicts."""
    node = config
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UsageError(f"cannot set {key!r}: {part!r} is not a section")
    node[parts[-1]] = value


def init_arg_names(cls: type) -> list[str]:
    """Constructor arguments of ``cls`` including those its ``**kwargs`` pass to base classes."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names += [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
                  and p.name not in names]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names


def model_class_of(model_section: dict[str, Any]) -> type:
    class_path = model_section.get("class_path")
    if not class_path:
        raise UsageError("the config's model section has no class_path")
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


# model options a converted checkpoint may state that the CLI takes from the data section instead (linked there)
DATA_LINKED_MODEL_ARGS = {"seg_encoding": "data.seg_encoding"}


def converted_model_args(needed: dict[str, Any]) -> dict[str, Any]:
    """The ``model_init_args`` a converted checkpoint records (``inpaint_suite.model_init_args``), in today's names.

    Files converted before the data module decoded the Track-2 map say ``semantic_encoding: onehot | ade_rgb``;
    that is now the model's ``seg_encoding: labels | ade_rgb``, set from ``data.seg_encoding``."""
    args = dict(needed)
    legacy = args.pop("semantic_encoding", None)
    if legacy is not None:
        args.setdefault("seg_encoding", "ade_rgb" if legacy == "ade_rgb" else "labels")
    return args


def data_options_for(model_args: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` options that give a model built with ``model_args`` the batches it reads (``seg_encoding``
    and ``semantic`` for a model with a semantic input); ``{}`` when the model needs nothing particular."""
    encoding = model_args.get("seg_encoding")
    if encoding is None:
        return {}
    data = {"seg_encoding": encoding}
    if model_args.get("semantic_channels"):
        data["semantic"] = True
    return data


def check_model_overrides(model_section: dict[str, Any], keys: list[str], where: str = "") -> None:
    """Raise a UsageError naming the first unknown ``init_args`` key and the valid ones."""
    valid = init_arg_names(model_class_of(model_section))
    for key in keys:
        if key not in valid:
            raise UsageError(f"{where}unknown model option {key!r} for {model_section['class_path']}; "
                             f"valid: {', '.join(valid)}")


def build_model(model_section: dict[str, Any], overrides: dict[str, Any] | None = None):
    """Instantiate the LightningModule of a config's ``model`` section with ``init_args`` overrides.

    Keys and types are checked by jsonargparse against the constructor signature before anything is built.
    """
    # Imported here: the sweep command and its --help read configs through this module and must not pay for
    # Lightning (seconds) or jsonargparse; only building a model needs them.
    from jsonargparse import ArgumentParser

    from lightning_modules.base import InpaintingModule

    section = copy.deepcopy(model_section)
    overrides = dict(overrides or {})
    check_model_overrides(section, list(overrides))
    section.setdefault("init_args", {}).update(overrides)
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(InpaintingModule, "model")
    try:
        cfg = parser.parse_object({"model": section})
    except Exception as error:  # jsonargparse reports type errors with the key
        raise UsageError(f"invalid model options: {str(error).splitlines()[0]}") from None
    return parser.instantiate_classes(cfg).model
