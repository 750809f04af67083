"""The metadata a JPEG should carry, from a TIFF page or a Pillow image.

Both readers return a dict of save options, with Pillow's names so it can be
merged under the user's options and handed to ``encode()``:

* ``icc_profile``: bytes (TIFF tag 34675 InterColorProfile; Pillow ``im.info``);
* ``dpi``: (x, y) dots per inch, as Pillow reports them (a resolution in
  centimetres converted with 2.54, as Pillow does);
* ``jfif_unit`` and ``jfif_density``: present only when the resolution is in
  centimetres: 2 and the (x, y) dots per centimetre rounded to whole numbers,
  the JFIF APP0 fields (the names Pillow's JPEG reader gives them). A writer
  that knows them writes ``markers.app0_jfif(jfif_density, jfif_unit)``
  instead of the dpi, so centimetres stay centimetres;
* ``exif``: bytes built with ``Image.Exif``: Orientation and the descriptive
  tags of the TIFF's first IFD (``IFD0_TAGS``), the EXIF and GPS IFDs
  (without MakerNote and the interoperability pointer, whose offsets point
  into the TIFF);
* ``xmp``: bytes (TIFF tag 700; Pillow ``im.info["xmp"]``), when it fits one
  segment (``MAX_XMP``); an EXIF above 64 KiB is dropped too, so the source's
  metadata never makes a save fail.

A key is absent when the source has nothing for it. ``merged`` applies the
rule: options given by the user win, ``strip=True`` keeps none of the
source's metadata.
"""

from __future__ import annotations

import math
import re
import struct
import warnings
from collections.abc import Mapping
from typing import Any

from PIL import Image, TiffImagePlugin

__all__ = ["IFD0_TAGS", "KEYS", "from_pillow", "from_tiff", "merged", "resolution", "shrunk"]

#: The keys these readers fill.
KEYS = ("icc_profile", "dpi", "jfif_unit", "jfif_density", "exif", "xmp")
#: The keys that hold the resolution: made again together (``shrunk``, ``merged``).
RESOLUTION_KEYS = ("dpi", "jfif_unit", "jfif_density")

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
INTEROP_IFD = 0xA005
MAKER_NOTE = 0x927C
ORIENTATION = 0x0112

#: Tags of a TIFF's first IFD copied into the EXIF: ImageDescription, Make,
#: Model, Orientation, Software, DateTime, Artist, HostComputer, Copyright.
IFD0_TAGS = (0x010E, 0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x013C, 0x8298)

_RESUNIT_INCH, _RESUNIT_CM = 2, 3

#: Longest XMP one APP1 segment holds (65533 minus its 29-byte namespace header); a longer
#: packet would need Extended XMP, which the writer does not do: it is dropped.
MAX_XMP = 65504

#: IFD0 resolution tags (XResolution, YResolution, ResolutionUnit) and YCbCrPositioning,
#: which EXIF requires in a JPEG's IFD0; the source's are kept, else 72 dpi and centred.
_RESOLUTION_TAGS = (0x011A, 0x011B, 0x0128)
_YCBCR_POSITIONING = 0x0213
#: What EXIF requires in a JPEG's EXIF IFD: ExifVersion, ComponentsConfiguration
#: (Y, Cb, Cr) and FlashpixVersion; ColorSpace and the pixel dimensions are set apart.
_COMPONENTS = 0x9101
_EXIF_REQUIRED = {0x9000: b"0232", _COMPONENTS: b"\x01\x02\x03\x00", 0xA000: b"0100"}
_COLOR_SPACE, _PIXEL_X, _PIXEL_Y = 0xA001, 0xA002, 0xA003
#: DateTime, DateTimeOriginal, DateTimeDigitized: "YYYY:MM:DD HH:MM:SS" or dropped.
_DATE_TAGS = (0x0132, 0x9003, 0x9004)
_DATE = re.compile(r"^\d{4}:(0\d|1[0-2]):([0-2]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")


