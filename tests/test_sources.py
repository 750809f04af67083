"""Array and row-band sources: every layout reaches the same strips, read band by band."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from jpegtools import assert_strictly_valid, psnr
from PIL import Image

import pillow_streamjpeg
from pillow_streamjpeg import sources


def _image(height=203, width=157, channels=3, seed=1):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 3) % 256, (y * 2) % 256, (x + y) % 256][:channels], -1)
    noise = rng.integers(0, 24, base.shape)
    out = np.clip(base + noise, 0, 255).astype(np.uint8)
    return out[..., 0] if channels == 1 else out


def _encode(source, **options) -> bytes:
    out = io.BytesIO()
    pillow_streamjpeg.encode(source, out, **options)
    return out.getvalue()


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.fixture(scope="module")
def rgb():
    return _image()


@pytest.fixture(scope="module")
def reference(rgb):
    return _encode(np.ascontiguousarray(rgb))


def test_c_array_is_valid_and_close(rgb, reference):
    assert_strictly_valid(reference)
    assert psnr(rgb, _decode(reference)) > 45


@pytest.mark.parametrize("layout", ["fortran", "strided", "flipped", "rgba", "rgbx_view"])
def test_array_layouts_give_the_same_file(rgb, reference, layout):
    if layout == "fortran":
        source = np.asfortranarray(rgb)
    elif layout == "strided":
        big = np.zeros((rgb.shape[0] * 2, rgb.shape[1] * 3, 3), np.uint8)
        big[::2, ::3] = rgb
        source = big[::2, ::3]
    elif layout == "flipped":
        source = rgb[::-1][::-1]
    elif layout == "rgba":
        source = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    else:
        source = np.dstack([rgb, rgb[..., :1]])[..., :3]
    assert _encode(source) == reference


def test_grey_arrays_2d_and_one_channel():
    grey = _image(channels=1)
    a = _encode(grey)
    assert _encode(grey[..., None]) == a
    assert _encode(np.asfortranarray(grey)) == a
    assert_strictly_valid(a)
    assert psnr(grey, _decode(a)) > 45


def test_memmap(tmp_path, rgb, reference):
    path = tmp_path / "pixels.raw"
    mm = np.memmap(path, dtype=np.uint8, mode="w+", shape=rgb.shape)
    mm[:] = rgb
    mm.flush()
    del mm
    ro = np.memmap(path, dtype=np.uint8, mode="r", shape=rgb.shape)
    assert _encode(ro) == reference
    assert _encode(ro[:100]) == _encode(np.ascontiguousarray(rgb[:100]))
    cow = np.memmap(path, dtype=np.uint8, mode="c", shape=rgb.shape)
    assert _encode(cow) == reference


def test_zarr_array(rgb, reference):
    zarr = pytest.importorskip("zarr")
    z = zarr.create_array(store=zarr.storage.MemoryStore(), shape=rgb.shape, chunks=(37, 50, 3),
                          dtype="uint8")
    z[:] = rgb
    assert _encode(z) == reference


def test_dask_array_slices(rgb, reference):
    da = pytest.importorskip("dask.array")
    source = da.from_array(rgb, chunks=(41, 64, 3))
    assert _encode(source) == reference


def test_array_is_read_band_by_band():
    """A tall array is sliced in bands: no slice covers the whole image."""

    class Spy:
        def __init__(self, array):
            self.array, self.shape, self.dtype, self.slices = array, array.shape, array.dtype, []

        def __getitem__(self, key):
            self.slices.append(key)
            return self.array[key]

    tall = np.zeros((4000, 1000, 3), np.uint8)
    spy = Spy(tall)
    _encode(spy, workers=1)
    rows = [key.stop - key.start if key.stop <= 4000 else 4000 - key.start for key in spy.slices]
    assert len(spy.slices) > 1 and max(rows) < 4000


def test_row_bands_of_odd_heights(rgb, reference):
    cuts = [0, 1, 4, 21, 22, 60, 61, 130, 203]
    bands = [rgb[a:b] for a, b in zip(cuts, cuts[1:])]
    source = sources.RowBands(iter(bands), size=(rgb.shape[1], rgb.shape[0]), mode="RGB")
    assert _encode(source) == reference
    with pytest.raises(RuntimeError, match="only once"):
        _encode(source)
    # a list can be read again; flat (rows, width * 3) bands and keyword form too
    flat = [b.reshape(b.shape[0], -1) for b in bands]
    again = sources.RowBands(flat, size=(rgb.shape[1], rgb.shape[0]), mode="RGB")
    assert _encode(again) == reference == _encode(again)
    assert _encode((b for b in bands), size=(rgb.shape[1], rgb.shape[0]), mode="RGB") == reference


def test_row_bands_from_one_reused_buffer(monkeypatch):
    """An iterator that fills one buffer again for each band (a readinto loop) gives the
    image, not its last band repeated: its bands are copied as they come. Bands of whole
    strips had been passed on as views and coded after the buffer had moved on."""
    from pillow_streamjpeg import scan

    photo = np.random.default_rng(0).integers(0, 256, (512, 640, 3), dtype=np.uint8)
    expected = io.BytesIO()
    pillow_streamjpeg.encode(photo, expected, quality=90, workers=1)

    def bands(rows: int):
        buffer = np.empty((rows, photo.shape[1], 3), np.uint8)
        for top in range(0, photo.shape[0], rows):
            buffer[:] = photo[top:top + rows]
            yield buffer

    monkeypatch.setattr(scan, "TASK_PIXELS", 640 * 8 * 5)  # tasks span bands
    for rows, workers in ((16, 1), (64, 2), (8, 3)):
        out = io.BytesIO()
        pillow_streamjpeg.encode(pillow_streamjpeg.RowBands(bands(rows), size=(640, 512)), out,
                                 quality=90, workers=workers)
        assert out.getvalue() == expected.getvalue(), (rows, workers)


def test_an_array_like_whose_rows_are_not_its_dtype_is_refused():
    """An array-like declaring uint8 whose rows come as another dtype is refused, as the
    Dask source refuses its chunks (it had been cast, values wrapping)."""
    pixels = np.zeros((64, 48, 3), np.uint8)

    class Lying:
        shape, dtype = pixels.shape, np.uint8

        def __getitem__(self, key):
            return pixels[key].astype(np.uint16) * 3

    with pytest.raises(ValueError, match="came as uint16, not the uint8 it declares"):
        _encode(Lying())


def test_row_bands_subsampled_and_grey():
    grey = _image(channels=1)
    bands = [grey[i:i + 13] for i in range(0, grey.shape[0], 13)]
    got = _encode(iter(bands), size=(grey.shape[1], grey.shape[0]), mode="L", subsampling=2)
    assert got == _encode(grey, subsampling=2)


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ([np.zeros((10, 157, 3), np.uint8)], "held 10 rows"),
        ([np.zeros((300, 157, 3), np.uint8)], "more than"),
        ([np.zeros((10, 150, 3), np.uint8)], "whole rows"),
        ([np.zeros((10, 157, 3), np.uint16)], "dtype"),
    ],
)
def test_row_bands_errors(tmp_path, bands, message):
    target = tmp_path / "out.jpg"
    with pytest.raises(ValueError, match=message):
        pillow_streamjpeg.encode(iter(bands), target, size=(157, 203), mode="RGB")
    assert list(tmp_path.iterdir()) == []


def test_array_errors():
    with pytest.raises(TypeError, match="dtype"):
        _encode(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="2 samples per pixel; .* or 2 with mode='L'"):
        _encode(np.zeros((8, 8, 2), np.uint8))
    _encode(np.zeros((8, 8, 2), np.uint8), mode="L")  # the route the refusal names
    with pytest.raises(TypeError, match="cannot encode"):
        _encode(object())
    with pytest.raises(TypeError, match="option page does not apply to an array"):
        _encode(np.zeros((8, 8), np.uint8), page=1)


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "BytesIO", "file"])
def test_an_image_files_contents_are_refused_saying_to_open_them(tmp_path, kind):
    """A PNG's bytes, or a file object holding them, were refused with the list of sources
    alone: the refusal says to open them with Image.open first, the route that takes them."""
    pixels = _image(height=40, width=30)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    data = (tmp_path / "in.png").read_bytes()
    with open(tmp_path / "in.png", "rb") as file:
        source = {"bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data),
                  "BytesIO": io.BytesIO(data), "file": file}[kind]
        opened = (r"the bytes of an image file are opened first: encode\(Image\.open\(io\.BytesIO"
                  if kind in ("bytes", "bytearray", "memoryview") else
                  r"a file's contents are opened first: encode\(Image\.open\(file\)")
        with pytest.raises(TypeError, match=r"expected a PIL image, .*row bands with "
                                            r"size=\(width, height\); " + opened):
            _encode(source)
    assert _encode(Image.open(io.BytesIO(data))) == _encode(pixels)
    for other in (object(), io.StringIO("text")):  # no file contents: no such advice
        with pytest.raises(TypeError, match=r"size=\(width, height\)$"):
            _encode(other)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32, np.float64])
def test_array_of_other_dtypes_is_refused_saying_how_to_convert(dtype):
    """Arrays are encoded as their bytes are: the refusal gives the scaling to uint8, and
    for a grey numpy array the PIL image that encode() renders through range=."""
    grey = (_image(channels=1).astype(np.float64) * 40).astype(dtype)
    array = grey  # as the refusal names it
    with pytest.raises(TypeError, match=rf"dtype {np.dtype(dtype)}; expected uint8 .*"
                                        r"scale it first, e\.g\. np\.clip.*"
                                        r"Image\.fromarray\(array\), rendered through range="):
        _encode(array)
    low, high = float(array.min()), float(array.max())
    scaled = np.clip((array - low) * (255 / (high - low)), 0, 255).round().astype(np.uint8)
    assert psnr(_decode(_encode(Image.fromarray(array))), scaled) > 40
    colour = np.stack([array] * 3, -1)
    with pytest.raises(TypeError, match=r"scale it first, e\.g\. np\.clip\(.*np\.uint8\)$"):
        _encode(colour)  # not a grey PIL image
    with pytest.raises(TypeError, match=r"dtype bool; expected uint8$"):
        _encode(array > low)


def test_progress_counts_rows(rgb):
    seen = []
    _encode(rgb, progress=lambda done, total: seen.append((done, total)))
    height = rgb.shape[0]
    assert seen[-1] == (height, height)
    assert [total for _, total in seen] == [height] * len(seen)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})  # rising


def test_image_path_through_pillow(tmp_path, rgb, reference):
    path = tmp_path / "in.png"
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(path)  # RGBA: alpha dropped
    assert _encode(str(path)) == reference


MEMMAP = """
import sys
import numpy as np
import pillow_streamjpeg
def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) // 1024
path = sys.argv[1]
shape = (20000, 4000, 3)
before = peak()
source = np.memmap(path, dtype=np.uint8, mode="r", shape=shape)
pillow_streamjpeg.encode(source, path + ".jpg", quality=90)
print(before, peak())
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_memmap_pages_do_not_pile_up(tmp_path):
    """Encoding a 240 MB read-only memmap keeps this process's peak RSS far below that."""
    path = tmp_path / "big.raw"
    with open(path, "wb") as out:  # written band by band: 20000 x 4000 x 3
        for top in range(0, 20000, 500):
            band = np.empty((500, 4000, 3), np.uint8)
            band[:] = ((np.arange(4000)[None, :, None] + top // 500) & 0xF0).astype(np.uint8)
            out.write(band.tobytes())
    run = subprocess.run([sys.executable, "-c", MEMMAP, str(path)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    before, after = map(int, run.stdout.split())
    assert after < 130, f"peak RSS {after} MiB (before encoding {before} MiB)"


def test_cmyk_array_and_row_bands():
    cmyk = np.dstack([_image(), _image(channels=1, seed=5)])
    data = _encode(cmyk, mode="CMYK")
    expected = io.BytesIO()
    Image.fromarray(cmyk, "CMYK").save(expected, format="STREAMJPEG")
    assert data == expected.getvalue()
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.mode == "CMYK" and psnr(cmyk, np.asarray(decoded)) > 40
    bands = [cmyk[i:i + 50] for i in range(0, cmyk.shape[0], 50)]
    assert _encode(iter(bands), size=(cmyk.shape[1], cmyk.shape[0]), mode="CMYK") == data


def test_other_modes_match_the_plugin():
    rgb = _image()
    ref = io.BytesIO()
    Image.fromarray(rgb, "YCbCr").save(ref, format="STREAMJPEG")
    assert _encode(rgb, mode="YCbCr") == ref.getvalue()
    grey = np.where(_image(channels=1) > 128, 255, 0).astype(np.uint8)
    ref = io.BytesIO()
    Image.fromarray(grey, "L").convert("1").save(ref, format="STREAMJPEG")
    assert _encode(grey, mode="1") == ref.getvalue()


def test_buffer_pool_lends_a_block_again_only_when_every_view_is_gone():
    pool = sources.BufferPool(64)
    band = pool.take((4, 8), np.uint16)
    assert band.shape == (4, 8) and band.dtype == np.uint16 and band.flags.writeable
    band[:] = 7
    view = band[1:, 2:]
    del band
    other = pool.take((64,))  # the first block is still seen through `view`: a new one
    other[:] = 0
    assert (view == 7).all()
    del view
    again = pool.take((2, 2), np.uint8)  # now the first block is free again
    again[:] = 1
    assert not np.shares_memory(again, other)
    with pytest.raises(ValueError, match="more than the pool's 64 bytes"):
        pool.take((65,))


def test_release_rows_gives_back_whole_pages_of_pooled_bands_only():
    import mmap

    page = mmap.PAGESIZE
    row_bytes = page // 2 + 100  # rows straddle page boundaries
    pool = sources.BufferPool(40 * row_bytes, releasable=True)
    band = pool.take((40, row_bytes))
    band[:] = 9
    sources.release_rows(band, 10, 12)
    raw = band.reshape(-1)
    first = -(-10 * row_bytes // page) * page
    last = 22 * row_bytes // page * page
    assert last > first
    assert (raw[first:last] == 0).all()  # whole pages inside rows 10..21: given back
    assert (raw[:first] == 9).all() and (raw[last:] == 9).all()  # the rest untouched

    for other in (np.full((40, row_bytes), 9, np.uint8),
                  sources.BufferPool(40 * row_bytes).take((40, row_bytes))):
        other[:] = 9
        sources.release_rows(other, 10, 12)
        assert (other == 9).all()


def test_release_rows_refused_by_the_system_keeps_the_rows(monkeypatch):
    def refuse(*args):
        raise OSError(22, "Invalid argument")  # as under mlockall(MCL_FUTURE)

    monkeypatch.setattr(sources.bands._Block, "madvise", refuse)
    band = sources.BufferPool(1 << 16, releasable=True).take((16, 4096))
    band[:] = 5
    sources.release_rows(band, 0, 16)
    assert (band == 5).all()


@pytest.mark.parametrize("channels", [1, 2, 5, 2.0, True])
def test_a_source_declaring_too_few_samples_is_refused(channels):
    """A Source of the user's with fewer samples per pixel than its mode's colours had the
    kernels read past each band's end (bytes of other memory in the JPEG, or a crash);
    it is refused as RowBands and arrays are, naming the count."""

    class Short(pillow_streamjpeg.Source):
        mode, size = "RGB", (8, 16)

        def read_bands(self, strip_height):
            yield np.full((16, 8 * 3), 200, np.uint8)

    source = Short()
    source.channels = channels
    out = io.BytesIO()
    with pytest.raises(ValueError, match="samples per pixel as mode RGB"):
        pillow_streamjpeg.encode(source, out)
    assert out.getvalue() == b""
    source.channels = np.int64(3)  # a NumPy integer is a whole number
    pillow_streamjpeg.encode(source, out)
    assert out.getvalue()[:2] == b"\xff\xd8"


@pytest.mark.parametrize("mode, channels, allowed", [
    ("L", 3, "expected 1, or 2 with the last ignored"), ("L", 4, "expected 1, or 2"),
    ("1", 3, "expected 1, or 2"), ("CMYK", 3, "expected 4$"), ("RGB", 2, "expected 3, or 4")])
def test_arrays_of_more_or_fewer_samples_than_the_mode_are_refused(mode, channels, allowed):
    """An RGB array given mode "L" (or "1") came out as its red channel, silently: a mode
    takes its colour samples and at most one more, ignored (alpha or padding); anything
    else is refused naming the count and what the mode takes, and nothing is written."""
    rgb = np.zeros((16, 16, channels), np.uint8)
    rgb[..., -1] = 255  # blue (the last): the red channel alone would be black
    out = io.BytesIO()
    with pytest.raises(ValueError, match=f"{channels} samples per pixel as mode {mode}; {allowed}"):
        pillow_streamjpeg.encode(rgb, out, mode=mode)
    assert out.getvalue() == b""


def test_an_array_of_grey_and_alpha_is_its_grey():
    """Mode "L" takes a (height, width, 2) array's first sample, the second ignored, as
    mode "RGB" does an RGBA array's fourth."""
    grey = _image(channels=1)
    la = np.dstack([grey, np.full_like(grey, 7)])
    with_alpha, alone = io.BytesIO(), io.BytesIO()
    pillow_streamjpeg.encode(la, with_alpha, mode="L")
    pillow_streamjpeg.encode(grey, alone)
    assert with_alpha.getvalue() == alone.getvalue()


@pytest.mark.parametrize("mode, channels", [("LA", 2), ("RGBA", 4)])
def test_an_array_of_mode_la_or_rgba_encodes_as_its_pil_image(mode, channels):
    """encode() took LA and RGBA PIL images (alpha dropped) but refused the arrays of those
    modes, "cannot write mode LA as JPEG": they are the PIL image's file, and a count of
    samples without the alpha is refused naming what the mode takes."""
    pixels = np.dstack([_image(channels=channels - 1),
                        np.linspace(0, 255, 157, dtype=np.uint8)[None].repeat(203, 0)])
    image = Image.fromarray(pixels)
    assert image.mode == mode
    assert _encode(pixels, mode=mode) == _encode(image)
    with pytest.raises(ValueError, match=rf"{channels - 1} samples per pixel as mode {mode}; "
                                         rf"expected {channels} \({mode[:-1]} and alpha\)"):
        _encode(pixels[..., :-1], mode=mode)
    with pytest.raises(TypeError, match="option background does not apply to an array"):
        _encode(pixels, mode=mode, background="white")


@pytest.mark.parametrize("band, flaw", [
    (np.zeros((16, 8, 3), np.uint8), r"not of shape \(16, 8, 3\) and dtype uint8"),
    (np.zeros((16, 24), np.uint16), r"not of shape \(16, 24\) and dtype uint16"),
    (np.zeros((24, 16), np.uint8).T, r"not strided rows \(a view"),
])
def test_a_sources_band_of_another_layout_is_refused_saying_what_it_is(band, flaw):
    """A Source's band that is 3-D, of another dtype or a strided view is refused naming
    the rows expected and what the band is (a C-contiguous 3-D band was told it was "not
    C-contiguous")."""

    class Other(pillow_streamjpeg.Source):
        mode, size, channels = "RGB", (8, 16), 3

        def read_bands(self, strip_height):
            yield band

    out = io.BytesIO()
    with pytest.raises(ValueError, match="a band must be C-contiguous uint8 rows of 24 bytes "
                                         r"\(rows, width x samples per pixel\), " + flaw):
        pillow_streamjpeg.encode(Other(), out)
    assert out.getvalue() == b""  # refused before the header went out


def test_bands_wider_than_declared_or_in_another_layout_are_refused():
    """Rows of RGBA from a Source declaring 3 samples (wider than width x 3) and RowBands of
    (rows, 3, width) had the right bytes or more and encoded as wrong pixels."""
    rgba = np.zeros((16, 8, 4), np.uint8)
    rgba[..., 0] = 255

    class Wide(pillow_streamjpeg.Source):
        mode, size, channels = "RGB", (8, 16), 3

        def read_bands(self, strip_height):
            yield rgba.reshape(16, 32)

    with pytest.raises(ValueError, match="rows of 24 bytes"):
        pillow_streamjpeg.encode(Wide(), io.BytesIO())
    planar = np.ascontiguousarray(rgba[..., :3].transpose(0, 2, 1))  # (rows, 3, width)
    with pytest.raises(ValueError, match=r"is not \(rows, 8, 3\)"):
        pillow_streamjpeg.encode(pillow_streamjpeg.RowBands([planar], (8, 16), "RGB"),
                                 io.BytesIO())
    good = pillow_streamjpeg.RowBands([np.ascontiguousarray(rgba[..., :3])], (8, 16), "RGB")
    out = io.BytesIO()
    pillow_streamjpeg.encode(good, out)
    assert out.getvalue()[:2] == b"\xff\xd8"


@pytest.mark.parametrize("size", [(8.0, 16), "8x16", (8, 16, 3), (True, 16)])
def test_a_source_size_that_is_not_two_integers_is_named(size):
    """It raised struct.error from the header writer (float sizes) or an unpacking error."""

    class Odd(pillow_streamjpeg.Source):
        mode, channels = "L", 1

        def read_bands(self, strip_height):
            yield np.zeros((16, 8), np.uint8)

    source = Odd()
    source.size = size
    with pytest.raises(TypeError, match="a source's size must be two integers"):
        pillow_streamjpeg.encode(source, io.BytesIO())


@pytest.mark.parametrize(("bands", "message"), [
    ([np.full((100, 8), 100, np.uint8), np.full((8, 8), 100, np.uint8)],
     "more than the image's 100 rows"),
    ([np.full((96, 8), 100, np.uint8), np.full((8, 8), 100, np.uint8)],
     "more than the image's 100 rows"),
    ([np.full((8, 8), 100, np.uint8), np.zeros((0, 8), np.uint8), np.full((92, 8), 1, np.uint8)],
     "a band of no rows after row 8"),
    ([np.full((12, 8), 100, np.uint8), np.full((88, 8), 100, np.uint8)],
     "whole strips of 8 rows"),
])
def test_a_source_of_wrong_bands_is_told_what_is_wrong(bands, message):
    """More rows than the image's were reported as bands not of whole strips (the check
    of strips came first), and so was an empty band."""

    class Bands(pillow_streamjpeg.Source):
        mode, size, channels = "L", (8, 100), 1

        def read_bands(self, strip_height):
            yield from bands

    out = io.BytesIO()
    with pytest.raises(ValueError, match=message):
        pillow_streamjpeg.encode(Bands(), out)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_transparent_colour_is_alpha_for_a_background(tmp_path, mode):
    """A grey or RGB PNG's transparent colour (tRNS) is composited on a background, as a
    palette's transparency is (it had been ignored); without one the pixels are as they are."""
    grey = (np.arange(24 * 40).reshape(24, 40) % 200 + 20).astype(np.uint8)
    grey[:8, :8] = 0
    pixels = grey if mode == "L" else np.stack([grey] * 3, -1)
    key = 0 if mode == "L" else (0, 0, 0)
    Image.fromarray(pixels).save(tmp_path / "keyed.png", transparency=key)
    Image.fromarray(pixels).save(tmp_path / "plain.png")
    composited = _decode(_encode(tmp_path / "keyed.png", background="white")).astype(int)
    assert composited[:8, :8].min() >= 254  # the transparent pixels on white
    assert np.abs(composited[8:] - pixels[8:]).max() <= 2
    assert _encode(tmp_path / "keyed.png") == _encode(tmp_path / "plain.png")


def test_an_image_file_too_large_is_refused_from_its_header(tmp_path, monkeypatch):
    """Without a shrink, an image file above 65500 pixels a side is refused from its header,
    before Pillow decodes it (a 66000 x 8000 PNG had been decoded whole first: 553 MB); with
    ``shrink`` it is read."""
    from pillow_streamjpeg.sources import pillow as pillow_source

    Image.new("L", (65501, 9), 7).save(tmp_path / "wide.png")
    decoded = []
    monkeypatch.setattr(pillow_source, "writable", lambda image, *a: decoded.append(1) or image)
    with pytest.raises(pillow_streamjpeg.NotSupported, match="65501 x 9 pixels.*--shrink 2"):
        _encode(tmp_path / "wide.png")
    assert decoded == []
    monkeypatch.undo()
    assert Image.open(io.BytesIO(_encode(tmp_path / "wide.png", shrink=2))).size == (32751, 5)


def test_a_16_bit_pgm_is_16_bit_for_its_range(tmp_path):
    """A PGM of 16-bit samples, which Pillow opens as mode I (int32), renders through the
    16-bit range as the same samples in a 16-bit PNG (I;16) do: ``range="full"`` had
    spanned int32's and given a flat grey."""
    y, x = np.mgrid[0:24, 0:40]
    samples = (1000 + x * 1500 + y * 11).astype(np.uint16)
    # written by hand: Pillow 10.4 cannot write I;16 as PPM
    (tmp_path / "g.pgm").write_bytes(b"P5\n40 24\n65535\n" + samples.astype(">u2").tobytes())
    Image.fromarray(samples).save(tmp_path / "g.png")
    for window in ("full", None):
        pgm = _encode(tmp_path / "g.pgm", range=window)
        assert pgm == _encode(tmp_path / "g.png", range=window), window
    assert _decode(pgm).std() > 10  # not flat
