"""Area-average shrinking by an integer factor, band by band.

``Shrinker(width, factor)`` takes bands of rows of any height and yields bands
of output rows; an output pixel is the mean of its ``factor`` x ``factor``
block, and the blocks cut by the right or bottom edge are averaged over the
pixels they hold. Memory: one partial block of rows (fewer than ``factor``
input rows) plus one row of sums per output row being built.

``factor_for`` picks the smallest factor that brings an image within a size;
``choose_level`` picks a pyramid level and the factor still needed on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

__all__ = ["JPEG_MAX", "Shrinker", "choose_level", "factor_for", "shrunk_size", "shrink_bands"]

#: Largest side a baseline JPEG holds.
JPEG_MAX = 65500


def shrunk_size(width: int, height: int, factor: int) -> tuple[int, int]:
    """Output size of a shrink: each side divided by ``factor``, rounded up."""
    return -(-width // factor), -(-height // factor)


def factor_for(width: int, height: int, max_size: int) -> int:
    """Smallest integer factor whose output has both sides within ``max_size``."""
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, not {max_size}")
    return max(1, -(-width // max_size), -(-height // max_size))


def choose_level(shapes: Sequence[tuple[int, int]], max_size: int) -> tuple[int, int]:
    """(level, factor) to read for an output within ``max_size`` on each side.

    ``shapes`` are the levels' (height, width), level 0 the largest. Takes the
    largest level that fits as it is (factor 1); when none fits, the smallest
    level shrunk by ``factor_for`` (fewest pixels read, and a level's own
    downsampling is at least as good as ours).
    """
    if not shapes:
        raise ValueError("no levels to choose from")
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, not {max_size}")
    for index, (height, width) in enumerate(shapes):
        if width <= max_size and height <= max_size:
            return index, 1
    index = min(range(len(shapes)), key=lambda i: shapes[i][0] * shapes[i][1])
    height, width = shapes[index]
    return index, factor_for(width, height, max_size)


class Shrinker:
    """Stateful area-average shrink of a stream of row bands.

    ``push(band)`` takes (rows, width) or (rows, width, channels) arrays of any
    integer or float type and returns the output rows completed so far, as
    (n, out_width[, channels]) arrays of the input's type (integers rounded
    half up); ``finish()`` returns the last, partial block of rows. The total
    number of output rows is ``ceil(height / factor)``.
    """

    def __init__(self, width: int, factor: int) -> None:
        if factor < 1:
            raise ValueError(f"shrink factor must be a whole number of at least 1, not {factor}")
        if width < 1:
            raise ValueError(f"width must be at least 1, not {width}")
        self.width = width
        self.factor = factor
        self.out_width = -(-width // factor)
        self._sums: np.ndarray | None = None  # (out_width[, channels]) float64 column-block sums
        self._rows = 0  # input rows summed into _sums
        self._dtype: np.dtype | None = None
        # pixels per column block: factor, except the last (right edge)
        self._block_widths = np.full(self.out_width, factor, dtype=np.float64)
        self._block_widths[-1] = width - factor * (self.out_width - 1)

    def _column_sums(self, rows: np.ndarray) -> np.ndarray:
        """Sums over rows, then over each column block: (out_width[, c])."""
        total = rows.sum(axis=0, dtype=np.float64)
        return np.add.reduceat(total, np.arange(0, self.width, self.factor), axis=0)

    def _emit(self, sums: np.ndarray, rows: int) -> np.ndarray:
        area = self._block_widths * rows
        return self._cast(sums / (area[:, None] if sums.ndim == 2 else area))

    def push(self, band: np.ndarray) -> np.ndarray:
        band = np.asarray(band)
        if band.ndim not in (2, 3) or band.shape[1] != self.width:
            raise ValueError(f"bands must be (rows, {self.width}[, channels]), not {band.shape}")
        if self._dtype is None:
            self._dtype = band.dtype
        f = self.factor
        out = []
        start = 0
        if self._rows:  # complete the block begun by earlier bands
            take = min(f - self._rows, band.shape[0])
            self._sums += self._column_sums(band[:take])
            self._rows += take
            start = take
            if self._rows == f:
                out.append(self._emit(self._sums, f)[None])
                self._sums, self._rows = None, 0
        whole = (band.shape[0] - start) // f
        if whole:
            block = band[start:start + whole * f]
            if self.width % f:  # pad the right edge with zeros; the area counts real pixels
                pad = [(0, 0), (0, self.out_width * f - self.width)] + [(0, 0)] * (band.ndim - 2)
                block = np.pad(block, pad)
            sums = block.reshape(whole, f, self.out_width, f, *band.shape[2:]).sum(
                axis=(1, 3), dtype=np.float64)
            area = self._block_widths * f
            mean = sums / (area[None, :, None] if band.ndim == 3 else area[None, :])
            out.append(self._cast(mean))
            start += whole * f
        if start < band.shape[0]:
            self._sums = self._column_sums(band[start:])
            self._rows = band.shape[0] - start
        if not out:
            return np.empty((0, self.out_width) + band.shape[2:], dtype=band.dtype)
        return out[0] if len(out) == 1 else np.concatenate(out)

    def _cast(self, mean: np.ndarray) -> np.ndarray:
        if np.issubdtype(self._dtype, np.integer):
            info = np.iinfo(self._dtype)
            return np.clip(np.floor(mean + 0.5), info.min, info.max).astype(self._dtype)
        return mean.astype(self._dtype)

    def finish(self) -> np.ndarray | None:
        """The bottom row of a height that is not a multiple of the factor, or None."""
        if not self._rows:
            return None
        row = self._emit(self._sums, self._rows)[None]
        self._sums, self._rows = None, 0
        return row


def shrink_bands(bands: Iterable[np.ndarray], width: int, factor: int) -> Iterator[np.ndarray]:
    """The shrunk rows of ``bands``, band by band (empty bands skipped)."""
    shrinker = Shrinker(width, factor)
    for band in bands:
        rows = shrinker.push(band)
        if len(rows):
            yield rows
    last = shrinker.finish()
    if last is not None:
        yield last
