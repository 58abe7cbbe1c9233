"""Whole repositories held out, clean validation, and runs that remember.

A run trains on the planted repository and holds out ``zeta``, a repository with its own
files, commits and name: none of it may reach an agent or a distiller, and it is evaluated
once, at the end, on the start and the final point (the ``test`` block). A run continued
later takes its settings from config.json and refuses contradicting ones. Two L1 workers
on one shared study keep every episode of both.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures_rank import commit, init_repo
from planted import make_planted_repo
from slow_cli import SLOW
from ripmap.rank.params import DEFAULT, Params
from ripmap.train.agents import HeuristicAgent
from ripmap.train.cases.oracle import mine_cases
from ripmap.train.cases.splits import TEST, hold_out, of_split
from ripmap.train.cli import main
from ripmap.train.evaluation.evaluator import Evaluator
from ripmap.train.l1.strategy import L1Strategy
from ripmap.train.report.distill import DistillSettings, build_distill_prompt, distill_run, load_run
from ripmap.train.search.loop import LoopSettings, optimize
from ripmap.train.search.strategies import make_strategy

optuna = pytest.importorskip("optuna")
pytest.importorskip("matplotlib")

BAD = {"boost_temporal_coupling": 0.05, "boost_lexical": 0.05, "weight_structure": 20.0}
MINE = ("--snapshot-back", "8")



def make_zeta_repo(root: Path) -> Path:
    """A small repository unlike the planted one: two pairs of files that change together."""
    init_repo(root, {
        "engine/zeta_motor.py": "from engine.zeta_gear import spin\n\n\ndef drive():\n    return spin()\n",
        "engine/zeta_gear.py": "def spin():\n    return 1\n",
        "store/zeta_vault.py": "from store.zeta_ledger import book\n\n\ndef keep():\n    return book()\n",
        "store/zeta_ledger.py": "def book():\n    return 2\n",
        "zeta_main.py": "from engine.zeta_motor import drive\nfrom store.zeta_vault import keep\n",
    })
    for day in range(1, 15):
        pair = ["engine/zeta_motor.py", "engine/zeta_gear.py"] if day % 2 else ["store/zeta_vault.py",
                                                                                 "store/zeta_ledger.py"]
        commit(root, day, pair, f"fix zeta {'engine' if day % 2 else 'store'} round {day}")
    return root


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("holdout")
    return make_planted_repo(base / "planted"), make_zeta_repo(base / "zeta"), base / "cache"


@pytest.fixture(scope="module")
def ev(repos) -> Evaluator:
    """Train on planted (newest 30% for validation), hold out zeta whole. Building it also
    materializes both snapshot worktrees, so CLI subprocesses never race to create them."""
    planted, zeta, cache = repos
    held = hold_out(mine_cases(zeta, snapshot_back=8))
    assert held.cases and {c.split for c in held.cases} == {TEST}
    return Evaluator([mine_cases(planted, snapshot_back=8, holdout=0.3), held], cache_dir=cache)


class Spy:
    """The heuristic agent, remembering every prompt and context it was given."""

    name = "spy"

    def __init__(self) -> None:
        self.inner = HeuristicAgent()
        self.prompts: list[str] = []
        self.contexts: list[dict] = []

    def propose(self, prompt: str, context: dict | None = None):
        self.prompts.append(prompt)
        self.contexts.append(context or {})
        return self.inner.propose(prompt, context)


def _zeta_marks(ev: Evaluator) -> set[str]:
    """What would give a held-out case away: the repository's name, its files, its commits."""
    cases = of_split(ev.cases, TEST)
    return ({"zeta"} | {c.commit[:10] for c in cases} | {c.seed_file for c in cases}
            | {e.path for c in cases for e in c.expected})


