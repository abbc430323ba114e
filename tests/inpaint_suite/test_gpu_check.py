"""``inpaint-suite gpu-check`` proven on the CPU before a GPU is lent: the toy run goes through every section and
writes the JSON and the Markdown; sections record a reason when they cannot run (behaviour only, no timing)."""

from __future__ import annotations

import json

import pytest
import torch

from inpaint_suite.cli import main
from inpaint_suite.commands import gpu_check

CUDA_ONLY_TESTS = '''
import pytest
import torch

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_the_gpu():
    assert torch.ones(1, device="cuda").item() == 1

def test_everywhere():
    assert False, "not a CUDA test: must be deselected"
'''


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    tests = out / "test_cuda_only.py"
    tests.write_text(CUDA_ONLY_TESTS)
    code = main(["gpu-check", "--device", "cpu", "--out", str(out), "--test-paths", str(tests),
                 "--methods", "tiny", "--modes", "fp32", "compile", "--compile-backend", "aot_eager", "--batch", "1", "--size", "32", "--repeat", "1",
                 "--generators", "center_box", "--mask-sizes", "32", "--mask-batch", "2", "--equality-masks", "2",
                 "--learn-method", "tiny", "--learn-steps", "2", "--learn-size", "32", "--learn-eval", "2",
                 "--cra-sizes", "64", "--official-methods", "aotgan"])
    return code, out


def test_toy_run_writes_json_and_markdown_with_every_section(toy_run):
    code, out = toy_run
    assert code == 0
    results = json.loads((out / "gpu_check.json").read_text())
    sections = results["sections"]
    assert list(sections) == list(gpu_check.SECTIONS)
    for name, entry in sections.items():
        # every section ran, or says why not
        assert entry["status"] in ("ok", "skipped"), (name, entry)
        assert entry["status"] == "ok" or entry["reason"]
    method = sections["methods"]["rows"][0]
    assert method["method"] == "tiny" and method["train_step_s"] > 0 and method["images_per_s"] > 0
    assert sections["methods"]["gemm_gflops_per_s"]["fp32"] > 0
    assert sections["masks"]["rows"][0]["generator"] == "center_box"
    assert sections["masks"]["cpu_equality"][0]["equal"] is True
    learning = sections["learning"]["rows"][0]
    assert learning["steps"] == 2 and learning["hole_l1_before"] > 0 and learning["hole_l1_after"] > 0
    assert sections["cra"]["rows"][0]["size"] == 64 and sections["cra"]["rows"][0]["seconds"] > 0
    official = sections["official"]["rows"][0]
    assert official["method"] == "aotgan" and official["size"] == 64  # raised to AOT-GAN's smallest input
    assert official["official_networks_step_s"] > 0 and official["ours_over_official"] > 0
    md = (out / "gpu_check.md").read_text()
    assert all(f"| {name} | ok |" in md for name in gpu_check.SECTIONS)
    assert "## masks: cpu equality" in md and "## official" in md
    compiled = sections["compile"]["rows"][0]
    assert compiled["mode"] == "compile" and compiled["train_step_s"] > 0


def test_only_the_cuda_tests_are_run(toy_run):
    _, out = toy_run
    entry = json.loads((out / "gpu_check.json").read_text())["sections"]["cuda_tests"]
    # the plain test (which would fail) is deselected; the CUDA one passes on a GPU, skips elsewhere
    assert entry["tests"] == 1 and entry["failures"] == entry["errors"] == 0
    assert entry["passed" if torch.cuda.is_available() else "skipped"] == 1


def test_a_failing_section_is_recorded_and_the_next_still_runs():
    results = {"sections": {}}
    gpu_check.run_section("broken", lambda: 1 / 0, results, deadline=float("inf"))
    gpu_check.run_section("fine", lambda: {"rows": [{"x": 1}]}, results, deadline=float("inf"))
    gpu_check.run_section("late", lambda: {"rows": []}, results, deadline=0.0)
    assert results["sections"]["broken"]["status"] == "error"
    assert "ZeroDivisionError" in results["sections"]["broken"]["error"]
    assert results["sections"]["fine"]["status"] == "ok"
    assert results["sections"]["late"]["status"] == "skipped" and "--budget" in results["sections"]["late"]["reason"]


def test_official_section_says_when_the_references_are_absent(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_check, "OFFICIAL_DIR", tmp_path)
    result = gpu_check.official_comparison(["aotgan"], torch.device("cpu"), 1, 64, 1, {})
    assert result == {"status": "skipped", "reason": "skipped: official references not present"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_without_a_device_is_one_line_and_exit_2(capsys):
    assert main(["gpu-check", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device cuda" in err and "cpu" in err


def test_sections_left_out_are_recorded_and_bad_sizes_refused(tmp_path, capsys):
    assert main(["gpu-check", "--device", "cpu", "--out", str(tmp_path), "--sections", "masks", "--generators",
                 "center_box", "--mask-sizes", "32", "--mask-batch", "2", "--equality-masks", "2"]) == 0
    sections = json.loads((tmp_path / "gpu_check.json").read_text())["sections"]
    assert sections["masks"]["status"] == "ok"
    assert all(sections[s] == {"status": "skipped", "reason": "not in --sections", "seconds": 0.0}
               for s in gpu_check.SECTIONS if s != "masks")
    capsys.readouterr()
    assert main(["gpu-check", "--device", "cpu", "--budget", "0"]) == 2
    assert "--budget 0.0: must be a positive number of seconds" in capsys.readouterr().err
