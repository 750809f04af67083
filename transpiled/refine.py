"""Decoder-aware quantization: coefficients chosen for the decoder's pixels (PROTOTYPE).

Status: a prototype, **not built and not used by the encoder**. meson.build
compiles only kernels.py; nothing imports this file except tests/test_refine.py,
which runs it under plain Python (the exact IDCT model against djpeg, and the
per-block search: never worse, at most one step). Why it is not wired in
(issue 15, docs/fidelity.md "Decoder-aware quantization: prototype"):

- cost: 7-28x the encode time end to end (about 60x per block: 33 us against
  0.5 us for the whole encoding of a block at q100), above the issue's bounds
  (default only at <= 1.25x, never above 3x);
- build: compiled together with kernels.py by Pythran it took 6-10 minutes and
  4.8 GB of g++ memory, too much for CI's 30 minutes on a loaded runner.

Measured with a prototype build (kernels.py calling ``refine_group`` at the end
of ``_group_coefs``, 2 sweeps, doubt 0.1): +2.5 to +4.1 dB over Pillow at q100
on scikit-image's grey photos, +1.0 to +3.8 dB on colour ones, +0.01 to +0.66 dB
at q95-q75, sizes 0.91x to 1.003x Pillow's; the 1024x768 ramp at q100 88.8 dB
(Pillow 68.5).

To try it: load it as plain Python (``importlib`` from this path, as
tests/test_refine.py does; slow), or compile it alone with Pythran, e.g.
``python -m pythran -O3 transpiled/refine.py`` (exports ``refine_group``,
``refine_block_natural``, ``idct_islow``; this standalone build is not part of
the package, CI or the tests). To cut its cost before wiring it
in: int32 arithmetic instead of int64, ``_size`` index hints on every index as
in kernels.py, a cheaper screen (doubt 0.3, one sweep: about half the cost).

An encoder that rounds each DCT coefficient to the nearest multiple of its
quantizer makes the best *coefficients*, not the best *pixels*: the decoder
runs libjpeg's integer IDCT (``jidctint.c``, "islow": libjpeg-turbo, hence
Pillow, browsers, djpeg's default), which rounds twice and clamps, and the
decoded 8-bit pixels are what is seen. This module moves coefficients by one
quantization step (at most one step from the rounded value) where that brings
the decoded pixels of the block closer to the source samples.

Per block (``_refine_block``):

1. Decode the block exactly as ``jpeg_idct_islow`` does (``_idct_column``,
   ``_row_sums``: same constants, shifts, rounding and range-limit table),
   keep the column pass (``ws``) and the residual R = decoded - source.
2. A sweep projects R onto the orthonormal DCT basis (``proj``). A step d
   of coefficient n changes the pixels by about d q B_n, so the error by
   about 2 d q proj[n] + q^2: only coefficients with |proj[n]| >= doubt * q
   (those whose rounding is in doubt, for the decoder) are tried, each in the
   direction that lowers the error.
3. A candidate is evaluated exactly and incrementally: one column of the
   column pass is recomputed, then the 8 rows (stopping as soon as the error
   is no better); it is kept when the new squared error plus a rate term
   (``lam`` for a zero that becomes non-zero, minus ``lam`` for the reverse)
   is lower than the old one.
4. ``sweeps`` sweeps (the projection is recomputed at the start of each).

Arithmetic: the IDCT in int64 (libjpeg uses a C long), the error in float32
with float32 constants, so that this file gives the same coefficients under
CPython as compiled by Pythran (built with -ffp-contract=off).

Layout of the caller's buffers (the kernels' ``_group_coefs``):

- ``samples``: level-shifted float32 component planes: component 0 (and,
  without subsampling, every component c) at ``c * plane + y * cw + x``; with
  subsampling, chroma component c at ``chroma + (c - 1) * 64 * group + y *
  8 * group + x``.
- ``coefs[zz[n] * nb + j]``: quantized coefficient n (natural order) of block
  j of the group; component 0's blocks by rows of ``group * hs`` (``vs``
  rows), then each other component's ``group`` blocks.
- ``quant[64 t + n]``: quantizer of coefficient n (natural order) of table t.
"""
import numpy as np

