"""Sources: every kind of image the encoder takes, behind one protocol (``Source``).

One module per kind: ``pillow`` (PIL images and other image files), ``arrays``
(numpy, memmap, zarr, dask ... arrays), ``rows`` (``RowBands``: an iterable of
row bands), ``tiff`` (a TIFF page, series or pyramid level); ``bands`` holds
the band tools they share. ``as_source`` turns what ``encode`` is given into a
Source.
"""

from __future__ import annotations

import os
from typing import Any

from PIL import Image

from .arrays import ArraySource
from .bands import BAND_BYTES, BufferPool, band_rows, rebuffer, release_rows
from .base import INVERTED_MODES, Source
from .pillow import PillowSource, open_image
from .rows import RowBands
from .tiff import TiffSource, is_tiff

__all__ = [
    "BAND_BYTES", "INVERTED_MODES", "ArraySource", "BufferPool", "PillowSource", "RowBands",
    "Source", "TiffSource", "as_source", "band_rows", "rebuffer", "release_rows",
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
) -> Source:
    """The Source of what ``encode`` is given.

    A Source is returned as it is; a PIL image, an array (``mode`` to choose),
    a TIFF (path or ``tifffile.TiffFile``; ``page``, or ``series`` and
    ``level``), another image file path (opened with Pillow), or an iterable
    of row bands with ``size`` (and ``mode``, ``channels``) become one. A
    choice that does not apply to the kind of source raises TypeError. Close
    the result (or use it in a ``with``) to close the files it opened.
    """
    given = {"page": page, "series": series, "level": level, "size": size, "mode": mode,
             "channels": channels}

    def only(kind: str, *allowed: str) -> None:
        extra = sorted(k for k, v in given.items() if v is not None and k not in allowed)
        if extra:
            raise TypeError(f"option{'s' * (len(extra) > 1)} {', '.join(extra)} "
                            f"do{'es' * (len(extra) == 1)} not apply to {kind}")

    if isinstance(source, Source):
        only("a Source")
        return source
    if isinstance(source, Image.Image):
        only("a PIL image")
        return PillowSource(source)
    if is_tiff(source):
        only("a TIFF", "page", "series", "level")
        return TiffSource(source, page=page, series=series, level=level)
    if isinstance(source, (str, os.PathLike)):
        only("an image file other than TIFF")
        return open_image(source)
    if size is not None and not hasattr(source, "shape") and hasattr(source, "__iter__"):
        only("row bands", "size", "mode", "channels")
        return RowBands(source, size, mode or "RGB", channels)
    if not hasattr(source, "shape") or not hasattr(source, "dtype"):
        raise TypeError(
            f"cannot encode {type(source).__name__}: expected a PIL image, an array of shape "
            "(height, width) or (height, width, 1|3|4), a TIFF or image path, a "
            "tifffile.TiffFile, a Source, or row bands with size=(width, height)"
        )
    only("an array", "mode")
    return ArraySource(source, mode)
