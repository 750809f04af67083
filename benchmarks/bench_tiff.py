"""TIFF to JPEG end to end: streamjpeg against libvips and tifffile.imread + Pillow.

Generates, band by band, a striped uncompressed RGB TIFF (default 40000 x 30000,
1.2 gigapixels, 3.6 GB on disk) and a tiled deflate RGB TIFF (default 12000 x
9000, 108 MP), then converts each at quality 100 without chroma subsampling:

* ``streamjpeg IN OUT --quality 100 --quiet`` (this package's command line);
* ``vips jpegsave IN OUT --Q 100 --subsample-mode off`` (Debian libvips-tools);
* ``tifffile.imread`` then Pillow ``save(quality=100, subsampling=0)``.

Each run is its own subprocess; its peak RSS comes from GNU time (``/usr/bin/time
-f %M``, Debian package ``time``), its wall time from the parent's clock. The methods
take turns, ``--rounds`` times (tifffile.imread + Pillow once: it is far behind); the
table gives the medians and their ratios to libvips. Prints a Markdown table and, with
``--write-docs``, puts it in docs/tiff.md between markers.

    python benchmarks/bench_tiff.py [--dir /tmp/bench] [--rounds 3] [--small] [--skip-pillow-big] [--write-docs]

Run it from outside the repository root (or with the package installed) so that
``import pillow_streamjpeg`` finds the compiled build.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_encode import cpu_model  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "tiff.md"
BEGIN, END = "<!-- bench_tiff begin -->", "<!-- bench_tiff end -->"

PILLOW = """
import sys, tifffile
from PIL import Image
Image.MAX_IMAGE_PIXELS = None
Image.fromarray(tifffile.imread(sys.argv[1])).save(sys.argv[2], quality=100, subsampling=0)
"""


def texture(rows: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like block: smooth colour ramps, edges and fine noise."""
    rng = np.random.default_rng(seed)
    x = np.arange(width, dtype=np.float32)
    y = np.arange(rows, dtype=np.float32)[:, None]
    red = 128 + 80 * np.sin(x / 700.0) * np.cos(y / 90.0)
    green = 120 + 70 * np.cos(x / 1300.0 + y / 50.0)
    blue = 110 + 60 * np.sin((x[None, :] + 3 * y) / 400.0)
    rgb = np.stack(np.broadcast_arrays(red, green, blue), -1)
    rgb += rng.normal(0, 4.0, rgb.shape).astype(np.float32)
    rgb += 25 * ((x.astype(np.int64) // 97 + (y.astype(np.int64) // 61)) % 2)[..., None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


def bands(width: int, height: int, rows: int):
    block = texture(rows, width)
    for index, top in enumerate(range(0, height, rows)):
        shift = (index * 37) % width
        band = np.roll(block, shift, axis=1)[: min(rows, height - top)]
        yield band


def make_striped(path: Path, width: int, height: int) -> None:
    import tifffile

    tifffile.imwrite(path, bands(width, height, 256), shape=(height, width, 3), dtype=np.uint8,
                     photometric="rgb", rowsperstrip=256, bigtiff=True)


def make_tiled(path: Path, width: int, height: int, tile: int = 256) -> None:
    import tifffile

    def tiles():
        for band in bands(width, height, tile):
            for left in range(0, width, tile):
                yield np.ascontiguousarray(band[:, left:left + tile])

    tifffile.imwrite(path, tiles(), shape=(height, width, 3), dtype=np.uint8, photometric="rgb",
                     tile=(tile, tile), compression="deflate", compressionargs={"level": 6},
                     maxworkers=2)


def warm_up(path: Path) -> None:
    """Read the file once, so that every method finds it in the page cache."""
    with open(path, "rb") as file:
        while file.read(64 << 20):
            pass


def measure(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command in a subprocess.

    Peak RSS is GNU time's ``%M``: a child forked (or vforked) from this big
    process would inherit this process's high-water mark in its own ru_maxrss,
    while /usr/bin/time is small.
    """
    report = cwd / "time.txt"
    start = time.perf_counter()
    run = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(report), *command], cwd=cwd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {run.stderr[-500:]}")
    return wall, int(report.read_text().split()[-1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/streamjpeg-bench", help="where the TIFFs go")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each method, taking turns")
    parser.add_argument("--small", action="store_true", help="small files, a quick check of the script")
    parser.add_argument("--skip-pillow-big", action="store_true",
                        help="no tifffile.imread + Pillow on the big file (it needs about 8 GB)")
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/tiff.md")
    parser.add_argument("--keep", action="store_true", help="keep the generated TIFFs")
    parser.add_argument("--only", choices=("striped", "tiled"), help="one of the two files")
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {"striped": (4000, 3000), "tiled": (3000, 2000)} if args.small else {
        "striped": (40000, 30000), "tiled": (12000, 9000)}
    if args.only:
        sizes = {args.only: sizes[args.only]}
    files = {}
    for kind, (width, height) in sizes.items():
        path = folder / f"{kind}_{width}x{height}.tif"
        if not path.exists():
            t0 = time.perf_counter()
            (make_striped if kind == "striped" else make_tiled)(path, width, height)
            print(f"generated {path} ({path.stat().st_size / 1e9:.2f} GB) in "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
        files[kind] = (path, width, height)

    methods = {
        "streamjpeg (this package)": lambda i, o: [sys.executable, "-m", "pillow_streamjpeg", i, o,
                                                   "--quality", "100", "--quiet"],
        "vips jpegsave": lambda i, o: ["vips", "jpegsave", i, o, "--Q", "100",
                                       "--subsample-mode", "off"],
        "tifffile.imread + Pillow": lambda i, o: [sys.executable, "-c", PILLOW, i, o],
    }
    if shutil.which("vips") is None:
        print("vips not found (Debian: libvips-tools): skipped", file=sys.stderr)
        del methods["vips jpegsave"]
    rows = []
    for kind, (path, width, height) in files.items():
        label = f"{kind} {'uncompressed' if kind == 'striped' else 'deflate'} {width} x {height} ({width * height / 1e6:.0f} MP)"
        runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in methods}
        warm_up(path)
        for round_ in range(max(1, args.rounds)):
            for name, command in methods.items():
                if name.startswith("tifffile") and (round_ or (kind == "striped" and args.skip_pillow_big)):
                    continue
                out = folder / "out.jpg"
                subprocess.run(["sync"], check=False)
                wall, rss = measure(command(str(path), str(out)), folder)
                runs[name].append((wall, rss, out.stat().st_size))
                out.unlink()
                print(f"{label:48} {name:28} {wall:8.2f} s {rss:8.0f} MiB", file=sys.stderr)
        medians = {name: (statistics.median(r[0] for r in got), statistics.median(r[1] for r in got),
                          got[0][2], len(got)) for name, got in runs.items() if got}
        anchor = medians.get("vips jpegsave")
        for name, (wall, rss, size, count) in medians.items():
            ratio = f"{wall / anchor[0]:.2f}x / {rss / anchor[1]:.2f}x" if anchor else "-"
            rows.append((label, name, wall, rss, size, count, ratio))
    table = ["| file | method | wall s | peak RSS MiB | vs libvips (time / memory) | JPEG MB | runs |",
             "|---|---|---|---|---|---|---|"]
    table += [f"| {label} | {name} | {wall:.2f} | {rss:.0f} | {ratio} | {size / 1e6:.1f} | {count} |"
              for label, name, wall, rss, size, count, ratio in rows]
    conditions = (f"{os.cpu_count()} CPUs, {cpu_model()}, {platform.python_implementation()} "
                  f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; quality 100, 4:4:4; "
                  "page cache warm (the file is read once before the runs); medians of the runs")
    text = "\n".join(table) + f"\n\nConditions: {conditions}.\n"
    print(text)
    if args.write_docs and not args.small:
        docs = DOCS.read_text()
        if BEGIN in docs and END in docs:
            head, rest = docs.split(BEGIN, 1)
            docs = head + BEGIN + "\n" + text + END + rest.split(END, 1)[1]
            DOCS.write_text(docs)
    if not args.keep:
        for path, _, _ in files.values():
            path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
