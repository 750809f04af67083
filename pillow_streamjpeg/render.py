"""Rendering samples of any type to 8-bit, and alpha to none.

A *range* says which sample values become black (0) and white (255): values
are mapped linearly, ``round((v - low) * 255 / (high - low))``, clipped to
0..255, with one range for every colour channel so colours keep their balance.

``parse_range`` reads the user's option; ``resolve_range`` turns it into a
``Window`` (low, high) for one image: ``"full"`` is the sample type's range,
``(low, high)`` is taken as given, ``"auto"`` (the default) is the file's
SMinSampleValue/SMaxSampleValue when it has them, else the minimum and maximum
of a bounded sample of the image (``estimate_range``), and ``"P1%,P2%"`` the
percentiles of that sample. ``Renderer`` applies a window to bands of rows,
un-premultiplies associated alpha and composites on a background colour.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import numpy as np
from PIL import ImageColor

__all__ = [
    "RangeOption", "Renderer", "Window", "estimate_range", "full_range", "parse_background",
    "parse_range", "resolve_range", "sample_indices", "sample_level", "unpremultiply",
]

#: At most this many values are kept from the sample for percentiles.
MAX_PERCENTILE_VALUES = 4_000_000


@dataclass(frozen=True)
class Window:
    """Sample values ``low`` and ``high`` rendered as 0 and 255 (low < high)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            raise ValueError(f"range must be finite numbers, not ({self.low}, {self.high})")
        if not self.low < self.high:
            raise ValueError(f"range low must be below high, not ({self.low}, {self.high})")


@dataclass(frozen=True)
class RangeOption:
    """A parsed range option: ``kind`` is auto, full, values or percentiles."""

    kind: Literal["auto", "full", "values", "percentiles"] = "auto"
    low: float | None = None
    high: float | None = None


RangeLike = Union[str, Sequence[float], RangeOption, None]

_PERCENT = re.compile(r"^\s*([0-9.]+)\s*%\s*,\s*([0-9.]+)\s*%\s*$")


def parse_range(value: RangeLike) -> RangeOption:
    """The range option from ``None``/"auto", "full", (low, high), "LOW,HIGH" or "P1%,P2%"."""
    if isinstance(value, RangeOption):
        return value
    if value is None or isinstance(value, str) and value.strip().lower() == "auto":
        return RangeOption("auto")
    if isinstance(value, str) and value.strip().lower() == "full":
        return RangeOption("full")
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            low, high = float(match[1]), float(match[2])
            if not 0 <= low < high <= 100:
                raise ValueError(f"range percentiles must be 0 <= low < high <= 100, not {value!r}")
            return RangeOption("percentiles", low, high)
        parts = value.split(",")
    else:
        parts = list(value) if isinstance(value, Sequence) else [value]
    try:
        low, high = (float(p) for p in parts)
        window = Window(low, high)
    except (TypeError, ValueError):
        raise ValueError(
            f"range must be 'auto', 'full', 'LOW,HIGH' with LOW < HIGH or 'P1%,P2%', not {value!r}"
        ) from None
    return RangeOption("values", window.low, window.high)


