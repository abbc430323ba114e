"""Fail early, with one clear message, when a torchvision that cannot be imported is installed (spec §0).

torchmetrics decides "torchvision available" from the installed distribution's metadata and then imports it; a
CUDA build next to a CPU torch makes that import raise ``operator torchvision::nms does not exist`` from deep inside
torchmetrics. Absent torchvision is fine.
"""

from __future__ import annotations

import importlib
import importlib.metadata

__all__ = ["TorchvisionMismatchError", "check_torchvision", "torchvision_installed", "torchvision_importable"]

MESSAGE = (
    "a torchvision that does not match this torch is installed ({detail}): uninstall it "
    "(pip uninstall torchvision), or install the build matching your torch"
)


class TorchvisionMismatchError(RuntimeError):
    """torchvision's distribution is installed but the module cannot be imported."""


def torchvision_installed() -> bool:
    try:
        importlib.metadata.distribution("torchvision")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def torchvision_importable() -> tuple[bool, str]:
    try:
        importlib.import_module("torchvision")
    except Exception as exc:  # RuntimeError (operator registration), ImportError, OSError (missing CUDA libs)
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


_checked = False


def check_torchvision() -> None:
    """Raise :class:`TorchvisionMismatchError` if torchvision is installed but broken; no-op otherwise (cached)."""
    global _checked
    if _checked:
        return
    if torchvision_installed():
        ok, detail = torchvision_importable()
        if not ok:
            raise TorchvisionMismatchError(MESSAGE.format(detail=detail))
    _checked = True
