"""The checkpoint a re-run row continues from: the newest ``last*.ckpt`` of its earlier attempts that loads.

A row killed with ``-9`` or preempted leaves ``last.ckpt`` in its trial folder (Lightning's ``ModelCheckpoint`` with
``save_last``, or the preemption save of :mod:`sweeps.trial`). A kill during a save can leave that file truncated,
so every candidate is loaded the way the fit will load it (``torch.load(..., weights_only=True, mmap=True)``: cheap,
nothing is copied into memory) and the newest that loads wins; the others are reported. Written here because the
candidates span several trial folders of one row, which Lightning's ``ckpt_path="last"`` (one logger version) does
not look at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ResumePoint:
    """``path`` None: nothing to continue from. ``unreadable``: newer files passed over, with the load error."""

    path: Path | None = None
    step: int = 0
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def candidates(folders: list[Path]) -> list[Path]:
    """``last*.ckpt`` files under ``folders``, newest first (modification time; the earlier-listed folder, i.e. the
    later attempt, first on a tie)."""
    found = []
    for rank, folder in enumerate(folders):
        if Path(folder).is_dir():
            found += [(path, rank) for path in Path(folder).rglob("last*.ckpt") if path.is_file()]
    found.sort(key=lambda item: (-item[0].stat().st_mtime, item[1]))
    return [path for path, _ in found]


def newest_loadable(folders: list[Path]) -> ResumePoint:
    """The newest candidate that loads, with its ``global_step`` (see the module docstring)."""
    from sweeps.trial import checkpoint_step

    point = ResumePoint()
    for path in candidates(folders):
        try:
            step = checkpoint_step(path)
        except Exception as error:  # noqa: BLE001 - every way a file fails to load means: not this one
            text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            point.unreadable.append((path, f"{type(error).__name__}: {text[:200]}"))
            continue
        point.path, point.step = path, step
        return point
    return point
