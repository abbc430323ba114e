"""Read what W&B wrote offline, for the tests: ``<dir>/wandb/offline-run-*/run-<id>.wandb``.

wandb >= 0.19 writes runs through its Go core and ships no Python reader, and ``wandb sync`` has no offline view;
the ``.wandb`` file is a LevelDB-style log (a 7-byte ``:W&B`` header, then 32 KiB blocks of records, each
``crc32 (4) | length (2, LE) | type (1: full, 2: first, 3: middle, 4: last) | data``) of ``Record`` protobufs
(``wandb.proto.wandb_internal_pb2``). Reading it with the protobuf classes that wandb itself ships is the
simplest reliable way: no network, no service, and every field the run logged (run, config, history, summary).
Tables logged with ``wandb.Table`` are files under ``files/media/table/`` that the history entries point to.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

BLOCK, HEADER = 32768, 7


def records(path: Path):
    """Every ``Record`` of a ``.wandb`` file, in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # the tail of a block too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        pos += HEADER
        chunk, pos = data[pos:pos + length], pos + length
        if kind == 0 and length == 0:
            continue
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending + chunk if kind == 4 else chunk)
            pending = b""
            yield record
        else:
            pending = chunk if kind == 2 else pending + chunk


def read_run(run_dir: Path) -> dict[str, Any]:
    """``{"dir", "group", "name", "job_type", "tags", "config": {key: value}, "history": [{key: value}],
    "summary": {key: value}}`` of one offline run folder."""
    run_dir = Path(run_dir)
    out: dict[str, Any] = {"dir": run_dir, "config": {}, "history": [], "summary": {}}

    def key(item) -> str:
        return "/".join(item.nested_key) if item.nested_key else item.key

    for record in records(next(run_dir.glob("run-*.wandb"))):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            out.update(group=run.run_group, name=run.display_name, job_type=run.job_type, tags=list(run.tags))
            out["config"].update({key(i): json.loads(i.value_json) for i in run.config.update})
        elif kind == "config":
            out["config"].update({key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            out["history"].append({key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            out["summary"].update({key(i): json.loads(i.value_json) for i in record.summary.update})
    return out


def offline_runs(root: Path) -> list[dict[str, Any]]:
    """Every offline run under ``root`` (any depth)."""
    return [read_run(d) for d in sorted(Path(root).rglob("offline-run-*")) if d.is_dir()]


def logged_table(run: dict[str, Any], name: str) -> dict[str, Any]:
    """The ``wandb.Table`` a run logged under ``name``: ``{"columns": [...], "data": [[...]]}``."""
    for step in run["history"]:  # a logged object's fields come as nested keys: <name>/_type, <name>/path, ...
        if step.get(f"{name}/_type") == "table-file":
            return json.loads((run["dir"] / "files" / step[f"{name}/path"]).read_text())
    raise KeyError(f"{run['dir']}: no table {name!r} in the history")
