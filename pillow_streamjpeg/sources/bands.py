"""Band tools shared by the sources: band heights, pooled band buffers, regrouping.

Bands hold whole strips (a multiple of the strip height) except the last, and
are read one after the other, so a source is never in memory whole.
"""

from __future__ import annotations

import abc
import math
import mmap
import weakref
from collections.abc import Iterable, Iterator

import numpy as np

#: Bytes a band aims at.
BAND_BYTES = 4 << 20


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


class DeferredBand(abc.ABC):
    """A band whose rows are read by the thread that encodes them, not by the scan writer.

    ``Source.read_deferred`` may yield one instead of an array: the scan writer
    then hands out its strips to the encoding threads without touching a pixel,
    and each thread reads the rows it is about to encode (``rows_of``), so
    that reading (Pillow's row copies, rendering) runs in parallel and the rows
    are still in that core's cache when the kernels read them. ``shape`` is the
    band's (rows, row bytes), as an array band's would be.
    """

    shape: tuple[int, int]

    @abc.abstractmethod
    def read(self, top: int, rows: int) -> np.ndarray:
        """Rows top .. top + rows - 1 as a C-contiguous uint8 array of shape (rows, row bytes).

        Called from any thread, several at once; the array may be a buffer of the
        calling thread that its next ``read`` overwrites.
        """

    def release(self, top: int, rows: int) -> None:
        """Rows top .. top + rows - 1 will not be read again (``release_rows``); nothing by default."""

    def leave(self) -> None:
        """The calling thread reads no more rows of the band, and another thread releases the
        rows it read (``leave_rows``); nothing by default."""


def rows_of(band: np.ndarray | DeferredBand, top: int, rows: int) -> tuple[np.ndarray, int]:
    """(an array, the index of row ``top`` in it) holding rows top .. top + rows - 1 of a band.

    An array band is returned as it is; a DeferredBand's rows are read now,
    on the calling thread.
    """
    if isinstance(band, DeferredBand):
        return band.read(top, rows), 0
    return band, top


def leave_rows(band: np.ndarray | DeferredBand) -> None:
    """Say that the calling thread is done with a band whose rows another thread releases.

    A task that ends inside a restart interval leaves its last strip to the
    next task, which reads it too and then releases it (``strips.StripCoder``).
    """
    if isinstance(band, DeferredBand):
        band.leave()


def release_rows(band: np.ndarray | DeferredBand, top: int, rows: int) -> None:
    """Say that rows top .. top + rows - 1 of a band will not be read again.

    For a band lent by a releasable BufferPool the memory pages lying wholly
    inside those rows are given back to the system (they read as zeros if
    touched again); a DeferredBand is told (``DeferredBand.release``); for any
    other band this does nothing.
    """
    if isinstance(band, DeferredBand):
        band.release(top, rows)
        return
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
