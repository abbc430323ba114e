"""Training logic: the shared GAN base, the losses, one LightningModule per method and their configs."""

from __future__ import annotations

import importlib
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"

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


def config_path(name: str) -> Path:
    """Path of packaged config ``name`` (a bare name such as ``aotgan_smoke``)."""
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(f"unknown config {name!r}; choose from {config_names()}")
    return path
