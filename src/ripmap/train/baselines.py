"""Classical baselines on Optuna (random, TPE, CMA-ES, grid, low-discrepancy) and a sensitivity study.

The L1 reasoning loop has to beat something: these searches spend the same evaluation
budget on the same cases with no reasoning at all. Every strategy starts with one trial at
the start parameters (the defaults unless ``--params``/``--preset``), so at equal budgets
every curve starts from the same point and "did it beat the defaults" is read off directly.

Search runs are Optuna studies in an RDB storage (SQLite in the run folder by default),
so a killed search resumes where it stopped and several processes, on one machine or
many, can share one study. See :func:`run_search` for the exact budget guarantee.

The sensitivity study (:func:`run_sensitivity`) answers "which knobs matter on these
cases": ablation to a neutral value, one-at-a-time sweeps, and pairwise interactions.
"""
from __future__ import annotations

import json
import math
import os
import socket
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import UsageError
from ..rank.params import REGISTRY, SPECS, ParamSpec, Params
from .space import params_from_trial, search_space

if TYPE_CHECKING:  # optuna is imported lazily: the trainer's other phases do not need it
    import optuna
    from optuna.samplers import BaseSampler
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial

    from .evaluate import Evaluator

STRATEGIES = ("random", "tpe", "cmaes", "grid", "lhs")

# How often a worker refreshes the heartbeat of the trial it is evaluating, and how old a
# heartbeat may get before other workers treat the trial as abandoned (its worker died on
# another machine). Generous, so clock skew or a slow evaluation never steals a live trial.
HEARTBEAT_S = 20.0
STALE_AFTER_S = 180.0
# A trial is created and then labelled with its owner (two storage writes): one still
# unlabelled this long after it started was orphaned by a kill between the two.
OWNERLESS_AFTER_S = 15.0
# How often a worker re-reads the study while other workers finish the last trials.
POLL_S = 0.5
# How often progress.png is redrawn during a search (it is always drawn at the end).
PLOT_EVERY_S = 30.0

START_ATTR = "ripmap_start"

# Parameters the grid varies, most promising first. The oracle's ground truth *is*
# co-change, so its weight comes first; the two other additive weights set the balance
# against it (structure pulls toward central hubs, lexical toward name overlap); PageRank
# damping and hub damping decide how far structure spreads and whether hubs dominate;
# the recency boost is the strongest git prior. The rest stay at the start values: a full
# factorial over 27 parameters (3^27 points) could never fit any budget.
GRID_PRIORITY = ("boost_temporal_coupling", "weight_structure", "boost_lexical", "pagerank_alpha",
                 "hub_damping", "git_recency_max_boost")


# --------------------------------------------------------------------------------------------
# scoring


@dataclass(frozen=True)
class Score:
    """One parameter point scored the way every baseline is compared.

    ``train`` is the objective: NDCG@10 over the train split, or over all cases when the
    mined cases have no train split. ``holdout`` is never optimized, only reported
    (``None`` when there is no separate holdout split).
    """

    train: float
    holdout: float | None
    by_repo: dict[str, dict[str, float]]


def objective_cases(ev: "Evaluator") -> list:
    """The cases the objective is computed on: the train split, or all cases without one."""
    return ev.train_cases or list(ev.cases)


def objective(ev: "Evaluator", params: Params) -> float:
    """Train NDCG@10 alone (what sweeps need; :func:`score` adds the holdout)."""
    return ev.evaluate(params, objective_cases(ev), explain_failures=False).ndcg


def score(ev: "Evaluator", params: Params) -> Score:
    holdout_cases = ev.holdout_cases if ev.train_cases else []
    tr = ev.evaluate(params, objective_cases(ev), explain_failures=False)
    by_repo: dict[str, dict[str, float]] = {r: {"train": m.get("ndcg@10", 0.0)} for r, m in tr.by_repo.items()}
    holdout = None
    if holdout_cases:
        ho = ev.evaluate(params, holdout_cases, explain_failures=False)
        holdout = ho.ndcg
        for r, m in ho.by_repo.items():
            by_repo.setdefault(r, {})["holdout"] = m.get("ndcg@10", 0.0)
    return Score(tr.ndcg, holdout, by_repo)


# --------------------------------------------------------------------------------------------
# samplers


