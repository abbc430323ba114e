"""MAT / CoModGAN ``RandomMask`` (spec ``masks.md`` section 3): boxes + brush strokes with hole-range rejection.

Registered names: ``mat_large`` and ``mat_small`` (``preset=512|256``), ``comodgan`` (``hole_range`` selects the
training mask ``[0, 1]`` or a metric bucket such as ``[0.2, 0.4]``).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from .base import MaskGenerator, RejectionMixin
from .raster import SpanCanvas
from .rng import SampleRNG
from .strokes import brush_draw, brush_segments

log = logging.getLogger(__name__)

# (A half-size boxes, B full-size boxes, C brush strokes) per variant
COUNTS = {
    "comodgan": (10, 5, 20),
    "mat_large_512": (5, 3, 9),
    "mat_small_512": (3, 2, 4),
    "mat_large_256": (4, 2, 8),
    "mat_small_256": (2, 2, 3),
}


class RandomMaskGenerator(RejectionMixin, MaskGenerator):
    """``RandomMask(s, hole_range)``: ``Ui[0, int(A*coef)-1]`` half-size boxes, ``Ui[0, int(B*coef)-1]``
    full-size boxes, ``RandomBrush(int(C*coef))``; redraw until ``lo < hole ratio < hi``.

    Args:
        half_boxes, full_boxes, brush_tries: the counts ``(A, B, C)``.
        hole_range: ``[lo, hi]``; ``coef = min(lo + hi, 1)`` scales the counts.
        min_vertices, max_vertices, min_width, max_width: brush (``Ui[4, 17]`` vertices, width ``int(U[12, 48))``).
        flip_brush: the brush layer is flipped up-down and left-right with ``Bern(0.5)`` each (as in the code).
        max_rounds: rejection cap (then the last draw is kept and counted in ``last_fallbacks``).
    """

    def __init__(
        self,
        name: str = "comodgan",
        half_boxes: int = 10,
        full_boxes: int = 5,
        brush_tries: int = 20,
        hole_range: tuple[float, float] = (0.0, 1.0),
        min_vertices: int = 4,
        max_vertices: int = 17,
        min_width: float = 12,
        max_width: float = 48,
        flip_brush: bool = True,
        max_rounds: int = 64,
    ):
        super().__init__()
        lo, hi = (float(v) for v in hole_range)
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"{name}: hole_range must satisfy 0 <= lo < hi <= 1, got {hole_range!r}")
        self.name = name
        self.half_boxes, self.full_boxes, self.brush_tries = int(half_boxes), int(full_boxes), int(brush_tries)
        self.hole_range = (lo, hi)
        self.min_vertices, self.max_vertices = int(min_vertices), int(max_vertices)
        self.min_width, self.max_width = float(min_width), float(max_width)
        self.flip_brush, self.max_rounds = bool(flip_brush), int(max_rounds)
        coef = min(lo + hi, 1.0)
        self._n_half, self._n_full, self._n_brush = (int(k * coef) for k in (half_boxes, full_boxes, brush_tries))
        if max(self._n_half, self._n_full, self._n_brush) <= 1:
            raise ValueError(
                f"{name}: hole_range={list(hole_range)} gives counts int(k * coef) = "
                f"{(self._n_half, self._n_full, self._n_brush)}, so every mask would be empty and rejected"
            )
        for label, k in (("half-size boxes", self._n_half), ("full-size boxes", self._n_full),
                         ("brush strokes", self._n_brush)):
            if k == 0:
                # the official code raises here (numpy randint(0)); we draw none of them
                log.info("%s: int(count * coef) is 0 for %s at hole_range=%s: drawing none", name, label, hole_range)

    def _boxes(self, rng: SampleRNG, n_max: int, size_h: int, size_w: int, height: int, width: int):
        """``Fill(m)`` boxes: ``Ui[0, n_max - 1]`` of them, sides ``Ui[0, m-1]``, may hang over by half."""
        k = max(n_max - 1, 0)
        n = int(rng.randint(0, n_max - 1)) if n_max > 0 else 0
        w = rng.randint(0, size_w - 1, (k,))
        h = rng.randint(0, size_h - 1, (k,))
        x = rng.randint(-(w // 2), width - w + w // 2 - 1, (k,))
        y = rng.randint(-(h // 2), height - h + h // 2 - 1, (k,))
        return x, y, x + w, y + h, np.arange(k) < n

    def draw(self, rng: SampleRNG, height: int, width: int) -> dict[str, np.ndarray]:
        half = self._boxes(rng, self._n_half, height // 2, width // 2, height, width)
        full = self._boxes(rng, self._n_full, height, width, height, width)
        bx0, by0, bx1, by1, bvalid = (np.concatenate([a, b]) for a, b in zip(half, full))
        seg = brush_draw(
            rng, height, width, min_strokes=0, max_strokes=max(self._n_brush - 1, 0),
            min_vertices=self.min_vertices, max_vertices=self.max_vertices, min_width=self.min_width,
            max_width=self.max_width, flip=self.flip_brush,
        )
        return {**seg, "bx0": bx0, "by0": by0, "bx1": bx1, "by1": by1, "box_valid": bvalid}

    def rasterize(self, params, height, width, device) -> torch.Tensor:
        seg = brush_segments(params, height, width)
        canvas = SpanCanvas(len(params["bx0"]), height, width, device)
        canvas.add_capsules(seg["x0"], seg["y0"], seg["x1"], seg["y1"], seg["r"], seg["valid"])
        canvas.add_boxes(params["bx0"], params["by0"], params["bx1"], params["by1"], params["box_valid"])
        return canvas.mask()

    def params(self) -> dict:
        out = super().params()
        return {"preset": self.preset, **out} if hasattr(self, "preset") else out

    def accept(self, mask: torch.Tensor) -> torch.Tensor:
        ratio = mask.mean(dim=(1, 2, 3))
        lo, hi = self.hole_range
        return (ratio > lo) & (ratio < hi)

    def generate(self, indices, height, width, device, seed) -> torch.Tensor:
        return self.generate_with_rejection([self.rng(seed, i) for i in indices], height, width, device)


def _factory(kind: str):
    def build(preset: int | str = 512, **overrides) -> RandomMaskGenerator:
        key = f"mat_{kind}_{preset}"
        if key not in COUNTS:
            raise ValueError(f"mat_{kind}: preset must be one of [256, 512], got {preset!r}")
        a, b, c = COUNTS[key]
        gen = RandomMaskGenerator(**{"name": f"mat_{kind}", "half_boxes": a, "full_boxes": b, "brush_tries": c,
                                     **overrides})
        gen.preset = int(preset)
        return gen

    build.__name__ = f"mat_{kind}"
    build.__doc__ = f"MAT ``mask_generator_{{512,256}}{'' if kind == 'large' else '_small'}.py`` (``preset``)."
    return build


mat_large = _factory("large")
mat_small = _factory("small")


def comodgan(**overrides) -> RandomMaskGenerator:
    """CoModGAN ``training/mask_generator.py`` (counts 10/5/20); ``hole_range`` for the h0..h4 metric buckets."""
    a, b, c = COUNTS["comodgan"]
    return RandomMaskGenerator(**{"name": "comodgan", "half_boxes": a, "full_boxes": b, "brush_tries": c, **overrides})
