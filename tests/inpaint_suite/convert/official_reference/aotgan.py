"""Reference AOT-GAN: ``researchmm/AOT-GAN-for-Inpainting`` ``src/model/aotgan.py`` (``InpaintGenerator``,
``AOTBlock``, ``UpConv``, ``my_layer_norm``, ``Discriminator``), re-written from reading it. Test oracle only.

Official attribute names (``encoder``, ``middle.{i}.block{k:02d}``, ``middle.{i}.fuse``, ``middle.{i}.gate``,
``decoder``; D ``conv``) and the old hook API ``torch.nn.utils.spectral_norm`` (``weight_orig`` parameter,
``weight_u`` / ``weight_v`` buffers, power iteration in a forward pre-hook while training), so a released
``G<iter>.pt`` / ``D<iter>.pt`` loads with ``strict=True``.

The official ``InpaintGenerator.forward(x, mask)`` does not fill the holes: the caller passes the masked image
(``src/test.py`` / ``src/trainer/trainer.py``: ``image * (1 - mask) + mask``); :func:`official_inference` is that
test-script pipeline. The official ``init_weights`` (N(0, 0.02)) is irrelevant here: weights are always loaded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm  # the deprecated hook API, as in the official file


def my_layer_norm(feat: Tensor) -> Tensor:
    """The official gate normalisation: per sample and channel over H x W, unbiased std, ``5 * (2 z - 1)``."""
    mean = feat.mean((2, 3), keepdim=True)
    std = feat.std((2, 3), keepdim=True) + 1e-9
    feat = 2 * (feat - mean) / std - 1
    return 5 * feat


class UpConv(nn.Module):
    """Bilinear x2 (``align_corners=True``) then a zero-padded 3x3 conv (``conv``)."""

    def __init__(self, inc: int, outc: int, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale  # stored but unused by the official forward (it always upsamples by 2)
        self.conv = nn.Conv2d(inc, outc, 3, stride=1, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class AOTBlock(nn.Module):
    """``block{i:02d}`` = (ReflectionPad(rate), Conv3x3 dim -> dim // 4 dilated by rate, ReLU) per rate;
    ``fuse`` / ``gate`` = (ReflectionPad(1), Conv3x3 dim -> dim). Output ``x * (1 - g) + fuse(cat) * g`` with
    ``g = sigmoid(my_layer_norm(gate(x)))``."""

    def __init__(self, dim: int, rates: list[int]) -> None:
        super().__init__()
        self.rates = list(rates)
        for i, rate in enumerate(self.rates):
            branch = nn.Sequential(nn.ReflectionPad2d(rate), nn.Conv2d(dim, dim // 4, 3, padding=0, dilation=rate),
                                   nn.ReLU(True))
            setattr(self, f"block{i:02d}", branch)
        self.fuse = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, dilation=1))
        self.gate = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, dilation=1))

    def forward(self, x: Tensor) -> Tensor:
        out = torch.cat([getattr(self, f"block{i:02d}")(x) for i in range(len(self.rates))], 1)
        out = self.fuse(out)
        g = torch.sigmoid(my_layer_norm(self.gate(x)))
        return x * (1 - g) + out * g


class InpaintGenerator(nn.Module):
    """``forward(x, mask)``: x the masked image (3 ch), mask (1 ch, 1 = hole) -> tanh output in [-1, 1]."""

    def __init__(self, rates: tuple[int, ...] = (1, 2, 4, 8), block_num: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(4, 64, 7), nn.ReLU(True),
            nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.ReLU(True),
            nn.Conv2d(128, 256, 4, stride=2, padding=1), nn.ReLU(True),
        )  # fmt: skip
        self.middle = nn.Sequential(*[AOTBlock(256, list(rates)) for _ in range(block_num)])
        self.decoder = nn.Sequential(UpConv(256, 128), nn.ReLU(True), UpConv(128, 64), nn.ReLU(True),
                                     nn.Conv2d(64, 3, 3, stride=1, padding=1))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = torch.cat([x, mask], dim=1)
        x = self.encoder(x)
        x = self.middle(x)
        x = self.decoder(x)
        return torch.tanh(x)


class Discriminator(nn.Module):
    """``conv`` = 4 hook-spectral-normalised 4x4 convs without bias (strides 2, 2, 2, 1; padding 1), each followed
    by LeakyReLU(0.2), then a plain 4x4 conv to 1 channel (stride 1, padding 1). Raw score map."""

    def __init__(self) -> None:
        super().__init__()
        inc = 3
        self.conv = nn.Sequential(
            spectral_norm(nn.Conv2d(inc, 64, 4, stride=2, padding=1, bias=False)), nn.LeakyReLU(0.2, inplace=True),
            spectral_norm(nn.Conv2d(64, 128, 4, stride=2, padding=1, bias=False)), nn.LeakyReLU(0.2, inplace=True),
            spectral_norm(nn.Conv2d(128, 256, 4, stride=2, padding=1, bias=False)), nn.LeakyReLU(0.2, inplace=True),
            spectral_norm(nn.Conv2d(256, 512, 4, stride=1, padding=1, bias=False)), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(512, 1, 4, stride=1, padding=1),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


def official_inference(model: InpaintGenerator, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``src/test.py`` on tensors: image RGB in [-1, 1], mask 1 = hole. Returns ``(pred_img, comp_imgs)``."""
    image_masked = image * (1 - mask.float()) + mask
    with torch.no_grad():
        pred_img = model(image_masked, mask)
    comp_imgs = (1 - mask) * image + mask * pred_img
    return pred_img, comp_imgs