def _mix(seed: int, number: int) -> int:
    """A 32-bit seed that depends on (seed, trial number) and on nothing else."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(number)]).generate_state(1)[0])


def _per_trial_seeded(factory: Callable[[int], "BaseSampler"], seed: int) -> "BaseSampler":
    from optuna.samplers import BaseSampler

    class PerTrialSeeded(BaseSampler):
        """Rebuilds a stateless sampler for every trial, seeded by (seed, trial number).

        A seeded RandomSampler or TPESampler draws from one RNG stream that starts over in
        every process: after a resume its first draws would repeat the points the killed
        process already evaluated, and two workers with the same seed would propose the same
        points. Trial numbers are unique within a study, so seeding each trial from its
        number makes trial k's proposal a function of (seed, k, the study's history) alone:
        identical across reruns, distinct across workers and resumes.
        """

        def __init__(self) -> None:
            self._inner = factory(seed)

        def before_trial(self, study, trial) -> None:
            self._inner = factory(_mix(seed, trial.number))
            self._inner.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self._inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._inner.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._inner.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values) -> None:
            self._inner.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self._inner.reseed_rng()

    return PerTrialSeeded()


def grid_axes(budget: int, start: Mapping[str, float],
              priority: Sequence[str] = GRID_PRIORITY) -> dict[str, list[float]]:
    """The grid for ``budget`` evaluations: a few important parameters, the rest at ``start``.

    One evaluation goes to the start point, so the grid gets ``budget - 1`` points. It
    varies the first ``k`` parameters of ``priority``, with ``k`` as large as three levels
    each allow (3^k ≤ budget - 1), then adds levels to the leading parameters while the
    product still fits. Levels sit at the midpoints of equal cells of each parameter's own
    scale (log for multiplicative knobs), shifted if one would fall on the start value:
    the bounds are extreme by design and the start point is already evaluated.
    Examples: budget 4 → 3 levels of the first parameter; budget 10 → 3 × 3;
    budget 50 → 4 × 4 × 3 = 48 points; budget 100 → 3^4 = 81 points.
    """
    n = budget - 1
    names = [p for p in priority if p in SPECS]
    if n < 1 or not names:
        return {}
    k = 1
    while k < len(names) and 3 ** (k + 1) <= n:
        k += 1
    m = 1
    while (m + 1) ** k <= n:
        m += 1
    levels = [m] * k
    grew = True
    while grew:
        grew = False
        for i in range(k):
            if math.prod(levels) // levels[i] * (levels[i] + 1) <= n:
                levels[i] += 1
                grew = True
    axes: dict[str, list[float]] = {}
    for name, lv in zip(names[:k], levels):
        spec = SPECS[name]
        at = spec.to_unit(spec.clamp(float(start.get(name, spec.default))))
        us = [(j + 0.5) / lv for j in range(lv)]  # midpoints of lv equal cells
        if any(abs(u - at) < 1e-6 for u in us):
            # a level on the start value would re-evaluate the start point along this axis
            us = [(j + 1) / (lv + 1) for j in range(lv)]
        axes[name] = [spec.clamp(float(f"{spec.from_unit(u):.6g}")) for u in us]
    return axes


def make_sampler(strategy: str, seed: int, start: Params,
                 grid: Mapping[str, list[float]] | None = None) -> "BaseSampler":
    """The Optuna sampler behind each strategy name.

    * ``random`` — uniform on each parameter's own scale, reseeded per trial;
    * ``tpe`` — Tree-structured Parzen Estimator, reseeded per trial (its history lives
      in the study, so rebuilding it loses nothing);
    * ``cmaes`` — CMA-ES centred on the start point (``x0``); its state is pickled into
      the study, so it resumes mid-generation;
    * ``grid`` — :func:`grid_axes` over :data:`GRID_PRIORITY`;
    * ``lhs`` — a scrambled Halton sequence (``QMCSampler``): the space-filling design
      Latin hypercubes are used for, but extensible one point at a time, so it needs no
      budget fixed in advance and resumes from the sequence position stored in the study.
    """
    from optuna.samplers import CmaEsSampler, GridSampler, QMCSampler, RandomSampler, TPESampler

    if strategy == "random":
        return _per_trial_seeded(lambda s: RandomSampler(seed=s), seed)
    if strategy == "tpe":
        return _per_trial_seeded(lambda s: TPESampler(seed=s, multivariate=True), seed)
    if strategy == "cmaes":
        try:
            import cmaes  # noqa: F401  (Optuna's CmaEsSampler needs it)
        except ImportError:
            raise UsageError("--strategy cmaes needs the 'cmaes' package (pip install 'ripmap[train]')") from None
        try:
            # x0 is deprecated since Optuna 4.9 (still honoured in 5.x); without it CMA-ES
            # would start at the centre of the box instead of the start point.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                return CmaEsSampler(x0=start.to_dict(), seed=seed, warn_independent_sampling=False)
        except TypeError:  # a future Optuna without x0
            return CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if strategy == "grid":
        class AskTellGrid(GridSampler):
            """GridSampler minus its ``study.stop()`` in ``after_trial``, which Optuna only
            allows inside ``optimize``; :func:`run_search` stops when no grid point is left."""

            def after_trial(self, study, trial, state, values) -> None:
                return None

        return AskTellGrid(dict(grid or {}), seed=seed)
    if strategy == "lhs":
        return QMCSampler(qmc_type="halton", scramble=True, seed=seed, warn_independent_sampling=False,
                          warn_asynchronous_seeding=False)
    raise UsageError(f"unknown strategy '{strategy}' (choose from {', '.join(STRATEGIES)})")


# --------------------------------------------------------------------------------------------
# storage, workers and liveness


def open_storage(url: str) -> "RDBStorage":
    """An RDB storage that tolerates several processes writing at once, and is fast on SQLite.

    Optuna commits every parameter and attribute separately (some 35 commits a trial).
    SQLite's default rollback journal fsyncs each commit, which made the storage, not the
    evaluation, the cost of a trial (~25 ms a commit here). Write-ahead logging with
    ``synchronous=NORMAL`` fsyncs only at checkpoints: a power cut may lose the last few
    trials but never corrupts the study, which a resumable search tolerates by design.
    WAL needs a local filesystem; workers on several machines should share a server
    database instead. The generous busy timeout makes a worker wait for the write lock
    rather than fail with "database is locked"; opening is retried because two workers
    starting together on a fresh file may race to create the tables.
    """
    import sqlalchemy.exc
    from optuna.storages import RDBStorage
    from sqlalchemy import event

    sqlite = url.startswith("sqlite")
    kw: dict[str, Any] = {"connect_args": {"timeout": 120}} if sqlite else {"pool_pre_ping": True}
    last: Exception | None = None
    for attempt in range(8):
        try:
            storage = RDBStorage(url, engine_kwargs=kw)
            break
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as e:
            # locked, or the other worker won the race to create the schema: try again
            last = e
            time.sleep(0.25 * (attempt + 1))
        except (sqlalchemy.exc.ArgumentError, ImportError, ValueError) as e:
            raise UsageError(f"--storage {_redact(url)}: {e}") from None
    else:
        raise UsageError(f"--storage {_redact(url)}: cannot open ({last})")
    if sqlite and ":memory:" not in url and url.rstrip("/") != "sqlite:":
        event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()  # pooled connections opened before the listener reconnect with it
    return storage


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


def _redact(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for messages
        return url


@dataclass(frozen=True)
class Worker:
    """Who evaluates a trial: stored on the trial so others can tell a dead owner."""

    host: str
    pid: int
    token: str

    @classmethod
    def current(cls) -> "Worker":
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex)

    def as_attr(self) -> dict:
        return {"host": self.host, "pid": self.pid, "token": self.token}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def is_abandoned(t: "FrozenTrial", me: Worker, now: float) -> bool:
    """Whether a RUNNING trial will never be finished by its owner.

    On the owner's own host this is exact: the owner's pid is gone (or it is our pid
    but not our token: a previous process that was killed and whose pid came back).
    Elsewhere only the heartbeat tells, after :data:`STALE_AFTER_S` of silence; a trial
    that never got an owner record is abandoned after :data:`OWNERLESS_AFTER_S`.
    """
    owner = t.user_attrs.get("owner")
    started = t.datetime_start.timestamp() if t.datetime_start else now
    if not isinstance(owner, dict):
        # A worker writes its owner record right after asking; a trial still without one
        # after a grace period lost its worker in between.
        return now - started > OWNERLESS_AFTER_S
    if owner.get("token") == me.token:
        return False
    if owner.get("host") == me.host:
        pid = int(owner.get("pid", -1))
        if pid == me.pid or not _pid_alive(pid):
            return True
    beat = t.user_attrs.get("heartbeat")
    if not isinstance(beat, (int, float)):
        beat = started
    return now - float(beat) > STALE_AFTER_S


class _Heartbeat:
    """Refreshes the ``heartbeat`` user attribute of a running trial from a side thread."""

    def __init__(self, trial: "optuna.Trial", interval: float = HEARTBEAT_S) -> None:
        self._trial = trial
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ripmap-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._trial.set_user_attr("heartbeat", time.time())
            except Exception:  # noqa: BLE001 - the trial was finished (e.g. failed as stale): stop beating
                return

    def __enter__(self) -> "_Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------------------------
# the search


@dataclass(frozen=True)
class _Setup:
    """What a study was created with; kept in the study so every worker and resume agrees."""

    strategy: str
    seed: int
    start: dict[str, float]
    grid: dict[str, list[float]] | None
    created: str


def _setup_study(study: "optuna.Study", strategy: str, seed: int, start: Params, budget: int) -> _Setup:
    attrs = study.user_attrs
    if "strategy" not in attrs:
        # Each attribute is its own commit and another worker may be reading: "strategy"
        # goes last and marks the setup complete (two workers starting together both
        # write the same values).
        grid = grid_axes(budget, start) if strategy == "grid" else None
        study.set_user_attr("seed", seed)
        study.set_user_attr("start", start.to_dict())
        study.set_user_attr("grid", grid)
        study.set_user_attr("created", time.strftime("%Y-%m-%d %H:%M"))
        study.set_user_attr("strategy", strategy)
        attrs = study.user_attrs
    if attrs["strategy"] != strategy:
        raise UsageError(f"study '{study.study_name}' was started with --strategy {attrs['strategy']}; "
                         f"resume it with the same strategy or pick another --run-name")
    if int(attrs["seed"]) != seed:
        _say(f"study '{study.study_name}' was started with --seed {attrs['seed']}; continuing with that seed")
    if dict(attrs["start"]) != start.to_dict():
        _say(f"study '{study.study_name}' keeps the start parameters it was created with")
    return _Setup(attrs["strategy"], int(attrs["seed"]), dict(attrs["start"]), attrs.get("grid"),
                  str(attrs.get("created", "")))


def _trials(study: "optuna.Study") -> list["FrozenTrial"]:
    return study.get_trials(deepcopy=False)


def _fail_abandoned(study: "optuna.Study", trials: Sequence["FrozenTrial"], me: Worker, grid: bool) -> bool:
    """Mark RUNNING trials of dead workers FAIL, so they neither count nor block the budget;
    True if any was.

    For the grid, the abandoned point is enqueued again: GridSampler treats a failed grid
    point as visited and would never come back to it.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    now = time.time()
    changed = False
    for t in trials:
        if t.state == TrialState.RUNNING and is_abandoned(t, me, now):
            try:
                study.tell(t.number, state=TrialState.FAIL)
            except (ValueError, UpdateFinishedTrialError):
                continue  # another worker finished or failed it first: that one re-queues
            changed = True
            if grid and t.params and not t.user_attrs.get(START_ATTR):
                study.enqueue_trial(dict(t.params))
    return changed


