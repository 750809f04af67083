"""The strip coder: runs of strips of a band to entropy-coded bytes, through the kernels.

Every strip is one MCU row and one restart interval, so strips can be encoded
independently, on any thread (the kernels release the GIL) or any machine; the
scan writer (``scan``) groups them into tasks and writes them in order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from . import engine, sources, tables
from .options import Settings

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