def resolution(xres: float, yres: float, unit: int | None) -> dict[str, Any]:
    """``dpi`` (and the JFIF fields for centimetres) from a TIFF resolution.

    ``unit`` is ResolutionUnit: 2 inch, 3 centimetre, 1 or anything else no
    absolute unit (nothing is kept: JFIF's aspect-only unit 0 is the writer's
    default). A missing unit counts as inches, as in TIFF 6.0 and Pillow.
    Zero or non-finite values give nothing.
    """
    try:
        x, y = float(xres), float(yres)
    except (TypeError, ValueError):
        return {}
    if not (0 < x < 1e9 and 0 < y < 1e9):
        return {}
    if unit is None or unit == _RESUNIT_INCH:
        if round(x) <= 65535 and round(y) <= 65535:
            return {"dpi": (x, y)}
        # finer than JFIF's 16 bits of dots per inch (a slide scan's 0.25 µm pixels are
        # 101,600 dpi): written in dots per centimetre, as a source in centimetres is
        unit, x, y = _RESUNIT_CM, x / 2.54, y / 2.54
    if unit == _RESUNIT_CM:
        density = (min(65535, max(1, round(x))), min(65535, max(1, round(y))))
        # the dpi of the density written where it had to be clamped (above 65535 per cm)
        dpi = (x * 2.54 if density[0] == round(x) else density[0] * 2.54,
               y * 2.54 if density[1] == round(y) else density[1] * 2.54)
        return {"dpi": dpi, "jfif_unit": 2, "jfif_density": density}
    return {}


def _rational(value: Any) -> float | None:
    if isinstance(value, tuple) and len(value) == 2:
        return value[0] / value[1] if value[1] else None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_DESCRIPTION = 0x010E
#: ImageDescription holding data for programs (tifffile's JSON shape, OME-XML, ImageJ's
#: settings) is not a description for people: dropped, like any above this length.
_MACHINE_DESCRIPTION = ("{", "<", "ImageJ=")
_MAX_DESCRIPTION = 4096


def _valid(tag: int, value: Any) -> bool:
    if value is None or value == "" or value == b"":
        return False
    if tag == _DESCRIPTION:
        return (isinstance(value, str) and len(value) <= _MAX_DESCRIPTION
                and not value.lstrip().startswith(_MACHINE_DESCRIPTION))
    if tag == ORIENTATION:
        return value in range(1, 9)
    if tag in _DATE_TAGS:
        return isinstance(value, str) and bool(_DATE.match(value))
    return True


def _exif_bytes(source: Image.Exif, size: tuple[int, int], icc: bool,
                dpi: tuple[float, float] | None = None) -> bytes | None:
    """EXIF of the kept tags of ``source`` (a loaded TIFF IFD or a Pillow image's EXIF).

    None when ``source`` has none of ``IFD0_TAGS`` and no EXIF or GPS tag.
    Otherwise the tags EXIF requires of a JPEG are completed: resolution
    (``dpi`` in inches where given, else the source's, else 72 dpi), YCbCrPositioning, and in the EXIF IFD
    ExifVersion, ComponentsConfiguration, FlashpixVersion, ColorSpace (the
    source's, else uncalibrated with an ICC profile and sRGB without) and
    the pixel dimensions, set to ``size`` (the JPEG's, after any shrink).
    Dates not in EXIF's form and orientations outside 1..8 are dropped.
    """
    # plain dicts, not an Image.Exif: Pillow 10.4's get_ifd of an IFD the Exif does not
    # have returns a new dict each time, which kept nothing set in it
    first: dict[int, Any] = {}
    for tag in IFD0_TAGS:
        value = source.get(tag)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str):
            value = value.rstrip("\0")
        if _valid(tag, value):
            first[tag] = _text_bytes(value, decoded=isinstance(source, _FirstIfd)) \
                if isinstance(value, str) else value
    subs: dict[int, dict[int, Any]] = {}
    for pointer in (EXIF_IFD, GPS_IFD):
        try:
            ifd = source.get_ifd(pointer)
        except Exception:  # a broken sub-IFD is dropped, not an error
            continue
        kept = {tag: value for tag, value in ifd.items()
                if tag not in (MAKER_NOTE, INTEROP_IFD, 0xA002, 0xA003)
                and not isinstance(value, dict) and _valid(tag, value)}
        if kept:
            subs[pointer] = kept
    if not first and not subs:
        return None
    resolution = [source.get(tag) for tag in _RESOLUTION_TAGS]
    if dpi is not None:  # the image's own (a PNG's pHYs, a JPEG's JFIF density)
        resolution = [TiffImagePlugin.IFDRational(v) for v in dpi] + [_RESUNIT_INCH]
    elif None in resolution or resolution[2] not in (2, 3) or not all(
            (_rational(v) or 0) > 0 for v in resolution[:2]):
        resolution = [TiffImagePlugin.IFDRational(72, 1)] * 2 + [2]
    for tag, value in zip(_RESOLUTION_TAGS, resolution):
        first[tag] = value
    first[_YCBCR_POSITIONING] = source.get(_YCBCR_POSITIONING) or 1
    exif_ifd = subs.setdefault(EXIF_IFD, {})
    for tag, value in _EXIF_REQUIRED.items():
        exif_ifd.setdefault(tag, value)
    exif_ifd.setdefault(_COLOR_SPACE, 0xFFFF if icc else 1)
    exif_ifd[_PIXEL_X], exif_ifd[_PIXEL_Y] = (int(v) for v in size)
    return _ifds_tobytes(first, subs, ">")


