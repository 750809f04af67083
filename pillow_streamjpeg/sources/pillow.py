"""Pillow images as sources: rows copied out a band (or, for the scan writer, a strip) at a time."""

from __future__ import annotations

import os
import threading
from struct import error as struct_error
from collections.abc import Iterator

import numpy as np
from PIL import Image

from .. import errors, render
from .. import metadata as metadata_
from .bands import DeferredBand, band_rows
from .base import CMYK_BACKGROUND, INVERTED_MODES, Source

#: Bytes a band of ``read_bands`` aims at (the scan writer reads a strip at a
#: time on each encoding thread instead: ``read_deferred``).
PILLOW_BAND_BYTES = 256 << 10

#: Pillow raw mode each writable mode's rows are packed in. Four samples a pixel
#: for colour (the kernels read RGBX rows fastest); CMYK inverted, as JPEG
#: stores it.
RAWMODES = {"1": "L", "L": "L", "RGB": "RGBX", "RGBX": "RGBX", "YCbCr": "YCbCrX", "CMYK": "CMYK;I"}

#: Modes with alpha that ``encode()`` and the command render band by band (not
#: ``Image.save``, which refuses them as Pillow's JPEG writer does): the JPEG's
#: mode, the raw mode rows are packed in, and what the alpha is.
ALPHA_MODES = {
    "RGBA": ("RGB", "RGBA", "unassociated"), "RGBa": ("RGB", "RGBa", "associated"),
    "LA": ("L", "LA", "unassociated"), "La": ("L", "La", "associated"),
}

#: Pillow modes turned into a writable mode (or one of ALPHA_MODES) when an image
#: file is converted.
CONVERSIONS = {"P": "RGB", "PA": "RGBA"}


#: Modes whose rows Pillow stores as the kernels take them (RAWMODES: a copy; CMYK
#: is inverted afterwards), copied by ``_copy_rows``.
COPIED_MODES = frozenset({"L", "RGB", "RGBX", "YCbCr", "CMYK", "RGBA", "RGBa"})


def _mapped(out: np.ndarray, width: int) -> Image.Image:
    """A Pillow image on the memory of ``out`` (C-contiguous rows of width * 1 or 4 bytes)."""
    mode = "L" if out.shape[1] == width else "RGBX"
    return Image.frombuffer(mode, (width, out.shape[0]), out, "raw", mode, 0, 1)


def _copy_rows(image: Image.Image, top: int, out: np.ndarray,
               mapped: Image.Image | None = None) -> None:
    """Copy rows top .. top + len(out) - 1 of the image into ``out``, as Pillow stores them.

    ``out`` (C-contiguous, rows of width * pixel size bytes) is mapped as a
    Pillow image (``mapped``, made here if not given) and the rows pasted into
    it with the source shifted up by ``top``: Pillow clips the paste to ``out``
    and copies a row at a time (memcpy) with the GIL released, where a raw
    encoder holds the GIL.
    """
    width, height = image.size
    if mapped is None:
        mapped = _mapped(out, width)
    mapped.im.paste(image.im, (0, -top, width, height - top))


#: A thread's buffer for rows read other than a strip at a time (a run of strips, a small
#: image whole) of at most this many bytes is kept, with a Pillow image on it, for the
#: thread's next read of that shape, of this image or another (a tile writer's next save):
#: mapping a new one (``_mapped``) cost 3.4 of a 256 x 256 grey tile's 9 us of reading
#: (docs/performance.md, "A save's setup kept for the next save").
KEPT_ROWS_BYTES = 1 << 20

#: ``kept``: (buffer, Pillow image on it) of the thread's last such read, or absent
_rows_kept = threading.local()


def _thread_buffer(shape: tuple[int, int], width: int) -> tuple[np.ndarray, Image.Image]:
    """A buffer of this shape for the calling thread, and a Pillow image on it
    (``_mapped``): the one its last read of this shape used, or a new one, kept if it is
    at most ``KEPT_ROWS_BYTES``. (A DeferredBand's read may return a buffer of the calling
    thread that its next read overwrites: each thread codes what it read before it reads
    again.)"""
    kept = getattr(_rows_kept, "kept", None)
    if kept is not None and kept[0].shape == shape and kept[1].size[0] == width:
        return kept  # (the width too: 256 RGBX pixels a row take the bytes of 1024 grey)
    buffer = np.empty(shape, np.uint8)
    made = (buffer, _mapped(buffer, width))
    if buffer.nbytes <= KEPT_ROWS_BYTES:
        _rows_kept.kept = made
    return made


