"""Smooth blocks: the better of two roundings, for the decoder's integer IDCT.

Status: compiled as its own extension module, ``pillow_streamjpeg.smooth`` (and
``smooth_v3`` for x86-64-v3, as ``refine``), called by the encoder by default on
images the kernels code plane by plane without subsampling (grey, CMYK, RGB kept
as RGB) at qualities with a quantizer of 1 (``options.smooth_levels``). In a run
of strips, ``smooth_plan`` writes, from their pixels and the cache of choices, the
choices of every block to decide, which the fused ``kernels.encode_strips`` codes
(``strips.StripCoder._encode_smooth_run``); a strip with a block the cache cannot
decide takes the two-step path: ``strips.smoothed_coefs`` runs
``smooth_candidates``, ``smooth_lookup`` and ``smooth_decide`` on it between the
kernels' ``strip_coefs`` and ``code_coefs``, and its decisions fill the cache. A
strip coded alone takes the two-step path where ``smooth_screen`` finds smooth
windows in it (docs/fidelity.md, "Smooth blocks in a module of their own";
docs/performance.md, "Smooth strips planned from the cache of choices").
tests/test_smooth_blocks.py runs this file as plain Python and checks that the
builds choose and plan the same coefficients.

Three exports called in turn, not one: Pythran types each function for its
callers' argument types, and g++ instantiates those types; one function calling
all of these (as ``_group_coefs`` did inside transpiled/kernels.py, or a
``_smooth_blocks`` here) made g++ need over 8 GB even at -O0 (24 GB at -O3: out
of memory), 96 % of it template instantiation. Called from Python, each export
is typed once, for its signature.

On smooth content (a staircase of 1 or 2 levels a block: ramps, skies, vignettes)
rounding the exact DCT is not always what the decoder's integer IDCT reconstructs
best, and libjpeg's own integer DCT (jfdctint.c, which Pillow's libjpeg-turbo
runs) can happen to suit it better: issue 15's 1024 x 768 ramp decodes at 64.6 dB
from the first and 68.5 from the second at quality 100, while a 512 x 512 ramp
goes the other way (78.2 against 66.1). Each block whose samples span 1 to
``smooth[0]`` levels keeps whichever of its coefficients and libjpeg's decodes
closer to its samples under libjpeg's integer IDCT (jidctint.c), both decoded
exactly; libjpeg's only where strictly closer.

Windows: a strip's blocks are taken in the kernels' groups (``MCUS_PER_GROUP``
MCUs, cut at restart intervals as ``kernels.strip_coefs`` cuts them), and a
window's blocks of a component are decided only where at least half of them
span 1 to ``smooth[0]`` levels (``SMOOTH_GROUP_EIGHTHS``) and none spans more than
``SMOOTH_WINDOW_LEVELS``: smooth content rather than a photo's few scattered smooth
blocks, whose gain was +0.00 to +0.05 dB, or its smooth patches among detail. So
every path that codes an MCU (a whole strip, a strip cut at a restart, the last
group for the DC predictors) decides it alike, and ``smooth_screen``, from the
pixels, finds every strip in which some window is decided.

Every step runs on a chunk of up to SVG blocks side by side, item r of block b at
V[r SVG + b]: loops over b that g++ vectorizes 8 blocks wide. Choices are cached
by pattern of levels (``_smooth_cached``: exact, so the bytes do not depend on
which strips a thread coded before).

``smooth``: smooth[0] the most levels a block's samples may span (at least 1 to
search), then for each table set t at 1 + SMOOTH_ITEMS t, in natural order: the
64 quantizers, and libjpeg-turbo's division of its DCT's outputs by 8 q as
``compute_reciprocal`` (jcdctmgr.c) sets it up: 64 reciprocals, 64 corrections,
64 shifts (``tables.libjpeg_divisors``, ``strips.Smoothing``).
"""
import numpy as np

# pythran export smooth_scratch(int, int)
# pythran export smooth_clear(int32[:])
# pythran export smooth_candidates(float32[:], int32[:], int, int, int, int64[:], int32[:], int32[:], float32[:], int, int, int, int32[:], int32[:])
# pythran export smooth_lookup(int32[:], int, int, int, int, int64[:], int32[:], int32[:], int32[:], int, int32[:])
# pythran export smooth_decide(float32[:], int32[:], int, int, int, int, int64[:], int32[:], int32[:], float32[:], int32[:], int, int32[:])
# pythran export smooth_screen(uint8[:], int, int, int, int, int, int, int, int, int, int)
# pythran export smooth_plan(uint8[:], int, int, int, int, int, int, int64[:], int32[:], int32[:], int, int, int, int32[:])


def _size(n):
    """n clamped to 0..2**40, which lets Pythran index with it without a sign check."""
    return min(max(n, 0), 1 << 40)


def _group_size(group, left, g, interval):
    """MCUs of the next window: at most ``group`` and the ``left`` of the strip, cut where
    the restart interval of the image's MCU g (the window's first) ends (``interval`` MCUs;
    0 none): ``kernels._group_size``, the kernels' groups."""
    gm = min(group, left)
    if interval > 0:
        gm = min(gm, interval - g % interval)
    return gm


def smooth_screen(band, row_bytes, row0, nrows, width, channels, ncomp, levels, group, mcu0,
                  interval):
    """How many strips of 8 rows of a band, from row row0 (nrows rows), come before the
    first in which ``smooth_candidates`` may find blocks to decide; all of them if none.

    From the pixels: component c of pixel x of band row r at band[r row_bytes + x channels
    + c]; a strip's first MCU is the image's mcu0 + s mcus (s the strip's number here).
    The windows' gates of ``smooth_candidates``, from the pixels: at least half a window's
    blocks span 1 to ``levels`` levels, none more than ``SMOOTH_WINDOW_LEVELS``, and those
    have at most ``SMOOTH_PATTERNS`` patterns (``_pixel_patterns_repeat``). Its screen of AC energy only leaves windows these gates
    leave too, so a strip not found here has no block to decide, and is coded in one
    fused call. The spans and patterns are those of the kernels' samples: past the image's
    edge they repeat its last column and row.
    """
    mcus = (width + 7) // 8
    strips = (nrows + 7) // 8
    lo = np.empty(8 * mcus, dtype=np.uint8)
    hi = np.empty(8 * mcus, dtype=np.uint8)
    lo2 = np.empty(8 * mcus, dtype=np.uint8)
    hi2 = np.empty(8 * mcus, dtype=np.uint8)
    least_of = np.empty(mcus, dtype=np.int32)
    seen = np.empty(4 * SMOOTH_PATTERNS, dtype=np.int32)
    cols = np.empty(8 * mcus, dtype=np.int32)
    row_bytes_ = _size(row_bytes)
    channels_ = _size(channels)
    width_ = _size(width)
    for s in range(strips):
        top = row0 + 8 * s
        n = min(8, nrows - 8 * s)
        first = mcu0 + s * mcus
        found = False
        for c in range(ncomp):
            # window by window, so that a strip of smooth content is found at its first
            m0 = 0
            while m0 < mcus and not found:
                gm = _group_size(group, mcus - m0, first + m0, interval)
                count, wide = _window_spans(band, row_bytes_, top, n, c, channels_, width_, m0,
                                            gm, levels, lo, hi, lo2, hi2, least_of)
                found = (wide == 0 and 8 * count >= SMOOTH_GROUP_EIGHTHS * gm
                         and _pixel_patterns_repeat(band, row_bytes_, top, n, c, channels_,
                                                    width_, m0, gm, least_of, seen, cols))
                m0 += gm
        if found:
            return s
    return strips


def _window_spans(band, row_bytes, top, n, c, channels, width, m0, gm, levels, lo, hi, lo2,
                  hi2, least_of):
    """The spans of the window of blocks m0 .. m0 + gm - 1 of component c of the strip of
    band rows top .. top + n - 1, from the pixels (``smooth_screen``): least_of[b] the
    fewest level of block b where it spans 1 to ``levels`` levels, else -1; returns (the
    blocks that do, those that span more than ``SMOOTH_WINDOW_LEVELS``). lo, hi, lo2 and
    hi2: uint8 scratch of 8 items an MCU of the strip."""
    x0 = _size(8 * m0)
    x1 = _size(min(8 * (m0 + gm), width))
    for y in range(n):
        o = _size((top + y) * row_bytes + c)
        if channels == 1:  # contiguous: loops g++ vectorizes
            if y == 0:
                for x in range(x0, x1):
                    lo[x] = band[o + x]
                    hi[x] = band[o + x]
            else:
                for x in range(x0, x1):
                    v = band[o + x]
                    lo[x] = v if v < lo[x] else lo[x]
                    hi[x] = v if v > hi[x] else hi[x]
        else:
            for x in range(x0, x1):
                v = band[o + x * channels]
                lo[x] = v if y == 0 or v < lo[x] else lo[x]
                hi[x] = v if y == 0 or v > hi[x] else hi[x]
    for x in range(x1, _size(8 * (m0 + gm))):  # the last column repeated
        lo[x] = lo[x1 - 1]
        hi[x] = hi[x1 - 1]
    # each block's fewest and most levels: of neighbouring columns' (into lo2, hi2), then
    # of those 2 apart (back into lo, hi: 4 columns from x), then lo[8 b] against
    # lo[8 b + 4]: loops along the window that g++ vectorizes (a block's 8 columns compared
    # one by one cost a 2048 x 2048 photo 0.3 ms)
    xe = _size(8 * (m0 + gm))
    _pair_extremes(lo, hi, lo2, hi2, x0, xe - 1, 1)
    _pair_extremes(lo2, hi2, lo, hi, x0, xe - 3, 2)
    count = 0
    wide = 0
    for b in range(m0, m0 + gm):
        least = _lower(np.int32(lo[8 * b]), np.int32(lo[8 * b + 4]))
        most = _higher(np.int32(hi[8 * b]), np.int32(hi[8 * b + 4]))
        d = most - least
        smooth = d > 0 and d <= levels
        count += 1 if smooth else 0
        wide += 1 if d > SMOOTH_WINDOW_LEVELS else 0
        least_of[b] = least if smooth else np.int32(-1)
    return count, wide


