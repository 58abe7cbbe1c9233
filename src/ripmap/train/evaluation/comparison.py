"""Two parameter points compared on the same cases, with a 95% bootstrap interval.

What the ``test`` block of ``results.json`` and the distillation gate report: for each
repository the task-balanced NDCG@10 of a baseline point (the run's start, or ripmap's
defaults) and of a candidate point (the run's final point, or a distilled preset), and
over all repositories their mean with the interval of the difference.

Weighting: each repository weighs the same, and within a repository each task (``A``,
``A+msg``, ``B``) weighs the same, cases within a task by their case weight. So a large
repository does not drown a small one, and a repository's figure is exactly the
``ndcg@10`` objective :class:`~.evaluator.EvalResult` reports for its cases.

The interval resamples whole commits (a commit's cases are not independent) within each
repository (every resample keeps each repository's number of commits), on the paired
per-case differences: :func:`~.metrics.cluster_bootstrap_ci`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ...rank.params import Params
from ..numbers import fixed
from .metrics import cluster_bootstrap_ci

if TYPE_CHECKING:
    from ..cases.oracle import Case
    from .evaluator import Evaluator

N_BOOT = 2000


@dataclass(frozen=True)
class RepoFigures:
    """One repository: baseline and candidate NDCG@10, cases, commits, the difference's interval."""

    default: float
    best: float
    n: int
    commits: int
    delta_ci95: tuple[float, float]

    @property
    def delta(self) -> float:
        return self.best - self.default

    def to_dict(self) -> dict[str, Any]:
        return {"default": self.default, "best": self.best, "n": self.n, "commits": self.commits,
                "delta": self.delta, "delta_ci95": list(self.delta_ci95)}


@dataclass(frozen=True)
class Comparison:
    """Baseline (``default``) against candidate (``best``) on a set of cases."""

    repos: Mapping[str, RepoFigures]
    default: float
    best: float
    delta_ci95: tuple[float, float]
    n: int
    commits: int
    seed: int
    n_boot: int

    @property
    def delta(self) -> float:
        return self.best - self.default

    @property
    def improves(self) -> bool:
        """The whole interval is above zero: an improvement the resampling cannot explain away."""
        return self.n > 0 and self.delta_ci95[0] > 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"repos": {k: v.to_dict() for k, v in self.repos.items()}, "default": self.default,
                "best": self.best, "delta": self.delta, "delta_ci95": list(self.delta_ci95), "n": self.n,
                "commits": self.commits, "n_boot": self.n_boot, "seed": self.seed,
                "weighting": "each repository and each task within it weighs the same; commits resampled "
                             "within each repository"}


def _weights(cases: Sequence["Case"]) -> np.ndarray:
    """Case weights normalized so each repository sums to 1/R and each of its tasks to an
    equal share of that (groups whose weights are all zero drop out)."""
    w = np.array([float(c.case_weight) for c in cases], dtype=float)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(cases):
        groups.setdefault((c.repo, c.task), []).append(i)
    live = {g: idx for g, idx in groups.items() if w[idx].sum() > 0}
    tasks: dict[str, int] = {}
    for repo, _task in live:
        tasks[repo] = tasks.get(repo, 0) + 1
    out = np.zeros_like(w)
    for (repo, _task), idx in live.items():
        out[idx] = w[idx] / w[idx].sum() / tasks[repo] / len(tasks)
    return out


def _interval(diff: np.ndarray, w: np.ndarray, commits: Sequence[str], repos: Sequence[str], *,
              n_boot: int, seed: int) -> tuple[float, float]:
    lo, hi = cluster_bootstrap_ci(diff, w, list(commits), list(repos), n_boot=n_boot, seed=seed)
    return (float(lo), float(hi))


def compare(ev: "Evaluator", cases: Sequence["Case"], baseline: Params, candidate: Params, *, seed: int = 0,
            n_boot: int = N_BOOT) -> Comparison:
    """Rank ``cases`` with both points and compare them (see the module docstring)."""
    cases = list(cases)
    if not cases:
        return Comparison({}, 0.0, 0.0, (0.0, 0.0), 0, 0, seed, n_boot)
    a = ev.evaluate(baseline, cases, explain_failures=False)
    b = ev.evaluate(candidate, cases, explain_failures=False)
    va = np.array([m.ndcg_10 for _c, m in a.per_case], dtype=float)
    vb = np.array([m.ndcg_10 for _c, m in b.per_case], dtype=float)
    w = _weights(cases)
    repos = [c.repo for c in cases]
    commits = [c.commit for c in cases]
    per: dict[str, RepoFigures] = {}
    for name in sorted(set(repos)):
        idx = np.array([i for i, r in enumerate(repos) if r == name])
        wi = w[idx]
        total = wi.sum()
        if total <= 0:
            continue
        per[name] = RepoFigures(
            default=float(wi @ va[idx] / total), best=float(wi @ vb[idx] / total), n=int(idx.size),
            commits=len({commits[i] for i in idx}),
            delta_ci95=_interval((vb - va)[idx], wi, [commits[i] for i in idx], [name] * idx.size,
                                 n_boot=n_boot, seed=seed))
    total = w.sum()
    if total <= 0:
        return Comparison(per, 0.0, 0.0, (0.0, 0.0), len(cases), len(set(commits)), seed, n_boot)
    return Comparison(per, float(w @ va / total), float(w @ vb / total),
                      _interval(vb - va, w, commits, repos, n_boot=n_boot, seed=seed), len(cases),
                      len({(r, c) for r, c in zip(repos, commits)}), seed, n_boot)


def held_out_line(test: Mapping[str, Any]) -> str:
    """The ``test`` block of a run's results.json as the closing line of the run (and of
    ``runs show``): per repository, then overall with the interval."""
    repos = test.get("repos") if isinstance(test.get("repos"), Mapping) else {}
    per = ", ".join(f"{k} {fixed(v.get('default'))} → {fixed(v.get('best'))} (n {v.get('n')})" for k, v in repos.items())
    lo, hi = (list(test.get("delta_ci95") or []) + [None, None])[:2]
    return (f"held-out repositories (test, never seen in training): {per}; overall start {fixed(test.get('default'))} "
            f"→ final {fixed(test.get('best'))}, Δ {_signed(test.get('delta'))} [{_signed(lo)}, {_signed(hi)}] "
            f"(95% CI, commits resampled per repository)")


def _signed(x: Any) -> str:
    return f"{x:+.4f}" if isinstance(x, (int, float)) and not isinstance(x, bool) else "n/a"


__all__ = ["Comparison", "N_BOOT", "RepoFigures", "compare", "held_out_line"]
