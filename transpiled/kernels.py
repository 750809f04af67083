"""Strip kernels of pillow_streamjpeg: pure computation, compiled with Pythran.

One call encodes one strip (one MCU row) of pixels into entropy-coded JPEG
bytes: colour conversion, level shift, forward DCT, quantization, zigzag, DC
prediction (from zero at a restart, else from the predictors the caller
carries over), Huffman coding, 0xFF00 stuffing, and 1-bit padding to a byte
where a restart interval ends (RSTn inside the strip where one ends there).
The kernels know nothing of files, options or markers; everything they need
comes in as arrays, and their output goes into buffers the caller provides.

This file is plain Python too: run under CPython it gives the same bytes,
slowly, which the tests use as a reference. Sample arithmetic is float32 with
float32 constants, so that both give the same roundings.

How a strip is encoded, a group of ``group`` MCUs at a time:

1. ``_colour``: pixel rows to level-shifted component planes (float32),
   columns past the image replicated; pixels of 4 bytes are read as int32
   words (``_ycc_packed``). For 4:2:0 and 4:2:2 from RGB,
   ``_colour_sub`` converts the chroma of each 2 x 2 (2 x 1) pixel group
   from its averaged RGB instead (a box filter, fused with the conversion);
   ``_downsample`` averages the planes of the other subsampled cases.
2. ``_row_dct``: the 8-point AAN DCT of every row of every block, written
   transposed into ``dct[8 y + u][block]``, so that
3. ``_column_dct``: the column pass and the quantization run over all blocks
   of the group at once, along contiguous rows (loops the compiler
   vectorizes), into ``coefs[8 v + u][block]`` (natural order: the masks
   and the coding loop read the rows in zigzag order, ``_natural_order``).
4. ``_ac_masks``: a bit mask of the non-zero AC coefficients of every block of
   the group; ``_code_blocks`` visits the set bits only, coding with a 64-bit bit buffer
   into 64-bit words, which
5. ``_stuff`` writes out as bytes, with a 0x00 after each 0xFF. (Keeping
   byte stores out of the coding loop matters: a byte store may alias
   anything, so the compiler reloads every pointer after one.)

Conventions shared with the caller:

- ``band`` is the flat ``uint8`` buffer of a band of pixel rows of
  ``row_bytes`` bytes, each holding ``width * channels`` samples (more is
  allowed and ignored). The strip is the ``nrows`` rows from row ``row0``;
  rows beyond the image repeat the last one.
- ``convert`` 1 turns the first three channels (R, G, B) into Y, Cb, Cr;
  2 does the same and rounds them to whole sample values; 3 rounds them too,
  but subsampled chroma is converted from the averaged RGB (``_colour_sub``)
  and rounded, where 2 averages the rounded pixels' chroma (better at the
  finest quantizers, docs/performance.md), and 4 averages them and rounds
  the average as libjpeg does (``_downsample``: where every chroma quantizer
  is 1); 0 takes the first ``ncomp`` channels as components.
- Component 0 is sampled ``hs`` x ``vs`` (1 or 2 each); the others 1 x 1.
- ``comp_table[c]`` selects component c's quantization and Huffman tables.
- ``recip[64 t + 8 v + u]``: the multiplier of coefficient (v, u) of table t
  (the reciprocal of the quantizer and of the AAN scale factors).
- ``joint``: empty, or for RGB converted to YCbCr with every quantizer at
  least 2: at 4:4:4 the weights of ``_joint_round`` (8 int32 items per
  coefficient), with ``recip`` then 32 times the multipliers: each Y
  coefficient rounded with its frequency's Cb and Cr for the RGB error; at
  4:2:0 and 4:2:2 those of ``_luma_fix`` (Cb's and Cr's
  quantizers, a damping, and ``_luma_gate``'s threshold, 0 for none): Y
  corrected for the chroma the decoder upsamples, with ``convert`` 3; a
  group the gate stops is converted with ``convert`` 2 and not corrected.
- ``huff``, 512 entries per table set t: the DC symbols at 512 t + s, the AC
  symbols at 512 t + 256 + s; an entry is ``(code << (6 + extra)) | length``,
  where length counts the code and the symbol's extra bits.
- ``value[v + 4096]``: ``(extra bits << 4) | size category`` of a value v,
  |v| < 4096.
- ``pairs``, 4096 entries per table set t: at ``4096 t + 128 run + v + 64``
  the whole code of an AC coefficient v (|v| <= 64, not 0) after ``run``
  zeros, ``(code with v's extra bits << 6) | length``: one lookup instead of
  two for the common small values; at ``4096 t + 2048 + s`` a copy of the
  set's AC entries of ``huff`` (the coding loop reads one table).
"""
import numpy as np

# pythran export encode_strip(uint8[:], int, int, int, int, int, int, int, int, int, int64[:], float32[:], int32[:], uint64[:], uint64[:], uint64[:], float32[:], float32[:], int32[:], uint64[:], uint8[:], int, int64[:], uint64[:], int, int, int, uint8[:])
# pythran export encode_strips(uint8[:], int, int, int, int, int, int, int, int, int, int64[:], float32[:], int32[:], uint64[:], uint64[:], uint64[:], float32[:], float32[:], int32[:], uint64[:], uint8[:], int, int64[:], uint64[:], int, int, int, uint8[:], int32[:], int64[:])
# pythran export choice_marks(uint8[:], int, int, int, int, int, int, int, uint8[:])
# pythran export count_strip(uint8[:], int, int, int, int, int, int, int, int, int, int64[:], float32[:], int32[:], uint64[:], float32[:], float32[:], int32[:], int64[:,:], int)
# pythran export strip_capacity(int, int, int, int)
# pythran export scratch_sizes(int, int, int, int)
# pythran export strip_layout(int, int, int, int)
# pythran export strip_group(int, int)
# pythran export strip_coefs(uint8[:], int, int, int, int, int, int, int, int, int, int64[:], float32[:], int32[:], float32[:], float32[:], int32[:], int, float32[:], int32[:], int, int)
# pythran export code_coefs(int32[:], int, int, int, int, int64[:], uint64[:], uint64[:], uint64[:], uint64[:], uint8[:], int, int64[:], uint64[:], int, int, int)
# pythran export code_copies(int32[:], int, int, int, int, int64[:], uint64[:], uint64[:], uint64[:], uint64[:], uint8[:], int, int64[:], uint64[:], int, int, int, int, int64[:])
# pythran export count_coefs(int32[:], int, int, int, int, int64[:], uint64[:], int64[:,:])
# pythran export shift_stuffed(uint8[:], int, int, int, uint8[:])


def strip_capacity(width, ncomp, hs, vs):
    """Bytes that one strip can need at most (output buffer size).

    A block codes to at most 27 + 63 * 26 bits (209 bytes), doubled by
    stuffing in the worst case: 512 bytes a block is a safe bound.
    """
    mcus = (width + 8 * hs - 1) // (8 * hs)
    return mcus * (hs * vs + ncomp - 1) * 512 + 16


def scratch_sizes(ncomp, hs, vs, group):
    """Items of the scratch buffers: float32 ``samples`` and ``dct``, int32 ``coefs``, uint64 ``words``.

    A block codes to at most 27 + 63 * 26 bits: 27 words of 64 bits; the
    first 64 words hold the coding loop's bit positions (``_position_table``).
    """
    width = group * 8 * hs
    samples = ncomp * 8 * vs * width + (ncomp - 1) * 64 * group
    blocks = group * (hs * vs + ncomp - 1)
    return samples, 64 * blocks, 64 * blocks, 64 + 27 * blocks + 1


def _size(n):
    """n clamped to 0..2**40, which lets Pythran index with it without a sign check."""
    return min(max(n, 0), 1 << 40)


def _natural_order():
    """Natural (row-major) index of each zigzag position."""
    return np.array([
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
        12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
        58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63],
        dtype=np.int64)


def _ycc(band, src, step, n, S, o0, o1, o2, whole):
    """Y, Cb, Cr of n pixels of ``step`` interleaved samples from band[src], level-shifted.

    Called with a literal step (4, 3 or another): g++ inlines the call and
    specializes the loop for that constant stride (7 to 9 fewer instructions
    per pixel). Every index is clamped (``_size``) here, not only in the
    callers, so that the loop compiles the same whether or not g++ inlines
    ``_colour`` into the exported functions: without the clamps, any change
    that grew the coding loop left ``_colour`` out of line with a
    wrap-around test per store and no vectorization (q100 4:4:4 74.8 to 121
    and 126 instructions per pixel, seen twice); with them, 74.3 and 76.5.
    ``whole`` rounds the components to whole values: truncation of positive sums.

    Where Cb lies exactly halfway (R = G, B - R odd: yellow's Cb is 0.5)
    it is rounded up unless B is 0; Cr likewise (G = B, R - G odd) unless
    R is 0. Rounded down, the decoder's B (R) falls below 0 and is clamped
    to the exact 0: yellow decodes 255, 255, 0 instead of 255, 255, 1, as
    from Pillow, whose libjpeg rounds every tie down. Over all 65,536 tied
    colours (libjpeg's integer YCbCr to RGB) this is never further from the
    source than always up, and closer on 178. In float32, ``v + 256.5`` is a
    whole number exactly on the ties and at least 0.0011 from one on every
    other colour (4:4:4 all 16.7 million, 4:2:0 sums all 10^9, numpy), so
    ``v + (256.5 - 2**-15) + min(0.5 B, 2**-15)`` moves the ties with
    B = 0 down and nothing else (the added term is 0 or 2**-15 exactly).
    """
    yr = np.float32(0.299)
    yg = np.float32(0.587)
    yb = np.float32(0.114)
    ur = np.float32(-0.168735892)
    ug = np.float32(-0.331264108)
    ub = np.float32(0.5)
    vr = np.float32(0.5)
    vg = np.float32(-0.418687589)
    vb = np.float32(-0.081312411)
    shift = np.float32(128.0)
    half = np.float32(0.5)
    chroma_low = np.float32(256.499969482421875)  # 256.5 - 2**-15
    tie = np.float32(0.000030517578125)  # 2**-15
    i128 = np.int32(128)
    i256 = np.int32(256)
    src = _size(src)
    n = _size(n)
    o0 = _size(o0)
    o1 = _size(o1)
    o2 = _size(o2)
    if whole:
        for x in range(n):
            i = src + x * step
            red = np.float32(band[i])
            green = np.float32(band[i + 1])
            blue = np.float32(band[i + 2])
            S[o0 + x] = np.float32(np.int32(yr * red + yg * green + yb * blue + half) - i128)
            S[o1 + x] = np.float32(np.int32(ur * red + ug * green + ub * blue + chroma_low + min(ub * blue, tie)) - i256)
            S[o2 + x] = np.float32(np.int32(vr * red + vg * green + vb * blue + chroma_low + min(vr * red, tie)) - i256)
    else:
        for x in range(n):
            i = src + x * step
            red = np.float32(band[i])
            green = np.float32(band[i + 1])
            blue = np.float32(band[i + 2])
            S[o0 + x] = yr * red + yg * green + yb * blue - shift
            S[o1 + x] = ur * red + ug * green + ub * blue
            S[o2 + x] = vr * red + vg * green + vb * blue


def _ycc_packed(W, src, n, S, o0, o1, o2, whole):
    """``_ycc`` of n pixels of 4 bytes read as little-endian int32 words W[src:] (R in the low byte).

    One 32-bit load a pixel, split with shifts and masks: g++ vectorizes it
    in 32-bit lanes with no shuffles. The byte loop (``_ycc`` with step 4)
    deinterleaved 4 x 32 bytes with packs, permutes and two widenings a
    channel, and, reading 3 bytes of every 4, peeled its last vector
    iteration for the gap (a scalar tail of 32 pixels a row of 256).
    The same values and float arithmetic as ``_ycc``, hence the same bytes.
    Colour 9.5 to 5.9 instructions per pixel at q100 4:4:4 (callgrind,
    2048 x 256 mosaic crop; ``encode_strip`` 61.8 to 58.6, q90 4:4:4 38.9
    to 35.7; with ``_luma_packed`` and ``_chroma_sub_packed``, q90 4:2:0
    24.4 to 22.4 and q75 4:2:0 19.6 to 16.5). W may start at any address
    (a band at an odd offset): x86 vector loads of unknown alignment are
    unaligned ones (tests/test_engine.py encodes such a band).
    """
    yr = np.float32(0.299)
    yg = np.float32(0.587)
    yb = np.float32(0.114)
    ur = np.float32(-0.168735892)
    ug = np.float32(-0.331264108)
    ub = np.float32(0.5)
    vr = np.float32(0.5)
    vg = np.float32(-0.418687589)
    vb = np.float32(-0.081312411)
    shift = np.float32(128.0)
    half = np.float32(0.5)
    chroma_low = np.float32(256.499969482421875)  # 256.5 - 2**-15: see _ycc
    tie = np.float32(0.000030517578125)  # 2**-15
    i128 = np.int32(128)
    i256 = np.int32(256)
    byte = np.int32(255)
    src = _size(src)
    n = _size(n)
    o0 = _size(o0)
    o1 = _size(o1)
    o2 = _size(o2)
    if whole:
        for x in range(n):
            w = W[src + x]
            red = np.float32(w & byte)
            green = np.float32((w >> np.int32(8)) & byte)
            blue = np.float32((w >> np.int32(16)) & byte)
            S[o0 + x] = np.float32(np.int32(yr * red + yg * green + yb * blue + half) - i128)
            S[o1 + x] = np.float32(np.int32(ur * red + ug * green + ub * blue + chroma_low + min(ub * blue, tie)) - i256)
            S[o2 + x] = np.float32(np.int32(vr * red + vg * green + vb * blue + chroma_low + min(vr * red, tie)) - i256)
    else:
        for x in range(n):
            w = W[src + x]
            red = np.float32(w & byte)
            green = np.float32((w >> np.int32(8)) & byte)
            blue = np.float32((w >> np.int32(16)) & byte)
            S[o0 + x] = yr * red + yg * green + yb * blue - shift
            S[o1 + x] = ur * red + ug * green + ub * blue
            S[o2 + x] = vr * red + vg * green + vb * blue


def _unpack3(band, src, n, P, p0):
    """Pixels of 3 bytes from band[src:] as int32 words in P[p0:p0 + n] (R in the low byte), for ``_ycc_packed``.

    Four pixels of 3 bytes are three little-endian words, R0 G0 B0 R1 |
    G1 B1 R2 G2 | B2 R3 G3 B3: each of the four words is one or two of them
    shifted and masked. The first ``src % 4`` pixels (after them the words
    start on a pixel) and the last few are put together byte by byte. Then
    ``_ycc_packed`` reads P: the same values, hence the same bytes. The byte
    loop of ``_ycc`` with a stride of 3 deinterleaved with shuffles. RGB
    arrays (3-byte pixels: TIFF files, numpy arrays), q100 4:4:4, 93.9 to
    56.7 instructions per pixel in ``encode_strip``, q90 4:2:0 60.4 to 23.0,
    q75 4:2:0 53.8 to 17.1 (callgrind, RGB array of the 2048 x 256 mosaic
    crop, standalone x86-64-v3 build; RGBX from Pillow 54.5, 21.1, 15.2,
    unchanged). Converting in
    ``_ycc`` style straight from the words instead (eight copies of the
    arithmetic) made g++ stop inlining ``_chroma_sub_packed``: q75 4:2:0
    from RGBX 15.3 to 25.2.
    """
    src = _size(src)
    n = _size(n)
    p0 = _size(p0)
    head = min(src % 4, n)
    W = band.view(np.uint32)
    w = (src + 3 * head) // 4
    quads = (n - head) // 4
    low = np.uint32(0xFFFFFF)
    for q in range(quads):
        w0 = W[w + 3 * q]
        w1 = W[w + 3 * q + 1]
        w2 = W[w + 3 * q + 2]
        x = p0 + head + 4 * q
        P[x] = np.int32(w0 & low)
        P[x + 1] = np.int32((w0 >> np.uint32(24)) | ((w1 << np.uint32(8)) & low))
        P[x + 2] = np.int32((w1 >> np.uint32(16)) | ((w2 << np.uint32(16)) & low))
        P[x + 3] = np.int32(w2 >> np.uint32(8))
    for x in range(head):
        i = src + 3 * x
        P[p0 + x] = np.int32(band[i]) | (np.int32(band[i + 1]) << np.int32(8)) | (np.int32(band[i + 2]) << np.int32(16))
    for x in range(head + 4 * quads, n):
        i = src + 3 * x
        P[p0 + x] = np.int32(band[i]) | (np.int32(band[i + 1]) << np.int32(8)) | (np.int32(band[i + 2]) << np.int32(16))


def _luma_packed(W, src, n, S, o, whole, yr, yg, yb):
    """``_luma`` of n pixels of 4 bytes read as int32 words W[src:] (see ``_ycc_packed``)."""
    shift = np.float32(128.0)
    half = np.float32(0.5)
    i128 = np.int32(128)
    byte = np.int32(255)
    src = _size(src)
    n = _size(n)
    o = _size(o)
    if whole:
        for x in range(n):
            w = W[src + x]
            red = np.float32(w & byte)
            green = np.float32((w >> np.int32(8)) & byte)
            blue = np.float32((w >> np.int32(16)) & byte)
            S[o + x] = np.float32(np.int32(yr * red + yg * green + yb * blue + half) - i128)
    else:
        for x in range(n):
            w = W[src + x]
            red = np.float32(w & byte)
            green = np.float32((w >> np.int32(8)) & byte)
            blue = np.float32((w >> np.int32(16)) & byte)
            S[o + x] = yr * red + yg * green + yb * blue - shift


def _chroma_sub_packed(W, a, b, n2, S, ocb, ocr, whole):
    """``_chroma_sub`` of n2 pixel pairs of 4 bytes read as int32 words W[a:], W[b:].

    Sums of red, green and blue of words W[a + 2 x], W[a + 2 x + 1], W[b + 2 x] and
    W[b + 2 x + 1]: red and blue of the four pixels summed in the two 16-bit halves of one
    word (w & 0x00FF00FF; at most 4 x 255), green alone; the same sums as ``_chroma_sub``'s,
    hence the same bytes. Written out in each loop: as a function of their own (returning
    the three sums) they were left out of line, and the loops scalar, whenever code added
    elsewhere in ``_group_coefs`` changed g++'s inlining (a q90 4:2:0 save 1.6x to 1.7x
    its instructions, docs/fidelity.md, "Flat subsampled MCUs: runs of one colour").
    """
    quarter = np.float32(0.25)
    ur = np.float32(-0.168735892) * quarter
    ug = np.float32(-0.331264108) * quarter
    ub = np.float32(0.5) * quarter
    vr = np.float32(0.5) * quarter
    vg = np.float32(-0.418687589) * quarter
    vb = np.float32(-0.081312411) * quarter
    chroma_low = np.float32(256.499969482421875)  # 256.5 - 2**-15: see _ycc
    tie = np.float32(0.000030517578125)  # 2**-15
    i256 = np.int32(256)
    pair = np.int32(0x00FF00FF)
    low = np.int32(0xFFFF)
    byte = np.int32(255)
    eight = np.int32(8)
    a = _size(a)
    b = _size(b)
    n2 = _size(n2)
    ocb = _size(ocb)
    ocr = _size(ocr)
    if whole:  # the test outside the loops: inside, g++ left the rounded loop scalar
        for x in range(n2):
            w0 = W[a + 2 * x]
            w1 = W[a + 2 * x + 1]
            w2 = W[b + 2 * x]
            w3 = W[b + 2 * x + 1]
            rb = ((w0 & pair) + (w1 & pair)) + ((w2 & pair) + (w3 & pair))
            green = np.float32((((w0 >> eight) & byte) + ((w1 >> eight) & byte))
                               + (((w2 >> eight) & byte) + ((w3 >> eight) & byte)))
            red = np.float32(rb & low)
            blue = np.float32(rb >> np.int32(16))
            S[ocb + x] = np.float32(np.int32(ur * red + ug * green + ub * blue + chroma_low + min(ub * blue, tie)) - i256)
            S[ocr + x] = np.float32(np.int32(vr * red + vg * green + vb * blue + chroma_low + min(vr * red, tie)) - i256)
    else:
        for x in range(n2):
            w0 = W[a + 2 * x]
            w1 = W[a + 2 * x + 1]
            w2 = W[b + 2 * x]
            w3 = W[b + 2 * x + 1]
            rb = ((w0 & pair) + (w1 & pair)) + ((w2 & pair) + (w3 & pair))
            green = np.float32((((w0 >> eight) & byte) + ((w1 >> eight) & byte))
                               + (((w2 >> eight) & byte) + ((w3 >> eight) & byte)))
            red = np.float32(rb & low)
            blue = np.float32(rb >> np.int32(16))
            S[ocb + x] = ur * red + ug * green + ub * blue
            S[ocr + x] = vr * red + vg * green + vb * blue


