"""Ranking: from the graph, git signals and the user's context to ordered files and symbols.

:class:`RankContext` holds everything that depends only on the indexed code and its
history (graph, aligned git arrays, BM25 and token indexes, built lazily and reused);
:func:`rank` runs per query and per parameter point, which is what the trainer calls
thousands of times, so it only does vector arithmetic and one PageRank.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..extract.tags import Tag
from ..gitinfo import GitSignals
from ..index import definitions
import scipy.sparse as sp

from ..graph import GraphData, file_graph, reference_matrix, undirected
from .explain import Explanation, SignalTable, explain_row
from .pagerank import pagerank, transition
from .params import DEFAULT, Params
from .signals import (Lexical, TokenIndex, churn_factor, depth_weights, file_depths, focus_expansion,
                      match_focus, recency_factor, split_identifier)

__all__ = ["RankContext", "Ranking", "RankedSymbol", "Params", "rank"]

_KIND_PRIOR = {"class": 1.3, "interface": 1.3, "struct": 1.3, "trait": 1.3, "enum": 1.1, "type": 1.1,
               "function": 1.0, "method": 0.9, "macro": 0.9, "module": 0.8, "section": 1.0, "impl": 0.8,
               "constant": 0.5, "variable": 0.4, "field": 0.35, "property": 0.4}


@dataclass(frozen=True)
class RankedSymbol:
    path: str
    tag: Tag
    score: float


@dataclass
class RankContext:
    """Query-independent state for ranking one snapshot of a repository."""

    graph: GraphData
    git: GitSignals | None = None
    #: optional persistent store for query-independent indexes: (load(key), save(key, bytes))
    store: tuple | None = None
    _memo: dict = field(default_factory=dict, repr=False)

    def _get(self, key, make):
        v = self._memo.get(key)
        if v is None:
            v = make()
            self._memo[key] = v
        return v

    @property
    def lexical(self) -> Lexical:
        def make() -> Lexical:
            if self.store is not None:
                load, save = self.store
                blob = load("lexical")
                if blob is not None:
                    try:
                        return Lexical(self.graph, blob)
                    except Exception:  # stale or corrupt: rebuild, never trust it
                        pass
                lex = Lexical(self.graph)
                save("lexical", lex.to_bytes())
                return lex
            return Lexical(self.graph)
        return self._get("lexical", make)

    @property
    def tokens(self) -> TokenIndex:
        return self._get("tokens", lambda: TokenIndex(self.graph))

    def git_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(age_days, churn, git column index or -1) aligned with the graph's files."""
        def make():
            n = self.graph.n_files
            age = np.full(n, np.inf)
            churn = np.zeros(n)
            col = np.full(n, -1, dtype=np.int64)
            g = self.git
            if g is not None and not g.is_empty:
                for i, f in enumerate(self.graph.files):
                    j = g.index.get(f)
                    if j is not None:
                        col[i] = j
                has = col >= 0
                age[has] = g.age_days[col[has]]
                churn[has] = g.churn[col[has]]
            return age, churn, col
        return self._get("git", make)

    def transition(self, params: Mapping[str, float]):
        W = file_graph(self.graph, params)
        key = ("PT", id(W))
        return W, self._get(key, lambda: transition(W))

    def depths(self) -> tuple[np.ndarray, np.ndarray]:
        return self._get("depths", lambda: file_depths(self.graph.files))

    def undirected(self, W) -> "sp.csr_matrix":
        return self._get(("undirected", id(W)), lambda: undirected(W))

    def indegree(self, params: Mapping[str, float]) -> np.ndarray:
        W = file_graph(self.graph, params)
        return self._get(("indeg", id(W)), lambda: np.asarray((W > 0).sum(axis=0)).ravel().astype(np.float64))

    def per_query(self, key, make):
        """Memoize a query-dependent but parameter-independent vector (bounded LRU).

        The trainer ranks the same seed files under thousands of parameter points; the
        seed's BM25 scores and co-change vector never change between them.
        """
        memo = self._memo.setdefault("per_query", OrderedDict())
        v = memo.get(key)
        if v is None:
            v = make()
            memo[key] = v
            if len(memo) > 4096:
                memo.popitem(last=False)
        else:
            memo.move_to_end(key)
        return v

    def cochange(self, chat_idx: np.ndarray) -> np.ndarray:
        return self.per_query(("cochange", tuple(int(i) for i in chat_idx)), lambda: self._cochange(chat_idx))

    def _cochange(self, chat_idx: np.ndarray) -> np.ndarray:
        n = self.graph.n_files
        g = self.git
        if g is None or g.is_empty or chat_idx.size == 0:
            return np.zeros(n)
        _age, _churn, col = self.git_arrays()
        seeds = col[chat_idx]
        seeds = seeds[seeds >= 0]
        if seeds.size == 0:
            return np.zeros(n)
        cc = g.cochange_vector(np.unique(seeds))
        out = np.zeros(n)
        has = col >= 0
        out[has] = cc[col[has]]
        return out


