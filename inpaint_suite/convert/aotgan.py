"""AOT-GAN: official ``researchmm/AOT-GAN-for-Inpainting`` ``G<iter>.pt`` / ``D<iter>.pt`` -> ``networks.aotgan``.

Official files are plain ``state_dict()``s (``torch.save(netG.module.state_dict(), ...)``), so they load with
``weights_only=True``. Our model: the default ``AOTGenerator`` (8 blocks, rates 1,2,4,8, gated residual with the
code's gate norm, bilinear-upsample decoder) and ``AOTDiscriminator(layout="code")``.

Renames (no tensor transform is needed):

- ``middle.{i}.block{k:02d}.1`` -> ``blocks.{i}.branches.{k}.1`` (the k-th dilated branch, rates in order);
  ``middle.{i}.fuse.1`` / ``middle.{i}.gate.1`` -> ``blocks.{i}.fuse.1`` / ``blocks.{i}.gate.1``;
  encoder / decoder indices are identical (``decoder.{0,2}.conv``, ``decoder.4``).
- D: ``torch.nn.utils.spectral_norm`` (old hook API) stores ``conv.{j}.weight_orig`` + buffers ``weight_u`` (out,),
  ``weight_v`` (in*4*4,); ours is a parametrization with the same state-dict layout
  (``networks.spectral_norm``, kind ``hook``): the same raw weight and vectors under
  ``layers.{j}.parametrizations.weight.original`` / ``.0._u`` / ``.0._v``. It iterates in the hook API's order
  (v first, then u), so converted vectors give the official sigma in training too, not only in eval
  (``tests/inpaint_suite/convert/test_official_parity_aotgan.py``).
"""

from __future__ import annotations

from typing import Any

from inpaint_suite.convert.common import ConvertError, Entry, conv_entries, prefixed, spectral_norm_entries

METHOD = "aotgan"
VARIANTS = ("default",)
RATES = (1, 2, 4, 8)
NUM_BLOCKS = 8


def generator_rows() -> list[Entry]:
    rows = conv_entries("encoder.1", "encoder.1", 64, 4, 7)
    rows += conv_entries("encoder.3", "encoder.3", 128, 64, 4)
    rows += conv_entries("encoder.5", "encoder.5", 256, 128, 4)
    for i in range(NUM_BLOCKS):
        for k, _rate in enumerate(RATES):  # official branch width: dim // 4 = 64 (hard-coded)
            rows += conv_entries(f"middle.{i}.block{k:02d}.1", f"blocks.{i}.branches.{k}.1", 64, 256, 3)
        rows += conv_entries(f"middle.{i}.fuse.1", f"blocks.{i}.fuse.1", 256, 256, 3)
        rows += conv_entries(f"middle.{i}.gate.1", f"blocks.{i}.gate.1", 256, 256, 3)
    rows += conv_entries("decoder.0.conv", "decoder.0.conv", 128, 256, 3)
    rows += conv_entries("decoder.2.conv", "decoder.2.conv", 64, 128, 3)
    rows += conv_entries("decoder.4", "decoder.4", 3, 64, 3)
    return prefixed(rows, ours_prefix="generator.")


def discriminator_rows() -> list[Entry]:
    rows: list[Entry] = []
    widths = (3, 64, 128, 256, 512)
    for n, j in enumerate((0, 2, 4, 6)):
        rows += spectral_norm_entries(f"conv.{j}", f"layers.{j}", widths[n + 1], widths[n], 4,
                                      weight_name="weight_orig", u_name="weight_u", v_name="weight_v", bias=False)
    rows += conv_entries("conv.8", "layers.8", 1, 512, 4)
    return prefixed(rows, ours_prefix="discriminator.")


def tables(variant: str = "default") -> dict[str, list[Entry]]:
    """``{"generator": rows, "discriminator": rows}`` for the released model."""
    if variant not in VARIANTS:
        raise ConvertError(f"aotgan has no variant {variant!r}; choose from {', '.join(VARIANTS)}")
    return {"generator": generator_rows(), "discriminator": discriminator_rows()}


def model_args(variant: str = "default") -> dict[str, Any]:
    """``model.init_args`` the converted weights need (the defaults of lightning_modules/configs/aotgan.yaml)."""
    return {"rates": list(RATES), "num_blocks": NUM_BLOCKS, "channels": 256, "residual": "gated", "gate_norm": "code", "gate_orientation": "code",
            "upsample": "bilinear_conv", "disc_layout": "code"}


def extract_state(obj: Any, role: str, where: str) -> dict:
    """The official files are the bare state dicts."""
    return obj


HINTS = {
    "generator": " (expected an official AOT-GAN G<iter>.pt with 8 blocks, rates 1+2+4+8)",
    "discriminator": " (expected an official AOT-GAN D<iter>.pt)",
}
