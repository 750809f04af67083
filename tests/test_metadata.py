"""Metadata from TIFFs and Pillow images, written by encode() and read back."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile
from jpegtools import assert_strictly_valid, require_tools
from PIL import Image, ImageCms, TiffImagePlugin

import pillow_streamjpeg
from pillow_streamjpeg import markers, metadata

DATA = Path(__file__).parent / "data"
R = TiffImagePlugin.IFDRational
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
       b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
       b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator><rdf:Seq><rdf:li>Ann</rdf:li>'
       b'</rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>'
       b'<?xpacket end="w"?>')


def validate(path: Path, *, allow_minor_xmp: bool = False) -> list[str]:
    """exiftool -validate's warnings and errors (an empty list when it says OK)."""
    require_tools("exiftool")
    result = subprocess.run(["exiftool", "-validate", "-warning", "-error", "-a", "-s", "-s",
                             "-s", str(path)], capture_output=True, text=True, check=True)
    lines = [line for line in result.stdout.splitlines() if line and line != "OK"]
    warnings = [line for line in lines if not line.endswith("Warnings (all minor)")
                and not line[0].isdigit()]
    if allow_minor_xmp:
        warnings = [w for w in warnings if not (w.startswith("[minor]") and "XMP" in w
                                                or w.startswith("[minor] Ignored empty rdf"))]
    return warnings


def write_jpeg(path: Path, meta: dict, size=(64, 48)) -> Image.Image:
    options = {k: v for k, v in meta.items() if k not in ("jfif_unit", "jfif_density")}
    pillow_streamjpeg.encode(np.full((size[1], size[0], 3), 128, np.uint8), path, **options)
    assert_strictly_valid(path.read_bytes())
    return Image.open(path)


def tiff_with_everything(path: Path, unit: str = "INCH") -> None:
    data = np.zeros((48, 64, 3), np.uint8)
    tifffile.imwrite(path, data, photometric="rgb", resolution=(300, 150),
                     resolutionunit=unit, iccprofile=SRGB, description="a test", metadata=None,
                     extratags=[(274, "H", 1, 6, True), (700, "B", len(XMP), XMP, True),
                                (271, "s", 0, "Nikon", True), (272, "s", 0, "D800", True),
                                (33432, "s", 0, "(c) Ann", True), (315, "s", 0, "Ann", True),
                                (306, "s", 0, "2024:05:06 07:08:09", True)])


def test_generated_tiff_carries_everything(tmp_path):
    tiff_with_everything(tmp_path / "in.tif")
    with tifffile.TiffFile(tmp_path / "in.tif") as tif:
        meta = metadata.from_tiff(tif.pages[0])
    assert set(meta) == {"icc_profile", "dpi", "exif", "xmp"}
    assert meta["icc_profile"] == SRGB and meta["xmp"] == XMP and meta["dpi"] == (300, 150)
    im = write_jpeg(tmp_path / "out.jpg", meta)
    assert im.info["icc_profile"] == SRGB
    assert im.info["dpi"] == (300, 150)
    assert im.info["xmp"] == XMP
    exif = im.getexif()
    assert exif[0x0112] == 6  # orientation: the pixels are not transposed
    assert (exif[0x010F], exif[0x0110], exif[0x8298], exif[0x013B]) == ("Nikon", "D800",
                                                                       "(c) Ann", "Ann")
    assert exif[0x0132] == "2024:05:06 07:08:09" and exif[0x010E] == "a test"
    assert exif.get_ifd(0x8769)[0xA002] == 64 and exif.get_ifd(0x8769)[0xA003] == 48
    assert exif.get_ifd(0x8769)[0xA001] == 0xFFFF  # an ICC profile: "uncalibrated"
    assert validate(tmp_path / "out.jpg") == []


