"""Scaling of the Dask encoder from 1 to 2 worker processes, against the local encoder.

Encodes a photo-like RGB image (``cli.demo_image``, 6000 x 4200 = 25.2 MP by
default) at quality 100 and 4:4:4:

- locally (``pillow_streamjpeg.encode`` of the numpy array) with 1 and 2 threads;
- as Dask tasks on a LocalCluster of 1 and 2 single-threaded worker processes
  (loopback), the array's bands scattered over the workers first, as when
  workers read their own bands from storage; bands of several sizes.

Every Dask output is checked byte for byte against the local one. Prints a
Markdown table (best of ``--repeat`` runs).

    python benchmarks/bench_dask.py [--width 6000] [--height 4200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import os
import time

import numpy as np

import pillow_streamjpeg
from pillow_streamjpeg import cli


def _best(repeat: int, run) -> tuple[float, bytes]:
    times = []
    data = b""
    for _ in range(repeat):
        out = io.BytesIO()
        start = time.perf_counter()
        run(out)
        times.append(time.perf_counter() - start)
        data = out.getvalue()
    return min(times), data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4200)
    parser.add_argument("--quality", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bands", default="1024,256,64", help="band heights in rows")
    args = parser.parse_args()

    import dask.array as da
    from distributed import Client, LocalCluster, wait

    image = np.ascontiguousarray(np.asarray(cli.demo_image(args.width, args.height)))
    megapixels = args.width * args.height / 1e6
    rows: list[tuple[str, str, int, float, int, float]] = []
    base = None
    for threads in (1, 2):
        seconds, expected = _best(args.repeat, lambda out: pillow_streamjpeg.encode(
            image, out, quality=args.quality, workers=threads))
        base = base or seconds
        rows.append(("local encoder", f"{threads} thread{'s' * (threads > 1)}", 0, seconds, 0, 0.0))
    print(f"# {args.width} x {args.height} = {megapixels:.1f} MP, quality {args.quality}, "
          f"{len(expected) / 1e6:.1f} MB JPEG, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)

    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            for band in (int(b) for b in args.bands.split(",")):
                # Chunks spread over the workers (scatter is round-robin), as when each
                # worker reads its own bands from storage: tasks run where their data is.
                parts = [image[top:top + band] for top in range(0, args.height, band)]
                futures = client.scatter(parts)
                wait(futures)
                source = da.concatenate([da.from_delayed(f, p.shape, np.uint8)
                                         for f, p in zip(futures, parts)])
                seconds, data = _best(args.repeat, lambda out: pillow_streamjpeg.encode(
                    source, out, quality=args.quality, band_rows=band))
                assert data == expected, "Dask output differs from the local encoder's"
                nbands = -(-args.height // band)
                rows.append(("Dask LocalCluster", f"{workers} process{'es' * (workers > 1)}",
                             band, seconds, nbands, len(data) / nbands))
                del source, futures

    print()
    print("| encoder | workers | band rows (tasks) | seconds | MP/s | speed-up vs local 1 thread "
          "| bytes returned per band |")
    print("|---|---|---|---|---|---|---|")
    for name, workers, band, seconds, nbands, per_band in rows:
        band_cell = f"{band} ({nbands})" if band else "-"
        per_band_cell = f"{per_band / 1e6:.2f} MB" if band else "-"
        print(f"| {name} | {workers} | {band_cell} | {seconds:.2f} | {megapixels / seconds:.0f} "
              f"| {base / seconds:.2f}x | {per_band_cell} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