def _little_endian(coefs):
    """True where the machine stores a word's low byte first (``_ycc_packed`` assumes it).

    Writes coefs[0] (scratch, written by the DCT later). A view of an array
    made here instead, not passed in, was freed twice by Pythran.
    """
    coefs[0] = np.int32(1)
    return coefs.view(np.uint8)[0] == 1


def _luma(band, src, step, n, S, o, whole, yr, yg, yb):
    """Y of n pixels of ``step`` interleaved samples from band[src] into S[o:], level-shifted.

    With BT.601's weights (0.299, 0.587, 0.114) as yr, yg, yb the same
    arithmetic as ``_ycc``'s Y, so the luma bytes do not change; used by
    ``_colour_sub``, which computes chroma once per pixel group (and passes
    other weights where Y takes up part of the chroma's error, ``_luma_weights``).
    """
    shift = np.float32(128.0)
    half = np.float32(0.5)
    i128 = np.int32(128)
    src = _size(src)
    n = _size(n)
    o = _size(o)
    if whole:
        for x in range(n):
            i = src + x * step
            red = np.float32(band[i])
            green = np.float32(band[i + 1])
            blue = np.float32(band[i + 2])
            S[o + x] = np.float32(np.int32(yr * red + yg * green + yb * blue + half) - i128)
    else:
        for x in range(n):
            i = src + x * step
            red = np.float32(band[i])
            green = np.float32(band[i + 1])
            blue = np.float32(band[i + 2])
            S[o + x] = yr * red + yg * green + yb * blue - shift


def _chroma_sub(band, a, b, step, n2, S, ocb, ocr, whole):
    """Cb, Cr of the averages of n2 pixel pairs of rows band[a] and band[b] (2 x 2 pixels).

    Chroma downsampling fused with colour conversion (4:2:0, and 4:2:2 with
    b = a): the conversion is linear, so the chroma of the averaged RGB is
    the average of the pixels' chroma (to float32 rounding), at a quarter of
    the work and without a second pass over chroma planes: colour and
    downsampling 9.1 to 8.0 instructions per pixel at q90 4:2:0 (callgrind,
    2048 x 256 mosaic crop; the whole kernel 27.4 to 26.0). The four samples
    of a channel are summed as integers; the coefficients carry the 1/4
    (exact in float32). With ``whole`` the averaged chroma is rounded. The
    bytes of 4:2:0 change slightly: on the 25 MP mosaic q90 4:2:0 +0.03 %
    size and -0.01 dB, q75 4:2:0 identical.
    """
    quarter = np.float32(0.25)
    ur = np.float32(-0.168735892) * quarter
    ug = np.float32(-0.331264108) * quarter
    ub = np.float32(0.5) * quarter
    vr = np.float32(0.5) * quarter
    vg = np.float32(-0.418687589) * quarter
    vb = np.float32(-0.081312411) * quarter
    chroma_low = np.float32(256.499969482421875)  # 256.5 - 2**-15: see _ycc
    tie = np.float32(0.000030517578125)  # 2**-15
    i256 = np.int32(256)
    a = _size(a)
    b = _size(b)
    n2 = _size(n2)
    ocb = _size(ocb)
    ocr = _size(ocr)
    if whole:
        for x in range(n2):
            i = a + 2 * x * step
            k = b + 2 * x * step
            red = np.float32((np.int32(band[i]) + np.int32(band[i + step]))
                             + (np.int32(band[k]) + np.int32(band[k + step])))
            green = np.float32((np.int32(band[i + 1]) + np.int32(band[i + step + 1]))
                               + (np.int32(band[k + 1]) + np.int32(band[k + step + 1])))
            blue = np.float32((np.int32(band[i + 2]) + np.int32(band[i + step + 2]))
                              + (np.int32(band[k + 2]) + np.int32(band[k + step + 2])))
            S[ocb + x] = np.float32(np.int32(ur * red + ug * green + ub * blue + chroma_low + min(ub * blue, tie)) - i256)
            S[ocr + x] = np.float32(np.int32(vr * red + vg * green + vb * blue + chroma_low + min(vr * red, tie)) - i256)
    else:
        for x in range(n2):
            i = a + 2 * x * step
            k = b + 2 * x * step
            red = np.float32((np.int32(band[i]) + np.int32(band[i + step]))
                             + (np.int32(band[k]) + np.int32(band[k + step])))
            green = np.float32((np.int32(band[i + 1]) + np.int32(band[i + step + 1]))
                               + (np.int32(band[k + 1]) + np.int32(band[k + step + 1])))
            blue = np.float32((np.int32(band[i + 2]) + np.int32(band[i + step + 2]))
                              + (np.int32(band[k + 2]) + np.int32(band[k + step + 2])))
            S[ocb + x] = ur * red + ug * green + ub * blue
            S[ocr + x] = vr * red + vg * green + vb * blue


def _colour_sub(band, row_bytes, rowidx, vs, width, channels, whole, x0, cw, used, S, dbase,
                packed, P, kr, kg, kb, luma_whole):
    """Y of columns x0..x0+used-1 into S[y][cw] (weights kr, kg, kb of R, G and B:
    ``_luma``; rounded where ``luma_whole``); Cb, Cr averaged over 2 x vs pixels
    into 8 rows of cw // 2 at S[dbase:] (Cb) and S[dbase + 4 cw:] (Cr), rounded
    where ``whole``, the first used // 2 of each.

    ``used``: the columns of the group's MCUs (``_group_coefs``' gm of them), which the
    later stages read; past the image's edge they repeat its last column.
    P: int32 scratch of at least 2 cw items (pixels of 3 bytes, ``_unpack3``).
    """
    row_bytes = _size(row_bytes)
    channels = _size(channels)
    cw = _size(cw)
    x0 = _size(x0)
    dbase = _size(dbase)
    used = _size(used)
    n = _size(min(used, width - x0))
    n2 = n // 2
    dw = cw // 2
    uw = used // 2
    for y in range(8):
        a = _size(rowidx[vs * y]) * row_bytes + x0 * channels
        b = _size(rowidx[vs * y + vs - 1]) * row_bytes + x0 * channels
        ya = vs * y * cw
        yb = (vs * y + vs - 1) * cw
        ocb = dbase + y * dw
        ocr = ocb + 8 * dw
        if packed:  # one call of each packed function for 4 and 3 bytes a pixel:
            # a second call site (with P) left both out of line, unvectorized
            # (RGB q75 4:2:0 27.0 instructions per pixel, this way 17.1)
            if channels == 3:
                _unpack3(band, a, n, P, 0)
                _unpack3(band, b, n, P, cw)
                W = P.view(np.int32)
                wa = 0
                wb = cw
            else:
                W = band.view(np.int32)
                wa = a // 4
                wb = b // 4
            _luma_packed(W, wa, n, S, ya, luma_whole, kr, kg, kb)
            if vs == 2:
                _luma_packed(W, wb, n, S, yb, luma_whole, kr, kg, kb)
            _chroma_sub_packed(W, wa, wb, n2, S, ocb, ocr, whole)
        elif channels == 4:
            _luma(band, a, 4, n, S, ya, luma_whole, kr, kg, kb)
            if vs == 2:
                _luma(band, b, 4, n, S, yb, luma_whole, kr, kg, kb)
            _chroma_sub(band, a, b, 4, n2, S, ocb, ocr, whole)
        elif channels == 3:
            _luma(band, a, 3, n, S, ya, luma_whole, kr, kg, kb)
            if vs == 2:
                _luma(band, b, 3, n, S, yb, luma_whole, kr, kg, kb)
            _chroma_sub(band, a, b, 3, n2, S, ocb, ocr, whole)
        else:
            _luma(band, a, channels, n, S, ya, luma_whole, kr, kg, kb)
            if vs == 2:
                _luma(band, b, channels, n, S, yb, luma_whole, kr, kg, kb)
            _chroma_sub(band, a, b, channels, n2, S, ocb, ocr, whole)
        if n < used:  # columns past the image repeat the last one (paired with itself)
            last = (n - 1) * channels
            _chroma_sub(band, a + last, b + last, 0, 1, S, ocb + n2, ocr + n2, whole)
            for x in range(n, used):
                S[ya + x] = S[ya + n - 1]
                S[yb + x] = S[yb + n - 1]
            for x in range(n2 + 1, uw):
                S[ocb + x] = S[ocb + n2]
                S[ocr + x] = S[ocr + n2]


def _plain(band, src, step, n, S, o):
    """Level-shifted samples of n pixels of ``step`` interleaved samples from band[src]."""
    shift = np.float32(128.0)
    src = _size(src)
    n = _size(n)
    o = _size(o)
    for x in range(n):
        S[o + x] = np.float32(band[src + x * step]) - shift


def _colour(band, row_bytes, rowidx, rows, width, channels, ncomp, convert,
            x0, cw, used, S, packed, P):
    """Level-shifted components of columns x0..x0+used-1 into planes S[c][y][cw].

    ``used``: the columns of the group's MCUs, which the later stages read
    (``_group_coefs``; ``_downsample`` too); past the image's edge they repeat
    its last column. Until 2026-12-03 every group filled all cw columns: a
    strip of 4 MCUs in a group of 32 spent about 1.5 us repeating its edge
    pixel into the 28 others.
    P: int32 scratch of at least cw items (pixels of 3 bytes, ``_unpack3``).
    """
    row_bytes = _size(row_bytes)
    rows = _size(rows)
    channels = _size(channels)
    cw = _size(cw)
    x0 = _size(x0)
    used = _size(used)
    n = _size(min(used, width - x0))
    plane = rows * cw
    for y in range(rows):
        src = _size(rowidx[y]) * row_bytes + x0 * channels
        o0 = y * cw
        if convert:
            whole = convert >= 2
            if packed:  # one call site, as in ``_colour_sub``
                if channels == 3:
                    _unpack3(band, src, n, P, 0)
                    W = P.view(np.int32)
                    w = 0
                else:
                    W = band.view(np.int32)
                    w = src // 4
                _ycc_packed(W, w, n, S, o0, o0 + plane, o0 + 2 * plane, whole)
            elif channels == 4:
                _ycc(band, src, 4, n, S, o0, o0 + plane, o0 + 2 * plane, whole)
            elif channels == 3:
                _ycc(band, src, 3, n, S, o0, o0 + plane, o0 + 2 * plane, whole)
            else:
                _ycc(band, src, channels, n, S, o0, o0 + plane, o0 + 2 * plane, whole)
        elif channels == 1:
            _plain(band, src, 1, n, S, o0)
        else:
            for c in range(ncomp):
                _plain(band, src + c, channels, n, S, c * plane + o0)
        for c in range(ncomp):  # columns past the image repeat the last one
            so = c * plane + o0
            last = S[so + n - 1]
            for x in range(n, used):
                S[so + x] = last


