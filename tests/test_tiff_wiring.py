"""Real-world TIFF to JPEG through encode() and the command: metadata carried, every
sample type rendered with a range that shows the data, alpha, any size, clean refusals."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from jpegtools import assert_strictly_valid, parse_segments, psnr, require_tools
from PIL import Image, ImageCms

import pillow_streamjpeg

tifffile = pytest.importorskip("tifffile")
pytest.importorskip("zarr")
pytest.importorskip("imagecodecs")

DATA = Path(__file__).parent / "data"
MIB = 1024 * 1024


def _encode(source, **options) -> bytes:
    out = io.BytesIO()
    pillow_streamjpeg.encode(source, out, **options)
    return out.getvalue()


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(_open(data))


def streamjpeg(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pillow_streamjpeg", "-q", *map(str, args)],
                          capture_output=True, cwd=cwd, timeout=300)


def _exiftool_ok(data: bytes, tmp_path) -> None:
    require_tools("exiftool")
    path = tmp_path / "check.jpg"
    path.write_bytes(data)
    run = subprocess.run(["exiftool", "-validate", "-warning", "-error", "-a", str(path)],
                         capture_output=True, text=True)
    assert "Validate                        : OK" in run.stdout, run.stdout


def _app_markers(data: bytes) -> list[int]:
    segments, _, _ = parse_segments(data)
    return [s.marker for s in segments if 0xE1 <= s.marker <= 0xEF]


def _stretched(values: np.ndarray, low: float, high: float) -> np.ndarray:
    scaled = np.floor((values.astype(np.float64) - low) * (255 / (high - low)) + 0.5)
    return np.clip(scaled, 0, 255).astype(np.uint8)


# -- metadata ------------------------------------------------------------------


def test_icc_xmp_exif_of_a_real_tiff_are_carried(tmp_path):
    path = DATA / "tiff_16bit_RGBa.tiff"
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        icc, xmp = tags["InterColorProfile"].value, tags["XMP"].value
    data = _encode(path)
    assert_strictly_valid(data)
    im = _open(data)
    assert im.info["icc_profile"] == icc
    ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))  # a profile LittleCMS reads
    assert im.info["xmp"] == xmp
    assert im.info["dpi"] == pytest.approx((72, 72))
    exif = im.getexif()
    assert exif.get_ifd(0x8769)[0xA002] == 100  # pixel dimensions: the JPEG's


def test_orientation_and_centimetres(tmp_path):
    data = _encode(DATA / "g4_orientation_6.tif")
    assert_strictly_valid(data)
    assert _open(data).getexif()[0x0112] == 6
    _exiftool_ok(data, tmp_path)
    data = _encode(DATA / "hopper_float_dpi_3.tif")  # 72.8 per centimetre
    im = _open(data)
    assert im.info["jfif_unit"] == 2 and im.info["jfif_density"] == (73, 73)
    _exiftool_ok(data, tmp_path)


def test_exif_and_gps_through_the_command_with_shrink(tmp_path):
    from PIL import TiffImagePlugin

    rational = TiffImagePlugin.IFDRational
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[0x010F], ifd[0x0112] = "Canon", 8
    ifd[0x8769] = {0x829A: rational(1, 250), 0x9003: "2020:01:02 03:04:05"}
    ifd[0x8825] = {0: b"\x02\x03\x00\x00", 1: "N", 2: (rational(48), rational(51), rational(30))}
    Image.new("RGB", (64, 48), "red").save(tmp_path / "in.tif", tiffinfo=ifd, dpi=(300, 300))
    run = streamjpeg("in.tif", "out.jpg", "--shrink", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    data = (tmp_path / "out.jpg").read_bytes()
    assert_strictly_valid(data)
    im = _open(data)
    exif = im.getexif()
    assert exif[0x0112] == 8 and exif[0x010F] == "Canon" and exif[0x011A] == 150
    assert exif.get_ifd(0x8769)[0x9003] == "2020:01:02 03:04:05"
    assert (exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003]) == (32, 24)
    assert exif.get_ifd(0x8825)[2] == (48, 51, 30) and im.info["dpi"] == pytest.approx((150, 150))
    _exiftool_ok(data, tmp_path)


def test_user_options_win_and_strip_writes_none(tmp_path):
    path = DATA / "hopper_float_dpi_3.tif"
    im = _open(_encode(path, dpi=(300, 300)))
    assert im.info["dpi"] == (300, 300) and im.info["jfif_unit"] == 1
    stripped = _encode(path, strip=True)
    assert _app_markers(stripped) == [] and _open(stripped).info.get("jfif_unit") == 0
    mine = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
    assert _open(_encode(DATA / "tiff_16bit_RGBa.tiff", xmp=mine)).info["xmp"] == mine
    # the command: --strip
    shutil.copy(DATA / "tiff_16bit_RGBa.tiff", tmp_path / "in.tif")
    for args, markers in (([], {0xE1, 0xE2}), (["--strip"], set())):
        run = streamjpeg("in.tif", "out.jpg", *args, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        assert set(_app_markers((tmp_path / "out.jpg").read_bytes())) == markers


def test_pillow_inputs_carry_im_info_but_image_save_does_not(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.fromarray(np.full((20, 30, 3), 90, np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 3
    image.save(tmp_path / "in.png", icc_profile=icc, dpi=(150, 150), exif=exif)
    run = streamjpeg("in.png", "out.jpg", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    out = Image.open(tmp_path / "out.jpg")
    assert out.info["icc_profile"] == icc and out.info["dpi"] == (150, 150)
    assert out.getexif()[0x0112] == 3
    with Image.open(tmp_path / "in.png") as opened:
        assert _open(_encode(opened)).info["icc_profile"] == icc  # encode(): carried
        buffer = io.BytesIO()
        opened.save(buffer, format="STREAMJPEG")  # Image.save: as Pillow's JPEG, nothing
        pillow = io.BytesIO()
        opened.save(pillow, format="JPEG")
    assert "icc_profile" not in _open(buffer.getvalue()).info
    assert "icc_profile" not in _open(pillow.getvalue()).info


# -- sample rendering ----------------------------------------------------------


def _ramp(dtype, low, high, shape=(64, 80)):
    return np.linspace(low, high, shape[0] * shape[1]).reshape(shape).astype(dtype)


@pytest.mark.parametrize(
    ("name", "data", "options"),
    [
        ("12_in_16", _ramp(np.uint16, 0, 4095), {"bitspersample": 12}),
        ("16_bit_dim", _ramp(np.uint16, 291, 694), {"compression": "zlib"}),
        ("int16_dem", _ramp(np.int16, -420, 3100), {"tile": (32, 32)}),
        ("float32", _ramp(np.float32, -3.5, 12.25), {"predictor": True, "compression": "zlib"}),
    ],
)
def test_auto_range_uses_the_grey_scale(tmp_path, name, data, options):
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, data, **options)
    encoded = _encode(path)
    assert_strictly_valid(encoded)
    got = _pixels(encoded)
    assert len(np.unique(got)) >= 200
    expected = _stretched(data, data.min(), data.max())
    assert psnr(expected, got) > 45


def test_real_dim_and_float_files():
    raw = tifffile.imread(DATA / "12bit.cropped.tif")  # 12-bit values 0..30
    got = _pixels(_encode(DATA / "12bit.cropped.tif"))
    assert psnr(_stretched(raw, raw.min(), raw.max()), got) > 40
    assert len(np.unique(got)) >= len(np.unique(raw))
    assert _pixels(_encode(DATA / "12bit.cropped.tif", range="full")).max() <= 3  # the old black
    ct = tifffile.imread(DATA / "10ct_32bit_128.tiff")
    got = _pixels(_encode(DATA / "10ct_32bit_128.tiff"))
    assert len(np.unique(got)) >= 200
    # the file is MinIsWhite: the lowest value is white
    assert psnr(255 - _stretched(ct, ct.min(), ct.max()), got) > 40


def test_16_bit_png_through_pillow_uses_the_range(tmp_path):
    data = _ramp(np.uint16, 291, 694, shape=(60, 90))
    Image.fromarray(data).save(tmp_path / "g16.png")
    run = streamjpeg("g16.png", "out.jpg", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    got = np.asarray(Image.open(tmp_path / "out.jpg"))
    assert len(np.unique(got)) >= 200 and psnr(_stretched(data, 291, 694), got) > 45
    assert _pixels(_encode(tmp_path / "g16.png", range="full")).max() <= 3


def test_range_options_and_smin_smax(tmp_path):
    data = _ramp(np.uint16, 1000, 3000)
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, data, extratags=[(340, "H", 1, 1500, True), (341, "H", 1, 2500, True)])
    assert psnr(_stretched(data, 1500, 2500), _pixels(_encode(path))) > 45
    assert psnr(_stretched(data, 0, 65535), _pixels(_encode(path, range="full"))) > 45
    assert psnr(_stretched(data, 1200, 2200), _pixels(_encode(path, range=(1200, 2200)))) > 45
    low, high = np.percentile(data, (10, 90))
    assert psnr(_stretched(data, low, high), _pixels(_encode(path, range="10%,90%"))) > 45
    run = streamjpeg(path.name, "out.jpg", "--range", "1200,2200", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert psnr(_stretched(data, 1200, 2200), np.asarray(Image.open(tmp_path / "out.jpg"))) > 45
    run = streamjpeg(path.name, "out2.jpg", "--range", "high,low", cwd=tmp_path)
    assert run.returncode == 1 and b"range must be" in run.stderr
    assert not (tmp_path / "out2.jpg").exists()


def test_auto_range_reads_a_bounded_sample(tmp_path, monkeypatch):
    """32 of 400 strips are read for the range, not the whole image."""
    from pillow_streamjpeg.sources import tiff as tiff_source

    data = _ramp(np.uint16, 0, 60000, shape=(800, 64))
    path = tmp_path / "many_strips.tif"
    tifffile.imwrite(path, data, rowsperstrip=2, compression="zlib")
    seen = []
    original = tiff_source.TiffSource._sample_arrays

    def counting(self):
        for array in original(self):
            seen.append(array.shape)
            yield array

    monkeypatch.setattr(tiff_source.TiffSource, "_sample_arrays", counting)
    got = _pixels(_encode(path))
    assert len(seen) == 32 and sum(s[0] for s in seen) == 64
    assert got.min() <= 2 and got.max() >= 253
    # uncompressed, the whole image in one strip: 32 groups of 16 rows read by offset
    seen.clear()
    tifffile.imwrite(path, data, rowsperstrip=800, byteorder=">")
    got = _pixels(_encode(path))
    assert len(seen) == 32 and sum(s[0] for s in seen) == 32 * 16
    assert got.min() <= 2 and got.max() >= 253


# -- alpha ---------------------------------------------------------------------


def test_associated_alpha_as_pillow_reads_it(tmp_path):
    rng = np.random.default_rng(5)
    alpha = rng.integers(0, 256, (48, 56), dtype=np.uint8)
    colour = (rng.integers(0, 256, (48, 56, 3)) * alpha[..., None] // 255).astype(np.uint8)
    path = tmp_path / "rgba_assoc.tif"
    tifffile.imwrite(path, np.dstack([colour, alpha]), photometric="rgb", extrasamples=["assocalpha"])
    with Image.open(path) as pillow:
        assert pillow.mode == "RGBA"
        shown = np.asarray(pillow.convert("RGB"))
    assert _encode(path, strip=True) == _encode(shown)
    # real 16-bit RGBa: un-premultiplied in 16 bits; Pillow reads the high bytes, so
    # compare where alpha is at least 1/8 (Pillow's 8-bit alpha is coarse below)
    real = DATA / "tiff_16bit_RGBa.tiff"
    with Image.open(real) as pillow:
        shown = np.asarray(pillow.convert("RGB")).astype(np.int16)
    raw_alpha = tifffile.imread(real)[..., 3]
    got = _pixels(_encode(real, range="full")).astype(np.int16)
    visible = raw_alpha >= 32 * 256
    assert np.abs(got - shown)[visible].mean() < 3 and np.abs(got - shown)[visible].max() <= 12


def test_background_composites(tmp_path):
    rng = np.random.default_rng(6)
    rgba = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    a = rgba[..., 3:].astype(np.uint32)
    on_grey = ((rgba[..., :3] * a + 128 * (255 - a) + 127) // 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    assert _encode(tmp_path / "a.tif", background="#808080", strip=True) == _encode(on_grey)
    image = Image.fromarray(rgba, "RGBA")
    assert _encode(image, background=(128, 128, 128)) == _encode(on_grey)
    assert _encode(image) == _encode(image.convert("RGB"))  # alpha dropped, as convert does
    with pytest.raises(OSError, match="cannot write mode RGBA"):
        image.save(io.BytesIO(), format="STREAMJPEG")  # Image.save: Pillow's behaviour
    la = Image.fromarray(rgba[..., [0, 3]].copy(), "LA")
    grey = ((rgba[..., 0].astype(np.uint32) * a[..., 0] + 255 * (255 - a[..., 0]) + 127) // 255)
    assert _encode(la, background="white") == _encode(grey.astype(np.uint8))
    image.save(tmp_path / "a.png")
    run = streamjpeg("a.png", "out.jpg", "--background", "#808080", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out.jpg").read_bytes() == _encode(on_grey)


# -- any size ------------------------------------------------------------------


def _area_average(data: np.ndarray, factor: int) -> np.ndarray:
    h, w = data.shape[:2]
    out = np.empty((-(-h // factor), -(-w // factor)) + data.shape[2:])
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = data[i * factor:(i + 1) * factor, j * factor:(j + 1) * factor]
            out[i, j] = block.reshape(-1, *data.shape[2:]).mean(axis=0)
    return np.floor(out + 0.5).astype(np.uint8)


def test_shrink_and_max_size(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (101, 75, 3), dtype=np.uint8)
    data = _encode(rgb, shrink=4)
    assert _open(data).size == (19, 26)
    assert psnr(_area_average(rgb, 4), _pixels(data)) > 45
    assert _open(_encode(rgb, max_size=30)).size == (19, 26)  # factor 4: the smallest
    assert _open(_encode(Image.fromarray(rgb), max_size=50)).size == (25, 34)  # 101 / 3
    # the resolution keeps the print size
    path = tmp_path / "dpi.tif"
    tifffile.imwrite(path, rgb, resolution=(300, 300), resolutionunit="INCH")
    im = _open(_encode(path, shrink=3))
    assert im.info["dpi"] == (100, 100) and im.getexif().get_ifd(0x8769)[0xA002] == 25
    with pytest.raises(TypeError, match="shrink or max_size"):
        _encode(rgb, shrink=2, max_size=10)


def test_max_size_takes_a_pyramid_level_that_fits(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (512, 384, 3), dtype=np.uint8)
    path = tmp_path / "pyramid.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(rgb, photometric="rgb", tile=(64, 64), subifds=2)
        tif.write(rgb[::2, ::2], photometric="rgb", tile=(64, 64), subfiletype=1)
        tif.write(rgb[::4, ::4], photometric="rgb", tile=(64, 64), subfiletype=1)
    data = _encode(path, max_size=300)  # level 1 (256 x 192) fits as it is
    assert _open(data).size == (192, 256)
    assert psnr(rgb[::2, ::2], _pixels(data)) > 40
    data = _encode(path, max_size=64)  # none fits: level 2 (128 x 96) shrunk by 2
    assert _open(data).size == (48, 64)
    assert psnr(_area_average(rgb[::4, ::4], 2), _pixels(data)) > 40


WIDE = textwrap.dedent(r"""
    import json, resource, sys
    import pillow_streamjpeg
    path, out = sys.argv[1], sys.argv[2]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    pillow_streamjpeg.encode(path, out, max_size=2048)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"before": before, "after": after}))