class _ImageRows(DeferredBand):
    """A PillowSource's rows, copied by the thread that encodes them into its own buffer."""

    def __init__(self, source: PillowSource, strip_height: int) -> None:
        width, height = source.size
        self.source = source
        self.shape = (height, width * source.channels)
        self._stored = (strip_height, width * source._samples)  # one strip, as stored
        self._local = threading.local()
        mode = source.image.mode
        # rows used as stored (no inversion, no rendering): copied straight into the
        # thread's buffer by ``_copy_rows``, without ``PillowSource.rows``'s tests a strip
        self._as_stored = (mode in COPIED_MODES and mode not in INVERTED_MODES
                           and source._renderer is None)

    def read(self, top: int, rows: int) -> np.ndarray:
        # a strip's rows into this thread's strip buffer; others (a run of strips, the
        # image's last, a caller's count) into the thread's kept one (``_thread_buffer``)
        strip = rows == self._stored[0]
        if self._as_stored:
            buffer, mapped = (self._strip_target() if strip else
                              _thread_buffer((rows, self._stored[1]), self.source.size[0]))
            _copy_rows(self.source.image, top, buffer, mapped)
            return buffer
        if strip:
            return self.source.rows(top, rows, *self._strip_target())
        return self.source.rows(top, rows)

    def _strip_target(self) -> tuple[np.ndarray, Image.Image | None]:
        """This thread's buffer of a strip, and a Pillow image on it (made once)."""
        target = getattr(self._local, "target", None)
        if target is None:
            buffer = np.empty(self._stored, np.uint8)
            copied = self.source.image.mode in COPIED_MODES
            target = (buffer, _mapped(buffer, self.source.size[0]) if copied else None)
            self._local.target = target
        return target


#: 8-bit modes whose colour channels a given range maps (alpha, where there is one, as it is).
STRETCHED_MODES = {"L": 1, "RGB": 3, "CMYK": 4, "LA": 1, "RGBA": 3}


def _stretched(image: Image.Image, range: render.RangeLike) -> Image.Image:
    """An 8-bit image with a range given as values or percentiles (``render.parse_range``):
    its colour channels mapped through it as a TIFF's 8-bit samples are (``render.Renderer``;
    percentiles of its colour values), alpha as it is, metadata kept. As it is under the
    default ("auto") and "full", which leave 8-bit values as they are."""
    option = render.parse_range(range)
    if option.kind in ("auto", "full"):
        return image
    if image.mode not in STRETCHED_MODES:
        raise errors.NotSupported(getattr(image, "filename", None) or "image",
                                  f"a range on images of mode {image.mode}",
                                  supported=", ".join(STRETCHED_MODES) + " and more than 8 bits")
    colours = STRETCHED_MODES[image.mode]
    values = np.asarray(image)
    if values.ndim == 2:
        values = values[..., None]
    window = render.resolve_range(option, np.uint8, bits=8, samples=[values[..., :colours]])
    lut = render.Renderer(window, np.uint8).render(np.arange(256, dtype=np.uint8)[None])[0]
    mapped = values.copy()
    mapped[..., :colours] = lut[values[..., :colours]]
    result = Image.frombytes(image.mode, image.size, mapped.tobytes())
    result.info.update(image.info)  # ICC profile, resolution, EXIF, XMP
    return result


