"""The compiled kernels give exactly what their Pythran source gives as plain Python."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pillow_streamjpeg import kernels as compiled
from pillow_streamjpeg import tables

SOURCE = Path(__file__).resolve().parents[1] / "transpiled" / "kernels.py"


@pytest.fixture(scope="module")
def reference():
    spec = importlib.util.spec_from_file_location("kernels_reference", SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_is_plain_python(reference) -> None:
    assert reference.__file__ == str(SOURCE)
    assert compiled.__file__ != reference.__file__


def kernel_args(width, channels, ncomp, convert, hs, vs, quality):
    qtables = tables.quality_tables(quality)
    specs = tables.STD_HUFFMAN
    comp_table = np.array([0, 1, 1, 0][:ncomp] if convert else [0] * ncomp, dtype=np.int64)
    if ncomp == 1:
        qtables, specs = qtables[:1], specs[:1]
    return (width, channels, ncomp, convert, hs, vs, comp_table,
            tables.kernel_reciprocals(qtables), tables.kernel_code_tables(specs))


def run_both(reference, band, row0, nrows, args):
    width, channels, ncomp, convert, hs, vs = args[:6]
    capacity = compiled.strip_capacity(width, ncomp, hs, vs, int(hs * vs > 1))
    assert capacity == reference.strip_capacity(width, ncomp, hs, vs, int(hs * vs > 1))
    out_c = np.zeros(capacity, np.uint8)
    out_p = np.zeros(capacity, np.uint8)
    n_c = compiled.encode_strip(band, row0, nrows, *args, out_c)
    n_p = reference.encode_strip(band, row0, nrows, *args, out_p)
    assert n_c == n_p
    assert bytes(out_c[:n_c]) == bytes(out_p[:n_p])
    counts_c = np.zeros((args[8].shape[0], 256), np.int64)
    counts_p = np.zeros_like(counts_c)
    compiled.count_strip(band, row0, nrows, *args[:8], counts_c)
    reference.count_strip(band, row0, nrows, *args[:8], counts_p)
    assert np.array_equal(counts_c, counts_p)
    return bytes(out_c[:n_c]), counts_c


LAYOUTS = [
    # channels, ncomp, convert, hs, vs
    (1, 1, 0, 1, 1),
    (4, 3, 1, 1, 1),
    (4, 3, 2, 1, 1),
    (3, 3, 1, 1, 1),
    (3, 3, 0, 1, 1),
    (4, 4, 0, 1, 1),
    (4, 3, 1, 2, 1),
    (4, 3, 2, 2, 2),
    (3, 3, 0, 2, 2),
]


@settings(max_examples=60, deadline=None)
@given(
    layout=st.sampled_from(LAYOUTS),
    width=st.integers(1, 40),
    rows=st.integers(1, 16),
    quality=st.sampled_from([1, 25, 50, 90, 100]),
    content=st.sampled_from(["noise", "extreme", "flat", "ramp"]),
    seed=st.integers(0, 1000),
)
def test_compiled_equals_plain_python(reference, layout, width, rows, quality, content, seed):
    channels, ncomp, convert, hs, vs = layout
    rng = np.random.default_rng(seed)
    extra_rows = 3  # the strip starts inside a band, as the strip writer uses it
    shape = (rows + extra_rows, width * channels)
    if content == "noise":
        band = rng.integers(0, 256, shape, dtype=np.uint8)
    elif content == "extreme":
        band = (rng.integers(0, 2, shape, dtype=np.uint8) * 255).astype(np.uint8)
    elif content == "flat":
        band = np.full(shape, rng.integers(0, 256), np.uint8)
    else:
        band = (np.arange(shape[0] * shape[1]) * 7 % 256).astype(np.uint8).reshape(shape)
    nrows = min(rows, 8 * vs)
    args = kernel_args(width, channels, ncomp, convert, hs, vs, quality)
    data, counts = run_both(reference, band, extra_rows, nrows, args)
    assert len(data) > 0
    assert counts[0].sum() >= 1  # at least one DC symbol


def test_stuffing_and_padding(reference) -> None:
    """Content whose codes produce 0xFF bytes: every 0xFF is followed by 0x00."""
    band = np.zeros((8, 64 * 4), np.uint8)
    band[:, ::8] = 255
    args = kernel_args(64, 4, 3, 1, 1, 1, 100)
    data, _ = run_both(reference, band, 0, 8, args)
    positions = [i for i, b in enumerate(data) if b == 0xFF]
    assert positions, "test content should produce 0xFF bytes"
    assert all(i + 1 < len(data) and data[i + 1] == 0 for i in positions)


def test_read_only_band_is_accepted() -> None:
    band = np.frombuffer(bytes(range(256)) * 4, np.uint8).reshape(8, 128)
    args = kernel_args(32, 4, 3, 1, 1, 1, 90)
    out = np.zeros(compiled.strip_capacity(32, 3, 1, 1, 0), np.uint8)
    assert compiled.encode_strip(band, 0, 8, *args, out) > 0
