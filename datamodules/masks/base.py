"""Base class of every mask generator.

Contract (docs/DEVELOPING.md): ``gen(indices, height, width, *, device, seed) -> (B, 1, H, W)`` float32 on
``device`` in {0, 1}, 1 = hole. Parameters are drawn per sample on the CPU from :class:`SampleRNG` seeded by
``(seed, index)``; rasterisation is batched on ``device``.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from typing import Any

import numpy as np
import torch

from .rng import SampleRNG, salt_of, sample_seed

log = logging.getLogger(__name__)


def as_index_list(indices) -> list[int]:
    if isinstance(indices, torch.Tensor):
        return [int(i) for i in indices.detach().cpu().reshape(-1).tolist()]
    return [int(i) for i in np.asarray(indices).reshape(-1).tolist()]


def stack_params(per_sample: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack per-sample dicts of equally shaped arrays into batch arrays ``(B, ...)``."""
    if not per_sample:
        return {}
    return {k: np.stack([np.asarray(p[k]) for p in per_sample]) for k in per_sample[0]}


class MaskGenerator:
    """Base: subclasses implement :meth:`generate` (or :meth:`draw` + :meth:`rasterize`).

    ``name``: registry name. ``params()``: the constructor kwargs (for manifests).
    ``last_types``: the ``mask_type`` of each sample of the last call (list of str).
    """

    name: str = "base"

    def __init__(self) -> None:
        self.last_types: list[str] = []
        self.last_rounds: int = 0
        self.last_fallbacks: int = 0

    # ---- introspection ----------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Constructor parameters with their current values (JSON-friendly)."""
        out = {}
        for p in inspect.signature(type(self).__init__).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            v = getattr(self, p.name, p.default)
            out[p.name] = _jsonable(v)
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}(name={self.name!r}, {args})"

    # ---- streams ----------------------------------------------------------------------------------------
    def rng(self, seed: int, index: int, stream: str = "") -> SampleRNG:
        """The per-sample CPU stream of this generator (``stream`` separates sub-generators)."""
        return SampleRNG(sample_seed(seed, index, salt_of(self.name + "/" + stream)))

    def sample_types(self, indices, seed: int) -> list[str]:
        """``mask_type`` of each sample without generating the masks (single-type generators: ``name``)."""
        return [self.name] * len(as_index_list(indices))

    # ---- generation -------------------------------------------------------------------------------------
    def __call__(self, indices, height: int, width: int, *, device="cpu", seed: int = 0) -> torch.Tensor:
        idx = as_index_list(indices)
        height, width = int(height), int(width)
        if height < 1 or width < 1:
            raise ValueError(f"{self.name}: height and width must be >= 1, got {height}x{width}")
        self.last_rounds, self.last_fallbacks = 1, 0
        if not idx:
            self.last_types = []
            return torch.zeros(0, 1, height, width, device=device)
        mask = self.generate(idx, height, width, torch.device(device), int(seed))
        self.last_types = self.sample_types(idx, seed)
        return mask

    def generate(self, indices: list[int], height: int, width: int, device: torch.device, seed: int) -> torch.Tensor:
        rngs = [self.rng(seed, i) for i in indices]
        params = stack_params([self.draw(r, height, width) for r in rngs])
        return self.rasterize(params, height, width, device)

    def draw(self, rng: SampleRNG, height: int, width: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def rasterize(self, params: dict[str, np.ndarray], height: int, width: int, device) -> torch.Tensor:
        raise NotImplementedError


class RejectionMixin:
    """Redraw a sample until ``accept(mask) `` holds; only rejected slots are redrawn.

    Each sample keeps its own CPU stream across rounds, so the result stays a function of ``(seed, index)``.
    After ``max_rounds`` the last draw is kept and counted in ``last_fallbacks`` (with a warning).
    """

    max_rounds: int = 64

    def accept(self, mask: torch.Tensor) -> torch.Tensor:  # (n, 1, H, W) -> (n,) bool
        raise NotImplementedError

    def generate_with_rejection(self, rngs: list[SampleRNG], height: int, width: int, device) -> torch.Tensor:
        out = torch.zeros(len(rngs), 1, height, width, device=device)
        pending = list(range(len(rngs)))
        rounds = 0
        while pending and rounds < self.max_rounds:
            # round r draws min(2**r, 16) attempts per pending sample, in stream order, and keeps the first
            # accepted one: the same distribution as one-at-a-time rejection, a fixed stream schedule (so the
            # result does not depend on the batch), and few rounds even at 5 attempts per accepted mask
            k = min(2**rounds, 16)
            rounds += 1
            params = stack_params([self.draw(rngs[i], height, width) for i in pending for _ in range(k)])
            mask = self.rasterize(params, height, width, device)
            ok = self.accept(mask).view(len(pending), k).cpu().numpy()
            still = []
            for j, i in enumerate(pending):
                hit = np.flatnonzero(ok[j])
                out[i] = mask[j * k + (hit[0] if hit.size else k - 1)]
                if not hit.size:
                    still.append(i)
            pending = still
        self.last_rounds = rounds
        self.last_fallbacks = len(pending)
        if pending:
            warnings.warn(
                f"{self.name}: {len(pending)} sample(s) not accepted after {self.max_rounds} rounds; kept the last draw",
                stacklevel=3,
            )
        return out


def _jsonable(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return str(v)
