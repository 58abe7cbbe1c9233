"""What one inner (L1) run did, reduced to what L2 reasons about.

Read from the run folder the L1 machinery wrote (``scratchpad.json``, ``results.json``,
``results.trained.json``), so the same summary comes out of a run that just ended, a run
resumed after a kill, and a run looked at later by ``--show``. It holds the trajectory,
the start and final point (the final point is the one the inner run selected, by its
validation split), figures per repository, the strategy capsules, which parameters L1
actually moved and how often, the episodes' flags, and each (parameter, direction)'s
measured effect on train and validation NDCG.

Two figures read the run *per training repository*, because that is what predicts
whether its final point will help a repository nobody trained on:

* ``transfer``: the leave-one-repository-out estimate. For each training repository R,
  the point the run would have ended at had R's validation cases not existed (the best
  of the visited points by the other repositories' validation NDCG@10) is scored on R
  (its train and validation NDCG@10, averaged) against the start point. The mean over R
  is what selecting a point by validation gains on a repository that had no say in the
  choice. A run that wanders and keeps the point one repository's newest commits happen
  to like scores below zero here even when its pooled validation rose; that is the
  overfitting the pooled figure hides. The *median* over R (``median``) is what ranks
  runs: with four training repositories one of them gaining 0.010 at a point where the
  other three lose 0.002 to 0.003 (heuristic L1 from the fitted defaults, per-case git
  history) makes the mean positive, and a promptgram whose L1 helps one repository and
  hurts most is not one that transfers.
* per move, ``repos_up`` / ``repos_down`` / ``mixed``: how each episode's applied
  changes moved each repository's validation NDCG@10, and in how many episodes they
  helped some repositories and hurt others (a move that does not generalize).

:attr:`InnerSummary.score` (what the population is ranked by) is the start point's
validation NDCG@10 plus the median ``transfer`` gain when it can be computed (two or more training
repositories with validation cases), else the final point's validation NDCG@10.

The held-out repositories' figures (``test``) are kept for the views and the judgement,
but :meth:`InnerSummary.for_l2` leaves them out: L2 must not select promptgrams on the
repositories they are finally judged on.
"""
from __future__ import annotations

from collections import Counter
from statistics import median
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ...errors import RipmapError
from ..files import read_json
from ..l1.scratchpad import SCRATCHPAD, Scratchpad, change_effects
from ..search.loop import RESULTS, TRAINED

_EPS = 1e-9
_REPO_EPS = 1e-4
"""A repository's validation NDCG@10 moving less than this is counted as unchanged."""


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


