"""The ``streamjpeg`` command: convert an image to baseline JPEG, or run the demo."""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np
from PIL import Image

from . import pipeline


def demo_image(width: int = 6000, height: int = 4000, seed: int = 0) -> Image.Image:
    """A generated photo-like RGB test image: smooth shading, edges, texture, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / width, y / height
    red = 128 + 90 * np.sin(6.0 * u + 2.0 * v) * np.cos(3.0 * v)
    green = 120 + 80 * np.cos(5.0 * v - 3.0 * u)
    blue = 110 + 70 * np.sin(9.0 * u * v + 1.0)
    rgb = np.stack([red, green, blue], axis=-1)
    del red, green, blue
    disc = ((u - 0.6) ** 2 + (v - 0.4) ** 2) < 0.05
    rgb[disc] = rgb[disc] * 0.4 + 140
    rgb += 12 * np.sin(x / 3.0)[..., None] * (u > 0.5)[..., None]
    rgb += rng.normal(0, 3.0, size=rgb.shape).astype(np.float32)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def run_demo(output: str, quality: int, workers: int | None) -> int:
    """Encode the generated image with STREAMJPEG and with Pillow's JPEG; print both."""
    image = demo_image()
    print(f"demo image: {image.width}x{image.height} RGB ({image.width * image.height / 1e6:.0f} MP)")
    reference = np.asarray(image)
    t0 = time.perf_counter()
    pipeline.encode(image, output, quality=quality, workers=workers)
    ours = time.perf_counter() - t0
    buffer = io.BytesIO()
    t0 = time.perf_counter()
    image.save(buffer, format="JPEG", quality=quality, subsampling=0)
    pillows = time.perf_counter() - t0
    with Image.open(output) as decoded:
        psnr_ours = _psnr(reference, np.asarray(decoded.convert("RGB")))
    psnr_pillow = _psnr(reference, np.asarray(Image.open(buffer).convert("RGB")))
    mp = image.width * image.height / 1e6
    size = os.path.getsize(output)
    print(f"{'encoder':<22}{'seconds':>9}{'MP/s':>8}{'bytes':>12}{'PSNR dB':>9}")
    print(f"{'STREAMJPEG':<22}{ours:9.3f}{mp / ours:8.1f}{size:12d}{psnr_ours:9.2f}")
    print(f"{'Pillow JPEG 4:4:4':<22}{pillows:9.3f}{mp / pillows:8.1f}{buffer.tell():12d}{psnr_pillow:9.2f}")
    print(f"wrote {output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamjpeg",
        description="Write baseline JPEG strip by strip. Without an input, run the demo.",
    )
    parser.add_argument("input", nargs="?", help="image to convert (any format Pillow opens)")
    parser.add_argument("output", nargs="?", help="JPEG file to write (default: streamjpeg-demo.jpg for the demo)")
    parser.add_argument("-q", "--quality", type=int, default=100, help="JPEG quality 1..100 (default 100)")
    parser.add_argument("-w", "--workers", type=int, default=None, help="encoding threads (default: all CPUs)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.input is None:
            return run_demo(args.output or "streamjpeg-demo.jpg", args.quality, args.workers)
        if args.output is None:
            parser.error("an output file is needed after the input")
        with Image.open(args.input) as image:
            pipeline.encode(image, args.output, quality=args.quality, workers=args.workers)
    except (OSError, ValueError, TypeError) as exc:
        print(f"streamjpeg: error: {exc}", file=sys.stderr)
        return 1
    return 0
