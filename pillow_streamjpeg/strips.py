"""The strip coder: runs of strips of a band to entropy-coded bytes, through the kernels.

Every strip is one MCU row. A restart interval is any number of MCUs (whole rows of
about options.INTERVAL_PIXELS by default): the kernels restart inside a strip where an
interval ends
there, and inside an interval each strip continues the previous strip's DC
predictors and unwritten bits. Intervals are encoded independently, on any
thread (the kernels release the GIL) or any machine; the scan writer
(``scan``) groups strips into tasks and writes them in order, joining at bit
level the parts of intervals that tasks cut (``StripCoder.encode``). The
optimize pass counts each strip's symbols as if it started an interval (the
DC differences of a strip's first MCU are sampled, not exact; every legal
symbol gets a code), on images too large for the scan writer to read their
symbols back from one coding (``scan.read_back``).

With ``refine`` (the decoder-aware quantization, docs/fidelity.md) a strip is
coded in two kernel calls with the search between them: ``kernels.strip_coefs``
(the strip's samples and quantized coefficients), ``refine.refine_group`` on
them, ``kernels.code_coefs`` (the coding of ``encode_strip``); the optimize
pass counts the refined coefficients. Without it, one call, and narrow strips
many to a call (``encode_strips``, ``RUN_BYTES``): the kernel restarts between
them where intervals end, and, with the default's choice on marked MCUs, stops
before a strip that has some, which takes the two-step path. On the two-step
path, whole strips of a narrow image (up to ``SIDE_MCUS`` MCUs in all) are
laid side by side and coded as one strip (``side_by_side``,
``StripCoder._encode_side``): images refined on every strip (the default's on
small images, ``refine`` given), and marked strips in a row. A strip the same as
the one before it there is refined once and coded from its coefficients
(``kernels.code_copies``): its copies do not count against ``SIDE_MCUS`` on the marked
strips' runs.

With the default's choice on smooth blocks (``Smoothing``: grey and other images
coded plane by plane, without subsampling, at quality 94 and above),
strips are coded in one call with the choices the smooth module's cache of choices
makes from their pixels (``Smoothing.plan``: ``smooth.smooth_plan`` writes them, the
kernels code them, ``kernels._apply_plan``); a strip with a block the cache cannot
decide takes the two-step path, with the smooth module's three steps between the
kernels' two calls (``smoothed_coefs``), whose decisions fill the cache. Alone (not in a
run: ``encode_strip``), a strip in which ``smooth.smooth_screen`` finds smooth windows
takes the two-step path.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import NamedTuple

import numpy as np

from . import engine, markers, sources, tables
from .options import (REFINE_AUTO_BLOCKS, REFINE_AUTO_BLOCKS_PLANES, Settings, coded_blocks,
                      derived, luma_fix_gated)

#: A run of strips of one band: (band, its first row in the band, the image's
#: index of its first strip, strip count).
Piece = tuple[np.ndarray, int, int, int]

#: MCUs the kernels take through each stage at a time (their scratch buffers
#: stay in the first-level caches).
MCUS_PER_GROUP = 32

#: Band bytes of the strips ``StripCoder`` codes in one kernel call (``encode_strips``):
#: a call and its Python cost about 4 to 5 us a strip besides the coding, a third of a
#: 256 x 256 save's time when each of its 32 strips took one; strips of this size or
#: more take a call each, as before. Rows read for a run are copied once for it (a
#: Pillow image's) and its output buffer holds the run (docs/performance.md, "Small
#: saves: strips in one call").
RUN_BYTES = 256 << 10


#: optimize=True counts the Huffman symbols of one strip in this many (the first
#: of each run), and gives every legal symbol a code: files come within 0.3 % of
#: the size fully counted tables give (+0.03 % on the benchmark mosaic), and the
#: counting pass, slower per strip than the coding one (72 against about 100 MP/s
#: per core), costs an eighth of it (docs/performance.md).
COUNT_EVERY = 8

#: Images of at most this many strips have every strip counted.
COUNT_ALL_UP_TO = 64


def count_every(strip_count: int) -> int:
    """1 in how many strips the optimize pass counts."""
    return 1 if strip_count <= COUNT_ALL_UP_TO else COUNT_EVERY


#: ``Frame.joint`` where coefficients are rounded to nearest.
NO_JOINT = np.zeros(0, dtype=np.int32)
NO_JOINT.setflags(write=False)


class Frame(NamedTuple):
    """The kernels' frame arguments, in their export order (after band, row_bytes, row0, nrows)."""

    width: int
    channels: int  #: samples per pixel in the band's rows
    ncomp: int
    convert: int  #: 0 none, 1 RGB to YCbCr, 2 the same rounded, 3 rounded, chroma of averaged RGB
    hs: int  #: sampling factors of component 0
    vs: int
    comp_table: np.ndarray  #: int64 table set of each component
    recip: np.ndarray  #: float32 quantization multipliers (``tables.kernel_reciprocals``)
    #: int32 weights where Y takes up part of the chroma's error (``Settings.joint_rounding``),
    #: or empty (off): at 4:4:4 the joint rounding's (``tables.joint_weights``; ``recip`` is
    #: then 32 times the multipliers), at 4:2:0 and 4:2:2 the luma correction's
    #: (``_luma_fix_weights``)
    joint: np.ndarray = NO_JOINT

    @classmethod
    def of(cls, settings: Settings) -> Frame:
        comp_table = np.array([c.table for c in settings.components], dtype=np.int64)
        return cls(
            settings.width, settings.layout.channels, len(settings.components), settings.convert,
            settings.hs, settings.vs, comp_table,
            *rounding_arrays(settings.qtables, comp_table, settings.joint_rounding, settings.hs,
                             settings.vs),
        )

    def wider(self, strips: int) -> Frame:
        """The frame of ``strips`` of its strips laid side by side (``laid_side_by_side``)."""
        # tuple.__new__, not _replace: 0.3 against 0.7 us, two or three times a side-by-side save
        return tuple.__new__(Frame, (strips * self.width, *self[1:]))

    @property
    def rgb_error(self) -> bool:
        """RGB that the kernels convert to YCbCr, 4:4:4, 4:2:2 or 4:2:0: refined against the RGB pixels the decoder gives (``refined_coefs``)."""
        return bool(self.convert) and self.ncomp == 3 and (self.hs == self.vs == 1 or self.hs == 2)


class Codes(NamedTuple):
    """The kernels' entropy-coding tables, in their export order (after the frame)."""

    huff: np.ndarray  #: ``tables.kernel_code_table``
    pairs: np.ndarray  #: ``tables.kernel_pair_table``
    value: np.ndarray  #: ``tables.VALUE_TABLE``

    @classmethod
    def of(cls, huffman: Sequence, ids: Sequence[int] | None = None) -> Codes:
        """The tables of each kernel table set t, coded with Huffman table ``ids[t]``."""
        if ids is not None:
            huffman = tuple(huffman[i] for i in ids)
        return cls(*_cached(_code_tables, huffman), tables.VALUE_TABLE)

    @classmethod
    def of_settings(cls, settings: Settings) -> Codes:
        """The tables of a save's table sets (``of``)."""
        return cls.of(settings.huffman, settings.huffman_ids)


#: Strips ``_repeats`` compares in one numpy comparison from this many on (fewer: strip by
#: strip, a bytes comparison each; the two ties at about 8 strips of 64 x 8 grey pixels)
REPEATS_AT_ONCE = 8


#: Table sets kept by ``_cached``: a save's tables are built once, then reused
#: by every later save with the same ones (they cost about 1 ms a save to build).
TABLES_CACHED = 32


def _cached(build, spec):
    """``build(spec)``, kept for the next call with an equal spec: arrays made
    read-only, as the kernels only read them and every thread and save shares them."""
    if isinstance(spec, tuple):
        try:  # hashed once, by the cache (a save's tables: 2 to 4 us a hash)
            return _cached_build(build, spec)
        except TypeError:  # lists inside
            pass
    try:
        key = _frozen(spec)
    except TypeError:  # other types than ints and sequences: not kept
        return build(spec)
    return _cached_build(build, key)


@functools.lru_cache(maxsize=TABLES_CACHED)
def _cached_build(build, key):
    made = build(key)
    for array in (made if isinstance(made, tuple) else (made,)):
        array.setflags(write=False)
    return made


def _frozen(spec):
    """Nested sequences of ints as nested tuples (a hashable key); TypeError for anything else."""
    if isinstance(spec, (int, np.integer)):
        return int(spec)
    if isinstance(spec, (str, bytes)):
        raise TypeError(spec)
    return tuple(_frozen(item) for item in spec)


def rounding_arrays(qtables, comp_table, joint_rounding: bool, hs: int,
                    vs: int) -> tuple[np.ndarray, np.ndarray]:
    """``Frame``'s ``recip`` and ``joint``: where Y takes up part of the chroma's error,
    without subsampling the joint rounding's weights and 32 times the multipliers,
    subsampled (``hs`` x ``vs``) the luma correction's weights; else the multipliers and
    no weights."""
    if not joint_rounding:
        return _cached(_reciprocals, qtables), NO_JOINT
    used = tuple(qtables[t] for t in comp_table)
    if hs == 1:
        return _cached(_reciprocals32, qtables), _cached(_joint_weights, used)
    return _cached(_reciprocals, qtables), _cached(_luma_fix_weights, (used, vs))


def _reciprocals(qtables) -> np.ndarray:
    return tables.kernel_reciprocals(qtables)


def _reciprocals32(qtables) -> np.ndarray:
    return tables.kernel_reciprocals(qtables) * np.float32(32)


def _quantizers(qtables) -> np.ndarray:
    """``Refinement.quant``: the tables' quantizers, natural order, 64 per table (int32)."""
    return np.asarray(qtables, dtype=np.int32).ravel()


def _joint_weights(qtables) -> np.ndarray:
    return tables.joint_weights(*qtables, rate=JOINT_RATE)