def _ensure_start(study: "optuna.Study", start: dict[str, float], grid: Mapping[str, list[float]] | None) -> None:
    """Queue the start point unless the study already has a live or finished one.

    A start trial whose worker was killed is FAIL by now, so it is queued again: every
    study gets exactly one evaluation of the start point. (Two workers starting together on
    a fresh study may both queue it; the later copy is skipped when it is asked, see
    :func:`_claim`.)
    """
    from optuna.trial import TrialState

    for t in _trials(study):
        if t.user_attrs.get(START_ATTR) and t.state != TrialState.FAIL:
            return
    point = {k: start[k] for k in grid} if grid else dict(start)
    study.enqueue_trial(point, user_attrs={START_ATTR: True})


def _claim(study: "optuna.Study", trial: "optuna.Trial", budget: int) -> str | None:
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
    before = [t for t in _trials(study) if t.number < mine and t.state in live]
    if trial.user_attrs.get(START_ATTR) and any(t.user_attrs.get(START_ATTR) for t in before):
        return "duplicate start trial (queued by two workers at once)"
    if len(before) >= budget:
        return "budget already claimed by other workers"
    return None


def _grid_remaining(trials: Sequence["FrozenTrial"], grid: Mapping[str, list[float]]) -> int:
    """Grid points no trial has taken yet (running, complete, or failed: GridSampler never
    returns to a failed point by itself, see :func:`_fail_abandoned`). Asking while this is
    zero would make GridSampler re-evaluate a point another worker is running."""
    taken = {t.system_attrs.get("grid_id") for t in trials} - {None}
    return math.prod(len(v) for v in grid.values()) - len(taken)


