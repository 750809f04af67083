"""Every compiled build of the kernels gives exactly what their Pythran source gives as plain Python."""


from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import transpiled
from pillow_streamjpeg import engine, tables
from pillow_streamjpeg.strips import Codes, Frame, Scratch, count_strip, encode_strip, last_dc

# The plain-Python kernels multiply uint64 scalars that wrap on purpose (the de Bruijn
# lookup of the lowest set bit), as the compiled ones do.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in scalar multiply:RuntimeWarning")

#: The compiled builds this machine runs (the baseline, and x86-64-v3 and v4 where it can).
BUILDS = engine.builds()

SOURCE = transpiled.TRANSPILED / "kernels.py"


@pytest.fixture(scope="module")
def reference():
    return transpiled.source("kernels")


@pytest.fixture(scope="module", params=sorted(BUILDS))
def compiled(request):
    return BUILDS[request.param]


def test_reference_is_plain_python(reference, compiled) -> None:
    assert reference.__file__ == str(SOURCE)
    assert compiled.__file__ != reference.__file__
    assert compiled.__file__.endswith(".so") or compiled.__file__.endswith(".pyd")


def test_engine_runs_the_fastest_build(monkeypatch) -> None:
    if os.environ.get("PILLOW_STREAMJPEG_KERNELS"):
        pytest.skip("PILLOW_STREAMJPEG_KERNELS chooses the build")
    expected = next(name for name in ("x86-64-v4", "x86-64-v3", "baseline") if name in BUILDS)
    assert engine.name == expected
    assert engine.kernels is BUILDS[expected]
    # without NumPy's feature list, the portable build
    monkeypatch.setattr(engine, "cpu_features", lambda: {})
    assert sorted(engine.builds()) == ["baseline"]


def test_engine_offers_each_build_only_to_cpus_with_all_its_features(monkeypatch) -> None:
    """x86-64-v4 (AVX-512) needs every v3 feature and its own five; none is enough alone."""
    v3 = {name: True for name in engine.V3_FEATURES}
    monkeypatch.setattr(engine, "cpu_features", lambda: v3)
    assert "x86-64-v4" not in engine.builds()
    assert ("x86-64-v3" in engine.builds()) == (engine.kernels_v3 is not None)
    avx512_without_bw = {name: True for name in engine.V4_FEATURES if name != "AVX512BW"}
    monkeypatch.setattr(engine, "cpu_features", lambda: avx512_without_bw)
    assert "x86-64-v4" not in engine.builds()
    v4 = {name: True for name in engine.V4_FEATURES}
    monkeypatch.setattr(engine, "cpu_features", lambda: v4)
    assert ("x86-64-v4" in engine.builds()) == (engine.kernels_v4 is not None)
    no_avx2 = {name: True for name in engine.V4_FEATURES if name != "AVX2"}
    monkeypatch.setattr(engine, "cpu_features", lambda: no_avx2)
    assert sorted(engine.builds()) == ["baseline"]


def test_engine_refuses_an_unknown_build(monkeypatch) -> None:
    monkeypatch.setenv("PILLOW_STREAMJPEG_KERNELS", "pentium")
    with pytest.raises(ImportError, match="PILLOW_STREAMJPEG_KERNELS='pentium'.*baseline"):
        engine._choose()
    monkeypatch.setenv("PILLOW_STREAMJPEG_KERNELS", "baseline")
    assert engine._choose() == ("baseline", engine.baseline)


GROUP = 2  # MCUs per kernel group: small, so that strips span several groups


frame = transpiled.frame


