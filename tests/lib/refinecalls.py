"""The refine module's calls of a save, recorded, and each build checked against the Python source on them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import transpiled
from pillow_streamjpeg import engine, strips

PY = transpiled.source("refine")
BUILDS = transpiled.refine_builds()


class Recorder:
    """A refine module that records each call's arguments (copies) before making it."""

    def __init__(self, module) -> None:
        self.module = module
        self.calls: list[tuple[str, list]] = []

    def __getattr__(self, name: str):
        function = getattr(self.module, name)

        def record(*args):
            self.calls.append((name, [a.copy() if isinstance(a, np.ndarray) else a for a in args]))
            return function(*args)

        return record


def recorded_calls(save: Callable[[], object], monkeypatch) -> list[tuple[str, list]]:
    """The refine_group calls (``refine_group``, ``_rgb``, ``_sub``) that ``save()`` makes."""
    recorder = Recorder(engine.refine)
    of = strips.Refinement.of.__func__

    def recording(cls, *args, **kwargs):
        found = of(cls, *args, **kwargs)
        return found._replace(module=recorder) if found is not None else None

    monkeypatch.setattr(strips.Refinement, "of", classmethod(recording))
    save()
    monkeypatch.undo()
    return [(name, args) for name, args in recorder.calls if name.startswith("refine_group")]


def builds_are_the_source(calls: list[tuple[str, list]]) -> int:
    """Each build makes each recorded call as the Python source does (the same count and
    buffers); returns the blocks (MCUs) that took libjpeg's coefficients (the calls' last
    two arguments: libjpeg, and marks)."""
    replaced = 0
    for name, args in calls:
        expected = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        count = getattr(PY, name)(*expected)
        off = [a.copy() if isinstance(a, np.ndarray) else a for a in args[:-2]] + [0, args[-1]]
        # the count is the search's changes plus the blocks (MCUs) that took libjpeg's
        replaced += count - getattr(PY, name)(*off)
        for build, module in BUILDS.items():
            got = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            assert getattr(module, name)(*got) == count, build
            for a, b in zip(got, expected):
                if isinstance(a, np.ndarray):
                    np.testing.assert_array_equal(a, b, err_msg=build)
    return replaced
