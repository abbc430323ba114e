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


# ------------------------------------------------------------------------------------------------ TF checkpoints
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _block(entries: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in entries)
    return body + (0).to_bytes(4, "little") + (1).to_bytes(4, "little")  # one restart point at 0


def write_tf_checkpoint(prefix, arrays: dict) -> None:
    """A TensorFlow V2 checkpoint (``prefix.index`` + ``prefix.data-00000-of-00001``) of float32 ``arrays``,
    written from the format's description (LevelDB table of BundleEntryProto + raw little-endian data)."""
    import numpy as np

    data, entries = bytearray(), []
    for name in sorted(arrays):
        raw = np.ascontiguousarray(arrays[name], dtype="<f4").tobytes()
        shape = b"".join(_field(2, _field(1, int(s))) for s in np.shape(arrays[name]))
        proto = _field(1, 1) + _field(2, shape) + _field(4, len(data)) + _field(5, len(raw))
        entries.append((name.encode(), proto))
        data += raw
    header = _field(1, 1)  # num_shards
    table = bytearray()
    data_block = _block([(b"", header)] + entries)
    table += data_block + b"\0" * 5
    index_block = _block([(entries[-1][0] + b"\xff", _varint(0) + _varint(len(data_block)))])
    index_offset = len(table)
    table += index_block + b"\0" * 5
    meta_offset = len(table)
    meta_block = _block([])
    table += meta_block + b"\0" * 5
    handles = _varint(meta_offset) + _varint(len(meta_block)) + _varint(index_offset) + _varint(len(index_block))
    table += handles + b"\0" * (40 - len(handles)) + (0xDB4775248B80FB57).to_bytes(8, "little")
    Path(f"{prefix}.index").write_bytes(bytes(table))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))


@pytest.fixture(scope="session")
def hifill_checkpoint(tmp_path_factory):
    """``(prefix, {tf name: tensor})``: random HiFill variables plus the Adam slots and globals a training
    checkpoint also holds (which the converter must skip)."""
    keys = official_keys("hifill")
    state = {**random_state(keys["generator"], seed=7), **random_state(keys["discriminator"], seed=8)}
    extras = {f"{name}/Adam": torch.zeros(shape) for name, shape in list(keys["generator"].items())[:3]}
    extras.update({"beta1_power": torch.tensor(0.9), "global_step": torch.tensor(5.0)})
    prefix = tmp_path_factory.mktemp("hifill") / "0"
    write_tf_checkpoint(prefix, {k: v.numpy() for k, v in {**state, **extras}.items()})
    return prefix, state


@pytest.fixture(scope="session")
def tf_writer():
    return write_tf_checkpoint
