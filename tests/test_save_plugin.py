"""The Pillow plugin: registration, file objects, modes, sizes and option errors."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg
from jpegtools import assert_strictly_valid


def rgb(width: int = 40, height: int = 30) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_format_is_registered_for_saving_only() -> None:
    Image.init()
    assert "STREAMJPEG" in Image.SAVE
    assert "STREAMJPEG" not in Image.OPEN
    assert Image.EXTENSION.get(".jpg") == "JPEG"
    assert "STREAMJPEG" not in Image.EXTENSION.values()


def test_plain_jpg_save_still_uses_pillows_writer(tmp_path) -> None:
    image = rgb()
    image.save(tmp_path / "a.jpg")
    data = (tmp_path / "a.jpg").read_bytes()
    assert b"\xff\xdd" not in data[:600]  # Pillow writes no DRI by default


@pytest.mark.parametrize("name", ["STREAMJPEG", "streamjpeg", "StreamJpeg"])
def test_save_to_path_and_file_object(tmp_path, name) -> None:
    image = rgb()
    image.save(tmp_path / "out.jpg", format=name)
    out = io.BytesIO()
    image.save(out, format=name)
    assert (tmp_path / "out.jpg").read_bytes() == out.getvalue()
    assert_strictly_valid(out.getvalue())


def test_defaults_are_quality_100_and_444() -> None:
    out = io.BytesIO()
    rgb().save(out, format="STREAMJPEG")
    with Image.open(io.BytesIO(out.getvalue())) as decoded:
        assert decoded.layer == [(1, 1, 1, 0), (2, 1, 1, 1), (3, 1, 1, 1)]
        assert set(decoded.quantization[0]) == {1}


def test_save_to_pipe(tmp_path) -> None:
    read_end, write_end = os.pipe()
    image = rgb(300, 200)
    expected = io.BytesIO()
    image.save(expected, format="STREAMJPEG")
    import threading

    chunks = []
    reader = threading.Thread(target=lambda: chunks.append(os.fdopen(read_end, "rb").read()))
    reader.start()
    with os.fdopen(write_end, "wb") as pipe:
        image.save(pipe, format="STREAMJPEG")
    reader.join(30)
    assert chunks == [expected.getvalue()]


@pytest.mark.parametrize("mode", ["P", "I", "F", "LA", "RGBa", "HSV", "LAB", "I;16", "RGBA"])
def test_unsupported_modes_raise_like_pillow(mode) -> None:
    image = Image.new(mode, (8, 8))
    with pytest.raises(OSError, match=f"cannot write mode {mode} as JPEG"):
        image.save(io.BytesIO(), format="JPEG")  # Pillow's own writer refuses it too
    out = io.BytesIO()
    with pytest.raises(OSError, match=f"cannot write mode {mode} as JPEG"):
        image.save(out, format="STREAMJPEG")
    assert out.getvalue() == b""


@pytest.mark.parametrize("size", [(0, 5), (5, 0), (0, 0)])
def test_empty_images_raise_value_error(size) -> None:
    out = io.BytesIO()
    with pytest.raises(ValueError):
        Image.new("RGB", size).save(out, format="STREAMJPEG")
    assert out.getvalue() == b""


@pytest.mark.parametrize("size", [(65501, 1), (1, 65501)])
def test_oversized_images_raise_before_writing(tmp_path, size) -> None:
    image = Image.new("L", size)
    out = io.BytesIO()
    with pytest.raises(ValueError, match="65500"):
        image.save(out, format="STREAMJPEG")
    assert out.getvalue() == b""
    target = tmp_path / "big.jpg"
    with pytest.raises(ValueError, match="65500"):
        image.save(target, format="STREAMJPEG")
    assert not target.exists()


def test_largest_dimension_is_accepted() -> None:
    out = io.BytesIO()
    Image.new("L", (65500, 1), 77).save(out, format="STREAMJPEG")
    assert_strictly_valid(out.getvalue())


@pytest.mark.parametrize("quality", [101, -2, "best", 50.5, True])
def test_bad_quality_names_the_value(quality) -> None:
    with pytest.raises(ValueError, match="quality"):
        rgb().save(io.BytesIO(), format="STREAMJPEG", quality=quality)


def test_unknown_options_are_ignored_like_pillow() -> None:
    out = io.BytesIO()
    rgb().save(out, format="STREAMJPEG", no_such_option=3)
    assert out.getvalue()[:2] == b"\xff\xd8"


def test_cropped_and_lazy_images_save_their_own_pixels() -> None:
    image = rgb(64, 64)
    crop = image.crop((5, 7, 45, 50))
    a, b = io.BytesIO(), io.BytesIO()
    crop.save(a, format="STREAMJPEG")
    Image.fromarray(np.asarray(crop)).save(b, format="STREAMJPEG")
    assert a.getvalue() == b.getvalue()


def test_encode_accepts_images_and_arrays_alike() -> None:
    image = rgb(50, 20)
    a, b = io.BytesIO(), io.BytesIO()
    pillow_streamjpeg.encode(image, a)
    pillow_streamjpeg.encode(np.asarray(image), b)
    assert a.getvalue() == b.getvalue()


def test_progress_through_image_save(tmp_path) -> None:
    """``Image.save(..., progress=f)`` calls f(done, total) as ``encode()`` does (it was
    ignored); one that is not callable is refused before the file is written."""
    calls = []
    image = rgb(40, 300)
    image.save(tmp_path / "a.jpg", format="STREAMJPEG", progress=lambda *a: calls.append(a))
    assert calls and calls[-1] == (300, 300)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    calls.clear()
    image.save(io.BytesIO(), format="STREAMJPEG", optimize=True,
               progress=lambda *a: calls.append(a))
    assert calls[-1] == (300, 300)  # optimize on a small image: coded once (scan.read_back)
    calls.clear()
    rgb(600, 500).save(io.BytesIO(), format="STREAMJPEG", optimize=True,
                       progress=lambda *a: calls.append(a))
    assert calls[-1] == (1000, 1000)  # a larger one: each row twice, one total
    out = io.BytesIO()
    with pytest.raises(TypeError, match="progress must be a function"):
        image.save(out, format="STREAMJPEG", progress=5)
    assert out.getvalue() == b""
