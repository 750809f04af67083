"""Grey blocks that decode flat take the DC whose decoded level is nearest their pixels.

The kernels' ``_flat_grey``: a grey block whose AC coefficients all round to zero decodes
to one level (libjpeg's DC-only IDCT); rounding the DC input to nearest gives the nearest
decoded *mean*, which the decoder then rounds to a level, so the neighbouring DC can decode
closer (a 4097 x 11 ramp at q80 was 0.5 dB behind Pillow). Checked here with the real
decoder: the coefficients the compiled kernels give are those of the saved file, and no
flat block of it decodes closer with its DC one step up or down (djpeg, block by block).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import coefjpeg
import pillow_streamjpeg  # noqa: F401  (registers STREAMJPEG)
from jpegtools import djpeg_decode
from pillow_streamjpeg import engine, options, strips, tables


def _coefficients(pixels: np.ndarray, quality: int) -> np.ndarray:
    """The compiled kernels' quantized coefficients of a grey image: (block rows, block
    columns, 64), natural order, strip by strip as the encoder makes them (with the
    default's choice on smooth blocks, ``strips.smoothed_coefs``, where it applies)."""
    height, width = pixels.shape
    settings = options.parse("L", (width, height), {"quality": quality})
    frame = strips.Frame.of(settings)
    smooth = strips.Smoothing.of(settings.qtables, settings.smooth_levels)
    kernels = engine.kernels
    scratch = strips.Scratch.of(kernels, frame, refine=True)
    mcus = -(-width // 8)
    rows = []
    for row0 in range(0, height, 8):
        nrows = min(8, height - row0)
        if smooth is not None:
            strips.smoothed_coefs(kernels, pixels, row0, nrows, frame, scratch, smooth)
        else:
            kernels.strip_coefs(pixels.reshape(-1), width, row0, nrows, *frame, *scratch[:3],
                                strips.MCUS_PER_GROUP, scratch.strip_samples,
                                scratch.strip_coefs, 0, 0)
        lay = kernels.strip_group(mcus, 1)  # the layout's MCUs (grey strips padded)
        rows.append(scratch.strip_coefs[:64 * lay].reshape(64, lay)[:, :mcus].T.copy())
    return np.stack(rows)


def _block_errors(pixels: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """Squared error of each 8 x 8 block's pixels in the image (block rows, block columns)."""
    height, width = pixels.shape
    e = (decoded.astype(np.int64) - pixels) ** 2
    padded = np.zeros((-(-height // 8) * 8, -(-width // 8) * 8), np.int64)
    padded[:height, :width] = e
    return padded.reshape(padded.shape[0] // 8, 8, padded.shape[1] // 8, 8).sum(axis=(1, 3))


def _smooth(width: int, height: int) -> np.ndarray:
    """Gentle ramps of several slopes side by side, and a band of noise: blocks that decode flat
    at lower qualities, with means at every fraction of a level, beside blocks that do not."""
    x = np.arange(width, dtype=np.float64)
    y = np.arange(height, dtype=np.float64)[:, None]
    ramp = 40 + x * 30 / width + y * 0.07
    rng = np.random.default_rng(width)
    pixels = np.round(ramp).astype(np.uint8)
    pixels[:, width // 2:width // 2 + 24] = rng.integers(0, 256, (height, 24))
    return pixels


@pytest.mark.parametrize("quality", [30, 50, 80, 90, 95])
def test_no_flat_block_decodes_closer_with_its_dc_a_step_away(quality) -> None:
    pixels = _smooth(1203, 21)
    height, width = pixels.shape
    planes = _coefficients(pixels, quality)
    qtable = list(tables.quality_tables(quality)[0])
    ours = coefjpeg.write([planes], [qtable], width, height)
    saved = io.BytesIO()
    Image.fromarray(pixels).save(saved, format="STREAMJPEG", quality=quality)
    decoded = djpeg_decode(ours)
    # the coefficients are the saved file's: the same pixels through the real decoder
    assert np.array_equal(decoded, djpeg_decode(saved.getvalue()))
    flat = ~planes[..., 1:].any(axis=-1)
    assert flat.sum() > 50  # the content makes many blocks decode flat
    errors = _block_errors(pixels, decoded)
    for step in (-1, 1):
        moved = planes.copy()
        moved[..., 0][flat] += step
        other = _block_errors(pixels, djpeg_decode(coefjpeg.write([moved], [qtable], width, height)))
        assert np.all(errors[flat] <= other[flat]), (step, np.argwhere(errors > other))
