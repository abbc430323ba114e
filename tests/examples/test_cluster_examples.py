"""The cluster examples are valid bash, and every ``inpaint-suite`` command they run parses (without running).

Each script runs for real under bash with ``srun``, ``.venv/bin/inpaint-suite`` and ``.venv/bin/torchrun`` replaced
by shims that record their arguments; the recorded commands are then checked by the CLI itself in parse-only mode
(``fit ... --print_config``, ``sweep ... --validate``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples" / "cluster").glob("*.s*"))
ENV = {"STORAGE": "postgresql://user:secret@dbhost/inpaint", "NO_ALBUMENTATIONS_UPDATE": "1",
       "WANDB_MODE": "offline"}
RECORD = 'printf "%s\\0" "$(basename "$0")" "$@" >> "$RECORD"; printf "\\n" >> "$RECORD"\n'


def test_there_are_examples():
    assert {p.name for p in EXAMPLES} == {"train_ddp_8gpu.sbatch", "sweep_workers.sbatch", "torchrun_multinode.sh"}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_script_is_valid_bash(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def recorded_commands(script: Path, tmp_path: Path) -> list[list[str]]:
    """Run ``script`` with shims; the commands it ran, as argument lists (the program's name first)."""
    bin_dir, venv = tmp_path / "bin", tmp_path / ".venv" / "bin"
    bin_dir.mkdir()
    venv.mkdir(parents=True)
    (bin_dir / "srun").write_text('#!/usr/bin/env bash\nexec "$@"\n')
    for shim in (venv / "inpaint-suite", venv / "torchrun"):
        shim.write_text("#!/usr/bin/env bash\n" + RECORD)
    for path in (bin_dir / "srun", venv / "inpaint-suite", venv / "torchrun"):
        path.chmod(0o755)
    record = tmp_path / "record"
    env = dict(os.environ, **ENV, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", RECORD=str(record))
    result = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = [line for line in record.read_text().split("\n") if line]
    return [line.rstrip("\0").split("\0") for line in lines]


def cli_args(command: list[str]) -> list[str]:
    """The ``inpaint-suite`` arguments of a recorded command (``torchrun ... -m inpaint_suite.cli ARGS``)."""
    program, args = command[0], command[1:]
    if program == "torchrun":
        assert "-m" in args and args[args.index("-m") + 1] == "inpaint_suite.cli", args
        return args[args.index("-m") + 2:]
    assert program == "inpaint-suite", command
    return args


@pytest.fixture
def data_env(tmp_path, monkeypatch) -> None:
    """An empty Places2 layout and two mask folders of one PNG each: the sweep's ``--validate`` checks that the
    data root and the mask folders exist as the run would need them."""
    from PIL import Image

    root = tmp_path / "data"
    for folder in ("places365/data_large", "places365/val_large", "masks/train", "masks/test"):
        (root / folder).mkdir(parents=True)
    for split in ("train", "test"):
        Image.new("L", (8, 8), 255).save(root / "masks" / split / "0.png")
    monkeypatch.setenv("DATA_ROOT", str(root / "places365"))
    monkeypatch.setenv("MASK_DIR", str(root / "masks" / "train"))
    monkeypatch.setenv("EVAL_MASK_DIR", str(root / "masks" / "test"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_inpaint_suite_lines_parse(script, tmp_path, data_env):
    commands = recorded_commands(script, tmp_path)
    assert commands, f"{script.name} runs no inpaint-suite command"
    for command in commands:
        args = cli_args(command)
        check = ["--print_config"] if args[0] == "fit" else ["--validate"]
        result = subprocess.run([sys.executable, "-m", "inpaint_suite.cli", *args, *check], cwd=REPO,
                                env=dict(os.environ, **ENV), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{script.name}: {' '.join(args)}\n{result.stderr[-2000:]}"
        if args[0] == "fit":
            assert "strategy: ddp_find_unused_parameters_true" in result.stdout
            assert "run_name:" in result.stdout and "ckpt_path: last" in result.stdout