def _pair_extremes(lo, hi, lo_out, hi_out, x0, x1, step):
    """lo_out[x] and hi_out[x], x0 <= x < x1: the lesser of lo[x] and lo[x + step] and the
    greater of hi[x] and hi[x + step] (``smooth_screen``'s blocks' ranges)."""
    for x in range(x0, x1):
        u = lo[x]
        v = lo[x + step]
        lo_out[x] = u if u < v else v
        u = hi[x]
        v = hi[x + step]
        hi_out[x] = u if u > v else v


def _pixel_patterns_repeat(band, row_bytes, top, n, c, channels, width, m0, gm, least_of, seen,
                           cols):
    """``_smooth_repeats`` from the pixels: whether the blocks m0 .. m0 + gm - 1 of the
    strip's component c (band rows top .. top + n - 1) with least_of[b] >= 0 (their fewest
    level) have at most ``SMOOTH_PATTERNS`` patterns between them. A block's pattern is
    ``_smooth_keys``' words, from the kernels' samples: past the image's edge its last
    column and row repeat. (seen: int32 scratch of 4 SMOOTH_PATTERNS; cols: of a column
    each, its number Sum 3**y level, as ``_smooth_keys`` sums them, row by row along the
    band's rows.)"""
    x0 = _size(8 * m0)
    x1 = _size(min(8 * (m0 + gm), width))
    for y in range(8):
        o = _size((top + min(y, n - 1)) * row_bytes + c)
        digit = np.int32(3 ** y)
        if channels == 1:  # contiguous: loops g++ vectorizes
            if y == 0:
                for x in range(x0, x1):
                    cols[x] = np.int32(band[o + x])
            else:
                for x in range(x0, x1):
                    cols[x] += digit * np.int32(band[o + x])
        else:
            for x in range(x0, x1):
                v = digit * np.int32(band[o + x * channels])
                cols[x] = v if y == 0 else cols[x] + v
    for x in range(x1, _size(8 * (m0 + gm))):  # the last column repeated
        cols[x] = cols[x1 - 1]
    # A bound first, without branches: each block's words hashed to one of 64 bits
    # (distinct bits are at most distinct words, at most distinct patterns), so more than
    # SMOOTH_PATTERNS bits set is more than that many patterns: a vignette's windows
    # (about 90 % of them over 16 patterns) fail here, not after searching the patterns
    # seen for each of their blocks. In uint32, with shifts and xors only: the numbers of a
    # block that is not smooth (its bit not set) may wrap, which unsigned shifts define
    # (int32 products would overflow)
    bits = np.uint64(0)
    for b in range(m0, m0 + gm):
        least = least_of[b]
        base = np.int32(3280) * least
        i = 8 * b
        w0 = np.uint32(cols[i] - base) | (np.uint32(cols[i + 1] - base) << np.uint32(13))
        w1 = np.uint32(cols[i + 2] - base) | (np.uint32(cols[i + 3] - base) << np.uint32(13))
        w2 = np.uint32(cols[i + 4] - base) | (np.uint32(cols[i + 5] - base) << np.uint32(13))
        w3 = np.uint32(cols[i + 6] - base) | (np.uint32(cols[i + 7] - base) << np.uint32(13))
        h = w0 ^ (w1 << np.uint32(3)) ^ (w2 << np.uint32(7)) ^ (w3 << np.uint32(11))
        h = (h ^ (h >> np.uint32(6)) ^ (h >> np.uint32(12)) ^ (h >> np.uint32(18))
             ^ (h >> np.uint32(24))) & np.uint32(63)
        bits |= (np.uint64(1) << np.uint64(h)) if least >= 0 else np.uint64(0)
    # the bits counted (without a multiplication, which would wrap in the plain-Python run)
    bits = bits - ((bits >> np.uint64(1)) & np.uint64(0x5555555555555555))
    bits = (bits & np.uint64(0x3333333333333333)) + ((bits >> np.uint64(2)) & np.uint64(0x3333333333333333))
    bits = (bits + (bits >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    bits = bits + (bits >> np.uint64(8))
    bits = bits + (bits >> np.uint64(16))
    bits = bits + (bits >> np.uint64(32))
    if (bits & np.uint64(127)) > np.uint64(SMOOTH_PATTERNS):
        return False
    count = 0
    for b in range(m0, m0 + gm):
        least = least_of[b]
        if least < 0:
            continue
        w0, w1, w2, w3 = _pattern_words(cols, 8 * b, least)
        new = True
        for t in range(count):
            if (seen[4 * t] == w0 and seen[4 * t + 1] == w1 and seen[4 * t + 2] == w2
                    and seen[4 * t + 3] == w3):
                new = False
                break
        if new:
            if count == SMOOTH_PATTERNS:
                return False
            seen[4 * count] = w0
            seen[4 * count + 1] = w1
            seen[4 * count + 2] = w2
            seen[4 * count + 3] = w3
            count += 1
    return True


def _pattern_words(cols, i, least):
    """A block's pattern (``_smooth_keys``' 4 words) from its columns' numbers cols[i:i + 8]
    (Sum 3**y level, of the pixels) and its fewest level (0 for numbers of the levels above
    it, as ``_planned`` makes them)."""
    base = np.int32(3280) * least
    return ((cols[i] - base) | ((cols[i + 1] - base) << np.int32(13)),
            (cols[i + 2] - base) | ((cols[i + 3] - base) << np.int32(13)),
            (cols[i + 4] - base) | ((cols[i + 5] - base) << np.int32(13)),
            (cols[i + 6] - base) | ((cols[i + 7] - base) << np.int32(13)))


def smooth_plan(band, row_bytes, row0, nrows, width, channels, ncomp, comp_table, smooth, SB,
                group, mcu0, interval, plan):
    """The choices on the smooth blocks of the strips of 8 rows of a band from row row0
    (nrows rows), made from the pixels and the cache of choices alone, into ``plan`` for
    ``kernels.encode_strips``; returns how many strips, from the first, are planned.

    The band, ``mcu0`` and ``interval`` as ``smooth_screen``'s (its windows and gates:
    the blocks ``smooth_candidates`` would find); ``comp_table``, ``smooth`` and SB as
    ``smooth_lookup``'s (SB: ``smooth_scratch``'s, the cache of choices in it). Planning
    stops before the first strip with a block to decide that the cache cannot decide from
    its pixels (``_planned``: not ``_cacheable``, or a pattern not seen at those levels):
    that strip takes the two-step path (``strips.smoothed_coefs``), whose decisions fill
    the cache; and before a strip whose records might not fit in ``plan``.

    plan[0]: the items used (from 1); then a record a block to decide, in the order the
    kernels code them (strip, window, component, block): its strip's number here, its MCU,
    its component, the kernels' DC the cache's choice holds for (``_smooth_cached``
    checks it against the kernels' own, ``kernels._apply_plan`` does), the count of
    coefficients to write, and those, 256 value + index (natural order, 0 the DC).
    A record written only for its DC's check (count 0, the kernels' coefficients kept):
    the choice holds only for that DC, so a block whose DC differs is decided afresh.
    """
    mcus = (width + 7) // 8
    strips = (nrows + 7) // 8
    # ``smooth_screen``'s scratch, made here as there: made by a function of their own and
    # returned, g++ no longer knew them apart from the band, and left the spans' loops
    # scalar (the plan 107 ns a block of a 3000 x 2000 ramp, against 30)
    lo = np.empty(8 * mcus, dtype=np.uint8)
    hi = np.empty(8 * mcus, dtype=np.uint8)
    lo2 = np.empty(8 * mcus, dtype=np.uint8)
    hi2 = np.empty(8 * mcus, dtype=np.uint8)
    least_of = np.empty(mcus, dtype=np.int32)
    cols = np.empty(8 * mcus, dtype=np.uint16)
    sums = np.empty(8 * mcus, dtype=np.uint16)
    low = np.empty(8 * mcus, dtype=np.uint8)
    pats = np.empty(PLAN_TABLE + REPEAT_SLOTS, dtype=np.int32)
    pid = np.empty(mcus, dtype=np.int32)
    row_bytes_ = _size(row_bytes)
    channels_ = _size(channels)
    width_ = _size(width)
    levels = smooth[0]
    plan[0] = np.int32(1)  # the items used, kept there as records are written
    most = mcus * ncomp * (PLAN_RECORD + 64)  # a strip's records at most
    for s in range(strips):
        start = plan[0]
        if start + most > plan.shape[0]:
            return s
        top = row0 + 8 * s
        n = min(8, nrows - 8 * s)
        first = mcu0 + s * mcus
        decided = True
        m0 = 0
        while m0 < mcus and decided:
            gm = _group_size(group, mcus - m0, first + m0, interval)
            for c in range(ncomp):
                count, wide = _window_spans(band, row_bytes_, top, n, c, channels_, width_, m0,
                                            gm, levels, lo, hi, lo2, hi2, least_of)
                if decided and wide == 0 and 8 * count >= SMOOTH_GROUP_EIGHTHS * gm:
                    decided = _planned(band, row_bytes_, top, n, c, channels_, width, m0, gm,
                                       least_of, cols, sums, comp_table, smooth, SB, plan, s,
                                       pats, pid, low)
            m0 += gm
        if not decided:  # a block the cache cannot decide
            plan[0] = start
            return s
    return strips


def _planned(band, row_bytes, top, n, c, channels, width, m0, gm, least_of, cols, sums,
             comp_table, smooth, SB, plan, s, pats, pid, low):
    """``smooth_plan``'s records of the blocks to decide of a window that passed the gates of
    its spans (those with least_of[b] >= 0) into plan from plan[plan[0]] on, plan[0] then
    the items used, where they have at most ``SMOOTH_PATTERNS`` patterns (else none: the
    window is not decided); returns False where the cache cannot decide a block. (The
    count kept in plan, not passed in and returned: so passed, the compiled module's plans
    held only each strip's last window's records.)

    ``_smooth_cached`` from the pixels: a block's pattern (``_smooth_keys``' words), the
    sum of its samples - 128 (libjpeg's DC) and its fewest level - 128 come from the band
    (cols and sums: uint16 scratch of a column each, low uint8), as the kernels' samples
    hold them; the kernels' DC is not known here, so the entry's DC plus the shift the
    other conditions name is written for the kernels to check. A block at the image's
    edge is looked up with its tag (``_smooth_tag``), from the samples the kernels repeat
    past the edge.

    The window's patterns are counted exactly, as ``_smooth_repeats`` counts them, in a
    table of REPEAT_SLOTS slots (pats[PLAN_TABLE:]); each pattern's words and the cache
    entries that hold its key and tag (looked up at its first block that needs them, again
    for a block of another tag: one cut by the image's edge) at pats[PLAN_PATTERN t:], its
    number pid[b] for each block.
    """
    x0 = _size(8 * m0)
    x1 = _size(min(8 * (m0 + gm), width))
    # The columns' numbers (Sum 3**y level above the block's fewest) and sums of those
    # levels, from the same loads, in uint16: each level less the block's fewest (low, a
    # column each; 0 for a block not to decide), so that 16 columns fit a vector, not 8 in
    # int32 (the plan 0.85x to 0.93x the time, with -finline-limit: meson.build). The
    # level masked to 3 bits: exact for blocks of up to 7 levels (the gates let through
    # at most SMOOTH_WINDOW_LEVELS), and the sums stay within uint16 for any other block
    # (whose numbers are not used), as they must in the plain-Python run
    for b in range(m0, m0 + gm):
        least = least_of[b]
        fewest = np.uint8(least if least >= 0 else 0)
        for k in range(8):
            low[8 * b + k] = fewest
    for y in range(8):
        o = _size((top + min(y, n - 1)) * row_bytes + c)
        digit = np.uint16(3 ** y)
        if channels == 1:  # contiguous: loops g++ vectorizes
            if y == 0:
                for x in range(x0, x1):
                    v = np.uint16((band[o + x] - low[x]) & np.uint8(7))
                    cols[x] = v
                    sums[x] = v
            else:
                for x in range(x0, x1):
                    v = np.uint16((band[o + x] - low[x]) & np.uint8(7))
                    cols[x] += digit * v
                    sums[x] += v
        else:
            for x in range(x0, x1):
                v = np.uint16((band[o + x * channels] - low[x]) & np.uint8(7))
                cols[x] = v if y == 0 else cols[x] + digit * v
                sums[x] = v if y == 0 else sums[x] + v
    for x in range(x1, _size(8 * (m0 + gm))):  # the last column repeated
        cols[x] = cols[x1 - 1]
        sums[x] = sums[x1 - 1]
    for t in range(REPEAT_SLOTS):
        pats[PLAN_TABLE + t] = np.int32(-1)
    count = 0
    for b in range(m0, m0 + gm):
        least = least_of[b]
        if least < 0:
            continue
        k0, k1, k2, k3 = _pattern_words(cols, _size(8 * b), np.int32(0))  # numbers above least
        slot = _size(_pattern_hash(k0, k1, k2, k3) & (REPEAT_SLOTS - 1))
        while True:
            t = pats[PLAN_TABLE + slot]
            if t < 0:  # a pattern not seen before in the window
                if count == SMOOTH_PATTERNS:
                    return True  # too many: the window is not decided
                u = PLAN_PATTERN * count
                pats[u] = k0
                pats[u + 1] = k1
                pats[u + 2] = k2
                pats[u + 3] = k3
                pats[u + 4] = np.int32(-1)  # its entries not looked up yet
                pats[PLAN_TABLE + slot] = np.int32(count)
                t = np.int32(count)
                count += 1
                break
            u = _size(PLAN_PATTERN * np.int64(t))
            if pats[u] == k0 and pats[u + 1] == k1 and pats[u + 2] == k2 and pats[u + 3] == k3:
                break
            slot = (slot + 1) & (REPEAT_SLOTS - 1)
        pid[b] = t
    tq = 1 + SMOOTH_ITEMS * _size(comp_table[c])
    q = smooth[tq]
    if not _cacheable(smooth):
        return False
    for b in range(m0, m0 + gm):
        least = least_of[b]
        if least < 0:
            continue
        u = _size(PLAN_PATTERN * np.int64(pid[b]))
        tag = _smooth_tag(tq, width, n, b)
        if pats[u + 4] < 0 or pats[u + 5] != tag:  # the entries of its key and tag, in order
            first = _smooth_slot(pats[u], pats[u + 1], pats[u + 2], pats[u + 3])
            held = 0
            for t in range(PROBES):
                e = _size(SB_C + ((first + t) & (SMOOTH_SLOTS - 1)) * SMOOTH_ENTRY)
                if (SB[e + 1] == pats[u] and SB[e + 2] == pats[u + 1]
                        and SB[e + 3] == pats[u + 2] and SB[e + 4] == pats[u + 3]
                        and SB[e] == tag):
                    pats[u + 6 + held] = np.int32(e)
                    held += 1
            pats[u + 4] = np.int32(held)
            pats[u + 5] = tag
        i = _size(8 * b)
        total = (np.int32(64) * least
                 + np.int32((sums[i] + sums[i + 1]) + (sums[i + 2] + sums[i + 3]))
                 + np.int32((sums[i + 4] + sums[i + 5]) + (sums[i + 6] + sums[i + 7]))
                 - np.int32(8192))
        theirs = _libjpeg_quantize(total, smooth[tq + 64], smooth[tq + 128], smooth[tq + 192])
        level = least - np.int32(128)
        found = -1
        for t in range(_size(pats[u + 4])):
            e = _size(pats[u + 6 + t])
            shift = level - SB[e + 5]
            d = theirs - SB[e + 9]
            if shift >= SB[e + 6] and shift <= SB[e + 7] and d * q == 8 * shift:
                found = e
                break
        if found < 0:
            return False
        e = _size(found)
        r = _size(plan[0])
        plan[r] = np.int32(s)
        plan[r + 1] = np.int32(b)
        plan[r + 2] = np.int32(c)
        plan[r + 3] = SB[e + 8] + theirs - SB[e + 9]
        if SB[e + 10] != 0:  # libjpeg's: its DC, its AC where they differ
            nd = _size(SB[e + 11])
            plan[r + 4] = np.int32(nd + 1)
            plan[r + PLAN_RECORD] = theirs * np.int32(256)
            for t in range(nd):
                plan[r + PLAN_RECORD + 1 + t] = SB[e + 16 + t]
            plan[0] = np.int32(r + PLAN_RECORD + 1 + nd)
        else:
            plan[r + 4] = np.int32(0)
            plan[0] = np.int32(r + PLAN_RECORD)
    return True


SMOOTH_ITEMS = 256
# Rows of the work array V (int32, SB's first items): item r of block b of a chunk of at most
# SVG blocks at V[r SVG + b]. SVG a literal: every row's offset a constant, g++ proves the
# rows apart and vectorizes the loops over b (with the group's block count as the stride,
# the same loops stayed scalar: about 8,400 instructions a smooth block)
SVG = 32
SV_T = 0        # the samples - 128 as integers: row 8 y + x
SV_R = 64       # libjpeg's DCT's row pass (row 8 y + u), then the IDCT's workspace (8 y + u)
SV_L = 128      # libjpeg's quantized coefficients: row n (natural order)
SV_O = 192      # the kernels' own, copied: row n
SV_SEL = 256    # -1 for a block to decide, else 0
SV_OURS = 257   # squared error of the decoded pixels: the kernels' coefficients
SV_THEIRS = 258  # and libjpeg's
SV_LEFT = 259   # the image's columns from the block's first
SV_DIFF = 260   # -1 for a block whose two roundings differ (and were decoded), else 0
SV_DLO = 261    # the fewest and most levels the two decodes output, before the range limit
SV_DHI = 262
SV_ROWS = 263
# The rest of the int32 scratch SB (V is its first SV_ROWS SVG items): the choices made,
# by pattern (``_smooth_cached``): SMOOTH_SLOTS entries of SMOOTH_ENTRY int32 from SB_C,
# kept from call to call: at +0 the table set's offset + 1 (0: empty), +1 to +4 the
# pattern's key, +5 the fewest level (- 128) of the block it was decided on, +6 and +7 the
# shifts of level it holds for (the decodes inside the range limit), +8 and +9 that block's
# DC (the kernels', libjpeg's), +10 1 where libjpeg's coefficients were chosen, and then at
# +11 the number of its AC coefficients that differ from the kernels' and from +16 those, as
# 256 value + their index k (natural order, 1 to 63): the kernels' AC are the same for every
# block of the pattern (``_smooth_cached``), so a hit writes those few, not all 63 (a
# strided store each: half of ``smooth_lookup``'s instructions on issue 15's ramp)
SB_C = SV_ROWS * SVG
# 256 entries (80 KB): with 64, issue 15's ramp decided twice as many blocks (``smooth_decide``
# 0.86 M instructions against 0.43 M) and the 1024 vignette 0.30 M more; 1024 gained
# 0.01 M more on the vignette
SMOOTH_SLOTS = 256
SMOOTH_ENTRY = 80
# Entries a pattern may take, from its slot on: with one (direct-mapped), issue 15's ramp's
# 11 patterns collided, 2,468 of its 12,288 blocks decided. A pattern may hold several,
# one for each range of levels decided (a 3000 x 2000 ramp's strips run through every
# level: with one entry a pattern, replaced, 5,031 of its 66,970 smooth blocks decided)
PROBES = 4
# then g items each for a window of g blocks (``smooth_candidates``): E the screen's AC
# energy, then (at SB_E + g and SB_E + 2 g) each block's fewest and most levels, then (at
# SB_E + 3 g) the REPEAT_SLOTS slots of the patterns seen (``_smooth_repeats``)
SB_E = SB_C + SMOOTH_SLOTS * SMOOTH_ENTRY
# Slots of ``_smooth_repeats``' table of the patterns seen in a window (at most
# SMOOTH_PATTERNS of them, so at most a quarter full: a probe or two a block)
REPEAT_SLOTS = 64
# A block's pattern and level (``_smooth_keys``): KEY items of the int32 ``keys``
KEY = 6
# A window's blocks are decided only where at least this share of them (out of 8) are smooth:
# smooth content (ramps, vignettes, skies) rather than a photo's few scattered smooth blocks
SMOOTH_GROUP_EIGHTHS = 4
# ... and where none of its blocks spans more than this many levels: the other blocks of
# a ramp's or a vignette's windows are flat or span a level or two more (issue 15's ramps
# at most 2, vignettes of 1024 to 4096 pixels 3 or 4), a photo's smooth windows (a sky's
# or a dark ground's, about half their blocks smooth) hold blocks of detail (of the 25 MP
# grey mosaic's 172 windows, 156 a block spanning 5 levels or more, 135 of them 20 or
# more). On that mosaic such windows sent 149 of its 500 strips to the two-step path, for
# 625 blocks changed and +0.002 dB, 1.15x (q100) and 1.21x (q95) the save's time without
# the choice (docs/fidelity.md, "Smooth windows without blocks of detail")
SMOOTH_WINDOW_LEVELS = 4
# ... and where those have at most this many patterns between them (``_smooth_repeats``):
# where patterns repeat, most choices come from the cache. Windows of 32 blocks: issue 15's
# ramps 7 or 8, ramps of other slopes 11 to 15; vignettes 8 to 32 (about 90 % over 16), a
# photo's few smooth windows 16 to 20, where each block decided costs about 600 ns and
# gained +0.0 to +0.3 dB
SMOOTH_PATTERNS = 16
# Items of a record of ``smooth_plan`` before its coefficients
PLAN_RECORD = 5
# ``_planned``'s scratch pats: a window's patterns (their 4 words, the count of the cache's
# entries that hold their key and a tag, the tag, and those entries' offsets), then its
# table of REPEAT_SLOTS
PLAN_PATTERN = 6 + PROBES
PLAN_TABLE = SMOOTH_PATTERNS * PLAN_PATTERN
# The float32 scratch SF: SVG blocks' samples copied together (8 rows of 8 SVG), then each
# column's fewest and most levels, number and sum (8 g items each, ``_smooth_spans``)
SF_MIN = 64 * SVG


def _lower(a, b):
    """The smaller of two int32 (a conditional expression: Pythran's ``min`` keeps a loop scalar)."""
    return a if a < b else b


def _higher(a, b):
    """The larger of two int32 (see ``_lower``)."""
    return a if a > b else b


def _fdct8(d0, d1, d2, d3, d4, d5, d6, d7, up, down, shift):
    """One pass of ``jpeg_fdct_islow`` (jfdctint.c) on 8 int32 inputs: its 8 outputs in order.

    libjpeg's constants (CONST_BITS 13) and rounding: outputs 0 and 4 are ((sum << up) +
    rounding) >> down, the others DESCALE(sum, shift); the row pass is up 2 (PASS1_BITS),
    down 0, shift 11, the column pass up 0, down 2, shift 15 (refine.py's
    ``_fdct_islow8``, the same butterfly). Exact in 32 bits for 8-bit samples.
    """
    half = np.int32(1) << (shift - 1)
    even = (np.int32(1) << down) >> 1
    tmp0 = d0 + d7
    tmp7 = d0 - d7
    tmp1 = d1 + d6
    tmp6 = d1 - d6
    tmp2 = d2 + d5
    tmp5 = d2 - d5
    tmp3 = d3 + d4
    tmp4 = d3 - d4
    tmp10 = tmp0 + tmp3
    tmp13 = tmp0 - tmp3
    tmp11 = tmp1 + tmp2
    tmp12 = tmp1 - tmp2
    z1 = (tmp12 + tmp13) * np.int32(4433)
    f2 = (z1 + tmp13 * np.int32(6270) + half) >> shift
    f6 = (z1 - tmp12 * np.int32(15137) + half) >> shift
    z1 = tmp4 + tmp7
    z2 = tmp5 + tmp6
    z3 = tmp4 + tmp6
    z4 = tmp5 + tmp7
    z5 = (z3 + z4) * np.int32(9633)
    z1 = z1 * np.int32(-7373)
    z2 = z2 * np.int32(-20995)
    z3 = z3 * np.int32(-16069) + z5
    z4 = z4 * np.int32(-3196) + z5
    return ((((tmp10 + tmp11) << up) + even) >> down,
            (tmp7 * np.int32(12299) + z1 + z4 + half) >> shift,
            f2,
            (tmp6 * np.int32(25172) + z2 + z3 + half) >> shift,
            (((tmp10 - tmp11) << up) + even) >> down,
            (tmp5 * np.int32(16819) + z2 + z4 + half) >> shift,
            f6,
            (tmp4 * np.int32(2446) + z1 + z3 + half) >> shift)


def _idct8(z0, z1, z2, z3, z4, z5, z6, z7, bias):
    """One pass of ``jpeg_idct_islow`` (jidctint.c) on 8 int32 inputs: its 8 outputs in
    order, before the pass's final shift (11 for the column pass, 18 for the row pass),
    ``bias`` its rounding (1024, 131072) added."""
    e = (z2 + z6) * np.int32(4433)
    tmp2 = e - z6 * np.int32(15137)
    tmp3 = e + z2 * np.int32(6270)
    tmp0 = (z0 + z4) * np.int32(8192)
    tmp1 = (z0 - z4) * np.int32(8192)
    tmp10 = tmp0 + tmp3 + bias
    tmp13 = tmp0 - tmp3 + bias
    tmp11 = tmp1 + tmp2 + bias
    tmp12 = tmp1 - tmp2 + bias
    a1 = (z7 + z1) * np.int32(-7373)
    a2 = (z5 + z3) * np.int32(-20995)
    a3 = z7 + z3
    a4 = z5 + z1
    a5 = (a3 + a4) * np.int32(9633)
    a3 = a3 * np.int32(-16069) + a5
    a4 = a4 * np.int32(-3196) + a5
    tmp0 = z7 * np.int32(2446) + a1 + a3
    tmp1 = z5 * np.int32(16819) + a2 + a4
    tmp2 = z3 * np.int32(25172) + a2 + a3
    tmp3 = z1 * np.int32(12299) + a1 + a4
    return (tmp10 + tmp3, tmp11 + tmp2, tmp12 + tmp1, tmp13 + tmp0,
            tmp13 - tmp0, tmp12 - tmp1, tmp11 - tmp2, tmp10 - tmp3)


def _smooth_rows(P, p0, cw, n, V):
    """The row pass of ``jpeg_fdct_islow`` (jfdctint.c) on the n (at most SVG) blocks of the
    plane P[p0:] (8 rows of cw samples - 128, block b at column 8 b), into V's rows SV_R +
    8 y + u; the samples as integers into SV_T + 8 y + x.

    libjpeg's constants and rounding (outputs scaled up by 2**PASS1_BITS = 4, or descaled by
    CONST_BITS - PASS1_BITS = 11 bits), so the integers are its own.
    """
    p0_ = _size(p0)
    cw_ = _size(cw)
    n_ = _size(min(n, SVG))
    for y in range(8):
        s = p0_ + y * cw_
        t = (SV_T + 8 * y) * SVG
        r = (SV_R + 8 * y) * SVG
        for b in range(n_):
            i = s + 8 * b
            d0 = np.int32(P[i])
            d1 = np.int32(P[i + 1])
            d2 = np.int32(P[i + 2])
            d3 = np.int32(P[i + 3])
            d4 = np.int32(P[i + 4])
            d5 = np.int32(P[i + 5])
            d6 = np.int32(P[i + 6])
            d7 = np.int32(P[i + 7])
            V[t + b] = d0
            V[t + SVG + b] = d1
            V[t + 2 * SVG + b] = d2
            V[t + 3 * SVG + b] = d3
            V[t + 4 * SVG + b] = d4
            V[t + 5 * SVG + b] = d5
            V[t + 6 * SVG + b] = d6
            V[t + 7 * SVG + b] = d7
            f0, f1, f2, f3, f4, f5, f6, f7 = _fdct8(d0, d1, d2, d3, d4, d5, d6, d7,
                                                    np.int32(2), np.int32(0), np.int32(11))
            V[r + b] = f0
            V[r + SVG + b] = f1
            V[r + 2 * SVG + b] = f2
            V[r + 3 * SVG + b] = f3
            V[r + 4 * SVG + b] = f4
            V[r + 5 * SVG + b] = f5
            V[r + 6 * SVG + b] = f6
            V[r + 7 * SVG + b] = f7


def _libjpeg_quantize(f, recip, corr, shift):
    """libjpeg-turbo's ``quantize`` (jcdctmgr.c) of its DCT's output f: sign(f) ((|f| + corr) recip >> shift)."""
    a = f if f >= 0 else -f
    m = ((a + corr) * recip) >> shift
    return m if f >= 0 else -m


def _smooth_columns(V, n, smooth, tq):
    """The column pass of ``jpeg_fdct_islow`` on V's rows SV_R (``_smooth_rows``) of n
    blocks, quantized as libjpeg-turbo quantizes with the divisors smooth[tq + 64:], into
    rows SV_L + 8 v + u.

    The DC and frequency 4 descaled by PASS1_BITS = 2 bits, the others by CONST_BITS +
    PASS1_BITS = 15. Outputs are at most 8 x 1024 in magnitude and the products with the
    reciprocals (at most 2**16) stay below 2**31.
    """
    n_ = _size(min(n, SVG))
    tq_ = _size(tq)
    for u in range(8):
        r = (SV_R + u) * SVG
        o = (SV_L + u) * SVG
        rc0 = smooth[tq_ + 64 + u]
        rc1 = smooth[tq_ + 72 + u]
        rc2 = smooth[tq_ + 80 + u]
        rc3 = smooth[tq_ + 88 + u]
        rc4 = smooth[tq_ + 96 + u]
        rc5 = smooth[tq_ + 104 + u]
        rc6 = smooth[tq_ + 112 + u]
        rc7 = smooth[tq_ + 120 + u]
        co0 = smooth[tq_ + 128 + u]
        co1 = smooth[tq_ + 136 + u]
        co2 = smooth[tq_ + 144 + u]
        co3 = smooth[tq_ + 152 + u]
        co4 = smooth[tq_ + 160 + u]
        co5 = smooth[tq_ + 168 + u]
        co6 = smooth[tq_ + 176 + u]
        co7 = smooth[tq_ + 184 + u]
        sh0 = smooth[tq_ + 192 + u]
        sh1 = smooth[tq_ + 200 + u]
        sh2 = smooth[tq_ + 208 + u]
        sh3 = smooth[tq_ + 216 + u]
        sh4 = smooth[tq_ + 224 + u]
        sh5 = smooth[tq_ + 232 + u]
        sh6 = smooth[tq_ + 240 + u]
        sh7 = smooth[tq_ + 248 + u]
        for b in range(n_):
            d0 = V[r + b]
            d1 = V[r + 8 * SVG + b]
            d2 = V[r + 16 * SVG + b]
            d3 = V[r + 24 * SVG + b]
            d4 = V[r + 32 * SVG + b]
            d5 = V[r + 40 * SVG + b]
            d6 = V[r + 48 * SVG + b]
            d7 = V[r + 56 * SVG + b]
            f0, f1, f2, f3, f4, f5, f6, f7 = _fdct8(d0, d1, d2, d3, d4, d5, d6, d7,
                                                    np.int32(0), np.int32(2), np.int32(15))
            V[o + b] = _libjpeg_quantize(f0, rc0, co0, sh0)
            V[o + 8 * SVG + b] = _libjpeg_quantize(f1, rc1, co1, sh1)
            V[o + 16 * SVG + b] = _libjpeg_quantize(f2, rc2, co2, sh2)
            V[o + 24 * SVG + b] = _libjpeg_quantize(f3, rc3, co3, sh3)
            V[o + 32 * SVG + b] = _libjpeg_quantize(f4, rc4, co4, sh4)
            V[o + 40 * SVG + b] = _libjpeg_quantize(f5, rc5, co5, sh5)
            V[o + 48 * SVG + b] = _libjpeg_quantize(f6, rc6, co6, sh6)
            V[o + 56 * SVG + b] = _libjpeg_quantize(f7, rc7, co7, sh7)


def _pixel_error(o, t, seen):
    """Squared error of a decoded pixel against its sample t (both - 128), 0 where not seen.

    o: the row pass's output after its shift. libjpeg's range limit (jdmaster.c's table,
    centred on 128) maps o & 1023 below 512 to min(o, 127) and from 512 to max(o - 1024,
    -128): wrapping into -512..511, then clamping.
    """
    w = ((o + np.int32(512)) & np.int32(1023)) - np.int32(512)
    d = _higher(_lower(w, np.int32(127)), np.int32(-128)) - t
    return d * d if seen else np.int32(0)


def _smooth_decode(V, src, n, smooth, tq, rows, dst):
    """Squared error, into V's row dst, of each of n blocks' pixels (x < V's row SV_LEFT,
    y < rows) that ``jpeg_idct_islow`` (jidctint.c) decodes from its coefficients in V's rows
    src + n (natural order) and the quantizers smooth[tq:], against V's samples (rows
    SV_T); rows SV_R are its workspace.

    Blocks not selected (row SV_SEL 0) are decoded from zeros: only the coefficients of
    smooth blocks are sure to keep the model's sums in 32 bits, and the others are not
    looked at. libjpeg's shortcut for columns without AC coefficients gives the same
    integers.
    """
    n_ = _size(min(n, SVG))
    tq_ = _size(tq)
    src_ = _size(src)
    dst_ = _size(dst)
    for u in range(8):
        q0 = smooth[tq_ + u]
        q1 = smooth[tq_ + 8 + u]
        q2 = smooth[tq_ + 16 + u]
        q3 = smooth[tq_ + 24 + u]
        q4 = smooth[tq_ + 32 + u]
        q5 = smooth[tq_ + 40 + u]
        q6 = smooth[tq_ + 48 + u]
        q7 = smooth[tq_ + 56 + u]
        c = (src_ + u) * SVG
        w = (SV_R + u) * SVG
        for b in range(n_):
            m = V[SV_SEL * SVG + b]
            z0 = (V[c + b] * q0) & m
            z1 = (V[c + 8 * SVG + b] * q1) & m
            z2 = (V[c + 16 * SVG + b] * q2) & m
            z3 = (V[c + 24 * SVG + b] * q3) & m
            z4 = (V[c + 32 * SVG + b] * q4) & m
            z5 = (V[c + 40 * SVG + b] * q5) & m
            z6 = (V[c + 48 * SVG + b] * q6) & m
            z7 = (V[c + 56 * SVG + b] * q7) & m
            o0, o1, o2, o3, o4, o5, o6, o7 = _idct8(z0, z1, z2, z3, z4, z5, z6, z7,
                                                     np.int32(1024))
            V[w + b] = o0 >> 11
            V[w + 8 * SVG + b] = o1 >> 11
            V[w + 16 * SVG + b] = o2 >> 11
            V[w + 24 * SVG + b] = o3 >> 11
            V[w + 32 * SVG + b] = o4 >> 11
            V[w + 40 * SVG + b] = o5 >> 11
            V[w + 48 * SVG + b] = o6 >> 11
            V[w + 56 * SVG + b] = o7 >> 11
    e = dst_ * SVG
    for b in range(n_):
        V[e + b] = np.int32(0)
    for y in range(_size(min(rows, 8))):
        w = (SV_R + 8 * y) * SVG
        t = (SV_T + 8 * y) * SVG
        for b in range(n_):
            z0 = V[w + b]
            z1 = V[w + SVG + b]
            z2 = V[w + 2 * SVG + b]
            z3 = V[w + 3 * SVG + b]
            z4 = V[w + 4 * SVG + b]
            z5 = V[w + 5 * SVG + b]
            z6 = V[w + 6 * SVG + b]
            z7 = V[w + 7 * SVG + b]
            s0, s1, s2, s3, s4, s5, s6, s7 = _idct8(z0, z1, z2, z3, z4, z5, z6, z7,
                                                     np.int32(131072))
            left = V[SV_LEFT * SVG + b]
            o0 = s0 >> 18
            o1 = s1 >> 18
            o2 = s2 >> 18
            o3 = s3 >> 18
            o4 = s4 >> 18
            o5 = s5 >> 18
            o6 = s6 >> 18
            o7 = s7 >> 18
            V[e + b] += (_pixel_error(o0, V[t + b], 0 < left)
                         + _pixel_error(o1, V[t + SVG + b], 1 < left)
                         + _pixel_error(o2, V[t + 2 * SVG + b], 2 < left)
                         + _pixel_error(o3, V[t + 3 * SVG + b], 3 < left)
                         + _pixel_error(o4, V[t + 4 * SVG + b], 4 < left)
                         + _pixel_error(o5, V[t + 5 * SVG + b], 5 < left)
                         + _pixel_error(o6, V[t + 6 * SVG + b], 6 < left)
                         + _pixel_error(o7, V[t + 7 * SVG + b], 7 < left))
            # the decoded range before the range limit, for the cache (``_smooth_remember``)
            least = _lower(_lower(_lower(o0, o1), _lower(o2, o3)), _lower(_lower(o4, o5), _lower(o6, o7)))
            most = _higher(_higher(_higher(o0, o1), _higher(o2, o3)), _higher(_higher(o4, o5), _higher(o6, o7)))
            V[SV_DLO * SVG + b] = _lower(V[SV_DLO * SVG + b], least)
            V[SV_DHI * SVG + b] = _higher(V[SV_DHI * SVG + b], most)


def _smooth_spans(P, p0, cw, gm, SF, fmax, fnum, fsum, SB, lo, hi):
    """SB[lo + b], SB[hi + b]: the fewest and most levels among the samples of block b of
    the plane P[p0:] (8 rows of cw samples - 128), for b < gm (SF[SF_MIN:] and SF[fmax:]:
    scratch); SF[fnum + x] and SF[fsum + x], x < 8 gm: each column's number and sum for
    ``_smooth_keys``.

    The 8 rows' minimum and maximum column by column first, in one loop over the plane's
    columns that g++ vectorizes (the 8 rows' samples loaded together: a loop a row, each
    storing and loading the minima and maxima again, cost 0.4 M instructions more on
    issue 15's ramp), then each block's 8 columns. The keys' numbers and sums come from
    the same loads (a loop of their own loaded the rows again: 0.14 M instructions more on
    issue 15's ramp, 3 % of its save's time; a window whose spans then fail the gate wastes
    them, a photo's few: 0.006 M on camera and moon).
    """
    p0_ = _size(p0)
    cw_ = _size(cw)
    gm_ = _size(gm)
    fmax_ = _size(fmax)
    fnum_ = _size(fnum)
    fsum_ = _size(fsum)
    three = np.float32(3.0)
    lo_ = _size(lo)
    hi_ = _size(hi)
    width = 8 * gm_
    r1 = p0_ + cw_
    r2 = p0_ + 2 * cw_
    r3 = p0_ + 3 * cw_
    r4 = p0_ + 4 * cw_
    r5 = p0_ + 5 * cw_
    r6 = p0_ + 6 * cw_
    r7 = p0_ + 7 * cw_
    for x in range(width):
        v0 = P[p0_ + x]
        v1 = P[r1 + x]
        v2 = P[r2 + x]
        v3 = P[r3 + x]
        v4 = P[r4 + x]
        v5 = P[r5 + x]
        v6 = P[r6 + x]
        v7 = P[r7 + x]
        a01 = v0 if v0 < v1 else v1
        a23 = v2 if v2 < v3 else v3
        a45 = v4 if v4 < v5 else v5
        a67 = v6 if v6 < v7 else v7
        a03 = a01 if a01 < a23 else a23
        a47 = a45 if a45 < a67 else a67
        SF[SF_MIN + x] = a03 if a03 < a47 else a47
        b01 = v0 if v0 > v1 else v1
        b23 = v2 if v2 > v3 else v3
        b45 = v4 if v4 > v5 else v5
        b67 = v6 if v6 > v7 else v7
        b03 = b01 if b01 > b23 else b23
        b47 = b45 if b45 > b67 else b67
        SF[fmax_ + x] = b03 if b03 > b47 else b47
        SF[fnum_ + x] = ((((((v7 * three + v6) * three + v5) * three + v4) * three + v3) * three
                          + v2) * three + v1) * three + v0
        SF[fsum_ + x] = ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))
    for b in range(gm_):
        i = SF_MIN + 8 * b
        least = _lower(_lower(_lower(SF[i], SF[i + 1]), _lower(SF[i + 2], SF[i + 3])),
                       _lower(_lower(SF[i + 4], SF[i + 5]), _lower(SF[i + 6], SF[i + 7])))
        i = fmax_ + 8 * b
        most = _higher(_higher(_higher(SF[i], SF[i + 1]), _higher(SF[i + 2], SF[i + 3])),
                       _higher(_higher(SF[i + 4], SF[i + 5]), _higher(SF[i + 6], SF[i + 7])))
        SB[lo_ + b] = np.int32(least)
        SB[hi_ + b] = np.int32(most)


