"""The streamjpeg command: conversions, stdout, progress, and one-line errors leaving nothing."""

from __future__ import annotations

import io
import os
import pty
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from jpegtools import assert_strictly_valid, psnr
from PIL import Image

import pillow_streamjpeg

tifffile = pytest.importorskip("tifffile")


def streamjpeg(*args, cwd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pillow_streamjpeg", *map(str, args)], cwd=cwd,
                          capture_output=True, timeout=300, **kwargs)


def _rgb(height=150, width=211):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(3 * x) % 256, (2 * y) % 256, (x ^ y) % 256], -1).astype(np.uint8)


@pytest.fixture
def work(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    tifffile.imwrite(folder / "in.tif", _rgb(), photometric="rgb", compression="deflate")
    return folder


def _assert_error(run, *words):
    assert run.returncode != 0
    err = run.stderr.decode()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("streamjpeg: error:"), err
    for word in words:
        assert word in lines[0], err


def test_converts_tiff(work):
    run = streamjpeg("in.tif", "out.jpg", "--quality", "95", "--workers", "1", cwd=work)
    assert run.returncode == 0, run.stderr
    assert run.stderr == b""  # no progress bar when stderr is not a terminal
    data = (work / "out.jpg").read_bytes()
    assert_strictly_valid(data)
    assert psnr(_rgb(), np.asarray(Image.open(io.BytesIO(data)))) > 40
    assert sorted(p.name for p in work.iterdir()) == ["in.tif", "out.jpg"]


def test_converts_pillow_image_and_stdout(work):
    Image.fromarray(_rgb()).convert("P").save(work / "in.png")
    run = streamjpeg("in.png", "-", cwd=work)
    assert run.returncode == 0, run.stderr
    assert_strictly_valid(run.stdout)
    assert Image.open(io.BytesIO(run.stdout)).size == (211, 150)
    assert sorted(p.name for p in work.iterdir()) == ["in.png", "in.tif"]


def test_tiff_page_option(work):
    with tifffile.TiffWriter(work / "pages.tif") as tif:
        tif.write(_rgb(), photometric="rgb")
        tif.write(_rgb()[..., 0].copy())
    run = streamjpeg("pages.tif", "p.jpg", "--page", "1", cwd=work)
    assert run.returncode == 0, run.stderr
    assert Image.open(work / "p.jpg").mode == "L"


@pytest.mark.parametrize(
    ("make", "args", "words"),
    [
        (None, ["missing.tif", "out.jpg"], ["missing.tif"]),
        ("text", ["notimage.png", "out.jpg"], ["notimage.png"]),
        ("text", ["notimage.tif", "out.jpg"], []),
        ("complex", ["complex.tif", "out.jpg"], ["complex.tif", "not supported: 64-bit complex"]),
        (None, ["in.tif", "no/such/folder/out.jpg"], ["does not exist"]),
        (None, ["in.tif", "."], ["folder"]),
        (None, ["in.tif", ""], ["output is empty ('')"]),  # said "Is a directory"
        (None, ["in.tif", "in.tif/out.jpg"], []),
        (None, ["in.tif", "out.jpg", "--page", "9"], ["no page 9"]),
        (None, ["in.tif", "out.jpg", "--quality", "101"], ["quality"]),
        (None, ["in.tif", "out.jpg", "--quality", "keep"], ["keep", "not a JPEG"]),
        # the source replaced by its JPEG, until 2026-12-02
        (None, ["in.tif", "in.tif"], ["the output is the input file"]),
        (None, ["in.tif", "./in.tif", "--optimize"], ["the output is the input file"]),
    ],
)
def test_errors_are_one_line_and_leave_nothing(work, make, args, words):
    if make == "text":
        (work / args[0]).write_text("not an image\n")
    elif make == "complex":
        tifffile.imwrite(work / args[0], np.zeros((8, 8), np.complex64))
    before = sorted(p.name for p in work.rglob("*"))
    run = streamjpeg(*args, cwd=work)
    _assert_error(run, *words)
    assert sorted(p.name for p in work.rglob("*")) == before


@pytest.mark.parametrize(("args", "words"), [
    (["--quality", "50.5"], ["--quality", "'50.5'", "0..100"]),
    (["--quality", "web_highest"], ["--quality", "'web_highest'", "0..100", "web_high"]),
    (["--subsampling", "3"], ["--subsampling", "'3'", "4:2:0"]),
    (["--subsampling", "4:2:1"], ["--subsampling", "'4:2:1'"]),
    (["--quality", "101"], ["--quality", "0..100"]),
    (["--shrink", "abc"], ["--shrink", "abc"]),
    (["--refine", "3"], ["--refine", "3"]),
    (["--shrink", "2", "--max-size", "10"], ["--max-size", "--shrink"]),
    (["--bogus"], ["--bogus"]),
])
def test_argument_errors_are_one_line_with_status_1(work, args, words):
    """What argparse refuses follows the command's format too (it printed its usage and
    exited with 2)."""
    run = streamjpeg("in.tif", "out.jpg", *args, cwd=work)
    _assert_error(run, *words)
    assert run.returncode == 1 and not (work / "out.jpg").exists()


def test_options_between_input_and_output(work):
    """``IN --page 1 OUT``: options may come between the two files (OUT was refused as an
    unrecognized argument)."""
    with tifffile.TiffWriter(work / "pages.tif") as tif:
        tif.write(_rgb(), photometric="rgb")
        tif.write(_rgb()[..., 0].copy())
    run = streamjpeg("pages.tif", "--page", "1", "p.jpg", "-q", cwd=work)
    assert run.returncode == 0, run.stderr
    assert Image.open(work / "p.jpg").mode == "L"


@pytest.mark.parametrize("option", [["--shrink", "2"], ["--strip"], ["--page", "1"],
                                    ["--range", "full"], ["--max-size", "100"]])
def test_demo_refuses_options_about_an_input(work, option):
    """The demo's generated image has no use for them: refused, not silently ignored."""
    run = streamjpeg("--demo", "d.jpg", *option, cwd=work)
    _assert_error(run, "--demo", option[0])
    assert not (work / "d.jpg").exists()


def test_demo_refuses_an_empty_output(work):
    """``--demo ''`` wrote the default streamjpeg-demo.jpg in silence: the empty output is
    refused in one line, as a conversion's is, before the image is generated."""
    run = streamjpeg("--demo", "", "-w", "1", cwd=work)
    _assert_error(run, "output is empty ('')", "--demo alone to write streamjpeg-demo.jpg")
    assert sorted(p.name for p in work.iterdir()) == ["in.tif"]


def test_standard_input_errors_name_it(work):
    """A refusal of standard input's image names it, not the temporary copy's path."""
    tifffile.imwrite(work / "wide.tif", np.zeros((2, 70000), np.uint8))
    run = streamjpeg("-", "out.jpg", cwd=work, input=(work / "wide.tif").read_bytes())
    _assert_error(run, "standard input: not supported: 70000 x 2 pixels")
    assert "streamjpeg-" not in run.stderr.decode()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_folder(work):
    locked = work / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _assert_error(streamjpeg("in.tif", "locked/out.jpg", cwd=work), "locked")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_unwritable_target_file_system(work):
    """A target on a read-only file system: one line, nothing left behind."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc")
    _assert_error(streamjpeg("in.tif", "/proc/self/out.jpg", cwd=work))


def test_interrupt_leaves_no_file(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (6000, 6000, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "big.tif", big, photometric="rgb")
    del big
    process = subprocess.Popen([sys.executable, "-m", "pillow_streamjpeg", "big.tif", "big.jpg",
                                "--workers", "1"], cwd=tmp_path, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".streamjpeg-*")) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the conversion finished before the interrupt")
    assert process.returncode == 130
    assert err.decode().strip() == "streamjpeg: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tif"]


def test_progress_bar_on_a_terminal(work):
    pytest.importorskip("tqdm")
    import select

    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 x 100
    process = subprocess.Popen([sys.executable, "-m", "pillow_streamjpeg", "in.tif", "out.jpg"],
                               cwd=work, stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif process.poll() is not None:
                break
    finally:
        os.close(master)
    assert process.wait(timeout=120) == 0
    text = b"".join(chunks).decode(errors="replace")
    assert "/150" in text and "row" in text, text
    quiet = subprocess.run([sys.executable, "-m", "pillow_streamjpeg", "in.tif", "q.jpg", "--quiet"],
                           cwd=work, capture_output=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == b""


def test_no_arguments_runs_the_demo(tmp_path):
    run = streamjpeg(cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    out = run.stdout.decode()
    assert "STREAMJPEG" in out and "Pillow" in out
    assert (tmp_path / "streamjpeg-demo.jpg").exists()


def test_a_negative_range_low_is_taken_as_given(work):
    """``--range -420,3100`` (a DEM's window): argparse took the value for an option."""
    dem = np.linspace(-420, 3100, 64 * 48, dtype=np.float32).reshape(48, 64)
    tifffile.imwrite(work / "dem.tif", dem)
    run = streamjpeg("dem.tif", "dem.jpg", "--range", "-420,3100", cwd=work)
    assert run.returncode == 0, run.stderr
    decoded = np.asarray(Image.open(work / "dem.jpg")).astype(float)
    assert decoded[0, 0] < 3 and decoded[-1, -1] > 252  # the window's ends, black and white
    same = streamjpeg("dem.tif", "dem2.jpg", "--range=-420,3100", cwd=work)
    assert (work / "dem2.jpg").read_bytes() == (work / "dem.jpg").read_bytes(), same.stderr


def test_closed_standard_output_is_one_line(work):
    run = subprocess.run(f'"{sys.executable}" -m pillow_streamjpeg in.tif - >&-', shell=True,
                         cwd=work, capture_output=False, stderr=subprocess.PIPE, timeout=300)
    _assert_error(run, "standard output is closed")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_output_is_written_in_place(work):
    import threading

    os.mkfifo(work / "fifo")
    received = []
    reader = threading.Thread(target=lambda: received.append((work / "fifo").read_bytes()),
                              daemon=True)
    reader.start()
    run = streamjpeg("in.tif", "fifo", cwd=work)
    reader.join(timeout=60)
    assert run.returncode == 0, run.stderr
    assert_strictly_valid(received[0])
    assert sorted(p.name for p in work.iterdir()) == ["fifo", "in.tif"]


def test_signals_ignored_at_start_stay_ignored():
    """``nohup streamjpeg ...``: SIGHUP ignored before stays ignored while the command runs;
    others are handled, and every handler is put back after."""
    import signal

    from pillow_streamjpeg import cli

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    term = signal.getsignal(signal.SIGTERM)
    try:
        with cli._terminations():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is cli._terminate
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is term
    finally:
        signal.signal(signal.SIGHUP, before)


def test_standard_input_as_the_input(work):
    """``cat in.tif | streamjpeg - out.jpg``: the same JPEG as from the file (a TIFF is read by
    seeking: standard input is copied to a temporary file, removed after); an empty one is
    one line."""
    data = (work / "in.tif").read_bytes()
    run = streamjpeg("-", "piped.jpg", cwd=work, input=data)
    assert run.returncode == 0, run.stderr
    streamjpeg("in.tif", "direct.jpg", cwd=work)
    assert (work / "piped.jpg").read_bytes() == (work / "direct.jpg").read_bytes()
    Image.fromarray(_rgb()).save(work / "in.png")
    run = streamjpeg("-", "-", cwd=work, input=(work / "in.png").read_bytes())
    assert run.returncode == 0 and Image.open(io.BytesIO(run.stdout)).size == (211, 150)
    _assert_error(streamjpeg("-", "empty.jpg", cwd=work, input=b""), "standard input was empty")
    assert sorted(p.name for p in work.iterdir()) == ["direct.jpg", "in.png", "in.tif", "piped.jpg"]


def test_a_background_for_cmyk_is_refused_for_every_input(work):
    """CMYK has no alpha to composite: ``--background`` is refused in one line naming the
    file, for a TIFF and for an image file Pillow reads (it had been ignored there), and
    ``encode()`` refuses it for a PIL image; nothing is written."""
    from pillow_streamjpeg import encode

    Image.fromarray(_rgb(20, 30)).convert("CMYK").save(work / "cmyk.jpg")
    tifffile.imwrite(work / "cmyk.tif", np.zeros((20, 30, 4), np.uint8), photometric="separated")
    for name in ("cmyk.jpg", "cmyk.tif"):
        run = streamjpeg(name, "out.jpg", "--background", "white", cwd=work)
        _assert_error(run, name, "background applies to grey or RGB images, not CMYK")
        assert not (work / "out.jpg").exists()
        assert streamjpeg(name, "out.jpg", cwd=work).returncode == 0  # without, converted
        (work / "out.jpg").unlink()
    with Image.open(work / "cmyk.jpg") as image, pytest.raises(ValueError, match="not CMYK"):
        encode(image, io.BytesIO(), background="white")


def test_damaged_image_headers_are_damaged_and_pillow_warnings_silent(work):
    """A file Pillow opens but whose header breaks (a JPEG, a WebP, a PCX cut short) is
    `FILE: damaged:` in one line, not Pillow's own text ("Truncated File Read", "could not
    create decoder object", "[Errno 22] Invalid argument"); from standard input too. The
    warnings Pillow gives as it reads odd files (corrupt EXIF) are not printed."""
    image = Image.fromarray(_rgb(45, 67))
    for name, fmt, keep in (("t.jpg", "JPEG", 30), ("t.webp", "WEBP", 100), ("t.pcx", "PCX", 500)):
        buffer = io.BytesIO()
        (image.quantize(8) if fmt == "PCX" else image).save(buffer, fmt)
        (work / name).write_bytes(buffer.getvalue()[:keep])
        _assert_error(streamjpeg(name, "out.jpg", cwd=work), name, "damaged")
        assert not (work / "out.jpg").exists()
    run = subprocess.run([sys.executable, "-m", "pillow_streamjpeg", "-", "out.jpg"], cwd=work,
                         input=(work / "t.jpg").read_bytes(), capture_output=True)
    _assert_error(run, "standard input", "damaged")
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "TestMake"
    image.save(work / "badexif.jpg", exif=exif.tobytes()[:20])  # Pillow warns reading it
    run = streamjpeg("badexif.jpg", "out.jpg", cwd=work)
    assert run.returncode == 0 and run.stderr == b"", run.stderr


def test_range_takes_a_negative_low_written_with_a_point(work):
    """``--range -.5,1`` as ``--range=-.5,1`` (argparse had taken "-.5,1" for an option)."""
    values = np.linspace(-0.5, 1, 24 * 40, dtype=np.float32).reshape(24, 40)
    tifffile.imwrite(work / "f.tif", values)
    run = streamjpeg("f.tif", "a.jpg", "--range", "-.5,1", cwd=work)
    assert run.returncode == 0, run.stderr
    assert streamjpeg("f.tif", "b.jpg", "--range=-0.5,1", cwd=work).returncode == 0
    assert (work / "a.jpg").read_bytes() == (work / "b.jpg").read_bytes()


def test_an_empty_or_cut_image_file_is_damaged_not_of_another_format(work):
    """A file that begins as a PNG does (or is empty) but that Pillow cannot identify is
    `damaged`, not `not supported: not an image format` (which a text file still is)."""
    buffer = io.BytesIO()
    Image.fromarray(_rgb(20, 30)).save(buffer, "PNG")
    (work / "cut.png").write_bytes(buffer.getvalue()[:40])
    (work / "empty.png").write_bytes(b"")
    (work / "text.png").write_bytes(b"hello, not an image\n")
    _assert_error(streamjpeg("cut.png", "out.jpg", cwd=work), "cut.png: damaged:")
    _assert_error(streamjpeg("empty.png", "out.jpg", cwd=work), "empty.png: damaged: the file is empty")
    _assert_error(streamjpeg("text.png", "out.jpg", cwd=work),
                  "text.png: not supported: not an image format")
    assert not (work / "out.jpg").exists()


def test_a_tiff_of_no_rows_is_damaged(work):
    """A TIFF whose ImageLength entry has a corrupt count (tifffile drops the tag and reads
    0 rows) was refused as `cannot write empty image as JPEG (20x0)`, no file named, and
    ``encode()`` raised a plain ValueError: it is `FILE: damaged:` in one line, and
    ``errors.Damaged`` from ``encode()``; nothing is written."""
    import struct

    from pillow_streamjpeg import encode, errors

    path = work / "rows.tif"
    tifffile.imwrite(path, np.zeros((10, 20, 3), np.uint8), photometric="rgb", metadata=None)
    with tifffile.TiffFile(path) as tif:
        entry = tif.pages[0].tags["ImageLength"].offset  # the 12-byte IFD entry
    data = bytearray(path.read_bytes())
    data[entry + 4:entry + 8] = struct.pack("<I", 0x96000001)  # its count
    path.write_bytes(data)
    _assert_error(streamjpeg("rows.tif", "out.jpg", cwd=work),
                  "rows.tif: damaged: an image of 20x0 pixels")
    assert not (work / "out.jpg").exists()
    with pytest.raises(errors.Damaged, match="rows.tif: damaged: an image of 20x0 pixels"):
        encode(path, work / "out.jpg")
    assert not (work / "out.jpg").exists()


def test_quality_and_subsampling_take_what_the_save_option_takes(work):
    """--quality takes Pillow's preset names and keep (a JPEG input's tables) as the save
    option does; --subsampling its names and keep (it refused the presets and keep)."""
    run = streamjpeg("in.tif", "web.jpg", "--quality", "web_high", "-q", cwd=work)
    assert run.returncode == 0, run.stderr
    expected = io.BytesIO()
    pillow_streamjpeg.encode(work / "in.tif", expected, quality="web_high")
    assert (work / "web.jpg").read_bytes() == expected.getvalue()
    Image.fromarray(_rgb()).save(work / "in.jpg", quality=70, subsampling=1)
    run = streamjpeg("in.jpg", "kept.jpg", "--quality", "keep", "--subsampling", "keep", "-q",
                     cwd=work)
    assert run.returncode == 0, run.stderr
    with Image.open(work / "in.jpg") as source, Image.open(work / "kept.jpg") as kept:
        assert kept.quantization == source.quantization
        assert kept.layer == source.layer  # the same sampling factors
    run = streamjpeg("in.tif", "s.jpg", "--subsampling", "4:2:0", "-q", cwd=work)
    assert run.returncode == 0, run.stderr
    with Image.open(work / "s.jpg") as out:
        assert out.layer[0][1:3] == (2, 2)
