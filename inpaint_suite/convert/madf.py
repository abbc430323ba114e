"""MADF: official ``MADF-inpainting/Pytorch-MADF`` snapshot (``*.pth``) -> ``networks.madf.MADFGenerator``.

The official snapshot is ``{"n_iter": int, "model": state_dict, "optimizer": ...}`` with every model key prefixed
``module.model.`` (DataParallel around a wrapper; ``util/io.py`` strips it). The prefix is stripped here too;
a bare ``{key: tensor}`` file (already stripped) is accepted as well. No discriminator exists.

Snapshots written by the official ``train.py`` save the ``DataParallel`` of ``FullModel(model, extractor)``
(``data_parallel.py``), so beside ``module.model.*`` they hold the frozen VGG-16 loss network as
``module.extractor.enc_{1,2,3}.*`` (torchvision ``vgg16.features[0:17]``, 1,735,488 values). The official
``test.py`` loads them with ``strict=False``; here exactly those 14 tensors (names and shapes checked) are dropped,
with a note, and every other key must still match the table.

Variants: ``k2`` (released, two refinement decoders; default), ``k1``, ``k0`` (``n_refinement_D``).

Renames (level ``i`` = 1..7, decoder index ``j = 7 - i``; no tensor transform):

- ``filter_gen_{i}.conv.0`` -> ``encoder.{i-1}.op.mask_conv``; ``filter_gen_{i}.conv1.0`` -> ``.op.kernel_gen``
  (same generated-kernel channel layout ``(c*k*k + ..)*C_out + o``, output channel fastest);
  ``enc_up_{i}.0`` -> ``encoder.{i-1}.lift``.
- ``enc_conv_{i}.bn.*``: a BatchNorm the official forward never applies (spec madf.md §9.1). **Dropped** by
  default; with ``official_unused_bn`` it goes to ``encoder.{i-1}.op.unused_bn`` (model option of the same name).
- ``deconv_{i}.0`` / ``.1`` -> ``recovery.{j}.deconv`` / ``.norm`` (no BN at i = 1);
  ``att_conv_{i}.conv.0`` -> ``recovery.{j}.blend`` (input order [skip, upsampled] is the same).
- ``dec_ref{r}_{i}.deconv`` -> ``refinements.{r}.{j}.deconv``; its PN ``bn.batch_norm`` / ``bn.mlp_shared.0`` /
  ``bn.mlp_scale`` / ``bn.mlp_bias`` -> ``refinements.{r}.{j}.norm.norm`` / ``.shared`` / ``.gamma`` / ``.beta``
  (i = 7..2); ``dec_ref{r}_1`` (1x1 fusion) -> ``refinement_heads.{r}.fuse``.
"""

from __future__ import annotations

from typing import Any

from inpaint_suite.convert.common import (
    ConvertError,
    Entry,
    batchnorm_entries,
    conv_entries,
    prefixed,
)

METHOD = "madf"
VARIANTS = ("k2", "k1", "k0", "k2_unused_bn")
OFFICIAL_PREFIX = "module.model."
EXTRACTOR_PREFIX = "module.extractor."
# VGG16FeatureExtractor: enc_1 = features[:5], enc_2 = features[5:10], enc_3 = features[10:17] (conv at 0, 2, 4)
EXTRACTOR_CONVS = {"enc_1.0": (64, 3), "enc_1.2": (64, 64), "enc_2.0": (128, 64), "enc_2.2": (128, 128),
                   "enc_3.0": (256, 128), "enc_3.2": (256, 256), "enc_3.4": (256, 256)}
EXTRACTOR_SHAPES = {f"{EXTRACTOR_PREFIX}{name}.{part}": ((out, cin, 3, 3) if part == "weight" else (out,))
                    for name, (out, cin) in EXTRACTOR_CONVS.items() for part in ("weight", "bias")}

# level i (1-based) -> (C_in of the dynamic conv, C_out, kernel, lift width); official MADFNet(layer_size=7)
LEVELS = {1: (6, 16, 7, 64), 2: (16, 32, 5, 128), 3: (32, 64, 3, 256), 4: (64, 128, 3, 512),
          5: (128, 128, 3, 512), 6: (128, 128, 3, 512), 7: (128, 128, 3, 512)}
# decoder level i -> (deconv in, deconv out); att_conv_i: Conv2d(out + skip, out, 3)
DECONV = {7: (512, 512), 6: (512, 512), 5: (512, 512), 4: (512, 256), 3: (256, 128), 2: (128, 64), 1: (64, 3)}
SKIP = {7: 512, 6: 512, 5: 512, 4: 256, 3: 128, 2: 64, 1: 6}  # channels of h_{i-1}
UNUSED_BN_REASON = "official ConvWithFilter builds this BatchNorm but never applies it (spec madf.md §9.1)"


def _parse(variant: str) -> tuple[int, bool]:
    if variant not in VARIANTS:
        raise ConvertError(f"madf has no variant {variant!r}; choose from {', '.join(VARIANTS)}")
    return int(variant[1]), variant.endswith("unused_bn")


