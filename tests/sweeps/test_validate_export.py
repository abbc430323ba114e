"""``--validate`` parses every row's config as the trial will (sweeps/check.py), and ``--export wandb`` carries every
argument and the scored metric (sweeps/wandb_export.py). In-process: nothing trains."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from inpaint_suite import cli


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one clear line
    return err[0]


def test_bad_type_is_exit_2_naming_row_key_value_and_type(tmp_path, four_row_sweep, capsys):
    code = cli.main(["sweep", str(four_row_sweep), "--set", "trainer.max_steps=abc", "--validate",
                     "--results", str(tmp_path / "results")])
    line = _err_line(capsys)
    assert code == 2
    assert "row 'width 8'" in line and "trainer.max_steps" in line and "'abc'" in line and "expected int" in line
    assert not (tmp_path / "results").exists()


def test_bad_type_in_a_row_stops_a_real_run_before_training(tmp_path, capsys):
    path = tmp_path / "typo_sweep.yaml"
    path.write_text(textwrap.dedent("""\
        method: tiny
        config: tiny
        paper: {title: t, table: "T"}
        metrics: [psnr]
        rows:
          - label: fine
            overrides: {model.init_args.width: 8}
          - label: wide
            overrides: {model.init_args.width: wide}
        """))
    code = cli.main(["sweep", str(path), "--results", str(tmp_path / "results")])  # not --validate: a real run
    line = _err_line(capsys)
    assert code == 2
    assert "row 'wide'" in line and "model.init_args.width" in line and "'wide'" in line and "expected int" in line
    assert not (tmp_path / "results").exists()  # no study, no trial


@pytest.mark.parametrize("option", ["trainer.max_stepz=5", "model.init_args.widht=8"])
def test_unknown_set_key_is_exit_2(tmp_path, four_row_sweep, capsys, option):
    code = cli.main(["sweep", str(four_row_sweep), "--set", option, "--validate"])
    line = _err_line(capsys)
    assert code == 2 and option.split("=")[0] in line


def test_unknown_nested_key_is_named_by_the_parse(tmp_path):
    from pathlib import Path

    from assembly.errors import UsageError
    from sweeps.check import parse_trial_config
    from sweeps.row_configs import row_config
    from sweeps.spec import load_sweep

    sweep = load_sweep("tiny_demo")
    config = row_config(sweep, sweep.rows[0], "smoke", {}, Path(tmp_path), ["psnr"], "disabled")
    parse_trial_config(config, "row 'width 8'")  # the generated config itself is valid
    config["model"]["init_args"]["widht"] = 3  # past spec.check_keys: only the parser sees it
    with pytest.raises(UsageError, match=r"row 'width 8': unknown key model.init_args.widht \(= 3\)"):
        parse_trial_config(config, "row 'width 8'")


def test_a_good_sweep_validates(four_row_sweep, capsys):
    assert cli.main(["sweep", str(four_row_sweep), "--set", "trainer.max_steps=5", "--validate"]) == 0
    assert "4 row(s) valid" in capsys.readouterr().out


def _export(tmp_path, name, *extra):
    results = tmp_path / "res"
    assert cli.main(["sweep", name, "--export", "wandb", "--results", str(results), *extra]) == 0
    return yaml.safe_load((results / name.rsplit("/", 1)[-1].removesuffix(".yaml") / "wandb_sweep.yaml").read_text())


def test_wandb_export_passes_every_argument(tmp_path):
    config = _export(tmp_path, "tiny_demo", "--set", "data.batch_size=4", "--set", "seed_everything=3",
                     "--storage", "sqlite:///s.db", "--profile", "short", "--devices", "2", "--data", "places2",
                     "--data-root", "/d/places2", "--max-steps", "7", "--heartbeat", "9", "--max-lost", "5",
                     "--trial-timeout", "60", "--retry-failed", "--no-table")
    command = config["command"]
    assert command[:5] == ["${env}", "inpaint-suite", "sweep", "tiny_demo", "--resume"] and command[-1] == "${args}"
    for option in ("--set=data.batch_size=4", "--set=seed_everything=3", f"--results={tmp_path / 'res'}",
                   "--storage=sqlite:///s.db", "--profile=short", "--devices=2", "--data=places2",
                   "--data-root=/d/places2", "--max-steps=7", "--heartbeat=9", "--max-lost=5", "--trial-timeout=60.0",
                   "--retry-failed", "--no-table"):
        assert option in command, (option, command)
    assert not any(a.startswith(("--export", "--validate")) for a in command)
    assert config["metric"] == {"name": "test/psnr", "goal": "maximize"}
    assert config["parameters"]["row"]["values"][0] == "width 8"


def test_wandb_metric_is_the_scored_bucket_and_direction(tmp_path):
    # aotgan_rates: every row scored on the 40-50% bucket; its first metric, l1_rel, is lower-is-better.
    config = _export(tmp_path, "aotgan_rates", "--data", "celebahq")
    assert config["metric"] == {"name": "test/bucket/40-50%/l1_rel", "goal": "minimize"}
    # Rows scored on different buckets: each trial logs its own score as sweep/<metric>.
    config = _export(tmp_path, "aotgan_places2", "--data", "places2")
    assert config["metric"]["name"] == "sweep/l1_rel" and config["metric"]["goal"] == "minimize"


def test_trial_logs_the_scored_group_under_the_exported_names():
    from sweeps.trial import score_metrics

    report = {"overall": {"metrics": {"psnr": {"mean": 20.0}}},
              "buckets": {"40-50%": {"metrics": {"psnr": {"mean": 18.0}}}},
              "mask_types": {"aim_box": {"metrics": {"psnr": 25.0}}}}
    assert score_metrics(report, "40-50%") == {"sweep/psnr": 18.0, "test/bucket/40-50%/psnr": 18.0,
                                               "test/mask_type/aim_box/psnr": 25.0}
    assert score_metrics(report, None)["sweep/psnr"] == 20.0
    assert score_metrics(report, "0-10%")["sweep/psnr"] == 20.0  # not bucketed (smoke): all images, as the table
