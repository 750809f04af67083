"""Strict decoders accept every output: sizes, content, modes and qualities."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from jpegtools import assert_strictly_valid, djpeg_decode, psnr

SIZES = [(1, 1), (1, 9), (9, 1), (7, 7), (8, 8), (9, 9), (15, 17), (17, 33), (1023, 9), (4097, 11)]
QUALITIES = [1, 50, 90, 100]


def content(kind: str, width: int, height: int, seed: int = 0) -> np.ndarray:
    """RGB test content of a kind."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    if kind == "noise":
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if kind == "black":
        return np.zeros((height, width, 3), np.uint8)
    if kind == "white":
        return np.full((height, width, 3), 255, np.uint8)
    if kind == "checker":
        return np.repeat((((x + y) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)
    if kind == "gradient":
        return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                         (x + y) * 255 // max(width + height - 2, 1)], axis=-1).astype(np.uint8)
    raise ValueError(kind)


def save(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format="STREAMJPEG", **options)
    return out.getvalue()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("kind", ["noise", "black", "white", "checker", "gradient"])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_sizes_and_content(size, kind, mode) -> None:
    width, height = size
    image = Image.fromarray(content(kind, width, height)).convert(mode)
    for quality in QUALITIES:
        data = save(image, quality=quality)
        assert_strictly_valid(data)
        decoded = djpeg_decode(data)
        assert decoded.shape[:2] == (height, width)
        assert decoded.ndim == (3 if mode == "RGB" else 2)
    if kind in ("black", "white"):  # flat content is exact at quality 100
        assert np.array_equal(djpeg_decode(save(image)), np.asarray(image))


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "camera"])
@pytest.mark.parametrize("quality", QUALITIES)
def test_photographs(photos, name, quality) -> None:
    pixels = photos[name]
    image = Image.fromarray(pixels)
    data = save(image, quality=quality)
    assert_strictly_valid(data)
    decoded = djpeg_decode(data)
    assert decoded.shape == pixels.shape
    # a loose floor that any working encoder clears and garbage does not
    assert psnr(pixels, decoded) > {1: 20, 50: 28, 90: 33, 100: 45}[quality]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_many_strips_cycle_restart_markers_validly(workers) -> None:
    """More than 8 strips, so RST0..RST7 wrap around, with any worker count."""
    image = Image.fromarray(content("noise", 100, 8 * 21 + 5, seed=3))
    assert_strictly_valid(save(image, workers=workers, quality=75))
