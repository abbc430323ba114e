"""Polyphase tiling: split an image into its ``rows x cols`` sub-sampled phases and put them back.

The phase ``(r, c)`` of an ``(H, W)`` image is ``x[..., r::rows, c::cols]`` (``H / rows`` x ``W / cols``): every tile
covers the whole scene at reduced density, unlike a crop. DeepGIN tests large images this way (the official
``test_ensemble.py`` of ``rlct1/gin``; its training crops are the 2 x 2 case). Order and orientation follow that
script: tiles are listed column phase first (``for c: for r:``), and it stores each tile *transposed*
(``tile[i, j] = x[r + rows * j, c + cols * i]``), which ``transpose=True`` reproduces.
"""

from __future__ import annotations

import torch
from torch import Tensor


def phase_order(rows: int, cols: int) -> list[tuple[int, int]]:
    """The ``(r, c)`` phase of each tile, in tile order (column phase outer, row phase inner)."""
    return [(r, c) for c in range(cols) for r in range(rows)]


def polyphase_split(x: Tensor, rows: int, cols: int, transpose: bool = False) -> Tensor:
    """``(B, C, H, W)`` -> ``(rows * cols * B, C, H / rows, W / cols)``, tile-major (tile ``k`` holds samples
    ``k * B .. k * B + B - 1``); with ``transpose`` each tile is ``(B, C, W / cols, H / rows)``, its last two
    axes swapped. ``H`` and ``W`` must be multiples of ``rows`` and ``cols``."""
    h, w = x.shape[-2:]
    if rows < 1 or cols < 1 or h % rows or w % cols:
        raise ValueError(f"a {h}x{w} image cannot be split into {rows}x{cols} polyphase tiles")
    tiles = [x[..., r::rows, c::cols] for r, c in phase_order(rows, cols)]
    if transpose:
        tiles = [t.transpose(-2, -1) for t in tiles]
    return torch.cat(tiles, dim=0)


def polyphase_merge(tiles: Tensor, rows: int, cols: int, transpose: bool = False) -> Tensor:
    """Inverse of :func:`polyphase_split` (same ``rows``, ``cols``, ``transpose``): ``(rows * cols * B, C, h, w)``
    -> ``(B, C, rows * h, cols * w)`` (``h``/``w`` swapped first when ``transpose``)."""
    n = rows * cols
    if tiles.shape[0] % n:
        raise ValueError(f"{tiles.shape[0]} tiles are not a multiple of {rows}x{cols}")
    parts = tiles.chunk(n, dim=0)
    if transpose:
        parts = [t.transpose(-2, -1) for t in parts]
    b, c, h, w = parts[0].shape
    out = tiles.new_empty(b, c, h * rows, w * cols)
    for (r, cc), part in zip(phase_order(rows, cols), parts):
        out[..., r::rows, cc::cols] = part
    return out
