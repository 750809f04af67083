"""Failures are loud, prompt and clean: write errors, interrupts, bad input, threads, leaks."""

from __future__ import annotations

import gc
import io
import os
import resource
import threading
import time

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg


def _photo(width: int = 640, height: int = 480, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)),
                     ((x + y) % 256)], axis=-1)
    noise = rng.integers(-20, 21, size=base.shape)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("streamjpeg")]


class FailingWriter(io.RawIOBase):
    """A file object whose write raises ``exc`` once ``limit`` bytes were written."""

    def __init__(self, limit: int, exc: BaseException) -> None:
        self.limit = limit
        self.exc = exc
        self.written = 0
        self.calls_after_failure = 0
        self.failed = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.failed:
            self.calls_after_failure += 1
        n = len(memoryview(data))
        if self.written + n > self.limit:
            self.failed = True
            raise self.exc
        self.written += n
        return n


@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("limit", [0, 100, 5000, 60000])
def test_write_error_propagates_and_stops_workers(workers: int, limit: int) -> None:
    image = _photo(1200, 900)
    out = FailingWriter(limit, OSError(28, "No space left on device"))
    start = time.monotonic()
    with pytest.raises(OSError, match="No space left"):
        image.save(out, format="STREAMJPEG", workers=workers)
    assert time.monotonic() - start < 30
    assert out.calls_after_failure == 0, "kept writing after the first failure"
    assert _worker_threads() == []


@pytest.mark.parametrize("workers", [1, 2])
def test_keyboard_interrupt_stops_the_save(workers: int) -> None:
    image = _photo(1200, 900)
    out = FailingWriter(20000, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        pillow_streamjpeg.encode(image, out, workers=workers)
    assert _worker_threads() == []


def test_disk_full_raises_oserror() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "wb", buffering=0) as out, pytest.raises(OSError) as info:
        _photo(800, 600).save(out, format="STREAMJPEG", workers=2)
    assert info.value.errno == 28
    assert _worker_threads() == []


def test_broken_pipe_raises() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "wb", buffering=0) as out, pytest.raises(BrokenPipeError):
        _photo(800, 600).save(out, format="STREAMJPEG", workers=2)
    assert _worker_threads() == []


def test_closed_file_raises_value_error() -> None:
    out = io.BytesIO()
    out.close()
    with pytest.raises(ValueError, match="closed"):
        _photo(64, 64).save(out, format="STREAMJPEG")


@pytest.mark.parametrize("save", ["image_save", "encode"])
def test_failed_save_to_path_leaves_nothing(tmp_path, monkeypatch, save: str) -> None:
    """A save that fails part way leaves no file (and no temporary file) behind."""
    image = _photo(300, 200)
    target = tmp_path / "out.jpg"

    def bad_bands(*args, **kwargs):
        yield np.zeros((8, 300 * 4), np.uint8)
        raise RuntimeError("source failed")

    from pillow_streamjpeg.sources import PillowSource

    monkeypatch.setattr(PillowSource, "read_deferred", bad_bands)  # what the scan writer reads
    with pytest.raises(RuntimeError, match="source failed"):
        if save == "encode":
            pillow_streamjpeg.encode(image, target)
        else:
            image.save(target, format="STREAMJPEG")
    assert list(tmp_path.iterdir()) == []



def test_interrupt_just_after_the_temporary_file_appears_leaves_nothing(tmp_path,
                                                                        monkeypatch) -> None:
    """A SIGINT that lands as the temporary file is created (``os.open`` done, its
    descriptor not yet returned) still removes it and closes nothing twice."""
    from pillow_streamjpeg import output

    real_open = os.open

    def open_then_interrupt(path, flags, mode=0o777):
        os.close(real_open(path, flags, mode))
        raise KeyboardInterrupt

    monkeypatch.setattr(output.os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        pillow_streamjpeg.encode(np.zeros((16, 16), np.uint8), tmp_path / "out.jpg")
    assert list(tmp_path.iterdir()) == []

def test_encode_to_path_replaces_only_on_success(tmp_path) -> None:
    target = tmp_path / "out.jpg"
    target.write_bytes(b"previous")
    with pytest.raises(ValueError):
        pillow_streamjpeg.encode(_photo(10, 10), target, quality=1000)
    assert target.read_bytes() == b"previous"
    pillow_streamjpeg.encode(_photo(10, 10), target)
    assert target.read_bytes()[:2] == b"\xff\xd8"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg"]


# Bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array, error",
    [
        (np.zeros((8, 8), np.float32), TypeError),
        (np.zeros((8, 8), np.uint16), TypeError),
        (np.zeros((8,), np.uint8), TypeError),
        (np.zeros((2, 8, 8, 3), np.uint8), TypeError),
        (np.zeros((8, 8, 2), np.uint8), ValueError),
        (np.zeros((8, 8, 5), np.uint8), ValueError),
        (np.zeros((0, 8, 3), np.uint8), ValueError),
        (np.zeros((8, 0), np.uint8), ValueError),
        (np.zeros((65501, 1), np.uint8), ValueError),
    ],
)
def test_bad_arrays_are_refused_before_writing(array, error) -> None:
    out = io.BytesIO()
    with pytest.raises(error):
        pillow_streamjpeg.encode(array, out)
    assert out.getvalue() == b""


