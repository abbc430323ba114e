"""Contextual Residual Aggregation (HiFill, spec section 2.7) as a high-resolution wrapper for any generator.

The generator only ever sees ``base_size`` x ``base_size`` (512 for HiFill). For an H x W photo:

1. resize to the square working size ``L = base_size * k`` (skipped when the photo already is L x L);
2. down-sample image and hole mask to the base size, zero the hole, run the generator -> ``x2`` (and scores);
3. residual ``R = (I_L - up(I_base)) * (1 - M_L)``, cut into ``grid x grid`` non-overlapping cells;
4. ``R~_j = sum_i S[j, i] R_i`` for every hole cell j, ``O = clip(up(x2 pasted) + R~)``;
5. hard paste into the original photo (known pixels are copied bit for bit).

Memory: the full-resolution work (residual, up-sampling, aggregation, paste) is streamed one row of cells at a
time, and only query cells that contain hole pixels are aggregated, so peak memory is the input, the output and
the aggregated hole cells plus one band: it grows about linearly with the number of pixels.

Shapes: images ``(B, 3, H, W)`` in [-1, 1], masks ``(B, 1, H, W)`` in {0, 1}, 1 = hole; scores ``(B, N, N)``
``[query, key]`` over row-major cells, N = grid * grid. Pure torch; no I/O.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from networks.hifill import CELL_SIZE, HiFillGenerator, attention_scores

DOWNSAMPLE_MODES = ("average", "nearest", "bilinear", "bicubic", "area")
UPSAMPLE_MODES = ("nearest", "bilinear", "bicubic")


# ----------------------------------------------------------------------------------------------------------------
# Resampling operators (Fig. 3 grid)
# ----------------------------------------------------------------------------------------------------------------
def downsample(image: torch.Tensor, factor: int, mode: str) -> torch.Tensor:
    """``(B, C, H, W) -> (B, C, H / factor, W / factor)``; ``average`` (= ``area`` here) is the k x k box mean."""
    if factor == 1:
        return image
    if mode in ("average", "area"):
        return F.avg_pool2d(image, factor)
    if mode == "nearest":
        return image[:, :, ::factor, ::factor]  # = F.interpolate(mode="nearest") for an integer factor
    if mode in ("bilinear", "bicubic"):
        return F.interpolate(image, scale_factor=1.0 / factor, mode=mode, align_corners=False)
    raise ValueError(f"unknown downsample mode {mode!r}; expected one of {DOWNSAMPLE_MODES}")


def upsample(image: torch.Tensor, factor: int, mode: str) -> torch.Tensor:
    """``(B, C, h, w) -> (B, C, h * factor, w * factor)`` with PyTorch ``interpolate`` (align_corners=False)."""
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"unknown upsample mode {mode!r}; expected one of {UPSAMPLE_MODES}")
    if factor == 1:
        return image
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(image, scale_factor=factor, mode=mode, **kwargs)


def upsample_rows(image: torch.Tensor, factor: int, mode: str, row0: int, row1: int) -> torch.Tensor:
    """Rows ``[row0 * factor, row1 * factor)`` of ``upsample(image, factor, mode)``, computed from a slice.

    ``image`` ``(B, C, h, w)``; returns ``(B, C, (row1 - row0) * factor, w * factor)``. A halo of two low-res rows
    (bicubic support) makes the band equal to the same rows of the full up-sampling.
    """
    halo = 0 if mode == "nearest" else 2
    a, b = max(row0 - halo, 0), min(row1 + halo, image.shape[-2])
    up = upsample(image[:, :, a:b], factor, mode)
    off = (row0 - a) * factor
    return up[:, :, off:off + (row1 - row0) * factor]


def band_to_cells(band: torch.Tensor, cell: int) -> torch.Tensor:
    """``(C, cell, G * cell)`` row of cells -> ``(G, C, cell, cell)``."""
    c, _, width = band.shape
    return band.reshape(c, cell, width // cell, cell).permute(2, 0, 1, 3)


def image_attention_scores(image: torch.Tensor, mask: torch.Tensor, grid: int, **attention_kwargs) -> torch.Tensor:
    """Attention from pixels, for generators that expose none.

    Each cell of the (inpainted, pasted) base image ``(B, 3, S, S)`` is described by its 4x4 average-pooled
    pixels (48 values); the ACM of :mod:`networks.hifill` (3x3 cell neighbourhood, key mask from ``mask``
    ``(B, 1, S, S)``, softmax over context cells) gives ``(B, grid^2, grid^2)``.
    """
    cells = F.pixel_unshuffle(F.adaptive_avg_pool2d(image, 4 * grid), 4)  # (B, 48, grid, grid)
    return attention_scores(cells, mask, **attention_kwargs)


# ----------------------------------------------------------------------------------------------------------------
# The wrapper
# ----------------------------------------------------------------------------------------------------------------
class ContextualResidualAggregation:
    """Inpaint photos of any size with a generator trained at ``base_size``.

    Args:
        generator: callable ``(image (1, 3, S, S) in [-1, 1] with hole zeroed, mask (1, 1, S, S)) ->`` a tensor
            ``(1, 3, S, S)`` or a dict with ``output``/``refine`` and optionally ``scores`` ``(1, N, N)``
            (HiFill's :class:`~networks.hifill.HiFillGenerator` returns both). Called under ``torch.no_grad``.
        base_size: S, the generator's input size (512 for HiFill).
        multiple: working size ``L = base_size * multiple``; ``None`` = ``ceil(max(H, W) / base_size)``.
        downsample: ``average`` (paper's choice) | ``nearest`` | ``bilinear`` | ``bicubic`` | ``area``.
        upsample: ``bilinear`` (paper's choice) | ``nearest`` | ``bicubic``; used for both up-samplings.
        attention: ``auto`` (generator's scores if it returns any, else from pixels) | ``generator`` | ``image``.
        grid: cells per side for image attention (default ``base_size // 16``, HiFill's grid).
        mask_downsample: ``max`` (a base pixel is a hole if any pixel of its k x k block is; identical to the spec's
            ``nearest`` for masks up-scaled from the base size, and never lets a thin hole slip through) | ``nearest``.
        residual_base: ``input`` (spec: ``R = I_L - up(I_base)``) | ``output`` (``I_L - up(pasted x2)``).
        softmax_scale, fuse, mask_mode, query_norm: image-attention options (see :func:`attention_scores`).

    ``__call__(image (B, 3, H, W) in [-1, 1], mask (B, 1, H, W)) -> (B, 3, H, W)``: hard-pasted result; pixels with
    ``mask == 0`` are copies of ``image``.
    """

    def __init__(self, generator: Callable, base_size: int = 512, multiple: int | None = None,
                 downsample: str = "average", upsample: str = "bilinear", attention: str = "auto",
                 grid: int | None = None, mask_downsample: str = "max", residual_base: str = "input",
                 softmax_scale: float = 10.0, fuse: bool = True, mask_mode: str = "paper", query_norm: bool = True):
        if downsample not in DOWNSAMPLE_MODES:
            raise ValueError(f"unknown downsample {downsample!r}; expected one of {DOWNSAMPLE_MODES}")
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"unknown upsample {upsample!r}; expected one of {UPSAMPLE_MODES}")
        if attention not in ("auto", "generator", "image"):
            raise ValueError(f"unknown attention {attention!r}")
        if mask_downsample not in ("max", "nearest") or residual_base not in ("input", "output"):
            raise ValueError("mask_downsample must be max|nearest, residual_base input|output")
        self.generator = generator
        self.base_size = base_size
        self.multiple = multiple
        self.downsample_mode = downsample
        self.upsample_mode = upsample
        self.attention = attention
        self.grid = grid or base_size // CELL_SIZE
        self.mask_downsample = mask_downsample
        self.residual_base = residual_base
        self.attention_kwargs = dict(softmax_scale=softmax_scale, fuse=fuse, mask_mode=mask_mode,
                                     query_norm=query_norm)
        self.last_scores: torch.Tensor | None = None  # (1, N, N) of the last call, for inspection

    # -- public ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._one(image[b:b + 1], mask[b:b + 1]) for b in range(image.shape[0])])

    def working_multiple(self, height: int, width: int) -> int:
        return self.multiple or max(1, math.ceil(max(height, width) / self.base_size))

    # -- steps -----------------------------------------------------------------------------------------------
    def _one(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        k = self.working_multiple(h, w)
        size = self.base_size * k
        hole = mask > 0.5
        if (h, w) == (size, size):
            return self._inpaint_square(image, hole, k)
        # Non-square / other sizes: resize to L x L as both official scripts do, then back. The working mask is
        # dilated by one pixel so that the bilinear resize back only reads filled values at hole pixels.
        image_l = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)
        hole_l = F.interpolate(hole.float(), size=(size, size), mode="nearest")
        hole_l = F.max_pool2d(hole_l, 3, stride=1, padding=1) > 0.5
        out_l = self._inpaint_square(image_l, hole_l, k)
        del image_l
        out = F.interpolate(out_l, size=(h, w), mode="bilinear", align_corners=False)
        return torch.where(hole, out, image)

    def _generate(self, image_base: torch.Tensor, mask_base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the generator on its own device (e.g. GPU) while the full-resolution work stays with the photo."""
        params = next(iter(self.generator.parameters()), None) if isinstance(self.generator, torch.nn.Module) else None
        device = params.device if params is not None else image_base.device
        dtype = params.dtype if params is not None else image_base.dtype
        result = self.generator(image_base.to(device, dtype), mask_base.to(device, dtype))
        scores = None
        if isinstance(result, dict):
            scores = result.get("scores")
            result = result["output"] if "output" in result else result["refine"]
        back = dict(device=image_base.device, dtype=image_base.dtype)
        return result.to(**back), None if scores is None else scores.to(**back)

    def _inpaint_square(self, image: torch.Tensor, hole: torch.Tensor, k: int) -> torch.Tensor:
        """``image`` ``(1, 3, L, L)``, ``hole`` bool ``(1, 1, L, L)`` -> ``(1, 3, L, L)`` pasted with ``hole``."""
        if k == 1:
            mask_base = hole.float()
        elif self.mask_downsample == "max":
            mask_base = _block_any(hole, k).float()
        else:
            mask_base = hole[:, :, ::k, ::k].float()
        known_base = 1.0 - mask_base
        image_base = downsample(image, k, self.downsample_mode) * known_base
        x2, scores = self._generate(image_base, mask_base)
        x2_pasted = (x2.clamp(-1, 1) * mask_base + image_base * known_base).contiguous()
        if scores is None or self.attention == "image":
            if self.attention == "generator":
                raise ValueError("attention='generator' but the generator returned no scores")
            scores = image_attention_scores(x2_pasted, mask_base, self.grid, **self.attention_kwargs)
        self.last_scores = scores
        grid = math.isqrt(scores.shape[-1])
        if grid * grid != scores.shape[-1] or self.base_size % grid:
            raise ValueError(f"scores {tuple(scores.shape)} do not match a square grid dividing {self.base_size}")
        residual_low = image_base if self.residual_base == "input" else x2_pasted
        return self._aggregate_and_paste(image, hole, mask_base, residual_low, x2_pasted, scores[0], k, grid)

    def _aggregate_and_paste(self, image, hole, mask_base, residual_low, x2_pasted, scores, k, grid):
        """Streamed residual aggregation: one row of cells at a time for keys, then for queries."""
        cell_low = self.base_size // grid
        cell = cell_low * k
        mode = self.upsample_mode
        query_cells = torch.nonzero(_block_any(hole, cell).flatten()).flatten()
        out = image.clone()
        if query_cells.numel() == 0:
            return out
        s_query = scores[query_cells].to(image.dtype)  # (Q, N)
        acc = torch.zeros(query_cells.numel(), 3 * cell * cell, dtype=image.dtype, device=image.device)
        for row in range(grid):
            keys = torch.arange(row * grid, (row + 1) * grid, device=image.device)
            s_band = s_query[:, keys]
            used = (s_band != 0).any(0)  # keys no hole cell attends to (e.g. hole keys) are skipped
            if not bool(used.any()):
                continue
            rows = slice(row * cell, (row + 1) * cell)
            base = upsample_rows(residual_low, k, mode, row * cell_low, (row + 1) * cell_low)
            # zero the residual in the base-resolution hole and in the full-resolution hole (pitfall 4)
            mask_band = hole[:, :, rows] | (upsample_rows(mask_base, k, "nearest", row * cell_low,
                                                          (row + 1) * cell_low) > 0.5)
            residual = (image[:, :, rows] - base).masked_fill(mask_band, 0.0)
            cells = band_to_cells(residual[0], cell).reshape(grid, -1)
            acc.addmm_(s_band[:, used], cells[used])
        # write back the hole cells, row by row
        q_rows = torch.div(query_cells, grid, rounding_mode="floor")
        for row in torch.unique(q_rows).tolist():
            rows = slice(row * cell, (row + 1) * cell)
            up = upsample_rows(x2_pasted, k, mode, row * cell_low, (row + 1) * cell_low)[0]
            for idx in torch.nonzero(q_rows == row).flatten().tolist():
                col = int(query_cells[idx]) % grid
                cols = slice(col * cell, (col + 1) * cell)
                filled = (up[:, :, cols] + acc[idx].view(3, cell, cell)).clamp(-1, 1)
                out[0, :, rows, cols] = torch.where(hole[0, :, rows, cols], filled, out[0, :, rows, cols])
        return out


def _block_any(mask: torch.Tensor, block: int) -> torch.Tensor:
    """Bool ``(B, 1, H, W)`` -> ``(B, 1, H / block, W / block)``: any True in each block (no full-size float copy)."""
    b, c, h, w = mask.shape
    return mask.view(b, c, h // block, block, w // block, block).any(5).any(3)


def aggregate_residual_direct(residual: torch.Tensor, scores: torch.Tensor, grid: int) -> torch.Tensor:
    """Reference Eq. 4 by explicit loops: ``residual`` ``(3, L, L)``, ``scores`` ``(N, N)`` -> ``(3, L, L)``.

    ``out[cell j] = sum_i scores[j, i] * residual[cell i]``; slow, for tests and small images only.
    """
    cell = residual.shape[-1] // grid
    out = torch.zeros_like(residual)
    for j in range(grid * grid):
        jy, jx = divmod(j, grid)
        for i in range(grid * grid):
            iy, ix = divmod(i, grid)
            out[:, jy * cell:(jy + 1) * cell, jx * cell:(jx + 1) * cell] += \
                scores[j, i] * residual[:, iy * cell:(iy + 1) * cell, ix * cell:(ix + 1) * cell]
    return out


def time_cra(size: int, generator: Callable | None = None, base_size: int = 512, hole_fraction: float = 0.25,
             seed: int = 0, **cra_kwargs) -> float:
    """Seconds for one CRA inpainting of a random ``size x size`` image with a centred square hole.

    ``generator`` defaults to a randomly initialised :class:`~networks.hifill.HiFillGenerator` (eval mode).
    Only timing here; peak memory is measured by the caller (see ``tests/networks/test_cra.py::bench_cra``).
    """
    torch.manual_seed(seed)
    generator = generator or HiFillGenerator().eval()
    image = torch.rand(1, 3, size, size) * 2 - 1
    mask = torch.zeros(1, 1, size, size)
    side = int(size * hole_fraction ** 0.5)
    start = (size - side) // 2
    mask[:, :, start:start + side, start:start + side] = 1
    cra = ContextualResidualAggregation(generator, base_size=base_size, **cra_kwargs)
    t0 = time.perf_counter()
    cra(image, mask)
    return time.perf_counter() - t0
