"""A run's stable folder, and ``--ckpt_path last`` resolved to the newest good checkpoint of that run.

Lightning's ``ckpt_path="last"`` looks only in the checkpoint folder of the *current* logger version, and every run
creates a new ``lightning_logs/version_N``: the same command with ``--ckpt_path last`` after a kill started again
from step 0. Here a run is its ``trainer.default_root_dir`` (``--run_name NAME`` sets it to ``results/runs/NAME``):
checkpoints go to ``<run>/checkpoints/`` whatever the logger version, and ``last`` is resolved, before anything heavy is
built, to the newest checkpoint under the run folder that loads: Lightning's ``last*.ckpt``, top-k and periodic
files, SLURM's ``hpc_ckpt_N.ckpt`` and preemption saves alike, in any ``version_N`` folder. A file that does not load
(truncated by a crash of another tool, a full disk) is reported with its path and the next newest one is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNS_ROOT = Path("results") / "runs"
CHECKPOINT_DIR = "checkpoints"


@dataclass
class ResumePoint:
    """The checkpoint to resume from (``path`` None: nothing to resume) and the files passed over, with reasons."""

    path: Path | None
    step: int = 0
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def run_dir_for(name: str, configured_root: str | os.PathLike | None) -> Path:
    """``--run_name NAME``: a sibling of the config's run folder (packaged configs: ``results/runs/NAME``)."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"--run_name must be a plain folder name (no '/'), got {name!r}")
    parent = Path(configured_root).parent if configured_root else RUNS_ROOT
    return parent / name


def candidates(*run_dirs: str | os.PathLike) -> list[Path]:
    """Every ``*.ckpt`` under the folders, newest first; on equal times the earlier-listed folder, then ``last*``
    files, come first. Temporary files of an atomic write are hidden ones and never candidates."""
    files: list[Path] = []
    for root in map(Path, run_dirs):
        if root.is_dir():
            found = [p for p in root.rglob("*.ckpt") if p.is_file() and not p.name.startswith(".")]
            files += sorted(found, key=lambda p: not p.name.startswith("last"))
    return sorted(files, key=lambda p: p.stat().st_mtime_ns, reverse=True)  # stable: ties keep the order above


def read_training_state(path: Path) -> dict[str, Any]:
    """The checkpoint's dict, memory-mapped (tensors are not read) and with ``weights_only=True``.

    Raises on a file that is not a complete Lightning training checkpoint."""
    import torch  # here: the sweep worker and the trial import this module at start-up; torch is needed only to read


    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(state, dict) or "global_step" not in state or "state_dict" not in state:
        raise ValueError("not a Lightning training checkpoint (no global_step/state_dict)")
    return state


def find_resume_checkpoint(*run_dirs: str | os.PathLike) -> ResumePoint:
    """The newest loadable training checkpoint under the run folder(s) (see the module docstring). A sweep row
    passes the folders of its earlier attempts, newest attempt first."""
    unreadable: list[tuple[Path, str]] = []
    for path in candidates(*run_dirs):
        try:
            state = read_training_state(path)
        except Exception as error:  # noqa: BLE001 - any unreadable file is passed over and reported
            text = str(error).strip().splitlines()
            unreadable.append((path, f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")))
            continue
        return ResumePoint(path, int(state["global_step"]), unreadable)
    return ResumePoint(None, 0, unreadable)


def describe(point: ResumePoint, run_dir: str | os.PathLike) -> list[str]:
    """What the resolution did, as lines for the console."""
    lines = [f"checkpoint {path} is unreadable and was skipped ({reason})" for path, reason in point.unreadable]
    if point.path is None:
        lines.append(f"--ckpt_path last: no checkpoint under {run_dir} yet; starting from step 0")
    else:
        lines.append(f"--ckpt_path last: resuming from {point.path} (generator step {point.step})")
    return lines