def test_too_large_image_is_refused_before_writing() -> None:
    image = Image.new("L", (65501, 1))
    out = io.BytesIO()
    with pytest.raises(ValueError, match="65500"):
        image.save(out, format="STREAMJPEG")
    assert out.getvalue() == b""


@pytest.mark.parametrize("option, value", [
    ("quality", "best"), ("quality", 101), ("quality", -5), ("quality", 2.5),
    ("workers", 0), ("workers", "two"), ("workers", -1),
    # not bytes: written as garbage (5 NUL bytes) or refused without a name, until 2026-12-02
    ("comment", 5), ("comment", [1, 2]), ("icc_profile", "sRGB"), ("xmp", 5),
    ("dpi", (float("inf"), 72)), ("qtables", np.ones((2, 64))),
])
def test_bad_option_values_name_the_option(option: str, value) -> None:
    out = io.BytesIO()
    with pytest.raises((ValueError, TypeError), match=option) as info:
        _photo(16, 16).save(out, format="STREAMJPEG", **{option: value})
    assert out.getvalue() == b""
    assert len(str(info.value)) < 300  # the value named, not printed whole


def _saved(**options) -> bytes:
    out = io.BytesIO()
    _photo(48, 32).save(out, format="STREAMJPEG", **options)
    return out.getvalue()


def test_numpy_integers_are_integers() -> None:
    """As Pillow takes them (an option read from an array or a table)."""
    assert _saved(restart_marker_blocks=np.int64(3), workers=np.int32(2), refine=np.int64(1)) \
        == _saved(restart_marker_blocks=3, workers=2, refine=1)
    assert _saved(restart_marker_rows=np.uint8(1)) == _saved(restart_marker_rows=1)


def test_xmp_text_is_written_as_utf8() -> None:
    packet = "<x:xmpmeta xmlns:x='adobe:ns:meta/'>Zürich</x:xmpmeta>"
    assert Image.open(io.BytesIO(_saved(xmp=packet))).info["xmp"] == packet.encode()


def test_a_given_dpi_wins_over_a_sources_stale_jfif_fields() -> None:
    """``**im.info`` of a JPEG whose density is in centimetres, then ``dpi=``: the dpi is
    written (Pillow's writer reads dpi only); the same resolution keeps the centimetres."""
    stale = {"jfif_unit": 2, "jfif_density": (50, 50)}
    info = Image.open(io.BytesIO(_saved(dpi=(300, 300), **stale))).info
    assert info["jfif_unit"] == 1 and info["jfif_density"] == (300, 300)
    info = Image.open(io.BytesIO(_saved(dpi=(127.0, 127.0), **stale))).info
    assert info["jfif_unit"] == 2 and info["jfif_density"] == (50, 50)
    info = Image.open(io.BytesIO(_saved(**stale))).info
    assert info["jfif_unit"] == 2 and info["jfif_density"] == (50, 50)


def test_strided_and_fortran_arrays_encode_like_contiguous_ones() -> None:
    base = np.asarray(_photo(203, 117))
    expected = io.BytesIO()
    pillow_streamjpeg.encode(np.ascontiguousarray(base), expected, workers=1)
    fortran = np.asfortranarray(base)
    wide = np.zeros((117, 406, 3), np.uint8)
    wide[:, ::2] = base
    strided = wide[:, ::2]
    flipped = np.ascontiguousarray(base[::-1])[::-1]
    for array in (fortran, strided, flipped):
        out = io.BytesIO()
        pillow_streamjpeg.encode(array, out, workers=2)
        assert out.getvalue() == expected.getvalue()


