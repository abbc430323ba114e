"""Per-sample random streams for mask generators.

Every mask is a pure function of ``(seed, index)``: the sample's parameters are drawn on the CPU from a
``torch.Generator`` seeded by :func:`sample_seed` (a handful of scalars, so this stays cheap), and the only
large random field (the cellular automaton's initial grid) comes from :func:`hash_bernoulli`, a counter-based
integer hash evaluated on the target device, which gives the same bits on CPU and GPU.
"""

from __future__ import annotations

import numpy as np
import torch

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """One step of SplitMix64 on a Python int (exact 64-bit arithmetic)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def sample_seed(seed: int, index: int, salt: int = 0) -> int:
    """A 63-bit seed for sample ``index`` of a set seeded by ``seed``; ``salt`` separates sub-streams."""
    h = _splitmix64(int(seed) & _MASK64)
    h = _splitmix64(h ^ (int(index) & _MASK64))
    h = _splitmix64(h ^ (int(salt) & _MASK64))
    return h >> 1


def salt_of(name: str) -> int:
    """A stable integer salt for a string (Python's ``hash`` is randomised per process)."""
    h = 0
    for ch in name.encode():
        h = _splitmix64(h ^ ch)
    return h


class SampleRNG:
    """Draws for one sample, on the CPU, returned as float64/int64 numpy arrays.

    The notation follows the mask spec: ``randint(a, b)`` is ``Ui[a, b]`` (both ends included).
    All draws are served from blocks of ``U[0, 1)`` doubles made by one ``torch.rand`` call on a
    ``torch.Generator`` (per-call overhead dominates otherwise); normals use the Box-Muller transform.
    """

    BLOCK = 512

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(int(seed))
        self._buf = np.empty(0)
        self._pos = 0

    def _u(self, size) -> np.ndarray:
        shape = (size,) if isinstance(size, int) else tuple(size)
        n = int(np.prod(shape)) if shape else 1
        if self._pos + n > self._buf.size:
            fresh = torch.rand(max(self.BLOCK, n), generator=self.generator, dtype=torch.float64).numpy()
            self._buf = np.concatenate([self._buf[self._pos :], fresh])
            self._pos = 0
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out.reshape(shape) if shape else out[0]

    def uniform(self, low=0.0, high=1.0, size=()) -> np.ndarray:
        """``U[low, high)``; ``low``/``high`` may be arrays broadcastable to ``size``."""
        u = self._u(size)
        return np.asarray(low, dtype=np.float64) + u * (np.asarray(high, dtype=np.float64) - low)

    def randint(self, low, high, size=()) -> np.ndarray:
        """``Ui[low, high]`` (inclusive); array bounds allowed. Empty ranges (high < low) return ``low``."""
        low = np.asarray(low, dtype=np.int64)
        high = np.asarray(high, dtype=np.int64)
        span = np.maximum(high - low + 1, 1)
        return low + np.minimum(np.floor(self._u(size) * span).astype(np.int64), span - 1)

    def normal(self, mean=0.0, std=1.0, size=()) -> np.ndarray:
        u1, u2 = self._u(size), self._u(size)
        z = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
        return mean + std * z

    def bernoulli(self, p=0.5, size=()) -> np.ndarray:
        return self.uniform(size=size) < p

    def choice(self, probs) -> int:
        """Index ``k`` with probability ``probs[k]`` (``probs`` sums to 1)."""
        u = float(self._u(()))
        cdf = np.cumsum(np.asarray(probs, dtype=np.float64))
        return int(min(np.searchsorted(cdf, u * cdf[-1], side="right"), len(cdf) - 1))

    def key(self) -> int:
        """A fresh integer key in [0, 2**62) (keys device-side hashed noise)."""
        hi, lo = self._u((2,))
        return (int(hi * 2**31) << 31) | int(lo * 2**31)


# ---- counter-based noise on the device (same bits on every device) ----------------------------------------

_M32 = 0xFFFFFFFF
# Odd multipliers below 2**31 so that a 32-bit value times a multiplier never overflows int64.
_MULS = (0x7FEB352D, 0x2C1B3C6D, 0x297A2D39, 0x5BD1E995)


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit avalanche hash on int64 tensors holding values in [0, 2**32)."""
    for m in _MULS:
        x = x ^ (x >> 16)
        x = (x * m) & _M32
    return x ^ (x >> 15)


def _key32(keys: torch.Tensor) -> torch.Tensor:
    """Fold int64 keys (B,) into well-mixed 32-bit values (B, 1)."""
    k_lo = (keys & 0x7FFFFFFF).view(-1, 1)
    k_hi = ((keys >> 31) & 0x7FFFFFFF).view(-1, 1)
    return _mix32(k_lo ^ _mix32(k_hi ^ 0x3C6EF372))


def _fmix32(x: torch.Tensor) -> torch.Tensor:
    """Two-multiply finaliser (murmur3 shape, multipliers < 2**31 so int64 never overflows)."""
    x = x ^ (x >> 16)
    x = (x * _MULS[0]) & _M32
    x = x ^ (x >> 13)
    x = (x * _MULS[1]) & _M32
    return x ^ (x >> 16)


def hash_uniform32(keys: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Integers in [0, 2**32) of shape ``(B, *shape)``, a pure function of ``keys`` (B,) int64 and the position."""
    n = int(np.prod(shape))
    counter = torch.arange(n, device=keys.device, dtype=torch.int64).view(1, n)
    h = _fmix32(((counter * 0x2545F491) & _M32) ^ _key32(keys))
    return h.view(keys.shape[0], *shape)


def hash_bernoulli(keys: torch.Tensor, shape: tuple[int, ...], p: float = 0.5) -> torch.Tensor:
    """Bool ``(B, *shape)``: ``Bern(p)`` per cell from hashed counters (identical on CPU and GPU).

    For ``p = 0.5`` each 32-bit hash supplies 32 cells (one per bit), which is 32x cheaper.
    """
    if p != 0.5:
        return hash_uniform32(keys, shape) < int(round(p * 2**32))
    n = int(np.prod(shape))
    words = hash_uniform32(keys, ((n + 31) // 32,))
    shifts = torch.arange(32, device=keys.device, dtype=torch.int64)
    bits = ((words.unsqueeze(-1) >> shifts) & 1).view(keys.shape[0], -1)[:, :n]
    return bits.bool().view(keys.shape[0], *shape)
