"""The Pillow plugin: registration, save targets, refused modes, sizes and options."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg
from jpegcheck import djpeg_decode, djpeg_strict, parse_jpeg, sof_info


def photo_like(mode="RGB", size=(37, 29)):
    rng = np.random.default_rng(1)
    shape = size[::-1] + ((3,) if mode == "RGB" else ())
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def test_registered_format_without_jpg_extension():
    Image.init()                                      # load Pillow's own plugins
    assert "STREAMJPEG" in Image.SAVE
    assert Image.SAVE["STREAMJPEG"] is not Image.SAVE["JPEG"]
    for ext in (".jpg", ".jpeg", ".jpe", ".jfif"):
        assert Image.EXTENSION.get(ext) == "JPEG", ext
    assert "STREAMJPEG" not in Image.EXTENSION.values()


def test_plain_jpg_save_is_still_pillows(tmp_path):
    img = photo_like()
    img.save(tmp_path / "a.jpg")                      # Pillow's writer: quality 75, 4:2:0
    ours = tmp_path / "b.jpg"
    img.save(ours, format="STREAMJPEG")
    plain = parse_jpeg((tmp_path / "a.jpg").read_bytes())
    # Pillow writes 4:2:0 by default and no restart markers; STREAMJPEG writes DRI and 4:4:4.
    assert sof_info(plain)["components"][0][1:3] == (2, 2)
    assert not plain.all(0xDD)
    assert parse_jpeg(ours.read_bytes()).all(0xDD)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_save_to_path_and_bytesio_equal(tmp_path, djpeg, mode):
    img = photo_like(mode)
    path = tmp_path / "out.jpg"
    img.save(path, format="STREAMJPEG")
    buf = io.BytesIO()
    img.save(buf, format="STREAMJPEG")
    assert buf.getvalue() == path.read_bytes()
    djpeg_strict(path, djpeg)
    decoded = djpeg_decode(path, djpeg)
    assert decoded.shape[:2] == (img.height, img.width)


def test_lowercase_format_name():
    img = photo_like()
    a, b = io.BytesIO(), io.BytesIO()
    img.save(a, format="streamjpeg", quality=80)
    img.save(b, format="STREAMJPEG", quality=80)
    assert a.getvalue() == b.getvalue() and a.getvalue()[:2] == b"\xff\xd8"


def test_save_to_open_file_object(tmp_path):
    img = photo_like()
    path = tmp_path / "f.jpg"
    with open(path, "wb") as fp:
        fp.write(b"prefix")
        img.save(fp, format="STREAMJPEG", quality=70)
    data = path.read_bytes()
    assert data.startswith(b"prefix\xff\xd8") and data.endswith(b"\xff\xd9")
    buf = io.BytesIO()
    img.save(buf, format="STREAMJPEG", quality=70)
    assert data[len(b"prefix"):] == buf.getvalue()


def test_quality_changes_output():
    img = photo_like()
    sizes = []
    for q in (1, 50, 100):
        buf = io.BytesIO()
        img.save(buf, format="STREAMJPEG", quality=q)
        sizes.append(len(buf.getvalue()))
    assert sizes[0] < sizes[1] < sizes[2]
    default = io.BytesIO()
    img.save(default, format="STREAMJPEG")
    assert len(default.getvalue()) == sizes[2]           # the default is quality 100


# Modes that neither Pillow's JPEG writer nor this one can write.
@pytest.mark.parametrize("mode", ["P", "I", "F", "LA", "RGBa", "HSV", "I;16", "La", "PA"])
def test_unsupported_mode(tmp_path, mode):
    img = Image.new(mode, (4, 4))
    with pytest.raises(OSError, match=f"cannot write mode {mode} as JPEG"):
        img.save(io.BytesIO(), format="JPEG")            # Pillow refuses it too
    buf = io.BytesIO()
    with pytest.raises(OSError) as info:
        img.save(buf, format="STREAMJPEG")
    assert str(info.value) == f"cannot write mode {mode} as JPEG"
    assert buf.getvalue() == b""
    path = tmp_path / "x.jpg"
    with pytest.raises(OSError):
        img.save(path, format="STREAMJPEG")
    assert not path.exists()


@pytest.mark.parametrize("size", [(0, 5), (5, 0), (0, 0)])
def test_empty_image(size):
    buf = io.BytesIO()
    with pytest.raises(ValueError):
        Image.new("RGB", size).save(buf, format="STREAMJPEG")
    assert buf.getvalue() == b""


@pytest.mark.parametrize("size", [(65501, 1), (1, 65501), (65536, 2)])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_too_large(tmp_path, size, mode):
    img = Image.new(mode, size)
    buf = io.BytesIO()
    with pytest.raises(ValueError, match="65500"):
        img.save(buf, format="STREAMJPEG")
    assert buf.getvalue() == b""
    path = tmp_path / "big.jpg"
    with pytest.raises(ValueError, match="65500"):
        img.save(path, format="STREAMJPEG")
    assert not path.exists()


def test_limit_itself_is_accepted(djpeg):
    buf = io.BytesIO()
    Image.new("L", (65500, 1), 128).save(buf, format="STREAMJPEG")
    sof = sof_info(parse_jpeg(buf.getvalue()))
    assert (sof["width"], sof["height"]) == (65500, 1)
    assert pillow_streamjpeg.MAX_DIMENSION == 65500


@pytest.mark.parametrize("quality", [101, 1000, -2, 50.5, "best", [90], b"90", 100.0])
def test_bad_quality(tmp_path, quality):
    img = photo_like()
    buf = io.BytesIO()
    with pytest.raises(ValueError) as info:
        img.save(buf, format="STREAMJPEG", quality=quality)
    assert repr(quality) in str(info.value) and "quality" in str(info.value)
    assert buf.getvalue() == b""
    path = tmp_path / "q.jpg"
    with pytest.raises(ValueError):
        img.save(path, format="STREAMJPEG", quality=quality)
    assert not path.exists()


@pytest.mark.parametrize("quality", [1, 2, 50, 99, 100])
def test_good_quality(quality):
    buf = io.BytesIO()
    photo_like().save(buf, format="STREAMJPEG", quality=quality)
    assert buf.getvalue()[:2] == b"\xff\xd8" and buf.getvalue()[-2:] == b"\xff\xd9"
