"""The one loop: every strategy, classical or L1, runs through :func:`optimize`.

One call runs (or resumes, or joins) a run: it opens the run folder
(``out_dir/<run>``) and the study (``--storage``, or ``sqlite:///<run>/study.db``),
evaluates the start point once, then asks the strategy for points until ``budget``
trials are complete, writing after every trial:

* ``results.json``: the setup, the start point, the final point, every trial (number,
  state, parameters, train and validation NDCG@10, per repository), plus what the strategy
  adds (L1: its episode rows); at the end, with held-out repositories, the ``test`` block;
* ``results.trained.json`` (= ``results.best.json``): the final point's parameters, usable
  as ``--params``;
* ``progress.png`` (redrawn at most every :data:`PLOT_EVERY_S` and at the end);
* ``config.json`` once at the start: what the run was started with (repositories, mining,
  budget, the strategy's settings), and each resume; a resume takes its settings from it.

The objective is train NDCG@10. The validation split (``holdout``: the newest commits of
the training repositories) is measured on every point and selects the final point
(:func:`.study.best_of`). Held-out repositories (``test`` cases) are evaluated once, when
the budget is spent, on the start point and on the final point: the ``test`` block
(:mod:`..evaluation.comparison`), shown in the closing lines and in progress.png. No
strategy sees it. Resuming: run the same command again (``--resume`` for L1). Complete
trials are kept and count toward the budget; a trial that was running when its process
died is failed and ignored (the start point and a grid point are queued again); a larger
budget extends a finished run.

Several workers: start the same command, with the same ``--storage`` and ``--run-name``,
as many times as you like, on one machine or many (SQLite needs a shared local
filesystem; use a server database across machines). Each worker asks for a trial only
while fewer than ``budget`` trials are complete or running, and re-checks after asking
(:func:`.study.claim`), so together they finish exactly ``budget`` trials: never more,
and fewer only if a trial fails.
"""
from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ...errors import UsageError
from ...rank.params import DEFAULT, Params
from ..console import Status, say
from ..cases.splits import TEST, of_split
from ..evaluation.comparison import held_out_line
from ..evaluation.measurement import Measurement, measure
from ..files import atomic_write_json, read_json, remove_orphans
from ..numbers import utc_now
from .storage import open_storage, redact
from .strategy import RunFolder, Strategy, suggest_point
from .study import (START_ATTR, StudySetup, TrialRecord, best_of, claim, counts, ensure_start, fail,
                    fail_abandoned, records, selects_by_validation, setup_study, trials_of)
from .workers import Heartbeat, Worker

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from ..evaluation.evaluator import Evaluator

PLOT_EVERY_S = 15.0
"""progress.png is redrawn at most this often (and always at the end): a dashboard costs
about a second, more than a trial on a small repository."""
POLL_S = 0.5
"""How often a worker re-reads the study while other workers finish the last trials."""
RESULTS, TRAINED, BEST, CONFIG, PROGRESS = ("results.json", "results.trained.json", "results.best.json",
                                            "config.json", "progress.png")
OBJECTIVE = "train ndcg@10"
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class LoopSettings:
    """How a run is driven, whatever the strategy.

    ``budget`` counts trials, the start point included (an L1 run of E episodes is E + 1
    trials). ``search_params`` limits the parameters a classical strategy varies.
    ``sources`` says where the cases came from (repository roots and which are held out,
    the mining settings, a case file): written to config.json so a resume can rebuild
    the same cases without being told again.
    """

    out_dir: Path
    budget: int
    start: Params = DEFAULT
    run_name: str | None = None
    resume: bool = False
    seed: int = 0
    storage: str | None = None
    search_params: tuple[str, ...] | None = None
    verbose: bool = False
    sources: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RunResult:
    """What a run ended with (also on disk, in results.json)."""

    run: str
    run_dir: Path
    strategy: str
    budget: int
    trials: tuple[TrialRecord, ...]
    start: TrialRecord | None
    best: TrialRecord | None
    new_trials: int  # completed by this call (0: the run was already done)
    test: Mapping[str, Any] | None = None  # the held-out repositories' block of results.json

    @property
    def complete(self) -> int:
        return sum(1 for t in self.trials if t.complete)

    @property
    def best_train(self) -> float | None:
        return self.best.train_ndcg if self.best else None

    @property
    def start_train(self) -> float | None:
        return self.start.train_ndcg if self.start else None

    @property
    def best_params(self) -> Params | None:
        return Params(self.best.params) if self.best else None


