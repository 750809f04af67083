"""Fidelity and size against Pillow's JPEG, and the effect of rounding YCbCr samples.

Prints, for scikit-image's colour photographs at several qualities (4:4:4): the
PSNR (decoded with djpeg, the strict libjpeg-turbo decoder) and size of
STREAMJPEG as it is (``default``), with float YCbCr samples forced
(``float``), with rounded samples forced (``rounded``), and of Pillow's JPEG.
The ``default`` column follows ``options.rounds_samples``.

    python benchmarks/bench_fidelity.py            (run from outside the source tree's parent
                                                    or with the package installed)
"""

from __future__ import annotations

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

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina"]
QUALITIES = [100, 95, 90, 75]


def _djpeg(data: bytes) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        src = os.path.join(folder, "in.jpg")
        dst = os.path.join(folder, "out.ppm")
        with open(src, "wb") as f:
            f.write(data)
        subprocess.run(["djpeg", "-outfile", dst, src], check=True)
        with Image.open(dst) as decoded:
            return np.asarray(decoded)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse)


def _ours(image: Image.Image, quality: int, round_samples: bool | None) -> bytes:
    source = sources.PillowSource(image)
    settings = pipeline.settings_for(source, {"quality": quality, "workers": 1})
    if round_samples is not None:
        settings = dataclasses.replace(settings, round_samples=round_samples)
    out = io.BytesIO()
    scan.write_jpeg(out, settings, scan.LocalBackend(source))
    return out.getvalue()


def main() -> int:
    from skimage import data

    print(f"pillow_streamjpeg {pillow_streamjpeg.__version__}, 4:4:4, PSNR in dB (djpeg), size in bytes")
    header = f"| photo | q | {'default':>16} | {'float':>16} | {'rounded':>16} | {'Pillow':>16} |"
    print(header)
    print("|---|---|---|---|---|---|")
    for name in PHOTOS:
        pixels = getattr(data, name)()[..., :3]
        image = Image.fromarray(pixels)
        image.load()
        for quality in QUALITIES:
            cells = []
            for variant in (None, False, True):
                encoded = _ours(image, quality, variant)
                cells.append(f"{_psnr(pixels, _djpeg(encoded)):6.2f} {len(encoded):9d}")
            theirs = io.BytesIO()
            image.save(theirs, format="JPEG", quality=quality, subsampling=0)
            cells.append(f"{_psnr(pixels, _djpeg(theirs.getvalue())):6.2f} {theirs.tell():9d}")
            print(f"| {name} | {quality} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
