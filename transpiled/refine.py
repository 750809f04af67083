"""Decoder-aware quantization: coefficients chosen for the decoder's pixels.

Status: compiled as its own extension module, ``pillow_streamjpeg.refine``
(and ``refine_v3`` for x86-64-v3, as the kernels), called by the encoder with
the ``refine`` save option: ``strips.refined_coefs`` runs ``refine_group`` (or,
for RGB the kernels convert without subsampling, ``refine_group_rgb``: the RGB
error after the decoder's YCbCr to RGB, "Colour" below; at 4:2:2 and 4:2:0,
``refine_group_sub``: the same after its chroma upsampling, "Subsampled
colour") on a whole strip between the kernels' ``strip_coefs`` and
``code_coefs`` (docs/fidelity.md, "Integration: the refine option").
tests/test_refine.py and tests/test_refine_sub.py run this file as plain
Python (the exact IDCT and upsampling models against djpeg, the search: never
worse, at most one step) and check that the builds choose the same coefficients.

An encoder that rounds each DCT coefficient to the nearest multiple of its
quantizer makes the best *coefficients*, not the best *pixels*: the decoder
runs libjpeg's integer IDCT (``jidctint.c``, "islow": libjpeg-turbo, hence
Pillow, browsers, djpeg's default), which rounds twice and clamps, and the
decoded 8-bit pixels are what is seen. This module moves coefficients by one
quantization step (at most one step from the rounded value) where that brings
the decoded pixels of the block closer to the source samples.

Per block (``_refine_block``):

1. Decode the block exactly as ``jpeg_idct_islow`` does. Both of its passes
   are one butterfly (``_idct8``: libjpeg's constants; ``_columns`` and
   ``_rows`` run 8 side by side, which the compiler vectorizes), linear up
   to its final rounding shift, so
   a pass equals the product with the butterfly's 64 impulse responses
   (``_impulses``), which is what a candidate's incremental update adds.
   The column pass is kept transposed, with its sums before the shift.
2. A sweep ranks the coefficients and tries the best ``tries`` of them, best
   first (``_rank``), each in the direction its ranking gives: those of
   quantizer 1 first, then, if fewer, those of larger quantizers:

   - quantizer 1 (quality 100): the error changes only where a decoded pixel
     crosses a rounding boundary, and a step moves a pixel by at most a
     quarter of a level, so the residual itself says little about which
     step pays. ``_boundary`` gives each pixel a gradient that counts the
     error change of crossing its nearest boundary, weighted by how close
     that boundary is (within ``WINDOW``); its projection onto the DCT basis
     (``_transform``) ranks the coefficients by |projection|.
   - larger quantizers: the residual R = decoded - target projected onto the
     basis; a step d of coefficient n changes the error by about
     2 d q <R, B_n> + q^2, and the coefficients are ranked by that predicted
     gain.

   Only about 3 % of the candidates of the previous search (every
   coefficient with |<R, B_n>| >= 0.1 q) paid; these rankings put most of
   the ones that pay in the first few (docs/fidelity.md).
3. A candidate is evaluated exactly and incrementally (``_try_grey``, for
   colour ``_try``): its column's sums change by delta times 8 impulse
   values, the new column of the workspace follows by one shift, each row's
   sums change by that column's change times the row pass's impulse
   response (8 wide), and the 64 pixels' errors are counted in one loop
   that adds those changes as it goes (``_trial_block``). It is kept (``_accept``) when the new
   squared error plus a rate term (``lam`` for a zero that becomes non-zero,
   minus ``lam`` for the reverse, an eighth of that for a value bit:
   ``_limit``) is lower than the old one.
4. ``sweeps`` sweeps (the rankings are redone at the start of each; the
   search stops early after a sweep that changed nothing).
5. On small images (the callers' ``libjpeg``), the block then takes the
   coefficients libjpeg-turbo writes for the same source where they decode
   closer ("libjpeg's own coefficients", below): such images never decode
   farther from the source than Pillow's files.

Arithmetic: all integers, int32 where the compiled code vectorizes. Targets
are the samples times 16, rounded (clamped to 0..4095), so errors are integers (1/256 of a squared
pixel level) and every build chooses what the Python source chooses. The
IDCT sums fit in 32 bits while every dequantized coefficient and every
column-pass output stays within ``LIMIT`` (8-bit samples stay far below
it); a block beyond it is left as it is, a candidate beyond it rejected.

The per-block state lives in one int32 work array (offsets below): one array
argument instead of twenty keeps Pythran's generated C++ small (twenty
arrays allocated here and passed down made g++ need more than 20 GB).

Layout of the caller's buffers (the kernels' ``_group_coefs``):

- ``samples``: level-shifted float32 component planes: component 0 (and,
  without subsampling, every component c) at ``c * plane + y * cw + x``; with
  subsampling, chroma component c at ``chroma + (c - 1) * 64 * group + y *
  8 * group + x``.
- ``coefs[n * nb + j]``: quantized coefficient n (natural order) of block j
  of the group; component 0's blocks by rows of ``group * hs`` (``vs``
  rows), then each other component's ``group`` blocks (``_column_pass``'s
  ``Q[8 v + u][j]``).
- ``quant[64 t + n]``: quantizer of coefficient n (natural order) of table t.
"""
import numpy as np

# pythran export refine_group(float32[:], int, int, int, int, int, int, int, int, int64[:], int32[:], int32[:], int, int, float, int, int, int, int, int, uint8[:])
# pythran export idct_islow(int32[:], int32[:], int32[:])
# pythran export refine_group_rgb(uint8[:], int, int, int, int, int, int, int64[:], int32[:], int32[:], int, int, float, int, int, int, uint8[:])
# pythran export refine_group_sub(uint8[:], int, int, int, int, int, int, int, int, int64[:], int32[:], int32[:], int, int, float, int, int, int, uint8[:])
# pythran export ycc_rgb(int, int, int)
# pythran export refine_block_natural(float32[:], int32[:], int32[:], int, float, int)
# pythran export libjpeg_block(int32[:], int, int32[:], int32[:])
# pythran export libjpeg_mcu_sub(int32[:], int, int, int32[:], int32[:])


#: Largest magnitude of a dequantized coefficient and of a column-pass output for
#: which every sum of the IDCT model fits in 32 bits: 8 * 11363 * 23600 + 2**17 < 2**31
#: (11363 is the largest entry of ``_impulses``). 8-bit samples stay far below it.
LIMIT = 23600

# Offsets of the per-block state in the int32 work array S (``WORK`` items).
T16 = 0       # 64 target pixels x 16, rounded
C = 64        # 64 coefficients (natural order), as refined so far
Q = 128       # 64 quantizers
BASE = 192    # 64 coefficients as they came in
D = 256       # 64 dequantized coefficients
P = 320       # column pass sums, transposed: P + 8 u + v
W = 384       # column pass outputs (workspace), transposed: W + 8 u + v
A = 448       # row pass sums: A + 8 y + x
K = 512       # 64 impulse responses of the IDCT butterfly
E = 576       # 64 residuals (decoded x 16 - T16)
TMP = 640     # scratch: 64 column transforms (of E or G); the unit inputs of ``_impulses``
PROJ = 704    # 64 projections of E (x 2**18)
G = 768       # 64 rounding-boundary gradients (``_boundary``)
GT = 832      # 64 projections of G
MARGIN = 896  # most a search can change a workspace value, plus 2 (``_quantizers``)
WMAX = 897    # the largest workspace magnitude of the last decode (``_decode``)
CHECKED = 898  # 1: a candidate's column is checked against LIMIT (``_prepare``), 0: it cannot pass it
# 899 to 911: unused (the row errors, until a candidate's trial became one loop)
COL = 912    # 8 column pass sums of a candidate
DL = 920     # 8 changes of the workspace column of a candidate
ONES = 928   # number of quantizers equal to 1 (set with S[Q:])
KEYS = 936   # 64 sort keys of the coefficients of a sweep (``_rank``)
MASK = 1000   # 64 masks: -1 for a pixel of the image, 0 for padding past its edge (``_mask``)
LIST = 1064   # candidates of a sweep, best first: up to MAXTRIES n of quantizer 1, then up to MAXTRIES others
SCREEN = 1192  # 1: no candidate of a larger quantizer whose predicted change is below -q**2 / 4 (``_rank_sweep``)
ZEROS = 1193  # candidates a sweep that make a coefficient of 1 or -1 zero, where every quantizer is 1 (``_rank_sweep``)
# 1200 to 1263: unused (a candidate's 64 changes of the row-pass sums, until the trials added them as they go)
ROWS = 1264  # a transform's input, then its outputs (``_transform``)
CHANGE = 1328  # a candidate's change of the row-pass sums, pixel by pixel (``_trial_block``)
MOVED = 1392  # the coefficients a grey search moved, in order (up to 64; ``_candidate``)
NMOVED = 1456  # how many moves (``_prepare`` sets 0)
WORK = 1464

# Offsets in the colour work array R of ``refine_group_rgb`` (``RGBWORK`` items).
RT = 0        # the MCU's source pixels: RT + 64 ch + 8 y + x, channel ch = R, G, B (0..255)
PX = 192      # its decoded samples: PX + 64 c + 8 y + x, component c = Y, Cb, Cr (0..255)
OFF = 384     # per pixel, the other two blocks' part of R, G and B (``_offsets``): OFF + 64 ch + 8 y + x
SLOPE = 576   # the searched block's sample's weight in R, G and B (x 2**16): SLOPE + ch
PERR = 584    # per pixel, its squared RGB error as the MCU decodes now: PERR + 8 y + x
RWE = 648     # per pixel, its weighted RGB error (``_pixel_errors``)
RGBWORK = 712

# More offsets in R for subsampled colour (``refine_group_sub``; ``SUBWORK`` items in all): the
# MCU's 16 x 8 vs pixels, indexed i = 16 py + px.
SUB = RGBWORK  # the MCU's shape: SUB + 0 vs, + 1 chroma columns, + 2 chroma rows (of the image, at most 8), + 3 box, + 4 pixel columns, + 5 pixel rows
UT = SUB + 8   # its source pixels: UT + 256 ch + i, channel ch = R, G, B
UY = UT + 768  # its decoded Y: UY + i
UC = UY + 256  # its decoded chroma samples: UC + 64 (c - 1) + 8 sy + sx, c = 1 (Cb), 2 (Cr)
UUP = UC + 128  # the chroma upsampled as the decoder does (``_upsample_row``): UUP + 256 (c - 1) + i
UOFF = UUP + 512  # while a chroma block is searched, ``_offsets``' per-pixel terms: UOFF + 256 ch + i
USLOPE = UOFF + 768  # and its slopes: USLOPE + ch
UNEWV = USLOPE + 8  # the searched chroma upsampled with a candidate, for the pixel rows it changes
UCS = UNEWV + 256  # the 8 column sums of a row being upsampled, between its edge ones
OLDS = UCS + 10  # the searched chroma block's samples before a candidate
UROW = OLDS + 64  # squared RGB error of each pixel row: UROW + py
UNEW = UROW + 16  # the same with a candidate, for the rows it changes
UFLAG = UNEW + 16  # 1 for each pixel row a candidate changes
SFLAG = UFLAG + 16  # 1 for each sample row whose samples a candidate changes
UMASK = SFLAG + 8  # per pixel of the MCU: -1 in the image, 0 past its edge
UERR = UMASK + 256  # per pixel, its squared RGB error while a chroma block is searched (0 past the edge)
UWE = UERR + 256  # and its weighted RGB error (``_residuals_sub``)
USHIFT = UWE + 256  # per chroma sample, the shift that averages its pixels in the image (``_sub_shape``)
SUBWORK = USHIFT + 64

# Offsets in the work array L of libjpeg's forward path (the searches' ``libjpeg``, ``LWORK`` items).
LS = 0        # a block's level-shifted samples per component, transposed: LS + 64 c + 8 x + y
LF = 192      # the forward DCT's row pass: LF + 8 y + u
LF2 = 256     # its column pass's outputs (scaled by 8 as libjpeg's are): LF2 + 8 v + u
LDIV = 320    # per component c, libjpeg's divisors of coefficient n (natural order): LDIV + 192 c
              # + n (reciprocal), + 64 + n (correction), + 128 + n (shift)
LCH = 896     # a subsampled MCU's Cb and Cr before downsampling: LCH + 256 (c - 1) + 16 py + px
LCO = 1408    # its 2 vs Y blocks' samples (as LS), then libjpeg's coefficients of them: LCO + 64 k + n
LCUR = 1664   # the coefficients a search left, per block of an MCU: LCUR + 64 k + n (up to 6 blocks);
              # a grey block's libjpeg coefficients at LCUR + 64 while its own are decoded (``_libjpeg_only``)
LYCC = 2048   # an MCU's samples as libjpeg converts them, level-shifted, in pixel order, before they are
              # transposed: a 4:4:4 MCU's Y, Cb and Cr into L[LS:] (``_libjpeg_ycc``), a subsampled one's
              # Y into L[LCO:] (``_libjpeg_sub``)
LWORK = 2304


#: Most candidates (``tries``) per sweep: every coefficient.
MAXTRIES = 64
#: Candidates a sweep that make a coefficient of 1 or -1 zero, which ``refine_group_rgb``
#: lists where every quantizer is 1 and the rate term is on (``_rank_sweep``), in place of
#: ``ZERO_TAKES`` of the boundary ranking's: 4 + 3 met issue 15's quality 100 target on six
#: colour photos for 18 % more instructions than 6 + 0 without the rate term (6 + 3: 37 %;
#: 5 + 3 and 6 + 3 gained 0.02 to 0.12 dB more; docs/fidelity.md, "A rate term at quality
#: 100 for colour").
ZERO_TRIES = 3
ZERO_TAKES = 2
#: The rate term's share for one value bit (``_limit``): a magnitude that crosses a power of
#: two costs lam >> 3, an eighth of a new non-zero coefficient's (whose run and size code and
#: value bits are some 4 to 8 bits). Measured with refine=1 on five grey and four colour
#: photos at q95 to q75 (docs/fidelity.md, "A bit's worth of rate"): files 0.10 % smaller to
#: 0.04 % larger, PSNR within 0.002 dB, grass q90 133,941 -> 133,914 bytes against Pillow's
#: 133,935 (lam >> 2: 0.01 dB less on colour at q100 for 0.05 % fewer bytes).
RATE_BIT_SHIFT = 3
#: Width of the rounding-boundary window of ``_boundary``: 0.3 of a pixel level, in row-sum units (2**18 a level).
WINDOW = 78643


def _size(n):
    """n clamped to 0..2**40, which lets Pythran index with it without a sign check."""
    return min(max(n, 0), 1 << 40)


