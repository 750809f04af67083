"""Parity with Pillow's JPEG save: options, modes, subsampling, metadata, optimize.

Where the meaning must match, the same save is made with Pillow's JPEG writer
and compared.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
from PIL import Image, JpegPresets

from jpegtools import assert_strictly_valid, djpeg_decode, parse_segments, psnr


def save(image: Image.Image, fmt: str = "STREAMJPEG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def photo(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    rgb = np.stack([x * 2.5 % 256, y * 3.5 % 256, (x + y) % 256], axis=-1)
    rgb = rgb + rng.normal(0, 6, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def decoded_quantization(data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as image:
        return {k: list(v) for k, v in image.quantization.items()}


def sof_components(data: bytes) -> list[tuple[int, int, int, int]]:
    segments, _, _ = parse_segments(data)
    sof = next(s.payload for s in segments if s.marker == 0xC0)
    return [(sof[6 + 3 * i], sof[7 + 3 * i] >> 4, sof[7 + 3 * i] & 15, sof[8 + 3 * i])
            for i in range(sof[5])]


# Quality, presets, qtables -------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(JpegPresets.presets))
def test_presets_give_pillows_tables_and_sampling(preset) -> None:
    image = photo()
    ours = save(image, quality=preset)
    theirs = save(image, "JPEG", quality=preset)
    assert decoded_quantization(ours) == decoded_quantization(theirs)
    assert [c[1:3] for c in sof_components(ours)] == [c[1:3] for c in sof_components(theirs)]
    assert_strictly_valid(ours)


@pytest.mark.parametrize("form", ["list", "tuple", "dict", "string", "preset"])
def test_qtables_forms(form) -> None:
    luma = [2 + (i % 7) for i in range(64)]
    chroma = [3 + (i % 5) for i in range(64)]
    value = {
        "list": [luma, chroma],
        "tuple": (tuple(luma), tuple(chroma)),
        "dict": {0: luma, 1: chroma},
        "string": "\n".join(" ".join(map(str, t)) + "  # a table" for t in (luma, chroma)),
        "preset": "web_high",
    }[form]
    image = photo()
    ours = save(image, qtables=value)
    theirs = save(image, "JPEG", qtables=value, subsampling=0)
    assert decoded_quantization(ours) == decoded_quantization(theirs)
    assert_strictly_valid(ours)


def test_one_qtable_serves_every_component() -> None:
    data = save(photo(), qtables=[[4] * 64])
    assert decoded_quantization(data) == {0: [4] * 64}
    assert {c[3] for c in sof_components(data)} == {0}
    assert_strictly_valid(data)


@pytest.mark.parametrize("value, message", [
    ([[1] * 63], "64"), ([[256] * 64], "1 to 255"), ([[-1] * 64], "0 to 65535"),
    ([], "1 to 4"), ([[1] * 64] * 5, "1 to 4"), ("1 2 x", "Invalid quantization table"),
    (42, "qtables"), ([["a"] * 64], "integers"),
    ([np.arange(1, 65).reshape(8, 8)], "64 values in one sequence, not rows"),
    ([[list(range(1, 9))] * 8], "64 values in one sequence, not rows"),
])
def test_bad_qtables_raise_value_error(value, message) -> None:
    """A ValueError whose message names what is wrong: an 8 x 8 table (which Pillow
    refuses too, "Invalid quantization table") is rows where one sequence of 64 is due,
    not "values must be integers"."""
    with pytest.raises(ValueError, match=message):
        save(photo(), qtables=value)
    if "rows" in message:
        with pytest.raises(ValueError, match="Invalid quantization table"):
            save(photo(), "JPEG", qtables=value)


def test_keep_reuses_tables_and_sampling_of_a_jpeg() -> None:
    source = Image.open(io.BytesIO(save(photo(), "JPEG", quality=63, subsampling=1)))
    ours = save(source, quality="keep")
    assert decoded_quantization(ours) == source.quantization
    assert [c[1:3] for c in sof_components(ours)] == [(2, 1), (1, 1), (1, 1)]
    with pytest.raises(ValueError, match="keep"):
        save(photo(), quality="keep")
    with pytest.raises(ValueError, match="keep"):
        save(photo(), subsampling="keep")


# Subsampling ---------------------------------------------------------------------------


@pytest.mark.parametrize("subsampling, factors, strip", [
    (0, (1, 1), 8), ("4:4:4", (1, 1), 8), (1, (2, 1), 8), ("4:2:2", (2, 1), 8),
    (2, (2, 2), 16), ("4:2:0", (2, 2), 16), (-1, (1, 1), 8),
])
@pytest.mark.parametrize("size", [(1, 1), (17, 33), (33, 17), (4097, 11), (100, 75)])
def test_subsampling(subsampling, factors, strip, size) -> None:
    image = photo(*size)
    data = save(image, subsampling=subsampling, quality=90, restart_marker_rows=1)
    assert_strictly_valid(data)
    components = sof_components(data)
    assert components[0][1:3] == factors and components[1][1:3] == (1, 1)
    segments, markers, _ = parse_segments(data)  # an interval a strip: strips of MCU rows
    dri = next(s.payload for s in segments if s.marker == 0xDD)
    assert struct.unpack(">H", dri)[0] == math.ceil(size[0] / (8 * factors[0]))
    assert markers == [0xD0 + i % 8 for i in range(math.ceil(size[1] / strip) - 1)]
    theirs = save(image, "JPEG", subsampling=subsampling, quality=90)
    source = np.asarray(image)
    assert psnr(source, djpeg_decode(data)) >= psnr(source, djpeg_decode(theirs)) - 1.0
    assert djpeg_decode(save(image, subsampling=subsampling, quality=90)).tobytes() == \
        djpeg_decode(data).tobytes()  # the default intervals: the same pixels


def test_bad_subsampling_names_the_value() -> None:
    with pytest.raises(ValueError, match="4:1:0"):
        save(photo(), subsampling="4:1:0")
    with pytest.raises(ValueError, match="subsampling"):
        save(photo(), subsampling=3)
    # floats and bools equal to a valid value are refused too (Pillow refuses floats;
    # 1.0 had been taken as 4:2:2), NumPy integers taken
    for bad in (1.0, 2.0, -1.0, True):
        with pytest.raises(ValueError, match=f"subsampling must be .*, not {bad!r}"):
            save(photo(), subsampling=bad)
    assert sof_components(save(photo(), subsampling=np.int64(1)))[0][1:3] == (2, 1)


def test_bad_quality_and_tables_say_what_is_allowed() -> None:
    with pytest.raises(ValueError, match=r"preset name \(web_low, .*maximum\), not 80.0"):
        save(photo(), quality=80.0)
    # a NumPy integer is an integer, as for the other integer options
    assert save(photo(), quality=np.int64(80)) == save(photo(), quality=80)
    # Pillow reads a dict of tables by the keys 0 .. len - 1: say so when that gives none
    with pytest.raises(ValueError, match=r"keys 0, 1, 2 and 3 up to its length: keys \[1\] give 0"):
        save(photo(), qtables={1: [5] * 64})
    # optimize: True or False (0 or 1, a NumPy bool), not any truthy value
    for bad in ("yes", 2):
        with pytest.raises(ValueError, match=f"optimize must be True or False, not {bad!r}"):
            save(photo(), optimize=bad)
    assert save(photo(), optimize=np.True_) == save(photo(), optimize=True)
    # an EXIF that is neither bytes nor Image.Exif is refused, not taken as none
    for bad in (0, [], "Exif"):
        with pytest.raises(ValueError, match=f"exif must be bytes or Image.Exif, not {type(bad).__name__}"):
            save(photo(), exif=bad)


# Modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["1", "L", "RGB", "RGBX", "YCbCr", "CMYK"])
def test_modes_decode_like_pillows_jpeg(mode) -> None:
    image = photo(61, 37).convert(mode)
    ours = save(image, quality=95)
    theirs = save(image, "JPEG", quality=95, subsampling=0)
    assert_strictly_valid(ours)
    with Image.open(io.BytesIO(ours)) as a, Image.open(io.BytesIO(theirs)) as b:
        assert a.mode == b.mode and a.size == b.size
        assert [c[0] for c in sof_components(ours)] == [c[0] for c in sof_components(theirs)]
        reference = np.asarray(image.convert(a.mode))
        assert psnr(reference, np.asarray(a)) >= psnr(reference, np.asarray(b)) - 0.5


def test_cmyk_is_adobe_inverted_like_pillow() -> None:
    image = photo(40, 24).convert("CMYK")
    ours = save(image, quality=100)
    segments, _, _ = parse_segments(ours)
    assert segments[0].marker == 0xEE and segments[0].payload[:5] == b"Adobe"
    assert segments[0].payload[11] == 0  # transform 0: components stored as they are
    with Image.open(io.BytesIO(ours)) as decoded:
        assert np.abs(np.asarray(decoded).astype(int) - np.asarray(image)).max() <= 3


def test_keep_rgb_stores_rgb_components() -> None:
    image = photo(40, 24)
    ours = save(image, keep_rgb=True)
    theirs = save(image, "JPEG", keep_rgb=True, quality=100, subsampling=0)
    assert [c[0] for c in sof_components(ours)] == [c[0] for c in sof_components(theirs)] == list(b"RGB")
    assert parse_segments(ours)[0][0].marker == 0xEE
    assert_strictly_valid(ours)
    assert psnr(np.asarray(image), djpeg_decode(ours)) > 50


# Metadata ------------------------------------------------------------------------------


def _roundtrip(**options) -> Image.Image:
    return Image.open(io.BytesIO(save(photo(), **options)))


def test_dpi_like_pillow() -> None:
    assert _roundtrip(dpi=(72.4, 300)).info["dpi"] == (72, 300)
    assert "dpi" not in _roundtrip().info or _roundtrip().info.get("jfif_unit") == 0
    with pytest.raises(ValueError, match="dpi"):
        save(photo(), dpi="high")


def test_exif_bytes_and_exif_objects() -> None:
    exif = Image.Exif()
    exif[0x010F] = "pillow_streamjpeg test camera"
    exif[0x0132] = "2026:11:24 12:00:00"
    decoded = _roundtrip(exif=exif)
    assert decoded.getexif()[0x010F] == "pillow_streamjpeg test camera"
    raw = exif.tobytes()
    assert _roundtrip(exif=raw).info["exif"] == raw
    with pytest.raises(ValueError, match="EXIF data is too long: 70006 bytes, at most 65533"):
        save(photo(), exif=b"Exif\0\0" + b"x" * 70000)


@pytest.mark.parametrize("size", [100, 65519, 65520, 200_000])
def test_icc_profiles_split_over_app2_chunks(size) -> None:
    profile = bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8))
    data = save(photo(), icc_profile=profile)
    chunks = [s.payload for s in parse_segments(data)[0] if s.marker == 0xE2]
    assert len(chunks) == math.ceil(size / 65519)
    assert [c[12:14] for c in chunks] == [bytes((i + 1, len(chunks))) for i in range(len(chunks))]
    assert all(len(c) <= 65533 for c in chunks)
    assert Image.open(io.BytesIO(data)).info["icc_profile"] == profile
    assert_strictly_valid(data)


def test_xmp_and_comments() -> None:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
    decoded = _roundtrip(xmp=xmp, comment="a comment")
    assert decoded.info["xmp"] == xmp
    assert decoded.info["comment"] == b"a comment"
    source = Image.open(io.BytesIO(save(photo(), "JPEG", comment=b"from the source")))
    assert Image.open(io.BytesIO(save(source))).info["comment"] == b"from the source"
    with pytest.raises(ValueError, match="XMP data is too long: 65533 bytes, at most 65504"):
        save(photo(), xmp=b"x" * 65533)
    with pytest.raises(ValueError, match="Comment is too long: 65534 bytes, at most 65533"):
        save(photo(), comment=b"x" * 65534)
    with pytest.raises(ValueError, match=r"ICC profile is too long: 16707346 bytes, at most "
                                         r"16707345 \(255 segments of 65519\)"):
        save(photo(), icc_profile=b"i" * (255 * 65519 + 1))


def test_segment_order_is_pillows() -> None:
    options = dict(exif=Image.Exif().tobytes(), xmp=b"<x/>", icc_profile=b"p" * 10, comment=b"c")
    ours = [s.marker for s in parse_segments(save(photo(), **options))[0]]
    theirs = [s.marker for s in parse_segments(save(photo(), "JPEG", **options))[0]]
    dedupe = lambda markers: [m for i, m in enumerate(markers) if i == 0 or markers[i - 1] != m]  # noqa: E731
    assert dedupe(ours)[:6] == dedupe(theirs)[:6] == [0xE0, 0xE1, 0xE2, 0xFE, 0xDB, 0xC0]


@pytest.mark.skipif(shutil.which("exiftool") is None and not os.environ.get("CI"),
                    reason="exiftool not installed (Debian: libimage-exiftool-perl)")
def test_metadata_passes_exiftool_validate(tmp_path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "maker"
    path = tmp_path / "meta.jpg"
    photo().save(path, format="STREAMJPEG", exif=exif, icc_profile=b"x" * 70000,
                 xmp=b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/><?xpacket end="w"?>',
                 comment="hello", dpi=(300, 300))
    run = subprocess.run(["exiftool", "-validate", "-warning", "-error", "-a", str(path)],
                         capture_output=True, text=True)
    assert "Error" not in run.stdout, run.stdout


# Errors and restarts -------------------------------------------------------------------


def test_progressive_is_refused_clearly() -> None:
    for key in ("progressive", "progression"):
        with pytest.raises(ValueError, match="baseline"):
            save(photo(), **{key: True})


def test_progressive_source_info_is_named() -> None:
    out = io.BytesIO()
    photo().save(out, format="JPEG", progressive=True)
    source = Image.open(out)
    assert source.info["progressive"] == source.info["progression"] == 1
    with pytest.raises(ValueError, match=r"progressive=1 and progression=1 .* the source "
                                         r"image's info .* leave both out"):
        save(source, **source.info)
    with pytest.raises(ValueError, match=r"progressive=True is not supported \(leave it out"):
        save(photo(), progressive=True)
    # False is baseline, as in Pillow (whose writer reads either key)
    baseline = save(source, **{**source.info, "progressive": False, "progression": False})
    kept = {k: v for k, v in source.info.items() if k not in ("progressive", "progression")}
    assert baseline == save(source, **kept)
    assert sof_components(baseline)


def test_restart_requests() -> None:
    image = photo(100, 40)
    mcus = math.ceil(100 / 8)
    assert save(image, restart_marker_rows=1) == save(image, restart_marker_blocks=mcus)
    assert save(image, restart_marker_blocks=0) == save(image)  # fits in a default interval
    assert save(image, restart_marker_rows=2) == save(image, restart_marker_blocks=2 * mcus)
    assert save(image, restart_marker_rows=0, restart_marker_blocks=0) == save(
        image, restart_marker_blocks=0)
    crossing = save(image, restart_marker_blocks=3)  # 13 MCUs a row: intervals cross rows
    assert_strictly_valid(crossing)
    assert np.array_equal(djpeg_decode(crossing), djpeg_decode(save(image)))


# Optimize ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "rocket", "camera"])
def test_optimize_is_smaller_than_pillows_and_codes_the_same_pixels(photos, name) -> None:
    image = Image.fromarray(photos[name])
    plain = save(image)
    optimized = save(image, optimize=True)
    theirs = save(image, "JPEG", quality=100, subsampling=0, optimize=True)
    assert_strictly_valid(optimized)
    assert len(optimized) < len(plain)
    assert len(optimized) <= len(theirs), (len(optimized), len(theirs))
    assert np.array_equal(djpeg_decode(optimized), djpeg_decode(plain))


@pytest.mark.parametrize("mode, subsampling", [("L", 0), ("RGB", 2), ("CMYK", 0), ("YCbCr", 1),
                                                ("RGB", 0)])  # RGB 4:4:4: the joint rounding
def test_optimize_every_layout(mode, subsampling) -> None:
    image = photo(77, 45, seed=3).convert(mode)
    data = save(image, optimize=True, subsampling=subsampling, quality=80)
    assert_strictly_valid(data)
    plain = save(image, subsampling=subsampling, quality=80)
    with Image.open(io.BytesIO(data)) as a, Image.open(io.BytesIO(plain)) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))