def test_a_held_out_repository_never_reaches_the_agent_and_is_tested_once_at_the_end(ev, tmp_path, monkeypatch):
    calls: list[set[str]] = []
    real = ev.evaluate

    def spying(params=None, cases=None, **k):
        cases = list(ev.cases if cases is None else cases)
        calls.append({c.split for c in cases})
        return real(params, cases, **k)

    monkeypatch.setattr(ev, "evaluate", spying)
    spy = Spy()
    res = optimize(L1Strategy(agent=spy), ev, LoopSettings(out_dir=tmp_path, budget=4, run_name="l",
                                                           start=DEFAULT.replace(**BAD)))
    run = tmp_path / "l"
    # test cases are evaluated only at the end, once for the start and once for the final point
    with_test = [i for i, splits in enumerate(calls) if TEST in splits]
    assert with_test == [len(calls) - 2, len(calls) - 1] and all(calls[i] == {TEST} for i in with_test)

    # nothing of zeta in any prompt kept in the run folder, nor in what the agent was given
    kept = sorted((run / "prompts").glob("episode_*.md"))
    kept = [p for p in kept if not p.name.endswith(".reply.md")]
    assert len(kept) == 3 and [p.read_text() for p in kept] == spy.prompts
    marks = _zeta_marks(ev)
    for text in [*spy.prompts, *(json.dumps(c) for c in spy.contexts)]:
        assert not [m for m in marks if m in text]
        assert "holdout" not in text.lower() and "validation" not in text.lower()

    data = json.loads((run / "results.json").read_text())
    test = data["test"]
    assert set(test) >= {"repos", "default", "best", "delta", "delta_ci95"}
    zeta_cases = of_split(ev.cases, TEST)
    assert set(test["repos"]) == {"zeta"} and test["repos"]["zeta"]["n"] == len(zeta_cases)
    start, final = Params(data["start"]["params"]), Params(json.loads((run / "results.trained.json").read_text())["params"])
    # the figures are the evaluator's own NDCG@10 of the start and the final point on zeta
    assert test["default"] == pytest.approx(real(start, zeta_cases, explain_failures=False).ndcg)
    assert test["best"] == pytest.approx(real(final, zeta_cases, explain_failures=False).ndcg)
    assert test["repos"]["zeta"]["default"] == pytest.approx(test["default"])
    assert test["delta"] == pytest.approx(test["best"] - test["default"])
    lo, hi = test["delta_ci95"]
    assert lo <= test["delta"] <= hi
    assert res.test == test and data["best"]["number"] == test["final_trial"]
    assert data["best"]["selected_by"] == "validation"

    # the distiller reads neither a test figure nor anything of zeta, and judges on zeta only
    agent = Spy()
    distill_run(tmp_path, "l", DistillSettings(), evaluator=ev, agent=agent)
    kept_prompt = (run / "prompts" / "distill.md").read_text()
    assert kept_prompt == agent.prompts[0]
    for text in (kept_prompt, json.dumps(agent.contexts[0])):
        assert not [m for m in marks if m in text] and "test" not in agent.contexts[0]
    wisdom = json.loads((run / "wisdom.json").read_text())
    assert all(set(p["validation"]["repos"]) == {"zeta"} for p in wisdom["presets"].values())


def test_a_search_run_distills_the_same_with_or_without_its_test_block(ev, tmp_path):
    optimize(make_strategy("random"), ev, LoopSettings(out_dir=tmp_path, budget=3, run_name="s", seed=1))
    run = tmp_path / "s"
    data = json.loads((run / "results.json").read_text())
    assert data["test"]["repos"]["zeta"]["n"] == len(of_split(ev.cases, TEST))
    with_test = build_distill_prompt(load_run(run))
    (run / "results.json").write_text(json.dumps({k: v for k, v in data.items() if k != "test"}))
    assert build_distill_prompt(load_run(run)) == with_test