def _counts(trials: Sequence["FrozenTrial"]) -> tuple[int, int, int]:
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


def run_search(ev: "Evaluator", args, out_dir: str | Path, *, start: Params) -> Path:
    """Run (or resume, or join) a classical search; returns the run folder.

    The run folder is ``out_dir/<--run-name or STRATEGY-YYYYmmdd-HHMMSS>/``; the study
    lives in ``--storage`` or ``sqlite:///<run folder>/study.db`` under the run name. The
    objective is train NDCG@10 (see :class:`Score`); holdout NDCG@10 and per-repository
    values are stored on every trial as user attributes.

    Resuming: run the same command again. Complete trials are kept and count toward
    ``--budget``; a trial that was running when the process died is marked FAIL and
    ignored (its point is not lost for the start trial and the grid, which queue it again).
    A larger ``--budget`` extends a finished study.

    Several workers: start the same command, with the same ``--storage`` and
    ``--run-name``, as many times as you like, on one machine or many::

        ripmap-train --repo R --strategy tpe --budget 200 --storage sqlite:///shared.db --run-name s1
        ripmap-train --repo R --strategy tpe --budget 200 --storage postgresql://u@db/ripmap --run-name s1

    (SQLite needs a shared local filesystem; use a server database across machines.) Each
    worker asks the study for a trial only while fewer than ``budget`` trials are complete
    or running, and re-checks after asking (:func:`_claim`), so together they finish
    exactly ``budget`` complete trials: never more, and fewer only if a trial fails.
    Trials carry their worker's host, pid and a heartbeat; a trial whose worker died is
    failed by the others (at once on the same host, after :data:`STALE_AFTER_S` elsewhere).
    """
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    strategy = args.strategy
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy '{strategy}' (choose from {', '.join(STRATEGIES)})")
    budget = int(args.budget)
    if budget < 1:
        raise UsageError("--budget must be at least 1")
    name = getattr(args, "run_name", None) or f"{strategy}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(out_dir) / name
    run_dir.mkdir(parents=True, exist_ok=True)
    url = getattr(args, "storage", None) or f"sqlite:///{(run_dir / 'study.db').resolve()}"
    tty = sys.stderr.isatty()
    me = Worker.current()

    old_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    shown = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = open_storage(url)
            study = optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True)
            setup = _setup_study(study, strategy, int(getattr(args, "seed", 0) or 0), start, budget)
            start_p = Params(setup.start)
            grid = setup.grid
            study.sampler = make_sampler(strategy, setup.seed, start_p, grid)
            only = getattr(args, "search_params", None)
            space = search_space([x.strip() for x in only.split(",") if x.strip()] if only else None)
            if grid is not None:
                space = {k: v for k, v in space.items() if k in grid}
            _fail_abandoned(study, _trials(study), me, grid is not None)
            _ensure_start(study, setup.start, grid)
            meta = {"run": name, "kind": "search", "strategy": strategy, "created": setup.created,
                    "budget": budget, "seed": setup.seed,
                    "storage": _redact(url), "objective": "train ndcg@10", "grid": grid,
                    "cases": {"train": len(ev.train_cases), "holdout": len(ev.holdout_cases)}}
            last_plot = time.monotonic()
            while True:
                trials = _trials(study)
                if _fail_abandoned(study, trials, me, grid is not None):
                    trials = _trials(study)
                complete, running, waiting = _counts(trials)
                if complete >= budget:
                    break
                grid_taken = grid is not None and not waiting and _grid_remaining(trials, grid) == 0
                if grid_taken and not running:
                    break  # every grid point is evaluated: the grid is smaller than the budget
                if complete + running >= budget or grid_taken:
                    if tty:
                        _status(f"{name}: {complete}/{budget} complete, waiting for {running} running trial(s)")
                        shown = True
                    time.sleep(POLL_S)
                    continue
                trial = study.ask()
                # the owner first, so that a kill from here on is recognized at once
                trial.set_user_attr("owner", me.as_attr())
                why = _claim(study, trial, budget)
                if why:
                    trial.set_user_attr("skipped", why)
                    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                    continue
                for k, d in space.items():
                    trial.suggest_float(k, d.low, d.high, log=d.log)
                params = params_from_trial({**setup.start, **trial.params})
                with _Heartbeat(trial):
                    try:
                        s = score(ev, params)
                    except BaseException:
                        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                        raise
                try:
                    trial.set_user_attr("params", params.to_dict())
                    trial.set_user_attr("train_ndcg", s.train)
                    trial.set_user_attr("holdout_ndcg", s.holdout)
                    trial.set_user_attr("by_repo", s.by_repo)
                    counted = study.tell(trial, s.train, skip_if_finished=True).state == TrialState.COMPLETE
                except UpdateFinishedTrialError:
                    counted = False
                if not counted:  # e.g. this worker was suspended past STALE_AFTER_S
                    _say(f"trial {trial.number} was failed as abandoned by another worker; its result is not counted")
                trials = _trials(study)
                write_results(trials, run_dir, meta)
                if tty:
                    _status(_progress_line(name, trials, budget, trial.number, s))
                    shown = True
                if time.monotonic() - last_plot > PLOT_EVERY_S:
                    _plot_progress(trials, run_dir, name)
                    last_plot = time.monotonic()
            trials = _trials(study)
            write_results(trials, run_dir, meta)
            _plot_progress(trials, run_dir, name)
    finally:
        optuna.logging.set_verbosity(old_verbosity)
        if shown:
            sys.stderr.write("\n")
    best = _best(trials)
    if best is not None:
        ho = best.user_attrs.get("holdout_ndcg")
        _say(f"{name}: best train NDCG@10 {best.value:.4f} (trial {best.number})"
             + (f", holdout {ho:.4f}" if isinstance(ho, (int, float)) else "") + f"; results in {run_dir}")
    return run_dir


