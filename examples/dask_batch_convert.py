"""Convert many TIFFs to baseline JPEG on a Dask cluster: one task per file, with a progress bar.

    python examples/dask_batch_convert.py SCANS/ OUT/ [--scheduler tcp://HOST:8786]
        [--workers 4] [--quality 95] [--recursive]

Without ``--scheduler`` a LocalCluster of ``--workers`` processes is started on
this machine (loopback only). With a scheduler address, every worker must have
pillow_streamjpeg installed and see the same paths (a shared file system).

Each task runs ``pillow_streamjpeg.encode(tiff, jpeg)``: the TIFF is read band by
band, so memory stays bounded whatever its size, and the JPEG is written to a
temporary file renamed when complete, so a failed or killed task leaves no
partial output. Dask reruns the tasks of a worker that dies. A file that cannot
be converted is reported and skipped; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

SUFFIXES = {".tif", ".tiff", ".btf", ".svs"}


def tiffs(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in SUFFIXES)


def convert_one(source: str, target: str, options: dict) -> tuple[str, int, float, str | None]:
    """Runs on a worker: (source, bytes written, seconds, error or None)."""
    import pillow_streamjpeg

    start = time.perf_counter()
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        pillow_streamjpeg.encode(source, target, **options)
    except (OSError, ValueError, TypeError) as exc:  # bad input: report, keep going
        return source, 0, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
    return source, Path(target).stat().st_size, time.perf_counter() - start, None


def _progress_bar(total: int):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with the [tiff] extra
        return None
    return tqdm(total=total, unit="file", file=sys.stderr, dynamic_ncols=True)


def _say(bar, message: str) -> None:
    if bar is None:
        print(message, file=sys.stderr)
    else:
        bar.write(message, file=sys.stderr)


def convert_all(client, jobs: list[tuple[Path, Path]], options: dict) -> int:
    """Submit one task per file; report as they complete. Returns the number of failures."""
    from distributed import as_completed

    futures = {client.submit(convert_one, str(src), str(dst), options, pure=False): str(src)
               for src, dst in jobs}
    bar = _progress_bar(len(futures))
    failures = 0
    total_bytes = 0
    start = time.perf_counter()
    try:
        for done, future in enumerate(as_completed(futures), 1):
            try:
                source, size, seconds, error = future.result()
            except Exception as exc:  # the task itself failed (e.g. KilledWorker)
                source, error = futures[future], f"{type(exc).__name__}: {exc}"
            if error:
                failures += 1
                # a refusal names the file itself ("Damaged: PATH: damaged: ..."): once
                named = error.partition(": ")[2].startswith(source)
                _say(bar, f"FAILED {error}" if named else f"FAILED {source}: {error}")
            else:
                total_bytes += size
            if bar is not None:
                bar.update()
            else:
                print(f"{done}/{len(futures)} {source}", file=sys.stderr)
    finally:
        if bar is not None:
            bar.close()
        client.cancel([f for f in futures if not f.done()])
    seconds = time.perf_counter() - start
    print(f"{len(jobs) - failures} of {len(jobs)} files converted, "
          f"{total_bytes / 1e6:.1f} MB written in {seconds:.1f} s")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of TIFF files")
    parser.add_argument("target", type=Path, help="folder for the JPEGs")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler "
                        "(default: start a local cluster)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of the local cluster (default: one per core)")
    parser.add_argument("--threads", type=int, default=1,
                        help="encoder threads per file (default 1: files run in parallel)")
    parser.add_argument("--quality", type=int, default=95)
    parser.add_argument("--recursive", action="store_true", help="look into subfolders too")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"not a folder: {args.source}")
    jobs = [(path, args.target / path.relative_to(args.source).with_suffix(".jpg"))
            for path in tiffs(args.source, args.recursive)]
    if not jobs:
        print(f"no TIFF files in {args.source}", file=sys.stderr)
        return 0
    options = {"quality": args.quality, "workers": args.threads}

    from distributed import Client, LocalCluster

    if args.scheduler:
        with Client(args.scheduler) as client:
            return 1 if convert_all(client, jobs, options) else 0
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        print(f"local cluster: {len(cluster.workers)} workers, dashboard {client.dashboard_link}",
              file=sys.stderr)
        return 1 if convert_all(client, jobs, options) else 0


if __name__ == "__main__":
    raise SystemExit(main())