def _idct8(z0, z1, z2, z3, z4, z5, z6, z7, bias):
    """One one-dimensional pass of jpeg_idct_islow (jidctint.c) before its final rounding shift: its 8 outputs, each plus bias.

    libjpeg's butterfly with its constants, 12 multiplies where the same pass
    as a product with the 8 impulse responses (``_impulses``) takes 64.
    Linear in exact integers, so its sums equal the products' (what a
    candidate's incremental update and ``_rows`` add) exactly: with every
    |z[k]| <= LIMIT no intermediate value exceeds 61214 LIMIT < 2**31
    (interval arithmetic).
    """
    a1 = (z2 + z6) * np.int32(4433)
    tmp2 = a1 - z6 * np.int32(15137)
    tmp3 = a1 + z2 * np.int32(6270)
    tmp0 = (z0 + z4) * np.int32(8192)
    tmp1 = (z0 - z4) * np.int32(8192)
    tmp10 = tmp0 + tmp3 + bias
    tmp13 = tmp0 - tmp3 + bias
    tmp11 = tmp1 + tmp2 + bias
    tmp12 = tmp1 - tmp2 + bias
    b1 = (z7 + z1) * np.int32(-7373)
    b2 = (z5 + z3) * np.int32(-20995)
    b3 = z7 + z3
    b4 = z5 + z1
    b5 = (b3 + b4) * np.int32(9633)
    b3 = b3 * np.int32(-16069) + b5
    b4 = b4 * np.int32(-3196) + b5
    odd0 = z7 * np.int32(2446) + b1 + b3
    odd1 = z5 * np.int32(16819) + b2 + b4
    odd2 = z3 * np.int32(25172) + b2 + b3
    odd3 = z1 * np.int32(12299) + b1 + b4
    return (tmp10 + odd3, tmp11 + odd2, tmp12 + odd1, tmp13 + odd0,
            tmp13 - odd0, tmp12 - odd1, tmp11 - odd2, tmp10 - odd3)


def _put8(S, at, o0, o1, o2, o3, o4, o5, o6, o7):
    """S[at:at + 8] = o0..o7: a butterfly's 8 outputs stored (inlined: the 8 side by side are vector stores)."""
    S[at] = o0
    S[at + 1] = o1
    S[at + 2] = o2
    S[at + 3] = o3
    S[at + 4] = o4
    S[at + 5] = o5
    S[at + 6] = o6
    S[at + 7] = o7


def _transpose8(L, src, stride, dst):
    """L[dst + 8 x + y] = L[src + stride y + x]: an 8 x 8 block of rows ``stride`` apart, transposed (``_put8t``: a loop over the columns x storing each one's 8 rows)."""
    for x in range(8):
        _put8t(L, dst + 8 * x, L[src + x], L[src + stride + x], L[src + 2 * stride + x],
               L[src + 3 * stride + x], L[src + 4 * stride + x], L[src + 5 * stride + x],
               L[src + 6 * stride + x], L[src + 7 * stride + x])


def _put8t(S, at, o0, o1, o2, o3, o4, o5, o6, o7):
    """``_put8`` for a pass whose 8 outputs go to memory transposed (a loop over lanes storing S[at + k] for each output k).

    o0 is stored as max(o0, -2**31 + 1), the identity here (every sum of
    the IDCT model is within 2**31 - 1, ``_idct8``; libjpeg's forward DCT's
    row outputs, ``_libjpeg_coefs``, within 2**13): unlike the other 7
    stores it is not an add or a subtract, so g++ no longer takes the 8
    stores for one SLP group, whose vectors it built from scalars
    (``vpinsrd``, ``vpextrd``: about 150 instructions a pass), and
    transposes the loop's 8 vectors with permutes instead (48). An IDCT of a
    block (``_decode``) 517 -> 341 instructions in a build of its own;
    docs/fidelity.md, "The IDCT's transposes".
    """
    _put8(S, at, max(o0, np.int32(-2147483647)), o1, o2, o3, o4, o5, o6, o7)


def _impulses(S):
    """S[K + 8 k + x]: output x of ``_idct8`` for an input holding 1 at k."""
    for k in range(8):
        o0, o1, o2, o3, o4, o5, o6, o7 = _idct8(
            np.int32(k == 0), np.int32(k == 1), np.int32(k == 2), np.int32(k == 3),
            np.int32(k == 4), np.int32(k == 5), np.int32(k == 6), np.int32(k == 7), np.int32(0))
        r = K + 8 * k
        _put8(S, r, o0, o1, o2, o3, o4, o5, o6, o7)


def _pixel(a):
    """The decoded pixel (0..255) of a row-pass sum a (rounding half included).

    libjpeg's range limit, ``table[(a >> 18) & 1023]`` centred on 128
    (jdmaster.c), maps x & 1023 below 512 to min(x + 128, 255) and from 512 to
    max(x - 1024 + 128, 0): the same as wrapping x into -512..511, adding 128
    and clamping to 0..255, which is branch-free.
    """
    w = (((a >> 18) + np.int32(512)) & np.int32(1023)) - np.int32(384)
    return min(max(w, np.int32(0)), np.int32(255))


def _columns(S):
    """Column pass of jpeg_idct_islow for all 8 columns, transposed.

    S[P + 8 u + v] = 1024 + sum over k of S[D + 8 k + u] S[K + 8 k + v] (the
    pass's exact sum with its rounding half); S[W + 8 u + v] = that >> 11
    (the workspace, column u contiguous). The 8 butterflies side by side,
    which g++ vectorizes 8 wide; with constant offsets, without the runtime
    alias checks of a pass given its source and destination (about 70
    instructions a pass).
    """
    for u in range(8):
        o0, o1, o2, o3, o4, o5, o6, o7 = _idct8(
            S[D + u], S[D + 8 + u], S[D + 16 + u], S[D + 24 + u],
            S[D + 32 + u], S[D + 40 + u], S[D + 48 + u], S[D + 56 + u], np.int32(1024))
        c = P + 8 * u
        _put8t(S, c, o0, o1, o2, o3, o4, o5, o6, o7)
    for i in range(64):
        S[W + i] = S[P + i] >> 11


def _rows(S):
    """Row pass of jpeg_idct_islow before its final shift: S[A + 8 y + x] = 2**17 + sum over u of S[W + 8 u + y] S[K + 8 u + x] (``_columns``' butterflies, row y a lane)."""
    for y in range(8):
        o0, o1, o2, o3, o4, o5, o6, o7 = _idct8(
            S[W + y], S[W + 8 + y], S[W + 16 + y], S[W + 24 + y],
            S[W + 32 + y], S[W + 40 + y], S[W + 48 + y], S[W + 56 + y], np.int32(131072))
        r = A + 8 * y
        _put8t(S, r, o0, o1, o2, o3, o4, o5, o6, o7)


def _largest(S, src):
    """The largest magnitude of the 64 values at S[src:] (a loop without exits, which g++ vectorizes)."""
    src = _size(src)
    m = np.int32(0)
    for i in range(64):
        m = max(m, abs(S[src + i]))
    return m


def _decode(S):
    """The IDCT model's sums for the dequantized S[D:]: 1 if they are exact in 32 bits, else 0."""
    if _largest(S, D) > LIMIT:
        return 0
    _columns(S)
    w = _largest(S, W)
    S[WMAX] = w
    if w > LIMIT:
        return 0
    _rows(S)
    return 1


def _residuals(S):
    """S[E:] = decoded x 16 - targets; returns the block's squared error."""
    s = np.int32(0)
    for i in range(64):
        e = ((_pixel(S[A + i]) << 4) - S[T16 + i]) & S[MASK + i]
        S[E + i] = e
        s += e * e
    return int(s)


def _boundary(S):
    """S[G + i]: how much moving pixel i's row-pass sum up lowers the error near a rounding boundary.

    The error changes only where a decoded pixel crosses a rounding boundary;
    with quantizer 1 a step moves a pixel by at most a quarter of a level. For
    a pixel WINDOW or less below its next level up, the gradient counts what
    going up changes ((e + 16)^2 - e^2 = 32 e + 256, e the residual x 16),
    weighted by how close the boundary is; likewise down. Integers bounded by
    144 x 38: ``_transform`` of it fits in 32 bits. Clamped pixels (level
    outside 0..255) and the end of the range count as no change.
    """
    top = np.int32(262144 - WINDOW)
    low = np.int32(WINDOW - 1)
    for i in range(64):
        a = S[A + i]
        e = S[E + i]
        level = (a >> 18) + np.int32(128)
        r = a & np.int32(262143)
        ec = min(max(e, np.int32(-64)), np.int32(64))
        up = min(max(level + np.int32(1), np.int32(0)), np.int32(1)) - min(max(level - np.int32(254), np.int32(0)), np.int32(1))
        down = min(max(level, np.int32(0)), np.int32(1)) - min(max(level - np.int32(255), np.int32(0)), np.int32(1))
        hu = max(r - top, np.int32(0)) >> 11
        hd = max(low - r, np.int32(0)) >> 11
        S[G + i] = (up * (np.int32(2) * ec + np.int32(16)) * hu
                    - down * (np.int32(16) - np.int32(2) * ec) * hd) & S[MASK + i]


def _change(S, u):
    """S[CHANGE + 8 y + x]: the change of the row-pass sums of a candidate whose workspace column u changes by S[DL:] (row y's by S[DL + y] times the row pass's impulse response of column u).

    The response's 8 values loaded first and each row written out: with a
    loop over x, g++ built the rows from 8 broadcasts and transposed them
    (about 60 instructions more).
    """
    ku = K + 8 * _size(u)
    k0 = S[ku]
    k1 = S[ku + 1]
    k2 = S[ku + 2]
    k3 = S[ku + 3]
    k4 = S[ku + 4]
    k5 = S[ku + 5]
    k6 = S[ku + 6]
    k7 = S[ku + 7]
    for y in range(8):
        dy = S[DL + y]
        _put8(S, CHANGE + 8 * y, dy * k0, dy * k1, dy * k2, dy * k3, dy * k4, dy * k5, dy * k6,
              dy * k7)


def _trial_block(S, u):
    """Squared error of the block with its workspace column u changed by S[DL:] (``_column_trial``).

    The sums' changes (``_change``) added as the pixels are counted: every
    pixel, unchanged rows included, in one loop over the 64 without branches,
    which g++ vectorizes with one vector of sums. (Row by row with a test
    against the limit after each, the search of a grey photo took more
    instructions: docs/fidelity.md, "The trial in one loop"; as two loops
    over rows and columns, adding each row's change as it went, g++ summed
    each row across its lanes, 9 of its 25 instructions: "The search's
    passes without alias checks".)
    """
    _change(S, u)
    s = np.int32(0)
    for i in range(64):
        e = ((_pixel(S[A + i] + S[CHANGE + i]) << 4) - S[T16 + i]) & S[MASK + i]
        s += e * e
    return s


def _transform(S, src, dst, shift):
    """S[dst + 8 v + u]: the 8 x 8 values at S[src:] in the orthonormal DCT basis, x 2**12 >> shift (integers).

    The products with the orthonormal DCT basis x 1024, rounded: columns first,
    shifted, into S[TMP:] (scratch), then rows, each pass 8 ``_fdct8``
    side by side. The passes run between S[ROWS:] and S[TMP:], constant
    offsets, which spares g++'s runtime alias checks of passes given their
    source and destination (about 70 instructions a pass): the values are
    copied in and out.
    """
    src = _size(src)
    dst = _size(dst)
    for i in range(64):
        S[ROWS + i] = S[src + i]
    for i in range(8):
        o0, o1, o2, o3, o4, o5, o6, o7 = _fdct8(
            S[ROWS + i], S[ROWS + 8 + i], S[ROWS + 16 + i], S[ROWS + 24 + i],
            S[ROWS + 32 + i], S[ROWS + 40 + i], S[ROWS + 48 + i], S[ROWS + 56 + i])
        t = TMP + 8 * i  # column i's value v at TMP + 8 i + v
        _put8(S, t, o0 >> shift, o1 >> shift, o2 >> shift, o3 >> shift, o4 >> shift,
              o5 >> shift, o6 >> shift, o7 >> shift)
    for v in range(8):
        o0, o1, o2, o3, o4, o5, o6, o7 = _fdct8(
            S[TMP + v], S[TMP + 8 + v], S[TMP + 16 + v], S[TMP + 24 + v],
            S[TMP + 32 + v], S[TMP + 40 + v], S[TMP + 48 + v], S[TMP + 56 + v])
        r = ROWS + 8 * v
        _put8(S, r, o0, o1, o2, o3, o4, o5, o6, o7)
    for i in range(64):
        S[dst + i] = S[ROWS + i]


def _fdct8(r0, r1, r2, r3, r4, r5, r6, r7):
    """One one-dimensional product with the basis: output u = sum over x of r[x] b[x][u], for u = 0..7.

    b[x][u] = 1024 c(u)/2 cos((2x+1) u pi / 16), rounded: the orthonormal
    8-point DCT basis. Its values as literals (362, 502, 473, 426, 284, 196,
    100, signed), folded by its symmetries (b[7 - x][u] = (-1)**u b[x][u],
    exact after rounding): 22 multiplies instead of 64, the same integer
    sums; ``_transform`` runs 8 of them side by side, which g++ vectorizes.
    As 16 products of 8 outputs with a basis table (``_dot8``, until
    2026-12-01) a transform took about 2,300 instructions where g++ did not
    inline them (quality 90: a third of a grey block's search), with this
    butterfly about 450.
    """
    s0 = r0 + r7
    s1 = r1 + r6
    s2 = r2 + r5
    s3 = r3 + r4
    d0 = r0 - r7
    d1 = r1 - r6
    d2 = r2 - r5
    d3 = r3 - r4
    a = s0 - s3
    b = s1 - s2
    return (np.int32(362) * (s0 + s1 + s2 + s3),
            np.int32(502) * d0 + np.int32(426) * d1 + np.int32(284) * d2 + np.int32(100) * d3,
            np.int32(473) * a + np.int32(196) * b,
            np.int32(426) * d0 - np.int32(100) * d1 - np.int32(502) * d2 - np.int32(284) * d3,
            np.int32(362) * (s0 - s1 - s2 + s3),
            np.int32(284) * d0 - np.int32(502) * d1 + np.int32(100) * d2 + np.int32(426) * d3,
            np.int32(196) * a - np.int32(473) * b,
            np.int32(100) * d0 - np.int32(284) * d1 + np.int32(426) * d2 - np.int32(502) * d3)


def _column_trial(S, n, delta):
    """The column pass of the block with coefficient n's dequantized value changed by delta.

    One column (u = n % 8) redone from its sums: the new column to S[COL:],
    the change of the workspace column to S[DL:]. Returns 1, or 0 if the
    column leaves the model's 32-bit range.
    """
    u = n & 7
    ck = K + 8 * ((n >> 3) & 7)
    cu = 8 * u
    # written out, every load before the stores: as a loop storing between loads from
    # S it stayed scalar (13 % more instructions per block)
    c = P + cu
    o = W + cu
    p0 = S[c] + delta * S[ck]
    p1 = S[c + 1] + delta * S[ck + 1]
    p2 = S[c + 2] + delta * S[ck + 2]
    p3 = S[c + 3] + delta * S[ck + 3]
    p4 = S[c + 4] + delta * S[ck + 4]
    p5 = S[c + 5] + delta * S[ck + 5]
    p6 = S[c + 6] + delta * S[ck + 6]
    p7 = S[c + 7] + delta * S[ck + 7]
    o0 = S[o]
    o1 = S[o + 1]
    o2 = S[o + 2]
    o3 = S[o + 3]
    o4 = S[o + 4]
    o5 = S[o + 5]
    o6 = S[o + 6]
    o7 = S[o + 7]
    S[COL + 0] = p0
    S[COL + 1] = p1
    S[COL + 2] = p2
    S[COL + 3] = p3
    S[COL + 4] = p4
    S[COL + 5] = p5
    S[COL + 6] = p6
    S[COL + 7] = p7
    S[DL + 0] = (p0 >> 11) - o0
    S[DL + 1] = (p1 >> 11) - o1
    S[DL + 2] = (p2 >> 11) - o2
    S[DL + 3] = (p3 >> 11) - o3
    S[DL + 4] = (p4 >> 11) - o4
    S[DL + 5] = (p5 >> 11) - o5
    S[DL + 6] = (p6 >> 11) - o6
    S[DL + 7] = (p7 >> 11) - o7
    if S[CHECKED]:
        # seldom: only blocks near the model's range (``_prepare``)
        top = max(max(max(abs(p0), abs(p1)), max(abs(p2), abs(p3))), max(max(abs(p4), abs(p5)), max(abs(p6), abs(p7))))
        if top >> 11 > LIMIT:
            return 0
    return 1


