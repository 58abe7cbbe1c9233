"""Views of the runs folder: --list, --show RUN, --show-insights [RUN]."""
from __future__ import annotations

import json

import pytest

from planted import make_planted_repo
from ripmap.errors import UsageError
from ripmap.rank.params import Params
from ripmap.train.agents import AgentReply
from ripmap.train.cases.oracle import mine_cases
from ripmap.train.evaluation.evaluator import Evaluator
from ripmap.train.l1.strategy import L1Strategy
from ripmap.train.report.views import list_runs, show_insights, show_run
from ripmap.train.search.loop import LoopSettings, optimize

INTERACTION = "weight_structure and boost_temporal_coupling only matter through their ratio"
INSIGHT = "co-change is the only signal separating module mates from shared utilities"


class FakeAgent:
    name = "fake"

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        return AgentReply(text=self.replies.pop(0), latency_s=0.0)


def reply(changes: dict, capsule: str) -> str:
    return "REASONING: r\nJSON: " + json.dumps({
        "strategy_capsule": capsule, "diagnosis": "d", "param_interactions": [INTERACTION],
        "proposed_changes": changes, "structural_insights": [INSIGHT], "confidence": 0.8})


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    root = make_planted_repo(tmp_path_factory.mktemp("planted") / "repo")
    ev = Evaluator([mine_cases(root, snapshot_back=8, holdout=0.3, name="planted")],
                   cache_dir=tmp_path_factory.mktemp("cache"), failure_threshold=0.9)
    out = tmp_path_factory.mktemp("runs")
    agent = FakeAgent([reply({"boost_temporal_coupling": ["increase", "large", "mates"]}, "Raise co-change " * 8),
                       reply({"weight_structure": ["decrease", "medium", "decoys"]}, "Lower structure")])
    optimize(L1Strategy(agent=agent), ev, LoopSettings(
        out_dir=out, budget=3, run_name="view-run",
        start=Params(boost_temporal_coupling=0.5, boost_lexical=0.5, weight_structure=2.0, cochange_jaccard=0.0)))
    # a classical search run (different results.json shape) and folders that are no run at all
    (out / "tpe1").mkdir()
    (out / "tpe1" / "results.json").write_text(json.dumps({"run": "tpe1", "strategy": "tpe", "complete": 2, "trials": [
        {"number": 0, "state": "COMPLETE", "params": {}, "train_ndcg": 0.5, "holdout_ndcg": 0.4, "start": True},
        {"number": 1, "state": "COMPLETE", "params": {}, "train_ndcg": 0.7, "holdout_ndcg": 0.6, "start": False}]}))
    (out / "junk").mkdir()
    (out / "broken").mkdir()
    (out / "broken" / "scratchpad.json").write_text("{not json")
    return out


def test_list_runs(out):
    text = list_runs(out)
    assert "view-run" in text and "l1 (fake)" in text and "2" in text
    assert "tpe1" in text and "0.5000 → 0.7000" in text
    assert "junk" not in text and "1 unreadable folder(s) skipped" in text
    assert list_runs(out / "nowhere").startswith("no runs in")


def test_list_runs_names_a_hybrid_search_as_hybrid(out, tmp_path):
    import shutil
    runs = tmp_path / "runs"
    shutil.copytree(out / "view-run", runs / "hyb")
    cfg = json.loads((runs / "hyb" / "config.json").read_text()) if (runs / "hyb" / "config.json").exists() else {}
    cfg.update(strategy="hybrid", agent="heuristic")
    (runs / "hyb" / "config.json").write_text(json.dumps(cfg))
    line = next(x for x in list_runs(runs).splitlines() if x.startswith("hyb"))
    assert "hybrid (heuristic)" in line and "l1" not in line


def test_show_run(out):
    text = show_run(out, "view-run")
    lines = text.splitlines()
    assert "view-run" in lines[0] and "2 episode(s)" in lines[0]
    rows = [ln for ln in lines if ln[:2] in ("1 ", "2 ")]
    assert len(rows) == 2
    assert "boost_temporal_coupling↑L" in rows[0] and "weight_structure↓M" in rows[1]
    assert "↑" in rows[0].split()[1] + rows[0].split()[2]  # train trend arrow
    assert "Raise co-change Raise" in rows[0] and "…" in rows[0]  # capsule cut to 60 characters
    assert INTERACTION[:40] in rows[0]
    # what the agent was shown: two episodes of five failures, none shown twice
    assert "failures shown: 10 (10 distinct); by repo planted 10; by task A 10; by kind " in text
    assert "tpe" in show_run(out, "tpe1")
    with pytest.raises(UsageError, match="no run 'nope'"):
        show_run(out, "nope")


def test_show_insights(out):
    one = show_insights(out, "view-run")
    assert INTERACTION in one and INSIGHT in one and "view-run: episodes 1, 2" in one
    everything = show_insights(out, None)
    assert INTERACTION in everything and "1 L1 run(s)" in everything
    with pytest.raises(UsageError):
        show_insights(out, "nope")
    with pytest.raises(UsageError, match="not an L1 run"):
        show_insights(out, "tpe1")
