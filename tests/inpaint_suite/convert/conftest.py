"""Helpers for the converter tests: official-format files filled with seeded random values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent


def official_keys(method: str) -> dict[str, dict[str, list[int]]]:
    """The stored official key lists (``make_official_keys.py``): ``{role: {key: shape}}``."""
    return json.loads((HERE / f"official_keys_{method}.json").read_text())


def random_state(keys: dict[str, list[int]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Official-layout tensors: small conv weights (so a forward stays finite), positive BN variances, unit SN
    vectors, integer ``num_batches_tracked``; every tensor different, so a swapped key cannot go unnoticed."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in keys.items():
        last = key.rsplit(".", 1)[-1]
        if last == "num_batches_tracked":
            out[key] = torch.tensor(int(torch.randint(1, 1000, (1,), generator=gen)))
        elif last == "running_var":
            out[key] = torch.rand(shape, generator=gen) + 0.5
        elif last in ("weight_u", "weight_v"):
            v = torch.randn(shape, generator=gen)
            out[key] = v / v.norm()
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3] if not key.endswith(("deconv.weight",)) else shape[0]
            out[key] = torch.randn(shape, generator=gen) / math.sqrt(max(fan_in, 1))
        elif len(shape) == 2:  # TF dense / none expected; keep generic
            out[key] = torch.randn(shape, generator=gen) / math.sqrt(shape[0])
        else:
            out[key] = torch.randn(shape, generator=gen) * 0.05
    return out


@pytest.fixture(scope="session")
def official_files(tmp_path_factory):
    """Official-format files with random values: ``{name: (path, state)}`` for every released file kind."""
    root = tmp_path_factory.mktemp("official")
    files = {}
    aot = official_keys("aotgan")
    for role, name in (("generator", "G0000000.pt"), ("discriminator", "D0000000.pt")):
        state = random_state(aot[role], seed=1 if role == "generator" else 2)
        torch.save(state, root / name)
        files[f"aotgan_{role}"] = (root / name, state)
    madf = random_state(official_keys("madf")["generator"], seed=3)
    snapshot = {"n_iter": 1000000, "model": madf, "optimizer": {"state": {}, "param_groups": []}}
    torch.save(snapshot, root / "madf_places2.pth")
    files["madf_generator"] = (root / "madf_places2.pth", madf)
    gin = official_keys("deepgin")
    for role, name, seed in (("generator", "latest_net_G.pth", 4), ("discriminator", "latest_net_D.pth", 5),
                             ("generator_track2", "track2_net_G.pth", 6)):
        state = random_state(gin[role], seed=seed)
        torch.save(state, root / name)
        files[f"deepgin_{role}"] = (root / name, state)
    return files


@pytest.fixture(scope="session")
def keys_of():
    """``keys_of(method)`` -> the stored official key lists."""
    return official_keys


@pytest.fixture(scope="session")
def make_state():
    """``make_state(keys, seed)`` -> random official-layout tensors."""
    return random_state
