"""File structure: marker order, DRI, RST count and cycling, tables against libjpeg's."""

from __future__ import annotations

import importlib.machinery
import io
import math
import struct

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

import transpiled
from jpegtools import huffman_specs, parse_segments
from pillow_streamjpeg import engine, options, tables

SOI, APP0, DQT, SOF0, DHT, DRI, SOS = 0xD8, 0xE0, 0xDB, 0xC0, 0xC4, 0xDD, 0xDA


def save(image: Image.Image, fmt: str = "STREAMJPEG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(width * 7919 + height)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return image.convert(mode)


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (9, 9), (17, 33), (100, 64), (130, 200), (4097, 11),
                                  (4097, 150), (40000, 20)])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_marker_order_dri_and_restarts(size, mode) -> None:
    """Restart intervals of whole MCU rows of about options.INTERVAL_PIXELS (at least a
    row); none, and no DRI, when the image fits in one (as Pillow writes by default)."""
    width, height = size
    data = save(noise(width, height, mode), quality=90)
    segments, scan_markers, _ = parse_segments(data)
    rows = max(1, options.INTERVAL_PIXELS // (width * 8))
    strips = math.ceil(height / 8)
    intervals = math.ceil(strips / rows)
    expected = [APP0, DQT, SOF0, DHT] + ([DRI] if intervals > 1 else []) + [SOS]
    assert [s.marker for s in segments] == expected
    assert segments[0].payload[:5] == b"JFIF\0"
    precision, h, w, ncomp = struct.unpack(">BHHB", segments[2].payload[:6])
    assert (precision, w, h, ncomp) == (8, width, height, 3 if mode == "RGB" else 1)
    if intervals > 1:
        (interval,) = struct.unpack(">H", segments[4].payload)
        assert interval == rows * math.ceil(width / 8)
    assert scan_markers == [0xD0 + i % 8 for i in range(intervals - 1)]


@pytest.mark.parametrize("name", ["camera", "astronaut"])
def test_default_intervals_leave_photos_no_larger_than_pillows(photos, name) -> None:
    """The reason for long default intervals: an RSTn a row made camera at quality 75
    0.1 % larger than Pillow's file (0.5 % more than without markers)."""
    image = Image.fromarray(photos[name])
    ours = save(image, quality=75, subsampling=0)
    assert DRI not in [s.marker for s in parse_segments(ours)[0]]
    assert len(ours) < len(save(image, quality=75, subsampling=0, restart_marker_rows=1)) - 100
    assert len(ours) <= len(save(image, "JPEG", quality=75, subsampling=0))


def test_dqt_is_all_ones_at_quality_100() -> None:
    segments, _, _ = parse_segments(save(noise(16, 16)))
    dqt = segments[1].payload
    assert len(dqt) == 2 * 65
    assert dqt[0] == 0 and dqt[65] == 1
    assert set(dqt[1:65]) == {1} and set(dqt[66:130]) == {1}


def _dqt_tables(data: bytes) -> list[list[int]]:
    segments, _, _ = parse_segments(data)
    result = []
    for segment in segments:
        if segment.marker == DQT:
            payload = segment.payload
            while payload:
                assert payload[0] >> 4 == 0, "16-bit tables are not baseline"
                result.append(list(payload[1:65]))
                payload = payload[65:]
    return result


def test_quantization_tables_match_libjpeg_for_every_quality() -> None:
    image = noise(16, 16)
    for quality in range(1, 101):
        ours = _dqt_tables(save(image, quality=quality))
        theirs = _dqt_tables(save(image, "JPEG", quality=quality, subsampling=0))
        assert ours == theirs, f"quality {quality}"


def test_dqt_is_zigzag_of_natural_tables() -> None:
    table = tables.quality_tables(50)[0]
    image = noise(16, 16)
    assert _dqt_tables(save(image, quality=50))[0] == tables.zigzag(table)
    with Image.open(io.BytesIO(save(image, quality=50))) as decoded:
        assert list(decoded.quantization[0]) == table  # Pillow reports natural order


def _dht_tables(data: bytes) -> dict[tuple[int, int], bytes]:
    """{(class, table id): the table's bytes after its id, as DHT holds them}."""
    return {key: bytes(bits + values) for key, (bits, values) in huffman_specs(data).items()}


def test_huffman_tables_are_annex_k_as_libjpeg_writes_them() -> None:
    image = noise(16, 16)
    ours = _dht_tables(save(image))
    theirs = _dht_tables(save(image, "JPEG", quality=100, subsampling=0, optimize=False))
    assert ours == theirs
    assert len(ours) == 4


def test_grey_images_have_one_table_set() -> None:
    data = save(noise(16, 16, "L"))
    assert set(_dht_tables(data)) == {(0, 0), (1, 0)}
    assert len(_dqt_tables(data)) == 1


def test_strip_bytes_are_padded_with_ones() -> None:
    """The byte before each RST marker and before EOI ends in 1-bits of padding."""
    data = save(Image.new("L", (8, 24), 128), quality=100, restart_marker_rows=1)
    _, markers, scan = parse_segments(data)
    assert markers == [0xD0, 0xD1]
    # a flat grey block codes as a DC difference then EOB: three strips, same bytes
    parts = scan.split(b"\xff\xd0")[0], scan.split(b"\xff\xd0")[1].split(b"\xff\xd1")[0]
    assert parts[0] == parts[1]


def _sos_selectors(data: bytes) -> list[tuple[int, int]]:
    """(component id, Td << 4 | Ta) of the scan header."""
    segments, _, _ = parse_segments(data)
    payload = next(s.payload for s in segments if s.marker == 0xDA)
    return [(payload[1 + 2 * i], payload[2 + 2 * i]) for i in range(payload[0])]


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("mode, count, keep_rgb", [("RGB", 3, False), ("CMYK", 4, False),
                                                   ("CMYK", 3, False), ("CMYK", 2, False),
                                                   ("RGB", 2, True)])
def test_baseline_uses_at_most_two_huffman_tables(mode, count, keep_rgb, optimize) -> None:
    """More quantization tables than two: YCbCr components share Huffman tables 0 and 1;
    CMYK and RGB kept as RGB code every component with table 0, whatever its quantization
    table (they wrote a second set, the same bytes again): the tables and selectors of
    libjpeg's file."""
    from jpegtools import assert_strictly_valid, require_tools

    require_tools("djpeg", "jpeginfo")
    image = noise(40, 24, mode)
    qtables = [[1 + t + (k % 7) for k in range(64)] for t in range(count)]
    data = save(image, qtables=qtables, optimize=optimize, keep_rgb=keep_rgb)
    pillows = save(image, "JPEG", qtables=qtables, subsampling=0, keep_rgb=keep_rgb)
    ycc = mode == "RGB" and not keep_rgb
    assert set(_dht_tables(data)) == set(_dht_tables(pillows)) == (
        {(0, 0), (1, 0), (0, 1), (1, 1)} if ycc else {(0, 0), (1, 0)})
    selectors = _sos_selectors(data)
    assert selectors == _sos_selectors(pillows)
    assert [s for _, s in selectors] == [0x00] + [0x11 if ycc else 0x00] * (len(selectors) - 1)
    assert len(_dqt_tables(data)) == count
    if mode == "RGB":
        assert_strictly_valid(data)
    # the pixels are those of Pillow's file with the same tables
    theirs = Image.open(io.BytesIO(pillows))
    ours = Image.open(io.BytesIO(data))
    diff = np.abs(np.asarray(ours, np.int16) - np.asarray(theirs, np.int16))
    assert diff.max() <= 8


def test_table_segments_kept_for_equal_tables_are_the_ones_built() -> None:
    """``markers.dqt`` and ``dht`` keep the segments of tables given as tuples: the same bytes
    as tables given as lists (built each time), for each quality's and after a different one."""
    from pillow_streamjpeg import markers

    for quality in (100, 75, 75, 10, 75):
        natural = tables.quality_tables(quality)
        as_tuples = tuple(tuple(int(v) for v in table) for table in natural)
        as_lists = [[int(v) for v in table] for table in natural]
        assert markers.dqt(as_tuples) == markers.dqt(as_lists)
        assert markers.dqt(as_lists)[4:6] == bytes([0, as_lists[0][0]])
    specs = tuple(tables.STD_HUFFMAN)
    lists = [[[list(bits), list(values)] for bits, values in pair] for pair in specs]
    assert markers.dht(specs) == markers.dht(lists) == markers.dht(specs)
    assert markers.dht(specs[:1]) != markers.dht(specs)


def _libjpeg_optimal_spec(counts, legal) -> tables.HuffmanSpec:
    """libjpeg's jpeg_gen_optimal_table (jchuff.c) as it runs: the two least frequent trees
    found by scans of all 257 symbols (on ties the highest), merged, until one is left, a
    symbol's code size counted up at each merge of its tree; then limited to 16 bits as
    ``tables.optimal_spec`` limits them. The reference for its code sizes, whose trees are
    popped from a heap and whose sizes are the depths in the tree of merges."""
    freq = [int(c) for c in counts] + [1]
    for symbol in legal:
        freq[symbol] = max(freq[symbol], 1)
    codesize, others = [0] * 257, [-1] * 257

    def least(skip: int) -> int:
        best, index = None, -1
        for i, f in enumerate(freq):
            if f and i != skip and (best is None or f <= best):
                best, index = f, i
        return index

    while True:
        c1 = least(-1)
        c2 = least(c1)
        if c2 < 0:
            break
        freq[c1] += freq[c2]
        freq[c2] = 0
        codesize[c1] += 1
        while others[c1] >= 0:
            c1 = others[c1]
            codesize[c1] += 1
        others[c1] = c2
        codesize[c2] += 1
        while others[c2] >= 0:
            c2 = others[c2]
            codesize[c2] += 1
    return _limited_spec(codesize)


def _limited_spec(codesize) -> tables.HuffmanSpec:
    """libjpeg's limit of the code sizes to 16 bits (jpeg_gen_optimal_table, T.81 K.3) and its
    order of the symbols (by size before the limit, then symbol), without the reserved code:
    the reference for ``huffman.spec_of_sizes``."""
    bits = [0] * 33
    for size in codesize:
        if size:
            bits[size] += 1
    for i in range(32, 16, -1):
        while bits[i] > 0:
            j = i - 2
            while bits[j] == 0:
                j -= 1
            bits[i] -= 2
            bits[i - 1] += 1
            bits[j + 1] += 2
            bits[j] -= 1
    i = 16
    while bits[i] == 0:
        i -= 1
    bits[i] -= 1
    values = [s for size in range(1, 33) for s in range(256) if codesize[s] == size]
    return tuple(bits[1:17]), tuple(values)


def _fibonacci(n: int) -> list[int]:
    found = [1, 1]
    while len(found) < n:
        found.append(found[-1] + found[-2])
    return found[:n]


@settings(max_examples=300)
@given(st.lists(st.integers(0, 6), min_size=256, max_size=256)
       | st.lists(st.integers(0, 1 << 24), min_size=256, max_size=256)
       | st.lists(st.sampled_from([0, 0, 0, 1, 2, 1000, 1001]), min_size=256, max_size=256),
       st.sampled_from(["none", "dc", "ac"]))
def test_optimal_tables_are_libjpegs(counts, legal) -> None:
    """``tables.optimal_spec`` (the two least frequent trees popped from a heap) gives the
    code lengths and symbol order of libjpeg's scans, on ties (many equal counts) too."""
    legal = {"none": (), "dc": tables.LEGAL_DC, "ac": tables.LEGAL_AC}[legal]
    assume(legal or any(counts))  # a table of no symbol: not one the encoder asks for
    assert tables.optimal_spec(counts, legal) == _libjpeg_optimal_spec(counts, legal)


@pytest.mark.parametrize("counts", [
    _fibonacci(40) + [0] * 216,              # lengths past 16 bits, limited (K.3)
    [0] * 256,                               # nothing counted: the legal symbols only
    [0] * 255 + [5],                         # one symbol
    [7] * 256,                               # every count tied
], ids=["fibonacci", "none", "one", "tied"])
def test_optimal_tables_are_libjpegs_at_the_edges(counts) -> None:
    for legal in ((), tables.LEGAL_DC, tables.LEGAL_AC)[0 if any(counts) else 1:]:
        assert tables.optimal_spec(counts, legal) == _libjpeg_optimal_spec(counts, legal)
    bits, values = tables.optimal_spec(counts, tables.LEGAL_AC)
    assert len(bits) == 16 and sum(bits) == len(values)


#: transpiled/huffman.py run as plain Python
HUFFMAN_SOURCE = transpiled.source("huffman")


@settings(max_examples=200)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=300)
       | st.lists(st.integers(0, 1 << 40), min_size=1, max_size=300)
       | st.lists(st.sampled_from([0, 0, 1, 1, 2, 7, 1 << 33]), min_size=1, max_size=300))
