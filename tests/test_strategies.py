"""The Strategy contract: every strategy, classical or the L1 agent, runs through the one loop.

Each strategy runs a few trials on the planted repository and must leave the same run
folder behind (results.json with every trial and exactly one start trial, the best point
in results.trained.json, progress.png, config.json), and must resume: a run interrupted
in the middle of a trial is finished by running it again, without evaluating a finished
point twice, and a finished run run again does nothing. A new strategy is added to
:data:`FACTORIES` and inherits every check.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Callable

import pytest

pytest.importorskip("optuna")
pytest.importorskip("matplotlib")

from planted import make_planted_repo  # noqa: E402
from ripmap.rank.params import DEFAULT, Params  # noqa: E402
from ripmap.train.agents import make_agent  # noqa: E402
from ripmap.train.cases.oracle import mine_cases  # noqa: E402
from ripmap.train.evaluation.evaluator import Evaluator  # noqa: E402
from ripmap.train.l1.strategy import L1Strategy  # noqa: E402
from ripmap.train.search import loop  # noqa: E402
from ripmap.train.search.loop import LoopSettings, optimize  # noqa: E402
from ripmap.train.search.strategies import STRATEGIES, make_strategy  # noqa: E402
from ripmap.train.search.strategy import Strategy  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
BUDGET = 4  # the start point and three more: enough for a grid of three points

FACTORIES: dict[str, Callable[[], Strategy]] = {
    **{name: (lambda name=name: make_strategy(name)) for name in STRATEGIES},
    "l1": lambda: L1Strategy(agent=make_agent("heuristic")),
}


@pytest.fixture(scope="module")
def ev(tmp_path_factory) -> Evaluator:
    """Two commits' cases of the planted repository (one per split): a few ms a point."""
    root = tmp_path_factory.mktemp("strategies")
    mined = mine_cases(make_planted_repo(root / "repo"), snapshot_back=6, max_commits=300, holdout=0.3)
    keep = {next(c.commit for c in mined.cases if c.split == s) for s in ("train", "holdout")}
    return Evaluator([replace(mined, cases=[c for c in mined.cases if c.commit in keep])], cache_dir=root / "cache")


def settings(out: Path, name: str, *, resume: bool = False) -> LoopSettings:
    # a start point away from the defaults, so every strategy has somewhere to go
    start = DEFAULT.replace(boost_temporal_coupling=0.05, boost_lexical=0.05)
    return LoopSettings(out_dir=out, budget=BUDGET, start=start, run_name=name, seed=3, resume=resume)


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def complete(data: dict) -> list[dict]:
    return [t for t in data["trials"] if t["state"] == "COMPLETE"]


def test_every_strategy_is_one_strategy():
    made = {name: f() for name, f in FACTORIES.items()}
    assert all(isinstance(s, Strategy) for s in made.values())
    assert {s.name for s in made.values()} == set(FACTORIES)  # the name results.json and the study use


@pytest.mark.parametrize("name", list(FACTORIES))
def test_strategy_writes_the_run_folder_and_resumes(ev, tmp_path, monkeypatch, name):
    out = tmp_path / "runs"
    # interrupt the third evaluation, as a Ctrl-C in the middle of a trial would
    calls = {"n": 0}
    real = loop.measure

    def interrupting(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(loop, "measure", interrupting)
    with pytest.raises(KeyboardInterrupt):
        optimize(FACTORIES[name](), ev, settings(out, name))
    run = out / name
    first = complete(results(run))
    assert len(first) == 2  # both finished trials are on disk before the interruption

    res = optimize(FACTORIES[name](), ev, settings(out, name, resume=True))
    data = results(run)
    done = complete(data)
    assert data["strategy"] == name and data["kind"] == ("l1" if name == "l1" else "search")
    assert len(done) == BUDGET == data["complete"] == res.complete
    assert res.new_trials == BUDGET - 2
    assert done[:2] == first  # finished trials are kept as they were, never evaluated again
    assert [t["start"] for t in done].count(True) == 1 and done[0]["start"]
    start = settings(out, name).start
    assert Params(done[0]["params"]) == start and data["start"]["params"] == start.to_dict()
    points = [json.dumps(t["params"], sort_keys=True) for t in done]
    if name != "l1":  # the agent may keep the point (nothing applied); samplers propose new ones
        assert len(set(points)) == len(points)
    for t in done:
        Params(t["params"])  # inside the bounds
        assert isinstance(t["train_ndcg"], float) and isinstance(t["holdout_ndcg"], float)

    # the final point is selected by the validation split, train breaking ties
    best = max(done, key=lambda t: (t["holdout_ndcg"], t["train_ndcg"], -t["number"]))
    assert data["best"]["number"] == best["number"] and data["best"]["train"] == best["train_ndcg"]
    assert data["best"]["selected_by"] == "validation" and "test" not in data  # no held-out repository
    trained = json.loads((run / "results.trained.json").read_text())
    assert trained["params"] == best["params"] and trained["train_ndcg"] == best["train_ndcg"]
    assert (run / "progress.png").read_bytes().startswith(PNG)
    config = json.loads((run / "config.json").read_text())
    assert config["strategy"] == name and config["budget"] == BUDGET and len(config["resumed"]) == 1
    assert not list(run.glob(".*.tmp"))

    again = optimize(FACTORIES[name](), ev, settings(out, name, resume=True))
    assert again.new_trials == 0 and complete(results(run)) == done
