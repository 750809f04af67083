"""Save options side by side with Pillow's JPEG writer (issue 14).

qtables scaled by quality, "keep" on one- and four-component sources, JFIF with
the density whenever dpi is given (CMYK included) in libjpeg's segment order,
and restart options parsed into MCUs per interval. Each save is made by both
writers and what a reader sees is compared: ``Image.quantization``, sampling
factors, ``info["dpi"]``, marker order, the DRI value Pillow writes.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
from PIL import Image, ImageCms

from jpegtools import assert_strictly_valid, djpeg_decode, parse_segments, psnr, striped_photo
from pillow_streamjpeg import markers as markers_module
from pillow_streamjpeg import options, tables

APP0, APP14, DQT, SOF0, DHT, DRI, SOS = 0xE0, 0xEE, 0xDB, 0xC0, 0xC4, 0xDD, 0xDA


def save(image: Image.Image, fmt: str = "STREAMJPEG", **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def photo(width: int = 48, height: int = 32, seed: int = 0) -> Image.Image:
    return striped_photo(width, height, seed, noise=8.0)


def quantization(data: bytes) -> dict[int, list[int]]:
    with Image.open(io.BytesIO(data)) as image:
        return {k: list(v) for k, v in image.quantization.items()}


def frame(data: bytes) -> list[tuple[int, int, int, int]]:
    """(id, h, v, table) of each SOF0 component."""
    sof = next(s.payload for s in parse_segments(data)[0] if s.marker == SOF0)
    return [(sof[6 + 3 * i], sof[7 + 3 * i] >> 4, sof[7 + 3 * i] & 15, sof[8 + 3 * i])
            for i in range(sof[5])]


def markers(data: bytes) -> list[int]:
    return [s.marker for s in parse_segments(data)[0]]


def dri_value(data: bytes) -> int:
    """The restart interval a file declares; 0 without a DRI segment."""
    found = [s.payload for s in parse_segments(data)[0] if s.marker == DRI]
    return struct.unpack(">H", found[0])[0] if found else 0


def jpeg_source(mode: str, **kwargs) -> Image.Image:
    """An image opened from a JPEG that Pillow wrote in this mode."""
    return Image.open(io.BytesIO(save(photo().convert(mode), "JPEG", **kwargs)))


# 1. qtables scaled by quality -----------------------------------------------------------

STANDARD = {0: list(tables.STD_LUMINANCE), 1: list(tables.STD_CHROMINANCE)}


@pytest.mark.parametrize("quality", range(0, 101))
def test_standard_tables_with_a_quality_are_that_quality(quality) -> None:
    image = photo(16, 16)
    plain = quantization(save(image, quality=quality))
    ours = quantization(save(image, qtables=STANDARD, quality=quality))
    theirs = quantization(save(image, "JPEG", qtables=STANDARD, quality=quality))
    assert ours == plain == theirs
    assert plain == quantization(save(image, "JPEG", quality=quality))


def test_cached_quality_tables_are_fresh_copies() -> None:
    """``tables.quality_tables`` is cached per quality: each call hands out new lists, equal
    to scaling the standard tables, so a caller that changes them changes no later save."""
    first = tables.quality_tables(80)
    assert first == [tables.scale_table(tables.STD_LUMINANCE, 80),
                     tables.scale_table(tables.STD_CHROMINANCE, 80)]
    first[0][0] = 255
    assert tables.quality_tables(80)[0][0] == tables.scale_table(tables.STD_LUMINANCE, 80)[0]
    assert tables.quality_tables(80) is not tables.quality_tables(80)


def _tables(count: int, low: int, high: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(low, high + 1, 64).tolist() for _ in range(count)]


@pytest.mark.parametrize("quality", [0, 1, 7, 25, 49, 50, 51, 75, 90, 99, 100])
@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_any_tables_are_scaled_like_pillow(quality, count) -> None:
    # wide values: the scaling clamps to 1..255 (baseline) as libjpeg does for Pillow
    qtables = _tables(count, 0, 65535 if quality < 50 else 600, seed=quality * 4 + count)
    qtables[0][:3] = [0, 1, 255]
    image = photo(16, 16)
    ours = save(image, qtables=qtables, quality=quality)
    theirs = save(image, "JPEG", qtables=qtables, quality=quality, subsampling=0)
    assert quantization(ours) == quantization(theirs)
    assert [c[3] for c in frame(ours)] == [c[3] for c in frame(theirs)]
    assert_strictly_valid(ours)


@pytest.mark.parametrize("quality", [None, -1])
def test_tables_without_a_quality_are_kept(quality) -> None:
    """No quality: libjpeg's quality 50 (scale 100 %), where 0 becomes 1."""
    qtables = _tables(2, 0, 255, seed=5)
    qtables[1][:2] = [0, 0]
    image = photo(16, 16)
    kwargs = {} if quality is None else {"quality": quality}
    ours = save(image, qtables=qtables, **kwargs)
    theirs = save(image, "JPEG", qtables=qtables, subsampling=0, **kwargs)
    assert quantization(ours) == quantization(theirs) == {
        i: [max(v, 1) for v in table] for i, table in enumerate(qtables)}
    assert_strictly_valid(ours)


