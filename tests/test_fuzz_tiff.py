"""Fuzzing the TIFF path: mutated bytes of real TIFF files give clean errors only.

A fixed budget of mutants (``STREAMJPEG_FUZZ_CASES``, default 120) is derived from
a fixed seed, so CI runs the same cases every time. Each mutant is encoded in a
worker subprocess under a time limit (a hang fails the test); the accepted
outcomes are a valid JPEG or one of the documented exception types. A sample
goes through the command line too: exit code 0 or 1, one line on stderr, no
traceback, no output file left behind on failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

tifffile = pytest.importorskip("tifffile")

CASES = int(os.environ.get("STREAMJPEG_FUZZ_CASES", "120"))
CLEAN_ERRORS = ("ValueError", "OSError", "TypeError", "FileNotFoundError", "EOFError",
                "Damaged", "NotSupported")


def _seeds(folder) -> list:
    """Small real TIFFs of several flavours, written by tifffile."""
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)
    grey16 = rng.integers(0, 65536, (40, 33), dtype=np.uint16)
    paths = []
    flavours = [
        ("striped.tif", rgb, {}),
        ("tiled_deflate.tif", rgb, {"tile": (16, 16), "compression": "zlib"}),
        ("lzw_predictor.tif", rgb, {"compression": "lzw", "predictor": True}),
        ("planar.tif", np.moveaxis(rgb, -1, 0).copy(), {"planarconfig": "separate", "photometric": "rgb"}),
        ("grey16.tif", grey16, {"rowsperstrip": 8}),
    ]
    for name, data, options in flavours:
        path = folder / name
        tifffile.imwrite(path, data, **options)
        paths.append(path)
    return paths


def _mutants(seeds, count: int) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(20261124)
    originals = [(p.name, p.read_bytes()) for p in seeds]
    mutants = []
    for i in range(count):
        name, data = originals[i % len(originals)]
        data = bytearray(data)
        kind = i % 4
        if kind == 0:  # flip a few random bytes
            for _ in range(int(rng.integers(1, 8))):
                data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        elif kind == 1:  # truncate
            data = data[: int(rng.integers(0, len(data)))]
        elif kind == 2:  # corrupt the header and first IFD region
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(0, min(len(data), 200)))] = int(rng.integers(0, 256))
        else:  # smash a 4-byte field with an extreme value
            pos = int(rng.integers(0, len(data) - 4))
            data[pos:pos + 4] = bytes(rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\x00\x00", b"\x00\x00\xff\x7f"]))
        mutants.append((f"{i:04d}_{name}", bytes(data)))
    return mutants


WORKER = textwrap.dedent(r"""
    import io, json, os, sys
    import pillow_streamjpeg
    results = {}
    for path in sys.argv[1:]:
        try:
            out = io.BytesIO()
            pillow_streamjpeg.encode(path, out, workers=2)
            data = out.getvalue()
            results[path] = ["ok", data[:2].hex() + data[-2:].hex()]
        except BaseException as exc:
            results[path] = [type(exc).__name__, str(exc)[:300]]
    print(json.dumps(results))
""")


def test_mutated_tiffs_give_clean_errors(tmp_path) -> None:
    seeds = _seeds(tmp_path)
    paths = []
    for name, data in _mutants(seeds, CASES):
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    run = subprocess.run(
        [sys.executable, "-c", WORKER, *paths], capture_output=True, text=True,
        cwd=tmp_path, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    unclean = {p: r for p, r in results.items() if r[0] != "ok" and r[0] not in CLEAN_ERRORS}
    assert not unclean, unclean
    for path, (kind, detail) in results.items():
        if kind == "ok":
            assert detail == "ffd8ffd9", f"{path} gave an incomplete JPEG"
        else:
            assert detail.strip(), f"{path}: {kind} without a message"
    # the budget must exercise both outcomes, or the mutations are not doing their job
    kinds = {r[0] for r in results.values()}
    assert "ok" in kinds and kinds - {"ok"}


def test_command_line_reports_mutants_in_one_line(tmp_path) -> None:
    seeds = _seeds(tmp_path)
    for name, data in _mutants(seeds, 24)[::2]:
        source = tmp_path / name
        source.write_bytes(data)
        target = tmp_path / (name + ".jpg")
        run = subprocess.run(
            [sys.executable, "-m", "pillow_streamjpeg", str(source), str(target), "--quiet"],
            capture_output=True, text=True, cwd=tmp_path, timeout=120,
        )
        assert "Traceback" not in run.stderr, run.stderr
        if run.returncode == 0:
            assert target.read_bytes()[:2] == b"\xff\xd8"
        else:
            assert run.returncode in (1, 2), run.returncode
            assert len(run.stderr.strip().splitlines()) == 1, run.stderr
            # the file named once, what is wrong in our words, not the library's
            assert run.stderr.count(name) == 1, run.stderr
            assert ": damaged: " in run.stderr or ": not supported: " in run.stderr, run.stderr
            assert not target.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".streamjpeg")]


HUGE = textwrap.dedent(r"""
    import json, resource, sys
    import pillow_streamjpeg
    try:
        pillow_streamjpeg.encode(sys.argv[1], sys.argv[2])
        outcome = "ok"
    except (ValueError, OSError) as exc:
        outcome = type(exc).__name__ + ": " + str(exc)[:200]
    print(json.dumps({"outcome": outcome,
                      "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
""")


def test_header_claiming_a_huge_image_allocates_nothing_huge(tmp_path) -> None:
    """A 60000 x 60000 RGB header (10 GB of pixels) over a few bytes of data."""
    path = tmp_path / "huge.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(
            shape=(60000, 60000, 3), dtype=np.uint8, photometric="rgb",
            rowsperstrip=60000, data=iter([np.zeros((1, 60000, 3), np.uint8)]),
        ) if False else tif.write(np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    data = bytearray(path.read_bytes())
    # patch ImageWidth (256) and ImageLength (257) to 60000 in the first IFD
    offset = int.from_bytes(data[4:8], "little")
    count = int.from_bytes(data[offset:offset + 2], "little")
    for i in range(count):
        entry = offset + 2 + 12 * i
        tag = int.from_bytes(data[entry:entry + 2], "little")
        if tag in (256, 257, 278):  # width, length, rows per strip
            kind = int.from_bytes(data[entry + 2:entry + 4], "little")
            size = 2 if kind == 3 else 4
            data[entry + 8:entry + 8 + size] = (60000).to_bytes(size, "little")
    path.write_bytes(bytes(data))
    out = tmp_path / "huge.jpg"
    run = subprocess.run(
        [sys.executable, "-c", HUGE, str(path), str(out)], capture_output=True, text=True,
        cwd=tmp_path, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["outcome"] != "ok", "a truncated huge image must not encode"
    assert result["maxrss"] < 512 * 1024 * 1024, result
    assert not out.exists()
