"""How the halfway chroma of every tied colour decodes, for four rounding rules.

A colour's Cb lies exactly halfway between two whole values where R = G and
B - R is odd, its Cr where G = B and R - G is odd: 65,536 colours. For each
rule this prints the squared error, summed over those colours, of the RGB that
libjpeg's integer YCbCr -> RGB (jdcolor.c, as djpeg and Pillow decode) gives
back, with Y and the other chroma as the kernels compute them (float32, the
same arithmetic as transpiled/kernels.py ``_ycc``). Rules: always up (the
kernels before 2026-11-30), always down (libjpeg), down where that rounds
towards a clamp (B = 0 for Cb, R = 0 for Cr: the kernels now), and the best
of the two per colour. It also checks the float32 identity the kernels rely
on: ``v + 256.5`` is whole exactly on the ties.

    python benchmarks/tied_chroma.py      # about 10 s, 2 GB of memory
"""

from __future__ import annotations

import numpy as np

F = np.float32
Y_RGB = (F(0.299), F(0.587), F(0.114))
CB_RGB = (F(-0.168735892), F(-0.331264108), F(0.5))
CR_RGB = (F(0.5), F(-0.418687589), F(-0.081312411))


def _fix(x: float) -> int:
    return int(x * 65536 + 0.5)


def decode(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """libjpeg's integer YCbCr -> RGB (jdcolor.c), clamped: (n, 3)."""
    x, z = cb - 128, cr - 128
    r = y + ((_fix(1.402) * z + 32768) >> 16)
    b = y + ((_fix(1.772) * x + 32768) >> 16)
    g = y + ((-_fix(0.34414) * x - _fix(0.71414) * z + 32768) >> 16)
    return np.clip(np.stack([r, g, b], -1), 0, 255)


def main() -> None:
    c = np.arange(1 << 24, dtype=np.uint32)
    r, g, b = (c & 255).astype(F), ((c >> 8) & 255).astype(F), (c >> 16).astype(F)
    y = (((Y_RGB[0] * r + Y_RGB[1] * g) + Y_RGB[2] * b) + F(0.5)).astype(np.int32)
    cbv = ((CB_RGB[0] * r + CB_RGB[1] * g) + CB_RGB[2] * b) + F(256.5)
    crv = ((CR_RGB[0] * r + CR_RGB[1] * g) + CR_RGB[2] * b) + F(256.5)
    cb_tie, cr_tie = cbv == np.floor(cbv), crv == np.floor(crv)
    gap = min(np.abs(v - np.round(v))[~t].min() for v, t in ((cbv, cb_tie), (crv, cr_tie)))
    print(f"ties: Cb {cb_tie.sum()}, Cr {cr_tie.sum()}; other colours at least {gap:.4f} from whole")
    keep = np.nonzero(cb_tie | cr_tie)[0]
    rgb = np.stack([r[keep], g[keep], b[keep]], -1).astype(np.int32)
    y, tb, tr = y[keep], cb_tie[keep], cr_tie[keep]
    cb_up, cr_up = cbv[keep].astype(np.int32) - 128, crv[keep].astype(np.int32) - 128

    def error(down_cb: np.ndarray, down_cr: np.ndarray) -> np.ndarray:
        return ((decode(y, cb_up - down_cb, cr_up - down_cr) - rgb) ** 2).sum(-1)

    up = error(0, 0)
    rules = {
        "always up": up,
        "always down (libjpeg)": error(tb, tr),
        "down towards a clamp (kernels)": error(tb & (rgb[:, 2] == 0), tr & (rgb[:, 0] == 0)),
        "best of the two": np.minimum.reduce([error(tb * i, tr * j) for i in (0, 1) for j in (0, 1)]),
    }
    print(f"{len(keep)} tied colours")
    print(f"{'rule':32} {'squared error':>14} {'worse than up':>14} {'better than up':>15}")
    for name, e in rules.items():
        print(f"{name:32} {e.sum():14d} {(e > up).sum():14d} {(e < up).sum():15d}")


if __name__ == "__main__":
    main()
