"""Grey coefficients exactly halfway between two values round away from zero, as libjpeg-turbo's do.

The kernels' column pass rounds grey images' with a sign-dependent offset (``_column_pass``'s ``away``;
colour keeps rounding halves up: there the same rule fixed 15 of the every-quality sweep's
cases at 4:4:4 but lost others, one in the floor's q95 set, and made q100 refine=1 files
about 0.1 % larger). Exact halves come from synthetic content (flat blocks, checkers, ramps), where
one rounding repeats over the whole image: rounding them up had left a 1-pixel grey
checker of 64 x 64 at q66 6.9 dB behind Pillow (docs/fidelity.md, "Halves away from zero,
for grey"). Here the compiled kernels' coefficients of such blocks equal libjpeg-turbo's
(``refine.libjpeg_block``, checked against djpeg in tests/test_libjpeg_choice.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from generated import content
from pillow_streamjpeg import engine, options, strips, tables


def _kernel_coefficients(pixels: np.ndarray, quality: int) -> np.ndarray:
    """The compiled kernels' coefficients of the first strip of a grey image: (blocks, 64)."""
    height, width = pixels.shape
    settings = options.parse("L", (width, height), {"quality": quality})
    frame = strips.Frame.of(settings)
    kernels = engine.kernels
    group = strips.MCUS_PER_GROUP
    samples, dct, coefs, _ = kernels.scratch_sizes(1, 1, 1, group)
    strip_samples, strip_coefs = kernels.strip_layout(width, 1, 1, 1)
    out = np.zeros(strip_coefs, np.int32)
    mcus = kernels.strip_coefs(pixels.reshape(-1), width, 0, min(8, height), *frame,
                               np.zeros(samples, np.float32), np.zeros(dct, np.float32),
                               np.zeros(coefs, np.int32), group,
                               np.zeros(strip_samples, np.float32), out)
    return out[:64 * mcus].reshape(64, mcus).T


def _libjpeg(block: np.ndarray, quality: int) -> np.ndarray:
    out = np.zeros(64, np.int32)
    quant = np.asarray(tables.quality_tables(quality)[0], np.int32)
    engine.refine.libjpeg_block(block.astype(np.int32).ravel(), 1, quant, out)
    return out


@pytest.mark.parametrize("quality", [50, 25])
def test_flat_blocks_whose_dc_lies_halfway(quality) -> None:
    """DC quantizer 16 (q50) and 40 (q25, 2.5 levels a step in the mean): flat blocks of every
    value, the halfway ones on both sides of 128 among them, where the decoded levels of both
    neighbours lie equally far from the block's value."""
    values = np.arange(256, dtype=np.uint8)
    pixels = np.repeat(np.repeat(values[None, :], 8, axis=0), 8, axis=1)
    ours = _kernel_coefficients(pixels, quality)
    q = tables.quality_tables(quality)[0][0]
    halfway = [v for v in range(256) if (8 * (v - 128)) % q and (16 * (v - 128)) % q == 0]
    assert any(v < 128 for v in halfway) and any(v > 128 for v in halfway)
    for v in range(256):
        assert np.array_equal(ours[v], _libjpeg(pixels[:, 8 * v:8 * v + 8], quality)), v


@pytest.mark.parametrize("kind, quality", [("checker", 66), ("checker4", 93), ("checker4", 9),
                                           ("checker", 92)])
def test_checkers_as_libjpeg_rounds_them(kind, quality) -> None:
    """Sweep cases that lost to Pillow by 0.4 to 6.9 dB with halves rounded up: each block's
    coefficients now equal libjpeg-turbo's (the same block again and again)."""
    pixels = content(kind, 64, 8, "L")
    ours = _kernel_coefficients(pixels, quality)
    for j in range(8):
        assert np.array_equal(ours[j], _libjpeg(pixels[:, 8 * j:8 * j + 8], quality)), j
