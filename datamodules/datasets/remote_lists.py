"""Small public text files the data needs at run time (AIM 2020 lists, the ADE full → 150 class map), cached.

They are fetched once from their public repositories, never shipped with the project. Resolution order for a file:

1. an explicit path (``aim_list=...``, ``ade_map=...`` dataset options) — no network;
2. the cache: ``$INPAINT_SUITE_CACHE/lists/<file>`` (default ``~/.cache/inpaint-suite/lists/<file>``);
3. download from the URL below into the cache (20 s timeout), then use it.

When all three fail, :class:`FileNotFoundError` says which URL failed and which option / cache path to use instead.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

AIM_REPO_RAW = "https://raw.githubusercontent.com/vglsd/AIM2020-Image-Inpainting-Challenge/master"
SCENEPARSING_RAW = "https://raw.githubusercontent.com/CSAILVision/sceneparsing/master"

REMOTE_FILES: dict[str, str] = {
    # The official AIM 2020 training list: 10,330 ADE20K names, one per line (aim2020.md §3.1).
    "new_image_names.txt": f"{AIM_REPO_RAW}/new_image_names.txt",
    # The 51 ADE150 indices the challenge keeps (aim2020.md §3.2).
    "new_class_indices.txt": f"{AIM_REPO_RAW}/new_class_indices.txt",
    # Full-ADE class id → SceneParsing-150 index (aim2020.md §3.3 step 2).
    "mapFromADE.txt": f"{SCENEPARSING_RAW}/convertFromADE/mapFromADE.txt",
}

DOWNLOAD_TIMEOUT_S = 20


def cache_dir() -> Path:
    """Folder of the cached lists: ``$INPAINT_SUITE_CACHE/lists`` or ``~/.cache/inpaint-suite/lists``."""
    base = os.environ.get("INPAINT_SUITE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "inpaint-suite")
    return Path(base) / "lists"


def resolve_list_file(file_name: str, override: str | os.PathLike | None = None, option: str = "") -> Path:
    """Local path of ``file_name`` (a key of :data:`REMOTE_FILES`): ``override``, else the cache, else download."""
    if override is not None:
        path = Path(override).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{option or file_name}: no such file {path}")
        return path
    if file_name not in REMOTE_FILES:
        raise KeyError(f"unknown list file {file_name!r}; known: {sorted(REMOTE_FILES)}")
    cached = cache_dir() / file_name
    if cached.is_file() and cached.stat().st_size > 0:
        return cached
    url = REMOTE_FILES[file_name]
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310 (fixed https URL)
            data = response.read()
    except Exception as error:  # URLError, timeouts, HTTP errors: all mean "not available here"
        hint = f"pass {option}=PATH" if option else "pass its path explicitly"
        raise FileNotFoundError(
            f"could not download {file_name} from {url} ({type(error).__name__}: {error}); {hint}, "
            f"or put the file at {cached}") from error
    if not data.strip():
        raise FileNotFoundError(f"{url} returned an empty file")
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(cached.suffix + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, cached)  # atomic: concurrent ranks never read half a file
    return cached


def read_name_list(path: str | os.PathLike) -> list[str]:
    """Non-empty stripped lines of a name list (a missing trailing newline is fine)."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def read_int_list(path: str | os.PathLike) -> list[int]:
    """Integers separated by commas and/or whitespace (``new_class_indices.txt`` is one comma-separated line)."""
    text = Path(path).read_text().replace(",", " ")
    return [int(token) for token in text.split()]
