"""Sources: every kind of image the encoder takes, behind one protocol (``Source``).

One module per kind: ``pillow`` (PIL images and other image files), ``arrays``
(numpy, memmap, zarr, dask ... arrays), ``rows`` (``RowBands``: an iterable of
row bands), ``tiff`` (a TIFF page, series or pyramid level); ``bands`` holds
the band tools they share. ``as_source`` turns what ``encode`` is given into a
Source.
"""

from __future__ import annotations

import io
import os
from typing import Any

from PIL import Image

from .arrays import ArraySource
from .bands import (BAND_BYTES, BufferPool, DeferredBand, band_rows, leave_rows, rebuffer,
                    release_rows, rows_of)
from .base import INVERTED_MODES, Source, check_channels, whole_size
from .pillow import PillowSource, open_image, writable
from .. import errors, render, shrink as shrink_
from ..options import whole_number
from .rows import RowBands
from .shrunk import ShrunkSource
from .tiff import TiffSource, is_tiff

__all__ = [
    "BAND_BYTES", "INVERTED_MODES", "ArraySource", "BufferPool", "DeferredBand", "PillowSource",
    "RowBands", "ShrunkSource", "Source", "TiffSource", "as_source", "band_rows", "rebuffer",
    "leave_rows", "release_rows", "rows_of",
]


def as_source(
    source: Any,
    *,
    page: int | None = None,
    series: int | None = None,
    level: int | None = None,
    size: tuple[int, int] | None = None,
    mode: str | None = None,
    channels: int | None = None,
    range: Any = None,
    background: Any = None,
    shrink: int | None = None,
    max_size: int | None = None,
    strip: bool = False,
) -> Source:
    """The Source of what ``encode`` is given.

    A Source is returned as it is; a PIL image, an array (``mode`` to choose),
    a TIFF (path or ``tifffile.TiffFile``; ``page``, or ``series`` and
    ``level``; ``range``), another image file path (opened with Pillow), or an
    iterable of row bands with ``size`` (and ``mode``, ``channels``) become
    one. ``background`` composites alpha of TIFFs, image files and PIL images
    (RGBA, LA, RGBa, La) on a colour. ``shrink`` (a factor) or ``max_size``
    (pixels a side; a TIFF pyramid level that fits is read instead when there
    is one) make any source smaller (``ShrunkSource``). ``strip=True``: the
    source carries no metadata (a Source given as it is keeps its own, which
    ``encode`` then leaves out). A choice that does not apply to the kind of
    source raises TypeError. Close the result (or use it in a ``with``) to
    close the files it opened.
    """
    if shrink is not None and max_size is not None:
        raise TypeError("give shrink or max_size, not both")
    for name, value in (("shrink", shrink), ("max_size", max_size)):
        if value is not None and (whole_number(value) or 0) < 1:
            raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    shrink = None if shrink is None else int(shrink)
    # a size above JPEG's limit could pick a level or factor whose output is still refused
    max_size = None if max_size is None else min(int(max_size), shrink_.JPEG_MAX)
    if max_size is not None and is_tiff(source) and page is None and level is None:
        pixels = _read(source, page=page, series=series, level=level, size=size, mode=mode,
                       channels=channels, range=range, background=background, strip=strip)
        shapes = pixels.level_shapes()
        best, factor = shrink_.choose_level(shapes, max_size)
        if best:
            if pixels is not source:
                pixels.close()
            pixels = _read(source, series=series, level=best, range=range,
                           background=background, strip=strip)
    else:
        pixels = _read(source, page=page, series=series, level=level, size=size, mode=mode,
                       channels=channels, range=range, background=background, strip=strip,
                       fits=shrink is None and max_size is None)
        factor = shrink or (shrink_.factor_for(*pixels.size, max_size) if max_size else 1)
    return ShrunkSource(pixels, factor) if factor > 1 else pixels


def check_size(source: Source, name: Any = "image") -> None:
    """Refuse a source above JPEG's 65500 pixels a side (``errors.too_large``, naming
    ``--max-size``) before any work; TypeError for a size that is not two integers."""
    width, height = whole_size(source.size, "a source's size")
    if width > shrink_.JPEG_MAX or height > shrink_.JPEG_MAX:
        file = getattr(source, "name", None) or name
        if isinstance(source, ShrunkSource):  # still too large: the way out from the input's size
            raise errors.too_large(file, *source.source.size, shrink=source.factor)
        raise errors.too_large(file, width, height)


def _read(
    source: Any, *, page=None, series=None, level=None, size=None, mode=None, channels=None,
    range=None, background=None, strip=False, fits=False,
) -> Source:
    given = {"page": page, "series": series, "level": level, "size": size, "mode": mode,
             "channels": channels, "range": range, "background": background}

    def only(kind: str, *allowed: str) -> None:
        extra = sorted(k for k, v in given.items() if v is not None and k not in allowed)
        if extra:
            raise TypeError(f"option{'s' * (len(extra) > 1)} {', '.join(extra)} "
                            f"do{'es' * (len(extra) == 1)} not apply to {kind}")

    if isinstance(source, Source):
        only("a Source")
        return source
    if isinstance(source, Image.Image):
        # as an image file's: palettes applied, 16-bit and float grey rendered
        only("a PIL image", "background", "range")
        return PillowSource(writable(source, render.parse_range(range)), alpha=True,
                            background=background, carry=not strip, described=source)
    if is_tiff(source):
        only("a TIFF", "page", "series", "level", "range", "background")
        return TiffSource(source, page=page, series=series, level=level, range=range,
                          background=background, carry=not strip)
    if isinstance(source, (str, os.PathLike)):
        only("an image file other than TIFF", "range", "background")
        # without a shrink, an image file too large for JPEG is refused from its header,
        # before Pillow decodes it whole (``check_size``'s refusal, earlier)
        return open_image(source, background=background, range=range, carry=not strip,
                          fits=fits)
    if size is not None and not hasattr(source, "shape") and hasattr(source, "__iter__"):
        only("row bands", "size", "mode", "channels")
        return RowBands(source, size, mode or "RGB", channels)
    if not hasattr(source, "shape") or not hasattr(source, "dtype"):
        raise TypeError(
            f"cannot encode {type(source).__name__}: expected a PIL image, an array of shape "
            "(height, width) or (height, width, 1|3|4), a TIFF or image path, a "
            "tifffile.TiffFile, a Source, or row bands with size=(width, height)"
            + _contents(source)
        )
    only("an array", "mode")
    return ArraySource(source, mode)


def _contents(source: Any) -> str:
    """How to encode the bytes of an image file, or a binary file object, that ``encode`` was
    given: the end of its refusal (nothing for other objects)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return ("; the bytes of an image file are opened first: "
                "encode(Image.open(io.BytesIO(data)), ...)")
    if callable(getattr(source, "read", None)) and not isinstance(source, io.TextIOBase):
        return "; a file's contents are opened first: encode(Image.open(file), ...)"
    return ""
