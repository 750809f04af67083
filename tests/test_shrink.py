"""Area-average shrink: exact against a whole-image reference, bands of any height."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pillow_streamjpeg.shrink import Shrinker, choose_level, factor_for, shrink_bands, shrunk_size


def reference(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of each factor x factor block over the pixels that exist (NaN padding), rounded half up."""
    h, w = image.shape[:2]
    oh, ow = shrunk_size(w, h, factor)[::-1]
    padded = np.full((oh * factor, ow * factor) + image.shape[2:], np.nan)
    padded[:h, :w] = image
    blocks = padded.reshape(oh, factor, ow, factor, *image.shape[2:])
    mean = np.nanmean(blocks, axis=(1, 3))
    return np.floor(mean + 0.5) if image.dtype.kind in "ui" else mean


def shrink_in_bands(image: np.ndarray, factor: int, heights: list[int]) -> np.ndarray:
    def bands():
        top, i = 0, 0
        while top < image.shape[0]:
            rows = heights[i % len(heights)]
            yield image[top:top + rows]
            top, i = top + rows, i + 1
    return np.concatenate(list(shrink_bands(bands(), image.shape[1], factor)))


@given(
    height=st.integers(1, 40), width=st.integers(1, 40), channels=st.sampled_from([0, 1, 3, 4]),
    factor=st.integers(1, 9), heights=st.lists(st.integers(1, 13), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_exact_against_whole_image_reference(height, width, channels, factor, heights, seed):
    shape = (height, width) + ((channels,) if channels else ())
    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    result = shrink_in_bands(image, factor, heights)
    expected = reference(image, factor)
    assert result.dtype == np.uint8
    assert result.shape == expected.shape
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32])
def test_other_sample_types_keep_their_type(dtype):
    rng = np.random.default_rng(3)
    image = (rng.normal(0, 3000, (31, 45, 3))).astype(dtype) if dtype != np.uint16 else \
        rng.integers(0, 65536, (31, 45, 3)).astype(dtype)
    result = shrink_in_bands(image, 4, [5, 7, 3])  # odd band heights, none a multiple of 4
    assert result.dtype == dtype
    expected = reference(image.astype(np.float64) if dtype == np.float32 else image, 4)
    if dtype == np.float32:
        np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-3)
    else:
        np.testing.assert_array_equal(result, expected)


def test_bands_are_emitted_as_soon_as_complete():
    shrinker = Shrinker(10, 4)
    assert shrinker.push(np.zeros((3, 10), np.uint8)).shape == (0, 3)
    assert shrinker.push(np.full((6, 10), 8, np.uint8)).shape == (2, 3)  # rows 0-3 and 4-7 done
    last = shrinker.finish()
    assert last.shape == (1, 3) and (last == 8).all()  # row 8 alone, averaged over 1 row
    assert shrinker.finish() is None


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least 1, not 0"):
        Shrinker(10, 0)
    with pytest.raises(ValueError, match=r"\(rows, 10"):
        Shrinker(10, 2).push(np.zeros((2, 11), np.uint8))
    with pytest.raises(ValueError, match="max_size"):
        factor_for(10, 10, 0)


@pytest.mark.parametrize("width, height, max_size, factor", [
    (70000, 1200, 65500, 2), (65500, 100, 65500, 1), (100000, 80000, 2048, 49),
    (2048, 2049, 2048, 2), (1, 1, 1, 1),
])
def test_factor_for(width, height, max_size, factor):
    assert factor_for(width, height, max_size) == factor
    w, h = shrunk_size(width, height, factor)
    assert w <= max_size and h <= max_size
    if factor > 1:  # the smallest such factor
        w, h = shrunk_size(width, height, factor - 1)
        assert w > max_size or h > max_size


def test_choose_level():
    levels = [(80000, 100000), (20000, 25000), (5000, 6250), (1250, 1562)]  # (height, width)
    assert choose_level(levels, 65500) == (1, 1)  # the largest level that fits
    assert choose_level(levels, 7000) == (2, 1)
    assert choose_level(levels, 1000) == (3, 2)  # none fits: the smallest one, shrunk
    assert choose_level(levels[:1], 65500) == (0, 2)


def test_memory_does_not_grow_with_the_height():
    import tracemalloc
    band = np.random.default_rng(0).integers(0, 256, (16, 3001, 3), dtype=np.uint8)  # 144 kB
    shrinker = Shrinker(3001, 7)
    tracemalloc.start()
    try:
        rows = 0
        for _ in range(400):  # 6400 rows, 58 MB of input
            rows += len(shrinker.push(band))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == 6400 // 7
    assert peak < 3_000_000  # a few band-sized temporaries, whatever the height
