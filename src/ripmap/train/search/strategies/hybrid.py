"""The hybrid: the L1 agent and TPE take turns on one study, each using the other's finds.

Every other trial (``every``, default 2; the first proposal after the start point is the
agent's) is an L1 episode, the others are TPE's. TPE's model reads every trial of the
study, the agent's included. The agent walks its own trajectory as in an L1 run (it
reasons from the last point it reached, and reverts a step that hurt), with two
additions:

* **adoption**: when the study's best point by train NDCG@10 (what the agent may see) is
  better than every point the trajectory has stood on (TPE found it), the next episode
  starts there, so the agent refines what the sampler found;
* **no evaluation for a known point**: when the agent proposes a point already evaluated
  (a revert lands back on the point before; a reply that changes nothing stays put), the
  trajectory moves there without spending a trial and TPE takes the turn. Its
  measurement is the one taken when it was first evaluated (re-ranked if this process no
  longer holds it: the same numbers, never counted as a trial).

Only the agent's trials are L1 episodes (``scratchpad.json``, prompts and replies, as in an
L1 run); each trial records who proposed it (``proposer``: ``start``, ``l1`` or ``tpe``).
The schedule depends on the number of finished trials only, so the first ``b`` trials of
a run are the same whatever its budget: prefixes of one long run are runs of smaller
budgets.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from optuna.samplers import BaseSampler, TPESampler

from ....errors import UsageError
from ....rank.params import Params
from ...l1.strategy import L1Settings, L1Strategy
from ..space import params_from_trial
from ..strategy import RunFolder, Space, Strategy, suggest_point
from ..study import StudySetup, TrialRecord, records
from .seeding import PerTrialSeeded, strategy_seed

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from ...agents import Agent
    from ...evaluation.evaluator import Evaluator
    from ...evaluation.measurement import Measurement
    from ..loop import RunResult
    from ..strategy import Measure

EVERY = 2
"""One trial in this many (the first of each group) is the agent's."""
PROPOSER_ATTR = "proposer"
KEEP_MEASUREMENTS = 8
"""Measurements kept in memory for the trajectory's next step (each holds every train case's metrics)."""


class MixedSampler(BaseSampler):
    """TPE, except for a trial whose point was decided elsewhere (:meth:`stage`): then every
    ``suggest_float`` returns the staged value and TPE's model is not asked. The mode is
    set per trial, after the trial exists and before its first suggestion (Optuna samples
    relative parameters lazily, at the first suggestion)."""

    def __init__(self, classical: BaseSampler) -> None:
        self.inner = classical
        self.point: dict[str, float] | None = None

    def stage(self, point: Mapping[str, float]) -> None:
        self.point = dict(point)

    def classical(self) -> None:
        self.point = None

    def before_trial(self, study, trial) -> None:  # noqa: ANN001 - Optuna's signatures
        self.point = None
        self.inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):  # noqa: ANN001
        return {} if self.point is not None else self.inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # noqa: ANN001
        return {} if self.point is not None else self.inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # noqa: ANN001
        if self.point is not None:
            if param_name not in self.point:
                raise KeyError(f"no value staged for {param_name}")
            return self.point[param_name]
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def agent_turn(finished: int, every: int = EVERY) -> bool:
    """Whether the proposal after ``finished`` complete non-start trials is the agent's."""
    return finished % every == 0


