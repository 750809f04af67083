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
