"""How fast is one evaluation? The trainer's inner loop, timed.

    python bench/evaluate.py REPO [REPO ...] [--snapshot-back 300] [--max-commits 300]
                             [--random 5] [--seed 0] [--cache-dir DIR] [--profile]

Every search trial and every L1 episode is one ``Evaluator.evaluate`` over all cases
(tasks A, A+msg, B) at one parameter point, so its cost bounds how many trials fit in an
hour. Mines cases from each repository (pass a small and a large one), builds one
Evaluator (the index is built before any timing), then prints milliseconds per case of
whole search-style evaluations (``explain_failures=False``):

* cold: the first evaluation (DEFAULT): assembles the graph, factors PageRank's
  matrix, and fills every per-query memo (parsed focus, lexical scores, seeds);
* warm, new point: ``--random`` random points, each moving every parameter (a new
  graph and α: one assembly and one factorization per trial, the per-query memos reused);
* warm, same graph: the step after the last random point, moving only fusion weights
  (as many L1 steps do): graph, factorization, PageRank and focus vectors all reused.

The target is at most 2 ms per case, warm, on a repository of ~1,500 files, judged on
CPU time (wall time is printed too; on a loaded machine it is inflated by other
processes). Exit status 1 if a repository misses it. ``--profile`` adds a pyinstrument
profile of the warm evaluations.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ripmap.rank.params import DEFAULT, REGISTRY, Params
from ripmap.train.evaluation.evaluator import Evaluator
from ripmap.train.cases.oracle import TASKS, mine_cases
from ripmap.train.cases.snapshots import cleanup_snapshots

TARGET_MS = 2.0
REGISTRY_BY_NAME = {s.name: s for s in REGISTRY}


def random_params(rng: np.random.Generator) -> Params:
    """A uniform point on every parameter's own scale, like the random baseline."""
    return Params({s.name: s.clamp(s.from_unit(float(rng.random()))) for s in REGISTRY})


def timed(ev: Evaluator, params: Params) -> tuple[float, float]:
    """(wall, CPU) milliseconds per case of one search-style evaluation. CPU time is what
    to compare on a shared machine: wall time also counts other processes' turns."""
    t0, c0 = time.perf_counter(), time.process_time()
    ev.evaluate(params, explain_failures=False)
    n = len(ev.cases)
    return (time.perf_counter() - t0) * 1000.0 / n, (time.process_time() - c0) * 1000.0 / n


def line(label: str, wall: list[float], cpu: list[float]) -> str:
    return (f"  {label:<28} {statistics.median(cpu):7.3f} ms/case CPU   {statistics.median(wall):7.3f} ms/case wall"
            + (f"   (median of {len(cpu)})" if len(cpu) > 1 else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repos", nargs="+")
    ap.add_argument("--snapshot-back", type=int, default=300)
    ap.add_argument("--max-commits", type=int, default=300)
    ap.add_argument("--random", type=int, default=5, help="random parameter points to time (default: 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--profile", action="store_true", help="profile the search-style evaluations (pyinstrument)")
    a = ap.parse_args()
    cache = Path(a.cache_dir or tempfile.mkdtemp(prefix="ripmap-bench-eval-"))
    rng = np.random.default_rng(a.seed)
    verdict = 0
    rows: list[tuple[str, int, int, float, float, float]] = []
    for repo in a.repos:
        t0 = time.perf_counter()
        mined = mine_cases(repo, snapshot_back=a.snapshot_back, max_commits=a.max_commits, tasks=TASKS)
        t_mine = time.perf_counter() - t0
        if not mined.cases:
            print(f"{repo}: no cases", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        ev = Evaluator([mined], cache_dir=cache)
        t_index = time.perf_counter() - t0
        snap = next(iter(ev.snapshots.values()))
        n = len(ev.cases)
        per_task = ", ".join(f"{t} {sum(c.task == t for c in ev.cases)}" for t in TASKS)
        print(f"{Path(repo).name}: {snap.file_count} files in the graph, {n} cases ({per_task}) "
              f"(mined in {t_mine:.1f} s, indexed in {t_index:.1f} s)")

        cold = timed(ev, DEFAULT)  # first evaluation: graph, factorization, per-query memos
        print(line("cold (first evaluation)", [cold[0]], [cold[1]]))
        points = [random_params(rng) for _ in range(a.random)]
        warm = [timed(ev, p) for p in points]
        if warm:
            print(line("warm, new point (random)", [w for w, _ in warm], [c for _, c in warm]))
        last = points[-1] if points else DEFAULT  # the step after it moves fusion weights only
        fusion = Params({**last.to_dict(), "boost_lexical": REGISTRY_BY_NAME["boost_lexical"].clamp(
                             last["boost_lexical"] * 1.5),
                         "boost_temporal_coupling": REGISTRY_BY_NAME["boost_temporal_coupling"].clamp(
                             last["boost_temporal_coupling"] * 0.7)})
        same = timed(ev, fusion)
        print(line("warm, same graph and alpha", [same[0]], [same[1]]))
        med_cpu = statistics.median([c for _, c in warm] or [same[1]])
        ok = med_cpu <= TARGET_MS
        print(f"  target <= {TARGET_MS} ms per case warm (CPU): {'met' if ok else 'MISSED'}")
        rows.append((Path(repo).name, snap.file_count, n, cold[1], med_cpu, same[1]))
        verdict |= 0 if ok else 1

        if a.profile:
            from pyinstrument import Profiler

            prof = Profiler(interval=0.0005)
            prof.start()
            for p in points[:3]:
                ev.evaluate(p, explain_failures=False)
            prof.stop()
            print(prof.output_text(unicode=True, color=False, show_all=False))
        if a.cache_dir is None:  # do not leave worktree entries pointing into a temp dir
            cleanup_snapshots(repo, cache)
    if rows:
        print("\nms per case (CPU), one search-style evaluation:")
        print(f"  {'repository':<12}{'files':>7}{'cases':>7}{'cold':>9}{'warm new point':>16}{'warm same graph':>17}")
        for name, files, n, c, w, s2 in rows:
            print(f"  {name:<12}{files:>7}{n:>7}{c:>9.3f}{w:>16.3f}{s2:>17.3f}")
    return verdict


if __name__ == "__main__":
    raise SystemExit(main())
