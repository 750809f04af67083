"""Small saves: 256 x 256 tiles (and smaller images), STREAMJPEG against Pillow's JPEG.

What a tile writer (a slide or map pyramid, 256 x 256 JPEG tiles) does: ``Image.save`` of
many small images. Tiles: the 16 of scikit-image's ``astronaut`` resized to 1024 x 1024
(``--size`` other than 256: crops of that size at the same places). Per setting, the wall
time a tile of a batch of all 16, medians of ``--rounds`` interleaved rounds, for Pillow's
JPEG, STREAMJPEG (``workers=1``) as it is, and STREAMJPEG with one kernel call a strip
(``strips.RUN_BYTES`` patched to 0: before strips were coded many to a call,
``kernels.encode_strips``); prints the CPU and the ratios.

    python benchmarks/bench_tiles.py [--rounds 9] [--size 256]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

import numpy as np
from PIL import Image

import pillow_streamjpeg  # noqa: F401  (registers STREAMJPEG)
from pillow_streamjpeg import engine, strips

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_encode import cpu_model  # noqa: E402

SETTINGS = (
    ("L q90", "L", dict(quality=90)),
    ("RGB q90 4:2:0", "RGB", dict(quality=90, subsampling=2)),
    ("RGB q75 4:2:0", "RGB", dict(quality=75, subsampling=2)),
    ("RGB q95 4:4:4", "RGB", dict(quality=95, subsampling=0)),
    ("RGB q100 4:4:4 (STREAMJPEG's default)", "RGB", dict(quality=100, subsampling=0)),
)


def _tiles(size: int) -> list[Image.Image]:
    from skimage import data

    source = np.asarray(Image.fromarray(data.astronaut()).resize((1024, 1024)))
    return [Image.fromarray(np.ascontiguousarray(source[y:y + size, x:x + size]))
            for y in range(0, 1024, 256) for x in range(0, 1024, 256)]


def _batch(tiles: list[Image.Image], fmt: str, **params) -> float:
    start = time.perf_counter()
    for tile in tiles:
        tile.save(io.BytesIO(), format=fmt, **params)
    return (time.perf_counter() - start) / len(tiles)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    tiles = _tiles(args.size)
    run_bytes = strips.RUN_BYTES
    print(f"CPU: {cpu_model()}; kernels {engine.name}; {len(tiles)} tiles of {args.size} x "
          f"{args.size}; wall time a tile, median of {args.rounds} interleaved rounds")
    print("| setting | Pillow us | STREAMJPEG us | one call a strip us | Pillow / STREAMJPEG "
          "| one call a strip / STREAMJPEG |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, mode, params in SETTINGS:
        images = [tile.convert(mode) for tile in tiles]
        times: dict[str, list[float]] = {"pillow": [], "runs": [], "single": []}
        for _ in range(args.rounds):
            times["pillow"].append(_batch(images, "JPEG", **params))
            strips.RUN_BYTES = run_bytes
            times["runs"].append(_batch(images, "STREAMJPEG", workers=1, **params))
            strips.RUN_BYTES = 0
            times["single"].append(_batch(images, "STREAMJPEG", workers=1, **params))
        strips.RUN_BYTES = run_bytes
        t = {name: statistics.median(values) * 1e6 for name, values in times.items()}
        print(f"| {label} | {t['pillow']:.0f} | {t['runs']:.0f} | {t['single']:.0f} | "
              f"{t['pillow'] / t['runs']:.2f}x | {t['single'] / t['runs']:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
