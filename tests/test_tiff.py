"""TIFF sources: every flavour converts, close to tifffile's own reading, strictly valid."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from jpegtools import assert_strictly_valid, psnr, require_tools
from PIL import Image

import pillow_streamjpeg

tifffile = pytest.importorskip("tifffile")
pytest.importorskip("zarr")
pytest.importorskip("imagecodecs")

H, W = 301, 263


def _rgb(height=H, width=W, seed=3):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 2) % 256, (y * 3) % 256, (x + 2 * y) % 256], -1)
    return np.clip(base + rng.integers(0, 16, base.shape), 0, 255).astype(np.uint8)


def _encode(source, **options) -> bytes:
    """The JPEG of a source; without the TIFF's metadata (tested in test_tiff_wiring.py),
    so that its bytes compare with an array's."""
    options.setdefault("strip", True)
    out = io.BytesIO()
    pillow_streamjpeg.encode(source, out, **options)
    return out.getvalue()


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def _djpeg_strict(data: bytes) -> None:
    require_tools("djpeg")
    run = subprocess.run(["djpeg", "-strict", "-outfile", os.devnull], input=data,
                         capture_output=True)
    assert run.returncode == 0 and run.stderr == b"", run.stderr


def _check(path, expected, bound=44.0, **options):
    data = _encode(path, **options)
    assert_strictly_valid(data)
    got = _decoded(data)
    assert got.shape == expected.shape
    assert psnr(expected, got) > bound
    return data


RGB = _rgb()

FLAVOURS = {
    "striped_raw": dict(rowsperstrip=16),
    "one_strip_raw": dict(),
    "odd_strips_raw": dict(rowsperstrip=7),
    "lzw": dict(compression="lzw"),
    "lzw_predictor": dict(compression="lzw", predictor=True),
    "deflate": dict(compression="deflate", rowsperstrip=30),
    "zstd": dict(compression="zstd"),
    "packbits": dict(compression="packbits"),
    "jpeg": dict(compression="jpeg"),
    "tiled_deflate": dict(tile=(64, 64), compression="deflate", predictor=True),
    "tiled_raw": dict(tile=(32, 48)),
    "bigtiff": dict(bigtiff=True, rowsperstrip=9),
    "big_endian": dict(byteorder=">", compression="deflate"),
}


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_rgb_flavours(tmp_path, flavour):
    path = tmp_path / f"{flavour}.tif"
    tifffile.imwrite(path, RGB, photometric="rgb", **FLAVOURS[flavour])
    expected = tifffile.imread(path)  # JPEG-compressed files differ from RGB slightly
    data = _check(path, expected)
    if flavour != "jpeg":  # same pixels as the array itself
        assert data == _encode(RGB)


def test_planar_separate(tmp_path):
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, np.moveaxis(RGB, -1, 0), photometric="rgb", planarconfig="separate",
                     compression="lzw", rowsperstrip=20)
    assert _check(path, RGB) == _encode(RGB)
    raw = tmp_path / "planar_raw.tif"
    tifffile.imwrite(raw, np.moveaxis(RGB, -1, 0), photometric="rgb", planarconfig="separate")
    assert _encode(raw) == _encode(RGB)


def test_grey_and_16_bit(tmp_path):
    grey = RGB[..., 1]
    tifffile.imwrite(tmp_path / "g8.tif", grey, compression="deflate")
    assert _check(tmp_path / "g8.tif", grey) == _encode(grey)
    rng = np.random.default_rng(0)
    g16 = (grey.astype(np.uint16) * 257 + rng.integers(-128, 128, grey.shape)).clip(0, 65535)
    g16 = g16.astype(np.uint16)
    expected = ((g16.astype(np.uint32) + 128) // 257).astype(np.uint8)  # round(v * 255 / 65535)
    for name, extra in (("g16.tif", {}), ("g16be.tif", {"byteorder": ">"}),
                        ("g16z.tif", {"compression": "zstd"})):
        tifffile.imwrite(tmp_path / name, g16, **extra)
        assert _encode(tmp_path / name) == _encode(expected), name
    rgb16 = RGB.astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "rgb16.tif", rgb16, photometric="rgb", compression="lzw")
    assert _encode(tmp_path / "rgb16.tif") == _encode(RGB)


