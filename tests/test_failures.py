"""Failures the L1 agent sees: why each failed (its kind) and which ones are shown.

The kind is the signal in which a failure's best expected file is furthest behind the
top-ranked file, read from real :func:`ripmap.rank.explain.explain_row` rows. The shown
failures are sampled across repositories, tasks and kinds, rotating so that failures not
shown yet come first, and a resumed run continues the rotation. The evaluations here run
on two copies of the planted repository: ``aaa`` (whose cases fail worst, and whose name
sorts first) and ``zzz`` (the same commits, with a central file also expected, so they
fail less badly).
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from explained import explanation_rows
from planted import DECOYS, make_planted_repo
from ripmap.rank.params import DEFAULT
from ripmap.train.agents import AgentReply
from ripmap.train.cases.oracle import TASKS, Expected, mine_cases
from ripmap.train.cli import parse
from ripmap.train.evaluation.evaluator import Evaluator
from ripmap.train.evaluation.failures import Candidate, Shown, classify, diagnose, spread
from ripmap.train.evaluation.measurement import measure
from ripmap.train.l1.strategy import L1Settings, L1Strategy

pytest.importorskip("optuna")

from ripmap.train.search.loop import LoopSettings, optimize  # noqa: E402

# -- why a case failed ------------------------------------------------------------------------

def rows(files: list[tuple[str, bool, dict]]) -> list[dict]:
    return explanation_rows(DEFAULT.to_dict(), files)


BASE = {"structure": 0.3, "cochange": 0.01, "lexical": 0.02}


@pytest.mark.parametrize("top,expected,kind", [
    ({"cochange": 0.6}, {}, "cochange"),
    ({"lexical": 0.9}, {}, "lexical"),
    ({"lexical_chat": 0.9}, {}, "lexical"),  # the chat file's terms: the same kind
    ({"structure": 1.0}, {"structure": 0.05}, "structure"),
    ({"focus": 1.0}, {}, "focus"),
    ({"mentioned_ident": 4.0}, {}, "focus"),
    ({"pairing": 1.0}, {}, "pairing"),
    ({"depth": 3.0}, {"depth": 0.7}, "depth"),
    ({"recency": 3.0}, {}, "recency"),
    ({"churn": 2.5}, {}, "churn"),
    ({}, {"file_class": 0.05}, "file_class"),
])
def test_classify_names_the_signal_the_expected_file_is_furthest_behind_in(top, expected, kind):
    # a second wrong file and a second expected file, each a little behind on everything,
    # must not change the verdict: the best expected file against the top file decides
    r = rows([("src/top.py", False, {**BASE, **top}),
              ("src/other.py", False, {k: v * 0.5 for k, v in BASE.items()}),
              ("src/want.py", True, {**BASE, **expected}),
              ("src/want_too.py", True, {k: v * 0.01 for k, v in BASE.items()})])
    d = diagnose(r)
    assert d.kind == kind == classify(r)
    assert (d.top, d.expected) == ("src/top.py", "src/want.py")
    # the terms split the log-score gap between the two files exactly
    score = {x["path"]: x["score"] for x in r}
    assert d.gap == pytest.approx(math.log(score["src/top.py"] / score["src/want.py"]), rel=1e-9)


def test_classify_edge_cases():
    assert classify(rows([("a.py", False, BASE), ("b.py", True, {})])) == "unreachable"  # scores 0
    assert classify(rows([("a.py", False, BASE)])) == "unmapped"  # no expected file has a row
    assert classify([]) == "unmapped"
    # the expected file outranks every wrong one: no signal holds it back
    assert classify(rows([("a.py", False, BASE), ("b.py", True, {**BASE, "cochange": 0.9})])) == "other"


# -- which failures are shown -------------------------------------------------------------------

def test_spread_covers_repositories_and_tasks_when_one_repository_has_all_the_worst_cases():
    worst = [Candidate("aaa", f"c{i}", t, f"s{i}.py", 0.0, "lexical") for i in range(10) for t in TASKS]
    mild = [Candidate("zzz", f"d{i}", t, f"s{i}.py", 0.3, k) for i in range(10) for t, k in
            zip(TASKS, ("cochange", "structure", "depth"))]
    cands = worst + mild
    # what sorting by NDCG and repository (the old rule) would show: one repository, one kind
    assert {c.repo for c in sorted(cands, key=lambda c: (c.ndcg, c.repo))[:5]} == {"aaa"}
    picked = [cands[i] for i in spread(cands, 5)]
    assert {c.repo for c in picked} == {"aaa", "zzz"}
    assert {c.task for c in picked} == set(TASKS)
    assert len({c.kind for c in picked}) >= 3
    assert len({(c.repo, c.commit) for c in picked}) == 5  # no commit twice while others are left
    assert spread(cands, 5) == spread(cands, 5)  # deterministic
    # failures shown before come last: least often, then longest ago
    shown = {c.key: Shown(1, 1) for c in cands[:-2]}
    shown[cands[0].key] = Shown(1, 0)
    first = [cands[i] for i in spread(cands, 3, shown)]
    assert first[:2] == [cands[-2], cands[-1]] or first[:2] == [cands[-1], cands[-2]]
    assert first[2] == cands[0]


@pytest.fixture(scope="module")
def two_repos(tmp_path_factory):
    """(mined aaa, mined zzz): the planted repository's cases of all three tasks twice."""
    base = tmp_path_factory.mktemp("failures")
    root = make_planted_repo(base / "repo")
    aaa = mine_cases(root, snapshot_back=9, max_commits=50, tasks=TASKS, name="aaa")
    zzz = replace(aaa, repo="zzz", cases=[replace(c, repo="zzz", expected=c.expected + (Expected(DECOYS[0], 3.0),))
                                         for c in aaa.cases])
    return base, aaa, zzz


