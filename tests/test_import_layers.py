"""Imports run one way (docs/DEVELOPING.md, "Packages and the direction of imports").

Every ``.py`` file of the suite's packages is parsed with :mod:`ast`; every ``import`` statement counts, at module
level or inside a function (a lazy import is still a dependency). Two rules:

1. **Layers.** A module imports its own package or a package of a lower layer, never one of its own layer (unless
   :data:`SIBLING_EDGES` allows that pair) or of a higher one. The layers, top to bottom, are :data:`LAYERS`.
2. **No cycles inside a package.** The modules of one package form no import circle (``sweeps.runner`` ↔
   ``sweeps.search`` was one), counting lazy imports too: a circle hidden in a function is still a circle, and the
   two modules cannot be understood (or moved) one without the other.

The checker is a few dozen lines of ``ast`` rather than import-linter or pydeps, neither of which the project
installs; its own tests build synthetic package trees, so the rule on the real tree cannot pass vacuously.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Top to bottom. Entry points (the ``inpaint-suite`` console script and the sweeps) do not import each other: the
# CLI starts ``sweep``/``report`` by the string in its command table (``inpaint_suite.cli.COMMANDS``).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("inpaint_suite", "sweeps"),
    ("assembly",),
    ("lightning_modules",),
    ("evaluation", "datamodules"),
    ("networks",),
)
# Same-layer imports that are allowed, as (importer, imported). None today: evaluation and datamodules are
# independent (a metric knows no dataset, a dataset no metric).
SIBLING_EDGES: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Import:
    """One imported module, as written in ``path`` at ``line``; ``lazy`` when the statement is inside a function."""

    importer: str  # dotted module name of the importing file
    target: str  # dotted module name imported (the most specific module or package that exists in the tree)
    path: Path
    line: int
    lazy: bool


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def python_files(root: Path, packages: tuple[str, ...]) -> list[Path]:
    return sorted(p for package in packages for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts)


def _resolve(name: str, root: Path) -> str:
    """The longest prefix of ``name`` that is a module or package under ``root`` (``name`` itself if none is)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:end])
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return ".".join(parts[:end])
    return name


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every import in ``path`` (module level and inside functions; ``if TYPE_CHECKING:`` blocks excluded: they
    never run), resolved to modules under ``root`` where they are the suite's own."""
    importer = module_name(path, root)
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for other in node.orelse:
                visit(other, lazy)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(importer, _resolve(alias.name, root), path, node.lineno, lazy))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the importer's package, one level up per extra dot
                package = importer.split(".") if is_package else importer.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:  # `from pkg import module` imports pkg.module
                found.append(Import(importer, _resolve(f"{base}.{alias.name}", root), path, node.lineno, lazy))
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), False)
    return found


def layer_violations(root: Path, layers=LAYERS, siblings=SIBLING_EDGES) -> list[str]:
    """``file:line: importer -> target (rule)`` for every import that runs up a layer or sideways within one."""
    rank = {package: depth for depth, group in enumerate(layers) for package in group}
    problems = []
    for path in python_files(root, tuple(rank)):
        for imp in imports_of(path, root):
            source, target = imp.importer.split(".")[0], imp.target.split(".")[0]
            if target not in rank or target == source:
                continue
            if rank[target] < rank[source]:
                rule = f"{source} sits below {target}: imports run downward only"
            elif rank[target] == rank[source] and (source, target) not in siblings:
                rule = f"{source} and {target} share a layer and may not import each other"
            else:
                continue
            problems.append(f"{path.relative_to(root)}:{imp.line}: {imp.importer} -> {imp.target} ({rule})")
    return problems


def import_cycles(root: Path, packages: tuple[str, ...]) -> list[str]:
    """One line per import circle among the modules of one package (lazy imports included), naming each edge's
    ``file:line``. A package's ``__init__`` counts as a module of its own (``pkg``)."""
    edges: dict[str, dict[str, Import]] = {}
    for path in python_files(root, packages):
        for imp in imports_of(path, root):
            same_package = imp.target.split(".")[0] == imp.importer.split(".")[0]
            if same_package and imp.target != imp.importer:
                edges.setdefault(imp.importer, {}).setdefault(imp.target, imp)
    cycles, seen = [], set()
    # Depth-first search from every module; a circle is reported once (by its set of modules).
    for start in sorted(edges):
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(edges.get(node, {})):
                if nxt == start:
                    key = frozenset(trail)
                    if key not in seen:
                        seen.add(key)
                        hops = [edges[a][b] for a, b in zip(trail, trail[1:] + [start])]
                        cycles.append(" -> ".join(trail + [start]) + "  ("
                                      + ", ".join(f"{h.path.relative_to(root)}:{h.line}" for h in hops) + ")")
                elif nxt not in trail and nxt > start:  # circles through smaller names were found from those
                    stack.append((nxt, trail + [nxt]))
    return cycles