def _best(trials: Sequence["FrozenTrial"]) -> "FrozenTrial | None":
    from optuna.trial import TrialState

    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    # highest train NDCG; ties go to the earliest trial (the start point wins a tie)
    return max(done, key=lambda t: (t.value, -t.number)) if done else None


def trial_record(t: "FrozenTrial") -> dict:
    ua = t.user_attrs
    return {"number": t.number, "state": t.state.name, "params": ua.get("params") or dict(t.params),
            "train_ndcg": ua.get("train_ndcg"), "holdout_ndcg": ua.get("holdout_ndcg"),
            "by_repo": ua.get("by_repo"), "start": bool(ua.get(START_ATTR)),
            **({"note": ua["skipped"]} if ua.get("skipped") else {})}


def write_results(trials: Sequence["FrozenTrial"], run_dir: Path, meta: Mapping[str, Any]) -> None:
    """``results.json`` (every trial) and ``results.best.json`` = ``results.trained.json``
    (the best trial by train NDCG, with its holdout NDCG and the start point's).

    Written atomically: workers sharing a run folder overwrite each other's copy, never
    interleave into a torn file.
    """
    from optuna.trial import TrialState

    recs = [trial_record(t) for t in sorted(trials, key=lambda t: t.number)]
    complete = [r for r in recs if r["state"] == TrialState.COMPLETE.name]
    start = next((r for r in complete if r["start"]), None)
    _atomic_write(run_dir / "results.json", json.dumps({**meta, "complete": len(complete), "trials": recs}, indent=1))
    best = _best(trials)
    if best is not None:
        b = trial_record(best)
        out = {"run": meta.get("run"), "strategy": meta.get("strategy"), "number": b["number"],
               "train_ndcg": b["train_ndcg"], "holdout_ndcg": b["holdout_ndcg"], "by_repo": b["by_repo"],
               "start_train_ndcg": start["train_ndcg"] if start else None,
               "start_holdout_ndcg": start["holdout_ndcg"] if start else None,
               "params": b["params"]}
        text = json.dumps(out, indent=1)
        _atomic_write(run_dir / "results.best.json", text)
        # the name every run folder uses for its best point (L1 writes it too), so
        # ``--params RUN/results.trained.json`` works whatever produced the run
        _atomic_write(run_dir / "results.trained.json", text)


