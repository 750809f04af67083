"""STREAMJPEG against Pillow's JPEG writer on an in-memory photographic image.

Builds a 25-megapixel mosaic of scikit-image's photographs, then times each
configuration in interleaved rounds (every configuration once per round, so
machine noise spreads evenly) and prints a Markdown table of medians: MP/s,
the ratio to Pillow at the same settings, bytes and PSNR (decoded by Pillow).

    python benchmarks/bench_encode.py [--rounds 5] [--megapixels 25] [--kernels baseline] [--mode L]

``--mode L`` times the same mosaic converted to greyscale (Pillow's ``convert("L")``), at
qualities 100, 95, 90 and 75.

``--content page`` leaves every other tile of the mosaic white (255): half the image one
flat colour, as on a slide scanned around its tissue or a scanned page, where an encoder's
work per flat block shows.

``--content text`` is a page of black text on white, ``--content grey`` the mosaic in grey,
both in RGB: content whose chroma is 128 everywhere, as in documents and grey photos kept in
colour, where the default's colour choices have nothing to correct.

``--kernels baseline`` runs the portable x86-64 build of the kernels instead of the
one ``pillow_streamjpeg.engine`` picks for this CPU (x86-64-v4 or v3 where it can);
``--kernels x86-64-v3`` the AVX2 build on an AVX-512 CPU.

Run it from outside the repository root (or with the package installed), so
that ``import pillow_streamjpeg`` finds the compiled package.
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
from pillow_streamjpeg import engine
from pillow_streamjpeg.options import available_cpus

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")


def mosaic(megapixels: float) -> Image.Image:
    """Photos resized to 1250 x 1000 tiles, 5 per row, enough rows for the size asked."""
    from skimage import data

    tiles = [Image.fromarray(getattr(data, name)()[..., :3]).resize((1250, 1000), Image.LANCZOS)
             for name in PHOTOS]
    rows = max(1, round(megapixels * 1e6 / (5 * 1250 * 1000)))
    image = Image.new("RGB", (5 * 1250, rows * 1000))
    for i in range(5 * rows):
        image.paste(tiles[(i + i // 5) % 5], ((i % 5) * 1250, (i // 5) * 1000))
    image.load()
    return image


def page(megapixels: float) -> Image.Image:
    """The mosaic with every other tile left white, a checkerboard of photos and white."""
    image = mosaic(megapixels)
    white = Image.new("RGB", (1250, 1000), (255, 255, 255))
    for i in range(image.width // 1250 * (image.height // 1000)):
        if (i % 5 + i // 5) % 2:
            image.paste(white, ((i % 5) * 1250, (i // 5) * 1000))
    return image


def text(megapixels: float) -> Image.Image:
    """A page of black text on white in RGB, 5000 pixels wide: lines of words drawn with
    Pillow's default font at 28 pixels, 35 apart (a document rendered or scanned in colour,
    every pixel grey)."""
    from PIL import ImageDraw, ImageFont

    width = 5000
    height = max(1000, round(megapixels * 1e6 / width))
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    words = ("the quick brown fox jumps over a lazy dog while five boxing wizards "
             "pack my box with liquor jugs").split()
    rng = np.random.default_rng(0)
    for y in range(100, height - 100, 35):
        draw.text((150, y), " ".join(rng.choice(words, 40)), fill=(0, 0, 0), font=font)
    return image


def grey(megapixels: float) -> Image.Image:
    """The mosaic converted to greyscale and back to RGB: grey photos stored in colour."""
    return mosaic(megapixels).convert("L").convert("RGB")


#: The content of ``--content``: the mosaic of photos, the same with half its tiles white,
#: a page of text, or the mosaic in grey.
CONTENT = {"mosaic": mosaic, "page": page, "text": text, "grey": grey}


def grey_photos(height: int = 1024, width: int = 1024) -> np.ndarray:
    """scikit-image's grey photos camera, moon, brick and grass, 512 x 512 each, side by side
    (camera and moon above brick and grass), tiled over ``height`` x ``width`` and cut to it:
    the grey content of bench_marked, bench_refine, bench_smooth and bench_workers."""
    from skimage import data

    tile = np.block([[data.camera(), data.moon()], [data.brick(), data.grass()]])
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]))
    return np.ascontiguousarray(np.tile(tile, reps)[:height, :width])


#: (settings label, Pillow's options) of every measured setting: our default (q100 4:4:4),
#: q90 with and without subsampling, and Pillow's default (q75 4:2:0).
SETTINGS = (
    ("q100 4:4:4", dict(quality=100, subsampling=0)),
    ("q90 4:4:4", dict(quality=90, subsampling=0)),
    ("q90 4:2:0", dict(quality=90, subsampling=2)),
    ("q75 4:2:0", dict(quality=75, subsampling=2)),
)

#: The same for greyscale (``--mode L``), where subsampling does not apply.
SETTINGS_L = (
    ("q100", dict(quality=100)),
    ("q95", dict(quality=95)),
    ("q90", dict(quality=90)),
    ("q75", dict(quality=75)),
)


def configurations(workers: int, mode: str = "RGB") -> list[tuple[str, str, str, dict]]:
    """(group, label, format, options); the first of each group is its anchor."""
    configs = []
    for group, options in SETTINGS_L if mode == "L" else SETTINGS:
        configs += [
            (group, "Pillow JPEG", "JPEG", dict(options)),
            (group, "STREAMJPEG, 1 worker", "STREAMJPEG", dict(options, workers=1)),
        ]
        if workers > 1:
            configs.append((group, f"STREAMJPEG, {workers} workers", "STREAMJPEG",
                            dict(options, workers=workers)))
    group = "q100 optimize" if mode == "L" else "q100 4:4:4 optimize"
    options = dict(quality=100, optimize=True) if mode == "L" else dict(
        quality=100, subsampling=0, optimize=True)
    configs += [
        (group, "Pillow JPEG optimize", "JPEG", dict(options)),
        (group, "STREAMJPEG optimize, 1 worker", "STREAMJPEG", dict(options, workers=1)),
    ]
    if workers > 1:
        configs.append((group, f"STREAMJPEG optimize, {workers} workers", "STREAMJPEG",
                        dict(options, workers=workers)))
    return configs


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it (platform.processor() is often empty),
    with its family and model numbers where the name alone does not tell the generation
    (a virtual machine's "AMD EPYC" is Zen 3 at family 25, Zen 5 at 26)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if not line.strip():
                    break  # the first processor's fields
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--megapixels", type=float, default=25)
    parser.add_argument("--workers", type=int, default=available_cpus(),
                        help="the 'all workers' count (default: the CPUs this process may use)")
    parser.add_argument("--kernels", choices=sorted(engine.builds()), default=engine.name,
                        help="the kernel build to run (default: the one picked for this CPU)")
    parser.add_argument("--mode", choices=("RGB", "L"), default="RGB",
                        help="the mosaic in colour (default) or greyscale")
    parser.add_argument("--content", choices=sorted(CONTENT), default="mosaic",
                        help="the mosaic of photos (default); 'page': every other tile white; "
                        "'text': a page of text; 'grey': the mosaic in grey (RGB)")
    args = parser.parse_args()
    engine.name, engine.kernels = args.kernels, engine.builds()[args.kernels]

    image = CONTENT[args.content](args.megapixels)
    if args.mode == "L":
        image = image.convert("L")
    megapixels = image.width * image.height / 1e6
    configs = configurations(args.workers, args.mode)
    times: dict[int, list[float]] = {i: [] for i in range(len(configs))}
    sizes: dict[int, int] = {}
    for _ in range(args.rounds):
        for i, (_, _, fmt, options) in enumerate(configs):
            out = io.BytesIO()
            start = time.perf_counter()
            image.save(out, format=fmt, **options)
            times[i].append(time.perf_counter() - start)
            sizes[i] = out.tell()
            if len(times[i]) == 1:
                configs[i][3]["_psnr"] = psnr(np.asarray(image),
                                              np.asarray(Image.open(out).convert(args.mode)))

    print(f"{image.width} x {image.height} {args.mode} {args.content} ({megapixels:.1f} MP), {args.rounds} interleaved "
          f"rounds, medians; {available_cpus()} CPUs, {cpu_model()}, "
          f"Python {platform.python_version()}, pillow_streamjpeg {pillow_streamjpeg.__version__} "
          f"({engine.name} kernels), Pillow {Image.__version__}")
    print()
    print("| settings | encoder | seconds | MP/s | vs Pillow | bytes | PSNR dB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    anchor = {}
    for i, (group, label, _, options) in enumerate(configs):
        median = statistics.median(times[i])
        anchor.setdefault(group, median)
        print(f"| {group} | {label} | {median:.3f} | {megapixels / median:.1f} | "
              f"{anchor[group] / median:.2f}x | {sizes[i]:,} | {options['_psnr']:.2f} |")
    if args.workers > 1:
        one = {group: statistics.median(times[i]) for i, (group, label, _, _) in enumerate(configs)
               if label.endswith("1 worker")}
        scaling = [f"{group} {one[group] / statistics.median(times[i]):.2f}x"
                   for i, (group, label, _, _) in enumerate(configs)
                   if label.endswith(f"{args.workers} workers")]
        print(f"\n{args.workers} workers over 1 worker: " + ", ".join(scaling))
    return 0


if __name__ == "__main__":
    sys.exit(main())
