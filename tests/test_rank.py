"""Ranking end to end: determinism, every parameter's effect, git signals, focus,
explanations and boosts, on real files (and real git histories with planted dates).

Expected numbers are worked out by hand from the documented formulas (recency
1 + (max-1)·2^(-age/half-life), churn 1 + (max-1)·c²/(c²+T²), Jaccard co-change,
focus s·decay^h with a fading last hop, depth anchors interpolated in log space),
never read back from the code under test.
"""
from __future__ import annotations

import itertools
import math
import shutil
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fixtures_rank import RICH_FILES, commit, git_env, init_repo, isolate_git, make_rich_repo, write_tree
from ripmap import RepoMap
from ripmap.errors import UsageError
from ripmap.rank.params import DEFAULT, REGISTRY, Params

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")

# The values the hand computations assume, pinned so that retuning the registry's
# defaults (which the trainer is meant to do) does not change what the tests check.
PINNED = Params(
    depth_weight_root=1.0, depth_weight_moderate=0.7, depth_weight_deep=0.4, depth_weight_vendor=0.01,
    git_recency_decay_days=30.0, git_recency_max_boost=2.0, git_churn_threshold=10.0,
    git_churn_max_boost=1.5, focus_decay=0.5, focus_max_hops=2.0, boost_temporal_coupling=3.0,
    boost_chat_file=20.0, boost_mentioned_file=5.0, boost_mentioned_ident=10.0, cochange_jaccard=0.0,
)

V = "vendor/lib/vendored.py"
S = "auth/session.py"
FOCUS = "token refresh"


# ----------------------------------------------------------------------------- helpers

def row(expl, signal: str):
    """The Contribution row of one signal in an Explanation."""
    for r in expl.rows:
        if r.signal == signal:
            return r
    raise KeyError(signal)


def factor(ranking, path: str, signal: str) -> float:
    return row(ranking.explain(path), signal).value


def material_swaps(a: dict, b: dict, rel: float = 1e-6) -> list[tuple]:
    """Pairs ordered strictly one way by ``a`` and strictly the other way by ``b``.

    Both differences must exceed ``rel`` of the larger score, so exact ties (broken
    by path) and floating-point noise never count as a change of order.
    """
    out = []
    for x, y in itertools.combinations(sorted(a), 2):
        da, db = a[x] - a[y], b[x] - b[y]
        ma, mb = rel * max(abs(a[x]), abs(a[y])), rel * max(abs(b[x]), abs(b[y]))
        if (da > ma and -db > mb) or (-da > ma and db > mb):
            out.append((x, y))
    return out