#: The damping of the luma correction at 4:2:0 and 4:2:2 (kernels' ``_luma_fix``): Y
#: moves by this times the third of the chroma's error in Z that would cancel it
#: (docs/fidelity.md, "Luma corrected for the decoded chroma": 0.75 kept the most
#: of the gain; smaller ones, 0.6 to 0.35, made files 0.1 to 1 % smaller for 0.02 to
#: 0.08 dB less on 4 photos, and left hubble_deep_field's 0.2 to 1.6 % above Pillow's).
LUMA_DAMP = 0.75


#: Where the luma table has a quantizer of 1 (IJG quality 93 to 95: ``options.rounds_jointly``)
#: the luma correction is gated, group by group of MCUs, by the source's chroma detail
#: (kernels' ``_luma_gate``): it runs where Z (the chroma's share of the RGB error that Y can
#: cancel) has at least this mean square about the means of 2 x 2 cells, at 4:2:0 (key 2) and
#: 4:2:2 (key 1). Elsewhere the group is converted as without it. Ungated, retina (a
#: photograph once saved with subsampled chroma) lost 0.2 to 0.8 dB there; gated so, it stays
#: within 0.05 dB of before and six photos gain 0.1 to 0.35 dB (docs/fidelity.md, "The luma
#: correction gated by the chroma's detail").
LUMA_FIX_DETAIL = {2: 1.0, 1: 0.7}


def _luma_fix_weights(spec) -> np.ndarray:
    """``_luma_fix``'s J for ``(tables used, vs)``: Cb's quantizers, Cr's (natural order), 256
    times ``LUMA_DAMP``, and ``_luma_gate``'s threshold: 256 times ``LUMA_FIX_DETAIL`` where
    the correction is gated (``options.luma_fix_gated``), else 0."""
    (luma, cb, cr), vs = spec
    gate = round(256 * LUMA_FIX_DETAIL[vs]) if luma_fix_gated(luma) else 0
    return np.array(list(cb) + list(cr) + [round(256 * LUMA_DAMP), gate], dtype=np.int32)


#: ``tables.joint_weights``' rate term: a non-zero Y coefficient costs this times its
#: quantizer squared (RGB squared error). Measured on 7 photos at q92 to q50
#: (docs/fidelity.md, "Y rounded with the chroma"): 0.2 left every file below 0.995x
#: Pillow's size, 0.1 left 6 of 28 above it, 0.4 kept 0.005 dB less of the gain on average.
#: 0.4 since a step to zero earns it only where the chroma's cross terms lean that way
#: (kernels' ``_joint_round``; "Grey content in RGB: the joint rounding's dead zone"): with
#: 0.2, hubble_deep_field at q25 to q75 and rocket at q50 came out 0.05 to 0.8 % larger than
#: Pillow's files; with 0.4 every file of the 7 photos at q92 to q25 is at most 0.998x.
JOINT_RATE = 0.4


def _code_tables(huffman) -> tuple[np.ndarray, np.ndarray]:
    huff = tables.kernel_code_table(huffman)
    return huff, tables.kernel_pair_table(huff)


#: Candidates per sweep of the decoder-aware quantization (``refine_group``'s
#: ``tries``; docs/fidelity.md, "Decoder-aware quantization").
REFINE_TRIES = 6

#: Images of at most this many coded blocks (``options.coded_blocks``; the automatic
#: default's limit for RGB 4:4:4 until 2026-12-01, now 12) are searched harder: more
#: candidates (``REFINE_TRIES_SMALL``) and no rate term. Their few blocks decide their PSNR, a partial block's few pixels leave the
#: ranking less to go by, and a file of so few blocks is mostly its headers, so bytes
#: traded for error buy nothing (docs/fidelity.md, "Small images: more candidates, no
#: rate term").
REFINE_SMALL_BLOCKS = 8
#: Images of at most this many coded blocks (and more than ``REFINE_SMALL_BLOCKS``) are
#: searched without the rate term and the screen of candidates, with ``REFINE_TRIES``
#: candidates: the automatic default's largest limit (``options.REFINE_AUTO_BLOCKS``, RGB
#: 4:4:4, 18; grey's ``REFINE_AUTO_BLOCKS_PLANES`` is 16). With the rate term, refine=1
#: decoded worse than refine=0 on 48 of 225 grey images of 9 to 16 blocks at quality 1 to
#: 75 (floor contents), and the default lost three RGB floor cases of 18 blocks at q1;
#: without it the error never grows.
REFINE_PLAIN_BLOCKS = max(REFINE_AUTO_BLOCKS, REFINE_AUTO_BLOCKS_PLANES)
#: The most blocks of a subsampled image of one MCU: a 4:2:0 MCU is 6 blocks, a 4:2:2 one 4,
#: two MCUs at least 8 (``Refinement.libjpeg``: the model is exact for one alone).
SUBSAMPLED_MCU_BLOCKS = 6
#: ``tries`` on small images, where the search counts one block's error or the RGB error
#: without subsampling: 16 keeps a save of 8 grey blocks within 1.22x (all 64: 1.27x).
REFINE_TRIES_SMALL = 16
#: ``tries`` on small subsampled images: a candidate of ``refine_group_sub`` costs about
#: 3 times one of the other searches, and 16 took a 4:2:0 MCU's save to 1.37x (6: 1.25x
#: to 1.28x; 4: 1.23x, but issue 15's 8 x 8 4:2:0 gradient then loses to Pillow).
REFINE_TRIES_SMALL_SUBSAMPLED = REFINE_TRIES
#: The rate term's least value (squared levels of one component) for images refined against
#: their RGB pixels (``Frame.rgb_error``), of more than ``REFINE_RGB_LAM_BLOCKS`` blocks, which
#: matters where the finest quantizer is 1 (qualities 98 to 100 of the standard tables,
#: where the rate term was 0 before): issue 15's quality 100 target for colour (at least Pillow + 1 dB at 0.97x its size). With it, at quality 100 (every
#: quantizer 1) ``refine_group_rgb`` also lists ``refine.ZERO_TRIES`` coefficients of 1 or -1
#: made 0 per sweep (in place of ``refine.ZERO_TAKES`` of its other candidates). Measured on
#: six colour photos at quality 100, 4:4:4, refine=1: 0.821x to 0.970x Pillow's size and
#: +1.23 to +2.75 dB over it, where the search without a rate term gave 0.955x to 0.980x and
#: +1.42 to +3.95 dB; a rate term of 2 without the zero candidates 0.878x to 0.973x and
#: +1.22 to +2.67 dB; 18 % more instructions in the search (docs/fidelity.md, "A rate term at
#: quality 100 for colour"). Grey images keep half the finest square (0 at quality 100):
#: their target (Pillow + 2 dB at 1.01x its size) holds without it.
REFINE_RGB_LAM = 1.25
#: ... on images of more than this many coded blocks (about 110 x 110 RGB at 4:4:4): on the
#: floor's small contents at quality 100 it lost up to 0.15 dB against refine=0 (15 x 17
#: checker, for one byte) and made one ramp larger (33 x 17, +1.6 %); the files of small
#: images are mostly their headers, and the target is photos'.
REFINE_RGB_LAM_BLOCKS = 1024


#: ``Refinement.libjpeg`` of the default's choice on marked MCUs only (``Refinement.marked``).
MARKED = 2
#: No marks: the refine kernels' ``marks`` where ``Refinement.libjpeg`` is not ``MARKED``.
NO_MARKS = np.zeros(0, np.uint8)
#: No plan of choices on smooth blocks: ``kernels.encode_strips``' ``plan`` without one.
NO_PLAN = np.zeros(0, np.int32)