def test_tables_above_255_need_a_quality_to_clamp_them() -> None:
    """Pillow writes them as 16-bit tables (not baseline); we refuse, naming the fix."""
    qtables = [[300] + [10] * 63]
    with pytest.raises(ValueError, match=r"value 300: baseline JPEG allows 1 to 255.*quality=50"):
        save(photo(), qtables=qtables)
    image = photo(16, 16)
    ours = save(image, qtables=qtables, quality=50)
    assert quantization(ours) == quantization(save(image, "JPEG", qtables=qtables, quality=50))
    assert quantization(ours)[0][:2] == [255, 10]


@pytest.mark.parametrize("preset", ["web_low", "web_high", "maximum", "low", "medium"])
@pytest.mark.parametrize("quality", [None, 30, 80])
def test_preset_tables_with_a_quality(preset, quality) -> None:
    image = photo(16, 16)
    kwargs = {} if quality is None else {"quality": quality}
    ours = save(image, qtables=preset, **kwargs)
    theirs = save(image, "JPEG", qtables=preset, subsampling=0, **kwargs)
    assert quantization(ours) == quantization(theirs)


def test_a_preset_quality_overrides_qtables_like_pillow() -> None:
    image = photo(16, 16)
    ours = save(image, quality="web_high", qtables=[[5] * 64])
    theirs = save(image, "JPEG", quality="web_high", qtables=[[5] * 64])
    assert quantization(ours) == quantization(theirs)
    assert [c[1:3] for c in frame(ours)] == [c[1:3] for c in frame(theirs)]


@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
def test_kept_tables_are_scaled_by_a_quality(mode) -> None:
    source = jpeg_source(mode, quality=40)
    for quality in (20, 50, 90):
        ours = save(source, qtables="keep", quality=quality)
        theirs = save(source, "JPEG", qtables="keep", quality=quality, subsampling=0)
        assert quantization(ours) == quantization(theirs)
    # quality="keep" keeps the tables as they are, whatever qtables says
    ours = save(source, quality="keep", qtables=[[5] * 64])
    assert quantization(ours) == quantization(save(source, "JPEG", quality="keep",
                                                   qtables=[[5] * 64]))
    assert quantization(ours) == {k: list(v) for k, v in source.quantization.items()}


# 2. "keep" on one- and four-component sources -----------------------------------------


@pytest.mark.parametrize("mode", ["L", "CMYK"])
@pytest.mark.parametrize("keep", [
    {"quality": "keep"}, {"qtables": "keep"}, {"qtables": "keep", "quality": 85},
    {"subsampling": "keep", "quality": 70},
])
def test_keep_on_sources_without_chroma_sampling(mode, keep) -> None:
    source = jpeg_source(mode, quality=63)
    ours = save(source, **keep)
    theirs = save(source, "JPEG", **keep)
    assert quantization(ours) == quantization(theirs)
    assert frame(ours) == frame(theirs)  # ids, sampling 1x1, tables
    assert_strictly_valid(ours)
    with Image.open(io.BytesIO(ours)) as a, Image.open(io.BytesIO(theirs)) as b:
        assert a.mode == b.mode == mode
        reference = np.asarray(source)
        assert psnr(reference, np.asarray(a)) >= psnr(reference, np.asarray(b)) - 0.5


