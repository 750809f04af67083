"""Why a file cannot be converted, in one line for the command.

Two kinds of refusal: a valid file we do not render (``NotSupported``: "FILE:
not supported: WHAT (supported: ...)") and a broken one (``Damaged``: "FILE:
damaged: WHAT"). ``classify`` maps what tifffile, zarr, imagecodecs, struct or
a ValueError raised while reading a file to one of them, without the library's
own text, which names internals the user cannot act on.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from typing import Any

__all__ = ["Damaged", "NotSupported", "Refused", "classify", "too_large"]

#: Largest side of a baseline JPEG (the same as ``shrink.JPEG_MAX``).
JPEG_MAX = 65500


class Refused(ValueError):
    """A file the command does not convert; ``str()`` is the one-line message."""

    kind = "refused"

    def __init__(self, file: Any, what: str, *, supported: str | None = None) -> None:
        self.file = os.fspath(file) if isinstance(file, (str, os.PathLike)) else str(file)
        self.what = what
        self.supported = supported
        super().__init__(self.message())

    def message(self) -> str:
        """``FILE: KIND: WHAT`` plus ``(supported: ...)`` when known."""
        text = f"{self.file}: {self.kind}: {self.what}"
        return f"{text} (supported: {self.supported})" if self.supported else text


class NotSupported(Refused):
    """A valid file, or a part of one, that we do not render."""

    kind = "not supported"


class Damaged(Refused):
    """A file whose bytes are broken: truncated, bad offsets, undecodable data."""

    kind = "damaged"


def _type_names(exc: BaseException) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}


def classify(exc: BaseException, file: Any, *, what: str = "cannot read the image",
             supported: str | None = None) -> Refused:
    """The refusal for an exception raised while reading ``file``.

    ``Refused`` passes through. ``NotImplementedError`` and tifffile's or
    imagecodecs' "not supported"/"unsupported" errors (an unknown compression,
    a missing codec) are ``NotSupported`` with ``what`` and ``supported``;
    everything else a parser or decoder raises (TiffFileError, struct.error,
    zlib.error, imagecodecs' codec errors, zarr errors, IndexError, KeyError,
    ValueError, EOFError, ZeroDivisionError ...) is ``Damaged``. The exception's
    own text is never put into the message. MemoryError, KeyboardInterrupt and
    OSError other than EOF are not file problems: they are re-raised.
    """
    if isinstance(exc, Refused):
        return exc
    if isinstance(exc, (MemoryError, KeyboardInterrupt, SystemExit)):
        raise exc
    if isinstance(exc, OSError) and not isinstance(exc, EOFError):
        raise exc
    names = _type_names(exc)
    text = str(exc).lower()
    if (isinstance(exc, NotImplementedError)
            or any(n.endswith(("DelayedImportError", "ImportError")) for n in names)
            or any(word in text for word in ("not supported", "unsupported", "not implemented", "requires"))
            and not _damage_text(text)
            and not isinstance(exc, (struct.error, zlib.error, EOFError))):
        return NotSupported(file, what, supported=supported)
    return Damaged(file, what)


#: libjpeg's "Unsupported marker type 0x%02x" (imagecodecs' Jpeg8Error) names a byte after
#: 0xFF that baseline and progressive JPEG do not use: one no marker has (0x7F) is damage,
#: which only a broken scan puts there; JPEG's extension markers (DHP 0xDE, EXP 0xDF, JPG0 to
#: JPG13 0xF0 to 0xFD, JPEG-LS's SOF55 0xF7 and LSE 0xF8 among them) are a feature libjpeg
#: lacks.
_UNSUPPORTED_MARKER = re.compile(r"unsupported marker type 0x([0-9a-f]{1,2})")
_EXTENSION_MARKERS = frozenset({0xDE, 0xDF, *range(0xF0, 0xFE)})


def _damage_text(text: str) -> bool:
    """Whether a decoder's message that reads like a missing feature names damage."""
    found = _UNSUPPORTED_MARKER.search(text)
    return found is not None and int(found[1], 16) not in _EXTENSION_MARKERS


def too_large(file: Any, width: int, height: int, *, limit: int = JPEG_MAX,
              shrink: int = 1) -> NotSupported:
    """The refusal of an image with a side above ``limit``, naming the way out.

    ``FILE: not supported: 70000 x 1200 pixels (supported: at most 65500 a side;
    --max-size 65500 or --shrink 2 makes it fit (in Python: max_size=65500 or
    shrink=2))``: the command's options, and ``encode``'s. ``shrink``: a factor the input of
    ``width`` x ``height`` was shrunk by, still too large (the message gives both sizes).
    """
    factor = max(1, -(-width // limit), -(-height // limit))
    what = f"{width} x {height} pixels"
    if shrink > 1:
        what += f" shrunk by {shrink} to {-(-width // shrink)} x {-(-height // shrink)}"
    return NotSupported(
        file, what,
        supported=(f"at most {limit} a side; --max-size {limit} or --shrink {factor} makes it fit "
                   f"(in Python: max_size={limit} or shrink={factor})"),
    )
