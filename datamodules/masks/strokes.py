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


# Each stroke family has ``*_draw`` (per sample, random numbers only, fixed shapes) and ``*_segments`` (batched,
# deterministic: turns the stacked draws ``(B, ...)`` into capsules ``(B, n_segments)``). The chains of vertices
# are sequential, so they are computed once per batch with a short loop over vertices instead of once per sample.


def lama_irregular_draw(
    rng: SampleRNG, height: int, width: int, *, max_angle: int, max_len: int, max_width: int, min_times: int,
    max_times: int, max_segments: int = 5,
) -> dict[str, np.ndarray]:
    """LaMa ``make_random_irregular_mask`` draws (line method), padded to ``max_times + 1`` strokes."""
    n_max = max_times + 1  # the ramp arithmetic of the official class adds one stroke
    n = rng.randint(min_times, max_times + 1)
    sx = rng.randint(0, width - 1, (n_max,))
    sy = rng.randint(0, height - 1, (n_max,))
    n_seg = rng.randint(1, max_segments, (n_max,))
    angle = 0.01 + rng.randint(0, max_angle - 1, (n_max, max_segments))
    even = (np.arange(n_max) % 2 == 0)[:, None]
    return {
        "s_n": np.asarray(n), "s_x": sx, "s_y": sy, "s_nseg": n_seg,
        "s_angle": np.where(even, 2 * LAMA_PI - angle, angle),
        "s_len": 10 + rng.randint(0, max_len - 1, (n_max, max_segments)),
        "s_thick": 5 + rng.randint(0, max_width - 1, (n_max, max_segments)),
    }


def lama_irregular_segments(p: dict[str, np.ndarray], height: int, width: int) -> dict[str, np.ndarray]:
    """Batched chains: end points ``clip(trunc(start + len * (sin, cos)), 0, (W, H))`` (far edge included)."""
    x, y = p["s_x"].astype(np.float64), p["s_y"].astype(np.float64)  # (B, S)
    k_max = p["s_angle"].shape[-1]
    xs, ys = [x], [y]
    for k in range(k_max):
        a, ln = p["s_angle"][..., k], p["s_len"][..., k]
        xs.append(np.clip(np.trunc(xs[-1] + ln * np.sin(a)), 0, width))
        ys.append(np.clip(np.trunc(ys[-1] + ln * np.cos(a)), 0, height))
    xs, ys = np.stack(xs, -1), np.stack(ys, -1)
    n_max = x.shape[-1]
    valid = (np.arange(n_max)[:, None] < p["s_n"][..., None, None]) & (
        np.arange(k_max) < p["s_nseg"][..., None])
    return _batched(xs, ys, opencv_radius(p["s_thick"]), valid)


