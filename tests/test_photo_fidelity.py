"""Fidelity against Pillow's JPEG writer on real photographs, decoded by djpeg."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from jpegtools import djpeg_decode, psnr

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "camera"]


def encode(pixels: np.ndarray, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize("name", PHOTOS)
def test_defaults_beat_pillow_quality_100_444(photos, name) -> None:
    pixels = photos[name]
    ours = encode(pixels, "STREAMJPEG")
    theirs = encode(pixels, "JPEG", quality=100, subsampling=0)
    ours_psnr = psnr(pixels, djpeg_decode(ours))
    theirs_psnr = psnr(pixels, djpeg_decode(theirs))
    assert ours_psnr >= theirs_psnr, (ours_psnr, theirs_psnr)
    assert len(ours) <= len(theirs), (len(ours), len(theirs))
    error = np.abs(djpeg_decode(ours).astype(int) - pixels.astype(int))
    assert error.max() <= 4


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("quality", [50, 75, 90, 95])
def test_other_qualities_match_pillow(photos, name, quality) -> None:
    pixels = photos[name]
    ours = encode(pixels, "STREAMJPEG", quality=quality)
    theirs = encode(pixels, "JPEG", quality=quality, subsampling=0)
    ours_psnr = psnr(pixels, djpeg_decode(ours))
    theirs_psnr = psnr(pixels, djpeg_decode(theirs))
    assert ours_psnr >= theirs_psnr - 0.1, (ours_psnr, theirs_psnr)
    assert len(ours) <= 1.02 * len(theirs), (len(ours), len(theirs))
