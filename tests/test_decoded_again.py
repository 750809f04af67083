"""A decoded JPEG saved again with one of its tables (``options.decoded_again``).

Its pixels are a decoder's output, whose transform lies on that table's grid: libjpeg's
forward path (Pillow's) comes back to the file's coefficients, where the default's own
rounding, its joint rounding and luma correction moved samples off that grid and
decoded up to 4 dB farther from the pixels than Pillow's file. Such saves keep libjpeg's
coefficients where they decode closer, at any size: never farther than Pillow's file.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

import pillow_streamjpeg
from jpegtools import assert_strictly_valid, djpeg_decode
from refinecalls import builds_are_the_source, recorded_calls
from pillow_streamjpeg import options


def _error(decoded: np.ndarray, pixels: np.ndarray) -> float:
    return float(((decoded.astype(np.float64) - pixels) ** 2).mean())


def _jpeg(pixels: np.ndarray, **params) -> Image.Image:
    """Pixels saved by Pillow with ``params``, opened again (a JpegImageFile)."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", **params)
    opened = Image.open(io.BytesIO(out.getvalue()))
    opened.load()
    return opened


def _saved(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


# photos (crops; camera whole) and settings where the default without the choice decoded 0.1
# to 3 dB farther than Pillow's file (Pillow's first save, then quality="keep")
CASES = [
    ("chelsea", (slice(100, 228), slice(150, 342)), dict(quality=75, subsampling=2)),
    ("chelsea", (slice(60, 188), slice(100, 292)), dict(quality=85, subsampling=1)),
    ("coffee", (slice(100, 228), slice(200, 392)), dict(quality=90, subsampling=0)),
    ("astronaut", (slice(0, 128), slice(100, 292)), dict(quality=50, subsampling=0)),
    ("camera", (slice(0, 512), slice(0, 512)), dict(quality=50)),
]


@pytest.mark.parametrize("name, crop, params", CASES)
def test_a_decoded_jpeg_saved_again_decodes_no_farther_than_pillows(name, crop, params):
    pixels = np.ascontiguousarray(getattr(data, name)()[crop])
    source = _jpeg(pixels, **params)
    shown = np.asarray(source, dtype=np.float64)
    pillow = _error(djpeg_decode(_saved(source, "JPEG", quality="keep")), shown)
    ours = _saved(source, "STREAMJPEG", quality="keep")
    assert_strictly_valid(ours)
    assert _error(djpeg_decode(ours), shown) <= pillow
    # the same with the quality and subsampling given, and through encode() of the file
    given = _saved(source, "STREAMJPEG", **params)
    assert _error(djpeg_decode(given), shown) <= pillow
    path = io.BytesIO(_saved(Image.fromarray(pixels), "JPEG", **params))
    out = io.BytesIO()
    pillow_streamjpeg.encode(Image.open(path), out, quality=params["quality"],
                             subsampling=params.get("subsampling", 0))
    assert _error(djpeg_decode(out.getvalue()), shown) <= pillow


def test_only_a_decoded_jpeg_with_one_of_its_tables_takes_the_choice():
    pixels = np.ascontiguousarray(data.astronaut()[:128, :192])
    source = _jpeg(pixels, quality=90, subsampling=2)
    plain = Image.fromarray(pixels)
    size = source.size  # 384 blocks at 4:2:0: far above the small images' limits

    def choice(image, **params):
        return options.parse("RGB", size, params, image).libjpeg_choice

    # the plain image first, then the JPEG, with the same options: kept Settings are not
    # shared between them
    assert not choice(plain, quality=90, subsampling=2)
    assert choice(source, quality=90, subsampling=2)
    assert not choice(plain, quality=90, subsampling=2)
    assert choice(source, quality="keep")
    assert choice(source, quality=90, subsampling=0)  # the same tables, finer chroma
    assert choice(source, quality=90, subsampling=1)
    # chroma subsampled more than the file's is not on its grid: the default's own way
    full = _jpeg(pixels, quality=90, subsampling=0)
    assert choice(full, quality="keep") and not choice(full, quality=90, subsampling=2)
    assert not choice(full, quality=90, subsampling=1)
    # decoded at a scale (draft, thumbnail): not the file's decoder output
    drafted = Image.open(io.BytesIO(_saved(plain, "JPEG", quality=90, subsampling=2)))
    drafted.draft("RGB", (96, 64))
    drafted.load()
    assert drafted.size == (96, 64)
    assert not options.parse("RGB", drafted.size, {"quality": "keep"}, drafted).libjpeg_choice
    assert not choice(source, quality=80, subsampling=2)  # other tables: not on the grid
    assert not choice(source, quality=90, subsampling=2, refine=0)  # the plain save
    assert not choice(source.copy(), quality=90, subsampling=2)  # no longer the file's
    assert options.jpeg_tables(source) == (tuple(
        tuple(source.quantization[k]) for k in sorted(source.quantization)), 2)
    assert options.jpeg_tables(plain) == ((), -1)


@pytest.mark.parametrize("subsampling", [0, 1, 2])
def test_builds_choose_what_the_source_chooses_without_a_search(subsampling, monkeypatch):
    """The choice alone (no search) computes libjpeg's coefficients first and decodes both
    sets only where they differ (``refine._libjpeg_only_rgb``; subsampled MCUs whose
    coefficients are libjpeg's skipped, ``_sub_libjpeg_same``): each build makes each strip's
    call as the Python source does, on a decoded JPEG saved again, where most MCUs are
    libjpeg's and some take libjpeg's."""
    pixels = np.ascontiguousarray(data.chelsea()[100:148, 150:214])
    source = _jpeg(pixels, quality=95, subsampling=subsampling)
    calls = recorded_calls(lambda: _saved(source, "STREAMJPEG", quality="keep"), monkeypatch)
    assert calls and all(args[-2] == 1 and args[-6] == 0 for _, args in calls)  # no sweeps
    assert builds_are_the_source(calls) >= 1
