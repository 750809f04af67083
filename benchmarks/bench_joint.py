"""Gain and cost of Y taking up the chroma's error: the joint rounding of 4:4:4 colour and the
luma correction at 4:2:0 and 4:2:2 (docs/fidelity.md, "Y rounded with the chroma" and "Luma
corrected for the decoded chroma").

``--gain`` (the default): for scikit-image's colour photographs, at ``--subsampling`` (0
4:4:4, 1 4:2:2, 2 4:2:0, Pillow's numbers) and each of ``--qualities``, the PSNR of the RGB
pixels decoded by libjpeg-turbo's integer IDCT (through Pillow) against Pillow's JPEG, and the
size against Pillow's, for STREAMJPEG's default and for refine=0 (each coefficient rounded to
nearest, Y as converted); and the default against Pillow's PSNR at the default's size
(Pillow's saves at q20 to q95, interpolated in log size).

``--force`` (4:2:2 and 4:2:0): the luma correction forced on at any quality and on every
group of MCUs (with the fused conversion it is built into, which quality 96 and up do not
use; at q93 to q95 the default gates it by the chroma's detail), against the default; the
experiments of docs/fidelity.md, "The luma correction at quality 92, and above it tried" and
"The luma correction gated by the chroma's detail".

``--time``: process CPU time of ``Image.save(format="STREAMJPEG", workers=1)``, default
against refine=0, medians of ``--rounds`` interleaved rounds on 3 x 3 tiles of astronaut
(1536 x 1536), with the CPU model.

    python benchmarks/bench_joint.py [--photos astronaut,rocket] [--qualities 92,90,75,50,25]
    python benchmarks/bench_joint.py --subsampling 2 --qualities 92,90,75,50,25
    python benchmarks/bench_joint.py --subsampling 2 --qualities 93,95,97 --force
    python benchmarks/bench_joint.py --time [--subsampling 2] [--rounds 9]
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
from pillow_streamjpeg import options as _options
from pillow_streamjpeg import strips as _strips

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_encode import cpu_model, psnr  # noqa: E402

LABELS = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
PHOTOS = "astronaut,chelsea,coffee,rocket,immunohistochemistry,retina,hubble_deep_field"


def _save(image: Image.Image, **options) -> tuple[int, np.ndarray]:
    buf = io.BytesIO()
    image.save(buf, **options)
    data = buf.getvalue()
    return len(data), np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _pillow_at_size(image: Image.Image, px: np.ndarray, subsampling: int):
    """Pillow's PSNR as a function of file size: interpolated (in log size) between its
    saves at qualities 20 to 95, the default's bytes compared at equal size."""
    points = sorted((size, psnr(dec, px)) for size, dec in (
        _save(image, format="JPEG", quality=q, subsampling=subsampling) for q in range(20, 96)))
    sizes = np.log([p[0] for p in points])
    values = [p[1] for p in points]
    return lambda size: float(np.interp(np.log(size), sizes, values))


#: the encoder's own thresholds, which ``_forced`` sets aside and puts back
_LUMA_MEAN, _JOINT_MIN = _options.LUMA_FIX_MIN_CHROMA_MEAN, _options.JOINT_MIN_QUANTIZER
_AVERAGES = _options.averages_rounded_chroma
_DETAIL = dict(_strips.LUMA_FIX_DETAIL)


def _forced(on: bool) -> None:
    """The luma correction on at every quality and not gated (``on``), or as the encoder
    decides."""
    _options.LUMA_FIX_MIN_CHROMA_MEAN = 0 if on else _LUMA_MEAN
    _options.JOINT_MIN_QUANTIZER = 1 if on else _JOINT_MIN
    _options.averages_rounded_chroma = (lambda tables: False) if on else _AVERAGES
    _strips.LUMA_FIX_DETAIL.update({1: 0.0, 2: 0.0} if on else _DETAIL)
    _strips._cached_build.cache_clear()  # the kernels' weights, which hold the gate