def run_both(compiled, reference, band, row0, nrows, args: Frame):
    """Bytes and symbol counts of one strip from the compiled build and the plain-Python source."""
    specs = tables.STD_HUFFMAN[:len(args.recip) // 64]
    codes = Codes.of(specs)
    assert (compiled.strip_capacity(args.width, args.ncomp, args.hs, args.vs)
            == reference.strip_capacity(args.width, args.ncomp, args.hs, args.vs))
    assert (compiled.scratch_sizes(args.ncomp, args.hs, args.vs, GROUP)
            == reference.scratch_sizes(args.ncomp, args.hs, args.vs, GROUP))
    results = []
    for module in (compiled, reference):
        scratch = Scratch.of(module, args, GROUP)
        n = encode_strip(module, band, row0, nrows, args, codes, scratch, GROUP)
        counts = np.zeros((2 * len(specs), 256), np.int64)
        count_strip(module, band, row0, nrows, args, Scratch.of(module, args, GROUP), counts, GROUP)
        results.append((bytes(scratch.out[:n]), counts))
    (data_c, counts_c), (data_p, counts_p) = results
    assert data_c == data_p
    assert np.array_equal(counts_c, counts_p)
    return data_c, counts_c


LAYOUTS = [
    # channels, ncomp, convert, hs, vs
    (1, 1, 0, 1, 1),
    (4, 3, 1, 1, 1),
    (4, 3, 2, 1, 1),
    (3, 3, 1, 1, 1),
    (3, 3, 0, 1, 1),
    (4, 4, 0, 1, 1),
    (4, 3, 1, 2, 1),
    (4, 3, 2, 2, 2),
    (3, 3, 0, 2, 2),
    (4, 3, 3, 2, 2),
    (3, 3, 3, 2, 1),
    (4, 3, 3, 1, 1),
    (4, 3, 4, 2, 2),  # subsampled chroma averaged and rounded as libjpeg rounds it
    (3, 3, 4, 2, 1),
    (3, 3, 4, 1, 1),
    (3, 3, 2, 1, 1, "joint"),  # 4:4:4 coefficients rounded jointly for the RGB error
    (4, 3, 2, 1, 1, "joint"),
    (3, 3, 3, 2, 2, "joint"),  # 4:2:0 luma corrected for the decoded chroma (fused chroma)
    (4, 3, 3, 2, 2, "joint"),
    (3, 3, 1, 2, 2, "joint"),
    (4, 3, 3, 2, 1, "joint"),  # 4:2:2 luma corrected too
]


def _saturate(band: np.ndarray, width: int, channels: int) -> None:
    """Rows of colour pixels made saturated in place: B at 0, and R at 255 in the left half
    (colours the decoder clamps)."""
    band[:, 2::channels] = 0
    band[:, 0:width * channels // 2:channels] = 255


@settings(max_examples=150, deadline=None)
@given(
    layout=st.sampled_from(LAYOUTS),
    width=st.integers(1, 40),
    rows=st.integers(1, 16),
    quality=st.sampled_from([1, 25, 50, 90, 95, 100]),  # 95: the luma correction gated
    # saturated: B at 0 and R at 255 in places (colours the decoder clamps)
    content=st.sampled_from(["noise", "extreme", "flat", "ramp", "saturated"]),
    seed=st.integers(0, 1000),
)
def test_compiled_equals_plain_python(compiled, reference, layout, width, rows, quality, content, seed):
    channels, ncomp, convert, hs, vs = layout[:5]
    rng = np.random.default_rng(seed)
    extra_rows = 3  # the strip starts inside a band, as the strip writer uses it
    shape = (rows + extra_rows, width * channels)
    if content == "noise":
        band = rng.integers(0, 256, shape, dtype=np.uint8)
    elif content == "extreme":
        band = (rng.integers(0, 2, shape, dtype=np.uint8) * 255).astype(np.uint8)
    elif content == "flat":
        band = np.full(shape, rng.integers(0, 256), np.uint8)
    elif content == "saturated":
        band = rng.integers(0, 256, shape, dtype=np.uint8)
        if channels > 1:
            _saturate(band, width, channels)
    else:
        band = (np.arange(shape[0] * shape[1]) * 7 % 256).astype(np.uint8).reshape(shape)
    nrows = min(rows, 8 * vs)
    args = frame(width, channels, ncomp, convert, hs, vs, quality, joint=len(layout) > 5)
    data, counts = run_both(compiled, reference, band, extra_rows, nrows, args)
    assert len(data) > 0
    assert counts[0].sum() >= 1  # at least one DC symbol


def test_stuffing_and_padding(compiled, reference) -> None:
    """Content whose codes produce 0xFF bytes: every 0xFF is followed by 0x00."""
    band = np.zeros((8, 64 * 4), np.uint8)
    band[:, ::8] = 255
    args = frame(64, 4, 3, 1, 1, 1, 100)
    data, _ = run_both(compiled, reference, band, 0, 8, args)
    positions = [i for i, b in enumerate(data) if b == 0xFF]
    assert positions, "test content should produce 0xFF bytes"
    assert all(i + 1 < len(data) and data[i + 1] == 0 for i in positions)


@pytest.mark.parametrize("convert, hs, vs", [(1, 1, 1), (2, 1, 1), (1, 2, 2), (1, 2, 1), (2, 2, 2),
                                             (3, 2, 2), (3, 2, 1), (4, 2, 2), (4, 2, 1)])
def test_word_reads_equal_byte_reads(compiled, reference, convert, hs, vs) -> None:
    """Pixels of 4 bytes read as int32 words (rows of a multiple of 4 bytes) code as the
    byte-by-byte reads do (rows one byte longer), also from a band at an odd address."""
    rng = np.random.default_rng(convert * 10 + hs + vs)
    width = 37
    pixels = rng.integers(0, 256, (8 * vs + 2, width * 4), dtype=np.uint8)
    args = frame(width, 4, 3, convert, hs, vs, 95)
    padded = np.zeros((pixels.shape[0], width * 4 + 1), np.uint8)  # row_bytes not a multiple of 4
    padded[:, :-1] = pixels
    buffer = np.zeros(pixels.size + 1, np.uint8)
    buffer[1:] = pixels.reshape(-1)
    odd = buffer[1:].reshape(pixels.shape)  # data one byte past an aligned address
    assert odd.ctypes.data % 4 != 0
    results = [run_both(compiled, reference, band, 2, 8 * vs, args)
               for band in (pixels, padded, odd)]
    assert results[0][0] == results[1][0] == results[2][0]
    assert all(np.array_equal(results[0][1], r[1]) for r in results[1:])



@pytest.mark.parametrize("convert, hs, vs", [(1, 1, 1), (2, 1, 1), (1, 2, 2), (1, 2, 1), (2, 2, 2),
                                             (3, 2, 2), (4, 2, 2)])
@pytest.mark.parametrize("width", [1, 5, 37, 38, 39, 300])
def test_three_byte_words_equal_byte_reads(compiled, reference, convert, hs, vs, width) -> None:
    """Pixels of 3 bytes read as int32 words (``_unpack3``: rows starting at every byte of a
    word, heads and tails of 1 to 3 pixels, groups past the first) code as 4-byte pixels
    read byte by byte do, also from a band at an odd address; a band whose size is not a
    multiple of 4 bytes takes the byte loop and codes the same."""
    rng = np.random.default_rng(convert * 10 + hs + vs + width)
    rows = 8 * vs + 4  # 3 * width * rows bytes: a multiple of 4
    rgb = rng.integers(0, 256, (rows, width, 3), dtype=np.uint8)
    args3 = frame(width, 3, 3, convert, hs, vs, 95)
    args4 = frame(width, 4, 3, convert, hs, vs, 95)
    rgbx = np.zeros((rows, width * 4 + 1), np.uint8)  # row_bytes not a multiple of 4: bytes
    rgbx[:, :-1] = np.concatenate([rgb, np.zeros((rows, width, 1), np.uint8)], 2).reshape(rows, -1)
    words = rgb.reshape(rows, -1)
    buffer = np.zeros(words.size + 1, np.uint8)
    buffer[1:] = words.reshape(-1)
    odd = buffer[1:].reshape(words.shape)
    assert odd.ctypes.data % 4 != 0
    uneven = words[:rows - 1]  # (rows - 1) * 3 * width bytes: not a multiple of 4 for odd widths
    expected = run_both(compiled, reference, rgbx, 2, 8 * vs, args4)
    for band in (words, odd, uneven):
        data, counts = run_both(compiled, reference, band, 2, 8 * vs, args3)
        assert data == expected[0]
        assert np.array_equal(counts, expected[1])

def tied_colours() -> np.ndarray:
    """Every colour whose Cb or Cr lies exactly halfway (R = G with B - R odd, G = B with R - G
    odd), those with B = 0 or R = 0 among them, shuffled: (65536, 3) uint8."""
    v = np.arange(256)
    a, b = np.meshgrid(v, v, indexing="ij")
    odd = (a - b) % 2 == 1
    a, b = a[odd], b[odd]
    cb = np.stack([a, a, b], -1)  # R = G, B - R odd
    cr = np.stack([b, a, a], -1)  # G = B, R - G odd
    colours = np.concatenate([cb, cr]).astype(np.uint8)
    return colours[np.random.default_rng(5).permutation(len(colours))]


@pytest.mark.parametrize("hs, vs", [(1, 1), (2, 1), (2, 2)])
@pytest.mark.parametrize("channels", [3, 4])
def test_halfway_chroma_codes_as_the_python_source(compiled, reference, channels, hs, vs) -> None:
    """Halfway Cb and Cr (``_ycc``: rounded down where B, or R, is 0; 8,192 of the tied
    colours, about 30 of them with B or R 0), rounded (convert 2, 3 and 4) and float (1), at
    4:4:4, 4:2:2 and 4:2:0, packed words and byte reads alike: compiled builds and the
    plain-Python source write the same bytes."""
    width, rows = 512, 16
    pixels = tied_colours()[:width * rows].reshape(rows, width, 3)
    if channels == 4:
        pixels = np.concatenate([pixels, np.zeros((rows, width, 1), np.uint8)], 2)
    band = np.ascontiguousarray(pixels.reshape(rows, -1))
    for convert in (1, 2, 3, 4):
        data, _ = run_both(compiled, reference, band, 0, rows, frame(width, channels, 3, convert, hs, vs, 100))
        assert data


@pytest.mark.parametrize("channels, hs, vs", [(3, 2, 2), (4, 2, 2), (3, 2, 1), (4, 2, 1)])
@pytest.mark.parametrize("quality", [70, 85, 92])
@pytest.mark.parametrize("width", [1, 17, 300])
def test_saturated_colours_code_as_the_python_source(compiled, reference, channels, hs, vs,
                                                     quality, width) -> None:
    """The luma correction (4:2:0 and 4:2:2) on saturated colours (B at 0, R at 255 in the
    left half, G and the rest noise: the cells a clamp rule would single out, docs/fidelity.md,
    "Saturated colours at a clamp marked by cells") codes alike in the compiled builds and the
    plain-Python source, partial MCUs too."""
    rng = np.random.default_rng(width + quality)
    rows = 8 * vs
    band = rng.integers(0, 256, (rows, width * channels), dtype=np.uint8)
    _saturate(band, width, channels)
    data, _ = run_both(compiled, reference, band, 0, rows,
                       frame(width, channels, 3, 3, hs, vs, quality, joint=True))
    assert data


@pytest.mark.parametrize("hs, vs", [(2, 2), (2, 1)])
@pytest.mark.parametrize("quality", [37, 85])
@pytest.mark.parametrize("width", [61, 64])
def test_flat_colours_code_as_the_python_source(compiled, reference, hs, vs, quality,
                                                width) -> None:
    """Subsampled MCUs of one colour each, saturated and not, one with a pixel off, and a
    partial MCU at the image's edge (width 61): the DCs chosen for them (``_flat_sub``) code
    alike in the compiled builds and the plain-Python source."""
    rng = np.random.default_rng(width + quality)
    rows = 8 * vs
    colours = np.array([(255, 40, 0), (30, 255, 90), (0, 90, 200), (77, 77, 77)], dtype=np.uint8)
    pixels = np.repeat(colours[rng.integers(0, 4, 4)], 16, 0)[None].repeat(rows, 0)
    pixels = np.concatenate([pixels, np.full((rows, 64, 1), 255, np.uint8)], 2)[:, :width]
    pixels[1, 20, :3] = (1, 2, 3)
    band = np.ascontiguousarray(pixels.reshape(rows, -1))
    data, _ = run_both(compiled, reference, band, 0, rows,
                       frame(width, 4, 3, 3, hs, vs, quality, joint=True))
    assert data


@pytest.mark.parametrize("hs, vs", [(2, 2), (2, 1)])
@pytest.mark.parametrize("quality", [50, 90])
def test_grey_rgb_codes_as_the_python_source(compiled, reference, hs, vs, quality) -> None:
    """Grey pixels in RGB (text, white, a grey ramp) beside colour, with the luma correction:
    the groups without a chroma coefficient, only clamped (``_clamp_rows``), and the flat
    MCUs' runs (``_zero_luma_ac``) code alike in the compiled builds and the source."""
    rng = np.random.default_rng(quality + vs)
    rows, width = 8 * vs, 16 * 16 - 9  # 8 groups, the last MCU partial
    grey = np.where(rng.random((rows, width)) < 0.3, 0, 255).astype(np.uint8)
    grey[:, 64:128] = 255
    grey[:, 128:192] = np.linspace(0, 255, 64, dtype=np.uint8)
    pixels = np.repeat(grey[..., None], 4, 2)
    pixels[:, 192:, :3] = rng.integers(0, 256, (rows, width - 192, 3))
    band = np.ascontiguousarray(pixels.reshape(rows, -1))
    data, _ = run_both(compiled, reference, band, 0, rows,
                       frame(width, 4, 3, 1, hs, vs, quality, joint=True))
    assert data


def test_read_only_band_is_accepted(compiled) -> None:
    band = np.frombuffer(bytes(range(256)) * 4, np.uint8)
    args = frame(32, 4, 3, 1, 1, 1, 90)
    assert encode_strip(compiled, band.reshape(8, 128), 0, 8, args, Codes.of(tables.STD_HUFFMAN),
                        Scratch.of(compiled, args, GROUP), GROUP) > 0


@settings(max_examples=60, deadline=None)
@given(
    layout=st.sampled_from(LAYOUTS),
    width=st.integers(1, 40),
    quality=st.sampled_from([1, 50, 100]),
    seed=st.integers(0, 1000),
    carry_bits=st.integers(0, 7),
    interval=st.sampled_from([0, 1, 2, 3, 5]),
)
def test_continued_strips_equal_plain_python(compiled, reference, layout, width, quality, seed,
                                             carry_bits, interval):
    """Strips continuing a restart interval: start predictors, carried bits, unpadded end,
    restarts inside the strip; ``last_dc`` gives the predictors a strip leaves."""
    channels, ncomp, convert, hs, vs = layout[:5]
    rng = np.random.default_rng(seed)
    band = rng.integers(0, 256, (16 * vs, width * channels), dtype=np.uint8)
    args = frame(width, channels, ncomp, convert, hs, vs, quality, joint=len(layout) > 5)
    codes = Codes.of(tables.STD_HUFFMAN[:len(args.recip) // 64])
    start_pred = rng.integers(-300, 300, 4).astype(np.int64)
    start_bits = int(rng.integers(0, 1 << carry_bits))
    results = []
    for module in (compiled, reference):
        scratch = Scratch.of(module, args, GROUP)
        pred = start_pred.copy()
        carry = np.array([carry_bits, start_bits], np.uint64)
        out = []
        mcus = -(-width // (8 * hs))
        for strip, (row0, pad) in enumerate(((0, False), (8 * vs, True))):
            n = encode_strip(module, band, row0, 8 * vs, args, codes, scratch, GROUP, pred, carry,
                             pad, (strip + 1) * mcus, interval)
            out.append((bytes(scratch.out[:n]), pred.tolist(), carry.tolist()))
            found = np.zeros(4, np.int64)
            last_dc(module, band, row0, 8 * vs, args, codes, Scratch.of(module, args, GROUP), found,
                    GROUP)
            assert found[:ncomp].tolist() == pred[:ncomp].tolist()  # what the strip leaves
            if pad:
                assert carry.tolist() == [0, 0]
            else:
                assert carry[0] < 8 and carry[1] < (1 << int(carry[0]))
        results.append(out)
    assert results[0] == results[1]


def _stuff(raw: bytes) -> bytes:
    return raw.replace(b"\xff", b"\xff\x00")


def _shifted_bits(raw: bytes, bits: int, value: int) -> tuple[bytes, int]:
    """The model of ``shift_stuffed``: ``bits`` bits of value, then raw's bits, as one
    integer; its first 8 len(raw) bits as bytes (stuffed), the last ``bits`` left over."""
    whole = (value << (8 * len(raw))) | int.from_bytes(raw, "big")  # bits + 8 len(raw) bits
    head = whole >> bits
    return _stuff(head.to_bytes(len(raw), "big")), whole & ((1 << bits) - 1)


def _run_shift(module, data: bytes, bits: int, value: int) -> tuple[bytes, int]:
    stuffed = np.frombuffer(data, np.uint8)
    out = np.full(2 * len(data) + 1, 7, np.uint8)
    count, rest = module.shift_stuffed(stuffed, len(data), bits, value, out)
    return out[:count].tobytes(), int(rest)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=64) | st.lists(st.sampled_from([0, 0xFF, 0xFE, 0x7F, 0x80, 1]),
                                             max_size=64).map(bytes),
       bits=st.integers(1, 7), value=st.integers(0, 127))
def test_shift_stuffed_moves_the_bit_stream(reference, raw, bits, value) -> None:
    """The scan writer's join of parts (``scan.Joiner``): every build and the source give
    the bits of value then the data's, stuffed as JPEG stuffs them (bytes with 0xFF in
    them, runs of 0xFF, values with bits above ``bits`` that must be ignored)."""
    data = _stuff(raw)
    expected = _shifted_bits(raw, bits, value & ((1 << bits) - 1))
    for module in (*BUILDS.values(), reference):
        assert _run_shift(module, data, bits, value) == expected


def test_shift_stuffed_on_coded_strips(compiled, reference) -> None:
    """On a strip's real coded bytes (0xFF bytes in them), at every shift."""
    band = np.zeros((8, 64 * 4), np.uint8)
    band[:, ::8] = 255
    args = frame(64, 4, 3, 1, 1, 1, 100)
    data, _ = run_both(compiled, reference, band, 0, 8, args)
    assert b"\xff\x00" in data
    raw = data.replace(b"\xff\x00", b"\xff")
    for bits in range(1, 8):
        expected = _shifted_bits(raw, bits, 5 & ((1 << bits) - 1))
        assert _run_shift(compiled, data, bits, 5) == expected
        assert _run_shift(reference, data, bits, 5) == expected
