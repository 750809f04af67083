"""Encoding dask arrays as Dask tasks: byte-identical to the local encoder, survives a
killed worker, fails cleanly. Clusters are LocalClusters of 2 processes on loopback."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import pillow_streamjpeg

try:
    import dask
    import dask.array as da
    import distributed
except ImportError as exc:  # pragma: no cover - depends on the environment
    pytest.skip(f"dask and distributed are not installed ({exc}); "
                "pip install 'pillow_streamjpeg[dask]'", allow_module_level=True)

from pillow_streamjpeg import dask_backend as sjd
from pillow_streamjpeg import pipeline, scan, sources

# Functions the workers run are made inside functions: workers cannot import this
# test module (pytest imports it by path), and plain pickle refuses local functions,
# so Dask ships them by value with cloudpickle.


def _cluster(**kwargs) -> distributed.LocalCluster:
    return distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
        dashboard_address=None, **kwargs,
    )


@pytest.fixture(scope="module")
def client():
    with _cluster() as cluster, distributed.Client(cluster) as client:
        yield client


def _image(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: a photo-like array with real entropy-coded content."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 3 + y, x - 2 * y, (x * y) // 7, x][:channels], axis=-1)
    image = (base + rng.integers(-12, 13, size=base.shape)) % 256
    image = image.astype(np.uint8)
    return image[..., 0] if channels == 1 else image


def _local(array: np.ndarray, **params) -> bytes:
    out = io.BytesIO()
    pillow_streamjpeg.encode(array, out, **params)
    return out.getvalue()


def _dask(array, **params) -> bytes:
    out = io.BytesIO()
    pillow_streamjpeg.encode(array, out, **params)
    return out.getvalue()


CASES = [
    # (height, width, channels, row chunks, column chunks, quality)
    (203, 117, 3, 48, 40, 100),    # partial last strip and MCU column, chunks split columns
    (203, 117, 3, 50, 117, 75),    # chunk rows off strip boundaries: regrouped into bands
    (256, 96, 1, 64, 96, 100),     # grey, whole strips
    (61, 333, 1, 13, 100, 50),     # grey, odd chunks, partial strip
    (120, 90, 4, 40, 90, 90),      # 4 samples per pixel (read as RGBX)
    (7, 5, 3, 7, 5, 100),          # one partial strip
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_cluster_identical_to_local(client, case) -> None:
    height, width, channels, rows, cols, quality = case
    image = _image(height, width, channels)
    chunks = (rows, cols) + ((channels,) if channels > 1 else ())
    source = da.from_array(image, chunks=chunks)
    expected = _local(image, quality=quality)
    assert _dask(source, quality=quality) == expected
    # Small bands: many tasks, RST markers cycling through all eight values.
    assert _dask(source, quality=quality, band_rows=8, max_in_flight=3) == expected


@pytest.mark.parametrize("params", [
    {"subsampling": 2, "quality": 90},       # 4:2:0: strips of 16 rows
    {"subsampling": 1, "quality": 75},       # 4:2:2
    {"mode": "CMYK"},                       # 4 samples as ink, Adobe APP14, inverted rows
    {"keep_rgb": True, "quality": 95},
    {"dpi": (300, 300), "comment": "dask"},
], ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
def test_cluster_identical_with_options(client, params) -> None:
    channels = 4 if params.get("mode") == "CMYK" else 3
    image = _image(203, 117, channels, seed=9)
    source = da.from_array(image, chunks=(48, 117, channels))
    expected = _local(image, **params)
    assert _dask(source, **params) == expected
    assert _dask(source, band_rows=16, **params) == expected


def test_local_scheduler_identical() -> None:
    """Without a client, Dask's own local scheduler runs the same tasks."""
    image = _image(300, 250, 3, seed=1)
    source = da.from_array(image, chunks=(64, 100, 3))
    with dask.config.set(scheduler="threads"):
        assert _dask(source, quality=95) == _local(image, quality=95)
    with dask.config.set(scheduler="synchronous"):
        assert _dask(source, band_rows=8) == _local(image)


