"""L1 loop: protocol injection, reply parsing, step sizes, the loop's records, resume and replay.

The loop runs on the planted repository (module files that always change together, plus
central decoys every module imports). A scripted fake agent covers every way a reply can
be malformed; the real offline ``heuristic`` agent must repair a deliberately bad start.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planted import make_planted_repo
from ripmap.errors import RipmapError, UsageError
from ripmap.rank.params import DEFAULT, NAMES, SPECS, Params
from ripmap.train.agents import AgentReply, AgentSettings, make_agent
from ripmap.train.cases.oracle import mine_cases
from ripmap.train.evaluation.evaluator import Evaluator
from ripmap.train.l1.episode import Episode, StartPoint
from ripmap.train.l1.prompt import PromptState, agent_context, build_prompt
from ripmap.train.l1.promptgram import load_promptgram, parse_promptgram
from ripmap.train.l1.protocol import protocol_text
from ripmap.train.l1.reply import parse_reply, split_reply
from ripmap.train.l1.scratchpad import BestPoint
from ripmap.train.l1.step import apply_changes, step_value
from ripmap.train.l1.strategy import L1Settings, L1Strategy
from ripmap.train.search.loop import LoopSettings, RunResult, optimize

# Co-change and lexical weights low, structure high: the central decoys (core/util.py,
# core/log.py) outrank the module mates that always change with the seed file.
# bad for co-change on every count: its weight low and the Jaccard term off
BAD = {"boost_temporal_coupling": 0.5, "boost_lexical": 0.5, "weight_structure": 2.0, "cochange_jaccard": 0.0}


class FakeAgent:
    """Replies from a script, in order; remembers every prompt and context it was given."""

    name = "fake"

    def __init__(self, script: list) -> None:
        self.script = list(script)
        self.prompts: list[str] = []
        self.contexts: list[dict | None] = []

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        self.prompts.append(prompt)
        self.contexts.append(context)
        item = self.script.pop(0) if self.script else '{"proposed_changes": {}, "confidence": 0.9}'
        return item if isinstance(item, AgentReply) else AgentReply(text=item, latency_s=0.01)


def reply(changes: dict, confidence=0.9, reasoning: str = "short", **extra) -> str:
    body = {"strategy_capsule": "test", "diagnosis": "d", "proposed_changes": changes, **extra}
    if confidence is not None:
        body["confidence"] = confidence
    return f"REASONING: {reasoning}\nJSON: {json.dumps(body)}"


def run_l1(ev: Evaluator, out: Path, *, start: Params = DEFAULT, agent=None, episodes: int = 3,
           run_name: str | None = None, replay: str | None = None, base_url: str | None = None) -> RunResult:
    """An L1 run of ``episodes`` episodes through the one loop (budget: the start point + one trial each)."""
    strategy = L1Strategy(L1Settings(agent=AgentSettings(base_url=base_url), replay=replay), agent=agent)
    return optimize(strategy, ev, LoopSettings(out_dir=out, budget=episodes + 1, start=start, run_name=run_name))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = make_planted_repo(tmp_path_factory.mktemp("planted") / "repo")
    mined = mine_cases(root, snapshot_back=8, holdout=0.3, name="planted")
    ev = Evaluator([mined], cache_dir=tmp_path_factory.mktemp("cache"), failure_threshold=0.9)
    return root, ev


def episodes_of(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "scratchpad.json").read_text())["episodes"]


# -- magnitudes ---------------------------------------------------------------------------

def test_log_parameter_steps_are_multiplicative():
    s = SPECS["boost_lexical"]  # log, [0.01, 100]
    assert s.scale == "log"
    got = {(d, m): step_value(s, 4.0, d, m) for d in ("increase", "decrease") for m in ("small", "medium", "large")}
    assert got == pytest.approx({("increase", "small"): 4.4, ("increase", "medium"): 5.2, ("increase", "large"): 8.0,
                                 ("decrease", "small"): 3.6, ("decrease", "medium"): 2.8, ("decrease", "large"): 2.0})


def test_linear_parameter_steps_are_fractions_of_the_range():
    s = SPECS["pagerank_alpha"]  # linear, [0.5, 0.98]: range 0.48
    assert s.scale == "linear"
    assert step_value(s, 0.7, "increase", "small") == pytest.approx(0.724)
    assert step_value(s, 0.7, "increase", "medium") == pytest.approx(0.772)
    assert step_value(s, 0.7, "increase", "large") == pytest.approx(0.844)
    assert step_value(s, 0.7, "decrease", "small") == pytest.approx(0.676)
    assert step_value(s, 0.7, "decrease", "medium") == pytest.approx(0.628)
    assert step_value(s, 0.7, "decrease", "large") == pytest.approx(0.556)


def test_steps_clamp_to_bounds_and_large_decrease_never_zeroes():
    assert step_value(SPECS["pagerank_alpha"], 0.9, "increase", "large") == 0.98
    assert step_value(SPECS["pagerank_alpha"], 0.55, "decrease", "large") == 0.5
    assert step_value(SPECS["boost_lexical"], 80.0, "increase", "large") == 100.0
    for name in NAMES:
        spec = SPECS[name]
        v = spec.default
        for _ in range(60):
            v = step_value(spec, v, "decrease", "large")
            assert spec.low <= v <= spec.high
        assert v == spec.low
        if spec.scale == "log" or spec.low > 0:
            assert v > 0, name


def test_apply_changes_respects_confidence_and_bounds():
    start = DEFAULT.replace(boost_lexical=4.0, hub_damping=0.0)  # hub_damping at its lower bound
    parsed = parse_reply(reply({"boost_lexical": ["increase", "large", "r"],
                                "hub_damping": ["decrease", "small", "already at 0"]}))
    low = apply_changes(start, parsed.changes, confidence=0.1, min_confidence=0.3)
    assert low.params == start and not low.applied
    assert all("below --min-confidence" in r.reason for r in low.rejected)
    none = apply_changes(start, parsed.changes, confidence=None, min_confidence=0.3)
    assert none.params == start and "missing" in none.rejected[0].reason
    ok = apply_changes(start, parsed.changes, confidence=0.9, min_confidence=0.3)
    assert ok.params.boost_lexical == 8.0
    assert ok.applied["boost_lexical"].to_dict() == {"from": 4.0, "to": 8.0, "direction": "increase",
                                                     "magnitude": "large", "rationale": "r"}
    assert [r.param for r in ok.rejected] == ["hub_damping"]  # at its lower bound: nothing to apply


# -- parsing ------------------------------------------------------------------------------

def test_split_reply_finds_json_in_every_supported_shape():
    body = '{"proposed_changes": {"boost_lexical": ["increase", "small", "a {brace} in a string"]}, "confidence": 0.5}'
    r, d, e = split_reply(f"REASONING: why\nJSON: {body}")
    assert (r, e) == ("why", None) and d["confidence"] == 0.5
    r, d, e = split_reply(f"**REASONING:** why\n\n**JSON:**\n```json\n{body}\n```")
    assert r == "why" and d["proposed_changes"]["boost_lexical"][2] == "a {brace} in a string"
    r, d, e = split_reply(f"Some thoughts.\n```json\n{body}\n```\nDone.")
    assert r == "Some thoughts." and d is not None
    r, d, e = split_reply(f"thinking about {{x}} and then {body} trailing")
    assert d is not None and d["confidence"] == 0.5
    assert split_reply("JSON: {\"a\": 1,}")[2].startswith("invalid JSON")
    assert split_reply("nothing here")[1:] == (None, "no JSON object found in the reply")
    assert "not an object" in split_reply("JSON: [1, 2]")[2] or split_reply("JSON: [1, 2]")[1] is None


def test_parse_reply_rejects_instead_of_coercing():
    p = parse_reply(reply({"boost_lexical": ["Increase", "small", "r"], "weight_structure": ["decrease", "huge", "r"],
                           "pagerank_alpha": ["up", "small", "r"], "boost_lexcal": ["increase", "small", "r"],
                           "focus_decay": "increase", "hub_damping": ["increase", "small"],
                           "edge_weight_call": ["increase", 0.3, "r"], "boost_temporal_coupling": ["increase", "large", "ok"]},
                          confidence="0.8", param_interactions="not a list"))
    assert [c.param for c in p.changes] == ["boost_temporal_coupling"]
    reasons = {r.param: r.reason for r in p.rejected}
    assert set(reasons) == {"boost_lexical", "weight_structure", "pagerank_alpha", "boost_lexcal", "focus_decay",
                            "hub_damping", "edge_weight_call"}
    assert "did you mean 'boost_lexical'" in reasons["boost_lexcal"]
    assert "huge" in reasons["weight_structure"] and "'up'" in reasons["pagerank_alpha"]
    assert p.confidence is None and any(e.startswith("confidence") for e in p.errors)
    assert any(e.startswith("param_interactions") for e in p.errors)
    assert parse_reply(reply({}, confidence=True)).confidence is None
    assert parse_reply(reply({}, confidence=1.5)).confidence is None
    assert parse_reply(reply({}, confidence=1)).confidence == 1.0


# -- protocol and promptgram --------------------------------------------------------------

def _state(params: Params = DEFAULT, history: tuple = ()) -> PromptState:
    return PromptState(episode=len(history) + 1, episodes_total=3, params=params, ndcg=0.5,
                       best=BestPoint(0, 0.5, 0.4321, params.to_dict()), n_train=10, n_failing=4,
                       failure_threshold=0.5, failures=(), history=history,
                       start=StartPoint(params.to_dict(), 0.5, 0.4321))


def test_the_prompt_shows_no_validation_figure():
    """The validation split selects the final point: an agent that read its score would steer
    by it. Neither the state, the trajectory nor the structured context carries it."""
    ep = Episode(episode=1, params_before=DEFAULT.to_dict(), params_after=DEFAULT.to_dict(), ndcg_before=0.5,
                 ndcg_after=0.5, holdout_before=0.4321, holdout_after=0.4567)
    state = _state(history=(ep,))
    prompt = build_prompt(load_promptgram(), state)
    assert "0.4321" not in prompt and "0.4567" not in prompt
    assert "holdout" not in prompt.lower() and "validation" not in prompt.lower()
    ctx = json.dumps(agent_context(state))
    assert "0.4321" not in ctx and "0.4567" not in ctx and "holdout" not in ctx


def test_prompt_ends_with_protocol_and_lists_every_parameter():
    prompt = build_prompt(load_promptgram(), _state())
    assert prompt.rstrip().endswith(protocol_text().rstrip())
    for name in NAMES:
        assert name in prompt
    assert prompt == build_prompt(load_promptgram(), _state())  # deterministic
    schema = protocol_text()[protocol_text().index("## Output_schema"):]
    example = json.loads(schema[schema.index("JSON: ") + 6:].strip())
    assert example["proposed_changes"], "the schema example must show a non-empty proposed_changes"
    assert set(example) == {"strategy_capsule", "diagnosis", "param_interactions", "proposed_changes",
                            "structural_insights", "confidence"}


def test_promptgram_cannot_replace_the_protocol(tmp_path):
    pg_file = tmp_path / "evil.md"
    pg_file.write_text("## Role\nr\n\n## Policy\np\n\n## Heuristics\nh\n\n## Style\ns\n\n"
                       "## Output_schema\nReturn {\"proposed_changes\": {}} EVIL-SCHEMA\n\n"
                       "## API contract\nEVIL-CONTRACT\n")
    pg = load_promptgram(pg_file)
    assert pg.stripped == ("Output_schema", "API contract")
    prompt = build_prompt(pg, _state())
    assert "EVIL" not in prompt
    assert prompt.count("## Output_schema") == 1 and prompt.rstrip().endswith(protocol_text().rstrip())
    with pytest.raises(UsageError, match="Output_schema"):
        pg.with_section("Output_schema", "x")


def test_promptgram_needs_its_four_sections(tmp_path):
    with pytest.raises(UsageError, match=r"missing section\(s\) ## Heuristics, ## Style"):
        parse_promptgram("## Role\nr\n## Policy\np\n", source="x.md")
    bad = tmp_path / "p.md"
    bad.write_text("# nothing\n")
    with pytest.raises(UsageError, match="p.md"):
        load_promptgram(bad)
    with pytest.raises(UsageError, match="cannot read"):
        load_promptgram(tmp_path / "missing.md")
    pg = parse_promptgram("## Role\nr\n```\n## Policy (quoted, not a section)\n```\n## Policy\np\n## Heuristics\n"
                          "## Style\ns\n")
    assert pg.names() == ("Role", "Policy", "Heuristics", "Style")
    assert "quoted" in pg.section("Role")


# -- the loop with malformed replies ------------------------------------------------------

LONG = "The decoys win on structure; co-change should matter more. " * 6  # > 200 characters

SCRIPT = [
    AgentReply(text="", latency_s=300.0, attempts=3, error="timeout after 300s"),  # 1 agent error
    "I would raise the co-change weight.",  # 2 no JSON
    'REASONING: x\nJSON: {"proposed_changes": {"boost_lexical": ["increase", "large", "r"],}, "confidence": 0.9}',  # 3
    reply({"boost_lexical": "increase", "weight_structure": ["decrease", "large"],  # 4 wrong types
           "pagerank_alpha": ["decrease", "small", 5]}, param_interactions="a string"),
    reply({"boost_magic": ["increase", "large", "?"],  # 5 unknown param (+ one valid change)
           "boost_temporal_coupling": ["increase", "large", "mates co-change"]}),
    reply({"boost_lexical": ["increase", "huge", "r"]}),  # 6 magnitude word out of range
    reply({"boost_lexical": ["up", "small", "r"]}),  # 7 bad direction
    reply({}, reasoning=LONG),  # 8 empty changes, long reasoning: schema corruption
    reply({"weight_structure": ["decrease", "large", "r"]}, confidence=0.1),  # 9 below threshold
    reply({"weight_structure": ["decrease", "large", "r"]}, confidence=None),  # 10 missing
    "```json\n" + json.dumps({"proposed_changes": {"weight_structure": ["decrease", "large", "r"]},
                              "confidence": 0.8, "param_interactions": ["ws vs tc ratio"]}) + "\n```",  # 11 fenced
]


@pytest.fixture(scope="module")
def malformed_run(planted, tmp_path_factory):
    _root, ev = planted
    out = tmp_path_factory.mktemp("runs")
    agent = FakeAgent(SCRIPT)
    res = run_l1(ev, out, episodes=len(SCRIPT), run_name="bad", base_url="http://user:s3cr3t@example.org:8000/v1",
                 start=Params(BAD), agent=agent)
    return ev, out, res, agent


def test_every_malformed_reply_is_recorded_and_survived(malformed_run):
    _ev, out, res, agent = malformed_run
    eps = episodes_of(out / "bad")
    assert [e["episode"] for e in eps] == list(range(1, len(SCRIPT) + 1)) and res.complete == len(SCRIPT) + 1
    by = {e["episode"]: e for e in eps}
    for e in eps:
        Params(e["params_after"])  # always inside the bounds
        for k in ("timestamp", "duration_s", "params_before", "ndcg_before", "ndcg_after", "holdout_before",
                  "holdout_after", "failures_shown", "failures", "prompt_sha256", "raw_reply", "proposal",
                  "applied", "rejected", "confidence", "agent", "latency_s", "attempts", "tokens", "flags"):
            assert k in e, k
        assert len(e["failures_shown"]) <= 5
    assert "agent_error" in by[1]["flags"] and by[1]["params_after"] == by[1]["params_before"]
    assert by[1]["error"] == "timeout after 300s" and by[1]["attempts"] == 3
    assert by[2]["parse_errors"] == ["no JSON object found in the reply"] and not by[2]["applied"]
    assert by[3]["parse_errors"][0].startswith("invalid JSON") and not by[3]["applied"]
    assert {r["param"] for r in by[4]["rejected"]} == {"boost_lexical", "weight_structure", "pagerank_alpha"}
    assert any("param_interactions" in x for x in by[4]["parse_errors"])
    assert [r["param"] for r in by[5]["rejected"]] == ["boost_magic"]
    assert "unknown parameter" in by[5]["rejected"][0]["reason"]
    assert by[5]["applied"]["boost_temporal_coupling"]["to"] == 1.0
    assert "huge" in by[6]["rejected"][0]["reason"] and not by[6]["applied"]
    assert "'up'" in by[7]["rejected"][0]["reason"] and not by[7]["applied"]
    assert "schema_corruption" in by[8]["flags"] and "schema_corruption" not in by[5]["flags"]
    assert "low_confidence" in by[9]["flags"] and not by[9]["applied"]
    assert "below --min-confidence" in by[9]["rejected"][0]["reason"]
    assert by[10]["confidence"] is None and "low_confidence" in by[10]["flags"] and not by[10]["applied"]
    assert any("confidence missing" in x for x in by[10]["parse_errors"])
    assert by[11]["applied"]["weight_structure"]["to"] == 1.0
    # the agent saw its rejected changes in the next prompt
    assert "boost_magic: unknown parameter" in agent.prompts[5]
    sp = json.loads((out / "bad" / "scratchpad.json").read_text())
    assert "ws vs tc ratio" in sp["param_interactions"]
    assert any("boost_temporal_coupling" in s for s in sp["success_patterns"] + sp["failure_patterns"])


def test_run_folder_files(malformed_run):
    import optuna

    _ev, out, res, agent = malformed_run
    run = out / "bad"
    for f in ("scratchpad.json", "results.json", "results.trained.json", "progress.png", "config.json",
              "promptgram.md", "study.db"):
        assert (run / f).is_file(), f
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["episodes"] == len(SCRIPT) and cfg["repos"][0]["name"] == "planted"
    assert "s3cr3t" not in (run / "config.json").read_text()
    trained = json.loads((run / "results.trained.json").read_text())
    assert trained["train_ndcg"] == pytest.approx(res.best_train) and Params.from_dict(trained) == res.best_params
    assert res.best_train >= res.start_train
    results = json.loads((run / "results.json").read_text())
    assert len(results["episodes"]) == len(SCRIPT)
    study = optuna.load_study(study_name="bad", storage=f"sqlite:///{run / 'study.db'}")
    trials = study.get_trials()
    starts = [t for t in trials if t.user_attrs.get("ripmap_start")]
    assert len(starts) == 1 and starts[0].number == 0 and starts[0].value == pytest.approx(res.start_train)
    episodes = [t for t in trials if not t.user_attrs.get("ripmap_start")]
    assert sorted(t.user_attrs["episode"] for t in episodes) == list(range(1, len(SCRIPT) + 1))
    assert episodes[0].user_attrs["agent"] == "fake" and "strategy_capsule" in episodes[0].user_attrs
    assert [t["episode"] for t in results["trials"] if not t["start"]] == list(range(1, len(SCRIPT) + 1))
    # the exact prompt of every episode is kept, and it is the one whose hash the episode records
    for e in episodes_of(run):
        text = (run / "prompts" / f"episode_{e['episode']:03d}.md").read_text()
        assert hashlib.sha256(text.encode()).hexdigest() == e["prompt_sha256"]
    # agent context for computing agents
    ctx = agent.contexts[1]
    assert set(ctx) >= {"params", "bounds", "ndcg", "best_ndcg", "episode", "trajectory", "failures"}
    assert ctx["bounds"]["pagerank_alpha"] == [0.5, 0.98, "linear"] and ctx["episode"] == 2


def test_replay_reproduces_the_run_exactly(malformed_run):
    ev, out, _res, _agent = malformed_run
    run_l1(ev, out, replay="bad", run_name="bad-replay", episodes=99, start=DEFAULT)
    a, b = episodes_of(out / "bad"), episodes_of(out / "bad-replay")
    keys = ("episode", "params_before", "params_after", "ndcg_before", "ndcg_after", "holdout_after", "raw_reply",
            "applied", "rejected", "flags", "prompt_sha256", "confidence")
    assert [{k: e[k] for k in keys} for e in a] == [{k: e[k] for k in keys} for e in b]
    with pytest.raises(UsageError):
        run_l1(ev, out, replay="no-such-run", run_name="z", start=DEFAULT)


def test_existing_run_needs_resume(malformed_run):
    ev, out, _res, _agent = malformed_run
    with pytest.raises(UsageError, match="--resume"):
        run_l1(ev, out, run_name="bad", start=DEFAULT, agent=FakeAgent([]))


def test_basin_lock_in_is_flagged(planted, tmp_path):
    _root, ev = planted
    agent = FakeAgent([reply({})] * 6)
    run_l1(ev, tmp_path, episodes=6, run_name="lock", start=Params(BAD), agent=agent)
    flags = [e["flags"] for e in episodes_of(tmp_path / "lock")]
    assert ["basin_lock_in" in f for f in flags] == [False, False, False, False, True, True]
    assert "basin lock-in" in agent.prompts[5]


def test_heuristic_agent_repairs_a_bad_start(planted, tmp_path):
    _root, ev = planted
    res = run_l1(ev, tmp_path, episodes=5, run_name="heur", start=Params(BAD), agent=make_agent("heuristic"))
    assert res.best_train > res.start_train + 0.05
    assert res.best.episode <= 5


# -- resume after a kill ------------------------------------------------------------------

def test_resume_after_sigkill(planted, tmp_path):
    root, _ev = planted
    params = tmp_path / "bad.json"
    params.write_text(json.dumps(BAD))
    out, cache = tmp_path / "runs", tmp_path / "cache"
    cmd = [sys.executable, "-m", "ripmap.train.cli", "--repo", str(root), "--reason", "--episodes", "4",
           "--run-name", "x", "--cache-dir", str(cache), "--out", str(out), "--snapshot-back", "8",
           "--failure-threshold", "0.9", "--params", str(params)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sp = out / "x" / "scratchpad.json"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    killed_at = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if sp.is_file():
            try:
                n = len(json.loads(sp.read_text())["episodes"])
            except (ValueError, OSError):
                n = 0  # never happens with atomic writes, but do not let the test depend on it
            if n >= 1:
                proc.send_signal(signal.SIGKILL)
                killed_at = n
                break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert killed_at is not None, f"run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    assert killed_at < 4, "the run finished before the kill; the test did not exercise a resume"
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    eps = episodes_of(out / "x")
    assert [e["episode"] for e in eps] == [1, 2, 3, 4]
    for a, b in zip(eps, eps[1:]):
        assert b["params_before"] == a["params_after"] and b["ndcg_before"] == pytest.approx(a["ndcg_after"])
    assert len(json.loads((out / "x" / "results.json").read_text())["episodes"]) == 4
    import optuna

    trials = optuna.load_study(study_name="x", storage=f"sqlite:///{out / 'x' / 'study.db'}").get_trials()
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs["episode"] for t in done if not t.user_attrs.get("ripmap_start")) == [1, 2, 3, 4]
    assert sum(bool(t.user_attrs.get("ripmap_start")) for t in done) == 1
    assert not list((out / "x").glob(".*.tmp"))
    cfg = json.loads((out / "x" / "config.json").read_text())
    assert len(cfg["resumed"]) == 1 and not math.isnan(eps[-1]["ndcg_after"])


def test_replay_of_unknown_prompt_raises(planted, tmp_path):
    _root, ev = planted
    run_l1(ev, tmp_path, episodes=1, run_name="one", start=Params(BAD), agent=FakeAgent([reply({})]))
    with pytest.raises(RipmapError, match="replay"):
        # a different start point sends a different prompt: the store has no reply for it
        (tmp_path / "one" / "scratchpad.json").write_text(
            (tmp_path / "one" / "scratchpad.json").read_text().replace('"weight_structure": 2.0', '"weight_structure": 3.0', 1))
        run_l1(ev, tmp_path, replay="one", run_name="two", start=DEFAULT)
