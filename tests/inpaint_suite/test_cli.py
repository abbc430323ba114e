"""The console script: dispatch, exit codes, packaged configs, model-info, and a real fit/test on built-in data."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from assembly.errors import UsageError
from assembly.lightning_cli import resolve_config_args
from inpaint_suite.cli import main

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


# What `--help` may not import: torch and Lightning take seconds, Optuna and jsonargparse a fraction of one.
HEAVY = ("torch", "lightning", "optuna", "jsonargparse")


@pytest.mark.parametrize("argv", [["--help"], ["sweep", "--help"], ["sweep"]])
def test_help_and_the_sweep_list_import_no_heavy_package(argv):
    """A fresh interpreter (this one has torch already): the command table, `sweep --help` and the list of sweeps
    load none of :data:`HEAVY` (imports run one way, and the heavy ones stay where the work is: docs/DEVELOPING.md)."""
    code = ("import sys\nfrom inpaint_suite.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            f"print('loaded:', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "loaded: []"


def test_config_names_resolve_to_packaged_files():
    args = resolve_config_args(["fit", "--config", "tiny", "--trainer.max_steps=1"])
    # tiny.yaml composes model/tiny: both files, the part first, each as "--config PATH"
    assert args[:2] == ["fit", "--config"] and args[-1] == "--trainer.max_steps=1"
    files = [Path(a) for a in args[2:-1:2]]
    assert [f"{f.parent.name}/{f.name}" for f in files] == ["model/tiny.yaml", "configs/tiny.yaml"]
    assert all(f.is_file() for f in files) and args[1:-1:2] == ["--config"] * len(files)
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
    from assembly.model_info import model_info

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


# ------------------------------------------------------------------------------------------ bad values fail fast
class HeavyWork(Exception):
    """Raised by the patched model constructor / data setup: the CLI got past its checks."""


@pytest.fixture
def no_heavy_work(monkeypatch):
    """Any model construction (network build, VGG download) or dataset setup (data scan) fails loudly."""
    from datamodules import InpaintDataModule
    from lightning_modules.base import InpaintingModule

    def guard(original):
        @functools.wraps(original)  # keeps the signature: the parser reads the constructor's options from it
        def heavy(*args, **kwargs):
            raise HeavyWork("the CLI built a model or set up data before refusing the bad value")

        return heavy

    monkeypatch.setattr(InpaintingModule, "__init__", guard(InpaintingModule.__init__))
    monkeypatch.setattr(InpaintDataModule, "setup", guard(InpaintDataModule.setup))


@pytest.mark.parametrize("argv,words", [
    # the real config would download VGG19 weights while building the model, then scan Places2
    (["--config", "aotgan", "--data.data_root={tmp}/none"], ["data.data_root", "none", "data_large"]),
    (["--config", "tiny", "--data.batch_size", "0"], ["data.batch_size = 0", ">= 1"]),
    (["--config", "aotgan_smoke", "--data.image_size", "32"], ["data.image_size = 32", "AOTGAN", "36"]),
    (["--config", "tiny", "--model.init_args.test_metrics=[nope]"], ["test_metrics", "nope", "psnr"]),
    (["--config", "tiny", "--data.crop", "nope"], ["data.crop = 'nope'", "random_crop"]),
    (["--config", "tiny", "--optimizer=Adam"], ["optimizer", "lr_g"]),
    (["--config", "tiny", "--data.mask_dir={tmp}/none"], ["data.mask_dir", "does not exist"]),
])
def test_bad_values_are_refused_before_any_heavy_work(argv, words, tmp_path, no_heavy_work):
    from assembly.lightning_cli import main as lightning_main

    with pytest.raises(UsageError) as error:
        lightning_main([a.format(tmp=tmp_path) for a in argv], command="fit")
    assert "built a model" not in str(error.value)
    assert all(word.format(tmp=tmp_path) in str(error.value) for word in words), str(error.value)


def test_the_heavy_work_guard_is_reached_by_a_good_command_line(tmp_path, no_heavy_work):
    """The control of the test above: without a bad value the patched constructor is what stops the run."""
    from assembly.lightning_cli import main as lightning_main

    # (jsonargparse re-raises constructor errors as ValueError, which the CLI reports as a configuration error)
    with pytest.raises((HeavyWork, UsageError), match="built a model"):
        lightning_main(["--config", "tiny", f"--trainer.default_root_dir={tmp_path}"], command="fit")


def test_a_bad_value_in_a_yaml_file_names_the_file(tmp_path, no_heavy_work):
    from assembly.lightning_cli import main as lightning_main

    bad = tmp_path / "mine.yaml"
    bad.write_text("model:\n  init_args:\n    test_metrics: [psnr, psnrr]\ndata:\n  image_size: 100\n")
    with pytest.raises(UsageError, match=r"test_metrics = \[\"psnr\", \"psnrr\"\] \(set in .*mine\.yaml\)"):
        lightning_main(["--config", "madf_smoke", "--config", str(bad)], command="fit")
    with pytest.raises(UsageError, match=r"data\.image_size = 100 \(set in .*mine\.yaml\): MADF needs a multiple"):
        lightning_main(["--config", "madf_smoke", "--config", str(bad), "--model.test_metrics=[psnr]"], command="fit")


@pytest.mark.parametrize("stage", ["fit", "test"])
def test_every_packaged_config_passes_the_checks_or_lacks_only_its_data(stage, monkeypatch):
    """No false alarm: each packaged config gets through the checks, except for a dataset folder that is not on
    this machine (the message then names the config file)."""
    from assembly.config import compose_files
    from assembly.lightning_cli import InpaintCLI
    from assembly.lightning_cli import main as lightning_main
    from lightning_modules import config_names

    def reached(self):
        raise HeavyWork

    monkeypatch.setattr(InpaintCLI, "instantiate_classes", reached)
    for name in config_names():
        try:
            lightning_main(["--config", name], command=stage)
        except HeavyWork:
            continue
        except UsageError as error:
            # the file of the composition that set it (a data part such as data/places2.yaml)
            sources = [f"(set in {path})" for path in compose_files(name)]
            assert "data.data_root" in str(error) and any(s in str(error) for s in sources), (name, error)


def test_the_refused_sizes_are_the_sizes_the_networks_refuse():
    """Each method's declared size constraint (read by the CLI without building a model) matches its networks:
    the smallest accepted size runs the generator and the critic, a refused one fails inside the networks."""
    from lightning_modules.aotgan import AOTGAN
    from lightning_modules.deepgin import DeepGIN
    from lightning_modules.madf import MADF
    from lightning_modules.tiny import TinyInpainter

    cases = [
        (TinyInpainter, {"width": 4, "perceptual_weight": 0.0}, 8, [4]),
        (AOTGAN, {"channels": 16}, 36, [32]),
        (AOTGAN, {"channels": 16, "rates": [1, 2]}, 24, [20]),
        (DeepGIN, {}, 16, [8]),
        (MADF, {}, 128, [64]),
    ]
    torch.manual_seed(0)
    for cls, options, smallest, refused in cases:
        assert cls.size_error(smallest, options) is None
        model = cls(vgg_weights="random", **options).eval()
        with torch.no_grad():
            out = model.generate(model.example_batch(smallest))["output"]
            assert out.shape[-2:] == (smallest, smallest)
            if isinstance(model, DeepGIN):  # conditional critic: [input, image]
                model.discriminator(torch.cat([out, out], 1))
            elif model.discriminator is not None:
                model.discriminator(out)
            for size in refused:
                assert cls.size_error(size, options), (cls.__name__, size)
                with pytest.raises((RuntimeError, ValueError)):
                    out = model.generate(model.example_batch(size))["output"]
                    if model.discriminator is not None and not isinstance(model, DeepGIN):
                        model.discriminator(out)
