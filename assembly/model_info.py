"""Parameter counts and GFLOPs of a method or variant (used by ``inpaint-suite model-info`` and the sweeps).

FLOPs are counted by ``torch.utils.flop_counter`` for one ``generate()`` call on a 1×3×S×S image with a centre
hole (S = 256 unless ``size``): FLOPs = 2 × multiply-adds of convolutions and matrix products; element-wise
operations, normalisations and activations are not counted (the convention of fvcore/thop-style tables).
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from assembly.config import build_model, load_config
from assembly.errors import UsageError
from lightning_modules import METHODS
from networks.parameters import count_parameters


@torch.no_grad()
def generator_gflops(model, size: int = 256) -> float:
    model.eval()
    batch = model.example_batch(size=size, batch_size=1)
    with FlopCounterMode(display=False) as counter:
        model.generate(batch)
    return counter.get_total_flops() / 1e9


def model_info(method: str, overrides: dict | None = None, size: int = 256,
               config: str | list[str] | None = None) -> dict:
    """``{"generator_params", "discriminator_params", "gflops_256"}`` of ``method`` with ``overrides``; ``config``:
    a packaged config or a list composed in order (default: the method's named config)."""
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}; choose from {', '.join(sorted(METHODS))}")
    section = load_config(config or method).get("model", {})
    overrides = {**(overrides or {})}
    overrides.setdefault("vgg_weights", "random")  # counts never need pretrained VGG weights
    model = build_model(section, overrides)
    info = {
        "generator_params": count_parameters(model.generator, trainable_only=False),
        "discriminator_params": count_parameters(model.discriminator, trainable_only=False),
        f"gflops_{size}": round(generator_gflops(model, size), 4),
    }
    return info
