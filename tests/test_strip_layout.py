"""The two-step path's strip layout (``kernels.strip_group``): grey strips of a multiple of
64 blocks are laid out as a group of 16 more MCUs, so that the 64 rows of coefficients
fall in distinct sets of a first-level cache (an odd number of 64-byte lines apart).

- ``strip_group`` pads exactly those strips, and the rows then lie an odd number of lines
  apart;
- at such widths ``strip_coefs`` + ``code_coefs`` (and ``count_coefs``) give the bytes and
  counts of ``encode_strip`` (the fused path, which has no such layout): the examples of
  tests/test_refine_option.py's ``test_two_steps_code_the_bytes_of_encode_strip``;
- every reader of the layout (the search, the choice on smooth blocks, repeated strips'
  copies, optimize's counts) gives the same files with the layout padded as unpadded: the
  plain-Python kernels saved both ways, and the compiled ones against them.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg  # noqa: F401  (registers STREAMJPEG)
import transpiled
from pillow_streamjpeg import engine

# The plain-Python kernels multiply uint64 scalars that wrap on purpose (as test_engine).
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in scalar multiply:RuntimeWarning")

BUILDS = engine.builds()


@pytest.fixture(scope="module")
def source():
    """The plain-Python kernels, refine and smooth modules."""
    return transpiled.source("kernels"), transpiled.source("refine"), transpiled.source("smooth")


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_grey_strips_of_64_blocks_are_padded(name) -> None:
    kernels = BUILDS[name]
    for mcus in (64, 128, 1024, 8192):
        lay = kernels.strip_group(mcus, 1)
        assert lay == mcus + 16
        assert (4 * lay) % 64 == 0 and (4 * lay // 64) % 2 == 1  # an odd number of lines apart
        samples, coefs = kernels.strip_layout(8 * mcus, 1, 1, 1)
        assert coefs == 64 * lay
    for mcus in (1, 63, 65, 100, 1040):
        assert kernels.strip_group(mcus, 1) == mcus
    for ncomp in (3, 4):  # colour and CMYK: indexed by component as c mcus + m, not padded
        assert kernels.strip_group(1024, ncomp) == 1024


def _images(width: int) -> dict[str, np.ndarray]:
    """A ramp along rows (every strip the same: refined once, ``kernels.code_copies``), a
    diagonal ramp (smooth blocks), a checker (marked MCUs) and noise, 24 rows."""
    y, x = np.mgrid[:24, :width]
    return {
        "ramp along rows": (x * 255 // (width - 1)).astype(np.uint8),
        "diagonal ramp": ((x + y) * 255 // (width + 22)).astype(np.uint8),
        "checker": (((x // 8 + y // 8) % 2) * 200 + 20).astype(np.uint8),
        "noise": np.random.default_rng(1).integers(0, 256, (24, width), dtype=np.uint8),
    }


OPTIONS = [
    {"quality": 100},  # the choice on smooth blocks (the ramps), strips side by side
    {"quality": 90, "refine": 1},  # the search, repeated strips copied
    {"quality": 95, "refine": 2, "optimize": True},  # counted on the two-step path
    {"quality": 90, "refine": 1, "restart_marker_rows": 1},
]


def _save(modules, pixels: np.ndarray, options: dict) -> bytes:
    saved = engine.kernels, engine.refine, engine.smooth
    engine.kernels, engine.refine, engine.smooth = modules
    try:
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="STREAMJPEG", workers=1, **options)
        return out.getvalue()
    finally:
        engine.kernels, engine.refine, engine.smooth = saved


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_padded_layout_saves_the_bytes_of_the_unpadded_one(source, monkeypatch, options) -> None:
    kernels = source[0]
    padded = 0
    real = kernels.strip_group

    def counted(mcus, ncomp):
        nonlocal padded
        lay = real(mcus, ncomp)
        padded += lay != mcus
        return lay

    for name, pixels in _images(512).items():  # 64 MCUs a strip, 128 and 192 side by side
        monkeypatch.setattr(kernels, "strip_group", counted)
        with_padding = _save(source, pixels, options)
        monkeypatch.setattr(kernels, "strip_group", lambda mcus, ncomp: mcus)
        without = _save(source, pixels, options)
        assert with_padding == without, name
        assert _save((engine.kernels, engine.refine, engine.smooth), pixels, options) == without, name
    assert padded > 0  # the padded layout was read


@pytest.mark.parametrize("options", [{"quality": 100}, {"quality": 90, "refine": 1}],
                         ids=["default", "refine=1"])
def test_padded_layout_on_threads(options) -> None:
    """Each thread's scratch holds the padded layout: two workers (and restarts, so that the
    image's strips are tasks of their own) give one worker's bytes, 1024 pixels wide (three
    tasks of ``scan.TASK_PIXELS``)."""
    y, x = np.mgrid[:768, :1024]
    for pixels in (((x + y) * 255 // 1790).astype(np.uint8),
                   (x * 255 // 1023).astype(np.uint8)):
        kernels = (engine.kernels, engine.refine, engine.smooth)
        one = _save(kernels, pixels, {**options, "restart_marker_rows": 2})
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="STREAMJPEG", workers=2,
                                     restart_marker_rows=2, **options)
        assert out.getvalue() == one
