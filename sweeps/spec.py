"""Sweep files (``sweeps/<name>.yaml``): loading, validation and the effective config of each row.

A sweep file is data: the runner never needs to know which paper it reproduces. ``load_sweep`` checks the shape
of the file and ``validate_sweep`` checks every override key against the classes it configures (the method's
``init_args``, :class:`InpaintDataModule`, Lightning's ``Trainer``) *before* anything trains, so a typo fails with
the file, the row and the key named.
"""

from __future__ import annotations

import copy
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assembly.config import init_arg_names, load_config, model_class_of
from assembly.errors import UsageError
from evaluation.protocols import check_protocol, protocol_options
from lightning_modules import METHODS

SWEEP_DIR = Path(__file__).parent
KINDS = ("table", "search", "model_info", "evaluation")
PROFILES = ("smoke", "short", "paper")
TOP_KEYS = {"name", "method", "config", "paper", "kind", "metrics", "group_by", "rows", "profiles", "overrides",
            "evaluation", "evaluation_protocol", "search", "reference", "notes", "size", "paper_units"}
ROW_KEYS = {"label", "method", "overrides", "paper", "baseline", "bucket", "notes", "config", "profiles"}
BASELINES = ("masked_input", "telea")
GROUP_BY = (None, "mask_type", "bucket")
# model_info metrics -> keys of assembly.model_info.model_info()
MODEL_INFO_KEYS = {"params": "generator_params", "generator_params": "generator_params",
                   "discriminator_params": "discriminator_params", "gflops": "gflops"}


@dataclass
class Row:
    """One ablation row: ``label``, the method it trains (``None`` for a baseline), dotted ``overrides``."""

    label: str
    method: str | None
    overrides: dict[str, Any]
    paper: dict[str, Any] | None
    baseline: str | None = None
    bucket: str | None = None
    config: str | list[str] | None = None  # a packaged config, or a list of configs and parts composed in order
    index: int = 0
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # applied after overrides, per profile


@dataclass
class Sweep:
    """A parsed sweep file. ``rows`` of a search study are empty; ``search`` holds its space and objective."""

    name: str
    path: Path
    kind: str
    method: str | None
    config: str | list[str] | None
    paper: dict[str, Any]
    metrics: list[str]
    rows: list[Row]
    group_by: str | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] | None = None
    size: int = 256
    paper_units: dict[str, float] = field(default_factory=dict)
    evaluation_protocol: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        paper = self.paper or {}
        return f"{paper.get('table', '?')} — {paper.get('title', '?')}"


# --------------------------------------------------------------------------------------------- discovery
def sweep_paths(directory: Path = SWEEP_DIR) -> dict[str, Path]:
    """``{name: path}`` of every sweep file in ``directory`` (sorted)."""
    return {p.stem: p for p in sorted(Path(directory).glob("*.yaml"))}


def sweep_names(directory: Path = SWEEP_DIR) -> list[str]:
    return list(sweep_paths(directory))


