"""pillow_streamjpeg: baseline JPEG written strip by strip, in parallel, in bounded memory.

Importing the package registers the save-only Pillow format ``STREAMJPEG``::

    from PIL import Image
    import pillow_streamjpeg

    img.save("out.jpg", format="STREAMJPEG")             # quality 100, 4:4:4
    pillow_streamjpeg.encode(array, "out.jpg", quality=90)

``encode`` takes PIL images, arrays, TIFFs, row bands (``RowBands``) and any
``Source``: subclass it to encode images from elsewhere, band by band. A file
it does not convert raises ``Refused`` (a ValueError): ``NotSupported`` or ``Damaged``.
"""

from __future__ import annotations

try:
    from . import kernels as _kernels  # noqa: F401
except ImportError as exc:  # pragma: no cover - only from an unbuilt source tree
    raise ImportError(
        "pillow_streamjpeg's compiled kernels are missing: this is the source folder, "
        "not an installed package. Install it (pip install .) and run from elsewhere."
    ) from exc


from . import plugin  # noqa: F401  (registers the STREAMJPEG format)
from .errors import Damaged, NotSupported, Refused
from .options import MAX_DIMENSION
from .pipeline import encode
from .sources import RowBands, Source


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed metadata (one source: meson.build's project
    version) when first asked: importing importlib.metadata costs 30 ms and 8 MiB."""
    if name == "__version__":
        from importlib.metadata import version

        return version("pillow_streamjpeg")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MAX_DIMENSION", "Damaged", "NotSupported", "Refused", "RowBands", "Source", "encode",
           "__version__"]