# pythran export refine_group(float32[:], int, int, int, int, int, int, int, int, int64[:], int32[:], int64[:], int32[:], int, int, float, float)
# pythran export idct_islow(int32[:], int32[:], int32[:])
# pythran export refine_block_natural(float32[:], int32[:], int32[:], int, float, float)


def _size(n):
    """n clamped to 0..2**40, which lets Pythran index with it without a sign check."""
    return min(max(n, 0), 1 << 40)


def _basis():
    """The orthonormal 8-point DCT basis, transposed, float32: BT[8 x + u] = c(u)/2 cos((2x+1) u pi / 16).

    From literal cosines, not a math library's, so that every build has the same table.
    """
    cosines = np.array([1.0, 0.98078528040323043, 0.92387953251128674, 0.83146961230254524,
                        0.70710678118654757, 0.55557023301960218, 0.38268343236508978,
                        0.19509032201612825, 0.0])
    BT = np.zeros(64, dtype=np.float32)
    for u in range(8):
        cu = 0.35355339059327379 if u == 0 else 0.5
        for x in range(8):
            m = ((2 * x + 1) * u) % 32  # cos(m pi / 16) from the first quadrant
            if m <= 8:
                c = cosines[m]
            elif m <= 16:
                c = -cosines[16 - m]
            elif m <= 24:
                c = -cosines[m - 16]
            else:
                c = cosines[32 - m]
            BT[8 * x + u] = np.float32(cu * c)
    return BT


def _range_limit(x):
    """libjpeg's post-IDCT range limit, ``table[x & 1023]`` centred on 128 (jdmaster.c).

    The table maps x & 1023 below 512 to min(x + 128, 255) and from 512 to
    max(x - 1024 + 128, 0): the same as wrapping x into -512..511, adding 128
    and clamping to 0..255, which is branch-free.
    """
    w = ((x + 512) & 1023) - 384
    return min(max(w, 0), 255)


def _idct_column(D, u, ws):
    """Column u of the first pass of jpeg_idct_islow: D (dequantized, natural) into ws[8 v + u]."""
    z2 = D[16 + u]
    z3 = D[48 + u]
    z1 = (z2 + z3) * 4433
    tmp2 = z1 - z3 * 15137
    tmp3 = z1 + z2 * 6270
    z2 = D[u]
    z3 = D[32 + u]
    tmp0 = (z2 + z3) << 13
    tmp1 = (z2 - z3) << 13
    tmp10 = tmp0 + tmp3
    tmp13 = tmp0 - tmp3
    tmp11 = tmp1 + tmp2
    tmp12 = tmp1 - tmp2
    tmp0 = D[56 + u]
    tmp1 = D[40 + u]
    tmp2 = D[24 + u]
    tmp3 = D[8 + u]
    z1 = tmp0 + tmp3
    z2 = tmp1 + tmp2
    z3 = tmp0 + tmp2
    z4 = tmp1 + tmp3
    z5 = (z3 + z4) * 9633
    tmp0 = tmp0 * 2446
    tmp1 = tmp1 * 16819
    tmp2 = tmp2 * 25172
    tmp3 = tmp3 * 12299
    z1 = z1 * -7373
    z2 = z2 * -20995
    z3 = z3 * -16069 + z5
    z4 = z4 * -3196 + z5
    tmp0 += z1 + z3
    tmp1 += z2 + z4
    tmp2 += z2 + z3
    tmp3 += z1 + z4
    ws[u] = (tmp10 + tmp3 + 1024) >> 11
    ws[56 + u] = (tmp10 - tmp3 + 1024) >> 11
    ws[8 + u] = (tmp11 + tmp2 + 1024) >> 11
    ws[48 + u] = (tmp11 - tmp2 + 1024) >> 11
    ws[16 + u] = (tmp12 + tmp1 + 1024) >> 11
    ws[40 + u] = (tmp12 - tmp1 + 1024) >> 11
    ws[24 + u] = (tmp13 + tmp0 + 1024) >> 11
    ws[32 + u] = (tmp13 - tmp0 + 1024) >> 11


