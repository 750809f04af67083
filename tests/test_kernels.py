"""The compiled kernels give the same bytes and counts as their Pythran source run as Python."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pillow_streamjpeg import kernels, tables

SOURCE = Path(__file__).parents[1] / "transpiled" / "kernels.py"


def _load_source():
    spec = importlib.util.spec_from_file_location("_kernels_as_python", SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pure = _load_source()


def test_compiled_is_not_the_source():
    assert kernels.__file__ != str(SOURCE) and not kernels.__file__.endswith(".py")
    assert pure.__file__ == str(SOURCE)


# (channels, ncomp, convert) as StripCoder builds them: L; RGB and RGBX with colour
# conversion (float, or rounded to samples); YCbCr (3, no conversion); CMYK (4, none).
LAYOUTS = [(1, 1, 0), (3, 3, 1), (3, 3, 2), (4, 3, 1), (4, 3, 2), (3, 3, 0), (4, 4, 0)]
SAMPLINGS = [(1, 1), (2, 1), (2, 2)]
QUALITIES = [1, 10, 50, 75, 95, 100]


def arguments(width, channels, ncomp, convert, hs, vs, quality):
    qtables = tables.quality_tables(quality)
    colour = convert or ncomp == 3
    comp_table = np.array([0] + [1 if colour else 0] * (ncomp - 1), dtype=np.int64)
    recip = tables.kernel_reciprocals(qtables)
    huff = tables.kernel_code_tables(tables.STD_HUFFMAN)
    return (width, channels, ncomp, convert, hs, vs, comp_table, recip, huff)


def run_both(band, row0, nrows, args):
    width, channels, ncomp, convert, hs, vs, comp_table, recip, huff = args
    sampled = int(hs * vs > 1)
    cap = kernels.strip_capacity(width, ncomp, hs, vs, sampled) + 2
    assert cap == pure.strip_capacity(width, ncomp, hs, vs, sampled) + 2
    out_c = np.zeros(cap, dtype=np.uint8)
    out_p = np.zeros(cap, dtype=np.uint8)
    n_c = kernels.encode_strip(band, row0, nrows, *args, out_c)
    n_p = pure.encode_strip(band, row0, nrows, *args, out_p)
    assert n_c == n_p and n_c > 0
    assert bytes(out_c[:n_c]) == bytes(out_p[:n_p])
    ntables = recip.shape[0]
    counts_c = np.zeros((2 * ntables, 256), dtype=np.int64)
    counts_p = np.zeros((2 * ntables, 256), dtype=np.int64)
    kernels.count_strip(band, row0, nrows, *args[:8], counts_c)
    pure.count_strip(band, row0, nrows, *args[:8], counts_p)
    np.testing.assert_array_equal(counts_c, counts_p)
    # Every DC symbol counted once per block: the counts see every block of the strip.
    blocks_per_mcu = hs * vs + (ncomp - 1) if sampled else ncomp
    mcus = -(-width // (8 * hs))
    assert counts_c[0::2].sum() == mcus * blocks_per_mcu
    return bytes(out_c[:n_c])


def make_band(rng, kind, rows, width, channels, extra=0):
    shape = (rows, width * channels + extra)
    if kind == "random":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == "zeros":
        return np.zeros(shape, np.uint8)
    if kind == "ones":
        return np.full(shape, 255, np.uint8)
    if kind == "checker":
        y, x = np.indices(shape)
        return (((x // channels + y) % 2) * 255).astype(np.uint8)
    raise ValueError(kind)


@pytest.mark.parametrize("channels,ncomp,convert,hs,vs", [
    layout + sampling for layout in LAYOUTS for sampling in SAMPLINGS
    if layout[1] > 1 or sampling == (1, 1)     # grey images are not subsampled
])
def test_layouts_and_samplings(channels, ncomp, convert, hs, vs):
    rng = np.random.default_rng(channels * 100 + convert * 10 + hs + vs)
    for width, nrows, kind, quality in [(1, 1, "random", 100), (9, 8 * vs, "random", 75),
                                        (17, 3, "checker", 100), (23, 8 * vs - 1, "ones", 1),
                                        (16, 8 * vs, "zeros", 50), (33, 5, "random", 1)]:
        row0 = 2
        band = make_band(rng, kind, row0 + nrows + 1, width, channels, extra=channels)
        run_both(band, row0, nrows, arguments(width, channels, ncomp, convert, hs, vs, quality))


@pytest.mark.parametrize("quality", QUALITIES)
def test_quality_tables_extreme_content(quality):
    """Alternating extremes: the largest coefficients (DC/AC categories 10-11 at q100)."""
    width, channels = 24, 3
    y, x = np.indices((8, width * channels))
    band = np.ascontiguousarray((((x // channels) + y) % 2 * 255).astype(np.uint8))
    run_both(band, 0, 8, arguments(width, channels, 3, 1, 1, 1, quality))
    grey = np.ascontiguousarray(band[:, :width])
    run_both(grey, 0, 8, arguments(width, 1, 1, 0, 1, 1, quality))


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 40),
    nrows=st.integers(1, 16),
    layout=st.sampled_from(LAYOUTS),
    sampling=st.sampled_from(SAMPLINGS),
    quality=st.integers(1, 100),
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["random", "random", "checker", "zeros", "ones"]),
)
def test_random_strips(width, nrows, layout, sampling, quality, seed, kind):
    channels, ncomp, convert = layout
    hs, vs = sampling if ncomp > 1 else (1, 1)
    nrows = min(nrows, 8 * vs)
    rng = np.random.default_rng(seed)
    band = make_band(rng, kind, nrows, width, channels)
    run_both(band, 0, nrows, arguments(width, channels, ncomp, convert, hs, vs, quality))


def test_stuffing_case_matches():
    """Noise at quality 100 produces 0xFF bytes that both must stuff identically."""
    rng = np.random.default_rng(7)
    band = make_band(rng, "random", 8, 40, 3)
    data = run_both(band, 0, 8, arguments(40, 3, 3, 1, 1, 1, 100))
    assert b"\xff\x00" in data
