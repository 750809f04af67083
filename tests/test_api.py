"""The public API and the code's shape: the Source protocol, encode()'s options, one scan
writer for both backends, output files, progress, one version."""

from __future__ import annotations

import ast
import importlib.metadata
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from jpegtools import assert_strictly_valid
from PIL import Image

import pillow_streamjpeg
from pillow_streamjpeg import options, scan, sources

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pillow_streamjpeg"


def _image(height=61, width=45, channels=3, seed=3):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 5) % 256, (y * 3) % 256, (x + 2 * y) % 256, (x * y) % 256][:channels], -1)
    return ((base + rng.integers(0, 20, base.shape)) % 256).astype(np.uint8)


def _encode(source, **params) -> bytes:
    out = io.BytesIO()
    pillow_streamjpeg.encode(source, out, **params)
    return out.getvalue()


class Stripes(pillow_streamjpeg.Source):
    """A user's source: rows made on demand, in bands of whole strips."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self.mode = "RGB"
        self.size = (pixels.shape[1], pixels.shape[0])
        self.channels = 3
        self.passes = 0
        self.closed = False

    def read_bands(self, strip_height: int):
        self.passes += 1
        for top in range(0, self.pixels.shape[0], 2 * strip_height):
            band = self.pixels[top:top + 2 * strip_height]
            yield np.ascontiguousarray(band).reshape(band.shape[0], -1)

    def close(self) -> None:
        self.closed = True


# -- the Source protocol ------------------------------------------------------

def test_a_users_source_encodes_like_the_array(monkeypatch) -> None:
    pixels = _image()
    source = Stripes(pixels)
    data = _encode(source, quality=90)
    assert data == _encode(pixels, quality=90)
    assert_strictly_valid(data)
    assert source.passes == 1 and not source.closed  # encode closes only what it opened
    assert _encode(source, optimize=True) == _encode(pixels, optimize=True)
    assert source.passes == 2  # optimize on a small image: one pass, its symbols read back
    monkeypatch.setattr(scan, "READ_BACK_PIXELS", 0)  # a larger image's two passes
    assert _encode(source, optimize=True) == _encode(pixels, optimize=True)
    assert source.passes == 4  # a pass for statistics, a pass for coding


def test_source_metadata_are_save_options_that_encode_options_override() -> None:
    class Commented(Stripes):
        @property
        def metadata(self):
            return {"comment": b"from the source", "dpi": (300, 300)}

    pixels = _image()
    assert _encode(Commented(pixels)) == _encode(pixels, comment=b"from the source", dpi=(300, 300))
    assert _encode(Commented(pixels), comment="mine") == _encode(pixels, comment="mine",
                                                                 dpi=(300, 300))


def test_every_kind_of_source_follows_the_protocol(tmp_path) -> None:
    import tifffile

    pixels = _image()
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, pixels, photometric="rgb")
    made = {
        sources.PillowSource: sources.as_source(Image.fromarray(pixels)),
        sources.ArraySource: sources.as_source(pixels),
        sources.RowBands: sources.as_source([pixels], size=(45, 61)),
        sources.TiffSource: sources.as_source(path, strip=True),
    }
    expected = None
    for kind, source in made.items():
        with source:
            assert type(source) is kind and isinstance(source, pillow_streamjpeg.Source)
            assert source.mode == "RGB" and source.size == (45, 61)
            assert source.metadata == {}
            for _ in range(2):  # each call is a new pass
                bands = list(source.read_bands(8))
                rows = np.concatenate(bands)
                assert rows.shape == (61, 45 * source.channels) and rows.dtype == np.uint8
                assert all(b.flags.c_contiguous and b.shape[0] % 8 == 0 for b in bands[:-1])
                colours = rows.reshape(61, 45, source.channels)[..., :3]
                assert expected is None or np.array_equal(colours, expected)
                expected = colours
    assert made[sources.TiffSource]._opened is None  # the file it opened is closed


def test_sources_hand_over_cmyk_inverted() -> None:
    """Inversion belongs to the source: JPEG stores CMYK as Adobe does (255 is no ink)."""
    cmyk = _image(channels=4)
    for source in (sources.ArraySource(cmyk, mode="CMYK"),
                   sources.RowBands([cmyk[:20], cmyk[20:]], size=(45, 61), mode="CMYK"),
                   sources.PillowSource(Image.fromarray(cmyk, "CMYK"))):
        rows = np.concatenate(list(source.read_bands(8)))
        assert np.array_equal(rows.reshape(61, 45, 4), 255 - cmyk), type(source).__name__


def test_row_bands_default_channels_follow_pillow_modes() -> None:
    assert sources.RowBands([], size=(4, 4), mode="L").channels == 1
    assert sources.RowBands([], size=(4, 4), mode="RGB").channels == 3
    assert sources.RowBands([], size=(4, 4), mode="RGBX").channels == 4
    assert sources.RowBands([], size=(4, 4), mode="CMYK").channels == 4
    with pytest.raises(OSError, match="cannot write mode RGBA as JPEG"):
        sources.RowBands([], size=(4, 4), mode="RGBA")
    with pytest.raises(ValueError, match="2 samples per pixel as mode RGB"):
        sources.RowBands([], size=(4, 4), mode="RGB", channels=2)


# -- encode()'s options ---------------------------------------------------------

def test_encode_refuses_unknown_options_naming_them() -> None:
    pixels = _image()
    with pytest.raises(TypeError, match="qualty"):
        _encode(pixels, qualty=90)
    with pytest.raises(TypeError, match="band_rows only apply to dask arrays"):
        _encode(pixels, band_rows=16)
    with pytest.raises(TypeError, match="option size does not apply to an array"):
        _encode(pixels, size=(45, 61))
    # Image.save keeps Pillow's tolerance of keys it does not know
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="STREAMJPEG", qualty=90)
    assert out.getvalue() == _encode(pixels)


def test_encode_options_are_image_saves() -> None:
    """Every keyword option of encode() is an option Image.save takes, or a choice of source
    or backend, and each reaches the file as Image.save's does."""
    import inspect

    names = [p.name for p in inspect.signature(pillow_streamjpeg.encode).parameters.values()
             if p.kind is inspect.Parameter.KEYWORD_ONLY]
    pixels = _image()
    image = Image.fromarray(pixels)
    given = {"quality": 80, "subsampling": 2, "optimize": True, "dpi": (72, 96),
             "comment": "c", "exif": b"II*\x00\x08\x00\x00\x00\x00\x00", "xmp": b"<x/>",
             "icc_profile": b"\x00" * 200, "keep_rgb": True}
    for name, value in given.items():
        assert name in names
        out = io.BytesIO()
        image.save(out, format="STREAMJPEG", **{name: value})
        assert _encode(pixels, **{name: value}) == out.getvalue(), name


