"""DeepGIN: official ``rlct1/gin`` (Track 1) / ``rlct1/gin-sg`` (Track 2) ``<epoch>_net_G.pth`` and
``<epoch>_net_D.pth`` -> ``networks.deepgin.DeepGINGenerator`` / ``MultiScaleDiscriminator``.

Official files are plain ``network.state_dict()``s (pix2pixHD ``save_network``): ``weights_only=True`` works.
The warm-up checkpoint (``checkpoints/warmup/``) has the Track 1 layout. Variants:

- ``track1`` / ``warmup``: ``ImageTinker2(input_nc=4)``; ours ``semantic_channels=0``;
- ``track2``: ``input_nc=7``: the raw ADE20K ``*_seg.png`` read as RGB in [0, 1] is concatenated to G1's and
  G2's inputs (official order ``[image, mask, seg]``); ours ``semantic_channels=3, seg_encoding=ade_rgb``
  (recorded in ``model_init_args``) with that colour map as ``seg`` (``data.seg_encoding: ade_rgb``, ``predict
  --seg``, config ``deepgin_track2_official``). NOT the project's 52-channel one-hot: the B channel holds instance
  ids, so no exact one-hot weight fold exists.

Generator renames (all 1:1, no tensor transform):

- ``lr_coarse_tinker.{1,4,7,10}`` -> ``coarse.encoder.{0..3}.1``; ``lr_coarse_tinker.{12+b}.branch{n}.conv`` ->
  ``coarse.blocks.{b}.branches.{n-1}.1`` (branch order = dilations 2,3,4,5,6,8,10,1 on both sides),
  ``.fusion9.conv`` -> ``.fuse.1``; ``lr_coarse_tinker.{20,24,28}`` -> ``coarse.decoder.{0,1,2}.conv.1``,
  ``.31`` -> ``coarse.decoder.3.1``.
- ``r_en_conv{1..5}`` -> ``refine.e{1..5}.1``; ``r_en_skp_conv{3,4}`` -> ``refine.skip{3,4}.1``.
- Residual blocks in *application* order: ``r_md_mres1, mres2, mres5`` -> ``refine.blocks_a.{0,1,2}``, then
  ``r_md_satn1`` -> ``refine.attn16``, then ``r_md_mres3, mres4, mres6`` -> ``refine.blocks_b.{0,1,2}``
  (the official names are not in forward order).
- Non-local blocks: ``g, theta, phi, W`` -> ``g, theta, phi, w_z``; ``r_de_satn2`` (on the 128-ch H/8 skip) ->
  ``refine.attn32``, ``r_de_satn3`` (64-ch H/4 skip) -> ``refine.attn64``.
- ``r_de_conv{1,2,3,4}`` -> ``refine.d{1,2,3,4}.conv.1``; ``r_de_mix_conv{1,2}`` -> ``refine.fuse{1,2}.1``;
  ``r_de_conv{2,3}_lr`` -> ``refine.lr_head.{0,1}.1``; ``r_de_conv5`` -> ``refine.out.1``;
  ``r_de_conv5_lr_alpha`` -> ``refine.alpha.1``.

Discriminator (``getIntermFeat=False``, the default since ``no_ganFeat_loss=True``): ``layer{s}.{j}.module.*``
with the official custom SpectralNorm (parameters ``weight_bar`` raw weight, ``weight_u`` (out,), ``weight_v``
(in*16,)) -> ``scales.{t}.net.{j}.parametrizations.weight.original/.0._u/.0._v`` and ``.bias``.
**Scale order is reversed**: the official forward runs ``layer{num_D-1-i}`` on the i-th (down-sampled) input, so
``layer1`` sees full resolution = our ``scales.0`` and ``layer0`` the half-resolution input = ``scales.1``.
The ``getIntermFeat=True`` layout (``scale{s}_layer{n}.0.module.*``) is accepted too, with the same reversal.
The official wrapper's power iteration is ``v = l2n(W^T u)`` then ``u = l2n(W v)``, in every forward (eval too);
PyTorch's parametrization does ``u`` first and only in training mode, so from the same stored u/v it gives another
sigma. ``model_args`` sets ``d_spectral_norm: official`` (``networks.spectral_norm`` kind ``pix2pixhd``, same keys) so
that converted weights score exactly as the official D.
"""

