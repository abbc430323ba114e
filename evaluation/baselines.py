"""Training-free inpainting baselines: OpenCV's ``cv2.inpaint`` (Telea 2004, Navier-Stokes) and the white-filled
masked input. A learnt method that does not beat Telea on hole L1 has not learnt much yet.

Every function takes the suite's tensors, ``image`` ``(B, 3, H, W)`` in [-1, 1] and ``mask`` ``(B, 1, H, W)``
(1 = hole), and returns the composite ``(B, 3, H, W)`` in [-1, 1]: known pixels are the image's own.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

OPENCV_METHODS = ("telea", "navier_stokes")
BASELINES = ("masked_input",) + OPENCV_METHODS


def opencv_inpaint(image: torch.Tensor, mask: torch.Tensor, method: str = "telea", radius: int = 3) -> torch.Tensor:
    """``cv2.inpaint`` of each image on its uint8 RGB version (``round((x + 1) * 127.5)``), with ``radius`` the
    neighbourhood each hole pixel is filled from; returns the composite on ``image``'s device and dtype."""
    if method not in OPENCV_METHODS:
        raise ValueError(f"method must be one of {OPENCV_METHODS}, got {method!r}")
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    pixels = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    pixels = pixels.permute(0, 2, 3, 1).cpu().numpy()
    holes = (mask.detach()[:, 0] > 0.5).to(torch.uint8).mul(255).cpu().numpy()
    filled = np.stack([cv2.inpaint(np.ascontiguousarray(p), h, radius, flag) for p, h in zip(pixels, holes)])
    out = torch.from_numpy(filled).permute(0, 3, 1, 2).to(image.device, image.dtype) / 127.5 - 1
    return out * mask + image * (1 - mask)


def masked_input(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The input with its hole filled white (+1): the AIM challenge baseline."""
    return image * (1 - mask) + mask


def baseline_composite(name: str, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The composite of baseline ``name`` (one of :data:`BASELINES`)."""
    if name == "masked_input":
        return masked_input(image, mask)
    if name in OPENCV_METHODS:
        return opencv_inpaint(image, mask, name)
    raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")
