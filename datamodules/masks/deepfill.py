"""DeepFill v2 training masks (spec ``masks.md`` section 2): ``bbox2mask`` box union ``brush_stroke_mask``.

Registered name: ``deepfill_v2``. Defaults are ``inpaint.yml`` at 256 px.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import MaskGenerator, RejectionMixin, stack_params
from .raster import SpanCanvas
from .rng import SampleRNG
from .strokes import brush_draw, brush_segments


class DeepFillV2MaskGenerator(RejectionMixin, MaskGenerator):
    """Union of one random box and free-form brush strokes.

    Args:
        box, brush: which parts to draw (both: the official training mask).
        box_height, box_width, max_delta_height, max_delta_width, vertical_margin, horizontal_margin: ``random_bbox``
            (top ``Ui[vm, H - vm - box_height - 1]``, shrink ``Ui[0, max_delta // 2]`` on each side).
        min_strokes, max_strokes, min_vertices, max_vertices, min_width, max_width, mean_angle, angle_range:
            ``brush_stroke_mask`` (vertices ``Ui[4, 11]``, width ``int(U[12, 40))``).
        official_hw_swap: the ``h, w = image.size`` quirk (column drawn from the height range); no effect on
            square canvases.
        per_batch: one mask for the whole batch (the official code); False draws one per sample.
        max_hole_ratio: if set, redraw masks whose hole ratio exceeds it (used by HiFill's 25 % cap).
    """

    def __init__(
        self,
        box: bool = True,
        brush: bool = True,
        box_height: int = 128,
        box_width: int = 128,
        max_delta_height: int = 32,
        max_delta_width: int = 32,
        vertical_margin: int = 0,
        horizontal_margin: int = 0,
        min_strokes: int = 1,
        max_strokes: int = 3,
        min_vertices: int = 4,
        max_vertices: int = 11,
        min_width: float = 12,
        max_width: float = 40,
        mean_angle: float = 2 * math.pi / 5,
        angle_range: float = 2 * math.pi / 15,
        official_hw_swap: bool = True,
        per_batch: bool = False,
        max_hole_ratio: float | None = None,
    ):
        super().__init__()
        if not (box or brush):
            raise ValueError("deepfill_v2: at least one of box / brush must be True")
        self.name = "deepfill_v2"
        self.box, self.brush = bool(box), bool(brush)
        self.box_height, self.box_width = int(box_height), int(box_width)
        self.max_delta_height, self.max_delta_width = int(max_delta_height), int(max_delta_width)
        self.vertical_margin, self.horizontal_margin = int(vertical_margin), int(horizontal_margin)
        self.min_strokes, self.max_strokes = int(min_strokes), int(max_strokes)
        self.min_vertices, self.max_vertices = int(min_vertices), int(max_vertices)
        self.min_width, self.max_width = float(min_width), float(max_width)
        self.mean_angle, self.angle_range = float(mean_angle), float(angle_range)
        self.official_hw_swap, self.per_batch = bool(official_hw_swap), bool(per_batch)
        self.max_hole_ratio = None if max_hole_ratio is None else float(max_hole_ratio)

    def draw(self, rng: SampleRNG, height: int, width: int) -> dict[str, np.ndarray]:
        top = rng.randint(self.vertical_margin, height - self.vertical_margin - self.box_height - 1)
        left = rng.randint(self.horizontal_margin, width - self.horizontal_margin - self.box_width - 1)
        dh = rng.randint(0, self.max_delta_height // 2)
        dw = rng.randint(0, self.max_delta_width // 2)
        box = {
            "bx0": np.array([left + dw]), "by0": np.array([top + dh]),
            "bx1": np.array([left + self.box_width - dw]), "by1": np.array([top + self.box_height - dh]),
            "box_valid": np.array([self.box]),
        }
        seg = brush_draw(
            rng, height, width, min_strokes=self.min_strokes, max_strokes=self.max_strokes,
            min_vertices=self.min_vertices, max_vertices=self.max_vertices, min_width=self.min_width,
            max_width=self.max_width, mean_angle=self.mean_angle, angle_range=self.angle_range,
            swap_hw=self.official_hw_swap,
        )
        if not self.brush:
            seg["s_n"] = np.asarray(0)
        return {**seg, **box}

    def rasterize(self, params, height, width, device) -> torch.Tensor:
        seg = brush_segments(params, height, width, swap_hw=self.official_hw_swap)
        canvas = SpanCanvas(len(params["s_n"]), height, width, device)
        canvas.add_capsules(seg["x0"], seg["y0"], seg["x1"], seg["y1"], seg["r"], seg["valid"])
        canvas.add_boxes(params["bx0"], params["by0"], params["bx1"], params["by1"], params["box_valid"])
        return canvas.mask()

    def accept(self, mask: torch.Tensor) -> torch.Tensor:
        return mask.mean(dim=(1, 2, 3)) <= self.max_hole_ratio

    def generate(self, indices, height, width, device, seed) -> torch.Tensor:
        draw_for = indices[:1] if self.per_batch else indices
        rngs = [self.rng(seed, i) for i in draw_for]
        if self.max_hole_ratio is None:
            mask = self.rasterize(stack_params([self.draw(r, height, width) for r in rngs]), height, width, device)
        else:
            mask = self.generate_with_rejection(rngs, height, width, device)
        return mask.expand(len(indices), -1, -1, -1).contiguous() if self.per_batch else mask