def smooth_scratch(group, blocks):
    """Items of the int32 and float32 scratch SB and SF of windows of at most ``group``
    blocks, and of the int32 ``todo`` and ``keys`` of strips of ``blocks`` blocks."""
    return SB_E + 3 * group + REPEAT_SLOTS, SF_MIN + 32 * group, blocks, KEY * blocks


def smooth_clear(SB):
    """The cache of choices in a new scratch SB emptied."""
    for e in range(SMOOTH_SLOTS):  # the tag and the numbers compared (no garbage level: 8 s in int32)
        for k in range(16):
            SB[SB_C + e * SMOOTH_ENTRY + k] = np.int32(0)


def smooth_candidates(samples, coefs, width, lay, ncomp, comp_table, smooth, SB, SF, group,
                      mcu0, interval, todo, keys):
    """The strip's blocks to decide into ``todo``, component by component; returns their count.

    ``samples`` and ``coefs``: the strip as ``kernels.strip_coefs`` leaves it (one group
    of ``lay`` MCUs, ``kernels.strip_group``'s: the strip's MCUs, then any unused; components
    without subsampling: block m of component c at coefs[n nb + c lay + m], nb = lay ncomp, its
    samples - 128 at samples[c plane + 8 m + y cw + x], cw = 8 lay, plane = 8 cw); ``width``:
    the image's columns in the strip. ``comp_table`` and ``smooth``: each component's table set, the
    tables (``strips.Smoothing``). SB and SF: ``smooth_scratch(group, blocks)``' first two.
    ``group``, ``mcu0`` and ``interval``: ``kernels.strip_coefs``' (windows are its
    groups). A block to decide spans 1 to smooth[0] levels, in a window of a component
    where at least ``SMOOTH_GROUP_EIGHTHS`` eighths of the blocks do and none spans more
    than ``SMOOTH_WINDOW_LEVELS``; todo[i]: its
    index j = c lay + m, its pattern at keys[KEY j] (``_smooth_keys``).

    A window is screened first by part of its blocks' AC energy (a block spanning at most
    L levels has an AC energy of at most 16 L**2 in the exact DCT, by Parseval, and a
    coefficient rounded away from 0 is at most twice its exact value, so at most 64 L**2
    here, and so has each part of it, each term clamped to 255**2): where fewer than the
    share pass, fewer span so few levels. The blocks to decide are then those whose samples
    span so few (``_smooth_spans``), as ``smooth_screen`` finds them from the pixels.
    """
    mcus = (width + 7) // 8
    cw = _size(8 * lay)
    plane = 8 * cw
    nb = _size(lay * ncomp)
    window = _size(group)
    levels = np.int32(smooth[0])
    most = np.int32(64) * levels * levels + np.int32(64)  # and a margin for the float DCT's rounding
    lo = SB_E + window
    hi = SB_E + 2 * window
    count = 0
    for c in range(ncomp):
        tq = 1 + SMOOTH_ITEMS * _size(comp_table[c])
        m0 = 0
        while m0 < mcus:
            gm = _size(_group_size(group, mcus - m0, mcu0 + m0, interval))
            j0 = _size(c * lay + m0)
            for b in range(gm):
                SB[SB_E + b] = np.int32(0)
            for k in (1, 8, 16, 9, 2):  # the first five AC coefficients in zigzag order
                q = smooth[tq + k]
                o = _size(k * nb + j0)
                for b in range(gm):
                    v = coefs[o + b]
                    a = _lower((v if v >= 0 else -v) * q, np.int32(255))
                    SB[SB_E + b] += a * a
            screened = 0
            for b in range(gm):
                screened += 1 if SB[SB_E + b] <= most else 0
            if 8 * screened >= SMOOTH_GROUP_EIGHTHS * gm:
                _smooth_spans(samples, _size(c * plane + 8 * m0), cw, gm, SF,
                              SF_MIN + 8 * window, SF_MIN + 16 * window, SF_MIN + 24 * window,
                              SB, lo, hi)
                found = 0
                wide = 0
                for b in range(gm):
                    span = SB[hi + b] - SB[lo + b]
                    wide += 1 if span > SMOOTH_WINDOW_LEVELS else 0
                    if span <= levels and span > 0:
                        todo[count + found] = np.int32(j0 + b)
                        found += 1
                if wide == 0 and 8 * found >= SMOOTH_GROUP_EIGHTHS * gm:
                    _smooth_keys(gm, SB, lo, keys, j0, SF, SF_MIN + 16 * window,
                                 SF_MIN + 24 * window)
                    if _smooth_repeats(todo, count, found, keys, SB, SB_E + 3 * window):
                        count += found
            m0 += gm
    return count