def test_subsampling_keep_alone_on_grey_is_the_default_save(photos) -> None:
    """Nothing to keep: Pillow uses its default sampling, and so do we."""
    source = Image.open(io.BytesIO(save(Image.fromarray(photos["camera"]), "JPEG", quality=80)))
    assert source.mode == "L"
    ours = save(source, subsampling="keep")
    assert ours == save(source)
    assert frame(ours) == frame(save(source, "JPEG", subsampling="keep")) == [(1, 1, 1, 0)]
    assert_strictly_valid(ours)


def test_keep_on_a_real_grey_photo_keeps_its_tables(photos) -> None:
    source = Image.open(io.BytesIO(save(Image.fromarray(photos["camera"]), "JPEG", quality=72)))
    ours = save(source, quality="keep")
    assert quantization(ours) == quantization(save(source, "JPEG", quality="keep"))
    assert psnr(photos["camera"], djpeg_decode(ours)) > 30


@pytest.mark.parametrize("keep", [{"quality": "keep"}, {"qtables": "keep"},
                                  {"subsampling": "keep"}])
def test_keep_needs_a_jpeg_source_like_pillow(keep) -> None:
    grey = photo().convert("L")
    with pytest.raises(ValueError, match="Cannot use 'keep'"):
        save(grey, "JPEG", **keep)
    with pytest.raises(ValueError, match="Cannot use 'keep'"):
        save(grey, **keep)


# 3. JFIF with the density, CMYK included, in libjpeg's order ----------------------------


