"""Every user-input error of every subcommand exits with code 2 and one error line, never a traceback.

The table runs in-process through ``inpaint_suite.cli.main`` (argparse's ``SystemExit(2)`` counts as its code); one
row also runs as a real subprocess. Rows of subcommands whose module is not in this checkout are skipped.
``{tmp}``, ``{png}``, ``{mask}``, ``{small_mask}``, ``{narrow_ckpt}`` are filled in per test.
"""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest
import torch
from PIL import Image
from reliability_utils import error_lines, run_cli

from inpaint_suite.cli import COMMANDS, main

PREDICT = ["predict", "--config", "tiny", "--image", "{png}", "--out", "{tmp}/o.png"]

# (id, argv, a fragment the error line must contain)
ROWS = [
    ("unknown-command", ["frobnicate"], "frobnicate"),
    ("fit-unknown-config", ["fit", "--config", "nope"], "unknown config 'nope'"),
    ("fit-missing-config-file", ["fit", "--config", "{tmp}/missing.yaml"], "does not exist"),
    ("fit-unknown-model-key", ["fit", "--config", "tiny", "--model.init_args.no_such=1"], "no_such"),
    ("fit-unknown-trainer-key", ["fit", "--config", "tiny", "--trainer.no_such=1"], "no_such"),
    ("fit-wrong-type", ["fit", "--config", "tiny", "--trainer.max_steps=abc"], "trainer.max_steps"),
    ("fit-unknown-class", ["fit", "--config", "tiny", "--model.class_path=nope.Nope"], "nope"),
    ("fit-bad-option-value", ["fit", "--config", "tiny", "--model.init_args.nan_policy=pray"], "nan_policy"),
    ("fit-zero-max-consecutive-skips", ["fit", "--config", "tiny", "--model.init_args.max_consecutive_skips=0"],
     "max_consecutive_skips must be an integer >= 1, got 0"),
    ("fit-unknown-dataset", ["fit", "--config", "tiny", "--data.dataset=nope"], "data.dataset = 'nope'"),
    ("fit-missing-data-root", ["fit", "--config", "tiny", "--data.dataset=folder", "--data.data_root={tmp}/none",
                               "--trainer.max_steps=1", "--trainer.logger=false"], "none"),
    ("fit-unknown-masks", ["fit", "--config", "tiny", "--data.masks=nope"], "unknown mask generator 'nope'"),
    # bad values: one line naming the option, the value and the valid choices, before any model is built
    ("fit-zero-batch-size", ["fit", "--config", "tiny", "--data.batch_size", "0"], "data.batch_size = 0: must be an"),
    ("fit-negative-image-size", ["fit", "--config", "tiny", "--data.image_size", "-64"], "data.image_size = -64"),
    ("fit-negative-workers", ["fit", "--config", "tiny", "--data.num_workers=-1"], "data.num_workers = -1"),
    ("fit-zero-val-length", ["fit", "--config", "tiny", "--data.val_length=0"], "data.val_length = 0"),
    ("fit-zero-eval-batch", ["fit", "--config", "tiny", "--data.eval_batch_size=0"], "data.eval_batch_size = 0"),
    ("fit-unknown-crop", ["fit", "--config", "tiny", "--data.crop", "nope"], "choose from center_crop, deepgin"),
    ("fit-unknown-eval-crop", ["fit", "--config", "tiny", "--data.dataset_options={{eval_crop: nope}}"],
     "data.dataset_options.eval_crop = 'nope'"),
    ("fit-unknown-metric", ["fit", "--config", "aotgan_smoke", "--model.init_args.test_metrics=[psnr, nope]"],
     "unknown metrics ['nope']; choose from psnr"),
    ("test-unknown-metric-short-form", ["test", "--config", "tiny", "--model.test_metrics=[nope]"],
     "model.init_args.test_metrics"),
    ("fit-unknown-mixture-component", ["fit", "--config", "tiny",
                                       "--data.masks={{name: mixture, components: [{{generator: nope}}]}}"],
     "valid names: aim_box"),
    ("fit-unknown-mask-parameter", ["fit", "--config", "tiny", "--data.eval_masks={{name: aim_box, bogus: 1}}"],
     "data.eval_masks"),
    ("fit-unknown-per-image-masks", ["fit", "--config", "tiny", "--data.masks_per_image=[aim_box, nope]"],
     "data.masks_per_image[1]"),
    ("fit-aotgan-too-small", ["fit", "--config", "aotgan_smoke", "--data.image_size", "32"], "at least 36"),
    ("fit-aotgan-not-multiple", ["fit", "--config", "aotgan_smoke", "--data.image_size", "66"], "e.g. 64 or 68"),
    ("fit-madf-size", ["fit", "--config", "madf_smoke", "--data.image_size", "64"], "MADF needs a multiple of 128"),
    ("fit-deepgin-size", ["fit", "--config", "deepgin_smoke", "--data.image_size", "40"], "e.g. 32 or 48"),
    ("fit-hifill-size", ["fit", "--config", "hifill_smoke", "--data.image_size", "96"], "model.init_args.image_size"),
    ("test-hifill-size", ["test", "--config", "hifill_smoke", "--data.image_size", "32"], "multiple of 64"),
    ("test-deepgin-test-image-size", ["test", "--config", "deepgin_smoke", "--data.test_image_size", "1000"],
     "data.test_image_size = 1000"),
    ("fit-tiny-size", ["fit", "--config", "tiny", "--data.image_size", "4"], "at least 8"),
    ("fit-places2-layout", ["fit", "--config", "tiny", "--data.dataset=places2", "--data.data_root={tmp}"],
     "expected layout: ROOT/data_large"),
    ("fit-data-root-not-set", ["fit", "--config", "tiny", "--data.dataset=celebahq"], "data.data_root is not set"),
    ("fit-ade20k-layout", ["fit", "--config", "tiny", "--data.dataset=ade20k", "--data.data_root={tmp}"],
     "ADEChallengeData2016"),
    ("test-paris-layout", ["test", "--config", "tiny", "--data.dataset=paris", "--data.data_root={tmp}"],
     "paris_eval_gt"),
    ("fit-bad-dataset-option", ["fit", "--config", "tiny", "--data.dataset=celebahq", "--data.data_root={tmp}",
                                "--data.dataset_options={{split_mode: 1k}}"], "split_mode must be one of"),
    ("fit-missing-mask-dir", ["fit", "--config", "tiny", "--data.mask_dir={tmp}/none"], "data.mask_dir"),
    ("fit-empty-mask-dir", ["fit", "--config", "tiny", "--data.eval_mask_dir={empty}"], "holds no image files"),
    ("fit-bad-mask-polarity", ["fit", "--config", "tiny", "--data.mask_dir={tmp}",
                               "--data.mask_file_options={{polarity: upside_down}}"], "white_hole"),
    ("fit-unknown-mask-file-option", ["fit", "--config", "tiny", "--data.mask_file_options={{bogus: 1}}"],
     "valid keys: augment, polarity"),
    ("fit-optimizer-on-gan", ["fit", "--config", "tiny", "--optimizer=Adam"], "model.init_args.lr_g / lr_d"),
    ("fit-lr-scheduler-on-gan", ["fit", "--config", "aotgan_smoke", "--lr_scheduler=StepLR",
                                 "--lr_scheduler.step_size=1"], "override configure_optimizers"),
    ("fit-bad-value-in-yaml", ["fit", "--config", "tiny", "--config", "{bad_yaml}"],
     "data.batch_size = 0 (set in {bad_yaml})"),
    ("fit-bad-crop-in-yaml", ["fit", "--config", "tiny", "--config", "{bad_yaml}", "--data.batch_size=2"],
     "data.crop = 'nope' (set in {bad_yaml})"),
    # the last setting wins: a command-line value after the file is not blamed on it, a file after it is
    ("fit-cli-after-yaml", ["fit", "--config", "tiny", "--config", "{bad_yaml}", "--data.crop=resize",
                            "--data.batch_size=-1"], "data.batch_size = -1: must"),
    ("fit-yaml-after-cli", ["fit", "--config", "tiny", "--data.batch_size=3", "--config", "{bad_yaml}"],
     "data.batch_size = 0 (set in {bad_yaml})"),
    # aotgan composes data/places2, the part that sets data.data_root: the message names that file
    ("fit-packaged-config-names-its-file", ["fit", "--config", "aotgan"], "(set in {places2_yaml})"),
    # options that moved name their new key, from a config file or a flag
    ("fit-moved-image-grid-key-in-yaml", ["fit", "--config", "tiny", "--config", "{old_yaml}"],
     "model.init_args.log_images_every_n_steps (set in {old_yaml}) was replaced by image_grids.every_n_steps"),
    ("fit-moved-image-grid-flag", ["fit", "--config", "tiny", "--model.init_args.log_images_every_n_steps=5"],
     "was replaced by image_grids.every_n_steps"),
    ("fit-moved-semantic-encoding", ["fit", "--config", "tiny", "--model.semantic_encoding=ade_rgb"],
     "model.init_args.semantic_encoding (set in the command line) was replaced by data.seg_encoding"),
    ("fit-missing-ckpt", ["fit", "--config", "tiny", "--ckpt_path={tmp}/none.ckpt"], "none.ckpt does not exist"),
    ("fit-ckpt-not-a-checkpoint", ["fit", "--config", "tiny", "--ckpt_path={png}", "--trainer.logger=false",
                                   "--trainer.max_steps=1"], "not a file written by torch.save"),
    ("fit-missing-init-from", ["fit", "--config", "tiny", "--model.init_args.init_from={tmp}/none.ckpt",
                               "--trainer.max_steps=1", "--trainer.logger=false"], "none.ckpt does not exist"),
    ("fit-init-from-wrong-shape", ["fit", "--config", "tiny", "--model.init_args.init_from={narrow_ckpt}",
                                   "--trainer.max_steps=1", "--trainer.logger=false"], "shapes do not match"),
    ("test-missing-ckpt", ["test", "--config", "tiny", "--ckpt_path={tmp}/none.ckpt"], "does not exist"),
    ("validate-unknown-config", ["validate", "--config", "nope"], "unknown config"),
    ("predict-missing-image", ["predict", "--config", "tiny", "--random-weights", "--image", "{tmp}/none.png",
                               "--mask", "{mask}", "--out", "{tmp}/o.png"], "none.png"),
    ("predict-missing-mask", [*PREDICT, "--random-weights", "--mask", "{tmp}/none.png"], "none.png"),
    ("predict-mask-wrong-size", [*PREDICT, "--random-weights", "--mask", "{small_mask}"], "16x16"),
    ("predict-missing-weights", [*PREDICT, "--mask", "{mask}", "--weights", "{tmp}/none.ckpt"], "does not exist"),
    ("predict-weights-not-a-torch-file", [*PREDICT, "--mask", "{mask}", "--weights", "{png}"], "cannot read"),
    ("predict-weights-wrong-shape", [*PREDICT, "--mask", "{mask}", "--weights", "{narrow_ckpt}"],
     "shapes do not match"),
    ("predict-unknown-method", ["predict", "--method", "nope", "--random-weights", "--image", "{png}", "--mask",
                                "{mask}", "--out", "{tmp}/o.png"], "unknown method 'nope'"),
    ("predict-unknown-option", [*PREDICT, "--mask", "{mask}", "--random-weights", "--bogus"], "--bogus"),
    ("model-info-unknown-method", ["model-info", "nope"], "unknown method 'nope'"),
    ("model-info-unknown-key", ["model-info", "tiny", "--set", "bogus=1"], "bogus"),
    ("model-info-wrong-type", ["model-info", "tiny", "--set", "width=abc"], "invalid model options"),
    ("model-info-bad-set-syntax", ["model-info", "tiny", "--set", "width"], "key=value"),
    ("model-info-bad-size", ["model-info", "tiny", "--size", "abc"], "--size"),
    ("masks-unknown-generator", ["masks", "stats", "--generator", "nope"], "unknown mask generator 'nope'"),
    ("masks-unknown-parameter", ["masks", "stats", "--generator", "aim_box", "--set", "bogus=1"], "bogus"),
    ("masks-missing-dir", ["masks", "stats", "--dir", "{tmp}/none"], "none"),
    ("masks-unknown-action", ["masks", "frob"], "frob"),
    ("evaluate-missing-folders", ["evaluate", "--pred", "{tmp}/none", "--gt", "{tmp}/none", "--masks", "{tmp}/none"],
     "none"),
    ("evaluate-unknown-metric", ["evaluate", "--pred", "{tmp}", "--gt", "{tmp}", "--masks", "{tmp}", "--metrics",
                                 "nope"], "nope"),
    ("sweep-unknown-name", ["sweep", "nope"], "unknown sweep 'nope'"),
    ("sweep-unknown-row", ["sweep", "tiny_demo", "--row", "nope", "--validate"], "nope"),
    ("sweep-unknown-profile", ["sweep", "tiny_demo", "--profile", "nope"], "nope"),
    ("convert-unknown-method", ["convert", "nope", "x.pth"], "nope"),
    ("convert-missing-file", ["convert", "aotgan", "{tmp}/none.pth", "--out", "{tmp}/c.ckpt"], "does not exist"),
]