# -- one scan writer, no cross-imports ---------------------------------------------

def _imports(path: Path) -> tuple[set[str], list[str]]:
    """Sibling modules a package module imports, and private names it takes from them."""
    tree = ast.parse(path.read_text())
    package = "pillow_streamjpeg" + ("" if path.parent == PACKAGE else ".sources")
    names: set[str] = set()
    private: list[str] = []
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                full = f"{module}.{alias.name}"
                if (PACKAGE.parent / (full.replace(".", "/") + ".py")).exists() or (
                    PACKAGE.parent / full.replace(".", "/")).is_dir():
                    names.add(full)
                    aliases.add(alias.asname or alias.name)
                else:
                    names.add(module)
                    if alias.name.startswith("_"):
                        private.append(f"{module}.{alias.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            private.append(f"{node.value.id}.{node.attr}")
    return names, private


def test_no_private_cross_imports_and_no_import_cycle() -> None:
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        imported, private = _imports(path)
        assert not private, f"{name} uses private names of other modules: {private}"
        graph[name] = {m for m in imported if m != name and not name.startswith(m + ".")}
    seen: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if seen.get(node) == 1:
            raise AssertionError(f"import cycle: {' -> '.join(trail + [node])}")
        if seen.get(node) == 2:
            return
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt in graph:
                visit(nxt, trail + [node])
        seen[node] = 2

    for node in graph:
        visit(node, [])
    assert "pillow_streamjpeg.pipeline" not in graph["pillow_streamjpeg.dask_backend"]
    assert "pillow_streamjpeg.scan" in graph["pillow_streamjpeg.plugin"]


def test_no_module_shadows_an_installed_package() -> None:
    import importlib.util

    for path in PACKAGE.iterdir():
        name = path.stem if path.suffix == ".py" else path.name
        if name.startswith("_") or not (path.suffix == ".py" or path.is_dir()):
            continue
        assert importlib.util.find_spec(name) is None, f"pillow_streamjpeg.{name} shadows {name}"


def test_local_backend_and_frame_counts() -> None:
    """symbol_counts sums a backend's parts; optimized tables change the bytes, not the pixels."""
    pixels = _image(channels=1)[..., 0]
    source = sources.ArraySource(pixels)
    settings = options.parse("L", (45, 61), {"workers": 2}, channels=1)
    counts = scan.symbol_counts(settings, scan.LocalBackend(source))
    assert counts.shape == (2, 256) and counts[0].sum() == 6 * 8  # one DC symbol per block
    assert _encode(pixels, optimize=True) != _encode(pixels)


# -- output files and progress ---------------------------------------------------------

def _umask_of_this_process() -> int:
    with open("/proc/self/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("Umask:")), 8)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_output_file_mode_without_touching_the_umask(tmp_path, monkeypatch) -> None:
    def no_umask(*args):
        raise AssertionError("os.umask was called")

    mask = _umask_of_this_process()
    monkeypatch.setattr(os, "umask", no_umask)
    target = tmp_path / "out.jpg"
    pillow_streamjpeg.encode(_image(), target)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    monkeypatch.undo()
    code = ("import os, sys, numpy as np, pillow_streamjpeg\n"
            "os.umask(0o027)\n"
            "pillow_streamjpeg.encode(np.zeros((9, 9), np.uint8), sys.argv[1])\n"
            "print(oct(os.stat(sys.argv[1]).st_mode & 0o777))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "b.jpg")], env=env,
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.stdout.strip() == "0o640", run.stderr


def test_a_replaced_file_keeps_its_permissions(tmp_path) -> None:
    target = tmp_path / "out.jpg"
    target.write_bytes(b"previous")
    target.chmod(0o604)
    pillow_streamjpeg.encode(_image(), target)
    assert target.stat().st_mode & 0o777 == 0o604
    assert target.read_bytes() == _encode(_image())


@pytest.mark.parametrize("read_back", [True, False])
def test_progress_is_one_total_across_optimize_passes(monkeypatch, read_back) -> None:
    """Two passes (statistics, coding) each count the rows; a small image's one pass
    (its symbols read back, ``scan.read_back``) once."""
    if not read_back:
        monkeypatch.setattr(scan, "READ_BACK_PIXELS", 0)
    seen = []
    pixels = _image(height=300, width=40)
    _encode(pixels, optimize=True, workers=2, progress=lambda done, total: seen.append((done, total)))
    expected = 300 if read_back else 600
    assert {total for _, total in seen} == {expected}
    dones = [done for done, _ in seen]
    assert dones == sorted(dones) and dones[-1] == expected and len(set(dones)) == len(dones)


# -- the command --------------------------------------------------------------------

def test_demo_writes_out_and_honours_the_encoding_flags(tmp_path, monkeypatch, capsys) -> None:
    from pillow_streamjpeg import cli

    small = Image.fromarray(_image(height=90, width=70))
    monkeypatch.setattr(cli, "demo_image", lambda: small)
    target = tmp_path / "mine.jpg"
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--demo", str(target), "--subsampling", "4:2:0", "--optimize",
                     "--quality", "80", "-w", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.jpg"]
    assert target.read_bytes() == _encode(small, quality=80, subsampling=2, optimize=True)
    assert f"wrote {target}" in capsys.readouterr().out


def test_short_flags_are_not_misread() -> None:
    from pillow_streamjpeg import cli

    args = cli.build_parser().parse_args(["in.tif", "out.jpg", "-q"])
    assert args.quiet is True and args.quality == 100  # -q is quiet, as in most tools
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["in.tif", "out.jpg", "-s", "4:2:0"])


# -- dead and drifting items ---------------------------------------------------------

def test_settings_hold_no_unused_fields() -> None:
    import dataclasses

    fields = {f.name for f in dataclasses.fields(options.Settings)}
    assert not fields & {"mode", "quality"}
    assert not {f.name for f in dataclasses.fields(options.ModeLayout)} & {"rawmode"}


def test_one_version_source() -> None:
    import re

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r"(?m)^version\s*=", pyproject)
    assert re.search(r'(?m)^dynamic = \["version"\]', pyproject)
    assert pillow_streamjpeg.__version__ == importlib.metadata.version("pillow_streamjpeg")
    assert '"0.1.0"' not in (PACKAGE / "__init__.py").read_text()


def test_docs_named_in_the_code_exist() -> None:
    import re

    for path in list(PACKAGE.rglob("*.py")) + [ROOT / "README.md"]:
        for doc in re.findall(r"docs/[\w.-]+\.md", path.read_text()):
            assert (ROOT / doc).exists(), f"{path.name} names {doc}, which does not exist"


@pytest.mark.parametrize("mode", ["P", "I;16", "I", "F"])
def test_a_pil_image_encodes_as_its_file_does(tmp_path, mode) -> None:
    """Palettes applied and 16-bit, 32-bit and float grey rendered (``range``), for a PIL image
    as for the file it was saved to (a PIL image of these modes was refused until 2026-12-02)."""
    rng = np.random.default_rng(9)
    if mode == "P":
        image = Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).convert(
            "P", palette=Image.Palette.ADAPTIVE, colors=64)
        image.info["dpi"] = (200, 200)
        path = tmp_path / "image.png"
    else:
        values = {"I;16": rng.integers(0, 4096, (40, 56)).astype(np.uint16),
                  "I": rng.integers(-5000, 70000, (40, 56)).astype(np.int32),
                  "F": rng.normal(0.5, 0.2, (40, 56)).astype(np.float32)}[mode]
        image = Image.fromarray(values)
        assert image.mode == mode
        image.info["dpi"] = (200, 200)
        path = tmp_path / "image.tif"
    image.save(path, dpi=(200, 200))
    from_image, from_file = io.BytesIO(), io.BytesIO()
    pillow_streamjpeg.encode(image, from_image, range="1%,99%" if mode != "P" else None)
    pillow_streamjpeg.encode(path, from_file, range="1%,99%" if mode != "P" else None)
    decoded = np.asarray(Image.open(from_image))
    assert np.array_equal(decoded, np.asarray(Image.open(from_file)))
    assert Image.open(from_image).info["dpi"] == (200, 200)
    assert_strictly_valid(from_image.getvalue())
    assert decoded.std() > 10  # not a flat field


def test_a_pil_image_of_a_mode_jpeg_cannot_hold_is_refused() -> None:
    with pytest.raises(OSError, match="LAB"):
        pillow_streamjpeg.encode(Image.new("LAB", (8, 8)), io.BytesIO())


def test_a_rendered_pil_image_keeps_its_files_metadata(tmp_path) -> None:
    """A 16-bit TIFF in centimetres opened with Pillow: the JPEG keeps the centimetres (the
    unit is in the TIFF's tags, which the rendered 8-bit image does not have), and numpy
    integers and bytes-like metadata are taken."""
    import tifffile

    path = tmp_path / "cm16.tif"
    tifffile.imwrite(path, np.arange(24 * 32, dtype=np.uint16).reshape(24, 32) * 50,
                     resolution=(50, 50), resolutionunit="CENTIMETER")
    out = io.BytesIO()
    with Image.open(path) as image:
        assert image.mode == "I;16"
        pillow_streamjpeg.encode(image, out, shrink=np.int64(1), comment=memoryview(b"made here"))
    with Image.open(out) as jpeg:
        assert (jpeg.info["jfif_unit"], jpeg.info["jfif_density"]) == (2, (50, 50))
        assert jpeg.info["comment"] == b"made here"
