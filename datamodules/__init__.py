"""Data: datasets, crop policies, GPU mask synthesis and the ``InpaintDataModule``. Knows no model."""

from datamodules.datamodule import InpaintDataModule

__all__ = ["InpaintDataModule"]