def full_range(dtype: Any, bits: int | None = None) -> Window:
    """The type's range: 0..2**bits-1 unsigned, -2**(bits-1)..2**(bits-1)-1 signed, 0..1 float.

    ``bits`` is the file's BitsPerSample when it is smaller than the type
    (12-bit data in 16-bit words); floats have no natural range and take 0..1.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return Window(0.0, 1.0)
    if dtype.kind == "b":
        return Window(0, 1)
    if dtype.kind not in "ui":
        raise ValueError(f"samples of type {dtype} have no range (supported: integers, floats)")
    bits = bits or dtype.itemsize * 8
    if dtype.kind == "u":
        return Window(0, (1 << bits) - 1)
    return Window(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def sample_indices(count: int, take: int = 32) -> list[int]:
    """At most ``take`` indices spread evenly over ``range(count)`` (strips or tiles to sample)."""
    if count <= take:
        return list(range(count))
    return sorted({round(i * (count - 1) / (take - 1)) for i in range(take)})


def sample_level(shapes: Sequence[tuple[int, ...]], max_pixels: int = 4_000_000) -> int | None:
    """Index of the largest pyramid level (beyond 0) with at most ``max_pixels``, or None."""
    fitting = [i for i, s in enumerate(shapes) if i and s[0] * s[1] <= max_pixels]
    return max(fitting, key=lambda i: shapes[i][0] * shapes[i][1]) if fitting else None


def estimate_range(
    samples: Iterable[np.ndarray] | Callable[[], Iterable[np.ndarray]],
    *, percentiles: tuple[float, float] | None = None,
    max_values: int = MAX_PERCENTILE_VALUES, nodata: float | None = None,
) -> Window | None:
    """Min and max (or percentiles) of the finite values of sample arrays.

    ``samples`` yields arrays of the colour channels only (drop alpha first):
    a small pyramid level, or a strided subset of strips or tiles
    (``sample_indices``); it may be a callable returning such an iterable.
    Percentiles use at most ``max_values`` values, taken with a stride from
    each array. Returns None when no finite value was seen. A constant sample
    gives (v, v + 1): that value renders black. ``nodata`` (a GeoTIFF's
    GDAL_NODATA) is left out, as GDAL leaves it out of its statistics.
    """
    if callable(samples):
        samples = samples()
    low, high = np.inf, -np.inf
    kept: list[np.ndarray] = []
    for array in samples:
        values = np.asarray(array).ravel()
        if values.dtype.kind == "f":
            values = values[np.isfinite(values)]
        if nodata is not None:
            values = values[values != nodata]
        if not values.size:
            continue
        low, high = min(low, float(values.min())), max(high, float(values.max()))
        if percentiles is not None:
            step = max(1, -(-values.size * 8 // max_values))
            kept.append(values[::step])
    if low > high:
        return None
    if percentiles is not None:
        values = np.concatenate(kept)
        if values.size > max_values:
            values = values[:: -(-values.size // max_values)]
        low, high = (float(v) for v in np.percentile(values, percentiles))
    if not high > low:
        high = low + 1
    return Window(low, high)


def resolve_range(
    option: RangeLike, dtype: Any, *, bits: int | None = None,
    smin: float | Sequence[float] | None = None, smax: float | Sequence[float] | None = None,
    samples: Iterable[np.ndarray] | Callable[[], Iterable[np.ndarray]] | None = None,
    nodata: float | None = None,
) -> Window:
    """The window for one image.

    ``smin``/``smax`` are SMinSampleValue/SMaxSampleValue (one value or one per
    sample: the smallest minimum and largest maximum are used). ``samples`` is
    read only for "auto" without them, and for percentiles, ``nodata`` left out
    of them (``estimate_range``). Unsigned samples
    of 1 to 8 bits always render with their full range under "auto": their
    values already are display values. Without samples (or none finite) the
    type's full range is used.
    """
    option = parse_range(option)
    dtype = np.dtype(dtype)
    if option.kind == "full":
        return full_range(dtype, bits)
    if option.kind == "values":
        return Window(option.low, option.high)
    if option.kind == "auto":
        if dtype.kind == "b" or dtype.kind == "u" and (bits or dtype.itemsize * 8) <= 8:
            return full_range(dtype, bits)
        if smin is not None and smax is not None:
            low = float(np.min(np.asarray(smin, dtype=np.float64)))
            high = float(np.max(np.asarray(smax, dtype=np.float64)))
            if np.isfinite(low) and np.isfinite(high) and low < high:
                return Window(low, high)
        percentiles = None
    else:
        percentiles = (option.low, option.high)
    estimated = (estimate_range(samples, percentiles=percentiles, nodata=nodata)
                 if samples is not None else None)
    return estimated or full_range(dtype, bits)


def parse_background(value: str | Sequence[int] | None) -> tuple[int, int, int] | None:
    """An (r, g, b) colour from a Pillow colour string ("white", "#808080") or tuple."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            rgb = ImageColor.getrgb(value)
        except ValueError:
            raise ValueError(
                f"background must be a colour name, #rrggbb, rgb(...) or (r, g, b), not {value!r}"
            ) from None
    else:
        rgb = tuple(value)
        if len(rgb) == 1:
            rgb = rgb * 3
    if len(rgb) not in (3, 4) or not all(isinstance(v, (int, np.integer)) and 0 <= v <= 255
                                         for v in rgb):
        raise ValueError(f"background must be (r, g, b) with values 0 to 255, not {value!r}")
    return int(rgb[0]), int(rgb[1]), int(rgb[2])


