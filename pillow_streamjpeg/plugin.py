"""The Pillow adapter: the STREAMJPEG save handler and its encoder.

``_save`` turns the image into a Source and parses the options (with Pillow's
tolerance of unknown ones) before anything is written; the encoder, driven by
``ImageFile._save``, hands both to the scan writer, which streams the image's
rows band by band straight to the file.

Save options are Pillow's JPEG ones (``quality``, ``subsampling``, ``qtables``,
``optimize``, ...) plus ``workers`` (encoding threads), ``progress``
(``progress(done, total)`` as rows are encoded) and ``refine``
(decoder-aware quantization: 0 off, 1 or 2 sweeps, True for 1; closer decoded
pixels for 3 to 11 times the encode time of photos; by default one sweep on small
images, ``options.auto_refine``, else off; images of up to 32, 36 or 48 blocks keep
libjpeg-turbo's coefficients where they decode closer, ``options.auto_libjpeg``,
unless ``refine=0``): README.md, "Options".
"""

from __future__ import annotations

from typing import IO

from PIL import Image, ImageFile

from . import options, scan
from .sources import PillowSource

FORMAT = "STREAMJPEG"


class StreamJpegEncoder(ImageFile.PyEncoder):
    """Encodes a whole image to the file given by ``setfd``, band by band."""

    _pushes_fd = True

    def init(self, args: tuple) -> None:
        self.settings, self.source, self.progress = args

    def encode(self, bufsize: int) -> tuple[int, int, bytes]:
        assert self.fd is not None
        scan.write_jpeg(self.fd, self.settings, scan.LocalBackend(self.source), self.progress)
        return 0, 1, b""


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    source = PillowSource(im)
    settings = options.parse(im.mode, im.size, im.encoderinfo, im, channels=source.channels)
    progress = im.encoderinfo.get("progress")
    scan.check_progress(progress)
    ImageFile._save(im, fp, [ImageFile._Tile(FORMAT, (0, 0) + im.size, 0,
                                             (settings, source, progress))])


Image.register_encoder(FORMAT, StreamJpegEncoder)
Image.register_save(FORMAT, _save)
Image.register_mime(FORMAT, "image/jpeg")
