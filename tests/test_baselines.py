"""Classical baselines: every strategy, determinism, resume after a kill, shared workers, sensitivity.

All runs use the planted repository (a few commits, 18 cases), so a trial costs
milliseconds; the subprocess tests slow the evaluator down on purpose (see ``SLOW``) so a
kill lands mid-search and two workers really overlap.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

optuna = pytest.importorskip("optuna")
pytest.importorskip("matplotlib")

from planted import make_planted_repo  # noqa: E402
from slow_cli import SLOW  # noqa: E402
from ripmap.rank.params import DEFAULT, REGISTRY, SPECS, Params  # noqa: E402
from ripmap.train.cases.oracle import mine_cases  # noqa: E402
from ripmap.train.evaluation.evaluator import Evaluator  # noqa: E402
from ripmap.train.search import sensitivity, workers  # noqa: E402
from ripmap.train.search.loop import LoopSettings, optimize  # noqa: E402
from ripmap.train.search.strategies import STRATEGIES, make_strategy  # noqa: E402
from ripmap.train.search.strategies.grid import GRID_PRIORITY, grid_axes  # noqa: E402
from ripmap.train.search.study import setup_study  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"



@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("baselines")
    return make_planted_repo(root / "repo"), root / "cache"


@pytest.fixture(scope="module")
def ev(planted) -> Evaluator:
    # Building the evaluator here also materializes the snapshot worktree in the cache,
    # so the subprocess workers below reuse it instead of racing to create it.
    repo, cache = planted
    mined = mine_cases(repo, snapshot_back=6, max_commits=300, holdout=0.3)
    assert mined.cases
    return Evaluator([mined], cache_dir=cache)


@pytest.fixture(scope="module")
def small_ev(planted, ev) -> Evaluator:
    """Cases of two commits only (one per split), for the tests that evaluate hundreds of points."""
    repo, cache = planted
    mined = mine_cases(repo, snapshot_back=6, max_commits=300, holdout=0.3)
    keep = {next(c.commit for c in mined.cases if c.split == s) for s in ("train", "holdout")}
    return Evaluator([replace(mined, cases=[c for c in mined.cases if c.commit in keep])], cache_dir=cache)


def search(ev: Evaluator, out: Path, strategy: str, budget: int, run_name: str, seed: int = 0) -> Path:
    """A classical search through the one loop; returns its run folder."""
    res = optimize(make_strategy(strategy), ev, LoopSettings(out_dir=out, budget=budget, run_name=run_name,
                                                              seed=seed))
    return res.run_dir


def _results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def _complete(trials: list[dict]) -> list[dict]:
    return [t for t in trials if t["state"] == "COMPLETE"]


def _cli(planted, out: Path, *extra: str, delay: float = 0.0) -> list[str]:
    """The CLI command line. Tests that start workers also request ``ev``, which has already
    materialized the snapshot worktree: two workers materializing it at once race in git."""
    repo, cache = planted
    return [sys.executable, "-c", SLOW, str(delay), "--repo", str(repo), "--snapshot-back", "6",
            "--cache-dir", str(cache), "--out", str(out), *extra]


def _study_trials(url: str, name: str) -> list:
    """The study's trials, or [] while the study (or its database) does not exist yet."""
    try:
        return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    except Exception:  # noqa: BLE001 - not created yet / tables being created by the worker
        return []


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_runs_and_writes_outputs(ev, tmp_path, strategy):
    run = search(ev, tmp_path, strategy, 4, strategy)
    assert run == tmp_path / strategy
    data = _results(run)
    done = _complete(data["trials"])
    assert len(done) == 4 and data["complete"] == 4
    first = min(done, key=lambda t: t["number"])
    assert first["number"] == 0 and first["start"] and first["params"] == DEFAULT.to_dict()
    assert sum(t["start"] for t in done) == 1
    for t in done:
        assert 0.0 <= t["train_ndcg"] <= 1.0 and 0.0 <= t["holdout_ndcg"] <= 1.0
        assert set(t["by_repo"]["repo"]) == {"train", "holdout"}
        assert set(t["params"]) == set(SPECS)
    assert len({json.dumps(t["params"], sort_keys=True) for t in done}) == 4  # four distinct points
    best = json.loads((run / "results.best.json").read_text())
    final = max(done, key=lambda t: (t["holdout_ndcg"], t["train_ndcg"], -t["number"]))  # selected by validation
    assert best["number"] == final["number"] and best["train_ndcg"] == final["train_ndcg"]
    assert "holdout_ndcg" in best and set(best["params"]) == set(SPECS)
    assert json.loads((run / "results.trained.json").read_text()) == best
    assert Params.load(run / "results.best.json") == Params(best["params"])  # usable as --params
    png = (run / "progress.png").read_bytes()
    assert png.startswith(PNG) and len(png) > 1000
    assert (run / "study.db").exists()


