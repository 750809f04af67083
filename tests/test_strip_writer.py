"""The scan writer's tasks: strips grouped across bands, every strip once, in order."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg
from pillow_streamjpeg import options, scan
from pillow_streamjpeg.sources import pillow as pillow_source


def test_tasks_take_strips_across_bands_and_split_large_bands(monkeypatch) -> None:
    monkeypatch.setattr(scan, "TASK_PIXELS", 40 * 8 * 5)  # 5 strips a task
    heights = (8, 56, 16, 72, 3)  # 1, 7, 2, 9 and 1 strips
    settings = options.parse("L", (40, sum(heights)), {})
    bands = [np.full((h, 40), i, np.uint8) for i, h in enumerate(heights)]
    tasks = list(scan._tasks(bands, settings, 40))
    sizes = [sum(count for *_, count in task) for task in tasks]
    assert sizes == [5, 5, 5, 5]
    covered = []
    for task in tasks:
        for band, row, first, count in task:
            for k in range(count):
                strip = first + k
                covered.append(strip)
                # the piece's rows are the image's rows of that strip
                image_row = 8 * strip
                band_index = next(i for i, b in enumerate(bands) if b is band)
                assert image_row == sum(heights[:band_index]) + row + 8 * k
    assert covered == list(range(settings.strip_count))


def test_one_strip_bands_give_the_same_file(monkeypatch) -> None:
    """Bands of a strip or two (a Pillow image's read_bands), grouped into tasks, or the
    image's rows read by the encoding threads themselves: no byte changes."""
    monkeypatch.setattr(scan, "TASK_PIXELS", 157 * 8 * 3)  # 3 strips a task, 9 tasks
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (203, 157, 3), dtype=np.uint8)
    expected = io.BytesIO()
    pillow_streamjpeg.encode(np.ascontiguousarray(pixels), expected, workers=1)
    image = Image.fromarray(pixels)
    for workers in (1, 2, 3):
        out = io.BytesIO()
        image.save(out, format="STREAMJPEG", workers=workers)
        assert out.getvalue() == expected.getvalue()
    for band_bytes in (1, 157 * 4 * 8 * 3, 1 << 30):
        monkeypatch.setattr(pillow_source, "PILLOW_BAND_BYTES", band_bytes)
        bands = list(pillow_source.PillowSource(image).read_bands(8))
        assert len(bands) == {1: 26, 157 * 4 * 8 * 3: 9, 1 << 30: 1}[band_bytes]
        for workers in (1, 2, 3):
            out = io.BytesIO()
            pillow_streamjpeg.encode(bands, out, size=image.size, channels=4, workers=workers)
            assert out.getvalue() == expected.getvalue()


def test_workers_default_follows_cpu_affinity(monkeypatch) -> None:
    """Without ``workers``, one thread per CPU the process may run on, not per CPU of the machine."""
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this system")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert options.parse("RGB", (16, 16), {}, channels=4).workers == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5})
    assert options.parse("RGB", (16, 16), {}, channels=4).workers == 3


def _counted_strips(monkeypatch, height: int) -> list[int]:
    """Rows (in the band) of the strips the optimize pass counts for a 16-pixel-wide grey image,
    were it too large to read its symbols back (tests/test_optimize_tables.py)."""
    from pillow_streamjpeg import scan, strips

    monkeypatch.setattr(scan, "READ_BACK_PIXELS", 0)
    counted = []
    real = strips.count_strip

    def spy(kernels, band, row0, nrows, *args, **kwargs):
        counted.append(row0)
        return real(kernels, band, row0, nrows, *args, **kwargs)

    monkeypatch.setattr(strips, "count_strip", spy)
    image = Image.new("L", (16, height))
    image.save(io.BytesIO(), format="STREAMJPEG", optimize=True, workers=1)
    return counted


def test_optimize_counts_every_strip_of_small_images(monkeypatch) -> None:
    from pillow_streamjpeg import strips

    height = strips.COUNT_ALL_UP_TO * 8
    assert _counted_strips(monkeypatch, height) == list(range(0, height, 8))


def test_optimize_counts_one_strip_in_eight_of_large_images(monkeypatch) -> None:
    from pillow_streamjpeg import strips

    strips_in_image = strips.COUNT_ALL_UP_TO + 40
    counted = _counted_strips(monkeypatch, strips_in_image * 8)
    assert counted == list(range(0, strips_in_image * 8, 8 * strips.COUNT_EVERY))


