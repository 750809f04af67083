"""Strips laid side by side on the two-step path (``strips.side_by_side``, ``StripCoder._encode_side``).

Where every strip is refined (the default's search and libjpeg choice on small images,
``refine`` given) or the default's marked choice finds strips with marked MCUs in a row,
whole strips are laid side by side and coded as one strip in one set of kernel calls. The
bytes must be those of one strip a set of calls (``side_by_side`` patched to 1): the
same MCUs in the same order, groups cut where each strip's own call cuts them (the 4:2:x
luma correction reads its group's neighbours), restarts between strips, each strip's
own marks; and the path must be taken where it applies and not where it cannot keep
those bytes.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg
from pillow_streamjpeg import engine, options, strips, tables

sys.path.insert(0, str(Path(__file__).parent / "lib"))
from generated import content  # noqa: E402
from jpegtools import assert_strictly_valid, djpeg_decode, psnr  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:overflow encountered in scalar multiply:RuntimeWarning")

SIZES = [(16, 16), (32, 32), (24, 16), (16, 40), (48, 48), (64, 64), (32, 17), (17, 32),
         (128, 128), (128, 44), (64, 92), (288, 32)]
KINDS = ["photo", "noise", "dramp", "vramp", "hramp", "checker"]
OPTIONS = [{}, {"quality": 75}, {"quality": 90, "subsampling": "4:2:0"},
           {"quality": 80, "subsampling": "4:2:2"}, {"quality": 100, "subsampling": "4:2:0"},
           {"refine": 1}, {"refine": 1, "quality": 90, "subsampling": "4:2:0"},
           {"refine": 2, "quality": 60}, {"quality": 95, "restart_marker_rows": 1},
           {"quality": 85, "restart_marker_blocks": 3},
           {"quality": 80, "subsampling": "4:2:2", "restart_marker_blocks": 5},
           {"refine": 1, "quality": 92, "subsampling": "4:2:2", "restart_marker_rows": 2},
           {"quality": 50, "optimize": True}, {"quality": 93, "workers": 2}]


def _save(image: Image.Image, **kw) -> bytes:
    out = io.BytesIO()
    image.save(out, format="STREAMJPEG", **kw)
    return out.getvalue()


@pytest.fixture
def sides(monkeypatch) -> list[int]:
    """The strip counts ``_code_side`` codes side by side, appended as it is called."""
    counts: list[int] = []
    real = strips.StripCoder._code_side

    def counted(self, pixels, top, index, count, *rest):
        counts.append(count)
        return real(self, pixels, top, index, count, *rest)

    monkeypatch.setattr(strips.StripCoder, "_code_side", counted)
    return counts


@pytest.fixture
def copies(monkeypatch) -> list[tuple[int, ...]]:
    """The ``copies`` of each ``kernels.code_copies`` call (repeated strips side by side)."""
    calls: list[tuple[int, ...]] = []
    real = engine.kernels.code_copies

    def recorded(*args):
        calls.append(tuple(args[-1].tolist()))
        return real(*args)

    monkeypatch.setattr(engine.kernels, "code_copies", recorded)
    return calls


@pytest.mark.parametrize("kw", OPTIONS,
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_side_by_side_codes_the_bytes_of_one_strip_a_call(monkeypatch, sides, kw) -> None:
    """Every size, content and mode: the same bytes with strips side by side as without."""
    side_by_side = strips.side_by_side
    for width, height in SIZES:
        for kind in KINDS:
            for mode in ("L", "RGB"):
                if mode == "L" and "subsampling" in kw:
                    continue
                image = Image.fromarray(content(kind, width, height, mode))
                monkeypatch.setattr(strips, "side_by_side", side_by_side)
                before = len(sides)
                wide = _save(image, **kw)
                monkeypatch.setattr(strips, "side_by_side", lambda settings, most, mcus=0: 1)
                assert _save(image, **kw) == wide, (width, height, kind, mode)
                if before == len(sides):
                    continue
                # taken: only whole strips, never the image's partial last one
                strip = 16 if mode == "RGB" and kw.get("subsampling") == "4:2:0" else 8
                assert sum(sides[before:]) <= height // strip
    assert sides and max(sides) > 1


def test_the_path_is_taken_on_small_refined_images(sides) -> None:
    """The default's search on a 32 x 32 grey image: its 4 strips side by side in one set of calls."""
    image = Image.fromarray(content("photo", 32, 32, "L"))
    _save(image, quality=95)
    assert sides == [4]
    sides.clear()
    _save(image, quality=95, refine=0)  # one kernel call of 4 strips (``encode_strips``)
    assert sides == []


