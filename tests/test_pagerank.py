"""Personalized PageRank against hand-solved systems and an independent dense solve.

The reference solution is the fixed point of

    r = α·Pᵀr + α·(dᵀr)·p + (1-α)·p

(P row-normalized, d the dangling indicator, p the normalized personalization),
written here as the dense linear system (I - αPᵀ - α·p·dᵀ)·r = (1-α)·p and solved
with numpy, so nothing in the expected values comes from the code under test.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp

from ripmap.rank.pagerank import pagerank, transition


def dense_reference(W: np.ndarray, p: np.ndarray, alpha: float) -> np.ndarray:
    """Exact personalized PageRank by a direct solve (independent of ripmap)."""
    W = np.asarray(W, dtype=float)
    n = W.shape[0]
    p = np.asarray(p, dtype=float)
    p = p / p.sum()
    out = W.sum(axis=1)
    d = (out == 0).astype(float)
    P = np.zeros_like(W)
    for i in range(n):
        if out[i] > 0:
            P[i] = W[i] / out[i]
    A = np.eye(n) - alpha * P.T - alpha * np.outer(p, d)
    r = np.linalg.solve(A, (1 - alpha) * p)
    return r


# W[i, j] = weight of the reference i -> j. Node 2 is dangling.
W3 = np.array([[0.0, 1.0, 3.0],
               [0.0, 0.0, 1.0],
               [0.0, 0.0, 0.0]])


def test_three_nodes_hand_solved():
    # alpha = 1/2, uniform p. Solved by hand (see module docstring):
    #   r0 = r2/6 + 1/6,  r1 = r0/8 + r2/6 + 1/6,  r2 = (3/4 r0 + r1)/2 + r2/6 + 1/6
    # gives r = (16, 18, 31) / 65.
    r = pagerank(sp.csr_matrix(W3), alpha=0.5)
    expected = np.array([Fraction(16, 65), Fraction(18, 65), Fraction(31, 65)], dtype=float)
    np.testing.assert_allclose(r, expected, rtol=0, atol=1e-8)
    assert r.sum() == pytest.approx(1.0, abs=1e-12)


def test_dangling_mass_goes_to_personalization_only():
    # All personalization on node 1. Node 0 has no in-edges, so if the dangling
    # node's mass were spread uniformly node 0 would get some; it must get none.
    # By hand with alpha: r1 = alpha*r2 + (1-alpha), r2 = alpha*r1 -> r1 = 1/(1+alpha).
    alpha = 0.5
    r = pagerank(sp.csr_matrix(W3), np.array([0.0, 1.0, 0.0]), alpha=alpha)
    np.testing.assert_allclose(r, [0.0, 1 / (1 + alpha), alpha / (1 + alpha)], atol=1e-8)
    assert r[0] == pytest.approx(0.0, abs=1e-12)


def test_four_nodes_matches_dense_solve():
    W = np.array([[0.0, 2.0, 1.0, 0.0],
                  [0.5, 0.0, 0.0, 1.5],
                  [0.0, 0.0, 0.0, 0.0],  # dangling
                  [1.0, 1.0, 1.0, 0.0]])
    p = np.array([0.1, 0.2, 3.0, 0.7])  # unnormalized on purpose
    for alpha in (0.5, 0.85, 0.98):
        r = pagerank(sp.csr_matrix(W), p, alpha=alpha)
        np.testing.assert_allclose(r, dense_reference(W, p, alpha), rtol=0, atol=1e-8)
        assert r.sum() == pytest.approx(1.0, abs=1e-12)
        assert (r >= 0).all()


def test_precomputed_transition_gives_same_result():
    W = sp.csr_matrix(np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    PT, dangling = transition(W)
    assert dangling.tolist() == [False, False, True]
    p = np.array([1.0, 2.0, 3.0])
    a = pagerank(W, p, alpha=0.7)
    b = pagerank(W, p, alpha=0.7, PT=PT, dangling=dangling)
    np.testing.assert_allclose(a, b, atol=1e-14)
    np.testing.assert_allclose(a, dense_reference(W.toarray(), p, 0.7), atol=1e-8)


def test_uniform_personalization_is_the_default():
    W = sp.csr_matrix(W3)
    np.testing.assert_allclose(pagerank(W), pagerank(W, np.ones(3)), atol=1e-14)
    # scaling the personalization does not matter: it is normalized
    np.testing.assert_allclose(pagerank(W, np.array([1.0, 2.0, 3.0])),
                               pagerank(W, np.array([10.0, 20.0, 30.0])), atol=1e-12)


def test_personalization_shifts_mass():
    W = np.array([[0.0, 1.0, 0.0, 0.0],
                  [0.0, 0.0, 1.0, 0.0],
                  [0.0, 0.0, 0.0, 1.0],
                  [1.0, 0.0, 0.0, 0.0]])  # a 4-cycle: uniform p gives 1/4 each
    base = pagerank(sp.csr_matrix(W), alpha=0.85)
    np.testing.assert_allclose(base, np.full(4, 0.25), atol=1e-8)
    p = np.array([0.0, 0.0, 1.0, 0.0])
    r = pagerank(sp.csr_matrix(W), p, alpha=0.85)
    np.testing.assert_allclose(r, dense_reference(W, p, 0.85), atol=1e-8)
    assert r[2] > base[2] and r[3] > base[3]  # the seed and its successor gain
    assert r[1] < base[1]  # the node just before the seed is reached last
    # on a cycle, rank decays by alpha per step away from the seed
    assert r[3] == pytest.approx(0.85 * r[2], rel=1e-8)


def test_result_sums_to_one_without_any_edges():
    W = sp.csr_matrix((3, 3))
    r = pagerank(W, np.array([1.0, 1.0, 2.0]), alpha=0.85)
    np.testing.assert_allclose(r, [0.25, 0.25, 0.5], atol=1e-10)


@pytest.mark.parametrize("bad", [
    np.array([1.0, 1.0]),  # wrong length
    np.array([1.0, 1.0, 1.0, 1.0]),
    np.array([1.0, -0.5, 1.0]),  # negative
    np.array([1.0, np.nan, 1.0]),
    np.array([1.0, np.inf, 1.0]),
    np.ones((3, 1)),  # wrong shape
])
def test_invalid_personalization_raises(bad):
    with pytest.raises(ValueError):
        pagerank(sp.csr_matrix(W3), bad)


def test_empty_graph():
    r = pagerank(sp.csr_matrix((0, 0)))
    assert isinstance(r, np.ndarray)
    assert r.shape == (0,)


def test_deterministic():
    W = sp.random(30, 30, density=0.2, random_state=np.random.default_rng(3), format="csr")
    p = np.random.default_rng(4).random(30)
    a = pagerank(W, p)
    b = pagerank(W.copy(), p.copy())
    assert np.array_equal(a, b)
    np.testing.assert_allclose(a, dense_reference(W.toarray(), p, 0.85), atol=1e-8)


def test_a_large_graphs_two_terms_side_by_side_give_the_same_bits(monkeypatch):
    # one PageRank step's import share and shared path run on two threads when the graph
    # is large: the answer must be the one-thread answer bit for bit
    import ripmap.rank.edges as edges
    import ripmap.rank.threads as threads
    from ripmap.graph import build_graph
    from ripmap.rank.params import DEFAULT
    from ripmap.rank.pagerank import pagerank

    from ripmap.extract.tags import Tag

    rng = np.random.default_rng(5)
    n_files, n_names = 400, 120
    files = tuple(f"pkg/m{i:03d}.py" for i in range(n_files))
    tags = {}
    for i, rel in enumerate(files):
        defs = [Tag(1 + k, f"n{k}", True, "function", 1 + k) for k in rng.choice(n_names, 3, replace=False)]
        refs = [Tag(200, f"n{k}", False, "call", 200) for k in rng.choice(n_names, 6, replace=False)]
        imps = [Tag(1, f"pkg.m{j:03d}", False, "import", 1) for j in rng.choice(n_files, 2, replace=False)]
        tags[rel] = defs + refs + imps
    g = build_graph(files, tags)
    W = edges.factored_file_graph(g, DEFAULT)
    assert W.Wi.nnz and W.Rw.nnz  # both terms carry edges
    x = rng.random((n_files, 3))
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(edges, "MIN_NNZ", 10**12)
    alone = W.rmatmul(x)
    r_alone = pagerank(W, np.ones(n_files))
    handed: list[int] = []
    real = threads._helper

    def helper():
        handed.append(1)
        return real()

    monkeypatch.setattr(threads, "_helper", helper)
    monkeypatch.setattr(edges, "MIN_NNZ", 1)
    assert np.array_equal(W.rmatmul(x), alone)
    assert np.array_equal(pagerank(W, np.ones(n_files)), r_alone)
    assert handed  # the second thread did take part


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork only")
def test_a_forked_child_gets_a_helper_thread_of_its_own(monkeypatch):
    # a trainer's forked worker inherits the parent's executor but not its thread: work
    # handed to it would never run, so the child must start its own
    import os

    import ripmap.rank.threads as threads

    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    assert threads.side_by_side(lambda: 1, lambda: 2, large=True) == (1, 2)  # the parent's helper exists
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into pytest
        try:
            os.close(r)
            got = threads.side_by_side(lambda: 3, lambda: 4, large=True)
            os.write(w, b"ok" if got == (3, 4) else b"bad")
        finally:
            os._exit(0)
    os.close(w)
    import select
    ready, _, _ = select.select([r], [], [], 20)
    out = os.read(r, 8) if ready else b"hung"
    os.close(r)
    if not ready:
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    assert out == b"ok"


class _Counted:
    """``Pᵀ`` that counts its products (what a solve costs)."""

    def __init__(self, PT) -> None:
        self.PT, self.products = PT, 0

    def __matmul__(self, r):
        self.products += 1
        return self.PT @ r


def _graph(n: int, seed: int) -> sp.csr_matrix:
    W = sp.random(n, n, density=4 / n, random_state=np.random.default_rng(seed), format="lil")
    W.setdiag(0)
    return W.tocsr()


def test_the_solve_is_four_orders_closer_than_the_iterations_tolerance():
    """A 300-node graph against the dense solve: within 1e-12 per node (power iteration to
    its L1 tolerance of 1e-9 is off by ~1e-11 here), so where the solve started cannot
    show in a map's printed scores."""
    W, p = _graph(300, 5), np.random.default_rng(6).random(300)
    np.testing.assert_allclose(pagerank(W, p, alpha=0.86), dense_reference(W.toarray(), p, 0.86), rtol=0, atol=1e-12)