def _smooth_repeats(todo, first, found, keys, SB, table):
    """Whether the ``found`` blocks todo[first:] have at most ``SMOOTH_PATTERNS`` patterns
    (keys[KEY j:KEY j + 4]) between them; SB[table:table + REPEAT_SLOTS]: scratch.

    The patterns seen are kept in a table of REPEAT_SLOTS slots (each -1 or the index j of
    a block of that pattern), a pattern's slot from its words' hash (``_pattern_hash``),
    the next slots on collisions: a probe or two a block. (A search of the patterns seen,
    in the order seen, from the block before's: 4 comparisons a block on issue 15's ramp,
    whose neighbours' patterns differ along its diagonal; 0.96 M instructions of
    ``smooth_candidates``' 2.96 M there.)
    """
    t_ = _size(table)
    for t in range(REPEAT_SLOTS):
        SB[t_ + t] = np.int32(-1)
    seen = 0
    for i in range(found):
        j = todo[first + i]
        o = KEY * _size(np.int64(j))
        k0 = keys[o]
        k1 = keys[o + 1]
        k2 = keys[o + 2]
        k3 = keys[o + 3]
        slot = _size(_pattern_hash(k0, k1, k2, k3) & (REPEAT_SLOTS - 1))
        while True:
            r = SB[t_ + slot]
            if r < 0:  # a pattern not seen before
                if seen == SMOOTH_PATTERNS:
                    return False
                SB[t_ + slot] = j
                seen += 1
                break
            u = KEY * _size(np.int64(r))
            if keys[u] == k0 and keys[u + 1] == k1 and keys[u + 2] == k2 and keys[u + 3] == k3:
                break
            slot = (slot + 1) & (REPEAT_SLOTS - 1)
    return True


