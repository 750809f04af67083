"""The strip coder: runs of strips of a band to entropy-coded bytes, through the kernels.

Every strip is one MCU row; a restart interval is a whole number of strips (one
by default), or divides a strip (the kernels restart inside it). Intervals are encoded independently, on any thread (the kernels
release the GIL) or any machine; inside one, each strip continues the previous
strip's DC predictors and unwritten bits. The scan writer (``scan``) groups
whole intervals into tasks and writes them in order. The optimize pass counts
each strip's symbols as if it started an interval (the DC differences of a
strip's first MCU are sampled, not exact; every legal symbol gets a code).
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
                 codes: Codes, scratch: Scratch, group: int = MCUS_PER_GROUP,
                 pred: np.ndarray | None = None, carry: np.ndarray | None = None,
                 pad: bool = True, mcu0: int = 0, interval: int = 0) -> int:
    """Entropy-code the strip of ``nrows`` rows of a 2-D uint8 band from row0 into scratch.out.

    Returns the byte count. The one place that assembles the kernel's arguments.
    ``pred`` (int64[4], DC predictors) and ``carry`` (uint64[2], bit count and
    bits not yet written) are read and updated, so the next strip of the same
    restart interval continues from them; without them the strip starts a
    restart interval. ``pad`` ends the strip on a whole byte (1-bits), as at
    the end of a restart interval. ``mcu0`` is the image's index of the strip's
    first MCU, ``interval`` the MCUs per restart interval: the kernel restarts
    (RSTn) before every later MCU of the strip that starts an interval.
    A ``sources.DeferredBand``'s rows are read first, on this thread.
    """
    if pred is None:
        pred = np.zeros(4, np.int64)
    if carry is None:
        carry = np.zeros(2, np.uint64)
    band, row0 = sources.rows_of(band, row0, nrows)
    return kernels.encode_strip(band.reshape(-1), band.shape[1], row0, nrows, *frame, *codes,
                                *scratch, group, pred, carry, int(pad), mcu0, interval)


def last_dc(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
            codes: Codes, scratch: Scratch, pred: np.ndarray, group: int = MCUS_PER_GROUP) -> None:
    """pred[c]: the DC predictors a strip leaves (the quantized DC of its last MCU).

    Computed by the same kernel on a copy of that MCU's columns alone: every
    MCU's coefficients depend on its own pixels only, so they are the ones the
    whole strip codes. (A kernel export of its own made g++ stop inlining the
    colour stage into ``encode_strip``: 1.6x to 2.7x more instructions.)
    """
    band, row0 = sources.rows_of(band, row0, nrows)
    mcu_width = 8 * frame.hs
    x0 = (frame.width - 1) // mcu_width * mcu_width
    columns = np.ascontiguousarray(band[row0:row0 + nrows, x0 * frame.channels:])
    pred[:] = 0
    encode_strip(kernels, columns, 0, nrows, frame._replace(width=frame.width - x0), codes,
                 scratch, group, pred)


class Part(NamedTuple):
    """A task's strips that are part of a longer restart interval, coded but not joined.

    ``data`` is whole stuffed bytes, not padded; ``bits`` bits of ``value`` follow
    them. The scan writer joins parts at bit level (``scan.Joiner``), pads after
    a part that ``closes`` its interval and writes RSTn (n = ``interval``).
    """

    data: bytes
    bits: int
    value: int
    closes: bool
    interval: int
    last: bool  #: the image's last strip is in this part


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

    def encode(self, task: list[Piece]) -> bytearray | Part:
        """The entropy-coded strips of a task: bytes for whole intervals, else a Part.

        A piece of no strips first names the strip before the task, whose last
        DC values the task's first strip continues from (a Part's task).
        """
        per_interval = self.settings.strips_per_interval
        band, row, first, count = task[-1]
        whole = task[0][3] and task[0][2] % per_interval == 0 and self._closes(first + count - 1)
        return self.encode_intervals(task) if whole else self.encode_part(task)

    def _closes(self, index: int) -> bool:
        """Whether strip ``index`` ends a restart interval (the image's last strip does)."""
        return ((index + 1) % self.settings.strips_per_interval == 0
                or index == self.settings.strip_count - 1)

    def _ending_interval(self, index: int) -> int:
        """The index of the restart interval that ends with strip ``index`` (if one does)."""
        if not self.settings.restart_interval:
            return 0
        return (index + 1) * self.settings.mcus_per_row // self.settings.restart_interval - 1

    def _coded(self, band: np.ndarray, row: int, first: int, count: int, scratch: Scratch,
               pred: np.ndarray, carry: np.ndarray, pad: bool) -> Iterator[tuple[int, memoryview]]:
        """(index, entropy-coded bytes) of each of ``count`` strips of a band from strip ``first``.

        A strip that starts a restart interval starts from zero predictors and
        no carried bits; every strip leaves its own in ``pred`` and ``carry``.
        With ``pad``, a strip that ends an interval ends on a whole byte. The
        bytes are a view of ``scratch.out``, valid until the next strip.
        """
        for index, (start, rows) in enumerate(self._strips(band, row, count), first):
            if index % self.settings.strips_per_interval == 0:
                pred[:] = 0
                carry[:] = 0
            n = encode_strip(engine.kernels, band, start, rows, self.frame, self.codes, scratch,
                             MCUS_PER_GROUP, pred, carry, pad and self._closes(index),
                             index * self.settings.mcus_per_row, self.settings.restart_interval)
            yield index, memoryview(scratch.out)[:n]

    def encode_part(self, task: list[Piece]) -> Part:
        """The strips of a task inside one restart interval, unpadded, for ``scan.Joiner``."""
        scratch = self._scratch()
        pred = np.zeros(4, np.int64)
        carry = np.zeros(2, np.uint64)
        data = bytearray()
        index = -1
        for band, row, first, count in task:
            if count == 0:  # the strip before: its last DC values
                _, rows = next(self._strips(band, row, 1))
                last_dc(engine.kernels, band, row, rows, self.frame, self.codes, scratch, pred)
                continue
            for index, coded in self._coded(band, row, first, count, scratch, pred, carry, False):
                data += coded
            # the task's last strip stays: the next task reads its last DC values
            sources.release_rows(band, row, (count - 1) * self.settings.strip_height)
        last = self.settings.strip_count - 1
        return Part(bytes(data), int(carry[0]), int(carry[1]), self._closes(index),
                    self._ending_interval(index), index == last)

    def encode_intervals(self, task: list[Piece]) -> bytearray:
        """The entropy-coded strips of a task of whole restart intervals.

        Strips inside an interval continue one another's DC prediction and
        bits (no padding between them); each interval but the image's last
        ends padded and followed by its RST marker.
        """
        last = self.settings.strip_count - 1
        scratch = self._scratch()
        pred = np.zeros(4, np.int64)
        carry = np.zeros(2, np.uint64)
        data = bytearray()
        index = -1
        for band, row, first, count in task:
            for index, coded in self._coded(band, row, first, count, scratch, pred, carry, True):
                data += coded
                if self._closes(index) and index != last:
                    data += markers.rst(self._ending_interval(index))
            sources.release_rows(band, row, count * self.settings.strip_height)
        if not self._closes(index):
            raise ValueError("a task must end at the end of a restart interval")
        return data