def symbol_scores(ranking) -> dict:
    return {(s.path, s.tag.name, s.tag.line): s.score for s in ranking.symbols}


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def rich_root(tmp_path_factory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    return make_rich_repo(tmp_path_factory.mktemp("rich") / "repo")


@pytest.fixture(scope="module")
def rich(rich_root, tmp_path_factory):
    with RepoMap(rich_root, cache_dir=tmp_path_factory.mktemp("rich_cache"), warn=lambda m: None) as rm:
        yield rm


# ----------------------------------------------------------------------------- fixture sanity

def test_rich_repo_is_indexed_as_designed(rich):
    files = set(rich.graph.files)
    expected = set(RICH_FILES) - {"ripmap.toml"}
    assert files == expected  # vendor/ kept by ripmap.toml, nothing else dropped
    depths = {f.count("/") for f in files}
    assert set(range(0, 8)) <= depths
    git_sig = rich.context.git
    assert git_sig is not None and not git_sig.is_empty
    assert git_sig.churn[git_sig.index["churny.py"]] == 21


def test_depth_factors_match_anchors(rich):
    r = rich.rank(params=PINNED)
    # log-space interpolation between anchors depth<=1: 1.0, 3-4: 0.7, >=6: 0.4
    expected = {
        "app.py": 1.0,
        "d1/mod1.py": 1.0,
        "d1/d2/mod2.py": math.sqrt(1.0 * 0.7),
        "d1/d2/d3/mod3.py": 0.7,
        "d1/d2/d3/d4/mod4.py": 0.7,
        "d1/d2/d3/d4/d5/mod5.py": math.sqrt(0.7 * 0.4),
        "d1/d2/d3/d4/d5/d6/mod6.py": 0.4,
        "d1/d2/d3/d4/d5/d6/d7/mod7.py": 0.4,
        V: math.sqrt(1.0 * 0.7),  # depth 2, like mod2; being vendored is its class, not its depth
    }
    for path, w in expected.items():
        assert factor(r, path, "depth") == pytest.approx(w, rel=1e-9), path
    assert factor(r, V, "file_class") == pytest.approx(0.01, rel=1e-9)
    p = PINNED.replace(depth_weight_root=2.0, depth_weight_moderate=0.5, depth_weight_deep=0.02,
                        depth_weight_vendor=0.3)
    r2 = rich.rank(params=p)
    assert factor(r2, "d1/d2/mod2.py", "depth") == pytest.approx(1.0, rel=1e-9)  # sqrt(2 * 0.5)
    assert factor(r2, "d1/d2/d3/d4/d5/mod5.py", "depth") == pytest.approx(0.1, rel=1e-9)  # sqrt(0.5*0.02)
    assert factor(r2, V, "depth") == pytest.approx(1.0, rel=1e-9)
    assert factor(r2, V, "file_class") == pytest.approx(0.3, rel=1e-9)


# ----------------------------------------------------------------------------- determinism

@needs_git
def test_deterministic_across_fresh_repomaps(rich_root, tmp_path):
    query = dict(chat_files=[S], focus=FOCUS, mentioned_idents=["Record"])
    results = []
    for i in range(2):
        with RepoMap(rich_root, cache_dir=tmp_path / f"cache{i}", warn=lambda m: None) as rm:
            r = rm.rank(**query)
            results.append((r.files, r.scores, [(s.path, s.tag.name, s.score) for s in r.symbols]))
    assert results[0] == results[1]
    files, scores, _ = results[0]
    vals = [scores[f] for f in files]
    assert all(a >= b for a, b in zip(vals, vals[1:]))


def test_ties_broken_by_path(tmp_path):
    root = write_tree(tmp_path / "twins", {
        "hub.py": "def hub_fn():\n    return 1\n",
        "zeta.py": "def z_fn():\n    return hub_fn()\n",
        "alpha.py": "def a_fn():\n    return hub_fn()\n",
        "mid.py": "def m_fn():\n    return hub_fn()\n",
    })
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        r = rm.rank()
    assert r.scores["alpha.py"] == r.scores["mid.py"] == r.scores["zeta.py"]
    assert r.scores["hub.py"] > r.scores["alpha.py"]
    assert r.files == ["hub.py", "alpha.py", "mid.py", "zeta.py"]


# ----------------------------------------------------------------------------- every parameter moves the ranking

# parameter -> the query that gives it something to act on (the comment names the file
# the query is built to move). Only the file order is compared (the symbol order for
# SYMBOL_PARAMS), so retuning the defaults does not break the table.
PARAM_QUERIES: dict[str, dict] = {
    "pagerank_alpha": {},  # structure vs prior: app.py, core/*
    "pagerank_chat_multiplier": dict(focus="`route`"),  # the focus chain around api/routes.py
    "depth_weight_root": {},  # app.py, top.py, core/*
    "depth_weight_moderate": {},  # d1/d2/d3/mod3.py
    "depth_weight_deep": {},  # d1/.../d7/mod7.py
    "depth_weight_vendor": {},  # vendor/lib/vendored.py (referenced by five files)
    "boost_mentioned_ident": dict(mentioned_idents=["vendored_util"]),  # vendor file
    "boost_mentioned_file": dict(mentioned_files=[V]),  # vendor file
    "boost_chat_file": dict(chat_files=[V], mentioned_files=[S]),  # the chat file vs a mentioned one
    "boost_temporal_coupling": dict(chat_files=[S]),  # pair_a.py, pair_b.py
    "boost_focus_expansion": dict(focus=FOCUS),  # api/client.py
    "git_recency_decay_days": {},  # top.py (50 days), d1/mod1.py (30 days)
    "git_recency_max_boost": {},  # fresh.py (newest commit)
    "git_churn_threshold": {},  # churny.py (21 commits)
    "git_churn_max_boost": {},  # churny.py
    "focus_decay": dict(focus="ApiClient"),  # api/handlers.py, auth/session.py (1 hop from api/client.py)
    "focus_max_hops": dict(focus="handle_request"),  # the chain 2-3 hops from api/handlers.py
    "weight_structure": dict(chat_files=[S], focus=FOCUS),  # core/utils.py
    "boost_lexical": dict(focus="refresher"),  # auth/token.py (TokenRefresher), by words alone
    "lexical_floor": dict(focus="refresher of app models"),  # a vague text: how much its best match counts
    "boost_lexical_chat": dict(chat_files=[S]),  # auth/token.py (shares refresh/token with session.py)
    "boost_test_pairing": dict(focus="entry point"),  # app.py, the file tests/test_app.py tests
    "cochange_half_life_days": dict(chat_files=[S]),  # auth/login.py (one recent commit) vs pair_a.py
    "cochange_size_exponent": dict(chat_files=[S]),  # io/*.py (one large commit with session.py)
    "cochange_from_lexical": dict(focus="refresher"),  # pair_a.py, via auth/session.py (refresh_token)
    "cochange_recent_weight": dict(chat_files=[S]),  # pair_b.py, auth/login.py (session.py's two newest commits)
    "cochange_jaccard": dict(chat_files=[S]),  # pair_b.py vs auth/token.py, auth/login.py (commit-set overlap)
    "edge_weight_call": {},  # core/utils.py
    "edge_weight_type": {},  # core/models.py
    "edge_weight_other": {},  # core/consts.py (only imported by name)
    "import_resolution_bias": dict(focus="handle_request"),  # loaders/yaml_loader.py vs the io files
    "common_name_penalty": {},  # plugins/p*.py
    "private_name_weight": {},  # core/private_mod.py
    "hub_damping": {},  # core/utils.py
    "symbol_ref_weight": {},  # compute vs UtilityBox in core/utils.py
    "weight_generated": dict(focus="fields"),  # gen/schema_gen.py (generated header)
    "weight_fixture": dict(focus="sample input"),  # testdata/inputs.py
    "weight_stub": dict(focus="ext call"),  # typings/extlib.pyi
    "weight_docs": dict(focus="getting started"),  # docs/guide.md
    "weight_test": {},  # tests/test_app.py
}
SYMBOL_PARAMS = {"symbol_ref_weight"}
# Tried after the parameter's own query, and alone for a parameter added to REGISTRY
# without an entry above: if none moves the ranking the test fails.
GENERIC_QUERIES = ({}, dict(chat_files=[S], focus=FOCUS, mentioned_idents=["Record"],
                            mentioned_files=["d1/d2/d3/mod3.py"]))


def test_param_queries_cover_registry():
    assert set(PARAM_QUERIES) <= {s.name for s in REGISTRY}


@needs_git
@pytest.mark.parametrize("spec", REGISTRY, ids=lambda s: s.name)
def test_every_parameter_moves_the_ranking(rich, spec):
    queries = ([PARAM_QUERIES[spec.name]] if spec.name in PARAM_QUERIES else []) + list(GENERIC_QUERIES)
    report = []
    for query in queries:
        base = rich.rank(**query)
        for value in (spec.low, spec.high):
            if value == spec.default:
                continue
            moved = rich.rank(params=DEFAULT.replace(**{spec.name: value}), **query)
            if spec.name in SYMBOL_PARAMS:
                sw = material_swaps(symbol_scores(base), symbol_scores(moved))
            else:
                # the change must reach what a reader sees: the top 10 (issue 11)
                top = set(base.files[:10]) | set(moved.files[:10])
                sw = [p for p in material_swaps(base.scores, moved.scores) if top & set(p[:2])]
            if sw:
                return
            report.append(f"{query} {spec.name}={value:g}: top 10 unchanged")
    pytest.fail(f"{spec.name} does not change the top 10 between its default and either bound:\n"
                + "\n".join(report))


@needs_git
def test_symbol_ref_weight_orders_symbols_within_a_file(rich):
    def utils_order(k):
        r = rich.rank(params=DEFAULT.replace(symbol_ref_weight=k))
        return [s.tag.name for s in r.symbols if s.path == "core/utils.py"]
    # no reference weight: the kind prior decides (class 1.3 > function 1.0)
    assert utils_order(0.0) == ["UtilityBox", "compute"]
    # compute is referenced all over the repo, UtilityBox nowhere
    assert utils_order(1.0) == ["compute", "UtilityBox"]
    assert utils_order(10.0) == ["compute", "UtilityBox"]


# ----------------------------------------------------------------------------- git signals

@pytest.fixture()
def git_isolated(monkeypatch, tmp_path):
    isolate_git(monkeypatch, tmp_path)


def small_history(root: Path) -> Path:
    """a, b, c added on day 0; b changed on day 10; c on day 30 (the newest commit).

    Ages (days before the newest commit): a 30, b 20, c 0. Churn: a 1, b 2, c 2.
    """
    init_repo(root, {"a.py": "def a_fn():\n    return 1\n", "b.py": "def b_fn():\n    return 2\n",
                     "c.py": "def c_fn():\n    return a_fn() + b_fn()\n"})
    commit(root, 10, ["b.py"])
    commit(root, 30, ["c.py"])
    return root


@needs_git
def test_recency_and_churn_factors_by_hand(tmp_path, git_isolated):
    root = small_history(tmp_path / "repo")
    (root / "u.py").write_text("def u_fn():\n    return c_fn()\n")  # untracked: no history
    with RepoMap(root, cache_dir=tmp_path / "c", warn=lambda m: None) as rm:
        r = rm.rank(params=PINNED)
        assert set(r.files) == {"a.py", "b.py", "c.py", "u.py"}
        # half-life 30 days, max 2; churn threshold 10, max 1.5
        assert factor(r, "a.py", "recency") == pytest.approx(1.5, rel=1e-9)
        assert factor(r, "b.py", "recency") == pytest.approx(1 + 2 ** (-20 / 30), rel=1e-9)
        assert factor(r, "c.py", "recency") == pytest.approx(2.0, rel=1e-9)
        assert factor(r, "u.py", "recency") == 1.0
        assert factor(r, "a.py", "churn") == pytest.approx(1 + 0.5 * 1 / 101, rel=1e-9)
        assert factor(r, "b.py", "churn") == pytest.approx(1 + 0.5 * 4 / 104, rel=1e-9)
        assert factor(r, "c.py", "churn") == pytest.approx(1 + 0.5 * 4 / 104, rel=1e-9)
        assert factor(r, "u.py", "churn") == 1.0

        p = Params(git_recency_decay_days=10, git_recency_max_boost=5, git_churn_threshold=2,
                   git_churn_max_boost=3)
        r2 = rm.rank(params=p)
        assert factor(r2, "a.py", "recency") == pytest.approx(1 + 4 * 2 ** -3, rel=1e-9)
        assert factor(r2, "b.py", "recency") == pytest.approx(1 + 4 * 2 ** -2, rel=1e-9)
        assert factor(r2, "c.py", "recency") == pytest.approx(5.0, rel=1e-9)
        assert factor(r2, "a.py", "churn") == pytest.approx(1 + 2 * 1 / 5, rel=1e-9)
        assert factor(r2, "b.py", "churn") == pytest.approx(1 + 2 * 4 / 8, rel=1e-9)
        assert factor(r2, "u.py", "churn") == 1.0 and factor(r2, "u.py", "recency") == 1.0
        # the factors multiply into the score
        e = r2.explain("b.py")
        assert e.multiplier == pytest.approx(
            np.prod([row(e, k).value for k in ("depth", "chat", "mentioned_file", "mentioned_ident",
                                                "recency", "churn")]), rel=1e-12)


def cochange_history(root: Path) -> Path:
    """x changes with z_partner in every commit after the first; a_other never does.

    Commits (all small, so all count for co-change):
      day 0: x, a_other, z_partner;  day 1: x, z_partner;  day 2: a_other;
      day 3: x, z_partner;           day 3: a_other.
    Commits with x: day 0 (3 files), day 1 and day 3 (2 files each). Co-change evidence
    for f is the weighted share of x's commits that also touched f (see
    GitSignals.association_vector): z_partner is in all of them (1.0), a_other only in
    day 0's. Ages and churn of z_partner and a_other are equal.
    """
    init_repo(root, {
        "x.py": "def x_fn():\n    return 0\n",
        "a_other.py": "def other_fn():\n    return 1\n",
        "z_partner.py": "def partner_fn():\n    return 1\n",
    })
    commit(root, 1, ["x.py", "z_partner.py"])
    commit(root, 2, ["a_other.py"])
    commit(root, 3, ["x.py", "z_partner.py"])
    commit(root, 3, ["a_other.py"])
    return root


@needs_git
def test_cochange_lifts_the_partner_of_the_chat_file(tmp_path, git_isolated):
    root = cochange_history(tmp_path / "repo")
    with RepoMap(root, cache_dir=tmp_path / "c", warn=lambda m: None) as rm:
        r = rm.rank(chat_files=["x.py"], params=PINNED)
        half, expo = PINNED["cochange_half_life_days"], PINNED["cochange_size_exponent"]
        w0 = 2 ** (-3 / half) * (3 - 1) ** -expo  # day 0 (3 days before the newest commit)
        w1, w3 = 2 ** (-2 / half), 1.0  # day 1, day 3 (2 files: (2-1)^-expo = 1)
        support = w0 + w1 + w3
        expected = w0 / (support + 1.0)  # one pseudo-commit of prior (see association_vector)
        assert factor(r, "z_partner.py", "cochange") == pytest.approx(support / (support + 1.0), rel=1e-9)
        assert factor(r, "a_other.py", "cochange") == pytest.approx(expected, rel=1e-9)
        # same age and churn: the only difference is co-change
        assert factor(r, "z_partner.py", "recency") == factor(r, "a_other.py", "recency")
        assert factor(r, "z_partner.py", "churn") == factor(r, "a_other.py", "churn")
        assert r.rank_of("z_partner.py") < r.rank_of("a_other.py")
        gap = r.scores["z_partner.py"] - r.scores["a_other.py"]
        # the gap is exactly the co-change term: boost_temporal_coupling × 0.8 × multiplier
        mult = r.explain("z_partner.py").multiplier
        assert gap == pytest.approx(PINNED["boost_temporal_coupling"] * (support - w0) / (support + 1.0) * mult,
                                    rel=1e-9)
        weak = rm.rank(chat_files=["x.py"], params=PINNED.replace(boost_temporal_coupling=0.01))
        assert weak.scores["z_partner.py"] - weak.scores["a_other.py"] < gap
        # no chat file, no co-change evidence
        plain = rm.rank()
        assert factor(plain, "z_partner.py", "cochange") == 0.0
    # without git the two are indistinguishable and the tie goes to the path
    with RepoMap(root, cache_dir=tmp_path / "c2", use_git=False) as rm:
        r = rm.rank(chat_files=["x.py"])
        assert r.scores["z_partner.py"] == r.scores["a_other.py"]
        assert r.rank_of("a_other.py") < r.rank_of("z_partner.py")


def jaccard_history(root: Path) -> Path:
    """x's commits: day 0 (x, partner, busy), day 1 (x, partner, busy), day 2 (x, busy);
    busy also changes alone on days 3-8. Commit sets: C_x 3, C_partner 2 (both with x),
    C_busy 9 (3 with x). Jaccard with x: partner 2/3, busy 3/9. The association rules
    favour busy (it is in every commit of x), the overlap of commit sets partner."""
    init_repo(root, {"x.py": "def x_fn():\n    return 0\n", "partner.py": "def partner_fn():\n    return 1\n",
                     "busy.py": "def busy_fn():\n    return 2\n"})
    commit(root, 1, ["x.py", "partner.py", "busy.py"])
    commit(root, 2, ["x.py", "busy.py"])
    for day in range(3, 9):
        commit(root, day, ["busy.py"])
    return root


@needs_git
def test_jaccard_cochange_counts_a_files_unrelated_commits_against_it(tmp_path, git_isolated):
    root = jaccard_history(tmp_path / "repo")
    with RepoMap(root, cache_dir=tmp_path / "c", warn=lambda m: None) as rm:
        off = rm.rank(chat_files=["x.py"], params=PINNED)
        on = rm.rank(chat_files=["x.py"], params=PINNED.replace(cochange_jaccard=2.0))
        # the association rules alone: busy changed in every commit of x
        assert factor(off, "busy.py", "cochange") > factor(off, "partner.py", "cochange")
        # the Jaccard term is added on top, weight x overlap of commit sets
        assert factor(on, "partner.py", "cochange") - factor(off, "partner.py", "cochange") == \
            pytest.approx(2.0 * 2 / 3, rel=1e-9)
        assert factor(on, "busy.py", "cochange") - factor(off, "busy.py", "cochange") == \
            pytest.approx(2.0 * 3 / 9, rel=1e-9)
        assert factor(on, "partner.py", "cochange") > factor(on, "busy.py", "cochange")
        # only the chat files seed it: no chat file, no Jaccard evidence
        plain = rm.rank(focus="busy_fn", params=PINNED.replace(cochange_jaccard=2.0))
        plain0 = rm.rank(focus="busy_fn", params=PINNED)
        assert factor(plain, "partner.py", "cochange") == factor(plain0, "partner.py", "cochange")


@needs_git
def test_use_git_false_makes_git_factors_neutral(rich_root, tmp_path):
    with RepoMap(rich_root, cache_dir=tmp_path / "c", use_git=False) as rm:
        r = rm.rank(chat_files=[S], focus=FOCUS)
        for f in r.files:
            e = r.explain(f)
            assert row(e, "recency").value == 1.0
            assert row(e, "churn").value == 1.0
            assert row(e, "cochange").value == 0.0
        # and the git parameters are then inert
        r2 = rm.rank(chat_files=[S], focus=FOCUS,
                     params=DEFAULT.replace(git_recency_max_boost=50, git_churn_max_boost=20,
                                            boost_temporal_coupling=100))
        assert r2.files == r.files
        for f in r.files:
            assert r2.scores[f] == pytest.approx(r.scores[f], rel=1e-12)


def test_plain_directory_without_git(tmp_path, git_isolated):
    root = write_tree(tmp_path / "plain", {
        "main.py": "def main():\n    return refresh_token()\n",
        "pkg/token.py": "def refresh_token():\n    return 1\n",
    })
    with RepoMap(root, cache_dir=tmp_path / "c", warn=lambda m: None) as rm:  # use_git=True
        r = rm.rank(chat_files=["main.py"], focus=FOCUS)
        assert sorted(r.files) == ["main.py", "pkg/token.py"]
        for f in r.files:
            assert factor(r, f, "recency") == 1.0
            assert factor(r, f, "churn") == 1.0
            assert factor(r, f, "cochange") == 0.0
            assert math.isfinite(r.scores[f]) and r.scores[f] > 0


@needs_git
def test_shallow_clone(tmp_path, git_isolated):
    src = small_history(tmp_path / "src")
    dst = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{src}", str(dst)],
                   env=git_env(), check=True, capture_output=True)
    notes: list[str] = []
    with RepoMap(dst, cache_dir=tmp_path / "c", warn=notes.append) as rm:
        r = rm.rank(chat_files=["a.py"], focus="c_fn", params=PINNED)
        assert sorted(r.files) == ["a.py", "b.py", "c.py"]
        assert all(math.isfinite(s) and s > 0 for s in r.scores.values())
        # c.py changed in the newest commit, which the clone has: full recency boost
        assert factor(r, "c.py", "recency") == pytest.approx(2.0, rel=1e-9)
        # a.py was only touched by the initial commit, cut off by --depth 2
        assert factor(r, "a.py", "recency") == 1.0
    assert any("shallow" in n for n in notes)


