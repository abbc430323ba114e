"""What ``bench``, its ``learning`` section and ``gpu-check`` share: a method built for a measurement, and the tables
they print.

Its own module so that ``bench`` (which runs the ``learning`` section) and ``learning`` (which builds methods and
prints rows the same way) import it rather than each other.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from assembly.config import build_model, load_config


# Per-method options so one step measures the full objective at the benchmark size: DeepGIN past its L1 warm-up,
# HiFill's critic built for the input size.
def method_overrides(name: str, size: int) -> dict:
    return {"deepgin": {"warmup_steps": 0}, "hifill": {"image_size": size}}.get(name, {})


def build_method(name: str, overrides: dict | None = None):
    section = load_config(name).get("model", {})
    return build_model(section, {"vgg_weights": "random", **(overrides or {})})


def print_rows(title: str, rows: list[dict]) -> None:
    """A table of ``rows``. A long text column whose rows all say the same thing (where they say anything) shows a
    mark in the table and the text once, under it."""
    if not rows:
        return
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    marks = "†‡§¶"
    notes: dict[str, str] = {}
    for column in columns:
        values = {r[column] for r in rows if r.get(column) is not None}
        if len(rows) > 1 and len(values) == 1 and len(notes) < len(marks):
            (text,) = values
            if isinstance(text, str) and len(text) > 24:
                notes[column] = text
    mark_of = {c: marks[i] for i, c in enumerate(notes)}
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[mark_of[c] if c in notes and row.get(c) is not None else fmt(row.get(c)) for c in columns])
    console = Console(width=max(100, min(220, 16 * len(columns))))
    console.print(table)
    for column, text in notes.items():
        console.print(f"{mark_of[column]} {column}: {text}", markup=False, highlight=False)


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