# Concurrency ---------------------------------------------------------------------------


def test_concurrent_saves_match_sequential_saves() -> None:
    jobs = [(_photo(150 + 37 * i, 90 + 23 * i, seed=i), 40 + 7 * i) for i in range(8)]

    def save(image: Image.Image, quality: int) -> bytes:
        out = io.BytesIO()
        image.save(out, format="STREAMJPEG", quality=quality, workers=2)
        return out.getvalue()

    expected = [save(image, quality) for image, quality in jobs]
    results: list[bytes | None] = [None] * (3 * len(jobs))
    errors: list[BaseException] = []

    def run(slot: int) -> None:
        try:
            image, quality = jobs[slot % len(jobs)]
            results[slot] = save(image, quality)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert results == [expected[i % len(jobs)] for i in range(len(results))]


def test_output_is_identical_for_every_worker_count() -> None:
    image = _photo(1000, 700)
    outputs = set()
    for workers in (1, 2, 3, 8):
        out = io.BytesIO()
        image.save(out, format="STREAMJPEG", workers=workers)
        outputs.add(out.getvalue())
    assert len(outputs) == 1


# Leaks ---------------------------------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="needs /proc")
def test_hundreds_of_saves_keep_memory_and_files_flat(tmp_path) -> None:
    image = _photo(300, 200)
    for _ in range(20):  # warm up allocators and caches
        image.save(io.BytesIO(), format="STREAMJPEG", workers=2)
    gc.collect()
    fds = len(os.listdir("/proc/self/fd"))
    rss = _rss_kib()
    for i in range(300):
        if i % 3 == 0:
            pillow_streamjpeg.encode(image, tmp_path / "out.jpg", workers=2)
        else:
            image.save(io.BytesIO(), format="STREAMJPEG", workers=1 + i % 2)
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == fds
    assert _rss_kib() - rss < 16 * 1024
    assert _worker_threads() == []


# Ctrl-C on the command line ------------------------------------------------------------


@pytest.fixture(scope="module")
def big_tiff(tmp_path_factory):
    """A 6000 x 6000 RGB TIFF (108 MB), written band by band, shared by the signal tests."""
    tifffile = pytest.importorskip("tifffile")
    source = tmp_path_factory.mktemp("big") / "big.tif"
    rng = np.random.default_rng(5)
    band = rng.integers(0, 256, (500, 6000, 3), dtype=np.uint8)
    with tifffile.TiffWriter(source) as tif:
        tif.write(iter([band] * 12), shape=(6000, 6000, 3), dtype=np.uint8,
                  photometric="rgb", rowsperstrip=500)
    return source


def _default_signals() -> None:
    """In the child: SIGHUP and SIGTERM as a shell started without nohup has them."""
    import signal

    for number in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


@pytest.mark.parametrize("name, code", [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_signals_during_a_command_line_conversion_leave_nothing(tmp_path, big_tiff, name,
                                                                code) -> None:
    """SIGINT (Ctrl-C), SIGTERM (``timeout``, ``kill``, a batch system's time limit) or SIGHUP
    while strips are being written: exit 128 + the signal promptly, no output, no temporary
    file (SIGTERM and SIGHUP left the temporary file until 2026-12-02)."""
    import signal
    import subprocess
    import sys

    if not hasattr(signal, name):
        pytest.skip(f"no {name} here")

    target = tmp_path / "out.jpg"
    process = subprocess.Popen(
        [sys.executable, "-m", "pillow_streamjpeg", str(big_tiff), str(target), "--quiet",
         "--workers", "2"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_signals if name != "SIGINT" else None,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if any(p.name.startswith(".streamjpeg") for p in tmp_path.iterdir()):
            break
        time.sleep(0.02)
    time.sleep(0.2)
    if process.poll() is not None:  # too fast to interrupt: then it must have succeeded
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0 and stderr == "", stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg"]
        pytest.skip("the conversion finished before it could be interrupted")
    interrupted = time.monotonic()
    process.send_signal(getattr(signal, name))
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - interrupted < 10
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
