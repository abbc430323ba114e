"""Writes ``official_keys_<method>.json``: every tensor name and shape of the authors' released files.

Written from reading the official model definitions (not from our networks, not from ``inpaint_suite.convert``):
each builder below mirrors the attribute names of the official classes, in the order the official ``__init__``
creates them. Run ``python tests/inpaint_suite/convert/make_official_keys.py`` to regenerate.

- AOT-GAN  researchmm/AOT-GAN-for-Inpainting  src/model/aotgan.py  (InpaintGenerator, Discriminator)
- MADF     MADF-inpainting/Pytorch-MADF       net.py, normalization.py  (MADFNet(layer_size=7), n_refinement_D=2)
- DeepGIN  rlct1/gin, rlct1/gin-sg            models/networks.py  (ImageTinker2, MultiscaleDiscriminator)
- HiFill   duxingren14/Hifill-tensorflow      model.py, ops.py  (TF variable names of the places2 checkpoint)
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def conv(name, cout, cin, k, bias=True):
    out = {f"{name}.weight": [cout, cin, k, k]}
    if bias:
        out[f"{name}.bias"] = [cout]
    return out


def deconv(name, cin, cout, k):  # nn.ConvTranspose2d weight is (in, out, k, k)
    return {f"{name}.weight": [cin, cout, k, k], f"{name}.bias": [cout]}


def bn(name, c, affine=True):
    out = {f"{name}.weight": [c], f"{name}.bias": [c]} if affine else {}
    out.update({f"{name}.running_mean": [c], f"{name}.running_var": [c], f"{name}.num_batches_tracked": []})
    return out


# ------------------------------------------------------------------------------------------------------- AOT-GAN
def aotgan():
    g = {}
    g |= conv("encoder.1", 64, 4, 7)          # Sequential(ReflectionPad2d(3), Conv2d(4, 64, 7), ReLU, ...)
    g |= conv("encoder.3", 128, 64, 4)
    g |= conv("encoder.5", 256, 128, 4)
    for i in range(8):                        # middle = Sequential(*[AOTBlock(256, [1, 2, 4, 8])] * 8)
        for b in range(4):                    # block00..block03 = Sequential(ReflectionPad2d(r), Conv2d(256, 64, 3))
            g |= conv(f"middle.{i}.block{b:02d}.1", 64, 256, 3)
        g |= conv(f"middle.{i}.fuse.1", 256, 256, 3)
        g |= conv(f"middle.{i}.gate.1", 256, 256, 3)
    g |= conv("decoder.0.conv", 128, 256, 3)  # UpConv(256, 128)
    g |= conv("decoder.2.conv", 64, 128, 3)
    g |= conv("decoder.4", 3, 64, 3)
    d = {}
    for j, (cin, cout) in zip((0, 2, 4, 6), ((3, 64), (64, 128), (128, 256), (256, 512))):
        # torch.nn.utils.spectral_norm (hook API): weight_orig parameter, weight_u / weight_v buffers, no bias
        d[f"conv.{j}.weight_orig"] = [cout, cin, 4, 4]
        d[f"conv.{j}.weight_u"] = [cout]
        d[f"conv.{j}.weight_v"] = [cin * 16]
    d |= conv("conv.8", 1, 512, 4)
    return {"generator": g, "discriminator": d}


# ------------------------------------------------------------------------------------------------------- MADF
def madf(n_refinement_d=2):
    g = {}
    filter_gen = [(3, 6, 16, 7), (16, 16, 32, 5), (16, 32, 64, 3), (16, 64, 128, 3)] + [(16, 128, 128, 3)] * 3
    for i, (in_ch, conv_in, conv_out, k) in enumerate(filter_gen, start=1):  # FilterGen(in_ch, conv_in, conv_out, k)
        g |= conv(f"filter_gen_{i}.conv.0", 16, in_ch, k)
        g |= conv(f"filter_gen_{i}.conv1.0", conv_in * k * k * conv_out, 16, 1)
    for i, out_ch in enumerate((16, 32, 64, 128, 128, 128, 128), start=1):  # ConvWithFilter: bn="batchnorm" default
        g |= bn(f"enc_conv_{i}.bn", out_ch)
    for i, (cin, cout) in enumerate(((16, 64), (32, 128), (64, 256)) + ((128, 512),) * 4, start=1):
        g |= conv(f"enc_up_{i}.0", cout, cin, 1)
    for i in (7, 6, 5):
        g |= deconv(f"deconv_{i}.0", 512, 512, 4) | bn(f"deconv_{i}.1", 512)
    g |= deconv("deconv_4.0", 512, 256, 4) | bn("deconv_4.1", 256)
    g |= deconv("deconv_3.0", 256, 128, 4) | bn("deconv_3.1", 128)
    g |= deconv("deconv_2.0", 128, 64, 4) | bn("deconv_2.1", 64)
    g |= deconv("deconv_1.0", 64, 3, 4)
    att = {7: (512, 512), 6: (512, 512), 5: (512, 512), 4: (256, 256), 3: (128, 128), 2: (64, 64), 1: (3, 6)}
    for i in (7, 6, 5, 4, 3, 2, 1):  # AttConv(query_dim, key_dim): Conv2d(q + k, q, 3)
        q, k = att[i]
        g |= conv(f"att_conv_{i}.conv.0", q, q + k, 3)
    dec = {7: (512, 512), 6: (512, 512), 5: (512, 512), 4: (512, 256), 3: (256, 128), 2: (128, 64)}
    for r in range(n_refinement_d):
        for i in (7, 6, 5, 4, 3, 2):  # DecActiv(in, out, label_ch=out, bn="PN")
            cin, cout = dec[i]
            g |= deconv(f"dec_ref{r}_{i}.deconv", cin, cout, 4)
            g |= bn(f"dec_ref{r}_{i}.bn.batch_norm", cout, affine=False)  # PN(norm_nc=out, label_nc=out)
            g |= conv(f"dec_ref{r}_{i}.bn.mlp_shared.0", 128, cout, 3)
            g |= conv(f"dec_ref{r}_{i}.bn.mlp_scale", cout, 128, 3)
            g |= conv(f"dec_ref{r}_{i}.bn.mlp_bias", cout, 128, 3)
        g |= conv(f"dec_ref{r}_1", 3, 64 + 3 * (3 + r), 1)  # 64 + input_channels*3 (ref0), *4 (ref1)
    # the released snapshot: {"n_iter", "model": {"module.model." + key: ...}, "optimizer"}
    return {"generator": {f"module.model.{k}": v for k, v in g.items()}}


# ------------------------------------------------------------------------------------------------------- DeepGIN
def deepgin(input_nc=4):
    ngf = 64
    g = {}
    seq = "lr_coarse_tinker"
    # [pad, conv, act] x4, 6 x MultiDilationResnetBlock (indices 12..17), [up, pad, conv, act] x3, [pad, conv]
    g |= conv(f"{seq}.1", ngf // 2, input_nc, 7)
    g |= conv(f"{seq}.4", ngf, ngf // 2, 4)
    g |= conv(f"{seq}.7", ngf * 2, ngf, 4)
    g |= conv(f"{seq}.10", ngf * 4, ngf * 2, 4)
    for idx in range(12, 18):
        for b in range(1, 9):
            g |= conv(f"{seq}.{idx}.branch{b}.conv", ngf * 4 // 8, ngf * 4, 3)
        g |= conv(f"{seq}.{idx}.fusion9.conv", ngf * 4, ngf * 4, 3)
    g |= conv(f"{seq}.20", ngf * 2, ngf * 4, 3)
    g |= conv(f"{seq}.24", ngf, ngf * 2, 3)
    g |= conv(f"{seq}.28", ngf // 2, ngf, 3)
    g |= conv(f"{seq}.31", 3, ngf // 2, 7)
    g |= conv("r_en_conv1", ngf // 2, input_nc, 7)
    g |= conv("r_en_conv2", ngf, ngf // 2, 4)
    g |= conv("r_en_conv3", ngf * 2, ngf, 4)
    g |= conv("r_en_skp_conv3", ngf, ngf * 2, 3)
    g |= conv("r_en_conv4", ngf * 4, ngf * 2, 4)
    g |= conv("r_en_skp_conv4", ngf * 2, ngf * 4, 3)
    g |= conv("r_en_conv5", ngf * 8, ngf * 4, 4)

    def mres(name):
        out = {}
        for b in range(1, 5):
            out |= conv(f"{name}.branch{b}.conv", ngf * 8 // 4, ngf * 8, 3)
        return out | conv(f"{name}.fusion5.conv", ngf * 8, ngf * 8, 3)

    def nonlocal_block(name, c):  # NonLocalBlock(c, sub_sample=False, bn_layer=False): g, W, theta, phi
        return conv(f"{name}.g", c // 2, c, 1) | conv(f"{name}.W", c, c // 2, 1) | \
            conv(f"{name}.theta", c // 2, c, 1) | conv(f"{name}.phi", c // 2, c, 1)

    for name in ("r_md_mres1", "r_md_mres2", "r_md_mres5"):
        g |= mres(name)
    g |= nonlocal_block("r_md_satn1", ngf * 8)
    for name in ("r_md_mres3", "r_md_mres4", "r_md_mres6"):
        g |= mres(name)
    g |= conv("r_de_conv1", ngf * 4, ngf * 8, 3)
    g |= nonlocal_block("r_de_satn2", ngf * 4 // 2)
    g |= nonlocal_block("r_de_satn3", ngf * 2 // 2)
    g |= conv("r_de_mix_conv1", ngf * 4, ngf * 4 + ngf * 4 // 2, 3)
    g |= conv("r_de_conv2", ngf * 2, ngf * 4, 3)
    g |= conv("r_de_mix_conv2", ngf * 2, ngf * 2 + ngf * 2 // 2, 3)
    g |= conv("r_de_conv2_lr", ngf // 2, ngf * 2, 3)
    g |= conv("r_de_conv3_lr", 3, ngf // 2, 3)
    g |= conv("r_de_conv3", ngf, ngf * 2, 3)
    g |= conv("r_de_conv4", ngf // 2, ngf, 3)
    g |= conv("r_de_conv5", 3, ngf // 2, 7)
    g |= conv("r_de_conv5_lr_alpha", 1, ngf // 2, 3)
    d = {}
    # MultiscaleDiscriminator(6, 64, n_layers=2, num_D=2, getIntermFeat=False): layer{i} = Sequential of
    # [SN conv s2, lrelu, SN conv s2, lrelu, SN conv s1, lrelu, SN conv s1]; custom SpectralNorm keeps bias and
    # registers weight_u (out,), weight_v (in*k*k,), weight_bar as parameters of the wrapped conv (`.module`).
    for i in range(2):
        for j, (cin, cout) in zip((0, 2, 4, 6), ((6, 64), (64, 128), (128, 256), (256, 256))):
            p = f"layer{i}.{j}.module"
            d[f"{p}.bias"] = [cout]
            d[f"{p}.weight_u"] = [cout]
            d[f"{p}.weight_v"] = [cin * 16]
            d[f"{p}.weight_bar"] = [cout, cin, 4, 4]
    return {"generator": g, "discriminator": d}


# ------------------------------------------------------------------------------------------------------- HiFill
def hifill():
    """TF variable names of HinpaintModel.build_generator / build_discriminator with config.yml (IMG_SHAPE 512,
    GEN_NC 32, BOTTLENECK_SIZE 64, COARSE_CONV_TYPE slice, REFINE_CONV_TYPE ds, DIS_NC 64, GAN_WITH_MASK False).
    Kernels are (kh, kw, in, out). Optimizer slots are not listed (the converter skips them)."""
    g = {}

    def slice_conv(name, cin, cout, k=3):  # gen_conv_gated_slice: {name}_feat, {name}_gate (1 channel)
        g.update({f"generator/{name}_feat/w": [k, k, cin, cout], f"generator/{name}_feat/biases": [cout],
                  f"generator/{name}_gate/w": [k, k, cin, 1], f"generator/{name}_gate/biases": [1]})

    def ds_conv(name, cin, cout, k=3):  # gen_conv_gated_ds: conv2d + conv2d_ds in the same scope
        g.update({f"generator/{name}/w": [k, k, cin, cout], f"generator/{name}/biases": [cout],
                  f"generator/{name}/pw": [1, 1, cin, cout], f"generator/{name}/ds_biases": [cout]})

    nc = 32
    slice_conv("c_en_down_128", 4, nc, 5)
    slice_conv("c_en_conv_128", nc, nc)
    slice_conv("c_en_down_64", nc, 2 * nc)
    for name in ("c_en_conv1_64", "c_en_conv2_64", "c_en_conv3_64"):
        slice_conv(name, 2 * nc, 2 * nc)
    for i in range(1, 15):  # dilate_block: _d1 .. _d14
        slice_conv(f"c_dil_d{i}", 2 * nc, 2 * nc)
    for name in ("c_de_conv1_64", "c_de_conv2_64", "c_de_conv3_64"):
        slice_conv(name, 2 * nc, 2 * nc)
    slice_conv("c_de_up_128/c_de_up_128_conv", 2 * nc, nc)  # gen_deconv_gated_slice: scope name/name_conv
    slice_conv("c_de_conv_128", nc, nc)
    slice_conv("c_de_toRGB/c_de_toRGB_conv", nc, 3)
    # stage 2: nc = max(4, 32 // (512 // 512)) // 2 = 16, doubled per level while size > 64
    cin, nc, size = 4, 16, 512
    while size > 64:
        nc, size = nc * 2, size // 2
        ds_conv(f"re_en_down_{size}", cin, nc)
        ds_conv(f"re_en_conv_{size}", nc, nc)
        cin = nc
    for r in (1, 2, 4, 8, 16):  # dilate_block2
        ds_conv(f"re_dil_d{r}", nc, nc)
    ds_conv(f"re_att_{size}_att1", nc, nc)
    ds_conv(f"re_att_{size}_att3", 2 * nc, nc)
    while size < 256:
        cin, nc, size = nc * 2 if size != 64 else nc, nc // 2, size * 2
        ds_conv(f"re_de_up__{size}/re_de_up__{size}_conv", cin, nc)
        ds_conv(f"re_de_conv_{size}", nc, nc)
        ds_conv(f"re_de_att_{size}_1", nc, nc)
        ds_conv(f"re_de_att_{size}_2", nc, nc)
    ds_conv(f"re_de_toRGB__{size}/re_de_toRGB__{size}_conv", 2 * nc, 3)
    d = {}
    for i, (cin, cout) in enumerate(((3, 64), (64, 128), (128, 256), (256, 256), (256, 256), (256, 256)), start=1):
        d[f"discriminator/conv{i}/w"] = [5, 5, cin, cout]
        d[f"discriminator/conv{i}/biases"] = [cout]
    d["discriminator/linear/kernel"] = [8 * 8 * 256, 1]  # 512 / 2**6 = 8
    d["discriminator/linear/bias"] = [1]
    return {"generator": g, "discriminator": d}


def main() -> None:
    outputs = {
        "aotgan": aotgan(),
        "madf": madf(),
        "deepgin": {**deepgin(4), "generator_track2": deepgin(7)["generator"]},
        "hifill": hifill(),
    }
    for method, tables in outputs.items():
        path = HERE / f"official_keys_{method}.json"
        path.write_text(json.dumps(tables, indent=1) + "\n")
        print(path, {k: len(v) for k, v in tables.items()})


if __name__ == "__main__":
    main()
