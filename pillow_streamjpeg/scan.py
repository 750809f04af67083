"""The scan writer: one JPEG file from a backend's encoded pieces, written in order.

``write_jpeg`` is the one frame every backend shares: with ``optimize``, the
backend's Huffman symbol counts are summed and the tables built from them (a
small image is coded once, its symbols read back from the bytes and written
again with the tables of their counts: ``exactly_optimized``); then the header
segments (SOI ... SOS), the backend's pieces of entropy-coded strips in image
order (RSTn markers included, none after the last strip), EOI.

A backend has two methods, each yielding ``(rows, result)`` in image order:
``counts(settings)`` the symbol counts of runs of strips, ``pieces(settings)``
their bytes. ``LocalBackend`` (here) encodes a Source's bands on a thread
pool; ``dask_backend.DaskBackend`` encodes the bands of a dask array as Dask
tasks. Both code strips with ``strips.StripCoder``, so both give the same bytes.
"""

from __future__ import annotations

import errno
import io
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from itertools import chain, islice
from typing import IO, Any, Protocol

import numpy as np

from . import engine, markers, tables
from .options import INTERVAL_PIXELS, Settings, derived
from .sources import DeferredBand, Source
from .strips import Part, Piece, StripCoder

#: Pixels a task aims to encode: large enough to dwarf scheduling costs,
#: small enough to give every worker something to do. A default restart
#: interval is as large (``options.INTERVAL_PIXELS``): a task codes one.
TASK_PIXELS = INTERVAL_PIXELS

#: Tasks in flight per worker.
TASKS_PER_WORKER = 3

#: Told (rows done, rows in total) as work ends; optimize=True counts every row twice.
Progress = Callable[[int, int], object]


class Backend(Protocol):
    """Where the strips of one image are encoded."""

    def counts(self, settings: Settings) -> Iterator[tuple[int, np.ndarray]]:
        """(rows, Huffman symbol counts of those rows' strips), in image order."""

    def pieces(self, settings: Settings) -> Iterator[tuple[int, bytes]]:
        """(rows, entropy-coded bytes of those rows' strips), in image order."""


def write_jpeg(fp: IO[bytes], settings: Settings, backend: Backend,
               progress: Progress | None = None) -> None:
    """Write a whole JPEG file: header segments, the backend's pieces, EOI.

    With ``optimize``, a first pass counts the Huffman symbols of every strip
    (in the memory of a normal save), and the tables built from the counts
    code the second; a small image (``read_back``) is coded once and its symbols
    written again. ``progress`` gets one total for the passes (two, or the small
    image's one). The header
    goes out with the first coded piece: a first band the scan writer refuses
    (or a source that fails before it) leaves nothing in the file.
    """
    small = settings.optimize and read_back(settings)
    report = _Meter(progress, settings.height * (2 if settings.optimize and not small else 1))
    coded: Iterable[bytes] | None = None
    if small:
        settings, coded = exactly_optimized(settings, backend, report)
    elif settings.optimize:
        settings = optimized(settings, symbol_counts(settings, backend, report))
    header: bytes | None = derived(settings, "header", markers.header)
    for data in coded if coded is not None else _coded(settings, backend, report):
        if header is not None:
            write_all(fp, header)
            header = None
        write_all(fp, data)
    if header is not None:  # (no pieces: a backend's own)
        write_all(fp, header)
    write_all(fp, markers.EOI)


def write_all(fp: IO[bytes], data: bytes) -> None:
    """``fp.write(data)``, every byte of it.

    A raw (unbuffered) file may write part of it, a signal arriving or a pipe
    full: the rest is written again until none is left; one that writes nothing
    raises ``OSError`` (no progress), and ``None`` from a non-blocking file
    descriptor ``BlockingIOError`` (the output would be short). Other file
    objects, and raw ones whose write returns anything but a count (``None``,
    as many adapters return), are taken at their word: all of it.
    """
    written = fp.write(data)
    if not isinstance(fp, io.RawIOBase):
        return
    size = len(data)
    rest = memoryview(data)  # the rest without copying it (pieces are megabytes)
    while isinstance(written, int) and not isinstance(written, bool) and written < size:
        if written <= 0:
            raise OSError(errno.EIO, f"the output took none of {size} bytes")
        rest = rest[written:]
        size = len(rest)
        written = fp.write(rest)
    if written is None and _non_blocking(fp):
        raise BlockingIOError(errno.EAGAIN, f"the output took none of {size} bytes: a "
                              "non-blocking file would block (write to a blocking one)")