def test_marked_strips_in_a_row_go_side_by_side(sides, copies) -> None:
    """The default's marked choice: a vertical ramp's strips, marked every one and each
    unlike the one before, side by side, at most ``SIDE_MCUS`` MCUs a call; a checker's,
    each the same as the one before, in one call, refined once; a photo below a ramp only
    where the ramp is."""
    ramp = Image.fromarray(content("vramp", 128, 128, "L"))
    _save(ramp, quality=95)
    assert sum(sides) == 16 and max(sides) == strips.SIDE_MCUS // 16 > 1
    assert copies == []
    sides.clear()
    _save(Image.fromarray(content("checker", 128, 128, "L")), quality=95)
    assert sides == [16] and copies == [(0,) * 16]
    sides.clear()
    copies.clear()
    mixed = np.vstack([content("hramp", 64, 32, "RGB"), content("photo", 64, 32, "RGB")])
    _save(Image.fromarray(mixed), quality=95)
    assert sides == [4] and copies == [(0, 0, 0, 0)]


def _tiled(block: np.ndarray, width: int) -> np.ndarray:
    """A strip of 8 x 8 ``block`` repeated across: every MCU the same as the one after it (marked)."""
    return np.tile(block, (1, width // 8))


@pytest.mark.parametrize("kw", [{}, {"quality": 75}, {"quality": 90, "restart_marker_rows": 2},
                                {"quality": 85, "optimize": True}, {"workers": 2}])
def test_repeated_strips_are_refined_once(monkeypatch, sides, copies, kw) -> None:
    """Strips the same as the one before take its marks and refined coefficients
    (``_repeats``, ``kernels.code_copies``): the bytes of one strip a call, with repeats beyond
    ``SIDE_MCUS`` MCUs in one call, and a strip whose first row only is the one before's
    refined anew."""
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 256, (2, 8, 8), dtype=np.uint8)
    c = a.copy()
    c[1:] = 255 - c[1:]  # a's first row, the rest not
    width = 128  # 16 MCUs a strip: 4 distinct strips a call at most
    order = [a, a, b, b, a, c, c, a, a, a, b, c, b, a, c, c]
    image = Image.fromarray(np.vstack([_tiled(block, width) for block in order]))
    wide = _save(image, **kw)
    assert sum(sides) == 16
    assert [len(k) for k in copies] == sides
    assert sum(copies, ()) == (0, 0, 1, 1, 2, 3, 3, 0, 0, 0, 1, 2, 3, 0, 1, 1)
    assert_strictly_valid(wide)
    plain = _save(image, **kw, refine=0)  # the choice keeps the closer of two per MCU
    assert psnr(djpeg_decode(wide), np.asarray(image)) >= \
        psnr(djpeg_decode(plain), np.asarray(image))
    monkeypatch.setattr(strips, "side_by_side", lambda settings, most, mcus=0: 1)
    assert _save(image, **kw) == wide


@pytest.mark.parametrize("size, info, expected", [
    ((32, 32), {}, 4),                                   # whole MCUs, no restarts
    ((33, 32), {}, 1),                                   # a partial MCU in every row
    ((32, 36), {}, 4),                                   # the partial last strip not counted
    ((32, 32), {"restart_marker_rows": 2}, 4),          # intervals of whole rows
    ((32, 32), {"restart_marker_blocks": 3}, 1),        # intervals ending inside strips
    ((512, 64), {}, 1),                                  # 64 MCUs a row: above SIDE_MCUS / 2
    ((64, 512), {}, 8),                                  # 8 MCUs a row: SIDE_MCUS of them
])
def test_side_by_side_counts(size, info, expected) -> None:
    settings = options.parse("L", size, info)
    assert strips.side_by_side(settings, 1 << 20) == expected
    assert strips.side_by_side(settings, 2) == min(2, expected)


@pytest.mark.parametrize("mode", ["YCbCr", "CMYK", "RGBX"])
def test_other_modes_give_the_same_bytes(monkeypatch, sides, mode) -> None:
    """Several components searched plane by plane (YCbCr sources, CMYK) and 4 samples a pixel."""
    side_by_side = strips.side_by_side
    for kind in ("photo", "hramp", "checker"):
        image = Image.fromarray(content(kind, 32, 48, "RGB")).convert(mode)
        for kw in ({}, {"quality": 90}, {"refine": 1, "quality": 75},
                   {"quality": 90, "subsampling": "4:2:0"}):
            monkeypatch.setattr(strips, "side_by_side", side_by_side)
            wide = _save(image, **kw)
            monkeypatch.setattr(strips, "side_by_side", lambda settings, most, mcus=0: 1)
            assert _save(image, **kw) == wide, (kind, kw)
    assert sides and max(sides) > 1


@pytest.mark.parametrize("size, kind, kw", [
    ((64, 4104), "photo", {"refine": 1, "workers": 2}),
    ((64, 4104), "photo", {"refine": 1, "workers": 3, "restart_marker_rows": 5}),
    ((128, 2056), "vramp", {"refine": 1, "workers": 2, "quality": 90, "subsampling": "4:2:0"}),
    ((128, 2056), "checker", {"refine": 2, "workers": 2, "restart_marker_blocks": 0}),
])
def test_images_of_several_tasks_give_the_same_bytes(monkeypatch, sides, size, kind,
                                                      kw) -> None:
    """Images the scan writer cuts into several tasks (some starting inside an interval), with
    ``refine`` given (the marked choice's images, of at most 256 MCUs, are one task)."""
    width, height = size
    image = Image.fromarray(content(kind, width, height, "L" if kind != "vramp" else "RGB"))
    wide = _save(image, **kw)
    monkeypatch.setattr(strips, "side_by_side", lambda settings, most, mcus=0: 1)
    assert _save(image, **kw) == wide
    assert sides and max(sides) > 1


def test_sources_and_workers_give_the_same_bytes(monkeypatch, tmp_path) -> None:
    """TIFF strips and tiles (rows read per band), arrays and Dask arrays, 2 workers: the same bytes."""
    tifffile = pytest.importorskip("tifffile")
    grey = content("photo", 64, 48, "L")
    ramp = content("vramp", 128, 128, "RGB")
    cases = []
    for name, array in (("grey", grey), ("ramp", ramp)):
        strip_file, tile_file = tmp_path / f"{name}s.tif", tmp_path / f"{name}t.tif"
        tifffile.imwrite(strip_file, array, rowsperstrip=8)
        tifffile.imwrite(tile_file, array, tile=(16, 16))
        cases += [array, os.fspath(strip_file), os.fspath(tile_file)]
    try:
        import dask.array as da
    except ImportError:  # the Dask backend's own tests say so
        da = None
    if da is not None:
        cases += [da.from_array(grey, chunks=(16, 32)), da.from_array(ramp, chunks=(64, 64, 3))]
    side_by_side = strips.side_by_side
    for source in cases:
        for kw in ({"workers": 2, "quality": 95}, {"workers": 2, "refine": 1},
                   {"workers": 2, "quality": 90, "restart_marker_rows": 1}):
            monkeypatch.setattr(strips, "side_by_side", side_by_side)
            out = io.BytesIO()
            pillow_streamjpeg.encode(source, out, **kw)
            monkeypatch.setattr(strips, "side_by_side", lambda settings, most, mcus=0: 1)
            again = io.BytesIO()
            pillow_streamjpeg.encode(source, again, **kw)
            assert out.getvalue() == again.getvalue(), (type(source), kw)


def test_side_by_side_files_decode_strictly(sides) -> None:
    """Files coded side by side, with restarts between their strips and without: valid in
    djpeg -strict and jpeginfo -c, and as close to the image as refine=0's file."""
    image = Image.fromarray(content("photo", 48, 48, "RGB"))
    for kw in ({"quality": 90, "subsampling": "4:2:0", "restart_marker_rows": 1, "refine": 1},
               {"quality": 95, "refine": 1}):
        data = _save(image, **kw)
        assert_strictly_valid(data)
        plain = _save(image, **{**kw, "refine": 0})
        assert psnr(djpeg_decode(data), np.asarray(image)) >= \
            psnr(djpeg_decode(plain), np.asarray(image))
    assert sides and max(sides) > 1


def test_repeated_strips_refined_on_every_strip_are_refined_once(monkeypatch, sides,
                                                                 copies) -> None:
    """``refine`` given (``_encode_side``, every strip refined): strips the same as the one
    before in a call of ``side_by_side`` strips take its coefficients; the same bytes."""
    rng = np.random.default_rng(8)
    a, b = rng.integers(0, 256, (2, 8, 8), dtype=np.uint8)
    order = [a, a, b, b, b, a, a, a]
    image = Image.fromarray(np.vstack([_tiled(block, 128) for block in order]))
    wide = _save(image, quality=90, refine=1)
    assert sides == [4, 4] and copies == [(0, 0, 1, 1), (0, 1, 1, 1)]
    monkeypatch.setattr(strips, "side_by_side", lambda settings, most, mcus=0: 1)
    assert _save(image, quality=90, refine=1) == wide


@pytest.fixture(scope="module")
def plain_kernels():
    """The kernels' Pythran source run as plain Python (``transpiled.source``)."""
    import transpiled

    return transpiled.source("kernels")


@pytest.mark.parametrize("ncomp, hs, vs", [(1, 1, 1), (3, 1, 1), (3, 2, 1), (3, 2, 2)])
@pytest.mark.parametrize("row_mcus, copies, interval", [
    (4, (0, 0, 1, 1, 1, 2), 0), (16, (0, 0, 0, 0), 0), (8, (0, 1, 1, 2, 3, 3, 3, 4), 0),
    (4, (0, 0, 1, 1, 1, 2), 8), (8, (0, 1, 1, 2, 3, 3, 3, 4), 12)])
def test_code_copies_codes_each_strip_from_its_copy(plain_kernels, ncomp, hs, vs, row_mcus,
                                                    copies, interval) -> None:
    """``kernels.code_copies`` of the distinct strips' coefficients against ``code_coefs``
    of a model of them laid out for every strip, block by block (strip k of the strips
    laid out takes strip ``copies[k]``'s coefficients, each block where
    ``kernels.strip_coefs`` puts it: component 0's by rows of the group's MCUs times ``hs``,
    ``vs`` rows, then each other component's; grey strips padded, ``strip_group``): the same
    bytes, DC predictors and bits left, with restarts (``interval``, counted from MCU 4)
    inside strips and between them; the compiled builds and the plain-Python source."""
    distinct = max(copies) + 1
    mcus, laid = distinct * row_mcus, len(copies) * row_mcus
    per_mcu = hs * vs + ncomp - 1
    rng = np.random.default_rng(5 + row_mcus + ncomp)
    comp_table = np.array([0, 1, 1][:ncomp], np.int64)
    codes = strips.Codes.of(tables.STD_HUFFMAN[:1 if ncomp == 1 else 2])

    def block(lay: int, mcu: int, part: int) -> int:
        """The block of ``part`` of an MCU: luma row v, column h (v * hs + h), then chroma."""
        if part < hs * vs:
            return (part // hs) * lay * hs + mcu * hs + part % hs
        return hs * vs * lay + (part - hs * vs) * lay + mcu

    results = []
    for kernels in (engine.kernels, plain_kernels):
        lay_in, lay_out = kernels.strip_group(mcus, ncomp), kernels.strip_group(laid, ncomp)
        # sparse coefficients, as quantized blocks are: a few non-zero, DCs of any size
        source = (rng.integers(-60, 61, (64, lay_in * per_mcu))
                  * (rng.random((64, lay_in * per_mcu)) < 0.2)).astype(np.int32)
        source[0] = rng.integers(-1000, 1001, lay_in * per_mcu)
        want = np.zeros((64, lay_out * per_mcu), np.int32)
        for k, c in enumerate(copies):
            for m in range(row_mcus):
                for part in range(per_mcu):
                    want[:, block(lay_out, k * row_mcus + m, part)] = \
                        source[:, block(lay_in, c * row_mcus + m, part)]
        words = np.zeros(kernels.scratch_sizes(ncomp, hs, vs, strips.MCUS_PER_GROUP)[3],
                         np.uint64)
        coded = []
        for args in ((want.reshape(-1), 8 * hs * laid), (source.reshape(-1), 8 * hs * mcus)):
            out = np.zeros(2 * 27 * 8 * laid * per_mcu + 4096, np.uint8)
            pred = np.zeros(4, np.int64)
            carry = np.zeros(2, np.uint64)
            common = (*args, ncomp, hs, vs, comp_table, *codes, words, out,
                      strips.MCUS_PER_GROUP, pred, carry, 0, 4, interval)
            if len(coded) == 0:
                n = kernels.code_coefs(*common)
            else:
                n = kernels.code_copies(*common, row_mcus, np.array(copies, np.int64))
            coded.append((bytes(out[:n]), pred.tolist(), carry.tolist()))
        assert coded[1] == coded[0]
        assert (len(coded[0][0]) > 0 and (b"\xff\xd0" in coded[0][0]) == (interval > 0))
        results.append((lay_in, source))
    # the same source coefficients for both: the builds give the bytes of the source
    lay_in, source = results[0]
    pred = np.zeros(4, np.int64)
    carry = np.zeros(2, np.uint64)
    outs = []
    for kernels in (engine.kernels, plain_kernels):
        out = np.zeros(2 * 27 * 8 * laid * per_mcu + 4096, np.uint8)
        pred[:] = 0
        carry[:] = 0
        words = np.zeros(kernels.scratch_sizes(ncomp, hs, vs, strips.MCUS_PER_GROUP)[3],
                         np.uint64)
        n = kernels.code_copies(source.reshape(-1), 8 * hs * mcus, ncomp, hs, vs, comp_table,
                                *codes, words, out, strips.MCUS_PER_GROUP, pred, carry, 1, 4,
                                interval, row_mcus, np.array(copies, np.int64))
        outs.append((bytes(out[:n]), pred.tolist(), carry.tolist()))
    assert outs[0] == outs[1]


WHOLE_SIZES = [(8, 8), (33, 8), (17, 5), (300, 16), (16, 16), (32, 32), (24, 40), (40, 24),
               (64, 64), (32, 36)]
WHOLE_OPTIONS = [{}, {"refine": 0}, {"quality": 95}, {"refine": 1, "quality": 75},
                 {"quality": 90, "subsampling": "4:2:0"}, {"quality": 80, "subsampling": "4:2:2"},
                 {"quality": 95, "restart_marker_rows": 1},
                 {"quality": 85, "restart_marker_blocks": 1},
                 {"quality": 90, "optimize": True}]


@pytest.mark.parametrize("kw", WHOLE_OPTIONS,
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_whole_image_tasks_code_the_bytes_of_the_strip_loop(monkeypatch, kw) -> None:
    """A task of a whole image of one strip, or of whole strips refined side by side all at
    once, is coded without ``StripCoder._encode``'s loop over strips (``_at_once``): the
    bytes that loop gives, which the entry was taken for, and not for the others."""
    real = strips.StripCoder.__init__
    taken = []

    def looped(self, settings) -> None:
        real(self, settings)
        self._at_once = False

    for width, height in WHOLE_SIZES:
        for kind in ("photo", "hramp", "dramp"):
            for mode in ("L", "RGB"):
                if mode == "L" and "subsampling" in kw:
                    continue
                image = Image.fromarray(content(kind, width, height, mode))
                monkeypatch.setattr(strips.StripCoder, "__init__", real)
                settings = options.parse(mode, (width, height), kw)
                coder = strips.StripCoder(settings)
                at_once = _save(image, **kw)
                monkeypatch.setattr(strips.StripCoder, "__init__", looped)
                assert _save(image, **kw) == at_once, (width, height, kind, mode)
                if coder._at_once:
                    taken.append((settings.strip_count, coder.refine is not None))
                else:  # several strips, not all refined side by side at once
                    assert settings.strip_count > 1 and (
                        coder.refine is None or coder.refine.marked_only
                        or coder._side < settings.strip_count
                        or settings.height % settings.strip_height)
    assert any(count == 1 for count, _ in taken)
    if "restart_marker_blocks" not in kw and kw.get("refine") != 0:
        assert any(count > 1 for count, _ in taken)
