"""Marker segments of a baseline JPEG file (ITU T.81 B.2, JFIF 1.02).

Each function returns the bytes of one segment; ``header`` assembles every
segment that precedes the entropy-coded data, in libjpeg's order (which strict
decoders accept and Pillow writes): SOI, APP0 (JFIF), APP14 (Adobe), APP1
(EXIF, XMP), APP2 (ICC), COM, DQT, SOF0, DHT, DRI, SOS.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence

from . import tables

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"

#: Largest payload of a segment: its 16-bit length counts itself too.
MAX_PAYLOAD = 65533


def segment(marker: int, payload: bytes) -> bytes:
    """A marker segment: 0xFF, the marker, a 16-bit length, the payload."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"segment payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def app0_jfif(density: tuple[int, int] = (1, 1), unit: int = 0) -> bytes:
    """JFIF APP0: version 1.01, density unit (0 none, 1 dpi, 2 dpcm), no thumbnail."""
    return segment(0xE0, b"JFIF\0" + struct.pack(">BBBHHBB", 1, 1, unit, *density, 0, 0))


def _kept(make: Callable[[Sequence], bytes]) -> Callable[[Sequence], bytes]:
    """``make``, its segments kept for equal tables given as tuples (a save's are): the
    tables' segments cost about 15 us a save to build, much of a small save's header."""
    kept = functools.lru_cache(maxsize=32)(make)

    @functools.wraps(make)
    def segment_of(spec: Sequence) -> bytes:
        try:
            return kept(spec)
        except TypeError:  # lists inside: built each time
            return make(spec)
    return segment_of


@_kept
def dqt(qtables: Sequence[Sequence[int]]) -> bytes:
    """One DQT segment holding 8-bit tables 0.. given in natural order."""
    payload = b"".join(
        bytes([index]) + bytes(tables.zigzag(table)) for index, table in enumerate(qtables)
    )
    return segment(0xDB, payload)


def sof0(width: int, height: int, components: Sequence[tuple[int, int, int, int]]) -> bytes:
    """Baseline frame header; components are (id, h, v, quantization table)."""
    payload = struct.pack(">BHHB", 8, height, width, len(components))
    for ident, h, v, tq in components:
        payload += struct.pack(">BBB", ident, (h << 4) | v, tq)
    return segment(0xC0, payload)


@_kept
def dht(specs: Sequence[tuple[tables.HuffmanSpec, tables.HuffmanSpec]]) -> bytes:
    """One DHT segment with the DC and AC tables of each table set."""
    payload = b""
    for index, (dc, ac) in enumerate(specs):
        for table_class, (bits, values) in ((0, dc), (1, ac)):
            payload += bytes([(table_class << 4) | index]) + bytes(bits) + bytes(values)
    return segment(0xC4, payload)


def dri(interval: int) -> bytes:
    """Restart interval in MCUs."""
    return segment(0xDD, struct.pack(">H", interval))


def sos(components: Sequence[tuple[int, int]]) -> bytes:
    """Scan header for one sequential scan; components are (id, Huffman table id)."""
    payload = bytes([len(components)])
    for ident, table in components:
        payload += bytes([ident, (table << 4) | table])
    return segment(0xDA, payload + b"\x00\x3f\x00")


def rst(index: int) -> bytes:
    """Restart marker RSTn, n = index modulo 8."""
    return bytes((0xFF, 0xD0 + index % 8))


def app14_adobe() -> bytes:
    """Adobe APP14: version 100, no flags, transform 0 (components stored as they are)."""
    return segment(0xEE, b"Adobe" + struct.pack(">HHHB", 100, 0, 0, 0))


def app_header(layout, dpi: tuple[int, int], unit: int = 1) -> bytes:
    """The JFIF APP0 and Adobe APP14 segments of a layout, as Pillow (libjpeg) writes them.

    Grey and YCbCr get JFIF, with the density when ``dpi`` is set; Adobe layouts
    (CMYK, and RGB with keep_rgb) get APP14, preceded by JFIF when ``dpi`` is
    set. One exception to Pillow: RGB components get no JFIF, as JFIF makes
    libjpeg (djpeg, Pillow) decode three components as YCbCr; their dpi is lost.
    ``unit`` is the JFIF density unit of ``dpi``: 1 inch, 2 centimetre.
    """
    density = app0_jfif(dpi, unit) if all(dpi) else None
    if not layout.adobe:
        return density or app0_jfif()
    if density is None or len(layout.ids) == 3:
        return app14_adobe()
    return density + app14_adobe()


def header(settings) -> bytes:
    """Every segment before the scan data of a save with these Settings."""
    components = settings.components
    return b"".join((
        SOI,
        app_header(settings.layout, settings.dpi, settings.density_unit),
        *(segment(marker, payload) for marker, payload in settings.app_segments),
        segment(0xFE, settings.comment) if settings.comment else b"",
        dqt(settings.qtables),
        sof0(settings.width, settings.height,
             [(c.ident, c.h, c.v, c.table) for c in components]),
        dht(settings.huffman),
        dri(settings.restart_interval) if settings.restart_interval else b"",
        sos([(c.ident, settings.huffman_ids[c.table]) for c in components]),
    ))