def _row_sums(ws, y, acc):
    """Row y of the second pass of jpeg_idct_islow, before its final shift.

    acc[8 y + x] receives the row's exact integer sum plus the rounding half;
    the pixel is ``_range_limit(acc >> 18)``. The pass is linear in ws (no
    rounding before that shift), which ``_refine_block`` uses to update a row
    for a change of one workspace column by adding a multiple of ``_impulses``.
    """
    r = 8 * y
    z2 = ws[r + 2]
    z3 = ws[r + 6]
    z1 = (z2 + z3) * 4433
    tmp2 = z1 - z3 * 15137
    tmp3 = z1 + z2 * 6270
    tmp0 = (ws[r] + ws[r + 4]) << 13
    tmp1 = (ws[r] - ws[r + 4]) << 13
    tmp10 = tmp0 + tmp3
    tmp13 = tmp0 - tmp3
    tmp11 = tmp1 + tmp2
    tmp12 = tmp1 - tmp2
    tmp0 = ws[r + 7]
    tmp1 = ws[r + 5]
    tmp2 = ws[r + 3]
    tmp3 = ws[r + 1]
    z1 = tmp0 + tmp3
    z2 = tmp1 + tmp2
    z3 = tmp0 + tmp2
    z4 = tmp1 + tmp3
    z5 = (z3 + z4) * 9633
    tmp0 = tmp0 * 2446
    tmp1 = tmp1 * 16819
    tmp2 = tmp2 * 25172
    tmp3 = tmp3 * 12299
    z1 = z1 * -7373
    z2 = z2 * -20995
    z3 = z3 * -16069 + z5
    z4 = z4 * -3196 + z5
    tmp0 += z1 + z3
    tmp1 += z2 + z4
    tmp2 += z2 + z3
    tmp3 += z1 + z4
    half = 1 << 17
    acc[r] = tmp10 + tmp3 + half
    acc[r + 7] = tmp10 - tmp3 + half
    acc[r + 1] = tmp11 + tmp2 + half
    acc[r + 6] = tmp11 - tmp2 + half
    acc[r + 2] = tmp12 + tmp1 + half
    acc[r + 5] = tmp12 - tmp1 + half
    acc[r + 3] = tmp13 + tmp0 + half
    acc[r + 4] = tmp13 - tmp0 + half


def _impulses(K):
    """K[8 u + x]: the row pass's sum at x for a workspace row holding 1 at u (no rounding half)."""
    ws = np.zeros(64, dtype=np.int64)
    acc = np.zeros(64, dtype=np.int64)
    half = 1 << 17
    for u in range(8):
        ws[u] = 1
        if u > 0:
            ws[u - 1] = 0
        _row_sums(ws, 0, acc)
        for x in range(8):
            K[8 * u + x] = acc[x] - half


def idct_islow(coefs, quant, out):
    """Decoded pixels (0..255) of one block as libjpeg's jpeg_idct_islow gives them.

    coefs and quant in natural order (64 each); out receives 64 pixels.
    """
    D = np.zeros(64, dtype=np.int64)
    ws = np.zeros(64, dtype=np.int64)
    acc = np.zeros(64, dtype=np.int64)
    for n in range(64):
        D[n] = np.int64(coefs[n]) * np.int64(quant[n])
    for u in range(8):
        _idct_column(D, u, ws)
    for y in range(8):
        _row_sums(ws, y, acc)
    for i in range(64):
        out[i] = _range_limit(acc[i] >> 18)
    return 0


