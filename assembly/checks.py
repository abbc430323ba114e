"""Every value of a ``fit | validate | test | predict`` configuration that the suite can judge cheaply, judged
before anything heavy (model build, weight download, data scan): a bad one is a :class:`UsageError` naming the
option, its value, where it was set (the config file, when one set it) and the valid choices.

The knowledge stays with its owner; this module only asks: crop policies (``datamodules.transforms``), mask
generator specs and mask folders (``datamodules.masks``, ``datamodules.datasets.mask_files``), datasets and their
folder layouts (``datamodules.datasets.check_root``), metric names (``evaluation.names``) and the input sizes each
method accepts (``InpaintingModule.size_error``, a classmethod: no model is built). The constructors still validate
their own arguments as a second line of defence.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from assembly.errors import UsageError
from datamodules.datamodule import InpaintDataModule
from datamodules.datasets import DATASETS, DatasetSetupError, check_root
from datamodules.datasets.common import SEG_ENCODINGS
from datamodules.datasets.mask_files import MASK_FILE_OPTIONS, check_mask_folder
from datamodules.masks import check_mask_spec
from datamodules.transforms import CROP_POLICIES
from evaluation.names import check_metric_names
from lightning_modules.base import InpaintingModule

OPTIMIZER_KEYS = ("optimizer", "lr_scheduler")


class Checker:
    """Raises the one-line usage error for ``key``; knows which ``--config`` file (if any) set it."""

    def __init__(self, args: Sequence[str]) -> None:
        self.args = list(args)

    def fail(self, key: str, value: Any, expected: str) -> None:
        source = config_source(key, self.args)
        where = f" (set in {source})" if source else ""
        shown = "is not set" if value is None else f"= {_show(value)}"
        raise UsageError(f"{key} {shown}{where}: {expected}")


def check_config(config, subcommand: str | None, args: Sequence[str]) -> None:
    """Check the parsed configuration of ``subcommand``; ``args`` are the command line as given to the parser
    (with ``--config PATH`` pairs), used to say which file set a bad value."""
    stage = subcommand or "fit"
    check = Checker(args)
    model = _get(config, "model")
    module_class = _module_class(model)
    _check_optimizers(config, module_class, check)
    data = _get(config, "data")
    if data is not None:
        _check_data(data, stage, check)
    if module_class is not None:
        _check_model(module_class, _init_args(model), data, stage, check)


# options that moved: a config or flag still giving the old key gets one line naming the new one (before parsing:
# jsonargparse would only say "no action for key")
MOVED_KEYS = {
    "model.init_args.log_images_every_n_steps": ("image_grids.every_n_steps",
                                                 "a top-level `image_grids:` section, e.g. image_grids: "
                                                 "{every_n_steps: 500} (0 = no training grids)"),
    "model.init_args.semantic_encoding": ("data.seg_encoding",
                                          "the data module decodes the map; data.seg_encoding: labels | ade_rgb "
                                          "(onehot -> labels) is the one option, passed on to the model"),
}


def check_moved_keys(args: Sequence[str]) -> None:
    """Raise a :class:`UsageError` for the first option of :data:`MOVED_KEYS` that a ``--config`` file (as written
    by ``resolve_config_args``: ``--config PATH``) or a flag (``--model.init_args.X``, ``--model.X``) still sets."""
    for old, (new, how) in MOVED_KEYS.items():
        parts = old.split(".")
        flags = {"--" + old, "--model." + ".".join(parts[2:])}
        for i, arg in enumerate(args):
            where = None
            if arg == "--config" and i + 1 < len(args) and _yaml_sets(args[i + 1], tuple(parts)):
                where = args[i + 1]
            elif arg.split("=", 1)[0] in flags:
                where = "the command line"
            if where:
                raise UsageError(f"{old} (set in {where}) was replaced by {new}: {how}")


# ------------------------------------------------------------------------------------------------------- pieces
def _check_optimizers(config, module_class, check: Checker) -> None:
    if module_class is None or not issubclass(module_class, InpaintingModule):
        return
    for key in OPTIMIZER_KEYS:
        value = _get(config, key)
        if value is None:
            continue
        # LightningCLI would swap the module's own configure_optimizers (G and D Adam, manual optimisation) for one
        # optimiser over all parameters, with only a warning.
        check.fail(key, _get(value, "class_path") or value,
                   f"{module_class.__name__} configures its own optimisers (generator G and discriminator D, "
                   "manual optimisation), which this would replace; set model.init_args.lr_g / lr_d / betas_g / "
                   f"betas_d, or subclass {module_class.__name__} and override configure_optimizers")


def _check_data(data, stage: str, check: Checker) -> None:
    for key, least in (("image_size", 1), ("test_image_size", 1), ("batch_size", 1), ("eval_batch_size", 1),
                       ("num_workers", 0), ("train_length", 1), ("val_length", 1), ("test_length", 1)):
        value = _get(data, key)
        optional = key in ("test_image_size", "eval_batch_size", "train_length", "val_length", "test_length")
        if (value is None and not optional) or (value is not None and (isinstance(value, bool) or value < least)):
            check.fail(f"data.{key}", value, f"must be an integer >= {least}" + (" (or null)" if optional else ""))

    kind = _get(data, "dataset")
    if kind not in DATASETS:
        check.fail("data.dataset", kind, f"unknown dataset; choose from {', '.join(sorted(DATASETS))}")

    if _get(data, "seg_encoding", "labels") not in SEG_ENCODINGS:
        check.fail("data.seg_encoding", _get(data, "seg_encoding"), f"choose from {', '.join(SEG_ENCODINGS)}")

    options = dict(_get(data, "dataset_options") or {})
    for key, value in (("data.crop", _get(data, "crop")), ("data.dataset_options.eval_crop", options.get("eval_crop"))):
        if value is not None and value not in CROP_POLICIES:
            check.fail(key, value, f"unknown crop policy; choose from {', '.join(sorted(CROP_POLICIES))}")

    specs = [("data.masks", _get(data, "masks"))]
    if _get(data, "eval_masks") is not None:
        specs.append(("data.eval_masks", _get(data, "eval_masks")))
    specs += [(f"data.masks_per_image[{i}]", spec) for i, spec in enumerate(_get(data, "masks_per_image") or [])]
    for key, spec in specs:
        try:
            check_mask_spec(_plain(spec))
        except ValueError as error:
            check.fail(key, spec, str(error))
    if _get(data, "masks_per_image") and _get(data, "mask_dir"):
        check.fail("data.masks_per_image", _get(data, "masks_per_image"),
                   "synthesises the training masks; it cannot be combined with data.mask_dir (set one of them)")

    splits = InpaintDataModule.STAGE_SPLITS.get(stage, ())
    if kind != "sample":
        root = _get(data, "data_root")
        for split in splits:
            try:
                check_root(kind, root, split, **options)
            except DatasetSetupError as error:
                check.fail("data.data_root", root, _one_line(error))
            except (ValueError, TypeError) as error:  # a bad dataset_options choice or name
                check.fail("data.dataset_options", options, _one_line(error))

    file_options = dict(_get(data, "mask_file_options") or {})
    unknown = sorted(set(file_options) - set(MASK_FILE_OPTIONS))
    if unknown:
        check.fail("data.mask_file_options", file_options,
                   f"unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(MASK_FILE_OPTIONS)}")
    folders = [("data.mask_dir", _get(data, "mask_dir"), "train" in splits),
               ("data.eval_mask_dir", _get(data, "eval_mask_dir"), any(s != "train" for s in splits))]
    for key, folder, used in folders:
        if folder is None or not used:
            continue
        try:
            check_mask_folder(folder, **file_options)
        except DatasetSetupError as error:
            check.fail(key, folder, _one_line(error))
        except ValueError as error:
            check.fail("data.mask_file_options", file_options, _one_line(error))


def _check_model(module_class, init_args: dict[str, Any], data, stage: str, check: Checker) -> None:
    metrics = init_args.get("test_metrics")
    if metrics is not None:
        try:
            check_metric_names(metrics)
        except ValueError as error:
            check.fail("model.init_args.test_metrics", metrics, str(error))

    size_error = getattr(module_class, "size_error", None)
    size = _get(data, "image_size") if data is not None else None
    if size_error is None or size is None:
        return
    # with crop "none" images keep their native size: data.image_size is not what the networks see (the module
    # pads each image to a size it accepts, evaluation/padding.py)
    options = dict(_get(data, "dataset_options") or {})
    real = _get(data, "dataset") != "sample"  # the built-in photos have no native-size mode
    native_eval = real and (options.get("eval_crop") or _get(data, "crop")) == "none"
    test_size = _get(data, "test_image_size")
    sizes = []  # (option, value, stage whose rule applies)
    if stage == "fit":
        if not (real and _get(data, "crop") == "none"):
            sizes.append(("data.image_size", size, stage))
    elif not native_eval and (stage == "validate" or test_size is None):
        sizes.append(("data.image_size", size, stage))
    if test_size is not None and not native_eval:  # every stage: a sweep trial fits, then tests in the same run
        sizes.append(("data.test_image_size", test_size, "test"))
    for key, value, when in sizes:
        try:
            problem = size_error(int(value), init_args, when)
        except (TypeError, ValueError):  # malformed method options: the constructor names them
            return
        if problem:
            check.fail(key, value, problem)


# ------------------------------------------------------------------------------------------------------ helpers
def _get(namespace, key: str, default: Any = None) -> Any:
    if namespace is None:
        return default
    if isinstance(namespace, Mapping):
        return namespace.get(key, default)
    return namespace.get(key, default) if key in namespace else default


def _plain(value: Any) -> Any:
    """jsonargparse Namespaces inside a value as dicts (mask specs are plain data)."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _module_class(model):
    """The LightningModule class named by ``model.class_path``, imported, never instantiated."""
    path = _get(model, "class_path")
    if not isinstance(path, str) or "." not in path:
        return None
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):  # jsonargparse has already reported an unresolvable class_path
        return None


