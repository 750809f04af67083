"""Shared fixtures and guards: the tests run against the compiled, installed package.

Helpers (strict decoders, segment parser, PSNR) are in tests/lib/jpegtools.py, on
the path through pyproject's pytest ``pythonpath``.
"""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# The same examples on every run, so that CI is reproducible: a failure shows the
# example, and a new one is found by changing the code, not by chance.
settings.register_profile("reproducible", derandomize=True, print_blob=True)
settings.load_profile("reproducible")

SOURCE_PACKAGE = Path(os.path.abspath(__file__)).parents[1] / "pillow_streamjpeg"

try:
    import pillow_streamjpeg
    from pillow_streamjpeg import kernels
except ImportError as exc:  # the source folder, without compiled kernels
    raise pytest.UsageError(
        f"cannot import the compiled pillow_streamjpeg ({exc}). The tests need the built "
        "package: pip install '.[test]' and run pytest (not from inside the source package)."
    ) from exc


def pytest_report_header(config):
    return f"pillow_streamjpeg kernels: {kernels.__file__}"


def pytest_sessionstart(session):
    """The kernels under test are the compiled extension, not the Pythran source."""
    if not kernels.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        raise pytest.UsageError(f"kernels are not compiled: {kernels.__file__}")
    pkg = Path(os.path.abspath(pillow_streamjpeg.__file__)).parent
    if pkg == SOURCE_PACKAGE and not any(
        p.name.startswith("kernels") and p.suffix in (".so", ".pyd") for p in pkg.iterdir()
    ):
        raise pytest.UsageError(
            f"pillow_streamjpeg was imported from the source folder {pkg}, which has no "
            "compiled kernels: install the package and test the installed build."
        )


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Real photographs shipped with scikit-image (uint8; camera is grey)."""
    from skimage import data

    return {name: np.ascontiguousarray(getattr(data, name)()[..., :3] if name != "camera"
                                       else data.camera())
            for name in ("astronaut", "chelsea", "coffee", "rocket", "camera")}
