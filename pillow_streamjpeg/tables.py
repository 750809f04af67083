"""Quantization and Huffman tables: IJG quality scaling, zigzag order, Annex K specs.

Quantization tables are kept in natural (row-major) order, as Pillow's
``qtables`` option and ``Image.quantization`` give them; DQT segments and the
kernels take them in zigzag order.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from . import engine

#: Natural (row-major) index of each zigzag position.
ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
], dtype=np.int64)

#: Annex K.1 luminance quantization table, natural order.
STD_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)

#: Annex K.1 chrominance quantization table, natural order.
STD_CHROMINANCE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
)


def quality_scaling(quality: int) -> int:
    """IJG percentage scaling factor for a quality (libjpeg's jpeg_quality_scaling).

    Qualities below 1 count as 1 and above 100 as 100.
    """
    quality = min(max(quality, 1), 100)
    return 5000 // quality if quality < 50 else 200 - 2 * quality


def scale_table(base: Sequence[int], quality: int | None) -> list[int]:
    """A table scaled as libjpeg's jpeg_add_quant_table does, in Pillow's terms.

    With a quality, entries are scaled by ``quality_scaling(quality)`` and
    clamped to 1..255 (baseline). With ``None`` (Pillow's ``qtables`` without
    a quality: libjpeg's quality 50, a scale of 100 %, not forced to baseline)
    entries are kept, except that those below 1 become 1; entries above 255
    are left for the caller to refuse.
    """
    scale = 100 if quality is None else quality_scaling(quality)
    scaled = [max((int(v) * scale + 50) // 100, 1) for v in base]
    return scaled if quality is None else [min(v, 255) for v in scaled]


def quality_tables(quality: int) -> list[list[int]]:
    """The luminance and chrominance tables for an IJG quality of 1..100."""
    return [list(table) for table in _quality_tables(quality)]


@functools.lru_cache(maxsize=128)
def _quality_tables(quality: int) -> tuple[tuple[int, ...], ...]:
    # cached: scaling 128 entries in Python took most of ``options.parse``'s time, about a
    # fifth of a 64 x 64 save's (docs/performance.md, "Small saves")
    return (tuple(scale_table(STD_LUMINANCE, quality)),
            tuple(scale_table(STD_CHROMINANCE, quality)))


def _aan_scale() -> np.ndarray:
    scale = np.array([1.0] + [math.cos(k * math.pi / 16) * math.sqrt(2) for k in range(1, 8)])
    return np.outer(scale, scale).ravel()


def kernel_reciprocals(qtables: Sequence[Sequence[int]]) -> np.ndarray:
    """Per-table multipliers of the kernels' float AAN DCT output, natural order, float32.

    The AAN DCT leaves coefficient (v, u) scaled by 8 * s[v] * s[u]; multiplying
    by the reciprocal of that times the quantizer gives the quantized coefficient.
    """
    natural = np.asarray(qtables, dtype=np.float64).reshape(-1, 64)
    divisors = natural * _aan_scale() * 8.0
    return np.ascontiguousarray((1.0 / divisors).astype(np.float32).ravel())


def libjpeg_divisors(qtable: Sequence[int]) -> np.ndarray:
    """libjpeg-turbo's division of its integer DCT's outputs by 8 q (``compute_reciprocal``,
    jcdctmgr.c) for a table (natural order): int32 reciprocals, corrections and shifts, 64
    each. A coefficient F is quantized as sign(F) ((|F| + corr) recip >> shift), which is
    what libjpeg-turbo computes (its C and SIMD code alike), not a rounded division."""
    out = np.zeros((3, 64), dtype=np.int32)
    for n, q in enumerate(qtable):
        d = 8 * int(q)
        b = d.bit_length() - 1
        r = 16 + b
        fq, fr = divmod(1 << r, d)
        c = d >> 1
        if fr == 0:  # a power of two
            fq >>= 1
            r -= 1
        elif fr <= d >> 1:
            c += 1
        else:
            fq += 1
        out[:, n] = fq, c, r
    return out.ravel()


#: The decoder's YCbCr -> RGB (JFIF, jdcolor.c): d(R, G, B) / d(Y, Cb, Cr).
YCC_TO_RGB = np.array([[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]])

#: Scale of ``joint_weights``' integers.
JOINT_SCALE = 256


def joint_weights(y: Sequence[int], cb: Sequence[int], cr: Sequence[int],
                  rate: float = 0.0) -> np.ndarray:
    """The kernels' ``joint`` array (``_joint_round``): for each coefficient k (natural order) of
    a 4:4:4 MCU whose Y, Cb and Cr are quantized by tables ``y``, ``cb``, ``cr``, 8 int32 items.

    The rounding errors e_c of the three coefficients (in 32nds of their quantizers
    q_c) add sum_cd W_cd q_c q_d e_c e_d / 1024 to the RGB pixels' squared error, W the
    Gram matrix of ``YCC_TO_RGB``; a step of Y's coefficient to its other neighbour (e_Y
    +-32) pays where its gradient sum_c W_Yc q_c e_c / 32 is beyond W_YY q_Y / 2 against
    it, and, with the rate term, beyond that plus ``rate`` q_Y / 2 where the step makes the
    coefficient non-zero, less where it makes it zero: a non-zero coefficient costs ``rate``
    q_Y**2 of squared error. Items, S = ``JOINT_SCALE``: a = 16 S W_YY q_Y, r = 16 S rate
    q_Y, then b_c = S W_Yc q_c for c = Y, Cb, Cr; coefficient 0's last three items are
    the DC quantizers of Y, Cb and Cr (the kernels' ``_flat_dc``).
    """
    gram = YCC_TO_RGB.T @ YCC_TO_RGB
    out = np.zeros((64, 8), dtype=np.int64)
    for k in range(64):
        q = np.array([y[k], cb[k], cr[k]], dtype=np.float64)
        out[k, 0] = round(16 * JOINT_SCALE * gram[0, 0] * q[0])
        out[k, 1] = round(16 * JOINT_SCALE * rate * q[0])
        out[k, 2:5] = np.round(JOINT_SCALE * gram[0] * q)
    out[0, 5:8] = (y[0], cb[0], cr[0])  # the DC quantizers, for flat MCUs (``_flat_dc``)
    return np.ascontiguousarray(out.astype(np.int32).ravel())


def zigzag(table: Sequence[int]) -> list[int]:
    """A natural-order table in zigzag order (as DQT stores it)."""
    return [int(table[i]) for i in ZIGZAG]


# Annex K.3 Huffman table specifications: code counts per length 1..16, symbols.
DC_LUMINANCE_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
DC_LUMINANCE_VALUES = tuple(range(12))
DC_CHROMINANCE_BITS = (0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0)
DC_CHROMINANCE_VALUES = tuple(range(12))
AC_LUMINANCE_BITS = (0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D)
AC_LUMINANCE_VALUES = (
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61,
    0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52,
    0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25,
    0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45,
    0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64,
    0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83,
    0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
    0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6,
    0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3,
    0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8,
    0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
)
AC_CHROMINANCE_BITS = (0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77)
AC_CHROMINANCE_VALUES = (
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61,
    0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33,
    0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18,
    0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44,
    0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63,
    0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A,
    0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
    0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4,
    0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA,
    0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7,
    0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
)

#: A Huffman table specification: (counts of codes of length 1..16, symbols).
HuffmanSpec = tuple[Sequence[int], Sequence[int]]

#: The Annex K DC and AC specifications of table sets 0 (luminance) and 1 (chrominance).
STD_HUFFMAN: list[tuple[HuffmanSpec, HuffmanSpec]] = [
    ((DC_LUMINANCE_BITS, DC_LUMINANCE_VALUES), (AC_LUMINANCE_BITS, AC_LUMINANCE_VALUES)),
    ((DC_CHROMINANCE_BITS, DC_CHROMINANCE_VALUES), (AC_CHROMINANCE_BITS, AC_CHROMINANCE_VALUES)),
]


def code_table(bits: Sequence[int], values: Sequence[int]) -> np.ndarray:
    """The codes of a specification: (length << 16) | code per symbol, 0 if absent (C.2)."""
    table = np.zeros(256, dtype=np.uint32)
    code = 0
    k = 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            table[values[k]] = (length << 16) | code
            code += 1
            k += 1
        code <<= 1
    return table


def reading_specs(specs: Sequence[HuffmanSpec]) -> tuple[np.ndarray, np.ndarray]:
    """``huffman.scan_counts``' specifications, one row each: (bits, huffval)."""
    bits = np.zeros((len(specs), 16), np.int64)
    huffval = np.zeros((len(specs), 256), np.int64)
    for tab, (counts, values) in enumerate(specs):
        bits[tab] = counts
        huffval[tab, :len(values)] = values
    return bits, huffval


@functools.lru_cache(maxsize=4)
def counting_reading_specs(sets: int) -> tuple[np.ndarray, np.ndarray]:
    """``reading_specs`` of ``COUNTING_SPECS`` for each of ``sets`` table sets (DC, AC), kept
    (read-only: every save shares them)."""
    arrays = reading_specs(list(COUNTING_SPECS) * sets)
    for array in arrays:
        array.setflags(write=False)
    return arrays


def kernel_code_table(specs: Sequence[tuple[HuffmanSpec, HuffmanSpec]]) -> np.ndarray:
    """The kernels' Huffman table: 512 uint64 entries per table set, DC then AC symbols.

    A symbol's entry is ``(code << (6 + extra)) | length``: its code shifted
    left past its extra bits (the low 4 bits of an AC symbol, the whole DC
    symbol), and the length of both, so that the kernels add the extra bits
    with one OR. Absent symbols are 0.
    """
    table = np.zeros(512 * len(specs), dtype=np.uint64)
    symbols = np.arange(256, dtype=np.uint64)
    for t, pair in enumerate(specs):
        for half, spec in enumerate(pair):
            codes = code_table(*spec).astype(np.uint64)
            extra = symbols if half == 0 else symbols & np.uint64(15)
            lengths = codes >> np.uint64(16)
            entry = ((codes & np.uint64(0xFFFF)) << (extra + np.uint64(6))) | (lengths + extra)
            table[512 * t + 256 * half:512 * t + 256 * half + 256] = np.where(lengths > 0, entry, 0)
    return table


def kernel_pair_table(huff: np.ndarray) -> np.ndarray:
    """The kernels' table of whole AC codes: 4096 uint64 entries per table set.

    At ``4096 t + 128 run + v + 64``, for a value v of -64..63 other than 0
    after ``run`` zeros (0..15): the code of symbol (run, size of v) followed
    by v's extra bits, shifted left by 6, OR their total length; for (run 15,
    v 0), the code of a run of 16 zeros (ZRL), which the kernels' coding loop
    meets as a zero coefficient marked in its masks (``_zrl_bits``). At ``4096 t
    + 2048 + s``, the AC entry of symbol s of the kernels' Huffman table
    ``huff`` (``kernel_code_table``), from which the rest is built: the
    kernels' coding loop reads this one table.
    """
    sets = len(huff) // 512
    values = np.arange(-64, 64)
    entries = VALUE_TABLE[values + 4096]
    size = entries & np.uint64(15)
    bits = entries >> np.uint64(4)
    table = np.zeros((sets, 2, 16, 128), dtype=np.uint64)
    for t in range(sets):
        for run in range(16):
            h = huff[512 * t + 256 + (run << 4) + size.astype(np.int64)]
            table[t, 0, run] = np.where(((values != 0) | (run == 15)) & (h > 0),
                                        h | (bits << np.uint64(6)), 0)
        table[t, 1].flat[:256] = huff[512 * t + 256:512 * t + 512]
    return table.ravel()


def _value_table() -> np.ndarray:
    values = np.arange(-4096, 4096)
    size = np.zeros(8192, dtype=np.int64)
    for n in range(1, 13):
        size[np.abs(values) >= (1 << (n - 1))] = n
    bits = np.where(values >= 0, values, values + (1 << size) - 1)
    return ((bits << 4) | size).astype(np.uint64)


#: ``(extra bits << 4) | size category`` of each value v of -4095..4095 at index
#: v + 4096, as the kernels take them (T.81 F.1.2.1).
VALUE_TABLE = _value_table()


#: Symbols a baseline scan may use: DC categories 0..11; AC end of block, run of 16
#: zeros, and (run 0..15, size 1..10).
LEGAL_DC = tuple(range(12))
LEGAL_AC = (0x00, 0xF0) + tuple((run << 4) | size for run in range(16) for size in range(1, 11))

#: A code of every legal symbol, one length a class (DC 4 bits, AC 8), with which
#: ``optimize=True`` codes a small image once to read its symbols back
#: (``scan.exactly_optimized``).
COUNTING_SPECS: tuple[HuffmanSpec, HuffmanSpec] = (
    ((0, 0, 0, len(LEGAL_DC)) + (0,) * 12, LEGAL_DC),
    ((0,) * 7 + (len(LEGAL_AC),) + (0,) * 8, LEGAL_AC),
)


def optimal_spec(counts: Sequence[int], legal: Sequence[int] = ()) -> HuffmanSpec:
    """A length-limited Huffman specification for symbol counts (T.81 Annex K.2).

    Symbols in ``legal`` get a code even when they were not counted, so that
    content the counts did not see (a sample of strips) still encodes. As in
    libjpeg, a reserved pseudo-symbol keeps the all-ones code unused. The code
    sizes are libjpeg's (``jpeg_gen_optimal_table``), from a heap of the trees
    (transpiled/huffman.py, compiled: in Python, with the lists around it, a small
    image's two tables took 175 us of its 400 us optimize save, against Pillow's 82).
    """
    freq = np.ones(257, np.int64)  # the reserved symbol last
    freq[:256] = np.asarray(counts[:256], np.int64)
    if len(legal):
        where = _indices(tuple(legal))
        freq[where] = np.maximum(freq[where], 1)
    sizes = np.zeros(257, np.int32)
    while engine.huffman.code_sizes(freq, sizes) > 32:
        # deeper than libjpeg's 32 bits (it stops with "Huffman code size table overflow"):
        # counts spanning more than the 35th Fibonacci number (9.2 million) to 1, skewed
        # like that sequence; never seen in an image's counts, but random counts up to 2**40
        # hit it. Halved (none to 0) until the tree fits
        freq = (freq + 1) >> 1
    return _spec_of_sizes(sizes)


@functools.lru_cache(maxsize=8)
def _indices(symbols: tuple[int, ...]) -> np.ndarray:
    """The symbols as an index array, kept (``LEGAL_DC``, ``LEGAL_AC``)."""
    return np.array(symbols, np.intp)


def _spec_of_sizes(codesize: Sequence[int]) -> HuffmanSpec:
    """The specification of code sizes of at most 32 bits (257: the reserved symbol last),
    limited to 16 bits (T.81 K.3) and without the reserved code, as libjpeg makes it
    (``huffman.spec_of_sizes``, compiled: 9 of a table's 13 us in NumPy)."""
    bits = np.zeros(16, np.int64)
    values = np.zeros(256, np.int64)
    count = engine.huffman.spec_of_sizes(np.asarray(codesize, np.int32), bits, values)
    return tuple(bits.tolist()), tuple(values[:count].tolist())


def optimal_specs(counts, legal: bool = False) -> list[tuple[HuffmanSpec, HuffmanSpec]]:
    """(DC, AC) specifications per table set from counts[2 t (+1), symbol]."""
    return [
        (optimal_spec(counts[2 * t], LEGAL_DC if legal else ()),
         optimal_spec(counts[2 * t + 1], LEGAL_AC if legal else ()))
        for t in range(len(counts) // 2)
    ]
