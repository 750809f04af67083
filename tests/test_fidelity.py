"""Fidelity and size against Pillow's JPEG on real photographs, both decoded by djpeg."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg  # noqa: F401
from jpegcheck import djpeg_decode, pillow_jpeg, psnr, stream_jpeg

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "camera"]


@pytest.mark.parametrize("name", PHOTOS)
def test_defaults_beat_pillow_q100(photos, djpeg, name):
    src = photos[name]
    img = Image.fromarray(src)
    ours = stream_jpeg(img)                      # defaults: quality 100, 4:4:4
    theirs = pillow_jpeg(img, quality=100, subsampling=0)
    p_ours = psnr(djpeg_decode(ours, djpeg), src)
    p_theirs = psnr(djpeg_decode(theirs, djpeg), src)
    assert p_ours >= p_theirs, f"{name}: {p_ours:.3f} dB < Pillow's {p_theirs:.3f} dB"
    assert len(ours) <= len(theirs), f"{name}: {len(ours)} bytes > Pillow's {len(theirs)}"


@pytest.mark.parametrize("name", PHOTOS)
def test_q100_error_small_everywhere(photos, djpeg, name):
    src = photos[name]
    decoded = djpeg_decode(stream_jpeg(Image.fromarray(src)), djpeg)
    err = np.abs(decoded.astype(np.int16) - src.astype(np.int16))
    assert err.max() <= 4, f"{name}: max abs error {err.max()}"
    assert psnr(decoded, src) >= 45


@pytest.mark.parametrize("quality", [50, 75, 90, 95])
@pytest.mark.parametrize("name", PHOTOS)
def test_other_qualities_close_to_pillow(photos, djpeg, name, quality):
    src = photos[name]
    img = Image.fromarray(src)
    p_ours = psnr(djpeg_decode(stream_jpeg(img, quality=quality), djpeg), src)
    p_theirs = psnr(djpeg_decode(pillow_jpeg(img, quality=quality, subsampling=0), djpeg), src)
    assert p_ours >= p_theirs - 0.1, f"{name} q{quality}: {p_ours:.3f} vs Pillow {p_theirs:.3f} dB"


@pytest.mark.parametrize("quality", [1, 50, 100])
def test_grey_of_colour_photo(photos, djpeg, quality):
    """Mode L from a colour photo, decoded grey, tracks Pillow too."""
    img = Image.fromarray(photos["coffee"]).convert("L")
    src = np.asarray(img)
    p_ours = psnr(djpeg_decode(stream_jpeg(img, quality=quality), djpeg), src)
    p_theirs = psnr(djpeg_decode(pillow_jpeg(img, quality=quality), djpeg), src)
    assert p_ours >= p_theirs - 0.1
