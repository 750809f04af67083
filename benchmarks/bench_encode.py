"""STREAMJPEG against Pillow's JPEG writer on an in-memory photographic image.

Builds a 25-megapixel mosaic of scikit-image's photographs, then times each
configuration in interleaved rounds (every configuration once per round, so
machine noise spreads evenly) and prints a Markdown table of medians: MP/s,
the ratio to Pillow at the same settings, bytes and PSNR (decoded by Pillow).

    python benchmarks/bench_encode.py [--rounds 5] [--megapixels 25] [--kernels baseline]

``--kernels baseline`` runs the portable x86-64 build of the kernels instead of the
one ``pillow_streamjpeg.engine`` picks for this CPU (x86-64-v3 where it can).

Run it from outside the repository root (or with the package installed), so
that ``import pillow_streamjpeg`` finds the compiled package.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time

import numpy as np
from PIL import Image

import pillow_streamjpeg
from pillow_streamjpeg import engine

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")


def mosaic(megapixels: float) -> Image.Image:
    """Photos resized to 1250 x 1000 tiles, 5 per row, enough rows for the size asked."""
    from skimage import data

    tiles = [Image.fromarray(getattr(data, name)()[..., :3]).resize((1250, 1000), Image.LANCZOS)
             for name in PHOTOS]
    rows = max(1, round(megapixels * 1e6 / (5 * 1250 * 1000)))
    image = Image.new("RGB", (5 * 1250, rows * 1000))
    for i in range(5 * rows):
        image.paste(tiles[(i + i // 5) % 5], ((i % 5) * 1250, (i // 5) * 1000))
    image.load()
    return image


def configurations(workers: int) -> list[tuple[str, str, str, dict]]:
    """(group, label, format, options); the first of each group is its anchor."""
    configs = []
    for quality in (100, 90):
        group = f"q{quality} 4:4:4"
        configs += [
            (group, "Pillow JPEG", "JPEG", dict(quality=quality, subsampling=0)),
            (group, "STREAMJPEG, 1 worker", "STREAMJPEG", dict(quality=quality, workers=1)),
            (group, f"STREAMJPEG, {workers} workers", "STREAMJPEG", dict(quality=quality, workers=workers)),
        ]
    configs += [
        ("q100 4:4:4 optimize", "Pillow JPEG optimize", "JPEG", dict(quality=100, subsampling=0, optimize=True)),
        ("q100 4:4:4 optimize", f"STREAMJPEG optimize, {workers} workers", "STREAMJPEG",
         dict(quality=100, optimize=True, workers=workers)),
        ("q90 4:2:0", "Pillow JPEG", "JPEG", dict(quality=90, subsampling=2)),
        ("q90 4:2:0", f"STREAMJPEG, {workers} workers", "STREAMJPEG",
         dict(quality=90, subsampling=2, workers=workers)),
    ]
    return configs


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--megapixels", type=float, default=25)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--kernels", choices=sorted(engine.builds()), default=engine.name,
                        help="the kernel build to run (default: the one picked for this CPU)")
    args = parser.parse_args()
    engine.name, engine.kernels = args.kernels, engine.builds()[args.kernels]

    image = mosaic(args.megapixels)
    megapixels = image.width * image.height / 1e6
    configs = configurations(args.workers)
    times: dict[int, list[float]] = {i: [] for i in range(len(configs))}
    sizes: dict[int, int] = {}
    for _ in range(args.rounds):
        for i, (_, _, fmt, options) in enumerate(configs):
            out = io.BytesIO()
            start = time.perf_counter()
            image.save(out, format=fmt, **options)
            times[i].append(time.perf_counter() - start)
            sizes[i] = out.tell()
            if len(times[i]) == 1:
                configs[i][3]["_psnr"] = psnr(np.asarray(image),
                                              np.asarray(Image.open(out).convert("RGB")))

    print(f"{image.width} x {image.height} RGB mosaic ({megapixels:.1f} MP), {args.rounds} interleaved "
          f"rounds, medians; {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, pillow_streamjpeg {pillow_streamjpeg.__version__} "
          f"({engine.name} kernels), Pillow {Image.__version__}")
    print()
    print("| settings | encoder | seconds | MP/s | vs Pillow | bytes | PSNR dB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    anchor = {}
    for i, (group, label, _, options) in enumerate(configs):
        median = statistics.median(times[i])
        anchor.setdefault(group, median)
        print(f"| {group} | {label} | {median:.3f} | {megapixels / median:.1f} | "
              f"{anchor[group] / median:.2f}x | {sizes[i]:,} | {options['_psnr']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
