"""refine_group_sub (transpiled/refine.py): the RGB error of subsampled colour after the decoder's upsampling.

- the model (``_upsample_row`` and ``ycc_rgb``) gives djpeg's pixels of every
  one-MCU image it is tried on, 4:2:2 and 4:2:0, partial MCUs and libjpeg-turbo's
  box upsampling of images of at most 2 chroma columns included;
- the incremental error of a chroma step (``_try_sub``) and the state after steps
  are made equal the MCU decoded from scratch;
- on strips of a photograph every build chooses the source's coefficients, moves
  none by more than one step, and the pixels djpeg decodes get closer to the source.
"""

from __future__ import annotations

import numpy as np
import pytest

import coefjpeg
import transpiled
from jpegtools import djpeg_decode
from pillow_streamjpeg import engine, tables
from pillow_streamjpeg.strips import NO_MARKS

PY = transpiled.source("refine")

BUILDS = transpiled.refine_builds()


def _strip(pixels: np.ndarray, quality: int, vs: int, row0: int = 0):
    """A strip of RGB(X) pixels subsampled 2 x vs as refine_group_sub reads it."""
    return transpiled.colour_strip(engine.kernels, pixels, quality, 2, vs, row0)


def _blocks(coefs: np.ndarray, mcus: int, vs: int):
    """The strip's coefficient blocks (natural order) as coefjpeg's planes: Y (vs, 2 mcus),
    Cb and Cr (1, mcus)."""
    nb = mcus * (2 * vs + 2)
    block = [coefs[np.arange(64) * nb + j] for j in range(nb)]
    y = np.array([[block[r * 2 * mcus + x] for x in range(2 * mcus)] for r in range(vs)])
    cb = np.array([[block[2 * vs * mcus + i] for i in range(mcus)]])
    cr = np.array([[block[(2 * vs + 1) * mcus + i] for i in range(mcus)]])
    return [y, cb, cr]


def _djpeg_pixels(coefs, mcus, vs, q, width, rows) -> np.ndarray:
    """The strip's pixels as djpeg decodes them (the strip a whole image)."""
    qtables = [list(q[:64]), list(q[64:128])]
    return djpeg_decode(coefjpeg.write(_blocks(coefs, mcus, vs), qtables, width, rows, 2, vs))