@dataclass(frozen=True)
class InnerSummary:
    """One inner run, summarized (see the module docstring)."""

    episodes: int
    start_params: Mapping[str, float]
    start_train: float | None
    start_validation: float | None
    final_params: Mapping[str, float]
    final_train: float | None
    final_validation: float | None
    final_episode: int | None
    selected_by: str
    by_repo: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    trajectory: tuple[Mapping[str, Any], ...] = ()
    capsules: tuple[str, ...] = ()
    moved: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    flags: Mapping[str, int] = field(default_factory=dict)
    effects: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    test: Mapping[str, Any] | None = None
    transfer: Mapping[str, Any] | None = None
    reverts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float | None:
        """What selection ranks promptgrams by: the start's validation NDCG@10 plus the
        median leave-one-repository-out gain (see the module docstring); without it,
        validation NDCG@10 of the final point, else train."""
        gain = transfer_median(self.transfer)
        if gain is not None and self.start_validation is not None:
            return self.start_validation + gain
        return self.final_validation if self.final_validation is not None else self.final_train

    def final_metrics(self) -> dict[str, Any]:
        """The ``final_metrics`` of an outer step (``ndcg`` is train NDCG@10, as the seeds' queries read it)."""
        out: dict[str, Any] = {"ndcg": self.final_train, "train": self.final_train,
                               "validation": self.final_validation, "score": self.score,
                               "episode": self.final_episode, "selected_by": self.selected_by,
                               "by_repo": {k: dict(v) for k, v in self.by_repo.items()},
                               "transfer": dict(self.transfer) if self.transfer else None}
        if self.test:
            out["test"] = {"default": self.test.get("default"), "best": self.test.get("best"),
                           "delta": self.test.get("delta"), "delta_ci95": self.test.get("delta_ci95"),
                           "note": "held-out repositories: start → final point of this inner run; never shown "
                                   "to L2"}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"episodes": self.episodes, "start_params": dict(self.start_params), "start_train": self.start_train,
                "start_validation": self.start_validation, "final_params": dict(self.final_params),
                "final_train": self.final_train, "final_validation": self.final_validation,
                "final_episode": self.final_episode, "selected_by": self.selected_by,
                "by_repo": {k: dict(v) for k, v in self.by_repo.items()}, "trajectory": [dict(t) for t in self.trajectory],
                "capsules": list(self.capsules), "moved": {k: dict(v) for k, v in self.moved.items()},
                "flags": dict(self.flags), "effects": {k: dict(v) for k, v in self.effects.items()},
                "test": dict(self.test) if self.test else None,
                "transfer": dict(self.transfer) if self.transfer else None, "reverts": dict(self.reverts)}

    def for_l2(self) -> dict[str, Any]:
        """Everything but the held-out repositories' figures."""
        d = self.to_dict()
        d.pop("test", None)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "InnerSummary":
        return cls(episodes=int(d.get("episodes") or 0), start_params=dict(d.get("start_params") or {}),
                   start_train=_num(d.get("start_train")), start_validation=_num(d.get("start_validation")),
                   final_params=dict(d.get("final_params") or {}), final_train=_num(d.get("final_train")),
                   final_validation=_num(d.get("final_validation")),
                   final_episode=d.get("final_episode") if isinstance(d.get("final_episode"), int) else None,
                   selected_by=str(d.get("selected_by") or ""), by_repo=dict(d.get("by_repo") or {}),
                   trajectory=tuple(t for t in d.get("trajectory") or () if isinstance(t, Mapping)),
                   capsules=tuple(str(c) for c in d.get("capsules") or ()), moved=dict(d.get("moved") or {}),
                   flags=dict(d.get("flags") or {}), effects=dict(d.get("effects") or {}),
                   test=d.get("test") if isinstance(d.get("test"), Mapping) else None,
                   transfer=d.get("transfer") if isinstance(d.get("transfer"), Mapping) else None,
                   reverts=dict(d.get("reverts") or {}))


