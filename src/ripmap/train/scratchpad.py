"""The scratchpad: an L1 run's memory, and the crash-safe way it reaches disk.

``scratchpad.json`` holds every finished episode (what was shown, what the agent said,
what was applied and what it did to NDCG) plus the insights accumulated across
episodes. It is the run's source of truth: resuming, replaying, the views and
distillation all read it and nothing else.

Every file of a run is written with :func:`atomic_write_text` (temp file in the same
folder, fsync, ``os.replace``), so a run killed at any instant leaves either the old
or the new version of each file, never half of one; a finished episode is never lost.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import RipmapError

SCRATCHPAD = "scratchpad.json"
FORMAT_VERSION = 1
INSIGHT_KINDS: tuple[str, ...] = ("param_interactions", "structural_insights", "failure_patterns",
                                  "success_patterns")
_EPS = 1e-9


# -- atomic files -------------------------------------------------------------------------

def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` is always either the old or the new complete file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> Any:
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise RipmapError(f"{p}: cannot read ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise RipmapError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None


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


def change_effects(episodes: Iterable[dict]) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(param, direction) → [(episode, train NDCG change)] over the episodes that applied it.

    The effect of an episode is shared by all its applied changes: with several changes
    per episode the attribution is confounded, which is why patterns report counts over
    many episodes rather than single effects.
    """
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for ep in episodes:
        applied = ep.get("applied") or {}
        if not applied or ep.get("ndcg_after") is None or ep.get("ndcg_before") is None:
            continue
        delta = float(ep["ndcg_after"]) - float(ep["ndcg_before"])
        for param, ch in sorted(applied.items()):
            out.setdefault((param, str(ch.get("direction", "?"))), []).append((int(ep["episode"]), delta))
    return out


def derive_patterns(episodes: list[dict]) -> tuple[list[str], list[str]]:
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
        verb = "raising" if direction == "increase" else "lowering" if direction == "decrease" else direction
        if ups > downs:
            good.append((-mean, f"{verb} {param} raised train NDCG in {ups} of {len(effects)} episode(s) "
                                f"(mean {mean:+.4f}; episodes {eps})"))
        elif downs > ups:
            bad.append((mean, f"{verb} {param} lowered train NDCG in {downs} of {len(effects)} episode(s) "
                              f"(mean {mean:+.4f}; episodes {eps})"))
    return [t for _, t in sorted(good)], [t for _, t in sorted(bad)]


# -- the scratchpad -----------------------------------------------------------------------

@dataclass
class Scratchpad:
    """Episodes plus accumulated insights. Episode records are plain dicts (JSON as written)."""

    run: str
    episodes: list[dict] = field(default_factory=list)
    param_interactions: list[str] = field(default_factory=list)
    structural_insights: list[str] = field(default_factory=list)
    failure_patterns: list[str] = field(default_factory=list)
    success_patterns: list[str] = field(default_factory=list)
    start: dict = field(default_factory=dict)
    """The starting point: params, train and holdout NDCG (episode 0 of the trajectory)."""

    @property
    def last_episode(self) -> int:
        return int(self.episodes[-1]["episode"]) if self.episodes else 0

    def add_episode(self, record: dict) -> None:
        """Append a finished episode and fold its insights into the accumulated ones."""
        expected = self.last_episode + 1
        if int(record["episode"]) != expected:
            raise RipmapError(f"scratchpad {self.run}: episode {record['episode']} recorded after {expected - 1}")
        self.episodes.append(record)
        prop = record.get("proposal") or {}
        self.param_interactions = merge_unique(self.param_interactions, prop.get("param_interactions") or [])
        self.structural_insights = merge_unique(self.structural_insights, prop.get("structural_insights") or [])
        self.success_patterns, self.failure_patterns = derive_patterns(self.episodes)

    def insights(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in INSIGHT_KINDS}

    def to_dict(self) -> dict:
        return {"format": FORMAT_VERSION, "run": self.run, "start": self.start, **self.insights(),
                "episodes": self.episodes}

    @classmethod
    def from_dict(cls, d: dict, run: str | None = None) -> "Scratchpad":
        if not isinstance(d, dict) or not isinstance(d.get("episodes"), list):
            raise RipmapError(f"scratchpad {run or '?'}: not an L1 scratchpad (no 'episodes' list)")
        sp = cls(run=str(d.get("run") or run or ""), start=dict(d.get("start") or {}))
        for k in INSIGHT_KINDS:
            v = d.get(k) or []
            setattr(sp, k, [s for s in v if isinstance(s, str)])
        eps = [e for e in d["episodes"] if isinstance(e, dict) and "episode" in e]
        for i, e in enumerate(eps, 1):
            if int(e["episode"]) != i:
                raise RipmapError(f"scratchpad {sp.run}: episodes are not numbered 1..{len(eps)} "
                                  f"(found {e['episode']} at position {i})")
        sp.episodes = eps
        return sp

    def save(self, run_dir: str | Path) -> None:
        atomic_write_json(Path(run_dir) / SCRATCHPAD, self.to_dict())

    @classmethod
    def load(cls, run_dir: str | Path) -> "Scratchpad":
        run_dir = Path(run_dir)
        return cls.from_dict(read_json(run_dir / SCRATCHPAD), run=run_dir.name)


def insight_occurrences(episodes: Iterable[dict]) -> dict[str, dict[str, list[int]]]:
    """kind → insight text → episodes where the agent stated it (first wording kept)."""
    out: dict[str, dict[str, list[int]]] = {"param_interactions": {}, "structural_insights": {}}
    keys: dict[str, dict[str, str]] = {k: {} for k in out}
    for ep in episodes:
        prop = ep.get("proposal") or {}
        for kind in out:
            for s in prop.get(kind) or []:
                if not isinstance(s, str) or not s.strip():
                    continue
                k = _norm(s)
                text = keys[kind].setdefault(k, s.strip())
                eps = out[kind].setdefault(text, [])
                if int(ep["episode"]) not in eps:
                    eps.append(int(ep["episode"]))
    return out


def evaluated_points(start: dict, episodes: Iterable[dict]) -> list[tuple[float, float | None, dict, int]]:
    """Distinct evaluated parameter points of a run: (train, holdout, params, episode).

    The start point is episode 0, then each episode's ``params_after``; a point seen
    again (a revert) keeps its first appearance. In run order.
    """
    from ..rank.params import NAMES

    out: list[tuple[float, float | None, dict, int]] = []
    seen: set[tuple] = set()
    cands = [(start.get("train"), start.get("holdout"), start.get("params"), 0)]
    cands += [(e.get("ndcg_after"), e.get("holdout_after"), e.get("params_after"), e["episode"]) for e in episodes]
    for tr, ho, ps, ep in cands:
        if tr is None or not ps:
            continue
        key = tuple(ps.get(n) for n in NAMES)
        if key in seen:
            continue
        seen.add(key)
        out.append((float(tr), None if ho is None else float(ho), ps, ep))
    return out
