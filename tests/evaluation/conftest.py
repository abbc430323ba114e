"""Shared fixtures for the evaluation tests."""

import os

import pytest
import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


@pytest.fixture(autouse=True)
def _single_thread():
    # The machine's 2 cores are shared: multi-threaded BLAS on tiny matrices oversubscribes and runs ~100x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