@pytest.fixture
def cli(repos, ev, tmp_path, monkeypatch, capsys):
    """ripmap-train in-process, on the module's cache: (exit code, stdout, stderr)."""
    _planted, _zeta, cache = repos
    monkeypatch.setenv("RIPMAP_CACHE_DIR", str(tmp_path / "c"))
    out = tmp_path / "runs"

    def go(*argv: str) -> tuple[int, str, str]:
        try:
            where = [] if argv[0] == "eval" else ["--out", str(out)]
            code = main([*argv, *where, "--cache-dir", str(cache)])
        except SystemExit as e:
            code = int(e.code or 0)
        o, e = capsys.readouterr()
        return code, o, e

    go.out = out  # type: ignore[attr-defined]
    return go


def test_with_holdout_zero_nothing_is_called_holdout_or_validation(cli, repos):
    planted, zeta, _cache = repos
    code, _out, err = cli("search", "--repo", str(planted), "--holdout-repo", str(zeta), "--holdout", "0",
                          "--strategy", "random", "--budget", "3", "--run-name", "h0", *MINE)
    assert code == 0, err
    low = err.replace(str(cli.out), "RUNS").lower()  # the temp folder is named after this test
    assert "validation" not in low and "holdout" not in low
    assert "zeta (held out)" in err and "held-out repositories (test" in err and "selected by train" in err
    data = json.loads((cli.out / "h0" / "results.json").read_text())
    assert all(t["holdout_ndcg"] is None for t in data["trials"]) and data["best"]["selected_by"] == "train"
    assert data["cases"]["holdout"] == 0 and data["cases"]["test"] == data["test"]["n"] > 0
    cfg = json.loads((cli.out / "h0" / "config.json").read_text())
    rows = {r["name"]: r for r in cfg["repos"]}
    assert rows["zeta"]["held_out"] and not rows["planted"]["held_out"]
    assert rows["zeta"]["root"] == str(zeta.resolve()) and cfg["mining"]["holdout"] == 0.0
    code, out, err = cli("eval", "--repo", str(planted), "--holdout-repo", "zeta_missing_name", *MINE)
    assert code == 2 and err.count("\n") == 1 and "--holdout-repo zeta_missing_name" in err
    code, out, err = cli("eval", "--repo", str(planted), "--repo", str(zeta), "--holdout-repo", "zeta",
                         "--holdout", "0", *MINE)
    assert code == 0 and "  test " in out and "  train " in out and "holdout" not in out


