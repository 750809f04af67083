"""Strips coded many to a kernel call (``kernels.encode_strips``, ``strips.StripCoder``'s runs).

A run's bytes are those of its strips coded one call each, with the DC predictors and bits
carried between them and each strip that ends a restart interval padded and followed by its
RSTn; the compiled builds give the plain-Python source's; whole saves are the same bytes with
runs as with one strip a call (``strips.RUN_BYTES`` patched to 0), restarts, workers, the
default's marked choice and ``optimize`` included.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import transpiled
from pillow_streamjpeg import engine, markers, strips, tables
from pillow_streamjpeg.strips import Codes, Scratch, encode_strip, encode_strips

sys.path.insert(0, str(Path(__file__).parent / "lib"))
from generated import content  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:overflow encountered in scalar multiply:RuntimeWarning")

GROUP = 2  # MCUs per kernel group: small, so that strips span several groups

LAYOUTS = [
    # channels, ncomp, convert, hs, vs
    (1, 1, 0, 1, 1),
    (4, 3, 1, 1, 1),
    (3, 3, 1, 2, 1),
    (4, 3, 2, 2, 2),
]


def one_call_each(kernels, band, nrows, args, codes, interval, pad, pred, carry, mcu0=0):
    """The bytes of ``band``'s strips coded one ``encode_strip`` call each, as ``StripCoder``
    codes them: the predictors and bits reset where a strip starts an interval, a strip that
    ends one padded and followed by its RSTn (not the last strip: ``pad`` is its)."""
    height = 8 * args.vs
    per_row = -(-args.width // (8 * args.hs))
    count = -(-nrows // height)
    scratch = Scratch.of(kernels, args, GROUP)
    data = []
    for s in range(count):
        first = mcu0 + s * per_row
        if s > 0 and interval and first % interval == 0:
            pred[:] = 0
            carry[:] = 0
        ends = bool(interval) and (first + per_row) % interval == 0
        last = s == count - 1
        n = encode_strip(kernels, band, s * height, min(height, nrows - s * height), args, codes,
                         scratch, GROUP, pred, carry, pad if last else ends, first, interval)
        data.append(bytes(scratch.out[:n]))
        if ends and not last:
            data.append(markers.rst((first + per_row) // interval - 1))
    return b"".join(data)


def one_call(kernels, band, nrows, args, codes, interval, pad, pred, carry, mcu0=0,
             marks=strips.NO_MARKS):
    height = 8 * args.vs
    scratch = Scratch.of(kernels, args, GROUP, strips=-(-nrows // height))
    n, done = encode_strips(kernels, band, 0, nrows, args, codes, scratch, pred, carry, pad, mcu0,
                            interval, marks, GROUP)
    return bytes(scratch.out[:n]), done


def _case(layout, width, nrows, quality, seed):
    channels, ncomp, convert, hs, vs = layout
    rng = np.random.default_rng(seed)
    band = rng.integers(0, 256, (nrows, width * channels), dtype=np.uint8)
    args = transpiled.frame(width, channels, ncomp, convert, hs, vs, quality)
    return band, args, Codes.of(tables.STD_HUFFMAN[:len(args.recip) // 64])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("interval_mcus", [0, 1, 3, "row", "2 rows", 5])
@pytest.mark.parametrize("pad", [True, False])
def test_a_run_codes_as_one_call_a_strip(layout, interval_mcus, pad) -> None:
    """Restarts inside strips (1, 3, 5 MCUs), at their ends (a row, two rows), none; the last
    strip partial; predictors and a few bits carried in; what the run leaves them as."""
    width, nrows = 37, 8 * layout[4] * 4 - 3
    band, args, codes = _case(layout, width, nrows, 75, 1)
    per_row = -(-width // (8 * args.hs))
    interval = {"row": per_row, "2 rows": 2 * per_row}.get(interval_mcus, interval_mcus)
    kernels = engine.kernels
    start_pred, start_carry = np.array([5, -7, 3, 0], np.int64), np.array([3, 5], np.uint64)
    pred, carry = start_pred.copy(), start_carry.copy()
    expected = one_call_each(kernels, band, nrows, args, codes, interval, pad, pred, carry)
    pred2, carry2 = start_pred.copy(), start_carry.copy()
    data, done = one_call(kernels, band, nrows, args, codes, interval, pad, pred2, carry2)
    assert done == 4
    assert data == expected
    assert pred2.tolist() == pred.tolist() and carry2.tolist() == carry.tolist()
    if interval and interval_mcus != "2 rows":
        assert data.count(b"\xff\xd0") + data.count(b"\xff\xd1") >= 1


@pytest.mark.parametrize("layout", LAYOUTS)
def test_compiled_runs_code_as_the_python_source(layout) -> None:
    width, nrows = 21, 8 * layout[4] * 3 - 1
    band, args, codes = _case(layout, width, nrows, 90, 2)
    per_row = -(-width // (8 * args.hs))
    reference = transpiled.source("kernels")
    results = []
    for kernels in {*engine.builds().values(), reference}:
        pred, carry = np.array([1, 2, 3, 0], np.int64), np.array([2, 1], np.uint64)
        data, done = one_call(kernels, band, nrows, args, codes, per_row + 1, False, pred, carry,
                              mcu0=per_row - 1)
        results.append((data, done, pred.tolist(), carry.tolist()))
    assert all(result == results[0] for result in results)


def test_a_run_stops_before_a_strip_with_a_marked_mcu() -> None:
    """Strips 0 and 1 noise, strip 2 a horizontal ramp (marked; strip 3 too): the bytes of
    strips 0 and 1, their bits short of a byte left in carry (not padded), done 2, the marks
    those of strip 2."""
    band, args, codes = _case(LAYOUTS[0], 32, 32, 75, 3)
    band[16:] = np.arange(32, dtype=np.uint8) * 7
    kernels = engine.kernels
    marks = np.full(4, 9, np.uint8)
    pred, carry = np.zeros(4, np.int64), np.zeros(2, np.uint64)
    data, done = one_call(kernels, band, 32, args, codes, 0, True, pred, carry, marks=marks)
    assert done == 2
    pred2, carry2 = np.zeros(4, np.int64), np.zeros(2, np.uint64)
    expected = one_call_each(kernels, band, 16, args, codes, 0, False, pred2, carry2)
    assert data == expected
    assert carry.tolist() == carry2.tolist() and pred.tolist() == pred2.tolist()
    found = np.empty(4, np.uint8)
    assert kernels.choice_marks(band.reshape(-1), band.shape[1], 16, 1, 32, 8, 1, 1, found)
    assert marks.tolist() == found.tolist() and marks.any()


def _strip_coefs(kernels, band, s, args, scratch, interval=0):
    """The kernels' quantized coefficients of strip s (``strip_coefs``; no subsampling):
    a function of (m, c, k) giving the coefficient k (natural order) of component c's block
    of MCU m, and the array with its layout's MCUs (``strip_group``)."""
    per_row = -(-args.width // 8)
    mcus = kernels.strip_coefs(band.reshape(-1), band.shape[1], 8 * s, 8, *args, *scratch[:3],
                               GROUP, scratch.strip_samples, scratch.strip_coefs, s * per_row,
                               interval)
    lay = kernels.strip_group(mcus, args.ncomp)
    coefs = scratch.strip_coefs
    return lambda m, c=0, k=0: int(coefs[k * lay * args.ncomp + c * lay + m]), coefs, lay


def _planned_strip(kernels, band, s, args, codes, scratch, pred, carry, pad, changes,
                   interval=0):
    """Strip s coded on the two-step path with coefficients changed: changes[(m, c)] a list
    of (natural index, value)."""
    per_row = -(-args.width // 8)
    _, coefs, lay = _strip_coefs(kernels, band, s, args, scratch, interval)
    nb = lay * args.ncomp
    for (m, c), items in changes.items():
        for k, v in items:
            coefs[k * nb + c * lay + m] = v
    return kernels.code_coefs(coefs, args.width, args.ncomp, args.hs, args.vs, args.comp_table,
                              *codes, scratch.words, scratch.out, GROUP, pred, carry, int(pad),
                              s * per_row, interval)


def _plan(records) -> np.ndarray:
    """A plan for ``kernels.encode_strips`` (``smooth.smooth_plan``'s layout): records
    (strip, MCU, component, DC, [(natural index, value), ...])."""
    items = [0]
    for s, m, c, dc, writes in records:
        items += [s, m, c, dc, len(writes)] + [256 * v + k for k, v in writes]
    items[0] = len(items)
    return np.array(items, np.int32)


@pytest.mark.parametrize("layout", LAYOUTS[:2])
@pytest.mark.parametrize("interval", [0, 3])
def test_a_planned_run_codes_the_plans_coefficients(layout, interval) -> None:
    """A plan's records (a DC and AC values, zeros and non-zeros, written where its DC
    holds; a record only checking the DC) coded as the two-step path codes those
    coefficients, by the builds and the plain-Python source; then a record whose DC does not
    hold in strip 2 (after a restart inside it, at interval 3): the call stops before strip
    2, its bits and predictors as after strip 1, done 2."""
    width = 37
    band, args, codes = _case(layout, width, 24, 95, 4)
    band[8:16] = (np.arange(width * layout[0]) // layout[0] * 3 % 256).astype(np.uint8)
    last = args.ncomp - 1
    reference = transpiled.source("kernels")
    results = []
    for kernels in {*engine.builds().values(), reference}:
        scratch = Scratch.of(kernels, args, GROUP, strips=3)
        scratch.two_step(kernels, args)
        dc, _, _ = _strip_coefs(kernels, band, 1, args, scratch, interval)
        changes = {(1, 0): [(0, dc(1) + 3), (9, 5), (1, 0)], (3, last): [(63, -2)]}
        records = [(1, 1, 0, dc(1), changes[1, 0]), (1, 3, last, dc(3, last), changes[3, last]),
                   (1, 4, 0, dc(4), [])]
        # the two-step path, strip by strip: strip 0, strip 1 with the changes, strip 2
        pred, carry = np.zeros(4, np.int64), np.zeros(2, np.uint64)
        expected = [bytes(scratch.out[:encode_strip(kernels, band, 0, 8, args, codes, scratch,
                                                    GROUP, pred, carry, False, 0, interval)])]
        n = _planned_strip(kernels, band, 1, args, codes, scratch, pred, carry, False, changes,
                           interval)
        expected.append(bytes(scratch.out[:n]))
        after_strip_1 = pred.tolist(), carry.tolist()
        expected.append(bytes(scratch.out[:encode_strip(kernels, band, 16, 8, args, codes,
                                                        scratch, GROUP, pred, carry, True,
                                                        10, interval)]))
        pred2, carry2 = np.zeros(4, np.int64), np.zeros(2, np.uint64)
        n, done = encode_strips(kernels, band, 0, 24, args, codes, scratch, pred2, carry2, True,
                                0, interval, group=GROUP, plan=_plan(records))
        assert done == 3 and bytes(scratch.out[:n]) == b"".join(expected)
        assert pred2.tolist() == pred.tolist() and carry2.tolist() == carry.tolist()
        results.append(bytes(scratch.out[:n]))
        # strip 2: a record that holds (MCU 0), then one whose DC does not (MCU 4, after a
        # restart inside the strip at interval 3): stopped before strip 2, as after strip 1
        dc2, _, _ = _strip_coefs(kernels, band, 2, args, scratch, interval)
        plan = _plan(records + [(2, 0, 0, dc2(0), [(0, dc2(0) - 5), (8, 7)]),
                                (2, 4, 0, dc2(4) + 1, [])])
        pred3, carry3 = np.zeros(4, np.int64), np.zeros(2, np.uint64)
        n, done = encode_strips(kernels, band, 0, 24, args, codes, scratch, pred3, carry3, True,
                                0, interval, group=GROUP, plan=plan)
        assert done == 2, done
        assert bytes(scratch.out[:n]) == b"".join(expected[:2])
        assert (pred3.tolist(), carry3.tolist()) == after_strip_1
        results.append(bytes(scratch.out[:n]))
    assert all(result == results[i % 2] for i, result in enumerate(results))


def _save(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format="STREAMJPEG", **options)
    return out.getvalue()


def _images() -> list[tuple[str, Image.Image, int]]:
    from skimage import data

    astronaut = Image.fromarray(data.astronaut())
    return [("grey photo 120 x 100", astronaut.crop((200, 60, 320, 160)).convert("L"), 0),
            ("photo 256 x 256 4:2:0", astronaut.crop((100, 100, 356, 356)), 2),
            ("photo 77 x 61 4:2:2", astronaut.crop((0, 0, 77, 61)), 1),
            ("photo 90 x 70 4:4:4", astronaut.crop((300, 300, 390, 370)), 0),
            ("checker 64 x 64 L", Image.fromarray(content("checker", 64, 64, "L")), 0),
            ("vertical ramp 128 x 96 4:2:0", Image.fromarray(content("vramp", 128, 96, "RGB")), 2),
            ("horizontal ramp with a photo 128 x 128",
             Image.fromarray(np.vstack([content("hramp", 128, 64, "RGB"),
                                        np.asarray(astronaut.crop((0, 200, 128, 264)))])), 0)]


OPTIONS = [{}, {"quality": 75}, {"quality": 90, "restart_marker_rows": 1},
           {"quality": 90, "restart_marker_rows": 3, "workers": 2},
           {"quality": 80, "restart_marker_blocks": 5, "workers": 2},
           {"quality": 95, "optimize": True}, {"refine": 0, "quality": 60}]


@pytest.mark.parametrize("options", OPTIONS,
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_saves_are_the_same_bytes_with_runs(monkeypatch, options: dict) -> None:
    """Each image saved with runs (all its strips in one, or, with marked MCUs, around them) and
    with one strip a call: the same bytes; the runs were taken."""
    calls = []
    real = strips.encode_strips
    monkeypatch.setattr(strips, "encode_strips", lambda *a, **k: calls.append(1) or real(*a, **k))
    for name, image, subsampling in _images():
        with_runs = _save(image, subsampling=subsampling, **options)
        monkeypatch.setattr(strips, "RUN_BYTES", 0)
        assert _save(image, subsampling=subsampling, **options) == with_runs, name
        monkeypatch.setattr(strips, "RUN_BYTES", 256 << 10)
    assert calls


HEAD_OPTIONS = [{"restart_marker_blocks": 0, "restart_marker_rows": 0},
                {"quality": 90, "restart_marker_rows": 7},
                {"quality": 100, "restart_marker_blocks": 0, "workers": 2},
                {"quality": 75, "restart_marker_blocks": 1000}]


@pytest.mark.parametrize("options", HEAD_OPTIONS,
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_tasks_inside_intervals_run_their_heads(monkeypatch, options: dict) -> None:
    """Tasks of three strips inside longer restart intervals (parts, joined at bit level): the
    strips of a task's head before the one where the interval (or the image) ends are coded
    as a run, and every image saves to the bytes of one strip a call."""
    from pillow_streamjpeg import scan

    heads = []
    real = strips.StripCoder._encode_run

    def spy(coder, band, start, index, count, *args):
        if not coder.settings.starts_interval(index):
            heads.append((index, count))
        return real(coder, band, start, index, count, *args)

    monkeypatch.setattr(strips.StripCoder, "_encode_run", spy)
    images = _images() + [("grey diagonal ramp 256 x 200 (the smooth choice)",
                           Image.fromarray(content("dramp", 256, 200, "L")), 0)]
    for name, image, subsampling in images:
        monkeypatch.setattr(scan, "TASK_PIXELS", 3 * image.width * (16 if subsampling else 8))
        with_runs = _save(image, subsampling=subsampling, **options)
        monkeypatch.setattr(strips, "RUN_BYTES", 0)
        assert _save(image, subsampling=subsampling, **options) == with_runs, name
        monkeypatch.setattr(strips, "RUN_BYTES", 256 << 10)
    assert heads and all(count > 1 for _, count in heads)


def test_wide_strips_take_a_call_each() -> None:
    """A strip of RUN_BYTES or more is not put in a run: the output buffer holds one strip."""
    from pillow_streamjpeg import options as options_

    wide = options_.parse("RGB", (strips.RUN_BYTES // 32 + 8, 64), {})
    narrow = options_.parse("RGB", (256, 256), {"refine": 0})
    assert strips.StripCoder(wide)._run == 1
    run = strips.StripCoder(narrow)._run
    assert run == strips.RUN_BYTES // (8 * 256 * narrow.layout.channels) > 1
