"""Save options: parsed and validated once into a ``Settings`` object.

Options keep Pillow's JPEG names and meanings; only the defaults differ
(quality 100, no chroma subsampling). Everything downstream (tables, header,
scan writer) reads ``Settings`` and never the raw options. The options are
listed in README.md ("Options").
"""

from __future__ import annotations

import array
import inspect
import numbers
import operator
import os
import reprlib
import sys
from dataclasses import dataclass, replace
from typing import Any, Callable, TypeVar

from PIL import Image, JpegImagePlugin, JpegPresets

from . import memo, tables

T = TypeVar("T")

#: Largest width or height: libjpeg-turbo refuses anything above this.
MAX_DIMENSION = 65500

#: Largest payload of a marker segment.
MAX_SEGMENT = 65533

DEFAULT_QUALITY = 100

#: Pixels in one default restart interval (whole MCU rows, at least one): the scan
#: writer's work unit (``scan.TASK_PIXELS``) is as large, so each task codes one
#: interval and tasks stay independent. An RSTn costs about 3 bytes (padding, the
#: marker, DC coded afresh): one per MCU row made 512 x 512 photos 0.5 % larger at
#: quality 75 (camera 34510 against 34327 bytes without markers; docs/fidelity.md).
INTERVAL_PIXELS = 1 << 18

#: Sampling factors of component 0 for Pillow's subsampling values 0, 1, 2.
SAMPLING = {0: (1, 1), 1: (2, 1), 2: (2, 2)}
SUBSAMPLING_NAMES = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2, "4:1:1": 2}


@dataclass(frozen=True)
class Component:
    """One frame component: its id, sampling factors and table set."""

    ident: int
    h: int
    v: int
    table: int


@dataclass(frozen=True)
class ModeLayout:
    """How an image mode's pixel rows map to JPEG components."""

    convert: bool  #: RGB to YCbCr in the kernels
    ids: tuple[int, ...]  #: component ids, as libjpeg writes them
    adobe: bool = False  #: Adobe APP14 (transform 0) instead of JFIF APP0
    channels: int = 0  #: samples per pixel in the source's rows (set by ``parse``)


YCC_IDS = (1, 2, 3)

#: Image modes this writer accepts, and how their rows are read.
MODES: dict[str, ModeLayout] = {
    "1": ModeLayout(False, (1,)),
    "L": ModeLayout(False, (1,)),
    "RGB": ModeLayout(True, YCC_IDS),
    "RGBX": ModeLayout(True, YCC_IDS),
    "YCbCr": ModeLayout(False, YCC_IDS),
    "CMYK": ModeLayout(False, tuple(b"CMYK"), adobe=True),
}

#: keep_rgb=True: RGB components, no colour conversion (libjpeg's ids 'R', 'G', 'B').
KEEP_RGB = ModeLayout(False, tuple(b"RGB"), adobe=True)