def _smooth_keys(gm, SB, lo, keys, j0, SF, a, s):
    """The pattern of each block b < gm of a window (its fewest level at SB[lo + b], its
    columns' numbers and sums at SF[a:] and SF[s:], ``_smooth_spans``) into
    keys[KEY (j0 + b):]: its columns' levels above its fewest read as numbers in base 3
    (row y the digit of 3**y, 0 to 6560: levels 0 to 2 above the fewest), two columns to
    an int32 (13 bits a column), then the sum of its samples and its fewest level.

    Column by column, so that the numbers of all the window's columns are made in one
    loop along the plane's columns, their 8 rows loaded together, which g++ vectorizes (by
    rows, each block's 8 samples of a row were strided loads: 60 ns a block of a 3000 x
    2000 ramp's 5.7 ms of ``smooth_candidates``; a loop a row, adding into the numbers
    stored, 0.4 M instructions more on issue 15's ramp than one loop): ``_smooth_spans``'
    loop. Float sums of integers below 3280 x 128 < 2**24: exact (any order, fused or
    not), and so the words, which ``smooth_screen`` computes alike.
    """
    a_ = _size(a)
    s_ = _size(s)
    for b in range(gm):
        i = a_ + 8 * b
        base = np.int32(3280) * SB[lo + b]
        c0 = np.int32(SF[i]) - base
        c1 = np.int32(SF[i + 1]) - base
        c2 = np.int32(SF[i + 2]) - base
        c3 = np.int32(SF[i + 3]) - base
        c4 = np.int32(SF[i + 4]) - base
        c5 = np.int32(SF[i + 5]) - base
        c6 = np.int32(SF[i + 6]) - base
        c7 = np.int32(SF[i + 7]) - base
        k = s_ + 8 * b
        total = (SF[k] + SF[k + 1]) + (SF[k + 2] + SF[k + 3]) + ((SF[k + 4] + SF[k + 5])
                                                                + (SF[k + 6] + SF[k + 7]))
        o = KEY * (j0 + b)
        keys[o] = c0 | (c1 << np.int32(13))
        keys[o + 1] = c2 | (c3 << np.int32(13))
        keys[o + 2] = c4 | (c5 << np.int32(13))
        keys[o + 3] = c6 | (c7 << np.int32(13))
        keys[o + 4] = np.int32(total)
        keys[o + 5] = SB[lo + b]


