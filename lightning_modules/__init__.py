"""Training logic: the shared GAN base, the losses, one LightningModule per method and their configs."""

from __future__ import annotations

import importlib
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"
PART_DIR = CONFIG_DIR / "parts"  # partial configs (trainer set-ups, ...) added after a method config

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
    """Names of the packaged config parts (``ddp_8gpu``, ...): ``--config METHOD_CONFIG --config PART``."""
    return sorted(p.stem for p in PART_DIR.glob("*.yaml"))


def config_path(name: str) -> Path:
    """Path of packaged config or part ``name`` (a bare name such as ``aotgan_smoke`` or ``ddp_8gpu``)."""
    for folder in (CONFIG_DIR, PART_DIR):
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    raise KeyError(f"unknown config {name!r}; choose from {config_names() + part_names()}")