def _non_blocking(fp: IO[bytes]) -> bool:
    """Whether fp is a file descriptor in non-blocking mode."""
    try:
        return not os.get_blocking(fp.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def _coded(settings: Settings, backend: Backend,
           report: Callable[[int], object] | None = None) -> Iterator[bytes]:
    """The backend's pieces of entropy-coded data, Parts of restart intervals joined, in order."""
    joiner = Joiner()
    with closing(backend.pieces(settings)) as pieces:
        for rows, data in pieces:
            if isinstance(data, list):  # Parts of restart intervals
                for part in data:
                    yield joiner.join(part)
            else:
                yield data
            if report is not None:
                report(rows)


#: ``optimize=True`` reads back the symbols of images of at most this many pixels (128 x
#: 128), whose tables then code exactly those symbols, as libjpeg's do; the scan is then
#: held whole, with about 4 bytes a symbol of its list and 8 of the output's room (touched
#: as written). Larger images count a sample of their strips and give every legal symbol a
#: code (``optimized``): the tables' bytes of the unused ones, about 320 with colour, made a
#: 16 x 16 file 1.8x (RGB) to 2x (grey) Pillow's size, but cost 1 to 2 % of a 256 x 256
#: photo's file and less above. Reading back costs about 17 ns a symbol (read, then
#: written), where the sampled count costs a call a strip: it makes small photos' saves
#: faster (0.65x to 0.94x up to 128 x 128), but noise at q95 1.08x to 1.32x there and up to
#: 2.1x at 256 x 256 (docs/performance.md, "optimize=True on small images").
READ_BACK_PIXELS = 1 << 14


def read_back(settings: Settings) -> bool:
    """Whether ``optimize=True`` reads the image's symbols back (``exactly_optimized``)."""
    return settings.width * settings.height <= READ_BACK_PIXELS


def exactly_optimized(settings: Settings, backend: Backend,
                      report: Callable[[int], object] | None = None
                      ) -> tuple[Settings, list[bytes]]:
    """Settings whose Huffman tables code exactly the symbols of the image's scan, and its
    entropy-coded data coded with them (for images ``read_back`` takes: it is held whole).

    The image is coded once, with a code of every legal symbol (``COUNTING_SPECS``); its
    symbols are read back from the bytes (``huffman.scan_counts``): the counts of the very
    coefficients the save keeps, whatever its choices did. The same symbols and extra bits
    are then written again with the optimal tables of those counts (``huffman.scan_recode``):
    the bytes the kernels would code with them, without coding the image again.
    """
    counting = replace(settings, optimize=False,
                       huffman=(tables.COUNTING_SPECS,) * len(settings.huffman))
    first = b"".join(_coded(counting, backend, report))
    reading = tables.counting_reading_specs(len(settings.qtables))
    counts = np.zeros((2 * len(settings.qtables), 256), dtype=np.int64)
    # an item a symbol, of 4 bits at least, and one an interval, whose RSTn takes 2 bytes
    symbols = np.empty(2 * len(first) + 8, np.int32)
    count = engine.huffman.scan_counts(np.frombuffer(first, np.uint8), *reading,
                                       *_scan_frame(counting), counts, symbols)
    if count >= 0:
        exact = optimized(settings, counts, legal=False)
        out = np.empty(RECODED_BOUND * count + 8, np.uint8)
        written = engine.huffman.scan_recode(symbols, count, _codes(exact), out)
        if written >= 0:
            return exact, [out[:written].tobytes()]
    # (not seen: the first scan is the kernels' own; its rows were reported)
    safe = optimized(settings, symbol_counts(settings, backend))
    return safe, list(_coded(safe, backend))


#: ``scan_recode``'s output holds at most this many bytes a symbol (and 8): a code of 16 bits
#: at most, 11 extra bits, each byte stuffed; an interval's end 1 byte of padding and RSTn
#: (np.empty's pages are touched only where written).
RECODED_BOUND = 8


def _scan_frame(settings: Settings) -> tuple[np.ndarray, int, int]:
    """``huffman.scan_counts``' frame arguments: the table set of each block of an MCU in the
    scan's order, the MCUs, the restart interval."""
    sets = [c.table for c in settings.components]
    order = np.array([t for c, t in enumerate(sets)
                      for _ in range(settings.hs * settings.vs if c == 0 else 1)], np.int64)
    return order, settings.mcus_per_row * settings.strip_count, settings.restart_interval


def _codes(settings: Settings) -> np.ndarray:
    """Each table set's DC and AC codes, (length << 16) | code per symbol: codes[2 t (+1)]."""
    return np.array([tables.code_table(*spec) for huffman_id in settings.huffman_ids
                     for spec in settings.huffman[huffman_id]], np.int64)


def symbol_counts(settings: Settings, backend: Backend,
                  report: Callable[[int], object] | None = None) -> np.ndarray:
    """The image's Huffman symbol counts: counts[2 t (+1), symbol] per table set t."""
    counts = np.zeros((2 * len(settings.qtables), 256), dtype=np.int64)
    with closing(backend.counts(settings)) as parts:
        for rows, part in parts:
            counts += part
            if report is not None:
                report(rows)
    return counts


def optimized(settings: Settings, counts: np.ndarray, legal: bool = True) -> Settings:
    """Settings whose Huffman tables are the optimal ones for these symbol counts.

    With ``legal``, every legal symbol gets a code, counted or not: for counts of a
    sample of the strips (``strips.count_every``). Counts are per table set;
    the sets that share a Huffman table (``Settings.huffman_ids``) add up.
    """
    ids = settings.huffman_ids
    merged = np.zeros((2 * (max(ids) + 1), 256), dtype=np.int64)
    for t, huffman_id in enumerate(ids):
        merged[2 * huffman_id:2 * huffman_id + 2] += counts[2 * t:2 * t + 2]
    return replace(settings, huffman=tuple(tables.optimal_specs(merged, legal=legal)))


class Joiner:
    """Joins the Parts of a restart interval at bit level, in order.

    Each part's bytes are shifted by the bits the previous part left (byte
    stuffing undone and redone); an interval's last part is padded with
    1-bits and followed by its RSTn marker, but the image's last.
    """

    def __init__(self) -> None:
        self.bits, self.value = 0, 0  # bits left by the previous part

    def join(self, part: Part) -> bytes:
        """The whole bytes that can be written after this part."""
        data = part.data
        if self.bits and data:
            data, self.value = _shifted(data, self.bits, self.value)
        out = bytearray(data)
        value = (self.value << part.bits) | part.value
        bits = self.bits + part.bits
        if bits >= 8:
            bits -= 8
            _put_byte(out, value >> bits)
            value &= (1 << bits) - 1
        if part.closes:
            if bits:
                _put_byte(out, (value << (8 - bits)) | ((1 << (8 - bits)) - 1))
            bits = value = 0
            if not part.last:
                out += markers.rst(part.interval)
        self.bits, self.value = bits, value
        return bytes(out)


def _put_byte(out: bytearray, byte: int) -> None:
    out.append(byte)
    if byte == 0xFF:
        out.append(0)


def _shifted(data: bytes, bits: int, value: int) -> tuple[bytes, int]:
    """Stuffed bytes preceded by ``bits`` bits of value: (whole stuffed bytes, the last bits' value).

    The same number of bits is left over (data holds whole bytes). In one pass
    of the kernels (``shift_stuffed``).
    """
    stuffed = np.frombuffer(data, np.uint8)
    out = np.empty(2 * stuffed.size, np.uint8)  # every byte 0xFF at most, each stuffed
    count, rest = engine.kernels.shift_stuffed(stuffed, stuffed.size, bits, value, out)
    return out[:count].tobytes(), rest


def check_progress(progress: Any) -> None:
    """TypeError unless ``progress`` is None or callable (as ``progress(done, total)``)."""
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a function of (done, total), not {progress!r}")


class _Meter:
    """Rows done so far, told to ``progress`` with the total after each piece."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        check_progress(progress)
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, rows: int) -> None:
        self.done += rows
        if self.progress is not None:
            self.progress(self.done, self.total)


class LocalBackend:
    """A Source's strips encoded on a thread pool of ``settings.workers`` threads."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def counts(self, settings: Settings) -> Iterator[tuple[int, np.ndarray]]:
        coder = StripCoder(settings)
        return self._run(settings, coder, coder.count)

    def pieces(self, settings: Settings) -> Iterator[tuple[int, bytes]]:
        coder = StripCoder(settings)
        return self._run(settings, coder, coder.encode)

    def _run(self, settings: Settings, coder: StripCoder, work: Callable) -> Iterator:
        height = settings.strip_height

        def job(task: list[Piece]) -> tuple[int, object]:
            rows = sum(min(count * height, band.shape[0] - row) for band, row, _, count in task)
            return rows, work(task)

        tasks = _tasks(self.source.read_deferred(height), settings, coder.row_bytes)
        workers = min(settings.workers, settings.strip_count)
        with closing(_ordered(tasks, job, workers)) as results:
            yield from results


def _tasks(bands: Iterable[np.ndarray | DeferredBand], settings: Settings,
           row_bytes: int) -> Iterator[list[Piece]]:
    """The checked bands' strips, in tasks of about TASK_PIXELS (a task may span bands).

    A task holds whole restart intervals (``Settings.strips_per_interval``) when
    they fit in one, else a part of one interval (or, for intervals that cross
    strip boundaries, any run of strips): a task whose first strip does not
    start an interval begins with a piece of no strips naming the strip before
    it (``StripCoder.encode``). A DeferredBand's rows are read by the task's
    thread (``strips.encode_strip``).
    """
    height = settings.strip_height
    # tasks of whole restart intervals when they fit, else parts of one interval
    # (cut at its end), each after a piece of no strips naming the strip before
    span = settings.strips_per_interval
    per_task = max(1, TASK_PIXELS // (settings.width * height))
    parts = span > per_task
    if not parts:
        per_task = -(-per_task // span) * span
    before: Piece | None = None  # the last strip seen: (band, row, index, 0)
    task: list[Piece] = []
    in_task = 0
    strip = 0
    rows_seen = 0
    for band in bands:
        rows = band.shape[0]
        if not isinstance(band, DeferredBand) and (
            band.dtype != np.uint8 or band.ndim != 2 or not band.flags.c_contiguous
        ) or band.shape[1] != row_bytes:
            dtype = getattr(band, "dtype", np.dtype(np.uint8))
            rows_ok = len(band.shape) == 2 and band.shape[1] == row_bytes and dtype == np.uint8
            flaw = ("strided rows (a view: pass np.ascontiguousarray of it)" if rows_ok
                    else f"of shape {band.shape} and dtype {dtype}")
            raise ValueError(f"a band must be C-contiguous uint8 rows of {row_bytes} bytes "
                             f"(rows, width x samples per pixel), not {flaw}")
        if rows_seen + rows > settings.height:
            raise ValueError(f"bands hold more than the image's {settings.height} rows")
        if rows == 0:
            raise ValueError(f"a band of no rows after row {rows_seen}")
        if rows_seen % height:
            raise ValueError(f"bands must hold whole strips of {height} rows before the last")
        rows_seen += rows
        strips = -(-rows // height)
        first = 0
        while first < strips:
            index = strip + first
            count = min(per_task - in_task, strips - first)
            if parts:
                count = min(count, span - index % span)
                if not task and not settings.starts_interval(index) and before is not None:
                    task.append(before)
            task.append((band, first * height, index, count))
            in_task += count
            first += count
            before = (band, (first - 1) * height, index + count - 1, 0)
            if in_task == per_task or (parts and (index + count) % span == 0):
                yield task
                task, in_task = [], 0
        strip += strips
    if rows_seen != settings.height:
        raise ValueError(f"bands held {rows_seen} rows, the image has {settings.height}")
    if task:
        yield task


def _ordered(tasks: Iterable[list[Piece]], work: Callable, workers: int) -> Iterator:
    """work(task) for each task, yielded in task order.

    With several workers, the calling thread is one of them: a pool of
    ``workers - 1`` threads takes the tasks in order, and the calling thread,
    when the result it must yield next is not ready, codes the first task no
    thread has started (the next one itself, or one after it while the pool
    codes that). At most TASKS_PER_WORKER tasks per worker are in flight.
    Close the generator (``contextlib.closing``) to stop early: queued tasks
    are cancelled and running ones waited for, so no thread outlives it. An
    image of one task (at most ``TASK_PIXELS``) is coded on the calling thread
    alone: starting a pool cost more than coding it (a 64 x 64 RGB save 534
    against 291 µs, 256 x 256 1.31 against 1.06 ms; Pillow's 0.69 ms).
    """
    if workers <= 1:
        for task in tasks:
            yield work(task)
        return
    tasks = iter(tasks)
    head = list(islice(tasks, 2))  # a second task read ahead, as the pool would
    if len(head) < 2:
        for task in head:
            yield work(task)
        return
    pending: deque[_Slot] = deque()
    with ThreadPoolExecutor(workers - 1, thread_name_prefix="streamjpeg") as pool:
        try:
            for task in chain(head, tasks):
                pending.append(_Slot(pool.submit(work, task), task))
                if len(pending) >= TASKS_PER_WORKER * workers:
                    yield _next_result(pending, work)
            while pending:
                yield _next_result(pending, work)
        finally:
            for slot in pending:
                slot.future.cancel()


class _Slot:
    """A task in flight: its pool future, or its result once the calling thread coded it."""

    __slots__ = ("future", "task", "result", "taken")

    def __init__(self, future: Future, task: list[Piece]) -> None:
        self.future, self.task, self.result, self.taken = future, task, None, False

    def take(self, work: Callable) -> bool:
        """Code the task on this thread if no pool thread has started it (its future cancelled); whether it did."""
        if self.taken or not self.future.cancel():
            return False
        self.result, self.taken = work(self.task), True
        return True


def _next_result(pending: deque[_Slot], work: Callable) -> object:
    """The first pending task's result (popped), the calling thread coding tasks no pool thread has started meanwhile."""
    first = pending[0]
    while not first.taken and not first.take(work):
        if first.future.done():
            break
        # the first one running on the pool: code a later one not started, else wait
        if not any(slot.take(work) for slot in islice(pending, 1, None)):
            break
    pending.popleft()
    return first.result if first.taken else first.future.result()
