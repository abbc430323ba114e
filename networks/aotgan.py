"""AOT-GAN networks (Zeng et al., "Aggregated Contextual Transformations for High-Resolution Image Inpainting").

Written from the paper and the official code's architecture (``lightning_modules/README_aotgan.md``). Pure ``nn.Module``s, torch only.

Conventions: images ``(B, 3, H, W)`` in [-1, 1]; masks ``(B, 1, H, W)`` in {0, 1} with 1 = hole (the paper's
convention too, so nothing is inverted here).

Default model = the official code's model (bilinear-upsample decoder, gate normalisation, gate weighting the
residual), 15,200,835 generator and 2,763,777 discriminator parameters. Every ablation of the paper's Tables 4-6
is a constructor argument:

- ``rates``: dilation rate per branch; ``K = len(rates)`` branches (Table 4).
- ``residual``: ``gated`` | ``identity`` | ``conv1x1`` | ``gatedconv`` (Tables 5-6).
- ``gate_norm``: ``code`` | ``none`` (the gate normalisation exists only in the code, spec §2.3).
- ``gate_orientation``: ``code`` (g weights the new features) | ``paper`` (Eq. 1: g weights the input).
  Not equivalent once the gate norm's -5 shift is in: ``1 - sigmoid(10z - 5) = sigmoid(5 - 10z)``.
- ``upsample``: ``bilinear_conv`` (code) | ``transposed`` (paper's text, spec §2.2).

Semantic input (AIM 2020 Track 2, not in the paper): ``semantic_channels`` = S widens only the encoder's first
7x7 conv from 4 to 4 + S input channels; the seg map ``(B, S, H, W)`` is concatenated after the filled image and the
mask, unmasked (the challenge gives the whole image's map). +S x 64 x 7 x 7 weights (S = 52: +163,072);
S = 0 is the unchanged official model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from networks.spectral_norm import spectral_norm

RESIDUAL_MODES = ("gated", "identity", "conv1x1", "gatedconv")
GATE_NORMS = ("code", "none")
GATE_ORIENTATIONS = ("code", "paper")
DISC_LAYOUTS = ("code", "paper")
UPSAMPLE_MODES = ("bilinear_conv", "transposed")

INIT_STD = 0.02  # official init: N(0, 0.02) on every conv weight, zero bias


def init_conv_weights(module: nn.Module, std: float = INIT_STD) -> None:
    """Normal(0, std) init of every (transposed) conv weight and zero bias, in place."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def split_channels(channels: int, parts: int) -> list[int]:
    """Split ``channels`` into ``parts`` widths that sum to ``channels``; the remainder goes to the first parts.

    The official code hard-codes ``channels // 4`` per branch (so only K = 4 runs); the remainder rule is the
    project's choice (spec §2.4) and keeps the concat at ``channels`` for any K, e.g. 256 / 3 -> [86, 85, 85].
    """
    if parts < 1 or parts > channels:
        raise ValueError(f"cannot split {channels} channels into {parts} branches")
    base, rest = divmod(channels, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]


def reflect_conv3x3(in_ch: int, out_ch: int, dilation: int = 1) -> nn.Sequential:
    """ReflectionPad(dilation) + 3x3 conv with that dilation: size-preserving. Indices: 0 = pad, 1 = conv."""
    return nn.Sequential(nn.ReflectionPad2d(dilation), nn.Conv2d(in_ch, out_ch, 3, dilation=dilation))


class GateNorm(nn.Module):
    """The official code's parameter-free gate normalisation ("my_layer_norm", spec §2.3 step 3).

    Per sample and per channel, statistics over H x W only, unbiased std:
    ``10 * (a - mean) / (std + 1e-9) - 5``. Not ``nn.LayerNorm``; the -1 shift and x5 scale are part of it.
    Runs in fp32 (the 1e-9 underflows in half precision).  ``(B, C, H, W) -> (B, C, H, W)``, unbounded.
    """

    eps = 1e-9

    def forward(self, a: Tensor) -> Tensor:
        a32 = a.float()
        mean = a32.mean(dim=(2, 3), keepdim=True)
        std = a32.std(dim=(2, 3), keepdim=True) + self.eps
        return (5.0 * (2.0 * (a32 - mean) / std - 1.0)).to(a.dtype)


