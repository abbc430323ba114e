"""Batch collation for dict items (``image``, ``index``, ``name``, optional ``seg``/``mask``)."""

from __future__ import annotations

from torch.utils.data import default_collate


def collate_inpainting(items: list[dict]) -> dict:
    """Stack tensors, turn ``index`` into a LongTensor and keep ``name`` as a list of str.

    Items that a dataset could not read come as ``None`` and are dropped (the dataset has already warned).
    """
    items = [item for item in items if item is not None]
    if not items:
        raise RuntimeError("every image of this batch was unreadable; see the warnings above for the file names")
    return default_collate(items)
