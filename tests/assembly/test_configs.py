"""Every packaged config and every sweep row is built here: parsed by the real LightningCLI parser (after its
``compose:`` parts are expanded) and its model instantiated; every sweep row goes through the runner's own config
builder (smoke profile) and the trial's parser. Composition follows LightningCLI's merge rules (later files win,
lists are replaced), which the dict merge of ``assembly.config`` must reproduce exactly.

No real data and no downloads: the data sections are parsed and the DataModule built (it reads nothing before
``setup``), models get random VGG weights.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml

from assembly.config import COMPOSE_KEY, build_model, compose_files, load_config, merge_configs, read_yaml
from assembly.errors import UsageError
from assembly.lightning_cli import InpaintCLI, build_cli, resolve_config_args
from lightning_modules import CONFIG_DIR, config_names, part_names

# Combinations of a named config and a set-up part that the README, docs and Makefile run.
COMBINATIONS = [("aotgan_smoke", "demo"), ("aotgan_places2", "ddp_8gpu"), ("aotgan", "profile/smoke"),
                ("aim_track1", "model/aotgan")]


class _Parsed(Exception):
    def __init__(self, config):
        self.config = config


class _ParseOnly(InpaintCLI):
    """The CLI's parser, stopped before the suite's checks (they look for the dataset folders on disk)."""

    def before_instantiate_classes(self) -> None:
        raise _Parsed(self.config[self.subcommand])


def parse(*configs: str | Path, extra: tuple[str, ...] = ()):
    """The ``fit`` configuration LightningCLI makes of ``--config C1 --config C2 ...`` (names or paths)."""
    args = ["fit"] + [a for c in configs for a in ("--config", str(c))] + list(extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            build_cli(args, cli_class=_ParseOnly)
        except _Parsed as parsed:
            return parsed.config
    raise AssertionError("the CLI did not reach the instantiation step")


def comparable(config) -> dict:
    """A parsed configuration without what names its source files."""
    config = config.clone()
    for key in ("config", COMPOSE_KEY):
        if key in config:
            del config[key]
    return config.as_dict()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative run folders (results/runs/...) land here


# ------------------------------------------------------------------------------------------ packaged configs
@pytest.mark.parametrize("names", [(n,) for n in config_names()] + COMBINATIONS, ids="+".join)
def test_every_packaged_config_parses_builds_and_loads_as_the_cli_reads_it(names, tmp_path):
    from datamodules import InpaintDataModule

    config = parse(*names)
    # the dict every other reader uses (sweeps, model-info, predict, bench) is what LightningCLI made of the files
    merged = tmp_path / "merged.yaml"
    merged.write_text(yaml.safe_dump(load_config(list(names)), sort_keys=False))
    assert comparable(parse(merged)) == comparable(config)
    section = config.model.as_dict()
    model = build_model(section, {"vgg_weights": "random"})
    assert type(model).__module__ + "." + type(model).__name__ == section["class_path"]
    assert model.generator is not None
    InpaintDataModule(**config.data.as_dict())  # lazy: checks its options, reads nothing


def test_every_part_is_used_by_a_named_config():
    used = {path.resolve() for name in config_names() for path in compose_files(name)}
    parts = {name: compose_files(name)[-1].resolve() for name in part_names() if "/" in name}
    assert {name for name, path in parts.items() if path not in used} == set()


def test_aotgan_places2_is_aotgan_under_its_own_folder():
    """One composes the other: nothing but the results folder differs."""
    assert [p.stem for p in compose_files("aotgan_places2")][-2:] == ["aotgan", "aotgan_places2"]
    base, places = load_config("aotgan"), load_config("aotgan_places2")
    assert places["trainer"].pop("default_root_dir") == "results/runs/aotgan_places2"
    assert places["trainer"]["logger"]["init_args"].pop("save_dir") == "results/runs/aotgan_places2"
    base["trainer"].pop("default_root_dir")
    base["trainer"]["logger"]["init_args"].pop("save_dir")
    assert places == base


@pytest.mark.parametrize("name", ["aotgan_smoke", "hifill_smoke", "madf_smoke", "deepgin_smoke"])
def test_smoke_configs_are_the_model_part_and_the_smoke_profile(name):
    method = name.removesuffix("_smoke")
    files = [f"{p.parent.name}/{p.stem}" for p in compose_files(name)]
    assert files == [f"model/{method}", "profile/smoke", f"configs/{name}"]
    config = load_config(name)
    assert config["model"]["class_path"] == load_config(method)["model"]["class_path"]
    assert config["data"]["dataset"] == "sample" and config["trainer"]["accelerator"] == "cpu"
    assert config["model"]["init_args"]["vgg_weights"] == "random"


# ------------------------------------------------------------------------------------------ merge semantics
def test_no_file_of_a_composition_drops_a_callback_an_earlier_file_set():
    """``trainer.callbacks`` is a list: a later file replaces it whole (jsonargparse). Each file that sets it must
    restate every callback set before it, or clear the list on purpose (``[]``: profile/smoke)."""
    for names in [(n,) for n in config_names()] + COMBINATIONS:
        before: set[str] = set()
        for path in compose_files(list(names)):
            callbacks = (read_yaml(path).get("trainer") or {}).get("callbacks")
            if callbacks is None:
                continue
            now = {c["class_path"] for c in callbacks}
            assert callbacks == [] or before <= now, f"{path} drops {before - now} ({names})"
            before = now


def test_lists_and_dict_options_are_replaced_sections_and_components_merged(tmp_path):
    """The rules of merge_configs, checked against the parser on the same two files."""
    first = {"model": {"class_path": "lightning_modules.tiny.TinyInpainter",
                       "init_args": {"width": 8, "vgg_weights": "random", "test_metrics": ["psnr", "ssim"],
                                     "evaluator_options": {"protocol": "aotgan"}}},
             "data": {"dataset": "sample", "image_size": 64, "dataset_options": {"a": 1}},
             "trainer": {"max_steps": 2, "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger",
                                                    "init_args": {"save_dir": "a", "name": "csv"}},
                         "callbacks": [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint"}]}}
    second = {"model": {"init_args": {"style_weight": 0.5, "test_metrics": ["l1"], "evaluator_options": {}}},
              "data": {"dataset_options": {"b": 2}},
              "trainer": {"logger": {"init_args": {"save_dir": "b"}},
                          "callbacks": [{"class_path": "lightning.pytorch.callbacks.LearningRateMonitor"}]}}
    merged = merge_configs([first, second])
    init = merged["model"]["init_args"]
    assert (init["width"], init["style_weight"], init["test_metrics"], init["evaluator_options"]) == (
        8, 0.5, ["l1"], {})
    assert merged["data"] == {"dataset": "sample", "image_size": 64, "dataset_options": {"b": 2}}
    assert merged["trainer"]["logger"]["init_args"] == {"save_dir": "b", "name": "csv"}
    assert [c["class_path"] for c in merged["trainer"]["callbacks"]] == [
        "lightning.pytorch.callbacks.LearningRateMonitor"]  # replaced, not appended
    files = []
    for i, content in enumerate((first, second, merged)):
        files.append(tmp_path / f"{i}.yaml")
        files[-1].write_text(yaml.safe_dump(content))
    assert comparable(parse(files[0], files[1])) == comparable(parse(files[2]))


def test_a_model_part_after_another_method_keeps_only_the_options_the_new_class_accepts():
    """jsonargparse carries init_args across a class_path change when the new class has them (aim_track1's
    grad_clip_g reaches AOT-GAN): merge_configs does the same, and a test of the parse above holds them equal."""
    merged = load_config(["aim_track1", "model/aotgan"])
    init = merged["model"]["init_args"]
    assert merged["model"]["class_path"] == "lightning_modules.aotgan.AOTGAN"
    assert init["grad_clip_g"] == 3.0 and "warmup_steps" not in init and init["rates"] == [1, 2, 4, 8]


# ------------------------------------------------------------------------------------------ compose errors
def test_compose_names_parts_in_order_and_reports_bad_entries(tmp_path):
    mine = tmp_path / "mine.yaml"
    (tmp_path / "extra.yaml").write_text("trainer: {max_steps: 7}\n")
    mine.write_text("compose: [aotgan_smoke, extra.yaml]\ndata: {image_size: 128}\n")
    files = compose_files(str(mine))
    assert [p.name for p in files] == ["aotgan.yaml", "smoke.yaml", "aotgan_smoke.yaml", "extra.yaml", "mine.yaml"]
    config = load_config(str(mine))
    assert (config["trainer"]["max_steps"], config["data"]["image_size"], COMPOSE_KEY in config) == (7, 128, False)
    args = resolve_config_args(["fit", "--config", str(mine)])
    assert args == ["fit"] + [a for p in files for a in ("--config", str(p))]

    (tmp_path / "bad.yaml").write_text("compose: [model/nope]\n")
    with pytest.raises(UsageError, match="unknown config 'model/nope'.*model/aotgan"):
        compose_files(str(tmp_path / "bad.yaml"))
    (tmp_path / "loop.yaml").write_text("compose: [loop.yaml]\n")
    with pytest.raises(UsageError, match="compose loops back"):
        compose_files(str(tmp_path / "loop.yaml"))
    (tmp_path / "shape.yaml").write_text("compose: {model: aotgan}\n")
    with pytest.raises(UsageError, match="compose must be a list"):
        compose_files(str(tmp_path / "shape.yaml"))
    with pytest.raises(UsageError, match="inside a config file"):
        resolve_config_args(["fit", "--compose", "model/aotgan"])


def test_parts_are_addressed_by_kind_and_the_set_ups_by_their_bare_name():
    names = part_names()
    assert {"ddp_8gpu", "demo", "model/aotgan", "data/places2", "trainer/paper", "profile/smoke"} <= set(names)
    assert compose_files("parts/ddp_8gpu") == compose_files("ddp_8gpu") == [CONFIG_DIR / "parts" / "ddp_8gpu.yaml"]


# ------------------------------------------------------------------------------------------ sweeps
def _sweep_names() -> list[str]:
    from sweeps.spec import sweep_names

    return sweep_names()


def _search_row(sweep):
    """One trial of a search study: the first choice or the low end of every dimension."""
    from sweeps.spec import Row

    values = {k: d["choices"][0] if d["type"] == "categorical" else d["low"] for k, d in sweep.search["space"].items()}
    return Row(label="search", method=sweep.method, overrides=values, paper=None)


@pytest.mark.parametrize("name", _sweep_names())
def test_every_sweep_row_builds_through_the_runner_and_parses(name, tmp_path):
    """Each row's smoke config, made by the runner's own builder (``row_config``), passes the trial's parser and
    the suite's checks, as ``python -m sweeps.runner NAME --profile smoke`` checks it before training. Rows the
    runner does not train (``evaluation``: a trained checkpoint on the real test files; ``model_info``: counts,
    built here) are parsed without the checks, which look for those files."""
    from datamodules import InpaintDataModule
    from sweeps.check import parse_trial_config as parse_check
    from sweeps.row_configs import row_config
    from sweeps.spec import load_sweep

    sweep = load_sweep(name)
    rows = sweep.rows + ([_search_row(sweep)] if sweep.kind == "search" else [])
    assert rows
    for row in rows:
        config = row_config(sweep, row, "smoke", {}, tmp_path / row.label, ["psnr"], "disabled")
        if row.baseline:  # no model, no LightningCLI (as the runner): the data section still builds
            InpaintDataModule(**config["data"])
        elif sweep.kind in ("table", "search"):
            parse_check(config, f"{name}: {row.label}")
        else:
            path = tmp_path / "config.yaml"
            path.write_text(yaml.safe_dump(config))
            parsed = parse(path)
            if sweep.kind == "model_info":
                build_model(parsed.model.as_dict(), {"vgg_weights": "random"})


def test_a_sweep_may_name_a_list_of_parts(tmp_path):
    """``config: [NAME, PART]``: the row's config is what ``--config NAME --config PART`` gives."""
    from sweeps.row_configs import row_config
    from sweeps.spec import load_sweep

    path = tmp_path / "listed.yaml"
    path.write_text(yaml.safe_dump({
        "name": "listed", "method": "aotgan", "config": ["aotgan_celebahq", "profile/smoke"], "metrics": ["psnr"],
        "paper": {"title": "t", "table": "T"},
        "rows": [{"label": "a", "overrides": {"model.init_args.rates": [1]}},
                 {"label": "b", "config": ["aotgan_smoke", "demo"], "overrides": {}}]}))
    sweep = load_sweep(path)
    config = row_config(sweep, sweep.rows[0], "paper", {}, tmp_path / "a", ["psnr"], "disabled")
    assert config["data"]["dataset"] == "sample" and config["data"]["dataset_options"] is None
    assert config["model"]["init_args"]["rates"] == [1]
    config = row_config(sweep, sweep.rows[1], "paper", {}, tmp_path / "b", ["psnr"], "disabled")
    assert config["image_grids"]["every_n_steps"] == 3  # from demo
    path.write_text(path.read_text().replace("- aotgan_celebahq", "- 3"))
    with pytest.raises(UsageError, match="config must be a config name or a list"):
        load_sweep(path)
