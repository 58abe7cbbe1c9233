"""Which failures an episode shows the agent, rotating so that unseen failures come first.

Two draws from the current point's failing train cases, both by :func:`~ripmap.train.
evaluation.failures.spread` with the run's history of shown failures:

1. the *pool*: ``pool`` failing cases spread over repositories and tasks, those shown
   least (and longest ago) first; only these are ranked again and explained, which is
   what gives each its kind;
2. the *shown*: ``shown`` of the pool, spread over repositories, tasks and kinds.

The history is read from the scratchpad's episodes (each keeps the failures it showed),
so a resumed or replayed run continues the rotation where it stopped: no failure is
shown twice while the current point has failing cases that were never shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from ..evaluation.failures import Candidate, FailureKey, Shown, failure_key, spread

if TYPE_CHECKING:
    from ..evaluation.evaluator import Evaluator, Failure
    from ..evaluation.measurement import Measurement
    from .episode import Episode

FAILURES_SHOWN = 5
"""Failures shown per episode by default."""


def shown_history(episodes: Iterable["Episode"]) -> dict[FailureKey, Shown]:
    """Every case shown in ``episodes``: how often, and the last episode it was shown in."""
    out: dict[FailureKey, Shown] = {}
    for e in episodes:
        for f in e.failures_shown:
            k = failure_key(f)
            s = out.get(k)
            out[k] = Shown((s.times if s else 0) + 1, e.episode)
    return out


@dataclass(frozen=True)
class Selection:
    """The failures an episode shows and where they come from."""

    failures: tuple["Failure", ...]
    failing: int  # failing train cases at the current point
    pool: int  # of them explained and classified (the candidates)
    new: int  # of the shown ones, never shown before in this run


def select_failures(ev: "Evaluator", m: "Measurement", episodes: Iterable["Episode"], *, shown: int,
                    pool: int) -> Selection:
    """Draw the pool, explain it, and pick the failures to show (see the module docstring)."""
    history = shown_history(episodes)
    failing = m.train.failing(ev.failure_threshold)
    chosen = spread([Candidate.of(c, nd) for c, nd in failing], max(pool, shown), history)
    explained = ev.explain_cases(m.params, [failing[i] for i in chosen])
    picked = tuple(explained[i] for i in spread([Candidate.of(f) for f in explained], shown, history))
    return Selection(picked, len(failing), len(explained), sum(1 for f in picked if failure_key(f) not in history))


__all__ = ["FAILURES_SHOWN", "Selection", "select_failures", "shown_history"]