class PillowSource(Source):
    """A PIL image (loaded once) of a writable mode; OSError, as Pillow's, for others.

    ``owned`` is a file opened for this source (closed by ``close``). With
    ``alpha=True`` (``encode()`` and the command) RGBA, RGBa, LA and La images
    are taken too: associated alpha is un-premultiplied as Pillow does, then
    alpha is dropped, or with ``background`` (a colour for
    ``render.parse_background``) the colours are composited on it. With
    ``carry=True`` the ``metadata`` are the image's (``metadata.from_pillow``):
    ICC profile, resolution, EXIF and XMP, those of ``described`` when given (the
    image as opened, before ``writable`` converted it: a TIFF's resolution unit is
    in its tags); ``Image.save`` carries none, as Pillow's JPEG writer.
    """

    def __init__(self, image: Image.Image, owned: Image.Image | None = None, *,
                 alpha: bool = False, background: str | tuple[int, int, int] | None = None,
                 carry: bool = False, described: Image.Image | None = None) -> None:
        rawmode = RAWMODES.get(image.mode)
        self._renderer: render.Renderer | None = None
        background = render.parse_background(background)
        if background is not None and image.mode == "CMYK":
            raise ValueError(CMYK_BACKGROUND)
        if rawmode is None and alpha and image.mode in ALPHA_MODES:
            mode, rawmode, kind = ALPHA_MODES[image.mode]
            if kind == "associated" or background is not None or mode == "L":
                self._renderer = render.Renderer(render.Window(0, 255), np.uint8,
                                                 colours=len(mode), alpha=kind,
                                                 background=background)
        elif rawmode is None:
            raise OSError(f"cannot write mode {image.mode} as JPEG")
        else:
            mode = image.mode
        image.load()
        self.image = image
        self.mode = mode
        self.size = image.size
        self.rawmode = rawmode
        self._samples = len(rawmode) if rawmode in ("RGBA", "RGBa", "LA", "La") else (
            1 if rawmode == "L" else 4)
        # RGBA without a background: RGBX rows, the alpha ignored by the kernels
        self.channels = self._samples if self._renderer is None else len(mode)
        self._carry = carry
        self._owned = owned
        self._described = image if described is None else described

    @property
    def metadata(self) -> dict:
        """The image's ICC profile, resolution, EXIF and XMP when carried, else none."""
        if not self._carry:
            return {}
        try:
            return metadata_.from_pillow(self._described, size=self.size)
        except Exception:  # unreadable metadata never stops a conversion
            return {}

    def read_bands(self, strip_height: int) -> Iterator[np.ndarray]:
        """Bands of about PILLOW_BAND_BYTES of rows copied out of the image (never whole)."""
        width, height = self.size
        rows_per_band = band_rows(width * self._samples, strip_height, PILLOW_BAND_BYTES)
        for top in range(0, height, rows_per_band):
            yield self.rows(top, min(rows_per_band, height - top))

    def read_deferred(self, strip_height: int) -> Iterator[_ImageRows]:
        """The whole image as one DeferredBand: the encoding threads copy their own rows."""
        yield _ImageRows(self, strip_height)

    def rows(self, top: int, rows: int, out: np.ndarray | None = None,
             mapped: Image.Image | None = None) -> np.ndarray:
        """Rows top .. top + rows - 1 as the kernels take them: (rows, width * channels) uint8.

        Copied into ``out`` (rows, width * stored samples; ``mapped``: a Pillow
        image on it, ``_mapped``) when given. Modes
        stored as the kernels take them (COPIED_MODES) are copied row by row
        by the core of Pillow's paste, which releases the GIL; the others are
        packed by a raw encoder (which holds it). Rendering (alpha) follows.
        """
        width = self.size[0]
        if out is None:
            out = np.empty((rows, width * self._samples), np.uint8)
        if self.image.mode in COPIED_MODES:
            _copy_rows(self.image, top, out, mapped)
            if self.image.mode in INVERTED_MODES:
                np.subtract(255, out, out=out)
            band = out
        else:
            band = self._packed(top, rows)
        if self._renderer is not None:
            band = self._renderer.render(band.reshape(rows, width, self._samples))
            # LA without a background: the grey samples, a strided view until copied
            band = np.ascontiguousarray(band).reshape(rows, -1)
        return band

    def _packed(self, top: int, rows: int) -> np.ndarray:
        """Rows packed in the raw mode by a raw encoder."""
        width = self.size[0]
        size = rows * width * self._samples
        encoder = Image.core.raw_encoder(self.image.mode, self.rawmode)
        encoder.setimage(self.image.im, (0, top, width, top + rows))
        _, errcode, data = encoder.encode(size)
        if errcode < 0 or len(data) != size:
            raise OSError(f"reading image rows failed (error {errcode}, {len(data)} of {size} bytes)")
        return np.frombuffer(data, dtype=np.uint8).reshape(rows, -1)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None


#: How files of the common formats Pillow reads begin (PNG, JPEG, GIF, WebP, BMP): one
#: that begins so but that Pillow cannot identify is damaged, not of another format.
SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF", b"BM")


def _head(path: str | os.PathLike) -> bytes:
    """The first 8 bytes of a file (b"" if it cannot be read)."""
    try:
        with open(path, "rb") as file:
            return file.read(8)
    except OSError:
        return b""


#: OSErrors of the system, not of a file's bytes: passed on as they are by ``open_image``.
SYSTEM_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
                 InterruptedError, BlockingIOError, ConnectionError, TimeoutError)


