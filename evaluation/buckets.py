"""Hole-ratio buckets used to split results (PConv / AOT-GAN convention: (0.01, 0.1], ..., (0.5, 0.6], plus > 60 %).

The project-wide definition is meant to live in ``datamodules.masks.buckets.hole_ratio_bucket``; when that module
exists it is used, otherwise the local definition below (same names and rule) is. ``BUCKET_SOURCE`` says which.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

__all__ = ["LOCAL_BUCKETS", "BUCKET_NAMES", "BUCKET_SOURCE", "OTHER_BUCKET", "hole_ratio_bucket", "bucket_rule"]

# (name, upper bound inclusive). A ratio r goes to the first bucket with r <= upper; 0 goes to "0-10%".
LOCAL_BUCKETS: tuple[tuple[str, float], ...] = (
    ("0-10%", 0.1),
    ("10-20%", 0.2),
    ("20-30%", 0.3),
    ("30-40%", 0.4),
    ("40-50%", 0.5),
    ("50-60%", 0.6),
    (">60%", math.inf),
)
OTHER_BUCKET = "other"


def _local_bucket(ratio: float) -> str:
    for name, upper in LOCAL_BUCKETS:
        # A tiny tolerance so that e.g. 26214/262144 (= 0.1 up to rounding) lands in the bucket it is meant for.
        if ratio <= upper + 1e-12:
            return name
    return LOCAL_BUCKETS[-1][0]


def _load_shared():
    """``datamodules/masks/buckets.py`` loaded on its own: importing the ``datamodules`` package would pull in
    kornia/albumentations (seconds) and break the evaluation -> networks-only import direction."""
    name = "datamodules.masks.buckets"
    if name in sys.modules:
        return sys.modules[name]
    try:
        spec = importlib.util.find_spec("datamodules")  # locates the package without executing it
        if spec is None or not spec.submodule_search_locations:
            return None
        file = Path(list(spec.submodule_search_locations)[0]) / "masks" / "buckets.py"
        if not file.is_file():
            return None
        file_spec = importlib.util.spec_from_file_location("_shared_hole_ratio_buckets", file)
        module = importlib.util.module_from_spec(file_spec)
        file_spec.loader.exec_module(module)
        return module
    except Exception:  # a half-written module: fall back to the local rule
        return None


_shared_module = _load_shared()
_shared_bucket = getattr(_shared_module, "hole_ratio_bucket", None)

if _shared_bucket is not None:
    _SHARED_NAMES = getattr(_shared_module, "BUCKETS", None) or getattr(_shared_module, "BUCKET_NAMES", None)
    BUCKET_SOURCE = "datamodules.masks.buckets.hole_ratio_bucket"
    BUCKET_NAMES: tuple[str, ...] = tuple(_SHARED_NAMES) if _SHARED_NAMES else tuple(n for n, _ in LOCAL_BUCKETS)
else:
    BUCKET_SOURCE = "evaluation.buckets (local: datamodules.masks.buckets not available)"
    BUCKET_NAMES = tuple(n for n, _ in LOCAL_BUCKETS)


def hole_ratio_bucket(ratio: float) -> str:
    """Bucket name of a hole ratio in [0, 1] (fraction of hole pixels)."""
    if _shared_bucket is not None:
        return str(_shared_bucket(float(ratio)))
    return _local_bucket(float(ratio))


def bucket_rule() -> str:
    """One line describing the rule, for reports."""
    if _shared_bucket is not None:
        return f"{BUCKET_SOURCE}; names {', '.join(BUCKET_NAMES)}"
    return "ratio r = mean(mask); (lo, hi] intervals of 10 % up to 60 % (r = 0 in 0-10%), then > 60 %"