# ----------------------------------------------------------------------------- focus

def chain_repo(root: Path) -> Path:
    """seed <- h1 <- h2 <- h3 <- h4: each file calls a function of the previous one."""
    return write_tree(root, {
        "seed.py": "def refresh_token():\n    return 1\n",
        "h1.py": "def h1_fn():\n    return refresh_token()\n",
        "h2.py": "def h2_fn():\n    return h1_fn()\n",
        "h3.py": "def h3_fn():\n    return h2_fn()\n",
        "h4.py": "def h4_fn():\n    return h3_fn()\n",
    })


@pytest.mark.parametrize("decay,hops,expected", [
    # expected focus evidence of (seed, h1, h2, h3, h4): 1 · decay^hop, cut at the limit
    (0.5, 0.0, (1.0, 0.0, 0.0, 0.0, 0.0)),
    (0.5, 1.0, (1.0, 0.5, 0.0, 0.0, 0.0)),
    (0.5, 2.0, (1.0, 0.5, 0.25, 0.0, 0.0)),
    (0.5, 2.5, (1.0, 0.5, 0.25, 0.5 * 0.125, 0.0)),  # hop 3 at half weight
    (0.5, 0.5, (1.0, 0.25, 0.0, 0.0, 0.0)),  # hop 1 at half weight
    (0.3, 3.0, (1.0, 0.3, 0.09, 0.027, 0.0)),
    (0.3, 5.0, (1.0, 0.3, 0.09, 0.027, 0.0081)),
])
def test_focus_expansion_hops(tmp_path, decay, hops, expected):
    root = chain_repo(tmp_path / "chain")
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        r = rm.rank(focus="refresh_token", params=PINNED.replace(focus_decay=decay, focus_max_hops=hops))
        got = tuple(factor(r, f, "focus") for f in ("seed.py", "h1.py", "h2.py", "h3.py", "h4.py"))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_focus_hop_limit_changes_rank(tmp_path):
    root = chain_repo(tmp_path / "chain")
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        r1 = rm.rank(focus="refresh_token", params=PINNED.replace(focus_max_hops=1))
        r2 = rm.rank(focus="refresh_token", params=PINNED.replace(focus_max_hops=2))
        assert r2.scores["h2.py"] > r1.scores["h2.py"]
        assert r1.files[0] == "seed.py" and r2.files[0] == "seed.py"