def _repo_figures(trial: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """repository → (train, validation) NDCG@10 of one trial, for repositories with both."""
    out = {}
    by = trial.get("by_repo") if isinstance(trial.get("by_repo"), Mapping) else {}
    for r, v in by.items():
        t, h = (_num(v.get("train")), _num(v.get("holdout"))) if isinstance(v, Mapping) else (None, None)
        if t is not None and h is not None:
            out[str(r)] = (t, h)
    return out


def transfer_median(transfer: Mapping[str, Any] | None) -> float | None:
    """The median of the per-repository leave-one-out gains of a :func:`transfer_estimate`
    (recomputed from ``repos``, so a summary written before the median was stored reads the
    same); its ``gain`` (the mean) when there are no per-repository figures, else None.

    Why the median: a mean over a handful of repositories follows the one that gains most;
    the median says what happens to a typical repository left out of the choice."""
    if not isinstance(transfer, Mapping):
        return None
    repos = transfer.get("repos") if isinstance(transfer.get("repos"), Mapping) else {}
    gains = [g for g in (_num(v.get("gain")) for v in repos.values() if isinstance(v, Mapping)) if g is not None]
    return float(median(gains)) if gains else _num(transfer.get("gain"))


def transfer_estimate(trials: Any) -> dict[str, Any] | None:
    """The leave-one-repository-out gain of a run's visited points (see the module docstring).

    ``trials``: the ``trials`` rows of ``results.json`` (complete ones count; the start point
    is the row marked ``start``). None with fewer than two repositories that have validation
    figures on every point."""
    rows = [t for t in trials or () if isinstance(t, Mapping) and t.get("state", "COMPLETE") == "COMPLETE"]
    rows.sort(key=lambda t: int(t.get("number") or 0))
    start = next((t for t in rows if t.get("start")), rows[0] if rows else None)
    if start is None:
        return None
    figs = [(int(t.get("number") or 0), _repo_figures(t)) for t in rows]
    repos = sorted(set.intersection(*(set(f) for _n, f in figs))) if figs else []
    if len(repos) < 2:
        return None
    base = _repo_figures(start)
    per: dict[str, dict[str, Any]] = {}
    for r in repos:
        others = [o for o in repos if o != r]
        # best by the others' mean validation; ties to the earliest point (the start wins a tie)
        n, f = max(figs, key=lambda nf: (sum(nf[1][o][1] for o in others) / len(others), -nf[0]))
        gain = (f[r][0] + f[r][1]) / 2 - (base[r][0] + base[r][1]) / 2
        per[r] = {"point": n, "gain": gain}
    gains = [v["gain"] for v in per.values()]
    return {"gain": sum(gains) / len(per), "median": float(median(gains)), "repos": per,
            "worst": min(gains), "losing": sum(1 for g in gains if g < -_EPS),
            "note": "each training repository scored at the point the others' validation NDCG@10 selects, "
                    "against the start point (mean of its train and validation NDCG@10)"}


def repo_move_effects(trials: Any, episodes: Any) -> dict[tuple[str, str], dict[str, int]]:
    """(param, direction) → episodes, and in how many of them the episode's changes raised the
    validation NDCG@10 of every repository they moved (``agree_up``), lowered it in every one
    (``agree_down``), or raised some and lowered others (``mixed``)."""
    by_ep = {int(t["episode"]): _repo_figures(t) for t in trials or ()
             if isinstance(t, Mapping) and isinstance(t.get("episode"), int)
             and t.get("state", "COMPLETE") == "COMPLETE"}
    out: dict[tuple[str, str], dict[str, int]] = {}
    for e in episodes:
        before, after = by_ep.get(e.episode - 1), by_ep.get(e.episode)
        if not e.applied or before is None or after is None:
            continue
        ups = sum(1 for r in after if r in before and after[r][1] > before[r][1] + _REPO_EPS)
        downs = sum(1 for r in after if r in before and after[r][1] < before[r][1] - _REPO_EPS)
        kind = "mixed" if ups and downs else "agree_up" if ups else "agree_down" if downs else "flat"
        for p, a in e.applied.items():
            o = out.setdefault((p, a.direction), {"episodes": 0, "agree_up": 0, "agree_down": 0, "mixed": 0,
                                                  "flat": 0})
            o["episodes"] += 1
            o[kind] += 1
    return out


REVERT_DRIFT = 0.05
"""A back-and-forth move that ends further than this from where it began (in log units for
log-scaled parameters, in shares of the range for linear ones) has drifted."""


def revert_drift(episodes: Any) -> dict[str, Any]:
    """Moves undone in the very next episode (the opposite direction on the same parameter),
    and how many of them left the parameter away from where it was before the first move:
    with asymmetric or clamped steps, a revert is a new point, and a run of them wanders."""
    from ...rank.params import SPECS

    eps = sorted(episodes, key=lambda e: e.episode)
    n = drifted = 0
    examples: list[str] = []
    for a, b in zip(eps, eps[1:]):
        if b.episode != a.episode + 1:
            continue
        for p, first in a.applied.items():
            second = b.applied.get(p)
            if second is None or second.direction == first.direction or p not in SPECS:
                continue
            n += 1
            spec = SPECS[p]
            if spec.scale == "log" and first.before > 0 and second.after > 0:
                import math

                off = abs(math.log(second.after) - math.log(first.before))
            else:
                off = abs(second.after - first.before) / ((spec.high - spec.low) or 1.0)
            if off > REVERT_DRIFT:
                drifted += 1
                if len(examples) < 4:
                    examples.append(f"{p} {first.before:.4g} → {first.after:.4g} → {second.after:.4g} "
                                    f"(episodes {a.episode}-{b.episode})")
    return {"reverts": n, "drifted": drifted, "examples": examples}


def summarize(run_dir: str | Path) -> InnerSummary:
    """The summary of the inner run in ``run_dir`` (a finished L1 run folder)."""
    d = Path(run_dir)
    if not (d / SCRATCHPAD).is_file() or not (d / RESULTS).is_file():
        raise RipmapError(f"{d}: not a finished L1 run (no {SCRATCHPAD} or {RESULTS})")
    sp = Scratchpad.load(d)
    res = read_json(d / RESULTS)
    trained = read_json(d / TRAINED) if (d / TRAINED).is_file() else {}
    res = res if isinstance(res, dict) else {}
    trained = trained if isinstance(trained, dict) else {}
    start = res.get("start") if isinstance(res.get("start"), Mapping) else {}
    best = res.get("best") if isinstance(res.get("best"), Mapping) else {}
    start_params = dict(sp.start.params) if sp.start else dict(start.get("params") or {})
    final_params = dict(trained.get("params") or start_params)

    trajectory = []
    for e in sp.episodes:
        trajectory.append({"episode": e.episode, "train_before": e.ndcg_before, "train_after": e.ndcg_after,
                           "validation_before": e.holdout_before, "validation_after": e.holdout_after,
                           "applied": {p: [a.direction, a.magnitude] for p, a in sorted(e.applied.items())},
                           "rejected": len(e.rejected), "flags": list(e.flags), "capsule": e.capsule,
                           "confidence": e.confidence})
    capsules = tuple(dict.fromkeys(e.capsule for e in sp.episodes if e.capsule))
    moved: dict[str, dict[str, Any]] = {}
    for e in sp.episodes:
        for p, a in e.applied.items():
            m = moved.setdefault(p, {"increase": 0, "decrease": 0, "directions": []})
            m[a.direction] = m.get(a.direction, 0) + 1
            m["directions"].append(a.direction)
    for p, m in moved.items():
        m["from"], m["to"] = start_params.get(p), final_params.get(p)
    flags = Counter(f for e in sp.episodes for f in e.flags)

    by_episode = {e.episode: e for e in sp.episodes}
    effects: dict[str, dict[str, Any]] = {}
    for (param, direction), rows in sorted(change_effects(sp.episodes).items()):
        tr = [dlt for _ep, dlt in rows]
        va = []
        for ep, _dlt in rows:
            e = by_episode[ep]
            if e.holdout_after is not None and e.holdout_before is not None:
                va.append(e.holdout_after - e.holdout_before)
        effects[f"{param} {direction}"] = {
            "param": param, "direction": direction, "episodes": len(rows),
            "train": sum(tr) / len(tr), "up": sum(1 for x in tr if x > _EPS), "down": sum(1 for x in tr if x < -_EPS),
            "validation": sum(va) / len(va) if va else None,
            "validation_up": sum(1 for x in va if x > _EPS), "validation_down": sum(1 for x in va if x < -_EPS)}
    for (param, direction), o in repo_move_effects(res.get("trials"), sp.episodes).items():
        key = f"{param} {direction}"
        if key in effects:
            effects[key].update({"repos_" + k if k.startswith("agree") else k: v for k, v in o.items()
                                 if k != "episodes"})
    by_repo = trained.get("by_repo") if isinstance(trained.get("by_repo"), Mapping) else {}
    return InnerSummary(
        episodes=len(sp.episodes), start_params=start_params,
        start_train=_num(sp.start.train) if sp.start else _num(start.get("train")),
        start_validation=_num(sp.start.holdout) if sp.start else _num(start.get("holdout")),
        final_params=final_params, final_train=_num(trained.get("train_ndcg", best.get("train"))),
        final_validation=_num(trained.get("holdout_ndcg", best.get("holdout"))),
        final_episode=trained.get("episode") if isinstance(trained.get("episode"), int) else best.get("episode"),
        selected_by=str(best.get("selected_by") or ""), by_repo={k: dict(v) for k, v in by_repo.items()},
        trajectory=tuple(trajectory), capsules=capsules, moved=moved, flags=dict(flags), effects=effects,
        test=res.get("test") if isinstance(res.get("test"), Mapping) else None,
        transfer=transfer_estimate(res.get("trials")), reverts=revert_drift(sp.episodes))


__all__ = ["InnerSummary", "REVERT_DRIFT", "repo_move_effects", "revert_drift", "summarize", "transfer_estimate"]
