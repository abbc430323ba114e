"""Which code a pickle would call, read without unpickling it: names for the "refusing to load" messages.

``torch.load(..., weights_only=True)`` refuses a file that pickles code, but its error does not always name the code:
a file written by ``torch.save`` gets "Unsupported global: GLOBAL eval ..." or "Trying to load unsupported GLOBAL
posix.system whose module posix is blocked" (the wording changes between torch releases), and a plain
``pickle.dump`` file only "Unsupported operand 149" (the unpickler stops at the first opcode it does not support,
before any global). The standard library's ``pickletools`` lists a pickle's opcodes without executing any, so the
globals can be read from the file itself, whatever torch's wording.
"""

from __future__ import annotations

import _compat_pickle  # the Python 2 -> 3 module names pickle itself applies (torch.save writes protocol 2)
import io
import pickletools
import zipfile
from pathlib import Path

import torch

SCAN_BYTES = 16 << 20  # a pickle's globals come before bulk data; a bigger pickle is scanned up to here
MAX_PICKLES = 5  # torch's legacy format: magic, protocol, sys info, the object, storage keys, then raw bytes
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
               "SHORT_BINSTRING"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}


def _python3_name(module: str, name: str) -> str:
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    return f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{name}"


def _globals_of(stream: io.BytesIO) -> list[str]:
    """The globals of the pickles in ``stream``, in order (a broken or truncated pickle ends the scan)."""
    found: list[str] = []
    for _ in range(MAX_PICKLES):
        memo: dict[int, str | None] = {}
        pushed: list[str | None] = []  # what the latest string/memo opcodes pushed; None = not a string
        try:
            for op, arg, _ in pickletools.genops(stream):
                kind = op.name
                if kind in ("GLOBAL", "INST"):  # protocols 0-3: "module name" in the opcode
                    found.append(_python3_name(*str(arg).split(" ", 1)))
                    pushed = [None]
                elif kind == "STACK_GLOBAL":  # protocol 4+: module and name are the two strings pushed before
                    module, name = ([None, None] + pushed)[-2:]
                    found.append(_python3_name(module, name) if module and name else "an unnamed global")
                    pushed = [None]
                elif kind in _STRING_OPS:
                    pushed.append(str(arg))
                elif kind in _GET_OPS:
                    pushed.append(memo.get(int(arg)))
                elif kind == "MEMOIZE":
                    memo[len(memo)] = pushed[-1] if pushed else None
                elif kind in _PUT_OPS:
                    memo[int(arg)] = pushed[-1] if pushed else None
                else:
                    pushed = [None]
        except Exception:  # noqa: BLE001 - not (or no more) a pickle: raw tensor bytes, an image, a truncated file
            break
        if stream.tell() >= len(stream.getbuffer()):
            break
    return found


def pickle_globals(path: str | Path) -> list[str]:
    """Every global (``module.name``) the pickles in ``path`` reference, in order, without unpickling anything:
    ``data.pkl`` of a ``torch.save`` zip archive, or the pickles of a legacy ``torch.save`` / ``pickle.dump`` file.
    ``[]`` for a file that cannot be read or holds no pickle."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                streams = [io.BytesIO(archive.open(info).read(SCAN_BYTES)) for info in archive.infolist()
                           if info.filename.endswith(".pkl")]
        else:
            with open(path, "rb") as file:
                streams = [io.BytesIO(file.read(SCAN_BYTES))]
    except (OSError, zipfile.BadZipFile, ValueError):
        return []
    return [name for stream in streams for name in _globals_of(stream)]


def _allowed_by_torch() -> tuple[set[str], bool]:
    """The globals ``weights_only=True`` allows, and whether torch's default list was among them."""
    allowed: set[str] = set()
    try:  # torch's default allowlist of weights_only=True; private, so a torch without it falls back below
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed |= set(_get_allowed_globals())
        defaults = True
    except (ImportError, AttributeError, TypeError):
        defaults = False
    for entry in torch.serialization.get_safe_globals():  # add_safe_globals: objects, or (object, "name")
        obj, name = entry if isinstance(entry, tuple) else (entry, None)
        allowed.add(name or f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}")
    return allowed, defaults


def refused_globals(path: str | Path) -> list[str]:
    """The globals of ``path`` that ``weights_only=True`` does not allow (each once, in order): the code or classes
    the file would have run or built. Without torch's allowlist, everything outside ``torch.`` counts."""
    allowed, defaults = _allowed_by_torch()
    out: list[str] = []
    for name in pickle_globals(path):
        refused = name not in allowed and (defaults or not name.startswith("torch."))
        if refused and name not in out:
            out.append(name)
    return out