def _try(S, R, n, delta, err):
    """The RGB error of the colour MCU whose Y, Cb or Cr block S is, with its coefficient n's dequantized value changed by delta.

    err: the MCU's error now. As ``_try_grey``, the sums' change and the
    pixels' errors (``_trial_block_rgb``, R the colour work array). (The Cb
    and Cr blocks of a subsampled MCU: ``_try_sub``.)
    """
    trial = -1
    if _column_trial(S, n, delta):
        trial = err + _trial_block_rgb(S, R, _size(n & 7))
    return trial


def _try_grey(S, n, delta):
    """Squared error of the block with coefficient n's dequantized value changed by delta, against its own targets.

    Evaluated exactly and incrementally: one column of the column pass (u = n
    % 8) is redone from its sums (``_column_trial``), then every row's sums
    change by that column's change times the row pass's impulse response,
    as the pixels' errors are counted (``_trial_block``).
    Leaves the new column in S[COL:] and S[DL:]. Returns the error, or -1 if
    the column leaves the model's 32-bit range. Without an early return
    (``_candidate``'s note).
    """
    trial = -1
    if _column_trial(S, n, delta):
        trial = _trial_block(S, _size(n & 7))
    return trial


def _accept(S, n, delta, changed):
    """Make the change that ``_try_grey``, ``_try`` or ``_try_sub`` evaluated.

    Every row's sums change by its workspace change times the column's
    impulse response (``_change``; changed: 1 where the trial left them in
    S[CHANGE:], ``_try_grey``'s), added in one loop over the 64 sums, without
    a test for a zero change, which g++ vectorizes (with the test and a loop
    storing between loads it stayed scalar: 5.8 M instructions of a grey
    q100 save's 118 M in the kernels, then 4.0 M; docs/fidelity.md, "Small
    images: where the choice's time goes").
    """
    n = _size(n)
    cu = 8 * _size(n & 7)
    S[D + n] += delta
    for v in range(8):
        S[P + cu + v] = S[COL + v]
        S[W + cu + v] += S[DL + v]
    if not changed:
        _change(S, n & 7)
    for i in range(64):
        S[A + i] += S[CHANGE + i]


def _accept_rgb(S, R, c, n, delta):
    """Make the change that ``_try`` evaluated for a colour block, in the block and in R: its samples and every pixel's error.

    All 64 pixels, unchanged ones included (the same values again: R's
    offsets hold for the whole search of the block), without branches
    (``_pixel_errors``): 6 times fewer instructions than branching to the
    pixels whose sample changed (astronaut, q100).
    """
    _accept(S, n, delta, 0)
    own = PX + 64 * _size(c)
    for i in range(64):
        R[own + i] = _pixel(S[A + i])
    _pixel_errors(R, c)


def _next_key(S, below):
    """The largest of the keys S[KEYS:] below ``below``, or -1 (a loop without exits, which g++ vectorizes)."""
    m = np.int32(-1)
    for i in range(64):
        k = S[KEYS + i]
        m = max(m, k if k < below else np.int32(-1))
    return m


def _rank(S, dst, tries):
    """S[LIST + dst:]: the coefficients of the ``tries`` largest keys S[KEYS:] (at least 0), best first; returns how many.

    A key is a score times 64 plus 63 - n: keys are distinct, and equal
    scores go lower n first.
    """
    dst = _size(dst)
    count = 0
    below = np.int32(2147483647)
    for t in range(tries):
        below = _next_key(S, below)
        if below < 0:
            break
        S[LIST + dst + t] = np.int32(63) - (below & np.int32(63))
        count += 1
    return count


def _limit(S, n, d, err, lam):
    """The error a step d (-1, 1) of coefficient n must beat: err with the rate term; 0 if the step is not allowed.

    Allowed: at most one step from the coefficient's value on entry, within
    baseline's range. Rate: a new non-zero coefficient costs lam, a
    coefficient made zero saves it; an AC magnitude that crosses a power of
    two (1 to 2, 3 to 4, ...: one more value bit in the file, or one fewer on
    the way down) costs or saves lam >> ``RATE_BIT_SHIFT``.
    """
    c = S[C + n]
    new = c + d
    if new < S[BASE + n] - 1 or new > S[BASE + n] + 1 or new > 1023 or new < -1023:
        return 0
    limit = err
    a = abs(c)
    b = abs(new)
    if c == 0:
        limit -= lam
    elif new == 0:
        limit += lam
    elif n > 0 and (a & b) == 0:
        # b = a + 1 = 2**m (a bit more) or a = b + 1 = 2**m (a bit fewer); not the DC,
        # which is coded as its difference from the previous block's
        bit = lam >> RATE_BIT_SHIFT
        limit += bit if b < a else -bit
    return max(limit, 0)


def _candidate(S, R, c, n, d, err, lam):
    """Try a step d (-1, 1) of coefficient n exactly, make it if it pays; returns the new error, or -1 if not made.

    c and R: as ``_search``'s.
    """
    n = _size(n)
    limit = _limit(S, n, d, err, lam)
    if limit <= 0:
        return -1
    delta = np.int32(d) * S[Q + n]
    # the trials have no early return and no test of c: Pythran inlines them here, and with
    # either the build chose other coefficients than the source (not tracked further)
    if c < 0:
        trial = _try_grey(S, n, delta)
    elif c < 3:
        trial = _try(S, R, n, delta, err)
    else:
        trial = _try_sub(S, R, c, n, delta)
    if trial >= 0 and trial < limit:
        if c < 0:
            _accept(S, n, delta, 1)
            # listed for ``_scatter_moved``, which only the grey path uses
            moves = S[NMOVED]
            if moves < 64:
                S[MOVED + moves] = n
            S[NMOVED] = moves + 1
        elif c < 3:
            _accept_rgb(S, R, c, n, delta)
        else:
            _accept_sub(S, R, c, n, delta)
        S[C + n] += d
        return trial
    return -1


def _prepare(S):
    """Keep the coefficients S[C:] as they came (S[BASE:]) and decode them: 1, or 0 for a block left as it is.

    A block is left as it is when a coefficient lies beyond baseline's range
    (which keeps the products below in 32 bits) or the IDCT model's.
    """
    for n in range(64):
        S[BASE + n] = S[C + n]
    S[NMOVED] = 0
    if not _decode_coefs(S):
        return 0
    # a candidate moves each coefficient at most one step from here (``_limit``): its
    # workspace stays within LIMIT unless the largest value is within S[MARGIN] of it
    S[CHECKED] = 1 if S[WMAX] + S[MARGIN] > LIMIT else 0
    return 1


def _decode_coefs(S):
    """Decode the coefficients S[C:] (``_decode``): 1, or 0 beyond baseline's range or the model's."""
    if _largest(S, C) > 2047:
        return 0
    for n in range(64):
        S[D + n] = S[C + n] * S[Q + n]
    return _decode(S)


def _errors(S, R, c):
    """The block's residuals and error (``_residuals``; for colour ``_residuals_rgb``, c = 0..2, or ``_residuals_sub``, c = 3, 4); returns the error."""
    if c < 0:
        return _residuals(S)
    if c < 3:
        return _residuals_rgb(S, R, c)
    return _residuals_sub(S, R, c)


def _refine_block(S, sweeps, lam, tries):
    """Refine the natural-order coefficients S[C:] (quantizers S[Q:], S[ONES]) of one block against S[T16:].

    Targets are the 64 pixel values times 16, rounded: errors are integers
    in 1/256 of a squared pixel level, exact in every build. lam is the rate
    term in those units. ``_search`` does the sweeps.
    S[C:] is changed in place, each coefficient by at most one step from its
    value on entry. Returns the number of coefficients changed.
    """
    tries = min(max(tries, 0), MAXTRIES)
    if tries == 0 or not _prepare(S):
        return 0
    return _search(S, S, -1, sweeps, lam, tries)


def _search(S, R, c, sweeps, lam, tries):
    """The sweeps of the search over a prepared block (``_prepare``); returns the number of coefficients changed.

    c < 0: the error is the block's own against S[T16:] (R unused); c = 0, 1,
    2: the block is the Y, Cb or Cr block of a colour MCU, and the error is
    the RGB error of the MCU's pixels (R: ``refine_group_rgb``'s colour work
    array, the other blocks' decoded samples in it); c = 3, 4: the Cb or Cr
    block of a subsampled MCU (``refine_group_sub``), its error the RGB error
    of the MCU's pixels after the decoder's upsampling. Each sweep tries the
    candidates ``_rank_sweep`` lists, in its order. No sweeps (the callers'
    ``libjpeg`` alone): nothing.
    """
    if sweeps <= 0 or tries <= 0:
        return 0
    err = _errors(S, R, c)
    changed = 0
    for sweep in range(sweeps):
        if err == 0:
            break
        if sweep > 0:
            _errors(S, R, c)
        count1, count2 = _rank_sweep(S, tries)
        moved = 0
        for i in range(count1):
            n = S[LIST + i]
            new = _candidate(S, R, c, n, -1 if S[GT + n] > 0 else 1, err, lam)
            if new >= 0:
                err = new
                moved += 1
        for i in range(count2):
            n = S[LIST + MAXTRIES + i]
            new = _candidate(S, R, c, n, -1 if S[PROJ + n] >= 0 else 1, err, lam)
            if new >= 0:
                err = new
                moved += 1
        changed += moved
        if moved == 0:
            break
    return changed


def _rank_sweep(S, tries):
    """A sweep's candidates: S[LIST:] (``count1``) and S[LIST + MAXTRIES:] (``count2``); returns both counts.

    At most ``tries`` (1..``MAXTRIES``) coefficients: those of quantizer 1
    first (best ``_boundary`` projection first), then, if fewer than
    ``tries``, those of larger quantizers (best predicted gain of the
    residual's projection first); where every quantizer is 1 and S[ZEROS]
    > 0, ``ZERO_TAKES`` fewer of the first and up to S[ZEROS] that make a
    coefficient of 1 or -1 zero. Reads the residuals S[E:].
    """
    ones = S[ONES]
    screen = S[SCREEN]
    zeros = ones == 64 and S[ZEROS] > 0
    count1 = 0
    count2 = 0
    if ones > 0:
        _boundary(S)
        _transform(S, G, GT, 7)
        for n in range(64):
            # |projection| < 2**30: the key fits in 31 bits; 0 (no direction) is left out
            g = S[GT + n]
            key = ((abs(g) >> 5) << 6) + (np.int32(63) - n)
            S[KEYS + n] = key if S[Q + n] == 1 and g != 0 else np.int32(-1)
        count1 = _rank(S, 0, max(tries - ZERO_TAKES, 1) if zeros else tries)
    if zeros:
        # with the rate term at quality 100 (colour, ``refine_group_rgb``): S[ZEROS]
        # candidates, coefficients of 1 or -1 made 0 (S[PROJ + n] = the coefficient gives
        # that direction), those whose step the boundary gradient favours most first, in
        # place of ZERO_TAKES of the boundary ranking's; those listed above are not listed
        # again. The boundary ranking seldom lists them, and without them the rate term
        # bought fewer bytes for more error (docs/fidelity.md, "A rate term at quality 100
        # for colour")
        for n in range(64):
            c = S[C + n]
            g = S[GT + n]
            s = g if c > 0 else -g
            # -2**23 < s >> 7 < 2**23: a key of 31 bits
            key = (((s >> 7) + np.int32(1 << 23)) << 6) + (np.int32(63) - n)
            S[KEYS + n] = key if c == 1 or c == -1 else np.int32(-1)
            S[PROJ + n] = c
        for i in range(count1):
            S[KEYS + _size(S[LIST + i])] = np.int32(-1)
        count2 = _rank(S, MAXTRIES, S[ZEROS])
    if ones < 64 and count1 < tries:
        _transform(S, E, PROJ, 6)
        for n in range(64):
            # the predicted gain q (2 |p| - q) of a step, scaled: -2**18 to 2**23 (|p| < 2**30),
            # made positive to serve as a key
            q = S[Q + n]
            p = abs(S[PROJ + n]) >> 8
            score = q * (p - (q << 9))
            key = (((score >> 7) + np.int32(1 << 18)) << 6) + (np.int32(63) - n)
            # screened (S[SCREEN], photos): no candidate whose predicted change is worse than
            # -q**2 / 4 (2 |p| < 3 q / 4): such steps seldom pay, and the search costs a
            # quarter to a third less on colour (docs/fidelity.md, "Candidates screened")
            S[KEYS + n] = key if q > 1 and (p >= (q << 9) - (q << 7) or screen == 0) else np.int32(-1)
        # the rest of the sweep's candidates
        count2 = _rank(S, MAXTRIES, tries - count1)
    return count1, count2


def _targets(values, src, stride, S):
    """S[T16:]: the 8x8 block at values[src], rows stride apart, level-shifted back (+128) and times 16, rounded.

    Clamped to 0..4095 (decoded pixels x 16 lie in 0..4080), which also keeps
    the conversion to integers defined for any input.
    """
    sixteen = np.float32(16.0)
    offset = np.float32(2048.5)  # 16 * 128 + 0.5
    zero = np.float32(0.0)
    most = np.float32(4095.0)
    src = _size(src)
    stride = _size(stride)
    for y in range(8):
        s = src + y * stride
        r = 8 * y
        for x in range(8):
            S[T16 + r + x] = np.int32(min(max(values[s + x] * sixteen + offset, zero), most))


def _mask(S, cols, rows):
    """S[MASK:]: -1 for the block's pixels in its first ``cols`` columns and ``rows`` rows, 0 past them.

    Pixels past the image's right or bottom edge (the kernels replicate the
    edge into them) are not seen: their errors count 0 in ``_residuals``,
    ``_trial_block`` and ``_boundary`` (an AND with the mask, in the loops the
    compiler vectorizes), so a step is not taken for padding at the cost of
    visible pixels. A block wholly past the edge has no error and is left as
    it is.
    """
    for y in range(8):
        for x in range(8):
            S[MASK + 8 * y + x] = np.int32(-1) if x < cols and y < rows else np.int32(0)


def _quantizers(S, quant, tb):
    """S[Q:] = the 64 quantizers of table tb / 64 (natural order), S[ONES] = how many are 1, S[MARGIN] their margin.

    The margin bounds how much steps of one quantizer each change a
    workspace value: at most the column's quantizers times the largest
    impulse response (11363), over 2**11, plus 1 for the shift's rounding,
    plus 1.
    """
    tb = _size(tb)
    ones = 0
    for n in range(64):
        q = quant[tb + n]
        S[Q + n] = q
        ones += 1 if q == 1 else 0
    S[ONES] = ones
    most = 0
    for u in range(8):
        column = 0
        for k in range(8):
            column += int(quant[tb + 8 * k + u])
        most = max(most, column)
    S[MARGIN] = min((most * 11363 >> 11) + 2, LIMIT + 1)


