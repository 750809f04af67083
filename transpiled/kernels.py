"""Strip kernels of pillow_streamjpeg: pure computation, compiled with Pythran.

One call encodes one strip (one MCU row, hence one restart interval) of pixels
into entropy-coded JPEG bytes: colour conversion, level shift, forward DCT,
quantization, zigzag, DC prediction from zero, Huffman coding, 0xFF00
stuffing and 1-bit padding to a byte. The kernels know nothing of files,
options or markers; everything they need comes in as arrays, and their output
goes into a buffer the caller provides.

This file is plain Python too: run under CPython it gives the same bytes,
slowly, which the tests use as a reference.

Conventions shared with the caller:

- ``band`` is a C-contiguous ``uint8`` array of pixel rows, each row holding
  ``width * channels`` samples (more is allowed and ignored). The strip is the
  ``nrows`` rows starting at ``row0``; rows and columns beyond the image are
  replicated from the last ones, so partial MCUs need no padding copy.
- ``convert`` 1 turns the first three channels (R, G, B) into Y, Cb, Cr in
  floating point; 2 does the same and rounds them to whole sample values
  (better at the finest quantizers); 0 takes the first ``ncomp`` channels as
  components.
- Component 0 is sampled ``hs`` x ``vs`` (1 or 2 each); the others 1 x 1, by
  averaging (a box filter, in floating point).
- ``comp_table[c]`` selects component c's quantization and Huffman tables.
- ``recip[t, k]`` is the reciprocal divisor of zigzag coefficient k of table t
  (quantizer times the AAN scale factors, see ``tables.py``).
- ``huff[2 t]`` and ``huff[2 t + 1]`` are the DC and AC code tables of table
  set t: entry = (code length << 16) | code, indexed by symbol.
"""
import numpy as np

# pythran export encode_strip(uint8[:,:], int, int, int, int, int, int, int, int, int64[:], float64[:,:], uint32[:,:], uint8[:])
# pythran export count_strip(uint8[:,:], int, int, int, int, int, int, int, int, int64[:], float64[:,:], int64[:,:])
# pythran export strip_capacity(int, int, int, int, int)


def strip_capacity(width, ncomp, hs, vs, sampled):
    """Bytes that one strip can need at most (output buffer size).

    A block codes to at most 27 + 63 * 26 bits (209 bytes), doubled by
    stuffing in the worst case: 512 bytes a block is a safe bound.
    """
    mcus = (width + 8 * hs - 1) // (8 * hs)
    blocks = hs * vs + (ncomp - 1) if sampled else ncomp * hs * vs
    return mcus * blocks * 512 + 16


def _natural_order():
    return np.array([
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
        12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
        58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63],
        dtype=np.int64)


def _categories():
    """Bit length of each magnitude 0..2047 (the JPEG size category)."""
    cat = np.zeros(2048, dtype=np.int64)
    for n in range(1, 12):
        for m in range(1 << (n - 1), 1 << n):
            cat[m] = n
    return cat


def _row_index(row0, nrows, rows):
    """Band row of each strip row: rows past the image repeat the last one."""
    index = np.zeros(16, dtype=np.int64)
    for py in range(rows):
        index[py] = row0 + min(py, nrows - 1)
    return index


def _load_mcu(band, rowidx, width, channels, ncomp, convert, hs, vs, x0, mcu):
    """Level-shifted components of the MCU at column x0, in mcu[256 c + 16 y + x].

    Columns past the image repeat the last one; only the last MCU of a row
    needs that, so the inner loops of the others have no clamping. (mcu is
    flat: Pythran does not inline three-dimensional indexing.)
    """
    mw = 8 * hs
    inside = min(mw, width - x0)
    for py in range(8 * vs):
        r = rowidx[py]
        o = 16 * py
        if convert > 0:
            for px in range(inside):
                i = (x0 + px) * channels
                red = float(band[r, i])
                green = float(band[r, i + 1])
                blue = float(band[r, i + 2])
                y = 0.299 * red + 0.587 * green + 0.114 * blue - 128.0
                cb = -0.168735892 * red - 0.331264108 * green + 0.5 * blue
                cr = 0.5 * red - 0.418687589 * green - 0.081312411 * blue
                if convert == 2:  # rounded to whole sample values
                    y = float(int(y + 256.5) - 256)
                    cb = float(int(cb + 256.5) - 256)
                    cr = float(int(cr + 256.5) - 256)
                mcu[o + px] = y
                mcu[256 + o + px] = cb
                mcu[512 + o + px] = cr
        else:
            for c in range(ncomp):
                for px in range(inside):
                    mcu[256 * c + o + px] = float(
                        band[r, (x0 + px) * channels + c]) - 128.0
        for c in range(ncomp):
            for px in range(inside, mw):
                mcu[256 * c + o + px] = mcu[256 * c + o + inside - 1]


