"""The Pillow adapter: the STREAMJPEG save handler and its encoder.

``_save`` parses and checks the options before anything is written; the
encoder, driven by ``ImageFile._save``, writes the header segments and streams
the image's rows band by band through the strip writer straight to the file.
"""

from __future__ import annotations

from typing import IO

from PIL import Image, ImageFile

from . import options, pipeline, sources

FORMAT = "STREAMJPEG"


class StreamJpegEncoder(ImageFile.PyEncoder):
    """Encodes a whole image to the file given by ``setfd``, band by band."""

    _pushes_fd = True

    def init(self, args: tuple) -> None:
        (self.settings,) = args

    def encode(self, bufsize: int) -> tuple[int, int, bytes]:
        assert self.im is not None and self.fd is not None
        settings = self.settings
        state = self.state
        extents = (state.xoff, state.yoff, state.xoff + state.xsize, state.yoff + state.ysize)
        image = self.im

        def read_bands():  # each call is a new pass (optimize reads the image twice)
            return sources.pillow_bands(
                image, extents, settings.layout.rawmode, settings.layout.channels,
                settings.strip_height,
            )

        pipeline.write_jpeg(self.fd, settings, read_bands)
        return 0, 1, b""


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    settings = options.parse(im.mode, im.size, im.encoderinfo, im)
    ImageFile._save(im, fp, [ImageFile._Tile(FORMAT, (0, 0) + im.size, 0, (settings,))])


Image.register_encoder(FORMAT, StreamJpegEncoder)
Image.register_save(FORMAT, _save)
Image.register_mime(FORMAT, "image/jpeg")