def test_computed_source_and_path_output(client, tmp_path) -> None:
    """A source computed on the workers (not shipped from here), written to a path."""
    image = _image(400, 300, 3, seed=2)
    source = da.from_array(image, chunks=(100, 300, 3))
    lazy = (source.astype(np.int16) * 2 // 2).astype(np.uint8)  # a graph, same pixels
    target = tmp_path / "out.jpg"
    rows = []
    pillow_streamjpeg.encode(lazy, target, quality=85,
                             progress=lambda done, total: rows.append((done, total)))
    assert target.read_bytes() == _local(image, quality=85)
    assert rows == [(400, 400)]  # one band: the chunks (100 rows) merge up to the band size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg"]


def test_bands_in_flight_are_bounded(client, monkeypatch) -> None:
    """At most max_in_flight bands are submitted and not yet written."""
    image = _image(320, 64, 3, seed=3)
    source = da.from_array(image, chunks=(8, 64, 3))
    submitted = []
    compute = client.compute
    monkeypatch.setattr(client, "compute", lambda *a, **k: submitted.append(1) or compute(*a, **k))
    ahead = []

    class Recorder(io.BytesIO):
        def write(self, data) -> int:
            ahead.append(len(submitted) - (len(ahead) - 1))  # minus bands already written
            return super().write(data)

    out = Recorder()
    pillow_streamjpeg.encode(source, out, band_rows=8, max_in_flight=3)
    assert out.getvalue() == _local(image)
    assert len(submitted) == 40 and len(ahead) == 40 + 2
    assert max(ahead[1:-1]) <= 3 and max(ahead[1:-1]) >= 2


def test_choices_that_do_not_apply_to_a_dask_array() -> None:
    source = da.from_array(_image(16, 16, 3), chunks=(8, 16, 3))
    with pytest.raises(TypeError, match="page does not apply to a dask array"):
        _dask(source, page=1)
    with pytest.raises(TypeError, match="qualty"):
        _dask(source, qualty=90)


def test_band_bounds() -> None:
    assert sjd.band_bounds((64, 64, 64, 10), 8, 128) == (128, 74)
    assert sjd.band_bounds((304, 8), 8, 128) == (304, 8)  # a big chunk stays whole
    assert sjd.band_bounds((50, 50, 50), 8, 64) == (64, 64, 22)
    assert sjd.band_bounds((50, 50, 50), 16, 70) == (64, 64, 22)


def _failing_chunk(index: int):
    def boom(block, block_info=None):
        if block_info[0]["chunk-location"][0] == index:
            raise ValueError("boom: this chunk cannot be read")
        return block

    return boom


def test_failing_task_raises_and_leaves_no_file(client, tmp_path) -> None:
    image = _image(256, 64, 3, seed=4)
    source = da.from_array(image, chunks=(32, 64, 3)).map_blocks(_failing_chunk(2), dtype=np.uint8)
    target = tmp_path / "out.jpg"
    with pytest.raises(ValueError, match="boom: this chunk cannot be read") as info:
        # intervals of one band (4 MCU rows): by default this image is one interval, and
        # the band after the failing chunk, which reads its last strip, may fail first
        pillow_streamjpeg.encode(source, target, band_rows=32, restart_marker_rows=4)
    if sys.version_info >= (3, 11):
        assert "while encoding image rows 64..95" in " ".join(info.value.__notes__)
    assert list(tmp_path.iterdir()) == []
    # The cluster is still usable afterwards.
    assert _dask(da.from_array(image, chunks=(32, 64, 3))) == _local(image)


def test_local_scheduler_failure_leaves_no_file(tmp_path) -> None:
    image = _image(256, 64, 3, seed=4)
    source = da.from_array(image, chunks=(32, 64, 3)).map_blocks(_failing_chunk(2), dtype=np.uint8)
    with dask.config.set(scheduler="threads"), pytest.raises(ValueError, match="boom"):
        pillow_streamjpeg.encode(source, tmp_path / "out.jpg", band_rows=32)
    assert list(tmp_path.iterdir()) == []


def _slow_chunk(seconds: float):
    def slow(block):
        time.sleep(seconds)
        return block

    return slow


def test_killed_worker_is_survived(tmp_path) -> None:
    """SIGKILL one worker process while it encodes a band: Dask reschedules, same bytes."""
    image = _image(16 * 16, 200, 3, seed=5)
    source = da.from_array(image, chunks=(16, 200, 3)).map_blocks(_slow_chunk(0.25), dtype=np.uint8)
    expected = _local(image, quality=92)
    killed = threading.Event()
    with _cluster() as cluster, distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]

        def kill_when_busy() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                busy = client.processing(workers=[victim]).get(victim, ())
                if any("streamjpeg-band" in str(key) for key in busy):
                    time.sleep(0.1)  # in the middle of the task
                    os.kill(pids[victim], signal.SIGKILL)
                    killed.set()
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_when_busy, daemon=True)
        killer.start()
        target = tmp_path / "out.jpg"
        pillow_streamjpeg.encode(source, target, quality=92, band_rows=16, max_in_flight=4)
        killer.join(5)
        assert killed.is_set(), "the worker was not killed during the job"
        assert target.read_bytes() == expected


