"""HiFill masks (spec ``masks.md`` section 6, ``hifill.md`` section 5): object-shape templates, and the
project's 50/50 mix of templates with free-form strokes capped at 25 % hole area.

Registered names: ``hifill_template`` (the released ``random_mask``) and ``hifill`` (the mixture).

Templates: HiFill's 100 ``mask_templates/*.png`` (256x256, 255 = hole) are not shipped with this project.
Pass ``template_dir`` (a folder of PNGs, read as first channel ``> 127`` = hole, sorted by file name). Without it,
a documented synthetic stand-in is used: 100 smooth star-shaped blobs (seeded), each covering U[14.5 %, 23.5 %] of
the 256x256 template (the official templates: 16.5-25.0 %, mean 20.3 %, but they reach the template border, so
rotation crops them; the compact blobs are not cropped, and the range is lowered so that the generator's hole
ratio at 512^2 matches the official mean 0.160 and std 0.031, measured 0.159 / 0.030 on 1,000 masks). For tests and smoke runs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .base import MaskGenerator
from .deepfill import DeepFillV2MaskGenerator
from .mixture import MixtureMaskGenerator
from .rng import SampleRNG

SYNTHETIC_TEMPLATE_COUNT = 100
TEMPLATE_SIZE = 256


def synthetic_templates(n: int = SYNTHETIC_TEMPLATE_COUNT, size: int = TEMPLATE_SIZE, seed: int = 0) -> np.ndarray:
    """``(n, size, size)`` bool blobs, area fraction ``U[0.145, 0.235]`` each (star-shaped, low harmonics)."""
    rs = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    out = np.zeros((n, size, size), dtype=bool)
    phis = np.linspace(0, 2 * math.pi, 720, endpoint=False)
    for k in range(n):
        area = rs.uniform(0.145, 0.235) * size * size
        harm = np.arange(2, 6)
        amp = rs.uniform(0.0, 0.25, harm.size) / harm
        phase = rs.uniform(0, 2 * math.pi, harm.size)

        def shape(phi, amp=amp, harm=harm, phase=phase):
            return 1.0 + (amp[:, None] * np.cos(harm[:, None] * np.asarray(phi)[None] + phase[:, None])).sum(0)

        r0 = math.sqrt(area / (0.5 * np.mean(shape(phis) ** 2) * 2 * math.pi))
        cx, cy = size / 2 + rs.uniform(-0.05, 0.05, 2) * size
        dx, dy = xx - cx, yy - cy
        rad = np.hypot(dx, dy)
        ang = np.arctan2(dy, dx)
        out[k] = rad <= r0 * shape(ang.reshape(-1)).reshape(size, size)
    return out


def load_templates(folder: str | Path) -> tuple[np.ndarray, list[str]]:
    """Read every ``*.png`` under ``folder`` (sorted names): ``(n, T, T)`` bool (first channel > 127) and names."""
    files = sorted(p for p in Path(folder).iterdir() if p.name.lower().endswith(".png"))
    if not files:
        raise FileNotFoundError(f"hifill: no .png templates in {folder}")
    arrays = []
    for f in files:
        a = np.asarray(Image.open(f))
        a = a[..., 0] if a.ndim == 3 else a
        arrays.append(a > 127)
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].shape[0] != arrays[0].shape[1]:
        raise ValueError(f"hifill: templates must be square and of one size, got {sorted(shapes)}")
    return np.stack(arrays), [f.name for f in files]


def save_templates(templates: np.ndarray, folder: str | Path) -> list[Path]:
    """Write ``(n, T, T)`` bool templates as RGB PNGs (255 = hole), names ``template_000.png`` ..."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, t in enumerate(templates):
        p = folder / f"template_{k:03d}.png"
        Image.fromarray(np.repeat((t.astype(np.uint8) * 255)[..., None], 3, axis=2)).save(p)
        paths.append(p)
    return paths