def _refine_block(T16, C, Q, sweeps, lam, doubt, BT, K, D, ws, col, dl, acc, rowerr, R, tmp,
                  proj, base):
    """Refine the natural-order coefficients C (int64, quantizers Q) of one block.

    T16 holds the 64 target pixel values times 16, rounded (int64): errors
    are integers in 1/256 of a squared pixel level, exact in every build.
    lam is the rate term in those units. C is changed in place, each
    coefficient by at most one step from its value on entry. Returns the
    number of coefficients changed.
    """
    zero = np.float32(0.0)
    sixteenth = np.float32(0.0625)
    frac = np.float32(doubt)
    for n in range(64):
        base[n] = C[n]
        D[n] = C[n] * Q[n]
    for u in range(8):
        _idct_column(D, u, ws)
    err = 0
    for y in range(8):
        _row_sums(ws, y, acc)
        s = 0
        for x in range(8):
            e = 16 * _range_limit(acc[8 * y + x] >> 18) - T16[8 * y + x]
            R[8 * y + x] = np.float32(e) * sixteenth
            s += e * e
        rowerr[y] = s
        err += s
    changed = 0
    for sweep in range(sweeps):
        if err == 0 or (sweep > 0 and changed == 0):
            break
        # proj = the residual in the orthonormal DCT basis, rows then columns; the
        # innermost loops run over u (independent sums, each in a fixed order)
        for i in range(64):
            tmp[i] = zero
            proj[i] = zero
        for y in range(8):
            for x in range(8):
                r = R[8 * y + x]
                for u in range(8):
                    tmp[8 * y + u] += r * BT[8 * x + u]
        for v in range(8):
            for y in range(8):
                b = BT[8 * y + v]
                for u in range(8):
                    proj[8 * v + u] += b * tmp[8 * y + u]
        for n in range(64):
            q = Q[n]
            p = proj[n]
            cut = np.float32(q) * frac
            if p >= zero:
                if p < cut:
                    continue
                d = -1
            else:
                if -p < cut:
                    continue
                d = 1
            new = C[n] + d
            if new < base[n] - 1 or new > base[n] + 1 or new > 1023 or new < -1023:
                continue
            # rate: a new non-zero coefficient costs lam, a coefficient made zero saves it
            limit = err
            if C[n] == 0:
                limit -= lam
            elif new == 0:
                limit += lam
            if limit <= 0:
                continue
            u = n % 8
            D[n] = new * q
            for v in range(8):
                col[v] = ws[8 * v + u]
            _idct_column(D, u, ws)
            for v in range(8):
                dl[v] = ws[8 * v + u] - col[v]
            trial = 0
            y = 0
            while y < 8 and trial < limit:
                dy = dl[y]
                if dy == 0:
                    trial += rowerr[y]
                else:
                    s = 0
                    for x in range(8):
                        e = 16 * _range_limit((acc[8 * y + x] + dy * K[8 * u + x]) >> 18) - T16[8 * y + x]
                        s += e * e
                    trial += s
                y += 1
            if trial < limit:
                C[n] = new
                changed += 1
                err = 0
                for y2 in range(8):
                    dy = dl[y2]
                    if dy != 0:
                        s = 0
                        for x in range(8):
                            a = acc[8 * y2 + x] + dy * K[8 * u + x]
                            acc[8 * y2 + x] = a
                            e = 16 * _range_limit(a >> 18) - T16[8 * y2 + x]
                            R[8 * y2 + x] = np.float32(e) * sixteenth
                            s += e * e
                        rowerr[y2] = s
                    err += rowerr[y2]
            else:
                D[n] = C[n] * q
                for v in range(8):
                    ws[8 * v + u] = col[v]
    return changed


def _targets(values, src, stride, T16):
    """The 8x8 block at values[src], rows stride apart, level-shifted back (+128) and times 16, rounded."""
    sixteen = np.float32(16.0)
    offset = np.float32(2048.5)  # 16 * 128 + 0.5
    for y in range(8):
        for x in range(8):
            T16[8 * y + x] = np.int64(np.floor(values[src + y * stride + x] * sixteen + offset))


