"""Evaluation protocols by name (evaluation/protocols.py): one registry for `evaluate --protocol`, a config's
``evaluator_options: {protocol: NAME}`` and a sweep's ``evaluation_protocol``; every table states its protocol."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from sweep_helpers import run_sweep, sweep_env

from assembly.errors import UsageError
from evaluation import protocols
from evaluation.protocols import PROTOCOL_KEYS, PROTOCOLS, protocol_options
from sweeps.row_configs import evaluation_notes, row_config
from sweeps.spec import load_sweep, sweep_names

# The paper of each sweep file and the protocol its tables were scored with (spec: aotgan.md §6, aim2020.md §5.2).
PAPER_PROTOCOL = {"aotgan": "aotgan", "aim": "aim2020", "madf": "madf", "deepgin": "deepgin", "hifill": "hifill"}


def _config(sweep, row, profile="smoke", extra=None):
    return row_config(sweep, row, profile, extra or {}, Path("unused"), ["psnr", "ssim"], "disabled")


def test_every_protocol_fixes_every_setting_and_unknown_names_list_the_choices():
    for name in PROTOCOLS:
        _, options = protocol_options(name)
        assert set(PROTOCOL_KEYS) <= set(options), name
    assert protocol_options("aotgan")[1]["ssim_preset"] == "skimage_default"
    assert protocol_options("aim2020")[1]["ssim_preset"] == "skimage_default"
    assert protocol_options("suite")[1]["ssim_preset"] == "gaussian11"
    with pytest.raises(ValueError, match=r"'nope'.*choose from suite, aotgan"):
        protocol_options("nope")


@pytest.mark.parametrize("name", [n for n in sweep_names() if load_sweep(n).kind != "model_info"])
def test_every_scored_sweep_names_its_papers_protocol_and_every_row_carries_it(name):
    sweep = load_sweep(name)
    expected = next((p for prefix, p in PAPER_PROTOCOL.items() if name.startswith(prefix)), "suite")
    assert sweep.evaluation_protocol == expected
    _, settings = protocol_options(expected)
    for row in sweep.rows:
        if row.baseline:
            continue
        for profile in ("smoke", "paper"):
            options = _config(sweep, row, profile)["model"]["init_args"]["evaluator_options"]
            assert options["protocol"] == expected, (row.label, profile)
            assert {k: options[k] for k in settings} == settings, (row.label, profile)


def test_aim_rows_of_other_methods_get_the_aim_protocol_not_their_configs():
    # aotgan.yaml names `aotgan`; inside the AIM table the row must be scored as the challenge scored
    sweep = load_sweep("aim_track1")
    row = next(r for r in sweep.rows if r.method == "aotgan")
    options = _config(sweep, row)["model"]["init_args"]["evaluator_options"]
    assert options["protocol"] == "aim2020" and options["fid_resize"] == "torch_bilinear"


def test_a_later_layer_still_changes_one_setting_of_the_protocol():
    sweep = load_sweep("aotgan_rates")
    config = _config(sweep, sweep.rows[0], extra={"model.init_args.evaluator_options.ssim_preset": "gaussian11"})
    options = config["model"]["init_args"]["evaluator_options"]
    assert options["protocol"] == "aotgan" and options["ssim_preset"] == "gaussian11"


def test_unknown_sweep_protocol_is_a_usage_error_naming_option_value_and_choices(tmp_path):
    path = tmp_path / "bad_protocol.yaml"
    path.write_text(textwrap.dedent("""\
        method: tiny
        paper: {title: t, table: "Table 9"}
        evaluation_protocol: aotgann
        metrics: [psnr]
        rows:
          - {label: ok, overrides: {model.init_args.width: 8}, paper: {psnr: 20.0}}
        """))
    with pytest.raises(UsageError) as error:
        load_sweep(path)
    message = str(error.value)
    assert "evaluation_protocol" in message and "'aotgann'" in message and "aotgan, lama" in message
    assert "\n" not in message


def test_evaluate_and_the_sweeps_read_the_same_registry(monkeypatch, tmp_path):
    from inpaint_suite.commands.evaluate import build_parser, main

    monkeypatch.setitem(PROTOCOLS, "zz_test", {"about": "test protocol", "metrics": ["psnr"],
                                                "options": {"ssim_preset": "lama", "lpips_net": "vgg"}})
    args = build_parser().parse_args(["--pred", "p", "--gt", "g", "--masks", "m", "--protocol", "zz_test"])
    assert args.protocol == "zz_test"
    assert main(["--pred", "p", "--gt", "g", "--masks", "m", "--protocol", "zz_nope"]) == 2
    path = tmp_path / "demo_protocol.yaml"
    path.write_text((Path(__file__).parents[2] / "sweeps" / "tiny_demo.yaml").read_text()
                    .replace("name: tiny_demo\n", "").replace("evaluation_protocol: suite", "evaluation_protocol: zz_test"))
    sweep = load_sweep(path)
    options = _config(sweep, sweep.rows[0])["model"]["init_args"]["evaluator_options"]
    assert options == {"protocol": "zz_test", **PROTOCOL_KEYS, "ssim_preset": "lama", "lpips_net": "vgg"}
    assert protocols.describe_protocol("zz_test") in evaluation_notes(sweep, sweep.rows[:1], "smoke", {})[
        "evaluation_protocol"]


def test_module_expands_a_named_protocol_and_refuses_an_unknown_one():
    from lightning_modules.evaluator import evaluator_kwargs
    from lightning_modules.tiny import TinyInpainter

    kwargs = evaluator_kwargs({"protocol": "aotgan", "lpips_net": "vgg"})
    assert kwargs["ssim_preset"] == "skimage_default" and kwargs["lpips_net"] == "vgg"
    assert kwargs["settings"] == {"protocol": "aotgan"}
    assert evaluator_kwargs({"ssim_preset": "lama"}) == {"ssim_preset": "lama"}  # no name: as given
    with pytest.raises(ValueError, match=r"evaluator_options.protocol: .*'skimage'.*choose from"):
        TinyInpainter(evaluator_options={"protocol": "skimage"})


def test_table_states_the_protocol_and_the_generated_config_carries_it(tmp_path):
    done = run_sweep(tmp_path, "aotgan_rates", "--max-rows", "1", env=sweep_env(tmp_path, fake=True))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / "results" / "aotgan_rates"
    lines = (out / "table.md").read_text().splitlines()
    assert any(line.startswith("> evaluation protocol: aotgan — ") and "7x7 uniform" in line for line in lines)
    assert "aotgan" in json.loads((out / "table.json").read_text())["settings"]["evaluation_protocol"]
    config = yaml.safe_load(next(out.rglob("00-*/config.yaml")).read_text())
    assert config["model"]["init_args"]["evaluator_options"]["ssim_preset"] == "skimage_default"


def test_deepgin_tables_say_which_network_evaluation_ran():
    sweep = load_sweep("deepgin_components")
    row = sweep.rows[-1]
    assert _config(sweep, row, "smoke")["model"]["init_args"]["eval_protocol"] == "direct"
    assert _config(sweep, row, "short")["model"]["init_args"]["eval_protocol"] == "resize256"
    assert _config(sweep, row, "paper")["model"]["init_args"]["eval_protocol"] == "polyphase1024"
    note = evaluation_notes(sweep, [row], "smoke", {})["network_eval_protocol"]
    assert note.startswith("direct (smoke profile") and "polyphase1024" in note
    assert evaluation_notes(sweep, [row], "paper", {})["network_eval_protocol"] == "polyphase1024"


def test_deepgin_table2_rows_use_their_tables_network_protocol_only_in_the_paper_profile():
    sweep = load_sweep("deepgin_table2")
    for row in sweep.rows:
        wanted = "native" if "(OS)" in row.label else "resize256"
        assert _config(sweep, row, "paper")["model"]["init_args"]["eval_protocol"] == wanted, row.label
        smoke = _config(sweep, row, "smoke")
        assert smoke["model"]["init_args"]["eval_protocol"] == "direct" and smoke["data"]["dataset"] == "sample"
        assert smoke["data"]["eval_masks"] == ("aim_box" if "rectangles" in row.label else "aim_mixed")
    note = evaluation_notes(sweep, sweep.rows, "smoke", {})["network_eval_protocol"]
    assert note.startswith("direct (smoke profile") and "native, resize256" in note


@pytest.mark.parametrize("name", ["aim_track1", "aim_track2"])
def test_aim_tables_test_every_method_at_native_size_and_say_so(name):
    """The AIM protocol scores at native resolution: every method row's paper config tests with eval_crop none and
    batch 1 (the methods pad and crop back); smoke keeps 64/128-px crops of the built-in photos, and the table's
    test-resolution line says which ran."""
    sweep = load_sweep(name)
    for row in sweep.rows:
        if row.baseline:
            continue
        data = _config(sweep, row, "paper")["data"]
        assert data["dataset_options"]["eval_crop"] == "none" and data["eval_batch_size"] == 1, row.label
        smoke = _config(sweep, row, "smoke")["data"]
        assert smoke["dataset"] == "sample" and "eval_crop" not in (smoke["dataset_options"] or {}), row.label
    assert evaluation_notes(sweep, sweep.rows, "paper", {})["test_resolution"].startswith("native (native: batch 1")
    note = evaluation_notes(sweep, sweep.rows, "smoke", {})["test_resolution"]
    assert note.startswith("128 px, 64 px (smoke profile") and note.endswith("the paper profile tests at native)")


def test_deepgin_table1_tests_at_1024_and_table2_os_rows_at_native_size():
    table1 = load_sweep("deepgin_components")
    paper = _config(table1, table1.rows[-1], "paper")["data"]
    assert paper["test_image_size"] == 1024 and paper["image_size"] == 256  # training/validation stay at 256
    assert "test_image_size" not in _config(table1, table1.rows[-1], "smoke")["data"]
    assert evaluation_notes(table1, table1.rows, "paper", {})["test_resolution"] == "1024 px"
    table2 = load_sweep("deepgin_table2")
    for row in table2.rows:
        data = _config(table2, row, "paper")["data"]
        native = (data.get("dataset_options") or {}).get("eval_crop") == "none"
        assert native == ("(OS)" in row.label), row.label
        if native:
            assert data["eval_batch_size"] == 1
        assert "eval_crop" not in (_config(table2, row, "smoke")["data"].get("dataset_options") or {})


# ------------------------------------------------------------------------------------------ smoke masks
@pytest.mark.parametrize("name", ["aotgan_fusion", "madf_pn"])
def test_smoke_rows_of_mask_file_configs_draw_masks_that_leave_something_to_inpaint(name):
    """Configs that train on the NVIDIA mask files read none in smoke runs: they draw LaMa medium masks, whose hole
    ratio at the smoke size stays well below 1 (the AIM free-form default covers nearly the whole 64-px image)."""
    import torch

    from datamodules.masks import build_mask_generator
    from sweeps.profiles import SMOKE_FILE_MASKS

    sweep = load_sweep(name)
    data = _config(sweep, sweep.rows[-1])["data"]
    assert data["masks"] == data["eval_masks"] == SMOKE_FILE_MASKS and data["mask_dir"] is None
    size = data["image_size"]
    ratios = build_mask_generator(SMOKE_FILE_MASKS)(torch.arange(32), size, size, device="cpu", seed=1).mean((1, 2, 3))
    assert float(ratios.min()) > 0.005 and float(ratios.max()) < 0.6 and 0.1 < float(ratios.mean()) < 0.5


def test_smoke_rows_of_generated_mask_configs_keep_their_masks():
    sweep = load_sweep("tiny_demo")
    assert _config(sweep, sweep.rows[0])["data"]["masks"] == "aim_free_form"
