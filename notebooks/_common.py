"""Shared loading and plotting code of the notebooks (``notebooks/*.py``, jupytext percent format).

Every notebook reads what the suite wrote — ``results/<sweep>/table.json`` (``inpaint-suite sweep``),
``test_report.json`` (the evaluation harness), ``results/bench.json`` (``inpaint-suite bench``) — and the paper's
numbers from the sweep files (``sweeps/<name>.yaml``, ``paper:`` fields). No result is typed into a notebook.

Environment (so a test can point the notebooks at a temporary folder):

- ``INPAINT_SUITE_RESULTS``: the results folder (default ``<repo>/results``).
- ``INPAINT_SUITE_NOTEBOOK_SMOKE=1``: tiny sizes and sample counts (CI); figures say so in their titles.

The plotting code is :mod:`sweeps.figures` (shared with the reports ``inpaint-suite sweep`` and
``inpaint-suite report`` write); this file adds the notebooks' reading and labelling. Figures are written as PNG under ``<results>/<sweep>/figures/`` or ``<results>/figures/`` (see :func:`save`).
Images: ``(B, 3, H, W)`` in [-1, 1]; masks ``(B, 1, H, W)``, 1 = hole.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures go to PNG files; no display needed (CI, SSH)
import matplotlib.pyplot as plt  # noqa: E402, F401  (the notebooks import plt and np from here)
import numpy as np  # noqa: E402, F401

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from sweeps import figures  # noqa: E402  (the suite's plotting code: the sweep reports draw with it too)

RESULTS_DIR = Path(os.environ.get("INPAINT_SUITE_RESULTS") or REPO / "results").resolve()
SMOKE = os.environ.get("INPAINT_SUITE_NOTEBOOK_SMOKE", "") not in ("", "0", "false", "False")
SMOKE_NOTE = "SMOKE (tiny sizes, CI)" if SMOKE else ""


# --------------------------------------------------------------------------------------------- messages
def missing(what: str, command: str) -> None:
    """One clear line: what is missing and the command that writes it."""
    print(f"MISSING {what} -> run `{command}` (results folder: {RESULTS_DIR})")


def sweep_command(name: str) -> str:
    return f"make sweep ABLATION={name}  (or: inpaint-suite sweep {name} --results {RESULTS_DIR})"


# --------------------------------------------------------------------------------------------- reading
def load_table(name: str) -> dict[str, Any] | None:
    """``results/<name>/table.json`` (the sweep runner's payload: settings, metrics, rows) or ``None`` with a
    printed line saying which sweep to run."""
    path = RESULTS_DIR / name / "table.json"
    if not path.is_file():
        missing(str(path), sweep_command(name))
        return None
    payload = json.loads(path.read_text())
    settings = payload.get("settings") or {}
    print(f"{name}: {path} — profile {settings.get('profile')}, data {settings.get('data')}, "
          f"{len(payload.get('rows') or [])} records")
    return payload


def load_sweep_file(name: str):
    """The parsed ``sweeps/<name>.yaml`` (:class:`sweeps.spec.Sweep`): labels, metrics and the paper's numbers."""
    from sweeps.spec import load_sweep

    return load_sweep(name)


def paper_numbers(name: str, group: str = "overall") -> dict[str, dict[str, float | None]]:
    """``{row label: {metric: paper value}}`` from the sweep file (``paper:`` of each row, by group)."""
    from sweeps.spec import paper_groups

    sweep = load_sweep_file(name)
    return {row.label: dict(paper_groups(row).get(group) or {}) for row in sweep.rows}


def records(payload: dict[str, Any], group: str = "overall") -> list[dict[str, Any]]:
    """The table's records of one group (``overall``, a mask type or a bucket), in row order."""
    return [r for r in payload.get("rows") or [] if r.get("group") == group]


def groups(payload: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for r in payload.get("rows") or []:
        if r["group"] not in out:
            out.append(r["group"])
    return out


def find_files(root: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` under ``root`` (newest first); empty when ``root`` does not exist."""
    if not root.is_dir():
        return []
    return sorted(root.rglob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)


def find_reports(*names: str) -> list[Path]:
    """``test_report.json`` files (the evaluation harness's reports) under ``results/<name>/`` for each name."""
    out: list[Path] = []
    for name in names:
        out += find_files(RESULTS_DIR / name, "test_report.json")
    return out


def find_checkpoint(*names: str) -> Path | None:
    """The newest ``*.ckpt`` under ``results/<name>/`` (sweep trials keep checkpoints outside smoke runs)."""
    for name in names:
        found = find_files(RESULTS_DIR / name, "*.ckpt")
        if found:
            return found[0]
    return None


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


# --------------------------------------------------------------------------------------------- saving
def figures_dir(name: str | None = None) -> Path:
    """``<results>/<name>/figures`` (or ``<results>/figures``), created."""
    path = (RESULTS_DIR / name if name else RESULTS_DIR) / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save(fig, name: str | None, filename: str) -> Path:
    """Write ``fig`` as PNG into :func:`figures_dir` and print where."""
    path = figures_dir(name) / filename
    fig.savefig(path, dpi=90 if SMOKE else 130, bbox_inches="tight")
    print(f"saved {path}")
    return path


def headline(payload: dict[str, Any] | None, extra: str = "") -> str:
    """A figure subtitle naming the profile, so smoke numbers are never mistaken for the paper's."""
    parts = []
    if payload:
        s = payload.get("settings") or {}
        parts.append(f"profile: {s.get('profile')}")
        if s.get("data"):
            parts.append(f"data: {s.get('data')}")
        if s.get("profile") == "smoke":
            parts.append("NOT comparable with the paper")
    if extra:
        parts.append(extra)
    if SMOKE_NOTE:
        parts.append(SMOKE_NOTE)
    return " | ".join(parts)


# --------------------------------------------------------------------------------------------- plotting tables
def bars_vs_paper(payload: dict[str, Any] | None, sweep: str, metrics: list[str] | None = None,
                  group: str = "overall", title: str | None = None):
    """One panel per metric: our mean (± CI half-width) beside the paper's number, per row of the sweep file
    (:func:`sweeps.figures.bars_vs_paper`, the sweep reports' figure).

    Without ``payload`` (no results yet) only the paper's bars are drawn. Returns the figure.
    """
    spec = load_sweep_file(sweep)
    metrics = metrics or list(payload["metrics"] if payload else spec.metrics)
    paper = paper_numbers(sweep, group)
    ours = {r["row"]: r for r in (records(payload, group) if payload else [])}
    rows = []
    for row in spec.rows:  # every row of the file, measured or not; the paper's numbers in the suite's units
        cells = {}
        for metric in metrics:
            cell = dict(((ours.get(row.label) or {}).get("metrics") or {}).get(metric) or {})
            theirs = _float(paper.get(row.label, {}).get(metric))
            cell["paper"] = None if theirs is None else theirs * spec.paper_units.get(metric, 1.0)
            cells[metric] = cell
        rows.append({"row": row.label, "metrics": cells})
    name = f"{spec.paper.get('table', '')} ({sweep})"
    return figures.bars_vs_paper(rows, metrics, title=title or name,
                                 subtitle=headline(payload) or "paper only: no results yet")


def delta_heatmap(payload: dict[str, Any], metrics: list[str] | None = None, group: str = "overall", title: str = ""):
    """Δ = ours − paper per (row, metric) as a diverging heat map (:func:`sweeps.figures.delta_heatmap`)."""
    return figures.delta_heatmap(records(payload, group), metrics or list(payload["metrics"]), title=title,
                                 subtitle=headline(payload))


def print_table(payload: dict[str, Any] | None, group: str | None = None) -> None:
    """The table as text (our ± CI | paper | Δ per metric), for the notebook output."""
    if not payload:
        return
    metrics = payload["metrics"]
    print(" | ".join(["row", "group"] + [f"{m} ours/paper/Δ" for m in metrics]))
    for r in payload["rows"]:
        if group and r["group"] != group:
            continue
        cells = [_short(r["row"], 40), r["group"]]
        for m in metrics:
            c = r["metrics"].get(m) or {}
            cells.append("/".join(_fmt(c.get(k)) for k in ("ours", "paper", "delta")))
        print(" | ".join(cells))


def _float(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _fmt(x: Any) -> str:
    return "—" if x is None else f"{x:.4g}"


def _short(label: str, n: int = 28) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


# --------------------------------------------------------------------------------------------- images
to_display = figures.to_display  # (3, H, W) in [-1, 1] -> (H, W, 3) in [0, 1]
image_grid = figures.image_grid  # a grid of images with row and column titles


def sample_images(n: int, size: int):
    """``(n, 3, size, size)`` in [-1, 1]: deterministic test crops of the built-in photos."""
    import torch

    from datamodules.datasets.sample import SampleDataset

    data = SampleDataset("test", image_size=size, length=n)
    return torch.stack([data[i]["image"] for i in range(n)])


def sample_masks(spec: Any, n: int, size: int, seed: int = 0):
    """``(n, 1, size, size)`` hole masks of ``build_mask_generator(spec)`` for indices ``0..n-1``."""
    import torch

    from datamodules.masks import build_mask_generator

    return build_mask_generator(spec)(torch.arange(n), size, size, device="cpu", seed=seed)


def build_method(method: str, overrides: dict[str, Any] | None = None, checkpoint: Path | None = None):
    """``(model in eval mode, label)``: the method's packaged model with ``overrides``; weights from
    ``checkpoint`` when given, else random (the label says which). The checkpoint is read with
    ``weights_only=True`` (``load_weights_file``): a file whose pickle would run code is refused
    (``CheckpointError``), never executed."""
    from assembly.config import build_model, load_config
    from networks.weights import load_weights_file

    model = build_model(load_config(method)["model"],
                        {"vgg_weights": "random", **(overrides or {})})
    label = "RANDOM WEIGHTS (no checkpoint): shows the pipeline, not a trained model"
    if checkpoint is not None:
        state = load_weights_file(checkpoint)
        model.load_state_dict(state.get("state_dict", state), strict=False)
        label = f"checkpoint {checkpoint}"
    return model.eval(), label


def set_threads() -> None:
    """Few threads: the notebooks run beside other work (CI runners, shared CPUs)."""
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    torch.manual_seed(0)
