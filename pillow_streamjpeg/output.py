"""The output of ``encode``: a file object as it is, or a path written whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Iterator
from typing import IO

#: Mode of a new output file before the umask applies, as ``open(path, "wb")`` uses.
FILE_MODE = 0o666


def refuse_empty(fp: object, instead: str | None = "a binary file object") -> None:
    """ValueError naming an empty path ('' or b''), which ``open`` takes for the current
    folder ("[Errno 21] Is a directory: ''"), and what to give: a JPEG file to write, or
    ``instead`` (the command's ``-`` for standard output)."""
    if isinstance(fp, (str, bytes, os.PathLike)) and not os.fspath(fp):
        raise ValueError(f"output is empty ({os.fspath(fp)!r}): give a JPEG file to write"
                         + (f", or {instead}" if instead else ""))


@contextlib.contextmanager
def opened(fp: str | bytes | os.PathLike | IO[bytes]) -> Iterator[IO[bytes]]:
    """A writable binary file: a path is written to a temporary file beside it,
    renamed over it on success and removed on failure.

    The temporary file is created with FILE_MODE, which the system reduces by
    the process's umask, so the result has the mode ``open(path, "wb")`` gives
    a new file; the umask itself is never changed (other threads may be saving).
    A file replaced keeps its permission bits, as ``open(path, "wb")`` keeps them.
    As with ``open(path, "wb")``, a symbolic link is written through (its target
    replaced, the link kept), a path that names no regular file (a named pipe, a
    device, ``/dev/stdout``) is written in place, and a file that is not
    writable is refused. A folder, or a path in a missing folder, is refused
    before any work, naming the path given (an empty one is refused by ``refuse_empty``,
    which ``pipeline.encode`` calls before the source is opened).
    """
    if not isinstance(fp, (str, bytes, os.PathLike)):
        if not callable(getattr(fp, "write", None)):
            raise TypeError(f"cannot write to {type(fp).__name__}: expected a path or a "
                            "binary file object (with a write method)")
        if isinstance(fp, io.TextIOBase):
            raise TypeError(f"cannot write JPEG data to a text file ({getattr(fp, 'name', fp)!r}): "
                            "open it in binary mode, open(path, 'wb')")
        yield fp
        return
    path = os.fspath(fp)
    if not os.path.basename(path):  # "out.jpg/" names a folder, as open() takes it
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    try:
        # os.stat follows links as open() does, /dev/stdout and /proc/self/fd/N included
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    target = os.path.realpath(path)  # a symbolic link's target is what gets replaced
    if st is not None and (not stat.S_ISREG(st.st_mode) or not _same(st, target)):
        # a pipe, a device, or a file only a /proc link reaches (deleted, or a pipe
        # behind /dev/stdout): written in place, as open(path, "wb") writes it
        with _named(path), open(path, "wb") as out:
            yield out
        return
    if st is not None and not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    mode = None if st is None else st.st_mode
    temp, handle, out = "", -1, None
    try:
        # created inside the try, its name known before: an interrupt (SIGINT) that
        # lands just after the file appears still removes it
        while handle < 0:
            temp = _temp_path(folder)
            try:
                handle = os.open(temp, _FLAGS, FILE_MODE)
            except FileExistsError:  # pragma: no cover - 48 random bits taken
                temp = ""  # not ours
            except OSError as exc:
                # the folder refuses a new file (no permission, a read-only file system,
                # /proc, a full disk): named by the path given, as open(path, "wb") names
                # it, not by the temporary file (OSError's errno picks the same subclass)
                temp = ""
                raise OSError(exc.errno, exc.strerror, path) from None
        if mode is not None:
            with contextlib.suppress(OSError):
                os.chmod(temp, stat.S_IMODE(mode))
        with _named(path), os.fdopen(handle, "wb") as out:
            yield out
        os.replace(temp, target)
    except BaseException:
        if out is None and handle >= 0:
            with contextlib.suppress(OSError):
                os.close(handle)
        if temp:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise


#: Errors only a write raises (a full disk or quota, a file too large): named by the output's
#: path where the write's own error names no file ("[Errno 28] No space left on device")
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@contextlib.contextmanager
def _named(path: str | bytes) -> Iterator[None]:
    """Writes' errors of no file name named by ``path`` (the output given)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno in _WRITE_ERRNOS:
            raise OSError(exc.errno, exc.strerror, path) from exc
        raise


def _same(st: os.stat_result, path: str | bytes) -> bool:
    """Whether ``path`` is the file ``st`` describes."""
    try:
        other = os.stat(path)
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


#: Flags of the temporary file: created here, never opened before.
_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
          | getattr(os, "O_CLOEXEC", 0))


def _temp_path(folder: str | bytes) -> str | bytes:
    """A new hidden file name in ``folder``."""
    # os.urandom, not secrets: secrets imports hashlib, whose OpenSSL library
    # costs every save 3.7 MiB of resident memory
    name = f".streamjpeg-{os.urandom(6).hex()}.part"
    return os.path.join(folder, os.fsencode(name) if isinstance(folder, bytes) else name)
