"""Distillation: wisdom files, strict validation, and the gate on held-out repositories.

A run trains on the planted repository (``planted``); a second copy of it under another
name (``other``) is the held-out repository the gate judges on. With all three tasks the
defaults are not perfect there: full hub damping wins on message-only cases, so a preset
can beat the defaults with an interval above zero, and the defaults themselves cannot.
"""
from __future__ import annotations

import json

import pytest

from planted import make_planted_repo
from ripmap.errors import RipmapError, UsageError
from ripmap.presets import load_preset
from ripmap.rank.params import DEFAULT, Params
from ripmap.train.agents import AgentReply
from ripmap.train.cases.oracle import TASKS, mine_cases
from ripmap.train.cases.splits import hold_out
from ripmap.train.evaluation.comparison import compare
from ripmap.train.evaluation.evaluator import Evaluator
from ripmap.train.l1.scratchpad import Scratchpad
from ripmap.train.l1.strategy import L1Strategy
from ripmap.train.report.distill import DistillSettings, build_distill_prompt, distill_run, validate_wisdom
from ripmap.train.search.loop import LoopSettings, optimize
from ripmap.train.search.strategies import make_strategy

BAD = {"boost_temporal_coupling": 0.01, "boost_lexical": 0.01, "weight_structure": 50.0}
BETTER = {"hub_damping": 1.0}  # beats the defaults on the planted repository's message-only cases
# helps some held-out commits (message only), hurts others (a chat file: co-change weaker, no Jaccard term)
STRADDLE = {"hub_damping": 1.0, "boost_temporal_coupling": 12.0, "cochange_jaccard": 0.0}


class FakeAgent:
    name = "fake"

    def __init__(self, text: str, error: str | None = None) -> None:
        self.text, self.error = text, error
        self.contexts: list = []
        self.prompts: list[str] = []

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        self.prompts.append(prompt)
        self.contexts.append(context)
        return AgentReply(text=self.text, latency_s=0.0, error=self.error)


def reply_with(presets: dict) -> str:
    return "REASONING: r\nJSON: " + json.dumps({
        "presets": {k: {"description": "d", "when_to_use": "w", "params": v} for k, v in presets.items()},
        "heuristics": ["if x: y - z"], "warnings": ["⚠ w"], "intuitions": ["i"]})


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A short heuristic L1 run on ``planted``, an evaluator holding out ``other``, and the
    training repository's root."""
    base = tmp_path_factory.mktemp("planted")
    cache = tmp_path_factory.mktemp("cache")
    ev = Evaluator([mine_cases(make_planted_repo(base / "planted"), snapshot_back=8, holdout=0.3)], cache_dir=cache)
    out = tmp_path_factory.mktemp("runs")
    optimize(L1Strategy(), ev, LoopSettings(out_dir=out, budget=3, run_name="d1", start=DEFAULT))
    other = hold_out(mine_cases(make_planted_repo(base / "other"), snapshot_back=8, tasks=TASKS))
    judge = Evaluator([other], cache_dir=cache)
    return ev, judge, out, base / "planted"


@pytest.fixture
def preset_dir(tmp_path, monkeypatch):
    d = tmp_path / "presets"
    monkeypatch.setenv("RIPMAP_PRESET_DIR", str(d))
    return d


def test_the_gate_accepts_only_an_interval_above_zero(setup, preset_dir):
    _ev, judge, out, _root = setup
    agent = FakeAgent(reply_with({"better": BETTER, "same": {}, "structure_heavy": BAD}))
    text = distill_run(out, "d1", DistillSettings(), evaluator=judge, agent=agent)
    w = json.loads((out / "d1" / "wisdom.json").read_text())
    v = {k: p["validation"] for k, p in w["presets"].items()}
    # accepted: the whole interval of the improvement over the defaults is above zero
    assert v["better"]["accepted"] is True and v["better"]["delta_ci95"][0] > 0
    assert w["presets"]["better"]["installed_as"] == "d1-better"
    assert load_preset("d1-better").params == Params(BETTER)
    assert "ripmap --preset d1-better" in text
    # the defaults themselves: the interval is [0, 0], which includes zero: rejected with the figures
    assert v["same"]["accepted"] is False and v["same"]["delta_ci95"][0] <= 0 <= v["same"]["delta_ci95"][1]
    assert w["presets"]["same"]["installed_as"] is None and not (preset_dir / "d1-same.json").exists()
    assert v["structure_heavy"]["accepted"] is False and v["structure_heavy"]["delta_ci95"][1] < 0
    assert "rejected" in v["structure_heavy"]["decision"] and "rejected" in text
    # the figures are those of the held-out repository, measured independently here
    c = compare(judge, judge.cases, DEFAULT, Params(BETTER))
    assert v["better"]["preset_ndcg"] == pytest.approx(c.best) and v["better"]["default_ndcg"] == pytest.approx(c.default)
    assert v["better"]["repos"]["other"]["n"] == len(judge.cases) and set(v["better"]["repos"]) == {"other"}
    assert v["better"]["judged_on"] == "held-out repositories"
    assert w["heuristics"] == ["if x: y - z"] and w["warnings"] == ["⚠ w"]
    md = (out / "d1" / "wisdom.md").read_text()
    assert md.startswith("# Wisdom distilled from run `d1`") and "On held-out repositories" in md


