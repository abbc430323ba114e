"""LPIPS v0.1 (Zhang et al.) on the in-tree AlexNet / VGG16 backbones and the linear heads shipped in torchmetrics.

Pipeline (evaluation spec §4): scaling layer -> backbone taps -> channel unit-normalisation (``f / (‖f‖ + 1e-10)``)
-> squared difference -> 1x1 learned head -> spatial mean -> sum over the five taps.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from networks.backbones.alexnet import ALEXNET_LPIPS_TAPS, AlexNet
from networks.backbones.vgg import VGG

from .pretrained import load_weights, lpips_head_path, pretrained_alexnet, pretrained_vgg

__all__ = ["LPIPS", "LPIPSHeads", "LPIPS_CHANNELS", "LPIPS_TAPS", "TorchLpipsReference"]

LPIPS_TAPS = {"alex": ALEXNET_LPIPS_TAPS, "vgg": (3, 8, 15, 22, 29)}
LPIPS_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


class _Head(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        # Dropout at index 0 keeps the file's key names (``model.1.weight``); it is inactive in eval mode.
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))


class LPIPSHeads(nn.Module):
    """The five 1x1 linear heads; keys ``lin0.model.1.weight`` ... ``lin4.model.1.weight`` ``(1, C, 1, 1)``."""

    def __init__(self, net: str) -> None:
        super().__init__()
        for i, c in enumerate(LPIPS_CHANNELS[net]):
            self.add_module(f"lin{i}", _Head(c))

    def conv(self, i: int) -> nn.Conv2d:
        return getattr(self, f"lin{i}").model[1]


class LPIPS(nn.Module):
    """Learned perceptual distance, one value per image.

    Args:
        net: ``"alex"`` (suite default) or ``"vgg"`` (LaMa parity).
        backbone_weights: ``"imagenet"`` (torchvision file via torch.hub / ``weights_dir``), ``"random"``, or a path.
        heads: ``"torchmetrics"`` (the v0.1 files shipped in the torchmetrics wheel), ``"random"`` (uniform
            non-negative, tests only), or a path.
        backbone: an already built backbone (overrides ``backbone_weights``).

    ``forward(a, b)``: ``(N, 3, H, W)`` in [-1, 1] at native resolution -> ``(N,)`` float32.
    """

    def __init__(
        self,
        net: str = "alex",
        *,
        backbone_weights: str = "imagenet",
        heads: str = "torchmetrics",
        weights_dir: str | os.PathLike | None = None,
        backbone: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if net not in LPIPS_TAPS:
            raise ValueError(f"unknown LPIPS net {net!r}; expected 'alex' or 'vgg'")
        self.net_name = net
        self.backbone_weights = "custom" if backbone is not None else str(backbone_weights)
        self.heads_source = str(heads)
        if backbone is None:
            if net == "alex":
                backbone = pretrained_alexnet(backbone_weights, weights_dir=weights_dir)
            else:
                backbone = pretrained_vgg("vgg16", backbone_weights, weights_dir=weights_dir)
        if not isinstance(backbone, (AlexNet, VGG)):
            raise TypeError("LPIPS backbone must be the in-tree AlexNet or VGG")
        self.backbone = backbone.eval()
        self.heads = LPIPSHeads(net)
        if heads == "torchmetrics":
            load_weights(self.heads, path=lpips_head_path(net))
        elif heads == "random":
            for i in range(5):
                nn.init.uniform_(self.heads.conv(i).weight, 0.0, 1.0 / LPIPS_CHANNELS[net][i])
        else:
            load_weights(self.heads, path=heads)
        self.heads.eval()
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> LPIPS:
        super().train(mode)
        self.backbone.eval()
        self.heads.eval()
        return self

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=a.device.type, enabled=False):
            n = a.shape[0]
            x = (torch.cat([a, b]).float() - self.shift) / self.scale
            taps = self.backbone.forward_taps(x, LPIPS_TAPS[self.net_name])
            total = torch.zeros(n, dtype=torch.float32, device=a.device)
            for i, f in enumerate(taps):
                f = f / (f.norm(dim=1, keepdim=True) + 1e-10)
                d = (f[:n] - f[n:]) ** 2
                total = total + self.heads.conv(i)(d).mean(dim=(1, 2, 3))
            return total


class TorchLpipsReference(nn.Module):
    """Reference backend: the ``lpips`` package (needs torchvision and the ImageNet backbone download)."""

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        try:
            # lazy: the lpips package is optional (the `reference` extra)
            import lpips
        except Exception as exc:
            raise RuntimeError(f"the lpips reference backend needs the lpips package and torchvision: {exc}") from exc
        self.model = lpips.LPIPS(net=net, version="0.1", verbose=False).eval()

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.model(a.float(), b.float()).flatten()
