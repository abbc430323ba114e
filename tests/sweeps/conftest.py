"""Fixtures of the sweep tests; helpers live in ``sweep_helpers.py`` (this folder is put on ``sys.path``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture
def four_row_sweep(tmp_path: Path) -> Path:
    """A 4-row table over the tiny method (a copy of tiny_demo in tmp_path)."""
    text = (REPO / "sweeps" / "tiny_demo.yaml").read_text()
    path = tmp_path / "tiny_demo.yaml"
    path.write_text(text)
    return path
