"""AIM 2020 challenge masks (spec ``aim2020.md`` section 4, ``masks.md`` section 4): box, cellular automaton,
free-form strokes. All sizes are absolute pixels of the image being masked.

Registered names: ``aim_box``, ``aim_cellular_automata``, ``aim_free_form`` (and ``aim_mixed``: 1/3 each, built
in ``__init__`` as a mixture).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import MaskGenerator
from .raster import SpanCanvas
from .rng import SampleRNG, hash_bernoulli
from .strokes import aim_free_form_draw, aim_free_form_segments


class AimBoxMaskGenerator(MaskGenerator):
    """One rectangle: sides ``Ui[int(min_fraction*W), int(max_fraction*W)]`` (resp. H), uniform position."""

    name = "aim_box"

    def __init__(self, min_fraction: float = 0.3, max_fraction: float = 0.7):
        super().__init__()
        if not 0 < min_fraction <= max_fraction <= 1:
            raise ValueError(f"aim_box: need 0 < min_fraction <= max_fraction <= 1, got {min_fraction}, {max_fraction}")
        self.min_fraction, self.max_fraction = float(min_fraction), float(max_fraction)

    def draw(self, rng: SampleRNG, height: int, width: int) -> dict[str, np.ndarray]:
        mw = rng.randint(int(self.min_fraction * width), int(self.max_fraction * width))
        mh = rng.randint(int(self.min_fraction * height), int(self.max_fraction * height))
        x0 = rng.randint(0, width - mw)
        y0 = rng.randint(0, height - mh)
        return {"bx0": np.array([x0]), "by0": np.array([y0]), "bx1": np.array([x0 + mw]),
                "by1": np.array([y0 + mh]), "box_valid": np.array([True])}

    def rasterize(self, params, height, width, device) -> torch.Tensor:
        canvas = SpanCanvas(len(params["bx0"]), height, width, device)
        canvas.add_boxes(params["bx0"], params["by0"], params["bx1"], params["by1"], params["box_valid"])
        return canvas.mask()


class AimCellularAutomataMaskGenerator(MaskGenerator):
    """Majority-rule cellular automaton: ``Bern(p)`` grid at ``(H//s, W//s)``, ``steps`` 3x3 majority filters
    (zero border, >= 5 of 9), nearest-exact upsampling, one 3x3-cross dilation when ``s > 1``.

    Args:
        scales: the choices for ``s`` (uniform). steps: ``Ui[lo, hi]`` filter passes (code: [2, 6];
            paper: [2, 5]). p: initial fill probability.
    The initial grid comes from a counter-based hash keyed per sample (:func:`hash_bernoulli`), so CPU and GPU
    give identical masks.
    """

    name = "aim_cellular_automata"

    def __init__(self, scales: tuple[int, ...] = (1, 2, 4, 8), steps: tuple[int, int] = (2, 6), p: float = 0.5):
        super().__init__()
        if not scales or any(int(s) < 1 for s in scales):
            raise ValueError(f"aim_cellular_automata: scales must be positive integers, got {scales!r}")
        if len(steps) != 2 or not 0 <= int(steps[0]) <= int(steps[1]):
            raise ValueError(f"aim_cellular_automata: steps must be [lo, hi] with 0 <= lo <= hi, got {steps!r}")
        self.scales = tuple(int(s) for s in scales)
        self.steps = (int(steps[0]), int(steps[1]))
        self.p = float(p)

    def draw(self, rng: SampleRNG, height: int, width: int) -> dict[str, np.ndarray]:
        scale = self.scales[rng.choice([1 / len(self.scales)] * len(self.scales))]
        steps = rng.randint(self.steps[0], self.steps[1])
        return {"scale": np.array(scale), "steps": np.array(steps), "key": np.array(rng.key(), dtype=np.int64)}

    def rasterize(self, params, height, width, device) -> torch.Tensor:
        out = torch.zeros(len(params["scale"]), 1, height, width, device=device)
        for s in np.unique(params["scale"]):
            sel = np.flatnonzero(params["scale"] == s)
            keys = torch.as_tensor(params["key"][sel], device=device)
            steps = torch.as_tensor(params["steps"][sel], device=device).view(-1, 1, 1, 1)
            gh, gw = max(1, height // int(s)), max(1, width // int(s))
            grid = hash_bernoulli(keys, (1, gh, gw), self.p).to(torch.uint8)
            for k in range(int(params["steps"][sel].max())):
                new = (_box3_sum(grid) >= 5).to(torch.uint8)
                grid = torch.where(steps > k, new, grid)
            up = F.interpolate(grid, size=(height, width), mode="nearest-exact")
            if s > 1:
                up = _dilate_cross(up)
            out[torch.as_tensor(sel, device=device)] = up.to(torch.float32)
        return out


# The majority filter (``_box3_sum(g) >= 5``) is exactly Kornia's ``median_blur(g, 3, border_type="constant")`` and
# ``_dilate_cross`` exactly ``kornia.morphology.dilation(g, cross)`` (both tested), but Kornia's take float input and
# were 58x and 400x slower per call on the CPU (64 x 256², one thread), which made this generator 7.7x slower
# (0.57 -> 4.41 ms per mask; the OpenCV oracle takes 8.1): shifted adds on uint8 are kept.
def _box3_sum(g: torch.Tensor) -> torch.Tensor:
    """3x3 neighbourhood sum with zero border, by shifted adds (1-channel conv2d is slow on CPU). uint8 in/out."""
    p = F.pad(g, (1, 1, 1, 1))
    h = p[..., :, :-2] + p[..., :, 1:-1] + p[..., :, 2:]
    return h[..., :-2, :] + h[..., 1:-1, :] + h[..., 2:, :]


def _dilate_cross(g: torch.Tensor) -> torch.Tensor:
    """Binary dilation with the 3x3 cross (4-neighbourhood), zero border. uint8 in/out."""
    p = F.pad(g, (1, 1, 1, 1))
    c = p[..., 1:-1, 1:-1]
    return c | p[..., :-2, 1:-1] | p[..., 2:, 1:-1] | p[..., 1:-1, :-2] | p[..., 1:-1, 2:]


class AimFreeFormMaskGenerator(MaskGenerator):
    """AIM ``get_ff_mask``: ``Ui[15, 23]`` strokes of ``Ui[1, 5]`` OpenCV thick segments, four fixed angles
    (``0.01 + Ui[0, 3]`` rad, mirrored for even strokes), length ``Ui[10, 69]``, width ``Ui[10, 24]`` px.

    Official quirks, each with a switch (defaults reproduce the challenge code, spec ``aim2020.md`` 4.3):
        official_axis_swap: start coordinates swapped (see :func:`strokes.aim_free_form_segments`); on
            non-square images strokes stay in the top-left ``min(H, W)`` square.
        continuous_angles: False = the four fixed angles ``0.01 + Ui[0, 3]`` rad; True = ``U[0, 4)``.
        reference_size: None = absolute pixel lengths/widths (official: holes shrink on large images); an int
            scales lengths and widths by ``min(H, W) / reference_size`` (e.g. 256: the 256^2 statistics at any size).
    """

    name = "aim_free_form"

    def __init__(
        self,
        min_strokes: int = 15,
        max_strokes: int = 23,
        max_segments: int = 5,
        max_angle: int = 4,
        min_length: int = 10,
        max_length: int = 69,
        min_width: int = 10,
        max_width: int = 24,
        official_axis_swap: bool = True,
        continuous_angles: bool = False,
        reference_size: int | None = None,
    ):
        super().__init__()
        self.continuous_angles = bool(continuous_angles)
        self.reference_size = None if reference_size is None else int(reference_size)
        self.min_strokes, self.max_strokes, self.max_segments = int(min_strokes), int(max_strokes), int(max_segments)
        self.max_angle = int(max_angle)
        self.min_length, self.max_length = int(min_length), int(max_length)
        self.min_width, self.max_width = int(min_width), int(max_width)
        self.official_axis_swap = bool(official_axis_swap)

    def draw(self, rng: SampleRNG, height: int, width: int) -> dict[str, np.ndarray]:
        return aim_free_form_draw(
            rng, height, width, min_strokes=self.min_strokes, max_strokes=self.max_strokes,
            max_segments=self.max_segments, max_angle=self.max_angle, min_length=self.min_length,
            max_length=self.max_length, min_width=self.min_width, max_width=self.max_width,
            continuous_angles=self.continuous_angles,
            size_scale=1.0 if self.reference_size is None else min(height, width) / self.reference_size,
        )

    def rasterize(self, params, height, width, device) -> torch.Tensor:
        seg = aim_free_form_segments(params, self.official_axis_swap)
        canvas = SpanCanvas(len(params["s_n"]), height, width, device)
        canvas.add_capsules(seg["x0"], seg["y0"], seg["x1"], seg["y1"], seg["r"], seg["valid"])
        return canvas.mask()