def aim_free_form_draw(
    rng: SampleRNG, height: int, width: int, *, min_strokes: int, max_strokes: int, max_segments: int,
    max_angle: int, min_length: int, max_length: int, min_width: int, max_width: int,
    continuous_angles: bool = False, size_scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """AIM 2020 ``get_ff_mask`` draws, padded to ``max_strokes``.

    ``continuous_angles``: ``U[0, max_angle)`` radians instead of the official ``0.01 + Ui[0, max_angle-1]``.
    ``size_scale``: multiplies lengths and widths (the official sizes are absolute pixels: scale 1).
    """
    if continuous_angles:
        angle = rng.uniform(0.0, float(max_angle), (max_strokes, max_segments))
    else:
        angle = 0.01 + rng.randint(0, max_angle - 1, (max_strokes, max_segments))
    even = (np.arange(max_strokes) % 2 == 0)[:, None]
    length = rng.randint(min_length, max_length, (max_strokes, max_segments))
    thick = rng.randint(min_width, max_width, (max_strokes, max_segments))
    if size_scale != 1.0:
        length = np.round(length * size_scale).astype(np.int64)
        thick = np.maximum(np.round(thick * size_scale), 1).astype(np.int64)
    return {
        "s_n": rng.randint(min_strokes, max_strokes),
        "s_x": rng.randint(0, width - 1, (max_strokes,)),
        "s_y": rng.randint(0, height - 1, (max_strokes,)),
        "s_nseg": rng.randint(1, max_segments, (max_strokes,)),
        "s_angle": np.where(even, 2 * LAMA_PI - angle, angle),
        "s_len": length,
        "s_thick": thick,
    }


def aim_free_form_segments(p: dict[str, np.ndarray], official_axis_swap: bool) -> dict[str, np.ndarray]:
    """Batched chains without clipping: ``ex = trunc(sx + len sin a)``, ``ey = trunc(sy + len cos a)``.

    ``official_axis_swap``: the official code passes ``(sy, sx)`` to OpenCV, so ``sx`` (drawn in [0, W)) is the
    row and ``sy`` (drawn in [0, H)) the column; False uses ``sx`` as the column.
    """
    x, y = p["s_x"].astype(np.float64), p["s_y"].astype(np.float64)
    k_max = p["s_angle"].shape[-1]
    xs, ys = [x], [y]
    for k in range(k_max):
        a, ln = p["s_angle"][..., k], p["s_len"][..., k]
        xs.append(np.trunc(xs[-1] + ln * np.sin(a)))
        ys.append(np.trunc(ys[-1] + ln * np.cos(a)))
    xs, ys = np.stack(xs, -1), np.stack(ys, -1)
    n_max = x.shape[-1]
    valid = (np.arange(n_max)[:, None] < p["s_n"][..., None, None]) & (np.arange(k_max) < p["s_nseg"][..., None])
    col, row = (ys, xs) if official_axis_swap else (xs, ys)
    return _batched(col, row, opencv_radius(p["s_thick"]), valid)


def brush_draw(
    rng: SampleRNG, height: int, width: int, *, min_strokes: int, max_strokes: int, min_vertices: int,
    max_vertices: int, min_width: float, max_width: float, mean_angle: float = 2 * math.pi / 5,
    angle_range: float = 2 * math.pi / 15, swap_hw: bool = False, flip: bool = False,
) -> dict[str, np.ndarray]:
    """DeepFill v2 ``brush_stroke_mask`` / MAT ``RandomBrush`` draws, padded to ``max_strokes x max_vertices``.

    Strokes ``Ui[min_strokes, max_strokes]``, vertices ``Ui[min_vertices, max_vertices]``, width
    ``int(U[min_width, max_width))`` (radius ``w/2``: PIL wide line + vertex discs), step length
    ``clip(N(R, floor(R/2)), 0, 2R)`` with ``R = sqrt(H^2 + W^2) / 8``. ``swap_hw`` reproduces the DeepFill
    ``h, w = image.size`` quirk (column drawn from the height range). ``flip``: MAT's whole-layer flips
    (up-down, then left-right, ``Bern(0.5)`` each).
    """
    a_min = mean_angle - rng.uniform(0, angle_range, (max_strokes,))
    a_max = mean_angle + rng.uniform(0, angle_range, (max_strokes,))
    phi = rng.uniform(a_min[:, None], a_max[:, None], (max_strokes, max_vertices))
    even = (np.arange(max_vertices) % 2 == 0)[None, :]
    x_lim, y_lim = (height, width) if swap_hw else (width, height)
    avg_r = math.sqrt(height * height + width * width) / 8
    out = {
        "s_n": rng.randint(min_strokes, max_strokes),
        "s_nv": rng.randint(min_vertices, max_vertices, (max_strokes,)),
        "s_phi": np.where(even, 2 * math.pi - phi, phi),
        "s_x": rng.randint(0, x_lim - 1, (max_strokes,)),
        "s_y": rng.randint(0, y_lim - 1, (max_strokes,)),
        "s_r": np.clip(rng.normal(avg_r, math.floor(avg_r / 2), (max_strokes, max_vertices)), 0, 2 * avg_r),
        "s_w": np.floor(rng.uniform(min_width, max_width, (max_strokes,))),
        "s_flip": rng.bernoulli(0.5, (2,)) if flip else np.zeros(2, bool),
    }
    return out


def brush_segments(p: dict[str, np.ndarray], height: int, width: int, swap_hw: bool = False) -> dict[str, np.ndarray]:
    """Batched vertex chains: ``v' = int(clip(v + r (cos phi, sin phi), 0, lim))``; segments between vertices."""
    x_lim, y_lim = (height, width) if swap_hw else (width, height)
    x, y = p["s_x"].astype(np.float64), p["s_y"].astype(np.float64)
    v_max = p["s_phi"].shape[-1]
    xs, ys = [x], [y]
    for k in range(v_max):
        phi, r = p["s_phi"][..., k], p["s_r"][..., k]
        xs.append(np.floor(np.clip(xs[-1] + r * np.cos(phi), 0, x_lim)))
        ys.append(np.floor(np.clip(ys[-1] + r * np.sin(phi), 0, y_lim)))
    xs, ys = np.stack(xs, -1), np.stack(ys, -1)
    # whole-layer flips of pixel centres: v -> size - 1 - v
    flip_ud, flip_lr = p["s_flip"][..., 0, None, None], p["s_flip"][..., 1, None, None]
    ys = np.where(flip_ud, height - 1 - ys, ys)
    xs = np.where(flip_lr, width - 1 - xs, xs)
    n_max = x.shape[-1]
    valid = (np.arange(n_max)[:, None] < p["s_n"][..., None, None]) & (np.arange(v_max) < p["s_nv"][..., None])
    radius = np.broadcast_to((p["s_w"] / 2.0)[..., None], valid.shape)
    return _batched(xs, ys, radius, valid)


def _batched(xs, ys, radius, valid) -> dict[str, np.ndarray]:
    """Vertex chains ``(B, S, K+1)`` -> capsules flattened to ``(B, S*K)``."""
    b = xs.shape[0]
    return {
        "x0": xs[..., :-1].reshape(b, -1), "y0": ys[..., :-1].reshape(b, -1),
        "x1": xs[..., 1:].reshape(b, -1), "y1": ys[..., 1:].reshape(b, -1),
        "r": np.broadcast_to(radius, valid.shape).reshape(b, -1).astype(np.float64),
        "valid": valid.reshape(b, -1),
    }