def _gather(coefs, j, nb, S):
    """S[C + n] = coefs[n * nb + j] for n = 0..63 (8 a row, written out: half the instructions of one loop)."""
    j = _size(j)
    nb = _size(nb)
    for v in range(8):
        o = j + 8 * v * nb
        c = C + 8 * v
        S[c] = coefs[o]
        S[c + 1] = coefs[o + nb]
        S[c + 2] = coefs[o + 2 * nb]
        S[c + 3] = coefs[o + 3 * nb]
        S[c + 4] = coefs[o + 4 * nb]
        S[c + 5] = coefs[o + 5 * nb]
        S[c + 6] = coefs[o + 6 * nb]
        S[c + 7] = coefs[o + 7 * nb]


def _scatter(S, coefs, j, nb):
    """coefs[n * nb + j] = S[C + n] for n = 0..63 (the inverse of ``_gather``)."""
    j = _size(j)
    nb = _size(nb)
    for v in range(8):
        o = j + 8 * v * nb
        c = C + 8 * v
        coefs[o] = S[c]
        coefs[o + nb] = S[c + 1]
        coefs[o + 2 * nb] = S[c + 2]
        coefs[o + 3 * nb] = S[c + 3]
        coefs[o + 4 * nb] = S[c + 4]
        coefs[o + 5 * nb] = S[c + 5]
        coefs[o + 6 * nb] = S[c + 6]
        coefs[o + 7 * nb] = S[c + 7]


def _scatter_moved(S, coefs, j, nb):
    """``_scatter`` of the coefficients the search moved (S[MOVED:]), or of all 64 after more than 64 moves: a block's search moves a few."""
    moves = S[NMOVED]
    if moves > 64:
        _scatter(S, coefs, j, nb)
        return
    j = _size(j)
    nb = _size(nb)
    for i in range(moves):
        n = _size(S[MOVED + i])
        coefs[n * nb + j] = S[C + n]


def _tables(S):
    """The constant tables of S: the IDCT's impulse responses."""
    _impulses(S)


def idct_islow(coefs, quant, out):
    """Decoded pixels (0..255) of one block as libjpeg's jpeg_idct_islow gives them.

    coefs and quant in natural order (64 each); out receives 64 pixels.
    Returns 0, or -1 (out untouched) for a block beyond the model's 32-bit
    range (``LIMIT``), which no 8-bit image gives.
    """
    S = np.zeros(WORK, dtype=np.int32)
    _tables(S)
    for n in range(64):
        c = np.int64(coefs[n]) * np.int64(quant[n])
        if c > LIMIT or c < -LIMIT:
            return -1
        S[D + n] = c
    if not _decode(S):
        return -1
    for i in range(64):
        out[i] = _pixel(S[A + i])
    return 0


def refine_block_natural(samples, coefs, quant, sweeps, lam, tries):
    """One block: coefs (natural order, int32, changed in place) refined against samples.

    samples: 64 level-shifted float32 values (pixel - 128), as the kernels
    hold them. lam: rate term in squared pixel levels; tries: candidates per
    sweep (at most ``MAXTRIES``). Returns the number of coefficients changed.
    """
    S = np.zeros(WORK, dtype=np.int32)
    _tables(S)
    _targets(samples, 0, 8, S)
    _mask(S, 8, 8)
    _quantizers(S, quant, 0)
    for n in range(64):
        S[C + n] = coefs[n]
    changed = _refine_block(S, sweeps, int(np.floor(lam * 256.0 + 0.5)), tries)
    for n in range(64):
        coefs[n] = S[C + n]
    return changed


def refine_group(samples, plane, cw, chroma, ncomp, hs, vs, group, gm, comp_table, quant,
                 coefs, nb, sweeps, lam, tries, width, rows, screen, libjpeg, marks):
    """Refine the quantized coefficients of gm MCUs of a group in place (see the module doc).

    The buffers and sizes are the kernels' ``_group_coefs``'s (``coefs[n * nb
    + j]``, n natural), plus quant (quantizers, natural order, 64 per table),
    sweeps (0: nothing), lam (rate term in squared pixel levels), tries
    (candidates per sweep), and the image's columns from the group's first and
    rows in it (``width``, ``rows``, in component 0's samples): the error is
    counted on those pixels only (``_mask``; a subsampled component's are
    ceil(width / hs) x ceil(rows / vs)). screen: 1 leaves out the candidates
    of larger quantizers predicted to lose more than a quarter step's square
    (``_rank_sweep``), 0 tries the best ``tries`` whatever their prediction.
    libjpeg: 1 for each block to take, after its search, libjpeg-turbo's
    coefficients of its samples where they decode closer (``_libjpeg_closer``);
    2, without subsampling, only the blocks of the MCUs that ``marks``
    (``kernels.choice_marks``, one item an MCU) names, each block still
    searched (with sweeps; without, the others are left as they are). Returns
    the number of coefficients the search changed, plus the number of blocks
    that took libjpeg's.
    """
    S = np.zeros(WORK, dtype=np.int32)
    S[SCREEN] = 1 if screen else 0
    return _refine_group(samples, plane, cw, chroma, ncomp, hs, vs, group, gm, comp_table, quant,
                         coefs, nb, sweeps, lam, tries, width, rows, libjpeg, marks, S)


def _refine_group(samples, plane, cw, chroma, ncomp, hs, vs, group, gm, comp_table, quant,
                  coefs, nb, sweeps, lam, tries, width, rows, libjpeg, marks, S):
    """``refine_group`` with its work array S (int32, ``WORK`` items)."""
    plane = _size(plane)
    cw = _size(cw)
    chroma = _size(chroma)
    nb = _size(nb)
    group = _size(group)
    tries = min(max(tries, 0), MAXTRIES)
    search = 1 if min(sweeps, tries) > 0 else 0
    if search == 0 and not libjpeg:
        return 0
    marked = 1 if libjpeg == 2 else 0
    if marked and hs * vs > 1:
        return 0  # the marked MCUs' choice is made on whole components
    _tables(S)
    L = np.zeros(LWORK if libjpeg else 0, dtype=np.int32)  # libjpeg's forward path only
    lam16 = int(np.floor(lam * 256.0 + 0.5))
    changed = 0
    masked = -1  # the shape S[MASK:] holds (none yet)
    for c in range(ncomp):
        _quantizers(S, quant, 64 * comp_table[c])
        if libjpeg:
            _libjpeg_divisors(S, L, 0)
        blocks = gm * hs * vs if c == 0 else gm
        for i in range(blocks):
            j, src, stride, cols_in, rows_in = _block_place(c, i, plane, cw, chroma, hs, vs,
                                                            group, gm, width, rows)
            if cols_in <= 0 or rows_in <= 0:
                continue  # wholly past the image's edge: not seen
            choose = 1 if libjpeg else 0
            if marked:
                # without subsampling block i of each component is MCU i's
                if marks[i] == 0:
                    if search == 0:
                        continue
                    choose = 0  # searched only
                elif marks[i] == 2 and i > 0:
                    # the same pixels as MCU i - 1 (``kernels.choice_marks``), whose coefficients
                    # are searched and chosen as this block's would be: copied
                    changed += _copy_block(coefs, j - 1, j, nb)
                    continue
            shape = min(cols_in, 8) * 16 + min(rows_in, 8)
            if shape != masked:  # most blocks are whole: the mask is rewritten at edges only
                _mask(S, cols_in, rows_in)
                masked = shape
            _targets(samples, src, stride, S)
            _gather(coefs, j, nb, S)
            if choose:
                for x in range(8):
                    for y in range(8):
                        # the sample the target holds, as libjpeg reads it (an integer,
                        # level-shifted; transposed, as ``_libjpeg_coefs`` reads it)
                        L[LS + 8 * x + y] = min((S[T16 + 8 * y + x] + 8) >> 4, 255) - 128
            if search == 0:
                # libjpeg's coefficients chosen only: decoded only where they differ
                if _libjpeg_only(S, L):
                    changed += 1
                    _scatter(S, coefs, j, nb)
                continue
            if not _prepare(S):
                continue  # beyond the model's range: left as it is
            k = _search(S, S, -1, sweeps, lam16, tries)
            if choose and _libjpeg_closer(S, L):
                changed += k + 1
                _scatter(S, coefs, j, nb)
            elif k:
                changed += k
                _scatter_moved(S, coefs, j, nb)
    return changed