def find_sweep(name_or_path: str, directory: Path = SWEEP_DIR) -> Path:
    """The file of sweep ``name`` (or an existing YAML path); unknown names are a usage error listing the names."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    paths = sweep_paths(directory)
    if name_or_path not in paths:
        raise UsageError(f"unknown sweep {name_or_path!r}; choose from {', '.join(paths) or '(none)'}")
    return paths[name_or_path]


# --------------------------------------------------------------------------------------------- parsing
def _fail(path: Path, message: str) -> UsageError:
    return UsageError(f"{path}: {message}")


def _config_spec(value: Any, path: Path, where: str) -> str | list[str] | None:
    """``config: NAME`` or ``config: [NAME, PART, ...]`` (composed in order, as repeated ``--config``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise _fail(path, f"{where}config must be a config name or a list of config and part names "
                      f"(e.g. [aotgan_celebahq, profile/smoke]), got {value!r}")


def _dotted_dict(value: Any, path: Path, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, f"{where} must be a mapping of dotted keys to values, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def load_sweep(name_or_path: str | Path, directory: Path = SWEEP_DIR) -> Sweep:
    """Parse and shape-check a sweep file (no model is imported; see :func:`validate_sweep` for the keys)."""
    path = find_sweep(str(name_or_path), directory)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise _fail(path, f"not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise _fail(path, "a sweep file is a mapping")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise _fail(path, f"unknown top-level key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(TOP_KEYS))}")
    name = raw.get("name") or path.stem
    if name != path.stem:
        raise _fail(path, f"name {name!r} differs from the file name {path.stem!r}")
    kind = raw.get("kind", "table")
    if kind not in KINDS:
        raise _fail(path, f"kind {kind!r} is not one of {', '.join(KINDS)}")
    metrics = raw.get("metrics") or []
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise _fail(path, "metrics must be a list of metric names")
    group_by = raw.get("group_by")
    if group_by not in GROUP_BY:
        raise _fail(path, f"group_by must be one of {GROUP_BY}, got {group_by!r}")
    profiles = raw.get("profiles") or {}
    if not isinstance(profiles, dict) or set(profiles) - set(PROFILES):
        raise _fail(path, f"profiles must map some of {', '.join(PROFILES)} to dotted overrides")
    profiles = {p: _dotted_dict(v, path, f"profiles.{p}") for p, v in profiles.items()}
    method = raw.get("method")
    rows = []
    raw_rows = raw.get("rows") or []
    if not isinstance(raw_rows, list):
        raise _fail(path, "rows must be a list")
    if kind != "search" and not raw_rows:
        raise _fail(path, "a table needs at least one row")
    labels = set()
    for i, item in enumerate(raw_rows):
        if not isinstance(item, dict) or "label" not in item:
            raise _fail(path, f"row {i + 1} must be a mapping with a label")
        label = str(item["label"])
        extra = sorted(set(item) - ROW_KEYS)
        if extra:
            raise _fail(path, f"row {label!r}: unknown key(s) {', '.join(extra)}; allowed: {', '.join(sorted(ROW_KEYS))}")
        if label in labels:
            raise _fail(path, f"row label {label!r} appears twice (labels identify rows in the study)")
        labels.add(label)
        baseline = item.get("baseline")
        if baseline is not None and baseline not in BASELINES:
            raise _fail(path, f"row {label!r}: baseline {baseline!r} is not one of {', '.join(BASELINES)}")
        row_method = item.get("method", method)
        if row_method is None and baseline is None and kind != "evaluation":
            raise _fail(path, f"row {label!r}: no method (set `method` on the sweep or the row)")
        paper = item.get("paper")
        if paper is not None and not isinstance(paper, dict):
            raise _fail(path, f"row {label!r}: paper must be a mapping of metric to number (or null)")
        row_profiles = item.get("profiles") or {}
        if not isinstance(row_profiles, dict) or set(row_profiles) - set(PROFILES):
            raise _fail(path, f"row {label!r}: profiles must map some of {', '.join(PROFILES)} to dotted overrides")
        rows.append(Row(label=label, method=row_method, overrides=_dotted_dict(item.get("overrides"), path,
                        f"row {label!r} overrides"), paper=paper, baseline=baseline, bucket=item.get("bucket"),
                        config=_config_spec(item.get("config"), path, f"row {label!r}: "), index=i,
                        profiles={k: _dotted_dict(v, path, f"row {label!r} profiles.{k}")
                                  for k, v in row_profiles.items()}))
    paper_units = raw.get("paper_units") or {}
    if not isinstance(paper_units, dict) or not all(isinstance(v, (int, float)) for v in paper_units.values()):
        raise _fail(path, "paper_units maps a metric to the factor that turns the paper's numbers into the suite's "
                          "unit (l1_rel printed as x10^-2: 0.01)")
    search = raw.get("search")
    if kind == "search":
        search = _parse_search(search, path)
    protocol = raw.get("evaluation_protocol")
    if protocol is not None:
        try:
            check_protocol(protocol, "evaluation_protocol")
        except ValueError as error:
            raise _fail(path, str(error)) from None
    return Sweep(name=name, path=path, kind=kind, method=method, config=_config_spec(raw.get("config"), path, ""), paper=raw.get("paper") or {},
                 metrics=list(metrics), rows=rows, group_by=group_by, profiles=profiles,
                 overrides=_dotted_dict(raw.get("overrides"), path, "overrides"),
                 evaluation=_dotted_dict(raw.get("evaluation"), path, "evaluation"), search=search,
                 size=int(raw.get("size", 256)), paper_units={k: float(v) for k, v in paper_units.items()},
                 evaluation_protocol=protocol, raw=raw)


def _parse_search(search: Any, path: Path) -> dict[str, Any]:
    """``search: {space: {key: {type: float|int|categorical, low, high, log, step, choices}}, n_trials,
    objective: {metric, direction}, prune: {monitor: val/psnr, mode: max}}``."""
    if not isinstance(search, dict) or not isinstance(search.get("space"), dict) or not search["space"]:
        raise _fail(path, "a search study needs `search.space`: {dotted key: {type, low, high | choices}}")
    for key, dist in search["space"].items():
        if not isinstance(dist, dict) or dist.get("type") not in ("float", "int", "categorical"):
            raise _fail(path, f"search.space.{key}: type must be float, int or categorical")
        if dist["type"] == "categorical" and not dist.get("choices"):
            raise _fail(path, f"search.space.{key}: categorical needs choices")
        if dist["type"] != "categorical" and ("low" not in dist or "high" not in dist):
            raise _fail(path, f"search.space.{key}: {dist['type']} needs low and high")
    objective = search.get("objective") or {}
    if not objective.get("metric"):
        raise _fail(path, "search.objective.metric is required (a test metric such as psnr)")
    objective.setdefault("direction", "minimize" if objective["metric"] in LOWER_IS_BETTER else "maximize")
    search = {"n_trials": int(search.get("n_trials", 20)), "prune": search.get("prune"), **search,
              "objective": objective}
    return search


LOWER_IS_BETTER = {"l1", "l1_hole", "l1_rel", "fid", "kid", "lpips", "gflops", "params", "generator_params",
                   "discriminator_params"}


# --------------------------------------------------------------------------------------------- configs
def base_config_name(sweep: Sweep, row: Row) -> str | list[str] | None:
    """The config a row starts from: the row's ``config``, else the sweep's, else its method's named config. A list
    (``[aotgan_celebahq, trainer/...]``) is composed in order by ``assembly.config.compose_files``, the function
    that expands ``--config`` on the command line, so a row's config is the one ``inpaint-suite fit`` would read."""
    return row.config or sweep.config or row.method or sweep.method


def config_flags(spec: str | list[str] | None) -> str:
    """``--config A --config B`` for a config name or list (what a user types to get the same config)."""
    names = spec if isinstance(spec, list) else [spec]
    return " ".join(f"--config {name}" for name in names if name)


def _model_class_path(method: str) -> str:
    module, cls = METHODS[method].split(":")
    return f"{module}.{cls}"


def row_base_config(sweep: Sweep, row: Row) -> dict[str, Any]:
    """The packaged config a row starts from.

    ``config`` (sweep or row: a name or a list of names composed in order) gives data + trainer (+ model). A row whose method's class differs from that config's
    model swaps in the ``model`` section of the method's own packaged config (``aim_track1``: the AIM protocol with
    each method's model); a baseline row has no model.
    """
    name = base_config_name(sweep, row)
    if name is None:
        raise UsageError(f"{sweep.path}: row {row.label!r}: no config and no method to take one from")
    config = copy.deepcopy(load_config(name))
    if row.baseline:
        config.pop("model", None)
        return config
    if row.method not in METHODS:
        raise UsageError(f"{sweep.path}: row {row.label!r}: unknown method {row.method!r}; "
                         f"choose from {', '.join(sorted(METHODS))}")
    wanted = _model_class_path(row.method)
    if (config.get("model") or {}).get("class_path") != wanted:
        config["model"] = copy.deepcopy(load_config(row.method).get("model") or {})
    return config


def protocol_layer(sweep: Sweep) -> dict[str, Any]:
    """Dotted overrides that give a row the sweep's ``evaluation_protocol``: its name and every setting it fixes
    (``evaluation.protocols``), key by key, so later layers (``overrides``, profiles, rows, ``--set``) can still
    change one setting. Empty when the sweep names none (the packaged config's own protocol stays)."""
    if not sweep.evaluation_protocol:
        return {}

    _, options = protocol_options(sweep.evaluation_protocol)
    prefix = "model.init_args.evaluator_options."
    return {prefix + "protocol": sweep.evaluation_protocol, **{prefix + k: v for k, v in options.items()}}


def _init_names(cls: type) -> set[str]:
    return set(init_arg_names(cls))


def _trainer_names() -> set[str]:
    # Lightning (and the DataModule, which imports it) only when keys are checked: `sweep --help`, the list of sweeps
    # and --export read sweep files through this module.
    from lightning.pytorch import Trainer

    return {p for p in inspect.signature(Trainer.__init__).parameters if p != "self"}


def check_keys(keys: list[str], model_section: dict[str, Any] | None, where: str) -> None:
    """Every dotted key must name a real option: ``model.init_args.X`` of the row's method, ``data.X`` of the
    DataModule, ``trainer.X`` of the Trainer, or ``seed_everything``."""
    from datamodules import InpaintDataModule

    data_names = _init_names(InpaintDataModule)
    trainer_names = None
    model_names = None
    for key in keys:
        parts = key.split(".")
        if key == "seed_everything":
            continue
        if parts[0] == "model":
            if model_section is None:
                raise UsageError(f"{where}: key {key!r}: this row has no model (a baseline)")
            if len(parts) < 3 or parts[1] != "init_args":
                raise UsageError(f"{where}: key {key!r}: model options are model.init_args.<name>")
            if model_names is None:
                model_names = _init_names(model_class_of(model_section))
            if parts[2] not in model_names:
                raise UsageError(f"{where}: unknown model option {key!r} for {model_section.get('class_path')}; "
                                 f"valid: {', '.join(sorted(model_names))}")
        elif parts[0] == "data":
            if len(parts) < 2 or parts[1] not in data_names:
                raise UsageError(f"{where}: unknown data option {key!r}; valid: "
                                 f"{', '.join('data.' + n for n in sorted(data_names))}")
        elif parts[0] == "trainer":
            trainer_names = trainer_names or _trainer_names()
            if len(parts) < 2 or parts[1] not in trainer_names:
                raise UsageError(f"{where}: unknown trainer option {key!r}")
        else:
            raise UsageError(f"{where}: key {key!r} must start with model.init_args., data. or trainer.")


def validate_sweep(sweep: Sweep) -> None:
    """Check every override key of every row (and the sweep's common, profile and evaluation overrides)."""
    for row in sweep.rows:
        where = f"{sweep.path}: row {row.label!r}"
        if sweep.kind == "model_info":
            if row.method not in METHODS:
                raise UsageError(f"{where}: unknown method {row.method!r}")
            bad = [k for k in row.overrides if not k.startswith("model.init_args.")]
            if bad:
                raise UsageError(f"{where}: key {bad[0]!r}: a model_info row only sets model.init_args.<name>")
        config = row_base_config(sweep, row)
        model = config.get("model")
        keys = list(row.overrides) + list(sweep.overrides) + list(sweep.evaluation)
        for profile in [*sweep.profiles.values(), *row.profiles.values()]:
            keys += list(profile)
        check_keys(keys, model, where)
    if sweep.kind == "search":
        row = Row(label="search", method=sweep.method, overrides={}, paper=None)
        config = row_base_config(sweep, row)
        check_keys(list(sweep.search["space"]) + list(sweep.overrides), config.get("model"), f"{sweep.path}: search")


# --------------------------------------------------------------------------------------------- helpers
def slug(text: str) -> str:
    """A file-name-safe form of a row label."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_")[:60] or "row"


def paper_groups(row: Row) -> dict[str, dict[str, Any]]:
    """The paper numbers of a row by group: ``{"overall": {metric: value}}`` or, for nested rows
    (``paper: {overall: {...}, aim_box: {...}}``), one entry per group."""
    paper = row.paper or {}
    if any(isinstance(v, dict) for v in paper.values()) and all(isinstance(v, dict) or v is None for v in paper.values()):
        return {k: dict(v or {}) for k, v in paper.items()}
    return {"overall": dict(paper)}
