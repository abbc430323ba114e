"""Reading packaged configs, applying dotted overrides, and building a model from a config's ``model`` section.

Composition. A config file may start with ``compose: [PART, ...]``: the parts it is made of, in order, each a
packaged name (``model/aotgan``, ``data/places2``, ``trainer/paper``, ``profile/smoke``, or another named config
such as ``aotgan``) or a YAML path relative to the file. :func:`compose_files` expands that list, recursively,
into the files LightningCLI reads one after the other (``--config PART ... --config FILE``), so the command line
and LightningCLI itself do the merging: later files win, as Hydra's defaults list. This is the one expansion;
``--config NAME`` on the command line (``assembly.lightning_cli.resolve_config_args``) and every reader of a
config as a dict (:func:`load_config`: the sweep runner, ``model-info``, ``predict``, ``bench``) go through it.
A key rather than Hydra or OmegaConf interpolation: LightningCLI already merges repeated ``--config`` files,
so a list of files is all composition needs, and every part stays a plain LightningCLI config.

:func:`merge_configs` merges the dicts of those files with LightningCLI's (jsonargparse's) rules, for the readers
that need one dict (a test holds it equal to what the parser makes of the same files):

- sections (``model``, ``data``, ``trainer``) and the ``init_args`` of a component with the same ``class_path``
  merge key by key;
- every other value is replaced whole: **lists** (``trainer.callbacks``, ``test_metrics``) and dict-typed
  options (``data.dataset_options``, ``model.init_args.evaluator_options``, ``loss_weights``);
- a component whose ``class_path`` changes keeps the earlier ``init_args`` that the new class accepts.

So a part never adds to a list an earlier part set: the checkpoint callback lives in the named config (or the
one part) that owns the trainer's list, never in two files of one composition (a test checks that).
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from assembly.errors import UsageError
from lightning_modules import config_names, config_path, part_names

COMPOSE_KEY = "compose"
ConfigSpec = str | Path | Sequence[str | Path]  # a name, a YAML path, or a list of those (composed in order)


def config_file(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    """The file of a packaged config or part name, or of an existing YAML path (relative to ``relative_to``'s
    folder when given); a usage error naming the choices otherwise."""
    text = str(name_or_path)
    path = Path(text)
    if relative_to is not None and not path.is_absolute() and text.endswith((".yaml", ".yml")):
        path = relative_to.parent / path
    if path.is_file():
        return path
    if text.endswith((".yaml", ".yml")):
        raise UsageError(f"config file {path} does not exist")
    try:
        return config_path(text)
    except KeyError:
        raise UsageError(f"unknown config {text!r}; packaged configs: {', '.join(config_names())}; "
                         f"parts: {', '.join(part_names())} (or give a YAML path)") from None


def read_yaml(path: Path) -> dict[str, Any]:
    with open(path) as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise UsageError(f"config file {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must be a mapping (model:, data:, trainer:, ...)")
    return data


def compose_files(spec: ConfigSpec, _seen: tuple[Path, ...] = ()) -> list[Path]:
    """The files of config ``spec`` in the order LightningCLI must read them: the parts of each file's
    ``compose:`` list (expanded the same way) before the file itself. ``spec``: a name, a path, or a list of
    them (each expanded in turn: ``[aotgan, profile/smoke]``)."""
    if isinstance(spec, (list, tuple)):
        return [f for item in spec for f in compose_files(item, _seen)]
    path = config_file(spec)
    return _expand(path, _seen)


def _expand(path: Path, seen: tuple[Path, ...]) -> list[Path]:
    resolved = path.resolve()
    if resolved in seen:
        chain = " -> ".join(p.name for p in (*seen, resolved))
        raise UsageError(f"config {path}: compose loops back to itself ({chain})")
    parts = read_yaml(path).get(COMPOSE_KEY) or []
    if isinstance(parts, str):
        parts = [parts]
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise UsageError(f"config {path}: compose must be a list of part names or YAML paths, got {parts!r}")
    files: list[Path] = []
    for part in parts:
        files += _expand(config_file(part, relative_to=path), (*seen, resolved))
    return files + [path]


def merge_configs(configs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One dict from config dicts applied in order, with LightningCLI's rules (module docstring)."""
    out: dict[str, Any] = {}
    for config in configs:
        for key, value in config.items():
            if key in out and isinstance(out[key], Mapping) and isinstance(value, Mapping):
                out[key] = _merge_group(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def _is_component(old: Any, new: Any) -> bool:
    """A ``{class_path, init_args}`` value that jsonargparse merges rather than replaces."""
    return isinstance(old, Mapping) and isinstance(new, Mapping) and (
        "class_path" in new or ("class_path" in old and "init_args" in new))


def _merge_group(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A section (``data``, ``trainer``) or a component (``model``, a logger): keys merged, values replaced."""
    out = copy.deepcopy(dict(old))
    old_class, new_class = old.get("class_path"), new.get("class_path")
    if old_class and new_class and old_class != new_class:
        # jsonargparse keeps the earlier init_args the new class also accepts
        accepted = set(init_arg_names(_import(new_class)))
        out["init_args"] = {k: v for k, v in (old.get("init_args") or {}).items() if k in accepted}
    for key, value in new.items():
        if key == "init_args" and isinstance(value, Mapping):
            out[key] = _merge_values(out.get(key) or {}, value)
        elif key in out and _is_component(out[key], value):
            out[key] = _merge_group(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_values(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(old))
    for key, value in new.items():
        out[key] = _merge_group(out[key], value) if key in out and _is_component(out[key], value) \
            else copy.deepcopy(value)
    return out


def _import(class_path: str) -> type:

    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise UsageError(f"unknown class_path {class_path!r}") from None


def load_config(spec: ConfigSpec) -> dict[str, Any]:
    """A packaged config by name (``aotgan``), a YAML file, or a list of them, as one dict: the files of
    :func:`compose_files` merged by :func:`merge_configs` (what LightningCLI makes of ``--config`` with them)."""
    merged = merge_configs([read_yaml(path) for path in compose_files(spec)])
    merged.pop(COMPOSE_KEY, None)
    return merged


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
    return _import(class_path)


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
