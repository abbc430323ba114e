"""Sweep reports, W&B comparison and progress (sweeps/report.py, figures.py, samples.py, wandb_log.py, progress.py).

The end-to-end test trains two tiny_demo rows (2 steps, 64 px) with W&B offline and checks every figure (through the
JSON sidecars the figure code writes), report.md, the samples, the offline W&B files (read with ``wandb_files``) and
the plain progress lines; then ``inpaint-suite report`` redraws everything from the stored results. The other tests
need no training.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import time

import pytest
import torch
from sweep_helpers import run_sweep, sweep_cmd, sweep_env
from wandb_files import logged_table, offline_runs

from sweeps.progress import PROGRESS_FILE, SweepProgress, fmt_seconds

ROWS = ["width 8", "width 16"]
FIGURES = ["bars", "deltas", "buckets", "mask_types", "curves", "samples"]


def _sidecar(figures, name):
    return json.loads((figures / f"{name}.json").read_text())


def _check_figures(out):
    figures = out / "figures"
    for name in FIGURES:
        assert (figures / f"{name}.png").stat().st_size > 1000, name
    bars = _sidecar(figures, "bars")
    assert [p["title"] for p in bars["panels"]] == ["psnr", "ssim", "l1"]
    for panel in bars["panels"]:
        assert panel["legend"] == ["ours", "paper"] and panel["xticklabels"][:2] == ROWS
    assert "profile: smoke" in bars["title"]
    for name in ("buckets", "mask_types", "curves"):
        for panel in _sidecar(figures, name)["panels"]:
            assert panel["legend"] == ROWS, (name, panel)
    curves = _sidecar(figures, "curves")
    assert {"train/g/total", "val/psnr"} <= {p["title"] for p in curves["panels"]}
    assert _sidecar(figures, "mask_types")["panels"][0]["xticklabels"] == ["aim_free_form"]
    samples = _sidecar(figures, "samples")
    assert [p.get("title") for p in samples["panels"][:4]] == ["input", *ROWS, "ground truth"]
    assert samples["indices"] == [0, 1, 2, 3]
    report = (out / "report.md").read_text()
    for name in FIGURES:
        assert f"](figures/{name}.png)" in report
    assert "| width 8 | overall | complete |" in report and "SMOKE profile" in report


def test_two_row_sweep_writes_figures_report_wandb_comparison_and_progress(tmp_path):
    done = run_sweep(tmp_path, "tiny_demo", "--max-rows", "2", "--max-steps", "2", "--progress-every", "1",
                     env=sweep_env(tmp_path, fake=False, WANDB_MODE="offline", WANDB_SILENT="true"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / "results" / "tiny_demo"
    assert f"report: {out / 'report.md'}" in done.stdout
    # not a terminal: plain progress lines
    assert re.search(r"\[sweep tiny_demo\] rows [01]/2 done \| row 'width (8|16)'", done.stdout), done.stdout[-3000:]
    _check_figures(out)
    table = json.loads((out / "table.json").read_text())
    ours = {r["row"]: r["metrics"] for r in table["rows"] if r["group"] == "overall"}

    # every row's trial saved the same 4 test items (images and masks), inpainted by itself
    samples = [torch.load(p, weights_only=True) for p in sorted(out.rglob("samples.pt"))]
    assert len(samples) == 2 and all(s["index"] == [0, 1, 2, 3] for s in samples)
    assert torch.equal(samples[0]["image"], samples[1]["image"]) and torch.equal(samples[0]["mask"], samples[1]["mask"])
    assert samples[0]["composite"].shape == (4, 3, 64, 64) and samples[0]["composite"].dtype == torch.uint8
    assert not torch.equal(samples[0]["composite"], samples[1]["composite"])  # two different models

    # W&B, offline: the row runs (grouped, config to repeat them, paper and deltas) and the comparison run
    runs = offline_runs(out)
    rows = {r["name"]: r for r in runs if r["job_type"] == "smoke"}
    assert set(rows) == {f"tiny_demo/{label}" for label in ROWS}
    for label in ROWS:
        run = rows[f"tiny_demo/{label}"]
        assert run["group"] == "tiny_demo"
        config = run["config"]
        assert config["method_class"] == "lightning_modules.tiny.TinyInpainter"
        assert config["cli"]["model"]["init_args"]["width"] == int(label.split()[1])
        assert config["trainer"]["max_steps"] == 2 and config["seed_everything"] == 0
        assert config["git_commit"] and config["sweep"]["row"] == label and config["sweep"]["profile"] == "smoke"
        logged = {k: v for step in run["history"] for k, v in step.items()}
        cell = ours[label]["psnr"]
        assert logged["paper/psnr"] == cell["paper"]
        assert logged["delta/psnr"] == pytest.approx(cell["ours"] - cell["paper"])
    comparison = next(r for r in runs if r["job_type"] == "comparison")
    assert comparison["group"] == "tiny_demo" and comparison["name"] == "tiny_demo/comparison"
    logged = logged_table(comparison, "comparison")
    columns = logged["columns"]
    assert {"row", "group", "psnr ours", "psnr paper", "psnr delta", "l1 ours", "l1 paper", "l1 delta"} <= set(columns)
    lines = {line[columns.index("row")]: dict(zip(columns, line)) for line in logged["data"]}
    assert set(ROWS) <= set(lines)
    assert lines["width 8"]["psnr delta"] == pytest.approx(ours["width 8"]["psnr"]["delta"])
    figures_logged = {k.split("/")[1] for step in comparison["history"] for k in step if k.startswith("figures/")}
    assert figures_logged == set(FIGURES)

    # rebuilt from the stored results, without training
    for path in (out / "figures").iterdir():
        path.unlink()
    (out / "report.md").unlink()
    redo = subprocess.run([_console(), "report", "tiny_demo", "--results", str(tmp_path / "results")],
                          capture_output=True, text=True, env=sweep_env(tmp_path, fake=False), cwd=tmp_path,
                          timeout=300)
    assert redo.returncode == 0, redo.stdout + redo.stderr
    _check_figures(out)


def _console() -> str:
    return sweep_cmd()[0]  # the inpaint-suite console script


def test_report_of_an_unknown_sweep_is_a_usage_error(tmp_path):
    redo = subprocess.run([_console(), "report", "tiny_demo", "--results", str(tmp_path)], capture_output=True,
                          text=True, env=sweep_env(tmp_path), timeout=120)
    assert redo.returncode == 2
    assert "table.json does not exist" in redo.stderr and "inpaint-suite sweep tiny_demo" in redo.stderr


# --------------------------------------------------------------------------------------------- progress
def _progress_file(folder, **values):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PROGRESS_FILE).write_text(json.dumps(values))


def test_progress_line_and_estimate(tmp_path):
    now = time.time()
    progress = SweepProgress("demo", total=3, done=1, interval=0)
    progress.start_row("b", tmp_path / "t1", max_steps=10)
    assert progress.line() == "[sweep demo] rows 1/3 done | row 'b': step ?/10 | time left ~?"
    progress.row_started = now - 14  # 4 s of start-up, then 5 steps in 10 s: 2 s a step
    _progress_file(tmp_path / "t1", step=5, max_steps=10, first_step=0, started=now - 10, time=now, stage="fit")
    snap = progress.snapshot()
    assert (snap["step"], snap["max_steps"], snap["done"], snap["total"]) == (5, 10, 1, 3)
    # this row: 5 steps left at 2 s = 10 s; the row after it: as long as this one is projected (4 + 20 s)
    assert snap["eta"] == pytest.approx(10 + 24, abs=1.5)
    progress.end_row(finished=True)
    assert progress.done == 2 and progress.snapshot()["row"] is None
    assert progress.line().startswith("[sweep demo] rows 2/3 done | time left ~")


def test_progress_on_a_terminal_is_a_rich_display(tmp_path):
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with SweepProgress("demo", total=2, interval=0, console=console) as progress:
        progress.start_row("a", tmp_path / "t0", max_steps=8)
        _progress_file(tmp_path / "t0", step=3, max_steps=8, first_step=0, started=time.time() - 3,
                       time=time.time(), stage="fit")
        progress.refresh()
        tasks = {t.description: t for t in progress._live.tasks}
        assert (tasks["row 'a'"].completed, tasks["row 'a'"].total) == (3, 8)
        assert tasks["sweep demo: rows"].total == 2
    assert "row 'a'" in console.file.getvalue()


def test_fmt_seconds():
    assert (fmt_seconds(None), fmt_seconds(59.6), fmt_seconds(3725)) == ("?", "1:00", "1:02:05")
