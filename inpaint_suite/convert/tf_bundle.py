"""Read a TensorFlow (V2) checkpoint without TensorFlow: ``PREFIX.index`` + ``PREFIX.data-0000N-of-0000M``.

The index is a LevelDB-format table (uncompressed, as TensorFlow's tensor bundle writes it) whose values are
``BundleEntryProto`` messages (dtype, shape, shard, offset, size); the data files hold the raw little-endian
tensor bytes. Only what the format needs is decoded here (protobuf varints and length-delimited fields); sliced
(partitioned) variables are not supported and are reported as such. No code is executed from the file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5  # 1 byte compression type + 4 bytes crc
# tensorflow/core/framework/types.proto
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
          10: np.bool_, 14: np.uint16, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
# 14 = bfloat16 (read as raw uint16 and widened below)
BFLOAT16 = 14


class TFCheckpointError(Exception):
    """The files are not a TensorFlow V2 checkpoint this reader understands."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise TFCheckpointError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """Protobuf wire decoding: ``[(field number, wire type, value)]``; value is int or bytes."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise TFCheckpointError(f"unsupported protobuf wire type {wire}")
        out.append((number, wire, value))
    return out


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """Key/value pairs of one table block (prefix-compressed keys, restart array at the end)."""
    if len(block) < 4:
        raise TFCheckpointError("table block too short")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos:pos + value_len]))
        pos += value_len
    return entries


def _read_block(data: bytes, handle: bytes) -> bytes:
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if offset + size + BLOCK_TRAILER_SIZE > len(data):
        raise TFCheckpointError("block handle points past the end of the index file")
    if data[offset + size] != 0:
        raise TFCheckpointError("compressed index blocks are not supported (TensorFlow writes them uncompressed)")
    return data[offset:offset + size]


def read_index(index_path: str | Path) -> tuple[dict, dict[str, dict]]:
    """``(header fields, {tensor name: {"dtype", "shape", "shard", "offset", "size"}})`` of ``PREFIX.index``."""
    data = Path(index_path).read_bytes()
    if len(data) < FOOTER_SIZE:
        raise TFCheckpointError(f"{index_path} is too short to be a TensorFlow checkpoint index")
    footer = data[-FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != TABLE_MAGIC:
        raise TFCheckpointError(f"{index_path} is not a TensorFlow checkpoint index (bad table magic)")
    _, pos = _varint(footer, 0)  # metaindex handle (unused)
    _, pos = _varint(footer, pos)
    index_handle = footer[pos:]
    header: dict = {"num_shards": 1}
    entries: dict[str, dict] = {}
    for _, handle in _block_entries(_read_block(data, index_handle)):
        for key, value in _block_entries(_read_block(data, handle)):
            fields = _fields(value)
            if key == b"":
                for number, _, v in fields:
                    if number == 1:
                        header["num_shards"] = int(v)
                continue
            entry = {"dtype": 1, "shape": [], "shard": 0, "offset": 0, "size": 0}
            for number, _, v in fields:
                if number == 1:
                    entry["dtype"] = int(v)
                elif number == 2:
                    entry["shape"] = [int(dv) for n, _, d in _fields(v) if n == 2
                                      for dn, _, dv in _fields(d) if dn == 1]
                elif number == 3:
                    entry["shard"] = int(v)
                elif number == 4:
                    entry["offset"] = int(v)
                elif number == 5:
                    entry["size"] = int(v)
                elif number == 7:
                    entry["sliced"] = True
            entries[key.decode("utf-8")] = entry
    return header, entries


def read_checkpoint(prefix: str | Path, names: set[str] | None = None) -> dict[str, np.ndarray]:
    """Tensors of the checkpoint ``prefix`` (``PREFIX.index`` must exist), optionally only ``names``."""
    prefix = str(prefix)
    if prefix.endswith(".index"):
        prefix = prefix[: -len(".index")]
    header, entries = read_index(prefix + ".index")
    shards = int(header["num_shards"])
    out: dict[str, np.ndarray] = {}
    handles: dict[int, bytes] = {}
    for name, entry in entries.items():
        if names is not None and name not in names:
            continue
        if entry.get("sliced"):
            raise TFCheckpointError(f"{name} is a partitioned variable; not supported")
        if entry["dtype"] not in DTYPES:
            raise TFCheckpointError(f"{name} has unsupported dtype {entry['dtype']}")
        shard = entry["shard"]
        if shard not in handles:
            path = Path(f"{prefix}.data-{shard:05d}-of-{shards:05d}")
            if not path.is_file():
                raise TFCheckpointError(f"data file {path} is missing")
            handles[shard] = path.read_bytes()
        raw = handles[shard][entry["offset"]:entry["offset"] + entry["size"]]
        array = np.frombuffer(raw, dtype=np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<"))
        if entry["dtype"] == BFLOAT16:
            array = (array.astype(np.uint32) << 16).view(np.float32)
        count = int(np.prod(entry["shape"])) if entry["shape"] else 1
        if array.size != count:
            raise TFCheckpointError(f"{name}: {array.size} values stored for shape {entry['shape']}")
        out[name] = array.reshape(entry["shape"]).copy()
    return out
