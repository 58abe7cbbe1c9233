"""The study: trials of one run in an Optuna storage, shared by every worker of the run.

What the study was created with (strategy, seed, start point, a fixed design such as a
grid) is kept in the study itself, so every worker and every resume agrees on it. The
budget rule (:func:`claim`) and the recovery of trials whose worker died
(:func:`fail_abandoned`) make several workers finish exactly ``budget`` trials together.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ...errors import UsageError
from ...rank.params import Params
from ..console import say
from .workers import Worker, is_abandoned

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

START_ATTR = "ripmap_start"
"""User attribute marking the trial that evaluates the start point (one per study)."""
_SETUP_KEYS = ("seed", "start", "grid", "created")


@dataclass(frozen=True)
class StudySetup:
    """What a study was created with; kept in the study so every worker and resume agrees.

    ``design`` is a fixed set of points decided at creation (the grid's axes), stored
    under the study attribute ``grid``.
    """

    strategy: str
    seed: int
    start: dict[str, float]
    design: dict[str, list[float]] | None
    created: str

    @property
    def start_params(self) -> Params:
        return Params(self.start)


def setup_study(study: "optuna.Study", strategy: str, seed: int, start: Params,
                design: dict[str, list[float]] | None) -> StudySetup:
    """Record the setup in a new study, or read it back from an existing one.

    Each attribute is its own commit and another worker may be reading: ``strategy`` goes
    last and marks the setup complete (two workers starting together both write the same
    values). A study written by an older ripmap that lacks some attributes gets them.
    """
    attrs = study.user_attrs
    if "strategy" in attrs and attrs["strategy"] != strategy:
        raise UsageError(f"study '{study.study_name}' was started with --strategy {attrs['strategy']}; "
                         f"resume it with the same strategy or pick another --run-name")
    missing = [k for k in _SETUP_KEYS if k not in attrs]
    if missing or "strategy" not in attrs:
        values: dict[str, Any] = {"seed": seed, "start": start.to_dict(), "grid": design,
                                  "created": time.strftime("%Y-%m-%d %H:%M")}
        for k in missing:
            study.set_user_attr(k, values[k])
        if "strategy" not in attrs:
            study.set_user_attr("strategy", strategy)
        attrs = study.user_attrs
    if int(attrs["seed"]) != seed:
        say(f"study '{study.study_name}' was started with --seed {attrs['seed']}; continuing with that seed")
    if dict(attrs["start"]) != start.to_dict():
        say(f"study '{study.study_name}' keeps the start parameters it was created with")
    return StudySetup(attrs["strategy"], int(attrs["seed"]), dict(attrs["start"]), attrs.get("grid"),
                      str(attrs.get("created", "")))


def trials_of(study: "optuna.Study") -> list["FrozenTrial"]:
    return study.get_trials(deepcopy=False)


def fail_abandoned(study: "optuna.Study", trials: Sequence["FrozenTrial"], me: Worker, revisit: bool) -> bool:
    """Mark RUNNING trials of dead workers FAIL, so they neither count nor block the budget;
    True if any was.

    With ``revisit`` (a fixed design, e.g. the grid) the abandoned point is enqueued again:
    GridSampler treats a failed grid point as visited and would never come back to it.
    """
    from optuna.trial import TrialState

    now = time.time()
    changed = False
    for t in trials:
        if t.state == TrialState.RUNNING and is_abandoned(t, me, now):
            changed = fail(study, t, revisit) or changed
    return changed


def fail(study: "optuna.Study", trial: "optuna.Trial | FrozenTrial", revisit: bool) -> bool:
    """Mark a trial FAIL (its evaluation was interrupted or its worker died); False when
    another worker finished or failed it first (that one re-queues).

    With ``revisit`` the trial's point is enqueued again: a fixed design (the grid) counts
    a failed point as visited and would never come back to it by itself.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:
        study.tell(trial.number, state=TrialState.FAIL)
    except (ValueError, UpdateFinishedTrialError):
        return False
    if revisit and trial.params and not trial.user_attrs.get(START_ATTR):
        study.enqueue_trial(dict(trial.params))
    return True


def ensure_start(study: "optuna.Study", setup: StudySetup) -> None:
    """Queue the start point unless the study already has a live or finished one.

    A start trial whose worker was killed is FAIL by now, so it is queued again: every
    study gets exactly one evaluation of the start point. (Two workers starting together on
    a fresh study may both queue it; the later copy is skipped when it is asked, see
    :func:`claim`.) With a fixed design only the design's parameters are fixed.
    """
    from optuna.trial import TrialState

    for t in trials_of(study):
        if t.user_attrs.get(START_ATTR) and t.state != TrialState.FAIL:
            return
    point = {k: setup.start[k] for k in setup.design} if setup.design else dict(setup.start)
    study.enqueue_trial(point, user_attrs={START_ATTR: True})


def claim(study: "optuna.Study", trial: "optuna.Trial", budget: int) -> str | None:
    """Why ``trial`` must not run, or ``None`` if it may.

    A trial runs only if fewer than ``budget`` trials numbered below it are waiting,
    running or complete. Numbers follow creation order, so every trial that eventually
    completes was already in one of those states when any later trial made this check;
    hence the k-th completed trial saw at least k-1 others and k ≤ budget: several workers
    together never complete more than ``budget`` trials, whatever the interleaving.
    """
    from optuna.trial import TrialState

    live = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)
    mine = trial.number
    before = [t for t in trials_of(study) if t.number < mine and t.state in live]
    if trial.user_attrs.get(START_ATTR) and any(t.user_attrs.get(START_ATTR) for t in before):
        return "duplicate start trial (queued by two workers at once)"
    if len(before) >= budget:
        return "budget already claimed by other workers"
    return None


