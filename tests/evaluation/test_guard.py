"""The torchvision import guard (spec §0, §7.8)."""

import subprocess
import sys

import pytest

from evaluation import guard


def test_broken_torchvision_gives_one_clear_message(monkeypatch):
    monkeypatch.setattr(guard, "_checked", False)
    monkeypatch.setattr(guard, "torchvision_installed", lambda: True)
    monkeypatch.setattr(guard, "torchvision_importable",
                        lambda: (False, "RuntimeError: operator torchvision::nms does not exist"))
    with pytest.raises(guard.TorchvisionMismatchError, match="does not match this torch is installed.*uninstall"):
        guard.check_torchvision()


def test_absent_or_working_torchvision_passes(monkeypatch):
    monkeypatch.setattr(guard, "_checked", False)
    monkeypatch.setattr(guard, "torchvision_installed", lambda: False)
    guard.check_torchvision()
    monkeypatch.setattr(guard, "_checked", False)
    monkeypatch.setattr(guard, "torchvision_installed", lambda: True)
    monkeypatch.setattr(guard, "torchvision_importable", lambda: (True, ""))
    guard.check_torchvision()


@pytest.mark.slow
def test_suite_then_torchmetrics_fid_imports_in_a_fresh_process():
    code = "import evaluation.collection; from torchmetrics.image.fid import FrechetInceptionDistance; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
