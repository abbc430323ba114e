"""Centred square hole: MADF "Regular" (128x128 in 256x256), AOT-GAN's non-``pconv`` training mask (rows and
columns ``[H/4, 3H/4)``) and AOT-GAN's ImageNet test mask (``size=224`` at 512). Deterministic (no randomness)."""

from __future__ import annotations

import numpy as np
import torch

from .base import MaskGenerator
from .raster import SpanCanvas


class CenterBoxMaskGenerator(MaskGenerator):
    """Hole rows ``[(H - h)//2, (H - h)//2 + h)``, columns likewise.

    Args:
        fraction: side as a fraction of each image side (0.5: a quarter of the area) when ``size`` is None.
        size: absolute side in px (int, or ``[h, w]``); overrides ``fraction``.
    """

    name = "center_box"

    def __init__(self, fraction: float = 0.5, size: int | tuple[int, int] | None = None):
        super().__init__()
        if size is None and not 0 < fraction <= 1:
            raise ValueError(f"center_box: fraction must be in (0, 1], got {fraction}")
        self.fraction = float(fraction)
        self.size = None if size is None else (tuple(int(s) for s in size) if isinstance(size, (list, tuple)) else int(size))

    def _hw(self, height: int, width: int) -> tuple[int, int]:
        if self.size is None:
            return int(round(self.fraction * height)), int(round(self.fraction * width))
        h, w = self.size if isinstance(self.size, tuple) else (self.size, self.size)
        return min(h, height), min(w, width)

    def generate(self, indices, height, width, device, seed) -> torch.Tensor:
        h, w = self._hw(height, width)
        top, left = (height - h) // 2, (width - w) // 2
        n = len(indices)
        canvas = SpanCanvas(n, height, width, device)
        col = np.ones((n, 1), dtype=np.int64)
        canvas.add_boxes(col * left, col * top, col * (left + w), col * (top + h), np.ones((n, 1), bool))
        return canvas.mask()