class Hybrid(L1Strategy):
    """The L1 agent and TPE taking turns on one study (see the module docstring)."""

    name = "hybrid"
    kind = "search"
    status_lines = False

    def __init__(self, settings: L1Settings = L1Settings(), *, every: int = EVERY, agent: "Agent | None" = None) -> None:
        super().__init__(settings, agent=agent)
        if every < 1:
            raise UsageError("hybrid: the agent's turn must come at least once in every trial (every >= 1)")
        self.every = int(every)
        self._done: list[TrialRecord] = []  # complete trials, every worker's, from the last observe
        self._at: Params | None = None  # where the trajectory stands when not at its last episode's point
        self._stood: float | None = None  # the best train NDCG@10 of a point adopted or moved to
        self._known: dict[Params, "Measurement"] = {}  # a few recent measurements, newest last
        self._by = "tpe"

    # -- setup -------------------------------------------------------------------------
    def prepare(self, run: RunFolder, ev: "Evaluator", start: Params, budget: int) -> tuple[Params, int]:
        if budget < 2:
            raise UsageError("--budget must be at least 2 for --strategy hybrid (the start point and one proposal)")
        # like every classical search, running the same command again continues the run
        return super().prepare(replace(run, resume=run.resume or (run.path / "config.json").is_file()), ev, start,
                               budget)

    def sampler(self, setup: StudySetup) -> BaseSampler:
        tpe = PerTrialSeeded(lambda s: TPESampler(seed=s, multivariate=True), strategy_seed(setup.seed, self.name))
        self._sampler = MixedSampler(tpe)
        return self._sampler

    def space(self, setup: StudySetup, only: Sequence[str] | None) -> dict:
        return Strategy.space(self, setup, only)  # --search-params limits both proposers

    def config(self) -> dict[str, Any]:
        return {**super().config(), "every": self.every, "sampler": "tpe"}

    def bind(self, history: Sequence[TrialRecord], measure: "Measure") -> None:
        self._measure = measure  # points are measured when the agent first needs them

    def observe(self, trials: Sequence["FrozenTrial"]) -> None:
        super().observe(trials)
        self._done = [r for r in records(trials) if r.complete]

    # -- where the agent stands --------------------------------------------------------
    def _remember(self, m: "Measurement") -> None:
        self._known.pop(m.params, None)
        self._known[m.params] = m
        while len(self._known) > KEEP_MEASUREMENTS:
            self._known.pop(next(iter(self._known)))

    def _measured(self, point: Params) -> "Measurement":
        m = self._known.get(point)
        if m is None:
            if self._measure is None:
                raise UsageError("hybrid: bind() must run before the loop")
            m = self._measure(point)  # a known point ranked again: the same numbers, not a trial
            self._remember(m)
        return m

    def _position(self, base: Params) -> Params:
        """The trajectory's point: where it moved without a trial, else its last episode's
        point, else the start."""
        sp = self._scratchpad()
        if self._at is not None:
            return self._at
        if sp.episodes:
            return params_from_trial(dict(sp.episodes[-1].params_after))
        if sp.start is not None:
            return params_from_trial(dict(sp.start.params))
        return base

    def _current(self, base: Params) -> "Measurement":
        point = self._position(base)
        stood = [v for v in (self._scratchpad().best().train, self._stood) if v is not None]
        inc = max(self._done, key=lambda r: (r.train_ndcg, -r.number), default=None)
        if inc is not None and stood and inc.train_ndcg > max(stood):
            point = params_from_trial(dict(inc.params))  # adopt the sampler's better point
            self._stand(point, inc.train_ndcg)
        return self._measured(point)

    def _stand(self, point: Params, train: float | None) -> None:
        """Move the trajectory to a point evaluated earlier, without a trial."""
        self._at = point
        if train is not None and (self._stood is None or train > self._stood):
            self._stood = train

    def _known_point(self, point: Mapping[str, float], space: Space, base: Params) -> TrialRecord | None:
        """The finished trial at ``point`` as the trial would take it, if any."""
        p = params_from_trial({**base.to_dict(), **{k: v for k, v in point.items() if k in space}}).to_dict()
        return next((r for r in self._done if dict(r.params) == p), None)

    # -- one trial ---------------------------------------------------------------------
    def ask(self, trial: "optuna.Trial", space: Space, base: Params) -> Params:
        finished = sum(1 for r in self._done if not r.start)
        self._by = "tpe"
        if self._backlog or agent_turn(finished, self.every):
            point = self.propose(base)
            known = None if self._redo is not None else self._known_point(point, space, base)
            if known is None:
                self._by = "l1"
                self._sampler.stage(point)
                return suggest_point(trial, space, base)
            # a known point: the trajectory moves there without a trial, and TPE takes the turn
            self._draft = None
            self._stand(params_from_trial(dict(known.params)), known.train_ndcg)
        self._sampler.classical()
        return suggest_point(trial, space, base)

    def tell(self, number: int, point: Params, m: "Measurement", *, start: bool) -> Mapping[str, Any]:
        self._remember(m)
        attrs: Mapping[str, Any] = {}
        if start or self._by == "l1":
            attrs = super().tell(number, point, m, start=start)
            if not start:
                self._at = None  # the trajectory stands on this episode's point
        return {**attrs, PROPOSER_ATTR: "start" if start else self._by}

    # -- reporting: a search's, not an L1 run's ----------------------------------------
    def plot(self, trials: Sequence[dict], path, title: str, *, test: Mapping[str, Any] | None = None) -> None:  # noqa: ANN001
        Strategy.plot(self, trials, path, title, test=test)

    def describe(self, rec: TrialRecord, best: TrialRecord | None, complete: int, budget: int) -> str:
        return Strategy.describe(self, rec, best, complete, budget) + ("" if rec.start else f"  [{self._by}]")

    def summary(self, result: "RunResult") -> str | None:
        return Strategy.summary(self, result)


__all__ = ["EVERY", "Hybrid", "KEEP_MEASUREMENTS", "MixedSampler", "PROPOSER_ATTR", "agent_turn"]