def _pattern_hash(k0, k1, k2, k3):
    """A pattern's 4 words (``_smooth_keys``) mixed into one number, whose low bits pick
    its slot in the cache of choices (``_smooth_slot``) and in ``_smooth_repeats``' table.
    In int64: words of any levels (``smooth[0]`` above 2 too) without overflow."""
    h = np.int64(k0) ^ (np.int64(k1) * 7) ^ (np.int64(k2) * 13) ^ (np.int64(k3) * 31)
    return h ^ (h >> 6) ^ (h >> 12) ^ (h >> 18)


def _smooth_slot(k0, k1, k2, k3):
    """The cache entry of a pattern's key (``_smooth_cached``)."""
    return _size(_pattern_hash(k0, k1, k2, k3) & (SMOOTH_SLOTS - 1))


def _smooth_place(SB, keys, o):
    """The cache entry a choice for the pattern keys[o:] goes into: of the PROBES entries
    from its slot (``_smooth_slot``) on, the first empty one, and where none is, the one
    the pattern's last key bits name (an old choice forgotten: every entry is exact,
    whichever stays). A pattern may hold several entries, for the levels each covers."""
    first = _smooth_slot(keys[o], keys[o + 1], keys[o + 2], keys[o + 3])
    for t in range(PROBES):
        e = SB_C + ((first + t) & (SMOOTH_SLOTS - 1)) * SMOOTH_ENTRY
        if SB[e] == 0:
            return _size(e)
    return _size(SB_C + ((first + (keys[o + 3] & (PROBES - 1))) & (SMOOTH_SLOTS - 1))
                 * SMOOTH_ENTRY)


