"""MADF generator: mask-aware dynamic filtering encoder + recovery decoder + K refinement decoders.

Zhu et al., "Image Inpainting by End-to-End Cascaded Refinement with Mask Awareness" (IEEE TIP).
Re-implemented from the paper and the official code's architecture (``lightning_modules/README_madf.md``); the
section numbers below refer to the project's MADF notes.

Conventions *inside this module* follow the paper and official code, not the project's:

* ``image``: ``(B, 3, H, W)`` in ImageNet-normalised space (``(x - mean) / std``); holes already zeroed
  (``I_in = M * I_gt``).
* ``mask``: ``(B, 1|3, H, W)`` in {0, 1}, **1 = valid (known) pixel, 0 = hole**; a 1-channel mask is repeated to 3.
* outputs: list ``[O_R, O_F1, ..., O_FK]``, each ``(B, 3, H, W)`` in normalised space, no output activation.

The project-facing conversion ([-1, 1] images, 1 = hole masks) lives in ``lightning_modules/madf.py``.
``H`` and ``W`` must be multiples of 128 (seven stride-2 levels, 1x1 bottleneck at 128 px).

Variants (Tables II/IV): ``encoder_block`` in {madf, pconv, gconv}, ``num_refine`` = K in {0..3},
``refine_norm`` in {pn, bn}.

Semantic input (AIM 2020 Track 2; not in the paper): ``semantic_channels`` = S > 0 concatenates the seg map
``(B, S, H, W)`` (one-hot, whole image, *not* masked) to the 3-channel mask at the input of the **mask branch** of
encoder level 1 only: its 7x7 ``mask_conv`` takes 3 + S channels (+S x 16 x 7 x 7 weights; S = 52: +40,768).
The image branch ``e^0 = [I_in, M]`` and the decoders are unchanged. Why the mask branch:

* it is MADF's conditioning path: it generates the per-window kernels of every encoder level (its features ``m'``
  feed the next level's kernel generator), so the semantic layout steers how each window is filtered at all seven
  levels, much as SPADE conditions normalisation on a seg map (the AIM Track-2 winner, Rainbow, used SPADE);
* the seg map is known inside the hole, exactly where the mask alone says nothing; the image branch there is zeros;
* cost: each extra image-branch channel at level 1 costs ``k^2 x C_e = 49 x 16 = 784`` generated-kernel channels at
  every output position. With S = 52 in the image branch, level 1's kernels would grow from 4,704 to 45,472 channels
  at H/2 x W/2 (about 3.0 GB instead of 0.3 GB per 256^2 sample in fp32) and its 1x1 kernel generator by 693,056
  parameters; in the mask branch the kernels keep their size.

PConv / GConv (Table II baselines) have no mask branch, so they refuse ``semantic_channels > 0``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

# Level hyper-parameters for levels 1..7 (§2.1, §2.3).
ENCODER_CHANNELS = (16, 32, 64, 128, 128, 128, 128)  # C_e^l, output of the dynamic conv
LIFT_CHANNELS = (64, 128, 256, 512, 512, 512, 512)  # C_u^l, skip / bottleneck features
KERNEL_SIZES = (7, 5, 3, 3, 3, 3, 3)  # k_l
MASK_CHANNELS = 16  # C_m^l for every level
PN_HIDDEN = 128  # hidden width of the PN conditioning convs
ENCODER_BLOCKS = ("madf", "pconv", "gconv")
REFINE_NORMS = ("pn", "bn")
MAX_REFINE = 3


# ---------------------------------------------------------------------------------------------------------------------
# Encoder blocks
# ---------------------------------------------------------------------------------------------------------------------


def dynamic_filter(x: torch.Tensor, theta: torch.Tensor, kernel_size: int, stride: int, padding: int) -> torch.Tensor:
    """Per-window convolution with a kernel generated for every output position (§2.1 step 3), no bias/activation.

    Args:
        x: ``(B, C_in, H, W)`` input features.
        theta: ``(B, C_in * k * k * C_out, N_H, N_W)`` generated kernels; channel index
            ``j * C_out + o`` with ``j = (c * k + ky) * k + kx`` (output channel fastest, official layout).
    Returns:
        ``(B, C_out, N_H, N_W)`` with ``out[b, o, n] = sum_j unfold(x)[b, j, n] * theta[b, j * C_out + o, n]``.
    """
    batch, in_ch = x.shape[:2]
    n_h, n_w = theta.shape[-2:]
    patch_len = in_ch * kernel_size * kernel_size
    if theta.shape[1] % patch_len:
        raise ValueError(f"theta has {theta.shape[1]} channels, not a multiple of C_in*k*k = {patch_len}")
    out_ch = theta.shape[1] // patch_len
    patches = F.unfold(x, kernel_size, padding=padding, stride=stride)  # (B, C_in k k, L)
    if patches.shape[-1] != n_h * n_w:
        raise ValueError(f"unfold gives {patches.shape[-1]} windows but theta has {n_h}x{n_w}")
    kernels = theta.reshape(batch, patch_len, out_ch, n_h * n_w)
    out = torch.einsum("bjl,bjol->bol", patches, kernels)
    return out.reshape(batch, out_ch, n_h, n_w)


class MaskAwareDynamicConv(nn.Module):
    """MADF operator of one encoder level (§2.1 steps 1-3).

    forward(e, m): ``e`` ``(B, C_in, H, W)`` image features, ``m`` ``(B, C_m_in, H, W)`` mask features
    -> ``(e', m')`` with ``e'`` ``(B, C_out, H/2, W/2)`` = ReLU(dynamic conv), ``m'`` ``(B, 16, H/2, W/2)``.

    ``unused_bn``: build (never apply) the ``BatchNorm2d(C_out)`` that the official ``ConvWithFilter`` constructs
    but skips (§9.1); only for matching the official parameter count.
    """

    def __init__(self, in_ch: int, out_ch: int, mask_in_ch: int, kernel_size: int, stride: int = 2,
                 mask_ch: int = MASK_CHANNELS, unused_bn: bool = False):
        super().__init__()
        self.in_ch, self.out_ch = in_ch, out_ch
        self.kernel_size, self.stride, self.padding = kernel_size, stride, (kernel_size - 1) // 2
        self.mask_conv = nn.Conv2d(mask_in_ch, mask_ch, kernel_size, stride, self.padding)
        self.kernel_gen = nn.Conv2d(mask_ch, in_ch * kernel_size * kernel_size * out_ch, 1)
        self.unused_bn = nn.BatchNorm2d(out_ch) if unused_bn else None

    def generate_kernels(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask features ``(B, C_m_in, H, W)`` -> (``theta`` ``(B, D, H/2, W/2)``, ``m'`` ``(B, 16, H/2, W/2)``)."""
        m_out = F.relu(self.mask_conv(m))
        return self.kernel_gen(m_out), m_out

    def forward(self, e: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        theta, m_out = self.generate_kernels(m)
        e_out = dynamic_filter(e, theta, self.kernel_size, self.stride, self.padding)
        return F.relu(e_out), m_out


class PartialConvBlock(nn.Module):
    """Partial convolution (Liu et al. 2018) + ReLU: the Table II "PConv" encoder operator (§2.4).

    forward(x, m): ``x`` ``(B, C_in, H, W)``, ``m`` ``(B, 1|C_in, H, W)`` validity in {0, 1} (1 = valid)
    -> ``(ReLU(pconv(x)), m')`` with ``m'`` ``(B, 1, H/2, W/2)`` = 1 where the window saw any valid pixel.
    Output = ``conv(x*m) * (k*k*C_in / sum(m over window)) + bias``, zero where the window had no valid pixel.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 2):
        super().__init__()
        self.in_ch, self.kernel_size, self.stride, self.padding = in_ch, kernel_size, stride, (kernel_size - 1) // 2
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, self.padding, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_ch))
        # The mask sum is a fixed box filter, not a parameter.
        self.register_buffer("window_ones", torch.ones(1, in_ch, kernel_size, kernel_size), persistent=False)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = m.expand(-1, self.in_ch, -1, -1) if m.shape[1] == 1 else m
        with torch.no_grad():
            valid_sum = F.conv2d(m, self.window_ones, stride=self.stride, padding=self.padding)
            has_valid = (valid_sum > 0).to(x.dtype)
            ratio = self.window_ones.numel() / valid_sum.clamp(min=1.0) * has_valid
        out = (self.conv(x * m) * ratio + self.bias.view(1, -1, 1, 1)) * has_valid
        return F.relu(out), has_valid


class GatedConvBlock(nn.Module):
    """Gated convolution (Yu et al. 2019): ``ReLU(conv_f(x)) * sigmoid(conv_g(x))``, the "GConv" operator (§2.4).

    forward(x, m): ``x`` ``(B, C_in, H, W)`` -> ``((B, C_out, H/2, W/2), m)``; the mask is passed through untouched
    (no mask branch: the mask enters only through ``e^0``).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 2):
        super().__init__()
        padding = (kernel_size - 1) // 2
        self.feature = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding)
        self.gate = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.relu(self.feature(x)) * torch.sigmoid(self.gate(x)), m


