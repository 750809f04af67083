"""A baseline JPEG written from given quantized coefficients (tests and benchmarks only).

Slow (a Python loop per coefficient) but independent of the kernels: it lets a
test feed chosen coefficients to real decoders (djpeg) and compare their pixels
with a reproduction of the decoder's IDCT.
"""

from __future__ import annotations

import numpy as np

from pillow_streamjpeg import markers, tables


class _Bits:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, code: int, size: int) -> None:
        self.acc = (self.acc << size) | (code & ((1 << size) - 1))
        self.n += size
        while self.n >= 8:
            self.n -= 8
            byte = (self.acc >> self.n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0)
        self.acc &= (1 << self.n) - 1

    def flush(self) -> bytes:
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)
        return bytes(self.out)


def _category(v: int) -> tuple[int, int]:
    size = abs(v).bit_length()
    return size, (v if v >= 0 else v + (1 << size) - 1)


def write(planes: list[np.ndarray], qtables: list[list[int]], width: int, height: int,
          hs: int = 1, vs: int = 1) -> bytes:
    """A baseline JPEG (one or three components) from quantized coefficients.

    ``planes[c]`` has shape (block rows, block columns, 64), natural order:
    component 0's blocks ``vs`` x ``hs`` per MCU (its sampling factors, 1 for
    the others); ``qtables`` in natural order, table 0 for component 0 and the
    last one for the others; Annex K Huffman tables (luminance for component 0).
    """
    ncomp = len(planes)
    specs = [tables.STD_HUFFMAN[0]] + ([tables.STD_HUFFMAN[1]] if ncomp > 1 else [])
    codes = [(tables.code_table(*dc), tables.code_table(*ac)) for dc, ac in specs]
    table_of = [0] + [len(qtables) - 1] * (ncomp - 1)
    huff_of = [0] + [1] * (ncomp - 1)
    ids = (1,) if ncomp == 1 else (1, 2, 3)
    bits = _Bits()
    rows, cols = planes[-1].shape[:2]
    pred = [0] * ncomp
    for my in range(rows):
        for mx in range(cols):
            for c, by, bx in [(0, my * vs + v, mx * hs + h) for v in range(vs) for h in range(hs)] + [
                    (c, my, mx) for c in range(1, ncomp)]:
                block = [int(v) for v in planes[c][by, bx][tables.ZIGZAG]]
                dc_code, ac_code = codes[huff_of[c]]
                size, extra = _category(block[0] - pred[c])
                pred[c] = block[0]
                entry = int(dc_code[size])
                bits.put(entry & 0xFFFF, entry >> 16)
                bits.put(extra, size)
                run = 0
                for k in range(1, 64):
                    v = block[k]
                    if v == 0:
                        run += 1
                        continue
                    while run > 15:
                        entry = int(ac_code[0xF0])
                        bits.put(entry & 0xFFFF, entry >> 16)
                        run -= 16
                    size, extra = _category(v)
                    entry = int(ac_code[(run << 4) | size])
                    bits.put(entry & 0xFFFF, entry >> 16)
                    bits.put(extra, size)
                    run = 0
                if run:
                    entry = int(ac_code[0])
                    bits.put(entry & 0xFFFF, entry >> 16)
    return b"".join((
        markers.SOI,
        markers.app0_jfif(),
        markers.dqt(qtables),
        markers.sof0(width, height, [(ids[c], hs if c == 0 else 1, vs if c == 0 else 1,
                                      table_of[c]) for c in range(ncomp)]),
        markers.dht(specs),
        markers.sos([(ids[c], huff_of[c]) for c in range(ncomp)]),
        bits.flush(),
        markers.EOI,
    ))
