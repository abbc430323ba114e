"""Native-size evaluation for networks that accept only some input sizes: pad, run, crop back.

A method's generator needs sides that are a multiple of something (AOT-GAN 4, DeepGIN 16, HiFill 64, MADF 128) and
at least a minimum; test images at their native resolution (``data.dataset_options.eval_crop: none``, batch size 1)
rarely are. :func:`forward_padded` pads the batch up to the next side the method accepts, runs the model and crops
every full-size output back, so the composite and every metric see exactly the native pixels. Own code because the
rule (the method's ``size_error``) and the pairing of image / mask / seg padding are the suite's conventions.

Padding, bottom and right only (the crop is then ``[..., :H, :W]`` and pixel (0, 0) stays on the origin of every
stride-2 grid, as in training):

- image: reflection of the real content (mirrored again when the pad is wider than the image), so the network sees
  a plausible continuation of the scene rather than a hard black or constant border;
- mask: 0 = **known**. Padded pixels are no holes: the network is not asked to invent them, and hole-aware layers
  (partial/gated convolutions, MADF's mask updates, attention that only attends to known pixels) treat them as the
  context they are. They never count as holes anywhere, because they are cropped away before the composite;
- seg (Track 2 map): reflected like the image, so the padded labels describe the padded pixels.

Batches whose size the method accepts are passed through untouched (training-size evaluation is unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor

__all__ = ["forward_padded", "next_valid_side", "reflect_pad"]

# how far above a side to look for one the method accepts (the largest SIZE_MULTIPLE in the suite is 128)
_SEARCH = 4096


def next_valid_side(side: int, size_error: Callable[[int], str | None]) -> int:
    """The smallest ``s >= side`` for which ``size_error(s)`` is ``None`` (the method's own size rule)."""
    for candidate in range(side, side + _SEARCH):
        if size_error(candidate) is None:
            return candidate
    raise ValueError(f"no input side from {side} to {side + _SEARCH - 1} is accepted: {size_error(side)}")


def reflect_pad(x: Tensor, height: int, width: int) -> Tensor:
    """``x`` ``(B, C, h, w)`` reflected at the bottom and right up to ``(B, C, height, width)`` (``>= h, w``).
    Pads wider than the tensor are reflected repeatedly; a side of 1 px is replicated (nothing to reflect)."""
    dtype = x.dtype
    if not dtype.is_floating_point:  # reflection is not implemented for integer tensors (uint8 seg colours)
        x = x.float()
    while x.shape[-2] < height or x.shape[-1] < width:
        dh, dw = min(height - x.shape[-2], x.shape[-2] - 1), min(width - x.shape[-1], x.shape[-1] - 1)
        if dh <= 0 and dw <= 0:
            x = F.pad(x, (0, width - x.shape[-1], 0, height - x.shape[-2]), mode="replicate")
            break
        x = F.pad(x, (0, max(dw, 0), 0, max(dh, 0)), mode="reflect")
    return x.to(dtype)


def forward_padded(forward: Callable[[dict[str, Any]], Mapping[str, Tensor]], batch: dict[str, Any],
                   size_error: Callable[[int], str | None]) -> dict[str, Tensor]:
    """``forward(batch)`` at a size the model accepts, returned at the batch's own size.

    Args:
        forward: the model's forward on a batch dict; returns named outputs, ``output`` ``(B, 3, H', W')`` in [-1, 1]
            required.
        batch: ``image`` ``(B, 3, H, W)`` in [-1, 1], ``mask`` ``(B, 1, H, W)`` (1 = hole), optional ``seg``
            ``(B, S, H, W)``; other keys are passed on unchanged.
        size_error: the method's rule for one side (``cls.size_error(side, options, stage="validate")``):
            ``None`` when a side is accepted, else why not.

    Returns:
        The outputs with every ``(H', W')`` map cropped to ``(H, W)`` (maps of other sizes, e.g. a low-resolution
        side output or attention scores, as computed on the padded input) and ``composite`` =
        ``output ⊙ mask + image ⊙ (1 − mask)`` on the native pixels. Unpadded batches: ``forward(batch)`` as it is.
    """
    image, mask = batch["image"], batch["mask"]
    h, w = image.shape[-2:]
    ph, pw = next_valid_side(h, size_error), next_valid_side(w, size_error)
    if (ph, pw) == (h, w):
        return dict(forward(batch))
    padded = dict(batch)
    padded["image"] = reflect_pad(image, ph, pw)
    padded["mask"] = F.pad(mask, (0, pw - w, 0, ph - h), value=0)  # padded pixels are known, never holes
    if isinstance(batch.get("seg"), Tensor):
        padded["seg"] = reflect_pad(batch["seg"], ph, pw)
    outputs = {key: value[..., :h, :w] if isinstance(value, Tensor) and value.dim() >= 3
               and tuple(value.shape[-2:]) == (ph, pw) else value for key, value in forward(padded).items()}
    outputs["composite"] = outputs["output"] * mask + image * (1 - mask)
    return outputs
