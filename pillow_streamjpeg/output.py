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


@contextlib.contextmanager
def opened(fp: str | bytes | os.PathLike | IO[bytes]) -> Iterator[IO[bytes]]:
    """A writable binary file: a path is written to a temporary file beside it,
    renamed over it on success and removed on failure.

    The temporary file is created with FILE_MODE, which the system reduces by
    the process's umask, so the result has the mode ``open(path, "wb")`` gives
    a new file; the umask itself is never changed (other threads may be saving).
    A file replaced keeps its permission bits, as ``open(path, "wb")`` keeps them.
    As with ``open(path, "wb")``, a symbolic link is written through (its target
    replaced, the link kept), and a path that names no regular file (a named
    pipe, a device) is written in place. A folder, or a path in a missing
    folder, is refused before any work, naming the path given.
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
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if mode is not None and not stat.S_ISREG(mode):
        with open(target, "wb") as out:  # a pipe or a device: no file to replace
            yield out
        return
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
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
        if mode is not None:
            with contextlib.suppress(OSError):
                os.chmod(temp, stat.S_IMODE(mode))
        with os.fdopen(handle, "wb") as out:
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


#: Flags of the temporary file: created here, never opened before.
_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
          | getattr(os, "O_CLOEXEC", 0))


def _temp_path(folder: str | bytes) -> str | bytes:
    """A new hidden file name in ``folder``."""
    # os.urandom, not secrets: secrets imports hashlib, whose OpenSSL library
    # costs every save 3.7 MiB of resident memory
    name = f".streamjpeg-{os.urandom(6).hex()}.part"
    return os.path.join(folder, os.fsencode(name) if isinstance(folder, bytes) else name)
