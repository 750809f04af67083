"""TIFF rows read by the encoding threads (tiles and compressed strips decoded, uncompressed
strips read by offset): the same bytes, one band in memory."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

import pillow_streamjpeg
from pillow_streamjpeg import errors
from pillow_streamjpeg.sources import DeferredBand, TiffSource
from pillow_streamjpeg.sources import tiff as tiff_source
from codingthreads import CodingThreads

tifffile = pytest.importorskip("tifffile")
pytest.importorskip("imagecodecs")

H, W = 1000, 203  # bands of 256 rows: four, the last one short


def _rgb(height=H, width=W, seed=7):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 3) % 256, (y * 2) % 256, (x + y) % 256], -1)
    return np.clip(base + rng.integers(0, 24, base.shape), 0, 255).astype(np.uint8)


RGB = _rgb()

#: (pixels, tifffile.imwrite options) of files read segment by segment
FILES = {
    "tiled_deflate": (RGB, dict(photometric="rgb", tile=(64, 64), compression="deflate",
                                predictor=True)),
    "tiled_jpeg": (RGB, dict(photometric="rgb", tile=(128, 128), compression="jpeg")),
    "lzw_strips": (RGB, dict(photometric="rgb", compression="lzw", rowsperstrip=32)),
    "rgba_zstd_tiles": (np.dstack([RGB, RGB[..., :1]]),
                        dict(photometric="rgb", extrasamples=[2], tile=(256, 64),
                             compression="zstd")),
    "grey16_tiles": ((RGB[..., 0].astype(np.uint16) * 257 + 3),
                     dict(photometric="minisblack", tile=(64, 128), compression="deflate")),
    "palette_strips": (RGB[..., 1], dict(photometric="palette", rowsperstrip=64,
                                         compression="deflate",
                                         colormap=np.stack([np.arange(256, dtype=np.uint16) * 257,
                                                            (255 - np.arange(256, dtype=np.uint16)) * 257,
                                                            np.full(256, 1000, np.uint16)]))),
}


def _write(tmp_path, name):
    pixels, options = FILES[name]
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, pixels, **options)
    return path


def _encode(path, **options) -> bytes:
    out = io.BytesIO()
    pillow_streamjpeg.encode(path, out, strip=True, **options)
    return out.getvalue()


def _count_blocks(monkeypatch) -> list[int]:
    """The id of the memory block of every band buffer taken from now on."""
    blocks = []

    class Counted(tiff_source._BandBuffers):
        def take(self, band, shape, dtype, **kwargs):
            array = super().take(band, shape, dtype, **kwargs)
            block = array.base
            while block.base is not None:
                block = block.base
            blocks.append(id(block))
            return array

    monkeypatch.setattr(tiff_source, "_BandBuffers", Counted)
    return blocks


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_same_bytes_as_bands_read_ahead_for_1_2_and_5_workers(tmp_path, monkeypatch, name) -> None:
    path = _write(tmp_path, name)
    with TiffSource(path) as source:
        bands = list(source.read_deferred(8))
    assert len(bands) == 4 and all(isinstance(band, DeferredBand) for band in bands)
    for options in (dict(quality=90), dict(optimize=True, subsampling="4:2:0")):
        files = {_encode(path, workers=workers, **options) for workers in (1, 2, 5)}
        with monkeypatch.context() as patch:  # the bands read ahead by read_bands
            patch.setattr(TiffSource, "read_deferred", lambda self, height: self.read_bands(height))
            files.add(_encode(path, workers=2, **options))
        assert len(files) == 1


def test_segments_are_decoded_by_the_encoding_threads_into_one_buffer(tmp_path, monkeypatch) -> None:
    """With 2 and 5 workers every segment is decoded by a thread that codes tasks (none read
    ahead for them), and a band waits for the previous band's buffer instead of taking
    another (decoding ahead meanwhile, up to STAGE_BYTES): one band's samples in memory."""
    from pillow_streamjpeg import scan

    monkeypatch.setattr(tiff_source, "BUFFER_WAIT", 600.0)  # a missed give-back fails below
    # tasks of 4 strips: an image of one task is coded on the calling thread
    monkeypatch.setattr(scan, "TASK_PIXELS", W * 8 * 4)
    path = _write(tmp_path, "tiled_deflate")
    threads = []
    real_decode = tiff_source._Segments.decode

    def decode(self, data, index):
        threads.append((threading.current_thread(), coders.coding()))
        return real_decode(self, data, index)

    blocks = _count_blocks(monkeypatch)
    monkeypatch.setattr(tiff_source._Segments, "decode", decode)
    coders = CodingThreads().watch(monkeypatch)
    expected = _encode(path, workers=1)
    assert len(blocks) == 4 and len(set(blocks)) == 1
    for workers in (2, 5):
        threads.clear()
        blocks.clear()
        coders.clear()
        assert _encode(path, workers=workers) == expected
        assert len(threads) == 16 * 4  # 16 tile rows of 4 tiles, each decoded once
        # every segment decoded inside a task, by a thread that codes tasks
        assert all(inside for _, inside in threads)
        assert {t for t, _ in threads} <= set(coders.threads)
        assert len(blocks) == 4 and len(set(blocks)) == 1