def test_centimetres_stay_centimetres(tmp_path):
    tiff_with_everything(tmp_path / "in.tif", unit="CENTIMETER")
    with tifffile.TiffFile(tmp_path / "in.tif") as tif:
        meta = metadata.from_tiff(tif.pages[0])
    assert meta["jfif_unit"] == 2 and meta["jfif_density"] == (300, 150)
    assert meta["dpi"] == pytest.approx((762, 381))
    # how the writer carries them: APP0 from jfif_density and jfif_unit, not from dpi
    write_jpeg(tmp_path / "out.jpg", meta)
    data = (tmp_path / "out.jpg").read_bytes()
    app0 = data.index(b"\xff\xe0")
    length = int.from_bytes(data[app0 + 2:app0 + 4], "big")
    data = data[:app0] + markers.app0_jfif(meta["jfif_density"], meta["jfif_unit"]) + \
        data[app0 + 2 + length:]
    (tmp_path / "cm.jpg").write_bytes(data)
    assert_strictly_valid(data)
    with Image.open(tmp_path / "cm.jpg") as im:
        assert im.info["jfif_unit"] == 2 and im.info["jfif_density"] == (300, 150)
        assert im.info["dpi"] == pytest.approx(meta["dpi"])
        exif = im.getexif()
        assert exif[0x0128] == 3 and exif[0x011A] == 300  # the EXIF keeps centimetres too
        again = metadata.from_pillow(im)  # a JPEG in centimetres read by Pillow
    assert (again["jfif_unit"], again["jfif_density"]) == (2, (300, 150))
    assert validate(tmp_path / "cm.jpg") == []


@pytest.mark.parametrize("resolution, unit, density", [
    ((101600, 50800), "INCH", (40000, 20000)),         # 0.25 and 0.5 µm pixels: a slide scan
    ((100000, 100000), "CENTIMETER", (65535, 65535)),  # beyond JFIF: clamped
    ((1e6, 1e6), "INCH", (65535, 65535)),
])
def test_resolutions_finer_than_jfif_holds_never_stop_a_conversion(tmp_path, resolution, unit,
                                                                    density):
    """Above 65535 dots per inch (JFIF's 16 bits) the source's resolution is written in
    dots per centimetre, clamped beyond that: it failed the conversion ("dpi must be from
    0 to 65535") until 2026-12-02, a resolution the user never gave."""
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((16, 24, 3), np.uint8), photometric="rgb",
                     resolution=resolution, resolutionunit=unit)
    out = io.BytesIO()
    pillow_streamjpeg.encode(tmp_path / "in.tif", out)
    assert_strictly_valid(out.getvalue())
    with Image.open(out) as im:
        assert (im.info["jfif_unit"], im.info["jfif_density"]) == (2, density)


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_bigtiff_and_big_endian(tmp_path, byteorder):
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint16), bigtiff=True, byteorder=byteorder,
                     resolution=(120, 120), resolutionunit="INCH", software=False,
                     extratags=[(274, "H", 1, 8, True), (305, "s", 0, "scanner 2", True)])
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff
        meta = metadata.from_tiff(tif.pages[0])
    exif = Image.Exif()
    exif.load(meta["exif"])
    assert exif[0x0112] == 8 and exif[0x0131] == "scanner 2" and meta["dpi"] == (120, 120)


def test_exif_and_gps_ifds(tmp_path):
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[0x010F], ifd[0x0112] = "Canon", 3
    ifd[0x8769] = {0x829A: R(1, 250), 0x8827: 400, 0x9003: "2020:01:02 03:04:05",
                   0x9204: R(-1, 3), 0x920A: R(50, 1), 0x927C: b"maker note offsets",
                   0xA002: 9999}
    ifd[0x8825] = {0: b"\x02\x03\x00\x00", 1: "N", 2: (R(48, 1), R(51, 1), R(30, 1)),
                   3: "E", 4: (R(2, 1), R(21, 1), R(0, 1))}
    Image.new("RGB", (64, 48), "red").save(tmp_path / "in.tif", tiffinfo=ifd)
    with tifffile.TiffFile(tmp_path / "in.tif") as tif:
        meta = metadata.from_tiff(tif.pages[0], size=(32, 24))  # e.g. after --shrink 2
    im = write_jpeg(tmp_path / "out.jpg", meta, size=(32, 24))
    exif = im.getexif()
    assert exif[0x0112] == 3 and exif[0x010F] == "Canon"
    sub = exif.get_ifd(0x8769)
    assert sub[0x829A] == R(1, 250) and sub[0x8827] == 400 and sub[0x9204] == R(-1, 3)
    assert sub[0x9003] == "2020:01:02 03:04:05" and sub[0x920A] == 50
    assert 0x927C not in sub and (sub[0xA002], sub[0xA003]) == (32, 24)
    gps = exif.get_ifd(0x8825)
    assert gps[1] == "N" and gps[2] == (48, 51, 30) and gps[4] == (2, 21, 0)
    assert validate(tmp_path / "out.jpg") == []


