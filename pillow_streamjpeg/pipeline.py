"""The pipeline: a source's bands, through the strip writer, to a file.

``encode`` is the library entry point for every kind of source; the Pillow
plugin uses ``write_jpeg`` the same way once Pillow has opened the output.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import IO, Any

import numpy as np
from PIL import Image

from . import markers, options, sources, strips, tables

#: Image modes of arrays, by samples per pixel.
ARRAY_MODES = {1: "L", 3: "RGB", 4: "RGB"}


#: A source's bands: each call starts a new pass over its rows.
BandReader = Callable[[], Iterable[np.ndarray]]


def write_jpeg(fp: IO[bytes], settings: options.Settings, read_bands: BandReader) -> None:
    """Write a whole JPEG file: header segments, the strips of the bands, EOI.

    With ``optimize``, a first pass over the bands counts the Huffman symbols of
    every strip (in the memory of a normal save), and the tables built from the
    counts code the second.
    """
    if settings.optimize:
        counts = strips.count_symbols(read_bands(), settings)
        settings = replace(settings, huffman=tuple(tables.optimal_specs(counts)))
    fp.write(markers.header(settings))
    strips.write_scan(fp, read_bands(), settings)
    fp.write(markers.EOI)


def _array_bands(array: Any, channels: int, strip_height: int) -> Iterator[np.ndarray]:
    return sources.array_bands(array, channels, strip_height)


#: Options that choose what to read from a source, not how to encode it.
SOURCE_OPTIONS = ("page", "series", "level", "mode", "size", "channels")


def _settings(
    mode: str, size: tuple[int, int], info: dict[str, Any], image: Image.Image | None = None,
) -> options.Settings:
    """The one place sources turn their mode, size and options into Settings."""
    return options.parse(mode, size, info, image)


def _pillow_plan(image: Image.Image, info: dict[str, Any]) -> tuple[options.Settings, BandReader]:
    image.load()
    settings = _settings(image.mode, image.size, info, image)
    layout = settings.layout

    def read_bands() -> Iterator[np.ndarray]:
        return sources.pillow_bands(
            image.im, (0, 0) + image.size, layout.rawmode, layout.channels,
            settings.strip_height,
        )

    return settings, read_bands


def _plan(
    source: Any, info: dict[str, Any], stack: contextlib.ExitStack | None = None,
) -> tuple[options.Settings, BandReader]:
    """Settings and band reader of a supported source.

    Files opened here (a TIFF or image path) are closed by ``stack``.
    """
    if stack is None:
        stack = contextlib.ExitStack()
    choice = {key: info.pop(key) for key in SOURCE_OPTIONS if key in info}
    if isinstance(source, Image.Image):
        _refuse(choice, "a PIL image")
        return _pillow_plan(source, info)
    if isinstance(source, sources.RowBands):
        _refuse(choice, "a RowBands source")
        settings = _settings(source.mode, source.size, info)
        if settings.layout.channels != source.channels:
            settings = _with_channels(settings, source.channels)
        return settings, _as_raw_mode(settings, lambda: source.read(settings.strip_height))
    from . import tiff

    if tiff.is_tiff(source):
        reader = stack.enter_context(tiff.open_tiff(source, **_pick(choice, "page", "series", "level")))
        _refuse(choice, "a TIFF")
        settings = _settings(reader.mode, reader.size, info)
        if settings.layout.channels != reader.channels:
            settings = _with_channels(settings, reader.channels)
        return settings, lambda: reader.read_bands(settings.strip_height)
    if isinstance(source, (str, os.PathLike)):
        _refuse(choice, "an image file other than TIFF")
        image = stack.enter_context(Image.open(source))
        return _pillow_plan(sources.writable_image(image), info)
    shape = getattr(source, "shape", None)
    if shape is None and "size" in choice and hasattr(source, "__iter__"):
        bands = sources.RowBands(source, choice.pop("size"), choice.pop("mode", "RGB"),
                                 choice.pop("channels", None))
        _refuse(choice, "row bands")
        return _plan(bands, info, stack)
    array = source
    if shape is None or len(shape) not in (2, 3):
        raise TypeError(
            f"cannot encode {type(source).__name__}: expected a PIL image, an array of shape "
            "(height, width) or (height, width, 1|3|4), a TIFF or image path, a "
            "tifffile.TiffFile, or row bands with size=(width, height)"
        )
    channels = 1 if len(shape) == 2 else shape[2]
    mode = choice.pop("mode", None) or ARRAY_MODES.get(channels)
    _refuse(choice, "an array")
    if mode is None:
        raise ValueError(f"cannot encode an array with {channels} samples per pixel; expected 1, 3 or 4")
    if np.dtype(array.dtype) != np.uint8:
        raise TypeError(f"cannot encode an array of dtype {array.dtype}; expected uint8")
    settings = _settings(mode, (int(shape[1]), int(shape[0])), info)
    if settings.layout.channels != channels:
        if channels < len(settings.components):
            raise ValueError(f"cannot encode an array with {channels} samples per pixel as mode {mode}")
        settings = _with_channels(settings, channels)
    return settings, _as_raw_mode(
        settings, lambda: _array_bands(array, channels, settings.strip_height))


def _as_raw_mode(settings: options.Settings, read_bands: BandReader) -> BandReader:
    """Bands of plain samples as the layout's raw mode packs them.

    Arrays and row bands hold plain samples (CMYK: 0 is no ink); a layout read
    in an inverted raw mode (Pillow's "CMYK;I", Adobe's convention) gets them
    inverted, band by band.
    """
    if not settings.layout.rawmode.endswith(";I"):
        return read_bands

    def read() -> Iterator[np.ndarray]:
        for band in read_bands():
            yield np.subtract(255, band, dtype=np.uint8)

    return read


def _pick(choice: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: choice.pop(key) for key in keys if key in choice}


def _refuse(choice: dict[str, Any], what: str) -> None:
    if choice:
        names = ", ".join(sorted(choice))
        raise TypeError(f"option{'s' if len(choice) > 1 else ''} {names} do not apply to {what}")


def _counted(read_bands: BandReader, progress: Callable[[int], Any], height: int) -> BandReader:
    """A band reader that reports the rows of each band once it is handed on.

    A ``progress`` object with a ``start`` method is told the image height first.
    """

    def read() -> Iterator[np.ndarray]:
        start = getattr(progress, "start", None)
        if start is not None:
            start(height)
        for band in read_bands():
            yield band
            progress(band.shape[0])

    return read


def _with_channels(settings: options.Settings, channels: int) -> options.Settings:
    """Settings whose rows hold ``channels`` samples per pixel (arrays, TIFF bands)."""
    return replace(settings, layout=replace(settings.layout, channels=channels))


@contextlib.contextmanager
def _output(fp: str | os.PathLike | IO[bytes]) -> Iterator[IO[bytes]]:
    """A writable binary file: a path is written to a temporary file renamed on success."""
    if not isinstance(fp, (str, os.PathLike)):
        yield fp
        return
    path = os.fspath(fp)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(prefix=".streamjpeg-", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_dask_array(source: Any) -> bool:
    """Whether source is a dask array; dask is not imported if it is not loaded yet."""
    import sys

    module = sys.modules.get("dask.array")
    return module is not None and isinstance(source, module.Array)


def encode(source: Any, fp: str | os.PathLike | IO[bytes], **params: Any) -> None:
    """Encode a source to baseline JPEG, strip by strip.

    :param source: a PIL image; a uint8 array (numpy, memmap, zarr, or any
        array-like with ``shape``, ``dtype`` and slicing) of shape (height, width)
        or (height, width, 1|3|4), the 4th sample (alpha or padding) ignored;
        a TIFF (path or ``tifffile.TiffFile``; choose with ``page``, ``series``,
        ``level``; see docs/tiff.md); another image file path (opened with
        Pillow); a ``sources.RowBands``, or an iterable of row bands with
        ``size=(width, height)`` and ``mode``.
    :param fp: a path (written to a temporary file, renamed when complete) or a
        writable binary file object.
    :param params: save options, as for ``Image.save(..., format="STREAMJPEG")``;
        ``progress``: a function called with the row count of each band read.

    A dask array is encoded as Dask tasks on the active scheduler (a
    ``distributed.Client`` included): see ``pillow_streamjpeg.distributed``.
    """
    if _is_dask_array(source):
        from . import distributed  # imports dask: only for dask arrays

        return distributed.encode(source, fp, **params)
    progress = params.pop("progress", None)
    with contextlib.ExitStack() as stack:
        settings, read_bands = _plan(source, params, stack)
        if progress is not None:
            read_bands = _counted(read_bands, progress, settings.height)
        with _output(fp) as out:
            write_jpeg(out, settings, read_bands)
