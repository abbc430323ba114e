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

from assembly.errors import known_error

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
COMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("assembly.lightning_cli:main", "train a method (LightningCLI; --config NAME|PATH)"),
    "validate": ("assembly.lightning_cli:main", "validate a checkpoint (LightningCLI)"),
    "test": ("assembly.lightning_cli:main", "evaluate a checkpoint with the evaluation harness (LightningCLI)"),
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
    except Exception as error:
        known = known_error(error)  # UsageError and the lower layers' errors with an exit_code
        if known is None:
            raise  # a genuine bug: keep the traceback
        return fail(*known)
    return int(code or 0)


def entry_point() -> None:  # pragma: no cover - console script wrapper
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
