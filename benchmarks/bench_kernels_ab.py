"""Two builds of the kernels against each other, in one process, as paired ratios.

Wall times on a shared machine drift by 10 to 20 % within minutes, more than
most kernel changes gain. This runs the same save (one worker, the 25 MP
mosaic of ``bench_encode.py``) with two kernel modules swapped into
``pillow_streamjpeg.engine`` in turn, alternating which goes first, and prints
the median of the per-round ratios B / A with its quartiles: a drift that
lasts longer than one round affects both alike.

The modules are extension modules built from ``transpiled/kernels.py`` (for
example with ``python -m pythran.run`` and the flags of meson.build), named by
their file path; ``installed`` is the package's own build.

    python benchmarks/bench_kernels_ab.py A.so B.so [--quality 100] [--subsampling 0]
        [--mode RGB|L] [--rounds 21]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

import pillow_streamjpeg  # noqa: F401 (registers STREAMJPEG)
from pillow_streamjpeg import engine, strips

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_encode import cpu_model, mosaic  # noqa: E402


def load(path: str) -> ModuleType:
    """An extension module built from transpiled/kernels.py, by file path ("installed": the package's)."""
    if path == "installed":
        return engine.kernels
    name = Path(path).name.split(".")[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="kernels A: path of the built module, or 'installed'")
    parser.add_argument("b", help="kernels B: path of the built module, or 'installed'")
    parser.add_argument("--quality", type=int, default=100)
    parser.add_argument("--subsampling", type=int, default=0, choices=(0, 1, 2))
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--megapixels", type=float, default=25.0)
    parser.add_argument("--mode", choices=("RGB", "L"), default="RGB",
                        help="the mosaic in colour (default) or greyscale")
    args = parser.parse_args()
    a, b = load(args.a), load(args.b)
    image = mosaic(args.megapixels)
    if args.mode == "L":
        image = image.convert("L")
    print(f"CPU: {cpu_model()}")

    def run(kernels: ModuleType) -> float:
        engine.kernels = strips.engine.kernels = kernels
        start = time.perf_counter()
        image.save(io.BytesIO(), format="STREAMJPEG", quality=args.quality, workers=1,
                   **({"subsampling": args.subsampling} if args.mode == "RGB" else {}))
        return time.perf_counter() - start

    times_a, times_b = [], []
    for round_ in range(args.rounds):
        if round_ % 2:
            tb = run(b)
            ta = run(a)
        else:
            ta = run(a)
            tb = run(b)
        times_a.append(ta)
        times_b.append(tb)
    ratios = sorted(tb / ta for ta, tb in zip(times_a, times_b))
    quarter = len(ratios) // 4
    print(f"{args.mode} q{args.quality} subsampling {args.subsampling}, {args.rounds} rounds, "
          f"one worker: A {statistics.median(times_a):.3f} s, B {statistics.median(times_b):.3f} s; "
          f"B / A median {statistics.median(ratios):.3f}, quartiles {ratios[quarter]:.3f} "
          f"{ratios[-1 - quarter]:.3f}")


if __name__ == "__main__":
    main()
