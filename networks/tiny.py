"""A deliberately small generator/discriminator pair for tests, smoke runs and as a template for new methods."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TinyGenerator(nn.Module):
    """Encoder (2 stride-2 convs) → 2 dilated convs → decoder. Input ``(B, 4 + S, H, W)``, output ``(B, 3, H, W)``
    in [-1, 1]. H and W must be multiples of 4."""

    def __init__(self, in_channels: int = 4, width: int = 16) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, w, 5, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(4 * w, 4 * w, 3, padding=2, dilation=2), nn.ReLU(inplace=True),
            nn.Conv2d(4 * w, 4 * w, 3, padding=4, dilation=4), nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(4 * w, 2 * w, 3, padding=1), nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * w, w, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w, 3, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.net(x))


class TinyPatchDiscriminator(nn.Module):
    """Three stride-2 spectral-norm convs → a patch map of logits ``(B, 1, H/8, W/8)``."""

    def __init__(self, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        w = width
        self.net = nn.Sequential(
            sn(nn.Conv2d(in_channels, w, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(w, 2 * w, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * w, 1, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