#: TIFF field types (TIFF 6.0): BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL.
_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _UNDEFINED, _SRATIONAL = 1, 2, 3, 4, 5, 7, 10

#: The type EXIF 2.32 gives each tag of the EXIF IFD whose type it fixes (Pillow knows
#: the types of IFD0's and the GPS IFD's tags, of this IFD's only four: the others it
#: guesses from the value, bytes as BYTE, a positive SRATIONAL as RATIONAL, a small LONG
#: as SHORT, which ``exiftool -validate`` reports). PixelX/YDimension, SHORT or LONG, are
#: left to Pillow; so are tags EXIF does not define.
_EXIF_TYPES = {
    0x829A: _RATIONAL, 0x829D: _RATIONAL, 0x8822: _SHORT, 0x8824: _ASCII, 0x8827: _SHORT,
    0x8828: _UNDEFINED, 0x8830: _SHORT, 0x8831: _LONG, 0x8832: _LONG, 0x8833: _LONG,
    0x8834: _LONG, 0x8835: _LONG, 0x9000: _UNDEFINED, 0x9003: _ASCII, 0x9004: _ASCII,
    0x9010: _ASCII, 0x9011: _ASCII, 0x9012: _ASCII, _COMPONENTS: _UNDEFINED,
    0x9102: _RATIONAL, 0x9201: _SRATIONAL, 0x9202: _RATIONAL, 0x9203: _SRATIONAL,
    0x9204: _SRATIONAL, 0x9205: _RATIONAL, 0x9206: _RATIONAL, 0x9207: _SHORT, 0x9208: _SHORT,
    0x9209: _SHORT, 0x920A: _RATIONAL, 0x9214: _SHORT, 0x9286: _UNDEFINED, 0x9290: _ASCII,
    0x9291: _ASCII, 0x9292: _ASCII, 0x9400: _SRATIONAL, 0x9401: _RATIONAL, 0x9402: _RATIONAL,
    0x9403: _SRATIONAL, 0x9404: _RATIONAL, 0x9405: _SRATIONAL, 0xA000: _UNDEFINED,
    0xA001: _SHORT, 0xA004: _ASCII, 0xA20B: _RATIONAL, 0xA20C: _UNDEFINED,
    0xA20E: _RATIONAL, 0xA20F: _RATIONAL, 0xA210: _SHORT, 0xA214: _SHORT, 0xA215: _RATIONAL,
    0xA217: _SHORT, 0xA300: _UNDEFINED, 0xA301: _UNDEFINED, 0xA302: _UNDEFINED,
    0xA401: _SHORT, 0xA402: _SHORT, 0xA403: _SHORT, 0xA404: _RATIONAL, 0xA405: _SHORT,
    0xA406: _SHORT, 0xA407: _SHORT, 0xA408: _SHORT, 0xA409: _SHORT, 0xA40A: _SHORT,
    0xA40B: _UNDEFINED, 0xA40C: _SHORT, 0xA420: _ASCII, 0xA430: _ASCII, 0xA431: _ASCII,
    0xA432: _RATIONAL, 0xA433: _ASCII, 0xA434: _ASCII, 0xA435: _ASCII, 0xA460: _SHORT,
    0xA461: _SHORT, 0xA462: _UNDEFINED, 0xA500: _RATIONAL,
}


def _fits(typ: int, value: Any) -> bool:
    """Whether Pillow can write ``value`` (one value or a tuple) as a field of type ``typ``."""
    values = value if isinstance(value, tuple) else (value,)
    try:
        if typ in (_UNDEFINED, _ASCII):
            return all(isinstance(v, (bytes, str)) for v in values)
        if typ in (_SHORT, _LONG):
            top = 1 << (16 if typ == _SHORT else 32)
            return all(isinstance(v, int) and 0 <= v < top for v in values)
        if typ in (_RATIONAL, _SRATIONAL):
            return all(isinstance(v, (int, float, TiffImagePlugin.IFDRational))
                       and math.isfinite(float(v)) and (typ == _SRATIONAL or float(v) >= 0)
                       for v in values)
    except (TypeError, ValueError, ZeroDivisionError):
        return False
    return False