def focus_repo(root: Path) -> Path:
    return write_tree(root, {
        "alpha/one.py": "def refresh_token():\n    return compute_total()\n",
        "beta/two.py": "class TokenRefresher:\n    def run(self):\n        return parse_config()\n",
        "gamma/three.py": "def compute_total():\n    return parse_config()\n",
        "delta/four.py": "def parse_config():\n    return 1\n",
        "epsilon/five.py": "def main():\n    compute_total()\n    parse_config()\n",
    })


@pytest.mark.parametrize("query", ["token refresh", "tokenRefresh", "refreshing tokens"])
def test_plain_words_find_files_lexically_without_graph_expansion(tmp_path, query):
    """Words (and identifiers the repository does not define) are lexical evidence: the
    files whose names match them come first, with the matching definitions on top, but
    they seed no expansion through the graph."""
    root = focus_repo(tmp_path / "f")
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        r = rm.rank(focus=query, params=PINNED)
        assert set(r.files[:2]) == {"alpha/one.py", "beta/two.py"}, r.files
        assert factor(r, "alpha/one.py", "lexical") > 0 and factor(r, "beta/two.py", "lexical") > 0
        assert all(factor(r, f, "focus") == 0.0 for f in r.files)
        top_symbols = [s.tag.name for s in r.symbols[:3]]
        assert "refresh_token" in top_symbols and "TokenRefresher" in top_symbols
        # without a focus the two files are not on top
        plain = rm.rank()
        assert set(plain.files[:2]) != {"alpha/one.py", "beta/two.py"}