def _plot_progress(trials: Sequence["FrozenTrial"], run_dir: Path, name: str) -> None:
    from optuna.trial import TrialState

    from .plots import plot_search_progress

    recs = [trial_record(t) for t in sorted(trials, key=lambda t: t.number) if t.state == TrialState.COMPLETE]
    plot_search_progress(recs, run_dir / "progress.png", title=name)


def _progress_line(name: str, trials: Sequence["FrozenTrial"], budget: int, number: int, s: Score) -> str:
    from optuna.trial import TrialState

    complete = sum(1 for t in trials if t.state == TrialState.COMPLETE)
    best = _best(trials)
    line = f"{name}: trial {complete}/{budget} (#{number})  ndcg {s.train:.4f}"
    if best is not None:
        line += f"  best {best.value:.4f} (#{best.number})"
    if s.holdout is not None:
        line += f"  holdout {s.holdout:.4f}"
    return line


def _status(line: str) -> None:
    sys.stderr.write("\r\x1b[K" + line)
    sys.stderr.flush()


def _say(msg: str) -> None:
    print(f"ripmap-train: {msg}", file=sys.stderr)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# sensitivity


@dataclass(frozen=True)
class Neutral:
    value: float
    why: str


# The value that switches each mechanism off (or makes it treat every file alike), within
# the registry's bounds. Ablating a parameter means moving it here; the NDCG it loses is
# its importance. Multipliers are neutral at 1.0 ("no boost"); additive weights have no
# zero in their log range, so their low bound stands for "off".
NEUTRAL: Mapping[str, Neutral] = MappingProxyType({
    "pagerank_alpha": Neutral(0.5, "weakest propagation allowed: importance stays near the personalization"),
    "pagerank_chat_multiplier": Neutral(1.0, "chat files get (almost) no extra personalization weight"),
    "depth_weight_root": Neutral(1.0, "no depth prior: shallow files weigh like any other"),
    "depth_weight_moderate": Neutral(1.0, "no depth prior: mid-depth files weigh like any other"),
    "depth_weight_deep": Neutral(1.0, "no depth prior: deep files weigh like any other"),
    "depth_weight_vendor": Neutral(1.0, "vendored files weigh like any other"),
    "boost_mentioned_ident": Neutral(1.0, "no boost for files defining a mentioned identifier"),
    "boost_mentioned_file": Neutral(1.0, "no boost for mentioned files"),
    "boost_chat_file": Neutral(1.0, "no boost for chat files"),
    "boost_temporal_coupling": Neutral(0.01, "co-change evidence off (lowest additive weight)"),
    "boost_focus_expansion": Neutral(0.01, "focus evidence off (lowest additive weight)"),
    "git_recency_decay_days": Neutral(1.0, "shortest half-life: the recency boost reaches almost no file"),
    "git_recency_max_boost": Neutral(1.0, "no recency boost"),
    "git_churn_threshold": Neutral(200.0, "highest threshold: almost no file reaches the churn boost"),
    "git_churn_max_boost": Neutral(1.0, "no churn boost"),
    "focus_decay": Neutral(0.05, "focus evidence barely survives one hop"),
    "focus_max_hops": Neutral(0.0, "no focus expansion through the graph"),
    "weight_structure": Neutral(0.01, "PageRank evidence off (lowest additive weight)"),
    "boost_lexical": Neutral(0.01, "BM25 evidence off (lowest additive weight)"),
    "edge_weight_call": Neutral(1.0, "call references weigh like every other kind"),
    "edge_weight_type": Neutral(1.0, "type references weigh like every other kind"),
    "edge_weight_other": Neutral(1.0, "other references weigh like every other kind"),
    "import_resolution_bias": Neutral(1.0, "no preference for definitions in imported files"),
    "common_name_penalty": Neutral(0.0, "no penalty for names defined in many files"),
    "private_name_weight": Neutral(1.0, "private names count like public ones"),
    "hub_damping": Neutral(0.0, "no damping of high in-degree hubs"),
    "symbol_ref_weight": Neutral(0.0, "symbols are not lifted by incoming references (file ranking ignores it)"),
    "weight_generated": Neutral(1.0, "generated files weigh like any other"),
    "weight_fixture": Neutral(1.0, "fixtures and samples weigh like any other file"),
    "weight_stub": Neutral(1.0, "stub trees weigh like any other file"),
    "weight_docs": Neutral(1.0, "documentation weighs like code"),
    "weight_test": Neutral(1.0, "tests weigh like any other file"),
})

