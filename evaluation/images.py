"""Conversions between the suite's [-1, 1] float images and the uint8 values metrics are defined on."""

from __future__ import annotations

import torch

__all__ = ["to_uint8", "uint8_to_unit", "uint8_to_signed"]


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` float in [-1, 1] -> uint8 ``round((x + 1) * 127.5)`` clamped to 0..255 (as a PNG round trip)."""
    return torch.round((x.float() + 1.0) * 127.5).clamp_(0, 255).to(torch.uint8)


def uint8_to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float32 in [0, 1]."""
    return x.float() / 255.0


def uint8_to_signed(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float32 in [-1, 1] (``x / 127.5 - 1``, the MAT/LPIPS reading of a PNG)."""
    return x.float() / 127.5 - 1.0
