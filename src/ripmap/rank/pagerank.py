"""Personalized PageRank by power iteration on a sparse weighted graph.

``r = α·Pᵀr + α·d(r)·p + (1-α)·p`` where ``P`` is the row-normalized weight matrix,
``p`` the personalization (sums to 1) and ``d(r)`` the rank held by dangling files
(no outgoing references), which is returned through the personalization rather than
lost. Iteration stops when the L1 change falls below ``tol``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def transition(W: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Row-normalized transition matrix (transposed, ready for ``Pᵀ @ r``) and the dangling mask."""
    out = np.asarray(W.sum(axis=1)).ravel()
    dangling = out <= 0
    inv = np.divide(1.0, out, out=np.zeros_like(out), where=~dangling)
    PT = (sp.diags(inv) @ W).T.tocsr()
    return PT, dangling


def pagerank(W: sp.csr_matrix, personalization: np.ndarray | None = None, *, alpha: float = 0.85,
             tol: float = 1e-9, max_iter: int = 150, PT: sp.csr_matrix | None = None,
             dangling: np.ndarray | None = None) -> np.ndarray:
    """Return the PageRank vector (sums to 1). Deterministic for equal inputs.

    ``PT``/``dangling`` may be passed in (from :func:`transition`) when the same graph
    is ranked many times with different personalizations, as the trainer does.
    """
    n = W.shape[0]
    if n == 0:
        return np.zeros(0)
    if personalization is None:
        p = np.full(n, 1.0 / n)
    else:
        p = np.asarray(personalization, dtype=np.float64)
        if p.shape != (n,) or (p < 0).any() or not np.isfinite(p).all():
            raise ValueError("personalization must be a finite non-negative vector, one entry per node")
        s = p.sum()
        p = p / s if s > 0 else np.full(n, 1.0 / n)
    if PT is None or dangling is None:
        PT, dangling = transition(W)
    r = p.copy()
    for _ in range(max_iter):
        dm = r[dangling].sum()
        nxt = alpha * (PT @ r) + (alpha * dm + (1.0 - alpha)) * p
        err = np.abs(nxt - r).sum()
        r = nxt
        if err < tol:
            break
    return r / r.sum()
