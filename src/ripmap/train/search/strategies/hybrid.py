"""The hybrid: the L1 agent steps from the incumbent, TPE explores, one shared study.

Every other trial (``every``, default 2; the first proposal after the start point is
the agent's) the L1 agent reads the failures of the *incumbent*, the best point any
proposer has reached so far by train NDCG@10, and proposes a move from there; the other
trials are TPE's, whose model reads every trial of the study, the agent's included. So
the agent refines what the sampler found (a local, evidence-driven step the sampler
cannot take) and the sampler escapes where the agent's steps stall (the agent only ever
moves a few parameters a little).

The agent's turn goes to TPE when it proposes nothing new (no change applied, or a point
already evaluated): an evaluation is never spent on a known point. Only the agent's
trials are L1 episodes (``scratchpad.json``, prompts and replies, as in an L1 run); each
trial records who proposed it (``proposer``: ``start``, ``l1`` or ``tpe``). The schedule
depends on the number of finished trials only, so the first ``b`` trials of a run are
the same whatever its budget: prefixes of one long run are runs of smaller budgets.
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
        self._best: "Measurement | None" = None  # the incumbent's measurement, when this process has it
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
        self._measure = measure  # the incumbent is measured when the agent first needs it

    def observe(self, trials: Sequence["FrozenTrial"]) -> None:
        super().observe(trials)
        self._done = [r for r in records(trials) if r.complete]

    # -- one trial ---------------------------------------------------------------------
    def _incumbent(self) -> TrialRecord | None:
        """The best complete trial by train NDCG@10 (what the agent may see), earliest on ties."""
        return max(self._done, key=lambda r: (r.train_ndcg, -r.number), default=None)

    def _current(self, base: Params) -> "Measurement":
        inc = self._incumbent()
        if inc is None or self._measure is None:
            return super()._current(base)
        point = params_from_trial(dict(inc.params))
        if self._best is None or self._best.params != point:
            # another worker's point, or a resumed run: measured again, never counted as a trial
            self._best = self._measure(point)
        return self._best

    def _new(self, point: Mapping[str, float], space: Space, base: Params) -> bool:
        """Whether ``point``, as the trial would take it, differs from every finished trial."""
        p = params_from_trial({**base.to_dict(), **{k: v for k, v in point.items() if k in space}}).to_dict()
        return all(dict(r.params) != p for r in self._done)

    def ask(self, trial: "optuna.Trial", space: Space, base: Params) -> Params:
        finished = sum(1 for r in self._done if not r.start)
        self._by = "tpe"
        if self._backlog or agent_turn(finished, self.every):
            point = self.propose(base)
            if self._redo is not None or self._new(point, space, base):
                self._by = "l1"
                self._sampler.stage(point)
                return suggest_point(trial, space, base)
            self._draft = None  # the agent has no new point: not an episode, TPE takes the trial
        self._sampler.classical()
        return suggest_point(trial, space, base)

    def tell(self, number: int, point: Params, m: "Measurement", *, start: bool) -> Mapping[str, Any]:
        if self._best is None or m.ndcg > self._best.ndcg:
            self._best = m
        attrs = super().tell(number, point, m, start=start) if start or self._by == "l1" else {}
        return {**attrs, PROPOSER_ATTR: "start" if start else self._by}

    # -- reporting: a search's, not an L1 run's ----------------------------------------
    def plot(self, trials: Sequence[dict], path, title: str, *, test: Mapping[str, Any] | None = None) -> None:  # noqa: ANN001
        Strategy.plot(self, trials, path, title, test=test)

    def describe(self, rec: TrialRecord, best: TrialRecord | None, complete: int, budget: int) -> str:
        return Strategy.describe(self, rec, best, complete, budget) + ("" if rec.start else f"  [{self._by}]")

    def summary(self, result: "RunResult") -> str | None:
        return Strategy.summary(self, result)


__all__ = ["EVERY", "Hybrid", "MixedSampler", "PROPOSER_ATTR", "agent_turn"]
