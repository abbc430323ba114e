"""Every ``torch.load`` in the project passes ``weights_only=True`` (a pickle loaded without it can run code).

The calls are found by parsing each tracked ``.py`` file outside ``tests/`` (packages, the notebooks' jupytext
sources, scripts) with :mod:`ast`, not by a regex, so a call spread over several lines, an alias (``import torch as
th``, ``from torch import load``) or ``torch.serialization.load`` cannot slip through. Tests are left out: some build
unsafe pickles on purpose (with ``torch.save``) and load them unrestricted to prove the payload is live.
"""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# module -> the names in it that unpickle a file and take weights_only
LOADERS = {"torch": {"load"}, "torch.serialization": {"load"}, "torch.hub": {"load_state_dict_from_url"}}

# (file, enclosing function): why an unrestricted load is allowed there. Keep this list empty if you can.
ALLOWED = {
    ("inpaint_suite/convert/common.py", "load_torch_file"):
        "`convert --trust-pickle`: the user's explicit opt-in, tried only after weights_only=True refused the file",
}


def _loader_names(tree: ast.AST) -> tuple[dict[str, str], set[str]]:
    """``(module aliases, function aliases)`` bound by the imports of ``tree``: ``{"th": "torch"}`` and
    ``{"load"}`` for ``import torch as th`` and ``from torch import load``."""
    modules: dict[str, str] = {"torch": "torch"}
    functions: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in LOADERS or alias.name.startswith("torch."):
                    # `import torch.serialization` binds `torch`; `import torch.hub as hub` binds `hub`
                    modules[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else "torch"
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                qualified = f"{node.module}.{alias.name}"
                if alias.name in LOADERS.get(node.module, ()):
                    functions.add(alias.asname or alias.name)
                elif qualified in LOADERS:
                    modules[alias.asname or alias.name] = qualified
    return modules, functions


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _is_loader(func: ast.AST, modules: dict[str, str], functions: set[str]) -> bool:
    if isinstance(func, ast.Name):
        return func.id in functions
    dotted = _dotted(func)
    if not dotted or "." not in dotted:
        return False
    head, _, rest = dotted.partition(".")
    if head not in modules:
        return False
    module, _, name = f"{modules[head]}.{rest}".rpartition(".")
    return name in LOADERS.get(module, ())


def unsafe_loads(source: str, filename: str) -> list[tuple[int, str, str]]:
    """``(line, enclosing function, problem)`` for each loader call of ``source`` without ``weights_only=True``
    written out as a literal (``False``, a variable, ``**kwargs`` or nothing: the default differs between torch
    releases and ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` turns it off)."""
    tree = ast.parse(source, filename)
    modules, functions = _loader_names(tree)
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if isinstance(node, ast.Call) and _is_loader(node.func, modules, functions):
            given = {kw.arg: kw.value for kw in node.keywords}
            value = given.get("weights_only")
            if not (isinstance(value, ast.Constant) and value.value is True):
                problem = ("no weights_only" if value is None and None not in given else
                           "weights_only from **kwargs" if value is None else
                           f"weights_only={ast.unparse(value)}")
                found.append((node.lineno, function, f"{ast.unparse(node.func)}(...) with {problem}"))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return found


def _notebook_source(path: Path) -> str:
    """The code cells of a ``.ipynb`` (magics commented out so the cells parse)."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    lines = []
    for cell in cells:
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            text = "".join(source) if isinstance(source, list) else source
            lines += ["# " + line if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines()]
    return "\n".join(lines)


def project_files() -> list[Path]:
    """Tracked ``.py`` and ``.ipynb`` files outside ``tests/`` (every ``.py`` under the repository, hidden folders
    aside, when this is not a git checkout)."""
    try:
        listed = subprocess.run(["git", "ls-files", "--", "*.py", "*.ipynb"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.split()
        files = [REPO / name for name in listed]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in REPO.rglob("*") if p.suffix in (".py", ".ipynb")
                 and not any(part.startswith(".") for part in p.relative_to(REPO).parts)]
    return sorted(p for p in files if p.relative_to(REPO).parts[0] != "tests" and p.is_file())


def test_every_torch_load_in_the_project_passes_weights_only_true():
    files = project_files()
    assert any(p.relative_to(REPO).parts[0] == "notebooks" for p in files)  # the notebooks' sources are scanned
    problems, allowed_seen = [], []
    for path in files:
        rel = path.relative_to(REPO).as_posix()
        source = _notebook_source(path) if path.suffix == ".ipynb" else path.read_text(encoding="utf-8")
        for line, function, problem in unsafe_loads(source, rel):
            if (rel, function) in ALLOWED:
                allowed_seen.append((rel, function))
            else:
                problems.append(f"{rel}:{line} ({function}): {problem}")
    assert not problems, "torch.load without weights_only=True:\n" + "\n".join(problems)
    assert len(allowed_seen) == len(set(allowed_seen)), f"more than one unrestricted load in {allowed_seen}"


# ------------------------------------------------------------------------------------------------ the checker itself
@pytest.mark.parametrize(("source", "line", "problem"), [
    ("import torch\nstate = torch.load(\n    path,\n    map_location='cpu',\n)\n", 2, "no weights_only"),
    ("import torch\nx = torch.load(p, map_location='cpu',\n               weights_only=False)\n", 2,
     "weights_only=False"),
    ("import torch\ndef f(p, trust):\n    return torch.load(p, weights_only=not trust)\n", 3,
     "weights_only=not trust"),
    ("import torch\ndef f(p, **kw):\n    return torch.load(p, **kw)\n", 3, "weights_only from **kwargs"),
    ("import torch as th\nth.load(p)\n", 2, "no weights_only"),
    ("from torch import load as tl\ntl(p, weights_only=False)\n", 2, "weights_only=False"),
    ("import torch.serialization\ntorch.serialization.load(p)\n", 2, "no weights_only"),
    ("from torch import serialization\nserialization.load(p)\n", 2, "no weights_only"),
    ("import torch\ntorch.hub.load_state_dict_from_url(url)\n", 2, "no weights_only"),
])
def test_the_checker_finds_unsafe_calls_even_across_lines(source, line, problem):
    found = unsafe_loads(source, "example.py")
    assert len(found) == 1 and found[0][0] == line and problem in found[0][2], found


def test_the_checker_accepts_safe_calls_and_names_the_function():
    safe = ("import torch\nimport json\n"
            "def read(p):\n    return torch.load(p, map_location='cpu',\n                      weights_only=True)\n"
            "json.load(open('x'))\n")
    assert unsafe_loads(safe, "safe.py") == []
    assert unsafe_loads("import torch\ndef trusted(p):\n    torch.load(p)\n", "x.py")[0][:2] == (3, "trusted")
