"""Cost and gain of smooth blocks' better of two roundings (docs/fidelity.md, "Smooth blocks in a module of their own").

Grey images (and others coded plane by plane) at quality 94 and above are saved by default
with each block whose samples span 1 or 2 levels, in groups of smooth content whose
patterns repeat, keeping the better of its coefficients and libjpeg's
(``Settings.smooth_levels``, transpiled/smooth.py). This compares the default with the same
save without it (at qualities where it is off, the two are the same save).

``--time``: process CPU time of one-worker saves, medians of ``--rounds`` interleaved
rounds, of scikit-image's grey photos camera, moon, brick and grass side by side twice
over (2048 x 2048), issue 15's 1024 x 768 ramp, a 3000 x 2000 ramp and a 2048 x 2048
vignette; the CPU and the ratios printed.

``--time --workers 2``: the same with two threads a save, wall time.

``--plan``: the plan alone (``smooth.smooth_plan``, docs/performance.md, "Smooth strips
planned from the cache of choices"), timed on the calls a save of each smooth image makes
(each with the cache of choices as that save left it), in ns a block of the image;
``--plan BUILD.so ...``: other builds of transpiled/smooth.py too (extension modules built
by hand, e.g. with other flags), in the same interleaved rounds, each build's plans checked
equal to the installed build's.

``--gain`` (the default): PSNR (decoded by ``djpeg``, islow, and ``djpeg -dct float``)
and size of scikit-image's grey photos and the two smooth images, with and without,
and Pillow's.

    python benchmarks/bench_smooth.py [--time [--workers 2] | --plan [BUILD.so ...]]
        [--rounds 15] [--qualities 100,95,90,75,50]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import io
import os
import statistics
import sys
import time

import numpy as np
from PIL import Image

import pillow_streamjpeg  # noqa: F401  (registers STREAMJPEG)
from pillow_streamjpeg import engine, pipeline, scan, sources, strips

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_encode import cpu_model, grey_photos  # noqa: E402
from bench_fidelity import GREY, _decode, _pillow, _psnr, ramp  # noqa: E402


def vignette(size: int) -> np.ndarray:
    """A grey disc darkening to its edge: 255 at the centre, 64 in the corners, rounded."""
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(x, y) / (size / np.sqrt(2))
    return np.round(255 - 191 * r**2).astype(np.uint8)


def _save(image: Image.Image, quality: int, smooth: bool, workers: int = 1) -> bytes:
    source = sources.PillowSource(image)
    settings = pipeline.settings_for(source, {"quality": quality, "workers": workers})
    if not smooth:
        settings = dataclasses.replace(settings, smooth_levels=0)
    out = io.BytesIO()
    scan.write_jpeg(out, settings, scan.LocalBackend(source))
    return out.getvalue()


def _smooth_images() -> list[tuple[str, Image.Image]]:
    return [("ramp 1024x768", Image.fromarray(ramp(1024, 768))),
            ("ramp 3000x2000", Image.fromarray(ramp(3000, 2000))),
            ("vignette 2048", Image.fromarray(vignette(2048)))]


def _images(timing: bool) -> list[tuple[str, Image.Image]]:
    from skimage import data

    smooth = _smooth_images()
    if timing:
        grey = grey_photos(2048, 2048)
        return [("grey photos 2048", Image.fromarray(grey)), *smooth]
    return [(name, Image.fromarray(getattr(data, name)())) for name in GREY] + smooth


def timing(qualities: list[int], rounds: int, workers: int = 1) -> None:
    clock = time.perf_counter if workers > 1 else time.process_time
    print(f"CPU: {cpu_model()}; kernels {engine.name}; {workers} worker(s), "
          f"{'wall' if workers > 1 else 'process CPU'} seconds, "
          f"median of {rounds} interleaved rounds")
    print("| image | q | without s | default s | Pillow s | default / without | default / Pillow |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, image in _timing_images_loaded():
        for q in qualities:
            times: dict[str, list[float]] = {"without": [], "default": [], "Pillow": []}
            for _ in range(rounds):
                for kind in times:
                    start = clock()
                    if kind == "Pillow":
                        _pillow(image, q)
                    else:
                        _save(image, q, kind == "default", workers)
                    times[kind].append(clock() - start)
            off, on, theirs = (statistics.median(times[k]) for k in ("without", "default", "Pillow"))
            print(f"| {name} | {q} | {off:.4f} | {on:.4f} | {theirs:.4f} | {on / off:.3f} | "
                  f"{on / theirs:.3f} |", flush=True)


def _timing_images_loaded() -> list[tuple[str, Image.Image]]:
    images = _images(timing=True)
    for _, image in images:
        image.load()
    return images


def _plan_calls(image: Image.Image, quality: int) -> list[tuple]:
    """The arguments of each ``smooth_plan`` call of a one-worker save (the band, cache and
    plan copied as they were), with the strips it planned and its plan's items."""
    calls = []
    plan_of = strips.Smoothing.plan

    def recorded(self, band, row0, nrows, frame, mcu0, interval, cache, plan,
                 group=strips.MCUS_PER_GROUP):
        before = plan.copy()
        args = (band.reshape(-1).copy(), band.shape[1], row0, nrows, frame.width,
                frame.channels, frame.ncomp, frame.comp_table, self.table, cache.copy(), group,
                mcu0, interval)
        planned = plan_of(self, band, row0, nrows, frame, mcu0, interval, cache, plan, group)
        calls.append((args, before, planned, plan[:plan[0]].copy()))
        return planned

    _save(image, quality, True)  # the cache warm, as a thread's next save finds it
    strips.Smoothing.plan = recorded
    try:
        _save(image, quality, True)
    finally:
        strips.Smoothing.plan = plan_of
    return calls


