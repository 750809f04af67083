"""The joint rounding of 4:4:4 colour coefficients for the RGB error (kernels' ``_joint_round``).

- the kernel's choice of each Y coefficient is the one of its two neighbours with the lower
  RGB error by the linear YCbCr -> RGB (a brute-force check in float64), rate term included;
- where the encoder turns it on (``options.rounds_jointly``), and that ``refine=0`` turns it off;
- on photos it is more faithful than rounding each coefficient to nearest, in fewer bytes than
  Pillow's (compiled kernels against their Python source: tests/test_engine.py's LAYOUTS).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import pillow_streamjpeg  # noqa: F401  (registers STREAMJPEG)
import transpiled
from jpegtools import psnr
from pillow_streamjpeg import options, strips, tables

GROUP = 4


@pytest.fixture(scope="module")
def reference():
    return transpiled.source("kernels")


def _quadratic(e, q):
    """The RGB squared error (linear model) of rounding errors e (quantizer units) of Y, Cb, Cr."""
    gram = tables.YCC_TO_RGB.T @ tables.YCC_TO_RGB
    x = e * q
    return np.einsum("...c,cd,...d->...", x, gram, x)


@pytest.mark.parametrize("quality,rate", [(75, 0.0), (50, 0.0), (90, 0.0), (75, 0.4)])
def test_each_y_coefficient_is_the_neighbour_of_lower_rgb_error(reference, quality, rate) -> None:
    luma, chroma = tables.quality_tables(quality)
    weights = tables.joint_weights(luma, chroma, chroma, rate=rate)
    rng = np.random.default_rng(quality)
    nb = 3 * GROUP
    # column pass outputs in 32nds of a quantizer, small values so that zeros occur
    Q = rng.integers(-120, 121, 64 * nb).astype(np.int32)
    inputs = Q.reshape(64, 3, GROUP).astype(np.float64) / 32
    reference._joint_round(Q, nb, GROUP, GROUP, weights)
    out = Q.reshape(64, 3, GROUP)
    near = np.floor(inputs + 0.5)
    assert np.array_equal(out[:, 1:], near[:, 1:])  # chroma rounded to nearest
    assert np.all(np.abs(out[:, 0] - inputs[:, 0]) < 1)  # Y at one of its two neighbours
    moved = 0
    for k in range(64):
        q = np.array([luma[k], chroma[k], chroma[k]], dtype=np.float64)
        for j in range(GROUP):
            x = inputs[k, :, j]
            n = near[k, :, j]
            other = n.copy()
            other[0] += 1 if n[0] <= x[0] else -1
            costs = []
            for cand in (n, other):
                cost = _quadratic(cand - x, q)
                cost += rate * q[0] ** 2 * (cand[0] != 0)  # the rate term, in the same units
                costs.append(cost)
            if abs(costs[0] - costs[1]) < 0.01 * max(costs) + 0.05 * q[0]:
                continue  # a near tie: the kernel's integer weights may go either way
            best = n if costs[0] < costs[1] else other
            assert out[k, 0, j] == best[0], (k, j, x, costs)
            moved += int(best[0] != n[0])
    assert moved > 0  # the case moves some coefficients


def _settings(mode="RGB", **info):
    return options.parse(mode, (64, 48), info)


def test_joint_rounding_is_on_for_converted_444_with_every_quantizer_at_least_2() -> None:
    assert _settings(quality=90, subsampling=0).joint_rounding
    assert _settings(quality=75, subsampling=0).joint_rounding
    assert _settings(quality=92, subsampling=0).joint_rounding
    assert not _settings(quality=93, subsampling=0).joint_rounding  # a quantizer of 1
    assert not _settings(quality=100, subsampling=0).joint_rounding
    assert not _settings(quality=90, subsampling=1).joint_rounding  # 4:2:2 (4:2:0: test_luma_fix)
    assert not _settings("L", quality=90).joint_rounding
    assert not _settings(quality=90, subsampling=0, keep_rgb=True).joint_rounding
    assert not _settings("YCbCr", quality=90, subsampling=0).joint_rounding
    assert not _settings("CMYK", quality=90).joint_rounding
    # the default's, where it does not search: refine=0 (False) rounds to nearest, refine=1
    # and 2 search from there, and so does the default on small images
    assert not _settings(quality=90, subsampling=0, refine=0).joint_rounding
    assert not _settings(quality=90, subsampling=0, refine=False).joint_rounding
    assert not _settings(quality=90, subsampling=0, refine=1).joint_rounding
    assert _settings(quality=90, subsampling=0, refine=None).joint_rounding
    small = options.parse("RGB", (8, 8), {"quality": 90, "subsampling": 0})
    assert small.refine == 1 and not small.joint_rounding


def test_frame_carries_the_weights_and_scaled_multipliers() -> None:
    on = strips.Frame.of(_settings(quality=90, subsampling=0))
    off = strips.Frame.of(_settings(quality=90, subsampling=0, refine=0))
    assert len(off.joint) == 0 and len(on.joint) == 64 * 8
    assert np.array_equal(on.recip, off.recip * np.float32(32))


def _save(image: Image.Image, **kw) -> tuple[int, np.ndarray]:
    buf = io.BytesIO()
    image.save(buf, **kw)
    data = buf.getvalue()
    return len(data), np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize("name,quality", [("astronaut", 90), ("coffee", 75)])
def test_photos_gain_over_rounding_to_nearest_in_fewer_bytes_than_pillow(name, quality) -> None:
    """Measured (docs/fidelity.md, "Y rounded with the chroma"): astronaut q90 +0.17 dB at
    0.988x Pillow's size, coffee q75 +0.05 at 0.975x; each coefficient to nearest is level
    with Pillow (within 0.01 dB)."""
    data = pytest.importorskip("skimage.data")
    px = getattr(data, name)()
    image = Image.fromarray(px)
    size_p, dec_p = _save(image, format="JPEG", quality=quality, subsampling=0)
    size_0, dec_0 = _save(image, format="STREAMJPEG", quality=quality, subsampling=0, refine=0)
    size_j, dec_j = _save(image, format="STREAMJPEG", quality=quality, subsampling=0)
    gain = psnr(dec_j, px) - psnr(dec_0, px)
    assert gain >= 0.03, gain
    assert psnr(dec_j, px) >= psnr(dec_p, px) + 0.03
    assert size_j <= size_p
