"""Parse a trial's config as the trial will, building nothing: ``--validate`` and the start of a run use it.

``sweeps.spec.check_keys`` checks the first level of every dotted key; this goes through the same
LightningCLI/jsonargparse parser ``python -m sweeps.trial`` uses (``assembly.lightning_cli.build_cli``) with
class instantiation switched off, so nested keys and value types (``trainer.max_steps=abc``) fail here, in
milliseconds, instead of in every trial. jsonargparse reports a nested, multi-line message; :func:`describe` turns it
into one line naming the key, the value and the expected type.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import yaml

from assembly.errors import UsageError
from assembly.lightning_cli import InpaintCLI, build_cli, one_line


class ParseOnlyCLI(InpaintCLI):
    """The trial's CLI up to (and including) its pre-instantiation checks; no model, data or trainer is built."""

    def _set_seed(self) -> None:  # parsing must not reseed this process (nor print "Seed set to")
        pass

    def instantiate_classes(self) -> None:
        pass


_KEY = re.compile(r'(?:Parser key|Key) "([^"]+)"')
_CLASS = re.compile(r"Problem with given class_path '([^']+)'")
_GROUP = re.compile(r"Group '([^']+)' does not accept option '([^']+)'")
_OPTION = re.compile(r"Option '([^']+)' is not accepted")
_EXPECTED = re.compile(r"Expected a <class '([^']+)'>")


def _lookup(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return "?"
        node = node[part]
    return node


def describe(message: str, config: dict[str, Any]) -> str:
    """One line ``KEY = VALUE: expected TYPE`` or ``unknown key KEY (= VALUE)`` from jsonargparse's report."""
    path: list[str] = []
    unknown = expected = None
    for line in message.splitlines():
        if m := _KEY.search(line):
            path.append(m.group(1))
        elif _CLASS.search(line):
            path.append("init_args")  # the keys that follow are the class's arguments
        if m := _GROUP.search(line):
            unknown = f"{m.group(1)}.{m.group(2)}"
        elif m := _OPTION.search(line):
            unknown = ".".join([*path, m.group(1)])
        if (m := _EXPECTED.search(line)) and m.group(1) != "NoneType" and expected is None:
            expected = (m.group(1), ".".join(path))
    if unknown:
        return f"unknown key {unknown} (= {_lookup(config, unknown)!r})"
    if expected:
        key = expected[1]
        return f"{key} = {_lookup(config, key)!r}: expected {expected[0]}"
    return one_line(message)


def parse_trial_config(config: dict[str, Any], where: str) -> None:
    """Raise a one-line :class:`UsageError` (``WHERE: ...``) if the trial's parser rejects ``config``."""
    with tempfile.TemporaryDirectory(prefix="sweep-check-") as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        try:
            with warnings.catch_warnings():  # the args are passed explicitly on purpose (as the trial does)
                warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter.*")
                build_cli(["--config", str(path)], run=False, cli_class=ParseOnlyCLI)
        except argparse.ArgumentError as error:
            raise UsageError(f"{where}: {describe(str(error), config)}") from None
        except UsageError as error:
            raise UsageError(f"{where}: {error}") from None
