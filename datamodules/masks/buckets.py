"""Hole-ratio buckets for per-bucket reporting.

The NVIDIA irregular-mask test set (AOT-GAN, MADF) is bucketed by hole-to-image ratio into
(0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6]; the project adds ">60%" for everything above. Labels are
``"0-10%"``, ``"10-20%"``, ..., ``"50-60%"``, ``">60%"``. Intervals are closed on the right (a ratio of exactly 0.2
belongs to ``"10-20%"``), matching the dataset's definition; ratios at or below 0.01 are put in ``"0-10%"``.
"""

from __future__ import annotations

import math

BUCKETS: tuple[str, ...] = ("0-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-60%", ">60%")

# float tolerance so that e.g. 0.3 computed as 0.30000000000000004 still lands in "20-30%"
_EPS = 1e-9


def hole_ratio_bucket(ratio: float) -> str:
    """Bucket label of a hole ratio in [0, 1] (see module docstring)."""
    r = float(ratio)
    if math.isnan(r) or r < -_EPS or r > 1 + _EPS:
        raise ValueError(f"hole ratio must be in [0, 1], got {ratio!r}")
    if r > 0.6 + _EPS:
        return BUCKETS[-1]
    k = max(0, math.ceil(r * 10 - _EPS * 10) - 1)
    return BUCKETS[min(k, 5)]
