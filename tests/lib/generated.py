"""Generated test images: the floor sweep's contents (tests/test_fidelity_floor.py), shared with other tests."""

from __future__ import annotations

from functools import cache

import numpy as np


def ramp(width: int, height: int) -> np.ndarray:
    """A diagonal grey ramp, round((x + y) 255 / (width + height - 2)) (benchmarks/bench_fidelity.py)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.round((x + y) * 255.0 / (width + height - 2)).astype(np.uint8)


def content(kind: str, width: int, height: int, mode: str) -> np.ndarray:
    """A generated image: (h, w) uint8 for L, (h, w, 3) for RGB."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    rng = np.random.default_rng(width * 1000 + height)
    if kind == "photo":
        pixels = _photo()[100:100 + height, 180:180 + width]
        return np.ascontiguousarray(pixels if mode == "RGB" else pixels[..., 1])
    if kind in ("flat", "yellow", "blue"):
        colour = {"flat": (77, 38, 178), "yellow": (255, 255, 0), "blue": (0, 0, 255)}[kind]
        value = np.array(colour if mode == "RGB" else colour[0], np.uint8)
        return np.ascontiguousarray(np.broadcast_to(value, (height, width) + value.shape))
    if kind == "noise":
        shape = (height, width) if mode == "L" else (height, width, 3)
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == "hramp":
        v = x * 255 / max(width - 1, 1)
    elif kind == "vramp":
        v = y * 255 / max(height - 1, 1)
    elif kind == "dramp":
        v = (x + y) * 255 / max(width + height - 2, 1)
    elif kind == "vignette":
        r = np.hypot(x - (width - 1) / 2, y - (height - 1) / 2) / max(np.hypot(width, height) / 2, 1)
        v = 255 * np.clip(1 - r * r, 0, 1)
    elif kind == "checker":
        v = 255.0 * ((x + y) % 2)
    elif kind == "checker4":
        v = 255.0 * ((x // 4 + y // 4) % 2)
    else:
        raise ValueError(kind)
    if mode == "L":
        return np.round(v).astype(np.uint8)
    other = np.roll(v, max(width // 3, 1), axis=1)
    return np.round(np.stack([v, 255 - v, other], -1)).astype(np.uint8)


@cache
def _photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., :3])


def chart(width: int = 640, height: int = 480) -> np.ndarray:
    """Graphics on white, RGB: saturated and black rectangles, discs and lines of 1 to 5
    pixels, and rows of small glyph-like bars; NumPy only, so the same pixels with every
    Pillow (no font)."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.full((height, width, 3), 255, np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255),
               (255, 0, 255), (255, 128, 0), (0, 0, 0)]
    step = width // len(colours)
    for i, colour in enumerate(colours):
        x0 = 20 + step * i
        pixels[20:120, x0:x0 + 60] = colour
        pixels[(x - x0 - 30) ** 2 + (y - 180) ** 2 <= 30 ** 2] = colour
        for k, w in enumerate((1, 2, 3, 5)):  # slanted lines
            line = (np.abs((y - 240 - 12 * k) - (x - x0) // 2) < w) & (x >= x0) & (x < x0 + 60)
            pixels[line & (y < height)] = colour
        for r in range(4):  # glyphs: bars of 1 or 2 pixels, 7 high, in words
            top = 320 + 30 * r + 4 * (i % 2)
            for g in range(6):
                gx = x0 + 9 * g
                pixels[top:top + 7, gx:gx + 1 + (g + r) % 2] = colour
                pixels[top + 3 * (g % 3), gx:gx + 6] = colour
    return pixels
