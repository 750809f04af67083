"""Rows of PIL images read by the encoding threads: the same bytes as packing them, any worker count."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg
from pillow_streamjpeg import options, scan
from pillow_streamjpeg.sources import DeferredBand, PillowSource, rows_of
from pillow_streamjpeg.sources import pillow as pillow_source
from codingthreads import CodingThreads


def _pixels(height: int = 77, width: int = 61, channels: int = 4, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def _image(mode: str) -> Image.Image:
    pixels = _pixels()
    if mode in ("L", "1"):
        image = Image.fromarray(pixels[..., 0], "L")
        return image.convert("1") if mode == "1" else image
    if mode in ("LA", "La"):
        image = Image.fromarray(np.ascontiguousarray(pixels[..., :2]), "LA")
        return image.convert("La") if mode == "La" else image
    if mode in ("RGB", "YCbCr"):
        return Image.frombytes(mode, (61, 77), np.ascontiguousarray(pixels[..., :3]).tobytes())
    return Image.frombytes(mode, (61, 77), pixels.tobytes())  # RGBX, CMYK, RGBA, RGBa


ALL_MODES = ["1", "L", "RGB", "RGBX", "YCbCr", "CMYK", "RGBA", "RGBa", "LA", "La"]


@pytest.mark.parametrize(("mode", "background"), [(mode, None) for mode in ALL_MODES] + [
    (mode, "white") for mode in ("RGBA", "RGBa", "LA", "La")])
def test_rows_equal_the_raw_encoders_packing(mode, background) -> None:
    """Rows copied by Pillow's paste core (COPIED_MODES) equal the raw encoder's packing."""
    source = PillowSource(_image(mode), alpha=True, background=background)
    copied = source.image.mode in pillow_source.COPIED_MODES
    assert copied == (mode not in ("1", "LA", "La"))
    colour = 1 if mode in ("1", "L", "LA", "La") else 3 if mode in ("RGB", "YCbCr") else 4
    for top, rows in ((0, 8), (13, 16), (69, 8), (0, 77)):
        got = source.rows(top, rows)
        packed = source._packed(top, rows)
        if source._renderer is not None:
            packed = source._renderer.render(packed.reshape(rows, 61, -1)).reshape(rows, -1)
        assert got.shape == (rows, 61 * source.channels) and got.dtype == np.uint8
        assert got.flags.c_contiguous
        # the samples the kernels read: the fourth byte of RGB and YCbCr rows is padding
        keep = min(colour, source.channels)
        np.testing.assert_array_equal(got.reshape(rows, 61, -1)[..., :keep],
                                      packed.reshape(rows, 61, -1)[..., :keep])


def test_rows_into_a_buffer_and_the_deferred_band() -> None:
    source = PillowSource(_image("CMYK"))
    expected = source._packed(8, 16)
    out = np.full((16, 61 * 4), 7, np.uint8)
    assert source.rows(8, 16, out) is out
    np.testing.assert_array_equal(out, expected)  # CMYK inverted, as JPEG stores it
    (band,) = source.read_deferred(8)
    assert isinstance(band, DeferredBand) and band.shape == (77, 61 * 4)
    rows, row0 = rows_of(band, 64, 13)  # the image's last rows, fewer than a strip
    assert row0 == 0
    np.testing.assert_array_equal(rows, source._packed(64, 13))
    array = np.zeros((4, 4), np.uint8)
    assert rows_of(array, 2, 1) == (array, 2)


@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4"])  # 4:4:4 RGB: the joint rounding
@pytest.mark.parametrize("mode", ALL_MODES)
def test_the_same_bytes_for_1_2_and_5_workers(mode, subsampling) -> None:
    image = _image(mode)
    files = set()
    for workers in (1, 2, 5):
        out = io.BytesIO()
        pillow_streamjpeg.encode(image, out, workers=workers, quality=90, subsampling=subsampling,
                                 background="black" if mode in ("RGBa", "La") else None)
        files.add(out.getvalue())
    assert len(files) == 1


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_rows_read_by_the_encoding_threads_give_the_arrays_bytes(monkeypatch, mode) -> None:
    """The bytes of the same pixels as an array; with 1, 2 and 5 workers every row is copied
    inside the task that codes it (none read ahead), and tasks are several strips."""
    monkeypatch.setattr(scan, "TASK_PIXELS", 61 * 16 * 2)  # 2 strips a task, 3 tasks
    image = _image(mode)
    array = np.asarray(image)
    expected = io.BytesIO()
    pillow_streamjpeg.encode(array, expected, mode=mode, quality=95, optimize=True, workers=1)
    threads = []
    real = pillow_source._copy_rows

    def spy(image, top, out, mapped=None):
        threads.append(coders.coding())
        return real(image, top, out, mapped)

    monkeypatch.setattr(pillow_source, "_copy_rows", spy)
    coders = CodingThreads().watch(monkeypatch)
    for workers in (1, 2, 5):
        threads.clear()
        out = io.BytesIO()
        image.save(out, format="STREAMJPEG", quality=95, optimize=True, workers=workers)
        assert out.getvalue() == expected.getvalue()
        assert threads, "rows were not copied by _copy_rows"
        assert all(threads), "rows copied outside the task that codes them"


def test_a_deferred_band_must_hold_whole_rows() -> None:
    class Short(DeferredBand):
        shape = (16, 10)

        def read(self, top, rows):  # pragma: no cover - refused before any read
            raise AssertionError

    settings = options.parse("L", (12, 16), {})
    with pytest.raises(ValueError, match="rows of 12 bytes"):
        list(scan._tasks([Short()], settings, 12))


AFFINITY = """
import io, os, threading
os.sched_setaffinity(0, {{{cpu}}})
from PIL import Image
import numpy as np
import pillow_streamjpeg
from pillow_streamjpeg import options, strips
seen = set()
real = strips.StripCoder.encode
def spy(self, task):
    seen.add(threading.get_ident())
    return real(self, task)
strips.StripCoder.encode = spy
print(options.parse("RGB", (16, 16), {{}}, channels=4).workers, end=" ")
image = Image.fromarray(np.zeros((2048, 256, 3), np.uint8))
image.save(io.BytesIO(), format="STREAMJPEG")
print(len(seen))
"""


def test_workers_default_follows_the_real_cpu_affinity(tmp_path) -> None:
    """A process pinned to one CPU (os.sched_setaffinity) encodes on one thread by default."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this system")
    cpu = min(os.sched_getaffinity(0))
    run = subprocess.run([sys.executable, "-c", AFFINITY.format(cpu=cpu)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "1"]
