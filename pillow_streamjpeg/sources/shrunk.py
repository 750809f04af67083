"""A source shrunk by an integer factor (area average), band by band."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import metadata as metadata_
from ..options import whole_number
from ..shrink import Shrinker, shrunk_size
from .bands import rebuffer
from .base import Source


class ShrunkSource(Source):
    """``source`` with each ``factor`` x ``factor`` block averaged into one pixel.

    The rows of ``source`` are read band by band and averaged by a
    ``shrink.Shrinker`` (memory: one partial block of rows); blocks cut by the
    right or bottom edge average the pixels they hold, so the size is
    ceil(width / factor) x ceil(height / factor). The metadata keep their
    print size (``metadata.shrunk``). Closing it closes ``source``.
    """

    def __init__(self, source: Source, factor: int) -> None:
        if (whole_number(factor) or 0) < 1:
            raise ValueError(f"shrink must be a whole number of at least 1, not {factor!r}")
        self.source = source
        self.factor = int(factor)
        self.mode = source.mode
        self.channels = source.channels
        self.size = shrunk_size(*source.size, self.factor)
        self.name = getattr(source, "name", None)

    @property
    def metadata(self) -> dict[str, Any]:
        return metadata_.shrunk(self.source.metadata, self.factor, self.size)

    def read_bands(self, strip_height: int) -> Iterator[np.ndarray]:
        width, channels = self.source.size[0], self.channels
        out_width, out_height = self.size
        shrinker = Shrinker(width, self.factor)

        def rows() -> Iterator[np.ndarray]:
            for band in self.source.read_bands(strip_height):
                done = shrinker.push(band.reshape(band.shape[0], width, channels))
                if len(done):
                    yield done
            last = shrinker.finish()
            if last is not None:
                yield last

        return rebuffer(rows(), out_width * channels, strip_height, out_height)

    def close(self) -> None:
        self.source.close()
