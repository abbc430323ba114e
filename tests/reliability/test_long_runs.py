"""Long runs as the README runs them: ``fit --config tiny --run_name R`` killed, then the same command with
``--ckpt_path last``; a kill inside a checkpoint write on another filesystem than ``$TMPDIR``; SIGTERM/SIGUSR1
preemption; a corrupt newest checkpoint. Every process is a real ``inpaint-suite`` subprocess run from a scratch
folder, so ``results/runs/<name>`` lands there. No timing is asserted: waits are bounded polls on marker files."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from reliability_utils import EXE, child_env
from test_kill_resume import assert_same_training_state

POLL_LIMIT_S = 400


def readme_fit(name: str, data: Path, max_steps: int, extra: list[str] | None = None) -> list[str]:
    """The README's command (``fit --config tiny --run_name NAME``) on a deterministic image folder at 32 px,
    batch 2 (2 generator steps per epoch), a checkpoint every 2 steps; the config's CSV logger stays on, so every
    start makes a new ``lightning_logs/version_N`` (the case that broke ``--ckpt_path last``)."""
    return [
        "fit", "--config", "tiny", "--run_name", name, "--seed_everything=0",
        "--data.dataset=folder", f"--data.data_root={data}", "--data.crop=center_crop", "--data.image_size=32",
        "--data.dataset_options={flip: false}", "--data.batch_size=2", "--data.num_workers=0",
        "--data.masks=aim_box", "--model.init_args.width=4", "--model.init_args.perceptual_weight=0",
        "--image_grids.every_n_steps=0", "--model.init_args.ema_decay=0.9",
        "--trainer.accelerator=cpu", "--trainer.limit_val_batches=0", "--trainer.val_check_interval=null",
        "--trainer.check_val_every_n_epoch=1", "--trainer.enable_progress_bar=false",
        f"--trainer.max_steps={max_steps}", "--trainer.callbacks.init_args.every_n_train_steps=2",
        *(extra or []),
    ]


def start(args: list[str], cwd: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(EXE + args, cwd=cwd, env=child_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(EXE + args, cwd=cwd, env=child_env(**env), capture_output=True, text=True, timeout=600)


def wait_for(marker: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + POLL_LIMIT_S
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"the run ended before the fault:\n{process.stdout.read()[-3000:]}")
        assert time.monotonic() < deadline, "the run never reached the fault"
        time.sleep(0.2)


def kill9(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_readme_resume_after_kill9_equals_an_uninterrupted_run(tmp_path, image_folder):
    """kill -9 after generator step 3 (checkpoint of step 2 on disk), then the README's command with
    ``--ckpt_path last``: a new logger version is created, yet the run continues from step 2 and ends with the
    uninterrupted run's weights, optimiser moments, EMA and counters."""
    marker = tmp_path / "hanging"
    whole = start(readme_fit("whole", image_folder, 6), tmp_path)
    victim = start(readme_fit("killed", image_folder, 6, ["--trainer.callbacks+=faults.HangAfterStep",
                                                          "--trainer.callbacks.step=3",
                                                          f"--trainer.callbacks.marker={marker}"]), tmp_path)
    try:
        wait_for(marker, victim)
        kill9(victim)
    finally:
        if victim.poll() is None:
            victim.kill()
    run_dir = tmp_path / "results" / "runs" / "killed"
    assert load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 2

    resumed = run(readme_fit("killed", image_folder, 6) + ["--ckpt_path", "last"], tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert f"resuming from {Path('results/runs/killed/checkpoints/last.ckpt')} (generator step 2)" in resumed.stdout
    assert sorted(p.name for p in (run_dir / "lightning_logs").iterdir()) == ["version_0", "version_1"]
    assert whole.wait(timeout=600) == 0, whole.stdout.read()[-3000:]

    a = load(tmp_path / "results" / "runs" / "whole" / "checkpoints" / "last.ckpt")
    b = load(run_dir / "checkpoints" / "last.ckpt")
    assert a["global_step"] == 6
    assert_same_training_state(a, b)


def test_kill_inside_a_checkpoint_write_on_another_filesystem_keeps_the_previous_checkpoint(tmp_path, image_folder):
    """The run folder on /dev/shm (tmpfs), $TMPDIR on the disk: the step-4 checkpoint's write is killed half-way.
    The step-2 ``last.ckpt`` is intact, the half-written file is a hidden temporary, and ``--ckpt_path last``
    continues from step 2 to the end."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test's temporary folder")
    root = Path(os.environ.get("INPAINT_SUITE_SHM_ROOT", shm)) / f"inpaint-suite-test-{os.getpid()}-{time.time_ns()}"
    marker = tmp_path / "writing"
    base = ["--trainer.default_root_dir", str(root / "base")]
    try:
        victim = start(readme_fit("run", image_folder, 6, base + [
            "--trainer.plugins=faults_io.HangInsideCheckpointWrite", "--trainer.plugins.step=4",
            f"--trainer.plugins.marker={marker}"]), tmp_path, TMPDIR=str(tmp_path))
        try:
            wait_for(marker, victim)
            kill9(victim)
        finally:
            if victim.poll() is None:
                victim.kill()
        folder = root / "run" / "checkpoints"
        assert load(folder / "last.ckpt")["global_step"] == 2
        assert [p.name for p in folder.glob(".*.tmp")], "the interrupted write left no temporary file"
        assert not list(tmp_path.glob("tmp*")), "a temporary file was written to $TMPDIR"

        resumed = run(readme_fit("run", image_folder, 6, base) + ["--ckpt_path", "last"], tmp_path,
                      TMPDIR=str(tmp_path))
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "(generator step 2)" in resumed.stdout
        assert load(folder / "last.ckpt")["global_step"] == 6
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_preemption_saves_last_ckpt_exits_128_plus_signal_and_resumes(tmp_path, image_folder, signum):
    marker = tmp_path / "running"
    victim = start(readme_fit("pre", image_folder, 200, ["--trainer.callbacks+=faults_io.SlowAfterStep",
                                                         "--trainer.callbacks.step=3",
                                                         f"--trainer.callbacks.marker={marker}"]), tmp_path)
    try:
        wait_for(marker, victim)
        os.kill(victim.pid, signum)
        code = victim.wait(timeout=300)
    finally:
        if victim.poll() is None:
            victim.kill()
    out = victim.stdout.read()
    assert code == 128 + signum, out[-3000:]
    assert f"preempted by signal {int(signum)}" in out and "--ckpt_path last" in out
    assert "Traceback" not in out
    last = tmp_path / "results" / "runs" / "pre" / "checkpoints" / "last.ckpt"
    step = load(last)["global_step"]
    assert step >= 3

    target = (step // 2 + 2) * 2  # a step the every-2-steps checkpoint writes
    resumed = run(readme_fit("pre", image_folder, target) + ["--ckpt_path", "last"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"(generator step {step})" in resumed.stdout
    assert load(last)["global_step"] == target


def test_corrupt_newest_checkpoint_is_named_and_resume_falls_back(tmp_path, image_folder):
    first = run(readme_fit("c", image_folder, 4), tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    folder = tmp_path / "results" / "runs" / "c" / "checkpoints"
    last = folder / "last.ckpt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 3])  # what a copy interrupted by a kill leaves
    os.utime(last, None)  # newest

    resumed = run(readme_fit("c", image_folder, 6) + ["--ckpt_path", "last"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"checkpoint {Path('results/runs/c/checkpoints/last.ckpt')} is unreadable and was skipped" \
        in resumed.stdout
    assert "(generator step 4)" in resumed.stdout
    assert load(last)["global_step"] == 6  # rewritten whole by the resumed run


def test_ckpt_path_last_without_a_checkpoint(tmp_path, image_folder):
    """``fit`` starts from step 0 (one command for the first submission and every requeue); ``test`` refuses."""
    fit = run(readme_fit("fresh", image_folder, 1) + ["--ckpt_path", "last"], tmp_path)
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert "no checkpoint under" in fit.stdout and "starting from step 0" in fit.stdout
    test = run(["test", "--config", "tiny", "--run_name", "nothing", "--ckpt_path", "last"], tmp_path)
    assert test.returncode == 2
    assert "no loadable checkpoint under" in test.stderr and "Traceback" not in test.stderr


def test_bad_run_name_is_a_usage_error(tmp_path):
    result = run(["fit", "--config", "tiny", "--run_name", "a/b"], tmp_path)
    assert result.returncode == 2
    assert "--run_name must be a plain folder name" in result.stderr
