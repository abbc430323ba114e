"""Every loader of ours refuses a checkpoint whose pickle runs code, with one clear line, and never runs it.

The payloads are harmless: unpickling one calls ``Path(marker).write_text("pwned")``, ``os.system("echo pwned >
marker")`` or ``eval`` of code writing the marker. Each test asserts the marker was never written. Control tests
prove the payloads are live (``weights_only=False`` does write the marker), so the refusals are not vacuous.
"""

from __future__ import annotations

import importlib.util
import pickle
import re

import numpy as np
import pytest
import torch
from faults import SHELL_PICKLE_KINDS, make_code_pickle, make_shell_pickle
from faults import _RunsShell as RunsShell
from PIL import Image
from reliability_utils import error_lines, run_cli, tiny_fit_args

from inpaint_suite.cli import main
from lightning_modules.tiny import TinyInpainter
from networks.weights import CheckpointError, describe_load_error, load_weights_file


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
    from evaluation.pretrained import CheckpointError, load_weights

    path, _ = evil
    with pytest.raises(CheckpointError, match=r"evil\.ckpt"):
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


# ------------------------------------------------------------------------------------------ os.system / eval payloads
# torch words the refusal differently per file kind ("Trying to load unsupported GLOBAL posix.system whose module
# posix is blocked", "Unsupported global: GLOBAL eval ...", only "Unsupported operand 149" for a plain pickle.dump):
# every message must still say the file references code, name the global, and say it was refused.
@pytest.fixture(params=SHELL_PICKLE_KINDS)
def shell(request, tmp_path):
    marker = tmp_path / "marker"
    path, name = make_shell_pickle(tmp_path / f"{request.param}.ckpt", marker, request.param)
    yield path, name
    assert not marker.exists(), "the pickled code was executed"


def assert_refusal(line: str, path, name: str) -> None:
    assert f"refusing to load {path}" in line and f"references code or classes that weights_only=True does not " \
        f"allow ({name})" in line and "it was refused and nothing in it was run" in line, line
    assert "not a file written by torch.save" not in line


@pytest.mark.parametrize("kind", SHELL_PICKLE_KINDS)
def test_control_the_shell_payload_runs_when_loaded_without_weights_only(tmp_path, kind):
    marker = tmp_path / "marker"
    path, _ = make_shell_pickle(tmp_path / "evil.ckpt", marker, kind)
    if kind.endswith("pickle"):
        with open(path, "rb") as file:
            pickle.load(file)
    else:
        torch.load(path, weights_only=False)
    assert marker.read_text().strip() == "pwned"


def test_load_weights_file_names_the_global_whatever_torch_says(shell):
    path, name = shell
    with pytest.raises(CheckpointError) as info:
        load_weights_file(path)
    assert_refusal(str(info.value), path, name)
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)


def test_the_file_is_read_not_the_wording(shell):
    """A wording torch has never used still gives the global (read from the file's pickle opcodes)."""
    path, name = shell
    assert_refusal(describe_load_error(path, pickle.UnpicklingError("some future wording")), path, name)


@pytest.mark.parametrize(("wording", "name"), [
    ("Weights only load failed. \n\nTrying to load unsupported GLOBAL posix.system whose module posix is blocked.\n",
     "posix.system"),
    ("Weights only load failed. WeightsUnpickler error: Unsupported global: GLOBAL eval was not an allowed global by "
     "default. Please use `torch.serialization.add_safe_globals([eval])`", "eval"),
    ("Weights only load failed. Unsupported class numpy.core.multiarray._reconstruct", "Unsupported class numpy"),
])
def test_torch_wordings_name_the_global_when_the_file_cannot_be_read_back(wording, name):
    message = describe_load_error("the checkpoint", pickle.UnpicklingError(wording))
    assert message.startswith("refusing to load the checkpoint") and f"({name}" in message, message