SWEEP_POINTS = 7
TOP_INTERACTIONS = 6


def neutral_for(spec: ParamSpec) -> Neutral:
    """The table entry, or for a parameter added to the registry since: 1.0 when that
    is inside its bounds (the "no boost" of a multiplier), else its low bound."""
    n = NEUTRAL.get(spec.name)
    if n is not None:
        return Neutral(spec.clamp(n.value), n.why)
    if spec.low <= 1.0 <= spec.high:
        return Neutral(1.0, "no table entry: 1.0 (no boost)")
    return Neutral(spec.low, "no table entry: low bound")


def sensitivity(ev: "Evaluator", base: Params, *, progress: Callable[[int, int], None] | None = None) -> dict:
    """Ablation, one-at-a-time sweeps and pairwise interactions around ``base``.

    * ablation: each parameter alone to its :data:`NEUTRAL` value; importance =
      base NDCG − ablated NDCG (positive: the mechanism helps on these cases);
    * sweeps: :data:`SWEEP_POINTS` evenly spaced positions of each parameter's own scale
      (log for multiplicative knobs), everything else at ``base``;
    * interactions among the :data:`TOP_INTERACTIONS` parameters with the largest
      |importance| (ties: the larger sweep range): effect(both ablated) − (effect(a) +
      effect(b)), where effect = ablated − base. Zero: the two act independently;
      negative: ablating both costs more than the two costs added (each covers for the
      other, so ablating one alone hides its worth); positive: ablating both costs less
      (each helps mainly together with the other).

    Deterministic: the evaluator is, and nothing here samples.
    """
    memo: dict[Params, float] = {}
    total = 1 + len(REGISTRY) * (1 + SWEEP_POINTS) + math.comb(TOP_INTERACTIONS, 2)
    done = [0]

    def f(p: Params) -> float:
        if p not in memo:
            memo[p] = objective(ev, p)
        done[0] += 1
        if progress:
            progress(min(done[0], total), total)
        return memo[p]

    base_score = score(ev, base)
    memo[base] = base_score.train
    b = base_score.train
    per: dict[str, dict] = {}
    for spec in REGISTRY:
        n = neutral_for(spec)
        ablated = base.replace(**{spec.name: n.value})
        abl = f(ablated)
        sweep = []
        for i in range(SWEEP_POINTS):
            u = i / (SWEEP_POINTS - 1)
            v = spec.clamp(spec.from_unit(u))
            sweep.append({"u": u, "value": v, "ndcg": f(base.replace(**{spec.name: v}))})
        per[spec.name] = {"base": base[spec.name], "neutral": n.value, "neutral_why": n.why,
                          "ablated_ndcg": abl, "importance": b - abl, "changed": n.value != base[spec.name],
                          "scale": spec.scale, "low": spec.low, "high": spec.high, "stage": spec.stage,
                          "sweep": sweep}
    for rec in per.values():
        ys = [pt["ndcg"] for pt in rec["sweep"]]
        rec["sweep_range"] = max(ys) - min(ys)
    # Ties in importance (typically at zero, when another mechanism covers for an ablated
    # one) go to the parameter whose sweep moves NDCG most: it matters somewhere in range.
    order = sorted(per, key=lambda k: (-abs(per[k]["importance"]), -per[k]["sweep_range"], k))
    top = [k for k in order if per[k]["changed"]][:TOP_INTERACTIONS]
    interactions = []
    for i, a in enumerate(top):
        for c in top[i + 1:]:
            both = f(base.replace(**{a: per[a]["neutral"], c: per[c]["neutral"]}))
            ea, ec, eb = per[a]["ablated_ndcg"] - b, per[c]["ablated_ndcg"] - b, both - b
            interactions.append({"a": a, "b": c, "effect_a": ea, "effect_b": ec, "effect_both": eb,
                                 "interaction": eb - (ea + ec)})
    if progress:
        progress(total, total)
    return {"objective": "train ndcg@10", "base": {"params": base.to_dict(), "train_ndcg": b,
                                                    "holdout_ndcg": base_score.holdout,
                                                    "by_repo": base_score.by_repo},
            "cases": {"train": len(ev.train_cases), "holdout": len(ev.holdout_cases)},
            "importance": {k: per[k]["importance"] for k in order}, "ranking": order,
            "params": per, "interactions": interactions, "evaluations": len(memo)}


