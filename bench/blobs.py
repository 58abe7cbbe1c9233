"""Reading the cache's large blobs beside a busy thread: ripmap's array files against ``.npz``.

A warm or edited map of a big tree reads its stored graph (and lexical index) on a thread
while the main thread lists the tree in Python. This reads the largest blobs of a cache
directory (written by the current code: run ``ripmap`` on the tree first) in three ways,
each alone and beside a thread that runs Python without pause, and prints wall times:

* ``arrays``: the blob as ripmap stores it (:mod:`ripmap.cache.arrays`);
* ``npz``: the same arrays written with ``np.savez`` and read with ``np.load`` (the format
  before 2026-12-02), through a real file as well.

Also how much of its own speed the busy thread kept (1.00: the read never took the GIL).

    python bench/blobs.py /tmp/ripmap-cache-scale --top 3
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ripmap.cache.arrays import MAGIC, load_arrays  # noqa: E402


def _busy_rate(stop: threading.Event, out: list[float]) -> None:
    n, t = 0, time.perf_counter()
    while not stop.is_set():
        for _ in range(1000):
            n += 1
    out.append(n / (time.perf_counter() - t))


def timed(read, rounds: int) -> tuple[float, float, float]:
    """(median wall alone, median wall beside a busy thread, the busy thread's kept speed)."""
    read()  # the page cache holds the file from here on
    alone = []
    for _ in range(rounds):
        t = time.perf_counter()
        read()
        alone.append(time.perf_counter() - t)
    stop, out = threading.Event(), []
    th = threading.Thread(target=_busy_rate, args=(stop, out))
    th.start()
    time.sleep(1.0)
    stop.set()
    th.join()
    free = out[0]
    beside, kept = [], []
    for _ in range(rounds):
        stop, out = threading.Event(), []
        th = threading.Thread(target=_busy_rate, args=(stop, out))
        th.start()
        t = time.perf_counter()
        read()
        beside.append(time.perf_counter() - t)
        stop.set()
        th.join()
        kept.append(out[0] / free)
    return float(np.median(alone)), float(np.median(beside)), float(np.median(kept))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cache", type=Path, help="a ripmap cache directory (RIPMAP_CACHE_DIR)")
    ap.add_argument("--top", type=int, default=3, help="how many of the largest blobs")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    blobs = []
    for f in a.cache.rglob("*.blob"):
        with open(f, "rb") as fh:
            if fh.read(len(MAGIC)) == MAGIC:
                blobs.append(f)
    if not blobs:
        raise SystemExit(f"blobs.py: no array blob of this version under {a.cache} (run ripmap with it first)")
    blobs = sorted(blobs, key=lambda f: -f.stat().st_size)[: a.top]
    print("| blob | MB | format | alone s | beside a busy thread s | busy thread's speed kept |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for f in blobs:
        mb = f.stat().st_size / 1e6

        def ours(f=f):
            with open(f, "rb") as fh:
                return load_arrays(fh)

        arrays = dict(ours())
        with tempfile.NamedTemporaryFile(suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
            tmp.flush()

            def npz(path=tmp.name):
                with np.load(path, allow_pickle=False) as z:
                    return {k: z[k] for k in z.files}

            for name, read in (("arrays", ours), ("npz", npz)):
                alone, beside, kept = timed(read, a.rounds)
                print(f"| {f.name[:12]} | {mb:.0f} | {name} | {alone:.2f} | {beside:.2f} | {kept:.2f} |")


if __name__ == "__main__":
    main()
