"""Per-sample stroke parameters (CPU, numpy, vectorised over strokes) for the stroke-based generators.

Each function returns a dict of fixed-shape arrays (padded to the maximum number of segments, with ``valid``):
``x0, y0, x1, y1`` (pixel coordinates: x = column, y = row), ``r`` (capsule radius in px), ``valid``.
The algorithms follow docs spec ``masks.md`` sections 1.1 (LaMa), 2.2 (DeepFill v2 brush), 3 (MAT/CoModGAN
brush) and 4 (AIM 2020 free form).
"""

from __future__ import annotations

import math

import numpy as np

from .rng import SampleRNG

LAMA_PI = 3.1415926  # the constant used by the official code for the angle flip (not math.pi)


def opencv_radius(thickness) -> np.ndarray:
    """Capsule radius reproducing the area of ``cv2.line(..., thickness=t)``: ``ceil(t/2) + 0.3 + 0.5/t``.

    The spec's rule ``ceil(t/2) + 0.25`` leaves the area 5-8 % short of OpenCV 5.0 for t = 4..6 and 2-3 % for
    t = 7..11 (measured on 80 random segments per t); this fit is within 1.2 % of OpenCV's area for every t in
    4..50 and converges to the spec's rule for thick lines (see tests/datamodules/masks/test_raster.py).
    """
    t = np.maximum(np.asarray(thickness, dtype=np.float64), 1.0)
    return np.ceil(t / 2.0) + 0.3 + 0.5 / t


def _segments(x0, y0, x1, y1, r, valid) -> dict[str, np.ndarray]:
    return {
        "x0": np.asarray(x0, np.float64).reshape(-1),
        "y0": np.asarray(y0, np.float64).reshape(-1),
        "x1": np.asarray(x1, np.float64).reshape(-1),
        "y1": np.asarray(y1, np.float64).reshape(-1),
        "r": np.asarray(r, np.float64).reshape(-1),
        "valid": np.asarray(valid, bool).reshape(-1),
    }


def lama_irregular(
    rng: SampleRNG, height: int, width: int, *, max_angle: int, max_len: int, max_width: int, min_times: int,
    max_times: int, max_segments: int = 5,
) -> dict[str, np.ndarray]:
    """LaMa ``make_random_irregular_mask`` (line draw method): ``(max_times + 1) * 5`` padded segments."""
    n_max = max_times + 1  # the ramp arithmetic of the official class adds one stroke
    n = int(rng.randint(min_times, max_times + 1))
    sx = rng.randint(0, width - 1, (n_max,)).astype(np.float64)
    sy = rng.randint(0, height - 1, (n_max,)).astype(np.float64)
    n_seg = rng.randint(1, max_segments, (n_max,))
    angle = 0.01 + rng.randint(0, max_angle - 1, (n_max, max_segments))
    even = (np.arange(n_max) % 2 == 0)[:, None]
    angle = np.where(even, 2 * LAMA_PI - angle, angle)
    length = 10 + rng.randint(0, max_len - 1, (n_max, max_segments))
    thick = 5 + rng.randint(0, max_width - 1, (n_max, max_segments))
    xs, ys = [sx], [sy]
    for k in range(max_segments):
        xs.append(np.clip(np.trunc(xs[-1] + length[:, k] * np.sin(angle[:, k])), 0, width))
        ys.append(np.clip(np.trunc(ys[-1] + length[:, k] * np.cos(angle[:, k])), 0, height))
    xs, ys = np.stack(xs, 1), np.stack(ys, 1)
    valid = (np.arange(n_max)[:, None] < n) & (np.arange(max_segments)[None, :] < n_seg[:, None])
    return _segments(xs[:, :-1], ys[:, :-1], xs[:, 1:], ys[:, 1:], opencv_radius(thick), valid)


