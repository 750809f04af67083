"""The output of ``encode``: a file object as it is, or a path written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from typing import IO

#: Mode of a new output file before the umask applies, as ``open(path, "wb")`` uses.
FILE_MODE = 0o666


@contextlib.contextmanager
def opened(fp: str | os.PathLike | IO[bytes]) -> Iterator[IO[bytes]]:
    """A writable binary file: a path is written to a temporary file beside it,
    renamed over it on success and removed on failure.

    The temporary file is created with FILE_MODE, which the system reduces by
    the process's umask, so the result has the mode ``open(path, "wb")`` gives
    a new file; the umask itself is never changed (other threads may be saving).
    A file replaced keeps its permission bits, as ``open(path, "wb")`` keeps them.
    """
    if not isinstance(fp, (str, os.PathLike)):
        yield fp
        return
    path = os.fspath(fp)
    folder = os.path.dirname(os.path.abspath(os.fsdecode(path)))
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
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, stat.S_IMODE(os.stat(path).st_mode))
        with os.fdopen(handle, "wb") as out:
            yield out
        os.replace(temp, path)
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


def _temp_path(folder: str) -> str:
    """A new hidden file name in ``folder``."""
    # os.urandom, not secrets: secrets imports hashlib, whose OpenSSL library
    # costs every save 3.7 MiB of resident memory
    return os.path.join(folder, f".streamjpeg-{os.urandom(6).hex()}.part")
