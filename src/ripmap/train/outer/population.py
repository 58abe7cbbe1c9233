"""The population of promptgrams of one outer run, and which one runs next.

Selection follows the seeds:

1. a promptgram that has never run is run first (the oldest such), before any is re-run:
   a child L2 just wrote is judged at the very next step;
2. otherwise, with probability :data:`EXPLORE_QUOTA` (0.2) *explore*: draw a member with
   weight ``1 / (runs + 1)``, so rarely-run promptgrams get another chance (one run of an
   LLM-driven L1 is a noisy measurement);
3. else *exploit*: the member with the best mean score (ties: fewer runs, then older).

A member's score is the mean over its runs in this outer run of the inner run's score
(:attr:`.summary.InnerSummary.score`: the start's validation NDCG@10 plus the median
leave-one-repository-out gain; validation, else train, NDCG@10 of the final point when it
cannot be computed). The
draw is seeded by (seed, outer step), so a resumed run selects exactly as the killed one
would have.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

EXPLORE_QUOTA = 0.2


@dataclass(frozen=True)
class Member:
    """One promptgram of the population with its runs' scores in this outer run."""

    version: str
    parent: str | None
    scores: tuple[float, ...] = ()
    runs: int = 0
    born: int = 0  # the outer step that created it (0: the root)

    @property
    def mean(self) -> float | None:
        return sum(self.scores) / len(self.scores) if self.scores else None

    @property
    def best(self) -> float | None:
        return max(self.scores) if self.scores else None


@dataclass(frozen=True)
class Selection:
    """Which version runs at a step, and why (``new``, ``explore``, ``exploit``)."""

    version: str
    how: str
    draw: float | None = None
    weights: Mapping[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "how": self.how, "draw": self.draw,
                "weights": dict(self.weights) if self.weights else None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Selection":
        w = d.get("weights")
        return cls(str(d.get("version", "")), str(d.get("how", "")),
                   float(d["draw"]) if isinstance(d.get("draw"), (int, float)) else None,
                   dict(w) if isinstance(w, Mapping) else None)


def build_members(population: Sequence[tuple[str, str | None, int]],
                  runs: Sequence[tuple[str, float | None]]) -> list[Member]:
    """Members from (version, parent, born step) in population order and (version, score) per run."""
    out = []
    for name, parent, born in population:
        mine = [s for v, s in runs if v == name]
        out.append(Member(name, parent, tuple(s for s in mine if s is not None), len(mine), born))
    return out


def select(members: Sequence[Member], *, step: int, seed: int, quota: float = EXPLORE_QUOTA) -> Selection:
    """The version to run at outer step ``step`` (see the module docstring)."""
    if not members:
        raise ValueError("an empty population")
    fresh = [m for m in members if m.runs == 0]
    if fresh:
        return Selection(fresh[0].version, "new")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(step)])
    u = float(rng.random())
    if u < quota:
        w = np.array([1.0 / (m.runs + 1) for m in members])
        w = w / w.sum()
        i = int(rng.choice(len(members), p=w))
        return Selection(members[i].version, "explore", round(u, 6),
                         {m.version: round(float(x), 6) for m, x in zip(members, w)})
    order = sorted(range(len(members)), key=lambda i: (-(members[i].mean if members[i].mean is not None
                                                         else float("-inf")), members[i].runs, i))
    return Selection(members[order[0]].version, "exploit", round(u, 6))


def best_member(members: Sequence[Member], *, exclude: str | None = None) -> Member | None:
    """The member with the best mean score (ties: more runs, then older), ``exclude`` left out."""
    scored = [(i, m) for i, m in enumerate(members) if m.mean is not None and m.version != exclude]
    if not scored:
        return None
    return sorted(scored, key=lambda im: (-(im[1].mean or 0.0), -im[1].runs, im[0]))[0][1]


__all__ = ["EXPLORE_QUOTA", "Member", "Selection", "best_member", "build_members", "select"]
