"""Where the bytes go: paths as ``open(path, "wb")`` treats them, every byte of every write.

``output.opened`` writes a path through a temporary file renamed over it, but a symbolic
link is written through (its target replaced, the link kept) and a named pipe or a device
in place, as ``open(path, "wb")`` would; a folder or a missing folder is refused before any
work, naming the path given. ``scan.write_all`` continues a raw file's partial writes and
refuses a non-blocking one that would block, where ignoring the count left a truncated
file behind a save that reported success.
"""

from __future__ import annotations

import io
import os
import stat
import threading

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg

PIXELS = np.random.default_rng(5).integers(0, 256, (96, 128, 3), dtype=np.uint8)


def _expected() -> bytes:
    out = io.BytesIO()
    pillow_streamjpeg.encode(PIXELS, out)
    return out.getvalue()


def test_a_symbolic_link_is_written_through(tmp_path) -> None:
    target, link = tmp_path / "target.jpg", tmp_path / "link.jpg"
    target.write_bytes(b"old")
    link.symlink_to(target.name)
    pillow_streamjpeg.encode(PIXELS, link)
    assert link.is_symlink() and os.readlink(link) == target.name
    assert target.read_bytes() == _expected()
    dangling = tmp_path / "dangling.jpg"
    dangling.symlink_to("new.jpg")
    pillow_streamjpeg.encode(PIXELS, dangling)
    assert dangling.is_symlink() and (tmp_path / "new.jpg").read_bytes() == _expected()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.jpg", "link.jpg",
                                                          "new.jpg", "target.jpg"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_written_in_place(tmp_path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    # a daemon: were the pipe replaced instead of written, its reader would wait for ever
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    pillow_streamjpeg.encode(PIXELS, fifo)
    reader.join(timeout=30)
    assert received == [_expected()]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="making a device node needs root")
