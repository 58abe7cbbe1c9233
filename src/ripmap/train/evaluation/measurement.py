"""One evaluated parameter point, measured the same way for every strategy.

The objective is NDCG@10 over the train split (over the validation split when the mined
cases have no train split), task-balanced as :attr:`EvalResult.ndcg` says. The validation
split (``holdout``: the newest commits of the training repositories) is measured on every
point and never optimized: the loop selects its final point by it. Cases of held-out
repositories (the ``test`` split) are never measured here: they are evaluated once, at the
end of a run (:mod:`.comparison`), so nothing a strategy or an agent sees depends on them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from ...rank.params import Params
from ..cases.splits import training_cases
from .evaluator import EvalResult

if TYPE_CHECKING:
    from ..cases.oracle import Case
    from .evaluator import Evaluator


@dataclass(frozen=True)
class Measurement:
    """A point, its train result (with failures, explained when asked), validation NDCG@10
    (``holdout``; ``None`` without a validation split) and NDCG@10 per repository and split."""

    params: Params
    train: EvalResult
    holdout: float | None
    by_repo: Mapping[str, Mapping[str, float]]
    n_failing: int

    @property
    def ndcg(self) -> float:
        """The objective: train NDCG@10."""
        return float(self.train.ndcg)


def objective_cases(ev: "Evaluator") -> list["Case"]:
    """The cases the objective is computed on: the train split, or without one every case
    of the training repositories (never a held-out repository's)."""
    return ev.train_cases or training_cases(ev.cases)


def objective(ev: "Evaluator", params: Params) -> float:
    """Train NDCG@10 alone: what a sweep of many points needs (no holdout, no failures explained)."""
    return ev.evaluate(params, objective_cases(ev), explain_failures=False).ndcg


def measure(ev: "Evaluator", params: Params, *, explain_failures: bool = False) -> Measurement:
    """Evaluate ``params`` on the objective cases and on the validation split (never on test cases).

    ``explain_failures`` adds per-signal explanations to the failing cases: what a
    reasoning agent reads, and what a classical sampler does not need to pay for.
    """
    train = ev.evaluate(params, objective_cases(ev), explain_failures=explain_failures)
    by_repo: dict[str, dict[str, float]] = {r: {"train": m.get("ndcg@10", 0.0)} for r, m in train.by_repo.items()}
    holdout_cases = ev.holdout_cases if ev.train_cases else []
    holdout = None
    if holdout_cases:
        ho = ev.evaluate(params, holdout_cases, explain_failures=False)
        holdout = float(ho.ndcg)
        for r, m in ho.by_repo.items():
            by_repo.setdefault(r, {})["holdout"] = m.get("ndcg@10", 0.0)
    thr = ev.failure_threshold
    n_failing = sum(1 for _c, m in train.per_case if m.ndcg_10 < thr)
    return Measurement(params, train, holdout, by_repo, n_failing)


__all__ = ["Measurement", "measure", "objective", "objective_cases"]
