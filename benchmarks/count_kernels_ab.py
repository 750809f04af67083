"""Two builds of the kernels against each other in instructions (callgrind), per save.

Wall-clock ratios on a shared machine drift by more than most kernel changes
gain or cost (``bench_kernels_ab.py``: the same two builds gave 1.06x and
1.15x half an hour apart, docs/fidelity.md, "Clamp marks on every build").
Instruction counts do not drift. This runs, under valgrind's callgrind, a
process that makes ``--saves`` saves of a crop of the mosaic of
``bench_encode.py`` with each build swapped into ``pillow_streamjpeg.engine``,
and one that makes none, and prints each build's instructions per save (the
difference over the number of saves: imports and setup cancel out) and B / A.

valgrind does not run AVX-512 code: on such CPUs compare x86-64-v3 (or
baseline) builds, and run the installed package with
``PILLOW_STREAMJPEG_KERNELS=x86-64-v3``.

    python benchmarks/count_kernels_ab.py A.so B.so [--quality 90] [--subsampling 2]
        [--mode RGB|L] [--content mosaic|page] [--saves 3] [--width 1248] [--height 1000]

``--content page`` crops ``bench_encode.py``'s page (the mosaic with every other tile white)
instead, across the edge of its first white tile: half astronaut, half white.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def child(args: argparse.Namespace) -> None:
    """The process callgrind counts: ``args.saves`` saves with the kernels of ``args.a``."""
    import numpy as np
    from PIL import Image

    import pillow_streamjpeg  # noqa: F401 (registers STREAMJPEG)
    from bench_encode import CONTENT
    from bench_kernels_ab import load
    from pillow_streamjpeg import engine, strips

    kernels = load(args.a)
    engine.kernels = strips.engine.kernels = kernels
    x0 = 1250 - args.width // 2 if args.content == "page" else 0
    pixels = np.asarray(CONTENT[args.content](6.25))[:args.height, x0:x0 + args.width]
    image = Image.fromarray(np.ascontiguousarray(pixels))
    if args.mode == "L":
        image = image.convert("L")
    options = {"quality": args.quality, "workers": 1}
    if args.mode == "RGB":
        options["subsampling"] = args.subsampling
    for _ in range(args.saves):
        image.save(io.BytesIO(), format="STREAMJPEG", **options)


def instructions(module: str, saves: int, args: argparse.Namespace, folder: Path) -> int:
    """The instructions callgrind counts in a child process making ``saves`` saves."""
    out = folder / f"callgrind.{saves}.out"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
               os.path.abspath(__file__), module, module, "--child", "--saves", str(saves),
               "--quality", str(args.quality), "--subsampling", str(args.subsampling),
               "--mode", args.mode, "--content", args.content, "--width", str(args.width), "--height", str(args.height)]
    env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1")
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    if run.returncode != 0:
        if run.returncode in (-4, 132) or "SIGILL" in run.stderr:
            why = ("an illegal instruction (AVX-512 code, which valgrind does not run: "
                   "compare x86-64-v3 builds)")
        else:
            why = f"code {run.returncode}: " + " | ".join(run.stderr.strip().splitlines()[-3:])
        sys.exit(f"count_kernels_ab: valgrind on {module} failed with {why}")
    totals = re.search(r"^(?:totals|summary): (\d+)", out.read_text(), re.MULTILINE)
    return int(totals.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="kernels A: path of the built module, or 'installed'")
    parser.add_argument("b", help="kernels B: path of the built module, or 'installed'")
    parser.add_argument("--quality", type=int, default=90)
    parser.add_argument("--subsampling", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument("--mode", choices=("RGB", "L"), default="RGB")
    parser.add_argument("--content", choices=("mosaic", "page"), default="mosaic",
                        help="the mosaic of photos (default), or the page: every other tile white")
    parser.add_argument("--saves", type=int, default=3, help="saves counted (default 3)")
    parser.add_argument("--width", type=int, default=1248, help="crop of the mosaic")
    parser.add_argument("--height", type=int, default=1000, help="crop of the mosaic")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if shutil.which("valgrind") is None:
        sys.exit("count_kernels_ab: valgrind not found (Debian: apt-get install valgrind)")
    if args.saves < 1:
        sys.exit(f"count_kernels_ab: --saves {args.saves}: at least 1")
    from bench_encode import cpu_model

    print(f"CPU: {cpu_model()}")
    counts = []
    with tempfile.TemporaryDirectory() as folder:
        for module in (args.a, args.b):
            base = instructions(module, 0, args, Path(folder))
            total = instructions(module, args.saves, args, Path(folder))
            counts.append((total - base) / args.saves)
    setting = f"q{args.quality}"
    if args.mode == "RGB":
        setting += f" subsampling {args.subsampling}"
    print(f"{args.mode} {args.content} {args.width} x {args.height} {setting}, {args.saves} saves, one worker: "
          f"A {counts[0] / 1e6:.2f} M, B {counts[1] / 1e6:.2f} M instructions a save; "
          f"B / A {counts[1] / counts[0]:.4f}")


if __name__ == "__main__":
    main()
