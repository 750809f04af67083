"""Small saves (64 x 64 grey and RGB, 256 x 256 RGB, q95 4:4:4, one worker) with a save's
setup kept for the next save (the default) and made afresh each save, and Pillow's, in
interleaved rounds: medians of the process CPU time a save over ``--rounds`` rounds.

"Afresh": ``options.parse`` parses every save (``options._parse``), the header, frame and
code tables are built every save (``options.derived`` bypassed), and neither the thread's
kernel buffers (``strips.IDLE_SCRATCH_BYTES``) nor its rows buffer
(``sources.pillow.KEPT_ROWS_BYTES``) are left for the next save (docs/performance.md,
"A save's setup kept for the next save").

``--optimize``: the same saves with ``optimize=True`` (both encoders), where each save also
counts its symbols and builds its own Huffman tables.

    python benchmarks/bench_small_saves.py [--rounds 11] [--optimize]
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

import pillow_streamjpeg  # noqa: F401  (registers STREAMJPEG)
from pillow_streamjpeg import options, scan, strips
from pillow_streamjpeg.sources import pillow as pillow_source

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_encode import cpu_model  # noqa: E402

KEPT = (options.parse, options.derived, strips.IDLE_SCRATCH_BYTES, pillow_source.KEPT_ROWS_BYTES)


def _parse_afresh(mode, size, info, image=None, *, channels=None):
    return options._parse(mode, size, info, image, channels)


def _derive_afresh(settings, name, build):
    return build(settings)


def setup_kept(kept: bool) -> None:
    """The default (kept) or every save's setup made afresh."""
    parse, derived, scratch_bytes, rows_bytes = KEPT
    options.parse = parse if kept else _parse_afresh
    options.derived = strips.derived = scan.derived = derived if kept else _derive_afresh
    strips.IDLE_SCRATCH_BYTES = scratch_bytes if kept else -1
    pillow_source.KEPT_ROWS_BYTES = rows_bytes if kept else -1
    strips._idle.__dict__.clear()
    pillow_source._rows_kept.__dict__.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--optimize", action="store_true", help="save with optimize=True")
    args = parser.parse_args()
    if args.optimize:
        # Pillow sizes its buffer for optimize at 2 bytes a pixel at q95 (JpegImagePlugin),
        # short of an RGB noise file: "Suspension not allowed here" without a larger block
        ImageFile.MAXBLOCK = max(ImageFile.MAXBLOCK, 1 << 22)
    rng = np.random.default_rng(0)
    print(f"CPU: {cpu_model()}; one worker, q95 4:4:4{', optimize' if args.optimize else ''}, "
          f"process CPU us a save, median of {args.rounds} interleaved rounds")
    print("| image | kept (default) | afresh | kept / afresh | Pillow | Pillow / kept |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode, shape in (("L", (64, 64)), ("RGB", (64, 64, 3)), ("RGB", (256, 256, 3))):
        image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
        n = 200 if shape[0] == 64 else 100
        times: dict[str, list[float]] = {"kept": [], "afresh": [], "pillow": []}
        for _ in range(args.rounds):
            for name in times:
                setup_kept(name != "afresh")
                fmt, extra = ("JPEG", {}) if name == "pillow" else ("STREAMJPEG", {"workers": 1})
                start = time.process_time()
                for _ in range(n):
                    image.save(io.BytesIO(), format=fmt, quality=95, subsampling=0,
                               optimize=args.optimize, **extra)
                times[name].append((time.process_time() - start) / n * 1e6)
        setup_kept(True)
        m = {k: statistics.median(v) for k, v in times.items()}
        print(f"| {mode} {shape[1]}x{shape[0]} | {m['kept']:.0f} | {m['afresh']:.0f} | "
              f"{m['kept'] / m['afresh']:.3f}x | {m['pillow']:.0f} | {m['pillow'] / m['kept']:.2f}x |")


if __name__ == "__main__":
    main()