def test_grid_varies_only_the_grid_parameters(ev, tmp_path):
    run = search(ev, tmp_path, "grid", 10, "g")
    data = _results(run)
    grid = data["grid"]
    assert 1 < len(grid) < len(REGISTRY)
    n_points = 1
    for v in grid.values():
        n_points *= len(v)
    assert n_points <= 9
    done = _complete(data["trials"])
    assert len(done) == 1 + n_points
    for t in done:
        moved = {k for k, v in t["params"].items() if v != DEFAULT[k]}
        assert moved <= set(grid)


@pytest.mark.parametrize("budget,points", [(1, 0), (2, 1), (4, 3), (10, 9), (50, 48), (100, 81)])
def test_grid_axes_fit_the_budget(budget, points):
    axes = grid_axes(budget, DEFAULT)
    n = 1
    for name, values in axes.items():
        spec = SPECS[name]
        assert all(spec.low <= v <= spec.high for v in values)
        assert len(set(values)) == len(values)
        n *= len(values)
    assert (n if axes else 0) == points
    assert list(axes) == list(GRID_PRIORITY[:len(axes)])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_same_seed_same_trials(small_ev, tmp_path, strategy):
    ev = small_ev
    runs = [search(ev, tmp_path, strategy, 5, f"{strategy}{i}", seed=7) for i in range(2)]
    a, b = ([(t["number"], t["params"], t["train_ndcg"], t["holdout_ndcg"]) for t in _results(r)["trials"]]
            for r in runs)
    assert a == b
    if strategy == "random":
        other = search(ev, tmp_path, "random", 5, "other", seed=8)
        c = [t["params"] for t in _results(other)["trials"]]
        assert c[0] == a[0][1]  # the start point is shared ...
        assert c[1:] != [t[1] for t in a[1:]]  # ... the samples are not


