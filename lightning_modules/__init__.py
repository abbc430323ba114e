"""Training logic: the shared GAN base, the losses, one LightningModule per method and their configs.

Configs (``configs/``): a *named config* (``configs/<name>.yaml``, e.g. ``aotgan``, ``aotgan_smoke``) is what
``--config NAME`` runs; a *part* (``configs/<kind>/<name>.yaml``: ``model/aotgan``, ``data/places2``,
``trainer/paper``, ``profile/smoke``, and the set-ups in ``configs/parts/`` such as ``ddp_8gpu``) holds one
piece. A named config lists the parts it is made of under ``compose:`` and adds only what differs; the expansion
is ``assembly.config.compose_files``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"
PART_DIR = CONFIG_DIR / "parts"  # set-ups added after a named config (``ddp_8gpu``, ``demo``): bare names
PART_KINDS = ("model", "data", "trainer", "profile")  # part folders, addressed as ``KIND/NAME``

# method name -> "module:Class". Imported lazily: building the table must not import every network.
METHODS: dict[str, str] = {
    "aotgan": "lightning_modules.aotgan:AOTGAN",
    "madf": "lightning_modules.madf:MADF",
    "deepgin": "lightning_modules.deepgin:DeepGIN",
    "hifill": "lightning_modules.hifill:HiFill",
    "tiny": "lightning_modules.tiny:TinyInpainter",
}


def method_class(name: str):
    """The LightningModule class of method ``name``."""
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; choose from {sorted(METHODS)}")
    module, cls = METHODS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def config_names() -> list[str]:
    """Names of the packaged configs (``aotgan``, ``aotgan_smoke``, ...)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def part_names() -> list[str]:
    """Names of the packaged config parts: ``model/aotgan``, ``data/places2``, ..., and the set-ups of
    ``configs/parts/`` by their bare name (``ddp_8gpu``): ``--config NAMED_CONFIG --config PART``."""
    kinds = sorted(f"{kind}/{p.stem}" for kind in PART_KINDS for p in (CONFIG_DIR / kind).glob("*.yaml"))
    return sorted(p.stem for p in PART_DIR.glob("*.yaml")) + kinds


def config_path(name: str) -> Path:
    """Path of packaged config or part ``name``: a bare name (``aotgan_smoke``, ``ddp_8gpu``) or ``KIND/NAME``
    (``model/aotgan``, ``parts/ddp_8gpu``)."""
    kind, _, stem = name.rpartition("/")
    folders = [CONFIG_DIR, PART_DIR] if not kind else [CONFIG_DIR / kind] if kind in (*PART_KINDS, "parts") else []
    for folder in folders:
        path = folder / f"{stem}.yaml"
        if stem and path.is_file():
            return path
    raise KeyError(f"unknown config {name!r}; choose from {config_names() + part_names()}")
