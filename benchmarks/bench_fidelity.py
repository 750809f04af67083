"""Fidelity and size against Pillow's JPEG and libjpeg-turbo's ``cjpeg -dct float``.

For scikit-image's grey and colour photographs and a mosaic of the colour ones
(one row of the 25 MP mosaic of ``bench_encode.py``: 6250 x 1000 px), at
qualities 100, 95, 90 and 75, 4:4:4: the size and the PSNR of each encoder's
file decoded by two decoders, libjpeg-turbo's default integer IDCT (``djpeg``,
"islow", what Pillow and browsers use) and its float IDCT (``djpeg -dct
float``), so that a gain for one IDCT is seen not to be a loss for the other.
Encoders:

- ``ours``: STREAMJPEG as installed (its defaults for the quality), one worker;
- ``Pillow``: ``Image.save(format="JPEG", quality=q, subsampling=0)``;
- ``cjpeg float``: ``cjpeg -quality q -dct float -sample 1x1`` (libjpeg-turbo).

``ours`` is the default encoder: the decoder-aware quantization (transpiled/refine.py,
the ``refine`` option) is off on images of this size by default and is measured by
``benchmarks/bench_refine.py``; docs/fidelity.md gives its figures. At q92 and below its
4:4:4 colour coefficients are rounded jointly (``benchmarks/bench_joint.py``).

``--rounding`` measures the YCbCr rounding instead (``Settings.round_samples``):
for the colour photos, STREAMJPEG with YCbCr kept in floating point and rounded
to whole values (the default, as libjpeg), and Pillow, decoded by djpeg (islow). The sweep of
generated cases against Pillow is a test: tests/test_fidelity_floor.py.

    python benchmarks/bench_fidelity.py [--photos camera,astronaut] [--qualities 100,95]
    python benchmarks/bench_fidelity.py --cases       (the cases of issue 15's table)
    python benchmarks/bench_fidelity.py --rounding [--qualities 100,75,50,20]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

import pillow_streamjpeg
from pillow_streamjpeg import pipeline, scan, sources

GREY = ["camera", "moon", "coins", "brick", "grass"]
COLOUR = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina"]
QUALITIES = [100, 95, 90, 75]


def _decode(data: bytes, dct: str) -> np.ndarray:
    """Pixels of a JPEG decoded by djpeg with ``-dct int`` (islow) or ``-dct float``."""
    with tempfile.TemporaryDirectory() as folder:
        src = os.path.join(folder, "in.jpg")
        dst = os.path.join(folder, "out.pnm")
        with open(src, "wb") as f:
            f.write(data)
        subprocess.run(["djpeg", "-dct", dct, "-outfile", dst, src], check=True)
        with Image.open(dst) as decoded:
            return np.asarray(decoded)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _ours(image: Image.Image, quality: int, round_samples: bool | None = None, **extra) -> bytes:
    """STREAMJPEG's file, one worker; ``round_samples`` forces the YCbCr sample handling."""
    source = sources.PillowSource(image)
    settings = pipeline.settings_for(source, {"quality": quality, "workers": 1, **extra})
    if round_samples is not None:
        settings = dataclasses.replace(settings, round_samples=round_samples)
    out = io.BytesIO()
    scan.write_jpeg(out, settings, scan.LocalBackend(source))
    return out.getvalue()


def _pillow(image: Image.Image, quality: int, **extra) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, **({"subsampling": 0} | extra))
    return out.getvalue()


def _cjpeg(image: Image.Image, quality: int) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        src = os.path.join(folder, "in.pnm")
        image.save(src)
        return subprocess.run(["cjpeg", "-quality", str(quality), "-dct", "float", "-sample", "1x1",
                               src], check=True, capture_output=True).stdout


def ramp(width: int, height: int) -> np.ndarray:
    """A diagonal ramp, round((x + y) 255 / (width + height - 2)), grey."""
    y, x = np.mgrid[0:height, 0:width]
    return np.round((x + y) * 255.0 / (width + height - 2)).astype(np.uint8)


