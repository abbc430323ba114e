"""An exponential moving average of the generator, swapped in for validation, test and predict.

A :class:`torch.optim.swa_utils.AveragedModel` (torch's EMA: ``multi_avg_fn`` with ``get_ema_multi_avg_fn``, buffers
averaged too), so its checkpoint keys stay ``ema.module.*`` and ``ema.n_averaged`` under the module attribute ``ema``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class GeneratorEMA(AveragedModel):
    """``decay``-weighted running average of ``generator`` (a deep copy, updated after every generator step)."""

    def __init__(self, generator: nn.Module, decay: float) -> None:
        super().__init__(generator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.decay = decay

    def update(self, generator: nn.Module) -> None:
        """Fold the live generator's current weights into the average."""
        self.update_parameters(generator)

    @contextmanager
    def swapped_in(self, owner: Any, attribute: str = "generator") -> Iterator[None]:
        """``owner.<attribute>`` is the averaged generator for the duration (evaluation), the live one after."""
        live = getattr(owner, attribute)
        setattr(owner, attribute, self.module)
        try:
            yield
        finally:
            setattr(owner, attribute, live)
