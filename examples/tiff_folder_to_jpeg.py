"""Convert every TIFF of a folder to baseline JPEG, one after the other, in bounded memory.

    python examples/tiff_folder_to_jpeg.py SCANS/ [OUT/] [--quality 95] [--recursive]

Each TIFF is read band by band (see docs/tiff.md), so files larger than memory are
fine. A file that cannot be converted is reported and skipped; the exit status is
1 if any failed. Outputs are written to a temporary file and renamed when complete,
so an interrupted run leaves no partial JPEG.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pillow_streamjpeg

SUFFIXES = {".tif", ".tiff", ".btf", ".svs"}


def tiffs(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in SUFFIXES)


def convert_folder(source: Path, target: Path, recursive: bool = False, **options) -> int:
    """Convert the TIFFs of ``source`` into ``target``; returns the number of failures."""
    failures = 0
    for path in tiffs(source, recursive):
        out = target / path.relative_to(source).with_suffix(".jpg")
        out.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        try:
            pillow_streamjpeg.encode(path, out, **options)
        except pillow_streamjpeg.Refused as exc:  # names the file: "PATH: damaged: ..."
            failures += 1
            print(f"FAILED {exc}", file=sys.stderr)
            continue
        except (OSError, ValueError, TypeError) as exc:
            failures += 1
            print(f"FAILED {path}: {exc}", file=sys.stderr)
            continue
        seconds = time.perf_counter() - start
        print(f"{path} -> {out} ({out.stat().st_size / 1e6:.1f} MB, {seconds:.2f} s)")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of TIFF files")
    parser.add_argument("target", type=Path, nargs="?", help="folder for the JPEGs (default: source)")
    parser.add_argument("--quality", type=int, default=95)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--recursive", action="store_true", help="look into subfolders too")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"not a folder: {args.source}")
    target = args.target or args.source
    failures = convert_folder(args.source, target, args.recursive, quality=args.quality,
                              workers=args.workers)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
