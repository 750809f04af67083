"""Decoded JPEGs saved again with their own tables (``options.decoded_again``): fidelity and time against Pillow.

A JPEG file Pillow wrote (scikit-image's colour photos and the grey ``camera``, at the
qualities and subsamplings below), opened and saved again with ``quality="keep"``: the PSNR
of each file against the opened image's pixels (what the re-save should keep), by
STREAMJPEG's default, by ``refine=0`` (the plain save, no choice) and by Pillow. ``--time``:
the same on ``bench_encode.py``'s mosaic (6.25 MP), process CPU time of one worker, medians
of interleaved rounds, ratios to Pillow's, the CPU printed.

    python benchmarks/bench_decoded_again.py [--time] [--rounds 5]
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_encode import cpu_model, mosaic  # noqa: E402

SETTINGS = ((50, 0), (75, 2), (85, 1), (90, 0), (90, 2), (95, 2))
SAVES = (("Pillow", "JPEG", {}), ("default", "STREAMJPEG", {}),
         ("refine=0", "STREAMJPEG", {"refine": 0}))


def _decoded_jpeg(image: Image.Image, quality: int, subsampling: int) -> Image.Image:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, subsampling=subsampling)
    opened = Image.open(io.BytesIO(out.getvalue()))
    opened.load()
    return opened


def _saved(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, quality="keep", **params)
    return out.getvalue()


def _psnr(data: bytes, pixels: np.ndarray) -> float:
    decoded = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float64)
    error = ((decoded - pixels) ** 2).mean()
    return float("inf") if error == 0 else 10 * np.log10(255 ** 2 / error)


def fidelity() -> None:
    from skimage import data
    print("PSNR dB against the opened JPEG's pixels (decoded by Pillow), quality=\"keep\"; "
          "ours: difference to Pillow's")
    print("| photo | first save | Pillow | default | refine=0 |")
    print("|---|---|---:|---:|---:|")
    for name in ("chelsea", "coffee", "astronaut", "rocket", "camera"):
        image = Image.fromarray(getattr(data, name)())
        for quality, subsampling in SETTINGS if image.mode == "RGB" else ((50, 0), (90, 0)):
            source = _decoded_jpeg(image, quality, subsampling)
            pixels = np.asarray(source, dtype=np.float64)
            psnr = {label: _psnr(_saved(source, fmt, **extra), pixels)
                    for label, fmt, extra in SAVES}
            first = f"q{quality} 4:{'4:4' if not subsampling else '2:2' if subsampling == 1 else '2:0'}"
            print(f"| {name} | {first} | {psnr['Pillow']:.2f} | "
                  f"{psnr['default'] - psnr['Pillow']:+.2f} | "
                  f"{psnr['refine=0'] - psnr['Pillow']:+.2f} |", flush=True)


def timing(rounds: int) -> None:
    big = mosaic(6.25)
    print(f"CPU: {cpu_model()}; {big.size[0]} x {big.size[1]} mosaic saved by Pillow, opened, "
          f"saved again (quality=\"keep\", one worker); process CPU ms, median of {rounds} "
          "interleaved rounds")
    print("| first save | Pillow ms | default ms | refine=0 ms | default / Pillow | refine=0 / Pillow |")
    print("|---|---:|---:|---:|---:|---:|")
    for quality, subsampling in ((90, 2), (75, 2), (90, 0), (95, 0)):
        source = _decoded_jpeg(big, quality, subsampling)
        times: dict[str, list[float]] = {label: [] for label, _, _ in SAVES}
        for _ in range(rounds):
            for label, fmt, extra in SAVES:
                start = time.process_time()
                _saved(source, fmt, workers=1, **extra) if fmt != "JPEG" else _saved(source, fmt)
                times[label].append(time.process_time() - start)
        ms = {label: statistics.median(t) * 1000 for label, t in times.items()}
        print(f"| q{quality} {'4:4:4' if not subsampling else '4:2:0'} | {ms['Pillow']:.1f} | "
              f"{ms['default']:.1f} | {ms['refine=0']:.1f} | {ms['default'] / ms['Pillow']:.2f}x | "
              f"{ms['refine=0'] / ms['Pillow']:.2f}x |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", action="store_true", help="time instead of the fidelity")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.time:
        timing(args.rounds)
    else:
        fidelity()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
