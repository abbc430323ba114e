"""DeepGIN (Li et al., ECCV 2020 AIM workshop): coarse G1 + refinement G2, and the two-scale SN PatchGAN.

Written from the paper and the official code's architecture (``lightning_modules/README_deepgin.md``).

Conventions of this file (they are the paper's / official code's, not the project's):
- images are RGB in **[0, 1]** (the Lightning module converts from/to the project's [-1, 1]);
- masks are ``(B, 1, H, W)`` in {0, 1}, **1 = hole**;
- holes of the generator input are filled with **white (1.0)**.

Every generator conv is an explicit ``ReplicationPad2d`` followed by an unpadded conv with bias, no normalisation.
Spatial sizes must be multiples of 16 (G2 downsamples four times); 64x64 works for tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from networks.spectral_norm import spectral_norm

RESBLOCKS = ("std", "dilated", "spd")
ATTENTIONS = ("none", "sa", "mssa")
STAGES = ("two_stage", "coarse_only")

SPD8_RATES = (2, 3, 4, 5, 6, 8, 10, 1)  # G1, concat order of the official code
SPD4_RATES = (2, 3, 4, 5)  # G2, no rate 1


# ----------------------------------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------------------------------
def conv_block(
    in_ch: int, out_ch: int, kernel: int, stride: int = 1, dilation: int = 1, pad: int | None = None,
    act: str | None = "lrelu",
) -> nn.Sequential:
    """Replicate pad -> Conv2d(bias) -> activation (``"lrelu"`` = LeakyReLU(0.2), ``"relu"``, ``"sigmoid"``, None).

    ``pad`` defaults to ``dilation * (kernel - 1) // 2`` (same size for odd kernels at stride 1).
    """
    pad = dilation * (kernel - 1) // 2 if pad is None else pad
    layers: list[nn.Module] = [nn.ReplicationPad2d(pad)] if pad > 0 else []
    layers.append(nn.Conv2d(in_ch, out_ch, kernel, stride=stride, dilation=dilation))
    if act == "lrelu":
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    elif act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "sigmoid":
        layers.append(nn.Sigmoid())
    elif act is not None:
        raise ValueError(f"unknown activation {act!r}")
    return nn.Sequential(*layers)


def down_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """4x4 stride-2 conv, replicate pad 1, LeakyReLU: ``(B, in, H, W) -> (B, out, H/2, W/2)``."""
    return conv_block(in_ch, out_ch, 4, stride=2, pad=1)


class UpBlock(nn.Module):
    """Bilinear x2 (align_corners=True) -> 3x3 conv -> LeakyReLU: ``(B, in, H, W) -> (B, out, 2H, 2W)``."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.up = nn.UpsamplingBilinear2d(scale_factor=2)  # align_corners=True, as the official code
        self.conv = conv_block(in_ch, out_ch, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.up(x))