def _fill_block(mcu, c, y0, x0, sy, sx, blk):
    """Block of component c from mcu, averaging sy x sx samples per value."""
    base = 256 * c
    if sy == 1 and sx == 1:
        for y in range(8):
            o = base + 16 * (y0 + y) + x0
            for x in range(8):
                blk[8 * y + x] = mcu[o + x]
    else:
        scale = 1.0 / (sy * sx)
        for y in range(8):
            for x in range(8):
                acc = 0.0
                for dy in range(sy):
                    for dx in range(sx):
                        acc += mcu[base + 16 * (sy * y + dy) + sx * x + dx]
                blk[8 * y + x] = acc * scale


def _fdct8(blk, p, s):
    """One 8-point AAN DCT pass over blk[p], blk[p + s], ..., blk[p + 7 s], in place."""
    tmp0 = blk[p] + blk[p + 7 * s]
    tmp7 = blk[p] - blk[p + 7 * s]
    tmp1 = blk[p + s] + blk[p + 6 * s]
    tmp6 = blk[p + s] - blk[p + 6 * s]
    tmp2 = blk[p + 2 * s] + blk[p + 5 * s]
    tmp5 = blk[p + 2 * s] - blk[p + 5 * s]
    tmp3 = blk[p + 3 * s] + blk[p + 4 * s]
    tmp4 = blk[p + 3 * s] - blk[p + 4 * s]
    tmp10 = tmp0 + tmp3
    tmp13 = tmp0 - tmp3
    tmp11 = tmp1 + tmp2
    tmp12 = tmp1 - tmp2
    blk[p] = tmp10 + tmp11
    blk[p + 4 * s] = tmp10 - tmp11
    z1 = (tmp12 + tmp13) * 0.707106781
    blk[p + 2 * s] = tmp13 + z1
    blk[p + 6 * s] = tmp13 - z1
    tmp10 = tmp4 + tmp5
    tmp11 = tmp5 + tmp6
    tmp12 = tmp6 + tmp7
    z5 = (tmp10 - tmp12) * 0.382683433
    z2 = 0.541196100 * tmp10 + z5
    z4 = 1.306562965 * tmp12 + z5
    z3 = tmp11 * 0.707106781
    z11 = tmp7 + z3
    z13 = tmp7 - z3
    blk[p + 5 * s] = z13 + z2
    blk[p + 3 * s] = z13 - z2
    blk[p + s] = z11 + z4
    blk[p + 7 * s] = z11 - z4


def _fdct(blk):
    """Forward DCT of blk[64] in place (AAN, floating point, scaled by 8)."""
    for p in range(0, 64, 8):
        _fdct8(blk, p, 1)
    for p in range(8):
        _fdct8(blk, p, 8)


def _quantize(blk, recip, t, natural, coefs, b):
    """Quantized coefficients of blk, in zigzag order, into coefs[b]."""
    q = int(blk[0] * recip[t, 0] + 16384.5) - 16384
    coefs[b, 0] = max(-2047, min(2047, q))
    for k in range(1, 64):
        q = int(blk[natural[k]] * recip[t, k] + 16384.5) - 16384
        coefs[b, k] = max(-1023, min(1023, q))


def _mcu_coefs(band, rowidx, width, channels, ncomp, convert, hs, vs,
               comp_table, recip, natural, x0, mcu, blk, coefs, btab):
    """Quantized blocks of one MCU, in scan order; returns the block count."""
    _load_mcu(band, rowidx, width, channels, ncomp, convert, hs, vs, x0, mcu)
    b = 0
    for by in range(vs):
        for bx in range(hs):
            _fill_block(mcu, 0, 8 * by, 8 * bx, 1, 1, blk)
            _fdct(blk)
            _quantize(blk, recip, comp_table[0], natural, coefs, b)
            btab[b] = comp_table[0]
            b += 1
    for c in range(1, ncomp):
        _fill_block(mcu, c, 0, 0, vs, hs, blk)
        _fdct(blk)
        _quantize(blk, recip, comp_table[c], natural, coefs, b)
        btab[b] = comp_table[c]
        b += 1
    return b


def _block_symbols(coefs, b, pred, t, cat, syms, bits):
    """Huffman symbols of block b in coding order; returns their count.

    syms[i] is (table row << 8) | symbol, row 2 t for DC and 2 t + 1 for AC;
    bits[i] is (extra bit count << 16) | extra bits.
    """
    diff = coefs[b, 0] - pred
    sign = diff >> 63
    n = cat[(diff ^ sign) - sign]
    syms[0] = ((2 * t) << 8) | n
    bits[0] = (n << 16) | ((diff + sign) & ((1 << n) - 1))
    count = 1
    ac = (2 * t + 1) << 8
    run = 0
    for k in range(1, 64):
        v = coefs[b, k]
        if v == 0:
            run += 1
        else:
            while run > 15:
                syms[count] = ac | 0xF0
                bits[count] = 0
                count += 1
                run -= 16
            sign = v >> 63
            n = cat[(v ^ sign) - sign]
            syms[count] = ac | (run << 4) | n
            bits[count] = (n << 16) | ((v + sign) & ((1 << n) - 1))
            count += 1
            run = 0
    if run > 0:
        syms[count] = ac
        bits[count] = 0
        count += 1
    return count