def _ifd_bytes(values: Mapping[int, Any], head: bytes, group: int | None,
               types: Mapping[int, int], offset: int) -> bytes:
    """One IFD (entries, next-IFD offset 0, then their data) written by Pillow to start at
    ``offset`` from the TIFF header ``head``, each tag of ``types`` of that type where its
    value fits it (``_fits``), the others as Pillow types them."""
    ifd = TiffImagePlugin.ImageFileDirectory_v2(head, group=group)
    for tag, value in values.items():
        typ = types.get(tag)
        if typ is not None and _fits(typ, value):
            ifd.tagtype[tag] = typ
        ifd[tag] = value
    return ifd.tobytes(offset)


def _exif_tobytes(exif: Image.Exif) -> bytes | None:
    """A loaded EXIF's bytes again (``_ifds_tobytes``), after changes to its tags."""
    subs = {pointer: dict(exif.get_ifd(pointer)) for pointer in (EXIF_IFD, GPS_IFD)}
    first = {tag: value for tag, value in exif.items() if tag not in (EXIF_IFD, GPS_IFD)}
    return _ifds_tobytes(first, subs, "<" if exif.endian == "<" else ">")


def _ifds_tobytes(first: Mapping[int, Any], subs: Mapping[int, Mapping[int, Any]],
                  order: str) -> bytes | None:
    """EXIF bytes of IFD0's tags ``first`` and the EXIF and GPS IFDs ``subs`` (by pointer
    tag) in byte order ``order`` ("<" or ">"), the EXIF IFD's tags of the types EXIF gives
    them (``_EXIF_TYPES``: ``Image.Exif.tobytes`` would guess them); None above one
    segment."""
    head = (b"II\x2a\x00" if order == "<" else b"MM\x00\x2a") + struct.pack(order + "L", 8)
    subs = {pointer: {tag: value for tag, value in values.items()
                      if tag != INTEROP_IFD and not isinstance(value, dict)}
            for pointer, values in subs.items()}
    subs = {pointer: values for pointer, values in subs.items() if values}
    first = {tag: value for tag, value in first.items() if not isinstance(value, dict)}
    pointers = dict.fromkeys(subs, 0)
    pointer_types = dict.fromkeys(subs, _LONG)
    # IFD0 first with the pointers still 0 (LONGs: its length does not depend on them),
    # then each sub-IFD after it, then IFD0 again pointing at them
    offset = 8 + len(_ifd_bytes({**first, **pointers}, head, None, pointer_types, 8))
    blocks = []
    for pointer, values in subs.items():
        pointers[pointer] = offset
        blocks.append(_ifd_bytes(values, head, pointer,
                                 _EXIF_TYPES if pointer == EXIF_IFD else {}, offset))
        offset += len(blocks[-1])
    data = (b"Exif\x00\x00" + head + _ifd_bytes({**first, **pointers}, head, None,
                                                  pointer_types, 8) + b"".join(blocks))
    return data if len(data) <= 65533 else None


def shrunk(meta: Mapping[str, Any], factor: int, size: tuple[int, int]) -> dict[str, Any]:
    """The metadata of an image shrunk by ``factor`` to ``size``: the same print size.

    The resolution is divided by ``factor`` (dpi, and the JFIF density in
    centimetres made from it by ``resolution``; the EXIF's), and the EXIF pixel
    dimensions become ``size``. Everything else is kept as it is.
    """
    result = dict(meta)
    if factor == 1:
        return result
    if "dpi" in result:
        # the whole resolution made again from the dpi (a density rounded twice, or one
        # clamped, would no longer match it: options._same_resolution)
        for key in RESOLUTION_KEYS:
            result.pop(key, None)
        x, y = meta["dpi"]
        unit = _RESUNIT_CM if meta.get("jfif_unit") == 2 else _RESUNIT_INCH
        scale = 2.54 if unit == _RESUNIT_CM else 1.0
        result.update(resolution(x / factor / scale, y / factor / scale, unit))
    exif_bytes = result.get("exif")
    if exif_bytes:
        try:
            exif = Image.Exif()
            exif.load(exif_bytes)
            # the EXIF's resolution only where the image has one: without, it is EXIF's
            # required filler (72 dpi, ``_exif_bytes``), not a size to keep
            for tag in _RESOLUTION_TAGS[:2] if "dpi" in meta else ():
                value = _rational(exif.get(tag))
                if value:
                    exif[tag] = TiffImagePlugin.IFDRational(value / factor)
            exif_ifd = exif.get_ifd(EXIF_IFD)
            exif_ifd[_PIXEL_X], exif_ifd[_PIXEL_Y] = (int(v) for v in size)
            data = _exif_tobytes(exif)
        except Exception:  # an EXIF that cannot be rewritten is dropped
            data = None
        if data:
            result["exif"] = data
        else:
            result.pop("exif")
    return result


