"""The ``streamjpeg`` command: convert an image to baseline JPEG, or run the demo."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from typing import Any, NoReturn

import numpy as np
from PIL import Image

from . import errors, options, pipeline, render
from . import output as output_


def demo_image(width: int = 6000, height: int = 4000, seed: int = 0) -> Image.Image:
    """A generated photo-like RGB test image: smooth shading, edges, texture, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / width, y / height
    red = 128 + 90 * np.sin(6.0 * u + 2.0 * v) * np.cos(3.0 * v)
    green = 120 + 80 * np.cos(5.0 * v - 3.0 * u)
    blue = 110 + 70 * np.sin(9.0 * u * v + 1.0)
    rgb = np.stack([red, green, blue], axis=-1)
    del red, green, blue
    disc = ((u - 0.6) ** 2 + (v - 0.4) ** 2) < 0.05
    rgb[disc] = rgb[disc] * 0.4 + 140
    rgb += 12 * np.sin(x / 3.0)[..., None] * (u > 0.5)[..., None]
    rgb += rng.normal(0, 3.0, size=rgb.shape).astype(np.float32)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


#: Where the demo writes its JPEG unless told.
DEMO_OUTPUT = "streamjpeg-demo.jpg"


def run_demo(output: str, params: dict[str, Any]) -> int:
    """Encode the generated image with STREAMJPEG and with Pillow's JPEG (same quality,
    subsampling and optimize); print both."""
    image = demo_image()
    print(f"demo image: {image.width}x{image.height} RGB ({image.width * image.height / 1e6:.0f} MP)")
    reference = np.asarray(image)
    t0 = time.perf_counter()
    pipeline.encode(image, output, **params)
    ours = time.perf_counter() - t0
    buffer = io.BytesIO()
    pillow_params = {key: params[key] for key in ("quality", "optimize") if key in params}
    pillow_params["subsampling"] = params.get("subsampling", 0)
    t0 = time.perf_counter()
    image.save(buffer, format="JPEG", **pillow_params)
    pillows = time.perf_counter() - t0
    with Image.open(output) as decoded:
        psnr_ours = _psnr(reference, np.asarray(decoded.convert("RGB")))
    psnr_pillow = _psnr(reference, np.asarray(Image.open(buffer).convert("RGB")))
    mp = image.width * image.height / 1e6
    size = os.path.getsize(output)
    print(f"{'encoder':<22}{'seconds':>9}{'MP/s':>8}{'bytes':>12}{'PSNR dB':>9}")
    print(f"{'STREAMJPEG':<22}{ours:9.3f}{mp / ours:8.1f}{size:12d}{psnr_ours:9.2f}")
    print(f"{'Pillow JPEG':<22}{pillows:9.3f}{mp / pillows:8.1f}{buffer.tell():12d}{psnr_pillow:9.2f}")
    print(f"wrote {output}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse's parser with the command's error format: one line, exit status 1 (argparse
    prints its usage too and exits with 2)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(1)


def _presets() -> list[str]:
    from PIL import JpegPresets

    return list(JpegPresets.presets)


def _quality(text: str) -> int | str:
    """--quality: a whole number 0..100, one of Pillow's presets (their tables and
    subsampling), or "keep" (a JPEG input's own tables), as the save option takes them."""
    if text == "keep" or text in _presets():
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a whole number 0..100, 'keep' or a preset name is needed "
            f"({', '.join(_presets())})")
    return value


#: --subsampling's values: Pillow's numbers and names
_SUBSAMPLINGS = {"0": 0, "1": 1, "2": 2, "4:4:4": "4:4:4", "4:2:2": "4:2:2", "4:2:0": "4:2:0",
                 "4:1:1": "4:1:1", "keep": "keep"}