class Refinement(NamedTuple):
    """The decoder-aware quantization's arguments (``refine.refine_group``'s after the strip's)."""

    module: ModuleType  #: a build of transpiled/refine.py (``engine.refine``) or its source
    quant: np.ndarray  #: int32 quantizers, natural order, 64 per table
    sweeps: int  #: 1 or 2; 0: no search, libjpeg's coefficients chosen only (``libjpeg``)
    #: rate term: 0 for images of at most REFINE_PLAIN_BLOCKS blocks, else half the finest
    #: quantizer's square, for RGB error searches of more than REFINE_RGB_LAM_BLOCKS blocks
    #: at least REFINE_RGB_LAM
    lam: float
    tries: int  #: candidates per sweep
    #: 1: candidates of larger quantizers predicted to lose more than a quarter step's square
    #: left out (``refine._rank_sweep``); images of more than REFINE_PLAIN_BLOCKS blocks
    screen: int
    #: the image's columns (a strip cut into columns has fewer): libjpeg-turbo's upsampler
    #: depends on them (``refine_group_sub``'s box)
    width: int
    #: 1: after the search, each block (each MCU of RGB) takes libjpeg-turbo's
    #: coefficients where they decode closer than the search's (``refine.refine_group``'s
    #: ``libjpeg``, as ``refine_group_rgb``'s and ``refine_group_sub``'s): images of at most
    #: REFINE_PLAIN_BLOCKS blocks and those ``Settings.libjpeg_choice`` names, which then
    #: never decode farther from the source than Pillow's file does (subsampled ones only
    #: of one MCU; those of more, up to ``options.LIBJPEG_AUTO_BLOCKS_SUBSAMPLED`` blocks,
    #: without a search only, by a model approximate at MCU edges: within 0.1 dB);
    #: ``MARKED``: only on the MCUs of repeated or one-dimensional content
    #: (``strip_marks``), without a search (``Refinement.marked``, the default's) or after
    #: it (``with_marked``: ``refine`` given on the images ``Settings.marked_choice`` names)
    libjpeg: int = 0
    #: the image's rows (0: not known): with ``width``, whether a subsampled image is one MCU
    height: int = 0

    def box(self, vs: int) -> int:
        """``refine_group_sub``'s ``box``: 1 where the image has at most 2 chroma columns
        (libjpeg-turbo's upsampler then repeats samples), + 2 where it is one MCU (the
        model exact: the choice counts every pixel, not its inner ones as well)."""
        alone = self.width <= 16 and 0 < self.height <= 8 * vs
        return int(-(-self.width // 2) <= 2) + 2 * int(alone)

    @property
    def marked_only(self) -> bool:
        """No search, libjpeg's coefficients chosen on marked MCUs only: strips without any
        code in one call (``encode_strip``)."""
        return self.libjpeg == MARKED and not (self.sweeps > 0 and self.tries > 0)

    def with_marked(self) -> Refinement:
        """This search, then libjpeg's coefficients chosen on marked MCUs (``MARKED``), unless it
        already chooses on every block."""
        return self if self.libjpeg else self._replace(libjpeg=MARKED)

    @classmethod
    def marked(cls, qtables: Sequence[Sequence[int]], width: int,
               module: ModuleType | None = None, height: int = 0) -> Refinement:
        """The default's choice of libjpeg-turbo's coefficients on the MCUs of repeated or one-dimensional content (``Settings.marked_choice``), of an image ``width`` columns wide (``height`` rows, 0: not known)."""
        quant = _cached(_quantizers, qtables)
        return cls(engine.refine if module is None else module, quant, 0, 0.0, 0, 0, width,
                   MARKED, height)

    @classmethod
    def of(cls, qtables: Sequence[Sequence[int]], sweeps: int, width: int,
           module: ModuleType | None = None, blocks: int | None = None,
           subsampled: bool = False, rgb_error: bool = False,
           libjpeg: bool = False, plain: bool = False, height: int = 0) -> Refinement | None:
        """The refinement of these (natural-order) tables for an image ``width`` columns wide (``height`` rows, 0: not known); None for ``sweeps`` 0 (off) without ``libjpeg``.

        ``libjpeg`` (``Settings.libjpeg_choice``): with ``sweeps`` 0, no search,
        each block only keeps libjpeg's coefficients where they decode closer; with
        a search, it does so after the search, as on images of at most
        ``REFINE_PLAIN_BLOCKS`` blocks (not on subsampled ones of more than one MCU,
        whose MCU edges the model approximates, but for those ``libjpeg`` names).
        ``plain`` (``Settings.marked_choice``, images of up to
        ``options.MARKED_CHOICE_MCUS`` MCUs): no rate term and no screen, as for
        ``REFINE_PLAIN_BLOCKS`` (with them, 57 of 60 every-quality losses to
        Pillow's files on small content; docs/fidelity.md); the caller then
        chooses on the marked MCUs (``with_marked``) where not on every block.

        ``blocks``: the image's coded blocks; at most ``REFINE_SMALL_BLOCKS``, the
        search tries more candidates and has no rate term; at most
        ``REFINE_PLAIN_BLOCKS``, no rate term; at most either, libjpeg-turbo's
        coefficients are kept where they decode closer (``libjpeg``); above (and when not given), the rate
        term and the screen of candidates. ``subsampled``: a component of the
        image is subsampled. ``rgb_error``: the search counts the error of RGB
        pixels (``Frame.rgb_error``), whose rate term is at least ``REFINE_RGB_LAM``
        above ``REFINE_RGB_LAM_BLOCKS`` blocks (or when ``blocks`` is not given).
        """
        if not sweeps and not libjpeg:
            return None
        quant = _cached(_quantizers, qtables)
        module = engine.refine if module is None else module
        if not sweeps:
            return cls(module, quant, 0, 0.0, 0, 0, width, 1, height)
        # after the search where its model is exact: not subsampled images of more than one
        # MCU, whose MCUs' edges it approximates, but for those the default chooses for
        small = blocks is not None and blocks <= REFINE_PLAIN_BLOCKS
        exact = (not subsampled or (blocks is not None and blocks <= SUBSAMPLED_MCU_BLOCKS)
                 or libjpeg)
        after = int((small or libjpeg) and exact)
        if blocks is not None and blocks <= REFINE_SMALL_BLOCKS:
            tries = REFINE_TRIES_SMALL_SUBSAMPLED if subsampled else REFINE_TRIES_SMALL
            return cls(module, quant, sweeps, 0.0, tries, 0, width, after, height)
        if small or plain:
            return cls(module, quant, sweeps, 0.0, REFINE_TRIES, 0, width, after, height)
        finest = min(min(table) for table in qtables)
        lam = 0.5 * finest * finest if finest > 1 else 0.0
        if rgb_error and (blocks is None or blocks > REFINE_RGB_LAM_BLOCKS):
            lam = max(lam, REFINE_RGB_LAM)
        return cls(module, quant, sweeps, lam, REFINE_TRIES, 1, width, after, height)


class Smoothing(NamedTuple):
    """The default's choice on smooth blocks (``Settings.smooth_levels``): the smooth module and its tables (``smooth_blocks``).

    Blocks whose samples span 1 to ``levels`` levels keep whichever of their
    coefficients and libjpeg-turbo's decode closer, in windows where at least half
    the blocks are so (transpiled/smooth.py; docs/fidelity.md, "Smooth blocks in a
    module of their own").
    """

    module: ModuleType  #: a build of transpiled/smooth.py (``engine.smooth``) or its source
    table: np.ndarray  #: int32: the levels, then each table's quantizers and libjpeg's divisors

    @classmethod
    def of(cls, qtables: Sequence[Sequence[int]], levels: int,
           module: ModuleType | None = None) -> Smoothing | None:
        """The choice for these (natural-order) tables; None for ``levels`` 0 (off)."""
        if levels <= 0:
            return None
        return cls(engine.smooth if module is None else module,
                   _cached(_smooth_array, (int(levels), tuple(tuple(t) for t in qtables))))

    def buffers(self, group: int, blocks: int) -> list[np.ndarray]:
        """New scratch of ``smooth_blocks`` for windows of ``group`` MCUs and strips of
        ``blocks`` blocks: [SB, SF, todo, keys], the cache of choices (in SB) empty."""
        sb, sf, todo, keys = self.module.smooth_scratch(group, blocks)
        made = [np.empty(sb, np.int32), np.empty(sf, np.float32), np.empty(todo, np.int32),
                np.empty(keys, np.int32)]
        self.module.smooth_clear(made[0])
        return made

    def clean(self, band: np.ndarray, row0: int, nrows: int, frame: Frame, mcu0: int,
              interval: int, group: int = MCUS_PER_GROUP) -> int:
        """How many strips of the 2-D uint8 band's ``nrows`` rows from row0 come before the
        first with a window ``smooth_blocks`` may decide (``smooth.smooth_screen``): they
        code in one call, unchanged. ``mcu0``: the image's index of the first one's
        first MCU; ``interval`` and ``group`` as ``encode_strip``'s."""
        return self.module.smooth_screen(band.reshape(-1), band.shape[1], row0, nrows,
                                         frame.width, frame.channels, frame.ncomp,
                                         int(self.table[0]), group, mcu0, interval)

    def plan(self, band: np.ndarray, row0: int, nrows: int, frame: Frame, mcu0: int,
             interval: int, cache: np.ndarray, plan: np.ndarray,
             group: int = MCUS_PER_GROUP) -> int:
        """How many strips of the 2-D uint8 band's ``nrows`` rows from row0 have their
        smooth blocks' choices in the cache (``cache``: ``buffers``' SB), written into
        ``plan`` for ``kernels.encode_strips`` (``smooth.smooth_plan``); the first strip
        after them (if any) has a block to decide on the two-step path. ``mcu0``,
        ``interval`` and ``group`` as ``clean``'s."""
        return self.module.smooth_plan(band.reshape(-1), band.shape[1], row0, nrows,
                                       frame.width, frame.channels, frame.ncomp,
                                       frame.comp_table, self.table, cache, group, mcu0,
                                       interval, plan)


def _smooth_array(spec) -> np.ndarray:
    levels, qtables = spec
    parts = [np.array([levels], dtype=np.int32)]
    for table in qtables:
        parts += [np.asarray(table, dtype=np.int32), tables.libjpeg_divisors(table)]
    return np.concatenate(parts)


#: A thread's buffers (``Scratch``) of at most this many bytes are left, when its coder's
#: call is done, to the thread's next coder of the same sizes (a tile writer's next save):
#: made afresh, the output buffer of a run of 256-pixel-wide RGB strips (about 1.5 MB) is
#: mapped and faulted in anew a save (docs/performance.md, "A save's setup kept for the
#: next save"). Larger ones are freed with their coder.
IDLE_SCRATCH_BYTES = 8 << 20

#: ``left``: (the key of sizes ``StripCoder._scratch`` made them for, Scratch) the thread's
#: last coder left, or None
_idle = threading.local()


@functools.lru_cache(maxsize=64)
def _strip_layout(kernels: ModuleType, width: int, ncomp: int, hs: int,
                  vs: int) -> tuple[int, int]:
    """``kernels.strip_layout``, kept: ``Scratch.two_step`` asks for it once or twice a
    small save (a kernel call and its arguments, 0.5 us, against 0.1 for the lookup)."""
    return kernels.strip_layout(width, ncomp, hs, vs)


class Scratch(NamedTuple):
    """One thread's kernel buffers: samples, dct, coefs and words (``scratch_sizes``), and one strip's output.

    With refinement, the strip-sized samples and coefficients of the two-step
    path too (``kernels.strip_layout``, in ``strip``); made on first use
    (``two_step``) without: the default's choice on marked MCUs
    (``Settings.marked_choice``) needs them only for strips that have some.
    """

    samples: np.ndarray
    dct: np.ndarray
    coefs: np.ndarray
    words: np.ndarray
    out: np.ndarray
    strip: list[np.ndarray]  #: [samples, coefs] of the two-step path, or empty
    #: [SB, SF, todo, keys] of ``smoothed_coefs`` (SB with the cache of choices), or empty
    smooth: list[np.ndarray]

    @classmethod
    def of(cls, kernels: ModuleType, frame: Frame, group: int = MCUS_PER_GROUP,
           refine: bool = False, strips: int = 1) -> Scratch:
        """The buffers of a thread; ``out`` holds ``strips`` strips (``encode_strips``' runs)."""
        samples, dct, coefs, words = kernels.scratch_sizes(frame.ncomp, frame.hs, frame.vs, group)
        capacity = strips * kernels.strip_capacity(frame.width, frame.ncomp, frame.hs, frame.vs)
        scratch = cls(np.empty(samples, np.float32), np.empty(dct, np.float32),
                      np.empty(coefs, np.int32), np.empty(words, np.uint64),
                      np.empty(capacity, np.uint8), [], [])
        if refine:
            # for ``strips`` strips side by side (``StripCoder._code_side``): made once, not
            # made again wider by the first side-by-side strip's call
            scratch.two_step(kernels, frame.wider(strips))
        return scratch

    def two_step(self, kernels: ModuleType, frame: Frame) -> None:
        """Make the two-step path's strip buffers for this frame's strips, unless they are there."""
        samples, coefs = _strip_layout(kernels, frame.width, frame.ncomp, frame.hs, frame.vs)
        if not self.strip or self.strip[1].size < coefs or self.strip[0].size < samples:
            self.strip[:] = [np.empty(samples, np.float32), np.empty(coefs, np.int32)]

    def smooth_buffers(self, smooth: Smoothing, group: int, blocks: int) -> list[np.ndarray]:
        """``smoothed_coefs``' scratch for windows of ``group`` MCUs and strips of ``blocks``
        blocks, made (the cache emptied) on first use and kept: the cache's choices are
        exact, whatever the strips it saw before."""
        if not self.smooth:
            self.smooth[:] = smooth.buffers(group, blocks)
        elif self.smooth[2].size < blocks:
            self.smooth[2:] = smooth.buffers(group, blocks)[2:]
        return self.smooth

    @property
    def nbytes(self) -> int:
        """Bytes of the kernels' buffers and the two-step path's (not the smooth cache's)."""
        return sum(a.nbytes for a in self[:5]) + sum(a.nbytes for a in self.strip)

    @property
    def strip_samples(self) -> np.ndarray:
        return self.strip[0]

    @property
    def strip_coefs(self) -> np.ndarray:
        return self.strip[1]


def encode_strip(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
                 codes: Codes, scratch: Scratch, group: int = MCUS_PER_GROUP,
                 pred: np.ndarray | None = None, carry: np.ndarray | None = None,
                 pad: bool = True, mcu0: int = 0, interval: int = 0,
                 refine: Refinement | None = None, marks: np.ndarray | None = None,
                 row_mcus: int = 0, copies: np.ndarray | None = None,
                 smooth: Smoothing | None = None) -> int:
    """Entropy-code the strip of ``nrows`` rows of a 2-D uint8 band from row0 into scratch.out.

    Returns the byte count. The one place that assembles the coding kernels' arguments.
    ``pred`` (int64[4], DC predictors) and ``carry`` (uint64[2], bit count and
    bits not yet written) are read and updated, so the next strip of the same
    restart interval continues from them; without them the strip starts a
    restart interval. ``pad`` ends the strip on a whole byte (1-bits), as at
    the end of a restart interval. ``mcu0`` is the image's index of the strip's
    first MCU, ``interval`` the MCUs per restart interval: the kernel restarts
    (RSTn) before every later MCU of the strip that starts an interval.
    A ``sources.DeferredBand``'s rows are read first, on this thread. With
    ``refine`` (and ``scratch`` made for it), the coefficients are refined
    between two kernel calls (``refined_coefs``, then ``kernels.code_coefs``);
    a ``Refinement.marked`` one refines only strips with marked MCUs
    (``strip_marks``, or ``marks`` given: those of the MCUs of a strip's
    columns, ``encode_columns``), and codes any other in one call.
    ``row_mcus``: the strip is strips of that many MCUs side by side
    (``StripCoder._code_side``, intervals of whole strips), whose
    coefficients' groups are cut at each one's first MCU, as their own calls
    cut them; refined only. ``copies`` (with ``row_mcus``, int64): the strips
    coded, each the index of the band's strip whose refined coefficients it is
    coded from (``kernels.code_copies``): strips repeated in a side-by-side run
    are refined once.
    With ``smooth`` (and no ``refine``), a strip with smooth windows
    (``Smoothing.clean``) takes the two-step path with the choice on its smooth
    blocks (``smoothed_coefs``).
    """
    if pred is None:
        pred = np.zeros(4, np.int64)
    if carry is None:
        carry = np.zeros(2, np.uint64)
    band, row0 = sources.rows_of(band, row0, nrows)
    if (refine is None and smooth is not None
            and smooth.clean(band, row0, nrows, frame, mcu0, interval, group) == 0):
        return code_smoothed(kernels, band, row0, nrows, frame, codes, scratch, smooth, group,
                             pred, carry, pad, mcu0, interval)
    marked = refine is not None and refine.marked_only
    if refine is None or marked and marks is None:
        # one call; with a marked refinement, -1 (nothing coded) where the kernel marks an
        # MCU (``kernels.choice_marks``, into ``found``)
        found = np.empty(-(-frame.width // (8 * frame.hs)), np.uint8) if marked else NO_MARKS
        n = kernels.encode_strip(band.reshape(-1), band.shape[1], row0, nrows, *frame, *codes,
                                 *scratch[:5], group, pred, carry, int(pad), mcu0, interval,
                                 found)
        if n >= 0:
            return n
        marks = found
        scratch.two_step(kernels, frame)
    elif refine.libjpeg == MARKED and marks is None:  # searched, then chosen where marked
        marks = strip_marks(kernels, band, row0, nrows, frame, scratch, refine, True)
    return code_refined(kernels, band, row0, nrows, frame, codes, scratch, refine, marks,
                        group, pred, carry, pad, mcu0, interval, row_mcus, copies)


def code_refined(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
                 codes: Codes, scratch: Scratch, refine: Refinement, marks: np.ndarray | None,
                 group: int, pred: np.ndarray, carry: np.ndarray, pad: bool, mcu0: int,
                 interval: int, row_mcus: int = 0, copies: np.ndarray | None = None) -> int:
    """``encode_strip``'s two-step path once the strip's marks are known (its arguments;
    ``band`` a 2-D uint8 array, not a DeferredBand): the refined coefficients
    (``refined_coefs``), then ``kernels.code_coefs``, or ``kernels.code_copies`` with
    ``copies``. ``StripCoder._code_side`` calls it directly: ``encode_strip``'s tests of
    which path to take cost a small image's save about 1.6 us."""
    refined_coefs(kernels, band, row0, nrows, frame, scratch, refine, group, marks, mcu0,
                  row_mcus or interval)
    if copies is not None:
        return kernels.code_copies(scratch.strip_coefs, frame.width, frame.ncomp, frame.hs,
                                   frame.vs, frame.comp_table, *codes, scratch.words,
                                   scratch.out, group, pred, carry, int(pad), mcu0, interval,
                                   row_mcus, copies)
    return kernels.code_coefs(scratch.strip_coefs, frame.width, frame.ncomp, frame.hs, frame.vs,
                              frame.comp_table, *codes, scratch.words, scratch.out,
                              group, pred, carry, int(pad), mcu0, interval)


def _repeats(pixels: np.ndarray, top: int, height: int, count: int) -> list[bool]:
    """Whether each of ``count`` strips of ``height`` rows of a 2-D array from row ``top`` is the same as the one before it (the first: False)."""
    if count < REPEATS_AT_ONCE:
        # the strips' bytes copied once, each strip's compared with the one before's in place
        # (``startswith`` at its offset): 1.1 us for a 32 x 32 grey image's four strips,
        # repeated or not, against 1.1 us (not repeated) to 2.1 us (repeated) for two
        # ``tobytes`` a strip, and 2 us for numpy's comparison and its calls
        data = pixels[top:top + count * height].tobytes()
        n = height * pixels.shape[1]
        return [False] + [data.startswith(data[s * n - n:s * n], s * n) for s in range(1, count)]
    # every strip's bytes against the one before's in one comparison: 3.6 against 12.4 us
    # for the 16 strips of a 128 x 128 grey checker (3.4 against 5.0 on noise). The strips
    # compared are a small image's (the marked choice's, of at most ``MARKED_CHOICE_MCUS``
    # MCUs) or a refined run's, whose search costs far more.
    whole = pixels[top:top + count * height].reshape(count, -1)
    return [False, *(whole[1:] == whole[:-1]).all(axis=1).tolist()]


def encode_strips(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
                  codes: Codes, scratch: Scratch, pred: np.ndarray, carry: np.ndarray, pad: bool,
                  mcu0: int, interval: int, marks: np.ndarray = NO_MARKS,
                  group: int = MCUS_PER_GROUP, plan: np.ndarray = NO_PLAN) -> tuple[int, int]:
    """``encode_strip`` of the strips of ``nrows`` rows of a 2-D uint8 array from row0, in one kernel call.

    Returns (byte count in scratch.out, strips coded): ``kernels.encode_strips``,
    which restarts where intervals end between strips and inside them; with
    ``marks`` (an item an MCU), it stops before the first strip with a marked
    MCU, whose marks ``marks`` then holds. With ``plan`` (``Smoothing.plan``'s for these
    strips), the choices on smooth blocks it holds are coded; the call stops before a
    strip where one does not hold (``kernels._apply_plan``). ``scratch.out`` must hold
    that many strips (``Scratch.of``'s ``strips``).
    """
    done = np.zeros(1, np.int64)
    n = kernels.encode_strips(band.reshape(-1), band.shape[1], row0, nrows, *frame, *codes,
                              *scratch[:5], group, pred, carry, int(pad), mcu0, interval, marks,
                              plan, done)
    return n, int(done[0])


def strip_marks(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
                scratch: Scratch, refine: Refinement, always: bool = False,
                buffers: bool = True) -> np.ndarray | None:
    """The marks of a whole strip's MCUs for a ``MARKED`` refinement (``kernels.choice_marks``), None if none is marked (all zeros with ``always``).

    Where some are, makes ``scratch``'s two-step buffers for strips of this frame,
    unless ``buffers`` is False (``StripCoder._code_side``, which codes the strips,
    makes them for the strips side by side).
    """
    marks = np.empty(-(-frame.width // (8 * frame.hs)), np.uint8)
    if not kernels.choice_marks(band.reshape(-1), band.shape[1], row0, frame.channels,
                                frame.width, nrows, frame.hs, frame.vs, marks):
        return marks if always else None
    if buffers:
        scratch.two_step(kernels, frame)
    return marks


def code_smoothed(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
                  codes: Codes, scratch: Scratch, smooth: Smoothing, group: int,
                  pred: np.ndarray, carry: np.ndarray, pad: bool, mcu0: int,
                  interval: int) -> int:
    """``encode_strip`` of a strip with the choice on its smooth blocks (``smoothed_coefs``, then ``kernels.code_coefs``)."""
    smoothed_coefs(kernels, band, row0, nrows, frame, scratch, smooth, group, mcu0, interval)
    return kernels.code_coefs(scratch.strip_coefs, frame.width, frame.ncomp, frame.hs, frame.vs,
                              frame.comp_table, *codes, scratch.words, scratch.out, group, pred,
                              carry, int(pad), mcu0, interval)


def smoothed_coefs(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
                   scratch: Scratch, smooth: Smoothing, group: int = MCUS_PER_GROUP,
                   mcu0: int = 0, interval: int = 0) -> int:
    """The strip's coefficients, with the choice on its smooth blocks, into scratch.strip_coefs; returns the blocks changed.

    ``kernels.strip_coefs``, then on its samples and coefficients the smooth
    module's three steps (transpiled/smooth.py): the blocks to decide
    (``smooth_candidates``; windows: the kernels' groups, cut as ``encode_strip``
    cuts them by ``mcu0`` and ``interval``), those whose pattern was decided before
    (``smooth_lookup``), the others (``smooth_decide``). ``band`` is a 2-D uint8
    array (not a DeferredBand).
    """
    scratch.two_step(kernels, frame)
    mcus = kernels.strip_coefs(band.reshape(-1), band.shape[1], row0, nrows, *frame,
                               *scratch[:3], group, scratch.strip_samples, scratch.strip_coefs,
                               mcu0, interval)
    lay = kernels.strip_group(mcus, frame.ncomp)  # the layout's MCUs (grey strips padded)
    return smooth_blocks(smooth, scratch.smooth_buffers(smooth, group, lay * frame.ncomp),
                         scratch.strip_samples, scratch.strip_coefs, frame.width, min(nrows, 8),
                         frame.ncomp, frame.comp_table, group, mcu0, interval, lay)


def smooth_blocks(smooth: Smoothing, buffers: list[np.ndarray], samples: np.ndarray,
                  coefs: np.ndarray, width: int, rows: int, ncomp: int, comp_table: np.ndarray,
                  group: int = MCUS_PER_GROUP, mcu0: int = 0, interval: int = 0,
                  lay: int = 0) -> int:
    """The smooth module's three steps on a strip as ``kernels.strip_coefs`` leaves it (``samples``, ``coefs``, changed in place); returns the blocks changed.

    ``buffers``: ``Smoothing.buffers``' (its cache of choices kept from strip to
    strip); ``width``: the image's columns in the strip, ``rows`` its rows (at most 8);
    ``group``, ``mcu0`` and ``interval``: ``kernels.strip_coefs``'; ``lay``: the MCUs
    of its layout (``kernels.strip_group``; 0: the strip's, unpadded).
    """
    module, table = smooth.module, smooth.table
    sb, sf, todo, keys = buffers
    lay = lay or -(-width // 8)
    count = module.smooth_candidates(samples, coefs, width, lay, ncomp, comp_table, table, sb,
                                     sf, group, mcu0, interval, todo, keys)
    changed = start = 0
    while start < count:  # the first SMOOTH_FIRST_BLOCKS, then the rest
        part = count - start if start else min(count, SMOOTH_FIRST_BLOCKS)
        rest = todo[start:]
        left = module.smooth_lookup(coefs, width, lay, rows, ncomp, comp_table, table, sb,
                                    rest, part, keys)
        done = 0
        while done < left:  # the blocks left decided SMOOTH_DECIDE_BLOCKS at a time
            n = min(left - done, SMOOTH_DECIDE_BLOCKS)
            changed += module.smooth_decide(samples, coefs, width, lay, rows, ncomp,
                                            comp_table, table, sb, sf, rest[done:], n, keys)
            done += n
            if done < left:  # the rest looked up again: the choices just made serve them
                left = done + module.smooth_lookup(coefs, width, lay, rows, ncomp, comp_table,
                                                   table, sb, rest[done:], left - done, keys)
        start += part
    return changed


def refined_coefs(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
                  scratch: Scratch, refine: Refinement, group: int = MCUS_PER_GROUP,
                  marks: np.ndarray | None = None, mcu0: int = 0, interval: int = 0) -> int:
    """The strip's coefficients, refined, into scratch.strip_coefs; returns the number changed.

    ``kernels.strip_coefs`` leaves the strip's samples and coefficients as one
    group of all its MCUs, the layout ``refine_group`` reads (transpiled/refine.py).
    A strip of RGB pixels that the kernels convert is refined against the RGB
    pixels the decoder gives (``refine_group_rgb`` without subsampling,
    ``refine_group_sub``, after the decoder's upsampling, at 4:2:2 and 4:2:0;
    both read the band); any other against each component's samples. With
    ``refine.libjpeg``, each block (each MCU of RGB) then keeps
    libjpeg-turbo's coefficients where they decode closer (``MARKED``: only
    those of the MCUs ``marks`` names). ``mcu0`` and ``interval`` as
    ``encode_strip``'s: the coefficients are those of its groups.
    ``band`` is a 2-D uint8 array (not a DeferredBand).
    """
    marks = NO_MARKS if marks is None else marks
    mcus = kernels.strip_coefs(band.reshape(-1), band.shape[1], row0, nrows, *frame,
                               *scratch[:3], group, scratch.strip_samples, scratch.strip_coefs,
                               mcu0, interval)
    ncomp, hs, vs = frame.ncomp, frame.hs, frame.vs
    if frame.rgb_error and hs == vs == 1:
        # RGB converted by the kernels, no subsampling: the RGB error of the decoder's pixels
        return refine.module.refine_group_rgb(
            band.reshape(-1), band.shape[1], row0, frame.channels, frame.width, nrows, mcus,
            frame.comp_table, refine.quant, scratch.strip_coefs, mcus * ncomp,
            refine.sweeps, refine.lam, refine.tries, refine.screen, refine.libjpeg, marks)
    if frame.rgb_error:
        # subsampled 4:2:2 or 4:2:0: the same after the decoder's upsampling
        return refine.module.refine_group_sub(
            band.reshape(-1), band.shape[1], row0, frame.channels, frame.width, nrows, mcus,
            vs, refine.box(vs), frame.comp_table, refine.quant,
            scratch.strip_coefs, mcus * (hs * vs + 2), refine.sweeps, refine.lam, refine.tries,
            refine.screen, refine.libjpeg, marks)
    lay = kernels.strip_group(mcus, ncomp)  # the layout's MCUs (grey strips padded)
    cw = lay * 8 * hs
    plane = 8 * vs * cw
    return refine.module.refine_group(
        scratch.strip_samples, plane, cw, ncomp * plane, ncomp, hs, vs, lay, mcus,
        frame.comp_table, refine.quant, scratch.strip_coefs, lay * (hs * vs + ncomp - 1),
        refine.sweeps, refine.lam, refine.tries, frame.width, nrows, refine.screen,
        refine.libjpeg, marks)


def encode_columns(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
                   codes: Codes, scratch: Scratch, start: int, stop: int, pred: np.ndarray,
                   carry: np.ndarray, pad: bool, mcu0: int, interval: int,
                   group: int = MCUS_PER_GROUP, refine: Refinement | None = None,
                   smooth: Smoothing | None = None) -> int:
    """``encode_strip`` of MCUs start .. stop - 1 of a strip alone (whose first MCU is ``mcu0``).

    The kernel runs on a copy of those MCUs' columns: every MCU's coefficients
    depend on its own pixels only, so they code as in the whole strip. A strip
    is cut so where a task's first restart interval boundary falls inside it
    (``StripCoder.encode``).
    """
    band, row0 = sources.rows_of(band, row0, nrows)
    marks = None
    if refine is not None and refine.libjpeg == MARKED:
        # the marks of the whole strip's MCUs, as encode_strip sees them: the same bytes
        marks = strip_marks(kernels, band, row0, nrows, frame, scratch, refine,
                            not refine.marked_only)
        if marks is not None:
            marks = marks[start:stop].copy()
            if marks[0] == 2:
                marks[0] = 1  # its equal neighbour is not in the copy: chosen, not copied
        if refine.marked_only and (marks is None or not marks.any()):
            refine, marks = None, None
    mcu_width = 8 * frame.hs
    x0, x1 = start * mcu_width, min(stop * mcu_width, frame.width)
    columns = np.ascontiguousarray(
        band[row0:row0 + nrows, x0 * frame.channels:x1 * frame.channels])
    return encode_strip(kernels, columns, 0, nrows, frame._replace(width=x1 - x0), codes,
                        scratch, group, pred, carry, pad, mcu0 + start, interval, refine, marks,
                        smooth=smooth)


def last_group(mcus: int, group: int, mcu0: int, interval: int) -> int:
    """The first MCU of the last of the groups the kernels cut a strip of ``mcus`` MCUs into.

    Groups of ``group`` MCUs, cut at restarts too (``kernels.encode_strip``'s
    loop, for a strip whose first MCU is the image's ``mcu0``).
    """
    m0 = 0
    while True:
        gm = min(group, mcus - m0)
        if interval > 0:
            gm = min(gm, interval - (mcu0 + m0) % interval)
        if m0 + gm >= mcus:
            return m0
        m0 += gm


def last_dc(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
            codes: Codes, scratch: Scratch, pred: np.ndarray, group: int = MCUS_PER_GROUP,
            refine: Refinement | None = None, mcu0: int = 0, interval: int = 0,
            smooth: Smoothing | None = None) -> None:
    """pred[c]: the DC predictors a strip leaves (the quantized DC of its last MCU, refined with refine).

    Computed by the same kernel on a copy of the columns of the strip's last
    group of MCUs (``encode_columns``; ``mcu0`` and ``interval`` as
    ``encode_strip``'s): coded within its group, the last MCU has the
    coefficients the whole strip codes, as the 4:2:x luma correction
    (``_luma_fix``) reads its neighbours. (A kernel export of its own made
    g++ stop inlining the colour stage into ``encode_strip``: 1.6x to 2.7x
    more instructions.)
    """
    mcus = -(-frame.width // (8 * frame.hs))
    pred[:] = 0
    encode_columns(kernels, band, row0, nrows, frame, codes, scratch,
                   last_group(mcus, group, mcu0, interval), mcus, pred,
                   np.zeros(2, np.uint64), True, 0, 0, group, refine, smooth)


#: The most MCUs of strips laid side by side (``side_by_side``): the two-step path's
#: kernels read a strip's coefficients coefficient-major (a block's 64 a stride of the
#: strip's blocks apart), so a wide strip's gathers leave the first-level cache; at 256
#: MCUs of 4:2:0 (a 256 x 256 vertical ramp's 16 strips as one) refine_group_sub took 3
#: times as long an MCU as in strips of 16.
SIDE_MCUS = 64
#: Blocks ``smooth_blocks`` has ``smooth_decide`` decide a call, the rest then looked up
#: again: the choices it remembers serve a strip's later blocks of the same patterns (with
#: every lookup of a strip before its decisions, issue 15's ramp's first strip decided 128
#: blocks of its 11 patterns, and its first 4 strips side by side 512)
SMOOTH_DECIDE_BLOCKS = 64
#: Blocks ``smooth_blocks`` looks up first, their misses decided, before the strip's others
#: are looked up: with the cache empty (a thread's first smooth strip) every block misses,
#: and each SMOOTH_DECIDE_BLOCKS decided had all the strip's misses looked up again (issue
#: 15's ramp, 4096 blocks side by side: 0.4 M instructions more lookups than with these
#: 256 first); one call more a strip where the cache holds its patterns
SMOOTH_FIRST_BLOCKS = 256
#: Strips of records a thread's plan of choices on smooth blocks has room for
#: (``StripCoder._plan``): a record of 5 items and up to 64 coefficients a block, the most
#: a strip can take; smooth content's blocks take about 5 to 15 items
PLAN_STRIPS = 2
#: Items of a record of ``smooth.smooth_plan`` before its coefficients
PLAN_RECORD = 5


def side_by_side(settings: Settings, most: int, mcus: int = SIDE_MCUS) -> int:
    """Strips ``StripCoder`` may lay side by side and code as one strip on the two-step path (at most ``most``, of at most ``mcus`` MCUs between them); 1: none.

    Where every MCU row is whole across (the image's width a multiple of the
    MCU's, so no strip's last MCU is padded inside the wide strip) and restart
    intervals end on strip boundaries (none, or whole rows), a wide strip of
    strips side by side holds their MCUs in the order the scan codes them: the
    kernels' coefficients, cut into groups at each strip's first MCU, are each
    strip's own, and each MCU's refinement reads its own pixels (``Refinement``
    keeps the image's size). Strips of whole MCU rows only (``StripCoder._whole``).
    """
    interval, per_row = settings.restart_interval, settings.mcus_per_row
    if settings.width % (8 * settings.hs) or interval % per_row:
        return 1
    return max(1, min(most, mcus // per_row, settings.height // settings.strip_height))


def laid_side_by_side(rows: np.ndarray) -> np.ndarray:
    """Strips (count, height, row bytes) laid side by side: one strip of their rows joined (``side_by_side``)."""
    return np.ascontiguousarray(rows.transpose(1, 0, 2)).reshape(rows.shape[1], -1)


class Part(NamedTuple):
    """Coded strips that do not both start and end on restart interval boundaries.

    ``data`` is whole stuffed bytes, not padded at the end; ``bits`` bits of
    ``value`` follow them. The scan writer joins parts at bit level
    (``scan.Joiner``): a part's bytes follow the bits the part before left.
    A part that ``closes`` its interval is padded by the writer and followed
    by RSTn (n = ``interval``), unless it is the image's ``last``.
    """

    data: bytes
    bits: int
    value: int
    closes: bool
    interval: int
    last: bool  #: the image's last strip is in this part


def count_strip(kernels: ModuleType, band: np.ndarray, row0: int, nrows: int, frame: Frame,
                scratch: Scratch, counts: np.ndarray, group: int = MCUS_PER_GROUP,
                refine: Refinement | None = None, smooth: Smoothing | None = None) -> None:
    """Add the Huffman symbols the strip would use to counts[2 t (+1), symbol].

    With ``refine``, the symbols of the refined coefficients, which the strip codes;
    with ``smooth``, of those ``smoothed_coefs`` chooses (a strip counted alone: its
    windows are those of a strip starting an interval).
    """
    band, row0 = sources.rows_of(band, row0, nrows)
    if refine is None and smooth is not None and smooth.clean(band, row0, nrows, frame, 0, 0,
                                                              group) == 0:
        smoothed_coefs(kernels, band, row0, nrows, frame, scratch, smooth, group)
        kernels.count_coefs(scratch.strip_coefs, frame.width, frame.ncomp, frame.hs, frame.vs,
                            frame.comp_table, tables.VALUE_TABLE, counts)
        return
    marks = None
    if refine is not None and refine.libjpeg == MARKED:
        marks = strip_marks(kernels, band, row0, nrows, frame, scratch, refine,
                            not refine.marked_only)
        refine = refine if marks is not None else None
    if refine is None:
        kernels.count_strip(band.reshape(-1), band.shape[1], row0, nrows, *frame,
                            tables.VALUE_TABLE, *scratch[:3], counts, group)
        return
    refined_coefs(kernels, band, row0, nrows, frame, scratch, refine, group, marks)
    kernels.count_coefs(scratch.strip_coefs, frame.width, frame.ncomp, frame.hs, frame.vs,
                        frame.comp_table, tables.VALUE_TABLE, counts)


class StripCoder:
    """The kernel arguments of one frame; encodes groups of strips to bytes.

    One coder may serve several threads: each thread has its own scratch
    buffers, made on its first call and kept for the next ones.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.row_bytes = settings.width * settings.layout.channels
        # kept with the Settings ``options.parse`` keeps for the next save of the same options
        self.frame = derived(settings, "frame", Frame.of)
        self.codes = derived(settings, "codes", Codes.of_settings)
        self.refine = Refinement.of(
            settings.qtables, settings.refine, settings.width,
            blocks=coded_blocks(settings.width, settings.height, settings.components),
            subsampled=self.frame.hs * self.frame.vs > 1, rgb_error=self.frame.rgb_error,
            libjpeg=settings.libjpeg_choice, plain=settings.marked_choice, height=settings.height)
        if settings.marked_choice:
            self.refine = (Refinement.marked(settings.qtables, settings.width,
                                             height=settings.height)
                           if self.refine is None else self.refine.with_marked())
        # the choice on smooth blocks, where no other choice or search runs
        self.smooth = (Smoothing.of(settings.qtables, settings.smooth_levels)
                       if self.refine is None else None)
        self._local = threading.local()
        self._handed: set[int] = set()  # strips one of their two readers is done with
        self._lock = threading.Lock()
        # the frame's numbers, read per strip (Settings derives them in properties)
        self._height = settings.strip_height
        self._last = settings.strip_count - 1
        self._interval, self._per_row = settings.restart_interval, settings.mcus_per_row
        self._whole = settings.height // self._height  # strips of whole MCU rows
        # strips a kernel call codes (``encode_strips``): where no refinement runs but the
        # default's choice on marked MCUs, whose strips are found by the kernel
        self._run = (max(1, RUN_BYTES // (self._height * self.row_bytes))
                     if self.refine is None or self.refine.marked_only else 1)
        # strips the two-step path codes side by side as one, where laying whole strips side
        # by side keeps the kernels' MCUs, groups and restarts (``side_by_side``): every
        # strip where every strip is refined (``_encode_side``), marked strips in a row with
        # the default's choice on marked MCUs (``_encode_run``)
        self._side = (side_by_side(settings, RUN_BYTES // (self._height * self.row_bytes))
                      if self.refine is not None else 1)
        # a task of the whole image coded in one set of calls (``_encode``): an image of one
        # strip, or of strips refined side by side all at once (whole ones: ``side_by_side``)
        self._at_once = self._last == 0 or (self._side > self._last
                                            and not self.refine.marked_only)

    def _scratch(self) -> Scratch:
        """This thread's buffers: made on its first call, or those the thread's last coder
        of the same sizes left (``IDLE_SCRATCH_BYTES``), and kept for its next calls."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            kernels, frame = engine.kernels, self.frame
            refine = self.refine is not None and not self.refine.marked_only
            strips = max(self._run, self._side)
            # what the buffers' sizes follow (``Scratch.of``), kept with them for
            # ``_leave_scratch``
            key = (kernels, frame.width, frame.ncomp, frame.hs, frame.vs, refine, strips)
            left = getattr(_idle, "left", None)
            if left is not None and left[0] == key:
                _idle.left = None
                # the cache of the choice on smooth blocks stays the other coder's own
                # (tuple.__new__, not _replace: 0.4 against 1.5 us); with ``refine`` the
                # two-step path's buffers are there, as large as ``Scratch.of`` made them for
                # the same key or larger (``two_step`` only grows them)
                scratch = tuple.__new__(Scratch, (*left[1][:6], []))
            else:
                scratch = Scratch.of(kernels, frame, refine=refine, strips=strips)
            self._local.scratch = scratch
            self._local.key = key
        return scratch

    def _leave_scratch(self) -> None:
        """Leave this thread's buffers, if not too large, to the thread's next coder of the
        same sizes (they stay this coder's too: a thread runs one call at a time)."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is not None and scratch.nbytes <= IDLE_SCRATCH_BYTES:
            _idle.left = (self._local.key, scratch)

    def _strips(self, band: np.ndarray, row: int, count: int) -> Iterator[tuple[int, int]]:
        """(row, rows) of each of ``count`` strips of the band from ``row``."""
        height = self._height
        for _ in range(count):
            yield row, min(height, band.shape[0] - row)
            row += height

    def count(self, task: list[Piece]) -> np.ndarray:
        """Huffman symbol counts of the sampled strips of a task (``count_every``)."""
        try:
            return self._count(task)
        finally:
            self._leave_scratch()

    def _count(self, task: list[Piece]) -> np.ndarray:
        counts = np.zeros((2 * len(self.settings.qtables), 256), dtype=np.int64)
        scratch = self._scratch()
        every = count_every(self.settings.strip_count)
        height = self._height
        for band, row, first, count in task:
            if count == 0:  # the strip before a task inside an interval: nothing to count
                continue
            pixels, top = band, row
            if every == 1:
                # every strip counted: their rows read at once, as ``_encode_run`` reads them
                # (a DeferredBand's read a strip, 3 to 4 us each, was a quarter of a 64 x 64
                # optimize save's count)
                pixels, top = sources.rows_of(band, row, min(count * height,
                                                             band.shape[0] - row))
            for index, (start, rows) in enumerate(self._strips(pixels, top, count), first):
                if index % every == 0:
                    count_strip(engine.kernels, pixels, start, rows, self.frame, scratch, counts,
                                refine=self.refine, smooth=self.smooth)
            sources.release_rows(band, row, count * height)
        return counts

    def _closes(self, index: int) -> bool:
        """Whether strip ``index`` ends a restart interval (the image's last strip does)."""
        return index == self._last or self.settings.starts_interval(index + 1)

    def _ending(self, mcu: int) -> int:
        """The index of the restart interval that ends before MCU ``mcu`` (one does)."""
        interval = self._interval
        return mcu // interval - 1 if interval else 0

    def encode(self, task: list[Piece]) -> bytes | list[Part]:
        """The entropy-coded strips of a task: bytes if they are whole restart intervals (``_encode``)."""
        try:
            return self._encode(task)
        finally:
            self._leave_scratch()

    def _encode(self, task: list[Piece]) -> bytes | list[Part]:
        """The entropy-coded strips of a task: bytes if they are whole restart intervals.

        Else a list of Parts for ``scan.Joiner``. A task that starts inside an
        interval begins with a piece of no strips naming the strip before it:
        the task's first strip continues from its last DC values (``last_dc``),
        and the task's *head*, its MCUs up to the first interval boundary, is
        coded unpadded into a Part of its own, to be joined at bit level after
        the bits the previous task left; where that boundary falls inside a
        strip, the strip is coded in two calls (``encode_columns``). From the
        boundary on, every interval starts from zero predictors and a whole
        byte, so the rest codes as whole intervals would: strips inside an
        interval continue one another's DC prediction and bits, the kernels
        restart inside strips, and each interval but the image's last ends
        padded and followed by its RSTn. A task that ends inside an interval
        leaves its last bits unpadded in a last Part. A task of the whole image that
        ``__init__`` found codes in one set of calls (``_at_once``: one strip, or every strip
        side by side) skips the loop's bookkeeping.
        """
        interval, per_row, last = self._interval, self._per_row, self._last
        pred = np.zeros(4, np.int64)
        carry = np.zeros(2, np.uint64)
        if self._at_once and len(task) == 1 and task[0][2] == 0 and task[0][3] == last + 1:
            # the whole image in one strip, or its strips side by side in one set of calls:
            # what the loop below does for it, without the loop's bookkeeping (about 1.5 us
            # of a small save's 50 to 80)
            band, row, _, count = task[0]
            if last:
                data = []
                self._encode_side(band, row, 0, count, pred, carry, data)
            else:
                scratch = self._scratch()
                rows = min(self._height, band.shape[0] - row)
                n = encode_strip(engine.kernels, band, row, rows, self.frame, self.codes, scratch,
                                 MCUS_PER_GROUP, pred, carry, True, 0, interval, self.refine,
                                 smooth=self.smooth)
                data = [bytes(scratch.out[:n])]
            sources.release_rows(band, row, count * self._height)
            return b"".join(data)
        kernels, frame, codes, scratch = engine.kernels, self.frame, self.codes, self._scratch()
        refine = self.refine
        out = memoryview(scratch.out)
        parts: list[Part] = []
        # the coded bytes so far, one bytes object a strip (and RSTn), joined once at the
        # end: appending to a bytearray copied it again at most appends (callgrind: about
        # 2.6 instructions a pixel at q100; docs/performance.md, "Outside the kernel")
        data: list[bytes] = []
        head: int | None = None  # the first MCU of the next interval while coding the head
        index = -1

        def cut(closes: bool, ending: int, ends_image: bool) -> None:
            """The bytes and bits so far become a Part; the next strip starts afresh."""
            nonlocal data, head
            parts.append(Part(b"".join(data), int(carry[0]), int(carry[1]), closes, ending,
                              ends_image))
            data, head = [], None
            pred[:] = 0
            carry[:] = 0

        for number, (band, row, first, count) in enumerate(task):
            if count == 0:  # the strip before the task
                if self.settings.starts_interval(first + 1):
                    continue
                _, rows = next(self._strips(band, row, 1))
                last_dc(kernels, band, row, rows, frame, codes, scratch, pred, refine=refine,
                        mcu0=first * per_row, interval=interval, smooth=self.smooth)
                self._hand_back(band, row, rows, first)
                mcu = (first + 1) * per_row
                head = (mcu // interval + 1) * interval if interval else last * per_row + per_row
                continue
            if index < 0 and head is None and not self.settings.starts_interval(first):
                raise ValueError(f"strip {first} starts inside a restart interval: its task "
                                 f"must name the strip before it")
            height = self._height
            done = 0
            while done < count:
                index = first + done
                start = row + done * height
                rows = min(height, band.shape[0] - start)
                mcu0 = index * per_row
                if head is None and self.settings.starts_interval(index):
                    pred.fill(0)
                    carry.fill(0)
                run = 1
                if self._run > 1:
                    run = min(self._run, count - done)
                    if head is not None:
                        # in the head, the strips before the one where it ends (or the
                        # image's last): they end no interval, so a run codes them
                        # unpadded, continuing pred and carry, as their own calls would
                        run = min(run, min((head - 1) // per_row, last) - index)
                    if run > 1:
                        self._encode_run(band, start, index, run, pred, carry, data)
                elif head is None and self._side > 1:
                    run = max(1, min(self._side, count - done, self._whole - index))
                    if run > 1:
                        self._encode_side(band, start, index, run, pred, carry, data)
                if run > 1:
                    done += run
                    index += run - 1
                    closes = self._closes(index)
                    if closes and index != last:
                        data.append(markers.rst(self._ending((index + 1) * per_row)))
                    continue
                done += 1
                closes = self._closes(index)
                if head is not None and head < mcu0 + per_row:  # the head ends inside
                    split = head - mcu0
                    # the strip's rows read once (a DeferredBand's rows are copied or
                    # decoded on read) for the two calls
                    pixels, top = sources.rows_of(band, start, rows)
                    n = encode_columns(kernels, pixels, top, rows, frame, codes, scratch, 0,
                                       split, pred, carry, False, mcu0, interval, refine=refine,
                                       smooth=self.smooth)
                    if n:
                        data.append(bytes(out[:n]))
                    cut(True, self._ending(head), False)
                    n = encode_columns(kernels, pixels, top, rows, frame, codes, scratch, split,
                                       per_row, pred, carry, closes, mcu0, interval,
                                       refine=refine, smooth=self.smooth)
                else:
                    n = encode_strip(kernels, band, start, rows, frame, codes, scratch,
                                     MCUS_PER_GROUP, pred, carry,
                                     head is None and closes, mcu0, interval,
                                     refine, smooth=self.smooth)
                if n:
                    data.append(bytes(out[:n]))
                if closes:
                    if head is not None:  # the head ends with the strip
                        cut(True, self._ending(mcu0 + per_row), index == last)
                    elif index != last:
                        data.append(markers.rst(self._ending(mcu0 + per_row)))
            if number == len(task) - 1 and not closes:
                # the next task reads this strip's last DC values: released when both are done
                sources.release_rows(band, row, (count - 1) * height)
                start = row + (count - 1) * height
                self._hand_back(band, start, min(height, band.shape[0] - start), index)
            else:
                sources.release_rows(band, row, count * height)
        if head is None and not parts and self._closes(index):
            return b"".join(data)
        if data or carry[0]:
            cut(False, 0, index == last)
        return parts

    def _encode_run(self, band: np.ndarray, start: int, index: int, count: int, pred: np.ndarray,
                    carry: np.ndarray, data: list[bytes]) -> None:
        """Code ``count`` strips from strip ``index`` (rows from ``start``) into ``data``.

        One kernel call for them (``encode_strips``), which restarts between them
        where intervals end and pads the last one if it ends one (its RSTn is the
        caller's); with the default's choice on marked MCUs, the call stops
        before a strip with a marked MCU, which is coded on the two-step path,
        and a call codes the rest.
        """
        kernels, frame, codes, scratch = engine.kernels, self.frame, self.codes, self._scratch()
        height, per_row, interval = self._height, self._per_row, self._interval
        nrows = min(count * height, band.shape[0] - start)
        pixels, top = sources.rows_of(band, start, nrows)
        if self.smooth is not None:
            self._encode_smooth_run(pixels, top, index, count, nrows, pred, carry, data)
            return
        marks = NO_MARKS if self.refine is None else np.empty(per_row, np.uint8)
        closes = self._closes(index + count - 1)
        out = scratch.out
        coded = 0
        # whether each strip from strip ``index + seen`` on is the one before's: compared once
        # for the run's whole strips where a first strip has marks, read by every side set
        repeats: list[bool] = []
        seen = 0
        while coded < count:
            n, done = encode_strips(kernels, pixels, top + coded * height,
                                    nrows - coded * height, frame, codes, scratch, pred, carry,
                                    closes, (index + coded) * per_row, interval, marks)
            if n:
                data.append(bytes(out[:n]))
            coded += done
            if coded == count:
                break
            # strip index + coded has marked MCUs (``marks``): the two-step path, with the
            # strips after it that have some too side by side (``_code_side``): on content
            # the choice is for (checkers, ramps) every strip has. A strip the same as the
            # one before has its marks and takes its coefficients (refined once): it does not
            # count against ``self._side`` (the refined strip's width), only the run's
            strip = index + coded
            found, distinct = [marks], 1
            limit = min(count - coded, self._whole - strip) if self._side > 1 else 1
            if limit > 1 and not repeats:
                seen = coded
                repeats = _repeats(pixels, top + coded * height, height, limit)
            while len(found) < limit:
                if repeats[coded - seen + len(found)]:
                    found.append(found[-1])
                    continue
                row = top + (coded + len(found)) * height
                # (the two-step buffers made below, by ``_code_side`` or before ``encode_strip``)
                if distinct == self._side or (more := strip_marks(
                        kernels, pixels, row, height, frame, scratch, self.refine,
                        buffers=False)) is None:
                    break
                found.append(more)
                distinct += 1
            if len(found) > 1:
                same = [False, *repeats[coded - seen + 1:coded - seen + len(found)]]
                self._code_side(pixels, top + coded * height, strip, len(found), found, same,
                                pred, carry, data)
                coded += len(found)
                strip += len(found) - 1
            else:
                scratch.two_step(kernels, frame)
                n = encode_strip(kernels, pixels, top + coded * height,
                                 min(height, nrows - coded * height), frame, codes, scratch,
                                 MCUS_PER_GROUP, pred, carry, self._closes(strip),
                                 strip * per_row, interval, self.refine, marks)
                if n:
                    data.append(bytes(out[:n]))
                coded += 1
            self._restart_after(strip, coded < count, pred, carry, data)

    def _encode_smooth_run(self, pixels: np.ndarray, top: int, index: int, count: int, nrows: int,
                           pred: np.ndarray, carry: np.ndarray, data: list[bytes]) -> None:
        """``_encode_run`` with the choice on smooth blocks: the strips whose smooth blocks
        the cache of choices decides (``Smoothing.plan``) in one kernel call with those
        choices, the first that has a block to decide on the two-step path
        (``code_smoothed``, whose decisions fill the cache), and so on; an interval that
        ends between them padded and followed by its RSTn (the run's last strip's is the
        caller's)."""
        kernels, frame, codes, scratch = engine.kernels, self.frame, self.codes, self._scratch()
        height, per_row, interval = self._height, self._per_row, self._interval
        cache = scratch.smooth_buffers(self.smooth, MCUS_PER_GROUP, 1)[0]
        plan = self._plan()
        coded = 0
        while coded < count:
            row, first = top + coded * height, index + coded
            left = nrows - coded * height
            planned = min(count - coded, self.smooth.plan(pixels, row, left, frame,
                                                          first * per_row, interval, cache,
                                                          plan))
            if planned:
                last = first + planned - 1
                n, done = encode_strips(kernels, pixels, row, min(planned * height, left),
                                        frame, codes, scratch, pred, carry, self._closes(last),
                                        first * per_row, interval, plan=plan)
                if n:
                    data.append(bytes(scratch.out[:n]))
                coded += done
                if done == planned:
                    self._restart_after(last, coded < count, pred, carry, data)
                    continue
                # stopped before a strip where a planned choice does not hold (its DC):
                # any restart before it written, as before a marked strip
                row, first, left = top + coded * height, index + coded, nrows - coded * height
            n = code_smoothed(kernels, pixels, row, min(height, left), frame, codes, scratch,
                              self.smooth, MCUS_PER_GROUP, pred, carry, self._closes(first),
                              first * per_row, interval)
            if n:
                data.append(bytes(scratch.out[:n]))
            coded += 1
            self._restart_after(first, coded < count, pred, carry, data)

    def _restart_after(self, strip: int, more: bool, pred: np.ndarray, carry: np.ndarray,
                       data: list[bytes]) -> None:
        """Within a run, after strip ``strip`` with ``more`` strips to come: where it ends a
        restart interval, its RSTn into ``data`` and the DC predictors and bits started
        afresh (the run's last strip's RSTn is the caller's)."""
        if more and self._closes(strip):
            data.append(markers.rst(self._ending((strip + 1) * self._per_row)))
            pred.fill(0)
            carry.fill(0)

    def _plan(self) -> np.ndarray:
        """This thread's buffer for ``Smoothing.plan``: room for ``PLAN_STRIPS`` strips'
        records of every block (a plan stops before a strip that might not fit)."""
        plan = getattr(self._local, "plan", None)
        if plan is None:
            blocks = self._per_row * self.frame.ncomp
            plan = self._local.plan = np.empty(1 + PLAN_STRIPS * blocks * (PLAN_RECORD + 64),
                                               np.int32)
        return plan

    def _encode_side(self, band: np.ndarray, start: int, index: int, count: int,
                     pred: np.ndarray, carry: np.ndarray, data: list[bytes]) -> None:
        """Code ``count`` whole strips from strip ``index`` (rows from ``start``) into ``data``, side by side.

        The strips' rows are laid side by side into one strip of ``count`` times
        the MCUs (``side_by_side``) and coded on the two-step path in one set of
        calls instead of a set a strip (about 14 us of calls and Python a strip,
        most of the refinement's cost on small images): the MCUs come in the same
        order, the coefficients are cut into groups at each strip's first MCU as
        the strips' own calls cut them, and ``kernels.code_coefs`` restarts where
        intervals end, between strips. Marks are those of each strip
        (``strip_marks``), as each strip's call finds them. The last strip is
        padded if it ends an interval (its RSTn is the caller's).
        """
        height = self._height
        pixels, top = sources.rows_of(band, start, count * height)
        same = _repeats(pixels, top, height, count)
        marks = None
        if self.refine.libjpeg == MARKED:
            marks = []
            for s in range(count):
                marks.append(marks[-1] if same[s] else strip_marks(
                    engine.kernels, pixels, top + s * height, height, self.frame,
                    self._scratch(), self.refine, True, buffers=False))
        self._code_side(pixels, top, index, count, marks, same, pred, carry, data)

    def _code_side(self, pixels: np.ndarray, top: int, index: int, count: int,
                   marks: list[np.ndarray] | None, same: list[bool], pred: np.ndarray,
                   carry: np.ndarray, data: list[bytes]) -> None:
        """``_encode_side`` of the strips of a 2-D array's rows from ``top``, with each strip's marks.

        ``same``: whether each strip is the same as the one before (``_repeats``);
        only the others are laid side by side and refined, every strip then coded
        from its copy's coefficients (``kernels.code_copies``; laying them out
        for every strip first, with NumPy, took 29 us of a 128 x 128 RGB ramp's
        save of 200): ramps along rows and checkers repeat every strip.
        """
        kernels, frame, codes, scratch = engine.kernels, self.frame, self.codes, self._scratch()
        height, per_row, refine = self._height, self._per_row, self.refine
        rows = pixels[top:top + count * height].reshape(count, height, self.row_bytes)
        copies = None
        if all(same[1:]):
            # every strip the first's (checkers, ramps along rows): it alone, without the
            # general case's loop, index and copies (7 of a 128 x 128 checker's 36 us here)
            copies = np.zeros(count, np.int64)
            rows = rows[:1]
            if marks is not None:
                marks = marks[:1]
        elif any(same):
            # the distinct strips, and each strip's copy: that of the last distinct strip up
            # to it (counted as they come: a bisection a strip took 3 times as long)
            distinct: list[int] = []
            taken = []
            for s, repeat in enumerate(same):
                if not repeat:
                    distinct.append(s)
                taken.append(len(distinct) - 1)
            copies = np.array(taken, np.int64)
            rows = rows[distinct]
            if marks is not None:
                marks = [marks[s] for s in distinct]
        if marks is not None:
            marks = marks[0] if len(marks) == 1 else np.concatenate(marks)
        wide = laid_side_by_side(rows)
        laid = frame.wider(len(rows))  # the strips refined: the distinct ones
        scratch.two_step(kernels, laid)
        n = code_refined(kernels, wide, 0, height, laid, codes, scratch, refine, marks,
                         MCUS_PER_GROUP, pred, carry, self._closes(index + count - 1),
                         index * per_row, self._interval, per_row, copies)
        if n:
            data.append(bytes(scratch.out[:n]))

    def _hand_back(self, band: np.ndarray, row: int, rows: int, index: int) -> None:
        """Release strip ``index``'s rows once both tasks that read them are done with them.

        A task that ends inside a restart interval keeps its last strip; the
        next task reads that strip's last MCU (``last_dc``). Whichever of the
        two comes here second releases the rows; the first one only says it is
        done with the band (``sources.leave_rows``: a TIFF band's buffer is
        then waited for, not taken anew, by that thread).
        """
        with self._lock:
            second = index in self._handed
            self._handed.symmetric_difference_update((index,))
        if second:
            sources.release_rows(band, row, rows)
        else:
            sources.leave_rows(band)
