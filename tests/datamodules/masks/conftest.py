"""Mask-generator tests: puts this folder on ``sys.path`` for ``mask_oracles`` / ``mask_stats``.

This folder deliberately has no ``__init__.py``: with ``tests/`` on ``sys.path`` (pyproject), a
``tests/datamodules/masks`` package could shadow the real ``datamodules.masks``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