def test_nothing_to_carry(tmp_path):
    tifffile.imwrite(tmp_path / "bare.tif", np.zeros((8, 8), np.uint8), software=False)
    with tifffile.TiffFile(tmp_path / "bare.tif") as tif:
        assert tif.pages[0].description.startswith("{")  # tifffile's own JSON: not carried
        assert metadata.from_tiff(tif.pages[0]) == {}
    tifffile.imwrite(tmp_path / "none.tif", np.zeros((8, 8), np.uint8), software=False,
                     resolution=(1, 1),
                     resolutionunit="NONE", extratags=[(274, "H", 1, 99, True)])
    with tifffile.TiffFile(tmp_path / "none.tif") as tif:
        assert metadata.from_tiff(tif.pages[0]) == {}  # no unit, orientation out of range


def test_real_file_with_icc_xmp_and_exif(tmp_path):
    with tifffile.TiffFile(DATA / "tiff_16bit_RGBa.tiff") as tif:
        meta = metadata.from_tiff(tif.pages[0])
        icc, xmp = tif.pages[0].tags.valueof(34675), tif.pages[0].tags.valueof(700)
    assert meta["icc_profile"] == icc and meta["xmp"] == xmp and meta["dpi"] == (72, 72)
    im = write_jpeg(tmp_path / "out.jpg", meta, size=(100, 40))
    assert ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"])).tobytes() == icc
    exif = im.getexif()
    assert exif[0x0131] == "Pixelmator 3.6"
    assert 0x0132 not in exif  # its DateTime "2017:08:21 15:08:70" is not a valid date
    # the XMP is the file's own, byte for byte, with the file's own minor flaws
    assert validate(tmp_path / "out.jpg", allow_minor_xmp=True) == []
    with Image.open(DATA / "tiff_16bit_RGBa.tiff") as source:
        assert metadata.from_pillow(source) == meta


def test_real_files_resolution_and_orientation(tmp_path):
    with tifffile.TiffFile(DATA / "hopper_float_dpi_3.tif") as tif:
        meta = metadata.from_tiff(tif.pages[0])
    assert meta == {"dpi": pytest.approx((72.8 * 2.54, 72.8 * 2.54)), "jfif_unit": 2,
                    "jfif_density": (73, 73)}
    with tifffile.TiffFile(DATA / "g4_orientation_6.tif") as tif:
        meta = metadata.from_tiff(tif.pages[0])
    assert meta["dpi"] == (96, 96)
    im = write_jpeg(tmp_path / "out.jpg", meta, size=(88, 590))
    assert im.getexif()[0x0112] == 6 and im.getexif()[0x0131] == "IrfanView"
    assert im.info["dpi"] == (96, 96)
    assert validate(tmp_path / "out.jpg") == []
    with Image.open(DATA / "hopper_float_dpi_3.tif") as source:
        assert metadata.from_pillow(source)["jfif_unit"] == 2


def test_from_pillow_jpeg_and_png(tmp_path):
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 8, "Fuji"
    exif.get_ifd(0x8769)[0x8827] = 200
    Image.new("RGB", (40, 30)).save(tmp_path / "in.jpg", exif=exif, icc_profile=SRGB,
                                    dpi=(200, 200), xmp=XMP)
    with Image.open(tmp_path / "in.jpg") as im:
        meta = metadata.from_pillow(im)
    assert meta["icc_profile"] == SRGB and meta["dpi"] == (200, 200) and meta["xmp"] == XMP
    out = write_jpeg(tmp_path / "out.jpg", meta, size=(40, 30))
    assert out.getexif()[0x0112] == 8 and out.getexif().get_ifd(0x8769)[0x8827] == 200
    assert validate(tmp_path / "out.jpg") == []
    Image.new("RGBA", (4, 4)).save(tmp_path / "in.png", dpi=(150, 150))
    with Image.open(tmp_path / "in.png") as im:
        assert metadata.from_pillow(im) == {"dpi": pytest.approx((150, 150), rel=1e-3)}


def test_merge_rule():
    source = {"icc_profile": b"icc", "dpi": (762.0, 762.0), "jfif_unit": 2,
              "jfif_density": (300, 300), "exif": b"Exif"}
    user = {"dpi": (72, 72), "quality": 90}
    assert metadata.merged(source, user) == {"dpi": (72, 72), "quality": 90,
                                             "icc_profile": b"icc", "exif": b"Exif"}
    assert metadata.merged(source, {"exif": b""})["exif"] == b""  # the user's empty wins
    assert metadata.merged(source, user, strip=True) == user
    assert metadata.merged(source, {})["jfif_density"] == (300, 300)


