"""``optimize=True`` against Pillow's: file sizes, and the process CPU time a save.

Photo crops (scikit-image's astronaut in RGB at 4:4:4 and 4:2:0, camera in grey) from 16 x 16
to 2048 x 2048 pixels, one worker. Images of up to ``scan.READ_BACK_PIXELS`` pixels (and 64
strips) have their symbols read back and tables of exactly those symbols (the default);
"sampled" is the way every image took before, and larger ones still take: a sample of the
strips counted and every legal symbol given a code (``scan.READ_BACK_PIXELS = 0``). Times
are medians of ``--rounds`` interleaved rounds.

    python benchmarks/bench_optimize.py [--rounds 7] [--qualities 90,75]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

import numpy as np
from PIL import Image, ImageFile
from skimage import data

import pillow_streamjpeg  # noqa: F401  (registers STREAMJPEG)
from pillow_streamjpeg import scan

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_encode import cpu_model  # noqa: E402

SIZES = (16, 64, 256, 1024, 2048)
READ_BACK = scan.READ_BACK_PIXELS


def crop(photo: np.ndarray, size: int) -> Image.Image:
    """A size x size crop of the photo, tiled where it is smaller."""
    reps = (-(-size // photo.shape[0]), -(-size // photo.shape[1])) + (1,) * (photo.ndim - 2)
    return Image.fromarray(np.ascontiguousarray(np.tile(photo, reps)[:size, :size]))


def save(image: Image.Image, fmt: str, **options) -> tuple[int, float]:
    """(bytes, process CPU seconds) of one save."""
    out = io.BytesIO()
    start = time.process_time()
    image.save(out, format=fmt, **options)
    return out.tell(), time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--qualities", default="90,75")
    args = parser.parse_args()
    ImageFile.MAXBLOCK = max(ImageFile.MAXBLOCK, 1 << 24)  # Pillow's optimize buffer
    photos = (("RGB 4:4:4", data.astronaut(), 0), ("RGB 4:2:0", data.astronaut(), 2),
              ("grey", data.camera(), 0))
    print(f"CPU: {cpu_model()}; one worker; process CPU ms a save, median of {args.rounds} "
          "interleaved rounds")
    print("| image | size | q | ours, not optimized | ours | sampled | Pillow | ours / Pillow "
          "bytes | ours ms | sampled ms | Pillow ms | ours / Pillow time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, photo, subsampling in photos:
        for size in SIZES:
            image = crop(photo, size)
            for quality in map(int, args.qualities.split(",")):
                ours = {"workers": 1, "quality": quality, "subsampling": subsampling}
                pillow = {"quality": quality, "subsampling": subsampling, "optimize": True}
                plain = save(image, "STREAMJPEG", **ours)[0]
                times: dict[str, list[float]] = {"ours": [], "sampled": [], "pillow": []}
                sizes: dict[str, int] = {}
                repeat = max(1, 40_000 // (size * size))
                for _ in range(args.rounds):
                    for key in times:
                        scan.READ_BACK_PIXELS = 0 if key == "sampled" else READ_BACK
                        fmt, options = (("JPEG", pillow) if key == "pillow"
                                        else ("STREAMJPEG", {**ours, "optimize": True}))
                        spent = 0.0
                        for _ in range(repeat):
                            sizes[key], seconds = save(image, fmt, **options)
                            spent += seconds
                        times[key].append(spent / repeat)
                scan.READ_BACK_PIXELS = READ_BACK
                ms = {key: 1000 * statistics.median(values) for key, values in times.items()}
                print(f"| {name} | {size} | {quality} | {plain} | {sizes['ours']} | "
                      f"{sizes['sampled']} | {sizes['pillow']} | "
                      f"{sizes['ours'] / sizes['pillow']:.3f} | {ms['ours']:.3f} | "
                      f"{ms['sampled']:.3f} | {ms['pillow']:.3f} | "
                      f"{ms['ours'] / ms['pillow']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
