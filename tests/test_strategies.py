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
    start = DEFAULT.replace(boost_temporal_coupling=0.05, boost_lexical=0.05, cochange_jaccard=0.0)
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


# -- seeds: one --seed, a different stream per strategy ---------------------------------------

def test_strategies_derive_different_seeds_from_one_seed():
    from ripmap.train.search.strategies.seeding import strategy_seed

    for seed in range(5):
        derived = {name: strategy_seed(seed, name) for name in STRATEGIES}
        assert len(set(derived.values())) == len(STRATEGIES), derived
    assert strategy_seed(0, "tpe") != strategy_seed(1, "tpe")
    assert strategy_seed(7, "random") == strategy_seed(7, "random")  # a function of (seed, name) only


def test_random_and_tpe_with_one_seed_draw_different_trials(ev, tmp_path):
    """TPE's first trials are random draws: with a shared seed they were random search's very points."""
    drawn = {}
    for name in ("random", "tpe"):
        optimize(make_strategy(name), ev, replace(settings(tmp_path, name), budget=3))
        drawn[name] = [json.dumps(t["params"], sort_keys=True) for t in complete(results(tmp_path / name))
                       if not t["start"]]
    assert len(drawn["random"]) == len(drawn["tpe"]) == 2
    assert not set(drawn["random"]) & set(drawn["tpe"])


# -- the hybrid: the agent steps from the incumbent, TPE takes the other turns ----------------

class StepAgent:
    """Always raises the co-change weight (the planted oracle's own signal), or proposes nothing."""

    name = "step"

    def __init__(self, move: bool = True) -> None:
        self.move = move
        self.calls = 0

    def propose(self, prompt: str, context: dict | None = None):
        from ripmap.train.agents.base import AgentReply

        self.calls += 1
        changes = {"boost_temporal_coupling": ["increase", "large", "co-change is the oracle"]} if self.move else {}
        body = {"strategy_capsule": "t", "diagnosis": "d", "proposed_changes": changes, "confidence": 0.9}
        return AgentReply(text=f"REASONING: test\nJSON: {json.dumps(body)}", latency_s=0.0)


def _trials(run: Path) -> list:
    import optuna

    study = optuna.load_study(study_name=run.name, storage=f"sqlite:///{run / 'study.db'}")
    return sorted((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: t.number)


def test_hybrid_agent_walks_its_trajectory_and_adopts_what_tpe_finds(ev, tmp_path):
    from ripmap.train.search.strategies.hybrid import Hybrid

    budget = 7
    res = optimize(Hybrid(agent=StepAgent()), ev, replace(settings(tmp_path, "hy"), budget=budget))
    assert res.complete == budget
    trials = _trials(tmp_path / "hy")
    assert len(trials) == budget and trials[0].user_attrs["proposer"] == "start"
    # the agent moves every time (its steps are never known points), so the turns alternate
    assert [t.user_attrs["proposer"] for t in trials[1:]] == ["l1", "tpe"] * 3
    episodes = {e["episode"]: e for e in json.loads((tmp_path / "hy" / "scratchpad.json").read_text())["episodes"]}
    assert len(episodes) == 3
    stood = [trials[0].user_attrs["train_ndcg"]]  # the train NDCG@10 of every point the trajectory stood on
    here = trials[0].user_attrs["params"]
    adopted = 0
    for i, t in enumerate(trials[1:], 1):
        if t.user_attrs["proposer"] != "l1":
            assert "episode" not in t.user_attrs  # a sampler's trial is no episode
            continue
        e = episodes[t.user_attrs["episode"]]
        best = max(trials[:i], key=lambda b: (b.user_attrs["train_ndcg"], -b.number))
        if best.user_attrs["train_ndcg"] > max(stood):  # TPE found a better point than the agent ever stood on
            assert e["params_before"] == best.user_attrs["params"]
            stood.append(best.user_attrs["train_ndcg"])
            adopted += 1
        else:  # the agent continues from where its last step left it
            assert e["params_before"] == here
        assert e["params_after"] == t.user_attrs["params"]
        assert e["params_after"]["boost_temporal_coupling"] > e["params_before"]["boost_temporal_coupling"]
        here = e["params_after"]
        stood.append(t.user_attrs["train_ndcg"])
    assert adopted >= 1
    points = [json.dumps(t.user_attrs["params"], sort_keys=True) for t in trials]
    assert len(set(points)) == budget


def test_hybrid_gives_the_agents_idle_turn_to_tpe(ev, tmp_path):
    agent = StepAgent(move=False)
    from ripmap.train.search.strategies.hybrid import Hybrid

    res = optimize(Hybrid(agent=agent), ev, replace(settings(tmp_path, "idle"), budget=5))
    trials = _trials(tmp_path / "idle")
    assert res.complete == 5 and agent.calls >= 2  # asked on its turns...
    # ...but its point is always one already evaluated: the trajectory stays there, no trial is spent on it
    assert [t.user_attrs["proposer"] for t in trials[1:]] == ["tpe"] * 4
    assert not json.loads((tmp_path / "idle" / "scratchpad.json").read_text())["episodes"]
    assert len({json.dumps(t.user_attrs["params"], sort_keys=True) for t in trials}) == 5


def test_search_command_runs_the_hybrid(tmp_path):
    from ripmap.train import cli

    commands, a = cli.parse(["search", "--strategy", "hybrid", "--repo", "r", "--budget", "5"])
    assert commands == ["search"] and a.strategy == "hybrid"
    assert make_strategy("hybrid").name == "hybrid" and make_strategy("cmaes").name == "cmaes"
