"""Saving a 12000 x 12000 RGB image must not copy it: peak RSS grows by at most ~64 MiB.

Each measurement runs in a fresh interpreter, because ru_maxrss is a process-wide peak.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pillow_streamjpeg

LIMIT_MIB = 64

PRELUDE = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from PIL import Image
    import pillow_streamjpeg

    def peak_mib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    W = H = 12000
    out = sys.argv[1]
""")

PILLOW_IMAGE = PRELUDE + textwrap.dedent("""
    img = Image.new("RGB", (W, H), (40, 90, 160))          # ~550 MiB, every page touched
    # Content pasted in place band by band (no second full-size image).
    grad = Image.linear_gradient("L").resize((W, 64))
    noise = Image.effect_noise((W, 64), 40)
    bands = [Image.merge("RGB", (grad, noise, grad.transpose(Image.Transpose.FLIP_LEFT_RIGHT))),
             Image.merge("RGB", (noise, grad, noise))]
    for i, y in enumerate(range(0, H, 64)):
        img.paste(bands[i % 2], (0, y))
    del grad, noise, bands
    before = peak_mib()
    img.save(out, format="STREAMJPEG")
    after = peak_mib()
    print(before, after)
""")

ARRAY = PRELUDE + textwrap.dedent("""
    arr = np.empty((H, W, 3), dtype=np.uint8)               # ~412 MiB, every page touched
    arr[...] = (np.arange(W, dtype=np.uint8) * 7)[None, :, None]
    arr[::3, :, 1] = 200
    before = peak_mib()
    pillow_streamjpeg.encode(arr, out)
    after = peak_mib()
    print(before, after)
""")


def _measure(script: str, out: Path) -> tuple[float, float]:
    package_parent = str(Path(os.path.abspath(pillow_streamjpeg.__file__)).parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([package_parent] + [p for p in
                                         env.get("PYTHONPATH", "").split(os.pathsep) if p])
    r = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True,
                       text=True, cwd=out.parent, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    before, after = map(float, r.stdout.split())
    return before, after


def _check_output(path: Path) -> None:
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    sof = data.index(b"\xff\xc0")
    assert int.from_bytes(data[sof + 5:sof + 7], "big") == 12000      # height
    assert int.from_bytes(data[sof + 7:sof + 9], "big") == 12000      # width


def test_save_pillow_image_bounded(tmp_path):
    out = tmp_path / "big.jpg"
    before, after = _measure(PILLOW_IMAGE, out)
    assert before > 500, f"the image was not resident before saving ({before:.0f} MiB)"
    assert after - before < LIMIT_MIB, f"peak RSS grew {after - before:.1f} MiB (from {before:.0f})"
    _check_output(out)


def test_encode_array_bounded(tmp_path):
    out = tmp_path / "big.jpg"
    before, after = _measure(ARRAY, out)
    assert before > 400, f"the array was not resident before encoding ({before:.0f} MiB)"
    assert after - before < LIMIT_MIB, f"peak RSS grew {after - before:.1f} MiB (from {before:.0f})"
    _check_output(out)