def refine_block_natural(samples, coefs, quant, sweeps, lam, doubt):
    """One block: coefs (natural order, int32, changed in place) refined against samples.

    samples: 64 level-shifted float32 values (pixel - 128), as the kernels
    hold them. lam: rate term in squared pixel levels; doubt: fraction of the
    quantizer a residual projection must reach to try a coefficient. Returns
    the number of coefficients changed.
    """
    BT = _basis()
    K = np.zeros(64, dtype=np.int64)
    _impulses(K)
    T16 = np.zeros(64, dtype=np.int64)
    _targets(samples, 0, 8, T16)
    C = np.zeros(64, dtype=np.int64)
    Q = np.zeros(64, dtype=np.int64)
    for n in range(64):
        C[n] = coefs[n]
        Q[n] = quant[n]
    D = np.zeros(64, dtype=np.int64)
    ws = np.zeros(64, dtype=np.int64)
    col = np.zeros(8, dtype=np.int64)
    dl = np.zeros(8, dtype=np.int64)
    acc = np.zeros(64, dtype=np.int64)
    rowerr = np.zeros(8, dtype=np.int64)
    R = np.zeros(64, dtype=np.float32)
    tmp = np.zeros(64, dtype=np.float32)
    proj = np.zeros(64, dtype=np.float32)
    base = np.zeros(64, dtype=np.int64)
    lam16 = np.int64(np.floor(lam * 256.0 + 0.5))
    changed = _refine_block(T16, C, Q, sweeps, lam16, doubt, BT, K, D, ws, col, dl, acc, rowerr,
                            R, tmp, proj, base)
    for n in range(64):
        coefs[n] = C[n]
    return changed


def refine_group(samples, plane, cw, chroma, ncomp, hs, vs, group, gm, comp_table, quant, zz,
                 coefs, nb, sweeps, lam, doubt):
    """Refine the quantized coefficients of gm MCUs of a group in place (see the module doc).

    The arguments are ``_group_coefs``'s, plus quant (quantizers, natural
    order, 64 per table), sweeps, lam (rate term in squared pixel levels) and
    doubt (fraction of the quantizer). Returns the number of coefficients changed.
    """
    plane = _size(plane)
    cw = _size(cw)
    chroma = _size(chroma)
    nb = _size(nb)
    group = _size(group)
    BT = _basis()
    K = np.zeros(64, dtype=np.int64)
    _impulses(K)
    T16 = np.zeros(64, dtype=np.int64)
    C = np.zeros(64, dtype=np.int64)
    Q = np.zeros(64, dtype=np.int64)
    D = np.zeros(64, dtype=np.int64)
    ws = np.zeros(64, dtype=np.int64)
    col = np.zeros(8, dtype=np.int64)
    dl = np.zeros(8, dtype=np.int64)
    acc = np.zeros(64, dtype=np.int64)
    rowerr = np.zeros(8, dtype=np.int64)
    R = np.zeros(64, dtype=np.float32)
    tmp = np.zeros(64, dtype=np.float32)
    proj = np.zeros(64, dtype=np.float32)
    base = np.zeros(64, dtype=np.int64)
    pos = np.zeros(64, dtype=np.int64)
    for n in range(64):
        pos[n] = _size(zz[n]) * nb
    lam16 = np.int64(np.floor(lam * 256.0 + 0.5))
    changed = 0
    yb = group * hs
    for c in range(ncomp):
        tb = 64 * _size(comp_table[c])
        for n in range(64):
            Q[n] = quant[tb + n]
        blocks = gm * hs * vs if c == 0 else gm
        for i in range(blocks):
            if c == 0:
                by = i // (gm * hs)
                bx = i % (gm * hs)
                j = by * yb + bx
                src = 8 * by * cw + 8 * bx
                stride = cw
            elif hs * vs > 1:
                j = vs * yb + (c - 1) * group + i
                stride = 8 * group
                src = chroma + (c - 1) * 64 * group + 8 * i
            else:
                j = c * group + i
                src = c * plane + 8 * i
                stride = cw
            j = _size(j)
            _targets(samples, _size(src), _size(stride), T16)
            for n in range(64):
                C[n] = coefs[pos[n] + j]
            k = _refine_block(T16, C, Q, sweeps, lam16, doubt, BT, K, D, ws, col, dl, acc, rowerr,
                              R, tmp, proj, base)
            if k:
                changed += k
                for n in range(64):
                    coefs[pos[n] + j] = C[n]
    return changed