@pytest.mark.parametrize("restart", [
    {"restart_marker_blocks": 0, "restart_marker_rows": 0}, {"restart_marker_rows": 5},
    {"restart_marker_blocks": 19},
])
def test_parts_of_restart_intervals_give_the_band_buffer_back(tmp_path, monkeypatch,
                                                              restart) -> None:
    """Tasks that start inside a restart interval read the strip before them: that strip is
    released once both tasks are done with it, so bands still share one buffer."""
    from pillow_streamjpeg import scan

    monkeypatch.setattr(tiff_source, "BUFFER_WAIT", 20.0)  # a missed give-back: a new block
    monkeypatch.setattr(scan, "TASK_PIXELS", W * 8 * 3)  # tasks of 3 strips of 8 rows
    path = _write(tmp_path, "tiled_deflate")
    blocks = _count_blocks(monkeypatch)
    expected = _encode(path, workers=1, **restart)
    for workers in (1, 2, 5):
        blocks.clear()
        assert _encode(path, workers=workers, **restart) == expected
        assert len(blocks) == 4 and len(set(blocks)) == 1, workers


def test_a_band_decodes_ahead_while_the_previous_bands_buffer_is_read(tmp_path, monkeypatch) -> None:
    """A thread that needs the next band while the only buffer still holds rows being
    encoded decodes up to STAGE_BYTES of segments aside, and copies them in once the
    buffer is given back: the same buffer, the right rows."""
    monkeypatch.setattr(tiff_source, "BUFFER_WAIT", 600.0)
    monkeypatch.setattr(tiff_source, "STAGE_BYTES", 64 * 64 * 3 * 5)  # room for 5 tiles
    path = _write(tmp_path, "tiled_deflate")
    expected = tifffile.imread(path)
    with TiffSource(path) as source:
        first, second, *_ = source.read_deferred(8)
        rows = first.read(0, 8)  # this thread takes the buffer for the first band
        block = rows.base
        while block.base is not None:
            block = block.base
        got = {}
        reader = threading.Thread(target=lambda: got.update(rows=second.read(8, 8).copy()))
        reader.start()
        for _ in range(6000):  # until the reader has decoded all it may ahead
            if len(second._staged) == 5 and second._raw is None:
                break
            reader.join(0.01)
        assert len(second._staged) == 5 and second._raw is None and reader.is_alive()
        first.release(0, 256)  # every row of the first band encoded: its buffer is free
        reader.join(60)
        assert not reader.is_alive()
    np.testing.assert_array_equal(got["rows"], expected[264:272].reshape(8, -1))
    second_block = second._raw.base
    while second_block.base is not None:
        second_block = second_block.base
    assert second_block is block and second._staged == []


def test_a_damaged_segment_stops_every_thread_with_one_error(tmp_path) -> None:
    path = _write(tmp_path, "tiled_deflate")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        offset = page.dataoffsets[4 * 4 * 2 + 1]  # a tile of the third band
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(b"\x00" * 64)
    for workers in (1, 2, 5):
        with pytest.raises(errors.Damaged, match="cannot read the rows 512 to 767"):
            _encode(path, workers=workers)