def _subsampling(text: str) -> int | str:
    """--subsampling: 0, 1, 2, a name (4:1:1 is taken as 4:2:0, as in Pillow), "keep" (a
    JPEG input's own) or a preset name, as the save option takes them."""
    if text in _SUBSAMPLINGS:
        return _SUBSAMPLINGS[text]
    if text in _presets():
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r}: 4:4:4, 4:2:2 or 4:2:0 (or 0, 1, 2), 'keep' or a preset name is needed")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="streamjpeg",
        description=(
            "Convert an image (a TIFF of any size, or anything Pillow opens) to baseline JPEG, "
            "strip by strip, in bounded memory. Without an input, run the demo."
        ),
    )
    parser.add_argument("input", nargs="?", help="image to convert: TIFF (read band by band) or any "
                        "format Pillow opens; - for standard input (copied to a temporary file)")
    parser.add_argument("output", nargs="?", help="JPEG file to write, or - for standard output")
    parser.add_argument("--quality", type=_quality, default=100,
                        help="JPEG quality 0..100 (default 100), a Pillow preset name "
                             "(web_high, ...) or keep (a JPEG input's tables)")
    parser.add_argument("--subsampling", type=_subsampling, default=None,
                        help="chroma subsampling: 4:4:4 (default), 4:2:2 or 4:2:0 (or 0, 1, 2), "
                             "keep (a JPEG input's) or a preset name")
    parser.add_argument("-w", "--workers", type=int, default=None, help="encoding threads (default: all CPUs)")
    parser.add_argument("--page", type=int, default=None, help="TIFF: the page (IFD) to convert")
    parser.add_argument("--series", type=int, default=None, help="TIFF: the series to convert (default 0)")
    parser.add_argument("--level", type=int, default=None, help="TIFF: the pyramid level of the series (default 0)")
    parser.add_argument("--optimize", action="store_true", help="optimized Huffman tables (smaller file)")
    parser.add_argument("--refine", type=int, choices=(0, 1, 2), default=None,
                        help="decoder-aware quantization: 0 off, 1 or 2 sweeps (closer decoded "
                             "pixels, slower; default: 1 for images of at most "
                             f"{options.REFINE_AUTO_BLOCKS_PLANES} blocks of 8x8 (grey, CMYK), "
                             f"{options.REFINE_AUTO_BLOCKS} (RGB 4:4:4) or "
                             f"{options.REFINE_AUTO_BLOCKS_SUBSAMPLED} (RGB 4:2:2, 4:2:0), "
                             "else 0; 0 also rounds RGB 4:4:4 to nearest at quality 92 and below "
                             "and converts RGB 4:2:0 and 4:2:2 Y as is at 95 and below, where "
                             "the default has Y take up part of the chroma's error)")
    parser.add_argument("--range", default=None, metavar="RANGE",
                        help="TIFF samples that are not 8-bit: auto (default: SMin/SMaxSampleValue, "
                             "else the min and max of a sample of the image), full (the type's "
                             "range), LOW,HIGH (a negative LOW as given: --range -420,3100), or "
                             "percentiles such as 0.1%%,99.9%%")
    parser.add_argument("--background", default=None, metavar="COLOR",
                        help="composite alpha on this colour (white, #808080, ...); by default "
                             "alpha is dropped (premultiplied alpha un-premultiplied first)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--shrink", type=int, default=None, metavar="N",
                      help="average N x N blocks into one pixel (any size in bounded memory)")
    size.add_argument("--max-size", type=int, default=None, metavar="PIXELS",
                      help="at most PIXELS a side: a pyramid level of the TIFF that fits, else "
                           "the smallest shrink factor that does")
    parser.add_argument("--strip", action="store_true",
                        help="write none of the input's metadata (ICC profile, resolution, "
                             "EXIF, orientation, XMP)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--demo", nargs="?", const=DEMO_OUTPUT, default=None, metavar="OUT",
                        help="encode a generated image to OUT (default %(const)s) with the "
                             "options given, and compare with Pillow's JPEG")
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, FileNotFoundError) and exc.filename and str(exc.filename) not in text:
        text = f"{text}: {exc.filename}"
    return text


