"""Shared test fixtures. Tests run on the CPU with tiny tensors; the real-data fixtures live in ../shared/fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
# One intra-op thread per test process: on 2 shared cores, multi-threaded kernels on small tensors oversubscribe and
# run several times slower (measured); parallelism comes from running test processes side by side instead.
torch.set_num_threads(int(os.environ.get("INPAINT_SUITE_TEST_THREADS", "1")))

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("INPAINT_SUITE_FIXTURES", REPO.parent / "shared" / "fixtures"))


@pytest.fixture
def fixtures_dir() -> Path:
    """``../shared/fixtures`` (override with INPAINT_SUITE_FIXTURES); skips the test when absent."""
    if not FIXTURES.is_dir():
        pytest.skip(f"real-data fixtures not found at {FIXTURES} (set INPAINT_SUITE_FIXTURES)")
    return FIXTURES


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same global RNG state, whatever ran before it."""
    torch.manual_seed(0)
