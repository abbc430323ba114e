"""Batched rasterisation of capsules (thick segments) and boxes as row spans.

Every shape used by the generators is convex, so its intersection with a pixel row is one interval of columns.
Each shape therefore becomes, per row, a span ``[xl, xr]``; the spans of a whole batch are accumulated into a
difference array (+1 at ``xl``, -1 at ``xr + 1``) and one cumulative sum along the columns gives the coverage
count, ``> 0`` = hole. Cost is O(shapes x rows + pixels) per batch and needs no Python loop over shapes.

Pixel centres are the integer coordinates ``(x, y)`` = (column, row), the convention of OpenCV and PIL.
Span arithmetic is float64, so CPU and GPU agree except for pixel centres that lie within ~1e-9 px of a shape
boundary (measured: no differing pixel in the tests).
"""

from __future__ import annotations

import numpy as np
import torch

_EPS = 1e-12
# Elements (shapes x rows) processed per chunk, to bound temporary memory (~8 float64 temporaries each).
_CHUNK_ELEMS = 1 << 22


def _as_tensor(a, device, dtype) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)


def _linear_range(a, c, lo, hi):
    """Range of x with ``lo <= a*x + c <= hi`` (a, c tensors; lo, hi broadcastable). Returns (left, right)."""
    inf = torch.full_like(c, float("inf"))
    flat = a.abs() < _EPS
    safe_a = torch.where(flat, torch.ones_like(a), a)
    p = (lo - c) / safe_a
    q = (hi - c) / safe_a
    left = torch.minimum(p, q)
    right = torch.maximum(p, q)
    inside = (c >= lo) & (c <= hi)
    left = torch.where(flat, torch.where(inside, -inf, inf), left)
    right = torch.where(flat, torch.where(inside, inf, -inf), right)
    return left, right


def capsule_spans(x0, y0, x1, y1, radius, rows):
    """Column interval ``[left, right]`` (float, may be empty: left > right) of each capsule on each row.

    A capsule is the set of points within ``radius`` of the segment ``(x0, y0)-(x1, y1)``.
    Shapes: ``x0 ... radius`` (..., 1) float64, ``rows`` broadcastable (..., R) float64 -> (..., R) each.
    """
    inf = float("inf")
    dx, dy = x1 - x0, y1 - y0
    length = torch.sqrt(dx * dx + dy * dy)
    has_len = length > _EPS
    safe_len = torch.where(has_len, length, torch.ones_like(length))
    ux, uy = dx / safe_len, dy / safe_len
    # body: 0 <= (p - p0).u <= L and |(p - p0).n| <= r with n = (-uy, ux), p = (x, row)
    ry = rows - y0
    l1, r1 = _linear_range(ux.expand_as(ry), -x0 * ux + ry * uy, 0.0, length)
    l2, r2 = _linear_range((-uy).expand_as(ry), x0 * uy + ry * ux, -radius, radius)
    body_l = torch.maximum(l1, l2)
    body_r = torch.minimum(r1, r2)
    body_ok = has_len & (body_l <= body_r)
    left = torch.where(body_ok, body_l, torch.full_like(body_l, inf))
    right = torch.where(body_ok, body_r, torch.full_like(body_r, -inf))
    # round caps: discs at both ends
    for cx, cy in ((x0, y0), (x1, y1)):
        h = radius * radius - (rows - cy) ** 2
        ok = h >= 0
        s = torch.sqrt(torch.clamp(h, min=0.0))
        left = torch.where(ok, torch.minimum(left, cx - s), left)
        right = torch.where(ok, torch.maximum(right, cx + s), right)
    return left, right


