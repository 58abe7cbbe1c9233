"""L1 reasoning (heuristic agent) vs random search vs TPE, at equal evaluation budgets.

    python bench/optimizers.py REPO [REPO ...] [--budget 40] [--agent heuristic]

All three start from the same point (the default parameters): the first evaluation of
every method is the defaults, so only what happens after it differs (the fair setup of
the budget-matched studies in the reference notes). One "evaluation" is one parameter
point scored on every training case; L1 spends one per episode. For each method and
budget b (5, 10, 20, 40 evaluations) the table shows the best train NDCG@10 among its
first b evaluations and the holdout NDCG@10 of that same point (the holdout never
steers anything).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

BUDGETS = (5, 10, 20, 40)


def best_at(trace: list[tuple[float, float]], b: int) -> tuple[float, float]:
    """(best train, its holdout) among the first ``b`` evaluations."""
    head = trace[:b]
    i = max(range(len(head)), key=lambda j: (head[j][0], -j))
    return head[i]


def run(ev, strategy, budget: int, out: Path, name: str, seed: int = 0) -> list[tuple[float, float]]:
    """(train, holdout) of every evaluation, in order, through the trainer's one loop."""
    from ripmap.rank.params import DEFAULT
    from ripmap.train.search.loop import LoopSettings, optimize

    res = optimize(strategy, ev, LoopSettings(out_dir=out, budget=budget, start=DEFAULT, run_name=name, seed=seed))
    return [(t.train_ndcg, t.holdout_ndcg or 0.0) for t in res.trials if t.complete]


def run_l1(ev, budget: int, agent: str, out: Path, name: str) -> list[tuple[float, float]]:
    from ripmap.train.agents import AgentSettings
    from ripmap.train.l1.strategy import L1Settings, L1Strategy

    return run(ev, L1Strategy(L1Settings(agent=AgentSettings(spec=agent))), budget, out, name)


def run_optuna(ev, budget: int, sampler: str, seed: int, out: Path, name: str) -> list[tuple[float, float]]:
    from ripmap.train.search.strategies import make_strategy

    return run(ev, make_strategy(sampler), budget, out, name, seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repos", nargs="+")
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--agent", default="heuristic")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--snapshot-back", type=int, default=300)
    ap.add_argument("--cache-dir", default=None)
    a = ap.parse_args()

    from ripmap.train.evaluation.evaluator import Evaluator
    from ripmap.train.cases.oracle import mine_cases

    cache = Path(a.cache_dir or tempfile.mkdtemp(prefix="ripmap-opt-"))
    out = Path(tempfile.mkdtemp(prefix="ripmap-opt-runs-"))
    budgets = [b for b in BUDGETS if b <= a.budget]
    print("| repository | method | " + " | ".join(f"@{b} train / holdout" for b in budgets) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in budgets) + " |")
    for repo in a.repos:
        name = Path(repo).name
        mined = mine_cases(repo, snapshot_back=a.snapshot_back, max_commits=300, holdout=0.3)
        ev = Evaluator([mined], cache_dir=cache)
        print(f"{name}: {len(ev.train_cases)} train / {len(ev.holdout_cases)} holdout cases", file=sys.stderr)
        traces = {
            f"L1 ({a.agent})": run_l1(ev, a.budget, a.agent, out, name.replace("+", "-") + "-l1"),
            "random": run_optuna(ev, a.budget, "random", a.seed, out, name.replace("+", "-") + "-random"),
            "TPE": run_optuna(ev, a.budget, "tpe", a.seed, out, name.replace("+", "-") + "-tpe"),
        }
        for method, trace in traces.items():
            cells = []
            for b in budgets:
                tr, ho = best_at(trace, b)
                cells.append(f"{tr:.3f} / {ho:.3f}")
            print(f"| {name} | {method} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
