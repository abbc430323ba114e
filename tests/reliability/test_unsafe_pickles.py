"""Every loader of ours refuses a checkpoint whose pickle runs code, with one clear line, and never runs it.

The payload is harmless: unpickling it calls ``Path(marker).write_text("pwned")``. Each test asserts the marker was
never written. A control test proves the payload is live (``weights_only=False`` does write the marker), so the
refusals are not vacuous.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from faults import make_code_pickle
from PIL import Image
from reliability_utils import error_lines, run_cli, tiny_fit_args

from inpaint_suite.cli import main
from lightning_modules.base import CheckpointError
from lightning_modules.tiny import TinyInpainter


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "marker"
    path = make_code_pickle(tmp_path / "evil.ckpt", marker)
    yield path, marker
    assert not marker.exists(), "the pickled code was executed"


def test_control_the_payload_runs_when_loaded_without_weights_only(tmp_path):
    marker = tmp_path / "marker"
    path = make_code_pickle(tmp_path / "evil.ckpt", marker)
    torch.load(path, weights_only=False)
    assert marker.read_text() == "pwned"


def test_load_generator_weights_refuses(evil):
    path, _ = evil
    model = TinyInpainter(width=4, vgg_weights="random", perceptual_weight=0.0)
    with pytest.raises(CheckpointError, match=r"refusing to load .*evil\.ckpt.*not a plain weights file") as info:
        model.load_generator_weights(str(path))
    assert "\n" not in str(info.value)


def test_plain_state_dict_without_checkpoint_wrapper_is_refused_too(tmp_path):
    marker = tmp_path / "marker"
    path = make_code_pickle(tmp_path / "g.pth", marker, as_checkpoint=False)
    with pytest.raises(CheckpointError, match="refusing to load"):
        TinyInpainter(width=4, vgg_weights="random", perceptual_weight=0.0).load_generator_weights(str(path))
    assert not marker.exists()


def test_predict_weights_refuses_with_exit_2(evil, tmp_path, capsys):
    path, _ = evil
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(tmp_path / "photo.png")
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    code = main(["predict", "--config", "tiny", "--weights", str(path), "--image", str(tmp_path / "photo.png"),
                 "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "out.png"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(error_lines(err)) == 1 and "refusing to load" in err
    assert not (tmp_path / "out.png").exists()


def test_evaluation_pretrained_load_weights_refuses(evil):
    from evaluation.pretrained import WeightsError, load_weights

    path, _ = evil
    with pytest.raises(WeightsError, match=r"evil\.ckpt"):
        load_weights(torch.nn.Linear(2, 2), path=str(path))


@pytest.mark.skipif(importlib.util.find_spec("inpaint_suite.convert") is None, reason="convert not implemented yet")
def test_convert_refuses_without_trust_pickle(evil, tmp_path, capsys):
    path, _ = evil
    code = main(["convert", "aotgan", str(path), "--out", str(tmp_path / "ours.ckpt")])
    assert code == 2
    assert "--trust-pickle" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["fit", "test"])
def test_lightning_ckpt_path_refuses_even_when_torch_is_told_to_trust_files(evil, tmp_path, image_folder, command,
                                                                           monkeypatch, capsys):
    """Lightning passes ``weights_only=None``, which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns into a full
    unpickle (see the control below); our CLI passes ``weights_only=True`` explicitly, so the file is refused."""
    path, marker = evil
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    args = tiny_fit_args(tmp_path / "run", image_folder, 2)[1:] + [f"--ckpt_path={path}"]
    code = main([command, *args])
    err = capsys.readouterr().err
    assert code == 2, err[-2000:]
    lines = error_lines(err)
    assert len(lines) == 1 and "refusing to load" in lines[0] and "evil.ckpt" in lines[0]


def test_control_lightning_default_loader_would_execute_under_that_variable(tmp_path, monkeypatch):
    from lightning.fabric.utilities.cloud_io import _load

    marker = tmp_path / "marker"
    path = make_code_pickle(tmp_path / "evil.ckpt", marker)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.warns(UserWarning, match="TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"):
        _load(str(path))  # what Trainer.fit(ckpt_path=...) calls when weights_only is not given
    assert marker.exists()


def test_weights_only_false_on_the_command_line_is_refused(tmp_path, image_folder, capsys):
    args = tiny_fit_args(tmp_path / "run", image_folder, 2)[1:] + ["--weights_only=false"]
    assert main(["fit", *args]) == 2
    assert "weights_only" in capsys.readouterr().err


@pytest.mark.slow
def test_init_from_refuses_through_the_cli(evil, tmp_path, image_folder):
    path, _ = evil
    result = run_cli(tiny_fit_args(tmp_path / "run", image_folder, 2) + [f"--model.init_args.init_from={path}"])
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "refusing to load" in lines[0]
