"""Cost of ``refine=1`` on small images: whole saves, refine=1 against refine=0, by size in blocks.

With ``--compare libjpeg``: the cost of the default's choice of libjpeg-turbo's coefficients
where they decode closer (``options.auto_libjpeg``: images of up to 32 blocks, 48 for RGB
4:4:4; raise ``options.LIBJPEG_AUTO_BLOCKS_PLANES`` and ``LIBJPEG_AUTO_BLOCKS`` to measure beyond),
the default's saves with it against the same without it.

With ``--compare search``: the cost of the default's search alone (``options.auto_refine``),
the default's saves against the same with ``auto_refine`` giving 0: everything else the
default does on small images (libjpeg's coefficients where they decode closer, the choice on
marked MCUs) is in both. ``--compare refine`` (the default) sets ``refine`` 0 and 1, and
refine=0 turns those other choices off as well: its ratio is that of everything the default
does on small images beyond a plain save.

The ``refine`` option's automatic default (``options.auto_refine``: at most
``REFINE_AUTO_BLOCKS_PLANES`` 8x8 blocks for grey, ``REFINE_AUTO_BLOCKS`` for RGB 4:4:4,
``REFINE_AUTO_BLOCKS_SUBSAMPLED`` for RGB 4:2:2 and 4:2:0) turns one sweep of the
decoder-aware quantization on for small images, where a save's fixed costs (options,
markers, Python calls) dominate and the search's per-block cost stays within issue 15's
1.25x. This script measures
it: for each image size, mode (L; RGB 4:4:4, 4:2:2, 4:2:0), quality and content
(uniform noise, a crop of scikit-image's ``astronaut``: the contents that make the
search work hardest), the process CPU time of a batch of saves with refine=0 and
with refine=1, interleaved (one batch of each per round, their order alternating),
one worker; it prints the median of the rounds' paired ratios (refine=1 / refine=0)
per size, and the largest ratio over the settings.

Blocks: the 8x8 blocks of all components that the encoder codes, partial MCUs
padded (MCUs x blocks per MCU): what the search visits.

    python benchmarks/bench_refine_small.py [--api save|encode] [--modes L,444,422,420]
        [--qualities 100,95,90,75,50] [--contents noise,photo] [--sizes 8,16,24,32,48,64]
        [--rounds 9] [--batch-ms 10] [--compare refine|libjpeg|search] [--one-strip-a-call]

``--api encode`` times ``pillow_streamjpeg.encode`` of a numpy array instead of
``Image.save``. Run it with the machine otherwise idle; every run prints the CPU model.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time

import numpy as np
from PIL import Image

import pillow_streamjpeg
from pillow_streamjpeg import engine, options, strips

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_encode import cpu_model  # noqa: E402

#: mode label: (PIL mode, subsampling)
MODES = {"L": ("L", 0), "444": ("RGB", 0), "422": ("RGB", 1), "420": ("RGB", 2)}


def blocks(mode: str, width: int, height: int) -> int:
    """The 8x8 blocks of all components the encoder codes for this size: what
    ``options.auto_refine`` counts (``options.coded_blocks``)."""
    pil_mode, subsampling = MODES[mode]
    settings = options.parse(pil_mode, (width, height), {"subsampling": subsampling})
    return options.coded_blocks(width, height, settings.components)


def content(kind: str, mode: str, width: int, height: int) -> np.ndarray:
    """Uniform noise or a crop of ``astronaut`` (its detailed upper left: hair, face edge)."""
    channels = 1 if MODES[mode][0] == "L" else 3
    if kind == "noise":
        rng = np.random.default_rng(width * 1000 + height)
        array = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    else:
        from skimage import data

        array = data.astronaut()[40:40 + height, 120:120 + width]
        if channels == 1:
            array = np.asarray(Image.fromarray(array).convert("L"))[..., None]
    return array[..., 0] if channels == 1 else array


_AUTO_LIBJPEG = options.auto_libjpeg


_AUTO_REFINE = options.auto_refine


def _off(*args, **kwargs) -> int:
    """``options.auto_libjpeg`` or ``auto_refine`` that turns its choice off."""
    return 0


def _saver(api: str, array: np.ndarray, mode: str, quality: int, compare: str = "refine"):
    """A save of the array: ``run(0)`` and ``run(1)`` are refine=0 and refine=1, or with
    ``compare`` "libjpeg", the default without and with ``Settings.libjpeg_choice``, with
    "search" the default without and with its search (``options.auto_refine``)."""
    subsampling = MODES[mode][1]
    params = dict(quality=quality, workers=1)
    if MODES[mode][0] == "RGB":
        params["subsampling"] = subsampling

    def options_of(variant: int) -> dict:
        if compare == "refine":
            return {"refine": variant, **params}
        if compare == "search":
            options.auto_refine = _AUTO_REFINE if variant else _off
        else:
            options.auto_libjpeg = _AUTO_LIBJPEG if variant else _off
        return params

    if api == "save":
        image = Image.fromarray(array)

        def run(variant: int) -> None:
            image.save(io.BytesIO(), format="STREAMJPEG", **options_of(variant))
    else:
        def run(variant: int) -> None:
            pillow_streamjpeg.encode(array, io.BytesIO(), **options_of(variant))
    return run


def _batch(run, refine: int, count: int) -> float:
    start = time.process_time()
    for _ in range(count):
        run(refine)
    return (time.process_time() - start) / count


def measure(run, rounds: int, batch_ms: float) -> tuple[float, float, float]:
    """Median CPU seconds a save with refine=0, with refine=1, and the median paired ratio."""
    run(0), run(1)  # warm-up
    single = _batch(run, 1, 5)
    count = max(5, int(batch_ms / 1000 / max(single, 1e-6)))
    t0, t1, ratios = [], [], []
    for r in range(rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        got = {refine: _batch(run, refine, count) for refine in order}
        t0.append(got[0])
        t1.append(got[1])
        ratios.append(got[1] / got[0])
    return statistics.median(t0), statistics.median(t1), statistics.median(ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", choices=("save", "encode"), default="save")
    parser.add_argument("--modes", default="L,444,422,420")
    parser.add_argument("--qualities", default="100,95,90,75,50")
    parser.add_argument("--contents", default="noise,photo")
    parser.add_argument("--sizes", default="8,16,24,32,48,64",
                        help="square sides in pixels, or WxH")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch-ms", type=float, default=10.0, help="CPU time of a batch")
    parser.add_argument("--compare", choices=("refine", "libjpeg", "search"), default="refine",
                        help="refine=0 against refine=1 (default), or the default without "
                             "and with the choice of libjpeg's coefficients, or without and "
                             "with its search")
    parser.add_argument("--one-strip-a-call", action="store_true",
                        help="the two-step path a strip at a time (strips.side_by_side patched "
                             "to 1), to compare with strips side by side")
    args = parser.parse_args()
    if args.one_strip_a_call:
        strips.side_by_side = lambda settings, most: 1
    modes = args.modes.split(",")
    for mode in modes:
        if mode not in MODES:
            parser.error(f"--modes {mode!r}: allowed {', '.join(MODES)}")
    qualities = [int(q) for q in args.qualities.split(",")]
    contents = args.contents.split(",")
    sizes = [tuple(int(v) for v in s.split("x")) if "x" in s else (int(s), int(s))
             for s in args.sizes.split(",")]

    print(f"CPU: {cpu_model()}; kernels {engine.name}; Python {platform.python_version()}")
    what = {"refine": "refine=0 and 1",
            "libjpeg": "the default without (0) and with (1) libjpeg's coefficients where closer",
            "search": "the default without (0) and with (1) its search"}[args.compare]
    print(f"{'Image.save' if args.api == 'save' else 'pillow_streamjpeg.encode(array)'}, "
          f"workers=1, process CPU time; median of {args.rounds} rounds of batches of "
          f"~{args.batch_ms:g} ms, {what} interleaved; ratio: median of paired ratios")
    print("| mode | size | blocks | content | q | 0: ms | 1: ms | 1 / 0 |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    worst: dict[tuple[str, int], float] = {}
    for mode in modes:
        for width, height in sizes:
            n = blocks(mode, width, height)
            for kind in contents:
                array = content(kind, mode, width, height)
                for quality in qualities:
                    t0, t1, ratio = measure(_saver(args.api, array, mode, quality, args.compare),
                                            args.rounds, args.batch_ms)
                    worst[mode, n] = max(worst.get((mode, n), 0.0), ratio)
                    print(f"| {mode} | {width}x{height} | {n} | {kind} | {quality} | "
                          f"{t0 * 1e3:.3f} | {t1 * 1e3:.3f} | {ratio:.3f} |", flush=True)
    print()
    print("Largest ratio over contents and qualities, by size in blocks:")
    print("| mode | blocks | max 1 / 0 |")
    print("|---|---:|---:|")
    for (mode, n), ratio in sorted(worst.items(), key=lambda item: (item[0][1], item[0][0])):
        print(f"| {mode} | {n} | {ratio:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
