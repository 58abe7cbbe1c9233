"""The outer loop end to end: files, protocol last, refusals, --dry, resume after kill -9, the judgement.

L1 and L2 run on the planted repository (module files that always change together, plus
central decoys), with a second planted history held out. The LLM agents are fake
``claude`` (L1) and ``gemini`` (L2) executables first on PATH: the argument-checking fakes
of ``test_agents.py`` (they exit 3 on a wrong, missing or dangerous flag and answer on
stdout as the real CLIs do), with the reply computed from the prompt by a small
responder module.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from planted import make_planted_repo
from ripmap.train.agents.directives import directives_of
from ripmap.train.l1.promptgram import default_promptgram_text, parse_promptgram
from ripmap.train.l1.protocol import protocol_text
from ripmap.train.outer_cli import main
from test_agents import FAKE_CLAUDE, FAKE_COMMON, FAKE_GEMINI

BAD = {"boost_temporal_coupling": 0.5, "boost_lexical": 0.5, "weight_structure": 2.0, "boost_lexical_chat": 0.5}
ADDED = "- directive: prefer boost_lexical increase"

RESPONDER_HOOK = r'''
import importlib.util


def reply_for(prompt):
    spec = importlib.util.spec_from_file_location("responder", os.environ["FAKE_RESPONDER"])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.respond(NAME, prompt)
'''

RESPONDER = r'''
import json, os, re

ADDED = "- directive: prefer boost_lexical increase"


def respond(name, prompt):
    log = os.environ["FAKE_PROMPTS"]
    n = len(os.listdir(log))
    with open(os.path.join(log, "%03d-%s.txt" % (n, name)), "w") as fh:
        fh.write(prompt)
    if name == "claude":  # L1: the protocol's reply format
        changes = {"boost_temporal_coupling": ["increase", "medium", "co-change is underweighted"]}
        if "directive: prefer boost_lexical increase" in prompt:
            changes["boost_lexical"] = ["increase", "small", "the promptgram prefers it"]
        body = {"strategy_capsule": "raise co-change", "diagnosis": "structure dominates", "param_interactions": [],
                "proposed_changes": changes, "structural_insights": [], "confidence": 0.8}
        return "REASONING: the co-change signal is underweighted.\nJSON: " + json.dumps(body)
    step = int(re.search(r"Outer step (\d+) of", prompt).group(1))
    if step == 1:
        edits = [{"section": "Heuristics", "edit_type": "add", "content": ADDED, "target": ""}]
    elif step == 2:
        edits = [{"section": "Output_schema", "edit_type": "replace", "target": "",
                  "content": "JSON: {\"proposed_changes\": {}}"}]
    else:
        return "The promptgram looks fine to me; I would not change anything."
    body = {"proposal": {"edits": edits}, "rationale": "step %d: lexical evidence" % step}
    return "Looking at the run.\n```json\n" + json.dumps(body) + "\n```\nThat is all."
'''


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    base = tmp_path_factory.mktemp("outer-repos")
    train = make_planted_repo(base / "planted")
    held = make_planted_repo(base / "heldout", rounds=7)
    bad = base / "bad.json"
    bad.write_text(json.dumps(BAD))
    return train, held, bad


def common(repos, cache: Path) -> list[str]:
    train, held, bad = repos
    return ["--repo", str(train), "--holdout-repo", str(held), "--snapshot-back", "8", "--failure-threshold", "0.9",
            "--params", str(bad), "--cache-dir", str(cache)]


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, src in (("claude", FAKE_CLAUDE), ("gemini", FAKE_GEMINI)):
        p = bindir / name
        p.write_text((FAKE_COMMON + RESPONDER_HOOK + src[len(FAKE_COMMON):]).format(name=name))
        p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (tmp_path / "responder.py").write_text(RESPONDER)
    prompts = tmp_path / "prompts-seen"
    prompts.mkdir()
    monkeypatch.setenv("PATH", os.pathsep.join([str(bindir), str(Path(sys.executable).parent),
                                                os.environ.get("PATH", "")]))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "argv.log"))
    monkeypatch.setenv("FAKE_RESPONDER", str(tmp_path / "responder.py"))
    monkeypatch.setenv("FAKE_PROMPTS", str(prompts))
    for var in ("FAKE_MODE", "FAKE_EXPECT_DANGEROUS", "FAKE_EXPECT_AGENTIC", "FAKE_EXPECT_MODEL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _between(text: str, start: str, end: str | None) -> str:
    a = text.index(start) + len(start)
    b = text.index(end, a) if end else len(text)
    return text[a:b].strip()


def test_outer_run_with_fake_llm_clis(repos, fakes, tmp_path, capsys):
    out = tmp_path / "training-outer"
    args = ["l2", "--steps-outer", "3", "--episodes-inner", "2", "--agent-outer", "gemini", "--agent-inner",
            "claude", "--out", str(out), *common(repos, tmp_path / "cache")]

    # --dry: both prompts, no agent called, nothing written
    assert main([*args, "--dry"]) == 0
    dry = capsys.readouterr().out
    assert not (fakes / "argv.log").exists() and not (out / "runs" / "l2").exists()
    dry_l1 = _between(dry, "===== L1 prompt (step 1, episode 1 of 2) =====", "===== L2 prompt")
    dry_l2 = _between(dry, "===== L2 prompt (step 1) =====", None)
    assert dry_l1.endswith(protocol_text().strip()) and "## L2_output_schema" in dry_l2
    assert "has not run yet" in dry_l2

    assert main(args) == 0
    run = out / "runs" / "l2"
    sp = json.loads((run / "outer_scratchpad.json").read_text())
    steps = sp["episodes"]
    assert [s["outer_step"] for s in steps] == [1, 2, 3] and sp["pending"] is None
    for s in steps:
        for key in ("promptgram", "parent", "final_params", "final_metrics", "strategy_capsules", "proposal",
                    "rationale", "refused", "diagnostics", "moved_params"):
            assert key in s
        inner = run / s["inner_run"]
        for f in ("scratchpad.json", "results.json", "results.trained.json", "config.json", "promptgram.md",
                  "replies.jsonl", "prompts/episode_001.md", "prompts/episode_002.reply.md", "progress.png"):
            assert (inner / f).is_file(), f"{inner / f} missing"
        assert json.loads((inner / "config.json").read_text())["agent"] == "claude"
    assert (run / "config.json").is_file() and (run / "outer_progress.png").stat().st_size > 0
    assert (run / "l2" / "prompts" / "step_001.md").is_file() and (run / "l2" / "replies.jsonl").is_file()

    # the dry run showed exactly the prompt the first episode then sent
    assert (run / "inner_runs" / "step_001" / "prompts" / "episode_001.md").read_text().strip() == dry_l1

    lib = out / "prompts" / "inner"
    assert (lib / "inner_v001.md").read_text() == default_promptgram_text()
    v2 = parse_promptgram((lib / "inner_v002.md").read_text())
    assert ADDED in v2.section("Heuristics").splitlines()
    meta = tomllib.loads((lib / "inner_v002.toml").read_text())
    assert meta["parent"] == "inner_v001" and meta["edits"][0]["content"] == ADDED
    assert [r["outer_step"] for r in meta["runs"]] == [2]
    assert sorted(p.name for p in lib.glob("inner_v*")) == ["inner_v001.md", "inner_v001.toml", "inner_v002.md",
                                                             "inner_v002.toml"]

    # step 2 ran inner_v002: the added line is in the prompt L1 received, the protocol still last
    assert [s["promptgram"] for s in steps][:2] == ["inner_v001", "inner_v002"]  # a new child runs next
    seen = sorted((fakes / "prompts-seen").glob("*-claude.txt"))
    step2 = (run / "inner_runs" / "step_002" / "prompts" / "episode_001.md").read_text()
    assert any(p.read_text() == step2 for p in seen)  # what the claude CLI really got
    assert ADDED in step2 and step2.rstrip().endswith(protocol_text().strip())
    assert step2.index(ADDED) < step2.index("## API_contract") < step2.index("## Output_schema")
    assert step2.count("## Output_schema") == 1
    applied = json.loads((run / "inner_runs" / "step_002" / "scratchpad.json").read_text())["episodes"][0]["applied"]
    assert "boost_lexical" in applied  # the edit steered L1

    # step 2: the schema-aimed edit is refused and recorded; step 3: a reply without JSON is refused
    s2, s3 = steps[1], steps[2]
    assert s2["child"] is None and s2["proposal"]["edits"] == []
    assert s2["refused"][0]["edit"]["section"] == "Output_schema" and "protocol" in s2["refused"][0]["reason"]
    assert s3["child"] is None and "no JSON" in s3["refused"][0]["reason"]
    assert steps[0]["child"] == "inner_v002" and steps[0]["proposal"]["edits"][0]["content"] == ADDED

    calls = [json.loads(line) for line in (fakes / "argv.log").read_text().splitlines()]
    assert sum("--print" in c for c in calls) == 6 and sum(c[:2] == ["-o", "text"] for c in calls) == 3

    # the views
    assert main(["--show", "l2", "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "inner_v001" in shown and "└── inner_v002" in shown and "L1 output protocol" in shown
    assert "held-out repositories" in shown
    assert main(["--list", "--out", str(out)]) == 0
    assert "l2" in capsys.readouterr().out


def test_outer_resume_after_sigkill_and_judgement(repos, tmp_path):
    """Killed mid-step with kill -9, resumed: no finished step is lost or redone, no version is
    written twice, and the best evolved promptgram beats inner_v001 on the held-out repository."""
    out = tmp_path / "training-outer"
    slow = ("import sys, time\n"
            "import ripmap.train.evaluation.evaluator as e\n"
            "_orig = e.Evaluator.evaluate\n"
            "def _slow(self, *a, **k):\n"
            "    time.sleep(float(sys.argv[1]))\n"
            "    return _orig(self, *a, **k)\n"
            "e.Evaluator.evaluate = _slow\n"
            "from ripmap.train.outer_cli import main\n"
            "raise SystemExit(main(sys.argv[2:]))\n")
    args = ["r", "--steps-outer", "4", "--episodes-inner", "2", "--out", str(out), *common(repos, tmp_path / "cache")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = out / "runs" / "r"
    proc = subprocess.Popen([sys.executable, "-c", slow, "0.15", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    killed = False
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            sp = json.loads((run / "outer_scratchpad.json").read_text())
            inner = json.loads((run / "inner_runs" / "step_002" / "scratchpad.json").read_text())
        except (OSError, ValueError):
            time.sleep(0.01)
            continue
        if len(sp["episodes"]) == 1 and inner["episodes"]:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert killed, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    before = json.loads((run / "outer_scratchpad.json").read_text())
    assert before["pending"]["outer_step"] == 2 and len(before["episodes"]) == 1

    again = subprocess.run([sys.executable, "-m", "ripmap.train.outer_cli", "r", "--resume", "--out", str(out),
                            "--cache-dir", str(tmp_path / "cache")],  # everything else comes from config.json
                           capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    sp = json.loads((run / "outer_scratchpad.json").read_text())
    assert [s["outer_step"] for s in sp["episodes"]] == [1, 2, 3, 4] and sp["pending"] is None
    assert sp["episodes"][0] == before["episodes"][0]  # the finished step is kept as it was
    inner2 = json.loads((run / "inner_runs" / "step_002" / "scratchpad.json").read_text())["episodes"]
    assert [e["episode"] for e in inner2] == [1, 2]  # the killed inner run continued, not restarted
    names = sorted(p.stem for p in (out / "prompts" / "inner").glob("inner_v*.md"))
    children = [s["child"] for s in sp["episodes"] if s["child"]]
    assert names == sorted({"inner_v001", *children}) and len(children) == len(set(children))
    cfg = json.loads((run / "config.json").read_text())
    assert len(cfg["resumed"]) == 1 and cfg["agent_outer"] == "heuristic"

    # the evolved promptgram changed what L1 did, and it wins on the held-out history
    j = sp["judge"]
    assert j["baseline"] == "inner_v001" and j["candidate"] != "inner_v001" and j["episodes"] == 2
    v1 = parse_promptgram((out / "prompts" / "inner" / "inner_v001.md").read_text())
    best = parse_promptgram((out / "prompts" / "inner" / f"{j['candidate']}.md").read_text())
    assert directives_of(dict(v1.sections)).empty and not directives_of(dict(best.sections)).empty
    assert j["best"] > j["default"] and j["delta_ci95"][0] > 0, j

    # installing it for ripmap-train --prompt NAME
    env2 = {**env, "RIPMAP_PROMPTGRAM_DIR": str(tmp_path / "installed")}
    inst = subprocess.run([sys.executable, "-m", "ripmap.train.outer_cli", "--install", "r", "--as", "evolved",
                           "--out", str(out)], capture_output=True, text=True, env=env2, timeout=120)
    assert inst.returncode == 0, inst.stderr
    assert (tmp_path / "installed" / "evolved.md").read_text() == \
        (out / "prompts" / "inner" / f"{j['candidate']}.md").read_text()


def test_bad_usage_is_one_line(tmp_path, capsys):
    assert main(["x", "--agent-outer", "nope", "--repo", str(tmp_path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--agent-outer" in err and "unknown agent" in err
    assert main(["--show", "missing", "--out", str(tmp_path)]) == 2
    assert "no outer run 'missing'" in capsys.readouterr().err
    assert main(["y", "--resume", "--out", str(tmp_path)]) == 2
    assert "--resume: no outer run 'y'" in capsys.readouterr().err


def test_two_promptgrams_drive_different_heuristic_l1_trajectories(repos, tmp_path):
    from ripmap.rank.params import Params
    from ripmap.train.agents import make_agent
    from ripmap.train.cases.oracle import mine_cases
    from ripmap.train.evaluation.evaluator import Evaluator
    from ripmap.train.l1.promptgram import load_promptgram
    from ripmap.train.l1.strategy import L1Settings, L1Strategy
    from ripmap.train.search.loop import LoopSettings, optimize

    train, _held, _bad = repos
    ev = Evaluator([mine_cases(train, snapshot_back=8, holdout=0.3, name="planted")], cache_dir=tmp_path / "cache",
                   failure_threshold=0.9)
    base = load_promptgram()
    steered = base.with_section("Heuristics", base.section("Heuristics") + "\n- directive: avoid boost_temporal_coupling"
                                "\n- directive: step large")
    runs = {}
    for name, pg in (("plain", base), ("steered", steered)):
        optimize(L1Strategy(L1Settings(), promptgram=pg, agent=make_agent("heuristic")), ev,
                 LoopSettings(out_dir=tmp_path, budget=4, start=Params(BAD), run_name=name))
        runs[name] = json.loads((tmp_path / name / "scratchpad.json").read_text())["episodes"]
    plain, steer = runs["plain"], runs["steered"]
    assert [e["params_after"] for e in plain] != [e["params_after"] for e in steer]
    assert any("boost_temporal_coupling" in e["applied"] for e in plain)
    assert not any("boost_temporal_coupling" in e["applied"] for e in steer)
    moves = [a for e in steer for a in e["applied"].values() if not a["rationale"].startswith("revert")]
    assert moves and all(a["magnitude"] == "large" for a in moves)


def test_reason_with_an_unknown_version_name_fails_before_mining(tmp_path, monkeypatch, capsys):
    from ripmap.train.cli import main as train_main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RIPMAP_PROMPTGRAM_DIR", str(tmp_path / "installed"))
    # not a git repository: mining would fail with another message
    assert train_main(["reason", "--repo", str(tmp_path), "--prompt", "inner_v042", "--run-name", "x",
                       "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no promptgram 'inner_v042'" in err