def rgb_gradient(width: int, height: int) -> np.ndarray:
    """R = 255 x / (width - 1), G = 255 y / (height - 1) (integer division), B = 128."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                     np.full_like(x, 128)], -1).astype(np.uint8)


#: The cases of issue 15's table: (name, pixels, options). Pillow's subsampling is its own
#: default for the options given (4:2:0 unless subsampling is set).
CASES = [
    ("1024x768 diagonal ramp, L", lambda: ramp(1024, 768), {"quality": 100}),
    ("1024x768 diagonal ramp, L", lambda: ramp(1024, 768), {"quality": 95}),
    ("4097x11 diagonal ramp, L", lambda: ramp(4097, 11), {"quality": 95}),
    ("9x9 RGB gradient", lambda: rgb_gradient(9, 9), {"quality": 90, "subsampling": 1}),
    ("8x8 RGB gradient", lambda: rgb_gradient(8, 8), {"quality": 90, "subsampling": 2}),
]


def cases() -> None:
    """The issue's cases: PSNR (djpeg islow) and size, ours and Pillow's."""
    print("| image | options | ours | Pillow |")
    print("|---|---|---:|---:|")
    for name, make, opts in CASES:
        pixels = make()
        image = Image.fromarray(pixels)
        theirs = io.BytesIO()
        image.save(theirs, format="JPEG", **opts)
        cells = [f"{_psnr(pixels, _decode(f, 'int')):.2f} dB, {len(f)} B"
                 for f in (_ours(image, **opts), theirs.getvalue())]
        print(f"| {name} | {opts} | " + " | ".join(cells) + " |", flush=True)


def rounding(names: list[str], qualities: list[int]) -> None:
    """YCbCr in floating point against rounded to whole values (Settings.round_samples), 4:4:4."""
    print("| photo | q | float dB, bytes | rounded dB, bytes | Pillow dB, bytes | rounded - float |")
    print("|---|---|---:|---:|---:|---:|")
    for name, image in _images(names):
        source = np.asarray(image)
        for quality in qualities:
            cells = []
            for data in (_ours(image, quality, round_samples=False),
                         _ours(image, quality, round_samples=True), _pillow(image, quality)):
                cells.append((_psnr(source, _decode(data, "int")), len(data)))
            print(f"| {name} | {quality} | " + " | ".join(f"{p:.2f}, {n}" for p, n in cells)
                  + f" | {cells[1][0] - cells[0][0]:+.2f} dB, {cells[1][1] / cells[0][1] - 1:+.2%} |",
                  flush=True)


def _mosaic() -> Image.Image:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_encode import mosaic

    return mosaic(6.25)


def _images(names: list[str]):
    from skimage import data

    for name in names:
        if name == "mosaic":
            yield name, _mosaic()
            continue
        pixels = getattr(data, name)()
        if pixels.ndim == 3:
            pixels = pixels[..., :3]
        image = Image.fromarray(pixels)
        image.load()
        yield name, image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default=",".join(GREY + COLOUR + ["mosaic"]),
                        help="scikit-image data names and/or 'mosaic', comma-separated")
    parser.add_argument("--qualities", default=",".join(map(str, QUALITIES)))
    parser.add_argument("--cases", action="store_true", help="only the cases of issue 15's table")
    parser.add_argument("--rounding", action="store_true",
                        help="YCbCr in floating point against rounded (colour photos unless --photos)")
    args = parser.parse_args()
    if args.cases:
        cases()
        return 0
    if args.rounding:
        names = COLOUR if args.photos == parser.get_default("photos") else args.photos.split(",")
        rounding(names, [int(q) for q in args.qualities.split(",")])
        return 0
    encoders = [("ours", _ours), ("Pillow", _pillow), ("cjpeg float", _cjpeg)]
    print(f"pillow_streamjpeg {pillow_streamjpeg.__version__}, 4:4:4; per encoder: PSNR dB decoded by "
          "djpeg (islow) / djpeg -dct float, size in bytes; last columns: ours - Pillow (islow, dB), "
          "ours / Pillow size")
    print("| image | q | " + " | ".join(e for e, _ in encoders) + " | Δ dB | size |")
    print("|---|---|" + "---|" * (len(encoders) + 2))
    for name, image in _images(args.photos.split(",")):
        source = np.asarray(image)
        for quality in map(int, args.qualities.split(",")):
            cells, results = [], {}
            for label, encode in encoders:
                data = encode(image, quality)
                islow = _psnr(source, _decode(data, "int"))
                flt = _psnr(source, _decode(data, "float"))
                results[label] = (islow, len(data))
                cells.append(f"{islow:6.2f} / {flt:6.2f} {len(data):9d}")
            ours, theirs = results["ours"], results["Pillow"]
            print(f"| {name} | {quality} | " + " | ".join(cells)
                  + f" | {ours[0] - theirs[0]:+.2f} | {ours[1] / theirs[1]:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