def test_identifiers_seed_focus_expansion(tmp_path):
    root = focus_repo(tmp_path / "f")
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        r = rm.rank(focus="why does refresh_token call TokenRefresher", params=PINNED)
        # both definers are seeds (exact identifiers: 1.0); three is 1 hop from one,
        # four 1 hop from two, five 2 hops from either (decay 0.5 per hop)
        assert factor(r, "alpha/one.py", "focus") == pytest.approx(1.0)
        assert factor(r, "beta/two.py", "focus") == pytest.approx(1.0)
        assert factor(r, "gamma/three.py", "focus") == pytest.approx(0.5, rel=1e-9)
        assert factor(r, "delta/four.py", "focus") == pytest.approx(0.5, rel=1e-9)
        assert factor(r, "epsilon/five.py", "focus") == pytest.approx(0.25, rel=1e-9)
        assert factor(r, "alpha/one.py", "mentioned_ident") == pytest.approx(PINNED["boost_mentioned_ident"])
        # a case-insensitive spelling in backticks still counts, a little weaker
        weak = rm.rank(focus="`tokenrefresher`", params=PINNED)
        assert 0 < factor(weak, "beta/two.py", "focus") < 1.0


# ----------------------------------------------------------------------------- explanations

@needs_git
@pytest.mark.parametrize("query", [
    {},
    dict(chat_files=[S], focus=FOCUS, mentioned_idents=["Record"], mentioned_files=["d1/d2/d3/mod3.py"]),
    dict(chat_files=[V, "pair_b.py"]),
], ids=["none", "rich", "two-chat"])
def test_explanation_accounts_for_the_score(rich, query):
    p = DEFAULT.replace(hub_damping=0.5, focus_max_hops=2.5)
    r = rich.rank(params=p, **query)
    assert sorted(r.files) == sorted(r.scores)
    for pos, f in enumerate(r.files, start=1):
        e = r.explain(f)
        assert e.path == f
        assert e.rank == pos
        assert e.score == pytest.approx(r.scores[f], rel=1e-12)
        additive = [c for c in e.rows if c.kind == "additive"]
        mults = [c for c in e.rows if c.kind == "multiplier"]
        assert {c.signal for c in additive} == {"structure", "cochange", "lexical", "lexical_chat", "focus",
                                                "pairing"}
        assert sum(c.contribution for c in additive) == pytest.approx(e.score, rel=1e-9)
        assert e.base * e.multiplier == pytest.approx(e.score, rel=1e-9)
        assert sum(c.value * c.weight for c in additive) == pytest.approx(e.base, rel=1e-9)
        assert math.prod(c.value for c in mults) == pytest.approx(e.multiplier, rel=1e-9)
        weights = {c.signal: c.weight for c in additive}
        assert weights == {"structure": p["weight_structure"], "cochange": p["boost_temporal_coupling"],
                           "lexical": p["boost_lexical"], "lexical_chat": p["boost_lexical_chat"],
                           "focus": p["boost_focus_expansion"], "pairing": p["boost_test_pairing"]}
        for c in additive:
            assert c.value >= 0
    scores = [r.scores[f] for f in r.files]
    assert all(a >= b for a, b in zip(scores, scores[1:]))


@needs_git
def test_explanation_boost_rows(rich):
    r = rich.rank(chat_files=[S], mentioned_files=["pair_b.py"], mentioned_idents=["Record"], params=PINNED)
    assert factor(r, S, "chat") == pytest.approx(20.0)
    assert factor(r, "pair_b.py", "chat") == 1.0
    assert factor(r, "pair_b.py", "mentioned_file") == pytest.approx(5.0)
    assert factor(r, S, "mentioned_file") == 1.0
    assert factor(r, "core/models.py", "mentioned_ident") == pytest.approx(10.0)
    assert factor(r, "pair_b.py", "mentioned_ident") == 1.0  # uses Record, does not define it
    with pytest.raises(UsageError):
        r.explain("no/such/file.py")


# ----------------------------------------------------------------------------- boosts

@needs_git
def test_chat_file_is_lifted(rich):
    before = rich.rank().rank_of("pair_b.py")
    after = rich.rank(chat_files=["pair_b.py"])
    assert after.rank_of("pair_b.py") < before
    neutral = rich.rank(chat_files=["pair_b.py"], params=DEFAULT.replace(boost_chat_file=1.0))
    assert after.scores["pair_b.py"] == pytest.approx(DEFAULT["boost_chat_file"] * neutral.scores["pair_b.py"],
                                                      rel=1e-9)


@needs_git
def test_mentioned_file_is_lifted(rich):
    before = rich.rank().rank_of("d1/d2/d3/d4/mod4.py")
    after = rich.rank(mentioned_files=["d1/d2/d3/d4/mod4.py"])
    assert after.rank_of("d1/d2/d3/d4/mod4.py") < before
    # an absolute path names the same file
    absolute = rich.rank(mentioned_files=[str(rich.root / "d1/d2/d3/d4/mod4.py")])
    assert absolute.files == after.files


@needs_git
def test_mentioned_ident_lifts_its_definer(rich):
    before = rich.rank()
    after = rich.rank(mentioned_idents=["pair_b_fn"])
    assert after.rank_of("pair_b.py") < before.rank_of("pair_b.py")
    assert factor(after, "pair_b.py", "mentioned_ident") == pytest.approx(DEFAULT["boost_mentioned_ident"])
    # the symbol itself comes first among pair_b.py's symbols and high overall
    assert [s.tag.name for s in after.symbols if s.path == "pair_b.py"][0] == "pair_b_fn"
    # an identifier nobody defines changes nothing
    same = rich.rank(mentioned_idents=["no_such_identifier_anywhere"])
    assert same.files == before.files


@needs_git
def test_unknown_chat_file_is_ignored(rich):
    assert rich.rank(chat_files=["does/not/exist.py"]).files == rich.rank().files


# ----------------------------------------------------------------------------- edge cases