def test_a_given_dpi_is_the_exifs_resolution_too(tmp_path):
    """``dpi`` replaces the source's resolution in the EXIF as in the JFIF header (it had
    left the TIFF's 300 x 150 dpi in the EXIF, which viewers reading EXIF show)."""
    tiff_with_everything(tmp_path / "in.tif")
    for dpi, expected in (((96, 96), (96, 96)), ((72.5, 300), (72.5, 300))):
        pillow_streamjpeg.encode(tmp_path / "in.tif", tmp_path / "out.jpg", dpi=dpi)
        with Image.open(tmp_path / "out.jpg") as im:
            exif = im.getexif()
            # JFIF holds whole dots per inch, the EXIF a rational
            assert np.allclose([float(v) for v in im.info["dpi"]], expected, atol=0.5)
            assert (float(exif[0x011A]), float(exif[0x011B]), exif[0x0128]) == (*expected, 2)
            assert exif[0x010F] == "Nikon"  # the rest of the EXIF kept
        assert validate(tmp_path / "out.jpg") == []
    for bad in ((float("inf"), 96), "abc"):  # refused as before, not by the EXIF's rewriting
        with pytest.raises((ValueError, TypeError), match="dpi"):
            pillow_streamjpeg.encode(tmp_path / "in.tif", tmp_path / "bad.jpg", dpi=bad)
    assert metadata.merged({"exif": b"Exif"}, {"dpi": (96, 96)})["exif"] == b"Exif"


def test_exif_filler_resolution_is_not_shrunk(tmp_path):
    """Without a resolution (no unit) the EXIF holds the 72 dpi EXIF requires, which a
    shrink does not divide (it had become 36, then 14.4 at 5); a real one is divided."""
    tags = [(271, "s", 0, "Nikon", True)]
    tifffile.imwrite(tmp_path / "none.tif", np.zeros((40, 40), np.uint8), resolution=(1, 1),
                     resolutionunit="NONE", extratags=tags)
    tifffile.imwrite(tmp_path / "inch.tif", np.zeros((40, 40), np.uint8), resolution=(300, 300),
                     resolutionunit="INCH", extratags=tags)
    for name, expected in (("none", 72.0), ("inch", 60.0)):
        pillow_streamjpeg.encode(tmp_path / f"{name}.tif", tmp_path / "out.jpg", shrink=5)
        with Image.open(tmp_path / "out.jpg") as im:
            exif = im.getexif()
            assert im.size == (8, 8) and exif[0x010F] == "Nikon"
            assert (float(exif[0x011A]), float(exif[0x011B]), exif[0x0128]) == (
                expected, expected, 2)
            assert ("dpi" in im.info and im.info.get("jfif_unit") == 1) == (name == "inch")


def test_broken_exif_is_dropped(tmp_path):
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8),
                     extratags=[(274, "H", 1, 6, True), (34665, "I", 1, 10**9, True)])
    with tifffile.TiffFile(path) as tif:
        meta = metadata.from_tiff(tif.pages[0])
    exif = Image.Exif()
    exif.load(meta["exif"])
    assert exif[0x0112] == 6  # the bad EXIF pointer is skipped, the rest kept


def test_metadata_too_long_for_a_segment_is_dropped(tmp_path):
    path = tmp_path / "in.tif"
    big = b"<x:xmpmeta>" + b" " * 70000 + b"</x:xmpmeta>"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8), extratags=[(700, "B", len(big), big, True)])
    with tifffile.TiffFile(path) as tif:
        meta = metadata.from_tiff(tif.pages[0])
    assert "xmp" not in meta
    write_jpeg(tmp_path / "out.jpg", meta, size=(8, 8))  # the save does not fail
    fits = b"x" * metadata.MAX_XMP
    Image.new("RGB", (8, 8)).save(tmp_path / "fits.jpg", xmp=fits)
    with Image.open(tmp_path / "fits.jpg") as im:
        assert metadata.from_pillow(im)["xmp"] == fits
    write_jpeg(tmp_path / "fits_too.jpg", {"xmp": fits}, size=(8, 8))  # encode() takes the longest