def _init_args(model) -> dict[str, Any]:
    return dict(_plain(_get(model, "init_args")) or {})


def _show(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def config_source(key: str, args: Sequence[str]) -> str | None:
    """The ``--config`` file that set ``key`` (dotted, e.g. ``data.batch_size``) last, or ``None`` when the
    command line (or a default) did. Arguments are applied in order, so the last one that sets the key wins."""
    parts = key.split("[")[0].split(".")
    flags = {"--" + ".".join(parts[:n]) for n in range(2, len(parts) + 1)}
    if parts[:2] == ["model", "init_args"]:  # --model.X is jsonargparse's short form of --model.init_args.X
        flags |= {"--model." + ".".join(parts[2:n]) for n in range(3, len(parts) + 1)}
    source, i = None, 0
    while i < len(args):
        arg = args[i]
        if arg == "--config" and i + 1 < len(args):
            if _yaml_sets(args[i + 1], tuple(parts)):
                source = args[i + 1]
            i += 2
            continue
        if arg.split("=", 1)[0].rstrip("+") in flags:
            source = None
        i += 1
    return source


def _yaml_sets(path: str, parts: tuple[str, ...]) -> bool:
    node = _load_yaml(path)
    alternatives = [parts]
    if parts[:2] == ("model", "init_args"):
        alternatives.append(("model",) + parts[2:])
    for keys in alternatives:
        here = node
        for part in keys:
            if not isinstance(here, Mapping) or part not in here:
                break
            here = here[part]
        else:
            return True
    return False


@cache
def _load_yaml(path: str) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None
