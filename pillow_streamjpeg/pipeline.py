"""``encode()``: a source and save options, through the scan writer, to a file.

The route is one way: the argument becomes a Source (``sources.as_source``),
the options are parsed once with the source's mode, size and channels into
Settings, and the scan writer (``scan``) writes the file from a backend (the
local thread pool, or Dask tasks for a dask array) into ``output.opened(fp)``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import IO, Any

from PIL import Image

from . import metadata, options, output, scan, sources


def settings_for(source: sources.Source, params: dict[str, Any], *,
                 strip: bool = False) -> options.Settings:
    """The Settings of a source saved with these options (which override its metadata;
    ``strip=True``: none of its metadata)."""
    image = source.image if isinstance(source, sources.PillowSource) else None
    info = metadata.merged(source.metadata, params, strip=strip)
    if strip:
        # none of the source's metadata: not the comment either, which ``options.parse``
        # takes from a Pillow image's info where the options give none (as Pillow's
        # Image.save carries it)
        info.setdefault("comment", None)
    whole = options.whole_number(source.channels)
    channels = source.channels if whole is None else whole
    # a Source of the user's too: fewer samples than the mode's would have the kernels
    # read past each band's end
    sources.check_channels(source.mode, channels, "a source")
    return options.parse(source.mode, sources.whole_size(source.size, "a source's size"), info,
                         image, channels=channels)


def encode(
    source: Any,
    fp: str | os.PathLike | IO[bytes],
    *,
    quality: int | str | None = None,
    subsampling: int | str | None = None,
    qtables: Any = None,
    optimize: bool = False,
    progressive: bool = False,
    dpi: tuple[float, float] | None = None,
    icc_profile: bytes | None = None,
    exif: bytes | Image.Exif | None = None,
    xmp: bytes | None = None,
    comment: bytes | str | None = None,
    keep_rgb: bool = False,
    restart_marker_blocks: int | None = None,
    restart_marker_rows: int | None = None,
    refine: int | bool | None = None,
    workers: int | None = None,
    progress: scan.Progress | None = None,
    page: int | None = None,
    series: int | None = None,
    level: int | None = None,
    size: tuple[int, int] | None = None,
    mode: str | None = None,
    channels: int | None = None,
    client: Any = None,
    band_rows: int | None = None,
    max_in_flight: int | None = None,
    range: str | tuple[float, float] | None = None,
    background: str | tuple[int, int, int] | None = None,
    shrink: int | None = None,
    max_size: int | None = None,
    strip: bool = False,
) -> None:
    """Encode a source to baseline JPEG, strip by strip.

    :param source: a PIL image (palettes applied, 16-bit and float grey rendered
        to 8 bits through ``range``, as for an image file); a uint8 array (numpy, memmap, zarr, or any
        array-like with ``shape``, ``dtype`` and slicing) of shape (height, width)
        or (height, width, 1|3|4), the 4th sample (alpha or padding) ignored (its samples
        encoded as they are: an array of another dtype raises TypeError; scale it to uint8
        first, or give a grey one as ``Image.fromarray(array)``, rendered through ``range``);
        a TIFF (path or ``tifffile.TiffFile``); another image file path (opened
        with Pillow); row bands (``RowBands``, or an iterable of bands with
        ``size``); or any ``Source``. A dask array is encoded as Dask tasks on
        the active scheduler (a ``distributed.Client`` included): see docs/dask.md.
    :param fp: a path (written to a temporary file, renamed when complete; as
        with ``open(path, "wb")``, a symbolic link is written through and a named
        pipe or device in place) or a writable binary file object (written to the
        last byte: a raw file's partial writes are continued). An empty path ('')
        raises ValueError before any work.

    Save options, with ``Image.save``'s names and meanings (README.md,
    "Options"): ``quality``, ``subsampling``, ``qtables``, ``optimize``,
    ``progressive`` (refused: baseline only), ``dpi``, ``icc_profile``,
    ``exif``, ``xmp``, ``comment``, ``keep_rgb``, ``restart_marker_blocks``,
    ``restart_marker_rows``; ``workers``: encoding threads (default: all CPUs).
    ``refine``: decoder-aware quantization, 0 (off), 1 or 2 sweeps (True: 1):
    coefficients moved by a quantization step where that brings the pixels
    libjpeg's integer IDCT decodes closer to the source (of RGB: the RGB
    pixels after its upsampling and YCbCr to RGB; +2 to +3 dB on grey photos at
    quality 100), for 3 to 12 times the encode time of photos (grey 3.1 to 3.9,
    RGB 4:4:4 5.3 to 7.3, 4:2:0 8.4 to 11.4; docs/fidelity.md); None (the default) is one sweep on
    small images (``options.auto_refine``: at most ``REFINE_AUTO_BLOCKS_PLANES``
    blocks of 8x8 for grey, CMYK and RGB kept as RGB, ``REFINE_AUTO_BLOCKS``
    for RGB converted without subsampling, ``REFINE_AUTO_BLOCKS_SUBSAMPLED``
    for subsampled RGB, at every quality), sized for about 1.25x a save at most
    (more on faster machines: docs/performance.md, "Small saves"), else off; images of at most 18 blocks are searched without the
    rate term (``strips.REFINE_PLAIN_BLOCKS``), of at most 8 with more
    candidates (``strips.REFINE_SMALL_BLOCKS``); with 1 or 2 given, images of
    up to 256 MCUs too (``options.MARKED_CHOICE_MCUS``), their MCUs of repeated
    or one-dimensional content then choosing as by default (below). Images of up to 32 blocks
    (grey, CMYK, RGB kept as RGB) or 48 (RGB 4:4:4), and those the search
    covers without a rate term, keep libjpeg-turbo's coefficients where they
    decode closer, so that they never decode farther from the source than
    Pillow's files, RGB at 4:2:2 and 4:2:0 of up to 36 blocks too, within 0.1 dB
    (``options.auto_libjpeg``; not with ``refine=0``), and so do, on images of up
    to 256 MCUs, the MCUs of repeated or one-dimensional content (checkers,
    ramps along one axis: ``options.marked_choice``); where it is off by default, RGB
    4:4:4 at quality 92 and below has each Y coefficient rounded with the chroma
    for the RGB error (about 1.11x the encode time), RGB 4:2:0 and 4:2:2 at quality
    95 and below its Y corrected for the decoded chroma (1.10x to 1.23x; at q93 to q95
    only where the chroma has detail, ``kernels._luma_gate``; ``options.rounds_jointly``),
    and larger grey images (CMYK, RGB kept as RGB) at quality 94 and above keep
    libjpeg-turbo's coefficients on blocks of 1 or 2 levels where they decode closer,
    on smooth content whose patterns repeat (``options.smooth_levels``: about 1.05x on
    photos, 2x on ramps and vignettes), which 0 turns off too (docs/fidelity.md).
    ``progress(done, total)`` is called as rows are encoded (optimize=True
    counts every row twice: one pass for statistics, one for coding; once on an image of
    at most ``scan.READ_BACK_PIXELS`` pixels, coded once and its symbols written again).

    The source's metadata (ICC profile, resolution, EXIF with orientation, XMP
    of a TIFF, an image file or a PIL image's ``info``) are written unless
    given as options (the user's win) or ``strip=True``. Rendering (docs/tiff.md):
    ``range`` of TIFF samples that are not 8-bit (and of 16-bit, 32-bit and float
    grey image files and PIL images) ("auto" by default, "full",
    (low, high), "LOW,HIGH" or "P1%,P2%"); ``background``, a colour that alpha
    is composited on (else associated alpha is un-premultiplied and alpha
    dropped; RGBA, LA, RGBa and La PIL images are taken). Size: ``shrink=N``
    averages N x N blocks; ``max_size=PIXELS`` takes a TIFF pyramid level that
    fits, else the smallest factor that brings both sides within PIXELS. A
    source above 65500 pixels a side without them raises ``errors.NotSupported``
    (a ValueError) before any work.

    What to read: ``page``, or ``series`` and ``level``, of a TIFF (docs/tiff.md);
    ``mode`` of an array or row bands ("CMYK" for 4 samples of ink; a mode takes
    its colour samples and at most one more, ignored: "L" an array of 1 or 2, not
    an RGB one, which is refused rather than read as its red channel; "LA" and
    "RGBA" an array of 2 and 4, its alpha dropped as an LA or RGBA PIL image's,
    ``background`` applying to the PIL image, ``Image.fromarray(array)``); ``size``
    and ``channels`` of row bands. Dask arrays: ``client``, ``band_rows``,
    ``max_in_flight`` (docs/dask.md). An unknown keyword, or a choice that does
    not apply to the source, raises TypeError.
    """
    output.refuse_empty(fp)  # before the source is opened ("Is a directory" from open)
    if _same_file(source, fp):
        raise ValueError(f"the output is the input file: {os.fsdecode(os.fspath(fp))} "
                         "(write the JPEG to another path)")
    params = {
        "quality": quality, "subsampling": subsampling, "qtables": qtables,
        "optimize": optimize, "progressive": progressive, "dpi": dpi,
        "icc_profile": icc_profile, "exif": exif, "xmp": xmp, "comment": comment,
        "keep_rgb": keep_rgb, "restart_marker_blocks": restart_marker_blocks,
        "restart_marker_rows": restart_marker_rows, "refine": refine, "workers": workers,
    }
    params = {key: value for key, value in params.items() if value is not None}
    dask_options = {"client": client, "band_rows": band_rows, "max_in_flight": max_in_flight}
    backend: scan.Backend
    if _is_dask_array(source):
        from . import dask_backend  # imports dask: only for dask arrays

        choices = {"page": page, "series": series, "level": level, "size": size,
                   "channels": channels, "range": range, "background": background,
                   "shrink": shrink, "max_size": max_size}
        given = sorted(key for key, value in choices.items() if value is not None)
        if given:
            raise TypeError(f"{', '.join(given)} do{'es' * (len(given) == 1)} not apply to a dask array")
        backend = dask_backend.DaskBackend(source, mode=mode, **dask_options)
        pixels: sources.Source = backend.source
    else:
        given = sorted(key for key, value in dask_options.items() if value is not None)
        if given:
            raise TypeError(f"{', '.join(given)} only apply to dask arrays")
        pixels = sources.as_source(source, page=page, series=series, level=level, size=size,
                                   mode=mode, channels=channels, range=range,
                                   background=background, shrink=shrink, max_size=max_size,
                                   strip=strip)
        backend = scan.LocalBackend(pixels)
    with contextlib.ExitStack() as stack:
        if pixels is not source:  # made here: close the files it opened
            stack.enter_context(pixels)
        name = source if isinstance(source, (str, os.PathLike)) else "image"
        sources.check_size(pixels, name)
        settings = settings_for(pixels, params, strip=strip)
        with output.opened(fp) as out:
            scan.write_jpeg(out, settings, backend, progress)


def _same_file(source: Any, fp: Any) -> bool:
    """Whether the source and the output are paths of one existing file (written, the
    source would be replaced by its JPEG)."""
    paths = (str, bytes, os.PathLike)
    if not isinstance(source, paths) or not isinstance(fp, paths):
        return False
    try:
        return os.path.samefile(source, fp)
    except (OSError, ValueError):
        return False


def _is_dask_array(source: Any) -> bool:
    """Whether source is a dask array; dask is not imported if it is not loaded yet."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(source, module.Array)
