"""Ranking speed on a warm cache: first ranking in a fresh process, then re-ranks.

    python bench/rank.py REPO [--reps 5]

"first": a new ``RepoMap`` over a warm cache — index load (discovery + cached
definitions), reference graph from its cache, git signals from their cache, and one
``rank()`` (PageRank + every signal). "re-rank": ``rank()`` again on the same loaded
index with other chat files, or with a focus text: the repository's own last 40 commit
messages (each a new text, so nothing is memoized), and a 3,000-character task text
(messages, a traceback and identifiers). The lexical index is built on the first query
that needs it and reported separately. Symbol ranking and rendering are not included
(see bench/compare_aider.py for end-to-end numbers).

Targets (issue 11): a warm re-rank with a focus ≤ 20 ms median on a ~250-file
repository, ≤ 60 ms on a ~1,600-file one; a 3,000-character focus ≤ 100 ms.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, random, subprocess, sys, time
from ripmap import RepoMap
root, cache = sys.argv[1], sys.argv[2]
log = subprocess.run(["git", "-C", root, "log", "--no-merges", "-n", "40", "--format=%B%x1e"], capture_output=True,
                     text=True).stdout
messages = [m.strip() for m in log.split("") if m.strip()] or ["parse config", "error handling"]
t0 = time.perf_counter()
rm = RepoMap(root, cache_dir=cache, progress=False, warn=lambda m: None)
idx = rm.index
t1 = time.perf_counter()
ctx = rm.context
t2 = time.perf_counter()
r = rm.rank()
t3 = time.perf_counter()
files = list(r.files)
rnd = random.Random(0)
first_chat = time.perf_counter(); rm.rank(chat_files=[files[0]]); first_chat = time.perf_counter() - first_chat
first_focus = time.perf_counter(); rm.rank(focus="parse config"); first_focus = time.perf_counter() - first_focus
chat_t, focus_t = [], []
for i in range(20):
    f = rnd.choice(files)
    t = time.perf_counter(); rm.rank(chat_files=[f]); chat_t.append(time.perf_counter() - t)
for q in messages:
    t = time.perf_counter(); rm.rank(focus=q); focus_t.append(time.perf_counter() - t)
frames = "".join(f'  File "{root}/{f}", line {10 + i}, in handler_{i}\n' for i, f in enumerate(files[:12]))
long = ("Traceback (most recent call last):\n" + frames + "ValueError: bad state\n\n" + "\n\n".join(messages))[:3000]
long_t = []
for k in range(5):
    t = time.perf_counter(); rm.rank(focus=long + " " * k); long_t.append(time.perf_counter() - t)
focus_t.sort(); long_t.sort()
print(json.dumps({"files": len(idx.files), "index": t1 - t0, "graph_git": t2 - t1, "rank": t3 - t2,
                  "first": t3 - t0, "first_chat": first_chat, "first_focus": first_focus,
                  "chat": sorted(chat_t)[len(chat_t) // 2], "focus": focus_t[len(focus_t) // 2],
                  "focus_p90": focus_t[int(len(focus_t) * 0.9)], "long": long_t[len(long_t) // 2],
                  "long_chars": len(long)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    if not Path(a.repo).is_dir():
        raise SystemExit(f"rank.py: {a.repo}: no such directory")
    with tempfile.TemporaryDirectory() as cache:
        subprocess.run([sys.executable, "-c", CHILD, a.repo, cache], check=True, capture_output=True)  # warm up
        runs = [json.loads(subprocess.run([sys.executable, "-c", CHILD, a.repo, cache], check=True,
                                          capture_output=True, text=True).stdout) for _ in range(a.reps)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k not in ("files", "long_chars")}
    ms = {k: v * 1000 for k, v in med.items()}
    print(f"repo: {a.repo} ({runs[0]['files']} files), medians of {a.reps} fresh processes, warm cache")
    print(f"first ranking: {ms['first']:.0f} ms  (index {ms['index']:.0f} + graph/git {ms['graph_git']:.0f} + rank {ms['rank']:.0f})")
    print(f"first chat query (loads or builds the lexical index): {ms['first_chat']:.0f} ms; "
          f"first focus query: {ms['first_focus']:.0f} ms")
    print(f"re-rank, other chat file: {ms['chat']:.1f} ms")
    print(f"re-rank, commit message as focus: median {ms['focus']:.1f} ms, p90 {ms['focus_p90']:.1f} ms")
    print(f"re-rank, {runs[0]['long_chars']}-character focus: {ms['long']:.1f} ms")


if __name__ == "__main__":
    main()
