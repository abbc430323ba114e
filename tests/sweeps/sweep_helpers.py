"""Helpers of the sweep tests: run ``inpaint-suite sweep`` as a separate process (as users and workers do)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def sweep_env(tmp_path: Path, fake: bool = True, **extra: str) -> dict[str, str]:
    """Environment of a runner process: W&B off; with ``fake``, trials run ``sweep_fake_trial`` (no training)."""
    env = dict(os.environ)
    env.update({"WANDB_MODE": "disabled", "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])})
    if fake:
        env["SWEEPS_TRIAL_MODULE"] = "sweep_fake_trial"
        env["FAKE_TRIAL_LOG"] = str(tmp_path / "trials.log")
    env.update(extra)
    return env


def sweep_cmd(*args: str) -> list[str]:
    # The console script, as users run it (``python -m inpaint_suite.cli`` would define a second UsageError class).
    return [str(Path(sys.executable).parent / "inpaint-suite"), "sweep", *args]


def start_sweep(tmp_path: Path, *args: str, env: dict[str, str] | None = None, log: str = "worker.log"):
    handle = open(tmp_path / log, "ab")
    return subprocess.Popen(sweep_cmd(*args, "--results", str(tmp_path / "results"), "--no-table"),
                            env=env or sweep_env(tmp_path), cwd=tmp_path, stdout=handle, stderr=subprocess.STDOUT)


def run_sweep(tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
    return subprocess.run(sweep_cmd(*args, "--results", str(tmp_path / "results"), "--no-table"),
                          env=env or sweep_env(tmp_path), cwd=tmp_path, capture_output=True, text=True,
                          timeout=timeout)


def trial_log(tmp_path: Path) -> list[tuple[str, int]]:
    path = tmp_path / "trials.log"
    if not path.is_file():
        return []
    return [(w, int(r)) for w, r, _ in (line.split() for line in path.read_text().splitlines() if line.strip())]


def load_study_trials(tmp_path: Path):
    import optuna

    url = f"sqlite:///{tmp_path / 'results' / 'optuna.db'}"
    summaries = optuna.get_all_study_summaries(url)
    assert len(summaries) == 1, [s.study_name for s in summaries]
    return optuna.load_study(study_name=summaries[0].study_name, storage=url).get_trials()


