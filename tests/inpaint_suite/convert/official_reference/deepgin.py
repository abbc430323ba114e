"""DeepGIN as released: ``ImageTinker2`` (Track 1 ``rlct1/gin``, Track 2 ``rlct1/gin-sg``) and the pix2pixHD
``MultiscaleDiscriminator`` with its custom ``SpectralNorm`` (both repositories, ``models/networks.py``).

A test oracle, re-written from reading the official definitions: the attribute names (hence the state-dict keys)
are the official ones, so ``load_state_dict(official_file, strict=True)`` works, and the forward passes compute
what the official ones compute. It deliberately shares no code with ``networks/deepgin.py``: padding, convolution,
resizing and attention are spelled out here with functional ops, from the official module semantics:

- every generator conv is ``ReplicationPad2d(p)`` then an unpadded ``Conv2d`` with bias; activations are the
  shared ``LeakyReLU(0.2)`` of ``ImageTinker2``, ``ReLU`` inside the multi-dilation branches, none after the
  residual sums, the fusion convs and the image heads, ``Sigmoid`` on the alpha head;
- ``nn.UpsamplingBilinear2d`` is bilinear with ``align_corners=True`` (x2 decoder, x4 ``up``, x0.25 ``down``);
- ``NonLocalBlock(sub_sample=False, bn_layer=False)``: embedded Gaussian, ``softmax(theta^T phi)`` without scaling,
  ``W`` a 1x1 conv, residual;
- ``SpectralNorm`` (christiancosgrove's wrapper): the raw weight is ``module.weight_bar``, the vectors
  ``module.weight_u`` (out,) and ``module.weight_v`` (in*kh*kw,) are parameters without gradient; **every**
  forward, in train and in eval mode alike, runs ``power_iterations`` (1) steps ``v = l2n(W^T u)``,
  ``u = l2n(W v)`` with ``l2n(x) = x / (||x|| + 1e-12)``, then uses ``W / (u . W v)``;
- ``MultiscaleDiscriminator.forward`` runs ``layer{num_D-1-i}`` on the input average-pooled ``i`` times.

Official layout (``ngf=64``; ``input_nc`` 4 for Track 1, 7 for Track 2 = ``[image, mask, seg]``):
``lr_coarse_tinker`` is one ``nn.Sequential`` (indices: 0 pad, 1 conv 7x7, 2 act; 3/4/5, 6/7/8, 9/10/11 the
three 4x4 stride-2 downs; 12..17 ``MultiDilationResnetBlock``; 18..21, 22..25, 26..29 up/pad/conv/act; 30 pad,
31 the 7x7 head); G2 is a flat set of named layers ``r_en_*``, ``r_md_*``, ``r_de_*``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ImageTinker2", "MultiscaleDiscriminator", "SpectralNorm"]


def _rconv(conv: nn.Conv2d, x: torch.Tensor, pad: int) -> torch.Tensor:
    """ReplicationPad2d(pad) followed by the unpadded conv."""
    if pad:
        x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    return F.conv2d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def _up(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``nn.UpsamplingBilinear2d(scale_factor=factor)``: output size floor(factor * size), corners aligned."""
    h, w = x.shape[-2:]
    return F.interpolate(x, size=(int(h * factor), int(w * factor)), mode="bilinear", align_corners=True)


class _Pad(nn.Module):
    """Placeholder for the official ``ReplicationPad2d`` slots of ``lr_coarse_tinker`` (no parameters)."""

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad


class _Act(nn.Module):
    """Placeholder for the official activation / upsampling slots (no parameters)."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind


class ConvBlock(nn.Module):
    """Official ``ConvBlock`` (pad -> conv -> act); only ``conv`` carries weights (key ``<name>.conv.*``)."""

    def __init__(self, cin: int, cout: int, dilation: int, relu: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, dilation=dilation, bias=True)
        self.padding = dilation
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _rconv(self.conv, x, self.padding)
        return F.relu(y) if self.relu else y


class MultiDilationResnetBlock(nn.Module):
    """G1 block: branch1..8 at dilations 2,3,4,5,6,8,10,1 (C -> C/8, ReLU), concatenated in that order,
    ``fusion9`` 3x3 (no act), plus the input."""

    DILATIONS = (2, 3, 4, 5, 6, 8, 10, 1)

    def __init__(self, channels: int):
        super().__init__()
        for n, d in enumerate(self.DILATIONS, start=1):
            setattr(self, f"branch{n}", ConvBlock(channels, channels // len(self.DILATIONS), d, relu=True))
        setattr(self, f"fusion{len(self.DILATIONS) + 1}", ConvBlock(channels, channels, 1, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.DILATIONS)
        parts = [getattr(self, f"branch{k}")(x) for k in range(1, n + 1)]
        return x + getattr(self, f"fusion{n + 1}")(torch.cat(parts, dim=1))


class MultiDilationResnetBlock_v3(MultiDilationResnetBlock):  # noqa: N801 (official name)
    """G2 block: branch1..4 at dilations 2,3,4,5 (C -> C/4, ReLU), ``fusion5``, plus the input."""

    DILATIONS = (2, 3, 4, 5)


class NonLocalBlock(nn.Module):
    """Official ``NonLocalBlock(C, sub_sample=False, bn_layer=False)``: ``g, theta, phi`` C -> C/2, ``W`` C/2 -> C."""

    def __init__(self, channels: int):
        super().__init__()
        inter = channels // 2
        self.g = nn.Conv2d(channels, inter, 1)
        self.W = nn.Conv2d(inter, channels, 1)  # noqa: N815 (official name)
        self.theta = nn.Conv2d(channels, inter, 1)
        self.phi = nn.Conv2d(channels, inter, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = h * w
        gx = self.g(x).reshape(b, -1, n)
        tx = self.theta(x).reshape(b, -1, n)
        px = self.phi(x).reshape(b, -1, n)
        scores = torch.einsum("bci,bcj->bij", tx, px)  # (B, N query, N key)
        weights = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
        weights = weights / weights.sum(dim=-1, keepdim=True)
        y = torch.einsum("bij,bcj->bci", weights, gx).reshape(b, -1, h, w)
        return self.W(y) + x


class ImageTinker2(nn.Module):
    """The official generator. ``forward(msked_img, msk, real_img=None, real_seg=None)`` returns
    ``(compltd_img, reconst_img, lr_x, lr_img)`` as the official one; ``self.trace`` keeps the raw G2 head
    ``d5`` (before compositing) and ``d5_lr_alpha`` of the last call, for diagnostics."""

    def __init__(self, input_nc: int = 4, output_nc: int = 3, ngf: int = 64):
        super().__init__()
        self.input_nc = input_nc
        seq: list[nn.Module] = []
        widths = (input_nc, ngf // 2, ngf, ngf * 2, ngf * 4)
        for i in range(4):  # 7x7 stride 1, then three 4x4 stride-2 downs
            k, s, p = (7, 1, 3) if i == 0 else (4, 2, 1)
            seq += [_Pad(p), nn.Conv2d(widths[i], widths[i + 1], k, s, 0), _Act("lrelu")]
        seq += [MultiDilationResnetBlock(ngf * 4) for _ in range(6)]
        for cin, cout in ((ngf * 4, ngf * 2), (ngf * 2, ngf), (ngf, ngf // 2)):
            seq += [_Act("up2"), _Pad(1), nn.Conv2d(cin, cout, 3, 1, 0), _Act("lrelu")]
        seq += [_Pad(3), nn.Conv2d(ngf // 2, output_nc, 7, 1, 0)]
        self.lr_coarse_tinker = nn.Sequential(*seq)

        self.r_en_conv1 = nn.Conv2d(input_nc, ngf // 2, 7, 1, 0)
        self.r_en_conv2 = nn.Conv2d(ngf // 2, ngf, 4, 2, 0)
        self.r_en_conv3 = nn.Conv2d(ngf, ngf * 2, 4, 2, 0)
        self.r_en_skp_conv3 = nn.Conv2d(ngf * 2, ngf, 3, 1, 0)
        self.r_en_conv4 = nn.Conv2d(ngf * 2, ngf * 4, 4, 2, 0)
        self.r_en_skp_conv4 = nn.Conv2d(ngf * 4, ngf * 2, 3, 1, 0)
        self.r_en_conv5 = nn.Conv2d(ngf * 4, ngf * 8, 4, 2, 0)
        for n in range(1, 7):
            setattr(self, f"r_md_mres{n}", MultiDilationResnetBlock_v3(ngf * 8))
        self.r_md_satn1 = NonLocalBlock(ngf * 8)
        self.r_de_conv1 = nn.Conv2d(ngf * 8, ngf * 4, 3, 1, 0)
        self.r_de_satn2 = NonLocalBlock(ngf * 2)  # on the 128-channel skip of e4
        self.r_de_satn3 = NonLocalBlock(ngf)  # on the 64-channel skip of e3
        self.r_de_mix_conv1 = nn.Conv2d(ngf * 4 + ngf * 2, ngf * 4, 3, 1, 0)
        self.r_de_conv2 = nn.Conv2d(ngf * 4, ngf * 2, 3, 1, 0)
        self.r_de_mix_conv2 = nn.Conv2d(ngf * 2 + ngf, ngf * 2, 3, 1, 0)
        self.r_de_conv2_lr = nn.Conv2d(ngf * 2, ngf // 2, 3, 1, 0)
        self.r_de_conv3_lr = nn.Conv2d(ngf // 2, output_nc, 3, 1, 0)
        self.r_de_conv3 = nn.Conv2d(ngf * 2, ngf, 3, 1, 0)
        self.r_de_conv4 = nn.Conv2d(ngf, ngf // 2, 3, 1, 0)
        self.r_de_conv5 = nn.Conv2d(ngf // 2, output_nc, 7, 1, 0)
        self.r_de_conv5_lr_alpha = nn.Conv2d(ngf // 2, 1, 3, 1, 0)
        self.trace: dict[str, torch.Tensor] = {}

    def coarse(self, x: torch.Tensor) -> torch.Tensor:
        """``lr_coarse_tinker(x)``, slot by slot."""
        pad = 0
        for layer in self.lr_coarse_tinker:
            if isinstance(layer, _Pad):
                pad = layer.pad
            elif isinstance(layer, nn.Conv2d):
                x, pad = _rconv(layer, x, pad), 0
            elif isinstance(layer, _Act):
                x = _lrelu(x) if layer.kind == "lrelu" else _up(x, 2)
            else:
                x = layer(x)
        return x

    def forward(self, msked_img, msk, real_img=None, real_seg=None):
        if real_img is None:
            rimg = inp = msked_img
        else:
            rimg, inp = real_img, real_img * (1 - msk) + msk
        extra = [] if real_seg is None else [real_seg]
        lr_x = self.coarse(torch.cat([inp, msk, *extra], 1))
        hr_x = lr_x * msk + rimg * (1 - msk)

        y = torch.cat([hr_x, msk, *extra], 1)
        e1 = _lrelu(_rconv(self.r_en_conv1, y, 3))
        e2 = _lrelu(_rconv(self.r_en_conv2, e1, 1))
        e3 = _lrelu(_rconv(self.r_en_conv3, e2, 1))
        e4 = _lrelu(_rconv(self.r_en_conv4, e3, 1))
        e5 = _lrelu(_rconv(self.r_en_conv5, e4, 1))
        de3 = self.r_de_satn3(_lrelu(_rconv(self.r_en_skp_conv3, e3, 1)))
        de4 = self.r_de_satn2(_lrelu(_rconv(self.r_en_skp_conv4, e4, 1)))

        # forward order of the official code: mres1, mres2, mres5, satn1, mres3, mres4, mres6
        m = e5
        for name in ("r_md_mres1", "r_md_mres2", "r_md_mres5", "r_md_satn1", "r_md_mres3", "r_md_mres4",
                     "r_md_mres6"):
            m = getattr(self, name)(m)

        d1 = _lrelu(_rconv(self.r_de_conv1, _up(m, 2), 1))
        md1 = _lrelu(_rconv(self.r_de_mix_conv1, torch.cat([d1, de4], 1), 1))
        d2 = _lrelu(_rconv(self.r_de_conv2, _up(md1, 2), 1))
        md2 = _lrelu(_rconv(self.r_de_mix_conv2, torch.cat([d2, de3], 1), 1))
        lr_img = _rconv(self.r_de_conv3_lr, _lrelu(_rconv(self.r_de_conv2_lr, md2, 1)), 1)
        d3 = _lrelu(_rconv(self.r_de_conv3, _up(md2, 2), 1))
        d4 = _lrelu(_rconv(self.r_de_conv4, _up(d3, 2), 1))
        d5 = _rconv(self.r_de_conv5, d4, 3)
        alpha = torch.sigmoid(_rconv(self.r_de_conv5_lr_alpha, d4, 1))
        self.trace = {"d5": d5, "alpha": alpha}

        d5 = d5 * msk + rimg * (1 - msk)
        residual = _up(lr_img - _up(d5, 0.25), 4)
        reconst_img = d5 + residual * alpha
        compltd_img = reconst_img * msk + rimg * (1 - msk)
        return compltd_img, reconst_img, lr_x, lr_img


# ---------------------------------------------------------------------------------------------------- discriminator
def _l2normalize(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return v / (v.norm() + eps)


class SpectralNorm(nn.Module):
    """The official wrapper around a conv: the conv's ``weight`` parameter is replaced by ``weight_bar`` (raw),
    ``weight_u`` and ``weight_v`` (``requires_grad=False`` parameters, so they are saved and loaded). The power
    iteration runs in **every** forward, training or not, and writes u and v in place."""

    def __init__(self, module: nn.Conv2d, power_iterations: int = 1):
        super().__init__()
        self.module = module
        self.power_iterations = power_iterations
        w = module.weight.detach()
        del module._parameters["weight"]
        height = w.shape[0]
        module.register_parameter("weight_u", nn.Parameter(_l2normalize(torch.randn(height)), requires_grad=False))
        module.register_parameter("weight_v", nn.Parameter(_l2normalize(torch.randn(w[0].numel())),
                                                           requires_grad=False))
        module.register_parameter("weight_bar", nn.Parameter(w.clone()))

    def normalised_weight(self) -> torch.Tensor:
        m = self.module
        w = m.weight_bar
        mat = w.detach().reshape(w.shape[0], -1)
        for _ in range(self.power_iterations):
            m.weight_v.data = _l2normalize(mat.t() @ m.weight_u.data)
            m.weight_u.data = _l2normalize(mat @ m.weight_v.data)
        sigma = torch.dot(m.weight_u, w.reshape(w.shape[0], -1) @ m.weight_v)
        return w / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.module
        return F.conv2d(x, self.normalised_weight(), m.bias, m.stride, m.padding)


def _patch_layers(input_nc: int, ndf: int, n_layers: int) -> list[list[nn.Module]]:
    """``NLayerDiscriminator`` groups: [SN conv s2, lrelu], (n_layers-1) x [SN conv s2, lrelu],
    [SN conv s1, lrelu], [SN conv s1]; kernel 4, zero padding 2, widths doubling up to 512."""
    widths = [input_nc, ndf]
    strides = [2]
    for _ in range(1, n_layers):
        widths.append(min(widths[-1] * 2, 512))
        strides.append(2)
    widths.append(min(widths[-1] * 2, 512))
    strides.append(1)
    widths.append(widths[-1])
    strides.append(1)
    groups = []
    for i, s in enumerate(strides):
        group: list[nn.Module] = [SpectralNorm(nn.Conv2d(widths[i], widths[i + 1], 4, s, 2))]
        if i < len(strides) - 1:
            group.append(nn.LeakyReLU(0.2))
        groups.append(group)
    return groups


class MultiscaleDiscriminator(nn.Module):
    """Official ``MultiscaleDiscriminator(input_nc, ndf, n_layers, num_D, getIntermFeat)``; DeepGIN uses
    ``(6, 64, 2, 2, False)``. Returns ``[[scores]] * num_D`` (``getIntermFeat=False``) or, per scale, the outputs
    of every group (``True``), scale ``i`` computed by ``layer{num_D-1-i}`` / ``scale{num_D-1-i}_layer*``."""

    def __init__(self, input_nc: int = 6, ndf: int = 64, n_layers: int = 2, num_D: int = 2,  # noqa: N803
                 getIntermFeat: bool = False):  # noqa: N803
        super().__init__()
        self.num_D, self.n_layers, self.getIntermFeat = num_D, n_layers, getIntermFeat
        for s in range(num_D):
            groups = _patch_layers(input_nc, ndf, n_layers)
            if getIntermFeat:
                for j, group in enumerate(groups):
                    setattr(self, f"scale{s}_layer{j}", nn.Sequential(*group))
            else:
                setattr(self, f"layer{s}", nn.Sequential(*[m for g in groups for m in g]))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        result = []
        for i in range(self.num_D):
            s = self.num_D - 1 - i
            if self.getIntermFeat:
                feats = []
                h = x
                for j in range(self.n_layers + 2):
                    h = getattr(self, f"scale{s}_layer{j}")(h)
                    feats.append(h)
                result.append(feats)
            else:
                result.append([getattr(self, f"layer{s}")(x)])
            if i != self.num_D - 1:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
        return result
