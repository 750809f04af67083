"""The default's smooth blocks: the better of two roundings (transpiled/smooth.py).

Where the search is off by default (``refine`` absent, no other choice) and a table has a
quantizer of 1, images whose planes the kernels take as they are (grey, CMYK, YCbCr
sources, RGB kept as RGB) keep, for each block whose samples span 1 to
``options.SMOOTH_LEVELS`` levels, in windows where half the blocks are so and their
patterns repeat, the better of its coefficients and libjpeg's integer DCT's, both decoded
exactly. These tests keep its claims true: the model of libjpeg's DCT and quantization is
Pillow's, bit for bit; the choice is never worse than either rounding (decoded by an
independent model, ``refine.idct_islow``); the cache of choices changes nothing; the
windows' gates; the builds choose what the source chooses; the screen finds every strip
with a choice, so every schedule gives the same bytes; through the encoder, issue 15's ramps
and generated smooth images are not behind Pillow, and the ramps are behind it with the
choice switched off.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import coefjpeg
import transpiled
from generated import ramp
from jpegtools import assert_strictly_valid, djpeg_decode, psnr
from pillow_streamjpeg import engine, options, refine, strips, tables

PY = transpiled.source("smooth")
BUILDS = {"baseline": engine.smooth_baseline}
if engine.smooth_v3 is not None and "x86-64-v3" in engine.builds():
    BUILDS["x86-64-v3"] = engine.smooth_v3


def _smoothing(module, quality: int, levels: int = options.SMOOTH_LEVELS) -> strips.Smoothing:
    return strips.Smoothing.of(tables.quality_tables(quality)[:1], levels, module)


def _table(quality: int) -> np.ndarray:
    return _smoothing(PY, quality).table


def _libjpeg(module, plane: np.ndarray, quality: int) -> np.ndarray:
    """libjpeg's quantized coefficients of each block of one block row as the module models
    them (``_smooth_rows``, ``_smooth_columns``): (blocks, 64), natural order."""
    group = plane.shape[1] // 8
    samples = (plane.astype(np.float32) - 128).ravel()
    V, chunk = np.zeros(PY.SB_C, np.int32), PY.SVG
    out = []
    for b0 in range(0, group, chunk):
        n = min(chunk, group - b0)
        module._smooth_rows(samples, 8 * b0, 8 * group, n, V)
        module._smooth_columns(V, n, _table(quality), 1)
        out.append(V[PY.SV_L * chunk:(PY.SV_L + 64) * chunk].reshape(64, chunk)[:, :n].T.copy())
    return np.concatenate(out)


def _rounded(plane: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The exact orthonormal DCT of each 8x8 block of one block row, divided by q and rounded: (blocks, 64)."""
    k = np.arange(8)
    basis = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * 0.5
    basis[0] /= np.sqrt(2)
    blocks = [basis @ (plane[:, 8 * j:8 * j + 8].astype(np.float64) - 128) @ basis.T
              for j in range(plane.shape[1] // 8)]
    return np.round(np.array(blocks).reshape(-1, 64) / q).astype(np.int32)


def _choose(module, plane: np.ndarray, quality: int, cols: int | None = None, rows: int = 8,
            group: int | None = None, buffers=None, coefs: np.ndarray | None = None):
    """``strips.smooth_blocks`` over one block row of a grey plane (a strip of its blocks,
    one window of them all unless ``group``) from the rounded exact DCT (or ``coefs``):
    (chosen, rounded), each (blocks, 64)."""
    q = np.asarray(tables.quality_tables(quality)[0], dtype=np.int32)
    if cols is not None:  # the strip's blocks: the image's columns, the last one's padding
        plane = plane[:, :8 * -(-cols // 8)]
    blocks = plane.shape[1] // 8
    rounded = _rounded(plane, q) if coefs is None else coefs
    chosen = rounded.T.copy().ravel()
    smooth = _smoothing(module, quality)
    buffers = smooth.buffers(group or blocks, blocks) if buffers is None else buffers
    strips.smooth_blocks(smooth, buffers, (plane.astype(np.float32) - 128).ravel(), chosen,
                         8 * blocks if cols is None else cols, rows, 1, np.zeros(1, np.int64),
                         group or blocks)
    return chosen.reshape(64, blocks).T, rounded


def _contents(photos) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:48, 0:64]
    return {
        "noise": rng.integers(0, 256, (48, 64)).astype(np.uint8),
        "camera": photos["camera"][192:240, 128:192],
        "ramp": ramp(1024, 768)[:48, :64],
        "steep": np.clip((x + y) * 5.3, 0, 255).astype(np.uint8),
        "saturated": rng.choice([0, 255], (48, 64)).astype(np.uint8),
    }


@pytest.mark.parametrize("quality", [100, 95, 75, 50, 10])
def test_libjpeg_coefs_decode_as_pillows_file(quality, photos) -> None:
    """The model of libjpeg's forward DCT and quantization, written as a JPEG by an
    independent writer, decodes (djpeg) to exactly the pixels of Pillow's own file."""
    q = list(tables.quality_tables(quality)[0])
    for name, plane in _contents(photos).items():
        out = io.BytesIO()
        Image.fromarray(plane).save(out, format="JPEG", quality=quality)
        blocks = np.stack([_libjpeg(PY, plane[8 * r:8 * r + 8], quality)
                           for r in range(plane.shape[0] // 8)])
        model = coefjpeg.write([blocks], [q], plane.shape[1], plane.shape[0])
        np.testing.assert_array_equal(djpeg_decode(model), djpeg_decode(out.getvalue()),
                                      err_msg=name)


def _decode(coefs: np.ndarray, q: np.ndarray) -> np.ndarray:
    out = np.zeros(64, np.int32)
    refine.idct_islow(coefs.astype(np.int32).copy(), q, out)
    return out.reshape(8, 8).astype(np.int64)


def _decoded_error(coefs: np.ndarray, q: np.ndarray, block: np.ndarray) -> int:
    return int(((_decode(coefs, q) - block.astype(np.int64)) ** 2).sum())


def _plane() -> np.ndarray:
    return np.concatenate([ramp(1024, 768)[:8, :256], ramp(3000, 2000)[:8, :256],
                           np.full((8, 64), 77, np.uint8),
                           np.random.default_rng(1).integers(0, 256, (8, 64)).astype(np.uint8),
                           ramp(1024, 768)[8:16, 512:768]], 1)


@pytest.mark.parametrize("quality", [100, 95])
def test_smooth_blocks_keep_the_closer_rounding(quality, monkeypatch) -> None:
    """Each smooth block decodes no worse than with either rounding, strictly better where
    libjpeg's was taken; blocks outside 1..levels are left as they are. (One window of
    ramps of two slopes, of more patterns than a window may have, and of noise blocks:
    those gates lifted.)"""
    monkeypatch.setattr(PY, "SMOOTH_PATTERNS", 1 << 20)
    monkeypatch.setattr(PY, "SMOOTH_WINDOW_LEVELS", 1 << 20)
    q = np.asarray(tables.quality_tables(quality)[0], dtype=np.int32)
    plane = _plane()
    chosen, rounded = _choose(PY, plane, quality)
    libjpeg = _libjpeg(PY, plane, quality)
    taken = 0
    for j in range(plane.shape[1] // 8):
        block = plane[:, 8 * j:8 * j + 8]
        span = int(block.max()) - int(block.min())
        if not 0 < span <= options.SMOOTH_LEVELS:
            np.testing.assert_array_equal(chosen[j], rounded[j])
            continue
        mine, theirs = _decoded_error(rounded[j], q, block), _decoded_error(libjpeg[j], q, block)
        assert _decoded_error(chosen[j], q, block) == min(mine, theirs)
        if not np.array_equal(chosen[j], rounded[j]):
            np.testing.assert_array_equal(chosen[j], libjpeg[j])
            assert theirs < mine
            taken += 1
    assert taken > 4  # the ramps' staircases: libjpeg's rounding taken on several blocks


def test_smooth_blocks_count_only_the_image() -> None:
    """At the image's right and bottom edges only the pixels inside count: a block whose
    visible part decodes better with libjpeg's rounding takes it, whatever the padding."""
    q = np.asarray(tables.quality_tables(100)[0], dtype=np.int32)
    plane = ramp(1024, 768)[8:16, 512:768]
    full, _ = _choose(PY, plane, 100)
    libjpeg = _libjpeg(PY, plane, 100)
    for cols, rows in ((8 * 31 + 3, 8), (8 * 32, 5), (8 * 30 + 7, 2)):
        chosen, rounded = _choose(PY, plane, 100, cols, rows)
        for j in range(chosen.shape[0]):
            seen = plane[:rows, 8 * j:8 * j + min(8, cols - 8 * j)]
            if seen.size == 0:
                continue
            err = [int(((_decode(c, q)[:rows, :seen.shape[1]] - seen.astype(np.int64)) ** 2).sum())
                   for c in (rounded[j], libjpeg[j], chosen[j])]
            assert err[2] == min(err[0], err[1]), (cols, rows, j)
            if err[1] < err[0]:
                np.testing.assert_array_equal(chosen[j], libjpeg[j])
    assert not np.array_equal(_choose(PY, plane, 100, 8 * 32, 2)[0], full)  # rows matter


def _invariant_rounding(plane: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``_rounded`` with each block's AC taken from its levels above its fewest, as the
    kernels' float DCT takes them (from differences of the samples alone: the same bits at
    any level), the DC from the samples: (blocks, 64)."""
    k = np.arange(8)
    basis = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * 0.5
    basis[0] /= np.sqrt(2)
    out = []
    for j in range(plane.shape[1] // 8):
        block = plane[:, 8 * j:8 * j + 8].astype(np.float64)
        f = basis @ (block - block.min()) @ basis.T
        f[0, 0] = (block - 128).sum() / 8
        out.append(np.round(f.ravel() / q))
    return np.array(out).astype(np.int32)


def _choose_rows(image: np.ndarray, quality: int, cache: bool, monkeypatch,
                 cols: int | None = None, rows: int = 8) -> tuple[np.ndarray, list[int]]:
    """``_choose`` over each block row of a grey image in turn (windows of 32 blocks), one
    scratch for all as for a thread's strips, from ``_invariant_rounding``; with ``cache``
    false its cache of choices is bypassed; ``cols`` and ``rows``: the image's in each
    (``_choose``'s). Returns the coefficients (blocks, 64) and [lookups, hits, hits of
    blocks cut by the image's edge] of the cache."""
    q = np.asarray(tables.quality_tables(quality)[0], dtype=np.int32)
    blocks = image.shape[1] // 8
    buffers = _smoothing(PY, quality).buffers(32, blocks)
    counts = [0, 0, 0]
    cached = PY._smooth_cached

    def counted(*args):
        hit = cached(*args)
        counts[0] += 1
        counts[1] += bool(hit)
        counts[2] += bool(hit) and args[4] >= 1024  # the tag of a block cut by the edge
        return hit

    with monkeypatch.context() as patch:
        patch.setattr(PY, "_smooth_cached", counted if cache else (lambda *args: np.int32(0)))
        if not cache:
            patch.setattr(PY, "_smooth_remember", lambda *args: None)
        out = []
        for r in range(image.shape[0] // 8):
            plane = image[8 * r:8 * r + 8]
            chosen, _ = _choose(PY, plane, quality, cols, rows, group=32, buffers=buffers,
                                coefs=_invariant_rounding(plane, q))
            out.append(chosen)
    return np.concatenate(out), counts


def _patterns_at_levels(seed: int, levels) -> np.ndarray:
    """12 x 32 blocks, each one of 6 random patterns of 0 to 2 levels raised by a level
    drawn from ``levels``. Their sums are made halfway DCs for the DC quantizers 1 and 2
    (sums 4 and 8 modulo 16: q100 to q93) and 5 (20 modulo 40: q85), so that both
    roundings' DC ties, which round by sign or parity, come at every level."""
    rng = np.random.default_rng(seed)
    patterns = rng.integers(0, 3, (6, 8, 8))
    patterns[:, 0, 0], patterns[:, 1, 1] = 0, 2
    for p, (modulus, rest) in zip(patterns, [(16, 4), (16, 4), (16, 8), (16, 8), (40, 20), (40, 20)]):
        cells = p.reshape(-1)
        free = [i for i in range(2, 64) if i != 9]  # not the fixed 0 and 2
        while cells.sum() % modulus != rest:
            i = next(i for i in free if cells[i] < 2)
            cells[i] += 1
    image = np.zeros((96, 256), np.uint8)
    for r in range(12):
        for c in range(32):
            image[8 * r:8 * r + 8, 8 * c:8 * c + 8] = patterns[rng.integers(0, 6)] + rng.choice(levels)
    return image


@pytest.mark.parametrize("quality", [100, 95, 93, 85, 75])
@pytest.mark.parametrize("levels", [(0, 1, 2, 3, 120, 121, 250, 251, 252, 253), tuple(range(254))],
                         ids=["near-clamps", "any"])
def test_cached_choices_are_the_choices(quality, levels, monkeypatch) -> None:
    """A block whose pattern of levels was decided before takes that choice
    (``_smooth_cached``): the coefficients are the same as with every block decided
    afresh, with patterns repeated at levels where the decoder's range limit clamps and
    where it does not; and the cache is used."""
    image = _patterns_at_levels(quality, levels)
    fresh, _ = _choose_rows(image, quality, False, monkeypatch)
    chosen, (lookups, hits, _) = _choose_rows(image, quality, True, monkeypatch)
    np.testing.assert_array_equal(chosen, fresh)
    dc_quantizer = tables.quality_tables(quality)[0][0]
    # where 8 is not a multiple of the DC's quantizer (q85: 5) only shifts of 5 levels can hit
    assert hits > (lookups // 4 if 8 % dc_quantizer == 0 else 0)
    ramp_rows = ramp(1024, 768)[:96, :256]
    chosen, (lookups, hits, _) = _choose_rows(ramp_rows, quality, True, monkeypatch)
    np.testing.assert_array_equal(chosen, _choose_rows(ramp_rows, quality, False, monkeypatch)[0])
    assert hits > (lookups // 2 if 8 % dc_quantizer == 0 else 0)


@pytest.mark.parametrize("cols, rows", [(8 * 31 + 3, 8), (8 * 31 + 6, 5), (8 * 32, 3)])
def test_cached_choices_at_the_edges_are_the_choices(cols, rows, monkeypatch) -> None:
    """Blocks cut by the image's right or bottom edge are cached by their part inside the
    image (``_smooth_tag``): the coefficients are those of every block decided afresh, and
    such blocks' choices come from the cache (patterns repeated at levels near the clamps
    and not)."""
    image = _patterns_at_levels(7, (0, 1, 2, 120, 121, 252, 253))
    fresh, _ = _choose_rows(image, 100, False, monkeypatch, cols, rows)
    chosen, (lookups, hits, edge_hits) = _choose_rows(image, 100, True, monkeypatch, cols, rows)
    np.testing.assert_array_equal(chosen, fresh)
    assert hits > lookups // 4 and edge_hits > 0, (lookups, hits, edge_hits)


def test_windows_of_few_smooth_blocks_left_as_rounded() -> None:
    """Where fewer than ``SMOOTH_GROUP_EIGHTHS`` eighths of a window's blocks are smooth
    (a photo's few), none is decided; at that share they are (the others flat)."""
    ramps = ramp(1024, 768)[:8, :256]
    others = np.full((8, 256), 40, np.uint8)
    share = PY.SMOOTH_GROUP_EIGHTHS * 32 // 8
    for smooth, decided in ((share - 1, False), (share, True)):
        plane = np.concatenate([ramps[:, :8 * smooth], others[:, :8 * (32 - smooth)]], 1)
        chosen, rounded = _choose(PY, plane, 100, group=32)
        assert np.array_equal(chosen, rounded) != decided, smooth


@pytest.mark.parametrize("build", ["source", *sorted(BUILDS)])
def test_windows_with_blocks_of_detail_left_as_rounded(build) -> None:
    """Where a block of a window spans more than ``SMOOTH_WINDOW_LEVELS`` levels (a photo's
    smooth patch among detail), none is decided, however many are smooth; at that span
    they are. ``smooth_screen`` finds the strip exactly where a window is decided."""
    module = PY if build == "source" else BUILDS[build]
    ramps = ramp(1024, 768)[:8, :256]
    share = PY.SMOOTH_GROUP_EIGHTHS * 32 // 8
    noise = np.random.default_rng(2).integers(0, 256, (8, 256)).astype(np.uint8)
    for smooth in (share, 31):
        for rest, decided in ((PY.SMOOTH_WINDOW_LEVELS, True),
                              (PY.SMOOTH_WINDOW_LEVELS + 1, False), ("noise", False)):
            if rest == "noise":
                others = noise
            else:  # flat blocks but one, one pixel of its ``rest`` levels higher
                others = np.full((8, 256), 40, np.uint8)
                others[3, 8 * (31 - smooth) + 5] = 40 + rest
            plane = np.ascontiguousarray(
                np.concatenate([ramps[:, :8 * smooth], others[:, :8 * (32 - smooth)]], 1))
            chosen, rounded = _choose(module, plane, 100, group=32)
            assert np.array_equal(chosen, rounded) != decided, (smooth, rest)
            found = module.smooth_screen(plane.ravel(), 256, 0, 8, 256, 1, 1,
                                         options.SMOOTH_LEVELS, 32, 0, 0)
            assert found == (0 if decided else 1), (smooth, rest)


def _patterned(count: int) -> np.ndarray:
    """A row of 32 blocks of 1 or 2 levels at level 100: ``count`` distinct patterns (each
    one pixel set high in another place), each 32 // count times."""
    plane = np.full((8, 256), 100, np.uint8)
    for b in range(32):
        p = b % count
        plane[p // 8, 8 * b + p % 8] = 102
        plane[7, 8 * b + 7] = 101
    return plane


def test_windows_of_many_patterns_left_as_rounded() -> None:
    """Where a window's smooth blocks have more than ``SMOOTH_PATTERNS`` patterns between
    them (vignettes, photos: most choices would be decided afresh), none is decided."""
    limit = PY.SMOOTH_PATTERNS
    for count, decided in ((limit, True), (limit + 1, False)):
        plane = _patterned(count)
        chosen, rounded = _choose(PY, plane, 100, group=32)
        libjpeg = _libjpeg(PY, plane, 100)
        differ = [j for j in range(32) if not np.array_equal(libjpeg[j], rounded[j])]
        assert differ  # a choice to make
        assert np.array_equal(chosen, rounded) != decided, count


def _strip(module, kernels, pixels: np.ndarray, quality: int, levels: int, group: int = 32,
           mcu0: int = 0, interval: int = 0) -> np.ndarray:
    """The coefficients of one strip of a grey image with smooth blocks of 1 to ``levels``
    levels (0: off), as the encoder computes them (``strips.smoothed_coefs``)."""
    height, width = pixels.shape
    frame = transpiled.frame(width, 1, 1, 0, 1, 1, quality)
    scratch = strips.Scratch.of(kernels, frame, refine=True)
    band = np.ascontiguousarray(pixels)
    if levels:
        strips.smoothed_coefs(kernels, band, 0, height, frame, scratch,
                              _smoothing(module, quality, levels), group, mcu0, interval)
    else:
        kernels.strip_coefs(band.reshape(-1), width, 0, height, *frame, *scratch[:3], group,
                            scratch.strip_samples, scratch.strip_coefs, mcu0, interval)
    return scratch.strip_coefs.copy()


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("quality", [100, 95])
def test_compiled_smooth_blocks_equal_the_source(build, quality) -> None:
    """The builds choose the source's coefficients, on a strip of several windows and a
    partial block (ramps, a flat part and noise, 7 rows), with a restart interval cutting
    the windows."""
    plane = _plane()[:7, :8 * 100 + 5]
    for mcu0, interval in ((0, 0), (5, 21)):
        ours = _strip(BUILDS[build], engine.kernels, plane, quality, options.SMOOTH_LEVELS,
                      mcu0=mcu0, interval=interval)
        source = _strip(PY, engine.kernels, plane, quality, options.SMOOTH_LEVELS, mcu0=mcu0,
                        interval=interval)
        np.testing.assert_array_equal(ours, source)
        assert not np.array_equal(source, _strip(PY, engine.kernels, plane, quality, 0))


def _mixed(seed: int) -> np.ndarray:
    """Strips of ramps (blocks of 1 or 2 levels, or all of 2), of noise and of a ramp beside
    noise, in a random order: 23 rows of 8 and a last of 5, 419 columns."""
    rng = np.random.default_rng(seed)
    gentle, steep = ramp(1600, 1200)[:, :419], ramp(1000, 750)[:, :419]
    noise = rng.integers(0, 256, gentle.shape).astype(np.uint8)
    image = np.empty((189, 419), np.uint8)
    for s in range(24):
        kind = rng.integers(0, 4)
        rows = slice(8 * s, 8 * s + 8)
        image[rows] = (gentle[rows] if kind == 0 else steep[rows] if kind == 1
                       else noise[rows] if kind == 2
                       else np.where(np.arange(419) < 200, gentle[rows], noise[rows]))[:189 - 8 * s]
    return image


@pytest.mark.parametrize("params", [
    {"quality": 100},
    {"quality": 95, "workers": 2},
    {"quality": 100, "restart_marker_blocks": 37},   # intervals ending inside strips
    {"quality": 100, "restart_marker_rows": 3, "workers": 2},
    {"quality": 95, "optimize": True},
], ids=["q100", "q95-2workers", "rst37", "rst-rows3", "q95-optimize"])
def test_screened_strips_give_the_bytes_of_every_strip_smoothed(params, monkeypatch) -> None:
    """The strips ``smooth_screen`` passes by and those ``smooth_plan`` plans (coded in one
    fused call) code as the two-step path does: a save equals, byte for byte, the same save
    with every strip taking the two-step path with the choice; and the choice runs (the save
    differs from refine=0's). On strips of ramps, noise and both, with restarts inside
    strips, threads and optimized tables; the file passes the strict decoders."""
    pixels = _mixed(len(str(params)))
    data = _save(pixels, "STREAMJPEG", **params)
    with monkeypatch.context() as patch:
        _every_strip_two_step(patch)
        assert _save(pixels, "STREAMJPEG", **params) == data
    assert _save(pixels, "STREAMJPEG", refine=0, **params) != data
    assert_strictly_valid(data)


def _every_strip_two_step(patch) -> None:
    """Every strip (alone, or in a run) on the two-step path with the choice: none passed by
    as clean, none planned."""
    patch.setattr(strips.Smoothing, "clean", lambda self, *args, **kwargs: 0)
    patch.setattr(strips.Smoothing, "plan", lambda self, *args, **kwargs: 0)


@pytest.mark.parametrize("params", [
    {"quality": 100},
    {"quality": 95, "workers": 2},
    {"quality": 100, "restart_marker_rows": 2},      # intervals ending between strips of a run
    {"quality": 100, "restart_marker_blocks": 37},   # and inside strips
    {"quality": 95, "optimize": True},
], ids=["q100", "q95-2workers", "rst-rows2", "rst-blocks37", "q95-optimize"])
def test_planned_strips_give_the_bytes_of_the_two_step_path(params, monkeypatch) -> None:
    """In a run, strips whose smooth blocks the cache of choices decides from their pixels
    are coded in one kernel call with those choices (``Smoothing.plan``), the others on the
    two-step path: on ramps, noise and both (some strips of each), the bytes of every
    strip on the two-step path; the file is valid."""
    # then strips of a ramp of blocks of 1 or 2 levels: planned, with choices to write
    pixels = np.concatenate([_mixed(7), ramp(1024, 768)[:300, :419]])
    planned, records = [], []

    def watch(strips_planned, items):
        planned.append(strips_planned)
        records.append(int(items[0]) > 1)  # the plan's items: more than its count's

    data, two_step = _save_watched(pixels, params, monkeypatch, watch)
    assert sum(planned) > 30 and any(records) and two_step, (planned, two_step)
    with monkeypatch.context() as patch:
        _every_strip_two_step(patch)
        assert _save(pixels, "STREAMJPEG", **params) == data
    assert _save(pixels, "STREAMJPEG", refine=0, **params) != data
    assert_strictly_valid(data)


@pytest.mark.parametrize("params", [
    {"quality": 100},
    {"quality": 100, "restart_marker_rows": 2},      # a restart before the strip stopped at
    {"quality": 95, "restart_marker_blocks": 37},    # restarts inside strips
], ids=["q100", "rst-rows2", "rst-blocks37"])
def test_a_plan_whose_dc_does_not_hold_gives_the_same_bytes(params, monkeypatch) -> None:
    """Where a planned choice's DC is not the kernels' (``kernels._apply_plan``), the call
    stops before its strip and the encoder codes that strip on the two-step path, then plans
    again: with one record's DC made wrong in each plan's third strip, the same bytes."""
    pixels = np.ascontiguousarray(ramp(1024, 768)[:300, :419])
    data = _save(pixels, "STREAMJPEG", **params)
    spoiled = []

    def spoil(strips_planned, items):
        p = 1
        while p < items[0]:  # the first record of the plan's third strip: its DC off by one
            if items[p] == 2:
                items[p + 3] += 1
                spoiled.append(p)
                break
            p += strips.PLAN_RECORD + items[p + 4]

    spoilt, two_step = _save_watched(pixels, params, monkeypatch, spoil)
    assert spoilt == data
    assert len(spoiled) > 3 and two_step >= len(spoiled), (spoiled, two_step)


def _save_watched(pixels: np.ndarray, params: dict, monkeypatch, watch) -> tuple[bytes, int]:
    """A save with each plan handed to ``watch`` (the strips it planned and its items, which
    ``watch`` may change before they are coded) and the strips coded on the two-step path
    counted: (the file, that count)."""
    plan, code_smoothed = strips.Smoothing.plan, strips.code_smoothed
    two_step = []

    def watched(self, *args, **kwargs):
        planned = plan(self, *args, **kwargs)
        watch(planned, args[7])
        return planned

    def counted(*args, **kwargs):
        two_step.append(1)
        return code_smoothed(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(strips.Smoothing, "plan", watched)
        patch.setattr(strips, "code_smoothed", counted)
        return _save(pixels, "STREAMJPEG", **params), len(two_step)


def test_plans_out_of_room_give_the_same_bytes(monkeypatch) -> None:
    """A plan stops before a strip whose records might not fit its buffer, and the next
    call plans from there: with room for one strip's records at most, the same bytes, in
    a plan call a strip."""
    pixels = np.ascontiguousarray(ramp(1024, 768)[:300, :419])  # blocks of 1 or 2 levels
    data = _save(pixels, "STREAMJPEG", quality=100)
    calls = []
    with monkeypatch.context() as patch:
        patch.setattr(strips, "PLAN_STRIPS", 1)
        saved, _ = _save_watched(pixels, {"quality": 100}, monkeypatch,
                                 lambda planned, items: calls.append(planned))
        assert saved == data
    assert len(calls) > 30 and max(calls) == 1, calls


def _warm_cache(module, pixels: np.ndarray, quality: int) -> tuple[strips.Smoothing, list]:
    """A cache of choices (``Smoothing.buffers``' SB) filled by the two-step path on every strip
    of a grey image: the smoothing and the buffers."""
    smooth = _smoothing(module, quality)
    height, width = pixels.shape
    frame = transpiled.frame(width, 1, 1, 0, 1, 1, quality)
    scratch = strips.Scratch.of(engine.kernels, frame)
    buffers = scratch.smooth_buffers(smooth, strips.MCUS_PER_GROUP, 1)
    for row in range(0, height, 8):
        strips.smoothed_coefs(engine.kernels, pixels, row, min(8, height - row), frame, scratch,
                              smooth, strips.MCUS_PER_GROUP, row // 8 * -(-width // 8))
    return smooth, buffers


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("quality", [100, 95])
@pytest.mark.parametrize("width", [416, 419])
def test_compiled_plans_equal_the_source(build, quality, width) -> None:
    """``smooth_plan`` of the builds writes the source's records and plans as many strips
    (ramps, noise, a vignette, the last strip short, blocks cut by the right edge or not):
    from a warm cache, where it plans most strips, and from an empty one, where the first
    strip with a block to decide stops it."""
    pixels = np.ascontiguousarray(np.concatenate([_mixed(3), vignette(419)[:70]])[:, :width])
    height = pixels.shape[0]
    mcus = -(-width // 8)
    frame = transpiled.frame(width, 1, 1, 0, 1, 1, quality)
    smooth, buffers = _warm_cache(BUILDS[build], pixels, quality)
    done = {}
    for name, cache in (("warm", buffers[0]), ("empty", smooth.buffers(strips.MCUS_PER_GROUP, 1)[0])):
        results = []
        for module in (BUILDS[build], PY):
            plan = np.zeros(1 + 8 * mcus * (strips.PLAN_RECORD + 64), np.int32)
            planned = module.smooth_plan(pixels.reshape(-1), width, 8, height - 8, width, 1, 1,
                                         frame.comp_table, smooth.table, cache.copy(),
                                         strips.MCUS_PER_GROUP, mcus, 0, plan)
            results.append((planned, plan[:plan[0]].tolist()))
        assert results[0] == results[1]
        done[name] = results[0][0]
    assert done["empty"] < 3 and done["warm"] > 5, done


def test_plan_record_size_is_the_modules() -> None:
    """``strips.PLAN_RECORD`` (the plan buffer's sizes) is the smooth module's."""
    assert strips.PLAN_RECORD == PY.PLAN_RECORD


@pytest.mark.parametrize("first", [1, 37, 1 << 30])
def test_blocks_looked_up_first_give_the_bytes_of_any_split(first, monkeypatch) -> None:
    """``smooth_blocks`` looks up a strip's first ``SMOOTH_FIRST_BLOCKS`` blocks to decide,
    deciding their misses, before looking up the others (a thread's first strip, its cache
    empty, would otherwise look up all its misses again after each decision): any split
    gives the bytes of the default's, on a first strip with more blocks to decide than the
    split (the calls recorded), with the cache empty at the start of each save; and the
    choice runs."""
    pixels = np.ascontiguousarray(ramp(1024, 768)[:96])  # issue 15's ramp's first 12 strips
    data = _save(pixels, "STREAMJPEG", quality=100)
    found, parts = [], []  # a strip's blocks to decide, those its first lookup was given

    class Recorded:
        def __getattr__(self, name):
            return getattr(module, name)

        def smooth_candidates(self, *args):
            found.append(module.smooth_candidates(*args))
            parts.append(None)  # the strip's first lookup comes next
            return found[-1]

        def smooth_lookup(self, *args):
            if parts and parts[-1] is None:
                parts[-1] = args[9]
            return module.smooth_lookup(*args)

    module = engine.smooth
    with monkeypatch.context() as patch:
        patch.setattr(strips, "SMOOTH_FIRST_BLOCKS", first)
        patch.setattr(engine, "smooth", Recorded())
        assert _save(pixels, "STREAMJPEG", quality=100) == data
    # the first strip on the two-step path (128 blocks, all smooth; the cache empty), then
    # any other whose blocks the cache cannot decide from their pixels
    assert found and found[0] == 128 and parts == [min(first, n) for n in found], (found, parts)
    assert _save(pixels, "STREAMJPEG", quality=100, refine=0) != data


@pytest.mark.parametrize("mode, params", [
    ("CMYK", {"quality": 100}),
    ("RGB", {"quality": 95, "keep_rgb": True, "restart_marker_blocks": 29}),
], ids=["cmyk-q100", "rgb-kept-q95-rst29"])
def test_screened_strips_of_several_components(mode, params, monkeypatch) -> None:
    """As above for images of several components coded as they are: each component's
    windows screened from its own samples of the interleaved pixels."""
    rng = np.random.default_rng(5)
    channels = 4 if mode == "CMYK" else 3
    planes = [_mixed(int(rng.integers(1000))) for _ in range(channels)]
    pixels = np.ascontiguousarray(np.stack(planes, -1))
    image = Image.fromarray(pixels, mode)
    data = _save_image(image, **params)
    with monkeypatch.context() as patch:
        patch.setattr(strips.Smoothing, "clean", lambda self, *args, **kwargs: 0)
        assert _save_image(image, **params) == data
    assert _save_image(image, refine=0, **params) != data
    assert_strictly_valid(data)


def test_dask_bands_give_the_local_bytes() -> None:
    """Dask's tasks (bands starting inside restart intervals: the strip before coded for its
    DC predictors, ``last_dc``) give the bytes of the local encoder on smooth content."""
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    import pillow_streamjpeg

    pixels = _mixed(11)
    expected = io.BytesIO()
    pillow_streamjpeg.encode(pixels, expected, quality=100, restart_marker_blocks=45)
    for scheduler in ("threads", "synchronous"):
        with dask.config.set(scheduler=scheduler):
            out = io.BytesIO()
            pillow_streamjpeg.encode(da.from_array(pixels, chunks=(40, 419)), out, quality=100,
                                     restart_marker_blocks=45, band_rows=24)
            assert out.getvalue() == expected.getvalue(), scheduler


def _save_image(image: Image.Image, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, format="STREAMJPEG", **params)
    return out.getvalue()


def _save(pixels: np.ndarray, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, **params)
    return out.getvalue()


def vignette(size: int) -> np.ndarray:
    """A grey disc darkening to its edge (as ``benchmarks/bench_smooth.py``'s)."""
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(x, y) / (size / np.sqrt(2))
    return np.round(255 - 191 * r**2).astype(np.uint8)


@pytest.mark.parametrize("make", [lambda: ramp(1024, 768), lambda: ramp(3001, 201),
                                  lambda: ramp(700, 1503), lambda: vignette(1021)],
                         ids=["ramp1024x768", "ramp3001x201", "ramp700x1503", "vignette1021"])
@pytest.mark.parametrize("quality", [100, 95])
def test_smooth_images_by_default_not_behind_pillow(make, quality) -> None:
    """Ramps and a vignette: by default at least Pillow's PSNR (djpeg) less 0.01 dB, in at
    most 1.005 times its bytes."""
    pixels = make()
    ours, theirs = _save(pixels, "STREAMJPEG", quality=quality), _save(pixels, "JPEG", quality=quality)
    assert psnr(pixels, djpeg_decode(ours)) >= psnr(pixels, djpeg_decode(theirs)) - 0.01
    assert len(ours) <= 1.005 * len(theirs)


@pytest.mark.parametrize("quality", [100, 95])
def test_issue_ramp_behind_pillow_without_the_choice(quality) -> None:
    """The guard: refine=0 (no search, no smooth blocks) leaves issue 15's ramp behind Pillow,
    so the default's gain there is the smooth blocks' doing."""
    pixels = ramp(1024, 768)
    off = psnr(pixels, djpeg_decode(_save(pixels, "STREAMJPEG", quality=quality, refine=0)))
    theirs = psnr(pixels, djpeg_decode(_save(pixels, "JPEG", quality=quality)))
    assert off < theirs - 0.5


@pytest.mark.parametrize("mode, size, params, levels", [
    ("L", (640, 480), {"quality": 100}, options.SMOOTH_LEVELS),
    ("L", (640, 480), {"quality": 94}, options.SMOOTH_LEVELS),  # 4 quantizers of 1
    ("L", (640, 480), {"quality": 93}, 0),                      # 1
    ("L", (640, 480), {"quality": 92}, 0),                      # finest quantizer 2
    ("L", (640, 480), {"quality": 100, "refine": 0}, 0),        # off
    ("L", (640, 480), {"quality": 100, "refine": 1}, 0),        # the search instead
    ("L", (64, 64), {"quality": 100}, 0),                       # the choice on marked MCUs
    ("CMYK", (640, 480), {"quality": 95}, options.SMOOTH_LEVELS),
    ("RGB", (640, 480), {"quality": 100}, 0),                   # converted: rounded with the chroma
    ("RGB", (640, 480), {"quality": 100, "keep_rgb": True}, options.SMOOTH_LEVELS),
    ("YCbCr", (640, 480), {"quality": 100, "subsampling": 0}, options.SMOOTH_LEVELS),
    ("YCbCr", (640, 480), {"quality": 100, "subsampling": 2}, 0),
])
def test_smooth_default_where_documented(mode, size, params, levels) -> None:
    image = Image.new(mode, size)
    assert options.parse(image.mode, image.size, params).smooth_levels == levels
