"""Spectral normalisation with the power iterations the released discriminators were trained with.

PyTorch's ``torch.nn.utils.parametrizations.spectral_norm`` iterates ``u <- normalize(W v)`` then
``v <- normalize(W^T u)``, in training mode only. The official code of two of our methods does otherwise, and from
the same stored ``u``/``v`` the estimated sigma then differs (by half an iteration; up to ~10 % of D's output with
vectors that have not converged), so converted weights would not score or train as the official model:

* ``hook`` — the old hook API ``torch.nn.utils.spectral_norm`` (AOT-GAN's discriminator; Miyato et al., Alg. 1):
  per training forward ``v <- normalize(W^T u)``, then ``u <- normalize(W v)``; eval forwards do not iterate.
* ``pix2pixhd`` — the ``SpectralNorm`` wrapper of DeepGIN's pix2pixHD skeleton: the same order, but on **every**
  forward (eval too), and ``normalize(x) = x / (|x| + eps)`` instead of ``x / max(|x|, eps)``.
* ``pytorch`` — PyTorch's parametrization as it is.

All three keep PyTorch's state-dict layout (``parametrizations.weight.original``, ``.0._u``, ``.0._v``), so a
checkpoint loads under any of them. ``W`` is the weight flattened to ``(out, -1)``; ``u`` ``(out,)``, ``v``
``(in * kh * kw,)`` buffers updated in place and treated as constants in backprop; the weight used is ``W / sigma``
with ``sigma = u . W v``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize

SPECTRAL_NORM_KINDS = ("pytorch", "hook", "pix2pixhd")


class PowerIterationSpectralNorm(nn.Module):
    """``W / (u . W v)`` after ``n_power_iterations`` steps ``v <- n(W^T u)``, ``u <- n(W v)`` (v first).

    Args:
        weight: the weight to normalise (shape only; any rank >= 2).
        update_in_eval: also iterate in eval mode (pix2pixHD's wrapper) instead of only in training (hook API).
        eps_mode: ``clamp`` (``x / max(|x|, eps)``, ``F.normalize``) or ``add`` (``x / (|x| + eps)``).
        warmup_iterations: iterations at construction, so that a fresh model in eval mode has a sensible sigma
            (15 as PyTorch's parametrization; the official APIs do none, which only matters before training).
    """

    def __init__(self, weight: torch.Tensor, n_power_iterations: int = 1, eps: float = 1e-12,
                 update_in_eval: bool = False, eps_mode: str = "clamp", warmup_iterations: int = 15) -> None:
        super().__init__()
        if n_power_iterations < 1:
            raise ValueError(f"n_power_iterations must be >= 1, got {n_power_iterations}")
        if eps_mode not in ("clamp", "add"):
            raise ValueError(f"eps_mode must be 'clamp' or 'add', got {eps_mode!r}")
        self.n_power_iterations, self.eps = int(n_power_iterations), float(eps)
        self.update_in_eval, self.eps_mode = bool(update_in_eval), eps_mode
        w = weight.detach().flatten(1)
        self.register_buffer("_u", self._normalize(w.new_empty(w.shape[0]).normal_(0, 1)))
        self.register_buffer("_v", self._normalize(w.new_empty(w.shape[1]).normal_(0, 1)))
        self._power_iteration(w, warmup_iterations)

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.eps_mode == "add":
            return x / (x.norm() + self.eps)
        return F.normalize(x, dim=0, eps=self.eps)

    @torch.no_grad()
    def _power_iteration(self, w: torch.Tensor, n: int) -> None:
        for _ in range(n):  # in place, so replicas sharing the buffers' storage see the update
            self._v.copy_(self._normalize(torch.mv(w.t(), self._u)))
            self._u.copy_(self._normalize(torch.mv(w, self._v)))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        w = weight.flatten(1)
        if self.training or self.update_in_eval:
            self._power_iteration(w, self.n_power_iterations)
        # clones: a later forward's in-place update must not touch the vectors this one's graph saved
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        return weight / torch.dot(u, torch.mv(w, v))

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        return value


def spectral_norm(module: nn.Module, kind: str = "pytorch", name: str = "weight") -> nn.Module:
    """Spectrally normalise ``module.<name>`` in place with the power iteration of ``kind`` (module docstring);
    returns ``module``."""
    if kind == "pytorch":
        return nn.utils.parametrizations.spectral_norm(module, name)
    if kind == "hook":
        norm = PowerIterationSpectralNorm(getattr(module, name))
    elif kind == "pix2pixhd":
        norm = PowerIterationSpectralNorm(getattr(module, name), update_in_eval=True, eps_mode="add",
                                          warmup_iterations=0)
    else:
        raise ValueError(f"spectral norm kind must be one of {SPECTRAL_NORM_KINDS}, got {kind!r}")
    parametrize.register_parametrization(module, name, norm)
    return module