def _module_present(argv: list[str]) -> bool:
    if argv[0] not in COMMANDS:
        return True
    module = COMMANDS[argv[0]][0].split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from lightning_modules.tiny import TinyInpainter

    tmp = tmp_path_factory.mktemp("cli_errors")
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(tmp / "photo.png")
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    Image.fromarray(mask).save(tmp / "mask.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp / "small_mask.png")
    # the tiny config builds width 16; a width-4 checkpoint has the right keys and the wrong shapes
    narrow = TinyInpainter(width=4, vgg_weights="random", perceptual_weight=0.0)
    torch.save({"state_dict": narrow.state_dict()}, tmp / "narrow.ckpt")
    (tmp / "empty").mkdir()
    # a YAML that sets bad values (the error names this file); the model options stay with the packaged config
    (tmp / "bad.yaml").write_text("data:\n  batch_size: 0\n  crop: nope\n")
    (tmp / "old.yaml").write_text("model:\n  init_args:\n    log_images_every_n_steps: 100\n")
    from lightning_modules import config_path

    return {"tmp": str(tmp), "png": str(tmp / "photo.png"), "mask": str(tmp / "mask.png"),
            "small_mask": str(tmp / "small_mask.png"), "narrow_ckpt": str(tmp / "narrow.ckpt"),
            "empty": str(tmp / "empty"), "bad_yaml": str(tmp / "bad.yaml"),
            "places2_yaml": str(config_path("data/places2")), "old_yaml": str(tmp / "old.yaml")}


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse errors
        return exit_.code


@pytest.mark.parametrize("argv,fragment", [pytest.param(a, f, id=i) for i, a, f in ROWS])
def test_user_error_exits_2_with_one_line(argv, fragment, files, capsys):
    if not _module_present(argv):
        pytest.skip(f"subcommand {argv[0]!r} is not implemented in this checkout ({COMMANDS[argv[0]][0]})")
    argv = [a.format(**files) for a in argv]
    code = _run(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if re.search(r"\berror\b", line, re.IGNORECASE)
              and not line.lstrip().startswith(("warn", "Warn"))]
    assert code == 2, f"exit {code}; stderr tail: {err[-1500:]}"
    assert len(errors) == 1, f"expected one error line, got {errors}"
    assert fragment.format(**files) in errors[0], errors[0]


def test_a_genuine_bug_keeps_its_traceback(monkeypatch):
    """Only user-input errors become exit 2: an unexpected exception inside a command propagates."""
    import assembly.model_info as model_info

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(model_info, "model_info", broken)
    with pytest.raises(ZeroDivisionError):
        main(["model-info", "tiny"])


@pytest.mark.slow  # one interpreter start + Lightning import: ~30 s on the shared CPU
def test_subprocess_exit_code_and_single_line(files):
    result = run_cli(["fit", "--config", "tiny", "--trainer.max_steps=abc"])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "trainer.max_steps" in lines[0]
