"""HiFill (Yi et al., CVPR 2020): LWGC generator with shared contextual attention, and its WGAN critic.

Written from the paper and the official code's graph (``lightning_modules/README_hifill.md``). Conventions of this module:

* images ``(B, 3, H, W)`` in [-1, 1]; masks ``(B, 1, H, W)`` in {0, 1}, 1 = hole;
* the generator's native size is 512x512 (attention grid 32x32 of 16-pixel cells); any size that is a multiple
  of 64 works (grid = size / 16), e.g. 64x64 in tests (grid 4x4);
* attention scores ``S`` are ``(B, N, N)`` indexed ``[query, key]`` over the row-major flattened grid cells.

Pieces, each usable alone: :class:`LightWeightGatedConv2d` (gc / ds / pw / sc / none gates),
:func:`attention_scores` (Attention Computing Module), :func:`attention_transfer` (Attention Transfer Module),
:class:`HiFillCoarse`, :class:`HiFillRefine`, :class:`HiFillGenerator`, :class:`HiFillCritic`.

Two switches reproduce the official TensorFlow graph (spec pitfall 9) for converted weights; the defaults are the
PyTorch conventions this re-implementation was trained with:

* ``padding``: ``"symmetric"`` (PyTorch ``padding = dilation * (k - 1) // 2`` on both sides) | ``"tf_same"``
  (TF ``padding='SAME'``: total ``max((ceil(n / s) - 1) * s + dilation * (k - 1) + 1 - n, 0)``, the smaller half
  before; only stride-2 convs differ: k3 0/1, k5 1/2, 1x1 0/0 on even sizes). :class:`Conv2dSame`, same keys.
* ``resize``: ``"half_pixel"`` (``F.interpolate(..., align_corners=False)``) | ``"tf1_legacy"`` (TF1
  ``resize_bilinear`` without half-pixel centres, :func:`tf1_resize_bilinear`) for every bilinear resampling of
  the generator.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

GATE_TYPES = ("gc", "ds", "pw", "sc", "none")
PADDINGS = ("symmetric", "tf_same")
RESIZES = ("half_pixel", "tf1_legacy")
CELL_SIZE = 16  # input pixels per attention cell (512 / 32)


# ----------------------------------------------------------------------------------------------------------------
# TensorFlow conventions: "SAME" padding and TF1 legacy bilinear resize
# ----------------------------------------------------------------------------------------------------------------
def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {choices}")
    return value


def tf_same_padding(size: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TF ``padding='SAME'`` along one axis of length ``size``: ``(before, after)``.

    Output ``ceil(size / stride)``; total ``max((out - 1) * stride + dilation * (k - 1) + 1 - size, 0)``, of which
    ``total // 2`` goes before and the rest after (e.g. k3 s2 on an even size: (0, 1); k5 s2: (1, 2)).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel_size - 1) + 1 - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``padding='SAME'`` (computed from the input size at every call).

    Same parameters and state_dict keys as ``nn.Conv2d`` (``weight``, ``bias``); ``self.padding`` is 0 and the
    padding is applied in :meth:`forward` (through ``F.pad`` only when it is asymmetric).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1,
                 groups: int = 1, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = tf_same_padding(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = tf_same_padding(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def make_conv2d(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, dilation: int = 1, groups: int = 1,
                bias: bool = True, padding: str = "symmetric") -> nn.Conv2d:
    """A "same"-size conv: ``nn.Conv2d`` with ``dilation * (k - 1) // 2`` on both sides (``"symmetric"``) or
    :class:`Conv2dSame` (``"tf_same"``). Both have the keys ``weight`` (+ ``bias``)."""
    if _check_choice("padding", padding, PADDINGS) == "tf_same":
        return Conv2dSame(in_ch, out_ch, kernel_size, stride, dilation, groups, bias)
    return nn.Conv2d(in_ch, out_ch, kernel_size, stride, dilation * (kernel_size - 1) // 2, dilation, groups, bias)


def _legacy_axis(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lower index, upper index and lerp weight (float32) of TF1's legacy bilinear sampling along one axis."""
    scale = torch.tensor(n_in, dtype=torch.float32) / n_out  # float32 division, as TF's CalculateResizeScale
    src = torch.arange(n_out, dtype=torch.float32) * scale
    lower = src.floor()
    upper = src.ceil().clamp_max(n_in - 1)
    return lower.long().to(device), upper.long().to(device), (src - lower).to(device)


