"""Where the ``refine`` search's gain lies, block by block: could a screen of blocks buy issue 15's 3x?

The search costs about the same on every block it visits (docs/fidelity.md, "Trials without
stored changes"), so searching only some blocks would cut its cost in proportion. This
measures what such a screen would keep. For scikit-image's photos (grey: each 8 x 8 block;
colour at 4:4:4: each MCU, whose decoded RGB pixels depend on its own three blocks only),
saved with ``refine=0`` and ``refine=1`` and decoded by Pillow (libjpeg-turbo's integer
IDCT), it takes each block's reduction of the squared error and prints the share of the
whole reduction that the best p % of the blocks hold, ranked by:

- ``error``: the block's error before the search, which the search knows only after
  decoding the block (most of its fixed cost): the best a screen could do;
- ``coefs``: the block's count of non-zero quantized coefficients (``refine=0``'s), which
  the kernels could count before any search (for colour, the MCU's three blocks).

A screen that searched a fraction p of the blocks would cost about p times the search and
keep at most the ``error`` row's share of its gain.

    python benchmarks/bench_refine_blocks.py [--photos camera,astronaut] [--qualities 100,95,90]
"""

from __future__ import annotations

import argparse
import io
import os
import sys

import numpy as np
from PIL import Image

import pillow_streamjpeg  # noqa: F401  (registers STREAMJPEG)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_fidelity import COLOUR, GREY, _images  # noqa: E402

SHARES = (0.1, 0.25, 0.4, 0.5, 0.75)


def _blocks(pixels: np.ndarray) -> np.ndarray:
    """The whole 8 x 8 blocks of an (h, w) or (h, w, c) array, as (n, 8, 8, c)."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    h, w, c = pixels.shape[0] // 8 * 8, pixels.shape[1] // 8 * 8, pixels.shape[2]
    cut = pixels[:h, :w].reshape(h // 8, 8, w // 8, 8, c)
    return cut.swapaxes(1, 2).reshape(-1, 8, 8, c)


def _save(image: Image.Image, quality: int, refine: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="STREAMJPEG", quality=quality, subsampling=0, refine=refine,
               workers=1)
    return out.getvalue()


def _nonzero(image: Image.Image, data: bytes, blocks: int) -> np.ndarray:
    """Each block's (each MCU's) count of non-zero coefficients: the source's DCT (Pillow's
    YCbCr for colour) quantized with the file's tables, about what the encoder wrote."""
    from scipy.fft import dctn
    tables = Image.open(io.BytesIO(data)).quantization
    planes = _blocks(np.asarray(image.convert("YCbCr") if image.mode == "RGB" else image,
                                dtype=float)) - 128.0
    # Pillow gives the file's tables in natural (row-major) order
    natural = [np.asarray(tables[t], dtype=float).reshape(8, 8) for t in sorted(tables)]
    count = np.zeros(blocks, dtype=np.int64)
    for c in range(planes.shape[3]):
        coefs = dctn(planes[..., c], axes=(1, 2), norm="ortho") / natural[min(c, len(natural) - 1)]
        count += (np.round(coefs) != 0).reshape(blocks, -1).sum(axis=1)
    return count


def rows(name: str, image: Image.Image, quality: int) -> list[str]:
    source = np.asarray(image, dtype=np.int64)
    before_file, after_file = _save(image, quality, 0), _save(image, quality, 1)
    before = np.asarray(Image.open(io.BytesIO(before_file)), dtype=np.int64)
    after = np.asarray(Image.open(io.BytesIO(after_file)), dtype=np.int64)
    src = _blocks(source)
    error = ((_blocks(before) - src) ** 2).sum(axis=(1, 2, 3))
    gain = error - ((_blocks(after) - src) ** 2).sum(axis=(1, 2, 3))
    total = gain.sum()
    n = len(gain)
    out = []
    for label, key in (("error", error), ("coefs", _nonzero(image, before_file, n))):
        held = np.cumsum(gain[np.argsort(-key, kind="stable")]) / total
        cells = " | ".join(f"{held[max(int(p * n), 1) - 1]:.2f}" for p in SHARES)
        out.append(f"| {name} | {quality} | {n} | {np.mean(gain > 0):.2f} | {label} | {cells} |")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default=",".join(GREY + COLOUR[:3]))
    parser.add_argument("--qualities", default="100,95,90")
    args = parser.parse_args()
    qualities = [int(q) for q in args.qualities.split(",")]
    print("Share of refine=1's error reduction held by the best p % of the blocks (grey) or "
          "MCUs (colour, 4:4:4), decoded by Pillow (libjpeg-turbo, islow)")
    print("| image | q | blocks | gaining | ranked by | "
          + " | ".join(f"{int(p * 100)} %" for p in SHARES) + " |")
    print("|---|---:|---:|---:|---|" + "---:|" * len(SHARES))
    for name, image in _images(args.photos.split(",")):
        for quality in qualities:
            for line in rows(name, image, quality):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
