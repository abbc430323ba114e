"""The ``inpaint-suite`` console script: one entry point, thin subcommands.

``fit | validate | test | predict`` are LightningCLI with the packaged YAML configs (``--config aotgan_smoke`` or a
path). The other subcommands live in ``inpaint_suite.commands.<name>`` and are imported only when used, so
``inpaint-suite --help`` is fast and a missing optional dependency breaks only its own command.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
COMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("inpaint_suite.lightning_cli:main", "train a method (LightningCLI; --config NAME|PATH)"),
    "validate": ("inpaint_suite.lightning_cli:main", "validate a checkpoint (LightningCLI)"),
    "test": ("inpaint_suite.lightning_cli:main", "evaluate a checkpoint with the evaluation harness (LightningCLI)"),
    "predict": ("inpaint_suite.commands.predict:main",
                "inpaint an image (--image/--mask/--out) or a dataset (LightningCLI)"),
    "model-info": ("inpaint_suite.commands.model_info:main", "parameter counts and GFLOPs of a method or variant"),
    "masks": ("inpaint_suite.commands.masks:main", "export fixed evaluation masks, or print their statistics"),
    "evaluate": ("inpaint_suite.commands.evaluate:main", "metrics of a folder of results against ground truth"),
    "sweep": ("sweeps.runner:main", "train and evaluate every row of an ablation table (Optuna)"),
    "report": ("sweeps.report:main", "redraw a sweep's figures and report.md from its stored results (no training)"),
    "bench": ("inpaint_suite.commands.bench:main", "speed and memory of the methods, masks, metrics and CRA"),
    "gpu-check": ("inpaint_suite.commands.gpu_check:main",
                  "every GPU-only test and measurement in one guarded run (JSON + Markdown)"),
    "convert": ("inpaint_suite.commands.convert:main", "convert an official checkpoint to ours"),
}


class UsageError(Exception):
    """A bad command line: printed as one line, exit code 2."""


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: inpaint-suite COMMAND [options]   (inpaint-suite COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def fail(message: str, code: int = 2) -> int:
    print(f"inpaint-suite: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        return fail(f"unknown command {command!r}; choose from {', '.join(COMMANDS)}")
    target, _ = COMMANDS[command]
    module_name, function = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            return fail(f"command {command!r} is not available in this installation ({module_name} is missing)")
        raise
    try:
        code = getattr(module, function)(rest, command=command) if command in LIGHTNING_COMMANDS \
            else getattr(module, function)(rest)
    except UsageError as error:
        return fail(str(error))
    except Exception as error:
        known = known_error(error)
        if known is None:
            raise  # a genuine bug: keep the traceback
        return fail(*known)
    return int(code or 0)


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
    base = sys.modules.get("lightning_modules.base")
    if base is None:
        return None
    if isinstance(error, base.CheckpointError):
        return " ".join(str(error).split()), 2
    if isinstance(error, base.NonFiniteLossError):
        return "training stopped: " + " ".join(str(error).split()), 1
    loaded = torch_load_argument(error)
    if loaded is not None:  # torch.load itself refused or could not parse a file the user named
        return " ".join(base.describe_load_error(loaded, error).split()), 2
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


def entry_point() -> None:  # pragma: no cover - console script wrapper
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    # `python -m inpaint_suite.cli`: this file runs as `__main__`, but the commands raise
    # `inpaint_suite.cli.UsageError`, a different class object; dispatch through the imported module so they match.
    from inpaint_suite.cli import main as package_main

    sys.exit(package_main())