def test_non_ascii_text_tags_keep_their_characters(tmp_path):
    """ImageDescription and Artist in UTF-8 (as exiftool writes them): read by exiftool from the
    JPEG as written ("?" for every non-ASCII character until 2026-12-02), through Pillow's
    reading of the TIFF and through tifffile's (``_FirstIfd``) alike."""
    require_tools("exiftool")
    description, artist = "Pixel 0.25 µm — Zürich", "Dr. Øst"
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, np.zeros((16, 16, 3), np.uint8), photometric="rgb", metadata=None,
                     extratags=[(270, "s", 0, description.encode(), True),
                                (315, "s", 0, artist.encode(), True)])
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        for exif in (metadata.from_tiff(page)["exif"],
                     metadata._exif_bytes(metadata._FirstIfd(page), (16, 16), False)):
            write_jpeg(tmp_path / "out.jpg", {"exif": exif})
            run = subprocess.run(["exiftool", "-s3", "-ImageDescription", "-Artist",
                                  str(tmp_path / "out.jpg")], capture_output=True, text=True)
            assert run.stdout.splitlines() == [description, artist]
            assert validate(tmp_path / "out.jpg") == []


@pytest.mark.parametrize("per_cm, shrink, density", [(5.49, 2, (3, 3)), (51605.49, 2, (25803, 25803)),
                                                     # clamped to 65535 when read
                                                     (100000, 3, (21845, 21845))])
def test_a_shrunk_resolution_in_centimetres_stays_one(tmp_path, per_cm, shrink, density):
    """``shrink`` divides the whole resolution: the density in centimetres is made again from
    the dpi, so the two agree (a density rounded twice fell back to inches, or failed the
    conversion beyond 65535 dpi)."""
    path = tmp_path / "cm.tif"
    tifffile.imwrite(path, np.zeros((24, 30, 3), np.uint8), photometric="rgb",
                     resolution=(per_cm, per_cm), resolutionunit="CENTIMETER")
    out = io.BytesIO()
    pillow_streamjpeg.encode(path, out, shrink=shrink)
    with Image.open(out) as im:
        assert (im.info["jfif_unit"], im.info["jfif_density"]) == (2, density)


def test_exif_ifd_tags_keep_the_types_exif_gives_them(tmp_path):
    """The EXIF IFD's tags that Pillow has no type for are written of EXIF's types, not
    Pillow's guesses (UserComment, FileSource and SceneType had become BYTE, a positive
    ShutterSpeedValue RATIONAL, a small RecommendedExposureIndex SHORT: exiftool -validate
    warned of each), from a TIFF, through a shrink and a dpi given, and from a JPEG."""
    require_tools("exiftool")
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((48, 64, 3), np.uint8), photometric="rgb")
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-UserComment=hello",
                    "-FileSource=Digital Camera", "-SceneType=Directly photographed",
                    "-ShutterSpeedValue=1/125", "-RecommendedExposureIndex=400",
                    "-ExposureCompensation=0.5", "-FocalLength=35",
                    str(tmp_path / "in.tif")], check=True)
    for options in ({}, {"shrink": 2}, {"dpi": (96, 96)}):
        pillow_streamjpeg.encode(tmp_path / "in.tif", tmp_path / "out.jpg", **options)
        assert validate(tmp_path / "out.jpg") == [], options
        with Image.open(tmp_path / "out.jpg") as im:
            ifd = im.getexif().get_ifd(0x8769)
        assert ifd[0x9286].endswith(b"hello") and ifd[0xA300] == b"\x03"
        assert ifd[0x8832] == 400 and float(ifd[0x9201]) == pytest.approx(np.log2(125))
        assert float(ifd[0x9204]) == 0.5 and float(ifd[0x920A]) == 35
    pillow_streamjpeg.encode(tmp_path / "out.jpg", tmp_path / "again.jpg")
    assert validate(tmp_path / "again.jpg") == []
    with Image.open(tmp_path / "again.jpg") as im:
        assert im.getexif().get_ifd(0x8769)[0x9286].endswith(b"hello")