def test_a_pickle_without_code_is_not_called_unsafe(tmp_path):
    path = tmp_path / "plain.pkl"
    with open(path, "wb") as file:
        pickle.dump({"a": 1}, file)  # torch refuses the opcodes ("Unsupported operand"), not any code
    with pytest.raises(CheckpointError, match="not a file written by torch.save"):
        load_weights_file(path)


def test_fit_ckpt_path_refuses_the_shell_payload(shell, tmp_path, image_folder, capsys):
    path, name = shell
    code = main(["fit", *tiny_fit_args(tmp_path / "run", image_folder, 2)[1:], f"--ckpt_path={path}"])
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    assert_refusal(lines[0], path, name)


def test_fit_init_from_refuses_the_shell_payload(shell, tmp_path, image_folder, capsys):
    path, name = shell
    code = main(["fit", *tiny_fit_args(tmp_path / "run", image_folder, 2)[1:], f"--model.init_args.init_from={path}"])
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    assert_refusal(lines[0], path, name)


def test_predict_weights_refuses_the_shell_payload(shell, tmp_path, capsys):
    path, name = shell
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(tmp_path / "photo.png")
    Image.fromarray(np.pad(np.full((16, 16), 255, np.uint8), 8)).save(tmp_path / "mask.png")
    code = main(["predict", "--config", "tiny", "--weights", str(path), "--image", str(tmp_path / "photo.png"),
                 "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "out.png"), "--device", "cpu"])
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    assert_refusal(lines[0], path, name)
    assert not (tmp_path / "out.png").exists()


@pytest.mark.skipif(importlib.util.find_spec("inpaint_suite.convert") is None, reason="convert not implemented yet")
def test_convert_refuses_the_shell_payload_naming_it(shell, tmp_path, capsys):
    path, name = shell
    code = main(["convert", "aotgan", str(path), "--out", str(tmp_path / "ours.ckpt")])
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    module, attr = name.rsplit(".", 1)  # torch's wording may drop the module of a builtin ("GLOBAL eval")
    assert re.search(rf"it references ({module}\.)?{attr}\b", lines[0]) and "--trust-pickle" in lines[0], lines[0]
    assert not (tmp_path / "ours.ckpt").exists()


def test_the_notebooks_loader_refuses_the_shell_payload(shell):
    from notebooks._common import build_method

    path, name = shell
    with pytest.raises(CheckpointError) as info:
        build_method("tiny", checkpoint=path)
    assert_refusal(str(info.value), path, name)


def test_the_notebooks_loader_still_loads_a_plain_checkpoint(tmp_path):
    from notebooks._common import build_method

    model, _ = build_method("tiny")
    with torch.no_grad():
        for p in model.generator.parameters():
            p.add_(1.0)  # differs from any fresh initialisation
    torch.save({"state_dict": model.state_dict(), "global_step": 3}, tmp_path / "ours.ckpt")
    loaded, label = build_method("tiny", checkpoint=tmp_path / "ours.ckpt")
    assert label == f"checkpoint {tmp_path / 'ours.ckpt'}"
    assert all(torch.equal(a, b) for a, b in zip(model.generator.parameters(), loaded.generator.parameters()))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_scan_reads_globals_of_every_protocol_without_running_them(tmp_path, protocol):
    import os

    from networks.pickle_scan import pickle_globals, refused_globals

    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as file:  # two globals of one module: protocols 4+ fetch its name from the memo
        pickle.dump([RunsShell(str(marker)), os.getcwd], file, protocol=protocol)
    module = os.system.__module__
    assert refused_globals(path) == [f"{module}.system", f"{module}.getcwd"]
    assert not marker.exists()
    torch.save({"w": torch.zeros(2)}, tmp_path / "ok.pt")
    assert "torch._utils._rebuild_tensor_v2" in pickle_globals(tmp_path / "ok.pt")
    assert refused_globals(tmp_path / "ok.pt") == []
