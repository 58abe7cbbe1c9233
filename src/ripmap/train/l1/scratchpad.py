"""The scratchpad: an L1 run's memory.

``scratchpad.json`` holds every finished :class:`~.episode.Episode` (what was shown, what
the agent said, what was applied and what it did to NDCG) plus the insights accumulated
across episodes. Resuming, replaying, the run views and distillation all read it; it is
written atomically after every episode, so a finished episode is never lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ...errors import RipmapError
from ...rank.params import NAMES
from ..files import atomic_write_json, read_json
from ..vocabulary import DIRECTIONS
from .episode import Episode, StartPoint

SCRATCHPAD = "scratchpad.json"
FORMAT_VERSION = 1
STATED_KINDS: tuple[str, ...] = ("param_interactions", "structural_insights")
"""What agents state in their replies and the scratchpad accumulates."""
INSIGHT_KINDS: tuple[str, ...] = (*STATED_KINDS, "failure_patterns", "success_patterns")
_EPS = 1e-9


# -- insights -----------------------------------------------------------------------------

def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def merge_unique(existing: Iterable[str], new: Iterable[str]) -> list[str]:
    """Append the strings of ``new`` not already present (whitespace/case-insensitive), keeping order."""
    out = list(existing)
    seen = {_norm(s) for s in out}
    for s in new:
        if not isinstance(s, str) or not s.strip():
            continue
        k = _norm(s)
        if k not in seen:
            seen.add(k)
            out.append(s.strip())
    return out


def change_effects(episodes: Iterable[Episode]) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(param, direction) → [(episode, train NDCG change)] over the episodes that applied it.

    The effect of an episode is shared by all its applied changes: with several changes
    per episode the attribution is confounded, which is why patterns report counts over
    many episodes rather than single effects.
    """
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for ep in episodes:
        delta = ep.delta
        if not ep.applied or delta is None:
            continue
        for param, ch in sorted(ep.applied.items()):
            out.setdefault((param, ch.direction), []).append((ep.episode, delta))
    return out


def derive_patterns(episodes: Sequence[Episode]) -> tuple[list[str], list[str]]:
    """Success and failure patterns: which applied changes raised or lowered train NDCG.

    A (param, direction) pair is a success pattern when it raised NDCG in more episodes
    than it lowered it, a failure pattern in the opposite case; ties say nothing.
    Recomputed from all episodes each time, so the text is deterministic.
    """
    good: list[tuple[float, str]] = []
    bad: list[tuple[float, str]] = []
    for (param, direction), effects in sorted(change_effects(episodes).items()):
        ups = sum(1 for _, d in effects if d > _EPS)
        downs = sum(1 for _, d in effects if d < -_EPS)
        mean = sum(d for _, d in effects) / len(effects)
        eps = ", ".join(str(e) for e, _ in effects[-6:])
        verb = "raising" if direction == DIRECTIONS[0] else "lowering" if direction == DIRECTIONS[1] else direction
        if ups > downs:
            good.append((-mean, f"{verb} {param} raised train NDCG in {ups} of {len(effects)} episode(s) "
                                f"(mean {mean:+.4f}; episodes {eps})"))
        elif downs > ups:
            bad.append((mean, f"{verb} {param} lowered train NDCG in {downs} of {len(effects)} episode(s) "
                              f"(mean {mean:+.4f}; episodes {eps})"))
    return [t for _, t in sorted(good)], [t for _, t in sorted(bad)]


def insight_occurrences(episodes: Iterable[Episode]) -> dict[str, dict[str, list[int]]]:
    """kind → insight text → episodes where the agent stated it (first wording kept)."""
    out: dict[str, dict[str, list[int]]] = {k: {} for k in STATED_KINDS}
    keys: dict[str, dict[str, str]] = {k: {} for k in out}
    for ep in episodes:
        for kind in out:
            for s in ep.stated(kind):
                if not s.strip():
                    continue
                text = keys[kind].setdefault(_norm(s), s.strip())
                eps = out[kind].setdefault(text, [])
                if ep.episode not in eps:
                    eps.append(ep.episode)
    return out


def evaluated_points(start: StartPoint | None,
                     episodes: Iterable[Episode]) -> list[tuple[float, float | None, dict, int]]:
    """Distinct evaluated parameter points of a run: (train, holdout, params, episode).

    The start point is episode 0, then each episode's ``params_after``; a point seen
    again (a revert) keeps its first appearance. In run order.
    """
    out: list[tuple[float, float | None, dict, int]] = []
    seen: set[tuple] = set()
    cands = [(start.train, start.holdout, dict(start.params), 0)] if start is not None else []
    cands += [(e.ndcg_after, e.holdout_after, dict(e.params_after), e.episode) for e in episodes]
    for tr, ho, ps, ep in cands:
        if tr is None or not ps:
            continue
        key = tuple(ps.get(n) for n in NAMES)
        if key in seen:
            continue
        seen.add(key)
        out.append((float(tr), None if ho is None else float(ho), ps, ep))
    return out


