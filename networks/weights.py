"""Reading weights files safely, and the one error type for a weights or checkpoint file that cannot be used.

The lowest layer on purpose: ``evaluation.pretrained`` (backbone weights), ``lightning_modules`` (``init_from``) and
the commands all raise :class:`CheckpointError`, so the console reports every unusable file the same way (one line,
exit code :attr:`CheckpointError.exit_code`). Every load is ``torch.load(..., weights_only=True)``: a file whose
pickle would run code is refused, never executed (:mod:`networks.pickle_scan` names what it references).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from networks.pickle_scan import refused_globals

__all__ = ["CheckpointError", "CheckpointKeyError", "describe_load_error", "load_weights_file"]


class CheckpointError(ValueError):
    """A weights or checkpoint file that cannot be used: missing, unreadable, refused by ``weights_only=True``
    (it holds pickled code or objects), or whose keys/shapes do not match. The message is one line naming the file.
    Bad user input: the console prints the message and exits with :attr:`exit_code`."""

    exit_code = 2

    def __str__(self) -> str:  # plain text, also for the KeyError subclass (no quotes)
        return str(self.args[0]) if self.args else ""


class CheckpointKeyError(CheckpointError, KeyError):
    """Keys or shapes of a weights file do not match the model (a KeyError, as callers have long caught)."""

    __str__ = CheckpointError.__str__


def describe_load_error(path: str | Path, error: BaseException) -> str:
    """One line saying why ``torch.load(path, weights_only=True)`` failed (unsafe pickle vs unreadable file).

    A refused pickle is recognised from the file itself (:func:`~networks.pickle_scan.refused_globals` reads its
    globals without unpickling) and from torch's wording, which names the global in some cases and differs between
    releases and file kinds ("Unsupported global: GLOBAL eval", "Trying to load unsupported GLOBAL posix.system
    whose module posix is blocked", only "Unsupported operand 149" for a plain ``pickle.dump`` file)."""
    text = str(error)
    if isinstance(error, pickle.UnpicklingError):
        names = refused_globals(path)
        # torch's words, for a path we cannot read back: "... GLOBAL os.system ...", or in older releases
        # "Unsupported class numpy...." / "Trying to call reduce for ..."
        named = re.search(r"GLOBAL (\S+)", text)
        worded = re.search(r"(Unsupported class|Trying to call reduce)[^\n]*?(?=\. |$)", text, re.MULTILINE)
        if names or named or worded:
            detail = ", ".join(names[:5]) if names else named.group(1).rstrip(".,;:") if named else worded.group(0)
            return (f"refusing to load {path}: it is not a plain weights file, it references code or classes that "
                    f"weights_only=True does not allow ({detail}); it was refused and nothing in it was run; only "
                    "load it unrestricted if you trust its source")
        # e.g. an image or a truncated file given as weights
        return f"cannot read {path}: not a file written by torch.save (or it is truncated)"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"cannot read {path} as a PyTorch weights file ({type(error).__name__}: {first})"


def load_weights_file(path: str | Path) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line :class:`CheckpointError` messages:
    a file whose pickle would run code is refused, never executed."""
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError (unsafe), RuntimeError/EOFError (truncated, not a torch file)
        raise CheckpointError(describe_load_error(path, error)) from error