class _Progress:
    """A tqdm bar on stderr counting rows, when stderr is a terminal and tqdm is there.

    Called as ``progress(done, total)``: one bar for the whole job (optimize's
    two passes included).
    """

    def __init__(self, enabled: bool, name: str) -> None:
        self.bar = None
        self.name = name
        self.enabled = enabled

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if not self.enabled:
                return
            try:
                from tqdm import tqdm
            except ImportError:
                self.enabled = False
                return
            self.bar = tqdm(total=total, unit="row", desc=self.name, file=sys.stderr, leave=False,
                            dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _check_output(output: str) -> None:
    """Refuse a target that cannot be written before any work is done."""
    output_.refuse_empty(output, "- for standard output")
    if output == "-":
        if sys.stdout is None:
            raise ValueError("standard output is closed: give an output file")
        if sys.stdout.isatty():
            raise ValueError("refusing to write JPEG data to a terminal: redirect standard output")
        return
    if os.path.isdir(output):
        raise IsADirectoryError(f"output is a folder: {output}")
    if os.path.exists(output) and not os.path.isfile(output):  # a pipe, a device: in place
        if not os.access(output, os.W_OK):
            raise PermissionError(f"output is not writable: {output}")
        return
    folder = os.path.dirname(os.path.realpath(output))  # a link's target's folder
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to the output folder: {folder}")
    if os.path.exists(output) and not os.access(output, os.W_OK):
        raise PermissionError(f"output file is not writable: {output}")


def encoding_options(args: argparse.Namespace) -> dict[str, Any]:
    """The encode() options the command line gives, for a conversion or the demo."""
    params: dict[str, Any] = {"quality": args.quality, "workers": args.workers,
                              "optimize": args.optimize, "refine": args.refine}
    if args.subsampling is not None:
        params["subsampling"] = args.subsampling
    return params


def convert(args: argparse.Namespace) -> int:
    """Convert args.input to args.output with a progress bar; input ``-``: standard input,
    copied to a temporary file first (a TIFF is read by seeking; the copy keeps memory
    bounded), removed after."""
    _check_output(args.output)
    if args.input == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise ValueError("no image on standard input: pipe one in, or give a file")
        with tempfile.TemporaryDirectory(prefix="streamjpeg-") as folder:
            copy = os.path.join(folder, "stdin")
            with open(copy, "wb") as out:
                shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
            if not os.path.getsize(copy):
                raise ValueError("standard input was empty: no image to convert")
            try:
                return convert(argparse.Namespace(**{**vars(args), "input": copy}))
            except Exception as exc:  # named as the user gave it, not by the copy's path
                text = _one_line(exc)
                if isinstance(exc, BrokenPipeError) or copy not in text:
                    raise
                raise ValueError(text.replace(copy, "standard input")) from exc
    if not os.path.exists(args.input):
        raise FileNotFoundError(f"no such file: {args.input}")
    if os.path.isdir(args.input):
        raise IsADirectoryError(f"input is a folder: {args.input}")
    Image.MAX_IMAGE_PIXELS = None  # the user chose this file: no decompression-bomb check
    params = encoding_options(args)
    for key in ("page", "series", "level", "range", "background", "shrink", "max_size"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.range is not None:
        render.parse_range(args.range)  # a wrong value is named before the file is opened
    if args.background is not None:
        render.parse_background(args.background)
    for key in ("shrink", "max_size"):
        if params.get(key) is not None and params[key] < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be at least 1, not {params[key]}")
    params["strip"] = args.strip
    progress = _Progress(not args.quiet and sys.stderr.isatty(), os.path.basename(args.input))
    params["progress"] = progress
    try:
        if args.output == "-":
            out = sys.stdout.buffer
            pipeline.encode(args.input, out, **params)
            out.flush()
        else:
            pipeline.encode(args.input, args.output, **params)
    except (errors.Refused, OSError, ValueError, TypeError, MemoryError):
        raise  # refusals, and the documented errors, whose text is meant for the user
    except Exception as exc:  # anything else a reader raised: the file, not its internals
        raise errors.classify(exc, args.input) from exc
    finally:
        progress.close()
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``timeout``, ``kill``, a batch system's time limit, a closed
    terminal) as an interrupt: the conversion stops as for Ctrl-C, its temporary file
    removed, and the command exits with 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: Any) -> None:
    for name in _SIGNALS:  # a second one must not interrupt the cleanup
        with contextlib.suppress(AttributeError, ValueError, OSError):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    raise Terminated(signum)


_SIGNALS = ("SIGTERM", "SIGHUP")


@contextlib.contextmanager
def _terminations() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``Terminated`` while the command runs (the main thread's
    handlers, put back after: ``main`` may be called from a program). A signal the
    process was started ignoring (``nohup``) stays ignored."""
    previous = {}
    for name in _SIGNALS:
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                previous[number] = signal.signal(number, _terminate)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _joined_negative_values(argv: list[str]) -> list[str]:
    """``--range -420,3100`` as ``--range=-420,3100``: argparse takes a value that starts
    with "-" and is not a plain number for an option."""
    out = []
    for arg in argv:
        number = arg[1:2].isdigit() or arg[1:2] == "." and arg[2:3].isdigit()  # -420, -.5
        if out and out[-1] == "--range" and arg.startswith("-") and number:
            out[-1] = f"--range={arg}"
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # intermixed: options may come between the input and the output, as in "IN --page 2 OUT"
    args = parser.parse_intermixed_args(
        _joined_negative_values(sys.argv[1:] if argv is None else list(argv)))
    # tifffile logs its complaints about odd tags (even as errors); what fails
    # reaches the user as the one-line error below
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    # and Pillow warns of odd files (corrupt EXIF, large images) as it reads them: the
    # command's output is the file or its one-line error
    with _terminations(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _run(parser, args)


#: Options about reading an input, which the demo's generated image has no use for.
_INPUT_OPTIONS = ("page", "series", "level", "range", "background", "shrink", "max_size", "strip")


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    try:
        if args.demo is not None or args.input is None:
            if args.input is not None:
                parser.error("--demo takes no input file (its output is --demo OUT)")
            unused = [f"--{name.replace('_', '-')}" for name in _INPUT_OPTIONS
                      if getattr(args, name) not in (None, False)]
            if unused:
                parser.error(f"--demo takes encoding options only, not {', '.join(unused)}")
            # --demo '' is not --demo: the empty output is refused as a conversion's is
            output_.refuse_empty(args.demo, f"--demo alone to write {DEMO_OUTPUT}")
            return run_demo(args.demo or DEMO_OUTPUT, encoding_options(args))
        if args.output is None:
            parser.error("an output file (or - for standard output) is needed after the input")
        return convert(args)
    except Terminated as exc:
        print(f"streamjpeg: terminated ({signal.Signals(exc.signum).name})", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("streamjpeg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = None  # type: ignore[assignment]
        return 1
    except Exception as exc:  # every failure is one line, never a traceback
        if os.environ.get("STREAMJPEG_DEBUG"):
            raise
        print(f"streamjpeg: error: {_one_line(exc)}", file=sys.stderr)
        return 1
