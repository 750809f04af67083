"""Saving a large image adds little memory beyond the image itself (measured in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

MIB = 1024 * 1024

SCRIPT = textwrap.dedent(r"""
    import json, resource, sys, io
    import numpy as np
    from PIL import Image
    import pillow_streamjpeg

    kind, path, optimize = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    side = 12000
    if kind == "image":
        # cheap content with texture: a gradient, noise, merged into RGB
        grad = Image.linear_gradient("L").resize((side, side))
        noise = Image.effect_noise((side, side), 40)
        source = Image.merge("RGB", (grad, noise, grad.transpose(Image.Transpose.ROTATE_90)))
        del grad, noise
    else:
        source = np.empty((side, side, 3), np.uint8)
        for top in range(0, side, 1000):
            source[top:top + 1000] = (np.arange(side, dtype=np.uint16) % 251).astype(np.uint8)[None, :, None]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    pillow_streamjpeg.encode(source, path, quality=90, optimize=optimize)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"before": before, "after": after}))
""")


@pytest.mark.parametrize("kind, optimize", [("image", 0), ("array", 0), ("image", 1)])
def test_peak_memory_of_a_12000_square_save(tmp_path, kind, optimize) -> None:
    """Also with optimize=True: two passes over the source, no coefficients kept."""
    out = tmp_path / "big.jpg"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, kind, str(out), str(optimize)],
        capture_output=True, text=True, cwd=tmp_path, env=os.environ.copy(), timeout=600,
    )
    assert result.returncode == 0, result.stderr
    peak = json.loads(result.stdout.strip().splitlines()[-1])
    growth = peak["after"] - peak["before"]
    assert growth < 64 * MIB, f"peak RSS grew by {growth / MIB:.0f} MiB"
    assert out.stat().st_size > 1 * MIB
    with open(out, "rb") as f:
        assert f.read(2) == b"\xff\xd8"