def test_a_device_is_written_in_place(tmp_path) -> None:
    """A node of the null device made for the test (not /dev/null itself, which a
    regression would replace when run as root) stays the device."""
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    try:
        node.open("wb").close()
    except OSError:
        pytest.skip("device nodes do not open here (a nodev file system)")
    pillow_streamjpeg.encode(PIXELS, node)
    assert stat.S_ISCHR(os.stat(node).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_a_folder_or_missing_folder_is_refused_before_any_work(tmp_path) -> None:
    told = []
    with pytest.raises(IsADirectoryError) as info:
        pillow_streamjpeg.encode(PIXELS, tmp_path, progress=lambda *a: told.append(a))
    assert info.value.filename == os.fspath(tmp_path)
    missing = tmp_path / "nope" / "out.jpg"
    with pytest.raises(FileNotFoundError) as info:
        pillow_streamjpeg.encode(PIXELS, missing, progress=lambda *a: told.append(a))
    assert info.value.filename == os.fspath(missing)
    assert told == [] and list(tmp_path.iterdir()) == []
    assert not [name for name in os.listdir(tmp_path.parent) if name.startswith(".streamjpeg-")]


@pytest.mark.parametrize("empty", ["", b""])
def test_an_empty_path_is_refused_naming_it_before_any_work(tmp_path, monkeypatch, empty) -> None:
    """``open("")`` says "[Errno 21] Is a directory: ''": the empty output is named, as the
    command names it, before the source is opened (a missing one is not reported first)."""
    monkeypatch.chdir(tmp_path)
    told = []
    with pytest.raises(ValueError, match=r"^output is empty \(b?''\): give a JPEG file to "
                                         r"write, or a binary file object$"):
        pillow_streamjpeg.encode(PIXELS, empty, progress=lambda *a: told.append(a))
    with pytest.raises(ValueError, match="output is empty"):
        pillow_streamjpeg.encode(tmp_path / "missing.tif", empty)
    assert told == [] and list(tmp_path.iterdir()) == []


def test_a_bytes_path_is_a_path(tmp_path) -> None:
    path = os.fsencode(tmp_path / "out.jpg")
    pillow_streamjpeg.encode(PIXELS, path)
    assert (tmp_path / "out.jpg").read_bytes() == _expected()


@pytest.mark.parametrize("fp", [None, 5, "".encode, object()])
def test_what_is_neither_path_nor_file_is_a_type_error(fp) -> None:
    with pytest.raises(TypeError, match="expected a path or a binary file object"):
        pillow_streamjpeg.encode(PIXELS, fp)


def test_a_text_file_is_refused_naming_binary_mode(tmp_path) -> None:
    with open(tmp_path / "out.jpg", "w") as text, pytest.raises(TypeError, match="binary mode"):
        pillow_streamjpeg.encode(PIXELS, text)
    assert (tmp_path / "out.jpg").read_bytes() == b""


def test_progress_that_is_not_callable_is_refused_before_writing() -> None:
    out = io.BytesIO()
    with pytest.raises(TypeError, match="progress must be a function"):
        pillow_streamjpeg.encode(PIXELS, out, progress=5)
    assert out.getvalue() == b""


class ShortWriter(io.RawIOBase):
    """A raw file that takes at most ``most`` bytes a call, or, from ``block_after`` bytes
    on, none (``None``: a non-blocking file that would block)."""

    def __init__(self, most: int, block_after: int | None = None) -> None:
        self.most, self.block_after, self.data = most, block_after, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int | None:
        if self.block_after is not None and len(self.data) >= self.block_after:
            return None
        taken = bytes(memoryview(b)[:self.most])
        self.data += taken
        return len(taken)


def _save(fp, how: str) -> None:
    if how == "encode":
        pillow_streamjpeg.encode(PIXELS, fp)
    else:
        Image.fromarray(PIXELS).save(fp, format="STREAMJPEG")


@pytest.mark.parametrize("how", ["encode", "save"])
def test_partial_writes_are_continued_to_the_last_byte(how: str) -> None:
    raw = ShortWriter(most=997)
    _save(raw, how)
    assert bytes(raw.data) == _expected()


@pytest.mark.skipif(not hasattr(os, "set_blocking"), reason="no non-blocking pipes")
@pytest.mark.parametrize("how", ["encode", "save"])
def test_a_non_blocking_pipe_that_would_block_raises(how: str) -> None:
    """No reader: the pipe's buffer fills, the raw file's write returns None."""
    big = np.random.default_rng(6).integers(0, 256, (400, 600, 3), dtype=np.uint8)
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        with open(w, "wb", buffering=0, closefd=False) as raw, pytest.raises(BlockingIOError):
            if how == "encode":
                pillow_streamjpeg.encode(big, raw)
            else:
                Image.fromarray(big).save(raw, format="STREAMJPEG")
    finally:
        os.close(r)
        os.close(w)


def test_odd_write_results_are_taken_at_their_word() -> None:
    """A raw adapter returning None, a file object returning 0 or True (a compressor's count
    of its own output): all of the data taken, no loop resending it."""

    class RawSink(io.RawIOBase):
        def __init__(self, result) -> None:
            self.result, self.data = result, bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b):
            self.data += bytes(b)
            return self.result

    class Sink:
        def __init__(self, result) -> None:
            self.result, self.data = result, bytearray()

        def write(self, b):
            self.data += bytes(b)
            return self.result

    for sink in (RawSink(None), Sink(0), Sink(True), Sink(None)):
        pillow_streamjpeg.encode(PIXELS, sink)
        assert bytes(sink.data) == _expected(), sink
    with pytest.raises(OSError, match="took none"):
        pillow_streamjpeg.encode(PIXELS, RawSink(0))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc/self/fd")