def tf1_resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TF1 ``tf.image.resize_bilinear(x, size)`` with its defaults (``align_corners=False``,
    ``half_pixel_centers=False``), for ``(B, C, H, W)`` -> ``(B, C, size[0], size[1])``.

    Output pixel ``(i, j)`` samples the input at ``(y, x) = (i * H / H_out, j * W / W_out)`` (no half-pixel
    offset, the scale computed in float32): with ``y0 = floor(y)``, ``y1 = min(ceil(y), H - 1)``, ``a = y - y0``
    (and the same for x with ``b``)::

        top    = in[y0, x0] + (in[y0, x1] - in[y0, x0]) * b
        bottom = in[y1, x0] + (in[y1, x1] - in[y1, x0]) * b
        out    = top + (bottom - top) * a

    So 2x up-sampling keeps every input pixel at the even outputs and averages neighbours at the odd ones (the
    last row/column repeats), and 2x down-sampling takes every other pixel. Pure gather + lerp: any device,
    differentiable in ``x``.
    """
    h, w = x.shape[-2:]
    oh, ow = int(size[0]), int(size[1])
    y0, y1, a = _legacy_axis(h, oh, x.device)
    x0, x1, b = _legacy_axis(w, ow, x.device)
    a = a.to(x.dtype).view(-1, 1)
    b = b.to(x.dtype)
    top_rows, bottom_rows = x.index_select(-2, y0), x.index_select(-2, y1)
    top = top_rows.index_select(-1, x0)
    top = top + (top_rows.index_select(-1, x1) - top) * b
    bottom = bottom_rows.index_select(-1, x0)
    bottom = bottom + (bottom_rows.index_select(-1, x1) - bottom) * b
    return top + (bottom - top) * a


def resize_bilinear(x: torch.Tensor, size: tuple[int, int], resize: str = "half_pixel") -> torch.Tensor:
    """Bilinear resize of ``(B, C, H, W)`` to ``size``: PyTorch half-pixel centres or TF1 legacy sampling."""
    if _check_choice("resize", resize, RESIZES) == "tf1_legacy":
        return tf1_resize_bilinear(x, size)
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------------------------------------------
# Light-Weight Gated Convolution
# ----------------------------------------------------------------------------------------------------------------
def build_gate(gate: str, in_ch: int, out_ch: int, kernel_size: int, stride: int, dilation: int,
               padding: str = "symmetric") -> nn.Module | None:
    """Gate branch ``G`` of a gated conv (spec 2.4); returns ``None`` for ``gate="none"``.

    gc: k x k conv, Cout channels. ds: depth-wise k x k (no bias) then 1x1 to Cout (true depth-separable; the
    official code's "ds" is a plain 1x1, i.e. our ``pw``). pw: 1x1 conv, Cout channels, same stride, no dilation.
    sc: k x k conv with a single output channel broadcast over Cout. ``padding``: see :func:`make_conv2d`.
    """
    conv = partial(make_conv2d, padding=padding)
    if gate == "gc":
        return conv(in_ch, out_ch, kernel_size, stride, dilation)
    if gate == "ds":
        return nn.Sequential(
            conv(in_ch, in_ch, kernel_size, stride, dilation, groups=in_ch, bias=False),
            nn.Conv2d(in_ch, out_ch, 1),
        )
    if gate == "pw":
        return conv(in_ch, out_ch, 1, stride)
    if gate == "sc":
        return conv(in_ch, 1, kernel_size, stride, dilation)
    if gate == "none":
        return None
    raise ValueError(f"unknown gate {gate!r}; expected one of {GATE_TYPES}")


class LightWeightGatedConv2d(nn.Module):
    """``O = sigmoid(G(I)) * ELU(conv_kxk(I))`` with a light gate ``G`` ("same" padding, no normalisation).

    Input ``(B, Cin, H, W)`` -> output ``(B, Cout, H / stride, W / stride)``. ``padding``: ``"symmetric"`` |
    ``"tf_same"`` (see :func:`make_conv2d`), for the feature conv and the gate.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1,
                 gate: str = "sc", padding: str = "symmetric"):
        super().__init__()
        self.feature = make_conv2d(in_ch, out_ch, kernel_size, stride, dilation, padding=padding)
        self.gate_type = gate
        self.gate = build_gate(gate, in_ch, out_ch, kernel_size, stride, dilation, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = F.elu(self.feature(x))
        if self.gate is None:
            return features
        return torch.sigmoid(self.gate(x)) * features


class GatedUpConv2d(nn.Module):
    """Bilinear x2 up-sampling followed by an LWGC (the code's ``gen_deconv``). ``(B, Cin, H, W) -> (B, Cout, 2H, 2W)``.

    ``resize``: ``"half_pixel"`` (PyTorch) | ``"tf1_legacy"`` (TF1 ``resize_bilinear``, :func:`tf1_resize_bilinear`).
    """

    def __init__(self, in_ch: int, out_ch: int, gate: str, padding: str = "symmetric", resize: str = "half_pixel"):
        super().__init__()
        self.resize = _check_choice("resize", resize, RESIZES)
        self.conv = LightWeightGatedConv2d(in_ch, out_ch, 3, 1, 1, gate, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return self.conv(resize_bilinear(x, (2 * h, 2 * w), self.resize))


# ----------------------------------------------------------------------------------------------------------------
# Attention Computing Module / Attention Transfer Module
# ----------------------------------------------------------------------------------------------------------------
def valid_key_cells(mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Key validity per cell: ``(B, 1, H, W)`` hole mask -> ``(B, N)`` float, 1 = usable context cell.

    A cell is invalid if any pixel of it is a hole, dilated by one cell (3x3) so that keys whose 3x3
    neighbourhood touches the hole are excluded too (spec pitfall 2).
    """
    cells = F.adaptive_max_pool2d(mask, grid)  # exact max over each cell when H, W are multiples of the grid
    cells = F.max_pool2d(cells, 3, stride=1, padding=1)
    return (1.0 - cells).flatten(1)


def fuse_scores(scores: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """DeepFill-v1 score fusion (spec 2.5 step 3): ``(B, N, N) -> (B, N, N)``.

    Sums each score with its two diagonal neighbours ``(q+d, k+d), d = +-1`` in row-major order (horizontal
    neighbours), then again in column-major order (vertical neighbours); zero outside.
    """
    gh, gw = grid
    b, n, _ = scores.shape

    def diagonal_sum(s: torch.Tensor) -> torch.Tensor:
        p = F.pad(s, (1, 1, 1, 1))
        return p[:, :-2, :-2] + p[:, 1:-1, 1:-1] + p[:, 2:, 2:]

    s = diagonal_sum(scores)
    s = s.view(b, gh, gw, gh, gw).permute(0, 2, 1, 4, 3).reshape(b, n, n)  # to column-major indexing
    s = diagonal_sum(s)
    return s.view(b, gw, gh, gw, gh).permute(0, 2, 1, 4, 3).reshape(b, n, n)


def attention_scores(cells: torch.Tensor, mask: torch.Tensor, softmax_scale: float = 10.0, fuse: bool = True,
                     mask_mode: str = "paper", query_norm: bool = True, attention_type: str = "soft") -> torch.Tensor:
    """Attention Computing Module on a cell feature map.

    Args:
        cells: ``(B, C, gh, gw)`` one feature vector per attention cell (HiFill: ``P3[:, :, ::2, ::2]``); each cell's
            descriptor is its 3x3 neighbourhood (zero padded).
        mask: ``(B, 1, H, W)`` hole mask at generator-input resolution, H and W multiples of (gh, gw).
        softmax_scale: lambda (10 in code).
        fuse: DeepFill 3x3 diagonal fusion of scores.
        mask_mode: ``"paper"``: invalid keys get -inf logits (softmax over context keys only; all-invalid -> zero row);
            ``"code"``: ``softmax(lambda * v * c) * v`` (invalid keys enter with logit 0, then zeroed).
        query_norm: ``True`` = cosine similarity (paper); ``False`` = only keys normalised (code).
        attention_type: ``"soft"`` or ``"hard"`` (one-hot on the best valid key).

    Returns:
        ``(B, N, N)`` scores ``S[b, query, key]``, N = gh * gw, rows sum to <= 1, zero on invalid keys.
    """
    b, _, gh, gw = cells.shape
    patches = F.unfold(cells, 3, padding=1)  # (B, C*9, N)
    keys = patches / patches.norm(dim=1, keepdim=True).clamp_min(1e-8)
    queries = patches / patches.norm(dim=1, keepdim=True).clamp_min(1e-8) if query_norm else patches
    sim = torch.bmm(queries.transpose(1, 2), keys)  # (B, N query, N key)
    if fuse:
        sim = fuse_scores(sim, (gh, gw))
    valid = valid_key_cells(mask, (gh, gw)).unsqueeze(1)  # (B, 1, N key)
    if mask_mode == "code":
        probs = torch.softmax(softmax_scale * sim * valid, dim=-1) * valid
        if attention_type == "hard":
            probs = _one_hot_argmax(probs) * valid
        return probs
    if mask_mode != "paper":
        raise ValueError(f"unknown attention mask_mode {mask_mode!r}")
    logits = (softmax_scale * sim).masked_fill(valid == 0, float("-inf"))
    any_valid = valid.amax(dim=-1, keepdim=True) > 0
    logits = torch.where(any_valid, logits, torch.zeros_like(logits))  # avoid NaN rows; zeroed below
    if attention_type == "hard":
        probs = _one_hot_argmax(logits)
    elif attention_type == "soft":
        probs = torch.softmax(logits, dim=-1)
    else:
        raise ValueError(f"unknown attention_type {attention_type!r}")
    return probs * valid * any_valid


def _one_hot_argmax(x: torch.Tensor) -> torch.Tensor:
    return F.one_hot(x.argmax(dim=-1), x.shape[-1]).to(x.dtype)


def attention_transfer(features: torch.Tensor, scores: torch.Tensor, kernel_size: int, stride: int,
                       padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Attention Transfer Module (Eq. 3): ``p_j = sum_i S[j, i] p_i``, overlapping writes summed.

    Args:
        features: ``(B, C, H, W)``; one patch per attention cell: ``unfold`` of the padded map must give N patches.
        scores: ``(B, N, N)`` ``[query, key]``.
        padding: ``(left, right, top, bottom)`` applied before patch extraction and cropped after folding.

    Returns ``(B, C, H, W)`` (replaces features at every position; no pasting).
    """
    b, c, h, w = features.shape
    left, right, top, bottom = padding
    padded = F.pad(features, padding)
    hp, wp = padded.shape[-2:]
    cols = F.unfold(padded, kernel_size, stride=stride)  # (B, C*k*k, N key)
    if cols.shape[-1] != scores.shape[-1]:
        raise ValueError(f"{cols.shape[-1]} patches but {scores.shape[-1]} attention cells")
    out = F.fold(torch.bmm(cols, scores.transpose(1, 2)), (hp, wp), kernel_size, stride=stride)
    return out[:, :, top:hp - bottom, left:wp - right]


def transfer_geometry(ratio: int) -> tuple[int, int, tuple[int, int, int, int]]:
    """ATM patch geometry for a map with ``ratio`` pixels per cell (spec 2.6): (kernel, stride, padding)."""
    if ratio == 2:  # P3: 3x3 patches, stride 2, TF "SAME" padding 0 before / 1 after
        return 3, 2, (0, 1, 0, 1)
    return 2 * ratio, ratio, (ratio // 2,) * 4


# ----------------------------------------------------------------------------------------------------------------
# Generator
# ----------------------------------------------------------------------------------------------------------------
class HiFillCoarse(nn.Module):
    """Coarse network (spec 2.2): ``(B, 4, H, W)`` = concat(masked image, mask) -> ``x1`` ``(B, 3, H, W)`` in [-1, 1].

    Runs at half resolution. ``topology="code"`` keeps the extra K3S1C32 after the first up-sampling (checkpoint);
    ``"paper"`` drops it (appendix). ``downsample``: ``"subsample"`` (TF1 ``resize_bilinear`` at exactly 0.5 takes
    every other pixel, as the code) | ``"bilinear"`` | ``"area"``. ``padding``, ``resize``: the TF-convention
    switches (module docstring); ``resize`` also applies to the output up-sampling and a ``bilinear`` downsample.
    """

    def __init__(self, gate: str = "sc", topology: str = "code", downsample: str = "subsample",
                 in_channels: int = 4, padding: str = "symmetric", resize: str = "half_pixel"):
        super().__init__()
        if downsample not in ("subsample", "bilinear", "area"):
            raise ValueError(f"unknown coarse downsample {downsample!r}")
        self.downsample = downsample
        self.resize = _check_choice("resize", resize, RESIZES)
        L = partial(LightWeightGatedConv2d, gate=gate, padding=padding)
        layers = [
            L(in_channels, 32, 5, 2, 1),  # c_en_down_128 (4 = RGB + mask, + semantic)
            L(32, 32, 3, 1, 1),    # c_en_conv_128
            L(32, 64, 3, 2, 1),    # c_en_down_64
        ]
        # 3 plain + 3 D1 + 5 D2 + 4 D4 + 2 D8 + 3 plain 64-channel layers
        for dilation in [1] * 6 + [2] * 5 + [4] * 4 + [8] * 2 + [1] * 3:
            layers.append(L(64, 64, 3, 1, dilation))
        layers.append(GatedUpConv2d(64, 32, gate, padding, resize))             # c_de_up_128
        if topology == "code":
            layers.append(L(32, 32, 3, 1, 1))  # c_de_conv_128 (not in the appendix)
        elif topology != "paper":
            raise ValueError(f"unknown topology {topology!r}")
        layers.append(GatedUpConv2d(32, 3, gate, padding, resize))              # c_de_toRGB
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.downsample == "subsample":
            small = x[:, :, ::2, ::2]
        elif self.downsample == "bilinear":
            small = resize_bilinear(x, (h // 2, w // 2), self.resize)
        else:
            small = F.interpolate(x, scale_factor=0.5, mode=self.downsample)
        out = self.body(small).clamp(-1.0, 1.0)
        return resize_bilinear(out, (h, w), self.resize)


class HiFillRefine(nn.Module):
    """Refine network with ACM + multi-scale ATM (spec 2.3).

    Input ``(B, 4, H, W)`` = concat(coarse-blended image, mask) and the hole mask ``(B, 1, H, W)``.
    Returns ``x2`` ``(B, 3, H, W)`` in [-1, 1] and scores ``(B, N, N)``, N = (H/16) * (W/16).
    """

    def __init__(self, gate: str = "pw", topology: str = "code", attention_mask_mode: str = "paper",
                 attention_query_norm: bool = True, attention_softmax_scale: float = 10.0,
                 attention_fuse: bool = True, attention_type: str = "soft", attention_multiscale: bool = True,
                 attention_share_scores: bool = True, padding: str = "symmetric", resize: str = "half_pixel"):
        super().__init__()
        L = partial(LightWeightGatedConv2d, gate=gate, padding=padding)
        U = partial(GatedUpConv2d, gate=gate, padding=padding, resize=resize)
        first_k = 3 if topology == "code" else 5  # appendix says K5; code/checkpoint use K3
        self.enc1 = nn.Sequential(L(4, 32, first_k, 2, 1), L(32, 32, 3, 1, 1))  # -> P1
        self.enc2 = nn.Sequential(L(32, 64, 3, 2, 1), L(64, 64, 3, 1, 1))       # -> P2
        self.enc3 = nn.Sequential(L(64, 128, 3, 2, 1), L(128, 128, 3, 1, 1),
                                  *[L(128, 128, 3, 1, d) for d in (1, 2, 4, 8, 16)])  # -> P3
        self.att3_conv = L(128, 128, 3, 1, 1)   # re_att_64_att1
        self.att3_merge = L(256, 128, 3, 1, 1)  # re_att_64_att3
        self.dec2 = nn.Sequential(U(128, 64), L(64, 64, 3, 1, 1))
        self.att2 = nn.Sequential(L(64, 64, 3, 1, 1), L(64, 64, 3, 1, 2))
        self.dec1 = nn.Sequential(U(128, 32), L(32, 32, 3, 1, 1))
        self.att1 = nn.Sequential(L(32, 32, 3, 1, 1), L(32, 32, 3, 1, 2))
        self.to_rgb = U(64, 3)
        self.attention_kwargs = dict(softmax_scale=attention_softmax_scale, fuse=attention_fuse,
                                     mask_mode=attention_mask_mode, query_norm=attention_query_norm,
                                     attention_type=attention_type)
        self.multiscale = attention_multiscale
        self.share_scores = attention_share_scores

    def _scores(self, features: torch.Tensor, mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        ratio = features.shape[-2] // grid[0]
        return attention_scores(features[:, :, ::ratio, ::ratio], mask, **self.attention_kwargs)

    def _transfer(self, features: torch.Tensor, shared: torch.Tensor, mask: torch.Tensor,
                  grid: tuple[int, int]) -> torch.Tensor:
        scores = shared if self.share_scores else self._scores(features, mask, grid)
        return attention_transfer(features, scores, *transfer_geometry(features.shape[-2] // grid[0]))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        if h % 64 or w % 64:
            raise ValueError(f"HiFill needs H and W multiples of 64, got {h}x{w}")
        grid = (h // CELL_SIZE, w // CELL_SIZE)
        p1 = self.enc1(x)
        p2 = self.enc2(p1)
        p3 = self.enc3(p2)
        scores = self._scores(p3, mask, grid)  # computed once from P3, reused at every level (pitfall 1)
        y = self.att3_conv(attention_transfer(p3, scores, *transfer_geometry(2)))
        y = self.att3_merge(torch.cat([p3, y], 1))
        y = self.dec2(y)
        a2 = self._transfer(p2, scores, mask, grid) if self.multiscale else p2
        y = torch.cat([self.att2(a2), y], 1)
        y = self.dec1(y)
        a1 = self._transfer(p1, scores, mask, grid) if self.multiscale else p1
        y = torch.cat([self.att1(a1), y], 1)
        return self.to_rgb(y).clamp(-1.0, 1.0), scores


class HiFillGenerator(nn.Module):
    """Two-stage HiFill generator (coarse LWGC_sc + refine LWGC_pw by default: 2,722,791 parameters).

    ``forward(image (B, 3, H, W) in [-1, 1], mask (B, 1, H, W), 1 = hole, seg (B, S, H, W) | None)`` -> dict with
    ``coarse`` (x1), ``refine`` (x2, also under ``output``), both ``(B, 3, H, W)`` raw (not pasted) in [-1, 1], and
    ``scores`` ``(B, N, N)`` (N = HW / 256) for CRA. Hole pixels of ``image`` are zeroed here, so ground truth never leaks.

    ``padding="tf_same"`` + ``resize="tf1_legacy"`` (with the converter's attention options) compute the official
    TF graph of ``duxingren14/Hifill-tensorflow`` at 512x512 (tested against TensorFlow); the defaults are PyTorch's
    symmetric padding and half-pixel bilinear resize.
    """

    def __init__(self, coarse_gate: str = "sc", refine_gate: str = "pw", topology: str = "code",
                 coarse_downsample: str = "subsample", attention_mask_mode: str = "paper",
                 attention_query_norm: bool = True, attention_softmax_scale: float = 10.0,
                 attention_fuse: bool = True, attention_type: str = "soft", attention_multiscale: bool = True,
                 attention_share_scores: bool = True, init_std: float = 0.05, semantic_channels: int = 0,
                 padding: str = "symmetric", resize: str = "half_pixel"):
        super().__init__()
        # AIM Track 2: the semantic map enters the coarse stage only; the refine stage and its attention see the
        # coarse result, so the layout steers the structure while the texture still comes from the context.
        self.semantic_channels = semantic_channels
        self.coarse = HiFillCoarse(coarse_gate, topology, coarse_downsample, in_channels=4 + semantic_channels,
                                   padding=padding, resize=resize)
        self.refine = HiFillRefine(refine_gate, topology, attention_mask_mode, attention_query_norm,
                                   attention_softmax_scale, attention_fuse, attention_type, attention_multiscale,
                                   attention_share_scores, padding=padding, resize=resize)
        init_truncated_normal(self, init_std)

    def forward(self, image: torch.Tensor, mask: torch.Tensor,
                seg: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if (seg is None) != (self.semantic_channels == 0):
            raise ValueError(f"HiFillGenerator(semantic_channels={self.semantic_channels}) got seg="
                             f"{None if seg is None else tuple(seg.shape)}")
        x_in = image * (1.0 - mask)
        x1 = self.coarse(torch.cat([x_in, mask] + ([seg] if seg is not None else []), 1))
        x_c = x1 * mask + x_in
        x2, scores = self.refine(torch.cat([x_c, mask], 1), mask)
        return {"coarse": x1, "refine": x2, "output": x2, "scores": scores}


def init_truncated_normal(module: nn.Module, std: float) -> None:
    """Code init: conv kernels truncated normal (sigma = std, cut at 2 sigma as TF), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------------------------------------------
# Critic
# ----------------------------------------------------------------------------------------------------------------
class HiFillCritic(nn.Module):
    """WGAN critic (spec 3): six stride-2 convs + LeakyReLU(0.2), flatten, linear -> ``(B, 1)`` scores.

    Input ``(B, 3, image_size, image_size)`` in [-1, 1] (real or pasted fake); no mask channel, no normalisation.
    ``kernel_size`` 5 = code/checkpoint (5,961,601 params at 512), 3 = paper appendix (2,157,441).
    ``padding``: ``"symmetric"`` (k // 2 both sides) | ``"tf_same"`` (the official TF critic: 1 before / 2 after
    for k5 stride 2).
    """

    def __init__(self, kernel_size: int = 5, image_size: int = 512, init_std: float = 0.05,
                 padding: str = "symmetric"):
        super().__init__()
        if image_size % 64:
            raise ValueError(f"image_size must be a multiple of 64, got {image_size}")
        chans = [3, 64, 128, 256, 256, 256, 256]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [make_conv2d(cin, cout, kernel_size, 2, padding=padding), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.linear = nn.Linear(256 * (image_size // 64) ** 2, 1)
        init_truncated_normal(self, init_std)
        nn.init.xavier_uniform_(self.linear.weight)  # Keras/TF dense default: Glorot uniform
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x).flatten(1))
