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
    """Pillow images are read a strip or two at a time; grouping changes no byte."""
    monkeypatch.setattr(scan, "TASK_PIXELS", 157 * 8 * 3)  # 3 strips a task, 9 tasks
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (203, 157, 3), dtype=np.uint8)
    expected = io.BytesIO()
    pillow_streamjpeg.encode(np.ascontiguousarray(pixels), expected, workers=1)
    for band_bytes in (1, 157 * 4 * 8 * 3, 1 << 30):
        monkeypatch.setattr(pillow_source, "PILLOW_BAND_BYTES", band_bytes)
        for workers in (1, 2, 3):
            out = io.BytesIO()
            Image.fromarray(pixels).save(out, format="STREAMJPEG", workers=workers)
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