def open_image(path: str | os.PathLike, *, background: str | tuple[int, int, int] | None = None,
               range: render.RangeLike = None, carry: bool = True,
               fits: bool = False) -> PillowSource:
    """An image file opened with Pillow, converted to a writable mode if needed.

    Alpha is handled as ``PillowSource(alpha=True)`` does (un-premultiplied,
    dropped or composited on ``background``), palettes are applied (with their
    transparency as alpha), 16-bit, 32-bit integer and float grey (modes I;16,
    I, F) are rendered to 8 bits through ``range`` (``render.resolve_range``:
    by default the image's minimum and maximum; Pillow has loaded it whole). The image's metadata are carried unless ``carry``
    is False. With ``fits`` (no shrink will follow) an image above JPEG's 65500 pixels a
    side is refused from its header (``errors.too_large``), before Pillow decodes it. A file Pillow cannot read is refused (``errors.NotSupported``
    for an unknown format or mode, ``errors.Damaged`` for a broken file).
    """
    background = render.parse_background(background)
    range = render.parse_range(range)
    try:
        opened = Image.open(path)
    except Image.UnidentifiedImageError:
        # a file that starts as one of Pillow's formats does is one Pillow could not parse
        head = _head(path)
        if not head:
            raise errors.Damaged(path, "the file is empty") from None
        if head.startswith(SIGNATURES):
            raise errors.Damaged(path, "cannot read the image header") from None
        raise errors.NotSupported(path, "not an image format Pillow or tifffile reads") from None
    except (*SYSTEM_ERRORS, MemoryError):
        raise
    except OSError as exc:
        # a plugin's OSError on a file that opened ("Truncated File Read", "could not
        # create decoder object", a seek to a bad offset) is the file's, not the system's
        raise errors.Damaged(path, "cannot read the image header") from exc
    except Exception as exc:
        raise errors.classify(exc, path, what="cannot read the image header") from exc
    if fits and max(opened.size) > errors.JPEG_MAX:  # ``fits``: no shrink to make it fit
        opened.close()
        raise errors.too_large(path, *opened.size)
    if background is not None and opened.mode == "CMYK":  # as a TIFF's (it had been ignored)
        opened.close()
        raise ValueError(f"{os.fspath(path)}: {CMYK_BACKGROUND}")
    try:
        try:
            image = writable(opened, range)
            if image.mode not in RAWMODES and image.mode not in ALPHA_MODES:
                raise errors.NotSupported(path, f"images of mode {image.mode}",
                                          supported="the modes Pillow writes as JPEG, alpha, palettes, 16-bit grey")
            return PillowSource(image, owned=opened, alpha=True, background=background, carry=carry,
                                described=opened)
        except (errors.Refused, MemoryError, KeyboardInterrupt):
            raise
        except (ValueError, OSError, SyntaxError, EOFError, IndexError, struct_error) as exc:
            raise errors.Damaged(path, "cannot read the image data") from exc
    except BaseException:
        opened.close()
        raise


def writable(image: Image.Image, range: render.RangeLike = None) -> Image.Image:
    """The image in a mode ``PillowSource`` takes: palettes applied and a grey or RGB image's
    transparent colour made alpha, 16-bit, 32-bit integer and float grey rendered to 8 bits through ``range``
    (its metadata kept); 8-bit images as they are, but through a range given as values or
    percentiles (``_stretched``)."""
    if image.mode in ("L", "RGB") and "transparency" in image.info:
        # a grey or RGB image's transparent colour (a PNG's tRNS) as alpha, as a palette's
        image = image.convert("LA" if image.mode == "L" else "RGBA")
    elif image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode in CONVERSIONS:
        image = image.convert(CONVERSIONS[image.mode])
    if image.mode in RAWMODES or image.mode in ALPHA_MODES:
        return _stretched(image, range)
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # Pillow holds the image whole already: the range is resolved from all of it
        values = np.asarray(image)
        # 16-bit: I;16, and a PGM of more than 8 bits, which Pillow opens as I (int32)
        bits = 16 if image.mode.startswith("I;16") or (
            image.mode == "I" and image.format == "PPM") else None
        dtype = np.dtype(np.uint16) if bits else values.dtype
        window = render.resolve_range(range, dtype, bits=bits, samples=[values])
        grey = render.Renderer(window, values.dtype).render(values)
        rendered = Image.fromarray(np.ascontiguousarray(grey), "L")
        rendered.info.update(image.info)  # ICC profile, resolution, EXIF, XMP
        return rendered
    return image