class AOTBlock(nn.Module):
    """Aggregated contextual transformation block: split-transform-aggregate + residual fusion.

    ``(B, C, H, W) -> (B, C, H, W)``; H, W must exceed ``max(rates)`` (reflection padding).

    - branches: ``ReLU(Conv3x3_dil=r(ReflectPad_r(x)))``, widths ``split_channels(C, K)``;
    - fuse: ``Conv3x3(ReflectPad_1(cat(branches)))`` (no activation), or for ``gatedconv`` the gated conv
      ``f(c) * sigmoid(g(c))`` (Yu et al.; project interpretation, spec §2.4);
    - merge (``residual``): ``gated`` ``x*(1-g) + x2*g`` with ``g = sigmoid(GateNorm(Conv3x3(x)))``
      (``gate_orientation="paper"``: ``x*g + x2*(1-g)``, paper Eq. 1);
      ``identity`` ``x + x2``; ``conv1x1`` ``Conv1x1(cat(x, x2))``; ``gatedconv`` ``x + x2``.

    The gate is the ``gate`` submodule (pad, conv, norm, sigmoid): a forward hook on it returns g (B, C, H, W)
    in (0, 1), 1 = take the new features.  With one branch and ``identity`` the block is the EdgeConnect
    residual block ``x + Conv(ReLU(Conv_dil(x)))``.
    """

    def __init__(
        self,
        channels: int = 256,
        rates: Sequence[int] = (1, 2, 4, 8),
        residual: str = "gated",
        gate_norm: str = "code",
        gate_orientation: str = "code",
    ) -> None:
        super().__init__()
        if gate_orientation not in GATE_ORIENTATIONS:
            raise ValueError(f"gate_orientation must be one of {GATE_ORIENTATIONS}, got {gate_orientation!r}")
        if residual not in RESIDUAL_MODES:
            raise ValueError(f"residual must be one of {RESIDUAL_MODES}, got {residual!r}")
        if gate_norm not in GATE_NORMS:
            raise ValueError(f"gate_norm must be one of {GATE_NORMS}, got {gate_norm!r}")
        if len(rates) == 0 or any(int(r) < 1 for r in rates):
            raise ValueError(f"rates must be a non-empty list of positive ints, got {rates!r}")
        self.rates = [int(r) for r in rates]
        self.residual = residual
        self.gate_orientation = gate_orientation
        widths = split_channels(channels, len(self.rates))
        self.branches = nn.ModuleList(
            nn.Sequential(*reflect_conv3x3(channels, w, r), nn.ReLU(inplace=True)) for w, r in zip(widths, self.rates)
        )
        self.fuse = reflect_conv3x3(channels, channels)
        # gatedconv: the gating half of Yu et al.'s gated conv, on the concatenated branch features.
        self.fuse_gate = reflect_conv3x3(channels, channels) if residual == "gatedconv" else None
        if residual == "gated":
            norm = GateNorm() if gate_norm == "code" else nn.Identity()
            self.gate = nn.Sequential(*reflect_conv3x3(channels, channels), norm, nn.Sigmoid())
        else:
            self.gate = None
        self.merge = nn.Conv2d(2 * channels, channels, 1) if residual == "conv1x1" else None

    def forward(self, x: Tensor) -> Tensor:
        c = torch.cat([branch(x) for branch in self.branches], dim=1)
        x2 = self.fuse(c)
        if self.fuse_gate is not None:
            x2 = x2 * torch.sigmoid(self.fuse_gate(c))
        if self.residual == "gated":
            g = self.gate(x)
            if self.gate_orientation == "paper":
                return x * g + x2 * (1 - g)
            return x * (1 - g) + x2 * g
        if self.residual == "conv1x1":
            return self.merge(torch.cat([x, x2], dim=1))
        return x + x2  # identity, gatedconv