def _smooth_cached(SB, keys, o, tq, tag, smooth, coefs, nb, j):
    """1 where block j (its pattern at keys[o:], ``_smooth_keys``; its coefficients at
    coefs[n nb + j]) was decided from the cache, its coefficients then set; else 0.

    A block's choice depends only on the pattern of its levels above the fewest: a shift
    of s levels adds 8 s to its samples' sum, so 8 s / q to the DC of both roundings (the
    kernels' float DCT and libjpeg's integer one take the AC from differences of the
    samples alone), and s to every decoded pixel (libjpeg's IDCT adds the DC's 8 s q / q
    << 18 bits before its final shift of 18) unless the range limit clamps one. So an
    entry holds for this block where the keys and the table set are the same, 8 s is a
    multiple of the DC's quantizer q, both DCs are the entry's + 8 s / q (the kernels' and
    libjpeg's rounding of a DC halfway between two multiples can depend on its sign or
    parity; libjpeg's DC is computed here from the samples' sum, as ``_smooth_columns``
    does) and the decodes stay inside the range limit. The first of the PROBES entries
    from the pattern's slot on that holds is taken. (The kernels' AC, for the same
    reason, are the entry's: exactly, their float DCT's sums of integer samples are
    exact and every AC output is formed from their differences, where the shift cancels;
    so only libjpeg's AC that differ from them are stored and written.) ``tag``: the
    block's (``_smooth_tag``), the entry's table set and the block's part inside the image.
    """
    first = _smooth_slot(keys[o], keys[o + 1], keys[o + 2], keys[o + 3])
    j_ = _size(j)
    nb_ = _size(nb)
    q = smooth[tq]
    theirs = _libjpeg_quantize(keys[o + 4], smooth[tq + 64], smooth[tq + 128], smooth[tq + 192])
    o_ = _size(o)
    k0 = keys[o_]
    k1 = keys[o_ + 1]
    k2 = keys[o_ + 2]
    k3 = keys[o_ + 3]
    for t in range(PROBES):
        e = _size(SB_C + ((first + t) & (SMOOTH_SLOTS - 1)) * SMOOTH_ENTRY)
        # entry e holds the pattern for table set tq: its first word first (most entries
        # differ there); written out, as a function called with the arrays each probe
        # copied their handles (0.35 M instructions on issue 15's ramp)
        if SB[e + 1] != k0 or SB[e + 2] != k1 or SB[e + 3] != k2 or SB[e + 4] != k3 or SB[e] != tag:
            continue
        shift = keys[o_ + 5] - SB[e + 5]
        # both DCs the entry's + d with d q = 8 shift: 8 shift a multiple of q, d = 8 shift
        # / q, checked without a division
        d = coefs[j_] - SB[e + 8]
        if (shift >= SB[e + 6] and shift <= SB[e + 7] and d * q == 8 * shift
                and theirs - SB[e + 9] == d):
            if SB[e + 10] != 0:  # libjpeg's: its AC where they differ, its DC as computed
                coefs[j_] = theirs
                for i in range(_size(SB[e + 11])):
                    w = SB[e + 16 + i]
                    coefs[_size((w & np.int32(255)) * nb_ + j_)] = w >> np.int32(8)
            return np.int32(1)
    return np.int32(0)