def plan_timing(qualities: list[int], rounds: int, paths: list[str]) -> None:
    builds = {"installed": engine.smooth}
    for path in paths:
        name = os.path.basename(path).split(".")[0]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"bench_smooth.py: {path!r} is not an extension module")
        try:
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except ImportError as error:
            raise SystemExit(f"bench_smooth.py: cannot load {path!r}: {error}") from None
        if name in builds:
            raise SystemExit(f"bench_smooth.py: two builds named {name!r}: name each file apart")
        builds[name] = module
    print(f"CPU: {cpu_model()}; smooth module {engine.smooth.__name__}; smooth_plan alone, "
          f"ns a block of the image, median of {rounds} interleaved rounds")
    names = list(builds)
    print("| image | q | calls | strips planned | "
          + " | ".join(f"{n} ns" for n in names) + " | "
          + " | ".join(f"{n} / installed" for n in names[1:]) + " |")
    print("|---|---:|---:|---:|" + "---:|" * (2 * len(names) - 1))
    for name, image in _smooth_images():
        blocks = image.width * image.height / 64
        for q in qualities:
            calls = _plan_calls(image, q)
            for build, module in builds.items():
                for args, before, planned, items in calls:
                    plan = before.copy()
                    if (module.smooth_plan(*args, plan) != planned
                            or not np.array_equal(plan[:plan[0]], items)):
                        raise SystemExit(f"bench_smooth.py: {build}'s plans differ ({name}, q{q})")
            times: dict[str, list[float]] = {n: [] for n in names}
            for r in range(rounds):
                for build in (names if r % 2 else names[::-1]):
                    module = builds[build]
                    start = time.perf_counter()
                    for args, before, _, _ in calls:
                        module.smooth_plan(*args, before)
                    times[build].append(time.perf_counter() - start)
            median = {n: statistics.median(t) for n, t in times.items()}
            print(f"| {name} | {q} | {len(calls)} | {sum(c[2] for c in calls)} | "
                  + " | ".join(f"{median[n] / blocks * 1e9:.1f}" for n in names) + " | "
                  + " | ".join(f"{median[n] / median['installed']:.3f}" for n in names[1:])
                  + " |", flush=True)


def gain(qualities: list[int]) -> None:
    print("PSNR islow / float (dB) and bytes; Δ: default against Pillow (islow)")
    print("| image | q | without | default | Pillow | Δ dB | size / Pillow |")
    print("|---|---:|---|---|---|---:|---:|")
    for name, image in _images(timing=False):
        pixels = np.asarray(image)
        for q in qualities:
            row = []
            for data in (_save(image, q, False), _save(image, q, True), _pillow(image, q)):
                islow = _psnr(_decode(data, "int"), pixels)
                row.append((islow, _psnr(_decode(data, "float"), pixels), len(data)))
            cells = " | ".join(f"{a:6.2f} / {b:6.2f} {n:8d}" for a, b, n in row)
            print(f"| {name} | {q} | {cells} | {row[1][0] - row[2][0]:+.2f} | "
                  f"{row[1][2] / row[2][2]:.3f} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", action="store_true", help="measure the cost, not the gain")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--qualities", default="100,95,90,75,50")
    parser.add_argument("--workers", type=int, help="with --time: threads a save (1)")
    parser.add_argument("--plan", nargs="*", metavar="BUILD.so",
                        help="time the plan alone (and these other builds of the smooth module)")
    args = parser.parse_args()
    qualities = [int(q) for q in args.qualities.split(",")]
    if args.workers is not None and not args.time:
        parser.error("--workers needs --time")
    if args.plan is not None and args.time:
        parser.error("--plan and --time are different measurements: give one")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers takes a positive number, not {args.workers}")
    if args.plan is not None:
        plan_timing(qualities, args.rounds, args.plan)
    elif args.time:
        timing(qualities, args.rounds, args.workers or 1)
    else:
        gain(qualities)
    return 0


if __name__ == "__main__":
    sys.exit(main())
