"""The strip coder: runs of strips of a band to entropy-coded bytes, through the kernels.

Every strip is one MCU row and one restart interval, so strips can be encoded
independently, on any thread (the kernels release the GIL) or any machine; the
scan writer (``scan``) groups them into tasks and writes them in order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import NamedTuple

import numpy as np

from . import engine, markers, sources, tables
from .options import Settings

#: A run of strips of one band: (band, its first row in the band, the image's
#: index of its first strip, strip count).
Piece = tuple[np.ndarray, int, int, int]

#: MCUs the kernels take through each stage at a time (their scratch buffers
#: stay in the first-level caches).
MCUS_PER_GROUP = 32


#: optimize=True counts the Huffman symbols of one strip in this many (the first
#: of each run), and gives every legal symbol a code: files come within 0.3 % of
#: the size fully counted tables give (+0.03 % on the benchmark mosaic), and the
#: counting pass, slower per strip than the coding one (72 against about 100 MP/s
#: per core), costs an eighth of it (docs/performance.md).
COUNT_EVERY = 8

#: Images of at most this many strips have every strip counted.
COUNT_ALL_UP_TO = 64


def count_every(strip_count: int) -> int:
    """1 in how many strips the optimize pass counts."""
    return 1 if strip_count <= COUNT_ALL_UP_TO else COUNT_EVERY


class Frame(NamedTuple):
    """The kernels' frame arguments, in their export order (after band, row_bytes, row0, nrows)."""

    width: int
    channels: int  #: samples per pixel in the band's rows
    ncomp: int
    convert: int  #: 0 none, 1 RGB to YCbCr, 2 the same rounded to whole values
    hs: int  #: sampling factors of component 0
    vs: int
    comp_table: np.ndarray  #: int64 table set of each component
    recip: np.ndarray  #: float32 quantization multipliers (``tables.kernel_reciprocals``)

    @classmethod
    def of(cls, settings: Settings) -> Frame:
        return cls(
            settings.width, settings.layout.channels, len(settings.components), settings.convert,
            settings.hs, settings.vs,
            np.array([c.table for c in settings.components], dtype=np.int64),
            tables.kernel_reciprocals(settings.qtables),
        )


class Codes(NamedTuple):
    """The kernels' entropy-coding tables, in their export order (after the frame)."""

    huff: np.ndarray  #: ``tables.kernel_code_table``
    pairs: np.ndarray  #: ``tables.kernel_pair_table``
    value: np.ndarray  #: ``tables.VALUE_TABLE``

    @classmethod
    def of(cls, huffman: Sequence, ids: Sequence[int] | None = None) -> Codes:
        """The tables of each kernel table set t, coded with Huffman table ``ids[t]``."""
        if ids is not None:
            huffman = [huffman[i] for i in ids]
        huff = tables.kernel_code_table(huffman)
        return cls(huff, tables.kernel_pair_table(huff), tables.VALUE_TABLE)


class Scratch(NamedTuple):
    """One thread's kernel buffers: samples, dct, coefs and words (``scratch_sizes``), and one strip's output."""

    samples: np.ndarray
    dct: np.ndarray
    coefs: np.ndarray
    words: np.ndarray
    out: np.ndarray

    @classmethod
    def of(cls, kernels: ModuleType, frame: Frame, group: int = MCUS_PER_GROUP) -> Scratch:
        samples, dct, coefs, words = kernels.scratch_sizes(frame.ncomp, frame.hs, frame.vs, group)
        capacity = kernels.strip_capacity(frame.width, frame.ncomp, frame.hs, frame.vs)
        return cls(np.empty(samples, np.float32), np.empty(dct, np.float32),
                   np.empty(coefs, np.int32), np.empty(words, np.uint64),
                   np.empty(capacity, np.uint8))


def encode_strip(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
                 codes: Codes, scratch: Scratch, group: int = MCUS_PER_GROUP) -> int:
    """Entropy-code the strip of ``nrows`` rows of a 2-D uint8 band from row0 into scratch.out.

    Returns the byte count. The one place that assembles the kernel's arguments.
    A ``sources.DeferredBand``'s rows are read first, on this thread.
    """
    band, row0 = sources.rows_of(band, row0, nrows)
    return kernels.encode_strip(band.reshape(-1), band.shape[1], row0, nrows, *frame, *codes,
                                *scratch, group)


def count_strip(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
                scratch: Scratch, counts: np.ndarray, group: int = MCUS_PER_GROUP) -> None:
    """Add the Huffman symbols the strip would use to counts[2 t (+1), symbol]."""
    band, row0 = sources.rows_of(band, row0, nrows)
    kernels.count_strip(band.reshape(-1), band.shape[1], row0, nrows, *frame, tables.VALUE_TABLE,
                        *scratch[:3], counts, group)


class StripCoder:
    """The kernel arguments of one frame; encodes groups of strips to bytes.

    One coder may serve several threads: each thread has its own scratch
    buffers, made on its first call and kept for the next ones.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.row_bytes = settings.width * settings.layout.channels
        self.frame = Frame.of(settings)
        self.codes = Codes.of(settings.huffman, settings.huffman_ids)
        self._local = threading.local()

    def _scratch(self) -> Scratch:
        """This thread's buffers."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = Scratch.of(engine.kernels, self.frame)
        return scratch

    def _strips(self, band: np.ndarray, row: int, count: int) -> Iterator[tuple[int, int]]:
        """(row, rows) of each of ``count`` strips of the band from ``row``."""
        height = self.settings.strip_height
        for _ in range(count):
            yield row, min(height, band.shape[0] - row)
            row += height

    def count(self, task: list[Piece]) -> np.ndarray:
        """Huffman symbol counts of the sampled strips of a task (``count_every``)."""
        counts = np.zeros((2 * len(self.settings.qtables), 256), dtype=np.int64)
        scratch = self._scratch()
        every = count_every(self.settings.strip_count)
        for band, row, first, count in task:
            for index, (start, rows) in enumerate(self._strips(band, row, count), first):
                if index % every == 0:
                    count_strip(engine.kernels, band, start, rows, self.frame, scratch, counts)
            sources.release_rows(band, row, count * self.settings.strip_height)
        return counts

    def encode(self, task: list[Piece]) -> bytearray:
        """The entropy-coded strips of a task, each followed by its RST but the image's last."""
        last = self.settings.strip_count - 1
        scratch = self._scratch()
        data = bytearray()
        for band, row, first, count in task:
            for index, (start, rows) in enumerate(self._strips(band, row, count), first):
                n = encode_strip(engine.kernels, band, start, rows, self.frame, self.codes, scratch)
                data += memoryview(scratch.out)[:n]
                if index != last:
                    data += markers.rst(index)
            sources.release_rows(band, row, count * self.settings.strip_height)
        return data
