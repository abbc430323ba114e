"""HiFill: the TensorFlow checkpoint of ``duxingren14/Hifill-tensorflow`` (``model_logs/places2/0.index`` +
``0.data-*``) -> ``networks.hifill.HiFillGenerator`` (coarse ``sc`` gates, refine ``pw`` gates) / ``HiFillCritic``.

Inputs this module reads (nothing executed from the file):

- a TF V2 checkpoint prefix (``.../0`` or ``.../0.index``), decoded by :mod:`inpaint_suite.convert.tf_bundle`
  (no TensorFlow needed; tested on checkpoints written by TensorFlow's own ``SaveV2``);
- a ``.npz`` of ``{tf variable name: array}`` (e.g. exported elsewhere with ``tf.train.load_checkpoint``),
  read with ``allow_pickle=False``;
- the frozen graph ``hifill.pb`` of ``Atlas200dk/sample-imageinpainting-HiFill``: its weights are graph constants
  named like the variables; the GraphDef is parsed with TensorFlow's protobuf classes (the ``reference-tf``
  extra; without it the file is refused with that advice), nothing is built or run (:func:`read_frozen_graph`).

Refused with a reason: Ascend ``.om`` models. Optimizer slots (``*/Adam``, ``*/Adam_1``) and globals
(``beta1_power``, ``global_step`` ...) are skipped by name.

Every conv is ``{scope}/w`` (kh, kw, in, out) + ``{scope}/biases``; the explicit transform
``transpose_hwio_to_oihw`` makes it ``(out, in, kh, kw)``. TF variable scopes (``conv_type`` in config.yml):

- coarse ``slice`` (= our ``sc`` gate): ``generator/{n}_feat/{w,biases}`` -> ``.feature``; ``generator/{n}_gate/
  {w,biases}`` (1 output channel) -> ``.gate``; up-convs live under ``generator/{n}/{n}_conv_feat|_gate``.
- refine ``ds`` (its gate is a 1x1 conv = our ``pw``): ``generator/{n}/{w,biases}`` -> ``.feature``,
  ``generator/{n}/{pw,ds_biases}`` -> ``.gate``; up-convs under ``generator/{n}/{n}_conv/``.
- critic: ``discriminator/conv{1..6}/{w,biases}`` -> ``features.{0,2,..,10}``; ``discriminator/linear/{kernel,bias}``
  -> ``linear``; the kernel needs ``dense_nhwc_to_linear_nchw`` (TF flattens h, w, c; we flatten c, h, w).

Channel order: the released model was trained on **BGR** images (OpenCV, never converted). Variant ``places2``
(default) folds the BGR<->RGB swap into the weights — ``reverse_rgb_in`` on the input-channel axis of the first
convs of both stages and the critic, ``reverse_rgb_out`` on the 3 output channels of both ``toRGB`` convs — so our
RGB ``generate()`` computes exactly the BGR network. ``places2_bgr`` keeps the official order (then feed BGR).

TF conventions (:func:`model_args`): ``padding: tf_same`` (TF ``SAME``, asymmetric for stride-2 convs, generator and
critic) and ``resize: tf1_legacy`` (TF1 ``resize_bilinear`` without half-pixel centres, every up-sampling) besides
the code's attention options. With them the converted module equals the official TF graph at 512x512, batch 1
(``tests/inpaint_suite/convert/test_hifill_tf_parity.py``: max |ours - TF| ~1e-7 on x1, ~4e-6 on x2, ~3e-6 on
the critic).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inpaint_suite.convert.common import ConvertError, Entry, prefixed
from inpaint_suite.convert.tf_bundle import TFCheckpointError, read_checkpoint

METHOD = "hifill"
VARIANTS = ("places2", "places2_bgr")
IMAGE_SIZE = 512
SKIPPED_SUFFIXES = ("/Adam", "/Adam_1", "/RMSProp", "/RMSProp_1", "/Momentum", "/ExponentialMovingAverage")
NETWORK_SCOPES = {"generator": "generator/", "discriminator": "discriminator/"}
VARIABLE_LEAVES = ("w", "biases", "pw", "ds_biases", "kernel", "bias")  # last name part of every variable

# Coarse stage, our HiFillCoarse.body index -> (tf name, in, out, kernel, is up-conv)
COARSE = [("c_en_down_128", 4, 32, 5, False), ("c_en_conv_128", 32, 32, 3, False),
          ("c_en_down_64", 32, 64, 3, False)]
COARSE += [(f"c_en_conv{i}_64", 64, 64, 3, False) for i in (1, 2, 3)]
COARSE += [(f"c_dil_d{i}", 64, 64, 3, False) for i in range(1, 15)]  # rates 1,1,1,2x5,4x4,8x2
COARSE += [(f"c_de_conv{i}_64", 64, 64, 3, False) for i in (1, 2, 3)]
COARSE += [("c_de_up_128", 64, 32, 3, True), ("c_de_conv_128", 32, 32, 3, False), ("c_de_toRGB", 32, 3, 3, True)]

# Refine stage: our HiFillRefine path -> (tf name, in, out, kernel, is up-conv)
REFINE = [("enc1.0", "re_en_down_256", 4, 32, 3, False), ("enc1.1", "re_en_conv_256", 32, 32, 3, False),
          ("enc2.0", "re_en_down_128", 32, 64, 3, False), ("enc2.1", "re_en_conv_128", 64, 64, 3, False),
          ("enc3.0", "re_en_down_64", 64, 128, 3, False), ("enc3.1", "re_en_conv_64", 128, 128, 3, False)]
REFINE += [(f"enc3.{2 + n}", f"re_dil_d{r}", 128, 128, 3, False) for n, r in enumerate((1, 2, 4, 8, 16))]
REFINE += [("att3_conv", "re_att_64_att1", 128, 128, 3, False), ("att3_merge", "re_att_64_att3", 256, 128, 3, False),
           ("dec2.0.conv", "re_de_up__128", 128, 64, 3, True), ("dec2.1", "re_de_conv_128", 64, 64, 3, False),
           ("att2.0", "re_de_att_128_1", 64, 64, 3, False), ("att2.1", "re_de_att_128_2", 64, 64, 3, False),
           ("dec1.0.conv", "re_de_up__256", 128, 32, 3, True), ("dec1.1", "re_de_conv_256", 32, 32, 3, False),
           ("att1.0", "re_de_att_256_1", 32, 32, 3, False), ("att1.1", "re_de_att_256_2", 32, 32, 3, False),
           ("to_rgb.conv", "re_de_toRGB__256", 64, 3, 3, True)]
CRITIC = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 256), (256, 256)]
HWIO = "transpose_hwio_to_oihw"


def _colour(first: bool, last: bool, rgb: bool) -> tuple[str, str]:
    """Extra transforms of (weights, biases) for the BGR->RGB fold."""
    if not rgb:
        return "", ""
    if first:
        return "+reverse_rgb_in", ""
    if last:
        return "+reverse_rgb_out", "reverse_rgb_out"
    return "", ""


def _sc_rows(name: str, ours: str, cin: int, cout: int, k: int, up: bool, first: bool, last: bool,
             rgb: bool) -> list[Entry]:
    scope = f"{name}/{name}_conv" if up else name
    wt, bt = _colour(first, last, rgb)
    gate_wt = "+reverse_rgb_in" if (rgb and first) else ""  # the sc gate has one output channel: never reversed
    return [Entry(f"{scope}_feat/w", (k, k, cin, cout), f"{ours}.feature.weight", HWIO + wt),
            Entry(f"{scope}_feat/biases", (cout,), f"{ours}.feature.bias", bt or None),
            Entry(f"{scope}_gate/w", (k, k, cin, 1), f"{ours}.gate.weight", HWIO + gate_wt),
            Entry(f"{scope}_gate/biases", (1,), f"{ours}.gate.bias")]


def _pw_rows(name: str, ours: str, cin: int, cout: int, k: int, up: bool, first: bool, last: bool,
             rgb: bool) -> list[Entry]:
    scope = f"{name}/{name}_conv" if up else name
    wt, bt = _colour(first, last, rgb)
    return [Entry(f"{scope}/w", (k, k, cin, cout), f"{ours}.feature.weight", HWIO + wt),
            Entry(f"{scope}/biases", (cout,), f"{ours}.feature.bias", bt or None),
            Entry(f"{scope}/pw", (1, 1, cin, cout), f"{ours}.gate.weight", HWIO + wt),
            Entry(f"{scope}/ds_biases", (cout,), f"{ours}.gate.bias", bt or None)]


def generator_rows(rgb: bool = True) -> list[Entry]:
    rows: list[Entry] = []
    for n, (name, cin, cout, k, up) in enumerate(COARSE):
        ours = f"coarse.body.{n}.conv" if up else f"coarse.body.{n}"
        rows += _sc_rows(name, ours, cin, cout, k, up, n == 0, n == len(COARSE) - 1, rgb)
    for n, (ours, name, cin, cout, k, up) in enumerate(REFINE):
        rows += _pw_rows(name, f"refine.{ours}", cin, cout, k, up, n == 0, n == len(REFINE) - 1, rgb)
    return prefixed(rows, "generator/", "generator.")


def discriminator_rows(rgb: bool = True) -> list[Entry]:
    rows: list[Entry] = []
    for n, (cin, cout) in enumerate(CRITIC):
        extra = "+reverse_rgb_in" if (rgb and n == 0) else ""
        rows += [Entry(f"conv{n + 1}/w", (5, 5, cin, cout), f"features.{2 * n}.weight", HWIO + extra),
                 Entry(f"conv{n + 1}/biases", (cout,), f"features.{2 * n}.bias")]
    flat = 256 * (IMAGE_SIZE // 64) ** 2
    rows += [Entry("linear/kernel", (flat, 1), "linear.weight", "dense_nhwc_to_linear_nchw"),
             Entry("linear/bias", (1,), "linear.bias")]
    return prefixed(rows, "discriminator/", "discriminator.")


def _rgb(variant: str) -> bool:
    if variant not in VARIANTS:
        raise ConvertError(f"hifill has no variant {variant!r}; choose from {', '.join(VARIANTS)}")
    return variant == "places2"


def tables(variant: str = "places2") -> dict[str, list[Entry]]:
    rgb = _rgb(variant)
    return {"generator": generator_rows(rgb), "discriminator": discriminator_rows(rgb)}


def model_args(variant: str = "places2") -> dict[str, Any]:
    _rgb(variant)
    # The released model was trained with the code's attention (keys-only normalisation, zero-logit masking,
    # SOFT, lambda 10, 3x3 fusion) and the code's topology; the project's defaults follow the paper's attention.
    # TF conventions: "SAME" padding (asymmetric for stride 2, generator and critic) and TF1's legacy
    # resize_bilinear in every up-sampling; with them our forward equals the TF graph (tested against TensorFlow).
    return {"coarse_gate": "sc", "refine_gate": "pw", "topology": "code", "coarse_downsample": "subsample",
            "attention_mask_mode": "code", "attention_query_norm": False, "attention_softmax_scale": 10.0,
            "attention_fuse": True, "attention_type": "soft", "discriminator_kernel": 5, "image_size": IMAGE_SIZE,
            "padding": "tf_same", "resize": "tf1_legacy"}


def _refuse_unreadable(path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".om":
        raise ConvertError(f"{path} is a Huawei Ascend offline model (.om); it cannot be read on this machine")
    if suffix in (".pt", ".pth", ".ckpt") and path.is_file() and not Path(str(path) + ".index").exists():
        raise ConvertError(f"{path}: HiFill's released weights are TensorFlow; give the checkpoint prefix "
                           "(e.g. model_logs/places2/0) or a .npz of the TF variables")


def read_frozen_graph(path: str | Path) -> dict[str, np.ndarray]:
    """The weight constants of a TF1 frozen graph (``hifill.pb``): ``{official variable name: array}``.

    The GraphDef is parsed with TensorFlow's protobuf classes and each constant decoded with ``tf.make_ndarray``;
    no graph is built or run. Freezing turns every variable into a ``Const`` node of the same name (read through
    an ``X/read`` Identity, or itself named ``X/read``, which is stripped), so the weights are the ``Const`` nodes
    under ``generator/`` or ``discriminator/`` whose last name part is a variable's (``w``, ``biases``, ``pw``,
    ``ds_biases``, ``kernel``, ``bias``); the graph's other constants (shapes, the fusion kernel ...) are not
    weights. Floating-point weights are returned as float32. Needs the ``reference-tf`` extra.
    """
    path = Path(path)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up notices would clutter the CLI
    try:
        import tensorflow as tf
    except ImportError:
        raise ConvertError(f"{path} is a TensorFlow frozen graph: reading its GraphDef needs TensorFlow, which is "
                           "not installed; install the reference-tf extra (pip install -e '.[reference-tf]'), or "
                           "convert the TF checkpoint (model_logs/places2/0.index + 0.data-*) instead") from None
    if not path.is_file():
        raise ConvertError(f"{path} does not exist")
    graph = tf.compat.v1.GraphDef()
    try:
        graph.ParseFromString(path.read_bytes())
    except Exception as error:  # google.protobuf.message.DecodeError and friends
        raise ConvertError(f"{path}: not a readable TensorFlow frozen graph (GraphDef: {error})") from None
    arrays: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op != "Const":
            continue
        name = node.name[: -len("/read")] if node.name.endswith("/read") else node.name
        if not name.startswith(tuple(NETWORK_SCOPES.values())) or name.rsplit("/", 1)[-1] not in VARIABLE_LEAVES:
            continue
        value = tf.make_ndarray(node.attr["value"].tensor)
        arrays[name] = value.astype(np.float32) if np.issubdtype(value.dtype, np.floating) else value
    if not arrays:
        raise ConvertError(f"{path}: a TensorFlow graph without weight constants (no Const node under generator/ "
                           "or discriminator/ named .../w, .../biases, ...): not a frozen HiFill graph")
    return arrays


def read_variables(path: str | Path) -> dict[str, torch.Tensor]:
    """Every variable of a TF checkpoint prefix, ``.npz`` or frozen graph ``.pb`` as tensors (optimizer slots
    included for checkpoints)."""
    path = Path(path)
    _refuse_unreadable(path)
    if path.suffix.lower() == ".pb":
        arrays = read_frozen_graph(path)
    elif path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (ValueError, OSError) as error:
            raise ConvertError(f"{path}: not a readable .npz of arrays ({error})") from None
    else:
        prefix = str(path)[: -len(".index")] if str(path).endswith(".index") else str(path)
        if not Path(prefix + ".index").is_file():
            raise ConvertError(f"{prefix}.index does not exist (give the TF checkpoint prefix, e.g. "
                               "model_logs/places2/0, or a .npz)")
        try:
            arrays = read_checkpoint(prefix)
        except TFCheckpointError as error:
            raise ConvertError(f"{prefix}: {error}") from None
    return {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in arrays.items()}


def read_official(path: str | Path, role: str, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The network variables of ``role`` (``generator/...`` or ``discriminator/...``), optimizer slots removed.

    One checkpoint holds both networks, so ``--discriminator`` is not needed: pass the same file for both roles.
    """
    scope = NETWORK_SCOPES[role]
    return {name: t for name, t in read_variables(path).items()
            if name.startswith(scope) and not name.endswith(SKIPPED_SUFFIXES)}


def extract_state(obj: Any, role: str, where: str) -> dict:  # pragma: no cover - read_official is used instead
    return obj


ROLES_FROM_ONE_FILE = ("generator", "discriminator")
HINTS = {"generator": " (expected duxingren14/Hifill-tensorflow model_logs/places2: coarse 'slice' + refine 'ds')",
         "discriminator": " (expected the 6-conv 5x5 WGAN critic of a 512x512 model)"}
