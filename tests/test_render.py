"""Sample rendering: ranges, every sample type, alpha, against Pillow where Pillow reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from pillow_streamjpeg import render
from pillow_streamjpeg.render import (
    RangeOption, Renderer, Window, estimate_range, full_range, parse_background, parse_range,
    resolve_range, sample_indices, sample_level, unpremultiply,
)


def _scale_lut(bits: int) -> np.ndarray:
    """The former fixed scaling of the TIFF reader: round(v * 255 / (2**bits - 1)), half up."""
    top = (1 << bits) - 1
    values = np.arange(top + 1, dtype=np.int64)
    return ((values * 255 * 2 + top) // (2 * top)).astype(np.uint8)

DATA = Path(__file__).parent / "data"


def levels(array: np.ndarray) -> int:
    return len(np.unique(array))


def render_auto(array: np.ndarray, **kwargs) -> np.ndarray:
    window = resolve_range("auto", array.dtype, samples=[array], **kwargs)
    return Renderer(window, array.dtype).render(array)


def test_full_range_of_16_bit_is_todays_scaling():
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    out = Renderer(full_range(np.uint16), np.uint16).render(values)
    np.testing.assert_array_equal(out, _scale_lut(16)[values])
    out12 = Renderer(full_range(np.uint16, 12), np.uint16).render(values[:16])  # 0..4095
    np.testing.assert_array_equal(out12, _scale_lut(12)[values[:16]])


def test_dim_16_bit_data_uses_the_whole_grey_scale():
    data = np.linspace(291, 694, 500 * 4).astype(np.uint16).reshape(40, 50)  # the example
    assert Renderer(full_range(np.uint16), np.uint16).render(data).max() <= 3  # black today
    out = render_auto(data)
    assert out.min() == 0 and out.max() == 255
    assert levels(out) >= 200


def test_12_bit_in_16_bit_words():
    ramp = np.arange(4096, dtype=np.uint16).reshape(64, 64)
    tif = tifffile.TiffFile
    out = render_auto(ramp)
    assert levels(out) == 256
    window = resolve_range("full", np.uint16, bits=12)
    assert window == Window(0, 4095)
    assert Renderer(window, np.uint16).render(ramp)[-1, -1] == 255
    del tif


def test_real_12_bit_file_keeps_every_level():
    with tifffile.TiffFile(DATA / "12bit.cropped.tif") as tif:
        page = tif.pages[0]
        data, bits = page.asarray(), page.bitspersample
    assert bits == 12 and data.max() == 30
    full = Renderer(resolve_range("full", data.dtype, bits=bits), data.dtype).render(data)
    assert full.max() <= 2  # what a fixed 12-bit scale shows of it
    out = render_auto(data, bits=bits)
    assert (out.min(), out.max()) == (0, 255)
    assert levels(out) == levels(data)  # all 28 distinct values stay distinct
    # monotonic: the order of values is kept
    order = np.argsort(data, axis=None, kind="stable")
    assert (np.diff(out.ravel()[order].astype(int)) >= 0).all()


def test_signed_samples():
    dem = np.linspace(-420, 3100, 60 * 70).reshape(60, 70).astype(np.int16)
    out = render_auto(dem)
    assert (out[0, 0], out[-1, -1]) == (0, 255) and levels(out) >= 200
    full = Renderer(full_range(np.int16), np.int16)
    np.testing.assert_array_equal(
        full.render(np.array([[-32768, -1, 0, 32767]], np.int16)), [[0, 127, 128, 255]])
    # the lookup table and the arithmetic agree on every int16 value
    every = np.arange(-32768, 32768, dtype=np.int16).reshape(256, 256)
    window = Window(-1000.5, 2000)
    np.testing.assert_array_equal(Renderer(window, np.int16).render(every),
                                  Renderer._map(every.astype(np.float64), window))
    narrow = np.array([[2**31 - 256, 2**31 - 128, 2**31 - 1]], np.int32)  # beyond float32
    np.testing.assert_array_equal(
        Renderer(Window(2**31 - 256, 2**31 - 1), np.int32).render(narrow), [[0, 128, 255]])
    wide = np.array([[-2**31, 0, 2**31 - 1]], np.int32)
    np.testing.assert_array_equal(Renderer(full_range(np.int32), np.int32).render(wide),
                                  [[0, 128, 255]])


def test_float_samples_with_nan_and_infinities():
    data = np.linspace(-5.0, 20.0, 100 * 30, dtype=np.float32).reshape(30, 100)
    data[0, :5] = [np.nan, np.inf, -np.inf, np.nan, np.nan]
    window = resolve_range("auto", data.dtype, samples=[data])
    assert window.low == pytest.approx(data[0, 5]) and window.high == 20.0  # finite values only
    out = Renderer(window, data.dtype).render(data)
    assert list(out[0, :3]) == [0, 255, 0]  # NaN black, +inf white, -inf black
    assert levels(out) == 256
    assert Renderer(full_range(np.float32), np.float32).render(
        np.array([[0, 0.5, 1, 2]], np.float32)).tolist() == [[0, 128, 255, 255]]


def test_real_float_file():
    data = tifffile.imread(DATA / "10ct_32bit_128.tiff")
    assert data.dtype == np.float32 and data.min() < -3
    out = render_auto(data)
    assert (out.min(), out.max()) == (0, 255) and levels(out) >= 200


def test_smin_smax_from_the_file_win_over_the_data(tmp_path):
    path = tmp_path / "smin.tif"
    data = np.linspace(1000, 3000, 64 * 64).astype(np.uint16).reshape(64, 64)
    tifffile.imwrite(path, data, extratags=[(340, "H", 1, 0, True), (341, "H", 1, 4000, True)])
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        smin, smax = tags.valueof(340), tags.valueof(341)

    def never():
        raise AssertionError("the data is not sampled when the file has the range")
    window = resolve_range("auto", np.uint16, smin=smin, smax=smax, samples=never)
    assert window == Window(0, 4000)
    out = Renderer(window, np.uint16).render(data)
    assert (out.min(), out.max()) == (64, 191)
    assert resolve_range("auto", np.uint16, smin=(5, 0, 9), smax=(10, 99, 20)) == Window(0, 99)


def test_percentiles_ignore_hot_pixels():
    rng = np.random.default_rng(5)
    data = rng.integers(100, 900, (200, 200)).astype(np.uint16)
    data[::50, ::50] = 65535  # hot pixels
    minmax = Renderer(resolve_range("auto", np.uint16, samples=[data]), np.uint16).render(data)
    assert minmax[data < 65535].max() <= 4  # squashed by 16 outliers
    window = resolve_range("0.1%,99.9%", np.uint16, samples=[data])
    assert 100 <= window.low < 110 and 890 < window.high < 900
    assert levels(Renderer(window, np.uint16).render(data)) >= 200


def test_estimate_from_a_strided_subset_of_strips():
    strips = [np.full((16, 100), 1000 + 10 * i, np.uint16) for i in range(500)]
    read = []

    def sample():
        for index in sample_indices(len(strips), 16):
            read.append(index)
            yield strips[index]
    window = estimate_range(sample)
    assert len(read) == 16 and read[0] == 0 and read[-1] == 499  # first and last included
    assert window == Window(1000, 5990)
    assert estimate_range([np.full((3, 3), np.nan)]) is None
    assert estimate_range([np.full((3, 3), 7, np.uint16)]) == Window(7, 8)
    assert sample_indices(5, 16) == [0, 1, 2, 3, 4]


def test_sample_level_picks_a_small_pyramid_level():
    shapes = [(100000, 80000, 3), (25000, 20000, 3), (6250, 5000, 3), (1562, 1250, 3)]
    assert sample_level(shapes, max_pixels=4_000_000) == 3
    assert sample_level(shapes, max_pixels=40_000_000) == 2
    assert sample_level(shapes[:1]) is None  # level 0 is never a sample


def test_eight_bit_auto_is_unchanged():
    data = np.array([[10, 20], [30, 40]], np.uint8)
    window = resolve_range("auto", np.uint8, samples=[data])
    assert window == Window(0, 255)
    assert Renderer(window, np.uint8).render(data) is data  # no copy when nothing changes
    four_bit = resolve_range("auto", np.uint8, bits=4, samples=[np.array([3, 5], np.uint8)])
    assert four_bit == Window(0, 15)  # 1 to 8 bits are display values: their full range


def test_one_range_for_all_channels():
    rgb = np.zeros((10, 10, 3), np.uint16)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 1000, 2000, 3000
    window = resolve_range("auto", np.uint16, samples=[rgb])
    out = Renderer(window, np.uint16, colours=3).render(rgb)
    assert out[0, 0].tolist() == [0, 128, 255]


def test_output_into_a_preallocated_band():
    band = np.arange(4096, dtype=np.uint16).reshape(32, 128)
    out = np.empty((32, 128), np.uint8)
    result = Renderer(Window(0, 4095), np.uint16).render(band, out)
    assert result is out and out[-1, -1] == 255
    rgb = np.zeros((4, 5, 3), np.float32)
    out3 = np.full((4, 5, 3), 9, np.uint8)
    assert Renderer(Window(0, 1), np.float32, colours=3).render(rgb, out3) is out3
    assert (out3 == 0).all()
    with pytest.raises(ValueError, match=r"shape \(4, 5, 3\)"):
        Renderer(Window(0, 1), np.float32, colours=3).render(rgb, np.empty((4, 5), np.uint8))


def premultiplied_rgba(seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (24, 33, 4), dtype=np.uint8)
    rgba[..., 3][rgba[..., 3] < 40] = 0
    rgba[..., 3][:, :3] = 255
    rgba[..., :3] = (rgba[..., :3].astype(int) * rgba[..., 3:] // 255).astype(np.uint8)
    return rgba


def test_associated_alpha_is_unpremultiplied_as_pillow_reads_it(tmp_path):
    rgba = premultiplied_rgba()
    path = tmp_path / "assoc.tif"
    tifffile.imwrite(path, rgba, photometric="rgb", extrasamples=["assocalpha"])
    with Image.open(path) as im:
        assert im.mode == "RGBA"
        pillow = np.asarray(im)
    renderer = Renderer(Window(0, 255), np.uint8, colours=3, alpha="associated")
    out = renderer.render(rgba)
    np.testing.assert_array_equal(out, pillow[..., :3])
    assert (out >= rgba[..., :3]).all() and (out > rgba[..., :3]).any()  # lighter than dropped
    converted = np.asarray(Image.fromarray(rgba, "RGBa").convert("RGBA"))
    np.testing.assert_array_equal(out, converted[..., :3])
    np.testing.assert_array_equal(unpremultiply(rgba[..., :3], rgba[..., 3]), out)


def test_real_16_bit_associated_alpha_matches_pillow():
    with tifffile.TiffFile(DATA / "tiff_16bit_RGBa.tiff") as tif:
        page = tif.pages[0]
        data = page.asarray()
        assert page.extrasamples == (1,)  # associated
    with Image.open(DATA / "tiff_16bit_RGBa.tiff") as im:
        pillow = np.asarray(im.convert("RGBA")).astype(int)
    out = Renderer(full_range(np.uint16), np.uint16, colours=3, alpha="associated").render(data)
    dropped = Renderer(full_range(np.uint16), np.uint16, colours=3).render(data)
    # Pillow un-premultiplies the top 8 bits of colour and alpha (both truncated), so its own
    # error grows as 255 / alpha: allow twice that, plus rounding
    alpha = pillow[..., 3]
    visible = alpha > 0
    assert visible.sum() > 3000
    diff = np.abs(out.astype(int) - pillow[..., :3]).max(axis=2)
    bound = 2 * 255 // np.maximum(alpha, 1) + 2
    assert (diff[visible] <= bound[visible]).all()
    assert diff[alpha >= 128].mean() < 2  # max over channels; Pillow truncates to 8 bits
    assert np.abs(dropped.astype(int) - pillow[..., :3])[visible].max() > 50  # what dropping did


def test_background_compositing():
    rgba = np.array([[[200, 100, 0, 255], [200, 100, 0, 0], [200, 100, 0, 128]]], np.uint8)
    straight = Renderer(Window(0, 255), np.uint8, colours=3, alpha="unassociated",
                        background=parse_background("white")).render(rgba)
    expected = Image.alpha_composite(Image.new("RGBA", (3, 1), "white"),
                                     Image.fromarray(rgba, "RGBA")).convert("RGB")
    assert np.abs(straight.astype(int) - np.asarray(expected)).max() <= 1
    assert straight[0, :2].tolist() == [[200, 100, 0], [255, 255, 255]]
    # premultiplied: the same picture as its straight form composited
    premultiplied = premultiplied_rgba()
    on_grey = Renderer(Window(0, 255), np.uint8, colours=3, alpha="associated",
                       background=(128, 128, 128)).render(premultiplied)
    reference = Image.alpha_composite(Image.new("RGBA", (33, 24), (128, 128, 128)),
                                      Image.fromarray(premultiplied, "RGBa").convert("RGBA"))
    assert np.abs(on_grey.astype(int) - np.asarray(reference.convert("RGB"))).max() <= 1
    grey = Renderer(Window(0, 255), np.uint8, alpha="unassociated", background=(10, 20, 30))
    assert grey.render(np.array([[[0, 0]]], np.uint8)).tolist() == [[10]]
    # unassociated alpha without background is simply dropped
    dropped = Renderer(Window(0, 255), np.uint8, colours=3, alpha="unassociated").render(rgba)
    assert dropped.tolist() == [[[200, 100, 0]] * 3]


def test_16_bit_alpha_composited_after_the_range():
    la = np.array([[[4095, 4095], [4095, 0], [0, 4095]]], np.uint16)
    out = Renderer(Window(0, 4095), np.uint16, alpha="unassociated", alpha_bits=12,
                   background=(100, 100, 100)).render(la)
    assert out.tolist() == [[255, 100, 0]]


@pytest.mark.parametrize("value, expected", [
    (None, RangeOption("auto")), ("auto", RangeOption("auto")), ("FULL", RangeOption("full")),
    ("10,20", RangeOption("values", 10, 20)), ((-1.5, 3), RangeOption("values", -1.5, 3)),
    ("0.1%,99.9%", RangeOption("percentiles", 0.1, 99.9)),
])
def test_parse_range(value, expected):
    assert parse_range(value) == expected


@pytest.mark.parametrize("value", ["20,10", "x", (1, 2, 3), "5%,200%", "nan,1"])
def test_parse_range_refuses(value):
    with pytest.raises(ValueError, match="range"):
        parse_range(value)


def test_parse_background():
    assert parse_background("#ff8000") == (255, 128, 0)
    assert parse_background((1, 2, 3, 4)) == (1, 2, 3)
    assert parse_background(None) is None
    with pytest.raises(ValueError, match="'nocolour'"):
        parse_background("nocolour")
    with pytest.raises(ValueError, match="0 to 255"):
        parse_background((1, 2, 300))


def test_module_exports():
    assert set(render.__all__) <= set(dir(render))


@pytest.mark.parametrize("dtype, bits, low, high", [
    (np.uint16, 12, 0, 4095), (np.uint16, 16, 291, 694), (np.int16, 16, -420, 3100),
    (np.int32, 32, -70000, 90000), (np.float32, 32, -3.5, 7.25), (np.float64, 64, 1e-3, 2e-3),
])
def test_generated_files_of_every_sample_type(tmp_path, dtype, bits, low, high):
    ramp = np.linspace(low, high, 80 * 120).reshape(80, 120)
    data = ramp.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(ramp).astype(dtype)
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, data, bitspersample=bits if bits == 12 else None,
                     rowsperstrip=8, compression=None if bits == 12 else "zlib")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.dtype == np.dtype(dtype) and page.bitspersample == bits
        strips = len(page.dataoffsets)

        def sample():  # a strided subset of the strips, as a source would read them
            for index in sample_indices(strips, 4):
                yield page.asarray()[index * 8:(index + 1) * 8]
        window = resolve_range("auto", page.dtype, bits=page.bitspersample, samples=sample)
        out = Renderer(window, page.dtype).render(page.asarray())
    assert window.low == pytest.approx(data.min()) and window.high == pytest.approx(data.max())
    assert (out[0, 0], out[-1, -1]) == (0, 255)
    assert levels(out) >= 200


def test_pyramid_level_as_the_sample(tmp_path):
    rng = np.random.default_rng(7)
    base = (rng.normal(2000, 300, (512, 768))).clip(0, 4095).astype(np.uint16)
    path = tmp_path / "pyramid.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(base, subifds=2, tile=(64, 64), compression="zlib")
        tif.write(base[::2, ::2], subfiletype=1, tile=(64, 64), compression="zlib")
        tif.write(base[::4, ::4], subfiletype=1, tile=(64, 64), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        levels_ = tif.series[0].levels
        shapes = [level.shape for level in levels_]
        assert shapes == [(512, 768), (256, 384), (128, 192)]
        index = sample_level(shapes, max_pixels=128 * 192)
        assert index == 2
        window = resolve_range("auto", np.uint16, samples=lambda: [levels_[index].asarray()])
    assert window.low == base[::4, ::4].min() and window.high == base[::4, ::4].max()
    # close to the whole image's range: the sample is representative
    assert abs(window.low - base.min()) < 400 and abs(window.high - base.max()) < 400
    from pillow_streamjpeg.shrink import choose_level
    assert choose_level(shapes, 400) == (1, 1)
    assert choose_level(shapes, 100) == (2, 2)


def test_unassociated_alpha_file_against_pillow(tmp_path):
    rng = np.random.default_rng(9)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    path = tmp_path / "unassoc.tif"
    tifffile.imwrite(path, rgba, photometric="rgb", extrasamples=["unassalpha"])
    with Image.open(path) as im:
        assert im.mode == "RGBA"
        on_white = Image.alpha_composite(Image.new("RGBA", im.size, "white"), im).convert("RGB")
        straight = np.asarray(im)[..., :3]
    with tifffile.TiffFile(path) as tif:
        data = tif.pages[0].asarray()
        assert tif.pages[0].extrasamples == (2,)
    dropped = Renderer(Window(0, 255), np.uint8, colours=3, alpha="unassociated").render(data)
    np.testing.assert_array_equal(dropped, straight)
    composited = Renderer(Window(0, 255), np.uint8, colours=3, alpha="unassociated",
                          background=parse_background("white")).render(data)
    assert np.abs(composited.astype(int) - np.asarray(on_white)).max() <= 1


@pytest.mark.parametrize("range_", ["50,100", "5%,95%", "full", "auto"])
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_a_given_range_maps_8_bit_image_files_and_pil_images_as_tiffs(tmp_path, mode, range_):
    """An 8-bit TIFF, PNG and PIL image of the same pixels give the same JPEG under any
    range: a range of values or percentiles maps their colour values (an 8-bit image file
    or PIL image ignored it), alpha dropped as it is; "auto" and "full" leave them as
    they are."""
    import io

    import pillow_streamjpeg
    rng = np.random.default_rng(5)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (24, 40, channels), dtype=np.uint8)
    pixels[..., :min(channels, 3)] //= 2  # values in 0..127: a stretch shows
    if channels == 1:
        pixels = pixels[..., 0]
    extra = {"extrasamples": [2]} if mode == "RGBA" else {}
    tifffile.imwrite(tmp_path / "a.tif", pixels,
                     photometric="minisblack" if mode == "L" else "rgb", **extra)
    Image.fromarray(pixels, mode).save(tmp_path / "a.png")
    made = {}
    for name, source in (("tiff", tmp_path / "a.tif"), ("png", tmp_path / "a.png"),
                         ("pil", Image.fromarray(pixels, mode))):
        out = io.BytesIO()
        pillow_streamjpeg.encode(source, out, range=range_, quality=95)
        made[name] = out.getvalue()
    decoded = {name: np.asarray(Image.open(io.BytesIO(data))) for name, data in made.items()}
    # the same pixels coded (the headers differ: the TIFF's resolution comes as EXIF)
    assert np.array_equal(decoded["png"], decoded["tiff"])
    assert np.array_equal(decoded["pil"], decoded["tiff"])
    decoded = decoded["tiff"]
    stretched = decoded.max() > 200  # the values of 0..127 reach the top
    assert stretched == (range_ in ("50,100", "5%,95%"))


@pytest.mark.parametrize("mode", ["1", "La", "RGBa"])
def test_a_given_range_refuses_8_bit_modes_it_does_not_map(mode):
    import pillow_streamjpeg
    from pillow_streamjpeg.errors import NotSupported
    image = Image.new(mode, (8, 8))
    with pytest.raises(NotSupported, match=f"a range on images of mode {mode}"):
        pillow_streamjpeg.encode(image, __import__("io").BytesIO(),
                                 range="10,20")
    pillow_streamjpeg.encode(image, __import__("io").BytesIO(), range="full")
