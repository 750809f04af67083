"""TIFF sources: a page, series or pyramid level of a TIFF file, read band by band.

Everything goes through tifffile (imported only when a TIFF is read):

* uncompressed, contiguous, striped images are read by byte offset with
  ``os.pread`` straight into a buffer (no decoding, no memory map);
* other single pages of chunky samples (tiled or striped, compressed with LZW,
  deflate, zstd, JPEG, PackBits ..., predictors, BigTIFF, a page of a
  multi-page file, a pyramid level) are read in bands of whole tile rows or
  strips, at least 256 rows, with tifffile's ``read_segments``, and decoded
  with ``TiffPage.decode`` into band buffers;
* anything else (planar separate samples, series spanning several pages) is
  read through ``zarr.open_array(tif.aszarr(...))`` in bands of whole chunk rows
  (tiles or strips), at least 256 rows high.

Samples become 8-bit rows of a writable mode (``render.Renderer``, docs/tiff.md):

* 8-bit grey (MinIsBlack) and RGB pass through; MinIsWhite is inverted;
* other unsigned (1 to 32 bits), signed (8, 16, 32) and float (16, 32, 64)
  samples are mapped linearly through one range for all channels: by default
  SMinSampleValue/SMaxSampleValue, else the minimum and maximum of a bounded
  sample (a pyramid level of at most 4 MP, or 32 strips or tiles spread over
  the image); ``range=`` chooses "full", (low, high) or percentiles;
* palette images are written as RGB through their colour map (16-bit map entries
  scaled over 0..65535; maps whose entries all fit 8 bits are taken as 8-bit);
* associated alpha is un-premultiplied, then alpha is dropped, or with
  ``background=`` the colours are composited on that colour;
* CMYK (Separated, 4 inks) is written as a CMYK JPEG;
* complex samples and other photometric interpretations (CIELab, YCbCr
  outside JPEG compression, ...) are refused with ``errors.NotSupported``;
  broken files with ``errors.Damaged`` (both ValueErrors naming the file).

For the scan writer (``read_deferred``) both are read by the encoding threads
themselves, a strip or a band at a time (``_PreadRows``, ``_SegmentBand``);
``read_bands`` reads a band ahead on the calling thread (and two decoding threads).

Peak memory stays bounded by a few bands whatever the image height, except for
compressed files whose strips or tiles are themselves huge (a single strip
holding the whole image must be decoded whole).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from .. import errors, render
from ..options import available_cpus, whole_number
from .. import metadata as metadata_
from .bands import BufferPool, DeferredBand, band_rows, rebuffer
from .base import CMYK_BACKGROUND, INVERTED_MODES, Source

#: File name endings taken as TIFF without looking inside.
SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2", ".svs", ".ndpi", ".scn", ".bif", ".qptiff")

#: The first bytes of classic and BigTIFF files, both byte orders.
MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

#: Fewest rows of a band of tiles or strips (whole tile or strip rows).
MIN_BAND_ROWS = 256

#: Bytes a band read through zarr aims at (uncompressed strips are read in
#: bands of bands.BAND_BYTES: larger ones only cost memory).
ZARR_BAND_BYTES = 16 << 20

#: Compressed bytes tifffile reads from the file in one pass.
SEGMENT_BUFFER_BYTES = 256 << 10

#: Compressed segments waiting for a decoding thread, per thread.
SEGMENTS_IN_FLIGHT = 2

# TIFF tag values (T.IFF 6.0)
MINISWHITE, MINISBLACK, RGB, PALETTE, SEPARATED, YCBCR = 0, 1, 2, 3, 5, 6
COMPRESSION_NONE, COMPRESSION_JPEG_OLD, COMPRESSION_JPEG = 1, 6, 7
#: Compressions whose segments tifffile decodes with the page's JPEG tables
#: (as its TiffPage.segments does): old and new JPEG, 33007 and 34892 (lossy JPEG).
JPEG_COMPRESSIONS = (COMPRESSION_JPEG_OLD, COMPRESSION_JPEG, 33007, 34892)
PHOTOMETRIC_NAMES = {
    0: "MinIsWhite", 1: "MinIsBlack", 2: "RGB", 3: "Palette", 4: "Mask", 5: "Separated",
    6: "YCbCr", 8: "CIELab", 9: "ICCLab", 10: "ITULab", 32844: "LogL", 32845: "LogLuv",
    32803: "CFA", 34892: "LinearRaw",
}
#: Rows read at each of the places an uncompressed image is sampled for its range.
SAMPLE_ROWS = 16

#: ExtraSamples values: what the first extra sample is.
ALPHA_KINDS = {1: "associated", 2: "unassociated"}
#: What the TIFF reader renders, for refusals.
SUPPORTED_SAMPLES = ("unsigned integers of 1 to 32 bits, signed integers of 8, 16 or 32 bits, "
                     "floating point of 16, 32 or 64 bits")
SAMPLE_FORMAT_NAMES = {2: "signed integer", 3: "floating point", 4: "undefined",
                       5: "complex integer", 6: "complex floating point"}


def is_tiff(source: Any) -> bool:
    """Whether source is a TIFF: a tifffile.TiffFile, or a path to a file that starts
    with a TIFF signature (or, when it cannot be read, whose name ends as a TIFF's)."""
    module = sys.modules.get("tifffile")
    if module is not None and isinstance(source, module.TiffFile):
        return True
    if not isinstance(source, (str, os.PathLike)):
        return False
    path = os.fspath(source)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    try:  # the signature decides: a PNG named .tif goes to Pillow
        with open(path, "rb") as handle:
            return handle.read(4) in MAGIC
    except OSError:  # missing or unreadable: the name decides, the reader reports
        return path.lower().endswith(SUFFIXES)


def _tifffile():
    try:
        import tifffile
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading TIFF files needs tifffile, zarr and imagecodecs: "
            "pip install 'pillow_streamjpeg[tiff]'"
        ) from None
    return tifffile


