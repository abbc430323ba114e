"""Lightning callbacks of the suite: image grids (configured as ``image_grids:`` in a config) and the RNG state of a
resumed fit (always installed by the CLI)."""

from lightning_modules.callbacks.image_grids import ImageGridLogger
from lightning_modules.callbacks.rng_state import RNGStateCheckpoint

__all__ = ["ImageGridLogger", "RNGStateCheckpoint"]
