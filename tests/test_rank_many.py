"""Ranking many queries at once (rank/score.rank_many, rank/pagerank's block solvers,
the context's memos) and the evaluator that uses it: the same rankings as one query at a
time, and no memo that outlives the parameters it depends on."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from fixtures_rank import make_rich_repo
from planted import make_planted_repo
from ripmap.api import RepoMap
from ripmap.rank import RankContext, rank
from ripmap.rank.pagerank import DirectSolver, pagerank, pagerank_many, transition
from ripmap.rank.params import DEFAULT, Params
from ripmap.rank.score import Query, rank_many
from ripmap.train.cases.oracle import mine_cases
from ripmap.train.evaluation.evaluator import Evaluator
from ripmap.train.evaluation.metrics import (average_precision, case_metrics, hit_at_k, mrr, ndcg_at_k,
                                             precision_at_k, recall_at_k)


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    root = make_rich_repo(tmp_path_factory.mktemp("rich") / "repo")
    with RepoMap(root, cache_dir=tmp_path_factory.mktemp("rich_cache"), warn=lambda m: None) as rm:
        yield rm


def _queries(files: list[str]) -> list[Query]:
    """Every kind of query: chat files alone, focus text alone, both, and a named identifier."""
    qs = [Query(chat_files=(f,)) for f in files[:8]]
    qs += [Query(focus="fix the churny module and its tests"), Query(focus="app.py top level handler"),
           Query(chat_files=(files[0],), focus="deep module three"), Query(chat_files=(files[1], files[2])),
           Query(mentioned_idents=("main",)), Query(focus="docs for the vendor code"),
           Query(focus="top churny fresh")]
    return qs * 2  # repeats: at least DIRECT_MIN_QUERIES, and memo hits within one call


def _fresh(rich) -> RankContext:
    """A context over the same index with empty memos."""
    c = rich.context
    return RankContext(graph=c.graph, git=c.git, flags=c.flags, defs=c.defs)


def _assert_same_ranking(a, b) -> None:
    """Equal within PageRank's tolerance: the same order wherever scores are apart by
    more than that, and scores equal to 1e-6 relative."""
    sa = np.array([a.scores[f] for f in a.files])
    sb = np.array([b.scores[f] for f in a.files])
    np.testing.assert_allclose(sa, sb, rtol=1e-6, atol=1e-12)
    assert a.files == b.files


@pytest.mark.parametrize("direct", [True, False])
def test_rank_many_equals_rank_one_query_at_a_time(rich, direct):
    ctx = rich.context
    qs = _queries(list(ctx.graph.files))
    p = Params({**DEFAULT.to_dict(), "pagerank_alpha": 0.7, "hub_damping": 0.3})
    batch = rank_many(_fresh(rich), p, qs, direct=direct)
    assert len(batch) == len(qs)
    for q, got in zip(qs, batch):
        one = rank(_fresh(rich), p, chat_files=q.chat_files, focus=q.focus,
                   mentioned_idents=q.mentioned_idents, mentioned_files=q.mentioned_files)
        _assert_same_ranking(got, one)
        for f in one.files[:3]:  # explanations read the same signals
            assert got.explain(f).as_dict()["rank"] == one.explain(f).as_dict()["rank"]


@pytest.mark.parametrize("change", [{"pagerank_alpha": 0.55}, {"edge_weight_call": 3.0},
                                    {"import_resolution_bias": 50.0}, {"depth_weight_root": 0.3},
                                    {"pagerank_chat_multiplier": 5.0}, {"weight_test": 0.05},
                                    {"focus_decay": 0.9}, {"focus_max_hops": 1.0}, {"lexical_floor": 1.0}])
def test_memos_follow_the_parameters_they_depend_on(rich, change):
    """A context that ranked at one point and then at another must give what a fresh
    context gives at the second: a memo (graph, factorization, PageRank or focus
    expansion per query, the best lexical matches' pairing) that ignored the changed
    parameter would hand back the first point's numbers."""
    qs = _queries(list(rich.context.graph.files))
    p1 = Params({**DEFAULT.to_dict(), "hub_damping": 0.0})
    p2 = Params({**p1.to_dict(), **change})
    used = _fresh(rich)
    first = rank_many(used, p1, qs, direct=True)
    second = rank_many(used, p2, qs, direct=True)
    fresh = rank_many(_fresh(rich), p2, qs, direct=True)
    moved = False
    for a, b, r1 in zip(second, fresh, first):
        for sig in ("pagerank", "focus", "pairing", "lexical"):
            np.testing.assert_array_equal(a.signals.value(sig), b.signals.value(sig))
        _assert_same_ranking(a, b)
        moved |= not all(np.allclose(a.signals.value(sig), r1.signals.value(sig), rtol=1e-9, atol=0)
                         for sig in ("pagerank", "focus", "pairing"))
    assert moved, f"{change} moves none of the memoized signals on the fixture: the test proves nothing"


def test_pagerank_memo_is_reused_when_only_fusion_weights_move(rich):
    """The other side of the key: a point that moves no PageRank input reuses the vectors."""
    qs = _queries(list(rich.context.graph.files))
    ctx = _fresh(rich)
    rank_many(ctx, DEFAULT, qs, direct=True)
    p = Params({**DEFAULT.to_dict(), "boost_lexical": DEFAULT["boost_lexical"] * 2})
    again = rank_many(ctx, p, qs, direct=True)
    first = rank_many(ctx, DEFAULT, qs, direct=True)
    for a, b in zip(again, first):
        assert a.signals.pagerank is b.signals.pagerank


def _random_graph(n: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    W = sp.random(n, n, density=0.08, random_state=rng, format="csr")
    W.setdiag(0)
    W.eliminate_zeros()
    W = W.tolil()
    W[: n // 10] = 0  # dangling files
    return W.tocsr()


@pytest.mark.parametrize("alpha", [0.5, 0.85, 0.95])
def test_block_pageranks_equal_single_pagerank(alpha):
    W = _random_graph(120, 1)
    PT, dangling = transition(W)
    rng = np.random.default_rng(2)
    P = rng.random((120, 9))
    P[:, 0] = 0.0  # no personalization: uniform
    P[rng.random((120, 9)) < 0.7] = 0.0
    P[:, 1] = 0.0
    P[5, 1] = 1.0  # one seed
    single = np.stack([pagerank(W, P[:, j], alpha=alpha) for j in range(P.shape[1])], axis=1)
    batched = pagerank_many(PT, dangling, P, alpha=alpha)
    direct = DirectSolver(PT, dangling, alpha).solve(P)
    tol = 1e-9 * alpha / (1 - alpha) * 2  # power iteration stops within this of the fixed point
    for got in (batched, direct):
        np.testing.assert_allclose(got.sum(axis=0), 1.0)
        assert np.abs(got - single).sum(axis=0).max() < tol


def test_direct_solver_keeps_structural_ties_exact():
    """Files the graph cannot tell apart (no incoming edges, the same personalization)
    tie exactly, as under power iteration, so their order is still decided by path."""
    W = _random_graph(80, 3).tolil()
    W[:, 70:] = 0  # files 70..79 are referenced by no one
    W = W.tocsr()
    PT, dangling = transition(W)
    p = np.ones(80)
    x = DirectSolver(PT, dangling, 0.85).solve(p[:, None])[:, 0]
    assert len(set(x[70:].tolist())) == 1


def test_case_metrics_equal_the_single_metrics():
    rng = np.random.default_rng(4)
    paths = [f"f{i}.py" for i in range(60)]
    for trial in range(200):
        ranking = list(rng.permutation(paths)[: rng.integers(0, 60)])
        if trial % 3 == 0 and ranking:  # repeats: only a path's first position counts
            ranking = ranking + list(rng.choice(ranking, 5)) + ranking[:3]
            ranking = list(rng.permutation(ranking)) if trial % 2 else ranking
        expected = {p: float(rng.choice([0.0, 0.3, 0.5, 1.0])) for p in rng.choice(paths, rng.integers(0, 8))}
        th = float(rng.choice([0.0, 0.5]))
        m = case_metrics(ranking, expected, th)
        assert m.ndcg_5 == ndcg_at_k(ranking, expected, 5) and m.ndcg_10 == ndcg_at_k(ranking, expected, 10)
        assert m.p_5 == precision_at_k(ranking, expected, 5, th) and m.p_10 == precision_at_k(ranking, expected, 10, th)
        assert m.r_5 == recall_at_k(ranking, expected, 5, th) and m.r_10 == recall_at_k(ranking, expected, 10, th)
        assert m.hit_5 == hit_at_k(ranking, expected, 5, th) and m.hit_10 == hit_at_k(ranking, expected, 10, th)
        assert m.mrr == mrr(ranking, expected, th) and m.map == average_precision(ranking, expected, th)


def test_evaluator_scores_what_rank_returns_per_case(tmp_path: Path):
    """The evaluator's block ranking scores each case as one call of rank() would."""
    root = make_planted_repo(tmp_path / "planted")
    mined = mine_cases(root, snapshot_back=9, max_commits=50)
    ev = Evaluator([mined], cache_dir=tmp_path / "c")
    p = Params({**DEFAULT.to_dict(), "pagerank_alpha": 0.6})
    res = ev.evaluate(p, explain_failures=False)
    assert len(res.per_case) == len(mined.cases) >= 16
    ctx = next(iter(ev.snapshots.values())).ctx
    for c, m in res.per_case:
        r = rank(RankContext(graph=ctx.graph, git=ctx.git, flags=ctx.flags, defs=ctx.defs), p,
                 chat_files=c.chat_files, focus=c.focus)
        files = [f for f in r.files if f not in c.chat_files]
        assert m == case_metrics(files, c.expected_map)
    again = ev.evaluate(p, explain_failures=False)  # memos filled: the same numbers
    assert [m for _, m in again.per_case] == [m for _, m in res.per_case]


def test_focus_expansion_walks_only_the_frontier_to_the_same_values():
    """The frontier walk gives, bit for bit, the whole-graph definition: each hop every
    file takes decay × its strongest neighbour's strength, kept if it beats what it had."""
    import math

    from ripmap.rank.signals import focus_expansion

    def whole_graph(A, seed, decay, hops):
        out, prev, h = seed.copy(), seed.copy(), 1
        while h <= math.ceil(hops):
            fade = min(1.0, max(0.0, hops - h + 1.0))
            spread = np.asarray(A.multiply(prev).max(axis=1).todense()).ravel() * decay
            if not spread.any():
                break
            out, prev, h = np.maximum(out, spread * fade), np.maximum(prev, spread), h + 1
        return out

    rng = np.random.default_rng(5)
    for trial in range(60):
        n = int(rng.integers(2, 90))
        W = sp.random(n, n, density=float(rng.choice([0.01, 0.05, 0.2])), random_state=rng, format="csr")
        A = ((W + W.T) > 0).astype(np.float64).tocsr()
        seed = np.zeros(n)
        k = int(rng.integers(1, 4))
        seed[rng.integers(0, n, k)] = rng.random(k)
        decay, hops = float(rng.uniform(0.05, 0.95)), float(rng.choice([0.5, 1.0, 2.0, 2.5, 5.0]))
        np.testing.assert_array_equal(focus_expansion(W, seed, decay, hops, A=A), whole_graph(A, seed, decay, hops))


def test_a_long_search_keeps_few_graphs_and_no_memo_of_a_dropped_one(rich):
    """A search visits hundreds of graph-parameter points: the context keeps at most
    MAX_FILE_GRAPHS assembled graphs, and coming back to an evicted point gives what a
    fresh context gives (memos keyed by a dropped graph's id must go with it, or a new
    graph that reuses the id would read another graph's transition and degrees)."""
    from ripmap.rank.context import MAX_FILE_GRAPHS

    qs = _queries(list(rich.context.graph.files))
    used = _fresh(rich)
    points = [Params({**DEFAULT.to_dict(), "edge_weight_other": w, "hub_damping": 0.2})
              for w in np.linspace(0.05, 5.0, MAX_FILE_GRAPHS + 4)]
    for p in points:
        rank_many(used, p, qs, direct=False)
    assert len(used.file_graphs) == MAX_FILE_GRAPHS
    live = {id(W) for W in used.file_graphs.values()}
    assert all(k[1] in live for k in used._memo if isinstance(k, tuple) and len(k) == 2
               and k[0] in ("PT", "undirected", "indeg"))
    again = rank_many(used, points[0], qs, direct=False)
    fresh = rank_many(_fresh(rich), points[0], qs, direct=False)
    for a, b in zip(again, fresh):
        _assert_same_ranking(a, b)
