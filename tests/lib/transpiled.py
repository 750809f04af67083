"""The Pythran sources of transpiled/ run as plain Python, and the kernels' frame arguments.

The plain-Python modules are the byte-exact reference the compiled builds are
checked against (tests/test_engine.py, test_refine.py, test_refine_option.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from pillow_streamjpeg import strips, tables
from pillow_streamjpeg.strips import Frame

TRANSPILED = Path(__file__).resolve().parents[2] / "transpiled"


def refine_builds() -> dict[str, ModuleType]:
    """The builds of transpiled/refine.py this installation and CPU run, by name (the baseline,
    and x86-64-v3 where the kernels' v3 build runs: ``engine`` pairs them)."""
    from pillow_streamjpeg import engine, refine

    builds = {"baseline": refine}
    if "x86-64-v3" in engine.builds():
        from pillow_streamjpeg import refine_v3

        builds["x86-64-v3"] = refine_v3
    return builds


def source(name: str) -> ModuleType:
    """transpiled/NAME.py imported as a plain-Python module (``NAME_source``), apart from the builds."""
    spec = importlib.util.spec_from_file_location(f"{name}_source", TRANSPILED / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def frame(width: int, channels: int, ncomp: int, convert: int, hs: int, vs: int,
          quality: int, joint: bool = False) -> Frame:
    """The kernels' frame arguments for the standard tables of a quality; with ``joint``, Y
    takes up part of the chroma's error as ``strips.Frame.of`` sets it
    (``strips.rounding_arrays``)."""
    qtables = tables.quality_tables(quality)
    comp_table = np.array([0, 1, 1, 0][:ncomp] if convert else [0] * ncomp, dtype=np.int64)
    if ncomp == 1:
        qtables = qtables[:1]
    return Frame(width, channels, ncomp, convert, hs, vs, comp_table,
                 *strips.rounding_arrays(qtables, comp_table, joint, hs, vs))


def colour_strip(kernels: ModuleType, pixels: np.ndarray, quality: int, hs: int = 1, vs: int = 1,
                 row0: int = 0, joint: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """A colour strip of RGB(X) pixels (its rows from row0) as refine reads it: its band, and the
    kernels' coefficients (``strip_coefs``, the standard tables of a quality, subsampled hs x vs,
    groups of 4 MCUs; with ``joint`` Y takes up part of the chroma's error, as in ``frame``)
    and the number of MCUs."""
    band = np.ascontiguousarray(pixels).reshape(pixels.shape[0], -1)
    rows, width = pixels.shape[0] - row0, pixels.shape[1]
    args = frame(width, pixels.shape[2], 3, 1, hs, vs, quality, joint)
    samples, dct, coefs, _ = kernels.scratch_sizes(3, hs, vs, 4)
    strip_samples, strip_coefs = kernels.strip_layout(width, 3, hs, vs)
    out = np.zeros(strip_coefs, np.int32)
    mcus = kernels.strip_coefs(band.reshape(-1), band.shape[1], row0, rows, *args,
                               np.zeros(samples, np.float32), np.zeros(dct, np.float32),
                               np.zeros(coefs, np.int32), 4, np.zeros(strip_samples, np.float32),
                               out, 0, 0)
    return band, out, mcus


def make_paying_steps(module: ModuleType, S: np.ndarray, R: np.ndarray, c: int, err: int,
                      decoded_error) -> tuple[int, int]:
    """Make every single step of the block in refine's work array S that pays (``_candidate``:
    each coefficient up, else down, no rate term), as the search would, asserting after each
    that the kept error is ``decoded_error()``'s; returns (steps made, error)."""
    made = 0
    for n in range(64):
        new = module._candidate(S, R, c, n, 1, err, 0)
        if new < 0:
            new = module._candidate(S, R, c, n, -1, err, 0)
        if new >= 0:
            made += 1
            err = new
            assert err == decoded_error()
    return made, err
