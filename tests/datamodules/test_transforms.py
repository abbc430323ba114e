"""Crop / resize policies: output sizes, determinism of eval, paper-specific steps, image/label alignment."""

from __future__ import annotations

import numpy as np
import pytest

from datamodules.transforms import CROP_POLICIES, MADF_LOAD_RATIO, POLYPHASE_OFFSETS, build_crop

# Distinct colours per label (0..51) so an image can encode its own label map.
PALETTE = np.stack([np.arange(52) * 4, 255 - np.arange(52) * 4, (np.arange(52) * 37) % 256], 1).astype(np.uint8)


def _blocky_labels(h: int, w: int, block: int = 16, seed: int = 0) -> np.ndarray:
    """A label map of ``block``-sized constant tiles (so interiors survive interpolation)."""
    rng = np.random.default_rng(seed)
    tiles = rng.integers(0, 52, (h // block + 1, w // block + 1)).astype(np.uint8)
    return np.kron(tiles, np.ones((block, block), np.uint8))[:h, :w]


def _interior(labels: np.ndarray, radius: int = 2) -> np.ndarray:
    """Pixels whose (2r+1)² neighbourhood has one label."""
    from scipy.ndimage import maximum_filter, minimum_filter

    size = 2 * radius + 1
    return maximum_filter(labels, size) == minimum_filter(labels, size)


@pytest.mark.parametrize("name", sorted(CROP_POLICIES))
@pytest.mark.parametrize("train", [True, False])
def test_policy_output_sizes_and_types(name, train):
    image = np.random.default_rng(0).integers(0, 256, (90, 130, 3), dtype=np.uint8)
    seg = _blocky_labels(90, 130)
    out, out_seg = build_crop(name, 32, train)(image, seg, np.random.default_rng(1))
    expected = (90, 130) if name == "none" else (32, 32)
    assert out.shape == (*expected, 3) and out.dtype == np.uint8
    assert out_seg.shape == expected and out_seg.dtype == np.uint8
    assert set(np.unique(out_seg)) <= set(np.unique(seg))  # labels are never blended
    image_only, none_seg = build_crop(name, 32, train)(image, None, np.random.default_rng(1))
    assert none_seg is None and image_only.shape == out.shape


@pytest.mark.parametrize("name", sorted(CROP_POLICIES))
def test_eval_policies_are_deterministic(name):
    image = np.random.default_rng(0).integers(0, 256, (70, 50, 3), dtype=np.uint8)
    policy = build_crop(name, 32, train=False)
    first, _ = policy(image)
    second, _ = policy(image, rng=np.random.default_rng(123))
    assert np.array_equal(first, second)


def test_training_policies_are_random():
    image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    for name in ("random_resized_crop", "random_crop", "resize_crop", "deepgin"):
        policy = build_crop(name, 32, train=True)
        outputs = {policy(image)[0].tobytes() for _ in range(6)}
        assert len(outputs) > 1, name


@pytest.mark.parametrize("name", sorted(CROP_POLICIES))
def test_image_and_labels_stay_aligned(name):
    labels = _blocky_labels(150, 210, block=60, seed=3)
    image = PALETTE[labels]
    policy = build_crop(name, 48, train=True, color_jitter=0.0)
    for seed in range(4):
        out, out_seg = policy(image, labels, np.random.default_rng(seed))
        inside = _interior(out_seg)
        assert inside.mean() > 0.25
        diff = np.abs(out.astype(int) - PALETTE[out_seg].astype(int)).max(-1)
        assert diff[inside].max() <= 1, (name, seed)


@pytest.mark.parametrize("name", ["random_crop", "deepgin", "none"])
def test_interpolation_free_policies_are_pixel_exact(name):
    """No resampling involved (crop, flip, rot90, decimation): the image equals its labels' colours everywhere."""
    labels = np.random.default_rng(5).integers(0, 52, (64, 64)).astype(np.uint8)
    image = PALETTE[labels]  # 64 = 2·32: deepgin's resize is the identity
    policy = build_crop(name, 32, train=True, color_jitter=0.0)
    for seed in range(6):
        out, out_seg = policy(image, labels, np.random.default_rng(seed))
        assert np.array_equal(out, PALETTE[out_seg])


def test_deepgin_is_a_rotated_flipped_polyphase_component():
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out, _ = build_crop("deepgin", 32, train=True)(image, rng=np.random.default_rng(7))
    candidates = []
    for k in range(4):
        rotated = np.rot90(image, k)
        for row, col in POLYPHASE_OFFSETS:
            part = rotated[row::2, col::2]
            candidates += [part, part[:, ::-1]]
    assert any(np.array_equal(out, c) for c in candidates)


def test_tiny_images_are_upscaled_to_the_crop():
    tiny = np.random.default_rng(0).integers(0, 256, (5, 3, 3), dtype=np.uint8)
    seg = np.zeros((5, 3), np.uint8)
    seg[:, 1:] = 7
    for name in ("random_crop", "center_crop"):
        for train in (True, False):
            out, out_seg = build_crop(name, 24, train)(tiny, seg)
            assert out.shape == (24, 24, 3) and set(np.unique(out_seg)) == {0, 7}


def test_madf_load_size_and_center_crop():
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, 140:160] = 255  # a bright vertical bar in the middle
    out, _ = build_crop("center_crop", 50, train=False)(image)
    assert out[:, 20:30].mean() > 200 and out[:, :10].mean() < 10
    assert round(256 * MADF_LOAD_RATIO) == 286


def test_random_resized_crop_covers_scale_range():
    """AOT-GAN's RandomResizedCrop(scale 0.08-1): some crops see a small part of the image, some most of it."""
    width = 400
    image = np.tile(np.linspace(0, 255, width).astype(np.uint8)[None, :, None], (300, 1, 3))  # a horizontal ramp
    policy = build_crop("random_resized_crop", 32, train=True, color_jitter=0.0)
    spans = []
    for seed in range(60):
        out, _ = policy(image, rng=np.random.default_rng(seed))
        spans.append(int(out[..., 0].max()) - int(out[..., 0].min()))
    assert min(spans) < 90 and max(spans) > 160


def test_unknown_policy_is_rejected():
    with pytest.raises(ValueError, match="unknown crop policy"):
        build_crop("zoom", 32, True)
    with pytest.raises(ValueError, match="differ in size"):
        build_crop("resize", 32, True)(np.zeros((10, 10, 3), np.uint8), np.zeros((9, 10), np.uint8))


@pytest.mark.parametrize("name", sorted(CROP_POLICIES))
def test_flip_can_be_switched_off(name):
    """HiFill trains without flips: with ``flip=False`` a left-bright image stays left-bright in every draw."""
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :32] = 200
    policy = build_crop(name, 32, train=True, flip=False, color_jitter=0.0)
    for seed in range(8):
        out, _ = policy(image, rng=np.random.default_rng(seed))
        if name == "deepgin":  # rot90 may turn the bright half to the top/bottom, never mirror its content
            continue
        assert out[:, 0].mean() >= out[:, -1].mean()
    flipping = build_crop(name, 32, train=True, flip=True, color_jitter=0.0)
    if name != "deepgin":
        lefts = [flipping(image, rng=np.random.default_rng(s))[0][:, 0].mean() for s in range(16)]
        rights = [flipping(image, rng=np.random.default_rng(s))[0][:, -1].mean() for s in range(16)]
        assert any(right > left for left, right in zip(lefts, rights))


@pytest.mark.parametrize("name", sorted(set(CROP_POLICIES) - {"none"}))
@pytest.mark.parametrize("hw", [(1, 1), (5, 3), (2, 300)])
def test_every_policy_handles_tiny_and_thin_images(name, hw):
    image = np.random.default_rng(0).integers(0, 256, (*hw, 3), dtype=np.uint8)
    for train in (True, False):
        out, out_seg = build_crop(name, 16, train)(image, np.zeros(hw, np.uint8))
        assert out.shape == (16, 16, 3) and out_seg.shape == (16, 16)