def test_proc_fd_links_are_written_in_place(tmp_path) -> None:
    """/dev/stdout and /proc/self/fd/N: a pipe behind one, and a deleted temporary file (what
    a parent's stdout=tempfile.TemporaryFile() gives), get the bytes (realpath named a
    file that does not exist: an error, or the JPEG written beside, until 2026-12-02)."""
    r, w = os.pipe()
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(os.fdopen(r, "rb").read()),
                              daemon=True)
    reader.start()
    try:
        pillow_streamjpeg.encode(PIXELS, f"/proc/self/fd/{w}")
    finally:
        os.close(w)
    reader.join(timeout=30)
    assert received == [_expected()]
    import tempfile
    with tempfile.TemporaryFile(dir=tmp_path) as deleted:
        pillow_streamjpeg.encode(PIXELS, f"/proc/self/fd/{deleted.fileno()}")
        deleted.seek(0)
        assert deleted.read() == _expected()
    assert list(tmp_path.iterdir()) == []


def test_a_trailing_separator_names_a_folder(tmp_path) -> None:
    with pytest.raises(IsADirectoryError):
        pillow_streamjpeg.encode(PIXELS, f"{tmp_path / 'out.jpg'}{os.sep}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes read-only files")
def test_a_read_only_file_is_refused_as_open_refuses_it(tmp_path) -> None:
    path = tmp_path / "ro.jpg"
    path.write_bytes(b"keep")
    path.chmod(0o444)
    with pytest.raises(PermissionError):
        pillow_streamjpeg.encode(PIXELS, path)
    assert path.read_bytes() == b"keep"


def test_a_file_object_returning_none_is_taken_at_its_word() -> None:
    """Many write methods return None: such an object (not a raw file) got every byte."""

    class Sink:
        def __init__(self) -> None:
            self.parts: list[bytes] = []

        def write(self, b: bytes) -> None:
            self.parts.append(bytes(b))

    sink = Sink()
    pillow_streamjpeg.encode(PIXELS, sink)
    assert b"".join(sink.parts) == _expected()


def test_a_full_disk_names_the_output(tmp_path, monkeypatch) -> None:
    """A write's ENOSPC names no file ("[Errno 28] No space left on device", the command
    printed it so): the error names the output given, for a file written through its
    temporary file (removed, nothing left) and for a device written in place."""
    import errno

    from pillow_streamjpeg import scan

    real = scan.write_all
    calls = []

    def full(fp, data):
        calls.append(len(data))
        if len(calls) > 1:  # the headers written, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fp, data)

    monkeypatch.setattr(scan, "write_all", full)
    path = tmp_path / "out.jpg"
    with pytest.raises(OSError, match=r"No space left on device: '.*out\.jpg'") as caught:
        pillow_streamjpeg.encode(PIXELS, path)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(scan, "write_all", real)
    if os.path.exists("/dev/full"):
        with pytest.raises(OSError, match="No space left on device: '/dev/full'"):
            pillow_streamjpeg.encode(PIXELS, "/dev/full")


@pytest.mark.parametrize("code", ["EROFS", "ENOSPC", "EACCES", "ENOENT"])
def test_a_folder_refusing_a_new_file_names_the_output(tmp_path, monkeypatch, code) -> None:
    """The temporary file beside the output is the first file a save creates: where the
    folder refuses it (a read-only file system, a full disk, no permission, /proc), the
    error names the output given, as ``open(path, "wb")``'s would, not the temporary file,
    and nothing is left behind."""
    import errno

    number = getattr(errno, code)
    real = os.open

    def refused(path, flags, mode=0o777, **kwargs):
        if ".streamjpeg-" in os.fsdecode(path):
            raise OSError(number, os.strerror(number), path)
        return real(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", refused)
    path = tmp_path / "out.jpg"
    with pytest.raises(OSError) as caught:
        pillow_streamjpeg.encode(PIXELS, path)
    assert caught.value.errno == number and caught.value.filename == str(path)
    assert type(caught.value) is type(OSError(number, "x"))  # its subclass kept
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="Linux's /proc")
def test_a_path_in_proc_names_the_output() -> None:
    with pytest.raises(FileNotFoundError, match=r"'/proc/out\.jpg'"):
        pillow_streamjpeg.encode(PIXELS, "/proc/out.jpg")
    with pytest.raises(FileNotFoundError, match=r"'/proc/out\.jpg'"):
        Image.fromarray(PIXELS).save("/proc/out.jpg", format="STREAMJPEG")
