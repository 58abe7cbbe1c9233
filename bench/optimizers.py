"""Optimizers compared honestly: L1 (heuristic agent), random, TPE, CMA-ES and the hybrid,
at equal evaluation budgets, judged on repositories none of them trained on.

    RIPMAP_CORPUS=/work/repos nice -n 10 python bench/optimizers.py --corpus bench/corpus/fit.toml \\
        --only flask,cobra,fd,koa,click,gin,bat,gson \\
        --holdout-repo click --holdout-repo gin --holdout-repo bat --holdout-repo gson \\
        --out bench-out/optimizers

Protocol (leave repositories out):

* training repositories (the corpus entries not held out) are mined as the trainer mines
  them; the newest ``--holdout`` of each one's commits are the validation split, which
  never steers a strategy and only *selects* a point;
* every (strategy, seed) is one run of ``--budget`` evaluations (default 100) through the
  trainer's one loop (``ripmap-train search`` / ``reason``), starting at the defaults;
  one evaluation is one point scored on every training case. A budget b (10, 25, 50, 100)
  is read as the first b evaluations of that run: the point selected at b is the one with
  the best validation NDCG@10 among them (train breaking ties, earliest first), the rule
  the trainer uses for its final point;
* that point and the start point are judged on the held-out repositories only
  (``--holdout-repo``): NDCG@10 balanced over repositories and, within each, over the
  three tasks (A, A+msg, B), as the ``test`` block of a run weighs them;
* the table gives, per strategy and budget, the held-out NDCG@10 averaged over seeds, its
  difference to the start point, and a 95% bootstrap interval of that difference that
  resamples both seeds and commits (commits within each held-out repository, paired with
  the start point on the same commits). Seeds differ per strategy (the trainer derives
  each sampler's seed from ``--seed`` and the strategy's name).

L1 with the heuristic agent uses no randomness (same failures, same replies): its seeds
would be the same run, so it runs once and that run stands for every seed; its interval
resamples commits only, and the table says so.

Resumable: runs live in ``OUT/runs/<strategy>-s<seed>`` (the loop's study keeps every
finished trial) and each finished run's judgement in ``OUT/judged/``; run the same
command again after a kill and only the unfinished work is done. Progress goes to stderr;
the tables (Markdown) to stdout and ``OUT/table.md``, every figure to ``OUT/table.json``.
Judge presets on ``bench/corpus/eval.toml`` if you like, but never choose anything there.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

PROG = "optimizers.py"
STRATEGIES = ("l1", "random", "tpe", "cmaes", "hybrid")
DETERMINISTIC = frozenset({"l1"})
"""Strategies whose runs do not depend on the seed (the heuristic agent): run once."""
BUDGETS = (10, 25, 50, 100)
N_BOOT = 2000
LABELS = {"l1": "L1 (heuristic)", "random": "random", "tpe": "TPE", "cmaes": "CMA-ES",
          "hybrid": "hybrid (L1 + TPE)"}


class BenchError(Exception):
    """Bad input: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise BenchError(message)


def _names(v: str) -> list[str]:
    return [x.strip() for x in v.split(",") if x.strip()]