def test_empty_repository(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        r = rm.rank(chat_files=["a.py"], focus="anything", mentioned_idents=["x"])
        assert r.files == [] and r.scores == {} and r.symbols == []


def test_focus_on_repo_with_symbols_but_no_match(tmp_path):
    root = write_tree(tmp_path / "r", {"a.py": "def f():\n    return g()\n", "b.py": "def g():\n    return 1\n"})
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        r = rm.rank(focus="zzzqqq")
        assert r.files == rm.rank().files
        assert all(factor(r, f, "focus") == 0.0 for f in r.files)


@pytest.mark.parametrize("query", [dict(focus="anything"), dict(mentioned_idents=["f"])])
def test_files_without_any_symbols(tmp_path, query):
    root = write_tree(tmp_path / "r", {"a.py": "# only a comment\n", "b.py": "# another\n"})
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        r = rm.rank(**query)
        assert sorted(r.files) == ["a.py", "b.py"]


# ----------------------------------------------------------------------------- file classes

# the rich repository's one file per class, and the parameter weighing it
CLASS_FILES = {
    V: ("vendor", "depth_weight_vendor"),
    "gen/schema_gen.py": ("generated", "weight_generated"),  # by its header, not its name
    "testdata/inputs.py": ("fixture", "weight_fixture"),
    "typings/extlib.pyi": ("stub", "weight_stub"),
    "docs/guide.md": ("docs", "weight_docs"),
    "tests/test_app.py": ("test", "weight_test"),
}
# every class weight at 1: the ranking as it was before files had classes
UNWEIGHTED = dict(depth_weight_vendor=1.0, weight_generated=1.0, weight_fixture=1.0, weight_stub=1.0,
                  weight_docs=1.0, weight_test=1.0)


@needs_git
def test_class_factor_is_the_class_weight(rich):
    p = PINNED.replace(depth_weight_vendor=0.02, weight_generated=0.2, weight_fixture=0.03, weight_stub=0.4,
                       weight_docs=0.5, weight_test=2.0)
    r = rich.rank(params=p)
    for path, (label, name) in CLASS_FILES.items():
        assert factor(r, path, "file_class") == pytest.approx(p[name], rel=1e-12), path
        assert r.explain(path).classes == (label,)
    for path in ("app.py", "core/utils.py", "d1/d2/d3/mod3.py"):
        assert factor(r, path, "file_class") == 1.0
        assert r.explain(path).classes == ()


@needs_git
def test_ranking_follows_the_flags_it_is_handed(rich):
    """Ranking reads the classes from RankContext.flags, never from the paths."""
    from ripmap.fileclass import FileClass
    from ripmap.rank import RankContext, rank

    g = rich.graph
    flags = np.zeros(g.n_files, dtype=np.int64)
    flags[g.file_index["core/utils.py"]] = FileClass.FIXTURE  # an ordinary path, flagged
    ctx = RankContext(graph=g, git=rich.context.git, flags=flags)  # vendor/ left unflagged
    r = rank(ctx, PINNED)
    assert factor(r, "core/utils.py", "file_class") == pytest.approx(DEFAULT["weight_fixture"])
    assert factor(r, V, "file_class") == 1.0
    assert r.explain("core/utils.py").classes == ("fixture",)
    with pytest.raises(ValueError):
        RankContext(graph=g, flags=np.zeros(g.n_files + 1, dtype=np.int64))


@needs_git
def test_the_file_graph_is_assembled_once_per_graph_parameter_point(rich, monkeypatch):
    """RankContext owns the assembled-graph memo: the same graph parameters reuse one
    matrix whatever else changes, other graph parameters get their own."""
    import ripmap.rank.context as context_mod
    from ripmap.rank import RankContext, rank
    from ripmap.rank.edges import factored_file_graph

    calls = []

    def counting(g, params, base=None):
        calls.append(1)
        return factored_file_graph(g, params, base)

    monkeypatch.setattr(context_mod, "factored_file_graph", counting)
    ctx = RankContext(graph=rich.graph, git=rich.context.git)
    first = rank(ctx, PINNED)
    rank(ctx, PINNED.replace(boost_lexical=0.9, pagerank_chat_multiplier=7.0), focus=FOCUS)  # per-query only
    assert len(calls) == 1
    assert ctx.file_graph(PINNED) is ctx.file_graph(PINNED.replace(git_churn_max_boost=1.1))
    other = rank(ctx, PINNED.replace(edge_weight_call=3.0))
    assert len(calls) == 2 and len(ctx.file_graphs) == 2
    assert other.scores != first.scores
    # a context seeded with an assembled graph (what the facade reads from the cache) uses it
    seeded = RankContext(graph=rich.graph, file_graphs=dict(ctx.file_graphs))
    assert rank(seeded, PINNED).scores == pytest.approx(rank(RankContext(graph=rich.graph), PINNED).scores,
                                                        rel=1e-12)
    assert len(calls) == 3  # only the unseeded context assembled


@needs_git
def test_a_warm_repomap_reads_the_graph_and_its_referrer_counts_from_the_cache(rich_root, tmp_path, monkeypatch):
    """A warm run neither rebuilds the graph nor counts its edges again: the counts
    (the in-degree hub damping needs, the one costly structural quantity) are stored."""
    import ripmap.api
    import ripmap.graph as graph_mod

    with RepoMap(rich_root, cache_dir=tmp_path / "c", warn=lambda m: None) as cold:
        want = cold.rank(focus=FOCUS).scores

    def boom(*a, **k):
        raise AssertionError("the graph was rebuilt or recounted although the cache holds it")

    monkeypatch.setattr(ripmap.api, "build_graph", boom)
    monkeypatch.setattr(graph_mod, "_column_counts", boom)
    with RepoMap(rich_root, cache_dir=tmp_path / "c", warn=lambda m: None) as warm:
        assert warm.rank(focus=FOCUS).scores == want


@needs_git
def test_the_lexical_index_goes_through_the_typed_store(rich):
    from ripmap.rank import RankContext, rank

    class Store:
        def __init__(self):
            self.kept = None
            self.loads = 0

        def load_lexical(self, n_files):
            self.loads += 1
            return self.kept if self.kept is not None and self.kept.n_files == n_files else None

        def save_lexical(self, lx):
            self.kept = lx

    store = Store()
    a = rank(RankContext(graph=rich.graph, store=store), PINNED, focus=FOCUS)
    assert store.kept is not None and store.loads == 1
    b = rank(RankContext(graph=rich.graph, store=store), PINNED, focus=FOCUS)
    assert store.loads == 2 and a.scores == b.scores


@needs_git
def test_a_file_the_query_points_at_sheds_its_class_weight(rich):
    f = "testdata/inputs.py"
    w = PINNED["weight_fixture"]
    assert factor(rich.rank(params=PINNED), f, "file_class") == pytest.approx(w)
    for query in (dict(chat_files=[f]), dict(mentioned_files=[f]), dict(focus="inputs")):
        assert factor(rich.rank(params=PINNED, **query), f, "file_class") == 1.0, query
    # a focus that only matches a name inside it: found by the focus, still weighed as a fixture
    r = rich.rank(params=PINNED, focus="sample_input")
    assert factor(r, f, "focus") == 1.0
    assert factor(r, f, "file_class") == pytest.approx(w)


SHAPES_PY = "def area(s):\n    return s * s\n\n\ndef perimeter(s):\n    return 4 * s\n"
SHAPES_PYI = "def area(s: int) -> int: ...\ndef perimeter(s: int) -> int: ...\n"
# layout name -> (noise file, its text, extra files)
NOISE_LAYOUTS = {
    "fixture": ("tests/samples/shapes.py", SHAPES_PY, {}),
    "testdata": ("pkg/testdata/shapes.py", SHAPES_PY, {}),
    "stub tree": ("test-data/lib-stub/shapes.pyi", SHAPES_PYI, {}),
    "typeshed": ("pkg/typeshed/stdlib/shapes.pyi", SHAPES_PYI, {}),
    "vendored": ("external/geom/shapes.py", SHAPES_PY, {}),
    "generated name": ("gen/shapes_pb2.py", SHAPES_PY, {}),
    "generated header": ("gen/shapes.py", "# Code generated by shapegen. DO NOT EDIT.\n" + SHAPES_PY, {}),
    "linguist-generated": ("gen/shapes.py", SHAPES_PY, {".gitattributes": "gen/** linguist-generated\n"}),
}


def noisy_repo(root: Path, noise: str, text: str, extra: dict[str, str]) -> Path:
    """Real code in src/app/, plus one noise file whose names the code uses the most.

    engine.py is used by two files; the noise file's area/perimeter by four, twice
    each: by references alone the noise file is the centre of the repository.
    """
    files = {
        "src/app/engine.py": "class Engine:\n    pass\n\n\ndef run_engine(e: Engine):\n    return e\n",
        "src/app/main.py": "def main():\n    return run_engine(Engine())\n",
        "src/app/jobs.py": "def job(e: Engine):\n    return run_engine(e)\n",
        noise: text,
        **extra,
    }
    for i in range(4):
        files[f"src/app/calc{i}.py"] = f"def calc{i}(x):\n    return area(x) + perimeter(x)\n"
    return init_repo(root, files)


@needs_git
@pytest.mark.parametrize("layout", sorted(NOISE_LAYOUTS))
def test_noise_no_longer_outranks_the_code(tmp_path, layout, git_isolated):
    noise, text, extra = NOISE_LAYOUTS[layout]
    root = noisy_repo(tmp_path / "repo", noise, text, extra)
    with RepoMap(root, cache_dir=tmp_path / "c", warn=lambda m: None) as rm:
        # the premise: weighed like code, the noise file is the top of the map
        assert rm.rank(params=DEFAULT.replace(**UNWEIGHTED)).files[0] == noise
        r = rm.rank()
        assert r.files[0] == "src/app/engine.py"
        assert noise in r.files  # mapped, only weighed down
        assert r.rank_of(noise) > r.rank_of("src/app/main.py")
        assert r.explain(noise).classes  # and explain says why
        # a user who asks for it still finds it first
        assert rm.rank(focus="shapes").files[0] == noise
        assert rm.rank(chat_files=[noise]).files[0] == noise


def docs_repo(root: Path) -> Path:
    return init_repo(root, {
        "README.md": "# Shapes\n\n## Installation\n\nRun pip.\n\n## Usage\n\nCall the area helper.\n",
        "CONTRIBUTING.md": "# Contributing\n\n## Running the tests\n\nRun pytest.\n",
        "docs/design.md": "# Design\n\n## Layers\n\nThe CLI calls the library.\n",
        "src/shapes/area.py": "def area(s):\n    return s * s\n",
        "src/shapes/cli.py": "def main():\n    return area(2)\n",
        "src/shapes/util.py": "def clamp(x):\n    return x\n",
    })


@needs_git
def test_docs_rank_below_code_unless_the_focus_asks_for_them(tmp_path, git_isolated):
    root = docs_repo(tmp_path / "repo")
    docs = {"README.md", "CONTRIBUTING.md", "docs/design.md"}
    with RepoMap(root, cache_dir=tmp_path / "c", warn=lambda m: None) as rm:
        # the premise: weighed like code, a root README outranks a leaf module
        old = rm.rank(params=DEFAULT.replace(**UNWEIGHTED))
        assert old.rank_of("README.md") < old.rank_of("src/shapes/util.py")
        r = rm.rank()
        code_ranks = [r.rank_of(f) for f in r.files if f not in docs]
        assert max(code_ranks) < min(r.rank_of(f) for f in docs)
        assert factor(r, "README.md", "file_class") == pytest.approx(DEFAULT["weight_docs"])
        # the focus asks for docs in words (all docs lifted), or names a file (that one)
        for focus, top in (("installation guide", "README.md"), ("where are the docs", "docs/design.md"),
                           ("README", "README.md"), ("contributing", "CONTRIBUTING.md")):
            asked = rm.rank(focus=focus)
            assert asked.files[0] == top, focus
            assert factor(asked, top, "file_class") == 1.0, focus
        assert factor(rm.rank(focus="where are the docs"), "CONTRIBUTING.md", "file_class") == 1.0
        assert factor(rm.rank(focus="contributing"), "README.md", "file_class") == DEFAULT["weight_docs"]
        e = rm.rank(focus="installation guide").explain("README.md")
        assert e.classes == ("docs",) and "lifted" in e.table()


@needs_git
def test_explain_shows_the_class_and_its_weight(tmp_path, git_isolated):
    import json
    import os
    import sys

    noise, text, extra = NOISE_LAYOUTS["fixture"]
    root = noisy_repo(tmp_path / "repo", noise, text, extra)
    env = {**os.environ, "RIPMAP_CACHE_DIR": str(tmp_path / "c")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "ripmap.cli", str(root), "--explain", *a],  # noqa: E731
                                    capture_output=True, text=True, env=env, timeout=120)
    out = run(noise)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.split()[:1] == ["file_class"])
    w = DEFAULT["weight_fixture"]
    assert float(line.split()[1]) == pytest.approx(w, rel=1e-3)
    assert "fixture" in line and "test" in line
    js = json.loads(run(noise, "--format", "json").stdout)
    assert js["classes"] == ["fixture", "test"]
    assert js["class_weight"] == pytest.approx(w * DEFAULT["weight_test"])
    code = run("src/app/engine.py")
    assert "(code)" in next(ln for ln in code.stdout.splitlines() if ln.split()[:1] == ["file_class"])