def _downsample(S, plane, cw, used, hs, vs, dbase, c, whole):
    """Box-filter average of the first ``used`` columns of plane c of S into 8 rows of cw // hs at S[dbase + ...].

    ``whole`` (``convert`` 4: the pixels' samples are whole values, and every
    chroma quantizer is 1): the average is
    rounded as libjpeg's downsampling rounds it (jcsample.c), (sum + bias) >>
    2 with a bias of 1 and 2 in turn along the row (h2v2), (sum + bias) >> 1
    with 0 and 1 (h2v1), (sum + 1) >> 1 (two rows): at quality 100 (every
    quantizer 1) whole samples pass the DCT almost losslessly, and the
    decoder's upsampling then starts from libjpeg's samples, where the
    unrounded average came out of it rounded again by the IDCT (0.44 dB behind
    Pillow on immunohistochemistry at 4:2:0; with coarser quantizers, q95 to
    q99, rounding lost up to 0.13 dB: docs/fidelity.md, "Subsampled chroma at
    quality 100 rounded as libjpeg rounds it"). The group's first column is
    even (8 chroma columns an MCU), so x's parity is the image's.
    """
    plane = _size(plane)
    cw = _size(cw)
    dbase = _size(dbase)
    dw = _size(cw // hs)
    uw = _size(used // hs)  # the chroma columns the DCT reads
    quarter = np.float32(0.25)
    half = np.float32(0.5)
    one = np.float32(1.0)
    for y in range(8):
        a = _size(c * plane + (vs * y) * cw)
        b = _size(c * plane + (vs * y + vs - 1) * cw)
        o = _size(dbase + (c - 1) * 8 * dw + y * dw)
        if whole:
            # level-shifted whole values: the sums and the floors are exact in float32
            if hs == 2 and vs == 2:
                for x in range(uw):
                    bias = np.float32(1 + (x & 1))
                    S[o + x] = np.floor((((S[a + 2 * x] + S[a + 2 * x + 1]) + (S[b + 2 * x] + S[b + 2 * x + 1]))
                                         + bias) * quarter)
            elif hs == 2:
                for x in range(uw):
                    bias = np.float32(x & 1)
                    S[o + x] = np.floor(((S[a + 2 * x] + S[a + 2 * x + 1]) + bias) * half)
            else:
                for x in range(uw):
                    S[o + x] = np.floor(((S[a + x] + S[b + x]) + one) * half)
        elif hs == 2 and vs == 2:
            for x in range(uw):
                S[o + x] = ((S[a + 2 * x] + S[a + 2 * x + 1]) + (S[b + 2 * x] + S[b + 2 * x + 1])) * quarter
        elif hs == 2:
            for x in range(uw):
                S[o + x] = (S[a + 2 * x] + S[a + 2 * x + 1]) * half
        else:
            for x in range(uw):
                S[o + x] = (S[a + x] + S[b + x]) * half


def _row_dct(P, p0, rows, pw, used, X, nb, j0, bstride):
    """``_row_pass`` with a literal nb for grey, and 4:4:4 and 4:2:0 of three components (groups of 32).

    Both DCT passes store to 8 rows of a buffer, nb apart: with nb a
    literal, g++ knows these rows do not overlap and drops the run-time
    overlap checks it made before each vectorized loop (36 pairs for every
    8 samples of a row of blocks in this pass; the two passes 19.5 to 12.8
    instructions per pixel at 4:4:4, measured alone). g++ keeps the row
    pass out of line, so a literal argument would not reach its loops:
    ``_row_pass32``, ``_row_pass96`` and ``_row_pass192`` are copies with nb set
    inside. Grey's (nb 32, groups of 32 blocks) since 2026-12-04: callgrind
    (x86-64-v3, q100, docs/performance.md, "Grey's DCT with a literal nb"): issue
    15's 1024 x 768 ramp 12.16 -> 10.75 M instructions a save, a 1024 x 1024
    vignette 14.99 -> 13.16 M, camera and moon side by side 15.9 -> 15.0 M.
    """
    if nb == 32:
        _row_pass32(P, p0, rows, pw, used, X, j0, bstride)
    elif nb == 96:
        _row_pass96(P, p0, rows, pw, used, X, j0, bstride)
    elif nb == 192:
        _row_pass192(P, p0, rows, pw, used, X, j0, bstride)
    else:
        _row_pass(P, p0, rows, pw, used, X, nb, j0, bstride)


def _row_pass(P, p0, rows, pw, used, X, nb, j0, bstride):
    """Row pass of the DCT of plane P[p0:] (rows x pw, first ``used`` columns).

    Block (y // 8, b) of the plane is block j = j0 + (y // 8) * bstride + b;
    the output for frequency u of its row y % 8 goes to X[(8 (y % 8) + u) nb + j].
    """
    p0 = _size(p0)
    rows = _size(rows)
    pw = _size(pw)
    nb = _size(nb)
    j0 = _size(j0)
    bstride = _size(bstride)
    bpr = _size(used // 8)
    c707 = np.float32(0.707106781)
    c382 = np.float32(0.382683433)
    c541 = np.float32(0.541196100)
    c1306 = np.float32(1.306562965)
    for y in range(rows):
        s = p0 + y * pw
        d0 = (y % 8) * 8 * nb + j0 + (y // 8) * bstride
        d1 = d0 + nb
        d2 = d1 + nb
        d3 = d2 + nb
        d4 = d3 + nb
        d5 = d4 + nb
        d6 = d5 + nb
        d7 = d6 + nb
        for b in range(bpr):
            i = s + 8 * b
            x0 = P[i]
            x1 = P[i + 1]
            x2 = P[i + 2]
            x3 = P[i + 3]
            x4 = P[i + 4]
            x5 = P[i + 5]
            x6 = P[i + 6]
            x7 = P[i + 7]
            tmp0 = x0 + x7
            tmp7 = x0 - x7
            tmp1 = x1 + x6
            tmp6 = x1 - x6
            tmp2 = x2 + x5
            tmp5 = x2 - x5
            tmp3 = x3 + x4
            tmp4 = x3 - x4
            tmp10 = tmp0 + tmp3
            tmp13 = tmp0 - tmp3
            tmp11 = tmp1 + tmp2
            tmp12 = tmp1 - tmp2
            z1 = (tmp12 + tmp13) * c707
            odd10 = tmp4 + tmp5
            odd11 = tmp5 + tmp6
            odd12 = tmp6 + tmp7
            z5 = (odd10 - odd12) * c382
            z2 = c541 * odd10 + z5
            z4 = c1306 * odd12 + z5
            z3 = odd11 * c707
            z11 = tmp7 + z3
            z13 = tmp7 - z3
            X[d0 + b] = tmp10 + tmp11
            X[d4 + b] = tmp10 - tmp11
            X[d2 + b] = tmp13 + z1
            X[d6 + b] = tmp13 - z1
            X[d5 + b] = z13 + z2
            X[d3 + b] = z13 - z2
            X[d1 + b] = z11 + z4
            X[d7 + b] = z11 - z4


def _row_pass32(P, p0, rows, pw, used, X, j0, bstride):
    """``_row_pass`` for nb 32 (grey, and any one component, in groups of 32), nb a literal here."""
    p0 = _size(p0)
    rows = _size(rows)
    pw = _size(pw)
    nb = 32
    j0 = _size(j0)
    bstride = _size(bstride)
    bpr = _size(used // 8)
    c707 = np.float32(0.707106781)
    c382 = np.float32(0.382683433)
    c541 = np.float32(0.541196100)
    c1306 = np.float32(1.306562965)
    for y in range(rows):
        s = p0 + y * pw
        d0 = (y % 8) * 8 * nb + j0 + (y // 8) * bstride
        d1 = d0 + nb
        d2 = d1 + nb
        d3 = d2 + nb
        d4 = d3 + nb
        d5 = d4 + nb
        d6 = d5 + nb
        d7 = d6 + nb
        for b in range(bpr):
            i = s + 8 * b
            x0 = P[i]
            x1 = P[i + 1]
            x2 = P[i + 2]
            x3 = P[i + 3]
            x4 = P[i + 4]
            x5 = P[i + 5]
            x6 = P[i + 6]
            x7 = P[i + 7]
            tmp0 = x0 + x7
            tmp7 = x0 - x7
            tmp1 = x1 + x6
            tmp6 = x1 - x6
            tmp2 = x2 + x5
            tmp5 = x2 - x5
            tmp3 = x3 + x4
            tmp4 = x3 - x4
            tmp10 = tmp0 + tmp3
            tmp13 = tmp0 - tmp3
            tmp11 = tmp1 + tmp2
            tmp12 = tmp1 - tmp2
            z1 = (tmp12 + tmp13) * c707
            odd10 = tmp4 + tmp5
            odd11 = tmp5 + tmp6
            odd12 = tmp6 + tmp7
            z5 = (odd10 - odd12) * c382
            z2 = c541 * odd10 + z5
            z4 = c1306 * odd12 + z5
            z3 = odd11 * c707
            z11 = tmp7 + z3
            z13 = tmp7 - z3
            X[d0 + b] = tmp10 + tmp11
            X[d4 + b] = tmp10 - tmp11
            X[d2 + b] = tmp13 + z1
            X[d6 + b] = tmp13 - z1
            X[d5 + b] = z13 + z2
            X[d3 + b] = z13 - z2
            X[d1 + b] = z11 + z4
            X[d7 + b] = z11 - z4


def _row_pass96(P, p0, rows, pw, used, X, j0, bstride):
    """``_row_pass`` for nb 96 (4:4:4 of three components, groups of 32), nb a literal here."""
    p0 = _size(p0)
    rows = _size(rows)
    pw = _size(pw)
    nb = 96
    j0 = _size(j0)
    bstride = _size(bstride)
    bpr = _size(used // 8)
    c707 = np.float32(0.707106781)
    c382 = np.float32(0.382683433)
    c541 = np.float32(0.541196100)
    c1306 = np.float32(1.306562965)
    for y in range(rows):
        s = p0 + y * pw
        d0 = (y % 8) * 8 * nb + j0 + (y // 8) * bstride
        d1 = d0 + nb
        d2 = d1 + nb
        d3 = d2 + nb
        d4 = d3 + nb
        d5 = d4 + nb
        d6 = d5 + nb
        d7 = d6 + nb
        for b in range(bpr):
            i = s + 8 * b
            x0 = P[i]
            x1 = P[i + 1]
            x2 = P[i + 2]
            x3 = P[i + 3]
            x4 = P[i + 4]
            x5 = P[i + 5]
            x6 = P[i + 6]
            x7 = P[i + 7]
            tmp0 = x0 + x7
            tmp7 = x0 - x7
            tmp1 = x1 + x6
            tmp6 = x1 - x6
            tmp2 = x2 + x5
            tmp5 = x2 - x5
            tmp3 = x3 + x4
            tmp4 = x3 - x4
            tmp10 = tmp0 + tmp3
            tmp13 = tmp0 - tmp3
            tmp11 = tmp1 + tmp2
            tmp12 = tmp1 - tmp2
            z1 = (tmp12 + tmp13) * c707
            odd10 = tmp4 + tmp5
            odd11 = tmp5 + tmp6
            odd12 = tmp6 + tmp7
            z5 = (odd10 - odd12) * c382
            z2 = c541 * odd10 + z5
            z4 = c1306 * odd12 + z5
            z3 = odd11 * c707
            z11 = tmp7 + z3
            z13 = tmp7 - z3
            X[d0 + b] = tmp10 + tmp11
            X[d4 + b] = tmp10 - tmp11
            X[d2 + b] = tmp13 + z1
            X[d6 + b] = tmp13 - z1
            X[d5 + b] = z13 + z2
            X[d3 + b] = z13 - z2
            X[d1 + b] = z11 + z4
            X[d7 + b] = z11 - z4


def _row_pass192(P, p0, rows, pw, used, X, j0, bstride):
    """``_row_pass`` for nb 192 (4:2:0 of three components, groups of 32), nb a literal here."""
    p0 = _size(p0)
    rows = _size(rows)
    pw = _size(pw)
    nb = 192
    j0 = _size(j0)
    bstride = _size(bstride)
    bpr = _size(used // 8)
    c707 = np.float32(0.707106781)
    c382 = np.float32(0.382683433)
    c541 = np.float32(0.541196100)
    c1306 = np.float32(1.306562965)
    for y in range(rows):
        s = p0 + y * pw
        d0 = (y % 8) * 8 * nb + j0 + (y // 8) * bstride
        d1 = d0 + nb
        d2 = d1 + nb
        d3 = d2 + nb
        d4 = d3 + nb
        d5 = d4 + nb
        d6 = d5 + nb
        d7 = d6 + nb
        for b in range(bpr):
            i = s + 8 * b
            x0 = P[i]
            x1 = P[i + 1]
            x2 = P[i + 2]
            x3 = P[i + 3]
            x4 = P[i + 4]
            x5 = P[i + 5]
            x6 = P[i + 6]
            x7 = P[i + 7]
            tmp0 = x0 + x7
            tmp7 = x0 - x7
            tmp1 = x1 + x6
            tmp6 = x1 - x6
            tmp2 = x2 + x5
            tmp5 = x2 - x5
            tmp3 = x3 + x4
            tmp4 = x3 - x4
            tmp10 = tmp0 + tmp3
            tmp13 = tmp0 - tmp3
            tmp11 = tmp1 + tmp2
            tmp12 = tmp1 - tmp2
            z1 = (tmp12 + tmp13) * c707
            odd10 = tmp4 + tmp5
            odd11 = tmp5 + tmp6
            odd12 = tmp6 + tmp7
            z5 = (odd10 - odd12) * c382
            z2 = c541 * odd10 + z5
            z4 = c1306 * odd12 + z5
            z3 = odd11 * c707
            z11 = tmp7 + z3
            z13 = tmp7 - z3
            X[d0 + b] = tmp10 + tmp11
            X[d4 + b] = tmp10 - tmp11
            X[d2 + b] = tmp13 + z1
            X[d6 + b] = tmp13 - z1
            X[d5 + b] = z13 + z2
            X[d3 + b] = z13 - z2
            X[d1 + b] = z11 + z4
            X[d7 + b] = z11 - z4


def _column_dct(X, nb, j0, j1, recip, t, Q):
    """``_column_pass`` with a literal nb (see ``_row_dct``).

    As with the row pass, g++ keeps ``_column_pass`` out of line, and a
    literal argument did not reach its loop: it checked the overlap of
    every pair of its 16 rows before each u (a vector loop of 4 iterations
    for 32 blocks). ``_column_pass96`` and ``_column_pass192`` are copies
    with nb set inside: the pass 7.6 to 5.5 instructions per pixel at q100
    4:4:4 (``encode_strip`` 58.6 to 56.7; q90 4:4:4 35.7 to 33.8, q90
    4:2:0 22.4 to 21.7, q75 4:2:0 16.5 to 15.8).
    """
    if nb == 32:
        _column_pass32(X, j0, j1, recip, t, Q)
    elif nb == 96:
        _column_pass96(X, j0, j1, recip, t, Q)
    elif nb == 192:
        _column_pass192(X, j0, j1, recip, t, Q)
    else:
        _column_pass(X, nb, j0, j1, recip, t, Q)


def _column_pass(X, nb, j0, j1, recip, t, Q):
    """Column pass of the DCT of blocks j0..j1-1 of X, quantized into Q[8 v + u][j] (natural order).

    Rounding to nearest is a truncation after an offset that makes every
    value positive; no clamping is needed, as 8-bit samples give
    coefficients of at most 1024 in magnitude.

    The butterfly is written out here and in ``_row_dct`` on purpose: one
    helper returning the 8 outputs, called from both, kept g++ from
    vectorizing three of these loops (measured 18 % slower at quality 100,
    24 % at 90).
    """
    nb = _size(nb)
    j0 = _size(j0)
    j1 = _size(j1)
    tb = 64 * _size(t)
    c707 = np.float32(0.707106781)
    c382 = np.float32(0.382683433)
    c541 = np.float32(0.541196100)
    c1306 = np.float32(1.306562965)
    bias = np.float32(16384.5)
    i16384 = np.int32(16384)
    for u in range(8):
        r0 = recip[tb + u]
        r1 = recip[tb + 8 + u]
        r2 = recip[tb + 16 + u]
        r3 = recip[tb + 24 + u]
        r4 = recip[tb + 32 + u]
        r5 = recip[tb + 40 + u]
        r6 = recip[tb + 48 + u]
        r7 = recip[tb + 56 + u]
        i0 = u * nb
        i1 = (8 + u) * nb
        i2 = (16 + u) * nb
        i3 = (24 + u) * nb
        i4 = (32 + u) * nb
        i5 = (40 + u) * nb
        i6 = (48 + u) * nb
        i7 = (56 + u) * nb
        for j in range(j0, j1):
            x0 = X[i0 + j]
            x1 = X[i1 + j]
            x2 = X[i2 + j]
            x3 = X[i3 + j]
            x4 = X[i4 + j]
            x5 = X[i5 + j]
            x6 = X[i6 + j]
            x7 = X[i7 + j]
            tmp0 = x0 + x7
            tmp7 = x0 - x7
            tmp1 = x1 + x6
            tmp6 = x1 - x6
            tmp2 = x2 + x5
            tmp5 = x2 - x5
            tmp3 = x3 + x4
            tmp4 = x3 - x4
            tmp10 = tmp0 + tmp3
            tmp13 = tmp0 - tmp3
            tmp11 = tmp1 + tmp2
            tmp12 = tmp1 - tmp2
            z1 = (tmp12 + tmp13) * c707
            odd10 = tmp4 + tmp5
            odd11 = tmp5 + tmp6
            odd12 = tmp6 + tmp7
            z5 = (odd10 - odd12) * c382
            z2 = c541 * odd10 + z5
            z4 = c1306 * odd12 + z5
            z3 = odd11 * c707
            z11 = tmp7 + z3
            z13 = tmp7 - z3
            Q[i0 + j] = np.int32((tmp10 + tmp11) * r0 + bias) - i16384
            Q[i4 + j] = np.int32((tmp10 - tmp11) * r4 + bias) - i16384
            Q[i2 + j] = np.int32((tmp13 + z1) * r2 + bias) - i16384
            Q[i6 + j] = np.int32((tmp13 - z1) * r6 + bias) - i16384
            Q[i5 + j] = np.int32((z13 + z2) * r5 + bias) - i16384
            Q[i3 + j] = np.int32((z13 - z2) * r3 + bias) - i16384
            Q[i1 + j] = np.int32((z11 + z4) * r1 + bias) - i16384
            Q[i7 + j] = np.int32((z11 - z4) * r7 + bias) - i16384


def _column_pass32(X, j0, j1, recip, t, Q):
    """``_column_pass`` for nb 32 (grey, and any one component, in groups of 32), nb a literal here."""
    nb = 32
    j0 = _size(j0)
    j1 = _size(j1)
    tb = 64 * _size(t)
    c707 = np.float32(0.707106781)
    c382 = np.float32(0.382683433)
    c541 = np.float32(0.541196100)
    c1306 = np.float32(1.306562965)
    bias = np.float32(16384.5)
    i16384 = np.int32(16384)
    for u in range(8):
        r0 = recip[tb + u]
        r1 = recip[tb + 8 + u]
        r2 = recip[tb + 16 + u]
        r3 = recip[tb + 24 + u]
        r4 = recip[tb + 32 + u]
        r5 = recip[tb + 40 + u]
        r6 = recip[tb + 48 + u]
        r7 = recip[tb + 56 + u]
        i0 = u * nb
        i1 = (8 + u) * nb
        i2 = (16 + u) * nb
        i3 = (24 + u) * nb
        i4 = (32 + u) * nb
        i5 = (40 + u) * nb
        i6 = (48 + u) * nb
        i7 = (56 + u) * nb
        for j in range(j0, j1):
            x0 = X[i0 + j]
            x1 = X[i1 + j]
            x2 = X[i2 + j]
            x3 = X[i3 + j]
            x4 = X[i4 + j]
            x5 = X[i5 + j]
            x6 = X[i6 + j]
            x7 = X[i7 + j]
            tmp0 = x0 + x7
            tmp7 = x0 - x7
            tmp1 = x1 + x6
            tmp6 = x1 - x6
            tmp2 = x2 + x5
            tmp5 = x2 - x5
            tmp3 = x3 + x4
            tmp4 = x3 - x4
            tmp10 = tmp0 + tmp3
            tmp13 = tmp0 - tmp3
            tmp11 = tmp1 + tmp2
            tmp12 = tmp1 - tmp2
            z1 = (tmp12 + tmp13) * c707
            odd10 = tmp4 + tmp5
            odd11 = tmp5 + tmp6
            odd12 = tmp6 + tmp7
            z5 = (odd10 - odd12) * c382
            z2 = c541 * odd10 + z5
            z4 = c1306 * odd12 + z5
            z3 = odd11 * c707
            z11 = tmp7 + z3
            z13 = tmp7 - z3
            Q[i0 + j] = np.int32((tmp10 + tmp11) * r0 + bias) - i16384
            Q[i4 + j] = np.int32((tmp10 - tmp11) * r4 + bias) - i16384
            Q[i2 + j] = np.int32((tmp13 + z1) * r2 + bias) - i16384
            Q[i6 + j] = np.int32((tmp13 - z1) * r6 + bias) - i16384
            Q[i5 + j] = np.int32((z13 + z2) * r5 + bias) - i16384
            Q[i3 + j] = np.int32((z13 - z2) * r3 + bias) - i16384
            Q[i1 + j] = np.int32((z11 + z4) * r1 + bias) - i16384
            Q[i7 + j] = np.int32((z11 - z4) * r7 + bias) - i16384


def _column_pass96(X, j0, j1, recip, t, Q):
    """``_column_pass`` for nb 96 (4:4:4 of three components, groups of 32), nb a literal here."""
    nb = 96
    j0 = _size(j0)
    j1 = _size(j1)
    tb = 64 * _size(t)
    c707 = np.float32(0.707106781)
    c382 = np.float32(0.382683433)
    c541 = np.float32(0.541196100)
    c1306 = np.float32(1.306562965)
    bias = np.float32(16384.5)
    i16384 = np.int32(16384)
    for u in range(8):
        r0 = recip[tb + u]
        r1 = recip[tb + 8 + u]
        r2 = recip[tb + 16 + u]
        r3 = recip[tb + 24 + u]
        r4 = recip[tb + 32 + u]
        r5 = recip[tb + 40 + u]
        r6 = recip[tb + 48 + u]
        r7 = recip[tb + 56 + u]
        i0 = u * nb
        i1 = (8 + u) * nb
        i2 = (16 + u) * nb
        i3 = (24 + u) * nb
        i4 = (32 + u) * nb
        i5 = (40 + u) * nb
        i6 = (48 + u) * nb
        i7 = (56 + u) * nb
        for j in range(j0, j1):
            x0 = X[i0 + j]
            x1 = X[i1 + j]
            x2 = X[i2 + j]
            x3 = X[i3 + j]
            x4 = X[i4 + j]
            x5 = X[i5 + j]
            x6 = X[i6 + j]
            x7 = X[i7 + j]
            tmp0 = x0 + x7
            tmp7 = x0 - x7
            tmp1 = x1 + x6
            tmp6 = x1 - x6
            tmp2 = x2 + x5
            tmp5 = x2 - x5
            tmp3 = x3 + x4
            tmp4 = x3 - x4
            tmp10 = tmp0 + tmp3
            tmp13 = tmp0 - tmp3
            tmp11 = tmp1 + tmp2
            tmp12 = tmp1 - tmp2
            z1 = (tmp12 + tmp13) * c707
            odd10 = tmp4 + tmp5
            odd11 = tmp5 + tmp6
            odd12 = tmp6 + tmp7
            z5 = (odd10 - odd12) * c382
            z2 = c541 * odd10 + z5
            z4 = c1306 * odd12 + z5
            z3 = odd11 * c707
            z11 = tmp7 + z3
            z13 = tmp7 - z3
            Q[i0 + j] = np.int32((tmp10 + tmp11) * r0 + bias) - i16384
            Q[i4 + j] = np.int32((tmp10 - tmp11) * r4 + bias) - i16384
            Q[i2 + j] = np.int32((tmp13 + z1) * r2 + bias) - i16384
            Q[i6 + j] = np.int32((tmp13 - z1) * r6 + bias) - i16384
            Q[i5 + j] = np.int32((z13 + z2) * r5 + bias) - i16384
            Q[i3 + j] = np.int32((z13 - z2) * r3 + bias) - i16384
            Q[i1 + j] = np.int32((z11 + z4) * r1 + bias) - i16384
            Q[i7 + j] = np.int32((z11 - z4) * r7 + bias) - i16384


def _column_pass192(X, j0, j1, recip, t, Q):
    """``_column_pass`` for nb 192 (4:2:0 of three components, groups of 32), nb a literal here."""
    nb = 192
    j0 = _size(j0)
    j1 = _size(j1)
    tb = 64 * _size(t)
    c707 = np.float32(0.707106781)
    c382 = np.float32(0.382683433)
    c541 = np.float32(0.541196100)
    c1306 = np.float32(1.306562965)
    bias = np.float32(16384.5)
    i16384 = np.int32(16384)
    for u in range(8):
        r0 = recip[tb + u]
        r1 = recip[tb + 8 + u]
        r2 = recip[tb + 16 + u]
        r3 = recip[tb + 24 + u]
        r4 = recip[tb + 32 + u]
        r5 = recip[tb + 40 + u]
        r6 = recip[tb + 48 + u]
        r7 = recip[tb + 56 + u]
        i0 = u * nb
        i1 = (8 + u) * nb
        i2 = (16 + u) * nb
        i3 = (24 + u) * nb
        i4 = (32 + u) * nb
        i5 = (40 + u) * nb
        i6 = (48 + u) * nb
        i7 = (56 + u) * nb
        for j in range(j0, j1):
            x0 = X[i0 + j]
            x1 = X[i1 + j]
            x2 = X[i2 + j]
            x3 = X[i3 + j]
            x4 = X[i4 + j]
            x5 = X[i5 + j]
            x6 = X[i6 + j]
            x7 = X[i7 + j]
            tmp0 = x0 + x7
            tmp7 = x0 - x7
            tmp1 = x1 + x6
            tmp6 = x1 - x6
            tmp2 = x2 + x5
            tmp5 = x2 - x5
            tmp3 = x3 + x4
            tmp4 = x3 - x4
            tmp10 = tmp0 + tmp3
            tmp13 = tmp0 - tmp3
            tmp11 = tmp1 + tmp2
            tmp12 = tmp1 - tmp2
            z1 = (tmp12 + tmp13) * c707
            odd10 = tmp4 + tmp5
            odd11 = tmp5 + tmp6
            odd12 = tmp6 + tmp7
            z5 = (odd10 - odd12) * c382
            z2 = c541 * odd10 + z5
            z4 = c1306 * odd12 + z5
            z3 = odd11 * c707
            z11 = tmp7 + z3
            z13 = tmp7 - z3
            Q[i0 + j] = np.int32((tmp10 + tmp11) * r0 + bias) - i16384
            Q[i4 + j] = np.int32((tmp10 - tmp11) * r4 + bias) - i16384
            Q[i2 + j] = np.int32((tmp13 + z1) * r2 + bias) - i16384
            Q[i6 + j] = np.int32((tmp13 - z1) * r6 + bias) - i16384
            Q[i5 + j] = np.int32((z13 + z2) * r5 + bias) - i16384
            Q[i3 + j] = np.int32((z13 - z2) * r3 + bias) - i16384
            Q[i1 + j] = np.int32((z11 + z4) * r1 + bias) - i16384
            Q[i7 + j] = np.int32((z11 - z4) * r7 + bias) - i16384


def _group_coefs(band, row_bytes, rowidx, width, channels, ncomp, convert, hs, vs,
                 comp_table, recip, joint, group, m0, gm, samples, dct, coefs, packed):
    """Quantized coefficients of MCUs m0..m0+gm-1 of the strip, into coefs.

    Block j of the group: component 0's blocks by rows of group * hs (vs
    rows), then each other component's group blocks.
    """
    rows = 8 * vs
    mw = 8 * hs
    cw = group * mw
    plane = rows * cw
    nb = group * (hs * vs + ncomp - 1)
    yb = group * hs
    chroma = ncomp * plane
    # fused chroma for float samples and convert 3 only: rounded after
    # averaging at q100 (convert 2 and 4) it made 4:2:0 files 2.5 % bigger
    # (docs/performance.md)
    fused = (convert == 1 or convert == 3) and hs == 2
    # luma corrected for the decoded chroma (``_luma_fix``): the chroma is coded first,
    # Y converted with weights that add the pixel's own share of Z (``_luma_weights``)
    fix = joint.shape[0] > 0 and ncomp == 3 and fused
    if fix and not _luma_gate(band, row_bytes, rowidx, width, channels, m0 * mw, gm * mw, joint):
        # gated, and too little chroma detail in the group for the correction: converted as
        # without it (rounded samples: chroma averaged from the rounded pixels, ``convert``
        # 2; float ones averaged, 1)
        fix = False
        fused = False
        if convert == 3:
            convert = 2
    kr, kg, kb = _luma_weights(joint, fix)
    if fused:
        # Y corrected in floating point (rounding it, then correcting: retina q90 4:2:0
        # 0.17 dB behind Pillow instead of 0.13 ahead); chroma rounded as before
        _colour_sub(band, row_bytes, rowidx, vs, width, channels, convert == 3,
                    m0 * mw, cw, gm * mw, samples, chroma, packed,
                    coefs,  # coefs: written by the DCT later
                    kr, kg, kb, convert == 3 and not fix)
    else:
        _colour(band, row_bytes, rowidx, rows, width, channels, ncomp, convert,
                m0 * mw, cw, gm * mw, samples, packed, coefs)  # coefs: written by the DCT later
    if not fix:
        _row_dct(samples, 0, rows, cw, gm * mw, dct, nb, 0, yb)
    for c in range(1, ncomp):
        if hs * vs > 1:
            if not fused:
                _downsample(samples, plane, cw, gm * mw, hs, vs, chroma, c, convert == 4)
            _row_dct(samples, chroma + (c - 1) * 64 * group, 8, 8 * group, 8 * gm, dct, nb,
                     vs * yb + (c - 1) * group, group)
        else:
            _row_dct(samples, c * plane, 8, cw, 8 * gm, dct, nb, c * group, group)
    for c in range(1, ncomp):
        j0 = vs * yb + (c - 1) * group
        _column_dct(dct, nb, j0, j0 + gm, recip, comp_table[c], coefs)
    if fix:
        if _chroma_zero(coefs, nb, group, vs * yb, gm, 0):
            # no chroma coefficient (every grey pixel's chroma is 128: a grey group, a page
            # rendered in RGB): the decoded Z is 0, and Y less 0 is Y, only clamped as
            # ``_luma_fix`` clamps it; its IDCT, upsampling and subtraction of zeros cost
            # about 1,000 instructions an MCU. Tested here, not in ``_luma_fix``: there g++
            # took 11.5 GB to compile a build, against 5.3 (three compile side by side)
            _clamp_rows(samples, cw, rows, 16 * gm)
        else:
            _luma_fix(samples, cw, vs, group, gm, coefs, nb, vs * yb, joint)
        _row_dct(samples, 0, rows, cw, gm * mw, dct, nb, 0, yb)
    for by in range(vs):
        _column_dct(dct, nb, by * yb, by * yb + gm * hs, recip, comp_table[0], coefs)
    if joint.shape[0] > 0 and ncomp == 3 and hs == 2:
        _flat_sub(coefs, nb, group, gm, vs, recip, comp_table, band, row_bytes, rowidx, width,
                  channels, m0 * mw)
    if joint.shape[0] > 0 and ncomp == 3 and hs * vs == 1:
        # flat MCUs' DC inputs kept for ``_flat_dcs``, before ``_joint_round`` rounds them
        flat = np.zeros(3 * gm, dtype=np.int32)
        _dc_inputs(coefs, group, gm, flat)
        _joint_round(coefs, nb, group, gm, joint)
        _flat_dcs(coefs, nb, group, gm, joint, flat, band, row_bytes, rowidx, width, channels,
                  m0 * mw)


def _idct8_scale():
    """``IDCT8_SCALE`` as a float32 array, s[u]: the factor by which
    ``_idct_columns`` and ``_idct_rows`` want their input u scaled (an array,
    indexed with a variable: a tuple so indexed made Pythran build the tuple
    inside the loop, 5.2 M instructions for the correction of a 512 x 512
    save instead of 1.6 M)."""
    T = np.zeros(8, dtype=np.float32)
    for u in range(8):
        T[u] = np.float32(IDCT8_SCALE[u])
    return T


def _idct_columns(X, Y, group, gm):
    """The IDCT's column pass over a group's MCUs: X[(8 v + u) group + m] into
    Y[(8 y + u) group + m], one loop along the MCUs per column u (g++
    vectorizes it). The 8-point IDCT by Arai, Agui and Nakajima's
    factorization (the even half on inputs 0, 2, 4, 6, the odd half on 1, 3,
    5, 7): 5 multiplies and 29 additions instead of the products' 64 and 56;
    it gives the orthonormal IDCT of inputs scaled by ``_idct8_scale`` (each
    coefficient (v, u) by s[v] s[u], which ``_luma_fix`` folds into its
    dequantization). With the row pass's IDCT as products instead, and the
    transpose in a loop of its own, the correction cost 1.76 M instructions
    on a 512 x 512 save at q90 4:2:0, 1.05 M so (with the clamp below). The
    same body is written out in ``_idct_rows`` on purpose: as one butterfly
    function called from both, g++ did not inline it at Pythran's unrolled
    call sites (1.40 M more); as one pass with its strides as arguments, it
    vectorized neither well (0.73 M more)."""
    group = _size(group)
    gm = _size(gm)
    g = _size(8 * group)
    r2 = np.float32(1.414213562)
    k5 = np.float32(1.847759065)
    k10 = np.float32(2.613125930)
    k12 = np.float32(1.082392200)
    for u in range(8):
        i0 = _size(u * group)
        for m in range(gm):
            i = i0 + m
            a0 = X[i] + X[i + 4 * g]
            a1 = X[i] - X[i + 4 * g]
            a3 = X[i + 2 * g] + X[i + 6 * g]
            a2 = (X[i + 2 * g] - X[i + 6 * g]) * r2 - a3
            z13 = X[i + 5 * g] + X[i + 3 * g]
            z10 = X[i + 5 * g] - X[i + 3 * g]
            z11 = X[i + g] + X[i + 7 * g]
            z12 = X[i + g] - X[i + 7 * g]
            c7 = z11 + z13
            z5 = (z10 + z12) * k5
            c6 = z5 - z10 * k10 - c7
            c5 = (z11 - z13) * r2 - c6
            c4 = z5 - z12 * k12 - c5
            Y[i] = a0 + a3 + c7
            Y[i + g] = a1 + a2 + c6
            Y[i + 2 * g] = a1 - a2 + c5
            Y[i + 3 * g] = a0 - a3 + c4
            Y[i + 4 * g] = a0 - a3 - c4
            Y[i + 5 * g] = a1 - a2 - c5
            Y[i + 6 * g] = a1 + a2 - c6
            Y[i + 7 * g] = a0 + a3 - c7


def _idct_rows(X, Y, group, gm, rw):
    """The IDCT's row pass over a group's MCUs (``_idct_columns``'s output):
    X[(8 y + u) group + m] into Y[y rw + 8 m + x], rows of samples: the
    transpose in the stores, vectorized along the MCUs all the same (as
    products with the cosines one MCU's row a vector, 0.08 M instructions
    more)."""
    group = _size(group)
    gm = _size(gm)
    rw = _size(rw)
    r2 = np.float32(1.414213562)
    k5 = np.float32(1.847759065)
    k10 = np.float32(2.613125930)
    k12 = np.float32(1.082392200)
    for y in range(8):
        i0 = _size(8 * y * group)
        o0 = _size(y * rw)
        for m in range(gm):
            i = i0 + m
            o = o0 + 8 * m
            a0 = X[i] + X[i + 4 * group]
            a1 = X[i] - X[i + 4 * group]
            a3 = X[i + 2 * group] + X[i + 6 * group]
            a2 = (X[i + 2 * group] - X[i + 6 * group]) * r2 - a3
            z13 = X[i + 5 * group] + X[i + 3 * group]
            z10 = X[i + 5 * group] - X[i + 3 * group]
            z11 = X[i + group] + X[i + 7 * group]
            z12 = X[i + group] - X[i + 7 * group]
            c7 = z11 + z13
            z5 = (z10 + z12) * k5
            c6 = z5 - z10 * k10 - c7
            c5 = (z11 - z13) * r2 - c6
            c4 = z5 - z12 * k12 - c5
            Y[o] = a0 + a3 + c7
            Y[o + 1] = a1 + a2 + c6
            Y[o + 2] = a1 - a2 + c5
            Y[o + 3] = a0 - a3 + c4
            Y[o + 4] = a0 - a3 - c4
            Y[o + 5] = a1 - a2 - c5
            Y[o + 6] = a1 + a2 - c6
            Y[o + 7] = a0 + a3 - c7


#: The orthonormal 8-point IDCT's weight of coefficient u in sample 0: sqrt(1/8) for
#: u = 0, cos(u pi / 16) / 2 otherwise (``_idct8_scale``)
IDCT8_SCALE = (0.35355339, 0.49039264, 0.46193977, 0.41573481, 0.35355339, 0.27778512,
               0.19134172, 0.09754516)

#: Z = Z_CB Cb + Z_CR Cr: the chroma's share of the RGB error that a change of Y can
#: cancel (``_luma_fix``). With W = M^T M of the decoder's YCbCr -> RGB matrix M,
#: a pixel's RGB error is smallest, over changes of Y, where Y moves by
#: -(W_YCb e_Cb + W_YCr e_Cr) / W_YY, e the chroma's errors: W_YCb = 1.772 - 0.344136,
#: W_YCr = 1.402 - 0.714136, W_YY = 3.
Z_CB = 1.427864
Z_CR = 0.687864
#: Z of a pixel's R, G and B (its Cb and Cr level-shifted, JFIF): Z_CB (-0.168736,
#: -0.331264, 0.5) + Z_CR (0.5, -0.418688, -0.081312); the three sum to 0
Z_RGB = (0.10300, -0.76100, 0.65800)


def _luma_weights(J, fix):
    """The weights of R, G and B in the Y that ``_colour_sub`` converts: BT.601's,
    plus k = J[128] / 768 (the damping J[128] / 256 over W_YY = 3) times ``Z_RGB``
    where ``fix`` (``_luma_fix`` then takes k times the decoded chroma's Z away).
    They still sum to 1, and for k up to 0.77 none is negative: Y stays in 0..255."""
    yr = np.float32(0.299)
    yg = np.float32(0.587)
    yb = np.float32(0.114)
    if fix:
        k = np.float32(J[128]) * np.float32(1.0 / 768.0)
        yr = yr + k * np.float32(Z_RGB[0])
        yg = yg + k * np.float32(Z_RGB[1])
        yb = yb + k * np.float32(Z_RGB[2])
    return yr, yg, yb


def _luma_fix(S, cw, vs, group, gm, Q, nb, jc, J):
    """Y of a subsampled colour group less k times the Z of the chroma the decoder upsamples.

    Where a pixel's chroma comes out of the decoder off by (e_Cb, e_Cr), its
    RGB error is smallest, over changes of its Y, with Y moved by -E / 3, E =
    Z_CB e_Cb + Z_CR e_Cr the error of Z (``Z_CB``). ``_colour_sub`` has
    added k times the pixel's own Z to its Y (``_luma_weights``); this takes
    away k times the Z the decoder will output: the dequantized coefficients'
    IDCT (Q: the group's coefficients with the chroma's coded, Cb's blocks
    from jc, Cr's from jc + group; J[0:64] Cb's quantizers, J[64:128] Cr's,
    natural order), upsampled with libjpeg's triangle weights (3/4 of the
    nearer sample, 1/4 of the other; the group's edge samples and the MCU
    row's repeated). k = J[128] / 768 is a damping (J[128] / 256) over 3.
    S: Y's rows of cw at 0, level-shifted, clamped to their range after.
    Z is transformed once (the IDCT is linear; the decoder's rounding and
    clamping of each component are left out: the prototype that kept them,
    with two IDCTs, gained no more on any photo measured, docs/fidelity.md).
    Every loop runs along the group's MCUs or a row, which g++ vectorizes;
    the row pass of the IDCT transposes between them.
    """
    cw = _size(cw)
    group = _size(group)
    gm = _size(gm)
    nb = _size(nb)
    jc = _size(jc)
    k = np.float32(J[128]) * np.float32(1.0 / 768.0)
    zb = k * np.float32(Z_CB)
    zr = k * np.float32(Z_CR)
    T = _idct8_scale()
    # D[f group + m]: k Z's dequantized coefficient f = 8 v + u of MCU m, scaled by
    # s[v] s[u] for the IDCT's factorization (``_idct_columns``)
    D = np.empty(64 * group, dtype=np.float32)
    for f in range(64):
        sc = T[f >> 3] * T[f & 7]
        fb = zb * np.float32(J[f]) * sc
        fr = zr * np.float32(J[64 + f]) * sc
        a = _size(f * nb + jc)
        d = _size(f * group)
        for m in range(gm):
            D[d + m] = fb * np.float32(Q[a + m]) + fr * np.float32(Q[a + group + m])
    # the IDCT's columns into C, C[(8 y + u) group + m], along the MCUs
    C = np.empty(64 * group, dtype=np.float32)
    _idct_columns(D, C, group, gm)
    # its rows into Z's plane, rows of the group's chroma samples: R[y (8 group) + 8 m
    # + x] (the transpose in the stores: the upsampling below runs along a row)
    rw = _size(8 * group)
    R = np.empty(8 * rw, dtype=np.float32)
    _idct_rows(C, R, group, gm, rw)
    three = np.float32(0.75)
    one = np.float32(0.25)
    lo = np.float32(-128.0)
    hi = np.float32(127.0)
    used = _size(8 * gm)
    if vs == 2:
        _luma_fix_420(S, cw, R, rw, used)
        return
    # 4:2:2: each pixel row's chroma row is its own. V[1 + i]: the row's chroma sample i
    # (3/4 and 1/4 of it, the weights 4:2:0 blends rows down with, as the files have them);
    # V[0] and V[used + 1] repeat the group's edge samples
    V = np.empty(rw + 2, dtype=np.float32)
    for py in range(8):
        a0 = _size(py * rw)
        for i in range(used):
            V[1 + i] = three * R[a0 + i] + one * R[a0 + i]
        V[0] = V[1]
        V[used + 1] = V[used]
        r = _size(py * cw)
        # the row's two pixels of each chroma sample taken in the loop that upsamples it
        # across: an upsampled row stored (U[2 i], U[2 i + 1]) and read back in a loop of
        # its own cost 4 % more of a q90 4:2:0 save's instructions when this loop served
        # 4:2:0 too (callgrind, x86-64-v3: 99.9 against 95.8 M, the same arithmetic, the
        # same files). Clamped as "s if s >
        # lo else lo", which g++ makes one vmaxps (and vminps): min(max(...)) (Pythran's
        # max_element) or "lo if s < lo else s" became compares and blends, 0.1 M
        # instructions more on a 512 x 512 save
        for i in range(used):
            c = three * V[1 + i]
            s = S[r + 2 * i] - (c + one * V[i])
            s = s if s > lo else lo
            S[r + 2 * i] = s if s < hi else hi
            t = S[r + 2 * i + 1] - (c + one * V[2 + i])
            t = t if t > lo else lo
            S[r + 2 * i + 1] = t if t < hi else hi


def _clamp_rows(S, cw, rows, n):
    """The first n samples of each of the first ``rows`` rows of S (rows of cw) clamped to
    -128..127, as ``_luma_fix`` leaves them."""
    lo = np.float32(-128.0)
    hi = np.float32(127.0)
    cw = _size(cw)
    n = _size(n)
    for py in range(rows):
        r = _size(py * cw)
        for x in range(n):
            s = S[r + x]
            s = s if s > lo else lo
            S[r + x] = s if s < hi else hi


def _luma_fix_420(S, cw, R, rw, used):
    """``_luma_fix``'s upsampling and subtraction at 4:2:0: each of Z's 8 rows (R, rows of
    rw, ``used`` samples) upsampled across once into H (3/4 of the sample and 1/4 of its
    left or right neighbour, the group's edge samples repeated), then each of Y's 16 rows
    (S, rows of cw) less 3/4 of the nearer H row and 1/4 of the other (the MCU row's edge
    rows repeated), clamped: contiguous rows, which g++ vectorizes without the shuffles of
    pixels taken two to a sample, and each chroma row upsampled across once instead of
    for each of its two pixel rows (the 4:2:2 loop's way). The same weights summed in
    another order (across, then down): floats that may differ in their last bit, the same
    files on 120 saves of photos and ramps at q10 to q100 (docs/performance.md, "The luma
    correction at 4:2:0 upsampled across once"); a q90 4:2:0 save's kernels 98.8 -> 97.2 M
    instructions (callgrind, x86-64-v3, the mosaic's 1.25 MP crop, three saves)."""
    three = np.float32(0.75)
    one = np.float32(0.25)
    lo = np.float32(-128.0)
    hi = np.float32(127.0)
    cw = _size(cw)
    rw = _size(rw)
    used = _size(used)
    width = _size(2 * used)
    last = _size(used - 1)
    H = np.empty(8 * width, dtype=np.float32)
    for y in range(8):
        a = _size(y * rw)
        h = _size(y * width)
        for i in range(1, last):
            c = three * R[a + i]
            H[h + 2 * i] = c + one * R[a + i - 1]
            H[h + 2 * i + 1] = c + one * R[a + i + 1]
        c = three * R[a]
        H[h] = c + one * R[a]
        H[h + 1] = c + one * R[a + 1]
        c = three * R[a + last]
        H[h + 2 * last] = c + one * R[a + last - 1]
        H[h + 2 * last + 1] = c + one * R[a + last]
    for py in range(16):
        cy = py >> 1
        cn = min(cy + 1, 7) if py & 1 else max(cy - 1, 0)
        h0 = _size(cy * width)
        h1 = _size(cn * width)
        r = _size(py * cw)
        for x in range(width):
            s = S[r + x] - (three * H[h0 + x] + one * H[h1 + x])
            s = s if s > lo else lo
            S[r + x] = s if s < hi else hi


#: ``_luma_gate``'s Z of a pixel, about 64 times: 64 ``Z_RGB`` rounded (7, -48.7, 42.1), integers
#: that sum to 0 as Z's weights do (a grey pixel's Z is 0)
Z_RGB_64 = (7, -49, 42)


def _z64(band, p, wr, wg, wb):
    """``_luma_gate``'s Z of the pixel at band[p], about 64 times (``Z_RGB_64``)."""
    return wr * np.int32(band[p]) + wg * np.int32(band[p + 1]) + wb * np.int32(band[p + 2])


def _luma_gate(band, row_bytes, rowidx, width, channels, x0, n, J):
    """Whether the luma correction runs on the group of pixel columns x0 .. x0 + n - 1.

    Always where it is not gated (J[129], if there, is 0). Gated (J[129] > 0:
    where the luma table has a quantizer of 1, IJG quality 93 to 95), only
    where the source's Z (``Z_RGB``: the chroma's share of the RGB error that
    Y can cancel) has detail within 2 x 2 cells: its mean square about each
    cell's mean at least J[129] / 256. Without such detail (a photo once
    saved with subsampled chroma) the decoder's own rounding is most of the
    chroma's error, which the correction's model does not see: it then only
    moves Y off whole values (docs/fidelity.md, "The luma correction gated by
    the chroma's detail"). Sampled: every other 2 x 2 cell of the group's
    pixel rows 0 and 1, whole cells inside the image; at 4:2:2 too, whose
    chroma cells are 2 x 1 (their detail alone told a photo once subsampled
    from others less well: chelsea kept half the gain). A group is 32 MCUs,
    enough to tell (every cell of every row told no better on photos), and
    the test costs a save 3 % (4:2:0) to 4 % (4:2:2) where no group passes
    (a gate per MCU on every pixel cost 1.2x, docs/fidelity.md). Integers (Z
    about 64 times, ``Z_RGB_64``; int64 sums): exact in the compiled kernels
    and their Python source alike.
    """
    if J.shape[0] < 130 or J[129] <= 0:
        return True
    cells = (min(x0 + n, width) - x0) // 2
    if cells <= 0:
        return False
    c = channels
    a = rowidx[0] * row_bytes + x0 * c
    b = rowidx[1] * row_bytes + x0 * c
    wr = np.int32(Z_RGB_64[0])
    wg = np.int32(Z_RGB_64[1])
    wb = np.int32(Z_RGB_64[2])
    total = np.int64(0)
    sampled = (cells + 1) // 2
    for i in range(sampled):
        p = a + 4 * c * i
        q = b + 4 * c * i
        z0 = _z64(band, p, wr, wg, wb)
        z1 = _z64(band, p + c, wr, wg, wb)
        z2 = _z64(band, q, wr, wg, wb)
        z3 = _z64(band, q + c, wr, wg, wb)
        # 4 times the squares about the mean of four: 4 times their squares less their
        # sum's square (up to 2.5e9: int64)
        s = np.int64(z0 + z1 + z2 + z3)
        total += np.int64(4) * (np.int64(z0) * z0 + np.int64(z1) * z1 + np.int64(z2) * z2
                                + np.int64(z3) * z3) - s * s
    # the mean square per pixel, Z about 64 times (4096 its square), at least J[129] / 256:
    # total / (4 x 4 x 4096 x sampled) >= J / 256
    return total >= np.int64(J[129]) * np.int64(256) * np.int64(sampled)


#: ``joint``'s items per coefficient (``_joint_round``)
JOINT_ITEMS = 8


def _joint_round(Q, nb, group, gm, J):
    """Round the Y, Cb and Cr coefficients of each 4:4:4 MCU for the RGB error: Y's with the others'.

    Q holds the column pass's output in 32nds of a quantizer (the caller's
    ``recip`` is 32 times the reciprocals; with every quantizer at least 2,
    as the caller ensures, they stay within the pass's range of 16384: 16ths
    rounded up 0.3 % of chroma coefficients that lay below their halfway
    point, rocket at q75, and cost 1 % in size). Cb and Cr are rounded
    to nearest (one halfway in 32nds away from Y's error: down where Y is
    rounded up); Y too, then moved to its other neighbour where that lowers
    the squared error of the decoded RGB by the linear YCbCr -> RGB, which
    couples the three components' coefficients of the same frequency only: Y
    moves R, G and B alike, so its coefficient can take up part of the
    chroma's rounding errors. J[8 k:] for coefficient k (natural order),
    integers (``tables.joint_weights``): a, r, b_Y, b_Cb, b_Cr. Y's step
    pays where its gradient g = sum_c b_c e_c (e_c: rounded value less the
    input, in 32nds) is beyond a against it, by r more where the step makes
    the coefficient non-zero and by r less where it makes it zero and the
    chroma's cross terms favour the step too (a rate term). (Steps of Cb
    and Cr as well, in turn: about 2.5x the
    instructions for a few hundredths of a dB more on photos,
    docs/fidelity.md, "Y rounded with the chroma".) Flat MCUs then have their DC
    chosen by ``_flat_dcs``, where this linear model misleads.
    """
    nb = _size(nb)
    group = _size(group)
    gm = _size(gm)
    for k in range(64):
        w = JOINT_ITEMS * k
        a = J[w]
        r = J[w + 1]
        by = J[w + 2]
        bb = J[w + 3]
        br = J[w + 4]
        y0 = k * nb
        c0 = y0 + group
        k0 = c0 + group
        for j in range(gm):
            vy = Q[y0 + j]
            ny = (vy + np.int32(16)) >> 5
            ey = (ny << 5) - vy
            # a chroma input halfway in 32nds (which may lie on either side of its true
            # halfway point) goes to the neighbour whose error has the sign opposite to Y's:
            # W_YCb and W_YCr are positive, so that lowers the cross terms, and its own term
            # is the same either way (inputs not halfway round the same with 15 or 16). A
            # 64 x 64 diagonal ramp at q65: Cb's -0.506 came to 32nds as halfway, rounded up
            # and Y moved for it, 0.29 dB behind Pillow. One compare and select a
            # coefficient (the cross terms' sign in full: 7 % more instructions)
            h = np.int32(15) if ey > 0 else np.int32(16)
            nb_ = (Q[c0 + j] + h) >> 5
            nr = (Q[k0 + j] + h) >> 5
            gc = bb * ((nb_ << 5) - Q[c0 + j]) + br * ((nr << 5) - Q[k0 + j])
            g = by * ey + gc
            # only towards the other neighbour: up where ey <= 0, down where ey > 0. With
            # down = -1 there (else 0), x ^ down - down is -x for a step down: the step's
            # direction times the gradient and the coefficient, without blends; selects of
            # a value or 0 (masks) only
            down = np.int32(0) if ey <= 0 else np.int32(-1)
            sg = (g ^ down) - down
            sn = (ny ^ down) - down
            # the rate term's bonus for a step that makes the coefficient zero only where
            # the chroma's cross terms lean that way too (sgc < 0: its sign as a mask):
            # where they do not (grey pixels, whose chroma is 0, or nearly grey ones) the
            # bonus alone made Y's rounding a dead zone, up to 0.4 dB behind Pillow on grey
            # text in RGB at q30 for 2.5 % fewer bytes (docs/fidelity.md, "Grey content in
            # RGB: the joint rounding's dead zone")
            sgc = (gc ^ down) - down
            t = (a + (r if sn == 0 else np.int32(0))
                 - ((r if sn == -1 else np.int32(0)) & (sgc >> np.int32(31))))
            Q[y0 + j] = ny + ((down | np.int32(1)) if sg + t < 0 else np.int32(0))
            Q[c0 + j] = nb_
            Q[k0 + j] = nr


def _dc_inputs(Q, group, gm, F):
    """F[j], F[gm + j], F[2 gm + j]: MCU j's DC inputs of Y, Cb and Cr (32nds of a quantizer)."""
    group = _size(group)
    gm = _size(gm)
    for j in range(gm):
        F[j] = Q[j]
        F[gm + j] = Q[group + j]
        F[2 * gm + j] = Q[2 * group + j]


def _flat_dcs(Q, nb, group, gm, J, F, band, row_bytes, rowidx, width, channels, x0):
    """After ``_joint_round``: the DC of each flat MCU (every AC coefficient of Y, Cb and Cr
    rounded to zero) whose Y DC it moved or whose rounding was in doubt, chosen by
    ``_flat_dc`` from its inputs F (``_dc_inputs``).

    On such an MCU the decoder gives every pixel the same levels, rounded, which the joint
    rounding's linear model does not see: it had moved Y towards chroma errors that the
    rounding of the three samples did not make (a flat (77, 38, 178) at q70: 45.12 dB
    against Pillow's 52.90). Elsewhere the DCs stay as they are. Only the MCUs whose Y DC
    moved or whose DC inputs lie halfway between two values are looked at, each until its
    first non-zero AC coefficient: a pass over every coefficient (vectorized) cost 8 to
    13 % of a save at q90 to q50. band .. x0: the
    strip's pixels, as ``_colour`` reads them, from column x0.
    """
    nb = _size(nb)
    group = _size(group)
    gm = _size(gm)
    half = np.int32(16)
    for j in range(gm):
        # Y's DC moved, or a DC input at a halfway point in 32nds, where rounding the input
        # to 32nds first may have rounded it the wrong way (a flat (105, 121, 223) at q10: Cr
        # one step off, 10.6 levels)
        doubt = (((F[j] & 31) == half) | ((F[gm + j] & 31) == half)
                 | ((F[2 * gm + j] & 31) == half))
        if (Q[j] != (F[j] + half) >> 5 or doubt) and _flat(Q, nb, group, j):
            _flat_dc(Q, j, group, J, F[j], F[gm + j], F[2 * gm + j], band, row_bytes,
                     rowidx, width - x0 - 8 * j, channels, x0 + 8 * j)


def _flat(Q, nb, group, j):
    """1 if every AC coefficient of MCU j's Y, Cb and Cr is zero, else 0 (stops at the first non-zero)."""
    o = _size(nb + j)
    k = 1
    while k < 64 and (Q[o] | Q[o + group] | Q[o + 2 * group]) == 0:
        o += nb
        k += 1
    return 1 if k == 64 else 0


def _dc_level(n, q):
    """The sample (0..255) that libjpeg's jpeg_idct_islow decodes in a block whose only non-zero
    coefficient is its DC n (quantizer q): (4 n q + 16) >> 5, plus 128 through the range limit
    (``refine._pixel``'s wrap and clamp)."""
    v = (np.int32(4) * n * q + np.int32(16)) >> 5
    w = ((v + np.int32(512)) & np.int32(1023)) - np.int32(384)
    return min(max(w, np.int32(0)), np.int32(255))


def _flat_dc(Q, j, group, J, vy, vb, vr, band, row_bytes, rowidx, cols, channels, x):
    """The DC coefficients of flat MCU j (every AC coefficient zero) that decode closest to its pixels.

    vy, vb, vr: the DC inputs (32nds of a quantizer, J[5], J[6], J[7]). Each
    DC may take either neighbour of its input (8 choices): the decoder gives
    every pixel of such an MCU the same R, G and B (``_dc_level``, then
    jdcolor.c's integer YCbCr -> RGB, as ``refine.ycc_rgb``), so the squared
    error of its seen pixels (``cols`` columns from x; rows as ``rowidx``
    repeats them) is N sum over channels of (value - mean)**2 plus a constant:
    the choice that makes sum (N value - sum)**2 smallest is kept, the
    rounding's own where it ties. On a flat colour the linear model of the
    joint rounding had moved Y towards chroma errors that the decoder's
    rounding of the three samples did not make (docs/fidelity.md, "Every
    quality, and flat colours"). jdcolor's formula is ``refine.ycc_rgb``'s, written
    again: the two extension modules cannot call each other.
    """
    cols = min(cols, 8)
    if cols <= 0:
        return
    row_bytes = _size(row_bytes)
    channels = _size(channels)
    x = _size(x)
    sr = 0
    sg = 0
    sb = 0
    count = 0
    for y in range(8):
        prev = rowidx[y - 1] if y > 0 else np.int64(-1)
        if rowidx[y] != prev:  # rows past the image repeat the last one
            src = _size(rowidx[y]) * row_bytes + x * channels
            for i in range(cols):
                o = src + i * channels
                sr += int(band[o])
                sg += int(band[o + 1])
                sb += int(band[o + 2])
                count += 1
    qy = J[5]
    qb = J[6]
    qr = J[7]
    y0 = _size(j)
    c0 = y0 + group
    k0 = c0 + group
    best = _flat_error(Q[y0], Q[c0], Q[k0], qy, qb, qr, count, sr, sg, sb)
    fy = vy >> 5
    fb = vb >> 5
    fr = vr >> 5
    for m in range(8):
        ny = fy + (m & 1)
        nb_ = fb + ((m >> 1) & 1)
        nr = fr + (m >> 2)
        e = _flat_error(ny, nb_, nr, qy, qb, qr, count, sr, sg, sb)
        if e < best:
            best = e
            Q[y0] = ny
            Q[c0] = nb_
            Q[k0] = nr


def _flat_sub(Q, nb, group, gm, vs, recip, comp_table, band, row_bytes, rowidx, width,
              channels, x0):
    """Subsampled RGB (4:2:0, 4:2:2): each MCU of the group whose pixels are all one colour
    takes the DC coefficients that decode closest to it, Y's alike in its blocks and every
    AC coefficient zero.

    The luma correction (``_luma_fix``) moves Y for the chroma's error with a linear model
    that the decoder's clamps break: on saturated colours (a channel at 0 or 255) it moved
    them off, and a palette of flat 16 x 16 colours was 0.10 to 1.03 dB behind Pillow at
    q71 to q92 and 0.28 to 0.35 dB at q36 to q39 (docs/fidelity.md, "Flat subsampled
    MCUs"). On a flat MCU the decoder gives every pixel the same YCbCr but where the chroma
    is upsampled with a neighbour's (the MCU's edge pixels): the choice is ``_flat_dc``'s,
    among the neighbours of the DCs (Y's the mean of its blocks'), by ``_flat_error`` (jdcolor's
    integer YCbCr -> RGB with its clamps), the neighbours' chroma left out. Only MCUs
    whose chroma blocks have no AC coefficient are looked at (each until its first
    non-zero one), and their pixels until the first row that differs from the first; the
    group's seen MCUs are so tested as one first, and where that finds them all flat and
    of one colour none is tested alone.
    band .. x0: the strip's pixels, as ``_colour_sub`` reads them, from column x0.
    """
    nb = _size(nb)
    group = _size(group)
    gm = _size(gm)
    row_bytes = _size(row_bytes)
    channels = _size(channels)
    yb = 2 * group
    qy = _dc_quantizer(recip, comp_table[0])
    qb = _dc_quantizer(recip, comp_table[1])
    qr = _dc_quantizer(recip, comp_table[2])
    # the last choice made, and its colour and DCs in, taken again without a search for a
    # run of MCUs alike (the pixel count scales every choice's error alike: it does not
    # change which is least): a flat MCU cost about 11,500 instructions, the 27 choices tried
    # each time among them (docs/fidelity.md, "Flat subsampled MCUs: runs of one colour").
    # Scalars, not arrays: two small arrays allocated here changed g++'s inlining of
    # ``_group_coefs`` (1.6x a q90 4:2:0 save's instructions on photos, with ``_pair_sums``
    # still a function of its own: ``_chroma_sub_packed``).
    lr = -1
    lg = -1
    lb = -1
    ly = 0
    lcb = 0
    lcr = 0
    ny = 0
    nb_ = 0
    nr = 0
    # the group's seen MCUs tested as one first: where all are flat and of one colour (a
    # white page, a slide's background), their chroma's AC are tested a coefficient at a
    # time across the group and their pixels a row at a time across it, and Y's AC zeroed
    # across it, in loops g++ vectorizes; a flat MCU tested and zeroed alone, its strided
    # coefficients one by one, cost about 3,150 instructions (docs/fidelity.md, "Flat
    # subsampled MCUs: a group of one colour")
    mc = min(gm, max(width - _size(x0) + 15, 0) // 16)
    # MCUs 0..mc-1 are those with seen columns; where none of their chroma blocks has an AC
    # coefficient (every grey pixel's chroma is 128: a page rendered in RGB) no MCU's is
    # tested again (``_flat_chroma``, 63 strided loads an MCU)
    chroma = 0
    if mc > 0:
        chroma = _chroma_zero(Q, nb, group, vs * yb, mc, 1)
    whole = 0
    if chroma == 1:
        whole = _one_colour(band, row_bytes, rowidx, 8 * vs, x0, min(width - x0, 16 * mc),
                            channels)
    # a run of flat MCUs has its Y AC zeroed at its end, a coefficient row at a time across
    # it (``_zero_luma_ac``): one MCU at a time its strided stores cost about 630
    # instructions (vs 2)
    run = -1
    for m in range(gm):
        jb = _size(vs * yb + m)
        x = _size(x0 + 16 * m)
        cols = min(width - x, 16)
        # the chroma before the pixels: tested first, the pixels cost a q90 4:2:0 save of
        # photos 8 % more instructions (_one_colour reads rows until one differs)
        flat = 0
        if cols > 0:
            flat = whole
            if flat == 0 and (chroma == 1 or _flat_chroma(Q, nb, group, jb)):
                flat = _one_colour(band, row_bytes, rowidx, 8 * vs, x, cols, channels)
        if flat:
            first = _size(rowidx[0]) * row_bytes + x * channels
            r = int(band[first])
            g = int(band[first + 1])
            b = int(band[first + 2])
            cy, cb, cr = _flat_sub_inputs(Q, group, m, vs)
            if r != lr or g != lg or b != lb or cy != ly or cb != lcb or cr != lcr:
                ny, nb_, nr = _flat_sub_dc(cy, cb, cr, r, g, b, qy, qb, qr)
                lr = r
                lg = g
                lb = b
                ly = cy
                lcb = cb
                lcr = cr
            Q[jb] = nb_
            Q[jb + group] = nr
            # Y's DC alike in its blocks (every AC coefficient zero: the chroma's are, Y's
            # at the run's end)
            for by in range(vs):
                o = _size(by * yb + 2 * m)
                Q[o] = ny
                Q[o + 1] = ny
            if run < 0:
                run = m
        elif run >= 0:
            _zero_luma_ac(Q, nb, yb, vs, run, m)
            run = -1
    if run >= 0:
        _zero_luma_ac(Q, nb, yb, vs, run, gm)


def _zero_luma_ac(Q, nb, yb, vs, m0, m1):
    """Zero the AC coefficients of the Y blocks of the 4:2:x MCUs m0..m1-1 (``_flat_sub``):
    each coefficient row's 2 (m1 - m0) blocks of a block row lie side by side."""
    n = _size(2 * (m1 - m0))
    for by in range(vs):
        for f in range(1, 64):
            # the start written out from values set before the loop: Pythran's test for a
            # negative index would keep the loop scalar (``_chroma_zero``'s note)
            o = _size(by * yb + f * nb + 2 * m0)
            for k in range(n):
                Q[o + k] = 0


def _chroma_zero(Q, nb, group, jb, mc, f0):
    """1 if coefficients f0..63 of the chroma blocks of MCUs 0..mc-1 (Cb's from jb, Cr's from
    jb + group) are all zero, else 0 (a coefficient at a time across the MCUs, one loop g++
    vectorizes; stops after the first coefficient that is not zero in all of them). f0 = 1:
    none has an AC coefficient (``_flat_chroma`` for all at once); 0: the chroma decodes to
    128 everywhere."""
    nb = _size(nb)
    group = _size(group)
    jb = _size(jb)
    for f in range(_size(f0), 64):
        # the index written out from values set before the loops: carried as o += nb, or
        # set inside the loop over f, it was not known to be non-negative, and Pythran's
        # test for a negative index kept the loop scalar
        d = np.int32(0)
        for m in range(mc):
            d |= Q[f * nb + jb + m] | Q[f * nb + jb + group + m]
        if d != 0:
            return 0
    return 1


def _dc_quantizer(recip, t):
    """The DC quantizer of table t, from its multiplier recip[64 t] = 1 / (8 q)."""
    return np.int32(np.float32(1.0) / (np.float32(8.0) * recip[_size(64 * t)]) + np.float32(0.5))


def _flat_chroma(Q, nb, group, jb):
    """1 if every AC coefficient of the chroma blocks jb (Cb) and jb + group (Cr) is zero, else
    0 (stops at the first non-zero)."""
    o = _size(nb + jb)
    k = 1
    while k < 64 and (Q[o] | Q[o + group]) == 0:
        o += nb
        k += 1
    return 1 if k == 64 else 0


def _one_colour(band, row_bytes, rowidx, rows, x, cols, channels):
    """1 if the MCU's seen pixels (``cols`` columns from x, ``rows`` rows as rowidx
    repeats them) all have its first pixel's R, G and B, else 0: each pixel of the first row
    against the one before it, every other row against the first (stops at the first row
    that differs)."""
    first = _size(rowidx[0]) * row_bytes + x * channels
    n = cols * channels
    if _row_differs(band, first + channels, first, n - channels, channels):
        return 0
    for y in range(1, rows):
        if rowidx[y] != rowidx[y - 1]:  # rows past the image repeat the last one
            if _row_differs(band, _size(rowidx[y]) * row_bytes + x * channels, first, n,
                            channels):
                return 0
    return 1


def _row_differs(band, a, b, n, channels):
    """True if the pixels of the n bytes of band from a differ from those from b in R, G or B
    (a fourth channel, RGBX's, ignored).

    Every byte compared first, their differences ORed and tested once, one loop that g++
    vectorizes; only where that finds a difference and pixels have a fourth byte (Pillow's RGB
    rows come with one) are R, G and B compared alone. It was a test a pixel, three branches
    each, a scalar loop over the MCU's 256 pixels.
    """
    a = _size(a)
    b = _size(b)
    d = np.uint8(0)
    for i in range(n):
        d |= band[a + i] ^ band[b + i]
    if d == 0 or channels == 3:
        return d != 0
    d = np.uint8(0)
    for p in range(n // channels):
        o = p * channels
        d |= ((band[a + o] ^ band[b + o]) | (band[a + o + 1] ^ band[b + o + 1])
              | (band[a + o + 2] ^ band[b + o + 2]))
    return d != 0


def _flat_sub_inputs(Q, group, m, vs):
    """MCU m's DCs as ``_flat_sub`` starts from them: Y's the rounded mean of its blocks', Cb's
    and Cr's."""
    yb = _size(2 * group)
    m = _size(m)
    jb = _size(vs * yb + m)
    total = int(Q[2 * m]) + int(Q[2 * m + 1])
    blocks = 2
    if vs == 2:
        total += int(Q[yb + 2 * m]) + int(Q[yb + 2 * m + 1])
        blocks = 4
    return (2 * total + blocks) // (2 * blocks), int(Q[jb]), int(Q[jb + _size(group)])


def _flat_sub_dc(cy, cb, cr, r, g, b, qy, qb, qr):
    """``_flat_sub``'s choice for a flat MCU of colour r, g, b whose DCs are cy, cb, cr: each
    kept or moved by one, the 27 choices tried in that order and the first of the least error
    (``_flat_error``) returned (the search stops at an error of 0: none after it is less)."""
    least = -1
    ny = cy
    nb_ = cb
    nr = cr
    for c in range(27):
        # offsets 0, -1, +1 of Y, then of Cb, then of Cr
        dy = 1 - (c // 9 + 1) % 3
        db = 1 - ((c // 3) % 3 + 1) % 3
        dr = 1 - (c % 3 + 1) % 3
        e = _flat_error(np.int32(cy + dy), np.int32(cb + db), np.int32(cr + dr), qy, qb, qr,
                        1, r, g, b)
        if least < 0 or e < least:
            least = e
            ny = cy + dy
            nb_ = cb + db
            nr = cr + dr
            if e == 0:
                break
    return ny, nb_, nr


def _flat_grey(Q, M, gm, samples, cw, cols, rows, recip, tb):
    """Grey: the DC of each block of the group that decodes flat (every AC coefficient zero,
    M[j] 0: ``_ac_masks``) moved to a neighbour where that decodes closer to its pixels.

    The decoder gives every pixel of such a block the same level (``_dc_level``), so the
    squared error of its seen pixels (``cols`` columns of the image from the group's first,
    ``rows`` rows, of the level-shifted ``samples`` at y cw + x) is N (level - mean)**2 plus
    a constant: the DC whose level is nearest the mean is best. Rounding the DC input to
    nearest gives the nearest *decoded mean*, which the decoder then rounds to a level: on
    a 4097 x 11 ramp at q80 (DC quantizer 6, a level every 0.75) blocks of mean 96.125,
    whose input lies halfway (-42.5), decoded to 97 where -43 gives 96, and the file was
    0.5 dB behind Pillow's, whose rounding of halves away from zero happened to suit it. A
    neighbour replaces the DC only where it is strictly better. recip[tb]: the DC's
    multiplier, 1 / (8 q) (``tables.kernel_reciprocals``).
    """
    gm = _size(gm)
    cw = _size(cw)
    rows = min(max(rows, 0), 8)
    q = np.int32(np.float32(1.0) / (np.float32(8.0) * recip[_size(tb)]) + np.float32(0.5))
    if q % 8 == 0:
        return  # levels q / 8 apart: the nearest decoded mean is the nearest level
    for j in range(gm):
        w = min(cols - 8 * j, 8)
        if M[j] != np.uint64(0) or w <= 0:
            continue
        # the samples are whole numbers: their float sums (below 2**24) are exact in any
        # order. Each row summed on its own, then the rows: 8 short chains of adds that
        # overlap, not one chain of 64 each waiting for the last (perf: 15 % of the
        # kernels' time of a 3000 x 2000 ramp's q100 save, most of its blocks flat). About the
        # same instructions (an add a row more), the same bytes: a page of text at q90 about
        # 0.8x the time, ramps 0.9x (docs/performance.md, "Flat grey blocks' sums in short
        # chains"). Each whole row as a tree of adds (a branch for it) saved a little more on
        # such pages but made g++ keep a pointer of the AC walk in a vector register: grey
        # photos 1 to 3 % slower.
        t = np.float32(0.0)
        for y in range(rows):
            o = _size(y * cw + 8 * j)
            r = np.float32(0.0)
            for x in range(w):
                r += samples[o + x]
            t += r
        s = int(t)
        count = rows * w
        n0 = Q[j]
        best = abs(count * (int(_dc_level(n0, q)) - 128) - s)
        for d in range(-1, 2, 2):
            n = n0 + np.int32(d)
            e = abs(count * (int(_dc_level(n, q)) - 128) - s)
            if e < best:
                best = e
                Q[j] = n


def _flat_error(ny, nb_, nr, qy, qb, qr, count, sr, sg, sb):
    """sum over R, G, B of (count x decoded - sum)**2 for DC coefficients ny, nb_, nr (``_flat_dc``)."""
    py = _dc_level(ny, qy)
    b = _dc_level(nb_, qb) - np.int32(128)
    r = _dc_level(nr, qr) - np.int32(128)
    zero = np.int32(0)
    most = np.int32(255)
    red = min(max(py + ((np.int32(91881) * r + np.int32(32768)) >> 16), zero), most)
    green = min(max(py + ((np.int32(32768) - np.int32(22554) * b - np.int32(46802) * r) >> 16),
                    zero), most)
    blue = min(max(py + ((np.int32(116130) * b + np.int32(32768)) >> 16), zero), most)
    er = count * int(red) - sr
    eg = count * int(green) - sg
    eb = count * int(blue) - sb
    return er * er + eg * eg + eb * eb


def _block_index(blk, m, hs, vs, group):
    """Component and coefs column of block blk (in MCU order) of MCU m of a group."""
    if blk < hs * vs:  # hs is 1 or 2: a shift and a mask, not two divisions
        return 0, (blk >> (hs - 1)) * group * hs + m * hs + (blk & (hs - 1))
    c = blk - hs * vs + 1
    return c, vs * group * hs + (c - 1) * group + m


def _ac_masks(Q, nb, NAT, M):
    """Bit k of M[j] set where AC coefficient k (zigzag) of block j is not zero.

    Q holds the coefficients in natural order (row NAT[k] for zigzag k).
    Built 8 coefficients at a time in 32-bit lanes across the group's blocks
    (contiguous rows of Q, loops g++ vectorizes), then merged into 64 bits:
    the coding loop then visits the set bits only, so its cost follows the
    coefficients that are coded. One loop reads the 8 rows of a byte of the
    mask (a compare and an and-not a coefficient, the byte in a register);
    a loop per row, or-ing into a 32-bit array, cost a load and a store
    more per 8 coefficients, and g++ checked that array against Q before
    each row: 3.9 to 2.2 instructions per pixel at q100 4:4:4 (callgrind,
    2048 x 256 mosaic crop; ``encode_strip`` with the shift in
    ``_block_index`` 56.7 to 54.6, q90 4:4:4 33.8 to 31.8, q90 4:2:0 21.7
    to 21.1, q75 4:2:0 15.8 to 15.2).

    The byte's expression is written out in each of the three loops: a
    helper function for it (``_mask_byte(Q, j, r0, ..., r7)``) left the loops
    unvectorized, q100 4:4:4 50.8 to 74.5 instructions per pixel, q75 4:2:0
    14.9 to 26.6 (callgrind, same bytes).

    The rows' offsets are ``(NAT[k] & 63) * nb`` (NAT holds 0..63, so the
    same values): g++ then knows every index is not negative. Where this
    function is not inlined (``code_coefs``, ``count_coefs``: the refine
    path; ``count_strip``: optimize's counting) ``_size(NAT[k]) * nb`` could
    overflow as far as g++ knew, and it kept a wrap-around test on each of
    the 8 loads, in scalar loops: about 630 instructions a block, about 50
    now (callgrind, camera q90 refine=1: ``strip_coefs`` and ``code_coefs``
    8.96 to 6.63 M instructions; astronaut q100 ``count_strip`` 30.2 to
    23.2 M; the inlined copy in ``encode_strip`` the same within 1 %).
    """
    nb = _size(nb)
    for c8 in range(8):
        k = 8 * c8
        r0 = (NAT[k + 0] & 63) * nb
        r1 = (NAT[k + 1] & 63) * nb
        r2 = (NAT[k + 2] & 63) * nb
        r3 = (NAT[k + 3] & 63) * nb
        r4 = (NAT[k + 4] & 63) * nb
        r5 = (NAT[k + 5] & 63) * nb
        r6 = (NAT[k + 6] & 63) * nb
        r7 = (NAT[k + 7] & 63) * nb
        if c8 == 0:  # bit 0, the DC, stays clear
            for j in range(nb):
                a = ((np.int32(Q[r1 + j] != 0) << np.int32(1)) |
                 (np.int32(Q[r2 + j] != 0) << np.int32(2)) |
                 (np.int32(Q[r3 + j] != 0) << np.int32(3)) |
                 (np.int32(Q[r4 + j] != 0) << np.int32(4)) |
                 (np.int32(Q[r5 + j] != 0) << np.int32(5)) |
                 (np.int32(Q[r6 + j] != 0) << np.int32(6)) |
                 (np.int32(Q[r7 + j] != 0) << np.int32(7)))
                M[j] = np.uint64(np.uint32(a))
        elif c8 < 7:
            shift = np.uint64(k)
            for j in range(nb):
                a = (np.int32(Q[r0 + j] != 0) |
                 (np.int32(Q[r1 + j] != 0) << np.int32(1)) |
                 (np.int32(Q[r2 + j] != 0) << np.int32(2)) |
                 (np.int32(Q[r3 + j] != 0) << np.int32(3)) |
                 (np.int32(Q[r4 + j] != 0) << np.int32(4)) |
                 (np.int32(Q[r5 + j] != 0) << np.int32(5)) |
                 (np.int32(Q[r6 + j] != 0) << np.int32(6)) |
                 (np.int32(Q[r7 + j] != 0) << np.int32(7)))
                M[j] |= np.uint64(np.uint32(a)) << shift
        else:  # the last byte, then the runs of 16 zeros (``_zrl_bits``)
            for j in range(nb):
                a = (np.int32(Q[r0 + j] != 0) |
                 (np.int32(Q[r1 + j] != 0) << np.int32(1)) |
                 (np.int32(Q[r2 + j] != 0) << np.int32(2)) |
                 (np.int32(Q[r3 + j] != 0) << np.int32(3)) |
                 (np.int32(Q[r4 + j] != 0) << np.int32(4)) |
                 (np.int32(Q[r5 + j] != 0) << np.int32(5)) |
                 (np.int32(Q[r6 + j] != 0) << np.int32(6)) |
                 (np.int32(Q[r7 + j] != 0) << np.int32(7)))
                M[j] = _zrl_bits(M[j] | (np.uint64(np.uint32(a)) << np.uint64(56)))


def _zrl_bits(m):
    """Mask m of a block's non-zero AC coefficients with a bit added for each ZRL symbol.

    A run of 16 zeros (ZRL) is coded where a run of zeros reaches 16 and a
    non-zero coefficient follows: at the zero 16, 32 or 48 places after a set
    bit (or after the DC, bit 0) with no set bit between, below the highest
    set bit. The coding loop meets that bit as a zero after a run of 15, the
    pairs table's entry for (15, 0) is the ZRL code (``tables.kernel_pair_table``), and the
    loop needs no test for long runs. Shifts, ors and ands in 64-bit lanes,
    across blocks (vectorized): 0.4 instructions per pixel at 4:4:4
    (callgrind), against 2 a non-zero coefficient saved in the loop.
    """
    s = m | np.uint64(1)
    c = s | (s << np.uint64(1))  # c: within 15 places above a bit of s
    c |= c << np.uint64(2)
    c |= c << np.uint64(4)
    c |= c << np.uint64(8)
    s1 = (s << np.uint64(16)) & ~c
    s2 = (s1 << np.uint64(16)) & ~c
    s3 = (s2 << np.uint64(16)) & ~c
    d = m >> np.uint64(1)  # d: below the highest bit of m
    d |= d >> np.uint64(1)
    d |= d >> np.uint64(2)
    d |= d >> np.uint64(4)
    d |= d >> np.uint64(8)
    d |= d >> np.uint64(16)
    d |= d >> np.uint64(32)
    return m | ((s1 | s2 | s3) & d)


def _lowest_bit_table():
    """Position of a 64-bit word's only set bit, indexed by (bit * DEBRUIJN) >> 58.

    Pythran has no count-trailing-zeros builtin: the de Bruijn multiply finds
    the position with one multiply, one shift and one load (uint8 entries,
    so the loaded index is known not to be negative).
    """
    table = np.zeros(64, dtype=np.uint8)
    for k in range(64):
        table[((np.uint64(1) << np.uint64(k)) * DEBRUIJN) >> np.uint64(58)] = k
    return table


#: Entries of ``pairs`` per table set, and the offset of the set's AC codes in them.
SET = 4096
PAIRS = 2048

#: A de Bruijn sequence for 64-bit words (each 6-bit window occurs once).
DEBRUIJN = np.uint64(0x022FDD63CC95386D)


def _stuff(words, first, end, out, pos):
    """words[first:end], big-endian, at out[pos], 0x00 stuffed after each 0xFF.

    Returns the next position.
    """
    low7 = np.uint64(0x7F7F7F7F7F7F7F7F)
    first = _size(first)
    end = _size(end)
    for i in range(first, end):
        acc = words[i]
        ones = ~acc  # a 0xFF byte of acc is a zero byte of ones; the sum below sets
        # the top bit of every byte but the zero ones (no carry crosses a byte)
        if ~(((ones & low7) + low7) | ones | low7) == np.uint64(0):
            for shift in range(8):
                out[pos + shift] = np.int64((acc >> np.uint64(56 - 8 * shift)) & np.uint64(255))
            pos += 8
        else:  # bytes taken from the top: no shifts shared with the branch above,
            # which g++ otherwise computed for every word before the test
            # (8 shifts and moves a word: q100 4:4:4 74.8 to 74.3 instructions per pixel)
            for _ in range(8):
                byte = np.int64(acc >> np.uint64(56))
                acc = acc << np.uint64(8)
                out[pos] = byte
                pos += 1
                if byte == 255:
                    out[pos] = 0
                    pos += 1
    return pos


def _put(acc, free, nw, code, size, words):
    """Shift a code of size bits into the 64-bit buffer acc; returns (acc, free, nw).

    A code that does not fit fills the buffer with its top bits, the buffer
    goes to words[nw], and the rest of the code starts the next one (bits
    above it are shifted out before they are written).

    Why 64 bits at a time: the flush branch is taken about once in every
    seven codes at q100, at random, so its mispredictions grow with the
    number of flushes. A writer flushing 32 bits at a time (no split codes,
    2026-11-30) did 1.2 % fewer instructions but twice the flushes: in
    ``encode_strip`` at q100 4:4:4 (callgrind --branch-sim, 2048 x 256
    mosaic crop) 145,590 mispredicted branches against 97,468 with this
    one, and one worker took 1.11x the time of this writer (25 MP mosaic,
    25 rounds alternating the two builds in one process, median of the
    paired ratios 0.904, quartiles 0.890 and 0.930; q90 4:4:4 0.956).
    """
    free -= size
    if free < 0:
        acc = (acc << np.uint64(size + free)) | (code >> np.uint64(-free))
        words[nw] = acc
        nw += 1
        free += 64
        acc = code
    else:
        acc = (acc << np.uint64(size)) | code
    return acc, free, nw


def _walk(Q, j, mask, pairs, pt, value, words, acc, free, nw):
    """Code the AC coefficients of block j (set bits of mask) and its end of block; returns (acc, free, nw).

    ``_code_blocks`` calls it with a literal ``pt`` (the table set's offset in
    ``pairs``) for tables 0 and 1. The loop is register-bound: g++ spilled
    table pointers to the stack and reloaded them for every coefficient. So
    it reads as few arrays as it can: ``pairs`` also holds the set's Huffman
    AC codes (ZRL, end of block and values beyond the pairs come from there,
    not from ``huff``), and the bit positions (``_position_table``) sit in
    ``words[:64]``, in front of the coded words. Runs are kept shifted left
    by 7, the pairs' row stride: the position table holds ``k << 7`` and
    ``last`` is ``(previous k + 1) << 7``, so ``run << 7`` is one subtraction.
    Runs of 16 zeros need no test here: ``_ac_masks`` sets a bit where a ZRL
    is coded (``_zrl_bits``) and the pairs entry of a zero after 15 zeros is
    the ZRL code. ``run7`` and ``last`` keep the position entry's offset bits
    above bit 15 instead of masking them off: every use reads the low bits
    only (the pairs index is cut to 16 bits, the large-value index to 8).
    The coefficient offset is taken from the unsigned entry, so that Pythran
    adds no wrap-around test to the load. With ``_zrl_bits`` (callgrind,
    2048 x 256 mosaic crop, ``encode_strip`` in instructions per pixel):
    q100 4:4:4 54.6 to 51.4, q90 4:4:4 31.8 to 31.0, q90 4:2:0 21.1 to
    20.5, q75 4:2:0 15.3 to 15.0 (29 instructions a non-zero coefficient,
    from 33).
    Splitting the loop into a token loop and a bit-writer loop did not pay
    (the token loop spilled as much), nor did array views for the block's
    coefficients and the table (Pythran keeps a base and an offset per view).
    """
    shift58 = np.uint64(58)
    six = np.uint64(6)
    sixteen = np.uint64(16)
    three = np.int64(3)
    codes = pt + PAIRS
    last = np.int64(128)
    while mask != np.uint64(0):
        xu = words[((mask & (~mask + np.uint64(1))) * DEBRUIJN) >> shift58]
        x = np.int64(xu)
        # the lowest bit cleared with one blsr: ``mask ^= low`` made g++ keep
        # a copy of the mask for the loop test (q100 4:4:4 about -1 instruction
        # per pixel, with the index casts of ``_code_blocks``: 69.5 to 67.0)
        mask &= mask - np.uint64(1)
        run7 = x - last  # the low 16 bits are run << 7; the others are not
        last = x + 128   # cleared: the uses below keep low bits only
        v = np.int64(Q[np.int64(xu >> sixteen) + j])  # unsigned: no wrap-around test
        small = np.uint64(v + 64)
        if small < np.uint64(128):  # code and extra bits in one entry
            h = pairs[pt + np.int64(np.uint16(run7 + np.int64(small)))]
            size = np.int64(h & np.uint64(63))
            code = h >> six
        else:
            e = value[np.uint32(v + 4096)]
            h = pairs[codes + np.int64(np.uint8((run7 >> three) + np.int64(e & np.uint64(15))))]
            size = np.int64(h & np.uint64(63))
            code = (h >> six) | (e >> np.uint64(4))
        acc, free, nw = _put(acc, free, nw, code, size, words)
    if np.uint16(last) < np.uint16(64 << 7):  # end of block
        h = pairs[codes]
        acc, free, nw = _put(acc, free, nw, h >> six, np.int64(h & np.uint64(63)), words)
    return acc, free, nw


def _position_table(DB, NAT, nb, words):
    """words[:64]: for each de Bruijn index of a bit k (``_lowest_bit_table``), k << 7 | (NAT[k] nb) << 16.

    The walk finds both the run (shifted to the pairs' row stride) and the
    coefficient's offset in the group's coefficient rows with one load,
    without nb or a multiply.
    """
    nb = _size(nb)
    for p in range(64):
        k = np.int64(DB[p])
        words[p] = np.uint64(k << 7) | (np.uint64(NAT[k] * nb) << np.uint64(16))


def _code_blocks(Q, m0, gm, hs, vs, ncomp, group, comp_table, huff, pairs, value, pred, M,
                 words, st, acc_st):
    """Huffman-code the blocks of MCUs m0 .. m0 + gm - 1 of Q (a group of ``group`` MCUs) into 64-bit words from words[64]; returns the end.

    The bit buffer is 64 bits wide, as in libjpeg-turbo (``_put``). The AC
    coefficients of a block are visited through its bit mask M[j]
    (``_ac_masks``): lowest set bit, its position (``words[:64]``, see
    ``_position_table``), cleared. Values index the value table as unsigned
    32-bit numbers and the Huffman symbol is cut to 8 bits (both exact for
    valid data): g++ then knows the indices are not negative and drops
    Pythran's wrap-around test of each lookup.
    st = [free bits in the buffer, ...], acc_st = [the buffer].
    """
    acc = acc_st[0]
    free = st[0]
    nw = 64
    six = np.uint64(6)
    for m in range(m0, m0 + gm):
        for blk in range(hs * vs + ncomp - 1):
            c, j = _block_index(blk, m, hs, vs, group)
            # cut to unsigned (exact for valid data): one zero-extension tells
            # g++ the indices are not negative, where ``_size`` cost five
            # instructions each
            c = np.int64(np.uint8(c))
            j = np.int64(np.uint32(j))
            t = np.int64(np.uint8(comp_table[c]))
            v = np.int64(Q[j])
            e = value[np.uint32(v - pred[c] + 4096)]
            pred[c] = v
            h = huff[512 * t + np.int64(e & np.uint64(15))]
            size = np.int64(h & np.uint64(63))
            code = (h >> six) | (e >> np.uint64(4))
            acc, free, nw = _put(acc, free, nw, code, size, words)
            if t == 0:  # a literal pairs offset: a register less in the walk
                acc, free, nw = _walk(Q, j, M[j], pairs, 0, value, words, acc, free, nw)
            elif t == 1:
                acc, free, nw = _walk(Q, j, M[j], pairs, SET, value, words, acc, free, nw)
            else:
                acc, free, nw = _walk(Q, j, M[j], pairs, SET * t, value, words, acc, free, nw)
    acc_st[0] = acc
    st[0] = free
    return nw


def _count_blocks(Q, nb, gm, hs, vs, ncomp, group, comp_table, value, pred, M, DB, NAT, H):
    """Add the Huffman symbols of the blocks of gm MCUs of Q to H[512 t (+256) + symbol].

    H is flat and every index is cut to its table's 256 entries: g++ knows the
    indices are not negative and drops the wrap-around tests (the counting
    pass was slower than the coding one with a two-dimensional table).
    """
    shift58 = np.uint64(58)
    nb = _size(nb)
    for m in range(gm):
        for blk in range(hs * vs + ncomp - 1):
            c, j = _block_index(blk, m, hs, vs, group)
            c = _size(c)
            j = _size(j)
            dc = 512 * _size(comp_table[c])
            ac = dc + 256
            v = np.int64(Q[j])
            H[dc + np.int64(value[v - pred[c] + 4096] & np.uint64(15))] += 1
            pred[c] = v
            last = 0
            mask = M[j]
            while mask != np.uint64(0):
                low = mask & (~mask + np.uint64(1))
                mask ^= low
                k = np.int64(DB[(low * DEBRUIJN) >> shift58])
                run = k - last - 1  # at most 15: longer runs hold ZRL bits (``_zrl_bits``)
                last = k
                e = value[np.uint32(Q[_size(NAT[k]) * nb + j] + 4096)]
                H[ac + np.int64(np.uint8((run << 4) + np.int64(e & np.uint64(15))))] += 1
            if last < 63:
                H[ac] += 1


# MCUs of repeated or one-dimensional content: the default's choice on any image ----------
#
# Where blocks repeat (checkers, stripes, a ramp along one axis: charts, screenshots, generated
# images), one block's rounding luck is the whole image's: a block that decodes a little
# farther from the source than libjpeg's coefficients of it would makes every copy of it
# do so, and the image falls behind Pillow's file by up to several dB (docs/fidelity.md,
# "Repeated and one-dimensional MCUs"). In photographs no MCU is either (only flat ones,
# which the kernels' DC choice serves), so the default chooses libjpeg's coefficients
# where they decode closer on exactly these MCUs, at the cost of the test below per MCU.


def choice_marks(band, stride, row0, channels, width, rows, hs, vs, marks):
    """Mark the MCUs of a strip whose coefficients the default chooses for the decoder; returns how many (``_choice_marks``)."""
    return _choice_marks(band, stride, row0, channels, width, rows, hs, vs, marks)


def _choice_marks(band, stride, row0, channels, width, rows, hs, vs, marks):
    """``choice_marks`` (also run by ``encode_strip``, which then leaves the marks to its caller).

    The strip: ``rows`` rows of ``band`` (uint8) from row ``row0``, ``stride``
    bytes apart, ``width`` pixels of ``channels`` samples; its MCUs are 8 hs x
    8 vs pixels. marks[i] (at least as many items as MCUs): 1 for a whole MCU,
    not flat, whose every row equals its first or whose every column equals
    its first (each channel; ``_mcu_kind``), or whose pixels equal those of
    the MCU after it; 2 for one whose pixels equal those of the MCU before it
    (marked too); else 0. Not marked either: partial MCUs (at the right edge,
    or a strip of fewer rows), and those whose seven sampled pixels are alike
    in every channel (``_samples_alike``: flat, or nearly; the kernels choose
    a flat block's DC for the decoder, and a scan of the MCU, to tell, would
    cost about as much as coding it).
    """
    mw = _size(8 * hs)
    mh = _size(8 * vs)
    width = _size(width)
    channels = _size(channels)
    stride = _size(stride)
    mcus = (width + mw - 1) // mw
    for i in range(mcus):
        marks[i] = 0
    if rows < mh:
        return 0
    whole = width // mw
    rb = mw * channels
    top = _size(row0) * stride
    last = (mh - 1) * stride
    right = (mw - 1) * channels
    middle = (mh // 2) * stride
    column = (mw // 2) * channels
    # A test of each MCU's first channel first, on seven pixels: its corners, its centre
    # and the middles of its first row and column, each compared where a mark needs them
    # alike, and with the MCU before's; no branch, no call. Each kind of mark needs one of
    # these in every channel, so most MCUs of photographs end here, at about 5 ns an MCU
    # (docs/fidelity.md, "Repeated and one-dimensional MCUs"; the same test in loops over
    # the strip's bytes, which g++ left scalar, took 25 to 140 ns)
    pa = np.int32(-1)  # the MCU before's samples (none: -1, unlike any sample)
    pb = np.int32(-1)
    pc = np.int32(-1)
    pd = np.int32(-1)
    pm = np.int32(-1)
    for i in range(whole):
        o = top + i * rb
        a = np.int32(band[o])
        b = np.int32(band[o + right])
        c = np.int32(band[o + last])
        d = np.int32(band[o + last + right])
        e = np.int32(band[o + middle])
        f = np.int32(band[o + column])
        m = np.int32(band[o + middle + column])
        down = (a ^ c) | (b ^ d) | (a ^ e) | (f ^ m)  # every row the first
        across = (a ^ b) | (c ^ d) | (a ^ f) | (e ^ m)  # every column the first
        same = (a ^ pa) | (b ^ pb) | (c ^ pc) | (d ^ pd) | (m ^ pm)  # the MCU before
        marks[i] = (1 if down == 0 else 0) + (2 if across == 0 else 0) + (4 if same == 0 else 0)
        pa = a
        pb = b
        pc = c
        pd = d
        pm = m
    # the bits: ROWS_ALIKE, COLUMNS_ALIKE, SAME_SAMPLES
    count = 0
    # An MCU the same as the one before is of its kind: the comparison first, so that it
    # spares the scan of ``_mcu_kind``, and never made twice (an MCU compared with the one
    # after it hands that on): a vertical ramp's MCU is compared with the one before only,
    # not also scanned whole. (No MCU that gets to the scans is flat: a flat one's samples
    # are alike; and one the same as the one before had that one scanned.)
    kind = -1  # the kind of the MCU before (-1: not scanned)
    same_next = -1  # whether it is the same as this one (-1: not compared)
    for i in range(whole):
        quick = np.int32(marks[i])
        after = np.int32(marks[i + 1]) if i + 1 < whole else np.int32(0)
        kind_before = kind
        same = same_next if i > 0 and (quick & SAME_SAMPLES) != 0 else 0
        kind = -1
        same_next = -1
        marks[i] = 0
        if quick == 0 and (after & SAME_SAMPLES) == 0:
            continue
        x0 = top + i * rb
        if ((quick & (ROWS_ALIKE | COLUMNS_ALIKE)) == ROWS_ALIKE | COLUMNS_ALIKE
                and _samples_alike(band, x0, last, right, middle, column, channels)):
            continue  # flat, or nearly
        if same < 0:
            same = _same_mcu(band, x0 - rb, x0, stride, rb, mh)
        kind = kind_before if same == 1 else _mcu_kind(band, x0, stride, rb, mh, channels)
        mark = 2 if same == 1 else 1 if kind == 1 else 0
        if mark == 0 and (after & SAME_SAMPLES) != 0:
            same_next = _same_mcu(band, x0, x0 + rb, stride, rb, mh)
            mark = same_next
        marks[i] = mark
        count += 1 if mark > 0 else 0
    return count


#: ``_choice_marks``' first test's bits: an MCU's sampled pixels of its first channel as
#: where every row is the first, as where every column is, and the same as the MCU before's
ROWS_ALIKE = 1
COLUMNS_ALIKE = 2
SAME_SAMPLES = 4


def _samples_alike(band, x0, last, right, middle, column, channels):
    """1 if the seven pixels ``_choice_marks`` samples of the MCU at band[x0] are alike in every channel, else 0."""
    d = np.int32(0)
    for k in range(channels):
        a = np.int32(band[x0 + k])
        d |= ((a ^ np.int32(band[x0 + right + k])) | (a ^ np.int32(band[x0 + last + k]))
              | (a ^ np.int32(band[x0 + last + right + k])) | (a ^ np.int32(band[x0 + middle + k]))
              | (a ^ np.int32(band[x0 + column + k]))
              | (a ^ np.int32(band[x0 + middle + column + k])))
    return 1 if d == 0 else 0


def _mcu_kind(band, x0, stride, rb, mh, channels):
    """An MCU's pixels (``mh`` rows of ``rb`` bytes from band[x0], ``stride`` apart): 0 flat, 1 one-dimensional (every row the first, or every column the first), 2 neither.

    Returns after the first row that rules out both. Each row is compared with
    the first (every row the first) and each pixel with the one before it
    (every column the first) in loops without exits that OR the differences,
    on indices known to be non-negative (``_size``): with a test per byte and
    plain indices, g++ kept them scalar with a wrap-around test per load
    (about 1.6 us a 4:2:0 MCU for this and ``_same_mcu``).
    """
    x0 = _size(x0)
    stride = _size(stride)
    rb = _size(rb)
    channels = _size(channels)
    rows_diff = np.int32(0)
    cols_diff = np.int32(0)
    for y in range(mh):
        a = _size(x0 + y * stride)
        for j in range(rb):
            rows_diff |= np.int32(band[a + j]) ^ np.int32(band[x0 + j])
        for j in range(channels, rb):
            cols_diff |= np.int32(band[a + j]) ^ np.int32(band[a + j - channels])
        if rows_diff != 0 and cols_diff != 0:
            return 2
    return 0 if rows_diff == 0 and cols_diff == 0 else 1


def _same_mcu(band, x0, x1, stride, rb, mh):
    """1 if the MCUs of ``mh`` rows of ``rb`` bytes at band[x0] and band[x1] (rows ``stride`` apart) are the same, else 0 (after the first row that differs; loops as ``_mcu_kind``'s)."""
    x0 = _size(x0)
    x1 = _size(x1)
    stride = _size(stride)
    rb = _size(rb)
    for y in range(mh):
        a = _size(x0 + y * stride)
        b = _size(x1 + y * stride)
        d = np.int32(0)
        for k in range(rb):
            d |= np.int32(band[a + k]) ^ np.int32(band[b + k])
        if d != 0:
            return 0
    return 1


def _packed(band, row_bytes, channels, coefs):
    """Whether the colour stage may read pixels as int32 words (``_ycc_packed``, ``_unpack3``).

    Pixels of 4 bytes need rows of whole words; pixels of 3 bytes may start
    anywhere (``_unpack3`` puts the first few of a row together byte by byte).
    """
    return (((channels == 4 and row_bytes % 4 == 0) or channels == 3)
            and band.shape[0] % 4 == 0 and _little_endian(coefs))


def _row_index(row0, nrows, rows):
    """Band row of each strip row: rows past the image repeat the last one."""
    index = np.zeros(16, dtype=np.int64)
    for y in range(rows):
        index[y] = row0 + min(y, nrows - 1)
    return index


def _finish(acc_st, st, out, pos, pad, carry):
    """The whole bytes of the bit buffer at out[pos], stuffed; returns the next position.

    With pad, the last byte is completed with 1-bits and the buffer left
    empty; else the bits short of a byte stay in carry = [count, bits].
    """
    acc = acc_st[0]
    nbits = 64 - st[0]
    tail = nbits % 8
    if tail and pad:
        acc = (acc << np.uint64(8 - tail)) | np.uint64((1 << (8 - tail)) - 1)
        nbits += 8 - tail
        tail = 0
    carry[0] = np.uint64(tail)
    carry[1] = acc & np.uint64((1 << tail) - 1)
    acc = acc >> np.uint64(tail)
    nbits -= tail
    while nbits > 0:
        nbits -= 8
        byte = np.int64((acc >> np.uint64(nbits)) & np.uint64(255))
        out[pos] = byte
        pos += 1
        if byte == 255:
            out[pos] = 0
            pos += 1
    acc_st[0] = np.uint64(0)
    st[0] = 64
    return pos


def _group_size(group, left, g, interval):
    """MCUs of the next group: at most ``group`` and the ``left`` of the strip, cut where the
    restart interval of the image's MCU g (the group's first) ends (``interval`` MCUs; 0 none)."""
    gm = min(group, left)
    if interval > 0:
        gm = min(gm, interval - g % interval)
    return gm


def _restart(acc_st, st, out, pos, carry, pred, ending):
    """The bits so far padded, then RSTn for interval ``ending`` (n = ending % 8), and the DC predictors reset; returns the next position."""
    pos = _finish(acc_st, st, out, pos, True, carry)
    out[pos] = 255
    out[pos + 1] = 0xD0 + ending % 8
    pos += 2
    for c in range(4):
        pred[c] = 0
    return pos


def encode_strip(band, row_bytes, row0, nrows, width, channels, ncomp, convert, hs, vs,
                 comp_table, recip, joint, huff, pairs, value, samples, dct, coefs, words, out, group,
                 pred, carry, pad, mcu0, interval, marks):
    """Entropy-coded bytes of one strip into out; returns their count.

    With ``marks`` not empty (an item an MCU), the strip's MCUs are marked
    first (``choice_marks``); where one is, -1 and nothing coded: the default
    then chooses libjpeg's coefficients on the marked MCUs, on the two-step
    path (``strips.encode_strip``), from these marks. The test costs about
    140 instructions an MCU (docs/fidelity.md, "Repeated and one-dimensional
    MCUs").

    samples, dct, coefs and words are scratch buffers of ``scratch_sizes`` items.

    Restart intervals: pred[c] is the DC predictor of component c, read at
    the start (zeros at the start of a restart interval) and left at the
    strip's last DC values. carry = [bit count (0..7), bits]: the bits the
    strip's code starts with (the previous strip's unwritten tail, inside a
    restart interval). With pad, the last byte is completed with 1-bits and
    carry left empty; else the last bits short of a byte are left in carry.
    mcu0 is the image's index of the strip's first MCU and interval the MCUs
    per restart interval (0: no restarts inside the strip): before every later
    MCU of the strip whose index is a multiple of interval, the bits are
    padded, RSTn written (n: the index of the interval that ends, modulo 8)
    and the predictors reset. Groups of MCUs are cut at those MCUs, so the
    coding loop itself knows nothing of restarts. The work is ``encode_strips``'
    on one strip: its first 8 vs rows where ``nrows`` is more.
    """
    done = np.zeros(1, dtype=np.int64)
    n = encode_strips(band, row_bytes, row0, min(nrows, 8 * vs), width, channels, ncomp,
                      convert, hs, vs,
                      comp_table, recip, joint, huff, pairs, value, samples, dct, coefs, words,
                      out, group, pred, carry, pad, mcu0, interval, marks,
                      np.zeros(0, dtype=np.int32), done)
    return n if done[0] == 1 else -1


def encode_strips(band, row_bytes, row0, nrows, width, channels, ncomp, convert, hs, vs,
                  comp_table, recip, joint, huff, pairs, value, samples, dct, coefs, words, out,
                  group, pred, carry, pad, mcu0, interval, marks, plan, done):
    """``encode_strip`` of the consecutive strips of rows row0 .. row0 + nrows - 1 in one call; returns the byte count.

    Strips of 8 vs rows (the last may be shorter), the first one's first MCU
    the image's ``mcu0``; their bytes are those of ``encode_strip`` called on
    each in turn with the DC predictors and bits carried from one to the next
    and each strip that ends a restart interval padded and followed by its
    RSTn: the restarts inside strips and between them are one rule here
    (every MCU but the call's first whose index is a multiple of
    ``interval``), and the bits run on between strips. ``pad`` as
    ``encode_strip``'s, for the last strip. done[0]: the strips coded.
    With ``marks`` not empty, each strip's MCUs are marked first
    (``choice_marks``); at the first strip with a marked MCU the call stops
    before it, its bits so far left unpadded in carry (``pad`` ignored),
    done[0] that strip's number in the call and ``marks`` its marks: the
    caller codes it on the two-step path and calls again for the rest.
    One call instead of one a strip saves about 2.5 us a strip of the
    kernel call's fixed costs (its arguments, its arrays, docs/performance.md,
    "Small saves: strips in one call"), and the caller's Python a strip.
    With ``plan`` not empty (``smooth.smooth_plan``'s, for these strips), the
    default's choices on smooth blocks are written into each group's
    coefficients before they are coded (``_apply_plan``); at the first strip
    where a block's DC is not the one its choice holds for, the call stops
    before that strip as before a marked one (its bits so far restored): the
    caller decides it on the two-step path.
    """
    rows = 8 * vs
    strips = (nrows + rows - 1) // rows
    mcus = (width + 8 * hs - 1) // (8 * hs)
    packed = _packed(band, row_bytes, channels, coefs)
    nb = group * (hs * vs + ncomp - 1)
    M = np.zeros(nb, dtype=np.uint64)
    NAT = _natural_order()
    _position_table(_lowest_bit_table(), NAT, nb, words)
    st = np.zeros(2, dtype=np.int64)
    st[0] = 64 - np.int64(carry[0] & np.uint64(7))
    acc_st = np.zeros(1, dtype=np.uint64)
    acc_st[0] = carry[1]
    pos = 0
    p = 1  # the next record of the plan
    end = np.int64(plan[0]) if plan.shape[0] > 0 else np.int64(0)
    back = np.zeros(8, dtype=np.int64)  # a planned strip's start: pos, the bits, pred
    back_acc = np.uint64(0)
    ZZ = np.zeros(64, dtype=np.int64)  # the zigzag position of each natural index
    for z in range(64):
        ZZ[NAT[z]] = z
    for s in range(strips):
        top = row0 + s * rows
        n = min(rows, nrows - s * rows)
        first = mcu0 + s * mcus
        if s > 0 and interval > 0 and first % interval == 0:  # a restart between strips
            pos = _restart(acc_st, st, out, pos, carry, pred, first // interval - 1)
        if marks.shape[0] > 0:
            if _choice_marks(band, row_bytes, top, channels, width, n, hs, vs, marks):
                done[0] = s
                return _finish(acc_st, st, out, pos, False, carry)
        if p < end:
            back[0] = pos
            back[1] = st[0]
            back[2] = st[1]
            for c in range(4):
                back[4 + c] = pred[c]
            back_acc = acc_st[0]
        rowidx = _row_index(top, n, rows)
        m0 = 0
        while m0 < mcus:
            g = first + m0
            if m0 > 0 and interval > 0 and g % interval == 0:  # a restart inside the strip
                pos = _restart(acc_st, st, out, pos, carry, pred, g // interval - 1)
            gm = _group_size(group, mcus - m0, g, interval)
            _group_coefs(band, row_bytes, rowidx, width, channels, ncomp, convert, hs, vs,
                         comp_table, recip, joint, group, m0, gm, samples, dct, coefs, packed)
            _ac_masks(coefs, nb, NAT, M)
            if ncomp == 1:
                _flat_grey(coefs, M, gm, samples, 8 * group, width - 8 * m0, n, recip,
                           64 * comp_table[0])
            if p < end:
                p = _apply_plan(plan, p, end, s, m0, m0 + gm, coefs, nb, group, ZZ, words, M)
                if p < 0:  # a DC the choice does not hold for: stopped before the strip
                    pos = back[0]
                    st[0] = back[1]
                    st[1] = back[2]
                    for c in range(4):
                        pred[c] = back[4 + c]
                    acc_st[0] = back_acc
                    done[0] = s
                    return _finish(acc_st, st, out, pos, False, carry)
            last = _code_blocks(coefs, 0, gm, hs, vs, ncomp, group, comp_table, huff, pairs,
                                value, pred, M, words, st, acc_st)
            pos = _stuff(words, 64, last, out, pos)
            m0 += gm
    done[0] = strips
    return _finish(acc_st, st, out, pos, pad, carry)


def _apply_plan(plan, p, end, s, m0, m1, Q, nb, group, ZZ, words, M):
    """The records of ``smooth.smooth_plan``'s plan from plan[p] for strip s's MCUs before m1
    written into the group of MCUs m0 .. m1 - 1 (no subsampling: component c's block of MCU
    m at j = c group + m - m0), their masks M[j] made again; returns the next record, or -1
    at a block whose DC is not the record's (the choice was made for that DC only).

    A record (``smooth.PLAN_RECORD`` = 5 items, then its coefficients): strip, MCU,
    component, DC, count; each coefficient 256 value + index (natural order; ZZ[k]: its
    zigzag position). A block's non-zero AC after the writes are among those before (the
    set bits of M[j] but its ZRL bits) and those written: only those are tested, their
    coefficients found by the bit's entry in ``words[:64]`` (``_position_table``), as the
    coding loop finds them (a test of all 63 AC of each block written, strided loads, cost
    a 3000 x 2000 ramp's save 2 ms of its 6.8).
    """
    while p < end and plan[p] == s and plan[p + 1] < m1:
        j = _size(np.int64(plan[p + 2]) * group + plan[p + 1] - m0)
        if Q[j] != plan[p + 3]:
            return -1
        count = np.int64(plan[p + 4])
        if count > 0:
            bits = M[j]
            for i in range(count):
                w = plan[p + 5 + i]
                k = w & np.int32(255)
                Q[_size(np.int64(k) * nb + j)] = w >> np.int32(8)
                bits |= (np.uint64(1) << np.uint64(ZZ[k])) if k > 0 else np.uint64(0)
            raw = np.uint64(0)
            while bits != np.uint64(0):
                low = bits & (~bits + np.uint64(1))
                bits ^= low
                at = words[_size(np.int64((low * DEBRUIJN) >> np.uint64(58)))]
                if Q[_size(np.int64(at >> np.uint64(16)) + j)] != 0:
                    raw |= low
            M[j] = _zrl_bits(raw)
        p += 5 + count
    return p


def count_strip(band, row_bytes, row0, nrows, width, channels, ncomp, convert, hs, vs,
                comp_table, recip, joint, value, samples, dct, coefs, counts, group):
    """Add the Huffman symbols one strip would use to counts[2 t (+1), symbol]."""
    rowidx = _row_index(row0, nrows, 8 * vs)
    packed = _packed(band, row_bytes, channels, coefs)
    pred = np.zeros(4, dtype=np.int64)
    nb = group * (hs * vs + ncomp - 1)
    M = np.zeros(nb, dtype=np.uint64)
    DB = _lowest_bit_table()
    NAT = _natural_order()
    mcus = (width + 8 * hs - 1) // (8 * hs)
    H = np.zeros(counts.shape[0] * 256, dtype=np.int64)
    for m0 in range(0, mcus, group):
        gm = min(group, mcus - m0)
        _group_coefs(band, row_bytes, rowidx, width, channels, ncomp, convert, hs, vs,
                     comp_table, recip, joint, group, m0, gm, samples, dct, coefs, packed)
        _ac_masks(coefs, nb, NAT, M)
        if ncomp == 1:
            _flat_grey(coefs, M, gm, samples, 8 * group, width - 8 * m0, nrows, recip,
                       64 * comp_table[0])
        _count_blocks(coefs, nb, gm, hs, vs, ncomp, group, comp_table, value, pred, M, DB, NAT, H)
    for r in range(counts.shape[0]):
        for s in range(256):
            counts[r, s] += H[256 * r + s]
    return 0


# The two-step path: coefficients of a whole strip, then their coding --------------------
#
# For the decoder-aware quantization (transpiled/refine.py, docs/fidelity.md): the
# caller changes a strip's coefficients between the two calls. ``strip_coefs``
# computes them group by group, as ``encode_strip`` does, and stores each group's
# samples and coefficients into strip-sized buffers laid out as one group of all
# the strip's MCUs (``_group_coefs``'s layout with group = mcus, the layout
# ``refine.refine_group`` reads). ``code_coefs`` codes them where they lie, a group
# at a time, with ``encode_strip``'s own stages and restarts, and ``count_coefs``
# counts them there: the same bytes and counts as ``encode_strip`` and
# ``count_strip`` for unchanged coefficients.


def strip_layout(width, ncomp, hs, vs):
    """Items of the strip-sized buffers of ``strip_coefs``: float32 samples, int32 coefficients.

    They hold one group of all the strip's MCUs (``scratch_sizes`` with group =
    ``strip_group``'s).
    """
    mcus = (width + 8 * hs - 1) // (8 * hs)
    samples, _, coefs, _ = scratch_sizes(ncomp, hs, vs, strip_group(mcus, ncomp))
    return samples, coefs


def strip_group(mcus, ncomp):
    """MCUs of the group a strip of ``mcus`` MCUs is laid out as in the strip buffers (``strip_layout``).

    ``mcus``, but for grey strips of a multiple of 64 blocks (widths of 512 x
    k pixels): 16 more, unused. The layout's 64 rows of coefficients, and of
    the whole-strip DCT's outputs (``strip_coefs``), lie nb items apart;
    with nb a multiple of 64 int32 or float32 items (256 bytes) they fell in
    1 to 4 of the 64 sets of a first-level cache of 64-byte lines and evicted
    one another in every pass down a block's 64 coefficients: on grey strips
    of 1024 blocks ``strip_coefs`` took 39 ns a block against 25 at 1008 or
    1040, ``code_coefs`` 79 against 69 (AMD Zen 4; 2048 blocks alike). With
    16 more the rows lie an odd number of lines apart, each in a set of its
    own. Colour and CMYK strips are not padded: ``refine_group_rgb`` and
    ``refine_group_sub`` index their blocks by component as c mcus + m (the
    smooth module and ``refine_group`` take the layout's MCUs as an argument).
    """
    if ncomp == 1 and mcus % 64 == 0:
        return mcus + 16
    return mcus


def _move_coefs(src, sgroup, sm0, dst, dgroup, dm0, gm, ncomp, hs, vs):
    """Coefficients of gm MCUs from MCU sm0 of a group of sgroup MCUs (src) to MCU dm0 of one of dgroup (dst)."""
    snb = _size(sgroup * (hs * vs + ncomp - 1))
    dnb = _size(dgroup * (hs * vs + ncomp - 1))
    luma = _size(gm * hs)
    gm = _size(gm)
    for n in range(64):
        for by in range(vs):
            s = _size(n * snb + by * sgroup * hs + sm0 * hs)
            d = _size(n * dnb + by * dgroup * hs + dm0 * hs)
            for x in range(luma):
                dst[d + x] = src[s + x]
        for c in range(1, ncomp):
            s = _size(n * snb + vs * sgroup * hs + (c - 1) * sgroup + sm0)
            d = _size(n * dnb + vs * dgroup * hs + (c - 1) * dgroup + dm0)
            for x in range(gm):
                dst[d + x] = src[s + x]


def _store_samples(samples, group, ncomp, hs, vs, m0, gm, out, mcus):
    """The samples of a subsampled group's gm MCUs (``_group_coefs``'s layout) into a group of mcus MCUs at MCU m0.

    Only the planes the DCT reads: component 0's and the subsampled chroma's
    (without subsampling ``strip_coefs`` writes the strip buffers directly).
    """
    rows = 8 * vs
    mw = 8 * hs
    cw = _size(group * mw)
    ow = _size(mcus * mw)
    plane = rows * cw
    oplane = rows * ow
    n = _size(gm * mw)
    for y in range(rows):
        s = _size(y * cw)
        d = _size(y * ow + m0 * mw)
        for x in range(n):
            out[d + x] = samples[s + x]
    n = _size(8 * gm)
    for c in range(1, ncomp):
        for y in range(8):
            s = _size(ncomp * plane + (c - 1) * 64 * group + y * 8 * group)
            d = _size(ncomp * oplane + (c - 1) * 64 * mcus + y * 8 * mcus + 8 * m0)
            for x in range(n):
                out[d + x] = samples[s + x]


def strip_coefs(band, row_bytes, row0, nrows, width, channels, ncomp, convert, hs, vs,
                comp_table, recip, joint, samples, dct, coefs, group, strip_samples, strip_coefs,
                mcu0, interval):
    """Quantized coefficients and level-shifted samples of one strip; returns its MCU count.

    The arguments up to ``coefs`` are ``encode_strip``'s (scratch buffers of
    ``scratch_sizes`` items for ``group``); ``strip_samples`` and
    ``strip_coefs`` (``strip_layout`` items) receive the strip as one group of
    all its MCUs, in ``_group_coefs``'s layout: ``strip_coefs[n * nb + j]``
    with nb = lay * (hs * vs + ncomp - 1), lay = ``strip_group(mcus, ncomp)``
    (the group's MCUs past the strip's unused). ``mcu0`` and ``interval`` are
    ``encode_strip``'s: at 4:2:x the groups are cut where it cuts them, at
    restarts too, so that each MCU's coefficients are the ones it codes (the
    luma correction, ``_luma_fix``, reads the neighbouring MCUs of a group);
    without subsampling the strip is one group.
    """
    rowidx = _row_index(row0, nrows, 8 * vs)
    # a bool, as encode_strip passes: the same instantiation of _group_coefs. (An
    # integer here, once meant to keep encode_strip's copy inlined, made g++ leave
    # this copy's packed colour functions out of line with a sign test on every
    # load, unvectorized: callgrind, astronaut q90 4:2:2 refine=1, strip_coefs and
    # code_coefs 18.8 -> 10.5 M instructions; encode_strip the same within 0.4 %.)
    packed = _packed(band, row_bytes, channels, coefs)
    mcus = (width + 8 * hs - 1) // (8 * hs)
    lay = strip_group(mcus, ncomp)
    NAT = _natural_order()
    if hs * vs == 1:
        # Without subsampling no stage reads another MCU's samples or coefficients (the
        # luma correction, which does, runs at 4:2:x only), so the strip's coefficients do
        # not depend on where groups are cut: the whole strip in one group, straight into
        # the strip buffers, its DCT in a strip-sized buffer of its own. Copying each group
        # (``_store_samples``, ``_move_coefs``) cost about 210 instructions a block
        # (callgrind, issue 15's 1024 x 768 ramp at q100: strip_coefs 9.2 M of which 2.6 M
        # copies).
        nb = lay * ncomp
        wide = np.empty(64 * nb, dtype=np.float32)
        _group_coefs(band, row_bytes, rowidx, width, channels, ncomp, convert, hs, vs,
                     comp_table, recip, joint, lay, 0, mcus, strip_samples, wide,
                     strip_coefs, packed)
        if ncomp == 1:  # flat blocks' DC as ``encode_strip`` chooses it
            W = np.zeros(nb, dtype=np.uint64)
            _ac_masks(strip_coefs, nb, NAT, W)  # the unused blocks' masks too: not read
            _flat_grey(strip_coefs, W, mcus, strip_samples, 8 * lay, width, nrows, recip,
                       64 * comp_table[0])
        return mcus
    m0 = 0  # subsampled (so not grey): group by group, copied into the strip buffers
    while m0 < mcus:
        gm = _group_size(group, mcus - m0, mcu0 + m0, interval)
        _group_coefs(band, row_bytes, rowidx, width, channels, ncomp, convert, hs, vs,
                     comp_table, recip, joint, group, m0, gm, samples, dct, coefs, packed)
        _store_samples(samples, group, ncomp, hs, vs, m0, gm, strip_samples, lay)
        _move_coefs(coefs, group, 0, strip_coefs, lay, m0, gm, ncomp, hs, vs)
        m0 += gm
    return mcus


def _coding_state(strip_coefs, nb, words, carry):
    """``code_coefs``' and ``code_copies``' coder state for a layout of nb blocks a
    coefficient: the blocks' AC masks (``_ac_masks``), with the bit positions in words[:64]
    (``_position_table``), and the bit buffer's [free bits] and [bits] continued from
    ``carry``."""
    M = np.zeros(nb, dtype=np.uint64)
    NAT = _natural_order()
    _position_table(_lowest_bit_table(), NAT, nb, words)
    _ac_masks(strip_coefs, nb, NAT, M)
    st = np.zeros(2, dtype=np.int64)
    st[0] = 64 - np.int64(carry[0] & np.uint64(7))
    acc_st = np.zeros(1, dtype=np.uint64)
    acc_st[0] = carry[1]
    return M, st, acc_st


def code_coefs(strip_coefs, width, ncomp, hs, vs, comp_table, huff, pairs, value, words,
               out, group, pred, carry, pad, mcu0, interval):
    """``encode_strip`` of the coefficients ``strip_coefs`` left (maybe changed since); returns the byte count.

    pred, carry, pad, mcu0 and interval as ``encode_strip``'s; words is its
    scratch buffer for ``group``. The same groups, restarts, DC prediction and
    stages: for the coefficients ``strip_coefs`` computed, the bytes of
    ``encode_strip``. The groups are coded where they lie in ``strip_coefs``
    (one group of the strip's MCUs), their masks made once for the strip:
    no copy of each group (``_move_coefs``) as before, about 200 instructions
    a block less.
    """
    mcus = (width + 8 * hs - 1) // (8 * hs)
    lay = strip_group(mcus, ncomp)
    M, st, acc_st = _coding_state(strip_coefs, lay * (hs * vs + ncomp - 1), words, carry)
    pos = 0
    m0 = 0
    while m0 < mcus:
        g = mcu0 + m0
        if m0 > 0 and interval > 0 and g % interval == 0:  # a restart inside the strip
            pos = _restart(acc_st, st, out, pos, carry, pred, g // interval - 1)
        gm = _group_size(group, mcus - m0, g, interval)
        end = _code_blocks(strip_coefs, m0, gm, hs, vs, ncomp, lay, comp_table, huff, pairs,
                           value, pred, M, words, st, acc_st)
        pos = _stuff(words, 64, end, out, pos)
        m0 += gm
    return _finish(acc_st, st, out, pos, pad, carry)


def code_copies(strip_coefs, width, ncomp, hs, vs, comp_table, huff, pairs, value, words,
                out, group, pred, carry, pad, mcu0, interval, row_mcus, copies):
    """``code_coefs`` of strips of ``row_mcus`` MCUs side by side, strip k coded from strip ``copies[k]``'s coefficients; returns the byte count.

    ``strip_coefs`` holds ``strip_coefs``' layout of the distinct strips side
    by side (``width`` their columns); the strips coded are ``copies``' many,
    each the index of the distinct strip whose coefficients it codes
    (``strips.StripCoder._code_side``: a strip the same as the one before is
    refined once). The bytes of ``code_coefs`` on those coefficients laid out
    again for every strip, without laying them out (``strips.copy_coefs`` did,
    with NumPy: 29 us of a 200 us save of a 128 x 128 RGB ramp): the groups of
    each strip are coded where its copy's lie, cut at each strip's first MCU
    (the bit stream does not depend on where groups are cut), the masks made
    for the distinct strips only. mcu0 and interval count the strips coded.
    ``code_coefs``' loop over groups is written again here on purpose: as a call
    of this one with one copy, ``code_coefs`` took 2.1 % more instructions
    (callgrind, strips of a grey photo at q90: products in ``_code_blocks``'
    indices); their state is made in one place (``_coding_state``).
    """
    mcus = (width + 8 * hs - 1) // (8 * hs)
    lay = strip_group(mcus, ncomp)
    M, st, acc_st = _coding_state(strip_coefs, lay * (hs * vs + ncomp - 1), words, carry)
    pos = 0
    m0 = 0  # the MCUs coded so far
    for k in range(copies.shape[0]):
        s0 = copies[k] * row_mcus  # the copy's first MCU in the layout
        m = 0
        while m < row_mcus:
            g = mcu0 + m0
            if m0 > 0 and interval > 0 and g % interval == 0:  # a restart inside the strip
                pos = _restart(acc_st, st, out, pos, carry, pred, g // interval - 1)
            gm = _group_size(group, row_mcus - m, g, interval)
            end = _code_blocks(strip_coefs, s0 + m, gm, hs, vs, ncomp, lay, comp_table, huff,
                               pairs, value, pred, M, words, st, acc_st)
            pos = _stuff(words, 64, end, out, pos)
            m += gm
            m0 += gm
    return _finish(acc_st, st, out, pos, pad, carry)


def count_coefs(strip_coefs, width, ncomp, hs, vs, comp_table, value, counts):
    """``count_strip`` of the coefficients ``strip_coefs`` left (maybe changed since).

    Counted where they lie, the strip as one group (counting knows no restarts),
    as ``code_coefs`` codes them: no copy of each group.
    """
    pred = np.zeros(4, dtype=np.int64)
    mcus = (width + 8 * hs - 1) // (8 * hs)
    lay = strip_group(mcus, ncomp)
    nb = lay * (hs * vs + ncomp - 1)
    M = np.zeros(nb, dtype=np.uint64)
    DB = _lowest_bit_table()
    NAT = _natural_order()
    H = np.zeros(counts.shape[0] * 256, dtype=np.int64)
    _ac_masks(strip_coefs, nb, NAT, M)
    _count_blocks(strip_coefs, nb, mcus, hs, vs, ncomp, lay, comp_table, value, pred, M, DB,
                  NAT, H)
    for r in range(counts.shape[0]):
        for s in range(256):
            counts[r, s] += H[256 * r + s]
    return 0


def shift_stuffed(data, n, bits, value, out):
    """Entropy-coded bytes moved by ``bits`` bits (1 to 7): the scan writer's join of a part that follows another mid-byte.

    ``data[:n]`` are whole stuffed bytes (a 0 after each 0xFF that codes
    data); ``value``'s low ``bits`` bits come first. Writes the whole bytes of
    that bit stream, stuffed, into ``out`` (at most 2 n bytes) and returns
    (bytes written, the value of the ``bits`` bits left over): the stream holds
    as many whole bytes as ``data`` unstuffed. One pass, where unstuffing,
    shifting and stuffing again with numpy took seven over the data (about 45 ms
    of a 25 MP save at q100 without restart markers).
    """
    low = (1 << bits) - 1
    up = 8 - bits
    prev = value & low
    i = 0
    j = 0
    while i < n:
        b = int(data[i])
        i += 1
        if b == 255 and i < n:  # the stuffed 0 after a coded 0xFF
            i += 1
        o = ((prev & low) << up) | (b >> bits)
        out[j] = o
        j += 1
        if o == 255:
            out[j] = 0
            j += 1
        prev = b
    return j, prev & low
