"""Band readers: pixel rows of a source, a band at a time, as C-contiguous uint8 arrays.

Bands hold whole strips (a multiple of the strip height) except the last, and
are read one after the other, so a source is never in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

#: Bytes a band aims at.
BAND_BYTES = 4 << 20


def band_rows(row_bytes: int, strip_height: int, target: int = BAND_BYTES) -> int:
    """Rows in a band of about ``target`` bytes: a whole number of strips."""
    strips = max(1, target // (row_bytes * strip_height))
    return strips * strip_height


def pillow_bands(
    core_image,
    extents: tuple[int, int, int, int],
    rawmode: str,
    channels: int,
    strip_height: int,
) -> Iterator[np.ndarray]:
    """Rows of a Pillow core image packed in ``rawmode``, read with one raw encoder.

    The raw encoder packs exactly the rows asked for, without copying the image.
    """
    x0, y0, x1, y1 = extents
    row_bytes = (x1 - x0) * channels
    rows_per_band = band_rows(row_bytes, strip_height)
    encoder = Image.core.raw_encoder(core_image.mode, rawmode)
    encoder.setimage(core_image, extents)
    remaining = y1 - y0
    while remaining > 0:  # never call the encoder again once it is done
        rows = min(rows_per_band, remaining)
        size = rows * row_bytes
        _, errcode, data = encoder.encode(size)
        if errcode < 0 or len(data) != size:
            raise OSError(f"reading image rows failed (error {errcode}, {len(data)} of {size} bytes)")
        remaining -= rows
        yield np.frombuffer(data, dtype=np.uint8).reshape(rows, row_bytes)
