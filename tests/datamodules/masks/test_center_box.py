from __future__ import annotations

import pytest
import torch

from datamodules.masks import build_mask_generator


def test_madf_regular_mask_is_the_centred_128_square():
    m = build_mask_generator("center_box")(torch.arange(3), 256, 256, seed=5)
    ref = torch.zeros(256, 256)
    ref[64:192, 64:192] = 1
    assert m.shape == (3, 1, 256, 256) and all(torch.equal(x[0], ref) for x in m)


def test_absolute_size_aotgan_imagenet_test_mask():
    m = build_mask_generator({"name": "center_box", "size": 224})(torch.arange(1), 512, 512)
    assert m.sum() == 224 * 224 and m[0, 0, 144, 144] == 1 and m[0, 0, 143, 143] == 0


def test_bad_fraction():
    with pytest.raises(ValueError, match="fraction"):
        build_mask_generator({"name": "center_box", "fraction": 1.5})
