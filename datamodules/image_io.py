"""Robust image reading: any photo on disk → ``(H, W, 3)`` uint8 RGB, or one clear :class:`ImageReadError`.

Rules (each one is tested in ``tests/datamodules/test_image_io.py``):

- The file is fully decoded (``Image.load``), so a truncated or corrupt file fails *here*, not later in a worker.
- EXIF orientation is honoured (``ImageOps.exif_transpose``): the array is what a viewer shows.
- 16-bit data (``I;16*`` / ``I`` modes, 16-bit PNG/TIFF) is mapped to 8 bits by ``round(v / 257)`` (65535 → 255), not
  by clipping (clipping would make almost every 16-bit photo pure white).
- Grayscale, bilevel, palette, CMYK, YCbCr, LAB, HSV → RGB through Pillow's conversions.
- An alpha channel (RGBA, LA, palette with transparency) is composited over **white**, so transparent regions do not
  show whatever colour happens to be stored under them.
- Every failure (missing file, no permission, zero bytes, unknown format, truncated data, decompression bomb) raises
  :class:`ImageReadError` (an ``OSError``) naming the file and the reason.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps

__all__ = ["ImageReadError", "read_rgb", "read_gray", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageReadError(OSError):
    """An image file that cannot be decoded; ``path`` and ``reason`` say which and why."""

    exit_code = 2  # bad user input (assembly.errors.known_error)

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"cannot read image {self.path}: {reason}")


def _open_decoded(path: str | os.PathLike, exif_transpose: bool = True) -> Image.Image:
    """Open and fully decode ``path`` (EXIF orientation applied unless told not to); failures → ImageReadError."""
    try:
        if os.path.getsize(path) == 0:
            raise ImageReadError(path, "zero-byte file")
        with warnings.catch_warnings():
            # Pillow warns (rather than raises) on some malformed EXIF blocks; the pixels are still fine.
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                image.load()  # decode now: truncated data raises here
                if exif_transpose:
                    image = ImageOps.exif_transpose(image)
                    image.load()
                return image
    except ImageReadError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageReadError(path, f"decompression bomb guard: {error}") from error
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, MemoryError) as error:
        # PermissionError / FileNotFoundError / UnidentifiedImageError are OSErrors; broken PNG chunks raise
        # SyntaxError, broken headers ValueError/EOFError/IndexError.
        raise ImageReadError(path, f"{type(error).__name__}: {error}") from error


def _sixteen_to_eight(array: np.ndarray) -> np.ndarray:
    """Integer data in [0, 65535] → uint8 with ``round(v / 257)`` (so 65535 → 255 and 257 → 1)."""
    scaled = (np.clip(array.astype(np.float64), 0, 65535) + 128.5) // 257  # == round(v/257) for integers
    return scaled.astype(np.uint8)


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        array = np.asarray(image)
        if mode == "F":
            # Float images: [0, 1] data is scaled up, anything larger is treated as 8-bit values.
            peak = float(np.nanmax(array)) if array.size else 0.0
            gray = np.clip(np.nan_to_num(array) * (255.0 if peak <= 1.0 else 1.0), 0, 255).round().astype(np.uint8)
        elif mode == "I" and array.size and int(array.max()) <= 255:
            gray = array.clip(0, 255).astype(np.uint8)  # 32-bit container holding 8-bit values
        else:
            gray = _sixteen_to_eight(array)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode == "P":
        image = image.convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    if image.mode != "RGB":
        image = image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    return np.asarray(image)


def read_rgb(path: str | os.PathLike, exif_transpose: bool = True) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of the image at ``path``; raises :class:`ImageReadError`.

    ``exif_transpose=False`` keeps the stored pixel grid (for label maps drawn on the stored orientation).
    """
    image = _open_decoded(path, exif_transpose)
    try:
        array = _to_rgb(image)
    except (OSError, ValueError) as error:
        raise ImageReadError(path, f"colour conversion from mode {image.mode}: {error}") from error
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageReadError(path, f"unexpected decoded shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.uint8)


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """``(H, W)`` uint8 single-channel view of ``path`` (masks); the first channel of colour files.

    16-bit masks are mapped to 8 bits like :func:`read_rgb`; alpha-only PNGs (``LA``/``RGBA`` whose colour is
    constant) are read from their alpha channel.
    """
    image = _open_decoded(path)
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "I":
        array = np.asarray(image)
        return array.clip(0, 255).astype(np.uint8) if array.size and array.max() <= 255 else _sixteen_to_eight(array)
    if image.mode in ("RGBA", "LA"):
        colour = np.asarray(image.convert("L"))
        if colour.size and colour.min() == colour.max():
            return np.asarray(image.getchannel("A"))
    if image.mode in ("RGB", "RGBA", "CMYK", "YCbCr"):
        return np.asarray(image.convert("RGB"))[..., 0].copy()
    return np.asarray(image.convert("L"))


def is_image_file(path: str | os.PathLike) -> bool:
    """True for a file name with an image extension (case-insensitive)."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS
