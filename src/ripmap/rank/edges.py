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

The product is never multiplied out: :func:`factored_file_graph` keeps ``W`` as its
factors (:class:`FileGraph`), because a name defined in ``d`` files and referenced from
``r`` files is ``r × d`` entries of ``W`` but only ``r + d`` of the factors (41M against a
few million on a 70,000-file tree of copies). PageRank multiplies by the factors, the
in-degree is the graph's own structural count (:meth:`GraphData.referrer_counts`), and
focus expansion walks the names. :func:`file_graph` multiplies it out: the definition the
factored form is tested against, and what small consumers (the direct PageRank solver
on small graphs) use.

Nothing here memoizes across parameter points: :class:`~ripmap.rank.context.RankContext`
keeps one :class:`FileGraph` per :func:`graph_key`, so the trainer's thousands of
parameter points that only move per-query weights never re-assemble the graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
from ..lazy import sparse as sp

from ..graph import GraphData, row_runs, with_rows
from .threads import MIN_NNZ, side_by_side

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


#: the methods every Python value of a builtin type already has (``d.items()``,
#: ``xs.append(x)``, ``s.join(...)``), read from the interpreter rather than listed: a call
#: of one of them almost never means the one class in the repository that also defines
#: that name, yet as the name's single definer it would take every such call in the
#: repository (a ``Directives.items`` became the map's top file through 85 ``dict.items()``
#: callers). Such a reference keeps its full weight where the referrer imports the
#: definer (import resolution) and weighs this much otherwise.
BUILTIN_METHOD_WEIGHT = 0.05
_PY_BUILTIN_METHODS = frozenset(n for t in (dict, list, str, bytes, set, frozenset, tuple, int, float)
                                for n in dir(t) if not n.startswith("_"))


def builtin_method_weights(g: GraphData) -> np.ndarray:
    """Per name: :data:`BUILTIN_METHOD_WEIGHT` for Python names that builtin types define
    as methods, 1 otherwise (parameter-free: kept in the graph's memo)."""
    got = g._memo.get("builtin_method_weights")
    if got is None:
        got = np.ones(len(g.names))
        if "python" in g.families:
            py = g.families.index("python")
            hit = np.fromiter((fam == py and n in _PY_BUILTIN_METHODS for n, fam in zip(g.names, g.name_family)),
                              dtype=bool, count=len(g.names))
            got[hit] = BUILTIN_METHOD_WEIGHT
        got.setflags(write=False)
        g._memo["builtin_method_weights"] = got
    return got


def reference_matrix(g: GraphData, params: Mapping[str, float]) -> sp.csr_matrix:
    """files × names reference strength: kind-weighted counts, square-rooted, name-weighted."""
    R = (params["edge_weight_call"] * g.R[0] + params["edge_weight_type"] * g.R[1]
         + params["edge_weight_other"] * g.R[2]).tocsr()
    R.data = np.sqrt(R.data)
    return (R @ sp.diags(name_weights(g, params))).tocsr()


def _resolved_references(g: GraphData, params: Mapping[str, float],
                         imported: Callable[[], sp.csr_matrix]) -> tuple[sp.csr_matrix | None, sp.csr_matrix, float]:
    """How each reference resolves, as the two shares :func:`file_graph` and
    :func:`factored_file_graph` both build on: ``(to_imports, shared, q)``.

    A name the file defines itself is no edge. A reference to a name that files the
    referrer imports define goes to those files (``to_imports``: referrers × names, each
    reference already divided among its imported definers; ``q · to_imports @ D`` masked
    by the imports, ``None`` when nothing is imported), with the rest ``1 - q`` of its
    weight, and every other reference, shared equally among all definers (``shared @
    D / ndefs``). Only the shared part of a call to a builtin type's method is weighed
    down (:func:`builtin_method_weights`). ``imported()`` is files × names: how many
    imported files define each name.
    """
    R = reference_matrix(g, params)
    R = (R - R.multiply(g.D.T.tocsr())).tocsr()
    R.eliminate_zeros()
    builtin = sp.diags(builtin_method_weights(g))
    if not g.I.nnz:
        return None, (R @ builtin).tocsr(), 0.0
    A = imported()
    mask = R.multiply(A > 0).tocsr()
    mask.data[:] = 1.0
    R_imp = R.multiply(mask).tocsr()
    A_on = A.multiply(mask).tocsr()
    A_on.data = 1.0 / A_on.data
    b = params["import_resolution_bias"]
    q = b / (1.0 + b)
    shared = ((1.0 - q) * R_imp + (R - R_imp).tocsr() @ builtin).tocsr()
    return R_imp.multiply(A_on).tocsr(), shared, q


def file_graph(g: GraphData, params: Mapping[str, float]) -> sp.csr_matrix:
    """files × files weighted reference matrix (row = referrer, column = definer)."""
    nf = g.n_files
    if nf == 0 or len(g.names) == 0:
        return sp.csr_matrix((nf, nf))
    to_imports, R, q = _resolved_references(g, params, lambda: (g.I @ g.D.T).tocsr())
    inv_ndefs = np.divide(1.0, g.ndefs, out=np.zeros_like(g.ndefs), where=g.ndefs > 0)
    W = R @ (sp.diags(inv_ndefs) @ g.D).tocsr()
    if to_imports is not None:
        W = q * (to_imports @ g.D).multiply(g.I) + W
    W = W.tocsr()
    W.setdiag(0)
    W.eliminate_zeros()
    return W


@dataclass(frozen=True, eq=False)
class FileGraph:
    """The weighted file graph ``W = Wi + Rw @ Dw``, kept as its factors.

    ``Rw`` (files × names): what each reference sends along the shared path, self-resolved
    names removed; ``Dw`` (names × files): the equal share of each definer (1 / definers);
    ``Wi`` (files × files): the import-resolved share, non-zero only where a file imports
    another. Only names that someone references and someone defines are kept (the rest
    carry no edge). ``out`` is ``W``'s row sums (PageRank's normalisation) and
    ``referrers`` its positive entries per column (the in-degree hub damping divides by),
    both computed without forming ``W``.
    """

    Rw: sp.csr_matrix
    Dw: sp.csr_matrix
    Wi: sp.csr_matrix
    out: np.ndarray
    referrers: np.ndarray
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        n = self.Wi.shape[0]
        return (n, n)

    def _get(self, key: str, make):
        v = self._memo.get(key)
        if v is None:
            v = self._memo[key] = make()
        return v

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        """``W @ x`` for a vector or an n × k block."""
        return self.Wi @ x + self.Rw @ (self.Dw @ x)

    def rmatmul(self, x: np.ndarray) -> np.ndarray:
        """``Wᵀ @ x`` for a vector or an n × k block (transposes kept, CSR for speed; a
        large graph's two terms on two threads, see :mod:`ripmap.rank.threads`)."""
        WiT = self._get("WiT", lambda: self.Wi.T.tocsr())
        RwT = self._get("RwT", lambda: self.Rw.T.tocsr())
        DwT = self._get("DwT", lambda: self.Dw.T.tocsr())
        # the import share and the shared path are independent: side by side on a large graph
        a, b = side_by_side(lambda: WiT @ x, lambda: DwT @ (RwT @ x),
                            large=WiT.nnz + RwT.nnz + DwT.nnz >= MIN_NNZ)
        return a + b

    def tocsr(self) -> sp.csr_matrix:
        """``W`` multiplied out (only for small graphs: its size is what the factors avoid)."""
        W = (self.Wi + self.Rw @ self.Dw).tocsr()
        W.eliminate_zeros()
        return W

    def among(self, idx: np.ndarray) -> sp.csr_matrix:
        """``W[idx][:, idx]`` (the edges among a few files, e.g. the top of a ranking)."""
        idx = np.asarray(idx, dtype=np.int64)
        DwT = self._get("DwT", lambda: self.Dw.T.tocsr())
        sub = sp.csr_matrix(self.Wi[idx][:, idx] + self.Rw[idx] @ DwT[idx].T)
        sub.eliminate_zeros()
        return sub

    def transition(self) -> tuple["FactoredTransition", np.ndarray]:
        """``Pᵀ`` of :func:`ripmap.rank.pagerank.transition` as an operator, and the dangling mask."""
        dangling = self.out <= 0
        inv = np.divide(1.0, self.out, out=np.zeros_like(self.out), where=~dangling)
        return FactoredTransition(self, inv), dangling

    def spread_max(self, best: np.ndarray, prev: np.ndarray, changed: np.ndarray) -> None:
        """``best[j] = max(best[j], prev[i])`` for every neighbour ``i`` in ``changed`` of
        ``j`` over the undirected structure (an edge either way), in place: one hop of
        :func:`~ripmap.rank.signals.focus_expansion`, walked through the names the
        changed files reference or define, at the cost of those names' entries."""
        if changed.size == 0:
            return
        vals = prev[changed]
        # along references: the names the changed files reference reach their definers
        _scatter_max(best, self.Dw, _gather_max(self.Rw, changed, vals, self.Rw.shape[1]))
        # against references: the names the changed files define reach their referrers
        DwT = self._get("DwT", lambda: self.Dw.T.tocsr())
        RwT = self._get("RwT", lambda: self.Rw.T.tocsr())
        _scatter_max(best, RwT, _gather_max(DwT, changed, vals, DwT.shape[1]))


class FactoredTransition:
    """``Pᵀ = (diag(1/out) W)ᵀ`` as an operator: ``PT @ r`` is ``Wᵀ (r / out)``, which is
    all :func:`~ripmap.rank.pagerank.pagerank` and ``pagerank_many`` ask of it."""

    def __init__(self, W: FileGraph, inv_out: np.ndarray) -> None:
        self.W = W
        self.inv = inv_out
        self.shape = W.shape

    def __matmul__(self, r: np.ndarray) -> np.ndarray:
        x = r * self.inv if r.ndim == 1 else r * self.inv[:, None]
        return self.W.rmatmul(x)


