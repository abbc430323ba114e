"""LaMa masks (spec ``masks.md`` section 1): irregular thick strokes + rectangles, training and evaluation sets.

Registered names: ``lama_thin``, ``lama_medium``, ``lama_thick`` (``preset=256|512``, the
``random_{thin,medium,thick}_{256,512}`` evaluation configs) and ``lama_train`` (``abl-04-256-mh-dist``).

``pipeline="eval_set"`` (default for thin/medium/thick) reproduces ``bin/gen_mask_dataset.py``: candidates are drawn
on a landscape canvas ``H x round(W * source_aspect)`` (the short side of a resized Places image is the output
size), each is cropped to ``H x W`` with LaMa's ``propose_random_square_crop`` (the crop always contains the
right-most hole column), crops with hole ratio ``> max_hole_ratio`` are dropped, and one survivor of
``n_candidates`` is kept uniformly. If none survives, the official code leaves the image without a mask; here the
sample redraws (new candidates from its own stream), which is documented and counted in ``last_rounds``.
``pipeline="raw"`` draws one mask directly at ``H x W`` (the "raw S^2" rows of the spec's table).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from .base import MaskGenerator, as_index_list, stack_params
from .raster import SpanCanvas
from .rng import SampleRNG
from .strokes import lama_irregular_draw, lama_irregular_segments

# (irregular config, box config or None); names follow the official yaml keys. Box probability 0.3 vs irregular 1.
PRESETS: dict[str, dict[str, Any]] = {
    "thin_256": dict(max_len=40, max_width=10, min_times=4, max_times=50, box_proba=0.0),
    "thin_512": dict(max_len=100, max_width=20, min_times=4, max_times=70, box_proba=0.0),
    "medium_256": dict(max_len=100, max_width=50, min_times=4, max_times=5, box_proba=0.3,
                       box_margin=0, bbox_min_size=10, bbox_max_size=50, box_min_times=1, box_max_times=5),
    "medium_512": dict(max_len=200, max_width=100, min_times=4, max_times=10, box_proba=0.3,
                       box_margin=0, bbox_min_size=30, bbox_max_size=150, box_min_times=1, box_max_times=5),
    "thick_256": dict(max_len=200, max_width=100, min_times=1, max_times=5, box_proba=0.3,
                      box_margin=10, bbox_min_size=30, bbox_max_size=150, box_min_times=1, box_max_times=3),
    "thick_512": dict(max_len=450, max_width=250, min_times=1, max_times=5, box_proba=0.3,
                      box_margin=10, bbox_min_size=30, bbox_max_size=300, box_min_times=1, box_max_times=4),
    # training: configs/training/data/abl-04-256-mh-dist.yaml (irregular 1 : box 1)
    "train_abl04": dict(max_len=200, max_width=100, min_times=1, max_times=5, box_proba=1.0,
                        box_margin=10, bbox_min_size=30, bbox_max_size=150, box_min_times=1, box_max_times=4),
}


class LamaMaskGenerator(MaskGenerator):
    """LaMa ``MixedMaskGenerator`` with the irregular and box kinds (one kind per mask).

    Args:
        irregular_proba, box_proba: kind weights (renormalised; zero-weight kinds are dropped).
        max_angle, max_len, max_width, min_times, max_times: irregular strokes (config values; strokes
            ``Ui[min_times, max_times + 1]``, length ``10 + Ui[0, max_len-1]``, thickness ``5 + Ui[0, max_width-1]``).
        box_margin, bbox_min_size, bbox_max_size, box_min_times, box_max_times: rectangles.
        pipeline: ``"eval_set"`` (candidates, crop, ``> max_hole_ratio`` filter) or ``"raw"``.
        source_aspect: long/short side of the source images for ``eval_set`` (4/3: Places high-res).
        n_candidates: candidates per image (``variants_n``), max_hole_ratio: the crop filter threshold.
        max_rounds: rounds of candidates before giving up (then the least-covered crop is kept, with a warning).
    """

    def __init__(
        self,
        name: str = "lama",
        irregular_proba: float = 1.0,
        box_proba: float = 0.0,
        max_angle: int = 4,
        max_len: int = 60,
        max_width: int = 20,
        min_times: int = 0,
        max_times: int = 10,
        box_margin: int = 10,
        bbox_min_size: int = 30,
        bbox_max_size: int = 100,
        box_min_times: int = 0,
        box_max_times: int = 3,
        pipeline: str = "raw",
        source_aspect: float = 4 / 3,
        n_candidates: int = 5,
        max_hole_ratio: float = 0.5,
        max_rounds: int = 64,
    ):
        super().__init__()
        if pipeline not in ("raw", "eval_set"):
            raise ValueError(f"{name}: pipeline must be one of ['eval_set', 'raw'], got {pipeline!r}")
        if irregular_proba < 0 or box_proba < 0 or irregular_proba + box_proba <= 0:
            raise ValueError(f"{name}: irregular_proba and box_proba must be >= 0 with a positive sum")
        if source_aspect < 1:
            raise ValueError(f"{name}: source_aspect is long/short side and must be >= 1, got {source_aspect}")
        self.name = name
        self.irregular_proba, self.box_proba = float(irregular_proba), float(box_proba)
        self.max_angle, self.max_len, self.max_width = int(max_angle), int(max_len), int(max_width)
        self.min_times, self.max_times = int(min_times), int(max_times)
        self.box_margin, self.bbox_min_size, self.bbox_max_size = int(box_margin), int(bbox_min_size), int(bbox_max_size)
        self.box_min_times, self.box_max_times = int(box_min_times), int(box_max_times)
        self.pipeline, self.source_aspect = pipeline, float(source_aspect)
        self.n_candidates, self.max_hole_ratio = int(n_candidates), float(max_hole_ratio)
        self.max_rounds = int(max_rounds)

    # ---- one candidate -----------------------------------------------------------------------------------
    def draw(self, rng: SampleRNG, height: int, width: int) -> dict[str, np.ndarray]:
        total = self.irregular_proba + self.box_proba
        is_box = rng.choice([self.irregular_proba / total, self.box_proba / total]) == 1
        seg = lama_irregular_draw(
            rng, height, width, max_angle=self.max_angle, max_len=self.max_len, max_width=self.max_width,
            min_times=self.min_times, max_times=self.max_times,
        )
        if is_box:
            seg["s_n"] = np.asarray(0)
        box = self._draw_boxes(rng, height, width)
        box["box_valid"] &= is_box
        return {**seg, **box}

    def _draw_boxes(self, rng: SampleRNG, height: int, width: int) -> dict[str, np.ndarray]:
        k = max(self.box_max_times, 0)
        m = self.box_margin
        cap = min(self.bbox_max_size + 1, height - 2 * m, width - 2 * m)
        n = int(rng.randint(self.box_min_times, self.box_max_times))
        bw = rng.randint(self.bbox_min_size, cap - 1, (k,))
        bh = rng.randint(self.bbox_min_size, cap - 1, (k,))
        x0 = rng.randint(m, width - m - bw, (k,))
        y0 = rng.randint(m, height - m - bh, (k,))
        valid = (np.arange(k) < n) & (cap - 1 >= self.bbox_min_size)
        return {"bx0": x0, "by0": y0, "bx1": x0 + bw, "by1": y0 + bh, "box_valid": valid}

    def rasterize(self, params, height, width, device) -> torch.Tensor:
        return self._canvas(params, height, width, device).mask()

    def _canvas(self, params, height, width, device, record: bool = False) -> SpanCanvas:
        seg = lama_irregular_segments(params, height, width)
        canvas = SpanCanvas(len(params["s_n"]), height, width, device, record=record)
        canvas.add_capsules(seg["x0"], seg["y0"], seg["x1"], seg["y1"], seg["r"], seg["valid"])
        canvas.add_boxes(params["bx0"], params["by0"], params["bx1"], params["by1"], params["box_valid"])
        return canvas

    # ---- the evaluation-set pipeline ----------------------------------------------------------------------
    def generate(self, indices, height, width, device, seed) -> torch.Tensor:
        if self.pipeline == "raw":
            return super().generate(indices, height, width, device, seed)
        rngs = [self.rng(seed, i) for i in as_index_list(indices)]
        src_w = max(width, int(round(width * self.source_aspect)))
        out = torch.zeros(len(rngs), 1, height, width, device=device)
        pending = list(range(len(rngs)))
        rounds = 0
        # bound the candidate canvases held at once (~32 M pixels)
        group = max(1, (1 << 25) // (self.n_candidates * height * src_w))
        while pending and rounds < self.max_rounds:
            rounds += 1
            still = []
            for g0 in range(0, len(pending), group):
                still.extend(self._round(rngs, pending[g0 : g0 + group], out, height, width, src_w, device))
            pending = still
        self.last_rounds = rounds
        self.last_fallbacks = len(pending)
        if pending:
            warnings.warn(
                f"{self.name}: {len(pending)} sample(s) had no candidate crop with hole ratio <= "
                f"{self.max_hole_ratio} after {self.max_rounds} rounds (canvas {height}x{width} too small for the preset?); "
                "kept the least-covered crop",
                stacklevel=3,
            )
        return out

    def _round(self, rngs, pending, out, height, width, src_w, device) -> list[int]:
        """One round for the samples ``pending``: fills ``out`` where a candidate survives; returns the others."""
        k = self.n_candidates
        cand, crop_u, pick_u = [], [], []
        for i in pending:
            cand.extend(self.draw(rngs[i], height, src_w) for _ in range(k))
            crop_u.append(rngs[i].uniform(size=(k,)))
            pick_u.append(float(rngs[i].uniform()))
        params = stack_params(cand)
        u = torch.as_tensor(np.concatenate(crop_u), device=device)
        if src_w == width:
            crops = self._canvas(params, height, width, device).coverage()
        else:
            # spans on the full canvas give the right-most hole column; the crop is rasterised directly
            b, rows, xl, xr = self._canvas(params, height, src_w, device, record=True).recorded()
            right = torch.full((len(cand),), -1, dtype=torch.int64, device=device)
            right = right.scatter_reduce(0, b, xr, reduce="amax")
            left = self._crop_left(right, u, src_w, width)
            crop = SpanCanvas(len(cand), height, width, device)
            crop.add_spans(rows, xl - left[b], xr - left[b], torch.ones_like(rows, dtype=torch.bool), batch_index=b)
            crops = crop.coverage()  # (P*k, H, W) int16 {0, 1}
        ratio = (crops.sum(dim=(1, 2), dtype=torch.int64).double() / (height * width)).view(len(pending), k)
        ok = (ratio <= self.max_hole_ratio).cpu().numpy()
        still = []
        for j, i in enumerate(pending):
            alive = np.flatnonzero(ok[j])
            if alive.size == 0:
                # keep the least-covered crop in case no round ever succeeds (tiny canvases)
                out[i, 0] = crops[j * k + int(ratio[j].argmin())]
                still.append(i)
                continue
            c = alive[min(int(pick_u[j] * alive.size), alive.size - 1)]
            out[i, 0] = crops[j * k + c]
        return still

    def params(self) -> dict:
        out = super().params()
        if hasattr(self, "preset"):
            out = {"preset": self.preset, **out}
        return out

    @staticmethod
    def _crop_left(right: torch.Tensor, u: torch.Tensor, src_w: int, width: int) -> torch.Tensor:
        """``propose_random_square_crop(min_overlap=1)`` on the columns: the crop's left edge ``Ui[lo, hi-1]`` with
        ``lo = max(0, min(src_w-W-1, R-W))``, ``hi = max(lo+1, min(src_w-W, R))``, so column ``R`` (right-most
        hole) stays inside. ``right`` (n,) int64 (-1: empty candidate, then a uniform crop), ``u`` (n,) U[0,1)."""
        lo = torch.clamp(torch.minimum(torch.full_like(right, src_w - width - 1), right - width), min=0)
        hi = torch.maximum(lo + 1, torch.minimum(torch.full_like(right, src_w - width), right))
        lo = torch.where(right < 0, torch.zeros_like(lo), lo)
        hi = torch.where(right < 0, torch.full_like(hi, src_w - width + 1), hi)
        left = lo + (u * (hi - lo).double()).floor().long()
        return torch.minimum(left, hi - 1)


def _preset_factory(kind: str):
    def build(preset: int | str = 256, pipeline: str = "eval_set", **overrides) -> LamaMaskGenerator:
        key = f"{kind}_{preset}"
        if key not in PRESETS:
            raise ValueError(f"lama_{kind}: preset must be one of [256, 512], got {preset!r}")
        params = {**PRESETS[key], "pipeline": pipeline, **overrides}
        gen = LamaMaskGenerator(name=f"lama_{kind}", **params)
        gen.preset = int(preset)
        return gen

    build.__name__ = f"lama_{kind}"
    build.__doc__ = f"LaMa ``random_{kind}_{{256,512}}`` evaluation masks (``preset``); kwargs override the preset."
    return build


lama_thin = _preset_factory("thin")
lama_medium = _preset_factory("medium")
lama_thick = _preset_factory("thick")


def lama_train(pipeline: str = "raw", **overrides) -> LamaMaskGenerator:
    """LaMa training masks ``abl-04-256-mh-dist`` (irregular 0.5 / box 0.5, drawn on the 256x256 crop)."""
    return LamaMaskGenerator(name="lama_train", **{**PRESETS["train_abl04"], "pipeline": pipeline, **overrides})