def test_12_and_1_bit(tmp_path):
    grey = RGB[..., 0]
    bits = grey > 128
    tifffile.imwrite(tmp_path / "bilevel.tif", bits, photometric="minisblack")
    assert _encode(tmp_path / "bilevel.tif") == _encode(np.where(bits, 255, 0).astype(np.uint8))
    tifffile.imwrite(tmp_path / "bilevel_w.tif", bits, photometric="miniswhite", compression="packbits")
    assert _encode(tmp_path / "bilevel_w.tif") == _encode(np.where(bits, 0, 255).astype(np.uint8))
    g12 = (grey.astype(np.uint16) * 16)
    tifffile.imwrite(tmp_path / "g12.tif", g12, bitspersample=12)  # packed, uncompressed
    expected = ((g12.astype(np.int64) * 510 + 4095) // 8190).astype(np.uint8)
    assert _encode(tmp_path / "g12.tif", range="full") == _encode(expected)
    low, high = int(g12.min()), int(g12.max())  # auto: the data's own range (every strip read)
    stretched = np.floor((g12 - low) * (255 / (high - low)) + 0.5).astype(np.uint8)
    assert _encode(tmp_path / "g12.tif") == _encode(stretched)


def test_miniswhite_inverted(tmp_path):
    grey = RGB[..., 2]
    tifffile.imwrite(tmp_path / "w.tif", grey, photometric="miniswhite", compression="lzw")
    assert _encode(tmp_path / "w.tif") == _encode(255 - grey)


def test_palette_to_rgb(tmp_path):
    index = RGB[..., 0]
    cmap = np.zeros((3, 256), np.uint16)
    cmap[0] = np.arange(256) * 257
    cmap[1] = (255 - np.arange(256)) * 257
    cmap[2] = (np.arange(256) // 2) * 257
    tifffile.imwrite(tmp_path / "p.tif", index, photometric="palette", colormap=cmap,
                     compression="deflate")
    expected = (cmap.T[index] // 257).astype(np.uint8)
    assert _check(tmp_path / "p.tif", expected) == _encode(expected)


def test_alpha_and_extra_samples_dropped(tmp_path):  # associated alpha un-premultiplied
    rgba = np.dstack([RGB, RGB[..., :1] // 2])
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    assert _encode(tmp_path / "a.tif") == _encode(RGB)
    five = np.dstack([RGB, RGB[..., :2]])
    tifffile.imwrite(tmp_path / "e.tif", five, photometric="rgb", extrasamples=[0, 0],
                     compression="lzw")
    assert _encode(tmp_path / "e.tif") == _encode(RGB)
    la = np.dstack([RGB[..., 0], RGB[..., 1]])
    tifffile.imwrite(tmp_path / "la.tif", la, photometric="minisblack", extrasamples=["assocalpha"])
    # as Pillow reads premultiplied samples (its RGBa unpacker), on grey in every channel
    grey_a = np.dstack([la[..., 0]] * 3 + [la[..., 1]])
    straight = Image.frombytes("RGBA", (W, H), grey_a.tobytes(), "raw", "RGBa")
    assert _encode(tmp_path / "la.tif") == _encode(np.asarray(straight)[..., 0])


def test_pages_series_levels_and_tifffile(tmp_path):
    path = tmp_path / "pyramid.ome.tif"
    small = RGB[::2, ::2].copy()
    with tifffile.TiffWriter(path, bigtiff=True, ome=True) as tif:
        tif.write(RGB, subifds=1, tile=(64, 64), compression="deflate", photometric="rgb")
        tif.write(small, subfiletype=1, tile=(64, 64), compression="deflate", photometric="rgb")
        tif.write(RGB[..., 0].copy(), compression="zstd")  # a second series
    assert _encode(path) == _encode(RGB)
    assert _encode(path, level=1) == _encode(small)
    assert _encode(path, series=1) == _encode(RGB[..., 0])
    assert _encode(path, page=1) == _encode(RGB[..., 0])
    with tifffile.TiffFile(path) as tif:
        assert _encode(tif, series=0, level=1) == _encode(small)
        assert not tif.filehandle.closed  # a TiffFile passed in is left open
    with pytest.raises(ValueError, match="no level 2"):
        _encode(path, level=2)
    with pytest.raises(ValueError, match="no series 5"):
        _encode(path, series=5)
    with pytest.raises(ValueError, match="not both"):
        _encode(path, page=0, level=1)


def test_svs_like_jpeg_pyramid(tmp_path):
    """Aperio layout: tiled JPEG baseline, a striped thumbnail, then tiled JPEG levels."""
    path = tmp_path / "slide.svs"
    level1 = RGB[::4, ::4].copy()
    with tifffile.TiffWriter(path) as tif:
        tif.write(RGB, tile=(64, 64), compression="jpeg", photometric="rgb",
                  description="Aperio Image Library v10.0.50\n263x301 [0,0 263x301] (64x64) JPEG/RGB Q=70|AppMag = 20",
                  metadata=None)
        tif.write(RGB[::8, ::8].copy(), compression="jpeg", photometric="rgb", metadata=None)
        tif.write(level1, tile=(16, 16), compression="jpeg", photometric="rgb", metadata=None)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_svs
        expected = tif.series[0].levels[1].asarray()
    _check(path, expected, level=1)
    _check(path, tifffile.imread(path), bound=40)


def test_multi_page_pick(tmp_path):
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tif:
        for k in range(3):
            tif.write(np.roll(RGB, 40 * k, axis=0), photometric="rgb", compression="lzw")
    assert _encode(path) == _encode(RGB)
    assert _encode(path, page=2) == _encode(np.roll(RGB, 80, axis=0))
    with pytest.raises(ValueError, match="no page 3"):
        _encode(path, page=3)


def test_cmyk(tmp_path):
    cmyk = np.dstack([RGB, RGB[..., :1]])
    path = tmp_path / "cmyk.tif"
    tifffile.imwrite(path, cmyk, photometric="separated", compression="lzw")
    data = _encode(path)
    _djpeg_strict(data)  # jpeginfo -c cannot convert CMYK ("Unsupported color conversion")
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.mode == "CMYK"
        assert psnr(cmyk, np.asarray(decoded)) > 40


@pytest.mark.parametrize(
    ("dtype", "extra", "message"),
    [
        (np.complex64, {}, "not supported: 64-bit complex"),
        (np.uint64, {}, "not supported: 64-bit unsigned"),
        (np.int64, {}, "not supported: 64-bit signed"),
    ],
)
def test_unsupported_samples(tmp_path, dtype, extra, message):
    path = tmp_path / "bad.tif"
    tifffile.imwrite(path, np.zeros((16, 16), dtype), **extra)
    with pytest.raises(ValueError, match=message) as info:
        _encode(path)
    assert "bad.tif" in str(info.value)


def test_unsupported_layouts(tmp_path):
    path = tmp_path / "lab.tif"
    tifffile.imwrite(path, RGB, photometric="cielab")
    with pytest.raises(ValueError, match="CIELab"):
        _encode(path)
    tifffile.imwrite(path, np.zeros((16, 16, 4), np.uint8), photometric="separated",
                     extratags=[(332, "H", 1, 2, True)])  # InkSet: not CMYK
    with pytest.raises(ValueError, match="Separated"):
        _encode(path)


TALL = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tifffile
    path, kind = sys.argv[1], sys.argv[2]
    w, h = 4000, 60000
    shape = (h, w, 3)
    band = 1200
    def bands():
        y = np.arange(band, dtype=np.uint8)[:, None, None]
        for top in range(0, h, band):
            yield np.broadcast_to((y + top // band) ^ np.arange(w, dtype=np.uint8)[None, :, None], (band, w, 3))
    if kind == "raw":
        tifffile.imwrite(path, bands(), shape=shape, dtype=np.uint8, photometric="rgb",
                         rowsperstrip=band)
    else:
        def tiles():
            for band in bands():
                for part in range(0, band.shape[0], 240):
                    rows = band[part:part + 240]
                    for left in range(0, w, 160):
                        yield np.ascontiguousarray(rows[:, left:left + 160])
        tifffile.imwrite(path, tiles(), shape=shape, dtype=np.uint8, photometric="rgb",
                         tile=(240, 160), compression="zstd", maxworkers=1)
    """
)

def test_empty_tiles_read_as_zeros(tmp_path):
    """Tiles without data (offset and byte count 0) are black, also in tile rows
    decoded into a buffer an earlier tile row used."""
    th, tw = 32, 48
    empty = {(1, 1), (3, 0), (4, 2), (H // th, W // tw)}  # (tile row, tile column)

    def tiles():
        for row in range(-(-H // th)):
            for col in range(-(-W // tw)):
                if (row, col) in empty:
                    yield None
                    continue
                tile = np.zeros((th, tw, 3), np.uint8)
                part = RGB[row * th:(row + 1) * th, col * tw:(col + 1) * tw]
                tile[:part.shape[0], :part.shape[1]] = part
                yield tile

    for compression in (None, "deflate"):
        path = tmp_path / f"sparse_{compression}.tif"
        tifffile.imwrite(path, tiles(), shape=RGB.shape, dtype=np.uint8, tile=(th, tw),
                         photometric="rgb", compression=compression)
        with tifffile.TiffFile(path) as tif:
            assert sum(count == 0 for count in tif.pages[0].databytecounts) == len(empty)
        expected = tifffile.imread(path)
        assert (expected[th:2 * th, tw:2 * tw] == 0).all() and (expected[:th] == RGB[:th]).all()
        assert _check(path, expected) == _encode(expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("layout", [dict(tile=(64, 64)), dict(rowsperstrip=64)])
def test_segments_missing_from_the_lists_read_as_zeros(tmp_path, dtype, layout):
    """A corrupt file whose offset and byte-count lists stop early: the rows they
    miss are black, as tifffile reads them, not left over from an earlier band."""
    import struct

    value = np.iinfo(dtype).max
    pixels = np.full((64 * 9, 64, 3), value // 2, dtype)
    pixels[:64] = value
    path = tmp_path / "short_lists.tif"
    tifffile.imwrite(path, pixels, photometric="rgb", compression="deflate", **layout)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        names = ("TileOffsets", "TileByteCounts") if page.is_tiled else ("StripOffsets", "StripByteCounts")
        for name in names:  # the entry's count field, in a little-endian classic TIFF
            struct.pack_into("<I", data, page.tags[name].offset + 4, 8)
    path.write_bytes(bytes(data))
    expected = tifffile.imread(path)
    assert (expected[512:] == 0).all() and (expected[:64] == value).all()
    got = _decoded(_check(path, (expected >> 8).astype(np.uint8) if dtype == np.uint16 else expected))
    assert got[512:].max() <= 2  # black, give or take the JPEG's rounding


@pytest.mark.parametrize("optimize", [False, True])
def test_tile_rows_shared_by_concurrent_tasks(tmp_path, optimize):
    """Tile rows wider than a task: two threads encode parts of one row and give
    back its pages as they go; the file is the one the array itself makes."""
    pixels = _rgb(600, 2048, seed=5)
    path = tmp_path / "wide.tif"
    tifffile.imwrite(path, pixels, photometric="rgb", tile=(256, 256), compression="zstd")
    data = _encode(path, workers=2, optimize=optimize)
    assert data == _encode(pixels, workers=1, optimize=optimize)
    assert_strictly_valid(data)


ENCODE = textwrap.dedent(
    """
    import sys
    import pillow_streamjpeg
    def peak():  # VmHWM: this process's own high-water mark (ru_maxrss would include
        # the parent's at the fork)
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    before = peak()
    pillow_streamjpeg.encode(sys.argv[1], sys.argv[1] + ".jpg", quality=90)
    print(before // 1024, peak() // 1024)
    """
)


@pytest.mark.parametrize("kind", ["raw", "tiled_zstd"])
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_tall_tiff_bounded_memory(tmp_path, kind):
    """A 4000 x 60000 RGB TIFF (720 MB of pixels) converts in a small fraction of that."""
    path = str(tmp_path / "tall.tif")
    run = subprocess.run([sys.executable, "-c", TALL, path, kind], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    # a fresh process, so that writing the file does not count
    run = subprocess.run([sys.executable, "-c", ENCODE, path], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    before, after = map(int, run.stdout.split())
    assert after < 130, f"peak RSS {after} MiB (after imports: {before} MiB)"
    print(f"peak RSS {after} MiB, {before} MiB after imports")
    with open(path + ".jpg", "rb") as out:
        head = out.read(1 << 16)
    sof = head.index(b"\xff\xc0")
    assert head[sof + 5:sof + 9] == bytes([60000 >> 8, 60000 & 255, 4000 >> 8, 4000 & 255])
    os.unlink(path)


def test_gdal_nodata_is_left_out_of_the_automatic_range(tmp_path) -> None:
    """A DEM whose border is GDAL_NODATA (-9999): the terrain takes the whole grey scale,
    as in GDAL and QGIS; the no-data border renders black (below the window). Without the
    tag (as before 2026-12-02) the border's value pulled the window down and the terrain
    came out nearly white."""
    dem = np.linspace(0, 3000, 160 * 200, dtype=np.float32).reshape(160, 200)
    dem[:24] = -9999
    dem[:, :24] = -9999
    tagged, plain = tmp_path / "tagged.tif", tmp_path / "plain.tif"
    tifffile.imwrite(tagged, dem, extratags=[(42113, "s", 0, "-9999", True)])
    tifffile.imwrite(plain, dem)
    for path, darkest in ((tagged, 2), (plain, 150)):
        out = io.BytesIO()
        pillow_streamjpeg.encode(path, out)
        terrain = np.asarray(Image.open(out))[24:, 24:]
        assert (terrain.min() <= darkest) == (path == tagged) and terrain.max() >= 253
    out = io.BytesIO()
    pillow_streamjpeg.encode(tagged, out)
    assert np.asarray(Image.open(out))[:16, :16].max() <= 2


@pytest.mark.parametrize("compression", [None, "zlib"])  # rows read by offset, or chunks
def test_associated_alpha_range_is_taken_from_straight_colours(tmp_path, compression) -> None:
    """16-bit RGB with associated alpha ramping 0 to full: the automatic range is that of the
    straight (un-premultiplied) colours the image shows, 20000..50000, not of the
    premultiplied samples (down to 0 where alpha is): 37 dB against the straight window
    until 2026-12-02."""
    rng = np.random.default_rng(0)
    straight = rng.integers(20000, 50001, (64, 96, 3)).astype(np.float64)
    alpha = np.tile(np.linspace(0, 65535, 96), (64, 1))
    premultiplied = np.round(straight * alpha[..., None] / 65535).astype(np.uint16)
    path = tmp_path / "alpha16.tif"
    tifffile.imwrite(path, np.concatenate([premultiplied, alpha[..., None].astype(np.uint16)], -1),
                     photometric="rgb", extrasamples=[1], compression=compression)
    out = io.BytesIO()
    pillow_streamjpeg.encode(path, out)
    decoded = np.asarray(Image.open(out)).astype(np.float64)
    reference = (straight - 20000) * 255 / 30000
    seen = alpha > 1000  # where the straight colour is well defined
    mse = np.mean((decoded[seen] - reference[seen]) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 45