def check_run_name(name: str) -> str:
    if not _RUN_NAME.fullmatch(name):
        raise UsageError(f"run name '{name}' must be letters, digits, '.', '_' or '-' (no path separators)")
    return name


def run_folder(prefix: str, settings: LoopSettings) -> RunFolder:
    """The run's folder: ``--run-name``, or ``PREFIX-YYYYmmdd-HHMMSS`` made unique."""
    out = Path(settings.out_dir)
    name = settings.run_name
    if settings.resume and not name:
        raise UsageError("--resume needs --run-name NAME (ripmap-train runs list shows the runs)")
    if not name:
        name = datetime.now().strftime(f"{prefix}-%Y%m%d-%H%M%S")
        base, k = name, 2
        while (out / name).exists():
            name, k = f"{base}-{k}", k + 1
    check_run_name(name)
    return RunFolder(name, out / name, out, settings.resume, shared=settings.storage is not None)


class _Measurer:
    """Evaluates points, remembering the last one: an agent that changes nothing gets
    the same measurement back instead of a second evaluation of the same point."""

    def __init__(self, ev: "Evaluator", explain: bool) -> None:
        self.ev = ev
        self.explain = explain
        self.last: Measurement | None = None

    def __call__(self, params: Params) -> Measurement:
        if self.last is None or self.last.params != params:
            self.last = measure(self.ev, params, explain_failures=self.explain)
        return self.last


