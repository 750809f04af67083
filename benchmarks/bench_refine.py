"""Cost and gain of the ``refine`` option (decoder-aware quantization, docs/fidelity.md).

``--time``: process CPU time of ``Image.save(format="STREAMJPEG", workers=1)`` with
refine=0, 1 and 2, medians of ``--rounds`` interleaved rounds, at q100, q95 and
q90 4:4:4 and q90 4:2:0, on three images of 2 to 4 MP: a 2500 x 1000 crop of
``bench_encode.py``'s mosaic (astronaut and chelsea resized, smooth), scikit-image's
``retina`` (1411 x 1411, native) and its grey photos camera, moon, brick and grass
side by side, twice over (4 x 4, 2048 x 2048, native; 1024 x 1024 until 2026-12-02,
whose saves of 4 to 7 ms left the grey ratios to the machine's noise); prints the CPU
and the ratios to refine=0.

``--gain`` (the default): for scikit-image's grey and colour photographs at q100,
q95 and q90 (4:4:4, or ``--subsampling 1`` 4:2:2, ``2`` 4:2:0 for the colour ones),
the PSNR (decoded by ``djpeg``, libjpeg-turbo's integer IDCT, and by ``djpeg -dct
float``) and size with refine=0, 1 and 2, and Pillow's (same subsampling).

``--tries N`` measures another number of candidates per sweep than the
option's (``strips.REFINE_TRIES``, 6), for the cost-gain trade-off
(docs/fidelity.md).

    python benchmarks/bench_refine.py --time [--rounds 5] [--tries 4]
    python benchmarks/bench_refine.py [--photos camera,astronaut] [--qualities 100,95,90]
                                      [--subsampling 2]
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
from bench_encode import cpu_model, grey_photos, mosaic  # noqa: E402
from bench_fidelity import COLOUR, GREY, _decode, _images, _pillow, _psnr  # noqa: E402

SETTINGS = (
    ("q100 4:4:4", dict(quality=100, subsampling=0)),
    ("q95 4:4:4", dict(quality=95, subsampling=0)),
    ("q90 4:4:4", dict(quality=90, subsampling=0)),
    ("q90 4:2:0", dict(quality=90, subsampling=2)),
)


def _save(image: Image.Image, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, format="STREAMJPEG", workers=1, **params)
    return out.getvalue()


def _cpu(image: Image.Image, **params) -> float:
    start = time.process_time()
    _save(image, **params)
    return time.process_time() - start


def _timing_images() -> list[tuple[str, Image.Image]]:
    from skimage import data

    grey = grey_photos(2048, 2048)
    return [("mosaic crop RGB 2.5 MP", mosaic(6.25).crop((0, 0, 2500, 1000))),
            ("retina RGB 2.0 MP", Image.fromarray(data.retina()[..., :3])),
            ("grey photos L 4.2 MP", Image.fromarray(grey))]


def timing(rounds: int) -> None:
    print(f"CPU: {cpu_model()}; kernels {engine.name}; one worker, process CPU seconds, "
          f"median of {rounds} interleaved rounds; tries {strips.REFINE_TRIES}")
    print("| image | settings | refine=0 s | refine=1 s | refine=2 s | 1 / 0 | 2 / 0 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, image in _timing_images():
        image.load()
        for label, params in SETTINGS:
            if image.mode == "L" and params["subsampling"]:
                continue
            times: dict[int, list[float]] = {0: [], 1: [], 2: []}
            _save(image, **params)  # warm-up
            for _ in range(rounds):
                for refine in times:
                    times[refine].append(_cpu(image, refine=refine, **params))
            t = {refine: statistics.median(values) for refine, values in times.items()}
            print(f"| {name} | {label} | {t[0]:.3f} | {t[1]:.3f} | {t[2]:.3f} | "
                  f"{t[1] / t[0]:.2f}x | {t[2] / t[0]:.2f}x |", flush=True)


def gain(names: list[str], qualities: list[int], subsampling: int = 0) -> None:
    sampling = ("4:4:4", "4:2:2", "4:2:0")[subsampling]
    print(f"PSNR dB decoded by djpeg (islow) / djpeg -dct float, size in bytes; {sampling} "
          f"(grey photos: one component); gain: refine=1 - refine=0 (islow), size ratio; "
          f"tries {strips.REFINE_TRIES}")
    print("| image | q | refine=0 | refine=1 | refine=2 | Pillow | gain 1 | size 1/0 | gain 2 |")
    print("|---|---|---|---|---|---|---:|---:|---:|")
    for name, image in _images(names):
        source = np.asarray(image)
        for quality in qualities:
            results = []
            for label in (0, 1, 2, "Pillow"):
                if label == "Pillow":
                    data = _pillow(image, quality, subsampling=subsampling)
                else:
                    data = _save(image, quality=quality, subsampling=subsampling, refine=label)
                results.append((_psnr(source, _decode(data, "int")),
                                _psnr(source, _decode(data, "float")), len(data)))
            cells = " | ".join(f"{a:.2f} / {b:.2f} {n}" for a, b, n in results)
            print(f"| {name} | {quality} | {cells} | {results[1][0] - results[0][0]:+.2f} | "
                  f"{results[1][2] / results[0][2]:.3f} | {results[2][0] - results[0][0]:+.2f} |",
                  flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", action="store_true", help="encode time instead of the gain")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--photos", default=",".join(GREY + COLOUR))
    parser.add_argument("--qualities", default="100,95,90")
    parser.add_argument("--subsampling", type=int, choices=(0, 1, 2), default=0,
                        help="gain: 0 4:4:4, 1 4:2:2, 2 4:2:0 (Pillow's values)")
    parser.add_argument("--tries", type=int, default=strips.REFINE_TRIES,
                        help="candidates per sweep (default: the option's)")
    args = parser.parse_args()
    if not 1 <= args.tries <= 16:
        parser.error(f"--tries {args.tries}: allowed 1 to 16")
    strips.REFINE_TRIES = args.tries
    if args.time:
        timing(args.rounds)
    else:
        gain(args.photos.split(","), [int(q) for q in args.qualities.split(",")], args.subsampling)
    return 0


if __name__ == "__main__":
    sys.exit(main())