from __future__ import annotations

from typing import Any

from inpaint_suite.convert.common import ConvertError, Entry, conv_entries, prefixed, spectral_norm_entries

METHOD = "deepgin"
VARIANTS = ("track1", "track2", "warmup")
NGF = 64
COARSE_RATES = (2, 3, 4, 5, 6, 8, 10, 1)  # branch1..branch8 of MultiDilationResnetBlock
REFINE_RATES = (2, 3, 4, 5)  # branch1..branch4 of MultiDilationResnetBlock_v3
BLOCKS_A = ("r_md_mres1", "r_md_mres2", "r_md_mres5")  # before r_md_satn1 in the official forward
BLOCKS_B = ("r_md_mres3", "r_md_mres4", "r_md_mres6")


def input_channels(variant: str) -> int:
    if variant not in VARIANTS:
        raise ConvertError(f"deepgin has no variant {variant!r}; choose from {', '.join(VARIANTS)}")
    return 7 if variant == "track2" else 4


def _nonlocal(official: str, ours: str, channels: int) -> list[Entry]:
    inter = channels // 2
    rows: list[Entry] = []
    for o_name, u_name, cout, cin in (("g", "g", inter, channels), ("theta", "theta", inter, channels),
                                      ("phi", "phi", inter, channels), ("W", "w_z", channels, inter)):
        rows += conv_entries(f"{official}.{o_name}", f"{ours}.{u_name}", cout, cin, 1)
    return rows


def _spd(official: str, ours: str, channels: int, rates: tuple[int, ...], fusion: str) -> list[Entry]:
    width = channels // len(rates)
    rows: list[Entry] = []
    for n in range(len(rates)):
        rows += conv_entries(f"{official}.branch{n + 1}.conv", f"{ours}.branches.{n}.1", width, channels, 3)
    rows += conv_entries(f"{official}.{fusion}.conv", f"{ours}.fuse.1", channels, channels, 3)
    return rows