def _text_bytes(value: str, *, decoded: bool) -> bytes:
    """An ASCII tag's text as the bytes to write: Pillow writes a str as ASCII with "?" for
    every other character, bytes as they are. Pillow reads a tag's bytes as Latin-1, which
    gives them back unchanged (UTF-8 from exiftool stays UTF-8); text tifffile decoded
    (``decoded``: UTF-8, else cp1252), or that a user set, is written as UTF-8."""
    if not decoded:
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            pass
    return value.encode("utf-8")


class _FirstIfd(dict):
    """IFD0's tags as tifffile read them, for files Pillow cannot parse (no sub-IFDs)."""

    def __init__(self, page: Any) -> None:
        super().__init__()
        for tag in (*IFD0_TAGS, *_RESOLUTION_TAGS, _YCBCR_POSITIONING):
            value = page.tags.valueof(tag)
            if isinstance(value, tuple) and len(value) == 2 and tag in _RESOLUTION_TAGS[:2]:
                value = TiffImagePlugin.IFDRational(*value) if value[1] else None
            if value is not None:
                self[tag] = int(value) if isinstance(value, int) else value

    def get_ifd(self, tag: int) -> dict:
        return {}


def _tiff_exif(tif: Any, page: Any, size: tuple[int, int], icc: bool) -> bytes | None:
    """The first IFD of ``page`` read by Pillow, types kept, then filtered.

    Pillow (13.0) cannot parse a big-endian BigTIFF's IFD: there only the
    first IFD's tags are taken, from tifffile (no EXIF or GPS IFD).
    """
    if tif.is_bigtiff and tif.byteorder == ">":
        return _exif_bytes(_FirstIfd(page), size, icc)
    handle = tif.filehandle
    source = Image.Exif()
    with warnings.catch_warnings():  # Pillow warns of odd tags; the EXIF is checked here
        warnings.simplefilter("ignore")
        return _load_exif(source, tif, handle, page, size, icc)


def _load_exif(source: Image.Exif, tif: Any, handle: Any, page: Any, size: tuple[int, int],
               icc: bool) -> bytes | None:
    source.endian = tif.byteorder
    source.bigtiff = bool(tif.is_bigtiff)
    with handle.lock:
        position = handle.tell()
        try:
            source.load_from_fp(handle, page.offset)
            source.get_ifd(EXIF_IFD), source.get_ifd(GPS_IFD)  # read while the lock is held
            return _exif_bytes(source, size, icc)
        except Exception:  # unreadable EXIF is dropped: the pixels may still be fine
            return None
        finally:
            handle.seek(position)


def from_tiff(page: Any, tif: Any | None = None, *,
              size: tuple[int, int] | None = None) -> dict[str, Any]:
    """The metadata of a tifffile ``TiffPage`` (``tif``: its ``TiffFile``, default ``page.parent``).

    ``size`` is the JPEG's (width, height) for the EXIF pixel dimensions
    (default: the page's); give it when a shrink or another level changes it.
    """
    tif = tif if tif is not None else page.parent
    size = size or (page.imagewidth, page.imagelength)
    tags = page.tags
    result: dict[str, Any] = {}
    icc = tags.valueof(34675)
    if isinstance(icc, (bytes, bytearray)) and icc:
        result["icc_profile"] = bytes(icc)
    xres, yres = tags.valueof(282), tags.valueof(283)
    if xres is not None and yres is not None:
        unit = tags.valueof(296)
        result.update(resolution(_rational(xres), _rational(yres),
                                 None if unit is None else int(unit)))
    exif = _tiff_exif(tif, page, size, "icc_profile" in result)
    if exif:
        result["exif"] = exif
    xmp = tags.valueof(700)
    if isinstance(xmp, str):
        xmp = xmp.encode()
    if isinstance(xmp, (bytes, bytearray)) and xmp.strip(b"\0 \n") and len(xmp) <= MAX_XMP:
        result["xmp"] = bytes(xmp)
    return result