PACKAGES = tuple(p for group in LAYERS for p in group)


# ------------------------------------------------------------------------------------------------- the real tree
def test_every_package_of_pyproject_has_a_layer():
    """A new top-level package must be placed in :data:`LAYERS` (pyproject lists what gets installed)."""
    text = (REPO_ROOT / "pyproject.toml").read_text()
    line = next(x for x in text.splitlines() if x.startswith("include = ["))
    installed = {name.strip(' "*') for name in line.split("[", 1)[1].rstrip("]").split(",")}
    assert installed == set(PACKAGES)


def test_imports_run_down_the_layers():
    problems = layer_violations(REPO_ROOT)
    assert not problems, "imports against the layers (docs/DEVELOPING.md):\n" + "\n".join(problems)


def test_no_import_cycle_inside_a_package():
    cycles = import_cycles(REPO_ROOT, PACKAGES)
    assert not cycles, "import circles (move the shared piece into a module both import):\n" + "\n".join(cycles)


# ------------------------------------------------------------------------------------------------- the checker
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


LAYOUT = (("top",), ("middle",), ("low_a", "low_b"))


def test_checker_names_an_upward_import_lazy_or_not(tmp_path):
    root = _tree(tmp_path, {
        "top/__init__.py": "", "top/cli.py": "from middle.helpers import f\n",
        "middle/__init__.py": "", "middle/helpers.py": "import os\n\ndef f():\n    from top.cli import g\n",
        "low_a/__init__.py": "", "low_a/x.py": "import top\n",
        "low_b/__init__.py": "",
    })
    problems = layer_violations(root, LAYOUT, frozenset())
    assert problems == [
        "low_a/x.py:1: low_a.x -> top (low_a sits below top: imports run downward only)",
        "middle/helpers.py:4: middle.helpers -> top.cli (middle sits below top: imports run downward only)",
    ]


def test_checker_refuses_siblings_unless_allowed(tmp_path):
    root = _tree(tmp_path, {
        "low_a/__init__.py": "", "low_a/x.py": "from low_b import y\n",
        "low_b/__init__.py": "", "low_b/y.py": "from ..low_a import x\n",  # relative, beyond the package
    })
    assert layer_violations(root, LAYOUT, frozenset()) == [
        "low_a/x.py:1: low_a.x -> low_b.y (low_a and low_b share a layer and may not import each other)",
        "low_b/y.py:1: low_b.y -> low_a.x (low_b and low_a share a layer and may not import each other)",
    ]
    assert layer_violations(root, LAYOUT, frozenset({("low_a", "low_b")})) == [
        "low_b/y.py:1: low_b.y -> low_a.x (low_b and low_a share a layer and may not import each other)",
    ]


def test_checker_accepts_downward_imports_and_type_checking_blocks(tmp_path):
    root = _tree(tmp_path, {
        "top/__init__.py": "from . import cli\n",
        "top/cli.py": "import middle.helpers as h\nfrom low_a import x\nimport torch\n",
        "middle/__init__.py": "",
        "middle/helpers.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from top.cli import g\n"
                             "else:\n    from low_b import y\n",
        "low_a/__init__.py": "", "low_a/x.py": "", "low_b/__init__.py": "", "low_b/y.py": "",
    })
    assert layer_violations(root, LAYOUT, frozenset()) == []
    helpers = {i.target: i.lazy for i in imports_of(root / "middle/helpers.py", root)}
    assert helpers == {"typing.TYPE_CHECKING": False, "low_b.y": False}  # the TYPE_CHECKING import never runs


def test_checker_finds_a_circle_hidden_in_functions(tmp_path):
    root = _tree(tmp_path, {
        "top/__init__.py": "",
        "top/runner.py": "def main():\n    from top.search import run\n",
        "top/search.py": "from top import shared\n\ndef run():\n    from top.runner import SweepRun\n",
        "top/shared.py": "",
        "middle/__init__.py": "", "middle/a.py": "from . import b\n", "middle/b.py": "from .c import z\n",
        "middle/c.py": "import middle.a\n",
    })
    assert import_cycles(root, ("top", "middle")) == [
        "middle.a -> middle.b -> middle.c -> middle.a  (middle/a.py:1, middle/b.py:1, middle/c.py:1)",
        "top.runner -> top.search -> top.runner  (top/runner.py:2, top/search.py:4)",
    ]
    (root / "top/search.py").write_text("from top import shared\n")
    (root / "middle/c.py").write_text("")
    assert import_cycles(root, ("top", "middle")) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_checker_sees_the_real_packages(package):
    """Guards against a vacuous pass on the real tree: every package has files and imports the checker reads."""
    files = python_files(REPO_ROOT, (package,))
    assert files and any(imports_of(path, REPO_ROOT) for path in files)
