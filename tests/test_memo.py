"""Saves' settings kept for the next save (pillow_streamjpeg/memo.py): the same files, and
the same errors, as parsing every save afresh."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from pillow_streamjpeg import memo, options, scan, sources, strips, tables

#: ``options.parse``'s strings kept (``memo.key_of``)
NAMES = options.SUBSAMPLING_NAMES


def _fresh(mode, size, info, image=None, channels=None):
    return options._parse(mode, size, info, image, channels)


def _save(image: Image.Image, **info) -> bytes:
    out = io.BytesIO()
    image.save(out, format="STREAMJPEG", workers=1, **info)
    return out.getvalue()


def _image(mode: str = "RGB", size: tuple[int, int] = (40, 24), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))


@pytest.mark.parametrize("info", [
    {"quality": 90}, {"quality": 75, "subsampling": 2}, {"quality": 95, "subsampling": "4:2:2"},
    {}, {"quality": 80, "optimize": True, "dpi": (72, 72)}, {"quality": 85, "comment": "a"},
    {"quality": 70, "restart_marker_rows": 1}, {"refine": 0}, {"refine": 1, "quality": 92},
])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_kept_settings_are_those_parsed_afresh(mode, info):
    """The second save with the same options takes the kept Settings object (and its
    header, frame and code tables), equal to parsing afresh; the files are the same."""
    image = _image(mode)
    channels = sources.PillowSource(image).channels  # Image.save's: RGB as RGBX rows
    first = options.parse(image.mode, image.size, info, image, channels=channels)
    again = options.parse(image.mode, image.size, dict(info), image, channels=channels)
    assert again is first
    assert again == _fresh(image.mode, image.size, info, image, channels)
    built = options.derived(first, "frame", strips.Frame.of)
    assert options.derived(again, "frame", strips.Frame.of) is built
    a, b = _save(image, **info), _save(image, **info)
    assert a == b
    # a Settings object not kept (equal, another object): computed, not taken
    copy = dataclasses.replace(first)
    assert copy == first and options.derived(copy, "frame", strips.Frame.of) is not built
    out = io.BytesIO()
    scan.write_jpeg(out, copy, scan.LocalBackend(sources.PillowSource(image)))
    assert out.getvalue() == a


def test_values_of_another_type_are_another_key():
    """True is not 1 and 90.0 is not 90 for the store: each is parsed (and refused) as it
    would be without it, after a save with the other."""
    image = _image("L")
    _save(image, quality=90)
    with pytest.raises(ValueError, match="quality must be an integer"):
        _save(image, quality=90.0)
    with pytest.raises(ValueError, match="quality must be an integer"):
        _save(image, quality=True)
    assert memo.key_of("L", (8, 8), {"optimize": True}, None, None, NAMES) != memo.key_of(
        "L", (8, 8), {"optimize": 1}, None, None, NAMES)
    with pytest.raises(ValueError, match="refine"):
        _save(image, quality=90, refine=3)


def test_unkept_values_parse_each_time():
    """Lists, arrays, NumPy numbers, "keep", Pillow's preset names (a dict its users may
    change) and large bytes or strings leave the options unkept: parsed every save."""
    given = [[2] * 64, [3] * 64]
    big = b"x" * (memo.KEPT_VALUE_BYTES + 1)
    for info in ({"qtables": given}, {"qtables": np.full((2, 64), 2)},
                 {"quality": np.int64(90)}, {"quality": "keep"}, {"quality": "web_high"},
                 {"subsampling": "web_low"}, {"qtables": "web_maximum"}, {"icc_profile": big},
                 {"comment": big.decode()}):
        assert memo.key_of("RGB", (8, 8), info, None, None, NAMES) is None
    assert memo.key_of("RGB", (8, 8), {"subsampling": "4:2:0"}, None, None, NAMES) is not None
    assert memo.key_of("RGB", (8, 8), {}, big, None, NAMES) is None  # the image's own comment
    assert memo.key_of("RGB", [8, 8], {}, None, None, NAMES) is None  # a list: parsed, as before
    assert options.parse("RGB", [8, 8], {}).width == 8
    image = _image("RGB")
    kept = options.parse("RGB", image.size, {"qtables": given}, image)
    assert options.parse("RGB", image.size, {"qtables": given}, image) is not kept
    given[0][0] = 4  # the caller's list changed between saves: the new values are used
    assert options.parse("RGB", image.size, {"qtables": given}, image).qtables[0][0] == 4


def test_kept_subsampling_names_are_the_parsers(monkeypatch):
    """Every subsampling name ``options`` parses keeps its settings, a name added to its
    table too: ``options.parse`` hands ``key_of`` its own names, not a copy (presets' names
    are not kept: ``test_unkept_values_parse_each_time``)."""
    for name in options.SUBSAMPLING_NAMES:
        info = {"subsampling": name}
        assert options.parse("RGB", (8, 8), info) is options.parse("RGB", (8, 8), info)
    info = {"subsampling": "4:4:4 alias"}
    monkeypatch.setitem(options.SUBSAMPLING_NAMES, "4:4:4 alias", 0)
    assert options.parse("RGB", (8, 8), info) is options.parse("RGB", (8, 8), info)


def test_the_image_comment_is_part_of_the_key():
    """The default comment is the image's own: two images of the same size and options
    but different comments get their own."""
    a, b = _image("L"), _image("L")
    a.info["comment"] = b"first"
    b.info["comment"] = b"second"
    assert options.parse("L", a.size, {}, a).comment == b"first"
    assert options.parse("L", b.size, {}, b).comment == b"second"
    assert b"second" in _save(b) and b"first" not in _save(b)


def test_a_patched_policy_drops_the_kept_settings(monkeypatch):
    """A test or benchmark patching the options module's functions or constants gets
    settings made with the patch, not those kept from before it."""
    image = _image("RGB", (16, 16))
    before = options.parse("RGB", image.size, {}, image)
    assert before.marked_choice or before.libjpeg_choice or before.refine
    monkeypatch.setattr(options, "INTERVAL_PIXELS", 64)
    monkeypatch.setattr(options, "marked_choice", lambda *args, **kwargs: False)
    monkeypatch.setattr(options, "auto_libjpeg", lambda *args, **kwargs: False)
    monkeypatch.setattr(options, "auto_refine", lambda *args, **kwargs: 0)
    after = options.parse("RGB", image.size, {}, image)
    assert after is not before
    assert not (after.marked_choice or after.libjpeg_choice or after.refine)
    assert after.restart_interval == after.mcus_per_row and before.restart_interval == 0
    monkeypatch.undo()
    assert options.parse("RGB", image.size, {}, image) == before
    # the tables module's functions and constants decide Settings too
    kept = options.parse("RGB", image.size, {"quality": 90}, image)
    monkeypatch.setattr(tables, "quality_tables", lambda quality: ([[1] * 64] * 2))
    assert options.parse("RGB", image.size, {"quality": 90}, image).qtables[0][5] == 1
    monkeypatch.undo()
    assert options.parse("RGB", image.size, {"quality": 90}, image) == kept


def test_the_store_keeps_the_most_recent(monkeypatch):
    """At most ``PARSED_KEPT`` option sets, the least recently used dropped with what was
    derived from them."""
    monkeypatch.setattr(memo, "PARSED_KEPT", 3)
    store = memo.Parsed(lambda: ())
    made = {q: store.get(("q", q), lambda q=q: _fresh("L", (8, 8), {"quality": q}))
            for q in (10, 20, 30)}
    store.get(("q", 10), lambda: None)  # 10 used again: 20 is the least recent
    listed = store.derived(made[20], "n", lambda s: [s.qtables])
    assert store.derived(made[20], "n", lambda s: [s.qtables]) is listed
    store.get(("q", 40), lambda: _fresh("L", (8, 8), {"quality": 40}))  # 20 dropped
    assert store.derived(made[20], "n", lambda s: [s.qtables]) is not listed
    assert store.get(("q", 20), lambda: "parsed again") == "parsed again"
    assert store.get(("q", 10), lambda: "parsed again") is made[10]


def _ramp(size: int = 160) -> Image.Image:
    y, x = np.mgrid[:size, :size]
    return Image.fromarray(((x + y) * 255 // (2 * size - 2)).astype(np.uint8))


def test_a_threads_buffers_serve_its_next_coder(monkeypatch):
    """A coder's buffers are left to the thread's next coder of the same sizes (the smooth
    choice's cache excepted, each coder's own), and the files are those of buffers made
    afresh: saves of smooth grey content at qualities whose tables differ, in turn."""
    made = []
    real = strips.Scratch.of

    def counted(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(strips.Scratch, "of", counted)
    image = _ramp()
    assert options.parse("L", image.size, {"quality": 94}).smooth_levels > 0
    saves = [(q, _save(image, quality=q)) for q in (100, 95, 100, 94, 95)]
    assert len(made) <= 1  # the first save's (or one left by an earlier test)
    coders = []
    for _ in range(2):
        settings = options.parse("L", image.size, {"quality": 100, "workers": 1}, image)
        coder = strips.StripCoder(settings)
        coders.append(coder._scratch())
        coder._leave_scratch()
    assert coders[0].samples is coders[1].samples and coders[0].out is coders[1].out
    assert coders[0].smooth is not coders[1].smooth
    monkeypatch.setattr(strips, "IDLE_SCRATCH_BYTES", -1)  # none left: each save makes its own
    strips._idle.left = None
    for q, data in saves:
        assert _save(image, quality=q) == data
    assert len(made) > 5


def test_large_buffers_are_not_left(monkeypatch):
    """Buffers above ``IDLE_SCRATCH_BYTES`` go with their coder."""
    image = _image("RGB", (64, 16))
    monkeypatch.setattr(strips, "IDLE_SCRATCH_BYTES", 1000)
    strips._idle.left = None
    _save(image, quality=90)
    assert strips._idle.left is None
    monkeypatch.setattr(strips, "IDLE_SCRATCH_BYTES", 8 << 20)
    _save(image, quality=90)
    assert strips._idle.left is not None and strips._idle.left[1].nbytes > 1000


def test_a_threads_rows_buffer_serves_its_next_read():
    """Rows read other than a strip at a time go into the thread's kept buffer, which the next
    read of the same shape takes, of another image too; an image of the same row bytes but
    another width (grey 4 times as wide as RGB) gets its own: the files are each image's."""
    from pillow_streamjpeg.sources import pillow as pillow_source

    grey = _image("L", (256, 40), seed=1)
    rgb = _image("RGB", (64, 40), seed=2)
    other = _image("RGB", (64, 40), seed=3)
    expected = {}
    for name, image in (("grey", grey), ("rgb", rgb), ("other", other)):
        pillow_source._rows_kept.__dict__.clear()
        expected[name] = _save(image, quality=90)
    kept = []
    for name, image in (("grey", grey), ("rgb", rgb), ("other", other), ("grey", grey)):
        assert _save(image, quality=90) == expected[name]
        kept.append(pillow_source._rows_kept.kept)
    assert kept[1] is not kept[0] and kept[2] is kept[1] and kept[3] is not kept[2]
    assert kept[0][1].mode == "L" and kept[1][1].mode == "RGBX"