def from_pillow(im: Image.Image, *, size: tuple[int, int] | None = None) -> dict[str, Any]:
    """The metadata of a Pillow image: ``im.info`` and ``im.getexif()``.

    ``size``: the JPEG's (width, height) for the EXIF (default ``im.size``).
    A TIFF opened by Pillow keeps its unit (``tag_v2`` ResolutionUnit), a JPEG
    its ``jfif_unit``/``jfif_density``; the EXIF is filtered as for a TIFF.
    """
    info = im.info
    result: dict[str, Any] = {}
    if info.get("icc_profile"):
        result["icc_profile"] = bytes(info["icc_profile"])
    tag_v2 = getattr(im, "tag_v2", None)
    if tag_v2 is not None and 282 in tag_v2 and 283 in tag_v2:
        result.update(resolution(tag_v2[282], tag_v2[283], tag_v2.get(296)))
    elif info.get("jfif_unit") == 2 and info.get("jfif_density"):
        x, y = info["jfif_density"]
        result.update(resolution(x, y, _RESUNIT_CM))
    elif info.get("dpi") and not _pillow_default_dpi(im):
        try:
            x, y = info["dpi"]
        except (TypeError, ValueError):
            pass
        else:
            result.update(resolution(x, y, _RESUNIT_INCH))
    try:
        with warnings.catch_warnings():  # Pillow warns of odd tags
            warnings.simplefilter("ignore")
            # the EXIF's resolution the image's dpi where it has one, not the 72 dpi
            # filler of an EXIF without one, nor one that says otherwise
            exif = _exif_bytes(im.getexif(), size or im.size, "icc_profile" in result,
                               result.get("dpi"))
    except Exception:  # unreadable EXIF is dropped
        exif = None
    if exif:
        result["exif"] = exif
    xmp = info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode()
    if isinstance(xmp, (bytes, bytearray)) and xmp and len(xmp) <= MAX_XMP:
        result["xmp"] = bytes(xmp)
    return result


def _pillow_default_dpi(im: Image.Image) -> bool:
    """Whether ``im.info["dpi"]`` is Pillow's 72 dpi for a JPEG that has no resolution: no
    JFIF unit (0: an aspect ratio only) and no XResolution in the EXIF, where Pillow's
    reader sets (72, 72) anyway."""
    if im.format != "JPEG" or im.info.get("jfif_unit", 0) != 0:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _RESOLUTION_TAGS[0] not in im.getexif()
    except Exception:  # an unreadable EXIF: Pillow's fallback too
        return True


def merged(source: Mapping[str, Any], options: Mapping[str, Any], *,
           strip: bool = False) -> dict[str, Any]:
    """``options`` completed with the source's metadata: the user's options win.

    A user's ``dpi`` replaces the source's whole resolution (its JFIF fields
    too, and its EXIF's unless ``exif`` is given too). ``strip=True`` returns
    ``options`` unchanged (nothing from the source).
    """
    result = dict(options)
    if strip:
        return result
    for key, value in source.items():
        if key in ("jfif_unit", "jfif_density") and "dpi" in options:
            continue
        result.setdefault(key, value)
    if "dpi" in options and "exif" not in options and source.get("exif"):
        result["exif"] = _with_dpi(source["exif"], options["dpi"])
    return result


def _with_dpi(exif_bytes: bytes, dpi: Any) -> bytes:
    """The source's EXIF with its resolution made the user's ``dpi`` (in inches), so that
    the file does not say two things; unchanged where ``dpi`` is not two positive finite
    numbers (the options refuse it then) or the EXIF cannot be rewritten."""
    try:
        x, y = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return exif_bytes
    if not (0 < x < float("inf") and 0 < y < float("inf")):
        return exif_bytes
    try:
        exif = Image.Exif()
        exif.load(exif_bytes)
        if _RESOLUTION_TAGS[0] not in exif:  # not one the source's metadata made
            return exif_bytes
        for tag, value in zip(_RESOLUTION_TAGS, (x, y)):
            exif[tag] = TiffImagePlugin.IFDRational(value)
        exif[_RESOLUTION_TAGS[2]] = _RESUNIT_INCH
        data = _exif_tobytes(exif)
    except Exception:  # kept as it was
        return exif_bytes
    return data or exif_bytes