def test_a_start_gives_the_same_vector_and_a_close_one_saves_products():
    W, p = _graph(400, 7), np.random.default_rng(8).random(400)
    before = W.tolil()
    before[3, 10] = 5.0  # the edit: one file's references change
    before = before.tocsr()
    start = pagerank(before, p, alpha=0.86)
    PT, dangling = transition(W)
    cold, warm = _Counted(PT), _Counted(PT)
    a = pagerank(W, p, alpha=0.86, PT=cold, dangling=dangling)
    b = pagerank(W, p, alpha=0.86, PT=warm, dangling=dangling, start=start)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)  # where it starts does not show
    assert warm.products <= cold.products
    again = _Counted(PT)  # the same question again (a large tree's, refreshed in place)
    np.testing.assert_allclose(pagerank(W, p, alpha=0.86, PT=again, dangling=dangling, start=a), a, rtol=0, atol=1e-12)
    assert again.products < cold.products / 3
    for bad in (np.full(400, np.nan), np.ones(5), -start, np.zeros(400)):  # not a distribution: ignored
        c = _Counted(PT)
        np.testing.assert_array_equal(pagerank(W, p, alpha=0.86, PT=c, dangling=dangling, start=bad), a)
        assert c.products == cold.products


def test_a_solve_that_breaks_down_falls_back_to_iteration(monkeypatch):
    import ripmap.rank.pagerank as pr

    monkeypatch.setattr(pr, "_bicgstab", lambda *a, **k: None)
    W = np.array([[0.0, 2.0, 1.0, 0.0], [0.5, 0.0, 0.0, 1.5], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    p = np.array([0.1, 0.2, 3.0, 0.7])
    np.testing.assert_allclose(pagerank(sp.csr_matrix(W), p, alpha=0.85), dense_reference(W, p, 0.85), atol=1e-8)


def test_files_tied_but_for_the_order_of_a_sum_stay_tied():
    """Two copies of one package side by side: their files are tied, but the sums that
    reach them run in other orders; the result is rounded so the ties hold exactly."""
    block = _graph(40, 9).toarray()
    W = sp.csr_matrix(np.block([[block, np.zeros((40, 40))], [np.zeros((40, 40)), block]]))
    r = pagerank(W, alpha=0.86)
    assert np.array_equal(r[:40], r[40:])


def test_a_ring_of_modules_is_solved_without_breaking_down(monkeypatch):
    """Twelve modules each importing the next, uniform personalization: against the
    usual shadow residual (the first residual, uniform here) BiCGSTAB broke down at the
    second step and overflowed, warning on stderr; the fixed pseudo-random one solves it."""
    import warnings

    import ripmap.rank.pagerank as pr

    outcomes: list[bool] = []
    real = pr._bicgstab
    monkeypatch.setattr(pr, "_bicgstab", lambda *a: (lambda x: (outcomes.append(x is not None), x)[1])(real(*a)))
    n = 12
    W = np.zeros((n + 1, n + 1))
    for i in range(n):
        W[i, (i + 1) % n] = 1.0
    W[n, 0] = 1.0  # main.py, which nothing imports
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = pagerank(sp.csr_matrix(W), alpha=0.86)
    assert outcomes == [True]  # solved, not handed to the iteration
    np.testing.assert_allclose(r, dense_reference(W, np.ones(n + 1), 0.86), rtol=0, atol=1e-12)
