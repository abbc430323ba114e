"""Parameter counting, the one helper every method's official-count test and ``model-info`` share."""

from __future__ import annotations

from torch import nn


def count_parameters(module: nn.Module | None, trainable_only: bool = True) -> int | None:
    """Number of (trainable, by default) parameters of ``module``; ``None`` for no module (no discriminator)."""
    if module is None:
        return None
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