def generator_rows(in_ch: int = 4) -> list[Entry]:
    c = "lr_coarse_tinker"
    rows = conv_entries(f"{c}.1", "coarse.encoder.0.1", NGF // 2, in_ch, 7)
    rows += conv_entries(f"{c}.4", "coarse.encoder.1.1", NGF, NGF // 2, 4)
    rows += conv_entries(f"{c}.7", "coarse.encoder.2.1", NGF * 2, NGF, 4)
    rows += conv_entries(f"{c}.10", "coarse.encoder.3.1", NGF * 4, NGF * 2, 4)
    for b in range(6):
        rows += _spd(f"{c}.{12 + b}", f"coarse.blocks.{b}", NGF * 4, COARSE_RATES, "fusion9")
    rows += conv_entries(f"{c}.20", "coarse.decoder.0.conv.1", NGF * 2, NGF * 4, 3)
    rows += conv_entries(f"{c}.24", "coarse.decoder.1.conv.1", NGF, NGF * 2, 3)
    rows += conv_entries(f"{c}.28", "coarse.decoder.2.conv.1", NGF // 2, NGF, 3)
    rows += conv_entries(f"{c}.31", "coarse.decoder.3.1", 3, NGF // 2, 7)

    r = "refine"
    rows += conv_entries("r_en_conv1", f"{r}.e1.1", NGF // 2, in_ch, 7)
    rows += conv_entries("r_en_conv2", f"{r}.e2.1", NGF, NGF // 2, 4)
    rows += conv_entries("r_en_conv3", f"{r}.e3.1", NGF * 2, NGF, 4)
    rows += conv_entries("r_en_skp_conv3", f"{r}.skip3.1", NGF, NGF * 2, 3)
    rows += conv_entries("r_en_conv4", f"{r}.e4.1", NGF * 4, NGF * 2, 4)
    rows += conv_entries("r_en_skp_conv4", f"{r}.skip4.1", NGF * 2, NGF * 4, 3)
    rows += conv_entries("r_en_conv5", f"{r}.e5.1", NGF * 8, NGF * 4, 4)
    for n, name in enumerate(BLOCKS_A):
        rows += _spd(name, f"{r}.blocks_a.{n}", NGF * 8, REFINE_RATES, "fusion5")
    rows += _nonlocal("r_md_satn1", f"{r}.attn16", NGF * 8)
    for n, name in enumerate(BLOCKS_B):
        rows += _spd(name, f"{r}.blocks_b.{n}", NGF * 8, REFINE_RATES, "fusion5")
    rows += conv_entries("r_de_conv1", f"{r}.d1.conv.1", NGF * 4, NGF * 8, 3)
    rows += _nonlocal("r_de_satn2", f"{r}.attn32", NGF * 2)
    rows += _nonlocal("r_de_satn3", f"{r}.attn64", NGF)
    rows += conv_entries("r_de_mix_conv1", f"{r}.fuse1.1", NGF * 4, NGF * 4 + NGF * 2, 3)
    rows += conv_entries("r_de_conv2", f"{r}.d2.conv.1", NGF * 2, NGF * 4, 3)
    rows += conv_entries("r_de_mix_conv2", f"{r}.fuse2.1", NGF * 2, NGF * 2 + NGF, 3)
    rows += conv_entries("r_de_conv2_lr", f"{r}.lr_head.0.1", NGF // 2, NGF * 2, 3)
    rows += conv_entries("r_de_conv3_lr", f"{r}.lr_head.1.1", 3, NGF // 2, 3)
    rows += conv_entries("r_de_conv3", f"{r}.d3.conv.1", NGF, NGF * 2, 3)
    rows += conv_entries("r_de_conv4", f"{r}.d4.conv.1", NGF // 2, NGF, 3)
    rows += conv_entries("r_de_conv5", f"{r}.out.1", 3, NGF // 2, 7)
    rows += conv_entries("r_de_conv5_lr_alpha", f"{r}.alpha.1", 1, NGF // 2, 3)
    return prefixed(rows, ours_prefix="generator.")


D_WIDTHS = (6, 64, 128, 256, 256)  # input [I_in, X]; n_layers_D = 2, ndf = 64
NUM_D = 2


def discriminator_rows(layout: str = "stream") -> list[Entry]:
    """``stream`` = ``layer{s}.{2n}.module`` (getIntermFeat False); ``interm`` = ``scale{s}_layer{n}.0.module``."""
    rows: list[Entry] = []
    for s in range(NUM_D):
        ours_scale = NUM_D - 1 - s  # official layer{s} runs on input down-sampled (NUM_D-1-s) times
        for n in range(4):
            official = f"layer{s}.{2 * n}.module" if layout == "stream" else f"scale{s}_layer{n}.0.module"
            rows += spectral_norm_entries(official, f"scales.{ours_scale}.net.{2 * n}", D_WIDTHS[n + 1], D_WIDTHS[n],
                                          4, weight_name="weight_bar", u_name="weight_u", v_name="weight_v",
                                          bias=True)
    return prefixed(rows, ours_prefix="discriminator.")


def tables(variant: str = "track1", d_layout: str = "stream") -> dict[str, list[Entry]]:
    return {"generator": generator_rows(input_channels(variant)), "discriminator": discriminator_rows(d_layout)}


def discriminator_layout(state: dict) -> str:
    """``interm`` when the file uses the getIntermFeat=True names, else ``stream`` (the default layout)."""
    return "interm" if any(k.startswith("scale0_layer") for k in state) else "stream"


def model_args(variant: str = "track1") -> dict[str, Any]:
    # d_spectral_norm: the official SpectralNorm's power iteration (v first, also in eval), see the module docstring
    args = {"stages": "two_stage", "resblock": "spd", "attention": "mssa", "back_projection": True,
            "semantic_channels": 3 if input_channels(variant) == 7 else 0, "d_spectral_norm": "official"}
    if variant == "track2":  # the raw *_seg.png colours, decoded by the data module to [0, 1]
        args["seg_encoding"] = "ade_rgb"  # given to the CLI as data.seg_encoding (linked to the model)
    return args


def extract_state(obj: Any, role: str, where: str) -> dict:
    return obj


HINTS = {
    "generator": " (expected an official DeepGIN <epoch>_net_G.pth; a Track 2 file has 7 input channels: "
                 "use --variant track2)",
    "discriminator": " (expected an official DeepGIN <epoch>_net_D.pth, MultiscaleDiscriminator num_D=2, n_layers_D=2)",
}