@dataclass
class Ranking:
    """Files and symbols in rank order, with the signals that put them there."""

    files: list[str]
    scores: dict[str, float]
    signals: SignalTable
    params: Params
    order: np.ndarray  # graph file indices in rank order
    file_index: dict[str, int]
    _symbols: list[RankedSymbol] | None = None
    _symbol_maker: object = None
    _symbol_arrays: tuple | None = None

    def _arrays(self):
        if self._symbol_arrays is None:
            self._symbol_arrays = self._symbol_maker() if self._symbol_maker else None
        return self._symbol_arrays

    @property
    def symbols(self) -> list[RankedSymbol]:
        """Every definition in rank order (materialized on first use)."""
        if self._symbols is None:
            self._symbols = self.top_symbols(None)
        return self._symbols

    def top_symbols(self, k: int | None, exclude: set[str] | frozenset = frozenset()) -> list[RankedSymbol]:
        """The ``k`` best-ranked definitions (all when ``k`` is None), skipping files in ``exclude``."""
        arr = self._arrays()
        if arr is None:
            return []
        table, order, scores = arr
        out: list[RankedSymbol] = []
        for i in order:
            path = table.paths[table.file_idx[i]]
            if path in exclude:
                continue
            out.append(RankedSymbol(path, table.tags[i], float(scores[i])))
            if k is not None and len(out) >= k:
                break
        return out

    def symbol_arrays(self):
        """The symbol ranking as parallel arrays, ``(table, order, scores)``, or None
        without tags: ``table`` is the :class:`SymbolTable`, ``order`` its rows by
        descending ``scores``. For consumers that need a per-file view of the whole
        ranking (the renderer names each file with its best symbol) without
        materializing a :class:`RankedSymbol` per definition."""
        return self._arrays()

    def rank_of(self, path: str) -> int:
        return self.files.index(path) + 1

    def explain(self, path: str) -> Explanation:
        i = self.file_index.get(path)
        if i is None:
            from ..errors import UsageError

            raise UsageError(f"{path}: not among the mapped files")
        pos = int(np.nonzero(self.order == i)[0][0]) + 1
        return explain_row(self.signals, self.params, i, path, pos)


def rank(ctx: RankContext, params: Params | None = None, *, chat_files: Iterable[str] = (),
         focus: str | None = None, mentioned_idents: Iterable[str] = (), mentioned_files: Iterable[str] = (),
         tags: Mapping[str, Sequence[Tag]] | None = None) -> Ranking:
    """Rank every file of ``ctx`` for one query. ``tags`` enables symbol ranking."""
    params = params or DEFAULT
    g = ctx.graph
    n = g.n_files
    fi = g.file_index
    chat_idx = np.array(sorted({fi[f] for f in chat_files if f in fi}), dtype=np.int64)
    ment_idx = np.array(sorted({fi[f] for f in mentioned_files if f in fi}), dtype=np.int64)
    chat = np.zeros(n)
    chat[chat_idx] = 1.0
    ment = np.zeros(n)
    ment[ment_idx] = 1.0

    W, (PT, dangling) = ctx.transition(params)
    depth = depth_weights(ctx.depths(), params)

    # focus: fuzzy match, then expansion through the graph
    focus_s = np.zeros(n)
    seed_s = np.zeros(n)
    idents = {m for m in mentioned_idents if m}
    name_strength = None
    if focus and focus.strip():
        fm = match_focus(g, ctx.tokens, focus)
        seed_s = fm.file_strength
        name_strength = fm.name_strength
        idents.update(fm.exact_names)
        focus_s = focus_expansion(W, seed_s, params["focus_decay"], params["focus_max_hops"],
                                  A=ctx.undirected(W))

    # files defining a mentioned identifier
    ident_hit = np.zeros(n)
    if idents:
        ni = g.name_index
        ids = [ni[m] for m in idents if m in ni]
        if ids:
            ident_hit = np.asarray(g.D[ids].sum(axis=0)).ravel() > 0
            ident_hit = ident_hit.astype(np.float64)

    # PageRank personalized by the prior and the user's context
    pers = depth * (1.0 + params["pagerank_chat_multiplier"] * np.minimum(1.0, chat + ment + seed_s))
    pr = pagerank(W, pers, alpha=params["pagerank_alpha"], PT=PT, dangling=dangling)
    struct = pr.copy()
    if params["hub_damping"] > 0:
        struct = struct / np.power(1.0 + ctx.indegree(params), params["hub_damping"])
    # normalize against files the user did not point at: a chat, mentioned or focus-
    # matched file holds personalization mass and would otherwise dwarf everyone else
    others = (chat == 0) & (ment == 0) & (seed_s == 0)
    if not others.any():
        others = np.ones(n, dtype=bool)
    top = struct[others].max() if n else 0.0
    struct = np.minimum(struct / top, 1.0) if top > 0 else struct

    # lexical relevance: the focus query, else the chat files' identifiers
    lex = np.zeros(n)
    if n:
        qtoks: list[str] = []
        if focus and focus.strip():
            for t in focus.split():
                qtoks.extend(split_identifier(t))
        from_files = not qtoks and (chat_idx.size or ment_idx.size)
        if from_files:
            qtoks = ctx.lexical.tokens_of_files(np.concatenate([chat_idx, ment_idx]))
        for m in idents:
            qtoks.extend(split_identifier(m))
        if qtoks:
            key = ("lexical", tuple(sorted(set(qtoks))))
            lex = ctx.per_query(key, lambda: ctx.lexical.scores(qtoks))
            mx = lex[others].max()
            lex = lex / mx if mx > 0 else np.zeros(n)
            lex = np.minimum(lex, 1.0)

    age, churn_n, _col = ctx.git_arrays()
    sig = SignalTable(
        structure=struct,
        cochange=ctx.cochange(chat_idx),
        lexical=lex,
        focus=focus_s,
        depth=depth,
        chat=1.0 + (params["boost_chat_file"] - 1.0) * chat,
        mentioned_file=1.0 + (params["boost_mentioned_file"] - 1.0) * ment,
        mentioned_ident=1.0 + (params["boost_mentioned_ident"] - 1.0) * ident_hit,
        recency=recency_factor(age, params),
        churn=churn_factor(churn_n, params),
        pagerank=pr,
    )
    scores = sig.scores(params)
    # deterministic order: score descending, ties by path
    order = np.lexsort((np.arange(n), -scores)) if n else np.zeros(0, dtype=np.int64)
    # np.lexsort's tie-break above is by graph index, and graph files are sorted by path
    files = [g.files[i] for i in order]
    score_map = {g.files[i]: float(scores[i]) for i in order}

    def make_symbols():
        if tags is None:
            return None
        return _rank_symbols(ctx, params, scores, tags, idents, name_strength)

    return Ranking(files=files, scores=score_map, signals=sig, params=params, order=order,
                   file_index=fi, _symbol_maker=make_symbols)


