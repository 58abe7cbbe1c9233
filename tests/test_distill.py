"""Distillation: wisdom files, strict validation, and the holdout gate before installing a preset."""
from __future__ import annotations

import json

import pytest

from planted import make_planted_repo
from ripmap.errors import RipmapError, UsageError
from ripmap.presets import load_preset
from ripmap.rank.params import DEFAULT, Params
from ripmap.train.agents import AgentReply
from ripmap.train.cases.oracle import mine_cases
from ripmap.train.evaluation.evaluator import Evaluator
from ripmap.train.l1.scratchpad import Scratchpad
from ripmap.train.l1.strategy import L1Strategy
from ripmap.train.report.distill import DistillSettings, build_distill_prompt, distill_run, validate_wisdom
from ripmap.train.search.loop import LoopSettings, optimize

BAD = {"boost_temporal_coupling": 0.01, "boost_lexical": 0.01, "weight_structure": 50.0}


class FakeAgent:
    name = "fake"

    def __init__(self, text: str, error: str | None = None) -> None:
        self.text, self.error = text, error
        self.contexts: list = []

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        self.contexts.append(context)
        return AgentReply(text=self.text, latency_s=0.0, error=self.error)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A short heuristic L1 run from the defaults (already good on the planted repo)."""
    root = make_planted_repo(tmp_path_factory.mktemp("planted") / "repo")
    ev = Evaluator([mine_cases(root, snapshot_back=8, holdout=0.3, name="planted")],
                   cache_dir=tmp_path_factory.mktemp("cache"))
    out = tmp_path_factory.mktemp("runs")
    optimize(L1Strategy(), ev, LoopSettings(out_dir=out, budget=3, run_name="d1", start=DEFAULT))
    return ev, out


@pytest.fixture
def preset_dir(tmp_path, monkeypatch):
    d = tmp_path / "presets"
    monkeypatch.setenv("RIPMAP_PRESET_DIR", str(d))
    return d


def test_distill_installs_a_preset_that_passes_holdout(setup, preset_dir):
    ev, out = setup
    text = distill_run(out, "d1", DistillSettings(), evaluator=ev)
    wisdom = json.loads((out / "d1" / "wisdom.json").read_text())
    assert (out / "d1" / "wisdom.md").read_text().startswith("# Wisdom distilled from run `d1`")
    installed = {n: p for n, p in wisdom["presets"].items() if p["installed_as"]}
    assert installed, text
    name, p = next(iter(installed.items()))
    assert p["installed_as"] == f"d1-{name}" and p["validation"]["accepted"] is True
    assert p["validation"]["holdout_ndcg"] >= p["validation"]["default_holdout_ndcg"] - 0.01
    assert (preset_dir / f"d1-{name}.json").is_file()
    assert load_preset(f"d1-{name}").params == Params(p["params"])
    assert f"ripmap --preset d1-{name}" in text


def test_distill_without_evaluator_writes_wisdom_but_installs_nothing(setup, preset_dir, tmp_path):
    _ev, out = setup
    target = tmp_path / "w" / "wisdom.json"
    text = distill_run(out, "d1", DistillSettings(output=str(target)), evaluator=None)
    assert "not installed" in text and "--repo" in text
    assert target.is_file() and target.with_suffix(".md").is_file()
    assert all(p["installed_as"] is None for p in json.loads(target.read_text())["presets"].values())
    assert not preset_dir.exists() or not list(preset_dir.iterdir())


def test_a_preset_worse_on_holdout_is_rejected_with_numbers(setup, preset_dir):
    ev, out = setup
    reply = "REASONING: r\nJSON: " + json.dumps({
        "presets": {"structure_heavy": {"description": "d", "when_to_use": "w", "params": BAD},
                    "fine": {"description": "defaults", "when_to_use": "always", "params": {}}},
        "heuristics": ["if x: y - z"], "warnings": ["⚠ w"], "intuitions": ["i"]})
    text = distill_run(out, "d1", DistillSettings(), evaluator=ev, agent=FakeAgent(reply))
    w = json.loads((out / "d1" / "wisdom.json").read_text())
    v = w["presets"]["structure_heavy"]["validation"]
    assert v["accepted"] is False and v["holdout_ndcg"] < v["default_holdout_ndcg"] - 0.01
    assert "rejected" in text and w["presets"]["structure_heavy"]["installed_as"] is None
    assert w["presets"]["fine"]["installed_as"] == "d1-fine"
    assert w["heuristics"] == ["if x: y - z"] and w["warnings"] == ["⚠ w"]


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
    _ev, out = setup
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


def test_distill_unknown_run(tmp_path):
    with pytest.raises(UsageError, match="no L1 run 'nope'"):
        distill_run(tmp_path, "nope", DistillSettings(), evaluator=None)
