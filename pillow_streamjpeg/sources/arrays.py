"""Arrays as sources: numpy, memmap, zarr, dask or any array-like, read a band at a time."""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from typing import Any

import numpy as np

from .bands import band_rows
from .base import INVERTED_MODES, Source, check_channels, inverted
from .pillow import ALPHA_MODES as PIL_ALPHA_MODES

#: The mode of an array by samples per pixel, when none is given.
DEFAULT_MODES = {1: "L", 3: "RGB", 4: "RGB"}

#: Modes with alpha an array may name (``pillow.ALPHA_MODES``' unassociated ones): read as
#: their colour mode with the alpha (the last sample) dropped, as ``encode()`` drops a PIL
#: image's of that mode without a background, which arrays do not take.
ALPHA_MODES = {mode: colour for mode, (colour, _, alpha) in PIL_ALPHA_MODES.items()
               if alpha == "unassociated"}


class ArraySource(Source):
    """A uint8 array-like of shape (height, width) or (height, width, 1|3|4).

    Anything with ``shape``, ``dtype`` and row slicing will do. ``mode``
    defaults to "L" for one sample per pixel and "RGB" for 3 or 4 (the fourth,
    alpha or padding, ignored); "L" takes 2 too (the second ignored), "LA" 2 and
    "RGBA" 4 (read as "L" and "RGB", the alpha dropped as an LA or RGBA PIL
    image's is), "CMYK" 4 samples of ink (0 is none).
    Only a band at a time is sliced and copied: strided, Fortran-ordered or
    lazy arrays are never copied whole. Pages of a read-only or shared
    ``np.memmap`` are released after each band, so they do not pile up in the
    resident set.
    """

    def __init__(self, array: Any, mode: str | None = None) -> None:
        shape = tuple(array.shape)
        if len(shape) not in (2, 3):
            raise TypeError(f"cannot encode an array of shape {shape}; expected (height, width) "
                            "or (height, width, 1|3|4)")
        if np.dtype(array.dtype) != np.uint8:
            raise TypeError(_dtype_refusal(array))
        channels = 1 if len(shape) == 2 else int(shape[2])
        if mode is None:
            mode = DEFAULT_MODES.get(channels)
            if mode is None:
                raise ValueError(f"cannot encode an array with {channels} samples per pixel; "
                                 "expected 1 (grey), 3 (RGB) or 4 (RGB and one ignored, or "
                                 "mode='CMYK'), or 2 with mode='L' or 'LA' (grey and one "
                                 "ignored)")
        if mode in ALPHA_MODES:
            colour = ALPHA_MODES[mode]
            if channels != len(mode):  # the alpha is there to drop, and nothing else
                raise ValueError(f"cannot encode an array with {channels} samples per pixel "
                                 f"as mode {mode}; expected {len(mode)} ({colour} and alpha)")
            mode = colour
        self.array = array
        self.mode = mode
        self.channels = check_channels(mode, channels, "an array")
        self.size = (int(shape[1]), int(shape[0]))
        self.invert = mode in INVERTED_MODES

    def read_bands(self, strip_height: int, rows: int | None = None) -> Iterator[np.ndarray]:
        """Bands of ``rows`` rows (default: about BAND_BYTES) as the JPEG stores them."""
        array = self.array
        width, height = self.size
        step = rows or band_rows(width * self.channels, strip_height)
        release = _memmap_releaser(array)
        for top in range(0, height, step):
            part = array[top:top + step]
            if release is not None:  # a copy, then the mapped pages it came from are dropped
                band = np.array(part, dtype=np.uint8, order="C", copy=True)
                release(part)
            else:
                band = np.asarray(part)
            yield as_band(band, self.invert)


def _dtype_refusal(array: Any) -> str:
    """Why an array of another type than uint8 is refused, and for integers and floats how to
    make it one: an array's samples are encoded as they are, with no range to render them
    through (a TIFF's, and a 16-bit, 32-bit or float grey PIL image's, are: ``render``)."""
    dtype = np.dtype(array.dtype)
    refusal = f"cannot encode an array of dtype {dtype}; expected uint8"
    if dtype.kind not in "iuf":
        return refusal
    grey = (", or give Image.fromarray(array), rendered through range= as 16-bit, 32-bit and "
            "float grey PIL images are" if isinstance(array, np.ndarray) and array.ndim == 2
            else "")
    return (f"{refusal} (samples are encoded as they are): scale it first, e.g. "
            f"np.clip((array - low) * (255 / (high - low)), 0, 255).round().astype(np.uint8)"
            f"{grey}")


def as_band(block: Any, invert: bool) -> np.ndarray:
    """Rows of an array (rows, width[, samples]) as a C-contiguous (rows, width * samples)
    uint8 band, inverted for an inverted mode."""
    band = np.asarray(block)
    if band.dtype != np.uint8:  # an array-like that declared uint8 (the Dask source checks too)
        raise ValueError(f"the array's rows came as {band.dtype}, not the uint8 it declares")
    band = np.ascontiguousarray(band).reshape(band.shape[0], -1)
    return inverted(band) if invert else band


def _memmap_releaser(array):
    """For a shared or read-only np.memmap: a function dropping a view's pages."""
    buffer = getattr(array, "_mmap", None)
    if not isinstance(array, np.memmap) or buffer is None or getattr(array, "mode", "c") == "c":
        return None
    if not hasattr(buffer, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return None
    try:
        base = np.frombuffer(buffer, dtype=np.uint8).ctypes.data
    except (TypeError, ValueError):
        return None
    size = len(buffer)
    page = mmap.PAGESIZE

    def release(view) -> None:
        if not isinstance(view, np.ndarray) or view.size == 0:
            return
        low, high = np.byte_bounds(view) if hasattr(np, "byte_bounds") else np.lib.array_utils.byte_bounds(view)
        start = max(0, (low - base) // page * page)
        end = min(size, high - base)
        if end > start:
            try:
                buffer.madvise(mmap.MADV_DONTNEED, start, end - start)
            except (OSError, ValueError):
                pass

    return release


