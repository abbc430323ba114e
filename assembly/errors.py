"""The suite's error types that reach the console, and their exit codes.

``UsageError`` is a bad command line or configuration (one line, exit 2). Errors raised in the layers below
(data, weights files, training) are mapped to a line and an exit code by :func:`known_error`.
"""

from __future__ import annotations

import os
import sys


class UsageError(Exception):
    """A bad command line: printed as one line, exit code 2."""


def known_error(error: BaseException) -> tuple[str, int] | None:
    """``(one-line message, exit code)`` for the suite's own error types that reach the console; ``None`` else.

    - a dataset that cannot be set up (``DatasetSetupError``: missing root, wrong layout, no images) or an image
      file that cannot be read (``ImageReadError``, e.g. ``predict --mask``): exit 2;
    - a weights/checkpoint file that cannot be used (``CheckpointError``: missing, unsafe pickle, wrong keys or
      shapes) is bad user input: exit 2;
    - a NaN/Inf loss (``NonFiniteLossError``) stops training on purpose: exit 1, the message names step and term;
    - an exception raised inside ``torch.load`` (a file refused by ``weights_only=True`` or not a torch file) is
      about a file the user named: exit 2 (commands should wrap their loads; this is the safety net).
    Looked up in ``sys.modules`` so ``inpaint-suite --help`` never imports torch.
    """
    datasets = sys.modules.get("datamodules.datasets.common")
    if datasets is not None and isinstance(error, datasets.DatasetSetupError):  # missing root, empty split
        return " ".join(str(error).split()), 2
    image_io = sys.modules.get("datamodules.image_io")
    if image_io is not None and isinstance(error, image_io.ImageReadError):  # an image/mask file named by the user
        return " ".join(str(error).split()), 2
    weights = sys.modules.get("networks.weights")
    if weights is not None and isinstance(error, weights.CheckpointError):
        return " ".join(str(error).split()), weights.CheckpointError.exit_code
    nonfinite = sys.modules.get("lightning_modules.nonfinite")
    if nonfinite is not None and isinstance(error, nonfinite.NonFiniteLossError):
        return "training stopped: " + " ".join(str(error).split()), nonfinite.NonFiniteLossError.exit_code
    loaded = torch_load_argument(error)
    if loaded is not None and weights is not None:  # torch.load itself refused or could not parse a user's file
        return " ".join(weights.describe_load_error(loaded, error).split()), 2
    return None


def torch_load_argument(error: BaseException) -> str | None:
    """The file argument of the ``torch.load`` call that raised ``error`` (``None`` if it did not come from there)."""
    tb, found = error.__traceback__, None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "load" and code.co_filename.replace(os.sep, "/").endswith("torch/serialization.py"):
            target = tb.tb_frame.f_locals.get("f")
            found = str(getattr(target, "name", target))
        tb = tb.tb_next
    return found