_CALLABLE = frozenset({"function", "method"})


@dataclass
class SymbolTable:
    """Every definition of the index as parallel arrays, grouped by file (graph order)."""

    paths: tuple[str, ...]
    tags: list[Tag]
    file_idx: np.ndarray
    name_idx: np.ndarray
    prior: np.ndarray  # kind prior × locality (closures and local helpers weigh less)
    line: np.ndarray
    starts: np.ndarray  # first row of each non-empty file group
    groups: np.ndarray  # file index of each group

    @classmethod
    def build(cls, g: GraphData, tags: Mapping[str, Sequence[Tag]]) -> "SymbolTable":
        name_of = g.name_index.get
        kind_prior = _KIND_PRIOR.get
        all_tags: list[Tag] = []
        fidx: list[int] = []
        nidx: list[int] = []
        prior: list[float] = []
        for f, rel in enumerate(g.files):
            defs = definitions(tags, rel)
            if not defs:
                continue
            # closures and local helpers (defined inside a function) weigh less
            kind_of = {t.name: t.kind for t in defs}.get
            all_tags.extend(defs)
            fidx.extend([f] * len(defs))
            nidx.extend([name_of(t.name, -1) for t in defs])
            prior.extend([kind_prior(t.kind, 0.7) * (0.15 if kind_of(t.parent) in _CALLABLE else 1.0)
                          for t in defs])
        file_idx = np.asarray(fidx, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, file_idx[1:] != file_idx[:-1]]) if len(file_idx) else np.zeros(0, np.int64)
        return cls(g.files, all_tags, file_idx, np.asarray(nidx, dtype=np.int64), np.asarray(prior),
                   np.asarray([t.line for t in all_tags], dtype=np.int64), starts,
                   file_idx[starts] if len(file_idx) else np.zeros(0, np.int64))


def _rank_symbols(ctx: RankContext, params: Params, file_scores: np.ndarray,
                  tags: Mapping[str, Sequence[Tag]], idents: set[str],
                  name_strength: np.ndarray | None):
    """Symbol score = file score × the symbol's share of its file (vectorized).

    A definition's share grows with the references to its name, each weighted by the
    score of the referring file (so symbols used by the files that matter come first),
    times a small prior by kind (types before fields; local helpers far behind).
    Returns (table, order, scores) for :meth:`Ranking.top_symbols`.
    """
    g = ctx.graph
    table: SymbolTable = ctx._get(("symbols", id(tags)), lambda: SymbolTable.build(g, tags))
    n = len(table.tags)
    if n == 0:
        return table, np.zeros(0, dtype=np.int64), np.zeros(0)
    R = reference_matrix(g, params)
    incoming = np.asarray(R.T @ file_scores).ravel()  # per name
    has = table.name_idx >= 0
    raw = np.where(has, incoming[np.where(has, table.name_idx, 0)], 0.0)
    mx = np.maximum.reduceat(raw, table.starts)
    counts = np.diff(np.r_[table.starts, n])
    mx_row = np.repeat(mx, counts)
    rel_in = np.divide(raw, mx_row, out=np.zeros(n), where=mx_row > 0)
    share = table.prior * (1.0 + params["symbol_ref_weight"] * rel_in)
    boost_ident = params["boost_mentioned_ident"]
    if idents:
        ni = g.name_index
        ids = np.array([ni[m] for m in idents if m in ni], dtype=np.int64)
        if ids.size:
            share = np.where(np.isin(table.name_idx, ids), share * boost_ident, share)
    if name_strength is not None:
        st = np.where(has, name_strength[np.where(has, table.name_idx, 0)], 0.0)
        share = share * np.where(st > 0, 1.0 + (boost_ident - 1.0) * st, 1.0)
    total = np.repeat(np.add.reduceat(share, table.starts), counts)
    sym_scores = file_scores[table.file_idx] * (share / total)
    # order: score descending, then path (graph order is path order), line, name
    order = np.lexsort((table.line, table.file_idx, -sym_scores))
    return table, order, sym_scores
