"""Save options: parsed and validated once into a ``Settings`` object.

Options keep Pillow's JPEG names and meanings; only the defaults differ
(quality 100, no chroma subsampling). Everything downstream (tables, header,
strip writer) reads ``Settings`` and never the raw options.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from . import tables

#: Largest width or height: libjpeg-turbo refuses anything above this.
MAX_DIMENSION = 65500

DEFAULT_QUALITY = 100


@dataclass(frozen=True)
class Component:
    """One frame component: its id, sampling factors and table set."""

    ident: int
    h: int
    v: int
    table: int


@dataclass(frozen=True)
class ModeLayout:
    """How an image mode's pixel rows map to JPEG components."""

    rawmode: str  #: Pillow raw mode the rows are read in
    channels: int  #: samples per pixel in those rows
    convert: bool  #: RGB to YCbCr in the kernels


#: Image modes this writer accepts, and how their rows are read.
MODES: dict[str, ModeLayout] = {
    "L": ModeLayout("L", 1, False),
    "RGB": ModeLayout("RGBX", 4, True),
}


@dataclass(frozen=True)
class Settings:
    """Everything a save needs, derived once from the options."""

    mode: str
    width: int
    height: int
    layout: ModeLayout
    components: tuple[Component, ...]
    qtables: tuple[tuple[int, ...], ...]  #: natural order
    huffman: tuple  #: list of (DC spec, AC spec) per table set
    quality: int
    workers: int
    round_samples: bool  #: YCbCr rounded to whole values before the DCT

    @property
    def convert(self) -> int:
        """The kernels' colour conversion: 0 none, 1 YCbCr, 2 YCbCr rounded."""
        if not self.layout.convert:
            return 0
        return 2 if self.round_samples else 1

    @property
    def hs(self) -> int:
        return self.components[0].h

    @property
    def vs(self) -> int:
        return self.components[0].v

    @property
    def strip_height(self) -> int:
        """Rows in one strip: one MCU row."""
        return 8 * self.vs

    @property
    def mcus_per_row(self) -> int:
        return -(-self.width // (8 * self.hs))

    @property
    def strip_count(self) -> int:
        return -(-self.height // self.strip_height)


def check_mode(mode: str) -> ModeLayout:
    """The layout of a writable mode; OSError as Pillow's for any other."""
    try:
        return MODES[mode]
    except KeyError:
        msg = f"cannot write mode {mode} as JPEG"
        raise OSError(msg) from None


def check_size(width: int, height: int) -> None:
    """ValueError for an empty image or one beyond the JPEG size limit."""
    if width <= 0 or height <= 0:
        msg = f"cannot write empty image as JPEG ({width}x{height})"
        raise ValueError(msg)
    if width > MAX_DIMENSION or height > MAX_DIMENSION:
        msg = (
            f"image of {width}x{height} pixels is too large for JPEG: "
            f"width and height must be at most {MAX_DIMENSION}"
        )
        raise ValueError(msg)


def _quality(info: dict[str, Any]) -> int:
    quality = info.get("quality", -1)
    if quality is None or quality == -1:
        return DEFAULT_QUALITY
    if isinstance(quality, bool) or not isinstance(quality, int):
        msg = f"quality must be an integer from 0 to 100, not {quality!r}"
        raise ValueError(msg)
    if not 0 <= quality <= 100:
        msg = f"quality must be from 0 to 100, not {quality}"
        raise ValueError(msg)
    return max(quality, 1)


def _workers(info: dict[str, Any]) -> int:
    workers = info.get("workers")
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        msg = f"workers must be a positive integer, not {workers!r}"
        raise ValueError(msg)
    return workers


def rounds_samples(qtables) -> bool:
    """Whether YCbCr is rounded to whole values before the DCT for these tables.

    With quantizers of 1 or 2 the coefficients carry the samples almost
    losslessly, so the decoder's output is the encoder's YCbCr rounded once if
    the encoder rounds it, and rounded on top of coefficient noise if it does
    not: rounding first gave 0.4 to 2.6 dB more at quality 100 on photographs,
    and smaller files. With coarser quantizers, float samples are as good or
    better (see docs/fidelity.md).
    """
    return min(min(table) for table in qtables) <= 2


def parse(mode: str, size: tuple[int, int], info: dict[str, Any]) -> Settings:
    """Validate the mode, size and save options of an image into Settings."""
    layout = check_mode(mode)
    width, height = size
    check_size(width, height)
    quality = _quality(info)
    workers = _workers(info)
    if layout.convert:
        components = (Component(1, 1, 1, 0), Component(2, 1, 1, 1), Component(3, 1, 1, 1))
        qtables = tables.quality_tables(quality)
        huffman = tables.STD_HUFFMAN
    else:
        components = (Component(1, 1, 1, 0),)
        qtables = tables.quality_tables(quality)[:1]
        huffman = tables.STD_HUFFMAN[:1]
    return Settings(
        round_samples=rounds_samples(qtables),
        mode=mode,
        width=width,
        height=height,
        layout=layout,
        components=components,
        qtables=tuple(tuple(t) for t in qtables),
        huffman=tuple(huffman),
        quality=quality,
        workers=workers,
    )