class EncoderLevel(nn.Module):
    """One encoder level: operator (MADF / PConv / GConv) then the 1x1 lift ``u = ReLU(Conv1x1(e))`` (§2.1 step 4).

    forward(e, m) -> ``(e', m', u')``: ``e'`` ``(B, C_e, H/2, W/2)`` and ``m'`` feed the next level, ``u'``
    ``(B, C_u, H/2, W/2)`` is the skip / bottleneck feature.
    ``recompute``: do not keep the operator's activations (the generated kernels) for backward; recompute them
    (gradient checkpointing; same values and gradients, less memory).
    """

    def __init__(self, block: str, in_ch: int, out_ch: int, lift_ch: int, mask_in_ch: int, kernel_size: int,
                 unused_bn: bool = False, recompute: bool = False):
        super().__init__()
        self.recompute = recompute
        if block == "madf":
            self.op = MaskAwareDynamicConv(in_ch, out_ch, mask_in_ch, kernel_size, unused_bn=unused_bn)
        elif block == "pconv":
            self.op = PartialConvBlock(in_ch, out_ch, kernel_size)
        elif block == "gconv":
            self.op = GatedConvBlock(in_ch, out_ch, kernel_size)
        else:
            raise ValueError(f"encoder_block must be one of {ENCODER_BLOCKS}, got {block!r}")
        self.lift = nn.Conv2d(out_ch, lift_ch, 1)

    def forward(self, e: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.recompute and torch.is_grad_enabled():
            e, m = checkpoint(self.op, e, m, use_reentrant=False)
        else:
            e, m = self.op(e, m)
        return e, m, F.relu(self.lift(e))


# ---------------------------------------------------------------------------------------------------------------------
# Decoders
# ---------------------------------------------------------------------------------------------------------------------


class PointwiseNorm(nn.Module):
    """Pointwise Normalization (§2.2): non-affine BN modulated per pixel by a conditioning map.

    forward(x, c): ``x`` ``(B, C_x, H, W)``, ``c`` ``(B, C_c, H', W')`` (bilinearly resized to ``H x W`` if needed)
    -> ``BN(x) * (1 + gamma(c)) + beta(c)``, ``(B, C_x, H, W)``. The ``1 + gamma`` form follows the code (§9.3).
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int = PN_HIDDEN):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.shared = nn.Conv2d(cond_channels, hidden, 3, padding=1)
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if c.shape[-2:] != x.shape[-2:]:
            c = F.interpolate(c, size=x.shape[-2:], mode="bilinear", align_corners=False)
        h = F.relu(self.shared(c))
        return self.norm(x) * (1 + self.gamma(h)) + self.beta(h)


class RecoveryBlock(nn.Module):
    """Recovery-decoder block ``R^l`` (§2.3): ``t = LReLU(BN(deconv(r)))``; ``out = ReLU(conv3x3([skip, t]))``.

    ``last=True`` (``R^1``): no BN, no activation anywhere (produces ``O_R``).
    forward(r, skip): ``r`` ``(B, C_in, h, w)``, ``skip`` ``(B, C_skip, 2h, 2w)`` -> ``(B, C_out, 2h, 2w)``.
    """

    def __init__(self, in_ch: int, out_ch: int, skip_ch: int, last: bool = False):
        super().__init__()
        self.last = last
        self.deconv = nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1)
        self.norm = nn.Identity() if last else nn.BatchNorm2d(out_ch)
        self.blend = nn.Conv2d(skip_ch + out_ch, out_ch, 3, 1, 1)

    def forward(self, r: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        t = self.norm(self.deconv(r))
        if not self.last:
            t = F.leaky_relu(t, 0.2)
        out = self.blend(torch.cat([skip, t], dim=1))  # skip first, upsampled second (official order)
        return out if self.last else F.relu(out)


class RefinementBlock(nn.Module):
    """Refinement-decoder block ``F^{l,k}`` (§2.3): ``LReLU(norm(deconv(f)))`` with norm = PN(c) or affine BN.

    forward(f, c): ``f`` ``(B, C_in, h, w)``, ``c`` ``(B, C_out, 2h, 2w)`` conditioning from the previous decoder
    (ignored for ``norm="bn"``) -> ``(B, C_out, 2h, 2w)``.
    """

    def __init__(self, in_ch: int, out_ch: int, norm: str):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1)
        if norm == "pn":
            self.norm = PointwiseNorm(out_ch, out_ch)
        elif norm == "bn":
            self.norm = nn.BatchNorm2d(out_ch)
        else:
            raise ValueError(f"refine_norm must be one of {REFINE_NORMS}, got {norm!r}")

    def forward(self, f: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = self.deconv(f)
        x = self.norm(x, c) if isinstance(self.norm, PointwiseNorm) else self.norm(x)
        return F.leaky_relu(x, 0.2)


class RefinementHead(nn.Module):
    """Level-1 head of ``F_k``: bilinear x2 of ``f^{1,k}``, concat ``[up, O_R, O_F1..O_F(k-1), e^0]``, 1x1 -> 3.

    forward(f, previous_outputs, e0): ``f`` ``(B, 64, H/2, W/2)``, ``previous_outputs`` k tensors ``(B, 3, H, W)``,
    ``e0`` ``(B, C_e0, H, W)`` -> ``(B, 3, H, W)`` (no activation).
    """

    def __init__(self, feat_ch: int, num_previous: int, e0_ch: int):
        super().__init__()
        self.fuse = nn.Conv2d(feat_ch + 3 * num_previous + e0_ch, 3, 1)

    def forward(self, f: torch.Tensor, previous_outputs: list[torch.Tensor], e0: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(f, scale_factor=2, mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([up, *previous_outputs, e0], dim=1))


# ---------------------------------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------------------------------


class MADFGenerator(nn.Module):
    """MADF encoder + recovery decoder + ``num_refine`` refinement decoders (§2).

    Args:
        encoder_block: ``madf`` (paper), ``pconv`` or ``gconv`` (Table II baselines, narrow operator swap of §2.4).
        num_refine: K, number of refinement decoders, 0..3 (K = 3 extends the official pattern).
        refine_norm: ``pn`` (Pointwise Normalization conditioned on the previous decoder) or ``bn`` (affine BN; the
            previous decoder then reaches ``F_k`` only through the final 1x1 fusion).
        official_unused_bn: also build the 7 encoder BatchNorms (1,248 parameters) that the official code
            constructs but never applies (§9.1), so that parameter counts equal the official ones
            (K=0/1/2: 40,743,065 / 62,942,135 / 85,141,214). Default ``False``: 40,741,817 / 62,940,887 / 85,139,966.
        init: ``default`` (PyTorch default init, as the official code) or ``normal`` (paper: N(0, 0.01) weights of
            every conv / deconv, zero bias).
        recompute_levels: gradient checkpointing of the first N encoder operators (their generated kernels dominate
            activation memory: ~0.7 GB per 256x256 sample in fp32, mostly levels 1-4); 0 = off. Results unchanged.
        semantic_channels: S extra input channels of level 1's mask branch (AIM Track 2 seg map; module docstring);
            ``madf`` encoder only. 0 = the paper's model.

    forward(image, mask, seg=None) -> list of ``1 + num_refine`` tensors ``(B, 3, H, W)``: ``[O_R, O_F1, ..., O_FK]``
    (see module docstring for value conventions); ``seg`` ``(B, S, H, W)`` is required iff S > 0.
    """

    def __init__(self, encoder_block: str = "madf", num_refine: int = 2, refine_norm: str = "pn",
                 official_unused_bn: bool = False, init: str = "default", recompute_levels: int = 0,
                 semantic_channels: int = 0):
        super().__init__()
        if encoder_block not in ENCODER_BLOCKS:
            raise ValueError(f"encoder_block must be one of {ENCODER_BLOCKS}, got {encoder_block!r}")
        if refine_norm not in REFINE_NORMS:
            raise ValueError(f"refine_norm must be one of {REFINE_NORMS}, got {refine_norm!r}")
        if not 0 <= num_refine <= MAX_REFINE:
            raise ValueError(f"num_refine must be in 0..{MAX_REFINE}, got {num_refine}")
        if semantic_channels < 0:
            raise ValueError(f"semantic_channels must be >= 0, got {semantic_channels}")
        if semantic_channels and encoder_block != "madf":
            raise ValueError(f"semantic_channels > 0 needs encoder_block='madf' (the seg map enters the MADF mask "
                             f"branch, which {encoder_block!r} does not have)")
        self.encoder_block, self.num_refine, self.refine_norm = encoder_block, num_refine, refine_norm
        self.semantic_channels = int(semantic_channels)
        self.num_levels = len(ENCODER_CHANNELS)
        e0_ch = 6  # [I_in, M]; PConv's first level sees I_in only (its mask is the PConv mask)

        levels = []
        for i in range(self.num_levels):
            in_ch = ENCODER_CHANNELS[i - 1] if i else (3 if encoder_block == "pconv" else e0_ch)
            mask_in_ch = MASK_CHANNELS if i else 3 + self.semantic_channels
            levels.append(EncoderLevel(encoder_block, in_ch, ENCODER_CHANNELS[i], LIFT_CHANNELS[i], mask_in_ch,
                                       KERNEL_SIZES[i], unused_bn=official_unused_bn,
                                       recompute=i < recompute_levels))
        self.encoder = nn.ModuleList(levels)

        # Decoder block j produces level (num_levels - 1 - j) from level (num_levels - j); index from the top.
        in_chs = LIFT_CHANNELS[::-1]  # 512 (u^7) ... 64 (u^1)
        out_chs = LIFT_CHANNELS[-2::-1]  # 512 (level 6) ... 64 (level 1)
        self.recovery = nn.ModuleList(
            [RecoveryBlock(c_in, c_out, c_out) for c_in, c_out in zip(in_chs[:-1], out_chs)]
            + [RecoveryBlock(LIFT_CHANNELS[0], 3, e0_ch, last=True)]
        )
        self.refinements = nn.ModuleList(
            nn.ModuleList([RefinementBlock(c_in, c_out, refine_norm) for c_in, c_out in zip(in_chs[:-1], out_chs)])
            for _ in range(num_refine)
        )
        self.refinement_heads = nn.ModuleList(
            RefinementHead(LIFT_CHANNELS[0], k + 1, e0_ch) for k in range(num_refine)
        )
        if init == "normal":
            init_normal_(self)
        elif init != "default":
            raise ValueError(f"init must be 'default' or 'normal', got {init!r}")

    def encode(self, image: torch.Tensor, mask: torch.Tensor,
               seg: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """-> (``e^0`` ``(B, 6, H, W)``, ``[u^1, ..., u^7]``); ``seg`` joins the mask-branch input only."""
        e0 = torch.cat([image, mask], dim=1)
        e = image if self.encoder_block == "pconv" else e0
        m = mask if seg is None else torch.cat([mask, seg.to(mask.dtype)], dim=1)
        lifted = []
        for level in self.encoder:
            e, m, u = level(e, m)
            lifted.append(u)
        return e0, lifted

    def forward(self, image: torch.Tensor, mask: torch.Tensor,
                seg: torch.Tensor | None = None) -> list[torch.Tensor]:
        size_unit = 2 ** self.num_levels
        if image.shape[-1] % size_unit or image.shape[-2] % size_unit:
            raise ValueError(f"H and W must be multiples of {size_unit}, got {tuple(image.shape[-2:])}")
        if (seg is None) != (self.semantic_channels == 0):
            raise ValueError(f"seg must be given iff semantic_channels > 0 (semantic_channels={self.semantic_channels})")
        if seg is not None and (seg.shape[1] != self.semantic_channels or seg.shape[-2:] != image.shape[-2:]):
            raise ValueError(f"seg must be (B, {self.semantic_channels}, {image.shape[-2]}, {image.shape[-1]}), "
                             f"got {tuple(seg.shape)}")
        if mask.shape[1] == 1:
            mask = mask.expand(-1, 3, -1, -1)
        e0, lifted = self.encode(image, mask, seg)
        skips = lifted[-2::-1]  # u^6 ... u^1
        r = lifted[-1]
        f = [lifted[-1]] * self.num_refine  # every refinement decoder starts from the bottleneck u^7
        # Level-synchronous: each decoder's fresh level feature conditions the next decoder (§2.3, pitfall 9).
        for j, skip in enumerate(skips):
            r = self.recovery[j](r, skip)
            cond = r
            for k in range(self.num_refine):
                f[k] = self.refinements[k][j](f[k], cond)
                cond = f[k]
        outputs = [self.recovery[-1](r, e0)]
        for k in range(self.num_refine):
            outputs.append(self.refinement_heads[k](f[k], outputs, e0))
        return outputs


def init_normal_(module: nn.Module, std: float = 0.01) -> None:
    """Paper init (§4.3): N(0, std) weights for every conv / deconv, zero bias; norms keep their defaults."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, PartialConvBlock):
            nn.init.zeros_(m.bias)