def _ours(image: Image.Image, quality: int, subsampling: int, force: bool,
          **options) -> tuple[int, np.ndarray]:
    _forced(force)
    try:
        return _save(image, format="STREAMJPEG", quality=quality, subsampling=subsampling,
                     **options)
    finally:
        _forced(False)


def gain(photos: list[str], qualities: list[int], subsampling: int, force: bool = False) -> None:
    """The table; with ``force``, the forced correction against the default (in the
    refine=0 columns' place)."""
    import skimage.data

    print(f"{LABELS[subsampling]}; decoded by Pillow (libjpeg-turbo, islow)")
    new, old = ("forced", "default") if force else ("default", "refine=0")
    print(f"| photo | q | {new} dB vs Pillow | size vs Pillow | {old} dB vs Pillow | size "
          f"vs Pillow | gain dB | size vs {old} | {new} vs Pillow at its size |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in photos:
        px = getattr(skimage.data, name)()
        image = Image.fromarray(px)
        pillow_at = _pillow_at_size(image, px, subsampling)
        for q in qualities:
            size_p, dec_p = _save(image, format="JPEG", quality=q, subsampling=subsampling)
            size_0, dec_0 = _ours(image, q, subsampling, False, **({} if force else {"refine": 0}))
            size_j, dec_j = _ours(image, q, subsampling, force)
            base = psnr(dec_p, px)
            print(f"| {name} | {q} | {psnr(dec_j, px) - base:+.3f} | {size_j / size_p:.4f}x "
                  f"| {psnr(dec_0, px) - base:+.3f} | {size_0 / size_p:.4f}x "
                  f"| {psnr(dec_j, px) - psnr(dec_0, px):+.3f} | {size_j / size_0 - 1:+.2%} "
                  f"| {psnr(dec_j, px) - pillow_at(size_j):+.3f} |", flush=True)


def timing(qualities: list[int], rounds: int, subsampling: int) -> None:
    import skimage.data

    a = skimage.data.astronaut()
    image = Image.fromarray(np.tile(a, (3, 3, 1)))
    print(f"CPU: {cpu_model()}; {image.width} x {image.height} RGB, {LABELS[subsampling]}, one worker, "
          f"medians of {rounds} interleaved rounds")
    print("| q | refine=0 ms | default ms | default / refine=0 |")
    print("|---|---:|---:|---:|")
    for q in qualities:
        times: dict[object, list[float]] = {0: [], None: []}
        for _ in range(rounds):
            for refine in (0, None):
                start = time.process_time()
                image.save(io.BytesIO(), format="STREAMJPEG", quality=q, subsampling=subsampling,
                           refine=refine, workers=1)
                times[refine].append(time.process_time() - start)
        off, on = statistics.median(times[0]), statistics.median(times[None])
        print(f"| {q} | {off * 1000:.1f} | {on * 1000:.1f} | {on / off:.3f}x |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time", action="store_true", help="time the default against refine=0")
    parser.add_argument("--photos", default=PHOTOS, help="scikit-image colour photos, commas")
    parser.add_argument("--qualities", default="92,90,75,50,25", help="qualities, commas")
    parser.add_argument("--rounds", type=int, default=9, help="rounds for --time")
    parser.add_argument("--subsampling", type=int, default=0, choices=sorted(LABELS),
                        help="Pillow's subsampling: 0 4:4:4, 1 4:2:2, 2 4:2:0")
    parser.add_argument("--force", action="store_true",
                        help="4:2:2 and 4:2:0: the luma correction forced on, against the default")
    args = parser.parse_args()
    if args.force and (args.time or args.subsampling == 0):
        parser.error("--force compares the subsampled gain: give --subsampling 1 or 2, not --time")
    qualities = [int(q) for q in args.qualities.split(",")]
    if args.time:
        timing(qualities, args.rounds, args.subsampling)
    else:
        gain(args.photos.split(","), qualities, args.subsampling, args.force)


if __name__ == "__main__":
    main()
