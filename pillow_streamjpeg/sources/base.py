"""The Source protocol: what the scan writer needs of any image it encodes."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..options import check_mode, whole_number
from .bands import DeferredBand

#: Modes whose samples a JPEG file stores inverted: CMYK, as Adobe, Pillow and
#: Photoshop write it (255 is no ink). Sources hand such rows over inverted.
INVERTED_MODES = frozenset({"CMYK"})

#: The refusal of a background for CMYK, which has no alpha to composite (TIFFs, image
#: files and PIL images alike).
CMYK_BACKGROUND = "a background applies to grey or RGB images, not CMYK"


class Source(abc.ABC):
    """An image to encode, read band by band (modelled on jpeg-encoder's ImageBuffer).

    A source has:

    * ``mode``: the JPEG's image mode, one of Pillow's writable modes ("1",
      "L", "RGB", "RGBX", "YCbCr", "CMYK");
    * ``size``: (width, height);
    * ``channels``: samples per pixel in the rows it hands over, at least the
      mode's colour samples (1, 3 or 4); samples beyond those (alpha, padding)
      are ignored;
    * ``metadata``: save options the image carries, under Pillow's save-option
      names (``icc_profile``, ``dpi``, ``exif``, ``xmp``, ``comment`` ...);
      options given to ``encode`` take precedence;
    * ``read_bands(strip_height)``: a new pass over the rows, top to bottom.

    Each band from ``read_bands`` is a C-contiguous uint8 array of shape
    (rows, width * channels) holding a whole number of strips (a multiple of
    ``strip_height`` rows) except the last; together they hold ``height`` rows.
    Samples are the JPEG's: rendering (bit depth, palettes, inversion of
    ``INVERTED_MODES``) happens in the source. Optimized Huffman tables read
    the source twice, so each call must start again from the top.

    Write your own by subclassing: set ``mode``, ``size`` and ``channels`` and
    implement ``read_bands``; ``RowBands`` regroups bands of any height (and
    inverts CMYK) for sources that produce rows rather than strips.
    ``close`` releases what the source opened; a source is a context manager.
    """

    mode: str
    size: tuple[int, int]
    channels: int

    @property
    def metadata(self) -> dict[str, Any]:
        """Save options carried by the image (Pillow's names); none by default."""
        return {}

    @abc.abstractmethod
    def read_bands(self, strip_height: int) -> Iterator[np.ndarray]:
        """A new pass over the image: uint8 bands of whole strips (the last excepted).

        A band is coded after later ones have been read (tasks span bands, threads
        code behind the reading): it must not change until the pass ends, so a
        source that fills one buffer again hands out copies (``RowBands`` does).
        """

    def read_deferred(self, strip_height: int) -> Iterator[np.ndarray | DeferredBand]:
        """The pass the scan writer makes: ``read_bands``, where a band may be a
        ``DeferredBand`` whose rows the encoding threads read themselves.

        By default ``read_bands``; a source whose reading is work that can run on
        the encoding threads (``PillowSource``: row copies) overrides it.
        """
        return self.read_bands(strip_height)

    def close(self) -> None:
        """Release files or buffers the source opened (nothing by default)."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def colour_samples(mode: str) -> int:
    """Samples of a writable mode's colour (its JPEG components); OSError for others."""
    return len(check_mode(mode).ids)


def whole_size(size: Any, what: str = "size") -> tuple[int, int]:
    """``size`` as two ints (width, height); TypeError naming it unless two whole numbers."""
    try:
        width, height = size
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be two integers (width, height), not {size!r}") from None
    whole = (whole_number(width), whole_number(height))
    if None in whole:
        raise TypeError(f"{what} must be two integers (width, height), not {size!r}")
    return whole


def check_channels(mode: str, channels: int, what: str) -> int:
    """``channels`` checked against the mode: its colour samples, or one more (alpha or
    padding, ignored), at most 4.

    More are refused, not read as the mode's first samples: an RGB array given mode "L"
    would come out as its red channel (convert it first, e.g. Pillow's ``convert("L")``).
    """
    colour = colour_samples(mode)
    if isinstance(channels, bool) or not isinstance(channels, int) or not (
        colour <= channels <= min(colour + 1, 4)
    ):
        allowed = (f"{colour}" if colour == 4 else
                   f"{colour}, or {colour + 1} with the last ignored (alpha or padding)")
        raise ValueError(
            f"cannot encode {what} with {channels!r} samples per pixel as mode {mode}; "
            f"expected {allowed}"
        )
    return channels


def inverted(band: np.ndarray) -> np.ndarray:
    """A band's samples inverted (255 - v), as a new C-contiguous array."""
    return np.subtract(255, band, dtype=np.uint8)
