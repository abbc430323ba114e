"""Preemption and resume (sweeps/worker.py, sweeps/trial.py, assembly/resume.py, sweeps/study.py).

Trials run ``sweep_fake_trial`` with simulated steps (``FAKE_TRIAL_STEP_SLEEP``): it writes real ``torch.save``
checkpoints, continues from ``--ckpt-path`` and hands back on SIGTERM/SIGUSR1 through the real trial's handler.
Every wait is bounded in count and time.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState
from sweep_helpers import load_study_trials, run_sweep, start_sweep, sweep_env, trial_log

from sweeps.trial import checkpoint_step


def _wait_for(predicate, timeout: float, what: str):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _running_attempt(tmp_path: Path, row: int, min_step: int, after: set[str]):
    """(trial folder, trial pid, checkpoint step) of the newest attempt of ``row`` not in ``after`` once its
    checkpoint reached ``min_step``, else None."""
    folders = sorted((tmp_path / "results").rglob(f"{row:02d}-*-t*"), key=lambda p: p.stat().st_mtime)
    for folder in reversed(folders):
        ckpt, pid = folder / "checkpoints" / "last.ckpt", folder / "pid"
        if folder.name in after or not ckpt.is_file() or not pid.is_file() or (folder / "result.json").exists():
            continue
        try:
            step = checkpoint_step(ckpt)
        except Exception:  # noqa: BLE001 - being replaced right now; look again
            continue
        if step >= min_step:
            return folder, int(pid.read_text()), step
    return None


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _steps(tmp_path: Path, row: int) -> list[dict]:
    return [json.loads(p.read_text()) for p in (tmp_path / "results").rglob(f"{row:02d}-*-t*/steps.json")]


def test_chaos_kill_9_workers_rows_finish_once_and_continue(tmp_path, four_row_sweep):
    """Three workers on one SQLite study; row 0's worker is killed -9 three times (and other workers at random),
    each replaced at once. Every row ends complete exactly once; row 0 continued from its checkpoints."""
    env = sweep_env(tmp_path, FAKE_TRIAL_STEP_SLEEP="0.05", FAKE_TRIAL_CKPT_EVERY="5")
    args = (str(four_row_sweep), "--resume", "--heartbeat", "2", "--max-steps", "120", "--max-lost", "6")
    workers = {}

    def spawn():
        proc = start_sweep(tmp_path, *args, env=env, log=f"w{len(workers)}.log")
        workers[proc.pid] = proc

    for _ in range(3):
        spawn()
    rng = random.Random(0)
    killed_row0, killed_steps, random_kills, seen = 0, [], 0, set()
    deadline = time.time() + 400
    for _ in range(40):  # bounded: three row-0 kills and at most two random ones
        if killed_row0 == 3 or time.time() > deadline:
            break
        found = _wait_for(lambda: _running_attempt(tmp_path, 0, (killed_steps or [0])[-1] + 10, seen), 180,
                          "row 0 to make progress")
        folder, trial_pid, step = found
        worker_pid = _parent(trial_pid)
        if worker_pid not in workers:
            continue
        if random_kills < 2 and rng.random() < 0.5:  # a random other worker first
            others = [p for p in workers if p != worker_pid and workers[p].poll() is None]
            if others:
                victim = rng.choice(others)
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait(timeout=30)
                random_kills += 1
                spawn()
        workers[worker_pid].send_signal(signal.SIGKILL)
        workers[worker_pid].wait(timeout=30)
        seen.add(folder.name)
        killed_row0 += 1
        killed_steps.append(step)
        spawn()
    assert killed_row0 == 3, f"row 0 was killed {killed_row0} times"
    end = time.time() + 400
    for proc in workers.values():
        proc.wait(timeout=max(1.0, end - time.time()))
    codes = {pid: p.returncode for pid, p in workers.items()}
    assert [c for c in codes.values() if c != -signal.SIGKILL] and \
        all(c in (0, -signal.SIGKILL) for c in codes.values()), codes

    trials = load_study_trials(tmp_path)
    complete = Counter(t.params["row"] for t in trials if t.state == TrialState.COMPLETE)
    assert complete == Counter({"width 8": 1, "width 16": 1, "width 16, no perceptual": 1, "width 24": 1})
    row0_lost = [t for t in trials if t.params["row"] == "width 8" and t.state == TrialState.FAIL]
    assert len(row0_lost) >= 3 and all(t.user_attrs["fail_reason"].startswith("lost:") for t in row0_lost)
    assert Counter(r for w, r in trial_log(tmp_path) if w == "done") == Counter({0: 1, 1: 1, 2: 1, 3: 1})
    table = json.loads((tmp_path / "results" / "tiny_demo" / "table.json").read_text())
    assert sorted(r["row"] for r in table["rows"]) == sorted(complete) and \
        all(r["status"] == "complete" for r in table["rows"])
    # Continued, not restarted: the finishing attempt of row 0 started at (or after) its last kill's checkpoint.
    (final,) = _steps(tmp_path, 0)
    assert final["end"] == 120 and final["start"] >= killed_steps[-1] > 0
    logs = "".join(p.read_text() for p in tmp_path.glob("w*.log"))
    assert logs.count("row width 8: resuming from") >= 3


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_preempted_worker_hands_back_and_resume_continues(tmp_path, four_row_sweep, signum):
    env = sweep_env(tmp_path, FAKE_TRIAL_STEP_SLEEP="0.05", FAKE_TRIAL_CKPT_EVERY="5")
    args = (str(four_row_sweep), "--max-rows", "1", "--heartbeat", "2", "--max-steps", "400")
    worker = start_sweep(tmp_path, *args, env=env)
    _wait_for(lambda: _running_attempt(tmp_path, 0, 5, set()), 180, "row 0 to make progress")
    worker.send_signal(signum)
    assert worker.wait(timeout=120) == 128 + signum  # the documented exit code, not a crash
    log = (tmp_path / "worker.log").read_text()
    assert f"preempted by {signal.Signals(signum).name}" in log
    (first,) = load_study_trials(tmp_path)
    assert first.state == TrialState.FAIL and first.user_attrs["fail_reason"].startswith("handed back:")
    result = json.loads(next((tmp_path / "results").rglob("00-*-t0/result.json")).read_text())
    assert result["status"] == "handed back" and 5 <= result["step"] < 400
    assert checkpoint_step(Path(result["checkpoint"])) == result["step"]
    assert not (tmp_path / "results" / "tiny_demo" / "table.json").exists()  # the preempted worker left at once

    # A hand-back is not a lost worker: even --max-lost 0 takes the row again, and it continues from the checkpoint.
    done = run_sweep(tmp_path, *args, "--resume", "--max-lost", "0", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"row width 8: resuming from {result['checkpoint']} at step {result['step']}" in done.stdout
    assert _steps(tmp_path, 0) == [{"start": result["step"], "end": 400}]
    trials = load_study_trials(tmp_path)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]


def test_hand_backs_do_not_count_against_max_lost(tmp_path):
    import optuna

    from sweeps import study as st

    storage = st.open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}", heartbeat=1)
    claims = st.Claims(storage)
    study = optuna.create_study(study_name="s#1", storage=storage)

    def end(reason: str) -> None:
        state = st.slot_states(study, claims, 1)[0]
        assert claims.claim("s#1", 0, state.attempts)
        trial = st.create_running_trial(study, 0, ["a"], {"label": "a"})
        st.finish_trial(study, trial, TrialState.FAIL, None, {"fail_reason": reason})

    for _ in range(4):
        end("handed back: preempted by SIGTERM during training; checkpoint x at step 5")
    assert st.claimable(st.slot_states(study, claims, 1)[0], retry_failed=False, max_lost=0)
    end("lost: worker h:1 died (killed?) during the trial")
    assert not st.claimable(st.slot_states(study, claims, 1)[0], retry_failed=False, max_lost=0)
    assert st.claimable(st.slot_states(study, claims, 1)[0], retry_failed=False, max_lost=1)


def test_a_truncated_newest_checkpoint_is_reported_and_the_previous_one_used(tmp_path):
    import os

    import torch

    from assembly.resume import find_resume_checkpoint

    older, newer = tmp_path / "00-a-t0", tmp_path / "00-a-t3"
    for folder, step in ((older, 150), (newer, 200)):
        (folder / "checkpoints").mkdir(parents=True)
        torch.save({"global_step": step, "state_dict": {"w": torch.zeros(64)}}, folder / "checkpoints" / "last.ckpt")
    bad = newer / "checkpoints" / "last.ckpt"
    bad.write_bytes(bad.read_bytes()[:100])  # a kill during the save
    os.utime(older / "checkpoints" / "last.ckpt", (1, 1))  # older on disk too
    found = find_resume_checkpoint(newer, older)
    assert found.path == older / "checkpoints" / "last.ckpt" and found.step == 150
    assert [path for path, _ in found.unreadable] == [bad]
    assert find_resume_checkpoint(tmp_path / "nothing").path is None


def test_real_trial_sigterm_saves_a_checkpoint_and_continues_from_it(tmp_path):
    """``python -m sweeps.trial`` with the tiny model: SIGTERM mid-fit goes through Lightning's SIGTERMException,
    ``last.ckpt`` is saved and the result says handed back; ``--ckpt-path`` continues from that step."""
    import csv
    import subprocess
    import sys

    import yaml

    from sweeps.row_configs import row_config
    from sweeps.spec import load_sweep

    sweep = load_sweep("tiny_demo")
    env = sweep_env(tmp_path, fake=False)

    def trial(out: Path, max_steps: int, *extra: str) -> subprocess.Popen:
        config = row_config(sweep, sweep.rows[0], "smoke", {"trainer.max_steps": max_steps}, out, ["psnr"], "disabled")
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(config))
        return subprocess.Popen([sys.executable, "-m", "sweeps.trial", "--config", str(out / "config.yaml"), "--out",
                                 str(out), *extra], env=env, stdout=open(out / "log.txt", "wb"),
                                stderr=subprocess.STDOUT)

    def logged_steps(out: Path) -> list[int]:
        path = out / "csv" / "metrics.csv"
        if not path.is_file():
            return []
        return [int(r["step"]) for r in csv.DictReader(path.open()) if r.get("step", "").isdigit()]

    first = tmp_path / "t0"
    proc = trial(first, 5000)
    _wait_for(lambda: len(logged_steps(first)) >= 3 or proc.poll() is not None, 240, "a few training steps")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0, (first / "log.txt").read_text()[-3000:]
    result = json.loads((first / "result.json").read_text())
    assert result["status"] == "handed back", result
    assert result["checkpoint"] == str(first / "checkpoints" / "last.ckpt")
    step = checkpoint_step(Path(result["checkpoint"]))
    assert 1 <= step < 5000 and result["step"] == step

    second = tmp_path / "t1"
    proc = trial(second, step + 2, "--ckpt-path", result["checkpoint"])
    assert proc.wait(timeout=300) == 0
    assert json.loads((second / "result.json").read_text())["status"] == "complete", \
        (second / "log.txt").read_text()[-3000:]
    assert logged_steps(second) and min(logged_steps(second)) >= step  # continued, not from step 0
