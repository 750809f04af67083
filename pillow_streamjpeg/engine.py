"""The compiled kernels this machine runs: one build of ``transpiled/kernels.py``.

On x86-64 the package holds three builds of the same source: ``kernels`` for any
x86-64 CPU, ``kernels_v3`` for x86-64-v3 ones (AVX2, FMA, BMI2: Intel Haswell
and AMD Excavator onwards) and ``kernels_v4`` for x86-64-v4 ones (AVX-512: Intel
Skylake-SP servers, AMD Zen 4 onwards), the newest this CPU runs picked here at
import, as libjpeg-turbo picks its SIMD code at run time. All give the same
bytes (no fused multiply-adds). ``PILLOW_STREAMJPEG_KERNELS=baseline`` (or
``x86-64-v3``) forces another; valgrind does not run AVX-512 code, so count
instructions with ``x86-64-v3``.
"""

from __future__ import annotations

import os
from types import ModuleType

from . import huffman  # the optimize pass's code lengths: one build for every CPU
from . import refine as refine_baseline
from . import kernels as baseline
from . import smooth as smooth_baseline

try:
    from . import kernels_v3, refine_v3, smooth_v3
except ImportError:  # not x86-64, or built without it
    kernels_v3 = refine_v3 = smooth_v3 = None
try:
    from . import kernels_v4
except ImportError:  # not x86-64, or built without it
    kernels_v4 = None

#: The x86-64-v3 features, as NumPy names them (numpy 1.x has no X86_V3 entry).
V3_FEATURES = ("AVX", "AVX2", "FMA3", "F16C", "BMI", "BMI2", "LZCNT", "MOVBE")
#: x86-64-v4's: v3's and AVX-512 F, CD, BW, DQ and VL.
V4_FEATURES = V3_FEATURES + ("AVX512F", "AVX512CD", "AVX512BW", "AVX512DQ", "AVX512VL")

#: The builds beyond the baseline, each needing the one before it: name, module (None
#: where not built) and the features it needs. The last one a CPU runs is the fastest.
LEVELS = (("x86-64-v3", kernels_v3, V3_FEATURES), ("x86-64-v4", kernels_v4, V4_FEATURES))


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
    """Every kernel build in this installation that this CPU can run, by name, slowest first."""
    found = {"baseline": baseline}
    features = cpu_features()
    for name, module, needed in LEVELS:
        if module is None or not all(features.get(feature, False) for feature in needed):
            break
        found[name] = module
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
    name = list(available)[-1]  # the fastest
    return name, available[name]


#: The name of the build in use and its module.
name, kernels = _choose()

#: The decoder-aware quantization (transpiled/refine.py) built for the same CPUs: the
#: x86-64-v3 build with either newer kernels build (an AVX-512 build of it was not faster).
refine = refine_baseline if kernels is baseline else refine_v3

#: The choice on smooth blocks (transpiled/smooth.py), built as ``refine`` is.
smooth = smooth_baseline if kernels is baseline else smooth_v3
