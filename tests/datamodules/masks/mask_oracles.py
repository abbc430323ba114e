"""CPU reference oracles for the mask generators, written from ``/work/shared/specs/masks.md`` (one mask at a
time, numpy + OpenCV / PIL / SciPy, library rasterisers as the official code uses them).

Each oracle is ``fn(rng: numpy.random.Generator, height, width) -> (H, W) float32 array in {0, 1}`` (1 = hole).
They reproduce every distribution of the spec, not the official call order. ``ROW_ORACLES`` maps a statistics row
(``"lama_thick_256"``, ``"mat_small_512"``) to such a function; ``ORACLES`` maps a registry name to
``oracle(height, width, seed=0, rng=None)`` with the parameters of ``build_mask_generator(name)`` (what
``inpaint-suite bench`` calls).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

PI_LAMA = 3.1415926


def ui(rng: np.random.Generator, a: int, b: int, size=None):
    """``Ui[a, b]``, both ends included."""
    return rng.integers(a, b + 1, size=size)


# ---- LaMa (section 1) -------------------------------------------------------------------------------------------

LAMA_SETS = {
    "thin_256": dict(irr=dict(max_len=40, max_width=10, min_times=4, max_times=50), box=None),
    "thin_512": dict(irr=dict(max_len=100, max_width=20, min_times=4, max_times=70), box=None),
    "medium_256": dict(irr=dict(max_len=100, max_width=50, min_times=4, max_times=5),
                       box=dict(margin=0, bbox_min_size=10, bbox_max_size=50, min_times=1, max_times=5), box_p=0.3),
    "medium_512": dict(irr=dict(max_len=200, max_width=100, min_times=4, max_times=10),
                       box=dict(margin=0, bbox_min_size=30, bbox_max_size=150, min_times=1, max_times=5), box_p=0.3),
    "thick_256": dict(irr=dict(max_len=200, max_width=100, min_times=1, max_times=5),
                      box=dict(margin=10, bbox_min_size=30, bbox_max_size=150, min_times=1, max_times=3), box_p=0.3),
    "thick_512": dict(irr=dict(max_len=450, max_width=250, min_times=1, max_times=5),
                      box=dict(margin=10, bbox_min_size=30, bbox_max_size=300, min_times=1, max_times=4), box_p=0.3),
    "train_abl04": dict(irr=dict(max_len=200, max_width=100, min_times=1, max_times=5),
                        box=dict(margin=10, bbox_min_size=30, bbox_max_size=150, min_times=1, max_times=4), box_p=1.0),
}


def lama_irregular(rng, h, w, max_angle=4, max_len=60, max_width=20, min_times=0, max_times=10):
    mask = np.zeros((h, w), np.float32)
    n = ui(rng, min_times, max_times + 1)
    for i in range(n):
        x, y = ui(rng, 0, w - 1), ui(rng, 0, h - 1)
        for _ in range(ui(rng, 1, 5)):
            a = 0.01 + ui(rng, 0, max_angle - 1)
            if i % 2 == 0:
                a = 2 * PI_LAMA - a
            length = 10 + ui(rng, 0, max_len - 1)
            t = 5 + ui(rng, 0, max_width - 1)
            x1 = int(np.clip(int(x + length * np.sin(a)), 0, w))
            y1 = int(np.clip(int(y + length * np.cos(a)), 0, h))
            cv2.line(mask, (int(x), int(y)), (x1, y1), 1.0, int(t))
            x, y = x1, y1
    return mask


def lama_boxes(rng, h, w, margin=10, bbox_min_size=30, bbox_max_size=100, min_times=0, max_times=3):
    mask = np.zeros((h, w), np.float32)
    cap = min(bbox_max_size + 1, h - 2 * margin, w - 2 * margin)
    for _ in range(ui(rng, min_times, max_times)):
        bw = ui(rng, bbox_min_size, cap - 1)
        bh = ui(rng, bbox_min_size, cap - 1)
        x0 = ui(rng, margin, w - margin - bw)
        y0 = ui(rng, margin, h - margin - bh)
        mask[y0 : y0 + bh, x0 : x0 + bw] = 1
    return mask


def lama_mixed(rng, h, w, cfg):
    box_p = cfg.get("box_p", 0.0) if cfg["box"] else 0.0
    if rng.random() < box_p / (1.0 + box_p):
        return lama_boxes(rng, h, w, **cfg["box"])
    return lama_irregular(rng, h, w, **cfg["irr"])


def lama_eval_set(rng, size, cfg, aspect=4 / 3, n_candidates=5, max_ratio=0.5):
    """``gen_mask_dataset.py`` on a landscape source resized to short side ``size`` (retry if none survives)."""
    src_w = int(round(size * aspect))
    best = None
    for _ in range(64):  # like ours: give up after 64 rounds and keep the least-covered crop
        kept = []
        for _ in range(n_candidates):
            m = lama_mixed(rng, size, src_w, cfg)
            cols = np.flatnonzero(m.max(axis=0) > 0)
            right = cols[-1]
            lo = max(0, min(src_w - size - 1, right - size))
            hi = max(lo + 1, min(src_w - size, right))
            left = int(rng.integers(lo, hi))
            crop = m[:, left : left + size]
            if crop.mean() <= max_ratio:
                kept.append(crop)
            elif best is None or crop.mean() < best.mean():
                best = crop
        if kept:
            return kept[int(rng.integers(len(kept)))]
    return best


# ---- DeepFill v2 (section 2) and MAT / CoModGAN (section 3) -----------------------------------------------------

def deepfill_box(rng, h, w, bh=128, bw=128, max_dh=32, max_dw=32):
    # a canvas smaller than the box: the official code fails; like ours, the box then starts at 0
    top, left = ui(rng, 0, max(h - bh - 1, 0)), ui(rng, 0, max(w - bw - 1, 0))
    dh, dw = ui(rng, 0, max_dh // 2), ui(rng, 0, max_dw // 2)
    mask = np.zeros((h, w), np.float32)
    mask[top + dh : top + bh - dh, left + dw : left + bw - dw] = 1
    return mask


def _pil_brush(rng, h, w, n_strokes, nv_range, width_range, mean_angle=2 * math.pi / 5, angle_range=2 * math.pi / 15):
    """Brush strokes drawn with PIL (wide line + vertex discs), returns a PIL 'L' image (255 = hole)."""
    img = Image.new("L", (w, h), 0)
    avg_r = math.sqrt(h * h + w * w) / 8
    draw = ImageDraw.Draw(img)
    for _ in range(n_strokes):
        nv = ui(rng, *nv_range)
        a_min = mean_angle - rng.uniform(0, angle_range)
        a_max = mean_angle + rng.uniform(0, angle_range)
        angles = [rng.uniform(a_min, a_max) for _ in range(nv)]
        angles = [2 * math.pi - a if k % 2 == 0 else a for k, a in enumerate(angles)]
        verts = [(int(ui(rng, 0, w - 1)), int(ui(rng, 0, h - 1)))]
        for k in range(nv):
            r = np.clip(rng.normal(avg_r, avg_r // 2), 0, 2 * avg_r)
            nx = np.clip(verts[-1][0] + r * math.cos(angles[k]), 0, w)
            ny = np.clip(verts[-1][1] + r * math.sin(angles[k]), 0, h)
            verts.append((int(nx), int(ny)))
        width = int(rng.uniform(*width_range))
        draw.line(verts, fill=255, width=width)
        for vx, vy in verts:
            draw.ellipse((vx - width // 2, vy - width // 2, vx + width // 2, vy + width // 2), fill=255)
    return img


def deepfill_brush(rng, h, w):
    return (np.asarray(_pil_brush(rng, h, w, ui(rng, 1, 3), (4, 11), (12, 40))) > 0).astype(np.float32)


def deepfill_v2(rng, h, w):
    return np.maximum(deepfill_box(rng, h, w), deepfill_brush(rng, h, w))


def mat_random_mask(rng, s, counts, hole_range=(0.0, 1.0)):
    a, b, c = counts
    lo, hi = hole_range
    coef = min(lo + hi, 1.0)
    while True:
        mask = np.zeros((s, s), np.float32)

        def fill(m, mask=mask):
            bw, bh = ui(rng, 0, m - 1), ui(rng, 0, m - 1)
            x = ui(rng, -(bw // 2), s - bw + bw // 2 - 1)
            y = ui(rng, -(bh // 2), s - bh + bh // 2 - 1)
            mask[max(y, 0) : min(y + bh, s), max(x, 0) : min(x + bw, s)] = 1

        for count, m in ((int(a * coef), s // 2), (int(b * coef), s)):
            if count > 0:
                for _ in range(ui(rng, 0, count - 1)):
                    fill(m)
        n_brush = int(c * coef)
        brush = _pil_brush(rng, s, s, ui(rng, 0, n_brush - 1) if n_brush > 0 else 0, (4, 17), (12, 48))
        if rng.random() > 0.5:
            brush = brush.transpose(Image.FLIP_TOP_BOTTOM)
        if rng.random() > 0.5:
            brush = brush.transpose(Image.FLIP_LEFT_RIGHT)
        mask = np.maximum(mask, (np.asarray(brush) > 0).astype(np.float32))
        ratio = mask.mean()
        if lo < ratio < hi:
            return mask


MAT_COUNTS = {"comodgan": (10, 5, 20), "mat_large_512": (5, 3, 9), "mat_small_512": (3, 2, 4),
              "mat_large_256": (4, 2, 8), "mat_small_256": (2, 2, 3)}


# ---- AIM 2020 (section 4) ---------------------------------------------------------------------------------------

def aim_box(rng, h, w):
    mw = ui(rng, int(0.3 * w), int(0.7 * w))
    mh = ui(rng, int(0.3 * h), int(0.7 * h))
    x0, y0 = ui(rng, 0, w - mw), ui(rng, 0, h - mh)
    mask = np.zeros((h, w), np.float32)
    mask[y0 : y0 + mh, x0 : x0 + mw] = 1
    return mask


def aim_cellular_automata(rng, h, w, steps=(2, 6)):
    scale = int(rng.choice([1, 2, 4, 8]))
    r = ui(rng, *steps)
    g = rng.integers(0, 2, size=(h // scale, w // scale)).astype(np.uint8)
    for _ in range(r):
        g = ndimage.median_filter(g, size=3, mode="constant", cval=0)
    up = np.asarray(Image.fromarray(g * 255).resize((w, h), Image.NEAREST)) > 0
    if scale > 1:
        up = ndimage.binary_dilation(up, structure=ndimage.generate_binary_structure(2, 1))
    return up.astype(np.float32)


def aim_free_form(rng, h, w, official_axis_swap=True):
    mask = np.zeros((h, w), np.float32)
    for i in range(15 + int(rng.integers(9))):
        sx, sy = int(rng.integers(w)), int(rng.integers(h))
        for _ in range(1 + int(rng.integers(5))):
            a = 0.01 + int(rng.integers(4))
            if i % 2 == 0:
                a = 2 * PI_LAMA - a
            length = 10 + int(rng.integers(60))
            bw = 10 + int(rng.integers(15))
            ex, ey = int(sx + length * np.sin(a)), int(sy + length * np.cos(a))
            if official_axis_swap:
                cv2.line(mask, (sy, sx), (ey, ex), 1.0, bw)
            else:
                cv2.line(mask, (sx, sy), (ex, ey), 1.0, bw)
            sx, sy = ex, ey
    return mask


def aim_mixed(rng, h, w):
    return (aim_box, aim_cellular_automata, aim_free_form)[int(rng.integers(3))](rng, h, w)


# ---- HiFill templates (section 6) -------------------------------------------------------------------------------

def hifill_template(rng, h, w, templates: np.ndarray, exclude_last=True):
    n = len(templates) - (1 if exclude_last else 0)
    t = Image.fromarray(templates[int(ui(rng, 0, n - 1))].astype(np.uint8) * 255)
    if rng.random() < 0.5:
        t = t.transpose(Image.FLIP_LEFT_RIGHT)
    angle = rng.uniform(-90, 90)
    s = rng.uniform(0.8, 1.0)
    t = t.rotate(angle, resample=Image.NEAREST)
    ns = int(min(h, w) * s)
    t = np.asarray(t.resize((ns, ns), Image.NEAREST)) > 127
    out = np.zeros((h, w), np.float32)
    oy, ox = (h - ns) // 2, (w - ns) // 2
    out[oy : oy + ns, ox : ox + ns] = t
    return out


def center_box(rng, h, w, fraction=0.5):
    bh, bw = int(round(h * fraction)), int(round(w * fraction))
    out = np.zeros((h, w), np.float32)
    out[(h - bh) // 2 : (h - bh) // 2 + bh, (w - bw) // 2 : (w - bw) // 2 + bw] = 1
    return out


def _lama(key):
    return lambda rng, h, w: lama_eval_set(rng, h, LAMA_SETS[key])


def _lama_raw(key):
    return lambda rng, h, w: lama_mixed(rng, h, w, LAMA_SETS[key])


def _mat(key, hole_range=(0.0, 1.0)):
    return lambda rng, h, w: mat_random_mask(rng, h, MAT_COUNTS[key], hole_range)


# statistics rows -> oracle(rng, h, w) (names: registry name + preset / variant suffix)
ROW_ORACLES = {
    **{f"lama_{k}": _lama(k) for k in LAMA_SETS if k != "train_abl04"},
    **{f"lama_{k}_raw": _lama_raw(k) for k in LAMA_SETS},
    "deepfill_v2": deepfill_v2,
    "deepfill_v2_brush": deepfill_brush,
    "deepfill_v2_box": deepfill_box,
    **{k: _mat(k) for k in MAT_COUNTS},
    "aim_box": aim_box,
    "aim_cellular_automata": aim_cellular_automata,
    "aim_free_form": aim_free_form,
    "aim_mixed": aim_mixed,
    "center_box": center_box,
}


def _seeded(fn):
    """``fn(rng, h, w)`` -> ``oracle(height, width, seed=0, rng=None)`` (the calling convention of ``bench``)."""

    def oracle(height: int, width: int, seed: int = 0, rng: np.random.Generator | None = None) -> np.ndarray:
        return fn(rng if rng is not None else np.random.default_rng(seed), height, width)

    oracle.__name__ = getattr(fn, "__name__", "oracle")
    return oracle


# registry name -> oracle(height, width, seed=0, rng=None) with the same parameters as
# ``build_mask_generator(name)`` (its default preset), for ``inpaint-suite bench``
ORACLES = {
    "aim_box": _seeded(aim_box),
    "aim_cellular_automata": _seeded(aim_cellular_automata),
    "aim_free_form": _seeded(aim_free_form),
    "aim_mixed": _seeded(aim_mixed),
    "deepfill_v2": _seeded(deepfill_v2),
    "lama_thin": _seeded(_lama("thin_256")),
    "lama_medium": _seeded(_lama("medium_256")),
    "lama_thick": _seeded(_lama("thick_256")),
    "lama_train": _seeded(_lama_raw("train_abl04")),
    "mat_large": _seeded(_mat("mat_large_512")),
    "mat_small": _seeded(_mat("mat_small_512")),
    "comodgan": _seeded(_mat("comodgan")),
    "center_box": _seeded(center_box),
}


def _hifill_synthetic(rng, h, w, _cache={}):  # noqa: B006 - a deliberate module-level cache
    """HiFill templates oracle on the synthetic stand-in templates (what ``hifill_template`` uses by default)."""
    if "t" not in _cache:
        from datamodules.masks.hifill import synthetic_templates

        _cache["t"] = synthetic_templates()
    return hifill_template(rng, h, w, _cache["t"])


ROW_ORACLES["hifill_template"] = _hifill_synthetic
ORACLES["hifill_template"] = _seeded(_hifill_synthetic)


def sample_ratios(oracle, n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Hole ratios of ``n`` masks of ``oracle(rng, h, w)``."""
    rng = np.random.default_rng(seed)
    return np.array([float(oracle(rng, height, width).mean()) for _ in range(n)])
