"""``init_from``: a module's generator (and discriminator) initialised from a weights file.

Reading is :func:`networks.weights.load_weights_file` (``weights_only=True``, one-line :class:`CheckpointError`).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from networks.weights import CheckpointError, CheckpointKeyError, load_weights_file


def load_networks(path: str, networks: dict[str, nn.Module | None], state: Any = None) -> None:
    """Load ``networks`` (``{"generator": G, "discriminator": D or None}``) from ``path``: a Lightning checkpoint or
    a plain state dict with keys ``generator.*`` / ``discriminator.*`` (``state``: ``path`` already read).
    A file without discriminator keys is fine (generator-only). Mismatched keys or shapes raise one
    :class:`CheckpointKeyError` naming the file and the first keys."""
    state = load_weights_file(path) if state is None else state
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state dict or a checkpoint")
    state = state.get("state_dict", state)
    for name, net in networks.items():
        if net is None:
            continue
        prefix = name + "."
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not sub and name == "discriminator":
            continue  # generator-only files are fine
        own = net.state_dict()
        shapes = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in sub.items()
                  if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)]
        if shapes:  # checked first: load_state_dict would raise a multi-line RuntimeError
            raise CheckpointKeyError(f"{path}: {name} shapes do not match the model "
                                     f"(wrong method or options?): {'; '.join(shapes[:3])}")
        missing, unexpected = net.load_state_dict(sub, strict=False)
        if missing or unexpected:
            raise CheckpointKeyError(f"{path}: {name} keys do not match; missing {missing[:5]}, "
                                     f"unexpected {unexpected[:5]}")