class ChoiceError(ValueError):
    """A page, series, level or option that does not fit the file (the caller's choice)."""


@contextlib.contextmanager
def _reading(name: str, what: str) -> Iterator[None]:
    """Re-raise a parser's or decoder's failure as a refusal naming the file.

    tifffile, zarr and imagecodecs raise their own types on corrupt data
    (TiffFileError, DeflateError, ImcdError, even ZeroDivisionError on absurd
    tags); callers get ``errors.Damaged`` or ``errors.NotSupported`` (both
    ValueErrors) with the file and what failed, never the library's text.
    """
    try:
        yield
    except (OSError, ImportError, MemoryError, ChoiceError):
        raise
    except Exception as exc:
        raise errors.classify(exc, name, what=f"cannot read the {what}") from exc


def _index(value: Any, what: str) -> int | None:
    if value is None:
        return None
    index = whole_number(value)
    if index is None or index < 0:
        raise ChoiceError(f"{what} must be a non-negative integer, not {value!r}")
    return index


class TiffSource(Source):
    """One image of a TIFF file: a page, or a series and pyramid level (default: series 0,
    level 0), from a path (opened here, closed by ``close``) or an open
    ``tifffile.TiffFile`` (left open).
    """

    def __init__(self, source: Any, page: int | None = None, series: int | None = None,
                 level: int | None = None, *, range: render.RangeLike = None,
                 background: str | tuple[int, int, int] | None = None,
                 carry: bool = True) -> None:
        tifffile = _tifffile()
        self._carry = carry
        self._opened = None
        self._range = render.parse_range(range)
        self.background = render.parse_background(background)
        if isinstance(source, tifffile.TiffFile):
            tif = source
            self.name = tif.filehandle.name or "TIFF"
        else:
            self.name = os.fspath(source)
            with _reading(self.name, "header"):
                tif = self._opened = tifffile.TiffFile(self.name)
        try:
            with _reading(self.name, "header"):
                self._choose(tif, page, series, level)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None

    def _choose(self, tif, page: int | None, series: int | None, level: int | None) -> None:
        self.tif = tif
        page, series, level = (_index(page, "page"), _index(series, "series"),
                               _index(level, "level"))
        if page is not None:
            if series is not None or level is not None:
                raise ChoiceError("choose either a page, or a series and level, not both")
            count = len(tif.pages)
            if page >= count:
                raise ChoiceError(f"{self.name}: no page {page}, the file has {count} page{'s' * (count != 1)}")
            self.page = tif.pages[page]
            if not hasattr(self.page, "aszarr"):
                self.page = self.page.aspage()
            self.keyframe = self.page.keyframe
            self.shape, self.axes = tuple(self.page.shape), self.page.axes
            self._store = lambda: self.page.aszarr()
            self._series = None
            single = self.page
        else:
            series = series or 0
            level = level or 0
            all_series = tif.series
            if not all_series:
                raise errors.Damaged(self.name, "the file holds no image it can describe")
            if series >= len(all_series):
                raise ChoiceError(f"{self.name}: no series {series}, the file has {len(all_series)} series")
            chosen = all_series[series]
            levels = chosen.levels
            if level >= len(levels):
                raise ChoiceError(f"{self.name}: series {series} has no level {level}, it has {len(levels)}")
            chosen = levels[level]
            self.keyframe = chosen.keyframe
            self.shape, self.axes = tuple(chosen.shape), chosen.axes
            self._store = lambda: tif.aszarr(series=series, level=level)
            self._series, self.level = series, level
            pages = [p for p in chosen.pages if p is not None] if hasattr(chosen, "pages") else []
            single = pages[0] if len(pages) == 1 else None
        self._check_axes()
        self._check_samples()
        self._fast = self._fast_offset(single)
        self._single = single

    # -- layout -------------------------------------------------------------

    def _check_axes(self) -> None:
        axes = self.axes
        if "Y" not in axes or "X" not in axes:
            raise errors.NotSupported(self.name, f"an image of axes {axes!r} (no rows and columns)")
        self.height = self.shape[axes.index("Y")]
        self.width = self.shape[axes.index("X")]
        self.size = (self.width, self.height)
        if not (self.width and self.height):
            # an image of no rows or columns: a broken dimension tag, which tifffile drops
            # (an ImageLength of a corrupt count reads as 0 rows)
            raise errors.Damaged(self.name, f"an image of {self.width}x{self.height} pixels")

    def _check_samples(self) -> None:
        key = self.keyframe
        name = self.name
        fmt = int(key.sampleformat)
        bits = int(key.bitspersample)
        dtype = np.dtype(key.dtype) if key.dtype is not None else None
        if fmt not in (1, 2, 3) or dtype is None or dtype.kind not in "uifb" or (
                fmt == 1 and bits > 32) or (fmt == 2 and bits not in (8, 16, 32)):
            kind = SAMPLE_FORMAT_NAMES.get(fmt, "unsigned integer" if fmt == 1 else f"sample format {fmt}")
            raise errors.NotSupported(name, f"{bits}-bit {kind} samples", supported=SUPPORTED_SAMPLES)
        photometric = int(key.photometric)
        spp = int(key.samplesperpixel)
        extrasamples = tuple(int(v) for v in (key.extrasamples or ()))
        extras = len(extrasamples)
        colour = spp - extras
        pname = PHOTOMETRIC_NAMES.get(photometric, str(photometric))
        self.bits = bits
        self.dtype = dtype
        self.samples = spp
        self.lut: np.ndarray | None = None
        self.colours = colour
        self.alpha = ALPHA_KINDS.get(extrasamples[0]) if extrasamples else None
        self.invert = False
        if photometric in (MINISBLACK, MINISWHITE):
            if colour != 1:
                raise errors.NotSupported(name, f"{spp} samples per pixel with {pname} and "
                                          f"{extras} extra", supported="1 grey sample")
            self.mode = "L"
            self.invert = photometric == MINISWHITE
        elif photometric == RGB or (photometric == YCBCR and int(key.compression) in
                                    (COMPRESSION_JPEG, COMPRESSION_JPEG_OLD)):
            if colour != 3:
                raise errors.NotSupported(name, f"{spp} samples per pixel with {pname}",
                                          supported="3 colour samples")
            self.mode = "RGB"
        elif photometric == PALETTE:
            if spp != 1 or key.colormap is None or dtype.kind != "u" or bits > 16:
                raise errors.NotSupported(name, "palette image without a colour map of 1 "
                                          "unsigned sample per pixel")
            self.mode, self.colours, self.alpha = "RGB", 1, None
            self.lut = _palette_lut(np.asarray(key.colormap), bits)
        elif photometric == SEPARATED:
            inkset = int(key.tags.valueof(332, 1))  # InkSet, 1: CMYK
            if inkset != 1 or colour != 4:
                raise errors.NotSupported(name, f"Separated image of {colour} inks (inkset {inkset})",
                                          supported="CMYK")
            self.mode = "CMYK"
            self.invert = "CMYK" in INVERTED_MODES  # as JPEG stores ink
        else:
            raise errors.NotSupported(name, f"photometric interpretation {pname}",
                                      supported="grey, RGB, palette or CMYK")
        if self.background is not None and self.mode == "CMYK":
            raise ChoiceError(f"{self.name}: {CMYK_BACKGROUND}")
        # 8-bit RGB with an alpha to ignore: RGBX rows, passed on without a copy
        passthrough = (dtype == np.uint8 and bits == 8 and not self.invert and self.lut is None
                       and self._range.kind in ("auto", "full")
                       and (self.alpha is None or self.alpha == "unassociated"
                            and self.background is None))
        self.keep = 4 if passthrough and self.mode == "RGB" and spp >= 4 else len(self.mode)
        if self.mode == "L":
            self.keep = 1
        self.channels = 3 if self.lut is not None else self.keep
        self._renderer: render.Renderer | None = None
        self._passthrough = passthrough

    def _window(self) -> render.Window:
        """The range of this image (docs/tiff.md): read a bounded sample when needed."""
        key = self.keyframe
        smin, smax = key.tags.valueof(340), key.tags.valueof(341)
        return render.resolve_range(self._range, self.dtype, bits=self.bits, smin=smin,
                                    smax=smax, samples=self._sample_arrays,
                                    nodata=_gdal_nodata(key.tags.valueof(GDAL_NODATA)))

    def renderer(self) -> render.Renderer | None:
        """The Renderer of the samples (made once: the range is resolved on first use)."""
        if self.lut is not None or self._passthrough and self._range.kind in ("auto", "full"):
            return None
        if self._renderer is None:
            with _reading(self.name, "a sample of the image for its range"):
                window = self._window()
            background = self.background
            if background is not None and self.invert:  # composited before the inversion
                background = tuple(255 - v for v in background)
            self._renderer = render.Renderer(
                window, self.dtype, colours=self.colours, alpha=self.alpha,
                alpha_bits=self.bits if self.dtype.kind == "u" else None, background=background)
        return self._renderer

    def _sample_arrays(self) -> Iterator[np.ndarray]:
        """Colour samples for the auto range: a small pyramid level, else spread chunks.

        A pyramid level of at most 4 MP (``render.sample_level``) when the
        series has one, else at most 32 tiles or strips spread evenly over the
        image (``render.sample_indices``): never a full pass.
        """
        import zarr

        shapes = self.level_shapes()
        level = render.sample_level(shapes) if self._series is not None else None
        if level is None and self._fast is not None:  # uncompressed: rows by offset
            yield from self._pread_sample()
            return
        if level is not None:
            store = self.tif.aszarr(series=self._series, level=level)
            axes = self.tif.series[self._series].levels[level].axes
        else:
            store = self._store()
            axes = self.axes
        with store:
            array = zarr.open_array(store, mode="r")
            yi, xi = axes.index("Y"), axes.index("X")
            if level is not None:
                chunks = [(slice(None), slice(None))]
            else:
                ch, cw = array.chunks[yi], array.chunks[xi]
                ny, nx = -(-array.shape[yi] // ch), -(-array.shape[xi] // cw)
                chunks = [(slice(i // nx * ch, (i // nx + 1) * ch), slice(i % nx * cw, (i % nx + 1) * cw))
                          for i in render.sample_indices(ny * nx)]
            for rows, cols in chunks:
                index = tuple(rows if a == "Y" else cols if a == "X" else slice(None) if a == "S" else 0
                              for a in axes)
                data = np.asarray(array[index])
                if "S" in axes and axes.index("S") < yi:  # planar: samples first
                    data = np.moveaxis(data, 0, -1)
                yield self._range_values(data)

    def _range_values(self, data: np.ndarray) -> np.ndarray:
        """The colour values of sampled pixels that the range is taken from: with associated
        alpha, straight colours (un-premultiplied in sample units, as ``render.Renderer``
        does; pixels of alpha 0 left out), else the colour channels as they are."""
        if data.ndim != 3:
            return data
        if self.alpha != "associated" or data.shape[2] <= self.colours:
            return data[..., :self.colours]
        bits = self.bits if self.dtype.kind == "u" else None
        straight = render.unpremultiplied(data[..., :self.colours], data[..., self.colours],
                                          render.full_range(self.dtype, bits).high)
        return straight[data[..., self.colours] > 0]

    def _pread_sample(self, rows: int = SAMPLE_ROWS) -> Iterator[np.ndarray]:
        """Groups of ``rows`` rows spread over an uncompressed image (``render.sample_indices``),
        read by offset: a single strip holding the whole image is not read whole."""
        dtype = self.dtype.newbyteorder(self.tif.byteorder)
        file_row = self.width * self.samples * dtype.itemsize
        fd = os.open(self.tif.filehandle.path, os.O_RDONLY)
        try:
            for index in render.sample_indices(-(-self.height // rows)):
                count = min(rows, self.height - index * rows)
                raw = np.empty((count, self.width * self.samples), dtype)
                _pread_into(fd, memoryview(raw).cast("B"), self._fast + index * rows * file_row,
                            self.name)
                raw = raw.reshape(count, self.width, self.samples)
                yield self._range_values(raw.astype(self.dtype.newbyteorder("=")))
        finally:
            os.close(fd)

    def level_shapes(self) -> list[tuple[int, int]]:
        """(height, width) of each pyramid level of the chosen series ([own size] for a page)."""
        if self._series is None:
            return [(self.height, self.width)]
        levels = self.tif.series[self._series].levels
        return [(lv.shape[lv.axes.index("Y")], lv.shape[lv.axes.index("X")]) for lv in levels]

    @property
    def metadata(self) -> dict[str, Any]:
        """ICC profile, resolution, EXIF (orientation included) and XMP of the page
        (none when made with ``carry=False``).

        A reduced pyramid level (``level`` above 0) is the full-resolution image made
        smaller, and writers (SVS, OME, tifffile's sub-IFDs) put the image's ICC profile,
        orientation and resolution on the full-resolution page only: the level takes that
        page's metadata, its resolution scaled as a shrink's (``metadata.shrunk``), and
        keeps whatever of its own it has (its own resolution, profile, XMP)."""
        if not self._carry:
            return {}
        page = self._single if self._single is not None else self.keyframe
        try:
            own = metadata_.from_tiff(page, self.tif, size=self.size)
        except Exception:  # unreadable metadata never stops a conversion
            return {}
        if self._series is None or not self.level:
            return own
        try:
            base = self.tif.series[self._series].levels[0].keyframe
            inherited = metadata_.shrunk(metadata_.from_tiff(base, self.tif, size=self.size),
                                         base.imagewidth / self.width, self.size)
            # the level's own resolution wins, in the EXIF too, as a user's dpi does
            result = metadata_.merged(inherited, {key: own[key] for key in own
                                                  if key in metadata_.RESOLUTION_KEYS})
        except Exception:  # the full-resolution page's unreadable: the level's own
            return own
        result.update((key, own[key]) for key in ("icc_profile", "xmp") if key in own)
        if "exif" in own and "exif" not in result:
            result["exif"] = own["exif"]
        return result

    def _fast_offset(self, page) -> int | None:
        """Byte offset of an uncompressed contiguous striped page's rows, else None."""
        if page is None or self.tif.filehandle.is_file is False:
            return None
        key = self.keyframe
        if (
            key.is_tiled or int(key.compression) != COMPRESSION_NONE or int(key.predictor) != 1
            or int(key.fillorder) != 1 or self.dtype.kind == "b"
            or self.bits != self.dtype.itemsize * 8
            or (self.samples > 1 and int(key.planarconfig) != 1)
            or getattr(page, "imagedepth", 1) != 1
        ):
            return None
        contiguous = page.is_contiguous
        if not contiguous or not page.dataoffsets:
            return None
        if isinstance(contiguous, tuple):  # older tifffile: (offset, bytecount)
            offset, count = contiguous
        else:
            offset, count = page.dataoffsets[0], sum(page.databytecounts)
        if count < self.height * self.width * self.samples * self.dtype.itemsize:
            return None
        path = self.tif.filehandle.path
        if not path or not os.path.isfile(path):
            return None
        return int(offset) + int(getattr(self.tif.filehandle, "_offset", 0) or 0)

    # -- reading ------------------------------------------------------------

    def read_bands(self, strip_height: int) -> Iterator[np.ndarray]:
        """A new pass over the image: uint8 bands of whole strips (the last excepted)."""
        row_bytes = self.width * self.channels
        if self._fast is not None:
            return self._pread_bands(strip_height)
        if self._segmentable():
            bands = self._segment_bands()
        else:
            bands = self._zarr_bands()
        return rebuffer(bands, row_bytes, strip_height, self.height)

    def _segmentable(self) -> bool:
        """Whether the image is one page of chunky samples, decoded segment by segment."""
        key = self.keyframe
        page = self._single
        return (
            page is not None and hasattr(page, "segments")
            and (self.samples == 1 or int(key.planarconfig) == 1)
            and int(key.imagedepth) == 1
            and tuple(page.shape[:1]) != (0,)
        )

    def _segment_bands(self) -> Iterator[np.ndarray]:
        """Tiles or strips decoded on two threads into bands of whole chunk rows.

        A band is one tile row, or as many tile rows or strips as make
        MIN_BAND_ROWS rows. Its segments are read with tifffile
        (``FileHandle.read_segments``, SEGMENT_BUFFER_BYTES at a time), decoded
        with ``TiffPage.decode`` on the threads, each copied into the band and
        dropped; the band is handed on when all its segments are in, and the next
        one is read only when asked for. Bands are pooled buffers: memory holds
        the band being encoded and the band being decoded, a few compressed
        segments, never the image. (The scan writer decodes on its own threads
        instead: ``read_deferred``.)
        """
        segments = _Segments(self)
        pool = BufferPool(segments.band_bytes, releasable=True)
        workers = min(2, available_cpus())
        with ThreadPoolExecutor(workers, thread_name_prefix="streamjpeg-tiff") as executor:
            for top in range(0, self.height, segments.band_rows):
                rows = min(segments.band_rows, self.height - top)
                band = pool.take((rows, self.width, self.samples), segments.dtype)
                indices = segments.indices(band, top)
                pending: deque[Future] = deque()
                with _reading(self.name, f"rows {top} to {top + rows - 1}"):
                    for data, index in segments.read(indices):
                        pending.append(executor.submit(segments.place, band, top, data, index))
                        if len(pending) > SEGMENTS_IN_FLIGHT * workers:
                            pending.popleft().result()
                    while pending:
                        pending.popleft().result()
                yield self._convert(band)

    def read_deferred(self, strip_height: int) -> Iterator[np.ndarray | DeferredBand]:
        """The scan writer's pass, read by the encoding threads themselves: the rows of an
        uncompressed striped image by offset, a strip at a time (``_PreadRows``); tiles or
        compressed strips decoded one band of whole tile rows at a time (``_SegmentBand``);
        other layouts as ``read_bands``."""
        if self._fast is not None:
            self.renderer()  # the range is resolved once, before the threads read
            return iter((_PreadRows(self, strip_height),))
        if self._segmentable():
            segments = _Segments(self)
            if segments.band_rows % strip_height == 0:
                self.renderer()  # the range is resolved once, before the threads read
                return self._deferred_bands(segments)
        return self.read_bands(strip_height)

    def _deferred_bands(self, segments: _Segments) -> Iterator[_SegmentBand]:
        buffers = _BandBuffers(segments.band_bytes)
        for top in range(0, self.height, segments.band_rows):
            yield _SegmentBand(self, segments, buffers, top,
                               min(segments.band_rows, self.height - top))

    def _convert(self, band: np.ndarray) -> np.ndarray:
        """Raw samples (rows, width[, samples]) to (rows, width * channels) uint8."""
        if band.dtype == np.bool_:
            band = band.view(np.uint8)
        renderer = self.renderer()
        if self.lut is not None:
            band = self.lut[band[:, :, 0] if band.ndim == 3 else band]
        elif renderer is not None:
            band = renderer.render(band)
            if self.invert:
                band = np.subtract(255, band, dtype=np.uint8)
        else:
            if band.ndim == 3 and band.shape[2] != self.keep:
                band = band[:, :, : self.keep] if self.keep > 1 else band[:, :, 0]
            elif band.ndim == 3 and self.keep == 1:
                band = band[:, :, 0]
            if band.dtype != np.uint8:
                raise errors.Damaged(self.name, f"decoded samples of type {band.dtype}")
        band = np.ascontiguousarray(band)
        return band.reshape(band.shape[0], -1)

    def _pread_converted(self, raw: np.ndarray, rows: int) -> np.ndarray:
        """Rows read by offset (rows, width * samples) of the file's dtype as the kernels take them."""
        if self.samples > 1:
            raw = raw.reshape(rows, self.width, self.samples)
        if raw.dtype.byteorder not in ("=", "|") and raw.dtype.itemsize > 1:
            raw = raw.astype(raw.dtype.newbyteorder("="))
        if (self.lut is not None or self.renderer() is not None
                or raw.ndim == 3 and raw.shape[2] != self.keep):
            return self._convert(raw)
        return raw.reshape(rows, -1)

    def _pread_bands(self, strip_height: int) -> Iterator[np.ndarray]:
        itemsize = self.dtype.itemsize
        dtype = self.dtype.newbyteorder(self.tif.byteorder)
        file_row = self.width * self.samples * itemsize
        rows_per_band = band_rows(file_row, strip_height)
        pool = BufferPool(rows_per_band * file_row)
        fd = os.open(self.tif.filehandle.path, os.O_RDONLY)
        try:
            with contextlib.suppress(AttributeError, OSError):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            for top in range(0, self.height, rows_per_band):
                rows = min(rows_per_band, self.height - top)
                raw = pool.take((rows, self.width * self.samples), dtype)
                _pread_into(fd, memoryview(raw).cast("B"), self._fast + top * file_row, self.name)
                yield self._pread_converted(raw, rows)
        finally:
            os.close(fd)

    def _chunk_rows(self) -> int:
        key = self.keyframe
        if key.is_tiled:
            if key.tilelength < 1 or key.tilewidth < 1:
                raise errors.Damaged(self.name, f"tiles of {key.tilewidth}x{key.tilelength} pixels")
            return int(key.tilelength)
        return max(1, min(int(key.rowsperstrip or self.height), self.height))

    def _zarr_bands(self) -> Iterator[np.ndarray]:
        try:
            import zarr
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("reading compressed or tiled TIFF files needs zarr: "
                              "pip install 'pillow_streamjpeg[tiff]'") from None
        chunk = self._chunk_rows()
        row_bytes = self.width * self.samples * self.dtype.itemsize
        rows = max(MIN_BAND_ROWS, ZARR_BAND_BYTES // row_bytes)
        rows = -(-rows // chunk) * chunk
        axes = self.axes
        with _reading(self.name, "layout"):
            store = self._store()
        with store:
            with _reading(self.name, "layout"):
                array = zarr.open_array(store, mode="r")
            for top in range(0, self.height, rows):
                index = tuple(
                    slice(top, top + rows) if axis == "Y" else slice(None) if axis in "XS" else 0
                    for axis in axes
                )
                kept = [axis for axis in axes if axis in "YXS"]
                with _reading(self.name, f"rows {top} to {min(top + rows, self.height) - 1}"):
                    band = np.asarray(array[index])
                order = [kept.index(axis) for axis in "YXS" if axis in kept]
                if order != list(range(len(kept))):
                    band = band.transpose(order)
                yield self._convert(band)


def _pread_into(fd: int, buffer: memoryview, offset: int, name: str) -> None:
    done = 0
    total = len(buffer)
    while done < total:
        count = os.preadv(fd, [buffer[done:]], offset + done)
        if count <= 0:
            raise errors.Damaged(name, "the file ends before its image data (truncated)")
        done += count


def _palette_lut(colormap: np.ndarray, bits: int) -> np.ndarray:
    """Colour map (3, 2**bits) of 16-bit (or 8-bit) entries to an (entries, 3) uint8 table."""
    cmap = colormap.astype(np.int64).T
    if cmap.max() > 255:
        cmap = (cmap * 255 * 2 + 65535) // (2 * 65535)
    lut = np.zeros((1 << bits, 3), dtype=np.uint8)
    n = min(len(lut), len(cmap))
    lut[:n] = cmap[:n]
    return lut




class _Segments:
    """The tiles or strips of one page of chunky samples, and how they fill bands.

    Bands are ``band_rows`` high (whole tile rows or strips, at least
    MIN_BAND_ROWS), shaped (rows, width, samples) of the decoded dtype.
    """

    def __init__(self, source: TiffSource) -> None:
        key, page = source.keyframe, source._single
        self.name = source.name
        self.width, self.samples = source.width, source.samples
        self.chunk = source._chunk_rows()
        self.chunk_width = int(key.tilewidth) if key.is_tiled else self.width
        self.across = -(-self.width // self.chunk_width)
        self.band_rows = self.chunk * -(-MIN_BAND_ROWS // self.chunk)
        self.dtype = np.dtype(np.bool_ if key.dtype == np.bool_ else key.dtype)
        self.band_bytes = self.band_rows * self.width * self.samples * self.dtype.itemsize
        self.segment_bytes = self.chunk * self.chunk_width * self.samples * self.dtype.itemsize
        self._decode = key.decode
        self._tables = {}
        if int(key.compression) in JPEG_COMPRESSIONS:
            self._tables = {"jpegtables": page.jpegtables, "jpegheader": key.jpegheader}
        self._offsets, self._counts = page.dataoffsets, page.databytecounts
        self._listed = min(len(self._offsets), len(self._counts))
        self._fh = source.tif.filehandle
        # the encoding threads read segments too: seeks and reads under one lock
        # (tifffile's own is a no-op unless the file handle was given one)
        self._lock = self._fh.lock if getattr(self._fh, "has_lock", False) else threading.RLock()

    def listed(self, top: int, rows: int) -> range:
        """The indices of the segments listed for rows top .. top + rows - 1."""
        first = top // self.chunk * self.across
        last = first + -(-rows // self.chunk) * self.across
        return range(first, min(last, self._listed))

    def indices(self, band: np.ndarray, top: int) -> range:
        """The segments listed for the band's rows; those a corrupt file does not list
        are zeroed in the band (tifffile reads them as zeros)."""
        self.zero_missing(band, top)
        return self.listed(top, band.shape[0])

    def zero_missing(self, band: np.ndarray, top: int) -> None:
        """Zero the band's parts of the segments a corrupt file does not list."""
        first = top // self.chunk * self.across
        last = first + -(-band.shape[0] // self.chunk) * self.across
        for index in range(max(first, self._listed), last):
            row, col = divmod(index, self.across)
            self._region(band, top, row * self.chunk, col * self.chunk_width,
                         self.chunk, self.chunk_width)[...] = 0

    def read(self, indices: range) -> Iterator[tuple[bytes | None, int]]:
        """(compressed bytes, index) of the segments, read in file order chunks."""
        if not indices:
            return iter(())
        return self._fh.read_segments(
            self._offsets[indices.start:indices.stop], self._counts[indices.start:indices.stop],
            indices, sort=False, lock=self._lock, buffersize=SEGMENT_BUFFER_BYTES)

    def decode(self, data: bytes | None, index: int) -> tuple:
        """One segment decoded: (samples or None, (y, x) in the image, its shape)."""
        segment, (_, _, y, x, _), shape = self._decode(data, index, **self._tables)
        return segment, (y, x), shape

    def put(self, band: np.ndarray, top: int, decoded: tuple) -> None:
        """A decoded segment copied into its place in the band (an empty one as zeros)."""
        segment, (y, x), shape = decoded
        part = self._region(band, top, y, x, shape[1], shape[2])
        if segment is None:
            part[...] = 0
        else:
            rows, cols = part.shape[:2]
            part[...] = segment[0, :rows, :cols].reshape(rows, cols, self.samples)

    def place(self, band: np.ndarray, top: int, data: bytes | None, index: int) -> None:
        """Decode one segment into its place in the band."""
        self.put(band, top, self.decode(data, index))

    def _region(self, band: np.ndarray, top: int, y: int, x: int, rows: int,
                cols: int) -> np.ndarray:
        """The band's part for rows y.. and columns x.. of the image, clipped to both."""
        y -= top
        return band[y:y + min(rows, band.shape[0] - y), x:x + min(cols, self.width - x)]


#: Seconds a band waits for the previous band's buffer before taking a new one
#: (only after a failure is it not given back within a task's time).
BUFFER_WAIT = 1.0

#: Decoded bytes a band may hold outside its buffer while that buffer is still
#: being encoded from (the threads decode ahead instead of waiting idle).
STAGE_BYTES = 2 << 20


class _BandBuffers:
    """Buffers of one pass over a page's segments: a band decodes into the buffer the
    previous band gives back when all its rows are encoded, so one band is in memory
    at a time (and its pages stay mapped: nothing is released and faulted in again).

    A thread that still holds rows of a band with a buffer (a task of parts of one
    restart interval keeps the previous strip) gets a new buffer instead of waiting.
    """

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self._free: list[np.ndarray] = []
        self._lent: set[int] = set()  # id() of the bands holding a buffer
        self._cond = threading.Condition()
        self._local = threading.local()

    def take(self, band: _SegmentBand, shape: tuple[int, ...], dtype: np.dtype,
             meanwhile: Callable[[], bool] | None = None) -> np.ndarray:
        """A buffer for the band; while none is free, ``meanwhile()`` is called (without
        the lock) until it returns False, then the previous band's is waited for."""
        with self._cond:
            while not self._free and self._lent and id(self.held()) not in self._lent:
                if meanwhile is not None:
                    self._cond.release()
                    try:
                        busy = meanwhile()
                    finally:
                        self._cond.acquire()
                    if busy:
                        continue
                self._cond.wait_for(lambda: self._free, timeout=BUFFER_WAIT)
                break
            block = self._free.pop() if self._free else np.empty(self.nbytes, np.uint8)
            self._lent.add(id(band))
        count = math.prod(shape) * dtype.itemsize
        return block[:count].view(dtype).reshape(shape)

    def give(self, band: _SegmentBand, array: np.ndarray) -> None:
        """The band's buffer, free again."""
        block = array.base
        while block.base is not None:
            block = block.base
        with self._cond:
            self._lent.discard(id(band))
            self._free.append(block)
            self._cond.notify()

    def hold(self, band: _SegmentBand | None) -> None:
        """This thread reads rows of ``band`` (None: no longer)."""
        self._local.held = band

    def held(self) -> _SegmentBand | None:
        return getattr(self._local, "held", None)


class _SegmentBand(DeferredBand):
    """Rows top .. top + rows - 1 of a page of tiles or strips, decoded by the threads
    that encode them.

    The first thread to read takes a buffer; every thread that needs the rows
    decodes the next segment not taken yet, until none is left, then waits for
    the others' to be placed. While the buffer is still the previous band's
    (its last rows being encoded), they decode ahead, up to STAGE_BYTES, and
    the segments are copied in when it comes. Each thread then converts its
    own strips' samples (``TiffSource._convert``). The buffer is given back
    when every row has been released, or when the band is dropped.
    """

    def __init__(self, source: TiffSource, segments: _Segments, buffers: _BandBuffers,
                 top: int, rows: int) -> None:
        self.shape = (rows, source.width * source.channels)
        self.top = top
        self._source, self._segments, self._buffers = source, segments, buffers
        self._cond = threading.Condition()
        self._raw: np.ndarray | None = None
        self._todo = segments.listed(top, rows)
        self._next = self._placed = self._released = 0
        self._staged: list[tuple] = []
        self._stage_room = max(1, STAGE_BYTES // max(1, segments.segment_bytes))
        self._taking = self._ready = self._given = False
        self._error: BaseException | None = None

    def read(self, top: int, rows: int) -> np.ndarray:
        raw = self._raw if self._ready else self._decoded()  # (before this thread holds it)
        self._buffers.hold(self)
        return self._source._convert(raw[top:top + rows])

    def release(self, top: int, rows: int) -> None:
        rows = min(rows, self.shape[0] - top)
        if rows <= 0:
            return
        if self._buffers.held() is self:
            self._buffers.hold(None)
        with self._cond:
            self._released += rows
            done = self._released >= self.shape[0] and self._raw is not None and not self._given
            self._given = self._given or done
        if done:
            self._buffers.give(self, self._raw)

    def leave(self) -> None:
        """This thread will not release what it read (another will): it holds no rows of the
        band, so it may wait for a band buffer (``_BandBuffers.take``)."""
        if self._buffers.held() is self:
            self._buffers.hold(None)

    def __del__(self) -> None:
        if self._raw is not None and not self._given:
            self._given = True
            self._buffers.give(self, self._raw)

    def _decoded(self) -> np.ndarray:
        """The band's samples, decoded with the other threads that need them."""
        try:
            while not self._ready:
                with self._cond:
                    if self._error is not None:
                        break
                    taker = self._raw is None and not self._taking
                    self._taking = self._taking or taker
                if taker:
                    self._take()
                elif self._raw is None:
                    if not self._stage():  # nothing to decode ahead: wait for the buffer
                        with self._cond:
                            self._cond.wait_for(lambda: self._raw is not None
                                                or self._error is not None)
                elif not self._decode_next():
                    break
        except BaseException as exc:
            with self._cond:
                self._error = self._error or exc
                self._cond.notify_all()
            raise
        with self._cond:
            self._cond.wait_for(lambda: self._ready or self._error is not None)
            if self._error is not None:
                raise self._error
        return self._raw

    def _take(self) -> None:
        """Take the buffer (decoding ahead meanwhile), then copy in what was staged."""
        segments = self._segments
        raw = self._buffers.take(self, (self.shape[0], segments.width, segments.samples),
                                 segments.dtype, meanwhile=self._stage)
        segments.zero_missing(raw, self.top)
        with self._cond:
            staged, self._staged = self._staged, []
            self._raw = raw
            self._cond.notify_all()
        for decoded in staged:
            segments.put(raw, self.top, decoded)
        self._count(len(staged))

    def _claim(self, ahead: bool) -> int | None:
        """The next segment nobody has taken (None: none left, or no room to decode ahead)."""
        with self._cond:
            if self._error is not None or self._next >= len(self._todo) or (
                    ahead and (self._raw is not None or len(self._staged) >= self._stage_room)):
                return None
            self._next += 1
            return self._todo[self._next - 1]

    def _stage(self) -> bool:
        """Decode one segment ahead, kept aside until the buffer comes; False if none."""
        index = self._claim(ahead=True)
        if index is None:
            return False
        decoded = self._decoded_segment(index)
        with self._cond:
            raw = self._raw
            if raw is None:
                self._staged.append(decoded)
                return True
        self._segments.put(raw, self.top, decoded)  # the buffer came meanwhile
        self._count(1)
        return True

    def _decode_next(self) -> bool:
        """Decode the next segment into the buffer; False if none is left."""
        index = self._claim(ahead=False)
        if index is None:
            return False
        self._segments.put(self._raw, self.top, self._decoded_segment(index))
        self._count(1)
        return True

    def _decoded_segment(self, index: int) -> tuple:
        last = self.top + self.shape[0] - 1
        with _reading(self._source.name, f"rows {self.top} to {last}"):
            for data, index in self._segments.read(range(index, index + 1)):
                return self._segments.decode(data, index)
        raise errors.Damaged(self._source.name, f"segment {index} could not be read")

    def _count(self, placed: int) -> None:
        with self._cond:
            self._placed += placed
            if self._placed == len(self._todo) and self._raw is not None:
                self._ready = True
                self._cond.notify_all()


class _PreadRows(DeferredBand):
    """The rows of an uncompressed striped image, read by offset (``os.preadv``) by the
    thread that encodes them, a strip at a time, into a buffer of that thread.

    The file is opened once for the pass and closed when the last reader drops it.
    """

    def __init__(self, source: TiffSource, strip_height: int) -> None:
        self.shape = (source.height, source.width * source.channels)
        self._source = source
        self._dtype = source.dtype.newbyteorder(source.tif.byteorder)
        self._file_row = source.width * source.samples * self._dtype.itemsize
        self._strip = (strip_height, source.width * source.samples)
        self._fd = os.open(source.tif.filehandle.path, os.O_RDONLY)
        with contextlib.suppress(AttributeError, OSError):
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        self._local = threading.local()

    def read(self, top: int, rows: int) -> np.ndarray:
        buffer = getattr(self._local, "buffer", None)
        if rows > self._strip[0]:
            buffer = np.empty((rows, self._strip[1]), self._dtype)
        elif buffer is None:
            buffer = self._local.buffer = np.empty(self._strip, self._dtype)
        raw = buffer[:rows]
        _pread_into(self._fd, memoryview(raw).cast("B"),
                    self._source._fast + top * self._file_row, self._source.name)
        return self._source._pread_converted(raw, rows)

    def __del__(self) -> None:
        with contextlib.suppress(AttributeError, OSError):
            os.close(self._fd)


#: GDAL_NODATA (a GeoTIFF's no-data value, ASCII): left out of the automatic range.
GDAL_NODATA = 42113


def _gdal_nodata(value: object) -> float | None:
    """The no-data value of a GDAL_NODATA tag ("-9999", "nan", " 0 "), None if absent or unreadable."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        number = float(str(value).strip().rstrip("\x00"))
    except ValueError:
        return None
    return number if np.isfinite(number) else None  # float("None") failed above
