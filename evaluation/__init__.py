"""Evaluation harness: metric collection, feature networks' weights, reports, folder evaluation.

Submodules are imported lazily so that ``import evaluation.pretrained`` (used by the training losses) does not
pull in torchmetrics.
"""

from __future__ import annotations

import importlib

__all__ = ["InpaintingEvaluator"]

_LAZY = {"InpaintingEvaluator": "evaluation.collection"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'evaluation' has no attribute {name!r}")
