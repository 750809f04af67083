"""The Huffman symbols a baseline JPEG file's scan holds, read with the file's own tables.

``huffman.scan_counts`` (transpiled/huffman.py) reads them; this module gives it a file's
tables and MCU layout from its DHT, SOF0, DRI and SOS segments, so that tests can compare
the tables a file declares with the symbols its scan uses (any encoder's file).
"""

from __future__ import annotations

import struct
from types import ModuleType

import numpy as np

from jpegtools import huffman_specs, parse_segments
from pillow_streamjpeg import tables


def scan_symbols(data: bytes, module: ModuleType | None = None) -> dict[tuple[int, int], np.ndarray]:
    """{(class, table id): counts of its 256 symbols in the scan}: class 0 DC, 1 AC.

    Asserts a baseline frame of one interleaved scan (or one component) that the reader
    reads to its end. ``module``: the huffman module to read with (the build by default).
    """
    if module is None:
        from pillow_streamjpeg import huffman as module
    segments, _, scan = parse_segments(data)
    specs = huffman_specs(data)
    interval = 0
    for segment in segments:
        payload = segment.payload
        if segment.marker == 0xC0:
            height, width, count = struct.unpack(">HHB", payload[1:6])
            sampling = {payload[6 + 3 * i]: (payload[7 + 3 * i] >> 4, payload[7 + 3 * i] & 15)
                        for i in range(count)}
        elif segment.marker == 0xDD:
            (interval,) = struct.unpack(">H", payload)
        elif segment.marker == 0xDA:
            count = payload[0]
            chosen = [(payload[1 + 2 * i], payload[2 + 2 * i] >> 4, payload[2 + 2 * i] & 15)
                      for i in range(count)]
    hmax = max(h for h, _ in sampling.values())
    vmax = max(v for _, v in sampling.values())
    if len(chosen) == 1:  # one component: its blocks are the MCUs
        h, v = sampling[chosen[0][0]]
        mcus = -(-(-(-width * h // hmax)) // 8) * -(-(-(-height * v // vmax)) // 8)
        layout = [(0, 1)]
    else:
        mcus = -(-width // (8 * hmax)) * -(-height // (8 * vmax))
        layout = [(i, sampling[ident][0] * sampling[ident][1])
                  for i, (ident, _, _) in enumerate(chosen)]
    order = np.array([i for i, blocks in layout for _ in range(blocks)], np.int64)
    reading = [spec for _, dc, ac in chosen for spec in (specs[0, dc], specs[1, ac])]
    counts = np.zeros((len(reading), 256), np.int64)
    status = module.scan_counts(np.frombuffer(scan, np.uint8), *tables.reading_specs(reading),
                                order, mcus, interval, counts, np.zeros(0, np.int32))
    assert status == 0, "the scan does not read as its header says"
    found: dict[tuple[int, int], np.ndarray] = {}
    for i, (_, dc, ac) in enumerate(chosen):
        for kind, ident in ((0, dc), (1, ac)):
            found.setdefault((kind, ident), np.zeros(256, np.int64))
            found[kind, ident] += counts[2 * i + kind]
    return found