def unpremultiply(colour: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """8-bit premultiplied colour to straight colour, as Pillow unpacks "RGBa".

    ``min(255, c * 255 // a)``, and 0 where ``a`` is 0. ``colour`` is
    (rows, width[, channels]) uint8, ``alpha`` (rows, width) uint8.
    """
    a = alpha.astype(np.uint16)
    if colour.ndim == 3:
        a = a[..., None]
    c = colour.astype(np.uint16) * 255
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = np.where(a > 0, c // np.maximum(a, 1), 0)
    out = np.empty(colour.shape, np.uint8) if out is None else out
    np.minimum(straight, 255, out=out, casting="unsafe")
    return out


def unpremultiplied(colour: np.ndarray, alpha: np.ndarray, top: float) -> np.ndarray:
    """Premultiplied colour samples of any type to straight ones, in sample units (float64):
    ``colour * top / alpha``, 0 where ``alpha`` is 0 (``top``: alpha's full value).
    ``colour`` is (..., channels), ``alpha`` the same shape without channels."""
    a = alpha.astype(np.float64)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, colour * (top / np.where(a > 0, a, 1)), 0.0)


class Renderer:
    """Bands of samples of any type to uint8 bands ready for the JPEG.

    ``colours`` is the number of colour channels (1 grey, 3 RGB, 4 CMYK);
    a band's channels beyond them are extra samples. ``alpha`` says what
    the first extra sample is: None (ignored, dropped), "unassociated"
    (straight alpha) or "associated" (premultiplied). Alpha is read over its
    type's full range (``alpha_bits`` for 12 bits in 16, floats 0..1).
    Without ``background`` alpha is dropped, after un-premultiplying associated
    alpha; with it (an (r, g, b) from ``parse_background``) colours are
    composited on it: ``round((c * a + bg * (255 - a)) / 255)`` on 8-bit
    straight colour. Grey uses the background's first value.

    ``render(band, out=None)`` takes (rows, width) or (rows, width, channels)
    and returns (rows, width) for one colour, else (rows, width, colours),
    uint8, written into ``out`` when given (C-contiguous, that shape). Without
    ``out``, 8-bit data of that shape under the range 0..255 and no alpha
    comes back as the band itself. Integer types of up to 16 bits go through
    a lookup table of every value; other types through float arithmetic.
    """

    def __init__(self, window: Window, dtype: Any, *, colours: int = 1,
                 alpha: Literal["unassociated", "associated"] | None = None,
                 alpha_bits: int | None = None,
                 background: tuple[int, int, int] | None = None) -> None:
        self.window = window
        self.dtype = np.dtype(dtype)
        self.colours = colours
        if alpha not in (None, "unassociated", "associated"):
            raise ValueError(f"alpha must be None, 'unassociated' or 'associated', not {alpha!r}")
        self.alpha = alpha
        if background is not None and colours not in (1, 3):
            raise ValueError(f"a background applies to grey or RGB, not {colours} colours")
        self.background = background
        self._alpha_window = full_range(self.dtype, alpha_bits)
        self._lut = self._make_lut(window)
        self._alpha_lut = self._make_lut(self._alpha_window)

    def _make_lut(self, window: Window) -> np.ndarray | None:
        """A table over every value of an integer type of up to 16 bits."""
        if self.dtype.kind not in "uib" or self.dtype.itemsize > 2:
            return None
        if self.dtype.kind == "b":
            values = np.arange(2, dtype=np.float64)
        else:
            info = np.iinfo(self.dtype)
            values = np.arange(info.min, info.max + 1, dtype=np.float64)
        lut = self._map(values, window)
        if self.dtype.kind == "i":  # index with the unsigned view: negatives sit in the top half
            lut = np.roll(lut, -(1 << (self.dtype.itemsize * 8 - 1)))
        return lut

    @staticmethod
    def _map(values: np.ndarray, window: Window, out: np.ndarray | None = None) -> np.ndarray:
        """round((v - low) * 255 / (high - low)) clipped, half up; NaN to 0."""
        scaled = (values - window.low) * (255.0 / (window.high - window.low)) + 0.5
        np.floor(scaled, out=scaled)
        np.clip(scaled, 0, 255, out=scaled)
        scaled[np.isnan(scaled)] = 0
        result = np.empty(values.shape, np.uint8) if out is None else out
        result[...] = scaled
        return result

    def _render(self, samples: np.ndarray, lut: np.ndarray | None, window: Window,
                out: np.ndarray | None = None) -> np.ndarray:
        if samples.dtype == np.uint8 and window == Window(0, 255) and out is None:
            return samples
        if lut is not None and samples.dtype == self.dtype:
            index = samples.view(np.uint16 if self.dtype.itemsize == 2 else np.uint8)
            if out is None:
                return lut[index]
            np.take(lut, index, out=out)
            return out
        # float32 for float16/32 samples; float64 for wider integers, exact up to 2**53
        exact = samples.dtype.kind == "f" and samples.dtype.itemsize <= 4
        return self._map(samples.astype(np.float32 if exact else np.float64), window, out)

    def render(self, band: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        band = np.asarray(band)
        if (out is None and self.alpha is None and band.dtype == np.uint8
                and self.window == Window(0, 255)
                and band.shape[2:] == ((self.colours,) if self.colours > 1 else ())):
            return band  # nothing to change: the band itself
        if band.ndim == 2:
            band = band[..., None]
        if band.shape[2] < self.colours + (self.alpha is not None):
            raise ValueError(f"bands need {self.colours + (self.alpha is not None)} channels, "
                             f"not {band.shape[2]}")
        colour = band[..., :self.colours]
        shape = band.shape[:2] + ((self.colours,) if self.colours > 1 else ())
        if out is not None and out.shape != shape:
            raise ValueError(f"out must have shape {shape}, not {out.shape}")
        if self.alpha is None or (self.alpha == "unassociated" and self.background is None):
            result = self._render(colour, self._lut, self.window,
                                  None if out is None else out.reshape(colour.shape))
            result = result.reshape(shape)
            return result if out is None else out
        alpha8 = self._render(band[..., self.colours], self._alpha_lut, self._alpha_window)
        if self.alpha == "associated":
            if self.dtype == np.uint8:
                colour8 = self._render(unpremultiply(colour, alpha8), self._lut, self.window)
            else:  # un-premultiply in sample units, then apply the range
                straight = unpremultiplied(colour, band[..., self.colours], self._alpha_window.high)
                colour8 = self._map(straight, self.window)
        else:
            colour8 = self._render(colour, self._lut, self.window)
        if self.background is not None:
            bg = np.asarray(self.background[:self.colours] if self.colours > 1
                            else self.background[:1], dtype=np.uint32)
            a = alpha8.astype(np.uint32)[..., None]
            mixed = (colour8.astype(np.uint32) * a + bg * (255 - a) + 127) // 255
            colour8 = mixed.astype(np.uint8)
        colour8 = colour8.reshape(shape)
        if out is None:
            return colour8
        out[...] = colour8
        return out
