"""Official MADF generator (``MADF-inpainting/Pytorch-MADF``: ``net.py`` ``MADFNet``, ``normalization.py`` ``PN``),
re-implemented as a test oracle.

Written from reading the official files, not copied; attribute names are the official ones, so the ``model`` entry
of a released snapshot, with ``module.model.`` stripped (``util/io.py``), loads with ``strict=True``
(``MADFNet(layer_size=7, n_refinement_D=2)`` holds exactly the keys of ``official_keys_madf.json``).

Forward semantics kept from the official code, including its quirks:

* ``FilterGen``: ``conv`` = Sequential(Conv k/s/p -> 16, ReLU), ``conv1`` = Sequential(Conv1x1 -> C_in*k*k*C_out);
  the generated map ``(N, D, H, W)`` is flattened to ``(N, H*W, D)`` and split as ``(C_in*k*k, C_out)``: the output
  channel is the fastest index of ``D``.
* ``ConvWithFilter``: ``unfold`` of the features (window order row-major, patch order channel, row, column), one
  matmul per window, reshaped to ``(N, C_out, out_H, out_W)`` with ``out = int((in - k + 2p) / s + 1)``. It builds a
  ``BatchNorm2d`` (``bn``) but its forward compares that module with the strings ``"batchnorm"`` / ``"PN"``, which is
  never true, so the BN is **not applied** and the result is ``ReLU(dynamic conv)``.
* ``AttConv``: ``conv(cat([key, query]))`` (skip first, upsampled second), ReLU except for level 1.
* ``DecActiv``: deconv 4/2/1 -> ``PN(x, edge_map)`` -> LeakyReLU(0.2).
* ``PN``: ``BatchNorm2d(affine=False)``; the conditioning map is always passed through
  ``F.interpolate(size=x.size()[2:], mode="bilinear")``; ``mlp_shared`` (3x3 -> 128, ReLU), ``mlp_scale`` /
  ``mlp_bias`` (3x3); ``out = normalized * (1 + scale) + bias``.
* ``MADFNet.forward``: encoder levels 1..7 (``h_i = enc_up_i(enc_conv_i(h, filters))``); then for ``i = 7..1``:
  recovery ``deconv_i`` + ``att_conv_i`` with ``h_{i-1}``; for ``i > 1`` the first refinement decoder ``dec_ref0_i``
  is conditioned on the fresh recovery feature and the second ``dec_ref1_i`` on the fresh first-refinement feature
  (both start from ``h_7``); at ``i = 1``: outputs ``[recovery, ref0, ref1]``, the refinement heads being a 1x1 conv
  of ``cat([bilinear x2 (align_corners False), recovery, (ref0,) h_0])``.
* ``MADFNet.train`` is overridden and returns ``None`` (so ``model.eval()`` returns ``None``).

Not reproduced: ``VGG16FeatureExtractor`` (losses only) and the ``__main__`` block.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

UPSAMPLING = "bilinear"  # module-level ``upsampling`` of net.py


class PN(nn.Module):
    """normalization.py ``PN(norm_nc, label_nc, upsampling)``."""

    def __init__(self, norm_nc: int, label_nc: int, upsampling: str):
        super().__init__()
        self.upsampling = upsampling
        self.batch_norm = nn.BatchNorm2d(norm_nc, affine=False)
        hidden = 128
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, kernel_size=3, padding=1), nn.ReLU())
        self.mlp_scale = nn.Conv2d(hidden, norm_nc, kernel_size=3, padding=1)
        self.mlp_bias = nn.Conv2d(hidden, norm_nc, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, pre_feat: torch.Tensor) -> torch.Tensor:
        normalized = self.batch_norm(x)
        cond = F.interpolate(pre_feat, size=x.size()[2:], mode=self.upsampling)
        hidden = self.mlp_shared(cond)
        return normalized * (1 + self.mlp_scale(hidden)) + self.mlp_bias(hidden)


class FilterGen(nn.Module):
    """Mask branch of one level: ``(filters (N, H*W, C_in*k*k, C_out), mask features (N, 16, H, W))``."""

    def __init__(self, in_ch: int, conv_in_ch: int, conv_out_ch: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.kernel_size, self.conv_in_ch, self.conv_out_ch = kernel_size, conv_in_ch, conv_out_ch
        hidden = 16
        self.conv = nn.Sequential(nn.Conv2d(in_ch, hidden, kernel_size=kernel_size, stride=stride, padding=padding),
                                  nn.ReLU())
        self.conv1 = nn.Sequential(nn.Conv2d(hidden, conv_in_ch * kernel_size * kernel_size * conv_out_ch,
                                             kernel_size=1, stride=1, padding=0))

    def forward(self, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.conv(mask)
        filters = self.conv1(features)
        n, d, h, w = filters.shape
        per_window = filters.view(n, d, h * w).transpose(1, 2)  # (N, windows, D)
        filters = per_window.view(n, h * w, self.conv_in_ch * self.kernel_size * self.kernel_size, self.conv_out_ch)
        return filters, features


class ConvWithFilter(nn.Module):
    """Dynamic convolution with per-window filters; builds a BN (key ``bn.*``) that its forward never applies."""

    def __init__(self, out_ch: int, kernel_size: int, stride: int = 0, padding: int = 0, dilation: int = 1,
                 label_ch: int = 0, bn: str = "batchnorm", activ: str = "relu"):
        super().__init__()
        self.kernel_size, self.padding, self.dilation, self.stride = kernel_size, padding, dilation, stride
        self.activ = activ
        if bn == "batchnorm":
            self.bn = nn.BatchNorm2d(out_ch)
        elif bn == "PN":
            self.bn = PN(out_ch, label_ch, UPSAMPLING)
        if activ == "relu":
            self.activation = nn.ReLU()
        elif activ == "leaky":
            self.activation = nn.LeakyReLU(negative_slope=0.2)

    def forward(self, features: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
        _, _, in_h, in_w = features.shape
        out_h = int((in_h - self.kernel_size + 2 * self.padding) / self.stride + 1)
        out_w = int((in_w - self.kernel_size + 2 * self.padding) / self.stride + 1)
        patches = F.unfold(features, (self.kernel_size, self.kernel_size), dilation=self.dilation,
                           padding=self.padding, stride=self.stride)  # (N, C*k*k, windows)
        rows = patches.transpose(1, 2).unsqueeze(2)  # (N, windows, 1, C*k*k)
        result = rows.matmul(filters).squeeze(2).transpose(1, 2)  # (N, C_out, windows)
        result = result.view(result.shape[0], result.shape[1], out_h, out_w)
        out = None
        # As officially: `self.bn` is a module, so comparing it with a string is always False and the BN is skipped
        # (the official PN branch here would also read an undefined `edge_map`; no level builds it).
        if hasattr(self, "bn") and self.bn == "batchnorm":
            out = self.bn(result)
        # ... and the activation is applied to `result`, not to `out`, so the BN would be discarded anyway.
        if hasattr(self, "activation"):
            out = self.activation(result)
        return out


class AttConv(nn.Module):
    """``Conv3x3(cat([key, query]))`` (+ ReLU unless ``activation is False``); ``value_dim`` is unused."""

    def __init__(self, query_dim: int, key_dim: int, value_dim: int, activation="relu"):
        super().__init__()
        layers = [nn.Conv2d(query_dim + key_dim, query_dim, kernel_size=3, stride=1, padding=1)]
        if activation is not False:
            layers.append(nn.ReLU())
        self.conv = nn.Sequential(*layers)

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([key, query], dim=1))


class DecActiv(nn.Module):
    """Refinement block: deconv 4/2/1, PN conditioned on ``edge_map``, activation."""

    def __init__(self, in_ch: int, out_ch: int, label_ch: int = 0, bn=False, activ: str = "relu"):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1)
        self.bn_type = bn
        if bn == "PN":
            self.bn = PN(out_ch, label_ch, UPSAMPLING)
        if activ == "relu":
            self.activation = nn.ReLU()
        elif activ == "leaky":
            self.activation = nn.LeakyReLU(negative_slope=0.2)

    def forward(self, input: torch.Tensor, edge_map: torch.Tensor | None = None) -> torch.Tensor:  # noqa: A002
        h = self.deconv(input)
        if hasattr(self, "bn") and self.bn_type == "PN":
            h = self.bn(h, edge_map)
        if hasattr(self, "activation"):
            h = self.activation(h)
        return h


class MADFNet(nn.Module):
    """``MADFNet(args, layer_size=7, input_channels=3)``; ``args.n_refinement_D`` (0, 1 or 2) refinement decoders.
    ``n_refinement_D`` may also be given directly instead of ``args``."""

    def __init__(self, args=None, layer_size: int = 7, input_channels: int = 3, upsampling_mode: str = UPSAMPLING,
                 n_refinement_D: int | None = None):  # noqa: N803 - the official name
        super().__init__()
        if args is None:
            args = SimpleNamespace(n_refinement_D=2 if n_refinement_D is None else n_refinement_D)
        self.upsampling_mode = upsampling_mode
        self.layer_size = layer_size
        self.n_refinement_D = args.n_refinement_D

        # encoder: mask branches (FilterGen), dynamic convs (ConvWithFilter), 1x1 lifts (enc_up)
        self.filter_gen_1 = FilterGen(3, input_channels * 2, 16, 7, 2, 3)
        self.filter_gen_2 = FilterGen(16, 16, 32, 5, 2, 2)
        self.filter_gen_3 = FilterGen(16, 32, 64, 3, 2, 1)
        self.filter_gen_4 = FilterGen(16, 64, 128, 3, 2, 1)
        for i in range(5, layer_size + 1):
            setattr(self, f"filter_gen_{i}", FilterGen(16, 128, 128, 3, 2, 1))
        self.enc_conv_1 = ConvWithFilter(16, 7, 2, 3)
        self.enc_conv_2 = ConvWithFilter(32, 5, 2, 2)
        self.enc_conv_3 = ConvWithFilter(64, 3, 2, 1)
        for i in range(4, layer_size + 1):
            setattr(self, f"enc_conv_{i}", ConvWithFilter(128, 3, 2, 1))
        for i, (cin, cout) in enumerate(((16, 64), (32, 128), (64, 256)), start=1):
            setattr(self, f"enc_up_{i}", nn.Sequential(nn.Conv2d(cin, cout, 1, 1, 0), nn.ReLU()))
        for i in range(4, layer_size + 1):
            setattr(self, f"enc_up_{i}", nn.Sequential(nn.Conv2d(128, 512, 1, 1, 0), nn.ReLU()))

        # recovery decoder: deconv_i = Sequential(ConvT, BN, LeakyReLU) (deconv_1: ConvT only), att_conv_i
        def deconv_bn(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1),
                                 nn.BatchNorm2d(cout), nn.LeakyReLU(negative_slope=0.2))

        for i in range(layer_size, 4, -1):
            setattr(self, f"deconv_{i}", deconv_bn(512, 512))
        self.deconv_4 = deconv_bn(512, 256)
        self.deconv_3 = deconv_bn(256, 128)
        self.deconv_2 = deconv_bn(128, 64)
        self.deconv_1 = nn.Sequential(nn.ConvTranspose2d(64, input_channels, kernel_size=4, stride=2, padding=1))
        for i in range(layer_size, 4, -1):
            setattr(self, f"att_conv_{i}", AttConv(512, 512, 512))
        self.att_conv_4 = AttConv(256, 256, 256)
        self.att_conv_3 = AttConv(128, 128, 128)
        self.att_conv_2 = AttConv(64, 64, 64)
        self.att_conv_1 = AttConv(3, 6, 6, activation=False)

        # refinement decoders dec_ref0_* (K >= 1) and dec_ref1_* (K >= 2)
        for r in range(min(self.n_refinement_D, 2)):
            for i in range(layer_size, 4, -1):
                setattr(self, f"dec_ref{r}_{i}", DecActiv(512, 512, label_ch=512, bn="PN", activ="leaky"))
            setattr(self, f"dec_ref{r}_4", DecActiv(512, 256, label_ch=256, bn="PN", activ="leaky"))
            setattr(self, f"dec_ref{r}_3", DecActiv(256, 128, label_ch=128, bn="PN", activ="leaky"))
            setattr(self, f"dec_ref{r}_2", DecActiv(128, 64, label_ch=64, bn="PN", activ="leaky"))
            setattr(self, f"dec_ref{r}_1", nn.Conv2d(64 + input_channels * (3 + r), input_channels, 1, 1, 0))

    def forward(self, input: torch.Tensor, input_mask: torch.Tensor) -> list[torch.Tensor]:  # noqa: A002
        h_dict = {"h_0": torch.cat([input, input_mask], dim=1)}
        mask_feat, features = input_mask, h_dict["h_0"]
        for i in range(1, self.layer_size + 1):
            filters, mask_feat = getattr(self, f"filter_gen_{i}")(mask_feat)
            features = getattr(self, f"enc_conv_{i}")(features, filters)
            h_dict[f"h_{i}"] = getattr(self, f"enc_up_{i}")(features)

        bottleneck = h_dict[f"h_{self.layer_size}"]
        rec, ref0, ref1 = bottleneck, bottleneck, bottleneck  # h_att, h_second, h in the official code
        outputs = []
        for i in range(self.layer_size, 0, -1):
            skip = h_dict[f"h_{i - 1}"]
            rec = getattr(self, f"att_conv_{i}")(getattr(self, f"deconv_{i}")(rec), skip)
            if i != 1:
                if self.n_refinement_D > 0:
                    ref0 = getattr(self, f"dec_ref0_{i}")(ref0, rec)
                if self.n_refinement_D > 1:
                    ref1 = getattr(self, f"dec_ref1_{i}")(ref1, edge_map=ref0)
                continue
            outputs.append(rec)
            if self.n_refinement_D > 0:
                up = F.interpolate(ref0, scale_factor=2, mode=UPSAMPLING)
                ref0 = self.dec_ref0_1(torch.cat([up, rec, skip], dim=1))
                outputs.append(ref0)
            if self.n_refinement_D > 1:
                up = F.interpolate(ref1, scale_factor=2, mode=UPSAMPLING)
                ref1 = self.dec_ref1_1(torch.cat([up, rec, ref0, skip], dim=1))
                outputs.append(ref1)
        return outputs

    def train(self, mode: bool = True):  # the official override: no `return self`
        super().train(mode)