@functools.cache
def _icc() -> bytes:
    """An sRGB profile, made once: LittleCMS stamps a profile with the second it is made, so
    two made across a second's tick differ (a save's profile then failed to equal one made
    again to compare with)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _metadata() -> dict:
    exif = Image.Exif()
    exif[0x010F] = "maker"
    return dict(exif=exif, xmp=b"<x/>", icc_profile=_icc(), comment="a comment")


def _header_markers_before_tables(data: bytes) -> list[int]:
    found = markers(data)
    return found[:found.index(DQT)]


@pytest.mark.parametrize("mode", ["1", "L", "RGB", "RGBX", "YCbCr", "CMYK"])
@pytest.mark.parametrize("dpi", [(300, 200), (72.4, 299.6), (1, 65535)])
def test_dpi_reads_back_like_pillows(mode, dpi) -> None:
    image = photo(40, 24).convert(mode)
    ours = save(image, dpi=dpi)
    theirs = save(image, "JPEG", dpi=dpi)
    with Image.open(io.BytesIO(ours)) as a, Image.open(io.BytesIO(theirs)) as b:
        for key in ("dpi", "jfif", "jfif_version", "jfif_unit", "jfif_density", "adobe",
                    "adobe_transform"):
            assert a.info.get(key) == b.info.get(key), key
        assert a.info["dpi"] == tuple(round(v) for v in dpi)
    assert _header_markers_before_tables(ours) == _header_markers_before_tables(theirs)
    assert_strictly_valid(ours)


@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
@pytest.mark.parametrize("dpi", [(0, 0), (72, 0), (0, 72)])
def test_no_density_unless_both_dpi_are_positive(mode, dpi) -> None:
    """Pillow (libjpeg) writes a density only when both are; a JFIF density of 0 is invalid."""
    image = photo(40, 24).convert(mode)
    ours = save(image, dpi=dpi)
    theirs = save(image, "JPEG", dpi=dpi)
    assert _header_markers_before_tables(ours) == _header_markers_before_tables(theirs)
    with Image.open(io.BytesIO(ours)) as a, Image.open(io.BytesIO(theirs)) as b:
        assert "dpi" not in a.info and "dpi" not in b.info
        assert a.info.get("jfif_density") == b.info.get("jfif_density")
    assert_strictly_valid(ours)


@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
def test_segment_order_with_every_segment_is_pillows(mode) -> None:
    image = photo(40, 24).convert(mode)
    ours = save(image, dpi=(300, 300), **_metadata())
    theirs = save(image, "JPEG", dpi=(300, 300), **_metadata())
    before = _header_markers_before_tables(ours)
    assert before == _header_markers_before_tables(theirs)
    assert before[:2] == ([APP0, APP14] if mode == "CMYK" else [APP0, 0xE1])
    # after the metadata: one DQT, SOF0, one DHT, SOS (no DRI: the image fits in one
    # default restart interval, and Pillow writes none by default)
    assert markers(ours)[len(before):] == [DQT, SOF0, DHT, SOS]
    assert_strictly_valid(ours)
    with Image.open(io.BytesIO(ours)) as decoded:
        assert decoded.info["dpi"] == (300, 300)
        assert decoded.info["icc_profile"] == _icc()
        assert decoded.info["comment"] == b"a comment"


def test_cmyk_with_dpi_decodes_the_same_pixels() -> None:
    image = photo(40, 24).convert("CMYK")
    with Image.open(io.BytesIO(save(image, dpi=(300, 300)))) as a, \
            Image.open(io.BytesIO(save(image))) as b:
        assert a.mode == b.mode == "CMYK"
        assert np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("params", [{"subsampling": 2}, {"subsampling": "4:2:2"},
                                    {"quality": "web_low"}, {"quality": 90, "subsampling": 1}])
def test_keep_rgb_with_subsampling_is_refused_as_by_pillow(params) -> None:
    """R, G and B kept as they are are not subsampled: Pillow refuses it (a codec
    configuration error), and so does STREAMJPEG, naming the options (it had subsampled G
    and B in silence)."""
    image = Image.new("RGB", (32, 32), (10, 200, 30))
    with pytest.raises(OSError):
        save(image, "JPEG", keep_rgb=True, **params)
    with pytest.raises(ValueError, match="keep_rgb=True .* subsampling must be 4:4:4"):
        save(image, keep_rgb=True, **params)
    assert save(image, keep_rgb=True, subsampling=0) == save(image, keep_rgb=True)


def test_keep_rgb_gets_no_jfif_as_decoders_would_read_ycbcr() -> None:
    """The one departure from Pillow: JFIF beside RGB components makes libjpeg decode
    them as YCbCr (Pillow's own keep_rgb=True, dpi=... output decodes to wrong
    colours), so keep_rgb keeps its colours and drops the density."""
    image = photo(40, 24)
    ours = save(image, keep_rgb=True, dpi=(300, 300))
    assert _header_markers_before_tables(ours) == [APP14]
    assert ours == save(image, keep_rgb=True)
    assert psnr(np.asarray(image), djpeg_decode(ours)) > 45
    assert_strictly_valid(ours)


def _exiftool_messages(path) -> set[str]:
    run = subprocess.run(["exiftool", "-validate", "-warning", "-error", "-a", str(path)],
                         capture_output=True, text=True, check=True)
    return {line.split(":", 1)[1].strip() for line in run.stdout.splitlines()
            if line.startswith(("Warning", "Error"))}


@pytest.mark.skipif(shutil.which("exiftool") is None and not os.environ.get("CI"),
                    reason="exiftool not installed (Debian: libimage-exiftool-perl)")
@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
def test_exiftool_validate_finds_nothing_pillow_does_not(tmp_path, mode) -> None:
    exif = Image.Exif()
    exif[0x010F] = "maker"
    exif[0x011A] = exif[0x011B] = 300.0
    exif[0x0128] = 2
    exif[0x0213] = 1
    kwargs = dict(_metadata(), exif=exif, dpi=(300, 300),
                  xmp=b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
                      b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/><?xpacket end="w"?>')
    image = photo(40, 24).convert(mode)
    ours, theirs = tmp_path / "ours.jpg", tmp_path / "theirs.jpg"
    image.save(ours, format="STREAMJPEG", **kwargs)
    image.save(theirs, format="JPEG", **kwargs)
    assert _exiftool_messages(ours) <= _exiftool_messages(theirs)
    assert not any(m.startswith("Error") for m in _exiftool_messages(ours))


# 4. Restart options: parsed with Pillow's meanings ---------------------------------------

RESTARTS = [
    {"restart_marker_blocks": 0, "restart_marker_rows": 0}, {"restart_marker_blocks": 0},
    {"restart_marker_rows": 0}, {"restart_marker_blocks": 1}, {"restart_marker_blocks": 3},
    {"restart_marker_blocks": 8}, {"restart_marker_blocks": 65535}, {"restart_marker_rows": 1},
    {"restart_marker_rows": 2}, {"restart_marker_rows": 70000},
    {"restart_marker_blocks": 3, "restart_marker_rows": 1},
    {"restart_marker_blocks": 3, "restart_marker_rows": 0},
]


@pytest.mark.parametrize("restart", RESTARTS,
                         ids=lambda r: ",".join(f"{k[15:]}={v}" for k, v in r.items()))
@pytest.mark.parametrize("size", [(32, 32), (100, 40), (17, 9)])
@pytest.mark.parametrize("mode, subsampling", [("RGB", 0), ("RGB", 1), ("RGB", 2), ("L", 0)])
def test_restart_interval_is_pillows_dri(restart, size, mode, subsampling) -> None:
    image = photo(*size).convert(mode)
    settings = options.parse(mode, size, {"subsampling": subsampling})
    interval = options.restart_interval(restart, settings.mcus_per_row, 0)
    assert interval == dri_value(save(image, "JPEG", subsampling=subsampling, **restart))


def test_restart_interval_default_and_one_row() -> None:
    settings = options.parse("RGB", (100, 40), {"subsampling": 2})
    assert settings.mcus_per_row == 7
    assert settings.restart_interval == 0  # the image fits in one default interval
    one_row = dataclasses.replace(settings, restart_interval=7)
    assert one_row.restarts_every_row
    for request in ({"restart_marker_rows": 1}, {"restart_marker_blocks": 7},
                    {"restart_marker_blocks": 3, "restart_marker_rows": 1}):
        assert options.parse("RGB", (100, 40), {"subsampling": 2, **request}) == one_row
    assert options.restart_interval({"restart_marker_rows": 1}, 9000, 0) == 9000
    assert options.restart_interval({"restart_marker_rows": 8}, 8188, 0) == 65504
    assert options.restart_interval({"restart_marker_rows": 9}, 8188, 0) == 65535  # libjpeg's cap


@pytest.mark.parametrize("size, subsampling, rows", [
    ((512, 512), 0, 0), ((512, 513), 0, 64), ((4000, 3000), 2, 4), ((4000, 3000), 0, 8),
    ((40000, 100), 0, 1), ((65500, 8), 0, 0), ((65500, 17), 0, 1), ((1, 65500), 0, 0),
    ((64, 65500), 0, 512),
])
def test_default_interval_is_about_interval_pixels(size, subsampling, rows) -> None:
    """Whole MCU rows of about INTERVAL_PIXELS, at least one; none for an image that fits."""
    settings = options.parse("RGB", size, {"subsampling": subsampling})
    assert settings.restart_interval == rows * settings.mcus_per_row
    if rows:
        assert rows * settings.strip_height * size[0] <= max(options.INTERVAL_PIXELS,
                                                             settings.strip_height * size[0])
        assert settings.strips_per_interval == rows


@pytest.mark.parametrize("restart", [
    {"restart_marker_blocks": 3}, {"restart_marker_blocks": 5}, {"restart_marker_blocks": 20},
    {"restart_marker_rows": 70000}, {"restart_marker_blocks": 65535},
])
def test_writer_writes_intervals_that_cross_rows(restart) -> None:
    """Intervals once refused (not a whole number of 13-MCU rows, nor dividing one; 70000
    rows is libjpeg's cap of 65535 MCUs): Pillow's DRI and RSTn sequence, valid."""
    image = photo(100, 40)
    ours, theirs = save(image, **restart), save(image, "JPEG", subsampling=0, **restart)
    assert dri_value(ours) == dri_value(theirs)
    assert parse_segments(ours)[1] == parse_segments(theirs)[1]  # the scan's RSTn
    assert len(parse_segments(ours)[1]) == math.ceil(13 * 5 / dri_value(ours)) - 1
    assert_strictly_valid(ours)


@pytest.mark.parametrize("restart", [
    {"restart_marker_blocks": -1}, {"restart_marker_blocks": 65536},
    {"restart_marker_blocks": 2.5}, {"restart_marker_rows": -1}, {"restart_marker_rows": "1"},
])
def test_bad_restart_values_name_the_option(restart) -> None:
    (name, value), = restart.items()
    with pytest.raises(ValueError, match=rf"{name} must be an integer.*{value!r}"):
        options.restart_interval(restart, 13, 0)


def test_default_interval_request_writes_the_default_file(monkeypatch) -> None:
    """Asking for the default interval (MCU rows of about INTERVAL_PIXELS) gives the
    default file; here 2 rows of 13 MCUs."""
    monkeypatch.setattr(options, "INTERVAL_PIXELS", 100 * 16)
    image = photo(100, 40)
    data = save(image, restart_marker_rows=2)
    assert data == save(image) == save(image, restart_marker_blocks=26)
    assert dri_value(data) == 26 == dri_value(save(image, "JPEG", restart_marker_rows=2,
                                                   subsampling=0))
    assert_strictly_valid(data)


@pytest.mark.parametrize("interval", [0, 1, 5, 13, 65535])
def test_header_declares_the_parsed_interval(interval) -> None:
    """The header declares the parsed interval: DRI, or none for 0."""
    settings = dataclasses.replace(options.parse("RGB", (100, 40), {}), restart_interval=interval)
    assert settings.restarts_every_row == (interval == 13)
    found = markers(markers_module.header(settings) + b"\xff\xd9")
    assert (DRI in found) == bool(interval)
    assert dri_value(markers_module.header(settings) + b"\xff\xd9") == interval


# 5. Options STREAMJPEG does not honour: refused when asked for, defaults accepted --------


@pytest.mark.parametrize("option, message", [
    ({"smooth": 50}, r"smooth=50 is not supported.*smooth=0"),
    ({"streamtype": 1}, r"streamtype=1 is not supported.*tables-only"),
    ({"streamtype": 2}, r"streamtype=2 is not supported.*abbreviated"),
    ({"extra": b"\xff\xfe\x00\x05abc"}, r"extra is not supported.*comment"),
])
def test_unhonoured_pillow_options_are_refused_clearly(option, message) -> None:
    save(photo(16, 16), "JPEG", **option)  # Pillow takes them
    with pytest.raises(ValueError, match=message):
        save(photo(16, 16), **option)


def test_unhonoured_pillow_options_at_their_defaults_change_nothing() -> None:
    image = photo(16, 16)
    assert save(image, smooth=0, streamtype=0, extra=b"") == save(image)


def test_a_dpi_changed_beside_a_jpegs_centimetres_is_written_as_given() -> None:
    """``**im.info`` of a JPEG whose density is in centimetres carries ``jfif_unit`` 2 and
    ``jfif_density`` beside its dpi (118 per cm: 299.72): saved so, the centimetres are kept;
    with the dpi changed, even to within a dot per centimetre (300), the dpi is written in
    inches, as Pillow writes it (the centimetres had been kept, reading back 299.72)."""
    first = save(photo(40, 24), jfif_unit=2, jfif_density=(118, 118))
    with Image.open(io.BytesIO(first)) as source:
        source.load()
        info = dict(source.info)
        assert (info["jfif_unit"], info["jfif_density"]) == (2, (118, 118))
        again = save(source, **info)
        for dpi in ((300, 300), (72, 96)):
            ours = save(source, **{**info, "dpi": dpi})
            theirs = save(source, "JPEG", **{**info, "dpi": dpi})
            with Image.open(io.BytesIO(ours)) as a, Image.open(io.BytesIO(theirs)) as b:
                assert a.info["dpi"] == b.info["dpi"] == dpi
                assert a.info["jfif_unit"] == b.info["jfif_unit"] == 1
    with Image.open(io.BytesIO(again)) as kept:
        assert (kept.info["jfif_unit"], kept.info["jfif_density"]) == (2, (118, 118))
