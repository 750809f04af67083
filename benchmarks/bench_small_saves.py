"""Small saves (64 x 64 grey and RGB, 256 x 256 RGB, q95 4:4:4, one worker) with and without
``tables.quality_tables``' cache, and Pillow's, in interleaved rounds: medians of the
process CPU time a save over 11 rounds.

    python benchmarks/bench_small_saves.py
"""
import io, time, statistics, platform
import numpy as np
from PIL import Image
import pillow_streamjpeg
from pillow_streamjpeg import tables
rng = np.random.default_rng(0)
cached = tables._quality_tables
uncached = cached.__wrapped__
res = {}
for mode, shape in (("L", (64, 64)), ("RGB", (64, 64, 3)), ("RGB", (256, 256, 3))):
    img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
    def save(fmt="STREAMJPEG"):
        b = io.BytesIO(); img.save(b, format=fmt, quality=95, subsampling=0, **({"workers": 1} if fmt == "STREAMJPEG" else {}))
    r = {"cache": [], "nocache": [], "pillow": []}
    for rnd in range(11):
        for name in ("cache", "nocache", "pillow"):
            tables._quality_tables = cached if name == "cache" else uncached
            n = 200 if shape[0] == 64 else 100
            t = time.process_time()
            for _ in range(n):
                save("JPEG" if name == "pillow" else "STREAMJPEG")
            r[name].append((time.process_time() - t) / n * 1e6)
    m = {k: statistics.median(v) for k, v in r.items()}
    print(f"{mode} {shape[1]}x{shape[0]}: cached {m['cache']:.0f} us, uncached {m['nocache']:.0f} us ({m['cache']/m['nocache']:.3f}x), Pillow {m['pillow']:.0f} us")
print("CPU:", platform.processor() or platform.machine(), next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), ""))