def test_resume_after_kill(planted, ev, tmp_path):
    out = tmp_path / "runs"
    url = f"sqlite:///{out / 'k' / 'study.db'}"
    argv = ("--strategy", "random", "--budget", "6", "--run-name", "k")
    p = subprocess.Popen(_cli(planted, out, *argv, delay=0.25), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    before: list = []
    try:
        while time.monotonic() < deadline:
            before = [t for t in _study_trials(url, "k") if t.state.name == "COMPLETE"]
            if len(before) >= 2 or p.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert p.returncode == -signal.SIGKILL, p.stderr.read().decode()
    killed = _study_trials(url, "k")
    kept = {t.number: t.params for t in killed if t.state.name == "COMPLETE"}
    assert 2 <= len(kept) < 6

    r = subprocess.run(_cli(planted, out, *argv), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    trials = _study_trials(url, "k")
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == 6
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    assert {n: p for n, p in ((t.number, t.params) for t in done) if n in kept} == kept  # kept, unchanged
    starts = [t for t in done if t.user_attrs.get("ripmap_start")]
    assert len(starts) == 1 and starts[0].user_attrs["params"] == DEFAULT.to_dict()
    data = _results(out / "k")
    assert data["complete"] == 6 and len(_complete(data["trials"])) == 6
    assert (out / "k" / "progress.png").read_bytes().startswith(PNG)


def test_two_workers_share_one_study(planted, ev, tmp_path):
    out = tmp_path / "runs"
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    argv = ("--strategy", "tpe", "--budget", "8", "--storage", url, "--run-name", "s1")
    procs = [subprocess.Popen(_cli(planted, out, *argv, delay=0.15), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n---\n".join(errs)
    trials = _study_trials(url, "s1")
    done = [t for t in trials if t.state.name == "COMPLETE"]
    # the design guarantees exactly the budget: a worker re-checks after asking (no overshoot)
    assert len(done) == 8
    assert sum(bool(t.user_attrs.get("ripmap_start")) for t in done) == 1
    owners = {t.user_attrs["owner"]["pid"] for t in done}
    assert owners == {p.pid for p in procs}  # both workers evaluated trials
    assert not (tmp_path / "runs" / "s1" / "study.db").exists()  # the shared storage was used
    assert _results(out / "s1")["complete"] == 8


def test_abandoned_trial_detection():
    from optuna.trial import FrozenTrial, TrialState

    me = workers.Worker.current()
    dead = subprocess.Popen(["true"])
    dead.wait()

    def running(owner: dict | None, beat: float | None) -> FrozenTrial:
        attrs = {}
        if owner is not None:
            attrs["owner"] = owner
        if beat is not None:
            attrs["heartbeat"] = beat
        return FrozenTrial(number=0, state=TrialState.RUNNING, value=None, datetime_start=datetime.now(),
                           datetime_complete=None, params={}, distributions={}, user_attrs=attrs,
                           system_attrs={}, intermediate_values={}, trial_id=0)

    now = time.time()
    assert not workers.is_abandoned(running(me.as_attr(), now - 1e6), me, now)  # my own trial
    assert workers.is_abandoned(running({"host": me.host, "pid": dead.pid, "token": "x"}, now), me, now)
    assert workers.is_abandoned(running({"host": me.host, "pid": me.pid, "token": "x"}, now), me, now)
    live = {"host": me.host, "pid": os.getppid(), "token": "x"}
    assert not workers.is_abandoned(running(live, now), me, now)
    remote = {"host": me.host + "-elsewhere", "pid": 1, "token": "x"}
    assert not workers.is_abandoned(running(remote, now - 5), me, now)
    assert workers.is_abandoned(running(remote, now - workers.STALE_AFTER_S - 1), me, now)
    assert not workers.is_abandoned(running(None, None), me, now)  # just asked, owner not yet written
    assert workers.is_abandoned(running(None, None), me, now + workers.OWNERLESS_AFTER_S + 1)


def test_resumed_study_rejects_another_strategy(ev, tmp_path):
    search(ev, tmp_path, "random", 2, "x")
    from ripmap.errors import UsageError

    with pytest.raises(UsageError, match="--strategy random"):
        search(ev, tmp_path, "tpe", 2, "x")


def test_neutral_table_is_within_bounds():
    assert set(sensitivity.NEUTRAL) <= set(SPECS)
    for name, n in sensitivity.NEUTRAL.items():
        spec = SPECS[name]
        assert spec.low <= n.value <= spec.high, name
        assert n.why
    for spec in REGISTRY:
        assert spec.low <= sensitivity.neutral_for(spec).value <= spec.high


def test_sensitivity_writes_json_and_png(small_ev, tmp_path):
    # At the defaults the planted repo is ranked perfectly and co-change and lexical evidence
    # cover for each other; with lexical evidence off, co-change alone carries the ranking.
    base = DEFAULT.replace(boost_lexical=0.01)
    run = sensitivity.run_sensitivity(small_ev, base, tmp_path, "sens")
    data = json.loads((run / "sensitivity.json").read_text())
    assert set(data["importance"]) == set(SPECS)
    mags = [abs(data["importance"][k]) for k in data["ranking"]]
    assert mags == sorted(mags, reverse=True)
    for name, rec in data["params"].items():
        assert len(rec["sweep"]) == sensitivity.SWEEP_POINTS
        assert rec["sweep"][0]["value"] == pytest.approx(SPECS[name].low)
        assert rec["sweep"][-1]["value"] == pytest.approx(SPECS[name].high)
        assert rec["importance"] == pytest.approx(data["base"]["train_ndcg"] - rec["ablated_ndcg"])
        if not rec["changed"]:
            assert rec["importance"] == 0.0
    assert data["importance"]["boost_temporal_coupling"] > 0
    assert data["ranking"][0] == "boost_temporal_coupling"
    assert 0 < len(data["interactions"]) <= 15
    for r in data["interactions"]:
        assert r["interaction"] == pytest.approx(r["effect_both"] - r["effect_a"] - r["effect_b"])
    assert (run / "sensitivity.png").read_bytes().startswith(PNG)


def test_study_setup_is_never_seen_half_written(tmp_path):
    """A second worker that finds "strategy" set reads the rest at once, so every other
    setup attribute must already be stored by then (each set_user_attr is a commit)."""
    import optuna

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="x", direction="maximize")
    seen: list[dict] = []
    real = study.set_user_attr

    def recording(key, value):
        real(key, value)
        seen.append(dict(study.user_attrs))

    study.set_user_attr = recording
    setup = setup_study(study, "tpe", 3, DEFAULT, None)
    assert setup.strategy == "tpe" and setup.seed == 3
    assert seen and all({"seed", "start", "grid", "created"} <= set(s) for s in seen if "strategy" in s)
    # a worker arriving later reads the same setup without writing
    again = setup_study(optuna.load_study(study_name="x", storage=f"sqlite:///{tmp_path / 's.db'}"),
                        "tpe", 3, DEFAULT, None)
    assert again == setup


def test_study_storage_takes_the_write_lock_when_a_transaction_begins(tmp_path):
    """A worker's transaction that reads first and writes later must not be refused when
    another worker committed in between: SQLite refuses such an upgrade at once, ignoring the
    busy timeout. So every transaction begins IMMEDIATE: even a read holds the write lock,
    and the other worker waits instead."""
    import sqlite3

    from ripmap.train.search.storage import open_storage

    db = tmp_path / "study.db"
    storage = open_storage(f"sqlite:///{db}")
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    with storage.engine.connect() as conn:
        with conn.begin():
            conn.exec_driver_sql("SELECT count(*) FROM studies").fetchall()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")  # released at the end of the transaction
    other.execute("ROLLBACK")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_a_study_storage_retries_when_another_worker_is_setting_it_up(tmp_path, monkeypatch):
    """Two workers starting together race to create the tables and record the schema
    version; Optuna reports a loss inside its own sessions as StorageInternalError. The
    opening worker tries again instead of dying."""
    import optuna.storages

    from ripmap.train.search import storage as storage_mod

    real = optuna.storages.RDBStorage
    calls = []

    def flaky(url, **kw):
        calls.append(url)
        if len(calls) == 1:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.")
        return real(url, **kw)

    monkeypatch.setattr(optuna.storages, "RDBStorage", flaky)
    monkeypatch.setattr(storage_mod.time, "sleep", lambda _s: None)
    st = storage_mod.open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    assert len(calls) == 2 and isinstance(st, real)
