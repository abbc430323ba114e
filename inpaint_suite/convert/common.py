"""Shared machinery of the official-checkpoint converters: explicit key tables, safe loading, checking, saving.

A converter is a list of :class:`Entry` rows, one per tensor of the official file: the official key, its shape
in the official file, our key (with its ``generator.`` / ``discriminator.`` prefix) and, when the two layouts
differ, a named transform (``transpose_hwio_to_oihw`` ...). Nothing is matched by position: a file whose key set
or shapes differ from the table is refused with the first differences named.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from networks.pickle_scan import refused_globals

MAPPING_VERSION = 1
MAX_LISTED = 5  # how many differing keys an error message names


class ConvertError(Exception):
    """A checkpoint that cannot be converted (wrong keys/shapes, unsafe pickle, unreadable format). One line."""


# ---------------------------------------------------------------------------------------------------- transforms
def _transpose_hwio_to_oihw(t: Tensor) -> Tensor:
    # TensorFlow conv kernels are (kh, kw, in, out); PyTorch's Conv2d weight is (out, in, kh, kw).
    return t.permute(3, 2, 0, 1).contiguous()


def _reverse_rgb_in(t: Tensor) -> Tensor:
    # BGR-trained first layer -> RGB input: reverse input channels 0..2 of an (out, in, kh, kw) weight; further
    # input channels (the mask) keep their place.
    return torch.cat([t[:, :3].flip(1), t[:, 3:]], dim=1)


def _reverse_rgb_out(t: Tensor) -> Tensor:
    # BGR-producing last layer -> RGB output: reverse the 3 output channels (dim 0 of a weight or a bias).
    if t.shape[0] != 3:
        raise ValueError(f"reverse_rgb_out needs 3 output channels, got {tuple(t.shape)}")
    return t.flip(0)


def _dense_nhwc_to_linear_nchw(t: Tensor) -> Tensor:
    # tf.layers.dense after flattening an NHWC map (order h, w, c) -> nn.Linear after flattening NCHW (c, h, w).
    # Kernel (H*W*C, out) with C = 256 channels and a square H = W map (HiFill's critic).
    n, out = t.shape
    side = int(round((n / 256) ** 0.5))
    if side * side * 256 != n:
        raise ValueError(f"cannot unflatten a dense kernel of {n} inputs into a square 256-channel map")
    return t.reshape(side, side, 256, out).permute(3, 2, 0, 1).reshape(out, n).contiguous()


TRANSFORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "transpose_hwio_to_oihw": _transpose_hwio_to_oihw,
    "reverse_rgb_in": _reverse_rgb_in,
    "reverse_rgb_out": _reverse_rgb_out,
    "dense_nhwc_to_linear_nchw": _dense_nhwc_to_linear_nchw,
}


def apply_transform(t: Tensor, transform: str | None) -> Tensor:
    """Apply ``transform``: names of :data:`TRANSFORMS` joined by ``+``, left to right."""
    for name in (transform or "").split("+"):
        if name:
            t = TRANSFORMS[name](t)
    return t


def transformed_shape(shape: tuple[int, ...], transform: str | None) -> tuple[int, ...]:
    """The shape a tensor of ``shape`` has after ``transform`` (computed on an empty meta tensor)."""
    if not transform:
        return tuple(shape)
    return tuple(apply_transform(torch.empty(shape, device="meta"), transform).shape)


@dataclass(frozen=True)
class Entry:
    """One row of a mapping table: ``official`` (key in the official file, with ``shape`` there) -> ``ours``.

    ``ours`` is ``None`` for a tensor that is deliberately dropped (``reason`` says why, e.g. a layer the official
    forward never applies). ``transform`` names an entry of :data:`TRANSFORMS` applied to the tensor.
    """

    official: str
    shape: tuple[int, ...]
    ours: str | None
    transform: str | None = None
    reason: str = ""

    @property
    def our_shape(self) -> tuple[int, ...]:
        return transformed_shape(self.shape, self.transform)


def conv_entries(official: str, ours: str, out_ch: int, in_ch: int, k: int | tuple[int, int],
                 bias: bool = True, transposed: bool = False) -> list[Entry]:
    """Weight (+ bias) rows of one PyTorch conv: ``(out, in, kh, kw)``; a ConvTranspose2d stores ``(in, out, ..)``."""
    kh, kw = (k, k) if isinstance(k, int) else k
    shape = (in_ch, out_ch, kh, kw) if transposed else (out_ch, in_ch, kh, kw)
    rows = [Entry(f"{official}.weight", shape, f"{ours}.weight")]
    if bias:
        rows.append(Entry(f"{official}.bias", (out_ch,), f"{ours}.bias"))
    return rows


def batchnorm_entries(official: str, ours: str, channels: int, affine: bool = True) -> list[Entry]:
    """Rows of a BatchNorm2d: (weight, bias,) running_mean, running_var, num_batches_tracked."""
    names = (["weight", "bias"] if affine else []) + ["running_mean", "running_var"]
    rows = [Entry(f"{official}.{n}", (channels,), f"{ours}.{n}") for n in names]
    rows.append(Entry(f"{official}.num_batches_tracked", (), f"{ours}.num_batches_tracked"))
    return rows


def spectral_norm_entries(official: str, ours: str, out_ch: int, in_ch: int, k: int, *, weight_name: str,
                          u_name: str, v_name: str, bias: bool) -> list[Entry]:
    """Rows of a spectral-normalised conv, official raw weight + power-iteration vectors -> our
    ``torch.nn.utils.parametrizations.spectral_norm`` layout (``parametrizations.weight.original``, ``.0._u/_v``).

    Both hold the *un-normalised* weight and the same u (out,) / v (in*k*k,) vectors, so the rows are 1:1.
    """
    p = f"{ours}.parametrizations.weight"
    rows = [
        Entry(f"{official}.{weight_name}", (out_ch, in_ch, k, k), f"{p}.original"),
        Entry(f"{official}.{u_name}", (out_ch,), f"{p}.0._u"),
        Entry(f"{official}.{v_name}", (in_ch * k * k,), f"{p}.0._v"),
    ]
    if bias:
        rows.append(Entry(f"{official}.bias", (out_ch,), f"{ours}.bias"))
    return rows


def prefixed(rows: Iterable[Entry], official_prefix: str = "", ours_prefix: str = "") -> list[Entry]:
    """The same rows with prefixes added on both sides (dropped rows keep ``ours=None``)."""
    return [Entry(official_prefix + r.official, r.shape, None if r.ours is None else ours_prefix + r.ours,
                  r.transform, r.reason) for r in rows]


# ---------------------------------------------------------------------------------------------------- loading
def load_torch_file(path: str | Path, trust_pickle: bool = False) -> Any:
    """``torch.load`` with ``weights_only=True``; a file that needs more (pickled classes or code) is refused
    unless ``trust_pickle`` — unpickling such a file can run arbitrary code, so only do it for a trusted source."""
    path = Path(path)
    if not path.is_file():
        raise ConvertError(f"{path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if not trust_pickle:
            found = re.search(r"GLOBAL (\S+)", str(error))
            # torch names no global for a plain pickle.dump file: then they are read from the file itself
            names = [found.group(1).rstrip(".,;:")] if found else refused_globals(path)[:5]
            detail = f"it references {', '.join(names)}" if names else "it holds objects other than tensors"
            raise ConvertError(
                f"{path} is a full pickle, not a plain weights file ({detail}); loading it could execute "
                "code stored in it. Re-run with --trust-pickle only if you trust where the file came from") from None
    except (RuntimeError, EOFError, ValueError, OSError) as error:
        raise ConvertError(f"{path} is not a PyTorch checkpoint torch.load can read: "
                           f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a trusted pickle that still fails to load (missing classes ...)
        raise ConvertError(f"{path}: torch.load failed even with --trust-pickle: {error}") from None


def tensor_items(obj: Any, where: str) -> dict[str, Tensor]:
    """A ``{str: Tensor}`` view of ``obj`` (a state dict); anything else is a ConvertError."""
    if not isinstance(obj, Mapping):
        raise ConvertError(f"{where}: expected a state dict (key -> tensor), got {type(obj).__name__}")
    out = {}
    for key, value in obj.items():
        if not torch.is_tensor(value):
            raise ConvertError(f"{where}: entry {key!r} is a {type(value).__name__}, not a tensor "
                               "(is this the right file for this method?)")
        out[str(key)] = value
    return out


# ---------------------------------------------------------------------------------------------------- checking
def _fmt_shape(shape: Iterable[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def check_against_table(state: Mapping[str, Tensor], rows: list[Entry], where: str, hint: str = "") -> None:
    """Raise a ConvertError naming the first missing keys, unexpected keys and shape mismatches of ``state``
    against the official side of ``rows``."""
    expected = {r.official: r.shape for r in rows}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {_fmt_shape(state[k].shape)} != official {_fmt_shape(expected[k])}"
             for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k])]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys, first: {', '.join(missing[:MAX_LISTED])}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys, first: {', '.join(unexpected[:MAX_LISTED])}")
    if wrong:
        parts.append(f"{len(wrong)} shape mismatches, first: {'; '.join(wrong[:MAX_LISTED])}")
    raise ConvertError(f"{where} does not match the official layout: {' | '.join(parts)}{hint}")


def apply_table(state: Mapping[str, Tensor], rows: list[Entry], where: str, hint: str = "") -> dict[str, Tensor]:
    """Check ``state`` against ``rows`` and return ``{our key: tensor}`` (transforms applied, dropped rows left out)."""
    check_against_table(state, rows, where, hint)
    out: dict[str, Tensor] = {}
    for row in rows:
        if row.ours is None:
            continue
        value = state[row.official]
        value = apply_transform(value, row.transform)
        if row.ours in out:
            raise ConvertError(f"mapping error: two official keys map to {row.ours}")
        out[row.ours] = value.detach().clone().contiguous()
    return out


def check_table_against_model(rows: list[Entry], model_state: Mapping[str, Tensor]) -> list[str]:
    """Differences between the our-side of ``rows`` and ``model_state`` (prefixed keys); empty list = match."""
    ours = {r.ours: r.our_shape for r in rows if r.ours is not None}
    problems = [f"not in our model: {k}" for k in ours if k not in model_state]
    problems += [f"not filled by the mapping: {k}" for k in model_state if k not in ours]
    problems += [f"shape {k}: mapping {_fmt_shape(ours[k])} vs model {_fmt_shape(model_state[k].shape)}"
                 for k in ours if k in model_state and tuple(model_state[k].shape) != tuple(ours[k])]
    return problems


# ---------------------------------------------------------------------------------------------------- output
def build_checkpoint(state_dict: dict[str, Tensor], method: str, converted_from: list[str],
                     model_args: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Our checkpoint: ``{"state_dict": {"generator.<k>": .., "discriminator.<k>": ..}, "inpaint_suite": {..}}``.

    ``model_args`` are the ``model.init_args`` the weights need (e.g. ``semantic_channels: 3``), so a user can
    pass them to ``fit``/``predict``. Only tensors, str, int, float, bool, lists and dicts: loadable with
    ``weights_only=True``.
    """
    meta = {"converted_from": list(converted_from), "method": method, "mapping_version": MAPPING_VERSION,
            "model_init_args": dict(model_args)}
    meta.update(extra or {})
    return {"state_dict": dict(state_dict), "inpaint_suite": meta}


def table_as_rows(rows: list[Entry]) -> list[dict[str, Any]]:
    """JSON-friendly table (for ``convert --print-mapping``)."""
    return [{"official": r.official, "shape": list(r.shape), "ours": r.ours, "our_shape": list(r.our_shape),
             "transform": r.transform, "reason": r.reason or None} for r in rows]