def _gather_max(M: sp.csr_matrix, rows: np.ndarray, vals: np.ndarray, ncols: int) -> np.ndarray:
    """Per column of ``M``: the largest ``vals[k]`` over ``rows[k]`` with an entry there."""
    out = np.zeros(ncols)
    pos, which = row_runs(M.indptr, rows)
    if pos.size:
        np.maximum.at(out, M.indices[pos], vals[which])
    return out


def _scatter_max(best: np.ndarray, M: sp.csr_matrix, by_row: np.ndarray) -> None:
    """``best[c] = max(best[c], by_row[r])`` over ``M``'s entries ``(r, c)`` with ``by_row[r] > 0``."""
    hot = np.flatnonzero(by_row > 0)
    if hot.size:
        pos, which = row_runs(M.indptr, hot)
        if pos.size:
            np.maximum.at(best, M.indices[pos], by_row[hot][which])


def factored_file_graph(g: GraphData, params: Mapping[str, float], base: FileGraph | None = None) -> FileGraph:
    """:func:`file_graph` for ``params`` as its factors (see :class:`FileGraph`); equal to
    it within float rounding (sums are taken in another order).

    ``base``: the factors of the graph ``g`` was patched from by an edit in place, at the
    same parameters; then only the import-resolved rows :attr:`GraphData.reweigh` names
    are multiplied out, the others are taken from ``base`` (they are equal bit for bit).
    """
    nf = g.n_files
    if nf == 0 or len(g.names) == 0:
        z = sp.csr_matrix((nf, 0))
        return FileGraph(z, sp.csr_matrix((0, nf)), sp.csr_matrix((nf, nf)), np.zeros(nf), np.zeros(nf))
    to_imports, R, q = _resolved_references(g, params, lambda: _imported_definers(g))
    inv_ndefs = np.divide(1.0, g.ndefs, out=np.zeros_like(g.ndefs), where=g.ndefs > 0)
    if to_imports is None:
        Wi = sp.csr_matrix((nf, nf))
    elif base is not None and g.reweigh is not None and base.Wi.shape == (nf, nf):
        rows = g.reweigh
        part = q * _at_imports(to_imports[rows], g.D, g.I[rows])
        take = np.zeros(nf, dtype=bool)
        take[rows] = True
        lens = np.zeros(nf, dtype=np.int64)
        lens[rows] = np.diff(part.indptr)
        spread = sp.csr_matrix((part.data, part.indices, np.concatenate([[0], np.cumsum(lens)])), shape=(nf, nf))
        Wi = with_rows(base.Wi, spread, take)
    else:
        Wi = q * _at_imports(to_imports, g.D, g.I)
    # names nobody defines or nobody (else) references carry no edge: leave them out
    live = (g.ndefs > 0) & (np.diff(R.tocsc().indptr) > 0)
    keep = np.flatnonzero(live)
    Rw = R[:, keep].tocsr()
    Dw = (sp.diags(inv_ndefs[keep]) @ g.D[keep]).tocsr()
    out = np.asarray(Wi.sum(axis=1)).ravel() + Rw @ np.asarray(Dw.sum(axis=1)).ravel()
    return FileGraph(Rw, Dw, Wi.tocsr(), out, _referrers(g, params, Rw, Dw))


def _at_imports(Rv: sp.csr_matrix, D: sp.csr_matrix, I: sp.csr_matrix) -> sp.csr_matrix:
    """``(Rv @ D) ∘ I`` in row blocks: the product alone can be referrers × definers of
    every imported name, so no more than a block of it is held at once."""
    from ..graph import _blocks

    if Rv.nnz == 0:
        return sp.csr_matrix(I.shape)
    parts = [(Rv[a:b] @ D).multiply(I[a:b]).tocsr()
             for a, b in _blocks(Rv @ np.diff(D.indptr).astype(np.float64))]
    W = sp.vstack(parts, format="csr") if parts else sp.csr_matrix(I.shape)
    W.eliminate_zeros()
    return W


def _imported_definers(g: GraphData) -> sp.csr_matrix:
    """See :meth:`GraphData.imported_definers` (parameter-free: kept with the graph)."""
    return g.imported_definers()


def structural_referrers(params: Mapping[str, float]) -> bool:
    """Whether W's positive entries per column are the graph's structural referrer counts
    (:meth:`GraphData.referrer_counts`): while every edge weight is positive, which the
    parameters' bounds always keep; then the in-degree needs no assembled graph."""
    return all(params[k] > 0 for k in ("edge_weight_call", "edge_weight_type", "edge_weight_other",
                                       "private_name_weight"))


def _referrers(g: GraphData, params: Mapping[str, float], Rw: sp.csr_matrix, Dw: sp.csr_matrix) -> np.ndarray:
    """W's positive entries per column: the graph's structural count while every weight
    is positive (always, within the parameters' bounds); counted on the factors else."""
    if structural_referrers(params):
        return g.referrer_counts()
    from ..graph import _column_counts

    P = Rw.copy()
    P.data[:] = 1.0
    return _column_counts(P, Dw)


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