def test_compiled_code_sizes_are_the_python_sources(freq) -> None:
    """The built ``huffman.code_sizes`` (``tables.optimal_spec``'s) gives the code sizes and
    longest size of transpiled/huffman.py run as Python, ties and sums past 2**42 included."""
    freq = np.array(freq, np.int64)
    built, plain = np.full(len(freq), -1, np.int32), np.full(len(freq), -1, np.int32)
    assert engine.huffman.code_sizes(freq, built) == HUFFMAN_SOURCE.code_sizes(freq, plain)
    assert built.tolist() == plain.tolist()
    assert engine.huffman.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


@settings(max_examples=200)
@given(st.lists(st.integers(0, 3), min_size=256, max_size=256)
       | st.lists(st.integers(0, 1 << 30), min_size=256, max_size=256)
       | st.lists(st.sampled_from([0, 0, 1, 1, 2, 7, 1 << 24]), min_size=256, max_size=256))
def test_compiled_spec_of_sizes_is_the_python_source_and_libjpegs_limit(freq) -> None:
    """The built ``huffman.spec_of_sizes`` gives what transpiled/huffman.py run as Python
    gives, and libjpeg's limit to 16 bits and order (``_limited_spec``), on the code sizes of
    generated counts (past 16 bits too)."""
    freq = np.array(freq + [1], np.int64)
    if not freq[:256].any():
        freq[0] = 1
    sizes = np.zeros(257, np.int32)
    assume(engine.huffman.code_sizes(freq, sizes) <= 32)
    results = []
    for module in (engine.huffman, HUFFMAN_SOURCE):
        bits, values = np.zeros(16, np.int64), np.zeros(256, np.int64)
        count = module.spec_of_sizes(sizes, bits, values)
        results.append((tuple(bits.tolist()), tuple(values[:count].tolist())))
    assert results[0] == results[1] == _limited_spec(sizes.tolist())


def test_optimal_tables_of_counts_deeper_than_32_bits_are_valid() -> None:
    """Counts skewed past libjpeg's 32-bit code sizes (a Fibonacci sequence over 60 symbols
    and the legal AC symbols: 34 bits, where libjpeg stops with "Huffman code size table
    overflow") still give a table: every counted and legal symbol a code of at most 16 bits,
    and the code complete but for the reserved all-ones code."""
    counts = _fibonacci(60) + [0] * 196
    bits, values = tables.optimal_spec(counts, tables.LEGAL_AC)
    assert len(bits) == 16 and sum(bits) == len(values) == len(set(values))
    assert set(values) == {s for s, c in enumerate(counts) if c} | set(tables.LEGAL_AC)
    kraft = sum(n * 2 ** (16 - length) for length, n in enumerate(bits, 1))
    assert kraft == 2 ** 16 - 1