def _repos(ev: "Evaluator", sources: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One row per indexed repository: its cases per split, and from ``sources`` its root
    (what a resume mines again) and whether it is held out."""
    roots = {str(r.get("name")): r for r in (sources or {}).get("repos") or () if isinstance(r, Mapping)}
    out = []
    for (repo, snap), s in sorted(ev.snapshots.items()):
        cases = [c for c in ev.cases if c.repo == repo and c.snapshot == snap]
        test = sum(1 for c in cases if c.split == TEST)
        row: dict[str, Any] = {"name": repo, "snapshot": snap, "files": s.file_count, "cases": len(cases),
                               "train": sum(1 for c in cases if c.split == "train"),
                               "holdout": sum(1 for c in cases if c.split == "holdout"), "test": test,
                               "held_out": bool(cases) and test == len(cases)}
        if repo in roots:
            row["held_out"] = bool(roots[repo].get("held_out", row["held_out"]))
            if roots[repo].get("root"):
                row["root"] = str(roots[repo]["root"])
        out.append(row)
    return out


def _case_counts(ev: "Evaluator") -> dict[str, int]:
    return {"train": len(ev.train_cases), "holdout": len(ev.holdout_cases), "test": len(of_split(ev.cases, TEST))}


def _test_block(ev: "Evaluator", run: RunFolder, start: TrialRecord | None, final: TrialRecord | None,
                seed: int) -> dict[str, Any] | None:
    """The held-out repositories' figures for the start and the final point, computed once:
    a block already in results.json for the same two points is kept as it is (another
    worker, or an earlier call on a finished run, computed it)."""
    from ..evaluation.comparison import compare

    cases = of_split(ev.cases, TEST)
    if not cases or start is None or final is None:
        return None
    old = read_json(run.path / RESULTS) if (run.path / RESULTS).is_file() else {}
    prev = old.get("test") if isinstance(old, dict) else None
    if (isinstance(prev, dict) and prev.get("start_trial") == start.number and prev.get("final_trial") == final.number
            and prev.get("n") == len(cases)):
        return prev
    c = compare(ev, cases, Params(start.params), Params(final.params), seed=seed)
    return {**c.to_dict(), "start_trial": start.number, "final_trial": final.number,
            "default_is": "the run's start point", "best_is": "the run's final point (selected by "
            + ("validation" if final.holdout_ndcg is not None else "train") + " NDCG@10)"}


class _Writer:
    """results.json, results.trained.json / results.best.json and progress.png, from the study."""

    def __init__(self, run: RunFolder, strategy: Strategy, meta: dict[str, Any]) -> None:
        self.run = run
        self.strategy = strategy
        self.meta = meta
        self.last_plot = float("-inf")

    def write(self, trials: Sequence["FrozenTrial"], *, final: bool = False,
              test: Mapping[str, Any] | None = None) -> list[TrialRecord]:
        recs = records(trials)
        done = [r for r in recs if r.complete]
        start = next((r for r in done if r.start), None)
        best = best_of(recs)
        d = self.run.path
        atomic_write_json(d / RESULTS, {
            **self.meta, "complete": len(done),
            "start": {"params": dict(start.params), "train": start.train_ndcg, "holdout": start.holdout_ndcg}
            if start else None,
            "best": {"number": best.number, **({"episode": best.episode} if best.episode is not None else {}),
                     "train": best.train_ndcg, "holdout": best.holdout_ndcg,
                     "selected_by": "validation" if selects_by_validation(recs) else "train"} if best else None,
            **({"test": dict(test)} if test else {}),
            "trials": [r.to_dict() for r in recs], **self.strategy.report()})
        if best is not None:
            trained = {"run": self.meta["run"], "kind": self.meta["kind"], "strategy": self.meta["strategy"],
                       "number": best.number, **({"episode": best.episode} if best.episode is not None else {}),
                       "train_ndcg": best.train_ndcg, "holdout_ndcg": best.holdout_ndcg, "by_repo": best.by_repo,
                       "start_train_ndcg": start.train_ndcg if start else None,
                       "start_holdout_ndcg": start.holdout_ndcg if start else None, "params": dict(best.params)}
            atomic_write_json(d / BEST, trained)
            # the name every run folder uses for its best point, so ``--params RUN/results.trained.json``
            # works whatever produced the run
            atomic_write_json(d / TRAINED, trained)
        now = time.monotonic()
        if done and (final or now - self.last_plot >= PLOT_EVERY_S):
            self.last_plot = now
            try:
                self.strategy.plot([r.to_dict() for r in done], d / PROGRESS, self.run.name, test=test)
            except Exception as e:  # noqa: BLE001 - a plot must never cost a finished trial
                say(f"warning: {PROGRESS} not written ({type(e).__name__}: {e})")
        return recs


def _write_config(run: RunFolder, strategy: Strategy, settings: LoopSettings, setup: StudySetup, budget: int,
                  url: str, ev: "Evaluator") -> None:
    path = run.path / CONFIG
    old = read_json(path) if path.is_file() else {}
    old = old if isinstance(old, dict) else {}
    sources = dict(settings.sources or {})
    atomic_write_json(path, {
        "run": run.name, "kind": strategy.kind, "strategy": strategy.name, "created": old.get("created") or utc_now(),
        "budget": budget, "seed": setup.seed, "start": setup.start, "storage": redact(url),
        "search_params": list(settings.search_params) if settings.search_params else None,
        "failure_threshold": ev.failure_threshold, "history": ev.history, "repos": _repos(ev, sources),
        **{k: v for k, v in sources.items() if k != "repos"},
        "cases": _case_counts(ev),
        "resumed": list(old.get("resumed", [])) + ([utc_now()] if old else []),
        **strategy.config()})


def optimize(strategy: Strategy, ev: "Evaluator", settings: LoopSettings) -> RunResult:
    """Run ``strategy`` on ``ev``'s cases until ``settings.budget`` trials are complete."""
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    run = run_folder(strategy.name, settings)
    start, budget = strategy.prepare(run, ev, settings.start, settings.budget)
    if budget < 1:
        raise UsageError("--budget must be at least 1")
    run.path.mkdir(parents=True, exist_ok=True)
    remove_orphans(run.path)  # a kill mid-write leaves a temp file, never a torn real one
    url = settings.storage or f"sqlite:///{(run.path / 'study.db').resolve()}"
    me = Worker.current()
    status = Status(settings.verbose)
    measurer = _Measurer(ev, strategy.explain_failures)
    new_trials = 0
    old_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.create_study(storage=open_storage(url), study_name=run.name, direction="maximize",
                                        load_if_exists=True)
            setup = setup_study(study, strategy.name, settings.seed, start, strategy.design(budget, start))
            study.sampler = strategy.sampler(setup)
            space = strategy.space(setup, settings.search_params)
            base = setup.start_params
            revisit = setup.design is not None
            _write_config(run, strategy, settings, setup, budget, url, ev)
            writer = _Writer(run, strategy, {
                "run": run.name, "kind": strategy.kind, "strategy": strategy.name, "created": setup.created,
                "budget": budget, "seed": setup.seed, "storage": redact(url), "objective": OBJECTIVE,
                "grid": setup.design, "cases": _case_counts(ev)})
            fail_abandoned(study, trials_of(study), me, revisit)
            ensure_start(study, setup)
            strategy.observe(trials_of(study))
            strategy.bind(records(trials_of(study)), measurer)
            while True:
                trials = trials_of(study)
                if fail_abandoned(study, trials, me, revisit):
                    trials = trials_of(study)
                complete, running, waiting = counts(trials)
                if complete >= budget:
                    break
                left = strategy.remaining(setup, trials)
                exhausted = left is not None and left <= 0 and not waiting
                if exhausted and not running:
                    break  # every point of a fixed design is evaluated: it is smaller than the budget
                if complete + running >= budget or exhausted:
                    status.show(f"{run.name}: {complete}/{budget} complete, waiting for {running} running trial(s)")
                    time.sleep(POLL_S)
                    continue
                trial = study.ask()
                trial.set_user_attr("owner", me.as_attr())  # first, so that a kill from here on is recognized
                why = claim(study, trial, budget)
                if why:
                    trial.set_user_attr("skipped", why)
                    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                    continue
                is_start = bool(trial.user_attrs.get(START_ATTR))
                with Heartbeat(trial):
                    try:
                        if not is_start:
                            strategy.observe(trials_of(study))  # what other workers finished meanwhile
                        point = suggest_point(trial, space, base) if is_start else strategy.ask(trial, space, base)
                        m = measurer(point)
                        strategy.observe(trials_of(study))
                    except BaseException:  # an interrupt, or an error: the point is not lost for a resume
                        fail(study, trial, revisit)
                        raise
                attrs = {"params": point.to_dict(), "train_ndcg": m.ndcg, "holdout_ndcg": m.holdout,
                         "by_repo": m.by_repo, **strategy.tell(trial.number, point, m, start=is_start)}
                try:
                    for k, v in attrs.items():
                        trial.set_user_attr(k, v)
                    counted = study.tell(trial, m.ndcg, skip_if_finished=True).state == TrialState.COMPLETE
                except UpdateFinishedTrialError:
                    counted = False
                if not counted:  # e.g. this worker was suspended past STALE_AFTER_S
                    say(f"trial {trial.number} was failed as abandoned by another worker; its result is not counted")
                new_trials += counted
                recs = writer.write(trials_of(study))
                rec = next(r for r in recs if r.number == trial.number)
                if rec.complete:
                    status.show(strategy.describe(rec, best_of(recs), sum(r.complete for r in recs), budget),
                                keep=strategy.status_lines)
            strategy.observe(trials_of(study))  # the last trials other workers finished
            final = records(trials_of(study))
            test = _test_block(ev, run, next((r for r in final if r.complete and r.start), None), best_of(final),
                               setup.seed)
            recs = writer.write(trials_of(study), final=True, test=test)
    finally:
        optuna.logging.set_verbosity(old_verbosity)
        status.close()
    result = RunResult(run=run.name, run_dir=run.path, strategy=strategy.name, budget=budget, trials=tuple(recs),
                       start=next((r for r in recs if r.complete and r.start), None), best=best_of(recs),
                       new_trials=new_trials, test=test)
    line = strategy.summary(result)
    if line:
        say(line)
    if test:
        say(held_out_line(test))
    return result


__all__ = ["LoopSettings", "RunResult", "check_run_name", "optimize", "run_folder"]
