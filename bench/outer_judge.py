"""Judge the final points of L1 runs (inner runs of an outer run, or ``ripmap-train reason``
runs) against one of them on held-out repositories, at equal L1 budgets.

    RIPMAP_CACHE_DIR=/tmp/c nice -n 10 python bench/outer_judge.py --cases cases.json \\
        --baseline training-outer/runs/o1/inner_runs/step_001 \\
        training-outer/runs/o1/inner_runs/step_004 training/runs/other

Why: ``ripmap-train-outer`` judges its best promptgram once, on the held-out repositories
of its own case file. A judgement on a *larger* set of held-out repositories (or on a
second set) needs no new L1 run: the runs are deterministic with the heuristic agent and
their final points are in ``results.trained.json``; only the held-out evaluation is new.

Protocol: only the ``test`` cases of ``--cases`` (the repositories mined with
``--holdout-repo``) are ranked, never a train or validation case; each run's final point
and the baseline run's final point are compared on the same cases, NDCG@10 balanced over
repositories and tasks, with a 95% bootstrap interval resampling commits within each
repository (:func:`ripmap.train.evaluation.comparison.compare`, the ``test`` block's
rule). The runs must share the baseline's start point and episode count, or the
comparison is not at equal budgets: a mismatch is refused.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ripmap.rank.params import Params
from ripmap.train.cases.casefile import read_cases
from ripmap.train.cases.splits import TEST, of_split
from ripmap.train.evaluation.comparison import compare
from ripmap.train.evaluation.evaluator import Evaluator


def final_point(run: Path) -> tuple[Params, dict, int]:
    """(final point, start point's parameters, episodes) of a finished L1 run folder."""
    res = json.loads((run / "results.json").read_text())
    trained = json.loads((run / "results.trained.json").read_text())
    episodes = sum(1 for t in res.get("trials") or () if not t.get("start") and t.get("state") == "COMPLETE")
    return Params.from_dict(trained["params"]), dict(res["start"]["params"]), episodes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", required=True, help="case file (ripmap-train mine --holdout-repo ...)")
    ap.add_argument("--baseline", required=True, help="the baseline run folder (inner_v001's run)")
    ap.add_argument("runs", nargs="+", help="run folders to judge against the baseline")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    from ripmap.train.commands import default_cache_dir

    mined = [m for m in read_cases(a.cases) if any(c.split == TEST for c in m.cases)]
    if not mined:
        print("outer_judge: the case file has no held-out repository (mine with --holdout-repo)", file=sys.stderr)
        return 2
    ev = Evaluator(mined, cache_dir=a.cache_dir or default_cache_dir(),
                   progress=lambda s: print(s, file=sys.stderr))
    cases = of_split(ev.cases, TEST)
    base, base_start, base_k = final_point(Path(a.baseline))
    print(f"held-out: {', '.join(sorted({c.repo for c in cases}))} ({len(cases)} cases); baseline {a.baseline} "
          f"({base_k} episodes)")
    s = compare(ev, cases, Params.from_dict(base_start), base, seed=a.seed)
    print(f"baseline vs its start point: {s.default:.4f} → {s.best:.4f}, Δ {s.best - s.default:+.4f} "
          f"[{s.delta_ci95[0]:+.4f}, {s.delta_ci95[1]:+.4f}]")
    for r in a.runs:
        p, start, k = final_point(Path(r))
        if start != base_start or k != base_k:
            print(f"{r}: refused: not the baseline's start point and episode count ({k} vs {base_k})")
            continue
        c = compare(ev, cases, base, p, seed=a.seed)
        per = ", ".join(f"{n} {f.best - f.default:+.4f}" for n, f in sorted(c.repos.items()))
        print(f"{r}: {c.best:.4f} vs baseline {c.default:.4f}, Δ {c.best - c.default:+.4f} "
              f"[{c.delta_ci95[0]:+.4f}, {c.delta_ci95[1]:+.4f}] ({per})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