class SpanCanvas:
    """Accumulates row spans for a batch of ``B`` masks of ``height x width``; :meth:`mask` returns them.

    All inputs are per-sample padded arrays ``(B, K)`` with a ``valid`` flag; invalid entries draw nothing.
    """

    def __init__(self, batch: int, height: int, width: int, device, record: bool = False):
        self.batch, self.height, self.width = int(batch), int(height), int(width)
        self.device = torch.device(device)
        # record=True keeps the clipped spans (batch index, row, xl, xr) in ``self.spans`` instead of drawing them
        self.record = record
        self.spans: list[tuple[torch.Tensor, ...]] = []
        # int16 counts: a pixel is covered by at most a few hundred shapes
        self.diff = None if record else torch.zeros(
            self.batch * self.height * (self.width + 1), dtype=torch.int16, device=self.device)

    def add_spans(self, rows, xl, xr, valid, batch_index=None) -> None:
        """Integer spans: columns ``xl..xr`` (inclusive) of row ``rows`` in sample ``batch_index``.

        Tensors on the device, all broadcastable to one shape; ``batch_index`` defaults to the leading dim (B, ...).
        """
        H, W = self.height, self.width
        xl = xl.clamp(0, W)
        xr = xr.clamp(-1, W - 1)
        ok = valid & (rows >= 0) & (rows < H) & (xl <= xr)
        if batch_index is None:
            batch_index = torch.arange(self.batch, device=self.device).view(-1, *([1] * (rows.dim() - 1)))
        base = (batch_index * H + rows.clamp(0, H - 1)) * (W + 1)
        base, xl, xr, ok = torch.broadcast_tensors(base, xl, xr, ok)
        if self.record:
            bi, ro, _ = torch.broadcast_tensors(batch_index, rows, ok)
            self.spans.append((bi[ok], ro[ok], xl[ok], xr[ok]))
            return
        base, xl, xr = base[ok], xl[ok], xr[ok]
        ones = torch.ones_like(base, dtype=self.diff.dtype)
        self.diff.index_add_(0, base + xl, ones)
        self.diff.index_add_(0, base + xr + 1, -ones)

    def add_boxes(self, x0, y0, x1, y1, valid) -> None:
        """Half-open boxes: rows ``[y0, y1)``, columns ``[x0, x1)``; arrays (B, K) of ints (clipped here)."""
        dev = self.device
        x0, y0, x1, y1 = (_as_tensor(a, dev, torch.int64) for a in (x0, y0, x1, y1))
        valid = _as_tensor(valid, dev, torch.bool)
        if x0.numel() == 0:
            return
        rows = torch.arange(self.height, device=dev).view(1, 1, -1)
        inside = (rows >= y0.unsqueeze(-1)) & (rows < y1.unsqueeze(-1)) & valid.unsqueeze(-1)
        self.add_spans(rows, x0.unsqueeze(-1), (x1 - 1).unsqueeze(-1), inside)

    def add_capsules(self, x0, y0, x1, y1, radius, valid) -> None:
        """Capsules (distance to segment <= radius); arrays (B, S) float (coordinates in pixels)."""
        dev = self.device
        valid = _as_tensor(valid, dev, torch.bool)
        if valid.numel() == 0 or not bool(valid.any()):
            return
        # pack the valid capsules: (N,) with their batch index (padding is often most of the array)
        b_idx, s_idx = valid.nonzero(as_tuple=True)
        x0, y0, x1, y1, radius = (_as_tensor(a, dev, torch.float64)[b_idx, s_idx] for a in (x0, y0, x1, y1, radius))
        # rows each capsule can touch: a window starting at its top, as tall as the tallest capsule
        top = torch.floor(torch.minimum(y0, y1) - radius).clamp(0, self.height - 1)
        bottom = torch.ceil(torch.maximum(y0, y1) + radius)
        extent = bottom.clamp(max=self.height - 1) - top + 1
        n_rows = int(max(1, min(self.height, int(extent.max().item()))))
        offsets = torch.arange(n_rows, device=dev, dtype=torch.float64)
        chunk = max(1, _CHUNK_ELEMS // n_rows)
        lim = float(self.width + 1)
        for s0 in range(0, len(b_idx), chunk):
            sl = slice(s0, s0 + chunk)
            rows = top[sl, None] + offsets  # (n, R)
            left, right = capsule_spans(
                x0[sl, None], y0[sl, None], x1[sl, None], y1[sl, None], radius[sl, None], rows
            )
            xl = torch.ceil(left.clamp(-1.0, lim)).to(torch.int64)
            xr = torch.floor(right.clamp(-2.0, lim)).to(torch.int64)
            ok = (left <= right) & (rows <= bottom[sl, None])
            self.add_spans(rows.to(torch.int64), xl, xr, ok, batch_index=b_idx[sl, None])

    def recorded(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """All recorded spans concatenated: ``(batch_index, row, xl, xr)``, int64 (N,) each."""
        if not self.spans:
            e = torch.zeros(0, dtype=torch.int64, device=self.device)
            return e, e, e, e
        return tuple(torch.cat([s[k] for s in self.spans]) for k in range(4))

    def coverage(self) -> torch.Tensor:
        """``(B, H, W)`` int16 in {0, 1} (cheaper than :meth:`mask` when only counts are needed)."""
        cover = self.diff.view(self.batch, self.height, self.width + 1).cumsum(-1, dtype=self.diff.dtype)
        return cover[..., : self.width].clamp(max=1)

    def mask(self) -> torch.Tensor:
        """``(B, 1, H, W)`` float32 in {0, 1}, 1 = covered by at least one shape."""
        cover = self.diff.view(self.batch, self.height, self.width + 1).cumsum(-1, dtype=self.diff.dtype)
        # coverage counts are >= 0 (every +1 has its -1 to the right), so clamping to 1 binarises
        return cover[..., : self.width].clamp(max=1).to(torch.float32).unsqueeze(1)