def _one_line_refusal(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err


def test_a_search_resumes_from_its_config_and_refuses_other_repositories(cli, repos):
    planted, zeta, _cache = repos
    code, _o, err = cli("search", "--repo", str(planted), "--holdout-repo", str(zeta), "--strategy", "random",
                        "--budget", "2", "--run-name", "r", "--seed", "4", *MINE)
    assert code == 0, err
    # no --repo, no --strategy: the run's own (random, not the default tpe), with a larger budget
    code, _o, err = cli("search", "--run-name", "r", "--budget", "3")
    assert code == 0, err
    data = json.loads((cli.out / "r" / "results.json").read_text())
    assert data["complete"] == 3 and data["strategy"] == "random" and data["seed"] == 4
    assert set(data["test"]["repos"]) == {"zeta"}
    assert len(json.loads((cli.out / "r" / "config.json").read_text())["resumed"]) == 1
    # another repository list, zeta no longer held out, another strategy: refused before any mining
    _one_line_refusal(*cli("search", "--run-name", "r", "--repo", str(planted))[::2], "repositories", "zeta")
    _one_line_refusal(*cli("search", "--run-name", "r", "--repo", str(planted), "--repo", str(zeta))[::2],
                      "repositories")
    _one_line_refusal(*cli("search", "--run-name", "r", "--strategy", "tpe")[::2], "--strategy random")
    _one_line_refusal(*cli("search", "--run-name", "r", "--snapshot-back", "6")[::2], "--snapshot-back 8")
    # the history cases are ranked with is recorded (each case's own, the default) and kept
    assert json.loads((cli.out / "r" / "config.json").read_text())["history"] == "case"
    _one_line_refusal(*cli("search", "--run-name", "r", "--history", "snapshot")[::2], "--history case")
    assert json.loads((cli.out / "r" / "results.json").read_text())["complete"] == 3  # nothing was mixed in


def test_reason_resumes_without_repo_and_refuses_another_prompt_or_agent(cli, repos, tmp_path):
    planted, zeta, _cache = repos
    code, _o, err = cli("reason", "--repo", str(planted), "--run-name", "l", "--episodes", "1", *MINE)
    assert code == 0, err
    code, _o, err = cli("reason", "--run-name", "l", "--resume", "--episodes", "2")
    assert code == 0, err
    sp = json.loads((cli.out / "l" / "scratchpad.json").read_text())
    assert [e["episode"] for e in sp["episodes"]] == [1, 2]
    other = tmp_path / "other.md"
    other.write_text((cli.out / "l" / "promptgram.md").read_text().replace("## Style\n", "## Style\nBe terse.\n"))
    _one_line_refusal(*cli("reason", "--run-name", "l", "--resume", "--prompt", str(other))[::2], "promptgram")
    _one_line_refusal(*cli("reason", "--run-name", "l", "--resume", "--agent", "claude")[::2],
                      "--agent heuristic")
    _one_line_refusal(*cli("reason", "--run-name", "l", "--resume", "--repo", str(zeta))[::2], "repositories")
    _one_line_refusal(*cli("reason", "--run-name", "l", "--repo", str(planted), "--episodes", "3")[::2],
                      "--resume")
    # the same promptgram, given again, is no conflict
    code, _o, err = cli("reason", "--run-name", "l", "--resume", "--episodes", "3", "--prompt",
                        str(cli.out / "l" / "promptgram.md"))
    assert code == 0, err
    assert len(json.loads((cli.out / "l" / "scratchpad.json").read_text())["episodes"]) == 3


def test_two_l1_workers_on_one_study_keep_both_workers_episodes(repos, ev, tmp_path):
    """Two machines: each worker has its own run folder, the study is shared. Both folders
    end with every episode, numbered 1..N, each with the exact prompt it was sent."""
    planted, _zeta, cache = repos
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(BAD))
    outs = [tmp_path / "a", tmp_path / "b"]
    episodes = 8
    procs = [subprocess.Popen(
        [sys.executable, "-c", SLOW, "0.05", "reason", "--repo", str(planted), "--storage", url, "--run-name", "w",
         "--episodes", str(episodes), "--out", str(out), "--cache-dir", str(cache), "--params", str(bad), *MINE],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for out in outs]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n---\n".join(errs)
    study = optuna.load_study(study_name="w", storage=url)
    done = [t for t in study.get_trials() if t.state.name == "COMPLETE" and not t.user_attrs.get("ripmap_start")]
    assert len(done) == episodes
    owners = {t.number: t.user_attrs["owner"]["pid"] for t in done}
    assert set(owners.values()) == {p.pid for p in procs}  # both workers ran episodes
    for out in outs:
        eps = json.loads((out / "w" / "scratchpad.json").read_text())["episodes"]
        assert [e["episode"] for e in eps] == list(range(1, episodes + 1))
        assert sorted(e["trial"] for e in eps) == sorted(owners)  # every episode of both workers
        for e in eps:
            prompt = (out / "w" / "prompts" / f"episode_{e['episode']:03d}.md").read_text()
            assert hashlib.sha256(prompt.encode()).hexdigest() == e["prompt_sha256"]
        results = json.loads((out / "w" / "results.json").read_text())
        assert len(results["episodes"]) == episodes
    a, b = (json.loads((out / "w" / "scratchpad.json").read_text())["episodes"] for out in outs)
    assert [(e["trial"], e["params_after"]) for e in a] == [(e["trial"], e["params_after"]) for e in b]