def test_pillow_images_exif_resolution_is_the_images(tmp_path):
    """A PNG's or JPEG's dpi is the EXIF's resolution too (the EXIF had held the 72 dpi
    filler of an EXIF without one: JFIF 300 against EXIF 72), a shrink divides both; and a
    JPEG without a resolution (JFIF unit 0, no XResolution) gets none from Pillow's 72 dpi
    fallback, its EXIF's required 72 left as it is by a shrink."""
    exif = Image.Exif()
    exif[0x0112] = 6
    pixels = np.zeros((20, 30, 3), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "dpi.png", dpi=(300, 300), exif=exif.tobytes())
    Image.fromarray(pixels).save(tmp_path / "dpi.jpg", dpi=(300, 300), exif=exif.tobytes())
    Image.fromarray(pixels).save(tmp_path / "none.jpg", exif=exif.tobytes())
    for name, dpi in (("dpi.png", 300), ("dpi.jpg", 300), ("none.jpg", None)):
        for shrink in (1, 2):
            pillow_streamjpeg.encode(tmp_path / name, tmp_path / "out.jpg", shrink=shrink)
            with Image.open(tmp_path / "out.jpg") as out:
                ifd0 = out.getexif()
                assert ifd0[0x0112] == 6
                if dpi is None:
                    assert out.info.get("jfif_unit", 0) == 0  # no density written
                    assert float(ifd0[0x011A]) == 72  # EXIF's filler, not divided
                else:
                    assert out.info["jfif_unit"] == 1
                    assert out.info["jfif_density"] == (dpi // shrink,) * 2
                    assert float(ifd0[0x011A]) == pytest.approx(dpi / shrink, abs=0.01)
                    assert ifd0[0x0128] == 2
            assert validate(tmp_path / "out.jpg") == [], (name, shrink)


def _pyramid(path: Path, *, level_resolution: bool = False) -> np.ndarray:
    """A tiled RGB TIFF with a half-size sub-IFD level; the ICC profile, 300 dpi, EXIF's
    orientation and make on the full-resolution page only (as SVS and OME files have
    them), or a resolution of its own on the level too."""
    rgb = (np.indices((96, 160)).sum(0) % 256).astype(np.uint8)[..., None].repeat(3, 2)
    own = dict(resolution=(100, 100), resolutionunit="INCH") if level_resolution else {}
    with tifffile.TiffWriter(path) as tif:
        tif.write(rgb, photometric="rgb", tile=(32, 32), subifds=1, iccprofile=SRGB,
                  resolution=(300, 200), resolutionunit="INCH", metadata=None,
                  extratags=[(274, "H", 1, 6, True), (271, "s", 0, "Nikon", True)])
        tif.write(rgb[::2, ::2], photometric="rgb", tile=(32, 32), subfiletype=1,
                  metadata=None, **own)
    return rgb


@pytest.mark.parametrize("choice", [{"level": 1}, {"max_size": 80}, {"max_size": 40}])
def test_pyramid_levels_keep_the_full_resolution_pages_metadata(tmp_path, choice):
    """A level (chosen, or by max_size, then shrunk further or not) carries the ICC
    profile, orientation and EXIF of the full-resolution page, its resolution scaled to
    the same print size, as a shrink of the full image does."""
    _pyramid(tmp_path / "pyramid.tif")
    out = tmp_path / "out.jpg"
    pillow_streamjpeg.encode(tmp_path / "pyramid.tif", out, **choice)
    assert_strictly_valid(out.read_bytes())
    pillow_streamjpeg.encode(tmp_path / "pyramid.tif", tmp_path / "shrunk.jpg",
                             shrink=160 // Image.open(out).size[0])
    with Image.open(out) as im, Image.open(tmp_path / "shrunk.jpg") as shrunk:
        scale = 160 / im.size[0]
        assert im.info["icc_profile"] == SRGB
        assert im.info["dpi"] == pytest.approx((300 / scale, 200 / scale))
        exif = im.getexif()
        assert (exif[0x0112], exif[0x010F]) == (6, "Nikon")
        assert (float(exif[0x011A]), float(exif[0x011B])) == pytest.approx(im.info["dpi"])
        assert exif.get_ifd(0x8769)[0xA002] == im.size[0]
        # the same metadata as the full image shrunk to that size
        assert {k: v for k, v in im.info.items() if k != "exif"} == {
            k: v for k, v in shrunk.info.items() if k != "exif"}
        assert dict(exif) == dict(shrunk.getexif())


def test_a_pyramid_levels_own_resolution_is_kept(tmp_path):
    _pyramid(tmp_path / "pyramid.tif", level_resolution=True)
    pillow_streamjpeg.encode(tmp_path / "pyramid.tif", tmp_path / "out.jpg", level=1)
    with Image.open(tmp_path / "out.jpg") as im:
        exif = im.getexif()
        assert im.info["dpi"] == pytest.approx((100, 100))
        assert (float(exif[0x011A]), float(exif[0x011B]), exif[0x0128]) == (100, 100, 2)
        assert im.info["icc_profile"] == SRGB and exif[0x0112] == 6
    with tifffile.TiffFile(tmp_path / "pyramid.tif") as tif:  # the full image's are its own
        assert metadata.from_tiff(tif.pages[0])["dpi"] == (300, 200)
