"""The console script: dispatch, exit codes, packaged configs, model-info, and a real fit/test on built-in data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inpaint_suite.cli import UsageError, main
from inpaint_suite.lightning_cli import resolve_config_args

EXE = [sys.executable, "-m", "inpaint_suite.cli"]


def run(args, cwd=None, timeout=600):
    return subprocess.run(EXE + list(args), capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_unknown_command_exits_2_naming_the_choices(capsys):
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "frobnicate" in err and "fit" in err and "model-info" in err


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    assert "model-info" in capsys.readouterr().out


def test_config_names_resolve_to_packaged_files():
    args = resolve_config_args(["fit", "--config", "tiny", "--trainer.max_steps=1"])
    assert Path(args[2]).name == "tiny.yaml" and Path(args[2]).is_file()
    with pytest.raises(UsageError, match="unknown config 'nope'.*tiny"):
        resolve_config_args(["fit", "--config", "nope"])
    with pytest.raises(UsageError, match="does not exist"):
        resolve_config_args(["fit", "--config", "missing/file.yaml"])


def test_unknown_config_name_exits_2(capsys):
    assert main(["fit", "--config", "nope"]) == 2
    assert "tiny" in capsys.readouterr().err


def test_model_info_json_for_the_tiny_method(capsys):
    assert main(["model-info", "tiny", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) == {"generator_params", "discriminator_params", "gflops_256"}
    from networks.tiny import TinyGenerator

    assert info["generator_params"] == sum(p.numel() for p in TinyGenerator(4, 16).parameters())
    assert info["gflops_256"] > 0


def test_model_info_override_changes_the_count(capsys):
    assert main(["model-info", "tiny", "--set", "width=8", "--json"]) == 0
    small = json.loads(capsys.readouterr().out)["generator_params"]
    assert main(["model-info", "tiny", "--json"]) == 0
    assert small < json.loads(capsys.readouterr().out)["generator_params"]


def test_model_info_bad_input_exits_2(capsys):
    assert main(["model-info", "nomethod"]) == 2
    assert "aotgan" in capsys.readouterr().err
    assert main(["model-info", "tiny", "--set", "bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "bogus" in err and "width" in err


def test_gflops_match_a_hand_count():
    """FLOPs = 2 x MACs of the convolutions: check against the layer shapes of the tiny generator."""
    from inpaint_suite.commands.model_info import model_info

    info = model_info("tiny", {"width": 4})
    s, w = 256, 4
    macs = 0
    # (in, out, k, output size) of every conv in TinyGenerator
    for cin, cout, k, size in [(4, w, 5, s), (w, 2 * w, 4, s // 2), (2 * w, 4 * w, 4, s // 4), (4 * w, 4 * w, 3, s // 4),
                               (4 * w, 4 * w, 3, s // 4), (4 * w, 2 * w, 3, s // 2), (2 * w, w, 3, s), (w, 3, 3, s)]:
        macs += cin * cout * k * k * size * size
    assert info["gflops_256"] == pytest.approx(2 * macs / 1e9, rel=1e-3)


def test_fit_then_resume_then_test_on_builtin_data(tmp_path):
    """`fit` on the sample photos, resume from last.ckpt at the right step, then `test` writes a report."""
    root = tmp_path / "run"
    common = ["--config", "tiny", f"--trainer.default_root_dir={root}", "--trainer.logger=false",
              "--trainer.val_check_interval=2", "--data.val_length=2", "--data.test_length=2"]
    ckpt_cb = ["--trainer.callbacks+=ModelCheckpoint", f"--trainer.callbacks.dirpath={root}/ckpt",
               "--trainer.callbacks.save_last=true", "--trainer.callbacks.every_n_train_steps=2"]
    first = run(["fit", *common[:2], *common[2:], "--trainer.max_steps=2", "--trainer.callbacks=[]", *ckpt_cb])
    assert first.returncode == 0, first.stderr[-3000:]
    assert "loss schedule" in first.stdout
    last = root / "ckpt" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 2
    second = run(["fit", *common, "--trainer.max_steps=4", "--trainer.callbacks=[]", *ckpt_cb,
                  f"--ckpt_path={last}"])
    assert second.returncode == 0, second.stderr[-3000:]
    assert torch.load(last, weights_only=True)["global_step"] == 4
    test = run(["test", *common, f"--ckpt_path={last}"])
    assert test.returncode == 0, test.stderr[-3000:]
    report = json.loads(next(root.rglob("test_report.json")).read_text())
    assert report["settings"]["num_images"] == 2
    assert report["settings"]["dataset"] == "sample" and "synthesised" in report["settings"]["mask_set"]
    assert report["overall"]["metrics"]["psnr"]["mean"] > 0


def test_unknown_config_key_exits_2_before_building():
    result = run(["fit", "--config", "tiny", "--model.init_args.no_such_option=1", "--trainer.fast_dev_run=true"])
    assert result.returncode == 2
    assert "no_such_option" in result.stderr
    assert "loss schedule" not in result.stdout
