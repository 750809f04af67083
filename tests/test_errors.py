"""Refusals: one line, the file named once, no library text."""

from __future__ import annotations

import struct
import zlib

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image

from pillow_streamjpeg.errors import Damaged, NotSupported, Refused, classify


def raised_by(call) -> BaseException:
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the point is to catch what the library raises
        return exc
    raise AssertionError("nothing raised")


def test_messages():
    refusal = NotSupported("scan.tif", "complex samples", supported="unsigned, signed and float")
    assert str(refusal) == ("scan.tif: not supported: complex samples "
                            "(supported: unsigned, signed and float)")
    assert str(Damaged("a.tif", "truncated strip 3")) == "a.tif: damaged: truncated strip 3"
    assert isinstance(refusal, ValueError) and isinstance(refusal, Refused)
    assert (refusal.file, refusal.kind) == ("scan.tif", "not supported")


def real_failures(tmp_path):
    """What tifffile and imagecodecs raise on broken files, for real."""
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.zeros((64, 64), np.uint8), compression="zlib", tile=(16, 16))
    data = bytearray(good.read_bytes())
    with tifffile.TiffFile(good) as tif:
        offset = tif.pages[0].dataoffsets[0]
    data[offset:offset + 8] = bytes(8)
    (tmp_path / "codec.tif").write_bytes(data)
    # a JPEG-compressed strip with 0xFF 0x7F inside its scan: libjpeg's "Unsupported marker
    # type 0x7f", damage that reads like a missing feature
    pixels = np.random.default_rng(9).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "jpeg.tif", pixels, photometric="rgb", compression="jpeg",
                     rowsperstrip=64)
    with tifffile.TiffFile(tmp_path / "jpeg.tif") as tif:
        offset, count = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
    jpeg = bytearray((tmp_path / "jpeg.tif").read_bytes())
    jpeg[offset + count // 2:offset + count // 2 + 2] = b"\xff\x7f"
    (tmp_path / "jpeg.tif").write_bytes(jpeg)
    (tmp_path / "short.tif").write_bytes(good.read_bytes()[:20])
    (tmp_path / "text.tif").write_bytes(b"not a tiff at all")
    return {
        "codec": raised_by(lambda: tifffile.imread(tmp_path / "codec.tif")),
        "short": raised_by(lambda: tifffile.imread(tmp_path / "short.tif")),
        "text": raised_by(lambda: tifffile.imread(tmp_path / "text.tif")),
        "jpeg": raised_by(lambda: tifffile.imread(tmp_path / "jpeg.tif")),
    }


def test_real_failures_are_damaged(tmp_path):
    failures = real_failures(tmp_path)
    assert isinstance(failures["codec"], imagecodecs.DeflateError)
    assert isinstance(failures["short"], tifffile.TiffFileError)
    assert "unsupported marker" in str(failures["jpeg"]).lower()
    for name, exc in failures.items():
        refusal = classify(exc, tmp_path / f"{name}.tif")
        assert isinstance(refusal, Damaged), name
        text = str(refusal)
        assert "\n" not in text and text.count(f"{name}.tif") == 1
        assert text == f"{tmp_path / name}.tif: damaged: cannot read the image"
        assert str(exc) not in text  # no library text


@pytest.mark.parametrize("exc", [
    struct.error("unpack requires a buffer of 4 bytes"), zlib.error("Error -3"),
    ValueError("invalid literal for int() with base 10: b'\\x01'"),  # seen from the fuzzer
    IndexError("list index out of range"), KeyError(273), ZeroDivisionError("division by zero"),
    EOFError("truncated"), RuntimeError("zarr: chunk missing"),
])
def test_parser_errors_are_damaged(exc):
    refusal = classify(exc, "in.tif", what="cannot read strip 3")
    assert isinstance(refusal, Damaged)
    assert str(refusal) == "in.tif: damaged: cannot read strip 3"


def test_jpeg_extension_markers_are_features_and_other_unknown_markers_damage():
    """libjpeg's "Unsupported marker type" names a JPEG extension it lacks (JPEG-LS's
    SOF55 0xF7, LSE 0xF8, JPG0 0xF0, DHP 0xDE) or a byte no marker has (damage)."""
    for code in (0xF7, 0xF8, 0xF0, 0xFD, 0xDE, 0xDF):
        refusal = classify(imagecodecs.Jpeg8Error(f"Unsupported marker type 0x{code:02x}"), "a.tif")
        assert isinstance(refusal, NotSupported), hex(code)
    for code in (0x7F, 0x00, 0x4A, 0x02):
        refusal = classify(imagecodecs.Jpeg8Error(f"Unsupported marker type 0x{code:02x}"), "a.tif")
        assert isinstance(refusal, Damaged), hex(code)


@pytest.mark.parametrize("exc", [
    NotImplementedError("planar YCbCr"), ValueError("<COMPRESSION.X: 9> not supported"),
    ImportError("imagecodecs.jpegxl"), ValueError("JPEGXL requires the 'imagecodecs' package"),
])
def test_unsupported_features(exc):
    refusal = classify(exc, "in.tif", what="this compression", supported="none, LZW, deflate")
    assert isinstance(refusal, NotSupported)
    assert str(refusal) == "in.tif: not supported: this compression (supported: none, LZW, deflate)"


def test_refusals_pass_through_and_system_errors_are_not_files():
    refusal = NotSupported("x.tif", "CIELab")
    assert classify(refusal, "other.tif") is refusal
    for exc in (MemoryError(), FileNotFoundError(2, "No such file"), PermissionError(13, "no")):
        with pytest.raises(type(exc)):
            classify(exc, "x.tif")


def test_too_large_names_the_way_out():
    from pillow_streamjpeg.errors import too_large
    from pillow_streamjpeg.shrink import JPEG_MAX, factor_for, shrunk_size
    refusal = too_large("slide.svs", 140000, 1200)
    assert str(refusal) == ("slide.svs: not supported: 140000 x 1200 pixels (supported: at most "
                            "65500 a side; --max-size 65500 or --shrink 3 makes it fit "
                            "(in Python: max_size=65500 or shrink=3))")
    assert factor_for(140000, 1200, JPEG_MAX) == 3 and shrunk_size(140000, 1200, 3)[0] <= JPEG_MAX


def test_too_large_after_a_shrink_names_a_shrink_that_fits(tmp_path):
    """A shrink that leaves a side above 65500 is refused with the input's size, the shrunk
    one, and a factor worked out from the input (not the shrunk size's, which named the
    factor just given); that factor then converts it."""
    import pillow_streamjpeg
    pixels = np.zeros((2, 131072), np.uint8)
    with pytest.raises(NotSupported) as refused:
        pillow_streamjpeg.encode(pixels, tmp_path / "out.jpg", shrink=2)
    assert str(refused.value) == (
        "image: not supported: 131072 x 2 pixels shrunk by 2 to 65536 x 1 (supported: at most "
        "65500 a side; --max-size 65500 or --shrink 3 makes it fit (in Python: max_size=65500 "
        "or shrink=3))")
    assert not (tmp_path / "out.jpg").exists()
    pillow_streamjpeg.encode(pixels, tmp_path / "out.jpg", shrink=3)
    with Image.open(tmp_path / "out.jpg") as im:
        assert im.size == (43691, 1)
    # a max_size above JPEG's limit is taken as the limit (100000 would shrink by 2, to
    # 65536, and be refused)
    pillow_streamjpeg.encode(pixels, tmp_path / "out.jpg", max_size=100000)
    with Image.open(tmp_path / "out.jpg") as im:
        assert im.size == (43691, 1)