# ----------------------------------------------------------------------------- the task text as focus

@needs_git
def test_a_traceback_puts_its_file_first(rich):
    trace = ("Traceback (most recent call last):\n"
             '  File "/srv/venv/app/app.py", line 12, in main\n'
             '  File "/srv/venv/app/io/parser.py", line 5, in parser_fn\n'
             "KeyError: 'text'\n")
    r = rich.rank(focus=trace)
    assert r.files[0] == "io/parser.py"  # the innermost frame
    assert r.rank_of("app.py") <= 3
    assert r.query.kind == "trace"
    # without the trace the parser is nowhere near the top
    assert rich.rank().rank_of("io/parser.py") > 5


@needs_git
def test_a_backticked_identifier_puts_its_definer_in_the_top_3(rich):
    for focus in ("the cache breaks when `handle_request` retries", "why is handle_request() slow",
                  "HandleRequest? no: `api.handlers.handle_request`"):
        r = rich.rank(focus=focus)
        assert r.rank_of("api/handlers.py") <= 3, (focus, r.files[:5])
    assert rich.rank().rank_of("api/handlers.py") > 3


@needs_git
def test_plain_words_seed_no_graph_expansion(rich):
    """Stop words and commit verbs name nothing; words feed lexical relevance only."""
    r = rich.rank(focus="fix the handling of the refresher and add it for them")
    assert r.query.kind == "prose" and r.query.words == ("refresher",)
    assert all(factor(r, f, "focus") == 0.0 for f in r.files)  # no expansion at all
    by_lexical = max(r.files, key=lambda f: factor(r, f, "lexical"))
    assert by_lexical == "auth/token.py"  # TokenRefresher, found by its words
    assert r.rank_of("auth/token.py") <= 3