@pytest.mark.parametrize(("channels", "quality"), [(3, 100), (1, 80)])
def test_optimize_identical_to_local(client, channels, quality) -> None:
    """optimize=True: statistics as Dask tasks, then tables, then encoding."""
    image = _image(203, 117, channels, seed=8)
    source = da.from_array(image, chunks=(48,) + image.shape[1:])
    expected = _local(image, quality=quality, optimize=True)
    assert expected != _local(image, quality=quality)
    assert _dask(source, quality=quality, optimize=True) == expected
    assert _dask(source, quality=quality, optimize=True, band_rows=8) == expected


def test_dask_not_imported_for_local_sources(tmp_path) -> None:
    code = (
        "import io, sys, numpy as np, pillow_streamjpeg\n"
        "pillow_streamjpeg.encode(np.zeros((9, 9, 3), np.uint8), io.BytesIO())\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path, timeout=60)


def test_batch_convert_example(tmp_path) -> None:
    """examples/dask_batch_convert.py: a local cluster converts a folder of TIFFs."""
    tifffile = pytest.importorskip("tifffile")
    from pathlib import Path

    scans = tmp_path / "scans"
    (scans / "sub").mkdir(parents=True)
    rng = np.random.default_rng(6)
    tifffile.imwrite(scans / "a.tif", _image(90, 70, 3), photometric="rgb", compression="zlib")
    tifffile.imwrite(scans / "sub" / "b.tiff", rng.integers(0, 256, (50, 40), dtype=np.uint8),
                     tile=(32, 32))
    tifffile.imwrite(scans / "bad.tif", np.zeros((8, 8), np.complex64))  # not supported
    script = Path(__file__).resolve().parent.parent / "examples" / "dask_batch_convert.py"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    run = subprocess.run([sys.executable, str(script), str(scans), str(tmp_path / "out"),
                          "--workers", "2", "--quality", "90", "--recursive"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr  # one file failed
    assert "FAILED" in run.stderr and "bad.tif" in run.stderr
    assert "2 of 3 files converted" in run.stdout
    for name in ("a", "sub/b"):
        expected = io.BytesIO()
        source = next(scans.glob(name + ".tif*"))
        pillow_streamjpeg.encode(source, expected, quality=90)
        assert (tmp_path / "out" / f"{name}.jpg").read_bytes() == expected.getvalue()
    assert not (tmp_path / "out" / "bad.jpg").exists()


@pytest.mark.parametrize("channels", [1, 3])
def test_huffman_counts_add_up(client, channels) -> None:
    """Statistics for optimize=True, as Dask tasks: equal to counting every strip locally."""
    image = _image(203, 117, channels, seed=7)
    source = da.from_array(image, chunks=(48,) + image.shape[1:])
    local = sources.ArraySource(image)
    settings = pipeline.settings_for(local, {"quality": 90})
    expected = scan.symbol_counts(settings, scan.LocalBackend(local))  # the thread pool
    assert expected.sum() > 0
    for band_rows in (None, 8):
        backend = sjd.DaskBackend(source, band_rows=band_rows)
        assert np.array_equal(scan.symbol_counts(settings, backend), expected)


RESTARTS = [
    {"restart_marker_rows": 2}, {"restart_marker_rows": 0, "restart_marker_blocks": 0},
    {"restart_marker_blocks": 3}, {"restart_marker_blocks": 7}, {"restart_marker_blocks": 19},
]


@pytest.mark.parametrize("restart", RESTARTS)
@pytest.mark.parametrize("band_rows", [16, 40])
def test_restart_intervals_as_the_local_encoder(restart, band_rows) -> None:
    """Bands that start inside restart intervals (several rows, none, crossing rows; 8 MCUs a
    row at 4:4:4): the local encoder's bytes, on the local scheduler."""
    image = _image(203, 61, 3, seed=4)
    source = da.from_array(image, chunks=(24, 61, 3))
    expected = _local(image, subsampling=0, **restart)
    with dask.config.set(scheduler="threads"):
        assert _dask(source, subsampling=0, band_rows=band_rows, **restart) == expected


@pytest.mark.parametrize("restart", RESTARTS[1:3])
def test_restart_intervals_on_a_cluster(client, restart) -> None:
    """Parts of intervals come back from worker processes (pickled) and are joined in order."""
    image = _image(203, 117, 1, seed=8)
    source = da.from_array(image, chunks=(48, 117))
    expected = _local(image, quality=90, **restart)
    assert _dask(source, quality=90, band_rows=24, **restart) == expected


@pytest.mark.parametrize("option, value, error", [
    ("band_rows", 0, ValueError), ("band_rows", -8, ValueError), ("band_rows", 3.5, ValueError),
    ("band_rows", "x", ValueError), ("max_in_flight", 0, ValueError),
    ("client", "tcp://127.0.0.1:8786", TypeError),
])
def test_bad_dask_options_name_the_option(option, value, error) -> None:
    """Refused before any work, naming the option (band_rows was taken as it was, a client
    address failed on an attribute, until 2026-12-02); numpy integers are integers."""
    source = da.from_array(_image(32, 24, 3), chunks=(16, 24, 3))
    out = io.BytesIO()
    with pytest.raises(error, match=option):
        pillow_streamjpeg.encode(source, out, **{option: value})
    assert out.getvalue() == b""
    with dask.config.set(scheduler="synchronous"):
        assert _dask(source, band_rows=np.int64(8)) == _local(_image(32, 24, 3))


def _slow_failing_first_chunk():
    def boom(block, block_info=None):
        if block_info[0]["chunk-location"][0] == 0:
            import time

            time.sleep(1.0)  # the other bands finish first and wait for this one
            raise ValueError("boom: the first chunk cannot be read")
        return block

    return boom


def test_a_failure_does_not_keep_finished_bands_alive(client) -> None:
    """The exception's traceback keeps the band loop's frame: it must hold no bands' bytes
    and no futures (their tasks stay on the scheduler while a future lives), as a failure
    with finished bands waiting to be written left up to ~128 MiB alive until 2026-12-02."""
    image = _image(256, 64, 3, seed=4)
    source = da.from_array(image, chunks=(32, 64, 3)).map_blocks(_slow_failing_first_chunk(),
                                                                 dtype=np.uint8)
    with pytest.raises(ValueError, match="the first chunk") as info:
        pillow_streamjpeg.encode(source, io.BytesIO(), band_rows=32, restart_marker_rows=4,
                                 max_in_flight=8)
    frames = []
    tb = info.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    loop = [f for f in frames if f.f_code.co_name == "_bands_distributed"]
    assert loop, [f.f_code.co_name for f in frames]
    for frame in loop:
        assert frame.f_locals["done"] == {} and frame.f_locals["futures"] == {}
        assert frame.f_locals.get("future") is None and frame.f_locals.get("result") is None


def test_each_chunk_is_read_once_on_a_local_scheduler() -> None:
    """Bands of 32 rows, restart intervals of 40: most bands start inside an interval and
    take the strip before them, from the same chunk key as the band before (per-object
    graph optimization renamed it, and every such chunk was computed twice)."""
    import threading

    calls: list[int] = []
    lock = threading.Lock()

    def counted(block, block_info=None):
        with lock:
            calls.append(block_info[0]["chunk-location"][0])
        return block

    image = _image(256, 48, 3, seed=2)
    source = da.from_array(image, chunks=(32, 48, 3)).map_blocks(counted, dtype=np.uint8)
    with dask.config.set(scheduler="threads"):
        data = _dask(source, band_rows=32, restart_marker_rows=5)
    assert data == _local(image, restart_marker_rows=5)
    assert sorted(calls) == list(range(8))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are 3.11's")
def test_a_failure_in_the_counting_pass_has_a_note(monkeypatch) -> None:
    """optimize=True: the counting pass's failure says what was being done (it had no note).
    (An image too large to read its symbols back: a smaller one's first pass codes it.)"""
    from pillow_streamjpeg import scan

    monkeypatch.setattr(scan, "READ_BACK_PIXELS", 0)
    image = _image(256, 64, 3, seed=4)
    source = da.from_array(image, chunks=(32, 64, 3)).map_blocks(_failing_chunk(2), dtype=np.uint8)
    with dask.config.set(scheduler="threads"), pytest.raises(ValueError, match="boom") as info:
        pillow_streamjpeg.encode(source, io.BytesIO(), band_rows=32, optimize=True)
    assert "Huffman symbols of image rows 0..255 (optimize=True)" in " ".join(info.value.__notes__)


@pytest.mark.parametrize("lie", ["short", "long", "float"])
@pytest.mark.parametrize("optimize", [False, True])
def test_a_chunk_that_is_not_what_its_array_declares_is_refused(tmp_path, lie, optimize):
    """A chunk that computes to other rows left the scan short or long (a corrupt JPEG,
    written without an error); one of floats was cast (300 became 44). Now refused,
    naming the rows, and no file is left."""
    z = np.full((64, 50, 3), 100, np.uint8)
    made = {"short": lambda: z[:56], "long": lambda: np.concatenate([z, z[:8]]),
            "float": lambda: np.full((64, 50, 3), 300.0)}[lie]
    chunk = da.from_delayed(dask.delayed(made)(), shape=(64, 50, 3), dtype=np.uint8)
    array = da.concatenate([chunk, da.from_array(z)])
    out = tmp_path / "x.jpg"
    with pytest.raises(Exception, match=r"rows 0\.\.|computed to"):
        with dask.config.set(scheduler="threads"):
            pillow_streamjpeg.encode(array, out, optimize=optimize)
    assert list(tmp_path.iterdir()) == []
