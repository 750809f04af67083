"""Strict decoders (djpeg -strict, jpeginfo -c) accept every output, at its size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg  # noqa: F401
from jpegcheck import djpeg_decode, djpeg_strict, jpeginfo_check

SIZES = [(1, 1), (1, 9), (9, 1), (7, 7), (8, 8), (9, 9), (15, 17), (17, 33), (1023, 9), (4097, 11)]
CONTENTS = ["noise", "black", "white", "checker", "gradient"]
QUALITIES = [1, 50, 90, 100]


def content(kind: str, width: int, height: int, channels: int, seed: int = 0) -> np.ndarray:
    shape = (height, width, channels)
    if kind == "noise":
        a = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    elif kind == "black":
        a = np.zeros(shape, np.uint8)
    elif kind == "white":
        a = np.full(shape, 255, np.uint8)
    elif kind == "checker":
        y, x = np.indices((height, width))
        a = np.repeat((((x + y) % 2) * 255).astype(np.uint8)[..., None], channels, axis=2)
    elif kind == "gradient":
        y, x = np.indices((height, width))
        g = [(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)),
             ((x + y) * 255 // max(width + height - 2, 1))]
        a = np.stack([g[c % 3] for c in range(channels)], axis=2).astype(np.uint8)
    else:
        raise ValueError(kind)
    return a if channels == 3 else a[..., 0]


def image(kind: str, width: int, height: int, mode: str) -> Image.Image:
    return Image.fromarray(content(kind, width, height, 3 if mode == "RGB" else 1), mode)


def check(tmp_path, img: Image.Image, djpeg: str, jpeginfo: str, **options) -> None:
    path = tmp_path / "out.jpg"
    img.save(path, format="STREAMJPEG", **options)
    djpeg_strict(path, djpeg)
    jpeginfo_check(path, jpeginfo)
    decoded = djpeg_decode(path, djpeg)
    assert decoded.shape[:2] == (img.height, img.width)
    assert decoded.ndim == (3 if img.mode == "RGB" else 2)


# Every size, content and mode at the default quality (100) and at quality 1 (largest
# and smallest coefficients); the other qualities on a rotating subset of the sizes.
@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("kind", CONTENTS)
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_sizes_and_contents(tmp_path, djpeg, jpeginfo, size, kind, mode):
    img = image(kind, *size, mode)
    check(tmp_path, img, djpeg, jpeginfo)               # default: quality 100
    check(tmp_path, img, djpeg, jpeginfo, quality=1)


@pytest.mark.parametrize("quality", QUALITIES)
@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("kind", CONTENTS)
def test_qualities(tmp_path, djpeg, jpeginfo, quality, kind, mode):
    for size in ((17, 33), (15, 17), (1023, 9), (9, 1)):
        check(tmp_path, image(kind, *size, mode), djpeg, jpeginfo, quality=quality)


@pytest.mark.parametrize("quality", QUALITIES)
@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "rocket", "camera"])
def test_photos(tmp_path, djpeg, jpeginfo, photos, name, quality):
    img = Image.fromarray(photos[name])
    assert img.mode == ("L" if name == "camera" else "RGB")
    check(tmp_path, img, djpeg, jpeginfo, quality=quality)
    if name != "camera":
        check(tmp_path, img.convert("L"), djpeg, jpeginfo, quality=quality)


def test_photo_crop_odd_size(tmp_path, djpeg, jpeginfo, photos):
    """A photo cropped to sizes that are not multiples of 8 (partial MCUs with detail)."""
    img = Image.fromarray(photos["astronaut"]).crop((3, 5, 3 + 301, 5 + 203))
    for q in QUALITIES:
        check(tmp_path, img, djpeg, jpeginfo, quality=q)
