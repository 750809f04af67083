"""Restart intervals of any length in MCUs, or none, side by side with Pillow (issue 14).

Strips inside an interval continue one another's DC prediction and are joined
at bit level; only interval ends are padded and followed by RSTn. Checked: the
DRI value and the scan's marker sequence against Pillow's, strict validity
(djpeg -strict, jpeginfo -c, ffmpeg), decoded pixels equal to those of the
default (one row per interval) file, the same bytes for 1, 2 and 5 workers.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
from PIL import Image

from jpegtools import assert_strictly_valid, djpeg_decode, parse_segments, striped_photo
from pillow_streamjpeg import options, scan

DRI = 0xDD


def save(image: Image.Image, fmt: str = "STREAMJPEG", **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    return striped_photo(width, height, seed, noise=12.0)


def dri_and_markers(data: bytes) -> tuple[int, list[int]]:
    """The DRI value (0 without DRI) and the scan's RSTn markers, in order."""
    segments, scan_markers, _ = parse_segments(data)
    dri = next((int.from_bytes(s.payload, "big") for s in segments if s.marker == DRI), 0)
    return dri, scan_markers


def assert_ffmpeg_decodes(data: bytes) -> None:
    if shutil.which("ffmpeg") is None:
        return
    with tempfile.NamedTemporaryFile(suffix=".jpg") as handle:
        handle.write(data)
        handle.flush()
        run = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", handle.name, "-f", "null",
                              "-"], capture_output=True, text=True)
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr


SAMPLINGS = [("RGB", 0), ("RGB", 1), ("RGB", 2), ("L", 0)]
# widths in MCUs at 4:4:4 / 4:2:x: 4/2, 13/7, 5/3 (multiples and not of the intervals)
SIZES = [(32, 32), (100, 40), (37, 45)]


def whole_rows(mcus: int) -> list[dict[str, int]]:
    """Intervals of whole MCU rows, dividing a row, and none."""
    divisors = [d for d in range(1, mcus) if mcus % d == 0]
    return [{"restart_marker_blocks": d} for d in divisors[:1] + divisors[-1:]] + [
            {"restart_marker_rows": 1}, {"restart_marker_rows": 2}, {"restart_marker_rows": 3},
            {"restart_marker_blocks": 2 * mcus}, {"restart_marker_rows": 100},
            {"restart_marker_blocks": 0, "restart_marker_rows": 0}, {"restart_marker_rows": 0}]


def crossing(mcus: int) -> list[dict[str, int]]:
    """Intervals that cross a row boundary without ending on one (``mcus`` MCUs a row)."""
    return [{"restart_marker_blocks": b}
            for b in sorted({3, 5, 6, 7, mcus + 1, 2 * mcus - 1, 3 * mcus + 2})
            if b % mcus and mcus % b]


@pytest.mark.parametrize("intervals", [whole_rows, crossing])
@pytest.mark.parametrize("mode, subsampling", SAMPLINGS)
@pytest.mark.parametrize("size", SIZES)
def test_intervals_as_pillow(intervals, mode, subsampling, size) -> None:
    """Intervals of whole rows, dividing a row, none, and crossing rows without ending on
    them, at every sampling, on widths that are and are not multiples of them: Pillow's DRI
    and markers, valid, the default file's pixels, the same bytes for 1, 2, 5 workers."""
    image = photo(*size).convert(mode)
    mcus = options.parse(mode, size, {"subsampling": subsampling}).mcus_per_row
    pixels = djpeg_decode(save(image, subsampling=subsampling))
    for restart in intervals(mcus):
        ours = [save(image, subsampling=subsampling, workers=n, **restart) for n in (1, 2, 5)]
        assert ours[0] == ours[1] == ours[2], restart
        theirs = save(image, "JPEG", subsampling=subsampling, **restart)
        assert dri_and_markers(ours[0]) == dri_and_markers(theirs), restart
        assert_strictly_valid(ours[0])
        assert_ffmpeg_decodes(ours[0])
        assert np.array_equal(djpeg_decode(ours[0]), pixels), restart


def test_issue_counts_at_32x32() -> None:
    """Pillow's counts on a 32x32 image at 4:4:4: 15 RST for blocks=1, 3 for rows=1, 1 for
    rows=2 and blocks=8, none for 0/0."""
    image = photo(32, 32)
    for restart, count, dri_value in (
        ({"restart_marker_blocks": 1}, 15, 1), ({"restart_marker_blocks": 2}, 7, 2),
        ({"restart_marker_rows": 1}, 3, 4), ({"restart_marker_rows": 2}, 1, 8),
        ({"restart_marker_blocks": 8}, 1, 8), ({"restart_marker_rows": 4}, 0, 16),
        ({"restart_marker_blocks": 0, "restart_marker_rows": 0}, 0, 0),
    ):
        dri, found = dri_and_markers(save(image, subsampling=0, **restart))
        assert len(found) == count and dri == dri_value
        assert found == [0xD0 + i % 8 for i in range(count)]