# structure dominates: the central decoys outrank the module mates that change together
BAD = DEFAULT.replace(boost_temporal_coupling=0.05, boost_lexical=0.05, boost_lexical_chat=0.05,
                      weight_structure=5.0)


class NullAgent:
    """Proposes nothing, so every episode shows failures of the same point."""

    name = "null"

    def __init__(self) -> None:
        self.contexts: list[dict] = []

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        self.contexts.append(context or {})
        return AgentReply(text='REASONING: hold.\nJSON: {"proposed_changes": {}, "confidence": 0.9}', latency_s=0.0)


def run_l1(ev: Evaluator, out: Path, name: str, episodes: int, *, shown: int = 5, resume: bool = False,
           agent: NullAgent | None = None) -> list[dict]:
    strategy = L1Strategy(L1Settings(failures_shown=shown), agent=agent or NullAgent())
    optimize(strategy, ev, LoopSettings(out_dir=out, budget=episodes + 1, start=BAD, run_name=name, resume=resume))
    return json.loads((out / name / "scratchpad.json").read_text())["episodes"]


def keys(e: dict) -> list[tuple]:
    return [(f["repo"], f["commit"], f["task"], f["seed_file"]) for f in e["failures_shown"]]


def test_shown_failures_cover_both_repositories_and_every_task(two_repos, tmp_path):
    base, aaa, zzz = two_repos
    ev = Evaluator([aaa, zzz], cache_dir=base / "cache", failure_threshold=1.01, failure_pool=6)
    m = measure(ev, BAD)
    failing = m.train.failing(ev.failure_threshold)
    assert {c.repo for c, _ in failing} == {"aaa", "zzz"}
    # the old rules: the worst five by (NDCG, repository), and the first failing cases in case order
    assert {c.repo for c, _ in sorted(failing, key=lambda x: (x[1], x[0].repo))[:5]} == {"aaa"}
    assert {c.repo for c, _ in failing[:6]} == {"aaa"}
    assert max(nd for c, nd in failing if c.repo == "aaa") <= min(nd for c, nd in failing if c.repo == "zzz")

    pool = ev.evaluate(BAD).failures  # what eval --collect-failures writes
    assert len(pool) == 6 and {f.repo for f in pool} == {"aaa", "zzz"} and {f.task for f in pool} == set(TASKS)
    assert all(f.kind and f.explanations for f in pool)

    agent = NullAgent()
    (e1,) = run_l1(ev, tmp_path, "cover", 1, agent=agent)
    shown = e1["failures_shown"]
    assert len(shown) == 5
    assert {f["repo"] for f in shown} == {"aaa", "zzz"}
    assert {f["task"] for f in shown} == set(TASKS)
    assert all(f["kind"] for f in shown)
    # the prompt says each failure's task, repository and kind, with rows per task and repository
    prompt = (tmp_path / "cover" / "prompts" / "episode_001.md").read_text()
    headers = [line for line in prompt.splitlines() if line.startswith("### Failure ")]
    assert len(headers) == 5
    for f, h in zip(shown, headers):
        assert f"task {f['task']}," in h and f"repo \"{f['repo']}\"" in h and f"kind {f['kind']}" in h
    for row in ("task A ", "task A+msg ", "task B ", "repo aaa ", "repo zzz "):
        assert any(line.startswith(row) for line in prompt.splitlines()), row
    assert [f["kind"] for f in agent.contexts[0]["failures"]] == [f["kind"] for f in shown]
    config = json.loads((tmp_path / "cover" / "config.json").read_text())
    assert config["failures_shown"] == 5 and config["failure_pool"] == 6


