"""Batch collation for dict items (``image``, ``index``, ``name``, optional ``seg``/``mask``)."""

from __future__ import annotations

from torch.utils.data import default_collate


def collate_inpainting(items: list[dict]) -> dict:
    """Stack tensors, turn ``index`` into a LongTensor and keep ``name`` as a list of str.

    Items that a dataset could not read come as ``None`` and are dropped (the dataset has already warned).
    Raw training mask files (``mask_file``, augmented on the device) of different sizes stay a list of tensors.
    """
    items = [item for item in items if item is not None]
    if not items:
        raise RuntimeError("every image of this batch was unreadable; see the warnings above for the file names")
    if "mask_file" in items[0] and len({tuple(item["mask_file"].shape) for item in items}) > 1:
        files = [item.pop("mask_file") for item in items]
        batch = default_collate(items)
        batch["mask_file"] = files
        return batch
    return default_collate(items)
