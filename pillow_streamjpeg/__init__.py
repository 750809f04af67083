"""pillow_streamjpeg: baseline JPEG written strip by strip, in parallel, in bounded memory.

Importing the package registers the save-only Pillow format ``STREAMJPEG``::

    from PIL import Image
    import pillow_streamjpeg

    img.save("out.jpg", format="STREAMJPEG")             # quality 100, 4:4:4
    pillow_streamjpeg.encode(array, "out.jpg", quality=90)
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
from .options import MAX_DIMENSION
from .pipeline import encode

__version__ = "0.1.0"
__all__ = ["MAX_DIMENSION", "encode", "__version__"]
