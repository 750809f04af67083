"""``refine=1`` on small images (``Settings.marked_choice``'s, up to 256 MCUs): searched
without the rate term and screen and then chosen for (``Refinement.of``'s ``plain``,
``with_marked``), against the search of larger images (rate term, screen, no choice: patched
in), both against ``refine=0``. q90, one worker, process CPU time of a batch of saves,
medians of 9 interleaved rounds; run from the repository root with the machine idle.

    python benchmarks/bench_refine_plain.py
"""
import io, sys, time, statistics
import numpy as np
from PIL import Image
sys.path.insert(0, "tests/lib")
import pillow_streamjpeg
from pillow_streamjpeg import strips
from generated import content
of = strips.Refinement.of.__func__
wm = strips.Refinement.with_marked
def old_of(cls, *a, **k):
    k["plain"] = False
    return of(cls, *a, **k)
def patch(old):
    strips.Refinement.of = classmethod(old_of if old else of)
    strips.Refinement.with_marked = (lambda self: self) if old else wm
print("CPU:", next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                    if l.startswith("model name")), "unknown"), flush=True)
for mode, sub, size, kind in [("L", 0, 64, "photo"), ("L", 0, 128, "photo"), ("RGB", 0, 64, "photo"),
                              ("RGB", 0, 128, "photo"), ("RGB", 2, 128, "photo"), ("L", 0, 64, "vignette"),
                              ("RGB", 0, 64, "hramp")]:
    img = Image.fromarray(content(kind, size, size, mode))
    res = {"r0": [], "new": [], "old": []}
    n = max(3, int(4000 / size))
    for rnd in range(9):
        for name in ("r0", "new", "old"):
            patch(name == "old")
            t = time.process_time()
            for _ in range(n):
                img.save(io.BytesIO(), format="STREAMJPEG", quality=90, subsampling=sub, workers=1,
                         refine=0 if name == "r0" else 1)
            res[name].append((time.process_time() - t) / n)
    m = {k: statistics.median(v) * 1e3 for k, v in res.items()}
    print(f"{mode} {sub} {size} {kind}: refine=0 {m['r0']:.2f} ms, refine=1 rate term {m['old']:.2f} ({m['old']/m['r0']:.2f}x), plain + choice {m['new']:.2f} ({m['new']/m['r0']:.2f}x)", flush=True)
