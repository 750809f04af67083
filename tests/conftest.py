"""Shared fixtures and guards: the tests run against the compiled, installed package.

Helpers (strict decoders, segment parser, PSNR) are in tests/lib/jpegtools.py, on
the path through pyproject's pytest ``pythonpath``.
"""

from __future__ import annotations

import importlib.machinery

import numpy as np
import pytest
from hypothesis import settings

# The same examples on every run, so that CI is reproducible: a failure shows the
# example, and a new one is found by changing the code, not by chance.
settings.register_profile("reproducible", derandomize=True, print_blob=True)
settings.load_profile("reproducible")

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
    # (An editable install, pip install --no-build-isolation -e ., imports the Python
    # files from the source folder and the kernels from its build folder: that is fine.)


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Real photographs shipped with scikit-image (uint8; camera is grey)."""
    from skimage import data

    return {name: np.ascontiguousarray(getattr(data, name)()[..., :3] if name != "camera"
                                       else data.camera())
            for name in ("astronaut", "chelsea", "coffee", "rocket", "camera")}