def _put_byte(out, pos, byte):
    """Write byte at out[pos], stuffing 0x00 after 0xFF; returns the next position."""
    out[pos] = byte
    if byte == 0xFF:
        out[pos + 1] = 0
        return pos + 2
    return pos + 1


def _pack(huff, syms, bits, count, out, st):
    """Append the codes of symbols to out; st = [accumulator, bit count, position].

    The accumulator takes whole codes (at most 27 bits with their extra
    bits) and spills 32 bits at a time, stuffing 0x00 after each 0xFF.
    """
    acc = st[0]
    nbits = st[1]
    pos = st[2]
    for i in range(count):
        s = syms[i]
        entry = np.int64(huff[s >> 8, s & 0xFF])
        extra = bits[i]
        n = extra >> 16
        acc = (acc << ((entry >> 16) + n)) | ((entry & 0xFFFF) << n) | (extra & 0xFFFF)
        nbits += (entry >> 16) + n
        if nbits >= 32:
            nbits -= 32
            word = (acc >> nbits) & 0xFFFFFFFF
            acc &= (1 << nbits) - 1
            for shift in range(24, -8, -8):
                pos = _put_byte(out, pos, (word >> shift) & 0xFF)
    st[0] = acc
    st[1] = nbits
    st[2] = pos


def _finish(out, st):
    """Flush whole bytes and pad the last one with 1-bits."""
    acc = st[0]
    nbits = st[1]
    pos = st[2]
    if nbits % 8:
        pad = 8 - nbits % 8
        acc = (acc << pad) | ((1 << pad) - 1)
        nbits += pad
    while nbits > 0:
        nbits -= 8
        pos = _put_byte(out, pos, (acc >> nbits) & 0xFF)
    st[0] = 0
    st[1] = 0
    st[2] = pos


def encode_strip(band, row0, nrows, width, channels, ncomp, convert, hs, vs,
                 comp_table, recip, huff, out):
    """Entropy-coded bytes of one strip into out; returns their count."""
    natural = _natural_order()
    cat = _categories()
    rowidx = _row_index(row0, nrows, 8 * vs)
    mcu = np.zeros(1024)
    blk = np.zeros(64)
    coefs = np.zeros((8, 64), dtype=np.int64)
    btab = np.zeros(8, dtype=np.int64)
    pred = np.zeros(4, dtype=np.int64)
    syms = np.zeros(160, dtype=np.int64)
    bits = np.zeros(160, dtype=np.int64)
    st = np.zeros(3, dtype=np.int64)
    for x0 in range(0, width, 8 * hs):
        _mcu_coefs(band, rowidx, width, channels, ncomp, convert, hs, vs,
                   comp_table, recip, natural, x0, mcu, blk, coefs, btab)
        b = 0
        for c in range(ncomp):
            nblocks = hs * vs if c == 0 else 1
            for i in range(nblocks):
                count = _block_symbols(coefs, b, pred[c], btab[b], cat,
                                       syms, bits)
                pred[c] = coefs[b, 0]
                _pack(huff, syms, bits, count, out, st)
                b += 1
    _finish(out, st)
    return st[2]


def count_strip(band, row0, nrows, width, channels, ncomp, convert, hs, vs,
                comp_table, recip, counts):
    """Add the Huffman symbols one strip would use to counts[2 t (+1), sym]."""
    natural = _natural_order()
    cat = _categories()
    rowidx = _row_index(row0, nrows, 8 * vs)
    mcu = np.zeros(1024)
    blk = np.zeros(64)
    coefs = np.zeros((8, 64), dtype=np.int64)
    btab = np.zeros(8, dtype=np.int64)
    pred = np.zeros(4, dtype=np.int64)
    syms = np.zeros(160, dtype=np.int64)
    bits = np.zeros(160, dtype=np.int64)
    for x0 in range(0, width, 8 * hs):
        _mcu_coefs(band, rowidx, width, channels, ncomp, convert, hs, vs,
                   comp_table, recip, natural, x0, mcu, blk, coefs, btab)
        b = 0
        for c in range(ncomp):
            nblocks = hs * vs if c == 0 else 1
            for i in range(nblocks):
                count = _block_symbols(coefs, b, pred[c], btab[b], cat,
                                       syms, bits)
                pred[c] = coefs[b, 0]
                for j in range(count):
                    counts[syms[j] >> 8, syms[j] & 0xFF] += 1
                b += 1
    return 0
