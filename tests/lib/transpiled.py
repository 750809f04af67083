"""The Pythran sources of transpiled/ run as plain Python, and the kernels' frame arguments.

The plain-Python modules are the byte-exact reference the compiled builds are
checked against (tests/test_engine.py, test_refine.py, test_refine_option.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from pillow_streamjpeg import tables
from pillow_streamjpeg.strips import Frame

TRANSPILED = Path(__file__).resolve().parents[2] / "transpiled"


def source(name: str) -> ModuleType:
    """transpiled/NAME.py imported as a plain-Python module (``NAME_source``), apart from the builds."""
    spec = importlib.util.spec_from_file_location(f"{name}_source", TRANSPILED / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def frame(width: int, channels: int, ncomp: int, convert: int, hs: int, vs: int,
          quality: int) -> Frame:
    """The kernels' frame arguments for the standard tables of a quality."""
    qtables = tables.quality_tables(quality)
    comp_table = np.array([0, 1, 1, 0][:ncomp] if convert else [0] * ncomp, dtype=np.int64)
    if ncomp == 1:
        qtables = qtables[:1]
    return Frame(width, channels, ncomp, convert, hs, vs, comp_table,
                 tables.kernel_reciprocals(qtables))