def _block_place(c, i, plane, cw, chroma, hs, vs, group, gm, width, rows):
    """Block i of component c of a group (``refine_group``'s layout): its index j in coefs, its samples' offset and row stride, and the image's columns and rows from its first pixel (0 or less: wholly past the edge)."""
    yb = group * hs
    if c == 0:
        by = i // (gm * hs)
        bx = i % (gm * hs)
        return (_size(by * yb + bx), 8 * by * cw + 8 * bx, cw, width - 8 * bx, rows - 8 * by)
    if hs * vs > 1:
        # a subsampled component's columns and rows of the image are ceil(width / hs) x ceil(rows / vs)
        return (_size(vs * yb + (c - 1) * group + i), chroma + (c - 1) * 64 * group + 8 * i,
                8 * group, -(-width // hs) - 8 * i, -(-rows // vs))
    return (_size(c * group + i), c * plane + 8 * i, cw, width - 8 * i, rows)


# libjpeg's own coefficients, kept where they decode closer -------------------------------
#
# A greedy search that moves each coefficient by at most one step ends where its start
# lets it: on a ramp of halfway chroma (which libjpeg rounds down), or where rounding
# libjpeg's integer DCT happens to suit its integer IDCT, Pillow's file can decode closer
# than anything the search reaches from ours. On small images (strips.Refinement.libjpeg)
# each block (each MCU for colour) afterwards takes the coefficients libjpeg-turbo writes
# for the same source (its RGB -> YCbCr, forward DCT and quantization, bit for bit:
# Pillow's) where they decode closer than the search's: such images then never decode
# farther from the source than Pillow's file, nor than the search alone, where the models
# are exact (not at the shared edges of subsampled MCUs, where the callers do not ask for
# it; docs/fidelity.md, "libjpeg's coefficients where they decode closer").


def _libjpeg_divisors(S, L, c):
    """L[LDIV + 192 c:]: libjpeg-turbo's division by 8 q for the quantizers S[Q:] (``compute_reciprocal``, jcdctmgr.c).

    A coefficient F is quantized as sign(F) ((|F| + correction) reciprocal >>
    shift), which libjpeg-turbo's C and SIMD code compute alike (16-bit
    DCTELEM): not always a rounded division. In natural order, as
    ``_libjpeg_coefs``' column pass quantizes.
    """
    o = LDIV + 192 * _size(c)
    for n in range(64):
        d = 8 * int(S[Q + n])
        b = 0
        while (2 << b) <= d:
            b += 1
        r = 16 + b
        fq = (1 << r) // d
        fr = (1 << r) % d
        corr = d >> 1
        if fr == 0:  # a power of two: the reciprocal would need 17 bits
            fq >>= 1
            r -= 1
        elif fr <= d >> 1:
            corr += 1
        else:
            fq += 1
        t = o + n
        L[t] = fq
        L[t + 64] = corr
        L[t + 128] = r


def _colour_divisors(S0, S1, S2, L):
    """``_libjpeg_divisors`` of a colour MCU's Y, Cb and Cr blocks (their quantizers S0..S2[Q:])."""
    _libjpeg_divisors(S0, L, 0)
    _libjpeg_divisors(S1, L, 1)
    _libjpeg_divisors(S2, L, 2)


def _fdct_islow8(d0, d1, d2, d3, d4, d5, d6, d7, up, down, shift):
    """One one-dimensional pass of ``jpeg_fdct_islow`` (jfdctint.c): its 8 outputs.

    libjpeg's constants (CONST_BITS 13) and rounding shifts: outputs 0 and 4
    are ((sum << up) + rounding) >> down, the others DESCALE(sum, shift); the
    row pass is up 2 (PASS1_BITS), down 0, shift 11, the column pass up 0,
    down 2, shift 15. Exact in 32 bits for 8-bit samples, as libjpeg's INT32
    arithmetic is.
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
    o0 = (((tmp10 + tmp11) << up) + even) >> down
    o4 = (((tmp10 - tmp11) << up) + even) >> down
    o2 = (z1 + tmp13 * np.int32(6270) + half) >> shift
    o6 = (z1 - tmp12 * np.int32(15137) + half) >> shift
    z1 = (tmp4 + tmp7) * np.int32(-7373)
    z2 = (tmp5 + tmp6) * np.int32(-20995)
    z3 = tmp4 + tmp6
    z4 = tmp5 + tmp7
    z5 = (z3 + z4) * np.int32(9633)
    z3 = z3 * np.int32(-16069) + z5
    z4 = z4 * np.int32(-3196) + z5
    o7 = (tmp4 * np.int32(2446) + z1 + z3 + half) >> shift
    o5 = (tmp5 * np.int32(16819) + z2 + z4 + half) >> shift
    o3 = (tmp6 * np.int32(25172) + z2 + z3 + half) >> shift
    o1 = (tmp7 * np.int32(12299) + z1 + z4 + half) >> shift
    return o0, o1, o2, o3, o4, o5, o6, o7


def _libjpeg_quantize(f, L, t):
    """libjpeg-turbo's quantized value of a DCT output f with the divisors at L[t] (``_libjpeg_divisors``).

    The sign put back without a branch (m = -1 for f < 0: (q ^ m) - m = -q).
    """
    q = ((abs(f) + L[t + 64]) * L[t]) >> L[t + 128]
    m = f >> 31
    return (q ^ m) - m


def _libjpeg_coefs(L, c, S):
    """S[C:]: libjpeg-turbo's quantized coefficients (natural order) of the samples L[LS + 64 c:] (level-shifted, transposed), with the divisors L[LDIV + 192 c:].

    The row pass: 8 ``_fdct_islow8`` side by side, row y a lane (its samples
    L[LS + 64 c + 8 x + y]), frequency u to L[LF + 8 y + u] (``_put8t``: the
    loop's vectors transposed with permutes). The column pass: column u a
    lane (L[LF + 8 y + u]), its output v to L[LF2 + 8 v + u], natural order,
    then quantized with the divisors in the same order, and copied: each a
    loop over contiguous values. (Both passes storing transposed and the
    coefficients transposed back element by element took 532 instructions a
    block in a build of its own, this way 296; docs/fidelity.md, "The IDCT's
    transposes". Quantized within the column pass, straight into S, the
    loop stayed scalar in the module: 1,595 a block.)

    The product in the quantization stays below 2**31: |F| <= 8192 for 8-bit
    samples, the correction at most 1021, the reciprocal at most 2**16.
    """
    src = LS + 64 * _size(c)
    for y in range(8):
        o0, o1, o2, o3, o4, o5, o6, o7 = _fdct_islow8(
            L[src + y], L[src + 8 + y], L[src + 16 + y], L[src + 24 + y],
            L[src + 32 + y], L[src + 40 + y], L[src + 48 + y], L[src + 56 + y], 2, 0, 11)
        _put8t(L, LF + 8 * y, o0, o1, o2, o3, o4, o5, o6, o7)
    for u in range(8):
        f0, f1, f2, f3, f4, f5, f6, f7 = _fdct_islow8(
            L[LF + u], L[LF + 8 + u], L[LF + 16 + u], L[LF + 24 + u],
            L[LF + 32 + u], L[LF + 40 + u], L[LF + 48 + u], L[LF + 56 + u], 0, 2, 15)
        L[LF2 + u] = f0
        L[LF2 + 8 + u] = f1
        L[LF2 + 16 + u] = f2
        L[LF2 + 24 + u] = f3
        L[LF2 + 32 + u] = f4
        L[LF2 + 40 + u] = f5
        L[LF2 + 48 + u] = f6
        L[LF2 + 56 + u] = f7
    o = LDIV + 192 * _size(c)
    for n in range(64):
        L[LF + n] = _libjpeg_quantize(L[LF2 + n], L, o + n)
    for n in range(64):
        S[C + n] = L[LF + n]


def libjpeg_block(pixels, ncomp, quant, out):
    """out: the quantized coefficients (natural order) libjpeg-turbo writes for one block (grey, ncomp 1) or one 4:4:4 MCU of RGB pixels (ncomp 3).

    pixels: 64 grey samples, or the 64 R, then G, then B values (0..255, row
    by row); quant: quantizers (natural order), 64 for grey, luma's then
    chroma's for colour; out: 64 coefficients a component (Y, Cb, Cr). The
    model ``refine_group`` and ``refine_group_rgb`` use (``libjpeg``), for tests.
    """
    S = np.zeros(WORK, dtype=np.int32)
    R = np.zeros(RGBWORK, dtype=np.int32)
    L = np.zeros(LWORK, dtype=np.int32)
    colour = 1 if ncomp == 3 else 0
    for i in range(64 + 128 * colour):
        R[RT + i] = pixels[i]
        L[LS + (i & ~63) + 8 * (i & 7) + ((i >> 3) & 7)] = pixels[i] - 128
    if colour:
        _libjpeg_ycc(R, L)
    for c in range(1 + 2 * colour):
        _quantizers(S, quant, 64 * min(c, 1))
        _libjpeg_divisors(S, L, c)
        _libjpeg_coefs(L, c, S)
        for n in range(64):
            out[64 * c + n] = S[C + n]


def _libjpeg_differ(S, L):
    """The block's coefficients S[C:] kept at L[LCUR:], libjpeg-turbo's of the samples L[LS:] put in S[C:]: 1 if they differ, else 0."""
    for n in range(64):
        L[LCUR + n] = S[C + n]
    _libjpeg_coefs(L, 0, S)
    return 1 - _same_coefs(S, L, LCUR)


def _libjpeg_only(S, L):
    """Without a search: 1 with S[C:] libjpeg-turbo's coefficients of the samples L[LS:] if they decode closer than the block's own, else 0 with S[C:] as it came.

    What ``_prepare`` and ``_libjpeg_closer`` give with no sweeps, in the
    other order: libjpeg's coefficients first, and both sets decoded only
    where they differ (at lower qualities most blocks' are the same, and a
    block's two decodings were most of the choice's cost on small images).
    A block whose own coefficients lie beyond the model's range keeps them.
    """
    if not _libjpeg_differ(S, L):
        return 0
    for n in range(64):
        L[LCUR + 64 + n] = S[C + n]
        S[C + n] = L[LCUR + n]
    if not _decode_coefs(S):
        return 0
    mine = _residuals(S)
    for n in range(64):
        S[C + n] = L[LCUR + 64 + n]
    if _decode_coefs(S) and _residuals(S) < mine:
        return 1
    for n in range(64):
        S[C + n] = L[LCUR + n]
    return 0


def _libjpeg_closer(S, L):
    """After a block's search (S[C:] its coefficients, S[A:] their decoding): 1 with S[C:] libjpeg's coefficients of the samples L[LS:] if they decode closer, else 0 with S[C:] as it was.

    Where libjpeg's coefficients are the block's (most blocks at lower
    qualities), 0 without counting either's error.
    """
    if not _libjpeg_differ(S, L):
        return 0
    mine = _residuals(S)  # S[A:] still decodes the search's coefficients
    if _decode_coefs(S) and _residuals(S) < mine:
        return 1
    for n in range(64):
        S[C + n] = L[LCUR + n]
    return 0


# Marked MCUs (``kernels.choice_marks``) copying the choice the MCU before them made -------


def _copy_block(coefs, src, dst, nb):
    """coefs[n * nb + dst] = coefs[n * nb + src] for n = 0..63; returns 1 if that changed any, else 0."""
    src = _size(src)
    dst = _size(dst)
    nb = _size(nb)
    d = np.int32(0)
    for n in range(64):
        d |= coefs[n * nb + dst] ^ coefs[n * nb + src]
        coefs[n * nb + dst] = coefs[n * nb + src]
    return 1 if d != 0 else 0


# Runs of copied MCUs at 4:2:2 and 4:2:0: a subsampled MCU marked 2 (``kernels.choice_marks``:
# the pixels of the MCU before it) whose coefficients before the choice are those of the last
# MCU chosen for takes that choice. On vertical ramps every MCU of a strip after its first is
# one; compared and copied one block at a time (``_copy_block``: 64 coefficients 4 * nb bytes
# apart) they took longer than the strip's choices (a 256 x 256 4:2:0 save at q95, 4 strips
# side by side a call: about 50 us of copies against 44 for the rest of the call). A run of
# them is compared and copied a coefficient row at a time, where the row's blocks of the run
# lie side by side (``_same_run``, ``_fill_run``): about 13 us (docs/performance.md, "Copied
# MCUs by runs"). Without subsampling the copies are not compared and cost about 1 % of such
# saves; they stay one MCU at a time.


def _marked_run(marks, i, end):
    """The first MCU from i (at most end) not marked 2."""
    e = i
    while e < end and marks[e] == 2:
        e += 1
    return e


def _same_run(coefs, nb, base, per, P, p0, e0, e1):
    """0 if blocks base + per * m + t (t < per, per 1 or 2) of MCUs m = e0..e1-1 all hold P[p0 + 64 * t + n] as coefficient n, else not 0.

    One OR over each coefficient row's blocks of the run, which lie side by
    side, without finding which MCUs differ (``_differ_run``).
    """
    nb = _size(nb)
    d = np.int32(0)
    for n in range(64):
        row = _size(n * nb + base)
        p = P[_size(p0 + n)]
        if per == 2:
            q = P[_size(p0 + 64 + n)]
            for k in range(_size(row + 2 * e0), _size(row + 2 * e1), 2):
                d |= (coefs[k] ^ p) | (coefs[k + 1] ^ q)
        else:
            for k in range(_size(row + e0), _size(row + e1)):
                d |= coefs[k] ^ p
    return d


def _fill_run(coefs, nb, base, per, src, e0, e1, P, p0):
    """Blocks base + per * m + t (t < per, per 1 or 2) of MCUs m = e0..e1-1 set to MCU src's, which hold P's (as ``_same_run`` found them); returns 0 if MCU src's are P's too, else not 0.

    MCU src's compared with P first: where its choice left them so (most runs),
    the run's blocks already hold them and are not written (each coefficient
    row's loop over the run costs about 100 instructions to set up).
    """
    nb = _size(nb)
    d = np.int32(0)
    for n in range(64):
        row = _size(n * nb + base)
        d |= coefs[_size(row + per * src)] ^ P[_size(p0 + n)]
        if per == 2:
            d |= coefs[_size(row + 2 * src + 1)] ^ P[_size(p0 + 64 + n)]
    if d == 0:
        return d
    for n in range(64):
        row = _size(n * nb + base)
        a = coefs[_size(row + per * src)]
        if per == 2:
            b = coefs[_size(row + 2 * src + 1)]
            for k in range(_size(row + 2 * e0), _size(row + 2 * e1), 2):
                coefs[k] = a
                coefs[k + 1] = b
        else:
            for k in range(_size(row + e0), _size(row + e1)):
                coefs[k] = a
    return d


def _run_row(mcus, vs, r):
    """Row r (0..vs + 1) of a subsampled strip's blocks (``_mcu_block``'s layout): its vs rows of
    Y blocks, 2 an MCU, then its Cb and Cr blocks, 1 an MCU. Returns (its first block, its
    blocks an MCU, the offset of its first block's coefficients in ``_keep_mcu``'s P)."""
    if r < vs:
        return 2 * r * mcus, 2, 128 * r
    return (vs + r) * mcus, 1, 64 * (vs + r)


def _differ_run(coefs, nb, base, per, P, p0, e0, e1, D):
    """D[m] |= the bits where blocks base + per * m + t of MCUs m = e0..e1-1 differ from P[p0 + 64 * t + n]."""
    nb = _size(nb)
    for n in range(64):
        row = _size(n * nb + base)
        for t in range(per):
            p = P[_size(p0 + 64 * t + n)]
            for m in range(e0, e1):
                D[m] |= coefs[_size(row + per * m + t)] ^ p


def _cleared(D, e0, e1):
    """D[m] = 0 for m = e0..e1-1."""
    for m in range(e0, e1):
        D[m] = 0


# Colour: the RGB error of the decoder's pixels --------------------------------------------


def ycc_rgb(y, cb, cr):
    """The R, G and B (0..255) that libjpeg's ycc_rgb_convert (jdcolor.c) decodes from samples y, cb, cr.

    The model ``refine_group_rgb`` counts the error of (``_offsets`` folds
    it). Its tables written as their formulas (FIX(x) = x * 2**16 rounded,
    ONE_HALF 2**15, the range limit a clamp): R = Y + (FIX(1.402) (Cr - 128)
    + ONE_HALF) >> 16, B likewise with FIX(1.772) and Cb, G = Y + (ONE_HALF -
    FIX(0.34414) (Cb - 128) - FIX(0.71414) (Cr - 128)) >> 16.
    """
    b = np.int32(cb) - np.int32(128)
    r = np.int32(cr) - np.int32(128)
    py = np.int32(y)
    zero = np.int32(0)
    most = np.int32(255)
    red = min(max(py + ((np.int32(91881) * r + np.int32(32768)) >> 16), zero), most)
    green = min(max(py + ((np.int32(32768) - np.int32(22554) * b - np.int32(46802) * r) >> 16), zero), most)
    blue = min(max(py + ((np.int32(116130) * b + np.int32(32768)) >> 16), zero), most)
    return red, green, blue


def _offsets(R, c):
    """R[OFF:] and R[SLOPE:]: R, G and B of the MCU as functions of block c's (Y, Cb, Cr) samples.

    While block c is searched the other two are fixed, so each channel of
    each pixel is clamp((R[SLOPE + ch] p + R[OFF + 64 ch + i]) >> 16, 0, 255)
    for block c's sample p: ``ycc_rgb``'s formulas with the other samples
    folded in (exact: Y x 2**16 adds to a sum shifted right by 16 without
    changing its fraction). Sums stay below 2**26.
    """
    _slopes(R, SLOPE, c)
    # a loop for each component, whose constant c lets g++ drop the others' branches from
    # the vectorized loop (with c a variable it computed all three and blended them)
    if c == 0:
        for i in range(64):
            _pixel_offsets(R, OFF + i, 64, 0, R[PX + i], R[PX + 64 + i] - np.int32(128),
                           R[PX + 128 + i] - np.int32(128))
    elif c == 1:
        for i in range(64):
            _pixel_offsets(R, OFF + i, 64, 1, R[PX + i], R[PX + 64 + i] - np.int32(128),
                           R[PX + 128 + i] - np.int32(128))
    else:
        for i in range(64):
            _pixel_offsets(R, OFF + i, 64, 2, R[PX + i], R[PX + 64 + i] - np.int32(128),
                           R[PX + 128 + i] - np.int32(128))


def _slopes(R, dst, c):
    """R[dst + ch]: the weight (x 2**16) of component c's sample (0 Y, 1 Cb, 2 Cr) in R, G and B (``ycc_rgb``)."""
    R[dst] = np.int32(65536) if c == 0 else (np.int32(0) if c == 1 else np.int32(91881))
    R[dst + 1] = np.int32(65536) if c == 0 else (np.int32(-22554) if c == 1 else np.int32(-46802))
    R[dst + 2] = np.int32(65536) if c == 0 else (np.int32(116130) if c == 1 else np.int32(0))


def _pixel_offsets(R, dst, stride, c, y, b, r):
    """R[dst + stride ch]: a pixel's R, G and B (``ycc_rgb``) less component c's part, x 2**16 (``_offsets``).

    y: its Y; b and r: its Cb and Cr less 128 (component c's own unused).
    """
    half = np.int32(32768)
    full = np.int32(65536)
    if c == 0:
        R[dst] = ((np.int32(91881) * r + half) >> 16) * full
        R[dst + stride] = ((half - np.int32(22554) * b - np.int32(46802) * r) >> 16) * full
        R[dst + 2 * stride] = ((np.int32(116130) * b + half) >> 16) * full
    elif c == 1:
        R[dst] = (y + ((np.int32(91881) * r + half) >> 16)) * full
        R[dst + stride] = y * full + half + np.int32(22554 * 128) - np.int32(46802) * r
        R[dst + 2 * stride] = y * full + half - np.int32(116130 * 128)
    else:
        R[dst] = y * full + half - np.int32(91881 * 128)
        R[dst + stride] = y * full + half - np.int32(22554) * b + np.int32(46802 * 128)
        R[dst + 2 * stride] = (y + ((np.int32(116130) * b + half) >> 16)) * full


def _channel(k, v, off):
    """One channel (R, G or B) of a pixel: clamp((k v + off) >> 16, 0, 255) for the searched block's sample v
    (or upsampled chroma), k its slope and off the pixel's offset (``_offsets``, ``_sub_offsets``).

    A scalar function g++ inlines into the vectorized loops that call it
    (three channels returned as a tuple it did not inline, and those loops
    stayed scalar).
    """
    return min(max((k * v + off) >> 16, np.int32(0)), np.int32(255))


def _pixel_errors(R, c):
    """R[PERR + i] and R[RWE + i]: the squared and the weighted RGB error (``_residuals_rgb``) of each pixel of the MCU whose block c's samples are R[PX + 64 c:].

    Reads and writes R only, without branches: g++ vectorizes it. Serves
    ``_residuals_rgb`` and ``_accept_rgb`` (which needs only R[PERR:]).
    """
    wr = np.int32(5461) if c == 0 else (np.int32(0) if c == 1 else np.int32(9279))
    wg = np.int32(5461) if c == 0 else (np.int32(-1730) if c == 1 else np.int32(-4726))
    wb = np.int32(5461) if c == 0 else (np.int32(8910) if c == 1 else np.int32(0))
    own = PX + 64 * _size(c)
    kr = R[SLOPE]
    kg = R[SLOPE + 1]
    kb = R[SLOPE + 2]
    for i in range(64):
        v = R[own + i]
        er = _channel(kr, v, R[OFF + i]) - R[RT + i]
        eg = _channel(kg, v, R[OFF + 64 + i]) - R[RT + 64 + i]
        eb = _channel(kb, v, R[OFF + 128 + i]) - R[RT + 128 + i]
        R[PERR + i] = er * er + eg * eg + eb * eb
        R[RWE + i] = wr * er + wg * eg + wb * eb


def _residuals_rgb(S, R, c):
    """``_residuals`` for block c (Y, Cb, Cr) of a colour MCU, in RGB: returns the MCU's RGB error.

    Sets R's ``_offsets`` for block c from the other two blocks' decoded
    samples R[PX:]; returns the MCU's squared RGB error (levels^2). S[E:]:
    the ranking's residual for this block's coefficients: the
    R, G and B errors weighted by w / |w|^2 x 16 (x 1024 in the code), w =
    d(R, G, B) / d(sample) (jdcolor.c: Y 1, 1, 1; Cb 0, -0.34414, 1.772; Cr
    1.402, -0.71414, 0), so that, to first order, it is 16 x the change of
    this block's sample that best lowers the RGB error, as the grey residual
    is, and the ranking needs no other change.
    """
    _offsets(R, c)
    _pixel_errors(R, c)
    s = np.int32(0)
    for i in range(64):
        m = S[MASK + i]
        S[E + i] = (R[RWE + i] >> 10) & m
        s += R[PERR + i] & m
    return int(s)


def _trial_block_rgb(S, R, u):
    """``_trial_block`` for the searched block of a colour MCU: the change of the MCU's squared RGB error.

    Each pixel's error with the new sum (S[A:] plus the change of its row's
    sums, as ``_trial_block`` adds it; R's ``_offsets``)
    less its error now (R[PERR:]), over all 64 pixels in one loop that only
    loads (``_accept_rgb`` recomputes the errors it keeps), which g++
    vectorizes 8 wide. (At quantizer 1 most rows a step reaches have a pixel
    that changes: branching to the changed pixels only, a loop that also
    stored the new errors, was not vectorized and took 1.9x the instructions
    of the search of a colour photo, astronaut at q100; row by row, with a
    test against the limit after each, more than this: docs/fidelity.md,
    "The trial in one loop".)
    """
    ku = K + 8 * _size(u)
    kr = R[SLOPE]
    kg = R[SLOPE + 1]
    kb = R[SLOPE + 2]
    s = np.int32(0)
    for y in range(8):
        dy = S[DL + y]
        r = 8 * y
        for x in range(8):
            i = r + x
            p = _pixel(S[A + i] + dy * S[ku + x])
            er = _channel(kr, p, R[OFF + i]) - R[RT + i]
            eg = _channel(kg, p, R[OFF + 64 + i]) - R[RT + 64 + i]
            eb = _channel(kb, p, R[OFF + 128 + i]) - R[RT + 128 + i]
            s += (er * er + eg * eg + eb * eb - R[PERR + i]) & S[MASK + i]
    return s


def _decoded(S, R, dst, stride):
    """The prepared block's decoded samples (from its row-pass sums S[A:]) into R[dst:], rows ``stride`` apart."""
    dst = _size(dst)
    stride = _size(stride)
    for y in range(8):
        for x in range(8):
            R[dst + stride * y + x] = _pixel(S[A + 8 * y + x])


def _rgb_targets(rgb, row_bytes, row0, channels, width, rows, x0, R, dst, w, h):
    """R[dst + w w ch + w y + x]: the R, G and B (ch) of the w x h pixels from column x0 of the strip's rows (row0 on, ``rows`` of them) of rgb.

    An MCU's source pixels: R[RT:] (8 x 8) for ``refine_group_rgb``, R[UT:]
    (16 x 8 vs, in planes of 16 x 16) for ``refine_group_sub``. Pixels past
    the image's edge repeat its last column and row (never counted in the
    error); the first three of each pixel's ``channels`` samples are R, G
    and B.
    """
    row_bytes = _size(row_bytes)
    channels = _size(channels)
    dst = _size(dst)
    w = _size(w)
    plane = w * w
    if x0 + w <= width and h <= rows:
        # inside the image (all but the last MCU of a strip's row, and the last rows):
        # without the clamps of each pixel's column and row, 40 % fewer instructions
        # (astronaut q90 4:4:4, 5.49 -> 3.35 M; a loop for 3 channels with a constant
        # stride took more, 6.28 M, and so did one loop for both cases, reading the columns
        # inside the image and copying the last past its edge, 6.84 M)
        first = _size(x0) * channels
        for y in range(h):
            base = _size(row0 + y) * row_bytes + first
            for x in range(w):
                s = base + x * channels
                i = dst + w * y + x
                R[i] = np.int32(rgb[s])
                R[i + plane] = np.int32(rgb[s + 1])
                R[i + 2 * plane] = np.int32(rgb[s + 2])
        return
    for y in range(h):
        base = _size(row0 + min(y, rows - 1)) * row_bytes
        for x in range(w):
            s = base + _size(min(x0 + x, width - 1)) * channels
            i = dst + w * y + x
            R[i] = np.int32(rgb[s])
            R[i + plane] = np.int32(rgb[s + 1])
            R[i + 2 * plane] = np.int32(rgb[s + 2])


def _colour_work(S0, S1, S2, quant, comp_table, screen):
    """The work arrays of a colour MCU's Y, Cb and Cr blocks: their tables, quantizers and screen (``refine_group``'s)."""
    S0[SCREEN] = S1[SCREEN] = S2[SCREEN] = 1 if screen else 0
    _tables(S0)
    _tables(S1)
    _tables(S2)
    _quantizers(S0, quant, 64 * comp_table[0])
    _quantizers(S1, quant, 64 * comp_table[1])
    _quantizers(S2, quant, 64 * comp_table[2])


def refine_group_rgb(rgb, row_bytes, row0, channels, width, rows, mcus, comp_table, quant,
                     coefs, nb, sweeps, lam, tries, screen, libjpeg, marks):
    """Refine a 4:4:4 colour strip's quantized coefficients against the RGB pixels the decoder gives.

    rgb: the strip's source rows (uint8, ``row_bytes`` apart, from row0,
    ``rows`` of them, ``channels`` samples a pixel, R, G and B first), which
    the kernels converted to Y, Cb and Cr; coefs: its ``mcus`` MCUs,
    ``coefs[n * nb + c * mcus + i]`` (coefficient n, natural order, of
    component c of MCU i: ``strip_coefs``'s layout), quant and comp_table as
    ``refine_group``'s. Per MCU, each of its three blocks in turn (Y, Cb,
    Cr) is searched (``_search``) against the RGB error of the MCU's pixels
    after libjpeg's integer IDCT and YCbCr -> RGB (``ycc_rgb``), the other two
    blocks as they decode so far. lam: rate term in squared levels of one
    component (counted three times: a step of Y moves R, G and B). screen:
    as ``refine_group``'s. libjpeg: 1 for each MCU to take, after its
    search, libjpeg-turbo's coefficients of its pixels where the RGB pixels
    they decode to come closer (``_libjpeg_closer_rgb``); 2, only the MCUs
    ``marks`` names (``kernels.choice_marks``), each MCU still searched (with
    sweeps). Returns the number of
    coefficients the search changed, plus the number of MCUs that took
    libjpeg's.
    """
    S0 = np.zeros(WORK, dtype=np.int32)
    S1 = np.zeros(WORK, dtype=np.int32)
    S2 = np.zeros(WORK, dtype=np.int32)
    R = np.zeros(RGBWORK, dtype=np.int32)
    L = np.zeros(LWORK if libjpeg else 0, dtype=np.int32)  # libjpeg's forward path only
    tries = min(max(tries, 0), MAXTRIES)
    if (sweeps <= 0 or tries == 0) and not libjpeg:
        return 0
    marked = 1 if libjpeg == 2 else 0
    search = 1 if min(sweeps, tries) > 0 else 0
    nb = _size(nb)
    mcus = _size(mcus)
    _colour_work(S0, S1, S2, quant, comp_table, screen)
    if libjpeg:
        _colour_divisors(S0, S1, S2, L)
    lam3 = int(np.floor(lam * 3.0 + 0.5))
    S0[ZEROS] = S1[ZEROS] = S2[ZEROS] = ZERO_TRIES if lam3 > 0 else 0
    changed = 0
    masked = -1
    for i in range(mcus):
        cols_in = width - 8 * i
        if cols_in <= 0 or rows <= 0:
            continue
        choose = 1 if libjpeg else 0
        if marked:
            if marks[i] == 0:
                if search == 0:
                    continue
                choose = 0  # searched only
            elif marks[i] == 2 and i > 0:
                # the pixels of MCU i - 1 (``kernels.choice_marks``): its choice, copied
                changed += max(_copy_block(coefs, i - 1, i, nb),
                               _copy_block(coefs, mcus + i - 1, mcus + i, nb),
                               _copy_block(coefs, 2 * mcus + i - 1, 2 * mcus + i, nb))
                continue
        shape = min(cols_in, 8) * 16 + min(rows, 8)
        if shape != masked:
            _mask(S0, cols_in, rows)
            _mask(S1, cols_in, rows)
            _mask(S2, cols_in, rows)
            masked = shape
        _gather(coefs, i, nb, S0)
        _gather(coefs, mcus + i, nb, S1)
        _gather(coefs, 2 * mcus + i, nb, S2)
        if search == 0:
            # the choice alone (``choose``): libjpeg's coefficients first, both sets decoded
            # only where they differ
            _rgb_targets(rgb, row_bytes, row0, channels, width, rows, 8 * i, R, RT, 8, 8)
            if _libjpeg_only_rgb(S0, S1, S2, R, L):
                changed += 1
                _scatter(S0, coefs, i, nb)
                _scatter(S1, coefs, mcus + i, nb)
                _scatter(S2, coefs, 2 * mcus + i, nb)
            continue
        if not _prepare(S0) or not _prepare(S1) or not _prepare(S2):
            continue
        _rgb_targets(rgb, row_bytes, row0, channels, width, rows, 8 * i, R, RT, 8, 8)
        _decoded(S0, R, PX, 8)
        _decoded(S1, R, PX + 64, 8)
        _decoded(S2, R, PX + 128, 8)
        k = _search(S0, R, 0, sweeps, lam3, tries)
        if k:
            changed += k
            _scatter(S0, coefs, i, nb)
        k = _search(S1, R, 1, sweeps, lam3, tries)
        if k:
            changed += k
            _scatter(S1, coefs, mcus + i, nb)
        k = _search(S2, R, 2, sweeps, lam3, tries)
        if k:
            changed += k
            _scatter(S2, coefs, 2 * mcus + i, nb)
        if choose and _libjpeg_closer_rgb(S0, S1, S2, R, L):
            changed += 1
            _scatter(S0, coefs, i, nb)
            _scatter(S1, coefs, mcus + i, nb)
            _scatter(S2, coefs, 2 * mcus + i, nb)
    return changed



def _rgb_error(R, S):
    """The squared RGB error of the MCU's decoded samples R[PX:] (``ycc_rgb``) against its pixels R[RT:], over S[MASK:]'s pixels.

    Below 2**31: 64 pixels of at most 3 x 255**2.
    """
    s = np.int32(0)
    for i in range(64):
        s += _squared_rgb_error(R[PX + i], R[PX + 64 + i], R[PX + 128 + i],
                                R[RT + i], R[RT + 64 + i], R[RT + 128 + i]) & S[MASK + i]
    return int(s)


def _squared_rgb_error(y, cb, cr, red, green, blue):
    """The squared error of the R, G and B that ``ycc_rgb`` decodes from samples y, cb, cr against red, green, blue.

    Its formulas written out without branches, one int32 returned (a scalar
    function g++ inlines into the vectorized loops that call it, as ``_channel``).
    """
    half = np.int32(32768)
    b = cb - np.int32(128)
    r = cr - np.int32(128)
    er = _clamp255(y + ((np.int32(91881) * r + half) >> 16)) - red
    eg = _clamp255(y + ((half - np.int32(22554) * b - np.int32(46802) * r) >> 16)) - green
    eb = _clamp255(y + ((np.int32(116130) * b + half) >> 16)) - blue
    return er * er + eg * eg + eb * eb


def _clamp255(v):
    """v clamped to 0..255 (a scalar function g++ inlines into vectorized loops)."""
    return min(max(v, np.int32(0)), np.int32(255))


def _same_coefs(S, L, src):
    """1 if S[C:] equals the 64 coefficients at L[src:], else 0."""
    src = _size(src)
    d = np.int32(0)
    for n in range(64):
        d |= S[C + n] ^ L[src + n]
    return 1 if d == 0 else 0


def _libjpeg_ycc(R, L):
    """L[LS:]: the MCU's pixels R[RT:] as libjpeg-turbo's rgb_ycc_convert makes them Y, Cb and Cr (``_ycc_pixel``), level-shifted and transposed (L[LS + 64 c + 8 x + y]).

    Converted in pixel order into L[LYCC:], a loop g++ vectorizes, then
    transposed a component at a time: a loop over the columns x, each storing
    its 8 rows' samples (``_put8t``, permutes). Converted and stored
    transposed in one loop, the stores' stride kept it scalar (a decoded JPEG
    saved again: a sixth of its time).
    """
    for i in range(64):
        luma, cb, cr = _ycc_pixel(R[RT + i], R[RT + 64 + i], R[RT + 128 + i])
        L[LYCC + i] = luma - np.int32(128)
        L[LYCC + 64 + i] = cb - np.int32(128)
        L[LYCC + 128 + i] = cr - np.int32(128)
    for c in range(3):
        _transpose8(L, LYCC + 64 * c, 8, LS + 64 * c)


def _libjpeg_differ_rgb(S0, S1, S2, R, L):
    """The 4:4:4 MCU's coefficients S0..S2[C:] kept at L[LCUR:] (64 a block), libjpeg-turbo's of its pixels R[RT:] put in S0..S2[C:]: 1 if they differ, else 0 (``_libjpeg_differ`` for colour)."""
    for n in range(64):
        L[LCUR + n] = S0[C + n]
        L[LCUR + 64 + n] = S1[C + n]
        L[LCUR + 128 + n] = S2[C + n]
    _libjpeg_ycc(R, L)
    _libjpeg_coefs(L, 0, S0)
    _libjpeg_coefs(L, 1, S1)
    _libjpeg_coefs(L, 2, S2)
    if _same_coefs(S0, L, LCUR) and _same_coefs(S1, L, LCUR + 64) and _same_coefs(S2, L, LCUR + 128):
        return 0  # libjpeg's are the MCU's (most MCUs at lower qualities)
    return 1


def _decoded_mcu(S0, S1, S2, R):
    """Decode the 4:4:4 MCU's coefficients S0..S2[C:] into R[PX:]: 1, or 0 beyond the model's range."""
    if not _decode_coefs(S0) or not _decode_coefs(S1) or not _decode_coefs(S2):
        return 0
    _decoded(S0, R, PX, 8)
    _decoded(S1, R, PX + 64, 8)
    _decoded(S2, R, PX + 128, 8)
    return 1


def _libjpeg_only_rgb(S0, S1, S2, R, L):
    """Without a search: 1 with S0..S2[C:] libjpeg-turbo's coefficients of the 4:4:4 MCU's pixels R[RT:] if the RGB pixels they decode to come closer than its own's, else 0.

    What ``_prepare`` and ``_libjpeg_closer_rgb`` give with no sweeps, in the
    other order, as ``_libjpeg_only`` for grey: libjpeg's coefficients first,
    and both sets decoded only where they differ (a decoded JPEG saved again
    with its tables, ``options.decoded_again``: 90 to 100 % of the MCUs the
    same). Its own coefficients kept at L[LCUR:], libjpeg's at L[LCUR + 192:].
    """
    if not _libjpeg_differ_rgb(S0, S1, S2, R, L):
        return 0
    for n in range(64):
        L[LCUR + 192 + n] = S0[C + n]
        L[LCUR + 256 + n] = S1[C + n]
        L[LCUR + 320 + n] = S2[C + n]
        S0[C + n] = L[LCUR + n]
        S1[C + n] = L[LCUR + 64 + n]
        S2[C + n] = L[LCUR + 128 + n]
    if not _decoded_mcu(S0, S1, S2, R):
        return 0  # its own beyond the model's range: kept
    mine = _rgb_error(R, S0)
    for n in range(64):
        S0[C + n] = L[LCUR + 192 + n]
        S1[C + n] = L[LCUR + 256 + n]
        S2[C + n] = L[LCUR + 320 + n]
    return 1 if _decoded_mcu(S0, S1, S2, R) and _rgb_error(R, S0) < mine else 0


def _libjpeg_closer_rgb(S0, S1, S2, R, L):
    """After a 4:4:4 MCU's search (S0, S1, S2: its Y, Cb and Cr blocks, R[PX:] their decoded samples): 1 with S0..S2[C:] libjpeg's coefficients of its pixels R[RT:] if the RGB pixels they decode to come closer, else 0 (S0..S2[C:] then hold libjpeg's, not to be kept)."""
    if not _libjpeg_differ_rgb(S0, S1, S2, R, L):
        return 0
    mine = _rgb_error(R, S0)
    return 1 if _decoded_mcu(S0, S1, S2, R) and _rgb_error(R, S0) < mine else 0


# Subsampled colour: the RGB error after the decoder's upsampling ---------------------------


def _upsample_row(R, c, py, dst):
    """R[dst + px], px = 0..15: chroma c (1: Cb, 2: Cr) of the MCU's pixel row py as libjpeg-turbo upsamples it.

    Horizontally 2x (R[SUB] holds vs, 1 or 2): its "fancy" triangle filter
    (jdsample.c: h2v1 (3 s + s' + 1 or 2) >> 2; h2v2 on column sums 3 s + s'
    of the nearer other row, (3 t + t' + 8 or 7) >> 4), the edge sample
    repeated past the last chroma column and row; box (each sample repeated)
    where the image has at most 2 chroma columns, as libjpeg-turbo chooses.
    The MCU is refined on its own (so that a strip cut into columns codes the
    same bytes): past its edges inside the image its own edge samples stand
    in for its neighbours', which makes the model exact for an MCU whose
    neighbours lie past the image's edges and approximate next to others.
    Columns past the image's edge get values too (never counted).
    """
    base = UC + 64 * _size(c - 1)
    dst = _size(dst)
    vs = R[SUB]
    sy = py >> 1 if vs == 2 else py
    row = base + 8 * _size(sy)
    if R[SUB + 3]:
        for px in range(16):
            R[dst + px] = R[row + (px >> 1)]
        return
    if vs == 2:
        near = base + 8 * _size(min(max(sy + 1 if py & 1 else sy - 1, 0), int(R[SUB + 2]) - 1))
        for k in range(8):
            R[UCS + 1 + k] = np.int32(3) * R[row + k] + R[near + k]
        even = np.int32(8)
        odd = np.int32(7)
        shift = 4
    else:
        for k in range(8):
            R[UCS + 1 + k] = R[row + k]
        even = np.int32(1)
        odd = np.int32(2)
        shift = 2
    # the column sums padded with the edge ones (the right edge is the image's last chroma
    # column, or the MCU's): the loop below then has no clamps
    R[UCS] = R[UCS + 1]
    last = _size(R[SUB + 1])
    R[UCS + 1 + last] = R[UCS + last]
    for sx in range(8):
        t = np.int32(3) * R[UCS + 1 + sx]
        R[dst + 2 * sx] = (t + R[UCS + sx] + even) >> shift
        R[dst + 2 * sx + 1] = (t + R[UCS + 2 + sx] + odd) >> shift


def _sub_offsets(R, c):
    """R[UOFF:] and R[USLOPE:] while the Cb (c = 3) or Cr (c = 4) block is searched: ``_offsets`` per pixel of the MCU.

    Each channel of pixel i is clamp((R[USLOPE + ch] v + R[UOFF + 256 ch +
    i]) >> 16, 0, 255) for the searched chroma's upsampled value v there, the
    pixel's Y and other chroma folded in.
    """
    _slopes(R, USLOPE, c - 2)
    # Cb and Cr less 128, the searched one's unused; a loop for each, as in ``_offsets``
    if c == 3:
        for i in range(256):
            _pixel_offsets(R, UOFF + i, 256, 1, R[UY + i], R[UUP + i] - np.int32(128),
                           R[UUP + 256 + i] - np.int32(128))
    else:
        for i in range(256):
            _pixel_offsets(R, UOFF + i, 256, 2, R[UY + i], R[UUP + i] - np.int32(128),
                           R[UUP + 256 + i] - np.int32(128))


def _residuals_sub(S, R, c):
    """``_residuals`` for the Cb (c = 3) or Cr (c = 4) block of a subsampled MCU: returns its RGB error.

    Sets ``_sub_offsets``. R[UROW + py]: the squared RGB error of each pixel
    row. S[E + i]: the ranking's residual of sample i: ``_residuals_rgb``'s
    weighted RGB error, averaged over the sample's pixels in the image (1, 2
    or 4; upsampling's blur left out: it only ranks). Three loops: every
    pixel's errors into R (masked by R[UMASK:], no branch; reads and writes R
    only, which g++ vectorizes), the row sums, the sums of each sample's
    pixels.
    """
    _sub_offsets(R, c)
    kr = R[USLOPE]
    kg = R[USLOPE + 1]
    kb = R[USLOPE + 2]
    wr = np.int32(0) if c == 3 else np.int32(9279)
    wg = np.int32(-1730) if c == 3 else np.int32(-4726)
    wb = np.int32(8910) if c == 3 else np.int32(0)
    own = UUP + 256 * _size(c - 3)
    vs = R[SUB]
    for i in range(128 * vs):
        er = _channel(kr, R[own + i], R[UOFF + i]) - R[UT + i]
        eg = _channel(kg, R[own + i], R[UOFF + 256 + i]) - R[UT + 256 + i]
        eb = _channel(kb, R[own + i], R[UOFF + 512 + i]) - R[UT + 512 + i]
        m = R[UMASK + i]
        R[UERR + i] = (er * er + eg * eg + eb * eb) & m
        R[UWE + i] = (wr * er + wg * eg + wb * eb) & m
    total = 0
    for py in range(8 * vs):
        s = np.int32(0)
        for px in range(16):
            s += R[UERR + 16 * py + px]
        R[UROW + py] = s
        total += s
    # each sample's pixels summed and averaged by a shift (R[USHIFT:]): loops by vs, with
    # constant offsets, that g++ vectorizes (one loop with the test of vs and the shift
    # computed in it stayed scalar)
    if vs == 2:
        for sy in range(8):
            for sx in range(8):
                i = 32 * sy + 2 * sx
                j = 8 * sy + sx
                t = R[UWE + i] + R[UWE + i + 1] + R[UWE + i + 16] + R[UWE + i + 17]
                S[E + j] = (t >> R[USHIFT + j]) & S[MASK + j]
    else:
        for sy in range(8):
            for sx in range(8):
                i = 16 * sy + 2 * sx
                j = 8 * sy + sx
                t = R[UWE + i] + R[UWE + i + 1]
                S[E + j] = (t >> R[USHIFT + j]) & S[MASK + j]
    return total


def _try_sub(S, R, c, n, delta):
    """``_try`` for the Cb (c = 3) or Cr (c = 4) block of a subsampled MCU: the MCU's RGB error with the step.

    The step's new samples are put in R[UC:] for the evaluation (the old
    ones kept in R[OLDS:] and put back after). Each pixel row whose
    upsampled chroma can change (its sample row, or the nearer other one it
    blends, has a changed sample) is upsampled anew into R[UNEWV:] and its
    error recomputed into R[UNEW:] (R[UFLAG:] marks them). Returns the
    error, or -1 if the column leaves the model's 32-bit range.
    """
    if not _column_trial(S, n, delta):
        return -1
    u = _size(n & 7)
    ku = K + 8 * u
    base = UC + 64 * _size(c - 3)
    vs = R[SUB]
    moved = 0
    for y in range(8):
        R[SFLAG + y] = 0
        dy = S[DL + y]
        if dy != 0:
            r = 8 * y
            f = np.int32(0)
            for x in range(8):
                p = _pixel(S[A + r + x] + dy * S[ku + x])
                o = R[base + r + x]
                R[OLDS + r + x] = o
                f |= p ^ o
                R[base + r + x] = p
            R[SFLAG + y] = f
            moved |= f
    trial = 0
    for py in range(8 * vs):
        trial += R[UROW + py]
    if moved == 0:
        for py in range(16):
            R[UFLAG + py] = 0
        return trial
    box = R[SUB + 3]
    last = int(R[SUB + 2]) - 1
    kr = R[USLOPE]
    kg = R[USLOPE + 1]
    kb = R[USLOPE + 2]
    for py in range(16):
        f = np.int32(0)
        if py < R[SUB + 5]:
            if vs == 2:
                sy = py >> 1
                near = min(max(sy + 1 if py & 1 else sy - 1, 0), last)
                f = R[SFLAG + sy] | (0 if box else R[SFLAG + _size(near)])
            else:
                f = R[SFLAG + py]
        R[UFLAG + py] = f
        if f != 0:
            row = UNEWV + 16 * py
            _upsample_row(R, c - 2, py, row)
            e = np.int32(0)
            for px in range(16):
                # every pixel of the row, masked past the image's edge: a loop without
                # branches that g++ vectorizes
                i = 16 * py + px
                v = R[row + px]
                er = _channel(kr, v, R[UOFF + i]) - R[UT + i]
                eg = _channel(kg, v, R[UOFF + 256 + i]) - R[UT + 256 + i]
                eb = _channel(kb, v, R[UOFF + 512 + i]) - R[UT + 512 + i]
                e += (er * er + eg * eg + eb * eb) & R[UMASK + i]
            R[UNEW + py] = e
            trial += e - R[UROW + py]
    for y in range(8):
        if S[DL + y] != 0:
            r = 8 * y
            for x in range(8):
                R[base + r + x] = R[OLDS + r + x]
    return trial


def _accept_sub(S, R, c, n, delta):
    """Make the change that ``_try_sub`` evaluated, in the block and in R (samples, upsampled rows, row errors)."""
    _accept(S, n, delta, 0)
    base = UC + 64 * _size(c - 3)
    own = UUP + 256 * _size(c - 3)
    for y in range(8):
        if S[DL + y] != 0:
            r = 8 * y
            for x in range(8):
                R[base + r + x] = _pixel(S[A + r + x])
    for py in range(16):
        if R[UFLAG + py] != 0:
            R[UROW + py] = R[UNEW + py]
            r = 16 * py
            for px in range(16):
                R[own + r + px] = R[UNEWV + r + px]


def _sub_shape(R, cols, rows):
    """R[SUB + 1:] (the MCU's shape), R[UMASK:] and R[USHIFT:] for an MCU with ``cols`` columns and ``rows`` rows in the image (R[SUB], vs, set before)."""
    vs = R[SUB]
    cols = min(cols, 16)
    rows = min(rows, 8 * vs)
    R[SUB + 1] = (cols + 1) >> 1
    R[SUB + 2] = -(-rows // vs)
    R[SUB + 4] = cols
    R[SUB + 5] = rows
    for k in range(256):
        R[UMASK + k] = np.int32(-1) if (k & 15) < cols and (k >> 4) < rows else np.int32(0)
    for j in range(64):
        # the chroma sample's pixels in the image: 1 or 2 columns times 1 or 2 rows, whose
        # mean ``_residuals_sub`` takes by a shift (the weighted errors are x 2**10)
        sx = j & 7
        sy = j >> 3
        n = min(max(cols - 2 * sx, 0), 2) * min(max(rows - vs * sy, 0), vs)
        R[USHIFT + j] = 10 + (n >> 1)


def refine_group_sub(rgb, row_bytes, row0, channels, width, rows, mcus, vs, box, comp_table,
                     quant, coefs, nb, sweeps, lam, tries, screen, libjpeg, marks):
    """``refine_group_rgb`` for a colour strip subsampled 2x horizontally (vs: 1, 4:2:2, or 2, 4:2:0).

    coefs: ``strip_coefs``'s layout (``refine_group``'s with group = gm =
    mcus); box: bit 0 set when the image has at most 2 chroma columns
    (libjpeg-turbo then repeats samples instead of its fancy upsampling), bit
    1 when the image is one MCU (the model is exact: ``_libjpeg_closer_sub``). Per MCU, its
    2 vs Y blocks in turn, then its Cb and its Cr block, are searched
    (``_search``) against the RGB error of the MCU's pixels after libjpeg's
    integer IDCT, upsampling (``_upsample_row``) and YCbCr -> RGB, the other blocks as
    they decode so far. screen: as ``refine_group``'s. libjpeg: as
    ``refine_group_rgb``'s (``_libjpeg_closer_sub``), 2 as its 2 but for the
    marked MCUs, which are chosen for without a search. Returns
    the number of coefficients the search changed, plus the number of MCUs
    that took libjpeg's.
    """
    R = np.zeros(SUBWORK, dtype=np.int32)
    L = np.zeros(LWORK if libjpeg else 0, dtype=np.int32)  # libjpeg's forward path only
    S0 = np.zeros(WORK, dtype=np.int32)
    S1 = np.zeros(WORK, dtype=np.int32)
    S2 = np.zeros(WORK, dtype=np.int32)
    tries = min(max(tries, 0), MAXTRIES)
    if (sweeps <= 0 or tries == 0) and not libjpeg:
        return 0
    marked = 1 if libjpeg == 2 else 0
    search = 1 if min(sweeps, tries) > 0 else 0
    nb = _size(nb)
    mcus = _size(mcus)
    vs = 2 if vs == 2 else 1
    _colour_work(S0, S1, S2, quant, comp_table, screen)
    if libjpeg:
        _colour_divisors(S0, S1, S2, L)
    lam3 = int(np.floor(lam * 3.0 + 0.5))
    R[SUB] = vs
    R[SUB + 3] = 1 if box & 1 else 0
    alone = box & 2
    changed = 0
    masked = -1  # the MCU shape R's and the chroma blocks' masks hold (none yet)
    # the coefficients of the last marked MCU before its choice (``_keep_mcu``), if ``kept``
    P = np.zeros(64 * (2 * vs + 2) if marked else 0, dtype=np.int32)
    kept = 0
    D = np.zeros(mcus if marked else 0, dtype=np.int32)  # ``_differ_run``'s, by MCU
    until = 0  # the end of the last run of copied MCUs (``_kept_run``)
    for i in range(mcus):
        if i < until:
            continue
        cols = min(width - 16 * i, 16)
        if cols <= 0 or rows <= 0:
            continue
        choose = 1 if libjpeg else 0
        steps = sweeps
        if marked:
            if marks[i] == 0:
                kept = 0
                if search == 0:
                    continue
                choose = 0  # searched only
            else:
                # chosen only, not searched: the model's upsampling is approximate at the
                # MCU's edges, which on such content (vertical ramps) the search optimizes
                # for wrongly (refine=1 on 64 x 64 ones at 4:2:0: up to 0.8 dB behind Pillow)
                steps = 0
            if marks[i] == 2 and i > 0 and kept:
                # the pixels of MCU i - 1 (``kernels.choice_marks``) and its coefficients
                # before its choice (not always: the 4:2:x luma correction, ``_luma_fix``,
                # reads the neighbouring MCUs' chroma), so its choice, copied, to the MCUs
                # like it after it too
                until = _kept_run(coefs, nb, mcus, vs, i,
                                  _marked_run(marks, i, min(mcus, (width + 15) // 16)), P, D)
                if until > i:
                    # each copied MCU held P: the copies changed all of them or none
                    d = np.int32(0)
                    for r in range(vs + 2):
                        base, per, p0 = _run_row(mcus, vs, r)
                        d |= _fill_run(coefs, nb, base, per, i - 1, i, until, P, p0)
                    if d != 0:
                        changed += until - i
                    continue
            if marks[i] != 0:
                _keep_mcu(coefs, nb, mcus, vs, i, P)
                kept = 1
        if cols != masked:  # rows is the strip's: only the last MCU's columns differ
            _sub_shape(R, cols, rows)
            _mask(S1, R[SUB + 1], R[SUB + 2])
            _mask(S2, R[SUB + 1], R[SUB + 2])
            masked = cols
        if steps <= 0 and choose:
            # the choice alone: an MCU whose coefficients are libjpeg's has nothing to choose
            # (a decoded JPEG saved again with its tables, ``options.decoded_again``: half to
            # nearly all of them), the rest as before
            _rgb_targets(rgb, row_bytes, row0, channels, width, rows, 16 * i, R, UT, 16, 8 * vs)
            if _sub_libjpeg_same(coefs, nb, mcus, vs, i, R, L, S0, S1, S2):
                continue
        _gather(coefs, _mcu_block(mcus, vs, i, 2 * vs), nb, S1)
        _gather(coefs, _mcu_block(mcus, vs, i, 2 * vs + 1), nb, S2)
        if not _prepare(S1) or not _prepare(S2):
            continue
        _decoded(S1, R, UC, 8)
        _decoded(S2, R, UC + 64, 8)
        for py in range(8 * vs):
            _upsample_row(R, 1, py, UUP + 16 * py)
            _upsample_row(R, 2, py, UUP + 256 + 16 * py)
        _rgb_targets(rgb, row_bytes, row0, channels, width, rows, 16 * i, R, UT, 16, 8 * vs)
        ok = 1
        for k in range(2 * vs):
            # Y block k of the MCU (row k >> 1, column k & 1), searched with the chroma as it decodes
            bx = k & 1
            by = k >> 1
            j = _mcu_block(mcus, vs, i, k)
            _mask(S0, cols - 8 * bx, rows - 8 * by)
            _gather(coefs, j, nb, S0)
            if not _prepare(S0):
                ok = 0
                continue
            _decoded(S0, R, PX, 8)
            for y in range(8):
                for x in range(8):
                    o = _size(16 * (8 * by + y) + 8 * bx + x)
                    t = 8 * y + x
                    R[RT + t] = R[UT + o]
                    R[RT + 64 + t] = R[UT + 256 + o]
                    R[RT + 128 + t] = R[UT + 512 + o]
                    R[PX + 64 + t] = R[UUP + o]
                    R[PX + 128 + t] = R[UUP + 256 + o]
            moved = _search(S0, R, 0, steps, lam3, tries)
            if moved:
                changed += moved
                _scatter(S0, coefs, j, nb)
            for y in range(8):
                for x in range(8):
                    R[UY + _size(16 * (8 * by + y) + 8 * bx + x)] = R[PX + 8 * y + x]
        if not ok:
            continue  # a Y block the model cannot decode: the chroma's error is unknown
        moved = _search(S1, R, 3, steps, lam3, tries)
        if moved:
            changed += moved
            _scatter(S1, coefs, _mcu_block(mcus, vs, i, 2 * vs), nb)
        moved = _search(S2, R, 4, steps, lam3, tries)
        if moved:
            changed += moved
            _scatter(S2, coefs, _mcu_block(mcus, vs, i, 2 * vs + 1), nb)
        if choose:
            _sub_chroma(R, S1, S2, vs)  # the chroma as searched (R[UY:] is already)
            if _libjpeg_closer_sub(R, L, S0, S1, S2, vs, _sub_error(R),
                                   -1 if alone else _sub_inner_error(R),
                                   1 if steps <= 0 else 0):
                changed += 1
                for k in range(2 * vs):
                    for n in range(64):
                        S0[C + n] = L[LCO + 64 * k + n]
                    _scatter(S0, coefs, _mcu_block(mcus, vs, i, k), nb)
                _scatter(S1, coefs, _mcu_block(mcus, vs, i, 2 * vs), nb)
                _scatter(S2, coefs, _mcu_block(mcus, vs, i, 2 * vs + 1), nb)
    return changed


def _sub_libjpeg_same(coefs, nb, mcus, vs, i, R, L, S0, S1, S2):
    """1 if subsampled MCU i's coefficients are libjpeg-turbo's of its pixels R[UT:] (``_libjpeg_sub``), else 0 (S0..S2[C:] then hold others: gathered again)."""
    _libjpeg_sub(R, L, S0, S1, S2, vs)
    for n in range(64):
        L[LCUR + n] = S1[C + n]
        L[LCUR + 64 + n] = S2[C + n]
    _gather(coefs, _mcu_block(mcus, vs, i, 2 * vs), nb, S1)
    _gather(coefs, _mcu_block(mcus, vs, i, 2 * vs + 1), nb, S2)
    if not _same_coefs(S1, L, LCUR) or not _same_coefs(S2, L, LCUR + 64):
        return 0
    for k in range(2 * vs):
        _gather(coefs, _mcu_block(mcus, vs, i, k), nb, S0)
        if not _same_coefs(S0, L, LCO + 64 * k):
            return 0
    return 1


def _mcu_block(mcus, vs, i, b):
    """Block b of subsampled MCU i (its 2 vs Y blocks by rows, then Cb, Cr) in ``strip_coefs``' layout."""
    if b < 2 * vs:
        return _size((b >> 1) * 2 * mcus + 2 * i + (b & 1))
    return _size(b * mcus + i)  # Cb: b = 2 vs, Cr: 2 vs + 1


def _keep_mcu(coefs, nb, mcus, vs, i, P):
    """P: the coefficients of subsampled MCU i (``_mcu_block`` order, 64 a block)."""
    for b in range(2 * vs + 2):
        j = _mcu_block(mcus, vs, i, b)
        for n in range(64):
            P[64 * b + n] = coefs[_size(n * nb + j)]


def _kept_run(coefs, nb, mcus, vs, e0, e1, P, D):
    """The first of subsampled MCUs e0..e1-1 whose coefficients are not those ``_keep_mcu`` kept in P (e1 if none).

    All at once first (``_same_run``), where they differ 8 MCUs at a time
    (``_differ_run``): a run that ends early costs the whole range's
    comparison and at most 7 MCUs' more than comparing one MCU at a time.
    """
    d = np.int32(0)
    for r in range(vs + 2):
        base, per, p0 = _run_row(mcus, vs, r)
        d |= _same_run(coefs, nb, base, per, P, p0, e0, e1)
    if d == 0:
        return e1
    e = e0
    while e < e1:
        f = min(e + 8, e1)
        _cleared(D, e, f)
        for r in range(vs + 2):
            base, per, p0 = _run_row(mcus, vs, r)
            _differ_run(coefs, nb, base, per, P, p0, e, f, D)
        for m in range(e, f):
            if D[m] != 0:
                return m
        e = f
    return e1


def _ycc_pixel(r, g, b):
    """libjpeg-turbo's Y, Cb and Cr (rgb_ycc_convert, jccolor.c) of one pixel (int32 R, G, B), not level-shifted.

    Its tables as their formulas: FIX(x) = x 2**16 rounded, Y rounded with
    ONE_HALF, Cb and Cr with ONE_HALF - 1 (halves round down); the sums stay
    below 2**24.
    """
    return (((np.int32(19595) * r + np.int32(38470) * g + np.int32(7471) * b + np.int32(32768)) >> 16),
            ((np.int32(32768) * b - np.int32(11059) * r - np.int32(21709) * g + np.int32(8421375)) >> 16),
            ((np.int32(32768) * r - np.int32(27439) * g - np.int32(5329) * b + np.int32(8421375)) >> 16))


def _sub_error(R):
    """The squared RGB error of a subsampled MCU as it decodes (R[UY:], R[UUP:]) against its pixels R[UT:], over R[UMASK:]."""
    s = np.int32(0)
    for i in range(256):
        s += _squared_rgb_error(R[UY + i], R[UUP + i], R[UUP + 256 + i],
                                R[UT + i], R[UT + 256 + i], R[UT + 512 + i]) & R[UMASK + i]
    return int(s)


def _libjpeg_sub(R, L, S0, S1, S2, vs):
    """libjpeg-turbo's coefficients of a subsampled MCU's pixels R[UT:]: its Y blocks' in L[LCO:], its Cb's and Cr's in S1[C:] and S2[C:] (divisors L[LDIV:] for Y, + 192 and + 384 for Cb and Cr).

    Colour converted per pixel, then the chroma downsampled as jcsample.c's
    h2v1 ((a + b + 0 or 1) >> 1, the bias alternating along the row) or h2v2
    ((4 samples + 1 or 2) >> 2); the pixels past the image's right edge are
    its last column repeated (``_rgb_targets``), the chroma rows past its
    bottom its last chroma row (R[SUB + 2] rows in the MCU), as libjpeg pads.
    """
    # in pixel order (a loop g++ vectorizes), then each Y block k = 2 (py >> 3) + (px >> 3)
    # transposed into LCO + 64 k, until its coefficients replace it (as ``_libjpeg_ycc``)
    for i in range(128 * vs):
        y, cb, cr = _ycc_pixel(R[UT + i], R[UT + 256 + i], R[UT + 512 + i])
        L[LYCC + i] = y - np.int32(128)
        L[LCH + i] = cb
        L[LCH + 256 + i] = cr
    for k in range(2 * vs):
        _transpose8(L, LYCC + 128 * (k >> 1) + 8 * (k & 1), 16, LCO + 64 * k)
    for k in range(2 * vs):
        for n in range(64):
            L[LS + n] = L[LCO + 64 * k + n]
        _libjpeg_coefs(L, 0, S0)
        for n in range(64):
            L[LCO + 64 * k + n] = S0[C + n]
    last = _size(R[SUB + 2] - 1)  # the image's last chroma row in the MCU
    for c in range(2):
        src = LCH + 256 * c
        tmp = LYCC + 64 * c  # the Y there is transposed already
        for sy in range(8):
            # rows past the image's last chroma row repeat it (jcprepct.c pads the downsampled
            # rows; the full-size rows only to a whole pair); row by row in sample order, a
            # loop for each vs (with the test and the transposed store inside, it was scalar)
            ry = min(sy, last)
            t = tmp + 8 * sy
            if vs == 2:
                o = src + 32 * ry
                for sx in range(8):
                    L[t + sx] = ((L[o + 2 * sx] + L[o + 2 * sx + 1] + L[o + 16 + 2 * sx]
                                  + L[o + 17 + 2 * sx] + 1 + (sx & 1)) >> 2) - np.int32(128)
            else:
                o = src + 16 * ry
                for sx in range(8):
                    L[t + sx] = ((L[o + 2 * sx] + L[o + 2 * sx + 1] + (sx & 1)) >> 1) - np.int32(128)
        _transpose8(L, tmp, 8, LS + 64 * (c + 1))
    _libjpeg_coefs(L, 1, S1)
    _libjpeg_coefs(L, 2, S2)


def libjpeg_mcu_sub(pixels, vs, rows, quant, out):
    """out: the quantized coefficients (natural order) libjpeg-turbo writes for one MCU subsampled 2x horizontally and vs (1 or 2) times vertically: its 2 vs Y blocks (by rows), then Cb and Cr.

    pixels: the MCU's R, then G, then B plane, 16 x 16 each, row by row (rows
    from 8 vs on unused; those past the image's bottom edge, from ``rows``
    on, its last row repeated); quant: luma's then chroma's quantizers
    (natural order). The model ``refine_group_sub`` uses (``libjpeg``), for tests.
    """
    R = np.zeros(SUBWORK, dtype=np.int32)
    S0 = np.zeros(WORK, dtype=np.int32)
    S1 = np.zeros(WORK, dtype=np.int32)
    S2 = np.zeros(WORK, dtype=np.int32)
    L = np.zeros(LWORK, dtype=np.int32)
    vs = 2 if vs == 2 else 1
    R[SUB + 2] = -(-min(max(rows, 1), 8 * vs) // vs)
    for i in range(768):
        R[UT + i] = pixels[i]
    _quantizers(S0, quant, 0)
    _quantizers(S1, quant, 64)
    _quantizers(S2, quant, 64)
    _colour_divisors(S0, S1, S2, L)
    _libjpeg_sub(R, L, S0, S1, S2, vs)
    blocks = 2 * vs
    for n in range(64 * blocks):
        out[n] = L[LCO + n]
    for n in range(64):
        out[64 * blocks + n] = S1[C + n]
        out[64 * blocks + 64 + n] = S2[C + n]


def _libjpeg_closer_sub(R, L, S0, S1, S2, vs, mine, inner, known):
    """After a subsampled MCU's search (``mine`` the RGB error of R[UY:] and R[UUP:] as it decodes, ``inner`` that of ``_sub_inner_error``): 1 with libjpeg-turbo's coefficients of its pixels R[UT:] (its Y blocks' in L[LCO:], its chroma's in S1[C:] and S2[C:]) if the RGB pixels they decode to after upsampling come closer, else 0.

    known: 1 where ``_sub_libjpeg_same`` made them already (the choice without a search:
    Y in L[LCO:], the chroma in L[LCUR:]), 0 to make them (``_libjpeg_sub``).

    Exact for an MCU alone in the image (the automatic default's subsampled
    images of one MCU; the caller then gives ``inner`` -1), approximate at
    edges shared with other MCUs (``_upsample_row``): there libjpeg's are
    taken where they come closer over the MCU or without its edge pixels
    (``_sub_inner_error``). The MCU's own luma correction (``_luma_fix``) and
    search were made for the same approximate edges, which favoured them
    wrongly: on 64 x 64 vertical ramps at 4:2:0 the default was up to 0.52 dB
    behind Pillow at six qualities and ``refine=1`` at five, none with both
    errors counted (docs/fidelity.md).
    """
    if known:
        for n in range(64):
            S1[C + n] = L[LCUR + n]
            S2[C + n] = L[LCUR + 64 + n]
    else:
        _libjpeg_sub(R, L, S0, S1, S2, vs)
    for k in range(2 * vs):
        for n in range(64):
            S0[C + n] = L[LCO + 64 * k + n]
        if not _decode_coefs(S0):
            return 0
        _decoded(S0, R, UY + 128 * (k >> 1) + 8 * (k & 1), 16)
    if not _decode_coefs(S1) or not _decode_coefs(S2):
        return 0
    _sub_chroma(R, S1, S2, vs)
    return 1 if _sub_error(R) < mine or _sub_inner_error(R) < inner else 0


def _sub_inner_error(R):
    """``_sub_error`` without the MCU's edge pixels the model's upsampling approximates: its
    first and last columns, and at 4:2:0 its first and last rows (their chroma blends the
    neighbouring MCU's, which ``_upsample_row`` repeats from the MCU's own)."""
    s = np.int32(0)
    # the rows and columns by their loops' bounds, not a test a pixel (a branch in the loop
    # g++ did not vectorize: about 25,000 instructions a call, callgrind)
    edge = 1 if R[SUB] == 2 else 0
    for y in range(edge, 16 - edge):
        for x in range(1, 15):
            i = 16 * y + x
            s += _squared_rgb_error(R[UY + i], R[UUP + i], R[UUP + 256 + i],
                                    R[UT + i], R[UT + 256 + i], R[UT + 512 + i]) & R[UMASK + i]
    return int(s)


def _sub_chroma(R, S1, S2, vs):
    """R[UC:] and R[UUP:]: the MCU's chroma as decoded from S1's and S2's row-pass sums, and upsampled."""
    _decoded(S1, R, UC, 8)
    _decoded(S2, R, UC + 64, 8)
    for py in range(8 * vs):
        _upsample_row(R, 1, py, UUP + 16 * py)
        _upsample_row(R, 2, py, UUP + 256 + 16 * py)