@needs_git
def test_task_text_keeps_the_chat_files_evidence(rich):
    """A+msg: a message next to a chat file adds evidence; it replaces none of the chat's."""
    alone = rich.rank(chat_files=[S])
    both = rich.rank(chat_files=[S], focus="make the refresher configurable")
    for f in ("pair_a.py", "auth/token.py"):
        for sig in ("cochange", "lexical_chat"):
            assert factor(both, f, sig) == pytest.approx(factor(alone, f, sig)), (f, sig)
    assert factor(both, "pair_a.py", "cochange") > 0 and factor(both, "auth/token.py", "lexical_chat") > 0
    assert both.rank_of("pair_a.py") <= alone.rank_of("pair_a.py") + 2
    assert both.rank_of("auth/token.py") <= alone.rank_of("auth/token.py")


@needs_git
def test_identifiers_in_the_task_text_do_not_dilute_the_chat_files_history(rich):
    """A+msg: `compute` (core/utils.py, 8 commits of its own) named next to a chat file
    points at its definer, but does not share the chat file's co-change seed mass, which
    would halve pair_a.py's evidence; with no chat file it is what co-change starts from."""
    alone = rich.rank(chat_files=[S])
    both = rich.rank(chat_files=[S], focus="`compute` returns a stale value after the refresh")
    assert factor(both, "core/utils.py", "mentioned_ident") == pytest.approx(DEFAULT["boost_mentioned_ident"])
    assert factor(both, "pair_a.py", "cochange") == pytest.approx(factor(alone, "pair_a.py", "cochange"))
    assert factor(alone, "pair_a.py", "cochange") > 0
    # no chat file: the identifier's definer seeds co-change (its own commits are alone,
    # so nothing else gains, and the chat-less path still runs through the seeds)
    only = rich.rank(focus="`start_session` forgets the refresh token")
    assert factor(only, "pair_a.py", "cochange") > 0


@needs_git
def test_explain_and_json_show_what_the_query_was_understood_as(rich_root, tmp_path):
    import json
    import sys

    env = {**os.environ, "RIPMAP_CACHE_DIR": str(tmp_path / "c")}
    focus = "`refresh_token` fails in auth/session.py when the token expires"
    out = subprocess.run([sys.executable, "-m", "ripmap.cli", str(rich_root), "-f", focus, "--format", "json",
                          "-t", "500"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    q = json.loads(out.stdout)["stats"]["query"]
    assert q["kind"] == "entity"
    assert [f["path"] for f in q["files"]][:1] == ["auth/session.py"]
    assert [i["name"] for i in q["identifiers"]] == ["refresh_token"]
    assert "expires" in q["words"] and "the" not in q["words"]
    ex = subprocess.run([sys.executable, "-m", "ripmap.cli", str(rich_root), "-f", focus, "--explain",
                         "auth/token.py"], capture_output=True, text=True, env=env, timeout=120)
    assert ex.returncode == 0, ex.stderr
    assert "focus understood as (entity)" in ex.stdout and "identifiers: refresh_token" in ex.stdout


def test_a_name_that_many_files_define_points_at_none_of_them(tmp_path):
    """`Rack::Head` in a commit message: `Rack` is the module every file of the library
    opens, so as a pointer it would make the whole library "mentioned" and seed pairing
    and co-change from all of it; only `Head`'s one definer is pointed at."""
    from ripmap.rank.score import MAX_POINTED_DEFINERS

    files = {f"lib/rack/m{i}.rb": f"module Rack\n  class M{i}\n    def call(env)\n      env\n    end\n  end\nend\n"
             for i in range(MAX_POINTED_DEFINERS + 2)}
    files["lib/rack/head.rb"] = "module Rack\n  class Head\n    def call(env)\n      M1.new.call(env)\n    end\n  end\nend\n"
    root = tmp_path / "r"
    write_tree(root, files)
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        r = rm.rank(focus="Directly close the body in `Rack::Head`.", params=PINNED)
        assert factor(r, "lib/rack/head.rb", "mentioned_ident") == pytest.approx(PINNED["boost_mentioned_ident"])
        for i in range(MAX_POINTED_DEFINERS + 2):
            assert factor(r, f"lib/rack/m{i}.rb", "mentioned_ident") == pytest.approx(1.0)
        assert r.files[0] == "lib/rack/head.rb"


def test_chat_lexical_evidence_is_relative_to_the_chat_file_itself(tmp_path):
    """The best of weak vocabulary matches stays weak: a file sharing one of the chat
    file's five names earns a small share of the lexical-chat weight, not all of it (it
    used to be scaled to the best other file, so the best of any matches earned 1)."""
    names = ["parse_header", "render_footer", "compute_margin", "lookup_glyph", "flush_buffer"]
    files = {
        "chat.py": "".join(f"def {n}():\n    return 1\n\n" for n in names),
        "weak.py": "from chat import parse_header\n\ndef unrelated_thing():\n    return parse_header()\n",
    }
    root = tmp_path / "r"
    write_tree(root, files)
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        weak = factor(rm.rank(chat_files=["chat.py"], params=PINNED), "weak.py", "lexical_chat")
    assert 0 < weak < 0.5
    # a file using all five names is a far better match than the one using one
    files["strong.py"] = "from chat import *\n\ndef use_all():\n" + "".join(f"    {n}()\n" for n in names)
    write_tree(root, files)
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        r = rm.rank(chat_files=["chat.py"], params=PINNED)
        assert factor(r, "weak.py", "lexical_chat") < 0.5 * factor(r, "strong.py", "lexical_chat")


def test_a_class_defining_items_does_not_take_every_dict_items_call(tmp_path, git_isolated):
    # one class of the repository happens to define `items`; ten modules call `.items()`
    # on their own dicts and import nothing of it. Before, the class was the name's single
    # definer and took all ten calls, topping the map over the module that everyone
    # really imports and calls
    files = {
        "pkg/bag.py": "class Bag:\n    def items(self):\n        return []\n",
        "pkg/core.py": "def load_config(path):\n    return {}\n",
    }
    for i in range(10):
        files[f"pkg/user{i}.py"] = (
            "from pkg.core import load_config\n\n"
            f"def run{i}(path):\n    cfg = load_config(path)\n"
            "    return [k for k, v in cfg.items()]\n")
    root = write_tree(tmp_path / "items", files)
    with RepoMap(root, cache_dir=tmp_path / "c", warn=lambda m: None) as rm:
        r = rm.rank()
        assert r.files[0] == "pkg/core.py"
        assert r.scores["pkg/bag.py"] < r.scores["pkg/core.py"] / 2
        # a module that imports the class still reaches it through the name
        (root / "pkg/user0.py").write_text("from pkg.bag import Bag\n\ndef run0():\n    return Bag().items()\n")
    with RepoMap(root, cache_dir=tmp_path / "c2", warn=lambda m: None) as rm:
        g = rm.context.graph
        W = rm.context.file_graph(DEFAULT)
        fi = g.file_index
        x = np.zeros(g.n_files)
        x[fi["pkg/bag.py"]] = 1.0
        reach = np.asarray(W @ x).ravel()  # weight of each file's edge to bag.py
        assert reach[fi["pkg/user0.py"]] > 10 * reach[fi["pkg/user1.py"]] > 0
