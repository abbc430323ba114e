"""Helpers importable from any test module (``from helpers import make_batch``)."""

from __future__ import annotations

import torch


def make_batch(batch_size: int = 2, size: int = 32, seed: int = 0, semantic_channels: int = 0) -> dict:
    """A synthetic batch in the suite's conventions: image in [-1, 1], mask 1 = hole (a centre square)."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch_size, 3, size, size, generator=g) * 2 - 1
    mask = torch.zeros(batch_size, 1, size, size)
    mask[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    batch = {"image": image, "mask": mask, "index": torch.arange(batch_size),
             "name": [f"s{i}" for i in range(batch_size)], "mask_type": ["center_box"] * batch_size}
    if semantic_channels:
        seg = torch.zeros(batch_size, semantic_channels, size, size)
        seg[:, 0] = 1
        batch["seg"] = seg
    return batch