""")


def test_70000_wide_tiff_refused_without_max_size_and_converted_with_it(tmp_path):
    width, height = 70000, 1200
    path = tmp_path / "wide.tif"
    pixels = tifffile.memmap(path, shape=(height, width), dtype=np.uint8, rowsperstrip=64)
    x = np.arange(width)
    for top in range(0, height, 200):
        y = np.arange(top, top + 200)[:, None]
        pixels[top:top + 200] = ((x[None, :] // 7 + y * 3) % 256).astype(np.uint8)
    pixels.flush()
    reference = _area_average(np.asarray(pixels[:, :70 * 35]), 35)  # the left 70 columns
    del pixels
    run = streamjpeg("wide.tif", "wide.jpg", cwd=tmp_path)
    assert run.returncode == 1 and not (tmp_path / "wide.jpg").exists()
    line = run.stderr.decode()
    assert line.count("\n") == 1 and line.count("wide.tif") == 1 and "--max-size" in line
    assert "not supported: 70000 x 1200 pixels" in line
    out = tmp_path / "wide.jpg"
    run = subprocess.run([sys.executable, "-c", WIDE, str(path), str(out)], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)  # not the source folder
    assert run.returncode == 0, run.stderr
    peak = json.loads(run.stdout.strip().splitlines()[-1])
    assert peak["after"] - peak["before"] < 64 * MIB
    data = out.read_bytes()
    assert_strictly_valid(data)
    got = _pixels(data)
    assert got.shape == (35, 2000)  # factor ceil(70000 / 2048) = 35
    assert psnr(reference, got[:, :70]) > 40


# -- refusals ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "words"),
    [
        ("complex", "not supported: 64-bit complex"),
        ("cielab", "not supported: photometric interpretation CIELab"),
        ("truncated", "damaged:"),
        ("garbage", "damaged:"),
        ("text_png", "not supported: not an image format"),
    ],
)
def test_refusals_are_one_clean_line(tmp_path, make, words):
    name = "in.png" if make == "text_png" else "in.tif"
    path = tmp_path / name
    if make == "complex":
        tifffile.imwrite(path, np.zeros((8, 8), np.complex64))
    elif make == "cielab":
        tifffile.imwrite(path, np.zeros((8, 8, 3), np.uint8), photometric="cielab")
    elif make == "truncated":
        tifffile.imwrite(path, np.zeros((256, 256), np.uint8), compression="zlib", tile=(64, 64))
        path.write_bytes(path.read_bytes()[:-300])
    elif make == "garbage":
        path.write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    else:
        path.write_text("not an image\n")
    run = streamjpeg(name, "out.jpg", cwd=tmp_path)
    text = run.stderr.decode()
    assert run.returncode == 1, text
    assert text.count("\n") == 1 and text.startswith("streamjpeg: error: ")
    assert text.count(name) == 1 and words in text, text
    assert "Traceback" not in text and "Error(" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_strip_drops_a_jpeg_sources_comment(tmp_path):
    """``strip=True`` (``--strip``) writes none of the input's metadata: a JPEG's comment
    too, which a Pillow image's info carries and the options took when none was given."""
    Image.new("RGB", (24, 16), (90, 60, 30)).save(tmp_path / "in.jpg", comment=b"secret",
                                                  dpi=(300, 300))
    with Image.open(tmp_path / "in.jpg") as im:
        kept = _open(_encode(im))
        stripped = _open(_encode(im, strip=True))
        chosen = _open(_encode(im, strip=True, comment="mine"))
    assert kept.info["comment"] == b"secret"
    assert "comment" not in stripped.info and stripped.info.get("jfif_unit") == 0
    assert chosen.info["comment"] == b"mine"
    run = streamjpeg("in.jpg", "out.jpg", "--strip", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    with Image.open(tmp_path / "out.jpg") as out:
        assert "comment" not in out.info and out.info.get("jfif_unit") == 0