@pytest.mark.parametrize("mode, subsampling, rows, task_strips", [
    ("RGB", 2, 4, None), ("L", 0, 7, None), ("RGB", 0, 3, None),  # tasks of whole intervals
    ("RGB", 2, 4, 3), ("L", 0, 7, 2), ("RGB", 1, 3, 1),  # tasks of parts of intervals
])
def test_intervals_across_tasks(monkeypatch, mode, subsampling, rows, task_strips) -> None:
    """An image of many tasks (scan.TASK_PIXELS): intervals longer than a strip, RST cycling."""
    image = photo(700, 600, seed=3).convert(mode)
    if task_strips:
        height = 16 if subsampling == 2 else 8
        monkeypatch.setattr(scan, "TASK_PIXELS", 700 * height * task_strips)
    ours = [save(image, subsampling=subsampling, workers=n, restart_marker_rows=rows)
            for n in (1, 2, 5)]
    assert ours[0] == ours[1] == ours[2]
    theirs = save(image, "JPEG", subsampling=subsampling, restart_marker_rows=rows)
    assert dri_and_markers(ours[0]) == dri_and_markers(theirs)
    assert len(dri_and_markers(ours[0])[1]) > 8  # marker numbers wrap
    assert_strictly_valid(ours[0])
    assert np.array_equal(djpeg_decode(ours[0]), djpeg_decode(save(image, subsampling=subsampling)))


@pytest.mark.parametrize("mode, subsampling, task_strips", [
    ("RGB", 0, None), ("RGB", 2, 3), ("L", 0, 1), ("RGB", 1, 2), ("RGB", 0, 5),
])
def test_no_restart_markers_in_parallel(monkeypatch, mode, subsampling, task_strips) -> None:
    """0/0: no DRI, no RSTn; strips joined at bit level across tasks."""
    image = photo(333, 250, seed=5).convert(mode)
    if task_strips:
        height = 16 if subsampling == 2 else 8
        monkeypatch.setattr(scan, "TASK_PIXELS", 333 * height * task_strips)
    none = {"restart_marker_blocks": 0, "restart_marker_rows": 0}
    ours = [save(image, subsampling=subsampling, workers=n, **none) for n in (1, 2, 5)]
    assert ours[0] == ours[1] == ours[2]
    assert dri_and_markers(ours[0]) == (0, [])
    assert dri_and_markers(save(image, "JPEG", subsampling=subsampling, **none)) == (0, [])
    assert_strictly_valid(ours[0])
    assert_ffmpeg_decodes(ours[0])
    assert np.array_equal(djpeg_decode(ours[0]), djpeg_decode(save(image, subsampling=subsampling)))


def test_issue_count_for_three_blocks_at_32x32() -> None:
    """The issue's example: blocks=3 on a 32x32 image at 4:4:4 (4 MCUs a row), 5 RSTn."""
    dri, found = dri_and_markers(save(photo(32, 32), subsampling=0, restart_marker_blocks=3))
    assert dri == 3 and found == [0xD0 + i for i in range(5)]


@pytest.mark.parametrize("mode, subsampling, blocks, task_strips", [
    ("RGB", 0, 3, 1), ("RGB", 0, 7, 2), ("RGB", 2, 5, 1), ("RGB", 1, 17, 3), ("L", 0, 100, 2),
    ("RGB", 2, 61, 1), ("RGB", 0, 88, 3), ("L", 0, 65535, 2),
])
def test_crossing_intervals_across_tasks(monkeypatch, mode, subsampling, blocks,
                                         task_strips) -> None:
    """Tasks that start inside an interval whose end falls inside one of their strips, or
    beyond them (350 px: 44 MCUs a row at 4:4:4, 22 at 4:2:x): the same bytes as one task."""
    image = photo(350, 200, seed=11).convert(mode)
    restart = {"restart_marker_blocks": blocks}
    whole = save(image, subsampling=subsampling, workers=1, **restart)
    height = 16 if subsampling == 2 else 8
    monkeypatch.setattr(scan, "TASK_PIXELS", 350 * height * task_strips)
    ours = [save(image, subsampling=subsampling, workers=n, **restart) for n in (1, 2, 5)]
    assert ours[0] == ours[1] == ours[2] == whole
    theirs = save(image, "JPEG", subsampling=subsampling, **restart)
    assert dri_and_markers(ours[0]) == dri_and_markers(theirs)
    assert_strictly_valid(ours[0])
    assert_ffmpeg_decodes(ours[0])
    assert np.array_equal(djpeg_decode(ours[0]),
                          djpeg_decode(save(image, subsampling=subsampling)))


@pytest.mark.parametrize("restart", [{"restart_marker_blocks": 1}, {"restart_marker_blocks": 11}])
def test_intervals_inside_strips_across_tasks(monkeypatch, restart) -> None:
    """Restarts inside strips (350 px at 4:2:0: 22 MCUs a row), marker numbers across strips."""
    image = photo(350, 200, seed=9)
    monkeypatch.setattr(scan, "TASK_PIXELS", 350 * 16 * 2)
    ours = [save(image, subsampling=2, workers=n, **restart) for n in (1, 2, 5)]
    assert ours[0] == ours[1] == ours[2]
    theirs = save(image, "JPEG", subsampling=2, **restart)
    assert dri_and_markers(ours[0]) == dri_and_markers(theirs)
    assert_strictly_valid(ours[0])
    assert_ffmpeg_decodes(ours[0])
    assert np.array_equal(djpeg_decode(ours[0]), djpeg_decode(save(image, subsampling=2)))


@pytest.mark.parametrize("restart", [{"restart_marker_blocks": 0, "restart_marker_rows": 0},
                                     {"restart_marker_rows": 5}, {"restart_marker_blocks": 31}])
def test_optimize_with_parts_of_intervals(monkeypatch, restart) -> None:
    image = photo(333, 250, seed=7)
    monkeypatch.setattr(scan, "TASK_PIXELS", 333 * 8 * 2)
    ours = [save(image, subsampling=0, optimize=True, workers=n, **restart) for n in (1, 2, 5)]
    assert ours[0] == ours[1] == ours[2]
    assert_strictly_valid(ours[0])
    assert np.array_equal(djpeg_decode(ours[0]), djpeg_decode(save(image, subsampling=0)))
