"""Band readers: pixel rows of a source, a band at a time, as C-contiguous uint8 arrays.

Bands hold whole strips (a multiple of the strip height) except the last, and
are read one after the other, so a source is never in memory whole.
"""

from __future__ import annotations

import math
import mmap
import weakref
from collections.abc import Iterable, Iterator

import numpy as np
from PIL import Image

#: Bytes a band aims at.
BAND_BYTES = 4 << 20

#: Bytes a band of a Pillow image aims at. Pillow holds the GIL while it packs
#: rows, so worker threads that finish a strip meanwhile wait for it: short
#: reads keep those waits short (the strip writer groups bands into tasks).
PILLOW_BAND_BYTES = 256 << 10


def band_rows(row_bytes: int, strip_height: int, target: int = BAND_BYTES) -> int:
    """Rows in a band of about ``target`` bytes: a whole number of strips."""
    strips = max(1, target // (row_bytes * strip_height))
    return strips * strip_height


class _Block(mmap.mmap):
    """A private anonymous memory mapping lent out by a BufferPool."""


#: mmap flags of a block whose pages can be given back (private: given-back
#: pages are freed, not kept by a shared mapping); None where unsupported.
_PRIVATE_ANONYMOUS = (
    mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    if hasattr(mmap, "MAP_ANONYMOUS") and hasattr(mmap, "MADV_DONTNEED") else None
)


class BufferPool:
    """Band buffers used again once the band and every view of it are gone.

    A reader that makes a new large array per band makes glibc's allocator
    keep freed bands: after a large block is freed it stops mapping blocks of
    that size and keeps up to twice as much freed heap. Bands taken from a
    pool reuse the same few blocks instead. Each band lent out wraps a block
    through a memoryview, so numpy's views of it keep it alive; when the last
    one goes, the block returns to the pool (from whichever thread drops it).

    With ``releasable`` the blocks are anonymous memory mappings and
    ``release_rows`` gives back the pages of rows already encoded while the
    rest of the band is still being encoded; the pages are then written afresh
    (zero-filled by the system) when the block is used again. That pays for
    bands so large that two of them are most of the memory (tile rows), not
    for bands of a few MB, where the page faults only cost time.
    """

    def __init__(self, nbytes: int, releasable: bool = False) -> None:
        self.nbytes = nbytes
        self.releasable = releasable
        self._free: list[_Block | memoryview] = []

    def take(self, shape: tuple[int, ...], dtype: np.dtype | type = np.uint8) -> np.ndarray:
        """An array of ``shape`` (at most ``nbytes``) on a pooled block, contents undefined."""
        dtype = np.dtype(dtype)
        count = math.prod(shape)
        if count * dtype.itemsize > self.nbytes:
            raise ValueError(f"{shape} {dtype} needs more than the pool's {self.nbytes} bytes")
        try:
            block = self._free.pop()
        except IndexError:
            if self.releasable and _PRIVATE_ANONYMOUS is not None:
                block = _Block(-1, max(1, self.nbytes), flags=_PRIVATE_ANONYMOUS)
            else:
                block = memoryview(np.empty(self.nbytes, np.uint8))
        band = np.frombuffer(block, dtype=dtype, count=count)
        weakref.finalize(band, self._free.append, block)
        return band.reshape(shape)


def release_rows(band: np.ndarray, top: int, rows: int) -> None:
    """Say that rows top .. top + rows - 1 of a band will not be read again.

    For a band lent by a releasable BufferPool the memory pages lying wholly
    inside those rows are given back to the system (they read as zeros if
    touched again); for any other band this does nothing.
    """
    lent = band.base
    block = getattr(getattr(lent, "base", None), "obj", None)
    rows = min(rows, band.shape[0] - top)
    if not isinstance(block, _Block) or not band.flags.c_contiguous or rows <= 0:
        return
    start = band.ctypes.data + top * band.strides[0] - lent.ctypes.data
    end = start + rows * band.strides[0]
    start = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
    end = end // mmap.PAGESIZE * mmap.PAGESIZE
    if end > start:
        try:
            block.madvise(mmap.MADV_DONTNEED, start, end - start)
        except (OSError, ValueError):  # refused (locked memory, a sandbox): kept
            pass


def pillow_bands(
    core_image,
    extents: tuple[int, int, int, int],
    rawmode: str,
    channels: int,
    strip_height: int,
) -> Iterator[np.ndarray]:
    """Rows of a Pillow core image packed in ``rawmode``, read with one raw encoder.

    The raw encoder packs exactly the rows asked for, without copying the image.
    """
    x0, y0, x1, y1 = extents
    row_bytes = (x1 - x0) * channels
    rows_per_band = band_rows(row_bytes, strip_height, PILLOW_BAND_BYTES)
    encoder = Image.core.raw_encoder(core_image.mode, rawmode)
    encoder.setimage(core_image, extents)
    remaining = y1 - y0
    while remaining > 0:  # never call the encoder again once it is done
        rows = min(rows_per_band, remaining)
        size = rows * row_bytes
        _, errcode, data = encoder.encode(size)
        if errcode < 0 or len(data) != size:
            raise OSError(f"reading image rows failed (error {errcode}, {len(data)} of {size} bytes)")
        remaining -= rows
        yield np.frombuffer(data, dtype=np.uint8).reshape(rows, row_bytes)


def rebuffer(
    bands: Iterable[np.ndarray], row_bytes: int, strip_height: int, height: int,
) -> Iterator[np.ndarray]:
    """Bands of any height to bands of whole strips (the last one excepted).

    Each incoming band is (rows, row_bytes) uint8 or reshapeable to it. Aligned
    bands pass through without a copy; rows left over after the last whole
    strip are carried into the next band. Raises ValueError when the bands do
    not add up to ``height`` rows of ``row_bytes`` bytes.
    """
    carry: np.ndarray | None = None
    seen = 0
    for band in bands:
        band = np.asarray(band)
        if band.dtype != np.uint8:
            raise ValueError(f"row band {seen and 'after row ' + str(seen) or 'at the top'} has dtype {band.dtype}, expected uint8")
        rows = band.shape[0] if band.ndim else 0
        if band.ndim == 0 or band.size != rows * row_bytes:
            raise ValueError(
                f"row band of shape {band.shape} does not hold whole rows of {row_bytes} bytes"
            )
        if rows == 0:
            continue
        seen += rows
        if seen > height:
            raise ValueError(f"row bands hold more than the image's {height} rows")
        band = np.ascontiguousarray(band).reshape(rows, row_bytes)
        if carry is not None:
            band = np.concatenate((carry, band))
            carry = None
            rows = band.shape[0]
        whole = rows - rows % strip_height if seen < height else rows
        if whole < rows:
            carry = band[whole:].copy()
        if whole:
            yield band[:whole]
    if seen != height:
        raise ValueError(f"row bands held {seen} rows, the image has {height}")


def array_bands(array, channels: int, strip_height: int, rows: int | None = None) -> Iterator[np.ndarray]:
    """Rows of an array-like (numpy, memmap, zarr, dask ...) as C-contiguous uint8 bands.

    Only a band at a time is sliced and copied: strided, Fortran-ordered or
    lazy arrays are never copied whole. Pages of a read-only or shared
    ``np.memmap`` are released after each band, so they do not pile up in the
    resident set.
    """
    height, width = array.shape[:2]
    row_bytes = width * array_row_samples(array)
    step = rows or band_rows(row_bytes, strip_height)
    release = _memmap_releaser(array)
    for top in range(0, height, step):
        part = array[top:top + step]
        if release is not None:  # a copy, then the mapped pages it came from are dropped
            band = np.array(part, dtype=np.uint8, order="C", copy=True)
            release(part)
        else:
            band = np.ascontiguousarray(np.asarray(part), dtype=np.uint8)
        yield band.reshape(band.shape[0], -1)


def array_row_samples(array) -> int:
    """Samples per pixel of an array of shape (h, w) or (h, w, c)."""
    return 1 if len(array.shape) == 2 else int(array.shape[2])


def _memmap_releaser(array):
    """For a shared or read-only np.memmap: a function dropping a view's pages."""
    import mmap

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


class RowBands:
    """A source made of an iterable of row bands, with its size and mode given.

    ``RowBands(bands, size=(width, height), mode="RGB")``: each band is a uint8
    array of any number of rows, of shape (rows, width), (rows, width,
    channels) or (rows, width * channels). Channels follow the mode: 1 for "L",
    3 (RGB) or 4 (RGBA/RGBX, the fourth sample ignored) for "RGB"; with
    ``channels`` given explicitly for other modes. Bands of any height are
    regrouped into whole strips. An iterator can be read only once: encoding
    such a source a second time raises RuntimeError.
    """

    def __init__(self, bands, size: tuple[int, int], mode: str = "RGB", channels: int | None = None) -> None:
        width, height = size
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (width, height)):
            raise TypeError(f"size must be two integers (width, height), not {size!r}")
        self.bands = bands
        self.size = (width, height)
        self.mode = mode
        if channels is None:
            channels = {"L": 1, "1": 1, "RGB": 3}.get(mode)
            if channels is None:
                from . import options

                channels = options.check_mode(mode).channels
        self.channels = channels
        self._used = False

    def read(self, strip_height: int) -> Iterator[np.ndarray]:
        """The bands regrouped into whole strips; a second pass over an iterator raises."""
        once = iter(self.bands) is self.bands
        if once and self._used:
            raise RuntimeError(
                "this RowBands source was already read: its bands come from an iterator, "
                "which can be read only once (optimize=True needs two passes); pass a list, "
                "or make a new source"
            )
        self._used = True
        width, height = self.size
        return rebuffer(self.bands, width * self.channels, strip_height, height)


#: Pillow modes turned into a writable mode when an image file is converted.
_CONVERSIONS = {"P": "RGB", "PA": "RGB", "RGBA": "RGB", "RGBa": "RGB", "LA": "L", "La": "L"}


def writable_image(image: Image.Image) -> Image.Image:
    """An opened image in a mode the writer takes: alpha dropped, palettes applied,
    16-bit grey scaled to 8 bits as round(v * 255 / 65535). Other modes raise OSError.
    """
    from . import options

    if image.mode in options.MODES:
        return image
    if image.mode in _CONVERSIONS:
        if image.mode == "P" and "transparency" in image.info:
            return image.convert("RGBA").convert("RGB")
        return image.convert(_CONVERSIONS[image.mode])
    if image.mode.startswith("I;16"):
        values = np.asarray(image).astype(np.uint32)
        return Image.fromarray(((values + 128) // 257).astype(np.uint8), "L")
    raise OSError(f"cannot write mode {image.mode} as JPEG")
