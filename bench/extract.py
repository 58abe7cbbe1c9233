"""Cold and warm extraction speed: files/s, MB/s and peak RSS.

    python bench/extract.py REPO [--workers N]

Cold: the tag cache is emptied (a fresh temporary cache directory) and every file is
parsed in the process pool. Warm: a new process-level run over the same cache, all
hits. Each pass runs in a subprocess so peak RSS is per pass.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from ripmap.cache import TagCache
from ripmap.index import build_index
root, cache_dir, workers = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) or None
t = time.perf_counter()
with TagCache.open(root, cache_dir) as c:
    idx = build_index(root, cache=c, workers=workers, progress=False)
el = time.perf_counter() - t
mb = sum(f.size for f in idx.files) / 1e6
tags = sum(len(v) for v in idx.tags.values())
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"files": len(idx.files), "mb": mb, "tags": tags, "seconds": el, "parsed": idx.parsed,
                  "hits": idx.cache_hits, "rss_mb": rss, "worker_rss_mb": kids}))
"""


def run(repo: str, cache: str, workers: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, repo, cache, str(workers)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("--workers", type=int, default=0, help="process pool size (default: all cores)")
    ap.add_argument("--repeat", type=int, default=3, help="warm passes (median reported)")
    a = ap.parse_args()
    if not Path(a.repo).is_dir():
        raise SystemExit(f"extract.py: {a.repo}: no such directory")
    with tempfile.TemporaryDirectory() as cache:
        cold = run(a.repo, cache, a.workers)
        warms = sorted((run(a.repo, cache, a.workers) for _ in range(a.repeat)), key=lambda r: r["seconds"])
    warm = warms[len(warms) // 2]
    print(f"repo: {a.repo}")
    print(f"files: {cold['files']}  source MB: {cold['mb']:.1f}  tags: {cold['tags']}")
    print(f"cold: {cold['seconds']:.2f} s  {cold['files'] / cold['seconds']:.0f} files/s  "
          f"{cold['mb'] / cold['seconds']:.1f} MB/s  peak RSS {cold['rss_mb']:.0f} MB (workers {cold['worker_rss_mb']:.0f} MB)")
    print(f"warm: {warm['seconds']:.3f} s  {warm['files'] / warm['seconds']:.0f} files/s  "
          f"{warm['mb'] / warm['seconds']:.1f} MB/s  peak RSS {warm['rss_mb']:.0f} MB  (cache hits {warm['hits']})")


if __name__ == "__main__":
    main()