def _mcu(planes, q, vs: int, width: int, rows: int, targets: np.ndarray):
    """One MCU as refine_group_sub holds it: the work arrays of its 2 vs Y blocks, Cb and Cr
    blocks (coefficients planes[c], quantizers q[c]), prepared, and its colour work array."""
    R = np.zeros(PY.SUBWORK, np.int32)
    R[PY.SUB] = vs
    R[PY.SUB + 3] = int((width + 1) // 2 <= 2)
    PY._sub_shape(R, width, rows)
    blocks = []
    for c, plane in enumerate(planes):
        for by in range(plane.shape[0]):
            for bx in range(plane.shape[1]):
                S = np.zeros(PY.WORK, np.int32)
                PY._tables(S)
                if c:
                    PY._mask(S, R[PY.SUB + 1], R[PY.SUB + 2])
                else:
                    PY._mask(S, width - 8 * bx, rows - 8 * by)
                PY._quantizers(S, np.asarray(q[c], np.int32), 0)
                S[PY.C:PY.C + 64] = plane[by, bx]
                assert PY._prepare(S)
                PY._decoded(S, R, PY.UC + 64 * (c - 1) if c else PY.UY + 128 * by + 8 * bx,
                            8 if c else 16)
                blocks.append(S)
    padded = np.pad(targets, ((0, 16 - rows), (0, 16 - width), (0, 0)), mode="edge")
    R[PY.UT:PY.UT + 768] = padded.transpose(2, 0, 1).ravel()
    _upsample(R)
    return blocks, R


def _upsample(R) -> None:
    """R[UUP:]: both chroma planes upsampled, every pixel row of the MCU."""
    for py in range(8 * R[PY.SUB]):
        for c in (1, 2):
            PY._upsample_row(R, c, py, PY.UUP + 256 * (c - 1) + 16 * py)


def _model_rgb(R) -> np.ndarray:
    """The MCU's pixels in the image as the model decodes them (ycc_rgb of Y and upsampled chroma)."""
    rows, cols = R[PY.SUB + 5], R[PY.SUB + 4]
    return np.array([[[int(v) for v in PY.ycc_rgb(R[PY.UY + 16 * py + px], R[PY.UUP + 16 * py + px],
                                                  R[PY.UUP + 256 + 16 * py + px])]
                      for px in range(cols)] for py in range(rows)])


def _model_error(R) -> int:
    rows, cols = R[PY.SUB + 5], R[PY.SUB + 4]
    targets = R[PY.UT:PY.UT + 768].reshape(3, 16, 16)[:, :rows, :cols].transpose(1, 2, 0)
    return int(((_model_rgb(R) - targets) ** 2).sum())


def _error_from_scratch(blocks, R, vs: int) -> int:
    """The MCU's squared RGB error, every block decoded anew (idct_islow) and upsampled."""
    fresh = R.copy()
    for k, S in enumerate(blocks):
        out = np.zeros(64, np.int32)
        assert PY.idct_islow(S[PY.C:PY.C + 64].copy(), S[PY.Q:PY.Q + 64].copy(), out) == 0
        if k < 2 * vs:
            by, bx = divmod(k, 2)
            fresh[PY.UY:PY.UY + 256].reshape(16, 16)[8 * by:8 * by + 8, 8 * bx:8 * bx + 8] = \
                out.reshape(8, 8)
        else:
            c = k - 2 * vs
            fresh[PY.UC + 64 * c:PY.UC + 64 * c + 64] = out
    _upsample(fresh)
    return _model_error(fresh)


def _random_mcu(rng, vs: int, width: int, rows: int):
    """A one-MCU 4:2:x image of random coefficients (DCs -300..299, AC up to 11 in -5..5;
    quantizers 1 for Y, 2 for chroma): its planes, quantizers, the pixels djpeg decodes from
    it (rows x width x 3) and random source pixels of that shape."""
    planes = [rng.integers(-5, 6, (vs, 2, 64)), rng.integers(-5, 6, (1, 1, 64)),
              rng.integers(-5, 6, (1, 1, 64))]
    for plane in planes:
        plane[..., 0] = rng.integers(-300, 300, plane.shape[:2])
        plane[..., 12:] = 0
    q = [[1] * 64, [2] * 64, [2] * 64]
    decoded = djpeg_decode(coefjpeg.write(planes, q[:2], width, rows, 2, vs)).astype(int)
    source = rng.integers(0, 256, (rows, width, 3))
    return planes, q, decoded, source


@pytest.mark.parametrize("vs", [1, 2])
def test_upsampled_rgb_model_is_djpegs(vs) -> None:
    """One-MCU images of every width 1 to 16 and several heights (random coefficients,
    quantizers 1 and 2): the model's pixels are djpeg's (fancy upsampling, edges repeated,
    box upsampling at widths up to 4), and the chroma search's error is that of djpeg's pixels."""
    rng = np.random.default_rng(vs)
    heights = [1, 2, 3, 5, 8] + ([9, 12, 16] if vs == 2 else [])
    for width in range(1, 17):
        for rows in heights:
            planes, q, decoded, source = _random_mcu(rng, vs, width, rows)
            blocks, R = _mcu(planes, q, vs, width, rows, source)
            np.testing.assert_array_equal(_model_rgb(R), decoded, err_msg=f"{width} x {rows}")
            for c in (3, 4):  # the search's error (through the offsets) is the same
                assert PY._errors(blocks[2 * vs + c - 3], R, c) == \
                    int(((decoded - source) ** 2).sum())


@pytest.mark.parametrize("vs", [1, 2])
def test_inner_error_leaves_out_the_mcus_edge_pixels(vs) -> None:
    """``_sub_error`` is the squared RGB error of the MCU's pixels in the image as djpeg decodes
    them; ``_sub_inner_error`` the same without its first and last columns and, at 4:2:0, its
    first and last rows (whose chroma blends the neighbouring MCU's)."""
    rng = np.random.default_rng(10 + vs)
    for width, rows in [(16, 8 * vs), (11, 8 * vs - 3), (16, 1), (2, 8 * vs)]:
        planes, q, decoded, source = _random_mcu(rng, vs, width, rows)
        _, R = _mcu(planes, q, vs, width, rows, source)
        squared = ((decoded - source) ** 2).sum(axis=2)
        assert PY._sub_error(R) == int(squared.sum())
        inner = squared[1:15, 1:15] if vs == 2 else squared[:, 1:15]  # the MCU's rows and columns
        assert PY._sub_inner_error(R) == int(inner.sum()), f"{width} x {rows}"


@pytest.mark.parametrize("vs", [1, 2])
def test_chroma_ranking_residual_is_each_samples_mean_over_its_pixels(vs) -> None:
    """The ranking's residual of each chroma sample (``_residuals_sub``, S[E:]) is the mean of
    its pixels' weighted RGB errors (R[UWE:], x 2**10), over its pixels in the image only
    (1, 2 or 4 of its 2 x vs), rounded down; 0 for a sample with none: MCUs of every width and
    several heights, the shift table (``_sub_shape``) made anew for each shape."""
    rng = np.random.default_rng(20 + vs)
    checked = set()
    for width in range(1, 17):
        for rows in ([1, 2, 5, 8] + ([9, 16] if vs == 2 else [])):
            planes, q, _, source = _random_mcu(rng, vs, width, rows)
            blocks, R = _mcu(planes, q, vs, width, rows, source)
            for c in (3, 4):
                S = blocks[2 * vs + c - 3]
                PY._errors(S, R, c)
                weighted = R[PY.UWE:PY.UWE + 256].reshape(16, 16).astype(np.int64)
                for sy in range(8):
                    for sx in range(8):
                        ys = [y for y in range(vs * sy, vs * sy + vs) if y < rows]
                        xs = [x for x in range(2 * sx, 2 * sx + 2) if x < width]
                        n = len(ys) * len(xs)
                        expected = (int(weighted[np.ix_(ys, xs)].sum()) // (n * 1024)
                                    if n else 0)
                        assert S[PY.E + 8 * sy + sx] == expected, (width, rows, c, sy, sx)
                        checked.add(n)
    assert checked == {0, 1, 2, 4} if vs == 2 else checked == {0, 1, 2}


@pytest.mark.parametrize("vs, width, rows, kind", [
    (1, 16, 8, "photo"), (2, 16, 16, "photo"), (2, 13, 11, "noise"), (2, 16, 16, "noise"),
    (1, 9, 3, "noise")])
def test_chroma_trials_are_the_decoded_rgb_error(vs, width, rows, kind, photos) -> None:
    """The incremental RGB error of single steps of the Cb and Cr blocks (``_try_sub``: only the
    pixel rows whose upsampled chroma can change) equals the MCU decoded from scratch; after
    the steps that pay are made (``_candidate``), the kept state still does. (Noise: a step
    there changes the pixel rows that blend a changed sample row in, not only its own.)"""
    rng = np.random.default_rng(rows)
    pixels = (photos["astronaut"][180:180 + rows, 250:250 + width] if kind == "photo" else
              rng.integers(0, 256, (rows, width, 3)).astype(np.uint8))
    made = 0
    for quality in (100, 90):
        band, coefs, mcus = _strip(pixels, quality, vs)
        q = np.asarray(tables.quality_tables(quality), dtype=np.int32)
        blocks, R = _mcu(_blocks(coefs, mcus, vs), [q[0], q[1], q[1]], vs, width, rows, pixels)
        for c in (3, 4):
            S = blocks[2 * vs + c - 3]
            err = PY._errors(S, R, c)
            assert err == _error_from_scratch(blocks, R, vs)
            for n in range(c, 64, 3):
                for d in (-1, 1):
                    S[PY.C + n] += d
                    expected = _error_from_scratch(blocks, R, vs)
                    S[PY.C + n] -= d
                    assert PY._try_sub(S, R, c, n, d * S[PY.Q + n]) == expected, (c, n, d)
            steps, err = transpiled.make_paying_steps(PY, S, R, c, err, lambda: _error_from_scratch(blocks, R, vs))
            made += steps
            assert PY._errors(S, R, c) == err
    assert made > 0


@pytest.mark.parametrize(("vs", "quality", "rows", "row0", "width", "tries"), [
    (2, 100, 16, 0, 13, 6), (2, 90, 16, 0, 53, 6), (1, 90, 8, 0, 53, 6), (2, 75, 11, 3, 37, 6),
    (1, 100, 5, 2, 21, 6), (2, 90, 16, 0, 13, 64), (1, 50, 5, 2, 21, 64)])
def test_refine_group_sub_lowers_the_rgb_error_as_the_source(vs, quality, rows, row0, width,
                                                            tries, photos) -> None:
    """A strip of ``astronaut`` (4 channels; one MCU or several, whose edges the model only
    approximates; the last rows of an image from a row of the band past its first) through
    refine_group_sub: every build chooses the source's coefficients, none moved by more than one
    step, and djpeg's pixels of the strip get closer to the source. Also with every
    coefficient a candidate (``refine.MAXTRIES``) and no rate term, as small images are
    searched (with 6 candidates when subsampled)."""
    pixels = photos["astronaut"][300 - row0:300 + rows, 200:200 + width]
    pixels = np.concatenate([pixels, pixels[..., :1]], axis=2)  # RGBX: the band's 4th sample
    band, coefs, mcus = _strip(pixels, quality, vs, row0)
    q = np.asarray(tables.quality_tables(quality), dtype=np.int32).ravel()
    finest = int(q.min())
    lam = 0.0 if finest <= 1 or tries == 64 else 0.5 * finest * finest
    box = int((width + 1) // 2 <= 2)
    args = (band.reshape(-1), band.shape[1], row0, 4, width, rows, mcus, vs, box,
            np.array([0, 1, 1], np.int64), q)
    nb = mcus * (2 * vs + 2)
    refined = coefs.copy()
    screen = int(tries == 6)  # as photos are searched; not with every coefficient a candidate
    changed = PY.refine_group_sub(*args, refined, nb, 1, lam, tries, screen, 0, NO_MARKS)
    assert changed == np.count_nonzero(refined != coefs) > 0
    assert np.abs(refined - coefs).max() == 1
    source = pixels[row0:, :, :3].astype(int)
    before = ((_djpeg_pixels(coefs, mcus, vs, q, width, rows) - source) ** 2).sum()
    after = ((_djpeg_pixels(refined, mcus, vs, q, width, rows) - source) ** 2).sum()
    assert after < before
    for build, module in BUILDS.items():
        other = coefs.copy()
        assert module.refine_group_sub(*args, other, nb, 1, lam, tries, screen, 0,
                                       NO_MARKS) == changed, build
        np.testing.assert_array_equal(other, refined, err_msg=build)
