"""``inpaint-suite masks`` (inpaint_suite/commands/masks.py)."""

from __future__ import annotations

import json

from inpaint_suite.commands.masks import main


def test_export_then_stats_from_dir_and_from_generator(tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["export", "--generator", "aim_box", "--size", "64", "--n", "20", "--seed", "7", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n"] == 20 and len(list(out.glob("*.png"))) == 20
    capsys.readouterr()
    assert main(["stats", "--dir", str(out), "--json"]) == 0
    from_dir = json.loads(capsys.readouterr().out)
    assert main(["stats", "--generator", "aim_box", "--size", "64", "--n", "20", "--seed", "7", "--json"]) == 0
    from_gen = json.loads(capsys.readouterr().out)
    assert set(from_dir) == {"hole_ratio_mean", "hole_ratio_std", "histogram", "n"}
    assert from_dir["n"] == from_gen["n"] == 20 and len(from_dir["histogram"]) == 10
    assert abs(from_dir["hole_ratio_mean"] - from_gen["hole_ratio_mean"]) < 1e-6


def test_json_spec_and_set_overrides(capsys):
    assert main(["stats", "--generator", '{"name": "comodgan", "hole_range": [0.2, 0.4]}', "--size", "64",
                 "--n", "6", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert 0.2 < s["hole_ratio_mean"] < 0.4
    assert main(["stats", "--generator", "center_box", "--set", "fraction=0.25", "--size", "64", "--n", "2",
                 "--json"]) == 0
    assert abs(json.loads(capsys.readouterr().out)["hole_ratio_mean"] - 1 / 16) < 1e-6


def test_unknown_generator_exits_2_listing_the_names(capsys):
    assert main(["stats", "--generator", "nope", "--n", "2"]) == 2
    err = capsys.readouterr().err
    assert "unknown mask generator 'nope'" in err and "lama_thick" in err and "aim_free_form" in err


def test_unknown_parameter_exits_2(tmp_path, capsys):
    assert main(["export", "--generator", "aim_box", "--set", "bad=1", "--n", "1", "--out", str(tmp_path)]) == 2
    assert "valid parameters: min_fraction, max_fraction" in capsys.readouterr().err


def test_list(capsys):
    assert main(["list", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert "preset" in table["lama_thick"] and "official_axis_swap" in table["aim_free_form"]
