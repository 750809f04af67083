"""The decoder-aware quantization (transpiled/refine.py): its Python source and its builds.

refine.py is built as ``pillow_streamjpeg.refine`` (``refine_v3``); the encoder
calls it with the ``refine`` option (tests/test_refine_option.py). These tests run
the source as plain Python and keep its claims true:

- ``idct_islow`` reproduces libjpeg-turbo's integer IDCT bit for bit (djpeg decodes
  files written from chosen coefficients by ``coefjpeg``, an independent writer);
- ``refine_block_natural`` never makes a block's decoded pixels worse, moves no
  coefficient by more than one step, and does gain, most at quantizer 1;
- every build of it that this machine runs chooses the same coefficients as the
  source, block by block and through ``refine_group``, on photographs.
"""

from __future__ import annotations

import importlib.machinery
import io

import numpy as np
import pytest
from PIL import Image

import coefjpeg
from jpegtools import djpeg_decode, psnr
import transpiled
from generated import ramp
from pillow_streamjpeg import engine, strips, tables
from pillow_streamjpeg.strips import NO_MARKS

PY = transpiled.source("refine")

BUILDS = transpiled.refine_builds()


def _dct_blocks(plane: np.ndarray) -> np.ndarray:
    """Exact orthonormal 8x8 DCT of the edge-padded plane: (block rows, block cols, 64) natural."""
    h, w = plane.shape
    p = np.pad(plane.astype(np.float64) - 128, ((0, -h % 8), (0, -w % 8)), mode="edge")
    blocks = p.reshape(p.shape[0] // 8, 8, p.shape[1] // 8, 8).transpose(0, 2, 1, 3)
    k = np.arange(8)
    basis = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * 0.5
    basis[0] /= np.sqrt(2)
    return np.einsum("ux,vy,abyx->abvu", basis, basis, blocks).reshape(*blocks.shape[:2], 64)


# The decoder model -----------------------------------------------------------------------


@pytest.mark.parametrize("quantizers", ["ones", "fine", "coarse"])
def test_idct_islow_is_djpegs_integer_idct(quantizers) -> None:
    rng = np.random.default_rng(7)
    q = {"ones": np.ones(64), "fine": rng.integers(1, 4, 64),
         "coarse": rng.integers(1, 60, 64)}[quantizers].astype(np.int32)
    rows, cols = 12, 12
    pixels = np.concatenate([
        rng.integers(0, 256, (4 * 8, cols * 8)),                         # noise
        rng.choice([0, 255], (4 * 8, cols * 8)),                         # saturated: clamping
        np.clip(np.add.outer(np.arange(32), np.arange(cols * 8)) * 3.1 - 40, 0, 255),
    ]).astype(np.uint8)
    coefs = np.round(_dct_blocks(pixels) / q) + rng.integers(-1, 2, (rows, cols, 64))
    coefs = np.clip(coefs, -1023, 1023).astype(np.int32)
    decoded = djpeg_decode(coefjpeg.write([coefs], [list(q)], cols * 8, rows * 8))
    ours = np.zeros_like(decoded)
    out = np.zeros(64, dtype=np.int32)
    for by in range(rows):
        for bx in range(cols):
            PY.idct_islow(coefs[by, bx].copy(), q, out)
            ours[8 * by:8 * by + 8, 8 * bx:8 * bx + 8] = out.reshape(8, 8)
    assert np.count_nonzero((decoded == 0) | (decoded == 255)) > 1000  # clamping was exercised
    np.testing.assert_array_equal(ours, decoded)


def _impulse_products(dequantized: np.ndarray, impulses: np.ndarray) -> np.ndarray | None:
    """The IDCT model's pixels in 64-bit integers: products with the impulse responses; None beyond its range."""
    d = dequantized.reshape(8, 8).astype(np.int64)       # d[k][u]: vertical frequency k, column u
    p = 1024 + d.T @ impulses                            # p[u][v]: column u, row v
    w = p >> 11
    if np.abs(w).max() > PY.LIMIT:
        return None
    a = 131072 + w.T @ impulses                          # a[y][x]
    level = (((a >> 18) + 512) & 1023) - 384
    return np.clip(level, 0, 255).ravel()


def test_idct_butterfly_is_exact_at_the_models_range_limit() -> None:
    """``_idct8`` (libjpeg's butterfly in 32 bits) equals the 64-bit products with its impulse responses
    on every corner of the model's range (each input +-LIMIT), where its intermediate values peak;
    numpy raises on an int32 overflow of the source. So do ``_columns`` and ``_rows``, which run
    it 8 passes side by side, on the transposed layout the search reads."""
    S = np.zeros(PY.WORK, dtype=np.int32)
    PY._tables(S)
    impulses = S[PY.K:PY.K + 64].reshape(8, 8).astype(np.int64)  # [k][x]
    corners = (((np.arange(256)[:, None] >> np.arange(8)) & 1) * 2 - 1) * PY.LIMIT
    with np.errstate(over="raise"):
        for z in corners:
            got = PY._idct8(*(np.int32(v) for v in z), np.int32(1024))
            np.testing.assert_array_equal(np.array(got, dtype=np.int64), z @ impulses + 1024)
        for first in range(0, 256, 8):
            z = corners[first:first + 8]                         # 8 passes side by side, z[i][k]
            S[PY.D:PY.D + 64] = z.T.ravel()                      # z[k] of pass i at D + 8 k + i
            PY._columns(S)
            got = S[PY.P:PY.P + 64].reshape(8, 8)                # got[i][v]: P + 8 i + v
            np.testing.assert_array_equal(got, z @ impulses + 1024)
            S[PY.W:PY.W + 64] = z.T.ravel()                      # the row pass: lane y reads W + 8 u + y
            PY._rows(S)
            got = S[PY.A:PY.A + 64].reshape(8, 8)                # got[y][x]: A + 8 y + x
            np.testing.assert_array_equal(got, z @ impulses + 131072)


def test_ranking_transform_is_the_product_with_the_basis() -> None:
    """``_transform`` (``_fdct8``: the basis's literal values folded by its symmetries) equals the
    64-bit products with the orthonormal DCT basis x 1024, rounded, shifted after the first pass;
    inputs at every sign corner of the largest the ranking gives it (residuals x 16 up to 4080,
    ``_boundary``'s gradients up to 144 x 38), where numpy would raise on an int32 overflow of
    the source."""
    S = np.zeros(PY.WORK, dtype=np.int32)
    k = np.arange(8)
    scale = np.where(k == 0, np.sqrt(0.125), 0.5)
    basis = np.floor(1024 * scale[None, :] * np.cos((2 * k[:, None] + 1) * k[None, :] * np.pi / 16)
                     + 0.5).astype(np.int64)                     # [x][u]
    rng = np.random.default_rng(23)
    corners = ((np.arange(256)[:, None] >> np.arange(8)) & 1) * 2 - 1
    with np.errstate(over="raise"):
        for trial in range(96):
            top, shift = [(4080, 6), (144 * 38, 7), (100, 6)][trial % 3]
            if trial < 64:
                values = corners[rng.integers(0, 256, 8)] * top            # rows of sign corners
            else:
                values = rng.integers(-top, top + 1, (8, 8))
            S[PY.G:PY.G + 64] = values.ravel()
            PY._transform(S, PY.G, PY.GT, shift)
            expected = ((values.T @ basis).T >> shift) @ basis           # columns, shift, rows
            np.testing.assert_array_equal(S[PY.GT:PY.GT + 64].reshape(8, 8), expected)


def test_unchecked_blocks_stay_in_range_whatever_the_search_moves() -> None:
    """``_prepare`` lets a block's candidates skip the column check against LIMIT (S[CHECKED] 0)
    only where no search can take a workspace value past it: for every workspace value, the
    worst combination of one-step moves of its column's coefficients (each the sign of its
    impulse response times the value's), in 64-bit integers, stays within LIMIT. Blocks are
    scaled so that their workspace peaks between a third of LIMIT and LIMIT, with quantizers
    of 1, up to 15 and up to 255; both kinds of block occur, unchecked ones within twice their
    margin of LIMIT included."""
    rng = np.random.default_rng(31)
    S = np.zeros(PY.WORK, dtype=np.int32)
    PY._tables(S)
    impulses = S[PY.K:PY.K + 64].reshape(8, 8).astype(np.int64)  # [k][v]
    unchecked = near = checked = 0
    for trial in range(600):
        q = rng.integers(1, [2, 16, 256][trial % 3], 64).astype(np.int32)
        PY._quantizers(S, q, 0)
        coefs = rng.integers(-20, 21, 64).astype(np.int64)
        coefs[rng.random(64) < 0.5] = 0
        d = (coefs * q).reshape(8, 8)                              # d[k][u]
        peak = np.abs((1024 + d.T @ impulses) >> 11).max()
        if peak == 0:
            continue
        scaled = np.round(coefs * rng.uniform(0.33, 1.0) * PY.LIMIT / peak)
        S[PY.C:PY.C + 64] = np.clip(scaled, -2047, 2047).astype(np.int32)
        if not PY._prepare(S):
            continue
        if S[PY.CHECKED]:
            checked += 1
            continue
        unchecked += 1
        near += S[PY.WMAX] > PY.LIMIT - 2 * S[PY.MARGIN]
        p = S[PY.P:PY.P + 64].reshape(8, 8).astype(np.int64)      # p[u][v]
        w = p >> 11
        step = q.reshape(8, 8).astype(np.int64)                    # step[k][u]
        for u in range(8):
            for v in range(8):
                moves = np.where(impulses[:, v] * (1 if w[u, v] >= 0 else -1) >= 0, 1, -1)
                worst = (p[u, v] + (moves * step[:, u] * impulses[:, v]).sum()) >> 11
                assert abs(worst) <= PY.LIMIT, (trial, u, v, worst)
    assert unchecked > 100 and checked > 50 and near > 20, (unchecked, checked, near)


@pytest.mark.parametrize("build", ["source"] + sorted(BUILDS))
def test_idct_islow_near_the_range_limit(build) -> None:
    """Dequantized blocks up to +-LIMIT: the model's pixels (or its refusal) as the 64-bit products give them."""
    idct = PY.idct_islow if build == "source" else BUILDS[build].idct_islow
    S = np.zeros(PY.WORK, dtype=np.int32)
    PY._tables(S)
    impulses = S[PY.K:PY.K + 64].reshape(8, 8).astype(np.int64)
    rng = np.random.default_rng(17)
    q = np.ones(64, dtype=np.int32)
    decoded = refused = 0
    for trial in range(200):
        scale = [PY.LIMIT, PY.LIMIT // 8, PY.LIMIT // 16, 1000][trial % 4]
        coefs = rng.integers(-scale, scale + 1, 64).astype(np.int32)
        if trial % 5 == 0:
            coefs = (rng.choice([-1, 1], 64) * scale).astype(np.int32)
        out = np.zeros(64, dtype=np.int32)
        expected = _impulse_products(coefs, impulses)
        with np.errstate(over="raise"):
            status = idct(coefs, q, out)
        if expected is None:
            assert status == -1
            refused += 1
        else:
            assert status == 0
            np.testing.assert_array_equal(out, expected)
            decoded += 1
    assert decoded > 40 and refused > 40


def test_coefjpeg_writes_what_djpeg_reads_back() -> None:
    """The test writer itself: rounded coefficients of a plane decode to that plane, nearly."""
    rng = np.random.default_rng(5)
    plane = np.clip(np.add.outer(np.arange(24), np.arange(40)) * 2 + rng.normal(0, 3, (24, 40)),
                    0, 255).astype(np.uint8)
    q = np.ones(64, dtype=np.int32)
    coefs = np.round(_dct_blocks(plane) / q).astype(np.int32)
    decoded = djpeg_decode(coefjpeg.write([coefs], [list(q)], 40, 24))
    assert decoded.shape == plane.shape
    assert np.abs(decoded.astype(int) - plane).max() <= 2


# The refinement of one block ---------------------------------------------------------------


def _block_error(target, coefs, q) -> float:
    out = np.zeros(64, dtype=np.int32)
    PY.idct_islow(coefs, q, out)
    return float(np.sum((out - (target.astype(np.float64) + 128)) ** 2))


def test_refine_never_worse_and_within_one_step() -> None:
    rng = np.random.default_rng(3)
    before_q = {100: 0.0, 95: 0.0, 75: 0.0, 30: 0.0}
    after_q = dict(before_q)
    for trial in range(80):
        quality = [100, 95, 75, 30][trial % 4]
        q = np.asarray(tables.quality_tables(quality)[0], dtype=np.int32)
        pixels = np.clip(np.add.outer(np.arange(8), np.arange(8)) * rng.normal(0, 5)
                         + rng.normal(128, 50) + rng.normal(0, 4, (8, 8)), 0, 255)
        if trial % 2:
            pixels = np.round(pixels)
        target = (pixels - 128).astype(np.float32).ravel()
        coefs = np.round(_dct_blocks(pixels)[0, 0] / q).astype(np.int32)
        refined = coefs.copy()
        changed = PY.refine_block_natural(target, refined, q, 2, 0.0, 4)
        before = _block_error(target, coefs, q)
        after = _block_error(target, refined, q)
        assert after <= before
        assert np.abs(refined - coefs).max() <= 1
        assert changed >= np.count_nonzero(refined != coefs)  # a coefficient may move back
        before_q[quality] += before
        after_q[quality] += after
    # it does gain: most at quantizer 1, where rounding the coefficients is the whole error
    assert after_q[100] < 0.9 * before_q[100]
    assert all(after_q[k] < before_q[k] for k in before_q), (before_q, after_q)


def test_refine_group_equals_refine_block_natural() -> None:
    """The encoder-side entry (one grey group, kernels' layout) chooses what the per-block one does."""
    rng = np.random.default_rng(13)
    group, gm = 4, 3
    q = np.asarray(tables.quality_tables(100)[0], dtype=np.int32)
    pixels = np.clip(np.add.outer(np.arange(8), np.arange(8 * group)) * 1.7 + 20
                     + rng.normal(0, 2, (8, 8 * group)), 0, 255)
    samples = (pixels - 128).astype(np.float32)
    natural = np.round(_dct_blocks(pixels)[0] / q).astype(np.int32)  # (group, 64)
    nb = group  # the group's blocks: coefs[n * nb + j], as the kernels'
    coefs = natural.T.copy().ravel()
    changed = PY.refine_group(samples.ravel(), 8 * 8 * group, 8 * group, 8 * 8 * group, 1, 1, 1,
                              group, gm, np.zeros(1, dtype=np.int64), q, coefs, nb, 2, 0.0, 6,
                              8 * group, 8, 0, 0, NO_MARKS)
    expected = 0
    for j in range(group):
        block = natural[j].copy()
        if j < gm:
            target = np.ascontiguousarray(samples[:, 8 * j:8 * j + 8]).ravel()
            expected += PY.refine_block_natural(target, block, q, 2, 0.0, 6)
        np.testing.assert_array_equal(coefs[np.arange(64) * nb + j], block)
    assert changed == expected > 0


def test_refine_beats_pillow_on_the_long_gradient() -> None:
    """Issue 15's 4097 x 11 ramp at q95 (a quarter of it: the Python source is slow).

    Rounded exact DCT coefficients lose to Pillow there; refined, they win.
    """
    plane = ramp(4097, 11)[:, :1024]
    q = np.asarray(tables.quality_tables(95)[0], dtype=np.int32)
    finest = int(q.min())
    lam = 0.0 if finest <= 1 else 0.5 * finest * finest  # the prototype's rate term
    coefs = np.round(_dct_blocks(plane) / q).astype(np.int32)
    plain = coefjpeg.write([coefs], [list(q)], plane.shape[1], plane.shape[0])
    padded = np.pad(plane.astype(np.float32) - 128, ((0, -plane.shape[0] % 8), (0, 0)), mode="edge")
    for by in range(coefs.shape[0]):
        for bx in range(coefs.shape[1]):
            block = coefs[by, bx].copy()
            target = np.ascontiguousarray(padded[8 * by:8 * by + 8, 8 * bx:8 * bx + 8]).ravel()
            PY.refine_block_natural(target, block, q, 2, lam, 6)
            coefs[by, bx] = block
    refined = coefjpeg.write([coefs], [list(q)], plane.shape[1], plane.shape[0])
    out = io.BytesIO()
    Image.fromarray(plane).save(out, format="JPEG", quality=95)
    pillow = psnr(plane, djpeg_decode(out.getvalue()))
    assert psnr(plane, djpeg_decode(refined)) > psnr(plane, djpeg_decode(plain))
    assert psnr(plane, djpeg_decode(refined)) >= pillow


# The builds against the source ------------------------------------------------------------


def test_engine_pairs_refine_with_the_kernels_build() -> None:
    # x86-64-v4 kernels (AVX-512) run with refine's x86-64-v3 build
    assert engine.refine is BUILDS["baseline" if engine.name == "baseline" else "x86-64-v3"]
    assert engine.refine.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_compiled_idct_and_blocks_equal_the_source(build) -> None:
    """Random blocks at six qualities, float and whole samples: same pixels, same coefficients."""
    compiled = BUILDS[build]
    rng = np.random.default_rng(11)
    changed = 0
    for trial in range(60):
        quality = [100, 95, 90, 75, 50, 10][trial % 6]
        q = np.asarray(tables.quality_tables(quality)[trial % 2], dtype=np.int32)
        pixels = np.clip(np.add.outer(np.arange(8), np.arange(8)) * rng.normal(0, 6)
                         + rng.normal(128, 60) + rng.normal(0, rng.choice([1, 5, 40]), (8, 8)),
                         0, 255)
        if trial % 3:
            pixels = np.round(pixels)
        target = (pixels - 128).astype(np.float32).ravel()
        coefs = np.round(_dct_blocks(pixels)[0, 0] / q).astype(np.int32)
        ours, theirs = np.zeros(64, dtype=np.int32), np.zeros(64, dtype=np.int32)
        assert compiled.idct_islow(coefs, q, ours) == PY.idct_islow(coefs, q, theirs) == 0
        np.testing.assert_array_equal(ours, theirs)
        finest = int(q.min())
        lam = 0.0 if finest <= 1 else 0.5 * finest * finest
        for sweeps, tries, rate in ((2, 6, lam), (1, 16, lam), (1, 1, lam), (2, 64, 0.0)):
            a, b = coefs.copy(), coefs.copy()
            assert (compiled.refine_block_natural(target, a, q, sweeps, rate, tries)
                    == PY.refine_block_natural(target, b, q, sweeps, rate, tries))
            np.testing.assert_array_equal(a, b)
            changed += np.count_nonzero(a != coefs)
    assert changed > 30  # the search did move coefficients


def _group_layout(plane_yx: np.ndarray, q: np.ndarray):
    """One grey group (a row of blocks) of a plane in the kernels' layout, and its rounded coefficients."""
    rows, width = plane_yx.shape
    group = width // 8
    natural = np.round(_dct_blocks(plane_yx)[0] / q).astype(np.int32)
    coefs = natural.T.copy().ravel()  # coefs[n * group + j], n natural
    samples = (plane_yx.astype(np.float32) - 128).ravel()
    return samples, coefs, group


def _camera_blocks(photos, q: np.ndarray):
    """Four blocks of ``camera`` prepared for a sweep (decoded, their errors counted), each as
    (S, its rounded coefficients) for quantizers q."""
    for y0, x0 in ((200, 128), (336, 256), (64, 64), (400, 400)):
        plane = photos["camera"][y0:y0 + 8, x0:x0 + 8]
        S = np.zeros(PY.WORK, np.int32)
        PY._tables(S)
        PY._targets((plane.astype(np.float32) - 128).ravel(), 0, 8, S)
        PY._mask(S, 8, 8)
        PY._quantizers(S, q, 0)
        coefs = np.round(_dct_blocks(plane)[0, 0] / q).astype(np.int32)
        S[PY.C:PY.C + 64] = coefs
        assert PY._prepare(S)
        PY._errors(S, S, -1)
        yield S, coefs


def test_screen_leaves_out_the_candidates_predicted_to_lose(photos) -> None:
    """``_rank_sweep`` with S[SCREEN] = 1 lists exactly the coefficients of larger quantizers
    whose residual's projection p gives 2 |p| >= 3 q / 4 (a predicted change of the error
    q (q - 2 |p|) no worse than q**2 / 4, p in units of 2**18); with 0, every one."""
    q = np.asarray(tables.quality_tables(90)[0], dtype=np.int32)
    assert q.min() > 1  # no quantizer 1: every candidate comes from the residual's projection
    kept = screened = 0
    for S, _ in _camera_blocks(photos, q):
        listed = {}
        for screen in (0, 1):
            S[PY.SCREEN] = screen
            count1, count2 = PY._rank_sweep(S, PY.MAXTRIES)
            assert count1 == 0
            listed[screen] = set(S[PY.LIST + PY.MAXTRIES:PY.LIST + PY.MAXTRIES + count2].tolist())
        assert listed[0] == set(range(64))
        p = np.abs(S[PY.PROJ:PY.PROJ + 64].astype(np.int64))
        expected = {n for n in range(64) if 2 * p[n] >= 0.75 * q[n] * 2 ** 18}
        assert listed[1] == expected
        kept += len(expected)
        screened += 64 - len(expected)
    assert kept > 0 and screened > 0


def test_zero_candidates_are_listed_after_the_boundary_ones(photos) -> None:
    """``_rank_sweep`` where every quantizer is 1 and S[ZEROS] = 3: the boundary ranking's
    first 6 - ZERO_TAKES candidates, then the 3 coefficients of 1 or -1 not listed there
    whose boundary gradient favours the step to 0 most (largest g * sign(c)), each with
    S[PROJ + n] = its value (the direction to 0); with S[ZEROS] = 0 the first 6 and none."""
    checked = 0
    for S, coefs in _camera_blocks(photos, np.ones(64, dtype=np.int32)):
        S[PY.ZEROS] = 0
        count1, count2 = PY._rank_sweep(S, 6)
        assert (count1, count2) == (6, 0)
        first = S[PY.LIST:PY.LIST + count1].tolist()
        S[PY.ZEROS] = 3
        count1, count2 = PY._rank_sweep(S, 6)
        assert PY.ZERO_TAKES == 2
        first = first[:6 - PY.ZERO_TAKES]
        assert S[PY.LIST:PY.LIST + count1].tolist() == first
        zeros = S[PY.LIST + PY.MAXTRIES:PY.LIST + PY.MAXTRIES + count2].tolist()
        g = S[PY.GT:PY.GT + 64].astype(np.int64)
        ones = [n for n in range(64) if abs(coefs[n]) == 1 and n not in first]
        expected = sorted(ones, key=lambda n: (-((g[n] * np.sign(coefs[n])) >> 7), n))[:3]
        assert zeros == expected
        assert all(S[PY.PROJ + n] == coefs[n] for n in zeros)
        checked += len(zeros)
    assert checked >= 9


def test_rate_term_at_quality_100_trades_error_for_zeros_as_the_source(photos) -> None:
    """A colour strip at quality 100 with a rate term (images refined against their RGB
    pixels, ``strips.REFINE_RGB_LAM``): the zero candidates make coefficients of 1 or -1 zero,
    each build chooses the source's coefficients, and the search's cost, the RGB error plus
    the rate term per non-zero coefficient, goes down."""
    pixels = photos["astronaut"][300:308, 200:264]
    band, coefs, mcus = _colour_strip(pixels, 100)
    q = np.asarray(tables.quality_tables(100), dtype=np.int32).ravel()
    lam = 1.25
    lam3 = int(np.floor(lam * 3 + 0.5))
    args = (band.reshape(-1), band.shape[1], 0, 3, pixels.shape[1], 8, mcus,
            np.array([0, 1, 1], np.int64), q)
    refined = coefs.copy()
    changed = PY.refine_group_rgb(*args, refined, 3 * mcus, 1, lam, 6, 1, 0, NO_MARKS)
    assert changed == np.count_nonzero(refined != coefs) > 0
    zeroed = np.count_nonzero((np.abs(coefs) == 1) & (refined == 0))
    assert zeroed > 10 * np.count_nonzero((coefs == 0) & (refined != 0))

    def cost(c):
        return _rgb_error(pixels, c, mcus, q) + lam3 * np.count_nonzero(c)

    assert cost(refined) < cost(coefs)
    for build, module in BUILDS.items():
        other = coefs.copy()
        assert module.refine_group_rgb(*args, other, 3 * mcus, 1, lam, 6, 1, 0,
                                       NO_MARKS) == changed, build
        np.testing.assert_array_equal(other, refined, err_msg=build)


@pytest.mark.parametrize(("value", "step", "rate"), [
    (0, 1, 8), (0, -1, 8), (1, -1, -8), (-1, 1, -8),  # a new non-zero costs lam, a zero saves it
    (1, 1, 1), (-1, -1, 1), (2, -1, -1), (-2, 1, -1),  # 1 <-> 2: one value bit
    (3, 1, 1), (4, -1, -1), (-7, -1, 1), (-8, 1, -1), (511, 1, 1), (512, -1, -1),
    (2, 1, 0), (3, -1, 0), (5, 1, 0), (-6, -1, 0), (100, 1, 0),  # the same number of bits
])
def test_rate_term_counts_new_coefficients_and_value_bits(value, step, rate) -> None:
    """``_limit``: the error a step must beat is the error now less what it costs, ``rate``
    eighths of lam (``RATE_BIT_SHIFT`` 3): lam for a coefficient that becomes non-zero (a
    zero saves it), an eighth for an AC magnitude that crosses a power of two (not the DC,
    coded as a difference); a step beyond one from the value on entry is not allowed (0)."""
    assert PY.RATE_BIT_SHIFT == 3
    S = np.zeros(PY.WORK, dtype=np.int32)
    n, err, lam = 5, 10_000, 800
    S[PY.C + n] = value
    S[PY.BASE + n] = value
    assert PY._limit(S, n, step, err, lam) == err - rate * (lam >> 3)
    S[PY.BASE + n] = value - step  # already a step away from its value on entry
    assert PY._limit(S, n, step, err, lam) == 0
    S[PY.C] = S[PY.BASE] = value  # the DC: zero or not counts, its bits do not
    assert PY._limit(S, 0, step, err, lam) == err - (rate if abs(rate) == 8 else 0) * (lam >> 3)


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("quality", [100, 90, 75])
def test_compiled_refine_group_equals_the_source_on_a_photo(build, quality, photos) -> None:
    """Two block rows of ``camera`` through refine_group: the same coefficients, and a gain."""
    q = np.asarray(tables.quality_tables(quality)[0], dtype=np.int32)
    finest = int(q.min())
    lam = 0.0 if finest <= 1 else 0.5 * finest * finest
    total = 0
    for y0, x0 in ((200, 128), (336, 256)):
        plane = photos["camera"][y0:y0 + 8, x0:x0 + 128]
        samples, coefs, group = _group_layout(plane, q)
        a, b = coefs.copy(), coefs.copy()
        args = (8 * 8 * group, 8 * group, 8 * 8 * group, 1, 1, 1, group, group,
                np.zeros(1, dtype=np.int64), q)
        # screened, as photos are searched (``strips.Refinement``)
        ka = BUILDS[build].refine_group(samples, *args, a, group, 2, lam, 6, 8 * group, 8, 1, 0,
                                        NO_MARKS)
        kb = PY.refine_group(samples, *args, b, group, 2, lam, 6, 8 * group, 8, 1, 0, NO_MARKS)
        np.testing.assert_array_equal(a, b)
        assert ka == kb
        total += ka
    assert total > 0


# Colour: the RGB error -----------------------------------------------------------------------


@pytest.mark.parametrize("build", ["source"] + sorted(BUILDS))
def test_ycc_rgb_is_djpegs_colour_conversion(build) -> None:
    """``ycc_rgb`` (the model refine_group_rgb counts the error of) gives djpeg's RGB for every
    Y, Cb and Cr it is tried on: flat 8 x 8 blocks of chosen samples, written as a YCbCr JPEG at
    quality 100 (flat blocks decode to their samples exactly), decoded by djpeg."""
    module = PY if build == "source" else BUILDS[build]
    rng = np.random.default_rng(3)
    ycc = rng.integers(0, 256, (32, 32, 3))
    ycc[0, :, 1:] = [[0, 0], [255, 255], [0, 255], [255, 0]] * 8  # extreme chroma: clamping
    ycc[1, :, 0] = np.arange(0, 256, 8)
    blocks = np.repeat(np.repeat(ycc.astype(np.uint8), 8, axis=0), 8, axis=1)
    out = io.BytesIO()
    Image.fromarray(blocks, "YCbCr").save(out, "JPEG", quality=100, subsampling=0)
    decoded = djpeg_decode(out.getvalue())[3::8, 3::8].astype(int)
    ours = np.array([[[int(v) for v in module.ycc_rgb(*(int(s) for s in ycc[by, bx]))]
                      for bx in range(32)] for by in range(32)])
    assert np.count_nonzero((ours == 0) | (ours == 255)) > 50  # the clamp was exercised
    np.testing.assert_array_equal(ours, decoded)


def _mcu_state(pixels: np.ndarray, q: list[int]):
    """One colour MCU as refine_group_rgb holds it: the three blocks' work arrays (rounded exact
    DCT of Y, Cb and Cr, quantizers q), prepared, and the colour work array."""
    blocks, R = [], np.zeros(PY.RGBWORK, np.int32)
    for c, plane in enumerate(_ycc_planes(pixels)):
        S = np.zeros(PY.WORK, np.int32)
        PY._tables(S)
        PY._mask(S, 8, 8)
        PY._quantizers(S, np.full(64, q[c], np.int32), 0)
        S[PY.C:PY.C + 64] = np.round(_dct_blocks(plane)[0, 0] / q[c]).astype(np.int32)
        assert PY._prepare(S)
        blocks.append(S)
    PY._rgb_targets(np.ascontiguousarray(pixels).ravel(), 24, 0, 3, 8, 8, 0, R, PY.RT, 8, 8)
    for c in range(3):
        PY._decoded(blocks[c], R, PY.PX + 64 * c, 8)
    return blocks, R


def _decoded_rgb_error(blocks, R) -> int:
    """The MCU's squared RGB error, decoded from scratch (idct_islow, ycc_rgb)."""
    samples = []
    for S in blocks:
        out = np.zeros(64, np.int32)
        PY.idct_islow(S[PY.C:PY.C + 64].copy(), S[PY.Q:PY.Q + 64].copy(), out)
        samples.append(out)
    rgb = np.array([[int(v) for v in PY.ycc_rgb(*(s[i] for s in samples))] for i in range(64)])
    return int(((rgb - R[PY.RT:PY.RT + 192].reshape(3, 64).T) ** 2).sum())


@pytest.mark.parametrize("kind", ["photo", "noise", "saturated"])
def test_rgb_trials_are_the_decoded_rgb_error(kind, photos) -> None:
    """The incremental RGB error (``_try`` of a colour block: changed samples only, through
    the offsets) of single steps of the coefficients of each block of an MCU equals the MCU
    decoded from scratch; after steps are made (``_candidate``), the kept state still does."""
    rng = np.random.default_rng(len(kind))
    pixels = {"photo": photos["astronaut"][200:208, 240:248],
              "noise": rng.integers(0, 256, (8, 8, 3)),
              "saturated": np.clip(photos["astronaut"][96:104, 300:308] * 3.0 - 200, 0, 255)}[kind]
    made = 0
    for q in ([1, 1, 1], [2, 3, 3]):
        blocks, R = _mcu_state(np.asarray(pixels, np.uint8), q)
        for c, S in enumerate(blocks):
            err = PY._errors(S, R, c)
            assert err == _decoded_rgb_error(blocks, R)
            for n in range(c, 64, 3):  # a third of the coefficients of each block, in turn
                for d in (-1, 1):
                    S[PY.C + n] += d
                    expected = _decoded_rgb_error(blocks, R)
                    S[PY.C + n] -= d
                    assert PY._try(S, R, n, d * q[c], err) == expected, (c, n, d)
            steps, err = transpiled.make_paying_steps(PY, S, R, c, err, lambda: _decoded_rgb_error(blocks, R))
            made += steps
            assert PY._errors(S, R, c) == err
    assert made > 0


def _colour_strip(pixels: np.ndarray, quality: int, row0: int = 0):
    """A 4:4:4 colour strip as refine_group_rgb reads it (plain-Python kernels)."""
    return transpiled.colour_strip(_plain_kernels(), pixels, quality, row0=row0)


def _rgb_error(pixels, coefs, mcus, q) -> int:  # pixels: the strip's rows
    """Squared RGB error of the strip's pixels as the model decodes its coefficients."""
    rows, width = pixels.shape[:2]
    nb = 3 * mcus
    planes = np.zeros((3, 8, 8 * mcus), np.int32)
    out = np.zeros(64, np.int32)
    for c in range(3):
        for i in range(mcus):
            assert PY.idct_islow(coefs[np.arange(64) * nb + c * mcus + i].copy(),
                                 q[64 * min(c, 1):64 * min(c, 1) + 64].copy(), out) == 0
            planes[c, :, 8 * i:8 * i + 8] = out.reshape(8, 8)
    rgb = np.array([[[int(v) for v in PY.ycc_rgb(*planes[:, y, x])] for x in range(width)]
                    for y in range(rows)])
    return int(((rgb - pixels[..., :3]) ** 2).sum())


@pytest.mark.parametrize(("quality", "rows", "row0", "tries"), [
    (100, 8, 0, 6), (95, 8, 0, 6), (100, 5, 3, 6), (95, 1, 2, 6), (75, 5, 3, 64)])
def test_refine_group_rgb_lowers_the_rgb_error_as_the_source(quality, rows, row0, tries,
                                                             photos) -> None:
    """A strip of ``astronaut`` (4 channels, a partial MCU; 8 rows, or the last rows of an
    image, from a row of the band past its first) through refine_group_rgb: every build
    chooses the source's coefficients, none moved by more than one step, and the RGB error of
    the decoded pixels (the exact model) goes down; also with every coefficient a candidate
    (``refine.MAXTRIES``) and no rate term (small images: 16 candidates, no rate term)."""
    pixels = photos["astronaut"][300 - row0:300 + rows, 200:253]
    pixels = np.concatenate([pixels, pixels[..., :1]], axis=2)  # RGBX: the band's 4th sample
    band, coefs, mcus = _colour_strip(pixels, quality, row0)
    q = np.asarray(tables.quality_tables(quality), dtype=np.int32).ravel()
    finest = int(q.min())
    lam = 0.0 if finest <= 1 or tries == 64 else 0.5 * finest * finest
    args = (band.reshape(-1), band.shape[1], row0, 4, pixels.shape[1], rows, mcus,
            np.array([0, 1, 1], np.int64), q)
    refined = coefs.copy()
    screen = int(tries == 6)  # as photos are searched; not with every coefficient a candidate
    changed = PY.refine_group_rgb(*args, refined, 3 * mcus, 1, lam, tries, screen, 0, NO_MARKS)
    assert changed == np.count_nonzero(refined != coefs) > 0
    assert np.abs(refined - coefs).max() == 1
    strip = pixels[row0:]
    assert _rgb_error(strip, refined, mcus, q) < _rgb_error(strip, coefs, mcus, q)
    for build, module in BUILDS.items():
        other = coefs.copy()
        assert module.refine_group_rgb(*args, other, 3 * mcus, 1, lam, tries,
                                       screen, 0, NO_MARKS) == changed, build
        np.testing.assert_array_equal(other, refined, err_msg=build)


@pytest.mark.parametrize("hs, vs", [(1, 1), (2, 1), (2, 2)])
def test_partial_blocks_refine_as_the_source(hs, vs) -> None:
    """refine_group with the image's edge inside the group (width, rows): each build
    chooses the coefficients of the Python source, and blocks wholly past the edge
    keep theirs."""
    rng = np.random.default_rng(7 + hs + vs)
    mcus = 3
    cw = 8 * hs * mcus
    nrows = 8 * vs
    ncomp = 3
    plane = nrows * cw
    chroma = ncomp * plane if hs * vs > 1 else 0
    samples_size = chroma + (ncomp - 1) * 64 * mcus if hs * vs > 1 else ncomp * plane
    samples = rng.normal(0, 40, samples_size).astype(np.float32)
    nb = mcus * (hs * vs + ncomp - 1)
    coefs = rng.integers(-3, 4, 64 * nb).astype(np.int32)
    quant = np.ones(128, np.int32)
    comp_table = np.array([0, 1, 1], np.int64)
    width, rows = cw - 8 * hs - 3, nrows - 5  # the last MCU partial, past the edge wholly in part
    args = (plane, cw, chroma, ncomp, hs, vs, mcus, mcus, comp_table, quant)
    for tries in (6, 64):
        expected = coefs.copy()
        screen = int(tries == 6)
        changed = PY.refine_group(samples, *args, expected, nb, 1, 0.0, tries, width, rows, screen,
                                  0, NO_MARKS)
        assert changed > 0
        for module in BUILDS.values():
            got = coefs.copy()
            assert module.refine_group(samples, *args, got, nb, 1, 0.0, tries, width,
                                       rows, screen, 0, NO_MARKS) == changed
            np.testing.assert_array_equal(got, expected)
    if vs == 2:  # component 0's blocks of the second row past the last column: untouched
        last = (mcus - 1) * hs + hs - 1 + mcus * hs
        np.testing.assert_array_equal(expected[np.arange(64) * nb + last],
                                      coefs[np.arange(64) * nb + last])


# The kernels' call: refine_group on the buffers _group_coefs fills ------------------------

def _plain_kernels():
    return transpiled.source("kernels")


def _kernel_group(rgb: np.ndarray, quality: int, hs: int, vs: int, grey: bool):
    """One group of a strip as the kernels' ``_group_coefs`` leaves it (plain-Python kernels).

    Returns refine_group's arguments up to ``nb`` (samples ... coefs, nb) and
    the component planes the layout should hold, computed here with NumPy.
    """
    kernels = _plain_kernels()
    height, width = rgb.shape[:2]
    channels, ncomp, convert = (1, 1, 0) if grey else (3, 3, 1)
    pixels = rgb[..., :1] if grey else rgb
    group = width // (8 * hs)
    qtables = tables.quality_tables(quality)[:1 if grey else 2]
    comp_table = np.array([0] if grey else [0, 1, 1], dtype=np.int64)
    size_samples, size_dct, size_coefs, _ = kernels.scratch_sizes(ncomp, hs, vs, group)
    samples = np.zeros(size_samples, dtype=np.float32)
    dct = np.zeros(size_dct, dtype=np.float32)
    coefs = np.zeros(size_coefs, dtype=np.int32)
    band = np.ascontiguousarray(pixels).ravel()
    rowidx = np.arange(height, dtype=np.int64)
    kernels._group_coefs(band, width * channels, rowidx, width, channels, ncomp, convert, hs, vs,
                         comp_table, tables.kernel_reciprocals(qtables), strips.NO_JOINT, group,
                         0, group, samples, dct, coefs, False)
    rows, cw = 8 * vs, group * 8 * hs  # as _group_coefs
    plane = rows * cw
    nb = group * (hs * vs + ncomp - 1)
    quant = np.asarray(qtables, dtype=np.int32).ravel()
    args = (samples, plane, cw, ncomp * plane, ncomp, hs, vs, group, group, comp_table, quant,
            coefs, nb)
    planes = [pixels[..., 0].astype(np.float64)] if grey else _ycc_planes(pixels)
    return args, planes


def _ycc_planes(rgb: np.ndarray) -> list[np.ndarray]:
    """Y, Cb and Cr of RGB pixels (JFIF, full range), in float64."""
    f = rgb[..., :3].astype(np.float64)
    return [0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2],
            -0.168735892 * f[..., 0] - 0.331264108 * f[..., 1] + 0.5 * f[..., 2] + 128,
            0.5 * f[..., 0] - 0.418687589 * f[..., 1] - 0.081312411 * f[..., 2] + 128]


def _blocks_of_group(args):
    """(coefs column j, 64 target samples, table) of each block, read from the documented layout with NumPy."""
    samples, plane, cw, chroma, ncomp, hs, vs, group, gm, comp_table, quant, coefs, nb = args
    out = []
    luma = samples[:plane].reshape(8 * vs, cw)
    for by in range(vs):
        for bx in range(gm * hs):
            out.append((by * group * hs + bx, luma[8 * by:8 * by + 8, 8 * bx:8 * bx + 8], 0))
    for c in range(1, ncomp):
        if hs * vs > 1:
            start = chroma + (c - 1) * 64 * group
            chroma_plane = samples[start:start + 64 * group].reshape(8, 8 * group)
            j0 = vs * group * hs + (c - 1) * group
        else:
            chroma_plane = samples[c * plane:(c + 1) * plane].reshape(8, cw)
            j0 = c * group
        for i in range(gm):
            out.append((j0 + i, chroma_plane[:, 8 * i:8 * i + 8], int(comp_table[c])))
    return out


@pytest.mark.parametrize(("hs", "vs", "grey"), [(1, 1, True), (1, 1, False), (2, 2, False)])
def test_refine_group_on_the_kernels_buffers(hs, vs, grey, photos) -> None:
    """The kernels' layout as _group_coefs fills it: per block what refine_block_natural chooses.

    Fails if the kernels' buffer layout drifts from the one refine_group reads
    (samples planes, ``coefs[n * nb + j]`` in natural order): the planes are
    checked against NumPy's YCbCr of the same pixels, each block against the
    per-block entry on its documented slice, and every build against the source.
    """
    rgb = photos["astronaut"][96:96 + 8 * vs, 192:192 + 32 * hs]
    args, planes = _kernel_group(rgb, 100, hs, vs, grey)
    samples, plane, cw, chroma, ncomp, hs, vs, group = args[:8]
    # the samples are the level-shifted planes (chroma averaged over hs x vs where subsampled)
    np.testing.assert_allclose(samples[:plane].reshape(8 * vs, cw), planes[0] - 128, atol=0.001)
    chroma_blocks = [block for block in _blocks_of_group(args) if block[2] == 1]
    for c in range(1, ncomp):
        expected = planes[c].reshape(8, vs, 8 * group, hs).mean(axis=(1, 3)) - 128
        got = np.concatenate([block[1] for block in chroma_blocks[(c - 1) * group:c * group]], axis=1)
        np.testing.assert_allclose(got, expected, atol=0.001)
    coefs = args[11]
    nb = args[12]
    quant = args[10].reshape(-1, 64)
    before = coefs.copy()
    expected_coefs = coefs.copy()
    expected_changed = 0
    for j, target, table in _blocks_of_group(args):
        block = before[np.arange(64) * nb + j].copy()
        expected_changed += PY.refine_block_natural(np.ascontiguousarray(target).ravel(), block,
                                                    quant[table], 1, 0.0, 6)
        expected_coefs[np.arange(64) * nb + j] = block
    for name, module in [("source", PY)] + sorted(BUILDS.items()):
        refined = before.copy()
        changed = module.refine_group(*args[:11], refined, nb, 1, 0.0, 6, 32 * hs, 8 * vs, 0, 0,
                                      NO_MARKS)
        np.testing.assert_array_equal(refined, expected_coefs, err_msg=name)
        assert changed == expected_changed > 0, name
    assert np.abs(expected_coefs.astype(int) - before).max() == 1