def aim_free_form(
    rng: SampleRNG, height: int, width: int, *, min_strokes: int, max_strokes: int, max_segments: int,
    max_angle: int, min_length: int, max_length: int, min_width: int, max_width: int, official_axis_swap: bool,
) -> dict[str, np.ndarray]:
    """AIM 2020 ``get_ff_mask``: ``max_strokes * max_segments`` padded segments.

    ``official_axis_swap``: the official code passes ``(sy, sx)`` to OpenCV, so ``sx`` (drawn in [0, W)) is the
    row and ``sy`` (drawn in [0, H)) the column; False uses ``sx`` as the column.
    """
    n = int(rng.randint(min_strokes, max_strokes))
    sx = rng.randint(0, width - 1, (max_strokes,)).astype(np.float64)
    sy = rng.randint(0, height - 1, (max_strokes,)).astype(np.float64)
    n_seg = rng.randint(1, max_segments, (max_strokes,))
    angle = 0.01 + rng.randint(0, max_angle - 1, (max_strokes, max_segments))
    even = (np.arange(max_strokes) % 2 == 0)[:, None]
    angle = np.where(even, 2 * LAMA_PI - angle, angle)
    length = rng.randint(min_length, max_length, (max_strokes, max_segments))
    thick = rng.randint(min_width, max_width, (max_strokes, max_segments))
    xs, ys = [sx], [sy]
    for k in range(max_segments):
        xs.append(np.trunc(xs[-1] + length[:, k] * np.sin(angle[:, k])))
        ys.append(np.trunc(ys[-1] + length[:, k] * np.cos(angle[:, k])))
    xs, ys = np.stack(xs, 1), np.stack(ys, 1)
    valid = (np.arange(max_strokes)[:, None] < n) & (np.arange(max_segments)[None, :] < n_seg[:, None])
    if official_axis_swap:
        col, row = ys, xs
    else:
        col, row = xs, ys
    return _segments(col[:, :-1], row[:, :-1], col[:, 1:], row[:, 1:], opencv_radius(thick), valid)


def brush_strokes(
    rng: SampleRNG, height: int, width: int, *, min_strokes: int, max_strokes: int, min_vertices: int,
    max_vertices: int, min_width: float, max_width: float, mean_angle: float = 2 * math.pi / 5,
    angle_range: float = 2 * math.pi / 15, swap_hw: bool = False,
) -> dict[str, np.ndarray]:
    """DeepFill v2 ``brush_stroke_mask`` / MAT ``RandomBrush`` strokes: ``max_strokes * max_vertices`` segments.

    Strokes ``Ui[min_strokes, max_strokes]``, vertices ``Ui[min_vertices, max_vertices]``, width
    ``int(U[min_width, max_width))``, radius ``w/2`` (PIL wide line + vertex discs).
    ``swap_hw`` reproduces the DeepFill ``h, w = image.size`` quirk (column drawn from the height range).
    """
    n = int(rng.randint(min_strokes, max_strokes))
    nv = rng.randint(min_vertices, max_vertices, (max_strokes,))
    a_min = mean_angle - rng.uniform(0, angle_range, (max_strokes,))
    a_max = mean_angle + rng.uniform(0, angle_range, (max_strokes,))
    phi = rng.uniform(a_min[:, None], a_max[:, None], (max_strokes, max_vertices))
    even = (np.arange(max_vertices) % 2 == 0)[None, :]
    phi = np.where(even, 2 * math.pi - phi, phi)
    x_lim, y_lim = (height, width) if swap_hw else (width, height)
    x = rng.randint(0, x_lim - 1, (max_strokes,)).astype(np.float64)
    y = rng.randint(0, y_lim - 1, (max_strokes,)).astype(np.float64)
    avg_r = math.sqrt(height * height + width * width) / 8
    radius = np.clip(rng.normal(avg_r, math.floor(avg_r / 2), (max_strokes, max_vertices)), 0, 2 * avg_r)
    stroke_w = np.floor(rng.uniform(min_width, max_width, (max_strokes,)))
    xs, ys = [x], [y]
    for k in range(max_vertices):
        xs.append(np.floor(np.clip(xs[-1] + radius[:, k] * np.cos(phi[:, k]), 0, x_lim)))
        ys.append(np.floor(np.clip(ys[-1] + radius[:, k] * np.sin(phi[:, k]), 0, y_lim)))
    xs, ys = np.stack(xs, 1), np.stack(ys, 1)
    valid = (np.arange(max_strokes)[:, None] < n) & (np.arange(max_vertices)[None, :] < nv[:, None])
    r = np.broadcast_to((stroke_w / 2.0)[:, None], valid.shape)
    return _segments(xs[:, :-1], ys[:, :-1], xs[:, 1:], ys[:, 1:], r, valid)
