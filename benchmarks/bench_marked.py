"""Cost of the default's choice on marked MCUs (``Settings.marked_choice``): saves with it against without.

The default chooses libjpeg-turbo's coefficients where they decode closer on the MCUs
of repeated or one-dimensional content (``kernels.choice_marks``: checkers, stripes,
ramps along one axis) of images of any size; every strip pays a test of its MCUs, and
strips with marked MCUs take the two-step path (docs/fidelity.md, "Repeated and
one-dimensional MCUs"). This script times ``Image.save(format="STREAMJPEG", workers=1)``
with the default's settings, with the choice and without it (``options.marked_choice``
patched to answer False), in batches of at least ``--batch-ms`` of process CPU time,
the two interleaved (their order alternating), for ``--rounds`` rounds; it prints the
CPU, each case's median times and the median of the rounds' paired ratios.

Cases: photographs (where no MCU is marked: the test's cost alone, below the size limit),
crops of one, and generated content where the choice applies to every MCU (a 1-pixel
checker, horizontal and vertical ramps, within ``options.MARKED_CHOICE_MCUS``), and the
tests' chart above it.

    python benchmarks/bench_marked.py [--rounds 9] [--batch-ms 20] [--qualities 95,75] [--one-strip-a-call]
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
from pillow_streamjpeg import options, strips

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_encode import cpu_model, grey_photos, mosaic  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from generated import chart, content  # noqa: E402

MARKED = options.marked_choice


def _cases() -> list[tuple[str, Image.Image, int]]:
    """(name, image, subsampling)."""
    from skimage import data

    grey = grey_photos()
    photo = mosaic(1.0).crop((0, 0, 1000, 1000))
    astronaut = Image.fromarray(data.astronaut())
    cases = [("grey photos L 1 MP", Image.fromarray(grey), 0),
             ("mosaic RGB 1 MP 4:4:4", photo, 0),
             ("mosaic RGB 1 MP 4:2:0", photo, 2)]
    for size in (512, 256, 128, 64):
        crop = astronaut.crop((512 - size, 0, 512, size))
        cases += [(f"astronaut {size} x {size} RGB 4:4:4", crop, 0),
                  (f"astronaut {size} x {size} L", crop.convert("L"), 0)]
    # marked content within the choice's size (``options.MARKED_CHOICE_MCUS``): every MCU
    # marked, the choice's whole cost (above the size nothing is marked)
    return cases + [
        ("checker L 128 x 128", Image.fromarray(content("checker", 128, 128, "L")), 0),
        ("horizontal ramp RGB 128 x 128 4:4:4",
         Image.fromarray(content("hramp", 128, 128, "RGB")), 0),
        ("vertical ramp RGB 256 x 256 4:2:0",
         Image.fromarray(content("vramp", 256, 256, "RGB")), 2),
        ("vertical ramp RGB 64 x 64 4:2:2", Image.fromarray(content("vramp", 64, 64, "RGB")), 1),
        ("chart RGB 640 x 480 4:2:0 (above the size)", Image.fromarray(chart()), 2)]


def _batch(image: Image.Image, count: int, **params) -> float:
    start = time.process_time()
    for _ in range(count):
        image.save(io.BytesIO(), format="STREAMJPEG", workers=1, **params)
    return (time.process_time() - start) / count


def _set(on: bool) -> None:
    options.marked_choice = MARKED if on else (lambda *args, **kwargs: False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch-ms", type=float, default=20.0)
    parser.add_argument("--qualities", default="95,75")
    parser.add_argument("--one-strip-a-call", action="store_true",
                        help="the two-step path a strip at a time (strips.side_by_side patched "
                             "to 1), to compare with strips side by side")
    args = parser.parse_args()
    if args.one_strip_a_call:
        strips.side_by_side = lambda settings, most: 1
    print(f"CPU: {cpu_model()}; one worker, process CPU time per save, medians of {args.rounds} "
          f"interleaved rounds")
    print("| image | q | without ms | with ms | with / without |")
    print("|---|---|---:|---:|---:|")
    for name, image, subsampling in _cases():
        image.load()
        for quality in [int(q) for q in args.qualities.split(",")]:
            params = dict(quality=quality, subsampling=subsampling)
            _set(True)
            once = _batch(image, 1, **params)
            count = max(1, int(args.batch_ms / 1000 / max(once, 1e-6)))
            times: dict[bool, list[float]] = {False: [], True: []}
            for r in range(args.rounds):
                for on in ((False, True) if r % 2 else (True, False)):
                    _set(on)
                    times[on].append(_batch(image, count, **params))
            _set(True)
            ratio = statistics.median(b / a for a, b in zip(times[False], times[True]))
            print(f"| {name} | {quality} | {statistics.median(times[False]) * 1e3:.3f} | "
                  f"{statistics.median(times[True]) * 1e3:.3f} | {ratio:.3f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
