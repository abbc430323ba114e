"""The notebooks (``notebooks/*.py``, jupytext percent format) execute at a tiny scale and write their figures.

Each ``.py`` is converted to a notebook with jupytext and executed cell by cell with nbclient on a kernel running
*this* interpreter (a kernel spec written into a temporary folder whose argv is ``sys.executable -m
ipykernel_launcher``), so the venv's packages are used whatever ``python3`` kernel is installed on the machine.
Notebook execution (rather than running the ``.py`` as a script) is the check that matters: the paired file must
stay a valid notebook, every cell must run in order in a kernel, and the cell outputs are inspectable.

Results the notebooks read are generated here by running the suite's own code — never typed in:

- sweep tables: for a few sweeps, every row is scored by the evaluation harness (``InpaintingEvaluator``) on the
  built-in photos with a trivial predictor (the hole filled with the known pixels' mean colour), summarised with
  ``sweeps.table.summarize_report`` and written with ``sweeps.table.write_tables`` (the runner's own format and
  functions), profile ``smoke``;
- a harness ``test_report.json`` under a trial folder of ``aotgan_rates`` (per-bucket metrics).

Other results (``madf_supervision``, ``results/bench.json``) are deliberately left missing: the notebooks must then
print which command to run, and still draw what they can. The slow test adds a real CRA benchmark
(``inpaint_suite.commands.bench.bench_cra``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
NAMES = ["masks", "aim", "madf", "deepgin", "hifill", "aotgan"]

# figures each notebook must write (relative to the results folder) when its results are present / absent
EXPECTED = {
    "masks": ["figures/masks_samples.png", "figures/masks_histograms.png"],
    "aim": ["aim_track1/figures/aim_track1_overall.png", "aim_track1/figures/aim_track1_mask_types.png",
            "figures/aim_masks.png"],
    "madf": ["madf_pn/figures/madf_intermediate_outputs.png", "madf_pn/figures/madf_table2.png",
             "madf_supervision/figures/madf_table3.png"],
    "deepgin": ["aim_track1/figures/deepgin_mask_difficulty.png", "deepgin_components/figures/deepgin_table1.png",
                "deepgin_components/figures/deepgin_table1_deltas.png"],
    "hifill": ["hifill_resolution/figures/hifill_cra_steps.png", "hifill_resolution/figures/hifill_resampling_grid.png",
               "hifill_resolution/figures/hifill_resolution.png"],
    "aotgan": ["aotgan_rates/figures/aotgan_table4.png", "aotgan_rates/figures/aotgan_soft_labels.png",
               "aotgan_rates/figures/aotgan_buckets.png"],
}
# sweeps whose tables the fast test generates; the others stay missing on purpose
GENERATED = ["madf_pn", "deepgin_components", "aim_track1", "aotgan_rates"]
ROWS_SCORED = 3  # rows per generated table that get a harness report (time budget)
MISSING_LINES = {"madf": "ABLATION=madf_supervision", "hifill": "bench --sections cra"}


# --------------------------------------------------------------------------------------------- results
def _mask(kind: str, index: int, size: int, seed: int, bucket: str | None):
    """One ``(1, 1, size, size)`` mask of generator ``kind``; with ``bucket``, the first seed whose hole ratio falls
    in that bucket (a row with ``bucket:`` reads only that bucket of the report)."""
    import torch

    from datamodules.masks import build_mask_generator, hole_ratio_bucket

    generator = build_mask_generator(kind)
    for attempt in range(500):
        mask = generator(torch.tensor([index]), size, size, device="cpu", seed=seed * 1000 + attempt)
        if bucket is None or hole_ratio_bucket(mask.mean().item()) == bucket:
            return mask
    raise AssertionError(f"no {kind} mask in bucket {bucket} after 500 seeds")


def _harness_report(row, metrics: list[str], mask_types: list[str], size: int = 64, n: int = 4) -> dict:
    """The evaluation harness's report for one row: built-in photos, masks of ``mask_types`` (seeded by the row,
    in the row's bucket if it has one), prediction = the hole filled with the mean colour of the known pixels."""
    import torch

    from datamodules.datasets.sample import SampleDataset
    from evaluation import InpaintingEvaluator

    data = SampleDataset("test", image_size=size, length=n)
    images = torch.stack([data[i]["image"] for i in range(n)])
    types = [mask_types[i % len(mask_types)] for i in range(n)]
    masks = torch.cat([_mask(t, i, size, row.index, row.bucket) for i, t in enumerate(types)])
    known = 1 - masks
    mean = (images * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp_min(1)
    pred = images * known + mean * masks
    evaluator = InpaintingEvaluator(metrics=metrics, bootstrap_resamples=50,
                                    settings={"dataset": "sample", "mask_set": "seeded generators"})
    evaluator.update(pred, images, masks, mask_type=types, index=torch.arange(n))
    return evaluator.compute()


def write_sweep_table(results: Path, name: str) -> None:
    """``results/<name>/table.{md,csv,json}`` through the runner's own functions (smoke metrics, smoke profile)."""
    from evaluation.report import write_json
    from sweeps.row_configs import effective_metrics
    from sweeps.spec import load_sweep
    from sweeps.table import summarize_report, write_tables

    sweep = load_sweep(name)
    metrics, skipped = effective_metrics(sweep, "smoke")
    mask_types = (["aim_box", "aim_cellular_automata", "aim_free_form"] if sweep.group_by == "mask_type"
                  else ["mat_large"])
    out = []
    for row in sweep.rows:
        if row.index >= ROWS_SCORED:  # the rest stay "not run", as in a sweep restricted with --max-rows
            out.append({"label": row.label, "status": "not run", "reason": None, "trial": None})
            continue
        report = _harness_report(row, metrics, mask_types)
        trial_dir = results / name / "runs" / "notebook-test" / f"{row.index:02d}-row"
        trial_dir.mkdir(parents=True, exist_ok=True)
        write_json(report, trial_dir / "test_report.json")
        out.append({"label": row.label, "status": "complete", "reason": None, "trial": row.index,
                    "summary": summarize_report(report)})
    settings = {"profile": "smoke", "data": "sample (notebook test: mean-colour fill, nothing trained)",
                "not_measured": ", ".join(skipped) or None}
    write_tables(results / name, sweep, out, settings)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("results")
    for name in GENERATED:
        write_sweep_table(results, name)
    return results


# --------------------------------------------------------------------------------------------- execution
def _kernel_manager(tmp: Path):
    """A kernel manager whose kernel is this interpreter (no globally installed kernel spec needed)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = tmp / "kernels" / "inpaint-suite"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "inpaint-suite venv", "language": "python"}))
    ksm = KernelSpecManager(kernel_dirs=[str(tmp / "kernels")])
    return KernelManager(kernel_name="inpaint-suite", kernel_spec_manager=ksm)


def execute_notebook(name: str, tmp: Path) -> str:
    """Convert ``notebooks/<name>.py`` and execute it; returns the text of every stream output."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    client = NotebookClient(nb, km=_kernel_manager(tmp), timeout=600, allow_errors=False,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out.get("output_type") == "stream")


@pytest.fixture
def notebook_env(results_dir, monkeypatch):
    # the kernel inherits this process's environment
    monkeypatch.setenv("INPAINT_SUITE_RESULTS", str(results_dir))
    monkeypatch.setenv("INPAINT_SUITE_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("NO_ALBUMENTATIONS_UPDATE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return results_dir


def _assert_png(path: Path) -> None:
    assert path.is_file(), f"figure not written: {path}"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"not a PNG: {path}"
    from PIL import Image

    with Image.open(path) as image:
        assert min(image.size) > 100, f"{path}: suspiciously small figure {image.size}"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes_and_writes_figures(name, notebook_env, tmp_path):
    text = execute_notebook(name, tmp_path)
    for rel in EXPECTED[name]:
        _assert_png(notebook_env / rel)
    if name in MISSING_LINES:
        # a missing results file is named with the command that writes it
        assert "MISSING" in text and MISSING_LINES[name] in text, text[-2000:]


def test_tables_are_read_not_typed(results_dir):
    """The generated tables hold the harness's numbers, and the paper's come from the sweep files."""
    payload = json.loads((results_dir / "madf_pn" / "table.json").read_text())
    from sweeps.spec import load_sweep, paper_groups

    sweep = load_sweep("madf_pn")
    first = payload["rows"][0]
    assert first["metrics"]["psnr"]["ours"] is not None and first["metrics"]["psnr"]["ours"] > 5
    assert first["metrics"]["psnr"]["paper"] == paper_groups(sweep.rows[0])["overall"].get("psnr")
    assert first["metrics"]["fid"]["ours"] is None  # smoke: FID needs pretrained weights, not measured


def test_notebooks_are_paired_text_only():
    """The ``.py`` files are the source; no ``.ipynb`` is committed next to them."""
    for name in NAMES:
        text = (NOTEBOOKS / f"{name}.py").read_text()
        assert "# %%" in text and "jupytext" in text, name
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "notebooks"], capture_output=True, text=True)
    assert not [f for f in tracked.stdout.split() if f.endswith(".ipynb")]


@pytest.mark.slow
def test_hifill_with_a_real_cra_benchmark(results_dir, notebook_env, tmp_path):
    """``bench_cra`` at 512 and 1024 (CPU) written as ``bench.json`` the way ``inpaint-suite bench --json`` does;
    the HiFill notebook then draws measured time and memory (no MISSING line for the bench)."""
    import torch

    from inpaint_suite.commands.bench import bench_cra

    (results_dir / "bench.json").write_text(json.dumps({"cra": bench_cra(torch.device("cpu"), (512, 1024))}))
    text = execute_notebook("hifill", tmp_path)
    assert "bench --sections cra" not in text
    assert "512" in text and "measured" in text
    _assert_png(results_dir / "hifill_resolution" / "figures" / "hifill_resolution.png")
