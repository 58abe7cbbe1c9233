"""Parameter-dependent edge weights: the factored reference graph → the weighted file graph.

:mod:`ripmap.graph` keeps the structure that tags alone decide (who references and who
defines which name, who imports whom); how much each reference counts is a ranking
choice, so it lives here beside the other coordinates of :mod:`ripmap.rank.params`.

:func:`file_graph` assembles the weighted file → file matrix for given parameters:

``W = q·W_import + ((1-q)·R_import + R_plain) @ D_shared``

where a reference is first resolved in its own file (then it is no edge at all),
then to definitions in files the referrer imports (share ``q`` of its weight, from
``import_resolution_bias``), and otherwise shared equally among all same-named
definitions. Reference counts enter with a square root (ten calls are not ten times
one), and names defined in many files or private names weigh less. All of it is
sparse linear algebra: there is no Python loop over edges.

Nothing here memoizes: :class:`~ripmap.rank.context.RankContext` keeps one assembled
matrix per :func:`graph_key`, so the trainer's thousands of parameter points that only
move per-query weights never re-assemble the graph.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import scipy.sparse as sp

from ..graph import GraphData

#: the parameters that shape the assembled file graph (everything else is per query)
GRAPH_PARAMS = ("edge_weight_call", "edge_weight_type", "edge_weight_other", "common_name_penalty",
                "private_name_weight", "import_resolution_bias")

#: the values of :data:`GRAPH_PARAMS` at one parameter point: what an assembled graph is keyed by
GraphKey = tuple[float, ...]


def graph_key(params: Mapping[str, float]) -> GraphKey:
    """The graph parameters' values, in :data:`GRAPH_PARAMS` order (one assembled graph each)."""
    return tuple(float(params[k]) for k in GRAPH_PARAMS)


def name_weights(g: GraphData, params: Mapping[str, float]) -> np.ndarray:
    """Weight of each name: common names (many definers) and private names weigh less."""
    w = 1.0 / (1.0 + params["common_name_penalty"] * np.maximum(g.ndefs - 1.0, 0.0))
    return np.where(g.private, w * params["private_name_weight"], w)


def reference_matrix(g: GraphData, params: Mapping[str, float]) -> sp.csr_matrix:
    """files × names reference strength: kind-weighted counts, square-rooted, name-weighted."""
    R = (params["edge_weight_call"] * g.R[0] + params["edge_weight_type"] * g.R[1]
         + params["edge_weight_other"] * g.R[2]).tocsr()
    R.data = np.sqrt(R.data)
    return (R @ sp.diags(name_weights(g, params))).tocsr()


def file_graph(g: GraphData, params: Mapping[str, float]) -> sp.csr_matrix:
    """files × files weighted reference matrix (row = referrer, column = definer)."""
    nf = g.n_files
    if nf == 0 or len(g.names) == 0:
        return sp.csr_matrix((nf, nf))
    R = reference_matrix(g, params)
    Dt = g.D.T.tocsr()  # files × names
    # same-file resolution: a name the file defines itself is not an edge
    R = (R - R.multiply(Dt)).tocsr()
    R.eliminate_zeros()
    inv_ndefs = np.divide(1.0, g.ndefs, out=np.zeros_like(g.ndefs), where=g.ndefs > 0)
    D_shared = (sp.diags(inv_ndefs) @ g.D).tocsr()
    if g.I.nnz:
        A = (g.I @ Dt).tocsr()  # files × names: imported files defining the name
        mask = R.multiply(A > 0).tocsr()
        mask.data[:] = 1.0
        R_imp = R.multiply(mask).tocsr()
        R_plain = (R - R_imp).tocsr()
        A_on = A.multiply(mask).tocsr()
        A_on.data = 1.0 / A_on.data
        W_imp = ((R_imp.multiply(A_on)).tocsr() @ g.D).multiply(g.I).tocsr()
        b = params["import_resolution_bias"]
        q = b / (1.0 + b)
        W = q * W_imp + (((1.0 - q) * R_imp + R_plain) @ D_shared)
    else:
        W = R @ D_shared
    W = W.tocsr()
    W.setdiag(0)
    W.eliminate_zeros()
    return W


def undirected(W: sp.csr_matrix) -> sp.csr_matrix:
    """Binary symmetric adjacency (an edge in either direction)."""
    return ((W + W.T) > 0).astype(np.float64).tocsr()


def neighbours_within(W: sp.csr_matrix, seeds: np.ndarray, max_hops: int) -> np.ndarray:
    """Hop distance from the nearest seed over the undirected graph (inf = unreached)."""
    n = W.shape[0]
    dist = np.full(n, np.inf)
    if n == 0 or seeds.size == 0:
        return dist
    A = ((W + W.T) > 0).astype(np.float32).tocsr()
    frontier = np.zeros(n, dtype=bool)
    frontier[seeds] = True
    dist[frontier] = 0
    for h in range(1, max_hops + 1):
        reach = (A @ frontier.astype(np.float32)) > 0
        new = reach & ~np.isfinite(dist)
        if not new.any():
            break
        dist[new] = h
        frontier = new
    return dist
