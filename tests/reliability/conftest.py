"""Puts this folder on sys.path (``import faults``, ``import reliability_utils``) and provides the image folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from reliability_utils import write_image_folder  # noqa: E402


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """``train/`` (4) and ``val/`` (2) random PNGs; see :func:`reliability_utils.write_image_folder`."""
    return write_image_folder(tmp_path_factory.mktemp("images"))