def run_sensitivity(ev: "Evaluator", args, out_dir: str | Path, *, base: Params) -> Path:
    """Write ``sensitivity.json`` and ``sensitivity.png`` for ``base`` to the run folder
    (``out_dir/<--run-name or sensitivity-YYYYmmdd-HHMMSS>/``); returns the folder."""
    from .plots import plot_sensitivity

    name = getattr(args, "run_name", None) or f"sensitivity-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(out_dir) / name
    run_dir.mkdir(parents=True, exist_ok=True)
    tty = sys.stderr.isatty()

    def progress(i: int, n: int) -> None:
        if tty:
            _status(f"sensitivity: {i}/{n} evaluations")

    try:
        data = sensitivity(ev, base, progress=progress)
    finally:
        if tty:
            sys.stderr.write("\n")
    _atomic_write(run_dir / "sensitivity.json", json.dumps(data, indent=1))
    plot_sensitivity(data, run_dir / "sensitivity.png")
    top = ", ".join(f"{k} {data['importance'][k]:+.4f}" for k in data["ranking"][:5])
    _say(f"sensitivity: base train NDCG@10 {data['base']['train_ndcg']:.4f}; most important: {top}; "
         f"results in {run_dir}")
    return run_dir


__all__ = ["GRID_PRIORITY", "NEUTRAL", "STRATEGIES", "Neutral", "Score", "Worker", "grid_axes", "make_sampler",
           "neutral_for", "open_storage", "run_search", "run_sensitivity", "score", "sensitivity",
           "trial_record", "write_results"]
