"""Test helpers: strict decoders, a JPEG segment parser, PSNR.

Strict validity is judged by libjpeg-turbo's ``djpeg -strict`` and ``jpeginfo -c``,
never by Pillow alone (Pillow decodes some broken streams silently).
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

STRICT_TOOLS = ("djpeg", "jpeginfo")


def require_tools(*tools: str) -> None:
    """Skip when a tool is missing, except in CI (CI set), where that is a failure."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        message = f"not installed: {', '.join(missing)} (Debian: libjpeg-turbo-progs, jpeginfo)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _with_file(data: bytes, suffix: str = ".jpg"):
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    with handle:
        handle.write(data)
    return handle.name


def components(data: bytes) -> int:
    """The component count in the SOF0 segment."""
    sof = data.find(b"\xff\xc0")
    return data[sof + 9]


def assert_strictly_valid(data: bytes) -> None:
    """djpeg -strict and jpeginfo -c both accept the stream.

    jpeginfo cannot decode four-component (CMYK) files at all, Pillow's own
    included ("Unsupported color conversion request"): those are checked by
    djpeg -strict alone.
    """
    require_tools(*STRICT_TOOLS)
    path = _with_file(data)
    try:
        djpeg = subprocess.run(
            ["djpeg", "-strict", "-outfile", os.devnull, path], capture_output=True, text=True
        )
        assert djpeg.returncode == 0, f"djpeg -strict rejected the file: {djpeg.stderr}"
        assert djpeg.stderr == "", f"djpeg warned: {djpeg.stderr}"
        if components(data) == 4:
            return
        info = subprocess.run(["jpeginfo", "-c", path], capture_output=True, text=True)
        assert info.returncode == 0, f"jpeginfo rejected the file: {info.stdout}{info.stderr}"
        assert info.stdout.rstrip().endswith("OK"), info.stdout
    finally:
        os.unlink(path)


def djpeg_decode(data: bytes) -> np.ndarray:
    """Pixels decoded by djpeg -strict: (h, w) for grey, (h, w, 3) for colour."""
    require_tools("djpeg")
    path = _with_file(data)
    out = path + ".pnm"
    try:
        result = subprocess.run(
            ["djpeg", "-strict", "-pnm", "-outfile", out, path], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        with Image.open(out) as decoded:
            return np.asarray(decoded)
    finally:
        os.unlink(path)
        if os.path.exists(out):
            os.unlink(out)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


@dataclass
class Segment:
    marker: int
    payload: bytes
    offset: int


def parse_segments(data: bytes) -> tuple[list[Segment], list[int], bytes]:
    """Header segments up to SOS, the markers found in the scan data, the scan data.

    The scan data is everything between SOS and EOI; its markers are RSTn (0xD0..0xD7)
    and must be the only ones (0xFF00 is stuffing). Asserts the file ends with EOI.
    """
    assert data[:2] == b"\xff\xd8", "no SOI"
    segments = []
    pos = 2
    while True:
        assert data[pos] == 0xFF, f"no marker at {pos}"
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segments.append(Segment(marker, data[pos + 4:pos + 2 + length], pos))
        pos += 2 + length
        if marker == 0xDA:
            break
    assert data[-2:] == b"\xff\xd9", "no EOI at the end"
    scan = data[pos:-2]
    markers = []
    i = scan.find(b"\xff")
    while i != -1:
        following = scan[i + 1]
        if following != 0x00:
            markers.append(following)
        i = scan.find(b"\xff", i + 2)
    return segments, markers, scan


def huffman_specs(data: bytes) -> dict[tuple[int, int], tuple[tuple[int, ...], tuple[int, ...]]]:
    """{(class, table id): (bits, values)} of a file's DHT segments: class 0 DC, 1 AC; bits
    the number of codes of each length 1..16, values their symbols."""
    found = {}
    for segment in parse_segments(data)[0]:
        if segment.marker == 0xC4:
            payload, pos = segment.payload, 0
            while pos < len(payload):
                bits = tuple(payload[pos + 1:pos + 17])
                found[payload[pos] >> 4, payload[pos] & 15] = (
                    bits, tuple(payload[pos + 17:pos + 17 + sum(bits)]))
                pos += 17 + sum(bits)
    return found


def striped_photo(width: int, height: int, seed: int = 0, noise: float = 8.0) -> Image.Image:
    """A photo-like RGB test image: three slanted sawtooth ramps plus Gaussian noise."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    rgb = np.stack([x * 5.5 % 256, y * 7.5 % 256, (x + 2 * y) % 256], axis=-1)
    rgb = rgb + rng.normal(0, noise, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