@pytest.mark.parametrize("options", [dict(photometric="rgb", rowsperstrip=16),
                                     dict(photometric="rgb", byteorder=">"),
                                     dict(photometric="minisblack", rowsperstrip=5)])
def test_uncompressed_strips_are_read_by_offset_on_the_encoding_threads(tmp_path, monkeypatch,
                                                                         options) -> None:
    from pillow_streamjpeg import scan

    # tasks of 4 strips of 16 rows: an image of one task is coded on the calling thread
    monkeypatch.setattr(scan, "TASK_PIXELS", W * 16 * 4)
    path = tmp_path / "raw.tif"
    pixels = RGB if options["photometric"] == "rgb" else RGB[..., 0].astype(np.uint16) * 200
    tifffile.imwrite(path, pixels, **options)
    # 16-bit samples through a range given, so that no sample is read for an automatic one
    range_ = None if pixels.dtype == np.uint8 else "0,60000"
    with TiffSource(path) as source:
        (band,) = source.read_deferred(8)
    assert isinstance(band, tiff_source._PreadRows) and band.shape[0] == H
    del band
    threads = []
    real = tiff_source._pread_into

    def spy(fd, buffer, offset, name):
        threads.append((coders.coding(), len(buffer)))
        return real(fd, buffer, offset, name)

    with monkeypatch.context() as patch:  # the bands read ahead by read_bands
        patch.setattr(TiffSource, "read_deferred", lambda self, height: self.read_bands(height))
        expected = _encode(path, workers=2, subsampling="4:2:0", range=range_)
    monkeypatch.setattr(tiff_source, "_pread_into", spy)
    coders = CodingThreads().watch(monkeypatch)
    for workers in (1, 2, 5):
        threads.clear()
        assert _encode(path, workers=workers, subsampling="4:2:0", range=range_) == expected
        # every row read by offset (a strip or a run of strips a read), inside a task
        assert sum(size for _, size in threads) >= pixels.nbytes
        assert all(inside for inside, _ in threads), "rows read outside the task that codes them"


def test_band_heights_that_are_not_whole_strips_are_read_ahead(tmp_path) -> None:
    """Strips of 30 rows make bands of 270: regrouped into whole strips by read_bands."""
    path = tmp_path / "strips30.tif"
    tifffile.imwrite(path, RGB, photometric="rgb", compression="deflate", rowsperstrip=30)
    with TiffSource(path) as source:
        assert not any(isinstance(band, DeferredBand) for band in source.read_deferred(8))
    assert _encode(path, workers=2) == _encode(np.ascontiguousarray(RGB), workers=1)


@pytest.mark.parametrize("name, options", [
    ("tiled_deflate", FILES["tiled_deflate"][1]),
    ("lzw_strips", FILES["lzw_strips"][1]),
    ("raw", dict(photometric="rgb", rowsperstrip=16)),  # rows read by offset
])
@pytest.mark.parametrize("restart", [{"restart_marker_rows": 5}, {"restart_marker_blocks": 7}])
def test_optimize_counts_tasks_that_start_inside_an_interval(tmp_path, monkeypatch, name,
                                                             options, restart) -> None:
    """``optimize=True`` on an image of at most 64 strips (every strip counted, each task's rows
    read at once) cut into tasks that start inside a restart interval: the count pass reads
    nothing for a task's piece naming the strip before it (a read of no rows failed on TIFF
    bands), and the file is the array's."""
    from pillow_streamjpeg import scan

    monkeypatch.setattr(scan, "TASK_PIXELS", W * 8 * 3)  # tasks of 3 strips of 8 rows
    pixels = RGB[:400]  # 50 strips
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, pixels, **options)
    expected = io.BytesIO()
    pillow_streamjpeg.encode(pixels, expected, strip=True, optimize=True, **restart)
    for workers in (1, 2):
        assert _encode(path, workers=workers, optimize=True, **restart) == expected.getvalue()
