"""Shared fixtures and guards: the tests run against the compiled, installed package."""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Helpers (jpegcheck.py) live beside the tests; --import-mode=importlib does not add this folder.
sys.path.insert(0, str(Path(__file__).parent))

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


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = (f"{name} not found: install Debian's libjpeg-turbo-progs and jpeginfo "
                  "for the strict-decoder tests")
        if os.environ.get("CI"):
            pytest.fail(reason + " (required when CI is set)")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def djpeg() -> str:
    """Path of libjpeg-turbo's djpeg (skips locally when absent, fails under CI)."""
    return _tool("djpeg")


@pytest.fixture(scope="session")
def jpeginfo() -> str:
    """Path of jpeginfo (skips locally when absent, fails under CI)."""
    return _tool("jpeginfo")


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Real photographs shipped with scikit-image (uint8; camera is grey)."""
    from skimage import data

    return {name: np.ascontiguousarray(getattr(data, name)()[..., :3] if name != "camera"
                                       else data.camera())
            for name in ("astronaut", "chelsea", "coffee", "rocket", "camera")}
