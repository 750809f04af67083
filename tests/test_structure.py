"""Segment order, restart markers, frame header and tables of the output."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg  # noqa: F401
from jpegcheck import dht_tables, dqt_tables, parse_jpeg, pillow_jpeg, sof_info, stream_jpeg

SIZES = [(1, 1), (9, 1), (8, 8), (9, 9), (15, 17), (17, 33), (64, 64), (65, 200), (1023, 9), (40, 77)]


def noise(width, height, mode, seed=0):
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8), mode)


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_segments_and_restarts(size, mode):
    width, height = size
    data = stream_jpeg(noise(width, height, mode), quality=75)
    p = parse_jpeg(data)
    names = p.names()
    # SOI, APP0 (JFIF), DQT..., SOF0, DHT..., DRI, SOS in this order and nothing else.
    assert names[0] == "SOI" and names[1] == "APP0" and names[-1] == "SOS"
    assert p.segments[1].payload[:5] == b"JFIF\0"
    body = names[2:-1]
    n_dqt = body.count("DQT")
    n_dht = body.count("DHT")
    assert n_dqt >= 1 and n_dht >= 1
    assert body == ["DQT"] * n_dqt + ["SOF0"] + ["DHT"] * n_dht + ["DRI"], names

    ncomp = 3 if mode == "RGB" else 1
    sof = sof_info(p)
    assert (sof["precision"], sof["width"], sof["height"]) == (8, width, height)
    assert len(sof["components"]) == ncomp
    assert all((h, v) == (1, 1) for _, h, v, _ in sof["components"])   # 4:4:4 by default

    mcus_per_row = math.ceil(width / 8)
    dri = int.from_bytes(p.first(0xDD).payload, "big")
    assert dri == mcus_per_row

    sos = p.first(0xDA).payload
    assert sos[0] == ncomp

    strips = math.ceil(height / 8)
    assert len(p.rst) == strips - 1
    assert p.rst == [i % 8 for i in range(strips - 1)]
    # None after the last strip: the last RST is followed by entropy data, then EOI.
    assert p.eoi == len(data) - 2 and p.trailing == b""
    if p.rst_offsets:
        assert p.rst_offsets[-1] + 2 < p.eoi
        assert p.rst_offsets[0] > p.scan_start
    # Every strip has data (no empty restart interval).
    bounds = [p.scan_start] + [o for o in p.rst_offsets] + [p.eoi]
    starts = [p.scan_start] + [o + 2 for o in p.rst_offsets]
    assert all(end > start for start, end in zip(starts, bounds[1:]))


def test_many_strips_cycle_rst():
    """More than 8 strips: RST numbers wrap around 7 -> 0."""
    p = parse_jpeg(stream_jpeg(noise(16, 8 * 21 + 3, "L"), quality=50))
    assert p.rst == [i % 8 for i in range(21)]


def test_quality_100_tables_all_ones():
    p = parse_jpeg(stream_jpeg(noise(16, 16, "RGB")))   # default quality is 100
    tables = dqt_tables(p)
    assert tables and all(t == [1] * 64 for t in tables.values())


def _component_tables(p):
    """Quantization table of each component, in component order, zigzag."""
    tables = dqt_tables(p)
    return [tables[tq] for _, _, _, tq in sof_info(p)["components"]]


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_dqt_equals_pillow_all_qualities(mode):
    img = noise(16, 16, mode)
    for quality in range(1, 101):
        ours = _component_tables(parse_jpeg(stream_jpeg(img, quality=quality)))
        theirs = _component_tables(parse_jpeg(pillow_jpeg(img, quality=quality, subsampling=0)))
        assert ours == theirs, f"quality {quality}"


@pytest.mark.parametrize("quality", [1, 30, 75, 100])
def test_dqt_equals_pillow_quantization_attribute(tmp_path, quality):
    """Against Image.open(...).quantization of Pillow's own file (independent parser)."""
    img = noise(16, 16, "RGB")
    path = tmp_path / "pillow.jpg"
    img.save(path, format="JPEG", quality=quality, subsampling=0)
    with Image.open(path) as ref:
        expected = {k: list(v) for k, v in ref.quantization.items()}
    path2 = tmp_path / "ours.jpg"
    img.save(path2, format="STREAMJPEG", quality=quality)
    with Image.open(path2) as ours:
        got = {k: list(v) for k, v in ours.quantization.items()}
    assert got == expected


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_dht_is_annex_k(mode):
    img = noise(24, 24, mode)
    ours = parse_jpeg(stream_jpeg(img, quality=90))
    theirs = parse_jpeg(pillow_jpeg(img, quality=90, subsampling=0, optimize=False))
    assert dht_tables(ours) == dht_tables(theirs)
    # And the luminance tables are the literal Annex K.3 ones.
    dc_bits = bytes((0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0))
    ac_bits = bytes((0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D))
    t = dht_tables(ours)
    assert t[(0, 0)] == (dc_bits, bytes(range(12)))
    assert t[(1, 0)][0] == ac_bits and len(t[(1, 0)][1]) == 162
    # Components use table sets that exist.
    sos = ours.first(0xDA).payload
    for i in range(sos[0]):
        td, ta = sos[2 + 2 * i] >> 4, sos[2 + 2 * i] & 15
        assert (0, td) in t and (1, ta) in t


def test_stuffing_no_stray_markers():
    """White noise at quality 100 makes many 0xFF bytes: each must be stuffed or an RST."""
    data = stream_jpeg(noise(64, 64, "RGB", seed=3))
    p = parse_jpeg(data)   # raises on any other marker in the scan
    scan = data[p.scan_start:p.eoi]
    assert scan.count(b"\xff\x00") > 0
