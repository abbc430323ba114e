"""Sweep files: every file loads and every override key exists (sweeps/spec.py), bad input fails early and clearly."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from assembly.errors import UsageError
from inpaint_suite import cli
from sweeps.spec import load_sweep, paper_groups, sweep_names, validate_sweep


@pytest.mark.parametrize("name", sweep_names())
def test_every_sweep_file_loads_and_its_keys_exist(name):
    sweep = load_sweep(name)
    validate_sweep(sweep)  # raises naming the file, row and key
    assert sweep.name == name and sweep.rows
    assert sweep.paper.get("table"), f"{name}: paper.table is required for the listing and the table title"
    for row in sweep.rows:
        for group, numbers in paper_groups(row).items():
            # Paper numbers are numbers or null (a metric outside `metrics` is kept but not tabulated).
            assert all(v is None or isinstance(v, (int, float)) for v in numbers.values()), (name, row.label, group)


def _write(tmp_path, body: str, name: str = "bad_sweep"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


TINY_TABLE = """\
    name: {name}
    method: tiny
    paper: {{title: t, table: "Table 9"}}
    kind: table
    metrics: [psnr]
    rows:
      - label: ok
        overrides: {{model.init_args.width: 8}}
        paper: {{psnr: 20.0}}
      - label: the bad row
        overrides: {{{key}: 3}}
        paper: {{psnr: null}}
"""


@pytest.mark.parametrize("key", ["model.init_args.widht", "data.batchsize", "trainer.max_stepz", "modle.x"])
def test_a_bad_override_key_names_file_row_and_key(tmp_path, key):
    path = _write(tmp_path, TINY_TABLE.format(name="bad_sweep", key=key))
    with pytest.raises(UsageError) as info:
        validate_sweep(load_sweep(path))
    message = str(info.value)
    assert str(path) in message and "the bad row" in message and key in message


def test_bad_key_is_exit_2_before_training(tmp_path, capsys):
    path = _write(tmp_path, TINY_TABLE.format(name="bad_sweep", key="model.init_args.widht"))
    assert cli.main(["sweep", str(path), "--results", str(tmp_path / "results")]) == 2
    assert "widht" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()  # nothing was trained or written


def test_unknown_sweep_name_is_exit_2_listing_the_names(capsys):
    assert cli.main(["sweep", "no_such_sweep"]) == 2
    err = capsys.readouterr().err
    assert "no_such_sweep" in err and "tiny_demo" in err and "madf_pn" in err


def test_no_name_lists_the_sweeps(capsys):
    assert cli.main(["sweep"]) == 0
    out = capsys.readouterr().out
    assert "tiny_demo" in out and "Demo table" in out


@pytest.mark.parametrize("body, words", [
    ("name: other\nmethod: tiny\nrows: [{label: a}]\n", "differs from the file name"),
    ("method: tiny\nkind: tabel\nrows: [{label: a}]\n", "kind"),
    ("method: tiny\nrows: [{label: a}, {label: a}]\n", "appears twice"),
    ("method: tiny\nrows: [{label: a, overide: {}}]\n", "unknown key"),
    ("method: tiny\ncolumns: []\nrows: [{label: a}]\n", "unknown top-level"),
    ("rows: [{label: a}]\n", "no method"),
])
def test_malformed_files_are_usage_errors(tmp_path, body, words):
    path = _write(tmp_path, body)
    with pytest.raises(UsageError, match=words):
        load_sweep(path)


def test_nested_paper_numbers_by_group(tmp_path):
    path = _write(tmp_path, """\
        method: tiny
        group_by: mask_type
        metrics: [psnr]
        rows:
          - label: a
            paper: {overall: {psnr: 20.0}, aim_box: {psnr: 18.0}}
          - label: b
            paper: {psnr: null}
        """)
    sweep = load_sweep(path)
    assert paper_groups(sweep.rows[0]) == {"overall": {"psnr": 20.0}, "aim_box": {"psnr": 18.0}}
    assert paper_groups(sweep.rows[1]) == {"overall": {"psnr": None}}


def test_evaluation_sweeps_say_they_need_real_data(capsys):
    evaluation = [n for n in sweep_names() if load_sweep(n).kind == "evaluation"]
    if not evaluation:
        pytest.skip("no kind: evaluation sweep file yet")
    assert cli.main(["sweep", evaluation[0]]) == 2
    assert "needs the dataset and the trained weights" in capsys.readouterr().err


def test_export_wandb_writes_a_grid_over_the_rows(tmp_path):
    assert cli.main(["sweep", "tiny_demo", "--export", "wandb", "--results", str(tmp_path), "--profile", "smoke"]) == 0
    config = yaml.safe_load((tmp_path / "tiny_demo" / "wandb_sweep.yaml").read_text())
    assert config["method"] == "grid"
    assert config["parameters"]["row"]["values"] == [r.label for r in load_sweep("tiny_demo").rows]
    assert config["command"][:4] == ["${env}", "inpaint-suite", "sweep", "tiny_demo"] and "${args}" in config["command"]


def test_model_info_sweep_reports_params_without_training(tmp_path, capsys):
    path = _write(tmp_path, """\
        method: tiny
        paper: {title: t, table: "sizes"}
        kind: model_info
        size: 64
        metrics: [params, gflops]
        rows:
          - label: w8
            overrides: {model.init_args.width: 8}
            paper: {params: 1000, gflops: null}
          - label: w16
            overrides: {model.init_args.width: 16}
            paper: {params: null, gflops: null}
        """, name="tiny_sizes")
    assert cli.main(["sweep", str(path), "--results", str(tmp_path / "results"), "--no-table"]) == 0
    table = yaml.safe_load((tmp_path / "results" / "tiny_sizes" / "table.json").read_text())
    ours = {r["row"]: r["metrics"]["params"]["ours"] for r in table["rows"]}
    assert 0 < ours["w8"] < ours["w16"]
    w8 = next(r for r in table["rows"] if r["row"] == "w8")
    assert w8["metrics"]["params"]["delta"] == pytest.approx(ours["w8"] - 1000)
    assert table["rows"][0]["metrics"]["gflops"]["ours"] > 0


def test_table_converts_paper_units_and_reads_buckets(tmp_path):
    from sweeps.table import build_rows

    path = _write(tmp_path, """\
        method: tiny
        metrics: [l1_rel, psnr]
        paper_units: {l1_rel: 0.01}
        rows:
          - label: a
            bucket: "40-50%"
            paper: {l1_rel: 3.28, psnr: 24.0}
        """)
    sweep = load_sweep(path)
    metric = {"mean": 0.03, "ci95": [0.02, 0.04]}
    summary = {"overall": {"n": 8, "metrics": {"l1_rel": metric, "psnr": {"mean": 20.0}}},
               "buckets": {"40-50%": {"n": 2, "metrics": {"l1_rel": {"mean": 0.05}, "psnr": {"mean": 18.0}}}}}
    result = [{"label": "a", "status": "complete", "summary": summary}]
    record = build_rows(sweep, result)[0]
    assert record["n"] == 2 and record["metrics"]["psnr"]["ours"] == 18.0  # the row's bucket, not all images
    assert record["metrics"]["l1_rel"]["paper"] == pytest.approx(0.0328)
    assert record["metrics"]["l1_rel"]["delta"] == pytest.approx(0.05 - 0.0328)
    del summary["buckets"]["40-50%"]
    assert build_rows(sweep, result)[0]["metrics"]["psnr"]["ours"] is None
    assert build_rows(sweep, result, bucket_fallback=True)[0]["metrics"]["psnr"]["ours"] == 20.0
