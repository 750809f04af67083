"""The compiled kernels this machine runs: one build of ``transpiled/kernels.py``.

On x86-64 the package holds two builds of the same source: ``kernels`` for any
x86-64 CPU and ``kernels_v3`` for x86-64-v3 ones (AVX2, FMA, BMI2: Intel
Haswell and AMD Excavator onwards), picked here at import, as libjpeg-turbo
picks its SIMD code at run time. Both give the same bytes (no fused
multiply-adds). ``PILLOW_STREAMJPEG_KERNELS=baseline`` forces the portable one.
"""

from __future__ import annotations

import os
from types import ModuleType

from . import refine as refine_baseline
from . import kernels as baseline

try:
    from . import kernels_v3, refine_v3
except ImportError:  # not x86-64, or built without it
    kernels_v3 = refine_v3 = None

#: The x86-64-v3 features, as NumPy names them (numpy 1.x has no X86_V3 entry).
V3_FEATURES = ("AVX", "AVX2", "FMA3", "F16C", "BMI", "BMI2", "LZCNT", "MOVBE")


def cpu_features() -> dict[str, bool]:
    """The CPU features NumPy detected at import (none known if NumPy does not say)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:  # a NumPy that moved it: run the portable build
            return {}
    return dict(__cpu_features__)


def builds() -> dict[str, ModuleType]:
    """Every kernel build in this installation that this CPU can run, by name."""
    found = {"baseline": baseline}
    features = cpu_features()
    if kernels_v3 is not None and all(features.get(name, False) for name in V3_FEATURES):
        found["x86-64-v3"] = kernels_v3
    return found


def _choose() -> tuple[str, ModuleType]:
    available = builds()
    wanted = os.environ.get("PILLOW_STREAMJPEG_KERNELS")
    if wanted:
        if wanted not in available:
            raise ImportError(
                f"PILLOW_STREAMJPEG_KERNELS={wanted!r}: this installation and CPU offer "
                f"{', '.join(sorted(available))}"
            )
        return wanted, available[wanted]
    name = "x86-64-v3" if "x86-64-v3" in available else "baseline"
    return name, available[name]


#: The name of the build in use and its module.
name, kernels = _choose()

#: The decoder-aware quantization (transpiled/refine.py) of the same build.
refine = refine_v3 if kernels is kernels_v3 else refine_baseline
