"""The pipeline: a source's bands, through the strip writer, to a file.

``encode`` is the library entry point for every kind of source; the Pillow
plugin uses ``write_jpeg`` the same way once Pillow has opened the output.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import numpy as np
from PIL import Image

from . import markers, options, sources, strips

#: Image modes of arrays, by samples per pixel.
ARRAY_MODES = {1: "L", 3: "RGB", 4: "RGB"}


#: A source's bands: each call starts a new pass over its rows.
BandReader = Callable[[], Iterable[np.ndarray]]


def write_jpeg(fp: IO[bytes], settings: options.Settings, read_bands: BandReader) -> None:
    """Write a whole JPEG file: header segments, the strips of the bands, EOI."""
    fp.write(markers.header(settings))
    strips.write_scan(fp, read_bands(), settings)
    fp.write(markers.EOI)


def _array_bands(array: Any, channels: int, strip_height: int) -> Iterator[np.ndarray]:
    height, width = array.shape[:2]
    step = sources.band_rows(width * channels, strip_height)
    for top in range(0, height, step):
        band = np.ascontiguousarray(array[top:top + step], dtype=np.uint8)
        yield band.reshape(band.shape[0], width * channels)


def _plan(source: Any, info: dict[str, Any]) -> tuple[options.Settings, BandReader]:
    """Settings and band reader of a supported source."""
    if isinstance(source, Image.Image):
        source.load()
        settings = options.parse(source.mode, source.size, info)
        layout = settings.layout
        def read_bands() -> Iterator[np.ndarray]:
            return sources.pillow_bands(
                source.im, (0, 0) + source.size, layout.rawmode, layout.channels,
                settings.strip_height,
            )

        return settings, read_bands
    array = source
    shape = getattr(array, "shape", None)
    if shape is None or len(shape) not in (2, 3):
        raise TypeError(
            f"cannot encode {type(source).__name__}: expected a PIL image or an "
            "array of shape (height, width) or (height, width, 1|3|4)"
        )
    channels = 1 if len(shape) == 2 else shape[2]
    if channels not in ARRAY_MODES:
        raise ValueError(f"cannot encode an array with {channels} samples per pixel; expected 1, 3 or 4")
    if np.dtype(array.dtype) != np.uint8:
        raise TypeError(f"cannot encode an array of dtype {array.dtype}; expected uint8")
    settings = options.parse(ARRAY_MODES[channels], (shape[1], shape[0]), info)
    if settings.layout.channels != channels:
        settings = _with_channels(settings, channels)
    return settings, lambda: _array_bands(array, channels, settings.strip_height)


def _with_channels(settings: options.Settings, channels: int) -> options.Settings:
    from dataclasses import replace

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


def encode(source: Any, fp: str | os.PathLike | IO[bytes], **params: Any) -> None:
    """Encode a source to baseline JPEG, strip by strip.

    :param source: a PIL image, or a uint8 array (or array-like with ``shape``,
        ``dtype`` and slicing) of shape (height, width) or (height, width, 1|3|4).
    :param fp: a path (written to a temporary file, renamed when complete) or a
        writable binary file object.
    :param params: save options, as for ``Image.save(..., format="STREAMJPEG")``.
    """
    settings, read_bands = _plan(source, params)
    with _output(fp) as out:
        write_jpeg(out, settings, read_bands)
