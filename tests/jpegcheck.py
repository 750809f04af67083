"""Test helpers: strict decoders (djpeg, jpeginfo), a JPEG segment parser, PSNR."""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

STANDALONE = {0xD8, 0xD9, 0x01} | set(range(0xD0, 0xD8))


def djpeg_strict(path: Path, djpeg: str) -> None:
    """djpeg -strict must decode the file without a warning or error."""
    r = subprocess.run([djpeg, "-strict", "-outfile", "/dev/null", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), f"djpeg -strict rejected {path}: {r.stderr}"


def jpeginfo_check(path: Path, jpeginfo: str) -> None:
    r = subprocess.run([jpeginfo, "-c", str(path)], capture_output=True, text=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and out.split()[-1:] == ["OK"] and "WARNING" not in out.upper() and "ERROR" not in out.upper(), \
        f"jpeginfo -c rejected {path}: {out}"


def read_pnm(data: bytes) -> np.ndarray:
    """A binary PPM (P6) or PGM (P5) with maxval 255 as an array."""
    tokens = []
    pos = 0
    while len(tokens) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        tokens.append(data[pos:end])
        pos = end
    pos += 1
    magic, w, h, maxval = tokens[0], int(tokens[1]), int(tokens[2]), int(tokens[3])
    assert maxval == 255, maxval
    channels = {b"P6": 3, b"P5": 1}[magic]
    pixels = np.frombuffer(data, dtype=np.uint8, count=w * h * channels, offset=pos)
    return pixels.reshape((h, w, channels) if channels == 3 else (h, w))


def djpeg_decode(jpeg: bytes | Path, djpeg: str) -> np.ndarray:
    """Decode with djpeg (libjpeg-turbo, strict) into an array (RGB or grey)."""
    args = [djpeg, "-strict", "-pnm"]
    if isinstance(jpeg, Path):
        r = subprocess.run(args + [str(jpeg)], capture_output=True)
    else:
        r = subprocess.run(args, input=jpeg, capture_output=True)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return read_pnm(r.stdout)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@dataclass
class Segment:
    marker: int                  #: second byte, e.g. 0xD8 for SOI
    offset: int                  #: of the 0xFF
    payload: bytes = b""         #: after the length field


@dataclass
class Parsed:
    segments: list[Segment] = field(default_factory=list)   # header segments up to SOS
    rst: list[int] = field(default_factory=list)             # RSTn numbers in the scan, in order
    rst_offsets: list[int] = field(default_factory=list)
    scan_start: int = 0
    eoi: int | None = None
    trailing: bytes = b""

    def names(self) -> list[str]:
        return [marker_name(s.marker) for s in self.segments]

    def first(self, marker: int) -> Segment:
        return next(s for s in self.segments if s.marker == marker)

    def all(self, marker: int) -> list[Segment]:
        return [s for s in self.segments if s.marker == marker]


def marker_name(m: int) -> str:
    names = {0xD8: "SOI", 0xD9: "EOI", 0xC0: "SOF0", 0xC4: "DHT", 0xDB: "DQT", 0xDD: "DRI",
             0xDA: "SOS", 0xFE: "COM", 0xEE: "APP14"}
    if m in names:
        return names[m]
    if 0xE0 <= m <= 0xEF:
        return f"APP{m - 0xE0}"
    if 0xD0 <= m <= 0xD7:
        return f"RST{m - 0xD0}"
    return f"0x{m:02X}"


def parse_jpeg(data: bytes) -> Parsed:
    """Header segments, the RST markers of the (single) scan, and the EOI."""
    p = Parsed()
    assert data[:2] == b"\xff\xd8", "no SOI"
    p.segments.append(Segment(0xD8, 0))
    pos = 2
    while True:
        assert data[pos] == 0xFF, f"expected a marker at {pos}, got {data[pos]:#x}"
        marker = data[pos + 1]
        assert marker not in STANDALONE, f"unexpected {marker_name(marker)} at {pos}"
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        assert length >= 2
        p.segments.append(Segment(marker, pos, data[pos + 4:pos + 2 + length]))
        pos += 2 + length
        if marker == 0xDA:
            break
    p.scan_start = pos
    n = len(data)
    while pos < n:
        if data[pos] != 0xFF:
            pos += 1
            continue
        nxt = data[pos + 1] if pos + 1 < n else None
        assert nxt is not None, "scan ends with a lone 0xFF"
        if nxt == 0x00:
            pos += 2
        elif 0xD0 <= nxt <= 0xD7:
            p.rst.append(nxt - 0xD0)
            p.rst_offsets.append(pos)
            pos += 2
        elif nxt == 0xD9:
            p.eoi = pos
            p.trailing = data[pos + 2:]
            break
        else:
            raise AssertionError(f"marker {marker_name(nxt)} inside the scan at {pos}")
    return p


def sof_info(p: Parsed) -> dict:
    s = p.first(0xC0).payload
    ncomp = s[5]
    comps = [(s[6 + 3 * i], s[7 + 3 * i] >> 4, s[7 + 3 * i] & 15, s[8 + 3 * i]) for i in range(ncomp)]
    return {"precision": s[0], "height": int.from_bytes(s[1:3], "big"),
            "width": int.from_bytes(s[3:5], "big"), "components": comps}


def dqt_tables(p: Parsed) -> dict[int, list[int]]:
    """Quantization tables by id, in zigzag order as stored."""
    tables = {}
    for seg in p.all(0xDB):
        b = seg.payload
        i = 0
        while i < len(b):
            pq, tq = b[i] >> 4, b[i] & 15
            assert pq == 0, "16-bit quantization table in a baseline file"
            tables[tq] = list(b[i + 1:i + 65])
            i += 65
    return tables


def dht_tables(p: Parsed) -> dict[tuple[int, int], tuple[bytes, bytes]]:
    """Huffman tables by (class, id): (BITS, HUFFVAL)."""
    tables = {}
    for seg in p.all(0xC4):
        b = seg.payload
        i = 0
        while i < len(b):
            tc, th = b[i] >> 4, b[i] & 15
            bits = bytes(b[i + 1:i + 17])
            n = sum(bits)
            tables[(tc, th)] = (bits, bytes(b[i + 17:i + 17 + n]))
            i += 17 + n
    return tables


def pillow_jpeg(img, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def stream_jpeg(img, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="STREAMJPEG", **kw)
    return buf.getvalue()