@dataclass(frozen=True)
class Settings:
    """Everything a save needs, derived once from the options."""

    width: int
    height: int
    layout: ModeLayout
    components: tuple[Component, ...]
    qtables: tuple[tuple[int, ...], ...]  #: natural order
    huffman: tuple  #: (DC spec, AC spec) per Huffman table id (0, and 1 if used)
    workers: int
    #: YCbCr rounded to whole values before the DCT, as libjpeg does (False: kept in
    #: float, for measurements only)
    round_samples: bool
    optimize: bool = False
    dpi: tuple[int, int] = (0, 0)  #: JFIF density in ``density_unit``; (0, 0) for none
    #: JFIF density unit of ``dpi``: 1 dots per inch, 2 dots per centimetre (a
    #: source's resolution in centimetres, ``jfif_unit=2`` with ``jfif_density``)
    density_unit: int = 1
    app_segments: tuple[tuple[int, bytes], ...] = ()  #: (marker, payload) after APP0/APP14
    comment: bytes = b""
    #: MCUs per restart interval, the DRI value; 0 for no restart markers. From
    #: Pillow's restart_marker_blocks / restart_marker_rows; by default whole MCU rows of
    #: about INTERVAL_PIXELS (``default_interval``).
    restart_interval: int = 0
    #: Sweeps of the decoder-aware quantization (docs/fidelity.md): 0 off, 1 or 2
    #: (``parse``'s default: ``auto_refine``'s, 1 on small images without subsampling, else 0).
    refine: int = 0
    #: RGB converted to YCbCr: Y takes up part of the chroma's error (4:4:4: each Y
    #: coefficient rounded with the Cb and Cr ones of its frequency, kernels'
    #: ``_joint_round``; 4:2:0 and 4:2:2: Y corrected for the decoded chroma, ``_luma_fix``),
    #: where ``rounds_jointly`` says, by default (``refine`` absent or None) where the search is off
    joint_rounding: bool = False
    #: Each block (each MCU of RGB) keeps libjpeg-turbo's coefficients where they decode
    #: closer than ours (``auto_libjpeg``: images of up to ``LIBJPEG_AUTO_BLOCKS_PLANES`` or
    #: ``LIBJPEG_AUTO_BLOCKS`` blocks, not subsampled, or RGB at 4:2:2 or 4:2:0 of up to
    #: ``LIBJPEG_AUTO_BLOCKS_SUBSAMPLED``), after the search where it runs
    #: (``refine`` 1 or 2, and the default's on images of up to 16 or 18 blocks), alone
    #: where it does not (the default's otherwise); not with ``refine=0`` given.
    #: (``strips.Refinement`` also makes the choice after any search of at most
    #: ``strips.REFINE_PLAIN_BLOCKS`` blocks.)
    libjpeg_choice: bool = False
    #: A decoded JPEG saved again with one of its tables (``decoded_again``), by default:
    #: ``libjpeg_choice`` at any size, Y rounded as it is (no ``joint_rounding``), and
    #: subsampled chroma averaged from the rounded pixels (``convert`` 2 at any quality)
    decoded: bool = False
    #: On images that ``libjpeg_choice`` would take but for their size, of up to
    #: ``MARKED_CHOICE_MCUS`` MCUs (``marked_choice``): the MCUs of repeated or
    #: one-dimensional content (``kernels.choice_marks``: checkers, stripes, ramps along one
    #: axis) keep libjpeg-turbo's coefficients where they decode closer. By default
    #: (``refine`` absent or None) strips without such MCUs are coded as without it; with
    #: ``refine`` 1 or 2 after the search (``strips.Refinement.with_marked``); not with
    #: ``refine=0`` given.
    marked_choice: bool = False
    #: Components coded as they are, without subsampling (grey, CMYK, RGB kept as RGB):
    #: blocks whose samples span 1 to this many levels keep whichever of their coefficients
    #: and libjpeg's decodes closer, in windows where half the blocks are so
    #: (transpiled/smooth.py, ``strips.Smoothing``), by default (``refine`` absent or None)
    #: where no search or other choice runs, where ``smooth_levels`` says; 0 off
    smooth_levels: int = 0

    @property
    def huffman_ids(self) -> tuple[int, ...]:
        """The Huffman table id of each quantization table set: 0, then 1 for every other
        (0 for all where ``huffman`` holds one set: grey, CMYK, RGB kept as RGB)."""
        return tuple(min(t, len(self.huffman) - 1) for t in range(len(self.qtables)))

    @property
    def convert(self) -> int:
        """The kernels' colour conversion: 0 none, 1 YCbCr in float, 2 YCbCr rounded,
        subsampled chroma averaged from the rounded pixels, 3 YCbCr rounded, subsampled
        chroma converted from the averaged RGB, 4 as 2 with the averages rounded as
        libjpeg rounds them (``rounds_averaged_chroma``)."""
        if not self.layout.convert:
            return 0
        if not self.round_samples:
            return 1
        if (not (self.decoded or averages_rounded_chroma(self.qtables))
                or self.joint_rounding and self.hs > 1):
            return 3  # the luma correction is built into the fused conversion (kernels)
        chroma = [self.qtables[c.table] for c in self.components[1:]]
        return 4 if rounds_averaged_chroma(chroma) else 2

    @property
    def hs(self) -> int:
        return self.components[0].h

    @property
    def vs(self) -> int:
        return self.components[0].v

    @property
    def strip_height(self) -> int:
        """Rows in one strip: one MCU row."""
        return 8 * self.vs

    @property
    def mcus_per_row(self) -> int:
        return -(-self.width // (8 * self.hs))

    @property
    def strip_count(self) -> int:
        return -(-self.height // self.strip_height)

    @property
    def strips_per_interval(self) -> int:
        """Strips (MCU rows) in one restart interval, where intervals end on strip boundaries.

        1 for intervals that divide a row; the image's strip count without
        restart markers and for intervals that cross a strip boundary without
        ending on one (the scan writer then cuts tasks anywhere and joins their
        parts at bit level).
        """
        interval, per_row = self.restart_interval, self.mcus_per_row
        if not interval or (interval % per_row and per_row % interval):
            return self.strip_count
        return max(1, interval // per_row)

    def starts_interval(self, strip: int) -> bool:
        """Whether strip ``strip`` (an MCU row) starts a restart interval; the first one does."""
        interval = self.restart_interval
        return strip == 0 or bool(interval) and strip * self.mcus_per_row % interval == 0

    @property
    def restarts_every_row(self) -> bool:
        """Whether each restart interval is exactly one MCU row (one strip)."""
        return self.restart_interval == self.mcus_per_row


def check_mode(mode: str) -> ModeLayout:
    """The layout of a writable mode; OSError as Pillow's for any other."""
    try:
        return MODES[mode]
    except KeyError:
        msg = f"cannot write mode {mode} as JPEG"
        raise OSError(msg) from None


def check_size(width: int, height: int) -> None:
    """ValueError for an empty image or one beyond the JPEG size limit."""
    if width <= 0 or height <= 0:
        msg = f"cannot write empty image as JPEG ({width}x{height})"
        raise ValueError(msg)
    if width > MAX_DIMENSION or height > MAX_DIMENSION:
        msg = (
            f"image of {width}x{height} pixels is too large for JPEG: "
            f"width and height must be at most {MAX_DIMENSION}"
        )
        raise ValueError(msg)


def whole_number(value: Any) -> int | None:
    """value as an int if it is an integer (Python's or numpy's, not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


def _int_option(info: dict[str, Any], name: str, low: int, high: int | None, default: Any) -> Any:
    value = info.get(name, default)
    if value is default:
        return value
    number = whole_number(value)
    if number is None or number < low or (high is not None and number > high):
        allowed = f"from {low} to {high}" if high is not None else f"of at least {low}"
        msg = f"{name} must be an integer {allowed}, not {value!r}"
        raise ValueError(msg)
    return number


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _workers(info: dict[str, Any]) -> int:
    workers = info.get("workers")
    if workers is None:
        return available_cpus()
    number = whole_number(workers)
    if number is None or number < 1:
        msg = f"workers must be a positive integer, not {workers!r}"
        raise ValueError(msg)
    return number


#: Values of the ``refine`` option: sweeps of the decoder-aware quantization.
REFINE_SWEEPS = (0, 1, 2)

#: The ``refine`` option's default (absent or None, "auto"): one sweep for images of at
#: most this many 8x8 blocks (``coded_blocks``) that ``auto_refine`` admits, off above,
#: where it costs more than issue 15's 1.25x for a default. On such images a save's
#: fixed costs (options, tables, markers, Python calls: 0.25 to 0.5 ms) dominate; the
#: search adds about 2 us a block plus about 0.03 ms for the two-step path. Measured
#: 2026-11-30 22:30-22:42 UTC (AMD EPYC, 2 shared cores, load 1-2, x86-64-v3 kernels;
#: ``benchmarks/bench_refine_small.py``: whole ``Image.save`` and ``encode`` of an array,
#: workers=1, process CPU time, medians of paired ratios of 9 to 15 interleaved rounds;
#: L, RGB 4:4:4, 4:2:2, 4:2:0; q100, 95, 90, 75, 50; noise and an astronaut crop): the
#: largest refine=1 / refine=0 ratio per mode and size was 1.12-1.17x at 1 to 6 blocks
#: (one 1.22x spike, RGB 4:2:2), 1.14-1.20x at 8 to 9, 1.15-1.27x at 12 (one 1.35x spike),
#: 1.19-1.27x at 16 to 18, 1.23-1.36x at 24 to 36, 1.33-1.48x at 48 to 96, 1.72x at 192;
#: medians 1.08-1.14x up to 8 blocks (docs/fidelity.md, "Automatic default"). 8 keeps
#: every measured ratio at or below 1.22x (grey: 1.17x).
#: RGB 4:4:4 with the RGB error of the search (2026-12-01, about twice the per-plane
#: search's cost): at most 1.16x at 3 blocks, 1.18x at 6, 1.24x at 12 (not taken).
#: Re-measure when a save's fixed costs change: cheaper fixed costs raise the ratios.
#: Re-measured 2026-12-01 10:05 UTC with small images searched harder (16 candidates,
#: ``strips.REFINE_SMALL_BLOCKS``) and saves of 0.13-0.17 ms: grey at most 1.21x at 8
#: blocks, RGB 4:4:4 1.24x at 6. Re-measured 11:40 UTC after the colour search's loops were
#: vectorized (1.5-2x fewer instructions): RGB 4:4:4 at most 1.18-1.26x at 6 blocks,
#: 1.22-1.23x at 12 (16 x 16), 1.28x at 18 (``bench_refine_small.py --modes 444,420 --sizes
#: 8,16x8,16,24x16 --qualities 100,90,75,50,5 --rounds 15`` and a 9-round run of 444, 422
#: and 420 at q100-q5): 12 taken (two floor losses fixed, q95 and q50 RGB 9 x 9 checkers).
#: Re-measured 2026-12-01 15:45 UTC, after one-task saves stopped starting a thread pool and
#: the search's trials were made one loop: at 18 blocks (24 x 16, 15 x 17, 17 x 9; searched
#: without the rate term or the screen, ``strips.REFINE_PLAIN_BLOCKS``) at most 1.233x
#: (``Image.save``, noise and photo crops, q100 to q1, 15 rounds, twice), 1.194x (ramps,
#: checkers, vignettes), 1.212x (``encode`` of arrays, 21 rounds; 1.242x and one 1.277x at
#: 15 rounds), 12 blocks 1.16-1.20x, 27 blocks 1.244x (with the rate term): 18 taken (one
#: floor loss fixed, q95 RGB 15 x 17 vertical ramp; with the rate term at 17 and 18 blocks
#: the floor lost three cases at q1).
#: Re-measured 2026-12-05 00:45 UTC (AMD Zen 4, saves about 1.3x faster than on the Zen 3)
#: after the two-step path's Python was trimmed: at most 1.22x at 1 to 3 blocks, 1.27x to
#: 1.34x at 4 to 12 (``bench_refine_small.py --modes L,444,422,420 --sizes 8,16,24
#: --qualities 95,75 --rounds 9``), over 1.25x on this CPU: limits not changed (docs/
#: performance.md, "Small saves' two-step path trimmed in Python").
#: Those ratios are against ``refine=0``, which also drops the default's choice of libjpeg's
#: coefficients and its two-step path. The search alone (``bench_refine_small.py --compare
#: search``: the default with and without it, 2026-12-07, Intel Xeon, q100 to q50) costs at
#: most 1.20x at 18 blocks, 1.17x at 6, 1.10x at 3; grey 1.04x to 1.12x up to 16 blocks;
#: one 4:2:2 or 4:2:0 MCU 1.12x and 1.16x (docs/fidelity.md, "The search's own cost on
#: small images").
REFINE_AUTO_BLOCKS = 18

#: The same for images searched plane by plane (grey, CMYK, RGB kept as RGB: each block
#: against its own samples, ``refine_group``), whose search costs about half the RGB
#: error's a block. Since the IDCT model decodes with libjpeg's butterfly (2026-12-01,
#: 1.7x fewer instructions for grey), refine=1 on grey images of 12 to 16 blocks costs at
#: most 1.20-1.23x a save (``bench_refine_small.py --modes L,444 --sizes
#: 8,16x8,24x16,32x24,33x17,40x24,32 --qualities 100,95,90,75 --rounds 7``, 11:16 UTC; RGB
#: 4:4:4 at 18 blocks: 1.39x, not taken then). Images of 9 to 18 blocks are searched
#: without the rate term (``strips.REFINE_PLAIN_BLOCKS``), as the smallest are.
REFINE_AUTO_BLOCKS_PLANES = 16

#: The same for subsampled RGB (``refine_group_sub``, the RGB error after upsampling,
#: 2026-12-01): one 4:2:0 MCU (6 blocks) at most 1.24x (medians 1.19-1.21x), 4:2:2 at
#: 4 blocks 1.18x; 8 blocks as two MCUs side by side 1.22x, but as two strips (16 x 16)
#: 1.23-1.31x (``bench_refine_small.py --modes 422,420 --sizes 8,16,32x8 --rounds 15``,
#: 05:37 UTC, same machine); re-measured 10:05-10:25 UTC: 4:2:0 1.21x at 8 x 8, 1.23-1.28x at
#: 16 x 16, 4:2:2 1.21x at 4 blocks; 11:48-11:50 UTC, after the colour search's loops were
#: vectorized: at most 1.220x and 1.226x for one 4:2:0 MCU, 4:2:2 1.176x (21 rounds).
REFINE_AUTO_BLOCKS_SUBSAMPLED = 6


#: The default's choice of libjpeg-turbo's coefficients where they decode closer, without
#: the search (``Settings.libjpeg_choice``, ``auto_libjpeg``), for images searched plane by
#: plane (grey, CMYK, RGB kept as RGB) of at most this many blocks, and for RGB converted
#: without subsampling of at most ``LIBJPEG_AUTO_BLOCKS`` (16 MCUs): such images then never
#: decode farther from the source than Pillow's files. It takes the two-step path of the
#: search (two kernel calls a strip, which is most of its cost on such images) and decodes
#: both sets of coefficients where they differ. Against the default without it
#: (``benchmarks/bench_refine_small.py --compare libjpeg``, Image.save, noise and an
#: astronaut crop at q100, 95, 75, 50 and 5, 21 rounds, 2026-12-02 about 13:05 UTC, AMD EPYC Zen
#: 3), the largest ratio was 1.20x for grey at 25 and 32 blocks (1.32x at 64, not taken),
#: 1.25x for RGB at 45 (33 x 17), 1.22x at 48 (RGB at 192 blocks: 1.34x to 1.44x)
#: (docs/fidelity.md, "libjpeg's coefficients where they decode closer").
LIBJPEG_AUTO_BLOCKS_PLANES = 32
LIBJPEG_AUTO_BLOCKS = 48
#: The same for RGB the encoder converts at 4:2:2 and 4:2:0 (``refine_group_sub``'s choice,
#: MCU by MCU, its model of the decoder's upsampling approximate at the MCUs' shared edges):
#: images of up to 36 blocks (6 MCUs at 4:2:0, 9 at 4:2:2). The floor's cases at every
#: quality had 49 small subsampled images of 2 to 6 MCUs behind Pillow by more than 0.25 dB
#: without it, none with it; of 1,760 saves (small sizes, q100 to q5) 17 decode farther than
#: Pillow's file by at most 0.06 dB, 216 without it (docs/fidelity.md, "Every quality, and
#: flat colours"). Cost against the default without it (``bench_refine_small.py --compare
#: libjpeg``, 15 rounds, two runs, AMD Zen 5): 1.19x at 24 blocks of 4:2:0, 1.25x at 32 of
#: 4:2:2, 1.23x to 1.25x at 36, 1.26x to 1.28x at 48 (not taken).
LIBJPEG_AUTO_BLOCKS_SUBSAMPLED = 36


def auto_libjpeg(width: int, height: int, components: tuple[Component, ...],
                 ycc_source: bool = False, converted: bool = False,
                 decoded: bool = False) -> bool:
    """Whether the default keeps libjpeg's coefficients where they decode closer
    (``Settings.libjpeg_choice``): images without subsampling, not YCbCr sources, of at most
    ``LIBJPEG_AUTO_BLOCKS_PLANES`` blocks (``LIBJPEG_AUTO_BLOCKS`` for RGB the encoder
    converts), and RGB the encoder converts at 4:2:2 or 4:2:0 of at most
    ``LIBJPEG_AUTO_BLOCKS_SUBSAMPLED``; of any size where ``decoded`` (``decoded_again``)."""
    if _upsampled(components, converted):
        return decoded or coded_blocks(width, height, components) <= LIBJPEG_AUTO_BLOCKS_SUBSAMPLED
    if not _whole(components, ycc_source):
        return False
    limit = LIBJPEG_AUTO_BLOCKS if _rgb_error(components, converted) else LIBJPEG_AUTO_BLOCKS_PLANES
    return decoded or coded_blocks(width, height, components) <= limit


def jpeg_tables(image: Image.Image | None) -> tuple[tuple[tuple[int, ...], ...], int]:
    """The quantization tables (natural order) of the JPEG file a Pillow image was opened
    from, as its ``quantization`` gives them, and its chroma subsampling
    (``JpegImagePlugin.get_sampling``: 0, 1, 2, or -1 for grey, CMYK and others); ((), -1)
    for any other image. One made from it by ``convert``, ``copy`` or ``crop`` has no
    ``format``; one ``draft`` or ``thumbnail`` changed (a scaled decoding) has a
    ``decoderconfig``: neither is taken. Changes made in place (``ImageDraw``, ``paste``)
    cannot be seen: such an image still takes ``decoded_again``'s choice, which never
    decodes farther than libjpeg's coefficients; ``refine=0`` is the plain save."""
    if (image is None or getattr(image, "format", None) != "JPEG"
            or getattr(image, "decoderconfig", ())):
        return (), -1
    found = getattr(image, "quantization", None)
    if not isinstance(found, dict):
        return (), -1
    try:
        return (tuple(tuple(int(v) for v in found[key]) for key in sorted(found)),
                JpegImagePlugin.get_sampling(image))
    except (TypeError, ValueError, AttributeError):
        return (), -1


def decoded_again(source: tuple[tuple[tuple[int, ...], ...], int], qtables,
                  components: tuple[Component, ...], converted: bool) -> bool:
    """Whether a save codes a decoded JPEG (``jpeg_tables``' ``source``) again with one of its
    tables, without subsampling chroma more than the file did.

    Then that component's pixels are its decoder's output, whose transform lies on that
    table's grid, and libjpeg's forward path comes back to the file's coefficients where
    ours, and more so the default's joint rounding and luma correction, which move samples
    off that grid, did not: re-saved with ``quality="keep"``, colour photos Pillow had saved
    at q50 to q95 decoded 0.04 to 4.0 dB farther from the pixels than Pillow's file
    (chelsea q75 4:2:0: -4.0 dB), grey ones up to 0.24 dB; with libjpeg's coefficients where
    they decode closer (``auto_libjpeg``, at any size) and Y rounded as it is, 0.00 to 2.20 dB
    closer than Pillow's, for 2.3x to 3.6x its time (docs/fidelity.md, "JPEGs saved
    again"). Other tables (another quality) lose nothing: not taken. Nor a save that
    subsamples chroma more than the file (4:4:4 saved at 4:2:0): its chroma is not on the
    file's grid, and the luma correction gained 0.10 to 0.27 dB there.
    """
    source_tables, sampling = source
    if not source_tables:
        return False
    tables = set(source_tables)
    if not any(tuple(table) in tables for table in qtables):
        return False
    if not _rgb_error(components, converted):
        return True  # no chroma the encoder subsamples: grey, CMYK, RGB kept as RGB
    # 4:4:4 always; else at most the file's subsampling (SAMPLING's order: 0, 1, 2)
    return (components[0].h, components[0].v) in [SAMPLING[s] for s in range(max(sampling, 0) + 1)]


#: The default's choice on marked MCUs (``Settings.marked_choice``) on images of at most this
#: many MCUs (128 x 128 pixels at 4:4:4, 256 x 256 at 4:2:0): every strip's MCUs are tested
#: in the coding kernel (``kernels.choice_marks``), about 140 instructions an MCU as g++
#: compiles it (callgrind: grey photos 1 MP at q95 +9.5 % of the kernel's instructions,
#: RGB 4:4:4 +4.8 %, 4:2:0 +2.3 %); on images this small, with the save's own Python, the
#: test and its Python calls take 0 to 14 % of a save (photo crops of 64 x 64 and 128 x 128
#: without marked MCUs, ``benchmarks/bench_marked.py``; docs/fidelity.md, "Repeated and
#: one-dimensional MCUs" and "The choice where the luma correction runs").
MARKED_CHOICE_MCUS = 256


def marked_choice(width: int, height: int, components: tuple[Component, ...],
                  ycc_source: bool = False, converted: bool = False) -> bool:
    """Whether the default chooses libjpeg-turbo's coefficients on the MCUs of repeated or
    one-dimensional content (``Settings.marked_choice``): the images ``auto_libjpeg`` takes
    but for their size, of at most ``MARKED_CHOICE_MCUS`` MCUs."""
    h, v = components[0].h, components[0].v
    mcus = -(-width // (8 * h)) * -(-height // (8 * v))
    return mcus <= MARKED_CHOICE_MCUS and (_upsampled(components, converted)
                                           or _whole(components, ycc_source))


def _whole(components: tuple[Component, ...], ycc_source: bool) -> bool:
    """No component subsampled, and not a YCbCr source: the images ``auto_refine`` and
    ``auto_libjpeg`` take at their 4:4:4 limits."""
    return all(c.h == 1 and c.v == 1 for c in components) and not ycc_source


def _rgb_error(components: tuple[Component, ...], converted: bool) -> bool:
    """RGB the encoder converts to YCbCr: the search counts the RGB error (``strips.Frame.rgb_error``)."""
    return bool(converted) and len(components) == 3


def _upsampled(components: tuple[Component, ...], converted: bool) -> bool:
    """RGB the encoder converts, at 4:2:2 or 4:2:0: the search counts the RGB error after the
    decoder's upsampling (``refine_group_sub``)."""
    return _rgb_error(components, converted) and components[0].h == 2


def coded_blocks(width: int, height: int, components: tuple[Component, ...]) -> int:
    """The 8x8 blocks of all components the encoder codes: MCUs (partial ones padded) x blocks per MCU."""
    # one loop, not max() and sum() of generators (calls): computed up to four times a
    # save, 0.8 -> 0.3 us
    h = v = 1
    per_mcu = 0
    for c in components:
        if c.h > h:
            h = c.h
        if c.v > v:
            v = c.v
        per_mcu += c.h * c.v
    return -(-width // (8 * h)) * -(-height // (8 * v)) * per_mcu


def auto_refine(width: int, height: int, components: tuple[Component, ...],
                ycc_source: bool = False, converted: bool = False) -> int:
    """The ``refine`` option's default: 1 (one sweep) or 0 (off).

    One sweep where it cost at most 1.25x a save when sized (AMD Zen 3, 2026-12-02; on
    Zen 5 1.24x to 1.58x since small saves got faster, 1.30x to 1.53x since strips go
    side by side on the two-step path: docs/performance.md, "Small saves: strips in one
    call") and does not lose to Pillow in the floor sweep, at
    every quality: images without subsampling of at most
    ``REFINE_AUTO_BLOCKS`` coded blocks (partial ones included) when the search
    counts the RGB error (RGB 4:4:4 the encoder converts), of at most
    ``REFINE_AUTO_BLOCKS_PLANES`` when it refines each plane (grey, CMYK, RGB with
    ``keep_rgb``), and RGB the encoder converts (``converted``) at
    4:2:2 or 4:2:0 of at most ``REFINE_AUTO_BLOCKS_SUBSAMPLED``, where the
    search counts the RGB error after the decoder's upsampling. Other
    subsampled images and YCbCr sources (``ycc_source``) stay off: there the
    search lowers the error of each component plane, not of the RGB pixels
    the decoder converts (and upsamples), and with it on the floor sweep lost
    2 new cases. So few blocks are searched harder (more candidates) and without
    the rate term that once kept the default off below quality 48
    (``strips.REFINE_SMALL_BLOCKS``). docs/fidelity.md, "Automatic default", "The
    RGB error", "Subsampled colour" and "Small images: more candidates, no rate term".
    """
    blocks = coded_blocks(width, height, components)
    whole = _whole(components, ycc_source)
    rgb_error = _rgb_error(components, converted)
    return int((whole and blocks <= (REFINE_AUTO_BLOCKS if rgb_error else REFINE_AUTO_BLOCKS_PLANES))
               or (_upsampled(components, converted) and blocks <= REFINE_AUTO_BLOCKS_SUBSAMPLED))


def _refine(info: dict[str, Any], default: int) -> int:
    """Sweeps of the decoder-aware quantization: 0 (off), 1 or 2; True is 1, False 0;
    absent or None: ``default`` (``auto_refine``'s)."""
    value = info.get("refine")
    if value is None:
        return default
    if value is False:
        return 0
    if value is True:
        return 1
    if whole_number(value) in REFINE_SWEEPS:
        return int(value)
    msg = (f"refine must be 0 (off), 1 or 2 (sweeps of the decoder-aware quantization), "
           f"True (1), False (0) or None (automatic), not {value!r}")
    raise ValueError(msg)


def _keep_source(image: Image.Image | None, what: str) -> Image.Image:
    if image is None or image.format != "JPEG":
        msg = f"Cannot use 'keep' for {what} when original image is not a JPEG"
        raise ValueError(msg)
    return image


def _subsampling(value: Any, image: Image.Image | None) -> int:
    # integers only (a bool or a float equal to one is refused, as Pillow refuses floats)
    number = whole_number(value)
    if value is None or number == -1:
        return 0
    if isinstance(value, str):
        if value == "keep":
            from PIL import JpegImagePlugin

            sampling = JpegImagePlugin.get_sampling(_keep_source(image, "subsampling"))
            # -1 for one- and four-component sources (nothing to keep) and unusual
            # samplings: Pillow then uses its default, and so do we (4:4:4).
            return 0 if sampling == -1 else sampling
        if value in SUBSAMPLING_NAMES:
            return SUBSAMPLING_NAMES[value]
    elif number in SAMPLING:
        return number
    msg = (
        f"subsampling must be 0, 1, 2, '4:4:4', '4:2:2', '4:2:0' ('4:1:1' is taken as 4:2:0, "
        f"as in Pillow), 'keep' or a preset name, "
        f"not {value!r}"
    )
    raise ValueError(msg)


def _qtables(value: Any, quality: int | None) -> list[list[int]]:
    """Pillow's forms of qtables (string, list, tuple, dict) as 1..4 natural-order tables.

    As in Pillow, the tables are scaled by the quality when one is given (and
    clamped to 1..255); without one they are used as they are, 0 counting as 1.
    """
    if isinstance(value, str):
        try:
            numbers = [int(n) for line in value.splitlines() for n in line.split("#", 1)[0].split()]
        except ValueError:
            raise ValueError(f"Invalid quantization table: {value[:40]!r}") from None
        value = [numbers[s:s + 64] for s in range(0, len(numbers), 64)]
    keys = None
    if isinstance(value, dict):
        keys = list(value)
        value = [value[key] for key in range(len(value)) if key in value]
    if not isinstance(value, (list, tuple)):
        raise ValueError("qtables must be a list, tuple, dict or string of tables, not "
                         f"{type(value).__name__} {reprlib.repr(value)}")
    if not 0 < len(value) < 5:
        if keys is not None and len(keys) > len(value):
            # Pillow's reading of a dict: the values of keys 0 .. len - 1 that it has
            raise ValueError(f"qtables as a dict takes its tables from the keys 0, 1, 2 and 3 "
                             f"up to its length: keys {reprlib.repr(keys)} give {len(value)}")
        raise ValueError(f"qtables needs 1 to 4 tables, not {len(value)}")
    result = []
    for index, table in enumerate(value):
        try:
            values = list(array.array("H", table))
        except (TypeError, OverflowError, ValueError):
            rows = getattr(table, "ndim", 1) > 1 or (
                isinstance(table, (list, tuple)) and any(isinstance(r, (list, tuple)) for r in table))
            if rows:  # an 8 x 8 table (Pillow refuses it too): said so, not "values must be"
                raise ValueError(f"Invalid quantization table {index}: 64 values in one "
                                 "sequence, not rows (flatten an 8 x 8 table)") from None
            raise ValueError(
                f"Invalid quantization table {index}: values must be integers from 0 to 65535"
            ) from None
        if len(values) != 64:
            raise ValueError(f"Invalid quantization table {index}: {len(values)} values, not 64")
        values = tables.scale_table(values, quality)
        bad = [v for v in values if v > 255]
        if bad:
            raise ValueError(
                f"quantization table {index} has value {bad[0]}: baseline JPEG allows 1 to 255 "
                "(a quality scales the tables and clamps them to 255; quality=50 only clamps)"
            )
        result.append(values)
    return result


def _metadata(info: dict[str, Any], image: Image.Image | None) -> tuple[tuple[tuple[int, bytes], ...], bytes]:
    """APPn segments (EXIF, XMP, ICC) and the comment, with Pillow's limits and errors."""
    segments: list[tuple[int, bytes]] = []
    exif = info.get("exif", b"")
    if isinstance(exif, Image.Exif):
        exif = exif.tobytes()
    if exif is not None and not isinstance(exif, (bytes, bytearray)):
        # an empty list or 0 too: refused, not taken as "no EXIF"
        raise ValueError(f"exif must be bytes or Image.Exif, not {type(exif).__name__}")
    if exif:
        if len(exif) > MAX_SEGMENT:
            raise ValueError(f"EXIF data is too long: {len(exif)} bytes, at most {MAX_SEGMENT} "
                             f"in a JPEG segment")
        segments.append((0xE1, bytes(exif)))
    xmp = info.get("xmp")
    if isinstance(xmp, str):  # XMP is XML text: UTF-8, as metadata.from_pillow reads it
        xmp = xmp.encode()
    if xmp:
        if not isinstance(xmp, (bytes, bytearray, memoryview)):
            raise ValueError(f"xmp must be bytes or str, not {type(xmp).__name__}")
        header = b"http://ns.adobe.com/xap/1.0/\x00"
        if len(xmp) > MAX_SEGMENT - len(header):
            raise ValueError(f"XMP data is too long: {len(xmp)} bytes, at most "
                             f"{MAX_SEGMENT - len(header)} in a JPEG segment")
        segments.append((0xE1, header + bytes(xmp)))
    icc = info.get("icc_profile")
    if icc:
        if not isinstance(icc, (bytes, bytearray, memoryview)):
            raise ValueError(f"icc_profile must be bytes (an ICC profile, e.g. "
                             f"ImageCms.ImageCmsProfile(...).tobytes()), not {type(icc).__name__}")
        chunk = MAX_SEGMENT - 14
        chunks = [icc[i:i + chunk] for i in range(0, len(icc), chunk)]
        if len(chunks) > 255:
            raise ValueError(f"ICC profile is too long: {len(icc)} bytes, at most "
                             f"{255 * chunk} (255 segments of {chunk})")
        for number, data in enumerate(chunks, 1):
            segments.append((0xE2, b"ICC_PROFILE\x00" + bytes((number, len(chunks))) + bytes(data)))
    comment = info.get("comment", image.info.get("comment") if image is not None else None)
    if isinstance(comment, str):
        comment = comment.encode()
    if comment is not None and not isinstance(comment, (bytes, bytearray, memoryview)):
        raise ValueError(f"comment must be str or bytes, not {type(comment).__name__}")
    comment = bytes(comment or b"")
    if len(comment) > MAX_SEGMENT:
        raise ValueError(f"Comment is too long: {len(comment)} bytes, at most {MAX_SEGMENT} "
                         f"in a JPEG segment")
    return tuple(segments), comment


def _dpi(info: dict[str, Any]) -> tuple[int, int]:
    """The rounded dpi; (0, 0) unless both are positive (Pillow writes no density then)."""
    dpi = info.get("dpi", (0, 0))
    try:
        x, y = (round(v) for v in dpi)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"dpi must be a pair of numbers, not {dpi!r}") from None
    if not (0 <= x <= 65535 and 0 <= y <= 65535):
        raise ValueError(f"dpi must be from 0 to 65535, not {dpi!r}")
    return (x, y) if x and y else (0, 0)


def _density(info: dict[str, Any], image: Image.Image | None = None) -> tuple[tuple[int, int], int]:
    """(density, unit): ``jfif_density`` in dots per centimetre when ``jfif_unit`` is 2
    (a source's resolution in centimetres, see metadata.py) and ``dpi`` is absent or
    the same resolution, else the dpi: a ``dpi`` given beside a source's stale JFIF
    fields (``**im.info`` of a JPEG in centimetres, then ``dpi=``) wins, as in Pillow,
    whose writer reads ``dpi`` only. Saving a Pillow ``image``, a ``dpi`` other than
    the image's own is the user's, whatever its distance from the density: written in
    inches (``dpi=(300, 300)`` beside a density of 118 per centimetre, 299.72 dpi, had
    kept the centimetres)."""
    if info.get("jfif_unit") == 2 and info.get("jfif_density"):
        try:
            x, y = (int(v) for v in info["jfif_density"])
        except (TypeError, ValueError):
            raise ValueError(f"jfif_density must be a pair of integers, not {info['jfif_density']!r}") from None
        dpi = info.get("dpi")
        own = None if image is None else image.info.get("dpi")
        changed = dpi is not None and own is not None and _pair(dpi) != _pair(own)
        if 0 < x <= 65535 and 0 < y <= 65535 and not changed and _same_resolution(dpi, x, y):
            return (x, y), 2
    return _dpi(info), 1


def _pair(value: Any) -> Any:
    """A resolution as a tuple of floats where it is a pair of numbers (else as it is)."""
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return value


def _same_resolution(dpi: Any, x: int, y: int) -> bool:
    """Whether ``dpi`` is absent or within half a dot per centimetre (1.27 dpi, and a margin
    for rounding) of (x, y) per centimetre."""
    if dpi is None:
        return True
    try:
        dx, dy = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return False  # _dpi names it
    return abs(dx - 2.54 * x) <= 1.3 and abs(dy - 2.54 * y) <= 1.3


def _refuse_progressive(info: dict[str, Any], image: Image.Image | None) -> None:
    """ValueError when ``progressive`` or ``progression`` is true: Pillow's JPEG writer reads
    either; False, 0 or None (or neither given) is baseline."""
    asked = [key for key in ("progressive", "progression") if info.get(key)]
    if not asked:
        return
    one = len(asked) == 1
    given = " and ".join(f"{key}={info[key]!r}" for key in asked)
    refused = f"STREAMJPEG writes baseline JPEG: {given} {'is' if one else 'are'} not supported"
    own = {} if image is None else image.info
    if all(key in own and own[key] == info[key] for key in asked):
        raise ValueError(
            f"{refused}; the source image's info has {'it' if one else 'them'} (Pillow sets "
            "progressive and progression on a progressive JPEG it opens, and save(**im.info) "
            "passes them on): leave both out of the options or set both to False")
    raise ValueError(f"{refused} (leave {'it' if one else 'them'} out or pass False)")


def _refuse_unsupported(info: dict[str, Any]) -> None:
    """ValueError for Pillow's JPEG options that STREAMJPEG does not honour, when asked for.

    Their defaults (smooth=0, streamtype=0, extra=b"") are what it writes.
    """
    smooth, streamtype = info.get("smooth", 0), info.get("streamtype", 0)
    if smooth:
        raise ValueError(f"smooth={smooth!r} is not supported: STREAMJPEG does not smooth its "
                         "input (libjpeg's smoothing_factor); use smooth=0 or filter the image "
                         "first (ImageFilter)")
    if streamtype:
        raise ValueError(f"streamtype={streamtype!r} is not supported: STREAMJPEG writes whole "
                         "interchange files (streamtype=0), not tables-only (1) or abbreviated "
                         "(2) streams")
    if info.get("extra"):
        raise ValueError("extra is not supported: STREAMJPEG writes its own marker segments; "
                         "pass exif, icc_profile, xmp or comment")


def averages_rounded_chroma(qtables) -> bool:
    """Whether subsampled chroma averages the rounded chroma of the pixels (kernels'
    ``convert`` 2) rather than converting the averaged RGB and rounding (3).

    With a quantizer of 1 (about q93 and above) the coefficients carry the
    samples almost losslessly, and converting the averaged RGB made q100 4:2:0
    files 2 to 3 % bigger; with coarser ones it costs at most 0.1 % in size
    and 0.01 dB (q90 4:2:0 on photos), and the fused conversion is 3
    instructions a pixel cheaper (q90 4:2:0 21.1 to 18.0; docs/performance.md
    and docs/fidelity.md, "Rounding YCbCr").
    """
    return min(min(table) for table in qtables) <= 1


def rounds_averaged_chroma(chroma_tables) -> bool:
    """Whether subsampled chroma, averaged from the rounded pixels, is rounded as libjpeg
    rounds it (kernels' ``convert`` 4): where every quantizer of the chroma components'
    tables is 1 (quality 100). There whole chroma samples pass the DCT almost losslessly,
    and the decoder upsamples what libjpeg would have: at q100 4:2:0 and 4:2:2 the photos
    that were up to 0.44 dB behind Pillow are within 0.02 dB of it or ahead, for 1 to 4 % more
    bytes (still smaller than Pillow's); at q95 to q99, where some chroma quantizers are 2
    or more, rounding lost up to 0.13 dB (docs/fidelity.md, "Subsampled chroma at quality
    100 rounded as libjpeg rounds it").
    """
    return bool(chroma_tables) and max(max(table) for table in chroma_tables) <= 1


#: Joint rounding (``rounds_jointly``) where every quantizer is at least this.
JOINT_MIN_QUANTIZER = 2
#: At 4:2:0 and 4:2:2, the luma correction (``rounds_jointly``) where the chroma
#: tables' quantizers average at least this too (IJG quality 92, 13.9, and below), or where
#: the luma table has a quantizer of 1 and the chroma's are at least ``JOINT_MIN_QUANTIZER``
#: (q93 to q95), gated there by the chroma's detail (``strips.LUMA_FIX_DETAIL``). At q92 it
#: gains 0.13 to 0.29 dB over Pillow on 7 of 8 photos and 0.01 dB on retina (measured
#: 2026-12-03); at q93 to q97, ungated, it lost up to 0.9 dB on retina, a JPEG once saved
#: with subsampled chroma, where it only moved Y off whole values (docs/fidelity.md, "The
#: luma correction at quality 92, and above it tried", and "The luma correction gated by
#: the chroma's detail").
LUMA_FIX_MIN_CHROMA_MEAN = 13


def luma_fix_gated(luma_table) -> bool:
    """Whether the 4:2:0 and 4:2:2 luma correction (``rounds_jointly``) runs gated by the
    chroma's detail (kernels' ``_luma_gate``): where the luma table has a quantizer below
    ``JOINT_MIN_QUANTIZER``, a 1 (IJG quality 93 to 95)."""
    return min(luma_table) < JOINT_MIN_QUANTIZER


#: ``smooth_levels``: the most levels a smooth block's samples span (docs/fidelity.md,
#: "Smooth blocks").
SMOOTH_LEVELS = 2


#: ... where a table the components use has at least this many quantizers of 1 (IJG quality
#: 94 and above): at 93 (one) the choice changed nothing on ramps and vignettes (0.00 dB)
#: and cost 2.4x to 3.8x their save; at 94 (four) it made a 3001 x 201 ramp level with
#: Pillow (+0.71 dB), and at 95 issue 15's 1024 x 768 ramp (+0.78 dB)
SMOOTH_MIN_ONES = 4


def smooth_levels(converted: bool, components: tuple[Component, ...], qtables) -> int:
    """``Settings.smooth_levels``: ``SMOOTH_LEVELS`` for components the kernels take as they
    are, none subsampled, with ``SMOOTH_MIN_ONES`` quantizers of 1 in a table they use;
    else 0."""
    if converted or any(c.h != 1 or c.v != 1 for c in components):
        return 0
    if max(list(qtables[c.table]).count(1) for c in components) < SMOOTH_MIN_ONES:
        return 0
    return SMOOTH_LEVELS


def rounds_jointly(converted: bool, components: tuple[Component, ...], qtables) -> bool:
    """Whether Y takes up part of the chroma's error (``Settings.joint_rounding``):
    for RGB the kernels convert to YCbCr. Without subsampling, with tables whose every
    quantizer is at least ``JOINT_MIN_QUANTIZER``, each frequency's Y, Cb and Cr
    coefficients are rounded together (kernels' ``_joint_round``); at 4:2:0 and
    4:2:2, where the chroma's quantizers are at least that and average at least
    ``LUMA_FIX_MIN_CHROMA_MEAN`` and the luma's are at least that too, Y is corrected
    for the chroma the decoder will upsample (``_luma_fix``: 1.10x to 1.15x the encode
    time at 4:2:0, 1.13x to 1.21x at 4:2:2, where it costs the same per chroma block
    over half the pixels); where the luma table has a quantizer of 1 instead (IJG
    quality 93 to 95), only on groups of MCUs whose source chroma has detail within the
    subsampling cells (``_luma_gate``, ``strips.LUMA_FIX_DETAIL``: 1.09x to 1.23x)."""
    if not converted or len(components) != 3 or any(c.h != 1 or c.v != 1 for c in components[1:]):
        return False
    sampling = (components[0].h, components[0].v)
    if sampling not in ((1, 1), (2, 1), (2, 2)):
        return False
    if sampling == (1, 1):
        return min(min(qtables[t]) for t in {c.table for c in components}) >= JOINT_MIN_QUANTIZER
    chroma = [qtables[c.table] for c in components[1:]]
    if min(map(min, chroma)) < JOINT_MIN_QUANTIZER:
        return False
    if luma_fix_gated(qtables[components[0].table]):
        return True  # a luma quantizer of 1: the correction gated by the chroma's detail
    # each table summed as a whole: 9 -> 3 us
    return sum(map(sum, chroma)) >= LUMA_FIX_MIN_CHROMA_MEAN * sum(map(len, chroma))


def parse(
    mode: str, size: tuple[int, int], info: dict[str, Any], image: Image.Image | None = None,
    *, channels: int | None = None,
) -> Settings:
    """Validate the mode, size and save options of an image into Settings.

    ``image`` is the source image when there is one: "keep" and the default
    comment read it. ``channels``: samples per pixel of the source's rows
    (default: one per component). The Settings of recent saves are kept and
    returned again for the same mode, size, options and default comment
    (``memo``), while this module's functions and constants stay the same.
    """
    comment = image.info.get("comment") if image is not None and "comment" not in info else None
    key = memo.key_of(mode, size, info, comment, channels, SUBSAMPLING_NAMES)
    source = jpeg_tables(image)
    if key is not None and source[0]:
        key = (key, source)  # a decoded JPEG's Settings may differ (``decoded_again``)
    if key is not None and info.get("workers") is None:
        # the default's workers follow the CPUs the process may run on now
        key = (key, available_cpus())
    return _PARSED.get(key, lambda: _parse(mode, size, info, image, channels))


def derived(settings: Settings, name: str, build: Callable[[Settings], T]) -> T:
    """``build(settings)``, kept with Settings that ``parse`` keeps (``memo.Parsed.derived``):
    the header, the kernels' frame and code tables of a save."""
    return _PARSED.derived(settings, name, build)


def _parse(mode: str, size: tuple[int, int], info: dict[str, Any], image: Image.Image | None,
           channels: int | None) -> Settings:
    """``parse``, each time."""
    layout = check_mode(mode)
    kept_rgb = bool(info.get("keep_rgb")) and mode in ("RGB", "RGBX")
    if kept_rgb:
        layout = KEEP_RGB
    layout = replace(layout, channels=channels or len(layout.ids))
    width, height = size
    check_size(width, height)
    _refuse_progressive(info, image)
    _refuse_unsupported(info)

    quality = info.get("quality", -1)
    subsampling = info.get("subsampling", -1)
    qtables = info.get("qtables")
    if quality == "keep":
        source = _keep_source(image, "quality")
        quality, subsampling, qtables = -1, "keep", "keep"
    elif isinstance(quality, str) and quality in JpegPresets.presets:
        preset = JpegPresets.presets[quality]
        quality, subsampling, qtables = -1, preset.get("subsampling", -1), preset.get("quantization")
    elif quality is None or quality == -1:
        quality = -1
    elif whole_number(quality) is None or not 0 <= quality <= 100:
        raise ValueError(
            f"quality must be an integer from 0 to 100, 'keep' or a preset name "
            f"({', '.join(JpegPresets.presets)}), not {quality!r}"
        )
    else:
        quality = int(quality)  # a NumPy integer too, as the other integer options
    if isinstance(subsampling, str) and subsampling in JpegPresets.presets:
        subsampling = JpegPresets.presets[subsampling].get("subsampling", -1)
    if isinstance(qtables, str) and qtables in JpegPresets.presets:
        qtables = JpegPresets.presets[qtables].get("quantization")
    if isinstance(qtables, str) and qtables == "keep":
        source = _keep_source(image, "qtables")
        qtables = getattr(source, "quantization", None)
    sampling = SAMPLING[_subsampling(subsampling, image)]
    if kept_rgb and sampling != (1, 1):
        # Pillow refuses it too ("would subsample the green and blue channels")
        raise ValueError(f"keep_rgb=True keeps R, G and B whole: subsampling must be 4:4:4, "
                         f"not {subsampling!r}")

    ncomp = len(layout.ids)
    if qtables is not None:
        natural = _qtables(qtables, None if quality == -1 else quality)
        table_of = [min(i, len(natural) - 1) for i in range(ncomp)]
    else:
        quality_value = DEFAULT_QUALITY if quality == -1 else max(quality, 1)
        natural = tables.quality_tables(quality_value)
        table_of = [0] + [1] * (ncomp - 1) if layout.convert or mode == "YCbCr" else [0] * ncomp
    used = sorted(set(table_of))
    natural = [natural[t] for t in used]
    table_of = [used.index(t) for t in table_of]
    # Baseline allows two Huffman tables of each class. Like libjpeg, YCbCr images code a
    # component with quantization table t with Huffman table min(t, 1)
    # (``Settings.huffman_ids``): the luminance tables for the first, the chrominance tables
    # for the second; grey, CMYK and RGB images code every component with the luminance
    # tables, one set whatever their quantization tables (a second set was the same bytes
    # again, about 200 of them, where ``qtables`` gave CMYK or RGB two or more).
    ycc = layout.convert or mode == "YCbCr"
    specs = [tables.STD_HUFFMAN[1 if t > 0 else 0] for t in range(min(len(natural), 2 if ycc else 1))]
    h, v = sampling if ncomp > 1 else (1, 1)
    components = tuple(
        Component(ident, h if i == 0 else 1, v if i == 0 else 1, table_of[i])
        for i, ident in enumerate(layout.ids)
    )

    segments, comment = _metadata(info, image)
    mcus_per_row = -(-width // (8 * components[0].h))
    restart = restart_interval(info, mcus_per_row, default_interval(width, height, 8 * components[0].v))
    optimize = info.get("optimize", False)
    if optimize is None:
        optimize = False
    if not (isinstance(optimize, bool) or whole_number(optimize) in (0, 1)  # True, False, 0, 1
            or getattr(getattr(optimize, "dtype", None), "kind", "") == "b"):  # NumPy's bool
        raise ValueError(f"optimize must be True or False, not {optimize!r}")
    optimize = bool(optimize)
    density, unit = _density(info, image)
    ycc_source = mode == "YCbCr" and not layout.convert
    refine = _refine(info, auto_refine(width, height, components, ycc_source=ycc_source,
                                       converted=layout.convert))
    joint = rounds_jointly(layout.convert, components, natural)
    given = info.get("refine")
    decoded = ((refine > 0 or given is None)
               and decoded_again(jpeg_tables(image), natural, components, layout.convert))
    libjpeg = ((refine > 0 or given is None)
               and auto_libjpeg(width, height, components, ycc_source, layout.convert, decoded))
    marked = ((refine > 0 or given is None)
              and marked_choice(width, height, components, ycc_source, layout.convert))
    return Settings(
        width=width,
        height=height,
        layout=layout,
        components=components,
        qtables=tuple(tuple(t) for t in natural),
        huffman=tuple(specs),
        workers=_workers(info),
        round_samples=True,
        optimize=optimize,
        dpi=density,
        density_unit=unit,
        app_segments=segments,
        comment=comment,
        restart_interval=restart,
        refine=refine,
        # the default's rounding where it does not search: refine=0 rounds each coefficient
        # to nearest, as before, and refine=1 or 2 searches from there
        joint_rounding=refine == 0 and given is None and joint and not decoded,
        libjpeg_choice=libjpeg,
        decoded=decoded,
        marked_choice=marked,
        smooth_levels=(smooth_levels(layout.convert, components, natural)
                       if refine == 0 and given is None and not (libjpeg or marked) else 0),
    )


def default_interval(width: int, height: int, strip_height: int) -> int:
    """MCU rows in a default restart interval: about INTERVAL_PIXELS, at least one
    row; 0 (no restart markers) when the image fits in one interval."""
    rows = max(1, INTERVAL_PIXELS // (width * strip_height))
    return 0 if rows * strip_height >= height else rows


def restart_interval(info: dict[str, Any], mcus_per_row: int, default_rows: int) -> int:
    """MCUs per restart interval from Pillow's restart options; 0 for none.

    Without either option: ``default_rows`` MCU rows (``default_interval``; 0
    for none). Otherwise libjpeg's meanings, as Pillow passes them on:
    ``restart_marker_rows`` (MCU rows per interval) wins when above 0, limited
    to 65535 MCUs; else ``restart_marker_blocks`` (MCUs per interval,
    0..65535), where 0 means no restart markers.
    """
    if info.get("restart_marker_blocks") is None and info.get("restart_marker_rows") is None:
        return min(default_rows * mcus_per_row, 65535)
    blocks = _int_option(info, "restart_marker_blocks", 0, 65535, None) or 0
    rows = _int_option(info, "restart_marker_rows", 0, None, None) or 0
    if rows:
        return min(rows * mcus_per_row, 65535)
    return blocks


def _policy_names(module: Any) -> list[str]:
    """The names of a module's functions and constants, which decide a save's Settings."""
    return sorted(name for name, value in vars(module).items()
                  if name.isupper() or inspect.isfunction(value)
                  and value.__module__ == module.__name__)


#: This module's and the tables module's functions and constants as they are now (a test or
#: benchmark may rebind them): the Settings ``parse`` kept are dropped when they change.
_policy = operator.itemgetter(*_policy_names(sys.modules[__name__]))
_tables_policy = operator.itemgetter(*_policy_names(tables))
_PARSED = memo.Parsed(lambda: (_policy(globals()), _tables_policy(vars(tables))))