class HiFillTemplateMaskGenerator(MaskGenerator):
    """HiFill ``random_mask``: template ``Ui[0, n-2]`` (the last one is never used), horizontal flip ``Bern(0.5)``,
    rotation ``U[-90, 90)`` degrees (counter-clockwise, about the centre, nearest, fill 0), nearest resize to
    ``int(min(H, W) * s)`` with ``s ~ U[0.8, 1.0)``, centred zero padding.

    Args:
        template_dir: folder of template PNGs (None: the synthetic stand-in).
        exclude_last: reproduce the off-by-one (the last template in sorted order is never drawn).
        max_angle: rotation range in degrees; min_scale, max_scale: the scale ``s``.
    """

    name = "hifill_template"

    def __init__(
        self,
        template_dir: str | None = None,
        exclude_last: bool = True,
        max_angle: float = 90.0,
        min_scale: float = 0.8,
        max_scale: float = 1.0,
    ):
        super().__init__()
        self.template_dir = None if template_dir is None else str(template_dir)
        self.exclude_last = bool(exclude_last)
        self.max_angle, self.min_scale, self.max_scale = float(max_angle), float(min_scale), float(max_scale)
        if self.template_dir is None:
            self.templates = synthetic_templates()
            self.template_names = [f"synthetic_{k:03d}" for k in range(len(self.templates))]
        else:
            self.templates, self.template_names = load_templates(self.template_dir)
        n = len(self.templates) - (1 if self.exclude_last else 0)
        if n < 1:
            raise ValueError("hifill_template: need at least 2 templates with exclude_last=True")
        self.n_usable = n
        self._cache: dict[torch.device, torch.Tensor] = {}

    def draw(self, rng: SampleRNG, height: int, width: int) -> dict[str, np.ndarray]:
        return {
            "template": rng.randint(0, self.n_usable - 1),
            "flip": rng.bernoulli(0.5),
            "angle": rng.uniform(-self.max_angle, self.max_angle),
            "scale": rng.uniform(self.min_scale, self.max_scale),
        }

    def _templates_on(self, device: torch.device) -> torch.Tensor:
        key = torch.device(device)
        if key not in self._cache:
            self._cache[key] = torch.as_tensor(self.templates, device=key).reshape(-1)
        return self._cache[key]

    def rasterize(self, params, height, width, device) -> torch.Tensor:
        T = self.templates.shape[-1]
        flat = self._templates_on(device)
        dev = torch.device(device)
        n = len(params["template"])
        f64 = dict(device=dev, dtype=torch.float64)
        # 1) the flipped, rotated template at T x T. PIL rotate (counter-clockwise by `angle`, about (T/2, T/2)):
        #    inverse map of each pixel centre, then floor; outside -> 0
        a = torch.as_tensor(-np.radians(params["angle"]), **f64).view(n, 1, 1)
        c, s = torch.cos(a), torch.sin(a)
        d = torch.arange(T, **f64) + 0.5 - T / 2
        dx, dy = d.view(1, 1, T), d.view(1, T, 1)
        xin = torch.floor(c * dx + s * dy + T / 2)
        yin = torch.floor(-s * dx + c * dy + T / 2)
        ok = (xin >= 0) & (xin < T) & (yin >= 0) & (yin < T)
        flip = torch.as_tensor(params["flip"], device=dev).view(n, 1, 1)
        col = torch.where(flip, T - 1 - xin, xin).clamp(0, T - 1).long()
        row = yin.clamp(0, T - 1).long()
        tid = torch.as_tensor(params["template"], device=dev).view(n, 1, 1)
        rot = flat[(tid * T + row) * T + col] & ok  # (n, T, T) bool
        # 2) PIL NEAREST resize to n_s x n_s (source = floor((dst + 0.5) * T / n_s)), centred zero padding
        side = torch.as_tensor(np.floor(min(height, width) * params["scale"]).astype(np.int64), device=dev).view(n, 1)
        u = torch.arange(width, device=dev).view(1, -1) - (width - side) // 2  # (n, W)
        v = torch.arange(height, device=dev).view(1, -1) - (height - side) // 2  # (n, H)
        kk = torch.floor((u.double() + 0.5) * T / side).long().clamp(0, T - 1)
        ll = torch.floor((v.double() + 0.5) * T / side).long().clamp(0, T - 1)
        inside = ((v >= 0) & (v < side)).unsqueeze(2) & ((u >= 0) & (u < side)).unsqueeze(1)  # (n, H, W)
        b = torch.arange(n, device=dev).view(n, 1, 1)
        value = rot[b, ll.unsqueeze(2), kk.unsqueeze(1)]
        return (value & inside).to(torch.float32).unsqueeze(1)


def hifill(
    template_dir: str | None = None,
    template_weight: float = 0.5,
    max_stroke_hole_ratio: float = 0.25,
    exclude_last: bool = True,
):
    """HiFill training masks (project choice, ``hifill.md`` section 5): templates with weight ``template_weight``,
    otherwise DeepFill v2 brush strokes redrawn until the hole ratio is ``<= max_stroke_hole_ratio``."""
    templ = HiFillTemplateMaskGenerator(template_dir=template_dir, exclude_last=exclude_last)
    strokes = DeepFillV2MaskGenerator(box=False, brush=True, max_hole_ratio=max_stroke_hole_ratio)
    return MixtureMaskGenerator(
        [(templ, template_weight), (strokes, 1.0 - template_weight)],
        name="hifill",
        labels=["hifill_template", "hifill_strokes"],
    )