def test_optimize_codes_symbols_its_sample_did_not_see() -> None:
    """Flat sampled strips, noise everywhere else: every symbol still has a code (strict decoders agree)."""
    from jpegtools import assert_strictly_valid, djpeg_decode, psnr, require_tools

    from pillow_streamjpeg import strips

    require_tools("djpeg", "jpeginfo")
    count = strips.COUNT_ALL_UP_TO + 16
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (count * 8, 64, 3), dtype=np.uint8)
    pixels[::8 * strips.COUNT_EVERY] = 128  # the first row of every counted strip...
    for start in range(0, count * 8, 8 * strips.COUNT_EVERY):
        pixels[start:start + 8] = 128  # ...and the whole strip: flat
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="STREAMJPEG", optimize=True, quality=95)
    data = out.getvalue()
    assert_strictly_valid(data)
    assert psnr(djpeg_decode(data), pixels) > 35


def test_optimize_sample_costs_little_size(photos, monkeypatch) -> None:
    """Tables from one strip in eight are within 0.3 % of fully counted ones on photographs."""
    from pillow_streamjpeg import strips

    tall = np.concatenate([photos["astronaut"], photos["coffee"][:, :512]], axis=0)  # 912 rows
    image = Image.fromarray(np.ascontiguousarray(tall))

    def size() -> int:
        out = io.BytesIO()
        image.save(out, format="STREAMJPEG", optimize=True)
        return out.tell()

    sampled = size()
    monkeypatch.setattr(strips, "COUNT_EVERY", 1)
    full = size()
    assert strips.count_every(114) == 1
    assert abs(sampled - full) <= full * 0.003


def test_kernel_tables_are_built_once_and_shared_read_only() -> None:
    """A second save with the same tables reuses the first one's kernel tables (read-only,
    equal to tables built afresh); other tables (optimize, another quality) get their own."""
    from pillow_streamjpeg import strips, tables

    first = options.parse("RGB", (64, 48), {"quality": 83})
    again = options.parse("RGB", (64, 48), {"quality": 83})
    other = options.parse("RGB", (64, 48), {"quality": 84})
    a, b, c = (strips.StripCoder(s) for s in (first, again, other))
    assert a.codes.pairs is b.codes.pairs and a.frame.recip is b.frame.recip
    assert first.joint_rounding and a.frame.joint is b.frame.joint  # RGB 4:4:4 at q83
    assert a.codes.huff is c.codes.huff  # same Huffman tables (Annex K) at every quality
    assert a.frame.recip is not c.frame.recip
    assert not np.array_equal(a.frame.recip, c.frame.recip)
    for array in (a.codes.huff, a.codes.pairs, a.frame.recip, a.frame.joint):
        assert not array.flags.writeable
    # the kernels ignore numpy's read-only flag: after saves with them (1 and 2 workers,
    # 4:4:4 and 4:2:0) the shared tables must still be the ones built afresh
    rgb = Image.fromarray(np.random.default_rng(5).integers(0, 256, (48, 64, 3), np.uint8))
    for workers in (1, 2):
        for subsampling in (0, 2):
            rgb.save(io.BytesIO(), format="STREAMJPEG", quality=83, subsampling=subsampling,
                     workers=workers)
    huff = tables.kernel_code_table([first.huffman[i] for i in first.huffman_ids])
    np.testing.assert_array_equal(a.codes.huff, huff)
    np.testing.assert_array_equal(a.codes.pairs, tables.kernel_pair_table(huff))
    np.testing.assert_array_equal(a.frame.recip,
                                  tables.kernel_reciprocals(first.qtables) * np.float32(32))
    np.testing.assert_array_equal(a.frame.joint, tables.joint_weights(
        first.qtables[0], first.qtables[1], first.qtables[1], rate=strips.JOINT_RATE))
    # tables given as lists (not hashable) find the same entry
    listed = strips.Codes.of([[list(map(list, spec)) for spec in pair] for pair in first.huffman],
                             first.huffman_ids)
    assert listed.pairs is a.codes.pairs


def test_one_task_is_coded_without_a_thread_pool(monkeypatch) -> None:
    """An image of one task is coded on the calling thread whatever ``workers`` says (a pool
    would only add its start-up); with more tasks the pool runs; the bytes are the same."""
    started = []

    class Pool(scan.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs) -> None:
            started.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(scan, "ThreadPoolExecutor", Pool)
    rng = np.random.default_rng(7)
    image = Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8))
    assert 64 * 48 <= scan.TASK_PIXELS
    one = io.BytesIO()
    image.save(one, format="STREAMJPEG", workers=4)
    assert started == []
    single = io.BytesIO()
    image.save(single, format="STREAMJPEG", workers=1)
    assert one.getvalue() == single.getvalue()
    monkeypatch.setattr(scan, "TASK_PIXELS", 48 * 8 * 2)  # 2 strips a task, 4 tasks
    several = io.BytesIO()
    image.save(several, format="STREAMJPEG", workers=4)
    assert len(started) == 1 and several.getvalue() == single.getvalue()
