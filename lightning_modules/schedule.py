"""Loss schedules as data.

A method declares its objective as a list of :class:`LossTerm` rows — which loss function, with which weight, on which
generator output, for which optimiser, from which step to which step. The base module executes the rows; it never
branches on the method. The same rows print as the table shown at the start of training and are what the tests check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from rich.table import Table

OPTIMIZERS = ("generator", "discriminator")


@dataclass(frozen=True)
class LossTerm:
    """One row of a loss schedule.

    Attributes:
        name: unique label, used in logs (``train/g/<name>``) and by ``loss_weights`` overrides.
        fn: key of the module's loss-function table (``module.loss_functions()``).
        weight: multiplier of the term in its optimiser's total.
        on: the generator output the term reads (``"output"``, ``"composite"``, or a method's named output).
        optimizer: ``"generator"`` or ``"discriminator"``.
        start_step: first generator step (inclusive) at which the term is active.
        stop_step: generator step (exclusive) at which it stops; ``None`` = never.
    """

    name: str
    fn: str
    weight: float
    on: str = "output"
    optimizer: str = "generator"
    start_step: int = 0
    stop_step: int | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"loss term {self.name!r}: optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.stop_step is not None and self.stop_step <= self.start_step:
            raise ValueError(f"loss term {self.name!r}: stop_step {self.stop_step} <= start_step {self.start_step}")

    def active(self, step: int) -> bool:
        return step >= self.start_step and (self.stop_step is None or step < self.stop_step)


class LossSchedule:
    """An ordered, validated list of :class:`LossTerm` rows."""

    def __init__(self, terms: Iterable[LossTerm], weight_overrides: Mapping[str, float] | None = None) -> None:
        terms = list(terms)
        names = [t.name for t in terms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"loss schedule has duplicate term names: {dup}")
        overrides = dict(weight_overrides or {})
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ValueError(f"loss_weights names unknown loss terms {unknown}; the schedule's terms are {names}")
        self.terms: tuple[LossTerm, ...] = tuple(
            replace(t, weight=float(overrides[t.name])) if t.name in overrides else t for t in terms
        )

    def __iter__(self):
        return iter(self.terms)

    def __len__(self) -> int:
        return len(self.terms)

    def active(self, step: int, optimizer: str) -> list[LossTerm]:
        """Terms of ``optimizer`` active at generator step ``step`` (zero-weight terms are skipped)."""
        return [t for t in self.terms if t.optimizer == optimizer and t.weight != 0 and t.active(step)]

    def uses(self, optimizer: str) -> bool:
        return any(t.optimizer == optimizer and t.weight != 0 for t in self.terms)

    def phase_boundaries(self) -> list[int]:
        """Steps at which the set of active terms changes (for logging phase switches)."""
        steps = {t.start_step for t in self.terms} | {t.stop_step for t in self.terms if t.stop_step is not None}
        return sorted(s for s in steps if s > 0)

    def rows(self) -> list[dict]:
        """The schedule as plain dicts (for the printed table, JSON and tests)."""
        return [
            {
                "name": t.name,
                "fn": t.fn,
                "weight": t.weight,
                "on": t.on,
                "optimizer": t.optimizer,
                "steps": f"[{t.start_step}, {'∞' if t.stop_step is None else t.stop_step})",
            }
            for t in self.terms
        ]

    def render(self, title: str = "Loss schedule"):
        """A Rich table of the schedule."""
        table = Table(title=title)
        for col in ("term", "loss", "weight", "on output", "optimizer", "generator steps"):
            table.add_column(col)
        for r in self.rows():
            table.add_row(r["name"], r["fn"], f"{r['weight']:g}", r["on"], r["optimizer"], r["steps"])
        return table