def test_a_preset_whose_interval_straddles_zero_is_rejected(setup, preset_dir):
    """Better on some held-out commits and worse on others: the interval covers zero, so the
    gate cannot tell it from the defaults and does not install it."""
    _ev, judge, out, _root = setup
    c = compare(judge, judge.cases, DEFAULT, Params(STRADDLE))
    assert c.delta_ci95[0] < 0 < c.delta_ci95[1]  # the premise: the figures alone cannot decide
    distill_run(out, "d1", DistillSettings(), evaluator=judge, agent=FakeAgent(reply_with({"mixed": STRADDLE})))
    w = json.loads((out / "d1" / "wisdom.json").read_text())
    v = w["presets"]["mixed"]["validation"]
    assert v["accepted"] is False and v["delta_ci95"] == pytest.approx(list(c.delta_ci95))
    assert w["presets"]["mixed"]["installed_as"] is None and not (preset_dir / "d1-mixed.json").exists()


def test_distill_without_held_out_repositories_installs_nothing(setup, preset_dir, tmp_path):
    ev, _judge, out, _root = setup
    target = tmp_path / "w" / "wisdom.json"
    text = distill_run(out, "d1", DistillSettings(output=str(target)), evaluator=None)
    assert "not installed" in text and "--holdout-repo" in text
    assert target.is_file() and target.with_suffix(".md").is_file()
    assert all(p["installed_as"] is None for p in json.loads(target.read_text())["presets"].values())
    # the training repository's own newest commits are no held-out repository: nothing is judged on them
    text = distill_run(out, "d1", DistillSettings(output=str(target)), evaluator=ev,
                       agent=FakeAgent(reply_with({"better": BETTER})))
    assert "no held-out repositories" in text
    assert not preset_dir.exists() or not list(preset_dir.iterdir())


def test_the_gate_refuses_a_repository_the_run_trained_on(setup, tmp_path):
    """What chose the run's points (its training repository) never also judges its presets."""
    _ev, _judge, out, root = setup
    trained = Evaluator([hold_out(mine_cases(root, snapshot_back=8))],
                        cache_dir=tmp_path / "cache")
    agent = FakeAgent(reply_with({}))
    with pytest.raises(UsageError, match="trained on planted"):
        distill_run(out, "d1", DistillSettings(), evaluator=trained, agent=agent)
    assert agent.prompts == []  # refused before the distiller is asked


def test_a_classical_search_can_be_distilled(setup, preset_dir):
    ev, judge, out, _root = setup
    optimize(make_strategy("random"), ev, LoopSettings(out_dir=out, budget=3, run_name="s1", seed=2,
                                                       start=DEFAULT.replace(**BAD)))
    agent = FakeAgent(reply_with({"better": BETTER}))
    text = distill_run(out, "s1", DistillSettings(), evaluator=judge, agent=agent)
    w = json.loads((out / "s1" / "wisdom.json").read_text())
    assert w["kind"] == "search" and w["episodes"] == 2
    assert w["presets"]["better"]["installed_as"] == "s1-better", text
    assert agent.contexts[0]["kind"] == "search" and len(agent.contexts[0]["best_points"]) == 3
    assert "a random search" in agent.prompts[0] and "## Best points" in agent.prompts[0]
    # the heuristic distiller reads a search run too
    distill_run(out, "s1", DistillSettings(), evaluator=judge)
    assert json.loads((out / "s1" / "wisdom.json").read_text())["presets"]


def test_invalid_presets_and_lists_are_recorded_not_coerced():
    v = validate_wisdom({
        "presets": {"Bad Name": {"params": {}}, "oob": {"params": {"pagerank_alpha": 5.0}},
                    "unknown": {"params": {"warp_factor": 9.0}}, "typed": {"params": {"pagerank_alpha": "0.8"}},
                    "ok": {"description": "d", "params": {"pagerank_alpha": 0.8}}},
        "heuristics": "not a list", "warnings": [1, 2], "intuitions": ["fine"]})
    assert list(v.params) == ["ok"] and v.params["ok"].pagerank_alpha == 0.8
    reasons = {r["preset"]: r["reason"] for r in v.rejected}
    assert set(reasons) == {"Bad Name", "oob", "unknown", "typed"}
    assert "outside its bounds" in reasons["oob"] and "warp_factor" in reasons["unknown"]
    assert v.wisdom.heuristics == [] and v.wisdom.warnings == [] and v.wisdom.intuitions == ["fine"]
    assert len(v.issues) == 2


def test_distill_prompt_and_context(setup):
    _ev, _judge, out, _root = setup
    sp = Scratchpad.load(out / "d1")
    prompt = build_distill_prompt(sp)
    assert "## Best points" in prompt and "## Distillation_schema" in prompt and "pagerank_alpha" in prompt
    agent = FakeAgent("", error="boom")
    with pytest.raises(RipmapError, match="boom"):
        distill_run(out, "d1", DistillSettings(), evaluator=None, agent=agent)
    ctx = agent.contexts[0]
    assert ctx["task"] == "distill" and ctx["episodes"] and ctx["best_points"][0]["train_ndcg"] is not None
    with pytest.raises(RipmapError, match="unusable"):
        distill_run(out, "d1", DistillSettings(), evaluator=None, agent=FakeAgent("no json at all"))
    # the prompt and the reply are kept in the run folder
    assert (out / "d1" / "prompts" / "distill.md").read_text() == prompt
    assert (out / "d1" / "prompts" / "distill.reply.md").read_text() == "no json at all"


def test_distill_unknown_run(tmp_path):
    with pytest.raises(UsageError, match="no run 'nope'"):
        distill_run(tmp_path, "nope", DistillSettings(), evaluator=None)