def _smooth_remember(SB, keys, o, tag, v):
    """The choice made for the block of pattern keys[o:] (``_smooth_keys``) and tag ``tag``
    (``_smooth_tag``), item v of the work array V (SB's first rows), into the cache
    (``_smooth_cached``), where both decodes stayed inside the range limit or were not
    needed (the roundings the same)."""
    lo = np.int32(-1 << 20)
    hi = np.int32(1 << 20)
    if SB[SV_DIFF * SVG + v] != 0:
        lo = np.int32(-128) - SB[SV_DLO * SVG + v]
        hi = np.int32(127) - SB[SV_DHI * SVG + v]
    if lo <= 0 and hi >= 0:  # not clamped where it was decided
        e = _smooth_place(SB, keys, o)
        SB[e] = tag
        SB[e + 1] = keys[o]
        SB[e + 2] = keys[o + 1]
        SB[e + 3] = keys[o + 2]
        SB[e + 4] = keys[o + 3]
        SB[e + 5] = keys[o + 5]
        SB[e + 6] = lo
        SB[e + 7] = hi
        SB[e + 8] = SB[SV_O * SVG + v]
        SB[e + 9] = SB[SV_L * SVG + v]
        chosen = SB[SV_SEL * SVG + v] != 0
        SB[e + 10] = np.int32(1) if chosen else np.int32(0)
        if chosen:
            nd = 0
            for k in range(1, 64):
                theirs = SB[(SV_L + k) * SVG + v]
                if theirs != SB[(SV_O + k) * SVG + v]:
                    SB[e + 16 + nd] = theirs * np.int32(256) + np.int32(k)
                    nd += 1
            SB[e + 11] = np.int32(nd)


def _cacheable(smooth):
    """Whether choices may come from the cache and go into it: patterns of at most 3 levels
    (``_smooth_keys``' base 3)."""
    return smooth[0] <= 2


def _smooth_tag(tq, width, rows, m):
    """The tag of the cache entries of block m (``_smooth_cached``): its table set (tq + 1),
    and for a block at the image's right or bottom edge the image's columns and rows in it:
    such a block's pattern counts the samples past the edge (its last column and row
    repeated), its choice only the image's pixels (``_smooth_decode``), so its entries are
    those of blocks cut alike. Whole blocks' tag is tq + 1 (below 1024). (Until 2026-12-07
    only whole blocks were cached: on an image whose width is not a multiple of 8, a
    smooth strip's last block was decided afresh every time, and sent its strip to the
    two-step path: a 700 x 1503 ramp's 188 strips, all of them.)"""
    cols = min(width - 8 * m, 8)
    return np.int32(tq + 1 + 1024 * (8 - cols) + 8192 * (8 - min(rows, 8)))


def smooth_lookup(coefs, width, lay, rows, ncomp, comp_table, smooth, SB, todo, count, keys):
    """The blocks todo[:count] (``smooth_candidates``) whose pattern was decided before take
    that choice (``_smooth_cached``, the cacheable ones, ``_cacheable``); the others stay
    in todo; returns their count. ``rows``: the strip's rows in the image; ``lay``:
    ``smooth_candidates``'."""
    nb = _size(lay * ncomp)
    left = 0
    for i in range(count):
        j = _size(np.int64(todo[i]))
        c = 0
        while j >= (c + 1) * lay:  # j // lay, of at most 4 components: no division
            c += 1
        m = j - c * lay
        hit = np.int32(0)
        if _cacheable(smooth):
            tq = 1 + SMOOTH_ITEMS * _size(comp_table[c])
            hit = _smooth_cached(SB, keys, KEY * j, tq, _smooth_tag(tq, width, rows, m), smooth,
                                 coefs, nb, j)
        if hit == 0:
            todo[left] = np.int32(j)
            left += 1
    return left


def smooth_decide(samples, coefs, width, lay, rows, ncomp, comp_table, smooth, SB, SF, todo,
                  count, keys):
    """Each block todo[:count] keeps the closer of its coefficients and libjpeg's (libjpeg's
    only where strictly closer), decided SVG blocks of a component at a time side by side;
    the choices of cacheable blocks (patterns at keys[KEY i], ``smooth_lookup``) go into the
    cache. Returns the blocks changed.

    Runs of a component's blocks are read in place (smooth images); scattered ones
    (photos' few) copied together first. ``lay``: ``smooth_candidates``'.
    """
    cw = _size(8 * lay)
    plane = 8 * cw
    nb = _size(lay * ncomp)
    changed = 0
    k0 = 0
    while k0 < count:
        c = todo[k0] // lay
        n = 1
        while n < SVG and k0 + n < count and todo[k0 + n] // lay == c:
            n += 1
        tq = 1 + SMOOTH_ITEMS * _size(comp_table[c])
        j0 = _size(c * lay)
        p0 = _size(c * plane)
        start = _size(np.int64(todo[k0]))
        run = todo[k0 + n - 1] - todo[k0] == n - 1  # a run of the component's blocks
        _smooth_gather(samples, p0, cw, width, coefs, nb, j0, SB, SF, todo, k0, n, run, start)
        _smooth_columns(SB, n, smooth, tq)
        differ = _smooth_differ(SB, n)
        picked = 0
        if differ > 0:
            _smooth_decode(SB, SV_O, n, smooth, tq, rows, SV_OURS)
            _smooth_decode(SB, SV_L, n, smooth, tq, rows, SV_THEIRS)
            picked = _smooth_pick(SB, n)
        for b in range(n):
            if _cacheable(smooth):
                _smooth_remember(SB, keys, KEY * todo[k0 + b],
                                 _smooth_tag(tq, width, rows, todo[k0 + b] - j0), b)
        if picked > 0:
            _smooth_scatter(coefs, nb, SB, todo, k0, n, run, start)
        changed += picked
        k0 += n
    return changed


def _smooth_gather(samples, p0, cw, width, coefs, nb, j0, SB, SF, todo, k0, n, run, start):
    """The n blocks todo[k0:] (of the component whose first block is j0, its samples from
    p0) into V: their samples and libjpeg's row pass (``_smooth_rows``), their
    coefficients, their columns left; ``run``: they are blocks start .. start + n - 1."""
    for b in range(n):
        SB[SV_SEL * SVG + b] = np.int32(-1)
        SB[SV_LEFT * SVG + b] = np.int32(width - 8 * (todo[k0 + b] - j0))
    if run:
        _smooth_rows(samples, p0 + 8 * (start - j0), cw, n, SB)
        for k in range(64):
            o = _size(k * nb + start)
            for b in range(n):
                SB[(SV_O + k) * SVG + b] = coefs[o + b]
    else:
        for b in range(n):
            src = _size(p0 + 8 * (todo[k0 + b] - j0))
            for y in range(8):
                for x in range(8):
                    SF[y * 8 * SVG + 8 * b + x] = samples[src + y * cw + x]
        _smooth_rows(SF, 0, 8 * SVG, n, SB)
        for b in range(n):
            j = _size(np.int64(todo[k0 + b]))
            for k in range(64):
                SB[(SV_O + k) * SVG + b] = coefs[k * nb + j]


def _smooth_differ(SB, n):
    """The chunk's blocks whose two roundings differ selected (rows SV_SEL, SV_DIFF), their
    decoded ranges emptied; returns their count."""
    for b in range(n):
        SB[SV_OURS * SVG + b] = np.int32(0)  # coefficients that differ, for now
        SB[SV_DLO * SVG + b] = np.int32(1 << 20)
        SB[SV_DHI * SVG + b] = np.int32(-1 << 20)
    for k in range(64):
        for b in range(n):
            differ = SB[(SV_L + k) * SVG + b] != SB[(SV_O + k) * SVG + b]
            SB[SV_OURS * SVG + b] += np.int32(1) if differ else np.int32(0)
    left = 0
    for b in range(n):
        keep = SB[SV_OURS * SVG + b] > 0
        SB[SV_SEL * SVG + b] = np.int32(-1) if keep else np.int32(0)
        SB[SV_DIFF * SVG + b] = np.int32(-1) if keep else np.int32(0)
        left += 1 if keep else 0
    return left


def _smooth_pick(SB, n):
    """After both decodes: SV_SEL -1 where libjpeg's rounding decodes strictly closer; returns their count."""
    left = 0
    for b in range(n):
        ours = SB[SV_OURS * SVG + b]
        better = SB[SV_SEL * SVG + b] != 0 and ours > 0 and SB[SV_THEIRS * SVG + b] < ours
        SB[SV_SEL * SVG + b] = np.int32(-1) if better else np.int32(0)
        left += 1 if better else 0
    return left


def _smooth_scatter(coefs, nb, SB, todo, k0, n, run, start):
    """libjpeg's coefficients of the chunk's selected blocks into coefs."""
    if run:
        for k in range(64):
            o = _size(k * nb + start)
            for b in range(n):
                coefs[o + b] = (SB[(SV_L + k) * SVG + b] if SB[SV_SEL * SVG + b] != 0
                                else SB[(SV_O + k) * SVG + b])
    else:
        for b in range(n):
            if SB[SV_SEL * SVG + b] != 0:
                j = _size(np.int64(todo[k0 + b]))
                for k in range(64):
                    coefs[k * nb + j] = SB[(SV_L + k) * SVG + b]
