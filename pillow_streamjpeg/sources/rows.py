"""Row bands as a source: an iterable of bands of any height, with the image's size and mode."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from PIL import Image

from .bands import rebuffer
from .base import INVERTED_MODES, Source, check_channels, colour_samples, inverted, whole_size


class RowBands(Source):
    """A source made of an iterable of row bands, with its size and mode given.

    ``RowBands(bands, size=(width, height), mode="RGB")``: each band is a uint8
    array of any number of rows, of shape (rows, width), (rows, width,
    channels) or (rows, width * channels), with plain samples (CMYK: 0 is no
    ink). ``channels`` defaults to the mode's bands in Pillow (1 for "L", 3 for
    "RGB", 4 for "RGBX" and "CMYK"); give 4 for RGBA rows of an "RGB" image
    (the fourth sample is ignored). Bands of any height are regrouped into whole strips. An iterator
    can be read only once: encoding such a source a second time (or with
    optimize=True, which reads it twice) raises RuntimeError. An iterator's bands
    are copied as they come, so it may fill one buffer again for each band.
    """

    def __init__(self, bands: Iterable[np.ndarray], size: tuple[int, int], mode: str = "RGB",
                 channels: int | None = None) -> None:
        self.bands = bands
        self.size = whole_size(size)
        self.mode = mode
        if channels is None:
            colour_samples(mode)  # OSError, as Pillow's, for a mode JPEG cannot hold
            channels = Image.getmodebands(mode)
        self.channels = check_channels(mode, channels, "row bands")
        self._used = False

    def read_bands(self, strip_height: int) -> Iterator[np.ndarray]:
        """The bands regrouped into whole strips; a second pass over an iterator raises."""
        once = iter(self.bands) is self.bands
        if once and self._used:
            raise RuntimeError(
                "this RowBands source was already read: its bands come from an iterator, "
                "which can be read only once (optimize=True needs two passes); pass a list, "
                "or make a new source"
            )
        self._used = True
        width, height = self.size
        source = self.bands
        if once:
            # an iterator may hand out one buffer that it fills again for each band (a
            # readinto loop): each band is copied as it comes, since the strips of a band
            # are coded after the iterator has moved on (a task spans bands, and threads
            # code tasks behind the reading); a list's bands are its own
            source = (np.array(band, copy=True) for band in source)
        bands = rebuffer(_laid_out(source, width, self.channels), width * self.channels,
                         strip_height, height)
        if self.mode in INVERTED_MODES:
            return (inverted(band) for band in bands)
        return bands


def _laid_out(bands: Any, width: int, channels: int) -> Iterator[Any]:
    """The bands, each of 3 dimensions checked to be (rows, width, samples): one of the
    right bytes per row in another layout (rows, samples, width) gave scrambled pixels."""
    for band in bands:
        shape = np.shape(band)
        # the right bytes a row in another layout (other shapes: ``rebuffer``'s error)
        if len(shape) == 3 and shape[1] * shape[2] == width * channels \
                and tuple(shape[1:]) != (width, channels):
            raise ValueError(f"row band of shape {tuple(shape)} is not (rows, {width}, "
                             f"{channels}): rows of width x samples per pixel")
        yield band