def generator_rows(num_refine: int = 2, unused_bn: bool = False) -> list[Entry]:
    rows: list[Entry] = []
    for i, (cin, cout, k, lift) in LEVELS.items():
        mask_in = 3 if i == 1 else 16
        rows += conv_entries(f"filter_gen_{i}.conv.0", f"encoder.{i - 1}.op.mask_conv", 16, mask_in, k)
        rows += conv_entries(f"filter_gen_{i}.conv1.0", f"encoder.{i - 1}.op.kernel_gen", cin * k * k * cout, 16, 1)
        bn = batchnorm_entries(f"enc_conv_{i}.bn", f"encoder.{i - 1}.op.unused_bn", cout)
        if not unused_bn:
            bn = [Entry(r.official, r.shape, None, reason=UNUSED_BN_REASON) for r in bn]
        rows += bn
        rows += conv_entries(f"enc_up_{i}.0", f"encoder.{i - 1}.lift", lift, cout, 1)
    for i in range(7, 0, -1):
        j = 7 - i
        cin, cout = DECONV[i]
        rows += conv_entries(f"deconv_{i}.0", f"recovery.{j}.deconv", cout, cin, 4, transposed=True)
        if i > 1:
            rows += batchnorm_entries(f"deconv_{i}.1", f"recovery.{j}.norm", cout)
        rows += conv_entries(f"att_conv_{i}.conv.0", f"recovery.{j}.blend", cout, cout + SKIP[i], 3)
    for r in range(num_refine):
        for i in range(7, 1, -1):
            j = 7 - i
            cin, cout = DECONV[i]
            o, u = f"dec_ref{r}_{i}", f"refinements.{r}.{j}"
            rows += conv_entries(f"{o}.deconv", f"{u}.deconv", cout, cin, 4, transposed=True)
            rows += batchnorm_entries(f"{o}.bn.batch_norm", f"{u}.norm.norm", cout, affine=False)
            rows += conv_entries(f"{o}.bn.mlp_shared.0", f"{u}.norm.shared", 128, cout, 3)
            rows += conv_entries(f"{o}.bn.mlp_scale", f"{u}.norm.gamma", cout, 128, 3)
            rows += conv_entries(f"{o}.bn.mlp_bias", f"{u}.norm.beta", cout, 128, 3)
        # [up(f), O_R, O_F1.., h_0 (6 ch)] -> 3
        rows += conv_entries(f"dec_ref{r}_1", f"refinement_heads.{r}.fuse", 3, 64 + 3 * (r + 1) + 6, 1)
    return prefixed(rows, ours_prefix="generator.")


def tables(variant: str = "k2") -> dict[str, list[Entry]]:
    num_refine, unused_bn = _parse(variant)
    return {"generator": generator_rows(num_refine, unused_bn)}


def model_args(variant: str = "k2") -> dict[str, Any]:
    num_refine, unused_bn = _parse(variant)
    return {"encoder_block": "madf", "num_refine": num_refine, "refine_norm": "pn", "official_unused_bn": unused_bn}


def split_unused(obj: Any, where: str) -> tuple[Any, list[str]]:
    """``obj`` without the VGG-16 loss network a ``train.py`` snapshot carries, and a note saying so.

    Only ``module.extractor.*`` keys with exactly the VGG16FeatureExtractor names and shapes are dropped; any other
    ``module.extractor.`` key is a ConvertError, and everything else is left for :func:`extract_state` to check.
    """
    inner = obj.get("model") if isinstance(obj, dict) and isinstance(obj.get("model"), dict) else obj
    if not isinstance(inner, dict):
        return obj, []
    found = {k: v for k, v in inner.items() if isinstance(k, str) and k.startswith(EXTRACTOR_PREFIX)}
    if not found:
        return obj, []
    odd = [k for k in found if k not in EXTRACTOR_SHAPES]
    wrong = [f"{k} {tuple(getattr(v, 'shape', ()))} != {EXTRACTOR_SHAPES[k]}" for k, v in found.items()
             if k in EXTRACTOR_SHAPES and tuple(getattr(v, "shape", ())) != EXTRACTOR_SHAPES[k]]
    missing = [k for k in EXTRACTOR_SHAPES if k not in found]
    if odd or wrong or missing:
        first = (odd + wrong + missing)[:5]
        raise ConvertError(f"{where}: the '{EXTRACTOR_PREFIX}' keys are not the official VGG-16 loss network "
                           f"(enc_1..enc_3 of vgg16.features[0:17]), first: {', '.join(first)}")
    kept = {k: v for k, v in inner.items() if k not in found}
    values = sum(int(v.numel()) for v in found.values())
    note = (f"{where}: dropped the {len(found)} '{EXTRACTOR_PREFIX}*' tensors ({values:,} values): the frozen "
            "VGG-16 of the training losses that the official train.py saves with the model (test.py skips them too)")
    return ({**obj, "model": kept} if inner is not obj else kept), [note]


def extract_state(obj: Any, role: str, where: str) -> dict:
    """``obj["model"]`` of an official snapshot with ``module.model.`` stripped (or a bare, stripped state dict)."""
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise ConvertError(f"{where}: expected an official MADF snapshot (a dict with 'model'), got {type(obj).__name__}")
    keys = list(obj)
    if keys and all(k.startswith(OFFICIAL_PREFIX) for k in keys):
        return {k[len(OFFICIAL_PREFIX):]: v for k, v in obj.items()}
    if any(k.startswith(OFFICIAL_PREFIX) for k in keys):
        odd = [k for k in keys if not k.startswith(OFFICIAL_PREFIX)][:5]
        raise ConvertError(f"{where}: some keys lack the official '{OFFICIAL_PREFIX}' prefix, first: {', '.join(odd)}")
    return dict(obj)


HINTS = {"generator": " (expected an official MADF snapshot, MADFNet(layer_size=7); "
                      "--variant k1/k0 for fewer refinement decoders)"}
