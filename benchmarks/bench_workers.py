"""Workers on images of a few tasks: STREAMJPEG with 1 and with several workers, against Pillow.

The scan writer cuts an image into tasks of about ``scan.TASK_PIXELS`` (2^18) pixels; with
several workers the calling thread codes tasks too, beside a pool of ``workers - 1``
threads (``scan._ordered``). This script times crops of a photo mosaic 1024 pixels wide
and 512 to 3072 rows high (2 to 12 tasks), for grey and colour settings that make a task
light or heavy, in interleaved rounds (each configuration once a round, their order
alternating), and prints a Markdown table: milliseconds with one worker, and the medians of
the rounds' ratios of wall time, several workers / one worker and both against Pillow's
JPEG writer at the same settings.

    python benchmarks/bench_workers.py [--rounds 7] [--workers 2] [--tasks 2,3,4,6,12]
        [--settings "L q90,RGB q100"]

Run it with the machine otherwise idle; it prints the CPU model.
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
from pillow_streamjpeg import scan
from pillow_streamjpeg.options import available_cpus

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_encode import cpu_model, grey_photos  # noqa: E402

WIDTH = 1024

#: (label, content, options): grey and colour, light and heavy tasks; "ramp" is a diagonal
#: grey ramp (the default's choice on smooth blocks), the others crops of a photo mosaic.
#: Subsampling is given where it is STREAMJPEG's default (4:4:4), which is not Pillow's
SETTINGS = (
    ("L q90", "L", dict(quality=90)),
    ("L q100", "L", dict(quality=100)),
    ("L q90 refine=1", "L", dict(quality=90, refine=1)),
    ("L ramp q100", "ramp", dict(quality=100)),
    ("RGB q75 4:2:0", "RGB", dict(quality=75, subsampling=2)),
    ("RGB q100", "RGB", dict(quality=100, subsampling=0)),
    ("RGB q90 refine=1", "RGB", dict(quality=90, subsampling=0, refine=1)),
)


def content(kind: str, height: int) -> Image.Image:
    """A crop of scikit-image's camera, moon, brick and grass tiled (grey, or as RGB with
    the crop flipped into G and B), or a diagonal ramp."""
    if kind == "ramp":
        y, x = np.mgrid[0:height, 0:WIDTH]
        return Image.fromarray(((x + y) * 255 // (WIDTH + height - 2)).astype(np.uint8))
    grey = grey_photos(height, WIDTH)
    if kind == "L":
        return Image.fromarray(np.ascontiguousarray(grey))
    return Image.fromarray(np.ascontiguousarray(np.dstack([grey, grey[::-1], grey[:, ::-1]])))


def seconds(image: Image.Image, fmt: str, options: dict, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        image.save(io.BytesIO(), format=fmt, **options)
    return (time.perf_counter() - start) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workers", type=int, default=max(2, available_cpus()))
    parser.add_argument("--tasks", default="2,3,4,6,12",
                        help="image heights in tasks of 2^18 pixels (256 rows of 1024)")
    parser.add_argument("--settings", default=",".join(label for label, _, _ in SETTINGS),
                        help="comma-separated labels of SETTINGS")
    args = parser.parse_args()
    chosen = [s for s in SETTINGS if s[0] in args.settings.split(",")]
    tasks = [int(t) for t in args.tasks.split(",")]
    many = args.workers

    print(f"CPU: {cpu_model()}; {available_cpus()} CPUs available; {args.rounds} interleaved "
          f"rounds; tasks of {scan.TASK_PIXELS} pixels")
    print()
    print(f"| setting | tasks | 1 worker ms | time, {many} workers / 1 | 1 worker vs Pillow "
          f"| {many} workers vs Pillow |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, kind, options in chosen:
        for count in tasks:
            height = count * scan.TASK_PIXELS // WIDTH
            image = content(kind, height)
            pillow = {k: v for k, v in options.items() if k != "refine"}
            configs = {"pillow": ("JPEG", pillow),
                       "one": ("STREAMJPEG", dict(options, workers=1)),
                       "many": ("STREAMJPEG", dict(options, workers=many))}
            files = set()
            for key in ("one", "many"):
                out = io.BytesIO()
                image.save(out, format=configs[key][0], **configs[key][1])
                files.add(out.getvalue())
            assert len(files) == 1, "1 and several workers gave different files"
            batch = max(2, int(0.05 / seconds(image, "STREAMJPEG", configs["one"][1], 1)))
            times: dict[str, list[float]] = {key: [] for key in configs}
            for r in range(args.rounds):
                order = list(configs) if r % 2 else list(configs)[::-1]
                for key in order:
                    fmt, opts = configs[key]
                    times[key].append(seconds(image, fmt, opts, batch))

            def ratio(a: str, b: str) -> float:
                return statistics.median(x / y for x, y in zip(times[a], times[b]))

            print(f"| {label} | {count} | {1e3 * statistics.median(times['one']):.2f} "
                  f"| {ratio('many', 'one'):.2f}x | {ratio('pillow', 'one'):.2f}x "
                  f"| {ratio('pillow', 'many'):.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