def _ints(v: str) -> list[int]:
    try:
        out = [int(x) for x in _names(v)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {v!r}") from None
    if not out or any(x < 1 for x in out):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {v!r}")
    return sorted(set(out))


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_argument_group("repositories")
    g.add_argument("--corpus", metavar="FILE", help="TOML list of repositories ([[repo]] name, path, ...)")
    g.add_argument("--repo", action="append", default=[], metavar="PATH", help="a local git repository (repeatable)")
    g.add_argument("--only", type=_names, metavar="A,B,...", help="use only these entries of --corpus/--repo")
    g.add_argument("--holdout-repo", action="append", default=[], metavar="NAME|PATH",
                   help="a repository judged on and never trained on (repeatable; at least one)")
    g.add_argument("--clone-dir", default="training/corpus", metavar="DIR", help="where corpus URLs are cloned")
    g = ap.add_argument_group("cases")
    g.add_argument("--snapshot-back", type=int, default=300, metavar="N")
    g.add_argument("--max-commits", type=int, default=300, metavar="N", help="commits mined per training repository")
    g.add_argument("--judge-max-commits", type=int, metavar="N",
                   help="commits mined per held-out repository (default: --max-commits); judging is cheap next to "
                        "the runs, so a smaller training corpus need not shrink it")
    g.add_argument("--holdout", type=float, default=0.3, metavar="F",
                   help="newest fraction of each training repository's cases used for validation (default 0.3)")
    g = ap.add_argument_group("comparison")
    g.add_argument("--strategies", type=_names, default=list(STRATEGIES), metavar="A,B,...",
                   help=f"strategies to run (default: {','.join(STRATEGIES)})")
    g.add_argument("--seeds", type=int, default=5, metavar="N", help="seeds 0..N-1 per strategy (default 5)")
    g.add_argument("--budgets", type=_ints, default=list(BUDGETS), metavar="B,...",
                   help="budgets judged, as prefixes of one run (default 10,25,50,100)")
    g.add_argument("--n-boot", type=int, default=N_BOOT, metavar="N")
    g.add_argument("--out", default="bench-out/optimizers", metavar="DIR", help="runs, judgements and tables")
    g.add_argument("--cache-dir", metavar="DIR", help="snapshot worktrees and tag caches")
    return ap


def check(a: argparse.Namespace) -> None:
    """Every argument error, before any mining."""
    bad = [s for s in a.strategies if s not in STRATEGIES]
    if bad:
        raise BenchError(f"unknown strategy {bad[0]!r} (choose from {', '.join(STRATEGIES)})")
    if not a.strategies:
        raise BenchError("--strategies is empty")
    if a.seeds < 1:
        raise BenchError("--seeds must be at least 1")
    if a.n_boot < 100:
        raise BenchError("--n-boot must be at least 100")
    if not 0.0 < a.holdout < 1.0:
        raise BenchError("--holdout must be in (0, 1): the validation split selects each budget's point")
    if not a.corpus and not a.repo:
        raise BenchError("no repositories: give --corpus FILE or --repo PATH")
    if not a.holdout_repo:
        raise BenchError("no held-out repository: give --holdout-repo NAME|PATH (the figures are judged there)")
    if a.snapshot_back < 1 or a.max_commits < 1 or (a.judge_max_commits is not None and a.judge_max_commits < 1):
        raise BenchError("--snapshot-back, --max-commits and --judge-max-commits must be at least 1")


@dataclass(frozen=True)
class Setup:
    train: tuple  # RepoSpec
    held: tuple
    budget: int
    budgets: tuple[int, ...]


def split_repos(a: argparse.Namespace) -> Setup:
    from ripmap.train.cases.corpus import RepoSpec, load_corpus

    specs = [RepoSpec(Path(r).expanduser().resolve().name, path=Path(r).expanduser().resolve()) for r in a.repo]
    if a.corpus:
        specs += load_corpus(a.corpus)
    if a.only:
        missing = [n for n in a.only if n not in {s.name for s in specs}]
        if missing:
            raise BenchError(f"--only {missing[0]}: no such entry in --corpus/--repo")
        specs = [s for s in specs if s.name in set(a.only)]
    held = []
    for v in a.holdout_repo:
        hit = [s for s in specs if s.name == v]
        p = Path(v).expanduser()
        if not hit and p.is_dir():
            hit = [s for s in specs if s.path is not None and s.path.resolve() == p.resolve()] \
                or [RepoSpec(p.resolve().name, path=p.resolve())]
        if not hit:
            raise BenchError(f"--holdout-repo {v}: no such directory, and no --corpus/--repo entry of that name")
        for s in hit:
            if s in specs:
                specs.remove(s)
            held.append(s)
    if not specs:
        raise BenchError("every repository is held out: keep at least one to train on")
    for s in [*specs, *held]:
        if s.path is not None and not (s.path / ".git").exists():
            raise BenchError(f"{s.path}: not a git repository (fetch the corpus first; see bench/corpus/README.md)")
    budget = max(a.budgets)
    return Setup(tuple(specs), tuple(held), budget, tuple(a.budgets))


# -- cases and evaluators ------------------------------------------------------------------

def mine(a: argparse.Namespace, setup: Setup, say: Callable[[str], None]):
    """(training evaluator, judging evaluator): the held-out repositories in their own
    evaluator, whole (test split), so no run ever ranks one of their cases."""
    from ripmap.train.cases.corpus import ensure_local
    from ripmap.train.cases.oracle import MineSettings
    from ripmap.train.cases.splits import hold_out
    from ripmap.train.evaluation.evaluator import Evaluator

    ms = MineSettings(snapshot_back=a.snapshot_back, max_commits=a.max_commits, holdout=a.holdout)
    cache = Path(a.cache_dir) if a.cache_dir else _default_cache()
    train, held = [], []
    for s in setup.train:
        m = ms.mine(ensure_local(s, a.clone_dir), name=s.name)
        say(f"{s.name}: {len(m.cases)} cases, {len({c.commit for c in m.cases})} commits (training)")
        train.append(m)
    for s in setup.held:
        judge_ms = replace(ms, holdout=0.0, max_commits=a.judge_max_commits or a.max_commits)
        m = hold_out(judge_ms.mine(ensure_local(s, a.clone_dir), name=s.name))
        say(f"{s.name}: {len(m.cases)} cases, {len({c.commit for c in m.cases})} commits (held out)")
        held.append(m)
    if not any(m.cases for m in train) or not any(m.cases for m in held):
        raise BenchError("no cases mined on the training or the held-out side (try a larger --max-commits)")
    quiet = lambda _m: None  # noqa: E731
    return Evaluator(train, cache_dir=cache, progress=quiet), Evaluator(held, cache_dir=cache, progress=quiet)


def _default_cache() -> Path:
    from ripmap.train.commands import default_cache_dir

    return default_cache_dir()


def fingerprint(ev_train, ev_held, setup: Setup) -> dict[str, Any]:
    """What the runs in OUT depend on: a rerun with other cases must not mix with them."""
    def digest(cases) -> str:
        h = hashlib.sha256()
        for c in cases:
            h.update(f"{c.repo}|{c.commit}|{c.task}|{c.seed_file}|{c.split}\n".encode())
        return h.hexdigest()[:16]

    return {"train": sorted(s.name for s in setup.train), "held_out": sorted(s.name for s in setup.held),
            "train_cases": len(ev_train.cases), "held_out_cases": len(ev_held.cases),
            "cases_sha": digest(ev_train.cases + ev_held.cases), "budget": setup.budget}


# -- runs ----------------------------------------------------------------------------------

def make(strategy: str):
    from ripmap.train.search.strategies import make_strategy

    if strategy == "l1":
        from ripmap.train.agents import AgentSettings
        from ripmap.train.l1.strategy import L1Settings, L1Strategy

        return L1Strategy(L1Settings(agent=AgentSettings(spec="heuristic")))
    return make_strategy(strategy)


def with_progress(strat, label: str, budget: int, say: Callable[[str], None]):
    """Wrap the strategy's ``tell`` to report every 10th trial (the loop's own status line
    is redrawn in place, which a log file does not show)."""
    inner = strat.tell
    state = {"n": 0, "t0": time.monotonic(), "best": None}

    def tell(number, point, m, *, start):  # noqa: ANN001 - the Strategy hook's signature
        state["n"] += 1
        v = m.holdout if m.holdout is not None else m.ndcg
        if state["best"] is None or v > state["best"]:
            state["best"] = v
        n, dt = state["n"], time.monotonic() - state["t0"]
        if n % 10 == 0 or n == 1:
            say(f"{label}: trial {number + 1}/{budget}, best validation {state['best']:.4f}, "
                f"{dt / n:.2f} s/trial in this call")
        return inner(number, point, m, start=start)

    strat.tell = tell
    return strat


def run_one(ev, strategy: str, seed: int, budget: int, runs: Path, say: Callable[[str], None]):
    """One (strategy, seed) run through the trainer's loop, resumed when it exists."""
    from ripmap.rank.params import DEFAULT
    from ripmap.train.search.loop import LoopSettings, optimize

    label = f"{strategy}-s{seed}"
    exists = (runs / label / "config.json").is_file()
    res = optimize(with_progress(make(strategy), label, budget, say), ev,
                   LoopSettings(out_dir=runs, budget=budget, start=DEFAULT, run_name=label, seed=seed,
                                resume=exists))
    return [t for t in res.trials if t.complete]


def selected(trials: Sequence, budgets: Sequence[int]) -> dict[int, Any]:
    """The trainer's final-point rule applied to each prefix of the run."""
    from ripmap.train.search.study import best_of

    done = sorted(trials, key=lambda t: t.number)
    return {b: best_of(done[:b]) for b in budgets if len(done) >= b}


def per_case(ev, params) -> list[float]:
    r = ev.evaluate(params, ev.cases, explain_failures=False)
    return [float(m.ndcg_10) for _c, m in r.per_case]


def judge(ev_held, label: str, strategy: str, seed: int, trials: Sequence, budgets: Sequence[int]) -> dict:
    """Each budget's selected point judged on the held-out repositories (each distinct point once)."""
    from ripmap.rank.params import Params

    start = next(t for t in trials if t.start)
    sel = selected(trials, budgets)
    points: dict[str, list[float]] = {}
    for t in sel.values():
        if str(t.number) not in points:
            points[str(t.number)] = per_case(ev_held, Params(t.params))
    return {"label": label, "strategy": strategy, "seed": seed,
            "start": {"train": start.train_ndcg, "validation": start.holdout_ndcg},
            "budgets": {str(b): {"trial": t.number, "train": t.train_ndcg, "validation": t.holdout_ndcg,
                                 "params": dict(t.params)} for b, t in sel.items()},
            "points": points}


# -- the table -----------------------------------------------------------------------------

def weights(cases) -> np.ndarray:
    """Each held-out repository weighs the same, each task within it the same (the test block's rule)."""
    from ripmap.train.evaluation.comparison import _weights

    return _weights(cases)


def boot_delta(deltas: np.ndarray, w: np.ndarray, clusters: Sequence, strata: Sequence, *, n_boot: int,
               seed: int = 0) -> tuple[float, float, float]:
    """(mean over seeds of the weighted mean difference, 95% interval): seeds (rows of
    ``deltas``) resampled with replacement, and commits (``clusters``) within each
    repository (``strata``), on the same resamples for every seed."""
    rng = np.random.default_rng(seed)
    S, N = deltas.shape
    keep = w > 0
    deltas, w = deltas[:, keep], w[keep]
    clusters = [c for c, k in zip(clusters, keep) if k]
    strata = [s for s, k in zip(strata, keep) if k]
    ids: dict[tuple, int] = {}
    cid = np.array([ids.setdefault((s, c), len(ids)) for s, c in zip(strata, clusters)])
    C = len(ids)
    W = np.bincount(cid, weights=w, minlength=C)
    D = np.stack([np.bincount(cid, weights=w * deltas[s], minlength=C) for s in range(S)])  # S × C
    point = float((D.sum(axis=1) / W.sum()).mean())
    K = np.zeros((n_boot, C))
    rows = np.arange(n_boot)
    by_stratum: dict[Any, list[int]] = {}
    for (s, _c), i in ids.items():
        by_stratum.setdefault(s, []).append(i)
    for members in by_stratum.values():
        m = np.asarray(members)
        pick = m[rng.integers(0, m.size, size=(n_boot, m.size))]
        np.add.at(K, (np.repeat(rows, m.size), pick.ravel()), 1.0)
    M = np.zeros((n_boot, S))
    np.add.at(M, (np.repeat(rows, S), rng.integers(0, S, size=(n_boot, S)).ravel()), 1.0 / S)
    stat = ((M @ D) * K).sum(axis=1) / (K @ W)
    lo, hi = np.quantile(stat, [0.025, 0.975])
    return point, float(lo), float(hi)


def table(judged: Mapping[str, list[dict]], start_vec: list[float], ev_held, budgets: Sequence[int],
          n_boot: int) -> tuple[str, dict]:
    """The Markdown tables and every figure behind them."""
    from ripmap.train.cases.oracle import TASKS

    cases = ev_held.cases
    w = weights(cases)
    v0 = np.asarray(start_vec)
    commits = [c.commit for c in cases]
    repos = [c.repo for c in cases]
    base = float(w @ v0 / w.sum())
    figures: dict[str, Any] = {"start_held_out": base, "cells": {}}
    lines = [f"Held-out NDCG@10 (task-balanced, each repository alike) at the start point (defaults): {base:.4f}", "",
             "| strategy | seeds | " + " | ".join(f"b = {b}" for b in budgets) + " |",
             "| --- | ---: | " + " | ".join("---:" for _ in budgets) + " |"]
    task_rows: list[str] = []
    for strat in STRATEGIES:
        runs = judged.get(strat) or []
        if not runs:
            continue
        cells = []
        for b in budgets:
            rows = [r for r in runs if str(b) in r["budgets"]]
            if not rows:
                cells.append("–")
                continue
            V = np.array([r["points"][str(r["budgets"][str(b)]["trial"])] for r in rows])
            d, lo, hi = boot_delta(V - v0, w, commits, repos, n_boot=n_boot)
            val = [r["budgets"][str(b)]["validation"] - r["start"]["validation"] for r in rows]
            abs_ = float(np.mean(V @ w / w.sum()))
            per_task = {}
            for task in TASKS:
                idx = np.array([i for i, c in enumerate(cases) if c.task == task])
                if idx.size:
                    per_task[task] = boot_delta((V - v0)[:, idx], w[idx], [commits[i] for i in idx],
                                                [repos[i] for i in idx], n_boot=n_boot)
            figures["cells"][f"{strat}@{b}"] = {"held_out": abs_, "delta": d, "delta_ci95": [lo, hi],
                                                "validation_delta": float(np.mean(val)), "runs": len(rows),
                                                "distinct_points": len({json.dumps(r["budgets"][str(b)]["params"],
                                                                                   sort_keys=True) for r in rows}),
                                                "by_task": {k: {"delta": x[0], "delta_ci95": [x[1], x[2]]}
                                                            for k, x in per_task.items()}}
            cells.append(f"{abs_:.4f} ({d:+.4f} [{lo:+.4f}, {hi:+.4f}])")
            if b == budgets[-1]:
                task_rows.append(f"| {LABELS[strat]} | " + " | ".join(
                    f"{x[0]:+.4f} [{x[1]:+.4f}, {x[2]:+.4f}]" for x in per_task.values())
                    + f" | {float(np.mean(val)):+.4f} |")
        seeds = "1 (deterministic)" if strat in DETERMINISTIC else f"{len(runs)}"
        lines.append(f"| {LABELS[strat]} | {seeds} | " + " | ".join(cells) + " |")
    lines += ["", "Cells: held-out NDCG@10 averaged over seeds (Δ vs the start point [95% interval; seeds and "
              "commits resampled, commits within each held-out repository]).", "",
              f"Per task at b = {budgets[-1]} (Δ vs the start point [95% interval]), and the validation Δ on the "
              "training repositories that selected the point:", "",
              "| strategy | " + " | ".join(TASKS) + " | validation Δ (train repos) |",
              "| --- | " + " | ".join("---:" for _ in TASKS) + " | ---: |", *task_rows]
    return "\n".join(lines), figures


# -- main ----------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    a = parser().parse_args(argv)
    check(a)
    t_start = time.monotonic()

    def say(msg: str) -> None:
        el = time.monotonic() - t_start
        print(f"[{int(el // 60):3d}m{int(el % 60):02d}s] {msg}", file=sys.stderr, flush=True)

    setup = split_repos(a)
    out = Path(a.out)
    runs, judged_dir = out / "runs", out / "judged"
    ev_train, ev_held = mine(a, setup, say)
    fp = fingerprint(ev_train, ev_held, setup)
    out.mkdir(parents=True, exist_ok=True)
    fp_file = out / "bench.json"
    if fp_file.is_file():
        old = json.loads(fp_file.read_text())
        if old != fp:
            diff = ", ".join(k for k in fp if old.get(k) != fp.get(k))
            raise BenchError(f"{out} holds runs made with other cases or budget ({diff}); use another --out")
    else:
        fp_file.write_text(json.dumps(fp, indent=1))
    judged_dir.mkdir(parents=True, exist_ok=True)

    from ripmap.rank.params import DEFAULT
    from ripmap.train.evaluation.measurement import measure

    start_file = judged_dir / "start.json"
    if start_file.is_file():
        start_vec = json.loads(start_file.read_text())
    else:
        start_vec = per_case(ev_held, DEFAULT)
        start_file.write_text(json.dumps(start_vec))
    measure(ev_train, DEFAULT)  # warms the per-snapshot memos, as every run's start point does
    t0 = time.perf_counter()
    measure(ev_train, DEFAULT.replace(pagerank_alpha=0.8, boost_lexical=DEFAULT["boost_lexical"] * 1.5))
    one = time.perf_counter() - t0
    todo = [(s, seed) for seed in range(a.seeds) for s in a.strategies
            if not (s in DETERMINISTIC and seed > 0)]
    left = [(s, seed) for s, seed in todo if not (judged_dir / f"{s}-s{seed}.json").is_file()]
    say(f"one evaluation: {one:.2f} s ({len(ev_train.train_cases)} train + {len(ev_train.holdout_cases)} validation "
        f"cases); {len(left)} of {len(todo)} runs of {setup.budget} to go (≈ {len(left) * setup.budget * one / 60:.0f} "
        f"min of evaluation); held out: {len(ev_held.cases)} cases of {', '.join(s.name for s in setup.held)}")
    for k, (strat, seed) in enumerate(todo, 1):
        label = f"{strat}-s{seed}"
        target = judged_dir / f"{label}.json"
        if target.is_file():
            continue
        say(f"run {k}/{len(todo)}: {label}")
        trials = run_one(ev_train, strat, seed, setup.budget, runs, say)
        if len(trials) < setup.budget:
            say(f"{label}: only {len(trials)} trials completed; judged at the budgets it reached")
        target.write_text(json.dumps(judge(ev_held, label, strat, seed, trials, setup.budgets)))
    judged: dict[str, list[dict]] = {}
    for strat, seed in todo:
        judged.setdefault(strat, []).append(json.loads((judged_dir / f"{strat}-s{seed}.json").read_text()))
    text, figures = table(judged, start_vec, ev_held, setup.budgets, a.n_boot)
    head = (f"Training: {', '.join(fp['train'])} ({len(ev_train.train_cases)} train + {len(ev_train.holdout_cases)} "
            f"validation cases); held out: {', '.join(fp['held_out'])} ({len(ev_held.cases)} cases); budgets "
            f"{', '.join(map(str, setup.budgets))} as prefixes of one {setup.budget}-evaluation run per (strategy, "
            f"seed); seeds 0..{a.seeds - 1}.")
    (out / "table.md").write_text(head + "\n\n" + text + "\n")
    (out / "table.json").write_text(json.dumps({**fp, **figures}, indent=1))
    print(head + "\n\n" + text)
    say("done")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ripmap.errors import RipmapError, UsageError

    try:
        raise SystemExit(main())
    except BenchError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except RipmapError as e:  # a bad corpus file, an unreadable repository: one line, no traceback
        print(f"{PROG}: error: {e}", file=sys.stderr)
        raise SystemExit(2 if isinstance(e, UsageError) else 1) from None
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished trials and runs are kept: run the same command again to continue",
              file=sys.stderr)
        raise SystemExit(130) from None
