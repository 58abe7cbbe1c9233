"""How fast is one evaluation? The trainer's inner loop, timed.

    python bench/evaluate.py REPO [REPO ...] [--snapshot-back 300] [--max-commits 300]
                             [--random 5] [--seed 0] [--cache-dir DIR] [--profile]

Every search trial and every L1 episode is one ``Evaluator.evaluate`` over all cases, so
its cost bounds how many trials fit in an hour. Mines cases from each repository, builds
one Evaluator (the index is built once, before any timing: "warm"), then reports

* per-case latency (median, mean, p95) of the hot path: ``rank`` + metrics for one case,
  at the default parameters and at ``--random`` random points (a new point pays once for
  re-assembling the graph matrix: that shows up in the mean, not the median);
* whole evaluations: ``evaluate(DEFAULT)`` as ``--eval`` runs it (failures explained) and
  with ``explain_failures=False`` as the searches run it: total seconds and cases/s.

The target is a median of at most 2 ms per case on repositories of a few hundred files,
judged on CPU time (wall time is printed too; on a loaded machine it is inflated by
other processes). Exit status 1 if a repository misses it.
``--profile`` adds a pyinstrument profile of the search-style evaluations.
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
from ripmap.train.evaluation.metrics import case_metrics
from ripmap.train.cases.oracle import mine_cases
from ripmap.train.cases.snapshots import cleanup_snapshots

TARGET_MS = 2.0


def random_params(rng: np.random.Generator) -> Params:
    """A uniform point on every parameter's own scale, like the random baseline."""
    return Params({s.name: s.clamp(s.from_unit(float(rng.random()))) for s in REGISTRY})


def per_case_ms(ev: Evaluator, params: Params) -> tuple[list[float], list[float]]:
    """(wall, CPU) milliseconds per case. CPU time is what to compare on a shared machine:
    wall time also counts the time other processes hold the cores."""
    wall, cpu = [], []
    for c in ev.cases:
        t0, c0 = time.perf_counter(), time.process_time()
        files = ev.ranking_for(params, c)
        case_metrics(files, c.expected_map)
        cpu.append((time.process_time() - c0) * 1000.0)
        wall.append((time.perf_counter() - t0) * 1000.0)
    return wall, cpu


def summary(label: str, ms: list[float], cpu: list[float]) -> str:
    s = sorted(ms)
    p95 = s[min(len(s) - 1, int(0.95 * len(s)))]
    return (f"  {label:<22} median {statistics.median(s):7.3f} ms   mean {statistics.fmean(s):7.3f} ms   "
            f"p95 {p95:7.3f} ms   CPU median {statistics.median(cpu):7.3f} ms   ({len(s)} cases)")


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
    for repo in a.repos:
        t0 = time.perf_counter()
        mined = mine_cases(repo, snapshot_back=a.snapshot_back, max_commits=a.max_commits)
        t_mine = time.perf_counter() - t0
        if not mined.cases:
            print(f"{repo}: no cases", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        ev = Evaluator([mined], cache_dir=cache)
        t_index = time.perf_counter() - t0
        snap = next(iter(ev.snapshots.values()))
        n = len(ev.cases)
        print(f"{Path(repo).name}: {snap.file_count} files in the graph, {n} cases "
              f"(mined in {t_mine:.1f} s, indexed in {t_index:.1f} s)")

        t0 = time.perf_counter()
        ev.evaluate(DEFAULT, explain_failures=False)  # first evaluation: assembles the default graph
        print(f"  first evaluation       {time.perf_counter() - t0:7.3f} s (cold: graph matrix for DEFAULT)")

        d, d_cpu = per_case_ms(ev, DEFAULT)
        print(summary("default, per case", d, d_cpu))
        rnd: list[float] = []
        rnd_cpu: list[float] = []
        points = [random_params(rng) for _ in range(a.random)]
        for p in points:
            w, c = per_case_ms(ev, p)
            rnd.extend(w)
            rnd_cpu.extend(c)
        if rnd:
            print(summary(f"{a.random} random points", rnd, rnd_cpu))

        for label, explain in (("evaluate(DEFAULT)", True), ("search-style", False)):
            t0, c0 = time.perf_counter(), time.process_time()
            ev.evaluate(DEFAULT, explain_failures=explain)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            print(f"  {label:<22} {dt:7.3f} s for {n} cases   {n / dt:8.1f} cases/s   (CPU {dc:.3f} s)")
        med, med_cpu = statistics.median(d), statistics.median(d_cpu)
        ok = med_cpu <= TARGET_MS
        print(f"  target ≤ {TARGET_MS} ms median per case (CPU): {'met' if ok else 'MISSED'} "
              f"({med_cpu:.3f} ms CPU, {med:.3f} ms wall)")
        verdict |= 0 if ok else 1

        if a.profile:
            from pyinstrument import Profiler

            prof = Profiler(interval=0.0005)
            prof.start()
            ev.evaluate(DEFAULT, explain_failures=False)
            for p in points[:3]:
                ev.evaluate(p, explain_failures=False)
            prof.stop()
            print(prof.output_text(unicode=True, color=False, show_all=False))
        if a.cache_dir is None:  # do not leave worktree entries pointing into a temp dir
            cleanup_snapshots(repo, cache)
    return verdict


if __name__ == "__main__":
    raise SystemExit(main())