class UpsampleConv(nn.Module):
    """Bilinear x2 upsample (align_corners=True) + 3x3 zero-padded conv. ``(B, Cin, H, W) -> (B, Cout, 2H, 2W)``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class AOTGenerator(nn.Module):
    """AOT-GAN generator: encoder (x4 down) -> ``num_blocks`` AOT blocks -> decoder (x4 up) -> tanh.

    ``forward(image, mask, seg=None)``: image ``(B, 3, H, W)`` in [-1, 1], mask ``(B, 1, H, W)`` in {0, 1},
    1 = hole; H, W divisible by 4 and H/4, W/4 > max(rates). Holes are filled with ``hole_fill`` (+1 = white, as
    the official trainer does) before the mask is concatenated as a 4th channel, so the unmasked image may be
    passed. ``seg`` ``(B, semantic_channels, H, W)`` (e.g. one-hot, not masked) is required iff
    ``semantic_channels > 0`` and is concatenated after the mask. Returns the raw prediction ``(B, 3, H, W)`` in
    [-1, 1] (not composited).
    """

    def __init__(
        self,
        rates: Sequence[int] = (1, 2, 4, 8),
        residual: str = "gated",
        gate_norm: str = "code",
        num_blocks: int = 8,
        upsample: str = "bilinear_conv",
        channels: int = 256,
        hole_fill: float = 1.0,
        gate_orientation: str = "code",
        semantic_channels: int = 0,
    ) -> None:
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        if semantic_channels < 0:
            raise ValueError(f"semantic_channels must be >= 0, got {semantic_channels}")
        self.hole_fill = hole_fill
        self.semantic_channels = int(semantic_channels)
        c1, c2, c3 = channels // 4, channels // 2, channels
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(4 + self.semantic_channels, c1, 7), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c2, c3, 4, stride=2, padding=1), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.blocks = nn.Sequential(*(AOTBlock(c3, rates, residual, gate_norm, gate_orientation) for _ in range(num_blocks)))
        if upsample == "bilinear_conv":
            up1, up2 = UpsampleConv(c3, c2), UpsampleConv(c2, c1)
        else:  # the paper's text: transposed convolutions (4x4, stride 2)
            up1 = nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1)
            up2 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.decoder = nn.Sequential(
            up1, nn.ReLU(inplace=True), up2, nn.ReLU(inplace=True), nn.Conv2d(c1, 3, 3, padding=1)
        )
        init_conv_weights(self)

    def masked_input(self, image: Tensor, mask: Tensor, seg: Tensor | None = None) -> Tensor:
        """``(B, 4 + S, H, W)``: ``cat([image * (1 - mask) + hole_fill * mask, mask(, seg)])``."""
        if (seg is None) != (self.semantic_channels == 0):
            raise ValueError(f"seg must be given iff semantic_channels > 0 (semantic_channels={self.semantic_channels})")
        parts = [image * (1 - mask) + self.hole_fill * mask, mask]
        if seg is not None:
            if seg.shape[1] != self.semantic_channels or seg.shape[-2:] != image.shape[-2:]:
                raise ValueError(f"seg must be (B, {self.semantic_channels}, {image.shape[-2]}, {image.shape[-1]}), "
                                 f"got {tuple(seg.shape)}")
            parts.append(seg.to(image.dtype))
        return torch.cat(parts, dim=1)

    def forward(self, image: Tensor, mask: Tensor, seg: Tensor | None = None) -> Tensor:
        h = self.encoder(self.masked_input(image, mask, seg))
        h = self.blocks(h)
        return torch.tanh(self.decoder(h))


class AOTDiscriminator(nn.Module):
    """70x70 PatchGAN with spectral norm (the official code's layout, spec §3.1).

    ``(B, 3, H, W)`` in [-1, 1] -> raw score map ``(B, 1, H/8 - 2, W/8 - 2)`` (30x30 at 256, 62x62 at 512).
    Spectral norm (1 power iteration per training forward, in the official hook API's order: see
    :mod:`networks.spectral_norm`, kind ``hook``) on the first four convs, which have no bias; no normalisation layers.
    The score's meaning (realness / hole-ness) is set by the loss, not here.

    ``layout="paper"`` reads the paper's "four layers of convolutions with stride as two" literally: the 4th SN
    conv gets stride 2 (same parameters; map ``H/16 - 1``, 94-px receptive field). The code's layout (3 x s2 +
    1 x s1, the 70x70 PatchGAN) is the default.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 64, layout: str = "code") -> None:
        super().__init__()
        if layout not in DISC_LAYOUTS:
            raise ValueError(f"layout must be one of {DISC_LAYOUTS}, got {layout!r}")
        widths = [in_channels, base_channels, 2 * base_channels, 4 * base_channels, 8 * base_channels]
        strides = [2, 2, 2, 1] if layout == "code" else [2, 2, 2, 2]
        layers: list[nn.Module] = []
        for cin, cout, stride in zip(widths[:-1], widths[1:], strides):
            conv = nn.Conv2d(cin, cout, 4, stride=stride, padding=1, bias=False)
            init_conv_weights(conv)  # before spectral norm, so u/v are initialised from the final weight
            layers += [spectral_norm(conv, "hook"), nn.LeakyReLU(0.2, inplace=True)]
        head = nn.Conv2d(widths[-1], 1, 4, stride=1, padding=1)
        init_conv_weights(head)
        layers.append(head)
        self.layers = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(image)
