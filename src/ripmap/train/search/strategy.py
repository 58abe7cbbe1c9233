"""The one interface every search strategy implements, and the pieces they share.

A strategy chooses the next parameter point; the loop (:func:`.loop.optimize`) does
everything else the same way for all of them: the run folder, the study and its
storage, the budget shared by workers, evaluation, ``results.json`` and ``progress.png``.
Like an Optuna sampler, a strategy sees the trials so far and proposes; unlike one, it
may also read what the loop measured (the L1 agent reads the failures of the last
point) and keep files of its own in the run folder (L1's scratchpad, prompts, replies).

A new strategy is one new file: subclass :class:`Strategy`, give it a ``name`` and a
:meth:`~Strategy.sampler`, and override the hooks it needs.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Sequence

from ...rank.params import Params
from .space import params_from_trial, search_space
from .study import StudySetup, TrialRecord

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.samplers import BaseSampler
    from optuna.trial import FrozenTrial

    from ..evaluation.evaluator import Evaluator
    from ..evaluation.measurement import Measurement
    from .loop import RunResult

Space = Mapping[str, "FloatDistribution"]
Measure = Callable[[Params], "Measurement"]


@dataclass(frozen=True)
class RunFolder:
    """Where a run lives: ``out_dir/name``. ``resume`` says the user asked to continue it;
    ``shared`` that its study is in a storage named on the command line (``--storage``), so
    another worker may be running it too: a worker that finds the run started joins it."""

    name: str
    path: Path
    out_dir: Path
    resume: bool = False
    shared: bool = False


def suggest_point(trial: "optuna.Trial", space: Space, base: Params) -> Params:
    """Ask the trial for every parameter of ``space``; the others stay at ``base``.

    Values come from the study's sampler, or from the trial's fixed parameters when the
    trial was enqueued (the start point); clamped into bounds, as samplers may round.
    """
    for name, d in space.items():
        trial.suggest_float(name, d.low, d.high, log=d.log)
    return params_from_trial({**base.to_dict(), **trial.params})


class Strategy(ABC):
    """How the next point is chosen. The hooks are called by the loop in this order:

    ``prepare`` (once, before the study is opened) → ``design``/``sampler``/``space``
    (with the study's setup) → ``observe`` + ``bind`` (the trials so far) → per trial
    ``observe`` → ``ask`` → (evaluation) → ``observe`` → ``tell`` → at every write
    ``report``/``plot`` → ``summary``.
    """

    name: ClassVar[str]
    """The strategy's name in results.json, the study and the default run name."""
    kind: ClassVar[str] = "search"
    """What the run is in results.json and config.json: ``search`` (classical) or ``l1``."""
    explain_failures: ClassVar[bool] = False
    """Whether each point's failing cases are explained per signal (costly; L1 reads them)."""
    status_lines: ClassVar[bool] = False
    """Whether each trial's status line stays on screen (an episode's summary) instead of
    being redrawn in place."""

    def prepare(self, run: RunFolder, ev: "Evaluator", start: Params, budget: int) -> tuple[Params, int]:
        """Check and set up the run folder; may change the start point and the budget
        (a replay takes both from the run it replays). Returns (start, budget)."""
        return start, budget

    def design(self, budget: int, start: Params) -> dict[str, list[float]] | None:
        """Points fixed when the study is created (the grid's axes), or None."""
        return None

    @abstractmethod
    def sampler(self, setup: StudySetup) -> "BaseSampler":
        """The Optuna sampler the study asks for values."""

    def space(self, setup: StudySetup, only: Sequence[str] | None) -> dict[str, "FloatDistribution"]:
        """The parameters each trial suggests (``only``: ``--search-params``); the rest
        stay at the start point."""
        return search_space(only)

    def config(self) -> dict[str, Any]:
        """What config.json records about this strategy besides the loop's own keys."""
        return {}

    def observe(self, trials: Sequence["FrozenTrial"]) -> None:
        """The study's trials, every worker's, read again before each ask and each tell.
        A strategy that keeps a record of its own (L1's scratchpad) merges what other
        workers finished here; a sampler reads the study itself and needs nothing."""

    def bind(self, history: Sequence[TrialRecord], measure: Measure) -> None:
        """Called once with the study's trials so far, before the first ask (resume)."""

    def ask(self, trial: "optuna.Trial", space: Space, base: Params) -> Params:
        """The next point to evaluate (never the start point: the loop asks that itself)."""
        return suggest_point(trial, space, base)

    def tell(self, number: int, point: Params, m: "Measurement", *, start: bool) -> Mapping[str, Any]:
        """The measured point; returns user attributes to store on the trial."""
        return {}

    def remaining(self, setup: StudySetup, trials: Sequence["FrozenTrial"]) -> int | None:
        """Points left to propose when the strategy can run out (a grid), else None."""
        return None

    def report(self) -> dict[str, Any]:
        """Keys added to results.json (L1: its episode rows)."""
        return {}

    def plot(self, trials: Sequence[dict], path: Path, title: str, *, test: Mapping[str, Any] | None = None) -> None:
        """Draw progress.png; by default the best-so-far curve over the trials. ``test``: the
        held-out repositories' block, once the run has ended."""
        from ..report.plots import plot_search_progress

        plot_search_progress(list(trials), path, title=title, test=test)

    def describe(self, rec: TrialRecord, best: TrialRecord | None, complete: int, budget: int) -> str:
        """The live status line after a trial."""
        line = f"{self.name}: trial {complete}/{budget} (#{rec.number})  ndcg {rec.train_ndcg:.4f}"
        if rec.holdout_ndcg is not None:
            line += f"  validation {rec.holdout_ndcg:.4f}"
        if best is not None:
            line += f"  best {best.train_ndcg:.4f} (#{best.number})"
        return line

    def summary(self, result: "RunResult") -> str | None:
        """The closing line (None: nothing to say)."""
        b = result.best
        if b is None:
            return None
        ho = b.holdout_ndcg
        how = "by validation" if isinstance(ho, (int, float)) else "by train"
        return (f"{result.run}: final point (trial {b.number}, selected {how}): train NDCG@10 {b.train_ndcg:.4f}"
                + (f", validation {ho:.4f}" if isinstance(ho, (int, float)) else "") + f"; results in {result.run_dir}")


__all__ = ["Measure", "RunFolder", "Space", "Strategy", "suggest_point"]
