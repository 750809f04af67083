"""Pillow images as sources: rows packed by one raw encoder, a band at a time, no copy."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
from PIL import Image

from .bands import band_rows
from .base import Source

#: Bytes a band of a Pillow image aims at. Pillow holds the GIL while it packs
#: rows, so worker threads that finish a strip meanwhile wait for it: short
#: reads keep those waits short (the scan writer groups bands into tasks).
PILLOW_BAND_BYTES = 256 << 10

#: Pillow raw mode each writable mode's rows are packed in. Four samples a pixel
#: for colour (the kernels read RGBX rows fastest); CMYK inverted, as JPEG
#: stores it.
RAWMODES = {"1": "L", "L": "L", "RGB": "RGBX", "RGBX": "RGBX", "YCbCr": "YCbCrX", "CMYK": "CMYK;I"}

#: Pillow modes turned into a writable mode when an image file is converted.
CONVERSIONS = {"P": "RGB", "PA": "RGB", "RGBA": "RGB", "RGBa": "RGB", "LA": "L", "La": "L"}


class PillowSource(Source):
    """A PIL image (loaded once) of a writable mode; OSError, as Pillow's, for others.

    ``owned`` is a file opened for this source (closed by ``close``).
    """

    def __init__(self, image: Image.Image, owned: Image.Image | None = None) -> None:
        rawmode = RAWMODES.get(image.mode)
        if rawmode is None:
            raise OSError(f"cannot write mode {image.mode} as JPEG")
        image.load()
        self.image = image
        self.mode = image.mode
        self.size = image.size
        self.rawmode = rawmode
        self.channels = 1 if rawmode == "L" else 4
        self._owned = owned

    def read_bands(self, strip_height: int) -> Iterator[np.ndarray]:
        """Rows packed in the raw mode by one raw encoder, without copying the image."""
        image = self.image.im
        width, height = self.size
        row_bytes = width * self.channels
        rows_per_band = band_rows(row_bytes, strip_height, PILLOW_BAND_BYTES)
        encoder = Image.core.raw_encoder(image.mode, self.rawmode)
        encoder.setimage(image, (0, 0, width, height))
        remaining = height
        while remaining > 0:  # never call the encoder again once it is done
            rows = min(rows_per_band, remaining)
            size = rows * row_bytes
            _, errcode, data = encoder.encode(size)
            if errcode < 0 or len(data) != size:
                raise OSError(f"reading image rows failed (error {errcode}, {len(data)} of {size} bytes)")
            remaining -= rows
            yield np.frombuffer(data, dtype=np.uint8).reshape(rows, row_bytes)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None


def open_image(path: str | os.PathLike) -> PillowSource:
    """An image file opened with Pillow, converted to a writable mode if needed:
    alpha dropped, palettes applied, 16-bit grey scaled to 8 bits as
    round(v * 255 / 65535). Other modes raise OSError.
    """
    opened = Image.open(path)
    try:
        return PillowSource(_writable(opened), owned=opened)
    except BaseException:
        opened.close()
        raise


def _writable(image: Image.Image) -> Image.Image:
    if image.mode in RAWMODES:
        return image
    if image.mode in CONVERSIONS:
        if image.mode == "P" and "transparency" in image.info:
            return image.convert("RGBA").convert("RGB")
        return image.convert(CONVERSIONS[image.mode])
    if image.mode.startswith("I;16"):
        values = np.asarray(image).astype(np.uint32)
        return Image.fromarray(((values + 128) // 257).astype(np.uint8), "L")
    raise OSError(f"cannot write mode {image.mode} as JPEG")
