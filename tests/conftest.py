"""Shared test fixtures. Tests run on the CPU with tiny tensors; the real-data fixtures live in ../shared/fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("INPAINT_SUITE_FIXTURES", REPO.parent / "shared" / "fixtures"))


@pytest.fixture
def fixtures_dir() -> Path:
    """``../shared/fixtures`` (override with INPAINT_SUITE_FIXTURES); skips the test when absent."""
    if not FIXTURES.is_dir():
        pytest.skip(f"real-data fixtures not found at {FIXTURES} (set INPAINT_SUITE_FIXTURES)")
    return FIXTURES
