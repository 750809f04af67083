"""The strip writer: bands of rows to entropy-coded strips, in order, on a thread pool.

Every strip is one MCU row and one restart interval, so strips can be encoded
independently: groups of strips run on worker threads (the kernels release the
GIL) and are written strictly in order, with RSTn markers between strips and
none after the last. At most a few groups per worker are in flight, so memory
does not grow with the image.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from typing import IO

import numpy as np

from . import engine, sources, tables
from .options import Settings

#: Pixels a task aims to encode: large enough to dwarf scheduling costs,
#: small enough to give every worker something to do.
TASK_PIXELS = 1 << 18

#: Tasks in flight per worker.
TASKS_PER_WORKER = 3

#: A run of strips of one band: (band, its first row in the band, the image's
#: index of its first strip, strip count).
Piece = tuple[np.ndarray, int, int, int]

#: MCUs the kernels take through each stage at a time (their scratch buffers
#: stay in the first-level caches).
MCUS_PER_GROUP = 32


class StripCoder:
    """The kernel arguments of one frame; encodes groups of strips to bytes.

    One coder may serve several threads: each thread has its own scratch
    buffers, made on its first call and kept for the next ones.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        layout = settings.layout
        ncomp = len(settings.components)
        hs, vs = settings.hs, settings.vs
        comp_table = np.array([c.table for c in settings.components], dtype=np.int64)
        self.row_bytes = settings.width * layout.channels
        self.frame = (
            settings.width, layout.channels, ncomp, settings.convert, hs, vs, comp_table,
            tables.kernel_reciprocals(settings.qtables),
        )
        self.huff = tables.kernel_code_table(settings.huffman)
        self.scratch_sizes = engine.kernels.scratch_sizes(ncomp, hs, vs, MCUS_PER_GROUP)
        self.capacity = engine.kernels.strip_capacity(settings.width, ncomp, hs, vs)
        self._local = threading.local()

    def _scratch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """This thread's (samples, dct, coefs, words, one strip's output) buffers."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            samples, dct, coefs, words = self.scratch_sizes
            scratch = self._local.scratch = (
                np.empty(samples, np.float32), np.empty(dct, np.float32),
                np.empty(coefs, np.int32), np.empty(words, np.uint64),
                np.empty(self.capacity, np.uint8),
            )
        return scratch

    def _strips(self, band: np.ndarray, row: int, count: int) -> Iterator[tuple[int, int]]:
        """(row, rows) of each of ``count`` strips of the band from ``row``."""
        height = self.settings.strip_height
        for _ in range(count):
            yield row, min(height, band.shape[0] - row)
            row += height

    def count(self, task: list[Piece]) -> np.ndarray:
        """Huffman symbol counts of a task's strips (as ``encode`` codes them)."""
        counts = np.zeros((2 * len(self.settings.qtables), 256), dtype=np.int64)
        samples, dct, coefs, _, _ = self._scratch()
        for band, row, _, count in task:
            flat = band.reshape(-1)
            for start, rows in self._strips(band, row, count):
                engine.kernels.count_strip(flat, band.shape[1], start, rows, *self.frame,
                                           tables.VALUE_TABLE, samples, dct, coefs, counts,
                                           MCUS_PER_GROUP)
            sources.release_rows(band, row, count * self.settings.strip_height)
        return counts

    def encode(self, task: list[Piece]) -> bytearray:
        """The entropy-coded strips of a task, each followed by its RST but the image's last."""
        last = self.settings.strip_count - 1
        *scratch, out = self._scratch()
        data = bytearray()
        for band, row, first, count in task:
            flat = band.reshape(-1)
            for index, (start, rows) in enumerate(self._strips(band, row, count), first):
                n = engine.kernels.encode_strip(
                    flat, band.shape[1], start, rows, *self.frame, self.huff,
                    tables.VALUE_TABLE, *scratch, out, MCUS_PER_GROUP,
                )
                data += memoryview(out)[:n]
                if index != last:
                    data += bytes((0xFF, 0xD0 + index % 8))
            sources.release_rows(band, row, count * self.settings.strip_height)
        return data


def _tasks(bands: Iterable[np.ndarray], settings: Settings, row_bytes: int) -> Iterator[list[Piece]]:
    """The checked bands' strips, in tasks of about TASK_PIXELS (a task may span bands)."""
    height = settings.strip_height
    per_task = max(1, TASK_PIXELS // (settings.width * height))
    task: list[Piece] = []
    in_task = 0
    strip = 0
    rows_seen = 0
    for band in bands:
        rows = band.shape[0]
        if (
            band.dtype != np.uint8 or band.ndim != 2 or band.shape[1] < row_bytes
            or not band.flags.c_contiguous
        ):
            raise ValueError(
                f"band of shape {band.shape} and dtype {band.dtype} is not C-contiguous "
                f"uint8 rows of {row_bytes} bytes"
            )
        if rows_seen % height or rows == 0:
            raise ValueError(f"bands must hold whole strips of {height} rows before the last")
        rows_seen += rows
        if rows_seen > settings.height:
            raise ValueError(f"bands hold more than the image's {settings.height} rows")
        strips = -(-rows // height)
        first = 0
        while first < strips:
            count = min(per_task - in_task, strips - first)
            task.append((band, first * height, strip + first, count))
            in_task += count
            first += count
            if in_task == per_task:
                yield task
                task, in_task = [], 0
        strip += strips
    if rows_seen != settings.height:
        raise ValueError(f"bands held {rows_seen} rows, the image has {settings.height}")
    if task:
        yield task


def _ordered(tasks: Iterable[list[Piece]], work: Callable, workers: int) -> Iterator:
    """work(task) for each task, yielded in task order.

    With several workers, at most TASKS_PER_WORKER tasks per worker are in
    flight. Close the generator (``contextlib.closing``) to stop early: queued
    tasks are cancelled and running ones waited for, so no thread outlives it.
    """
    if workers <= 1:
        for task in tasks:
            yield work(task)
        return
    pending: deque[Future] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="streamjpeg") as pool:
        try:
            for task in tasks:
                pending.append(pool.submit(work, task))
                if len(pending) >= TASKS_PER_WORKER * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def write_scan(fp: IO[bytes], bands: Iterable[np.ndarray], settings: Settings) -> None:
    """Encode the bands' strips and write them to fp in order (scan data only)."""
    coder = StripCoder(settings)
    tasks = _tasks(bands, settings, coder.row_bytes)
    workers = min(settings.workers, settings.strip_count)
    with closing(_ordered(tasks, coder.encode, workers)) as results:
        for data in results:
            fp.write(data)


def count_symbols(bands: Iterable[np.ndarray], settings: Settings) -> np.ndarray:
    """Huffman symbol counts of every strip: counts[2 t (+1), symbol] per table set t."""
    coder = StripCoder(settings)
    tasks = _tasks(bands, settings, coder.row_bytes)
    workers = min(settings.workers, settings.strip_count)
    counts = np.zeros((2 * len(settings.qtables), 256), dtype=np.int64)
    with closing(_ordered(tasks, coder.count, workers)) as results:
        for part in results:
            counts += part
    return counts