def unchanged_streak(episodes: Sequence[Episode]) -> int:
    """How many trailing episodes ended on the same parameters as the last one did."""
    if not episodes:
        return 0
    last = episodes[-1].params_after
    n = 0
    for e in reversed(episodes):
        if e.params_after != last:
            break
        n += 1
    return n


# -- the scratchpad -----------------------------------------------------------------------

@dataclass(frozen=True)
class BestPoint:
    """The best point of a run so far (episode 0: the start point)."""

    episode: int
    train: float | None
    holdout: float | None
    params: Mapping[str, float]


@dataclass
class Scratchpad:
    """Episodes plus accumulated insights; grows by :meth:`add_episode` only."""

    run: str
    episodes: list[Episode] = field(default_factory=list)
    param_interactions: list[str] = field(default_factory=list)
    structural_insights: list[str] = field(default_factory=list)
    failure_patterns: list[str] = field(default_factory=list)
    success_patterns: list[str] = field(default_factory=list)
    start: StartPoint | None = None
    """The starting point (episode 0 of the trajectory); None until it is measured."""

    @property
    def last_episode(self) -> int:
        return self.episodes[-1].episode if self.episodes else 0

    def add_episode(self, record: Episode) -> None:
        """Append a finished episode and fold its insights into the accumulated ones."""
        expected = self.last_episode + 1
        if record.episode != expected:
            raise RipmapError(f"scratchpad {self.run}: episode {record.episode} recorded after {expected - 1}")
        self.episodes.append(record)
        self.param_interactions = merge_unique(self.param_interactions, record.stated("param_interactions"))
        self.structural_insights = merge_unique(self.structural_insights, record.stated("structural_insights"))
        self.success_patterns, self.failure_patterns = derive_patterns(self.episodes)

    def insights(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in INSIGHT_KINDS}

    def best(self) -> BestPoint:
        """The highest train NDCG@10 so far, the earliest on a tie (the start point wins a tie)."""
        s = self.start
        best = BestPoint(0, s.train if s else None, s.holdout if s else None, dict(s.params) if s else {})
        for e in self.episodes:
            if e.ndcg_after is not None and (best.train is None or e.ndcg_after > best.train):
                best = BestPoint(e.episode, e.ndcg_after, e.holdout_after, dict(e.params_after))
        return best

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "run": self.run, "start": self.start.to_dict() if self.start else {},
                **self.insights(), "episodes": [e.to_dict() for e in self.episodes]}

    @classmethod
    def from_dict(cls, d: Any, run: str | None = None) -> "Scratchpad":
        if not isinstance(d, dict) or not isinstance(d.get("episodes"), list):
            raise RipmapError(f"scratchpad {run or '?'}: not an L1 scratchpad (no 'episodes' list)")
        sp = cls(run=str(d.get("run") or run or ""), start=StartPoint.from_dict(d.get("start")))
        for k in INSIGHT_KINDS:
            setattr(sp, k, [s for s in d.get(k) or [] if isinstance(s, str)])
        eps = []
        for i, e in enumerate((e for e in d["episodes"] if isinstance(e, dict) and "episode" in e), 1):
            try:
                ep = Episode.from_dict(e)
            except (TypeError, ValueError) as err:
                raise RipmapError(f"scratchpad {sp.run}: episode at position {i} is unreadable ({err})") from None
            if ep.episode != i:
                raise RipmapError(f"scratchpad {sp.run}: episodes are not numbered 1..{i} "
                                  f"(found {ep.episode} at position {i})")
            eps.append(ep)
        sp.episodes = eps
        return sp

    def save(self, run_dir: str | Path) -> None:
        atomic_write_json(Path(run_dir) / SCRATCHPAD, self.to_dict())

    @classmethod
    def load(cls, run_dir: str | Path) -> "Scratchpad":
        run_dir = Path(run_dir)
        return cls.from_dict(read_json(run_dir / SCRATCHPAD), run=run_dir.name)


__all__ = ["BestPoint", "INSIGHT_KINDS", "SCRATCHPAD", "STATED_KINDS", "Scratchpad", "change_effects", "derive_patterns",
           "evaluated_points", "insight_occurrences", "merge_unique", "unchanged_streak"]
