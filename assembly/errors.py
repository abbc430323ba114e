"""The suite's error types that reach the console, and their exit codes.

The protocol: an exception class that stands for a known failure (not a bug) carries a class attribute ``exit_code``
(an int), and its message is one line about what the user named. ``UsageError`` (a bad command line or
configuration, exit 2) is defined here; the layers below define their own, with the attribute and without importing
this package (imports run one way: the entry points and this layer sit above them):

- ``datamodules.datasets.common.DatasetSetupError`` (missing root, wrong layout, no images): exit 2;
- ``datamodules.image_io.ImageReadError`` (an image/mask file named by the user, e.g. ``predict --mask``): exit 2;
- ``CheckpointError`` / ``CheckpointKeyError`` (a weights or checkpoint file that cannot be used: missing, unsafe
  pickle, wrong keys or shapes): exit 2;
- ``NonFiniteLossError`` (a NaN/Inf loss stops training on purpose): exit 1; its class attribute ``console_prefix``
  (``"training stopped: "``) heads the line.

:func:`known_error` turns any of them into ``(line, exit code)``; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os


class UsageError(Exception):
    """A bad command line or configuration: printed as one line, exit code 2."""

    exit_code = 2


def known_error(error: BaseException) -> tuple[str, int] | None:
    """``(one-line message, exit code)`` for an error that reaches the console and is not a bug; ``None`` else.

    An error whose class carries an int ``exit_code`` (see the module docstring) is reported with it. Safety net: an
    exception raised inside ``torch.load`` (a file refused by ``weights_only=True`` or not a torch file) is about a
    file the user named, exit 2 (commands should wrap their loads in a ``CheckpointError`` themselves).
    """
    code = getattr(type(error), "exit_code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        prefix = getattr(type(error), "console_prefix", "") or ""
        return prefix + " ".join(str(error).split()), code
    loaded = torch_load_argument(error)
    if loaded is not None:
        # Imported here: this branch runs only after torch.load failed, and `inpaint-suite --help` must stay torch-free.
        from networks.weights import describe_load_error

        return " ".join(describe_load_error(loaded, error).split()), 2
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