def counts(trials: Sequence["FrozenTrial"]) -> tuple[int, int, int]:
    """(complete, running, waiting) trials."""
    from optuna.trial import TrialState

    c = r = w = 0
    for t in trials:
        if t.state == TrialState.COMPLETE:
            c += 1
        elif t.state == TrialState.RUNNING:
            r += 1
        elif t.state == TrialState.WAITING:
            w += 1
    return c, r, w


@dataclass(frozen=True)
class TrialRecord:
    """One trial as results.json shows it."""

    number: int
    state: str
    params: Mapping[str, float]
    train_ndcg: float | None
    holdout_ndcg: float | None
    by_repo: Mapping[str, Mapping[str, float]] | None
    start: bool
    note: str | None = None
    episode: int | None = None  # L1: the episode this trial evaluated

    @property
    def complete(self) -> bool:
        return self.state == "COMPLETE" and self.train_ndcg is not None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"number": self.number, "state": self.state, "params": dict(self.params),
                             "train_ndcg": self.train_ndcg, "holdout_ndcg": self.holdout_ndcg,
                             "by_repo": self.by_repo, "start": self.start}
        if self.note:
            d["note"] = self.note
        if self.episode is not None:
            d["episode"] = self.episode
        return d

    @classmethod
    def of(cls, t: "FrozenTrial") -> "TrialRecord":
        ua = t.user_attrs
        episode = ua.get("episode")
        return cls(number=t.number, state=t.state.name, params=ua.get("params") or dict(t.params),
                   train_ndcg=ua.get("train_ndcg", t.value), holdout_ndcg=ua.get("holdout_ndcg"),
                   by_repo=ua.get("by_repo"), start=bool(ua.get(START_ATTR)), note=ua.get("skipped"),
                   episode=int(episode) if isinstance(episode, int) else None)


def records(trials: Sequence["FrozenTrial"]) -> list[TrialRecord]:
    return [TrialRecord.of(t) for t in sorted(trials, key=lambda t: t.number)]


def selects_by_validation(recs: Sequence[TrialRecord]) -> bool:
    """Whether the final point is chosen by validation NDCG@10: when every complete trial
    was measured on a validation split (``--holdout`` above 0)."""
    done = [r for r in recs if r.complete]
    return bool(done) and all(r.holdout_ndcg is not None for r in done)


def best_of(recs: Sequence[TrialRecord]) -> TrialRecord | None:
    """The run's final point: the highest validation NDCG@10 (the newest commits of the
    training repositories, never optimized directly), train NDCG@10 breaking ties; without
    a validation split the highest train NDCG@10. Remaining ties go to the earliest trial
    (the start point wins a tie). Selecting by validation rather than by the objective is
    what keeps the final point from being the one that fits the training cases' noise best.
    """
    done = [r for r in recs if r.complete]
    if not done:
        return None
    if selects_by_validation(done):
        return max(done, key=lambda r: (r.holdout_ndcg, r.train_ndcg, -r.number))
    return max(done, key=lambda r: (r.train_ndcg, -r.number))


__all__ = ["START_ATTR", "StudySetup", "TrialRecord", "best_of", "claim", "counts", "ensure_start",
           "fail", "fail_abandoned", "records", "selects_by_validation", "setup_study", "trials_of"]
