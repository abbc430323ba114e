"""Checkpoint writes that are atomic on any local or network filesystem.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction, which puts the temporary file in
``$TMPDIR`` and *moves* it into place on commit. On a cluster the checkpoint folder (NFS, Lustre, GPFS) and ``/tmp``
are different filesystems, so the move is a copy: a job killed during it leaves a truncated ``last.ckpt`` and the
run is lost. Here the temporary file lives in the checkpoint's own folder, is flushed and fsync'ed, and replaces the
old file with ``os.replace`` (atomic within one filesystem); the folder is fsync'ed so the rename survives a crash.
Until the replace, the previous checkpoint is untouched. Remote URLs (``s3://``, ...) keep Lightning's own path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

TEMP_SUFFIX = ".tmp"  # temporary files are ".<name>.<pid>.tmp": never mistaken for a checkpoint (*.ckpt)


def is_local_path(path: str | os.PathLike) -> bool:
    return "://" not in str(path) or str(path).startswith("file://")


def atomic_torch_save(obj: Any, path: str | os.PathLike, write=None) -> None:
    """``torch.save(obj, path)`` via a temporary file in the same folder, fsync and ``os.replace``.

    ``write(obj, handle)`` serialises into the open temporary file (default ``torch.save``)."""
    target = Path(str(path).removeprefix("file://"))
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        with open(temp, "wb") as handle:
            (write or torch.save)(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)


def fsync_directory(folder: Path) -> None:
    """Persist a rename (POSIX needs the directory fsync'ed; some filesystems refuse to open a folder: ignored)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local writes go through :func:`atomic_torch_save` (see the module docstring).

    The CLI installs it on every Trainer whose checkpoint IO is Lightning's default; pass your own
    ``--trainer.plugins`` to choose another.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or not is_local_path(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_torch_save(checkpoint, path, write=self.write)

    def write(self, checkpoint: dict[str, Any], handle) -> None:
        """Serialise into the open temporary file (a method, so fault-injection tests can interrupt it)."""
        torch.save(checkpoint, handle)


def install_atomic_checkpoint_io(trainer) -> None:
    """Replace the Trainer's default ``TorchCheckpointIO`` by :class:`AtomicCheckpointIO` (a user's own plugin,
    e.g. an async or remote one, is kept)."""
    strategy = trainer.strategy
    if type(strategy.checkpoint_io) is TorchCheckpointIO:
        strategy.checkpoint_io = AtomicCheckpointIO()
