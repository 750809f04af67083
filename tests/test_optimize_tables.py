"""optimize=True's Huffman tables on small images: codes for exactly the symbols of the scan.

Images of at most ``scan.READ_BACK_PIXELS`` pixels are coded once with a code of every legal
symbol, their symbols read back from the bytes (``huffman.scan_counts``) and written again
with the optimal tables of those counts (``huffman.scan_recode``), as libjpeg's tables are;
larger ones count a sample of strips and give every legal symbol a code
(tests/test_strip_writer.py).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import transpiled
from jpegtools import assert_strictly_valid, huffman_specs, parse_segments, require_tools
from pillow_streamjpeg import engine, huffman, options, scan, tables
from scansymbols import scan_symbols

SOURCE = transpiled.source("huffman")


def save(image: Image.Image, fmt: str = "STREAMJPEG", **params) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def declared(data: bytes) -> dict[tuple[int, int], set[int]]:
    """{(class, id): the symbols its DHT table gives a code}."""
    return {key: set(values) for key, (_, values) in huffman_specs(data).items()}


def used(data: bytes) -> dict[tuple[int, int], set[int]]:
    return {key: set(np.flatnonzero(counts).tolist()) for key, counts in scan_symbols(data).items()}


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def _crop(photos, name: str, width: int, height: int, mode: str | None = None) -> Image.Image:
    image = Image.fromarray(np.ascontiguousarray(photos[name][100:100 + height, 150:150 + width]))
    return image.convert(mode) if mode else image


def _tiled(photos, name: str, width: int, height: int) -> Image.Image:
    photo = photos[name]
    reps = (-(-height // photo.shape[0]), -(-width // photo.shape[1]), 1)
    return Image.fromarray(np.ascontiguousarray(np.tile(photo, reps)[:height, :width]))


def _ramp(width: int, height: int) -> Image.Image:
    ramp = (np.add.outer(np.arange(height), np.arange(width)) * 255 // (width + height)).astype(np.uint8)
    return Image.fromarray(ramp)


def _checker(size: int) -> Image.Image:
    cells = (np.add.outer(np.arange(size) // 4, np.arange(size) // 4) % 2 * 200 + 20).astype(np.uint8)
    return Image.fromarray(np.dstack([cells, 255 - cells, cells // 2]))


CASES = {
    # the default's choices: the search and libjpeg's coefficients (small), the joint rounding
    "rgb 4:4:4 q90": (lambda p: _crop(p, "astronaut", 50, 40), {"quality": 90}),
    "rgb 4:4:4 tiny": (lambda p: _crop(p, "astronaut", 7, 5), {"quality": 90}),
    "rgb 4:2:0 q75": (lambda p: _crop(p, "chelsea", 130, 67), {"quality": 75, "subsampling": 2}),
    "rgb 4:2:2 q95": (lambda p: _crop(p, "coffee", 61, 90), {"quality": 95, "subsampling": 1}),
    "grey q100": (lambda p: _crop(p, "camera", 120, 120), {}),
    "grey restarts": (lambda p: _crop(p, "camera", 100, 100),
                      {"quality": 80, "restart_marker_blocks": 5}),
    # four tasks (``_split``: scan.TASK_PIXELS made smaller) on two threads, an interval
    # each 7 MCUs, which cross rows and tasks
    "rgb, tasks on 2 workers": (lambda p: _tiled(p, "rocket", 300, 50),
                                  {"quality": 85, "restart_marker_blocks": 7, "workers": 2}),
    "refine=1": (lambda p: _crop(p, "astronaut", 64, 48), {"quality": 90, "refine": 1}),
    "refine=0 4:2:0": (lambda p: _crop(p, "coffee", 64, 48), {"quality": 50, "subsampling": 2,
                                                              "refine": 0}),
    "ramp q100 (smooth blocks)": (lambda p: _ramp(128, 120), {"quality": 100}),
    "checker 4:2:2 (marked MCUs)": (lambda p: _checker(128), {"quality": 90, "subsampling": 1}),
    "CMYK": (lambda p: _crop(p, "chelsea", 40, 30, "CMYK"), {"quality": 90}),
    "keep_rgb": (lambda p: _crop(p, "chelsea", 40, 30), {"quality": 90, "keep_rgb": True}),
    "three tables": (lambda p: _crop(p, "coffee", 40, 30),
                     {"qtables": [[2] * 64, [3] * 64, [5] * 64]}),
}


def _split(monkeypatch, case: str) -> None:
    """Tasks of two strips for the case that names them (a small image is one task)."""
    if "tasks" in case:
        monkeypatch.setattr(scan, "TASK_PIXELS", 2 * 8 * 300)


@pytest.mark.parametrize("case", CASES)
def test_small_images_tables_code_exactly_the_scans_symbols(photos, monkeypatch, case) -> None:
    """Every table gives a code to the symbols its scan uses and to no other (libjpeg's
    tables are so); the file is strictly valid and decodes to the pixels of optimize=False."""
    require_tools("djpeg", "jpeginfo")
    _split(monkeypatch, case)
    make, params = CASES[case]
    image = make(photos)
    assert scan.read_back(options.parse(image.mode, image.size, dict(params),
                                        channels=len(image.getbands())))
    data = save(image, optimize=True, **params)
    assert_strictly_valid(data)
    assert declared(data) == used(data)
    plain = save(image, **params)
    assert np.array_equal(decoded(data), decoded(plain))
    assert len(data) < len(plain)


@pytest.mark.parametrize("mode, subsampling", [("L", 0), ("RGB", 0), ("RGB", 2)])
@pytest.mark.parametrize("size", [8, 16, 33, 64])
def test_small_optimized_files_gain_what_pillows_do(photos, mode, subsampling, size) -> None:
    """optimize=True takes as large a share off a small photo crop's file as off Pillow's (it
    made them larger while every legal symbol had a code: 16 x 16 files 1.8x to 2x Pillow's);
    the file is smaller than Pillow's but at 4:2:0, whose coefficients differ (files not
    optimized are 0.98x to 1.04x Pillow's there)."""
    image = _crop(photos, "camera" if mode == "L" else "astronaut", size, size)
    for quality in (90, 75):
        params = {"quality": quality, "subsampling": subsampling}
        ours, theirs = save(image, optimize=True, **params), save(image, "JPEG", optimize=True,
                                                                  **params)
        share = len(ours) / len(save(image, **params))
        assert share <= len(theirs) / len(save(image, "JPEG", **params)) + 0.01, quality
        if not subsampling:
            assert len(ours) < len(theirs), (quality, len(ours), len(theirs))


def test_larger_images_give_every_legal_symbol_a_code(photos) -> None:
    """Above ``READ_BACK_PIXELS`` the tables still come from a sample of strips: every legal
    symbol has a code."""
    image = Image.fromarray(np.ascontiguousarray(np.tile(photos["astronaut"], (1, 2, 1))[:, :640]))
    assert not scan.read_back(options.parse("RGB", image.size, {}, channels=3))
    codes = declared(save(image, optimize=True, quality=90))
    assert codes[0, 0] >= set(tables.LEGAL_DC) and codes[1, 1] >= set(tables.LEGAL_AC)


@pytest.mark.parametrize("case", CASES)
def test_the_symbols_written_again_are_the_bytes_the_kernels_code(photos, monkeypatch,
                                                                  case) -> None:
    """``huffman.scan_recode``'s scan (the first coding's symbols with the tables of their
    counts) is the one the kernels code with those tables, byte for byte: restart markers,
    padding and stuffing included."""
    _split(monkeypatch, case)
    make, params = CASES[case]
    image = make(photos)
    calls = []
    real = scan.exactly_optimized

    def spy(settings, backend, report=None):
        result = real(settings, backend, report)
        calls.append((backend, result))
        return result

    monkeypatch.setattr(scan, "exactly_optimized", spy)
    save(image, optimize=True, **params)
    ((backend, (exact, (recoded,))),) = calls
    assert b"".join(scan._coded(exact, backend)) == recoded


class _Failing:
    """The huffman module with one of its scan functions failing (-1)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, name: str):
        return (lambda *args: -1) if name == self.name else getattr(huffman, name)


@pytest.mark.parametrize("which", ["scan_counts", "scan_recode"])
def test_a_scan_that_does_not_read_back_is_coded_with_every_symbol(photos, monkeypatch,
                                                                   which) -> None:
    """Were the first coding not readable, or its symbols not writable again (never seen),
    the image is coded as larger ones are: every legal symbol a code, a valid file of the
    same pixels."""
    require_tools("djpeg", "jpeginfo")
    image = _crop(photos, "astronaut", 40, 24)
    exact = save(image, optimize=True)
    monkeypatch.setattr(engine, "huffman", _Failing(which))
    safe = save(image, optimize=True)
    assert_strictly_valid(safe)
    assert declared(safe)[1, 0] >= set(tables.LEGAL_AC)
    assert np.array_equal(decoded(safe), decoded(exact))
    assert len(safe) > len(exact)


def test_scan_writer_build_is_its_source(photos) -> None:
    """``scan_recode`` compiled writes what its Python source writes, from the symbols that
    ``scan_counts`` read of our files (restart intervals, three table sets)."""
    image = _crop(photos, "chelsea", 70, 45)
    for params in ({"quality": 90, "restart_marker_blocks": 3, "subsampling": 2},
                   {"qtables": [[2] * 64, [3] * 64, [5] * 64]}, {"quality": 40}):
        data = save(image, **params)
        segments, _, body = parse_segments(data)
        settings = options.parse("RGB", image.size, dict(params), channels=3)
        reading = tables.reading_specs([spec for t in settings.huffman_ids
                                        for spec in settings.huffman[t]])
        counts = np.zeros((2 * len(settings.qtables), 256), np.int64)
        symbols = np.zeros(2 * len(body) + 8, np.int32)
        count = huffman.scan_counts(np.frombuffer(body, np.uint8), *reading,
                                    *scan._scan_frame(settings), counts, symbols)
        assert count > 0
        exact = scan.optimized(settings, counts, legal=False)
        outs = [np.zeros(8 * count + 8, np.uint8) for _ in range(2)]
        written = [module.scan_recode(symbols, count, scan._codes(exact), out)
                   for module, out in zip((huffman, SOURCE), outs)]
        assert written[0] == written[1] > 0
        assert np.array_equal(outs[0], outs[1])


def test_scan_reader_refuses_short_or_damaged_data_and_tables() -> None:
    """Bytes that end inside a symbol, or a DHT of more codes than its lengths hold: -1 from
    the build and the source alike (the source read past its data before)."""
    reading = tables.reading_specs(list(tables.COUNTING_SPECS))
    order = np.zeros(1, np.int64)
    rng = np.random.default_rng(11)
    for _ in range(3000):
        data = rng.integers(0, 256, rng.integers(1, 6), dtype=np.uint8)
        results = [module.scan_counts(data, *reading, order, 1, 0, np.zeros((2, 256), np.int64),
                                      np.zeros(0, np.int32)) for module in (huffman, SOURCE)]
        assert results[0] == results[1]
    bits, huffval = tables.reading_specs([((3,) + (0,) * 15, (0, 1, 2)),
                                          tables.COUNTING_SPECS[1]])
    for module in (huffman, SOURCE):
        assert module.scan_counts(np.zeros(4, np.uint8), bits, huffval, order, 1, 0,
                                  np.zeros((2, 256), np.int64), np.zeros(0, np.int32)) == -1


def test_scan_reader_build_is_its_source(photos) -> None:
    """``scan_counts`` compiled reads what its Python source reads, of ours and Pillow's files,
    damaged ones too (-1 both)."""
    image = _crop(photos, "coffee", 70, 45)
    files = [save(image, "JPEG", quality=q, subsampling=s, optimize=o, restart_marker_blocks=r)
             for q, s, o, r in ((90, 2, True, 0), (75, 1, False, 3), (100, 0, False, 0))]
    files += [save(image, quality=90, optimize=True), save(image, quality=70, restart_marker_blocks=2)]
    for data in files:
        built, source = scan_symbols(data, huffman), scan_symbols(data, SOURCE)
        assert built.keys() == source.keys()
        assert all(np.array_equal(built[k], source[k]) for k in built)
    rng = np.random.default_rng(5)
    for data in files:
        segments, _, body = parse_segments(data)
        for _ in range(20):
            damaged = bytearray(body)
            damaged[rng.integers(len(damaged))] = rng.integers(256)
            results = []
            for module in (huffman, SOURCE):
                try:
                    results.append(scan_symbols(data[:len(data) - len(body) - 2] + bytes(damaged)
                                                + b"\xff\xd9", module))
                except AssertionError:
                    results.append(None)
            if results[0] is None or results[1] is None:
                assert results[0] is results[1] is None
            else:
                assert all(np.array_equal(results[0][k], results[1][k]) for k in results[0])