class StdResBlock(nn.Module):
    """``y = x + Conv3x3(ReLU(Conv3x3_dil(x)))`` (Fig. 3a; Fig. 3b with ``first_dilation=2``). Shape-preserving."""

    def __init__(self, channels: int, first_dilation: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            conv_block(channels, channels, 3, dilation=first_dilation, act="relu"),
            conv_block(channels, channels, 3, act=None),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SPDResBlock(nn.Module):
    """Spatial Pyramid Dilation ResBlock (Fig. 3c/d). Shape-preserving ``(B, C, H, W)``.

    K parallel branches ``ReLU(Conv3x3_dil=d_k)`` of width C/K are concatenated (in ``rates`` order), fused by a
    3x3 conv back to C and added to the input; no activation after the addition. Parameter count equals that of
    :class:`StdResBlock` with the same C.
    """

    def __init__(self, channels: int, rates: tuple[int, ...] | list[int]):
        super().__init__()
        if channels % len(rates):
            raise ValueError(f"channels {channels} not divisible by {len(rates)} rates")
        width = channels // len(rates)
        self.branches = nn.ModuleList(conv_block(channels, width, 3, dilation=d, act="relu") for d in rates)
        self.fuse = conv_block(channels, channels, 3, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fuse(torch.cat([b(x) for b in self.branches], dim=1))


def make_resblock(kind: str, channels: int, spd_rates: tuple[int, ...]) -> nn.Module:
    """One residual block of type ``kind`` in :data:`RESBLOCKS` (``spd_rates`` is used by ``"spd"`` only)."""
    if kind == "std":
        return StdResBlock(channels)
    if kind == "dilated":
        return StdResBlock(channels, first_dilation=2)
    if kind == "spd":
        return SPDResBlock(channels, spd_rates)
    raise ValueError(f"resblock must be one of {RESBLOCKS}, got {kind!r}")


class SelfAttention(nn.Module):
    """Non-local block, embedded Gaussian (official ``NonLocalBlock``, no subsampling, no BN). Shape-preserving.

    ``z = W_z softmax_j(theta_i^T phi_j) g + x`` with 1x1 convs ``C -> C/2`` (theta, phi, g) and ``C/2 -> C`` (W_z);
    **no 1/sqrt(d) scaling**. Memory: an ``(H*W) x (H*W)`` affinity per sample.
    """

    def __init__(self, channels: int):
        super().__init__()
        inter = channels // 2
        self.theta = nn.Conv2d(channels, inter, 1)
        self.phi = nn.Conv2d(channels, inter, 1)
        self.g = nn.Conv2d(channels, inter, 1)
        self.w_z = nn.Conv2d(inter, channels, 1)
        # The official constructor zero-inits W_z, but the global G init overwrites it (spec §2.5); so do we.
        nn.init.zeros_(self.w_z.weight)
        nn.init.zeros_(self.w_z.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)  # (B, N, C')
        phi = self.phi(x).flatten(2)  # (B, C', N)
        g = self.g(x).flatten(2).transpose(1, 2)  # (B, N, C')
        attn = torch.softmax(theta @ phi, dim=-1)  # (B, N, N)
        y = (attn @ g).transpose(1, 2).reshape(b, -1, h, w)
        return x + self.w_z(y)


def small_kaiming_init_(module: nn.Module, scale: float = 0.1) -> None:
    """ESRGAN "smaller initialisation" (official ``weights_init``): every Conv2d gets Kaiming-normal (fan_in, a=0)
    times ``scale``, bias 0. Applied to the whole generator, so it also overwrites the SA ``W_z`` zero-init."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            m.weight.data.mul_(scale)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------------------------------------------------
# generators
# ----------------------------------------------------------------------------------------------------------------------
class CoarseGenerator(nn.Module):
    """G1: ``(B, in_channels, H, W) -> I_coarse (B, 3, H, W)``, linear output head (no tanh/sigmoid).

    Encoder to H/8 with 256 channels, six residual blocks (SPD-8 by default), three bilinear-up decoder stages.
    8,167,843 parameters for ``in_channels=4`` (any block type).
    """

    def __init__(self, in_channels: int = 4, resblock: str = "spd", num_blocks: int = 6):
        super().__init__()
        self.encoder = nn.Sequential(
            conv_block(in_channels, 32, 7),
            down_block(32, 64),
            down_block(64, 128),
            down_block(128, 256),
        )
        self.blocks = nn.Sequential(*(make_resblock(resblock, 256, SPD8_RATES) for _ in range(num_blocks)))
        self.decoder = nn.Sequential(UpBlock(256, 128), UpBlock(128, 64), UpBlock(64, 32), conv_block(32, 3, 7, act=None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.blocks(self.encoder(x)))


class RefineGenerator(nn.Module):
    """G2: ``(B, in_channels, H, W) -> (I_raw (B,3,H,W), alpha (B,1,H,W) in (0,1) or None, I_lr (B,3,H/4,W/4) or None)``.

    ``attention``: ``"none"``; ``"sa"`` = SA(512) at H/16 between res blocks 3 and 4; ``"mssa"`` = that plus SA on
    channel-reduced **encoder** skips at H/8 (128 ch) and H/4 (64 ch), concatenated with the decoder and fused by 3x3
    convs. ``back_projection`` adds the ``I_lr`` head (at H/4) and the sigmoid weighting map ``alpha``.
    34,762,343 parameters for the full model with ``in_channels=4``.
    """

    def __init__(self, in_channels: int = 4, resblock: str = "spd", attention: str = "mssa",
                 back_projection: bool = True, num_blocks: int = 6):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        self.attention = attention
        self.back_projection = back_projection
        self.e1 = conv_block(in_channels, 32, 7)
        self.e2 = down_block(32, 64)
        self.e3 = down_block(64, 128)
        self.e4 = down_block(128, 256)
        self.e5 = down_block(256, 512)
        half = num_blocks // 2
        self.blocks_a = nn.Sequential(*(make_resblock(resblock, 512, SPD4_RATES) for _ in range(half)))
        self.attn16 = SelfAttention(512) if attention in ("sa", "mssa") else nn.Identity()
        self.blocks_b = nn.Sequential(*(make_resblock(resblock, 512, SPD4_RATES) for _ in range(num_blocks - half)))
        self.d1 = UpBlock(512, 256)
        self.d2 = UpBlock(256, 128)
        if attention == "mssa":
            self.skip3 = conv_block(128, 64, 3)  # e3 (H/4) -> 64 ch
            self.skip4 = conv_block(256, 128, 3)  # e4 (H/8) -> 128 ch
            self.attn64 = SelfAttention(64)
            self.attn32 = SelfAttention(128)
            self.fuse1 = conv_block(256 + 128, 256, 3)
            self.fuse2 = conv_block(128 + 64, 128, 3)
        if back_projection:
            self.lr_head = nn.Sequential(conv_block(128, 32, 3), conv_block(32, 3, 3, act=None))
        self.d3 = UpBlock(128, 64)
        self.d4 = UpBlock(64, 32)
        self.out = conv_block(32, 3, 7, act=None)
        if back_projection:
            self.alpha = conv_block(32, 1, 3, act="sigmoid")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        f1 = self.e1(x)
        f2 = self.e2(f1)
        f3 = self.e3(f2)
        f4 = self.e4(f3)
        y = self.blocks_b(self.attn16(self.blocks_a(self.e5(f4))))
        y = self.d1(y)
        if self.attention == "mssa":
            y = self.fuse1(torch.cat([y, self.attn32(self.skip4(f4))], dim=1))
        y = self.d2(y)
        if self.attention == "mssa":
            y = self.fuse2(torch.cat([y, self.attn64(self.skip3(f3))], dim=1))
        lr = self.lr_head(y) if self.back_projection else None
        y = self.d4(self.d3(y))
        alpha = self.alpha(y) if self.back_projection else None
        return self.out(y), alpha, lr


def resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with align_corners=True and no antialiasing (the official ``nn.UpsamplingBilinear2d``)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class DeepGINGenerator(nn.Module):
    """G = G1 (+ G2 + back projection). Inputs/outputs in [0, 1]; spec §2.1 data flow.

    Args:
        stages: ``"two_stage"`` or ``"coarse_only"`` (Table 1 row 1; then ``output = coarse``).
        resblock: ``"std" | "dilated" | "spd"`` in both G1 and G2.
        attention: ``"none" | "sa" | "mssa"`` (G2 only).
        back_projection: the BP branch (``I_lr`` head + ``alpha``); off -> ``output = raw``.
        semantic_channels: extra input channels of a segmentation map concatenated to both G1 and G2 inputs
            (0 = Track 1; 3 = the official Track-2 RGB-coded map; 52 = the project's one-hot map).
        small_init: ESRGAN Kaiming x 0.1 init of every conv (official); False keeps PyTorch's default init.

    Parameters: 42,930,186 (full, Track 1), 42,939,594 (``semantic_channels=3``), 8,167,843 (coarse only).
    """

    def __init__(self, stages: str = "two_stage", resblock: str = "spd", attention: str = "mssa",
                 back_projection: bool = True, semantic_channels: int = 0, small_init: bool = True):
        super().__init__()
        if stages not in STAGES:
            raise ValueError(f"stages must be one of {STAGES}, got {stages!r}")
        if resblock not in RESBLOCKS:
            raise ValueError(f"resblock must be one of {RESBLOCKS}, got {resblock!r}")
        self.stages = stages
        self.semantic_channels = semantic_channels
        in_channels = 4 + semantic_channels
        self.coarse = CoarseGenerator(in_channels, resblock)
        self.refine = (RefineGenerator(in_channels, resblock, attention, back_projection)
                       if stages == "two_stage" else None)
        if small_init:
            small_kaiming_init_(self)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, seg: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Inpaint.

        Args:
            image: ``(B, 3, H, W)`` in [0, 1]; only valid pixels are read (holes are re-filled with white here).
            mask: ``(B, 1, H, W)`` in {0, 1}, 1 = hole.
            seg: ``(B, semantic_channels, H, W)`` or None (required iff ``semantic_channels > 0``).

        Returns:
            dict with ``coarse`` (raw G1 output), ``output`` (``I_out``), ``composite`` (``I_compltd``),
            ``masked_input`` (``I_in``, white holes) and, if present, ``raw``, ``alpha``, ``lr`` (``I_lr`` at H/4).
            All images ``(B, 3, ., .)`` nominally in [0, 1] (linear heads: not clipped).
        """
        if (seg is None) != (self.semantic_channels == 0):
            raise ValueError(f"seg must be given iff semantic_channels > 0 (got {self.semantic_channels})")
        if seg is not None and seg.shape[1] != self.semantic_channels:
            raise ValueError(f"seg has {seg.shape[1]} channels, expected {self.semantic_channels}")
        known = image * (1 - mask)
        masked_input = known + mask  # white holes
        extra = [] if seg is None else [seg]
        coarse = self.coarse(torch.cat([masked_input, mask, *extra], dim=1))
        out = {"coarse": coarse, "masked_input": masked_input}
        if self.refine is None:
            output = coarse
        else:
            coarse_comp = coarse * mask + known  # not detached: G2 losses train G1 too
            raw, alpha, lr = self.refine(torch.cat([coarse_comp, mask, *extra], dim=1))
            out["raw"] = raw
            if lr is None:
                output = raw
            else:
                raw_comp = raw * mask + known
                residual_lr = lr - resize_bilinear(raw_comp, lr.shape[-2:])
                output = raw_comp + alpha * resize_bilinear(residual_lr, raw.shape[-2:])
                out.update(alpha=alpha, lr=lr)
        out["output"] = output
        out["composite"] = output * mask + known
        return out


# ----------------------------------------------------------------------------------------------------------------------
# discriminator
# ----------------------------------------------------------------------------------------------------------------------
SPECTRAL_NORMS = ("pytorch", "official")


def spectral_norm_conv(conv: nn.Conv2d, kind: str = "pytorch") -> nn.Conv2d:
    """``conv`` with a spectrally normalised weight: ``"pytorch"`` = ``nn.utils.parametrizations.spectral_norm``
    (1 power iteration per training forward, none in eval), ``"official"`` = the pix2pixHD wrapper of the released
    code (:mod:`networks.spectral_norm`, kind ``pix2pixhd``: v first, also in eval)."""
    if kind not in SPECTRAL_NORMS:
        raise ValueError(f"spectral_norm must be one of {SPECTRAL_NORMS}, got {kind!r}")
    return spectral_norm(conv, "pix2pixhd" if kind == "official" else "pytorch")


class PatchDiscriminator(nn.Module):
    """Spectral-norm PatchGAN (official ``NLayerDiscriminator``, n_layers=2, ndf=64, zero pad 2, kernel 4).

    ``(B, in_channels, H, W) -> (B, 256, ~H/4 + 3, ~W/4 + 3)`` raw scores (67x67 for 256 input), no sigmoid.
    1,710,784 trainable parameters for ``in_channels=6`` (SN u/v are buffers).

    ``spectral_norm``: ``"pytorch"`` (default; PyTorch's parametrization: one power iteration per training forward,
    an eval forward has no side effect) or ``"official"`` (:mod:`networks.spectral_norm` ``pix2pixhd``: the released code's order
    of the power iteration, also run in eval mode; set by ``inpaint-suite convert deepgin`` so that converted
    weights score exactly as the official D). Same parameters, buffers and state-dict keys either way.
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, spectral_norm: str = "pytorch"):
        super().__init__()
        if spectral_norm not in SPECTRAL_NORMS:
            raise ValueError(f"spectral_norm must be one of {SPECTRAL_NORMS}, got {spectral_norm!r}")
        chans = [in_channels, ndf, ndf * 2, ndf * 4, ndf * 4]
        strides = [2, 2, 1, 1]
        layers: list[nn.Module] = []
        for i, s in enumerate(strides):
            layers.append(spectral_norm_conv(nn.Conv2d(chans[i], chans[i + 1], 4, stride=s, padding=2), spectral_norm))
            if i < len(strides) - 1:
                layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The intermediate activations (after each LeakyReLU), for pix2pixHD feature matching."""
        feats = []
        for layer in self.net:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                feats.append(x)
        return feats


class MultiScaleDiscriminator(nn.Module):
    """Conditional D at ``num_scales`` scales (official ``MultiscaleDiscriminator``, num_D=2).

    Input ``concat[I_in, X]`` ``(B, 6, H, W)`` in [0, 1]; scale k sees the input average-pooled k times
    (AvgPool 3, stride 2, pad 1, count_include_pad=False). Returns a list of score maps, full scale first (the
    official forward runs ``layer{num_D-1-i}`` on the i-th input: its ``layer1`` is our ``scales.0``).
    3,421,568 trainable parameters for two scales. ``spectral_norm``: see :class:`PatchDiscriminator`.
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, num_scales: int = 2, spectral_norm: str = "pytorch"):
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(in_channels, ndf, spectral_norm) for _ in range(num_scales))
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def _inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        xs = [x]
        for _ in range(len(self.scales) - 1):
            xs.append(self.down(xs[-1]))
        return xs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [d(xi) for d, xi in zip(self.scales, self._inputs(x))]

    def features(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per scale, the intermediate activations (see :meth:`PatchDiscriminator.features`)."""
        return [d.features(xi) for d, xi in zip(self.scales, self._inputs(x))]


# ----------------------------------------------------------------------------------------------------------------------
# test-time extras of the official challenge script (spec §6); off by default in the Lightning module
# ----------------------------------------------------------------------------------------------------------------------
def _rot(x: torch.Tensor, k: int) -> torch.Tensor:
    return torch.rot90(x, k, dims=(-2, -1))


GEOMETRIC_ENSEMBLE = (
    (lambda x: x, lambda x: x),
    (lambda x: _rot(x, 1), lambda x: _rot(x, -1)),
    (lambda x: _rot(x, 2), lambda x: _rot(x, -2)),
    (lambda x: _rot(x, 3), lambda x: _rot(x, -3)),
    (lambda x: torch.flip(x, dims=(-1,)), lambda x: torch.flip(x, dims=(-1,))),
)
"""(forward, inverse) pairs: identity, rot90, rot180, rot270, horizontal flip (the official x5 ensemble)."""


def self_ensemble(fn, image: torch.Tensor, mask: torch.Tensor, seg: torch.Tensor | None = None) -> torch.Tensor:
    """Average of ``fn(T(image), T(mask), T(seg))`` mapped back by ``T^-1`` over :data:`GEOMETRIC_ENSEMBLE`.

    ``fn`` returns an image ``(B, 3, H, W)``; square inputs are needed for the 90-degree rotations.
    The official script averages uint8 images; this averages floats (no intermediate quantisation).
    """
    acc = None
    for fwd, inv in GEOMETRIC_ENSEMBLE:
        y = inv(fn(fwd(image), fwd(mask), None if seg is None else fwd(seg)))
        acc = y if acc is None else acc + y
    return acc / len(GEOMETRIC_ENSEMBLE)


def bicubic_post_blur(x: torch.Tensor) -> torch.Tensor:
    """The challenge script's mild blur: bicubic x0.5 (antialiased, like PIL) then bicubic back to the input size."""
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, h // 2), max(1, w // 2)), mode="bicubic", align_corners=False, antialias=True)
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)