@pytest.fixture(scope="module")
def small_ev(two_repos):
    """Two commits of each repository: 28 failing cases, more than a pool of 8."""
    base, aaa, zzz = two_repos
    commits = sorted({c.commit for c in aaa.cases})[:2]
    keep = [replace(m, cases=[c for c in m.cases if c.commit in commits]) for m in (aaa, zzz)]
    return Evaluator(keep, cache_dir=base / "cache", failure_threshold=1.01, failure_pool=8)


def test_rotation_shows_every_failure_before_repeating_one(small_ev, tmp_path):
    n_failing = len(small_ev.cases)
    assert n_failing == 28
    episodes = run_l1(small_ev, tmp_path, "rot", 7)
    seen: set = set()
    distinct = []
    for e in episodes:
        ks = keys(e)
        assert len(ks) == len(set(ks)) == 5
        fresh = [k for k in ks if k not in seen]
        # nothing is shown again while an unseen failure is left
        assert len(fresh) == min(5, n_failing - len(seen))
        seen.update(ks)
        distinct.append(len(seen))
    assert distinct == [5, 10, 15, 20, 25, 28, 28]
    # once every failure was shown, those shown longest ago come back first
    sixth = keys(episodes[5])
    first = set(keys(episodes[0]))
    assert set(sixth) - set(k for e in episodes[:5] for k in keys(e)) and set(sixth) & first


def test_resume_continues_the_rotation(small_ev, tmp_path):
    straight = run_l1(small_ev, tmp_path, "straight", 4)
    run_l1(small_ev, tmp_path, "resumed", 2)
    resumed = run_l1(small_ev, tmp_path, "resumed", 4, resume=True)
    assert [keys(e) for e in resumed] == [keys(e) for e in straight]
    assert len({k for e in resumed for k in keys(e)}) == 20


def test_cli_options_for_the_failures_shown():
    _cmds, a = parse(["reason", "--repo", "r", "--failures-shown", "3", "--failure-pool", "40"])
    assert (a.failures_shown, a.failure_pool) == (3, 40)
    _cmds, a = parse(["reason", "--repo", "r"])
    assert (a.failures_shown, a.failure_pool) == (5, 50)
    _cmds, a = parse(["eval", "--repo", "r", "--failure-pool", "7"])
    assert a.failure_pool == 7
