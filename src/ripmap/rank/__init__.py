"""Ranking: from the graph, git signals and the user's context to ordered files and symbols.

:class:`RankContext` holds everything that depends only on the indexed code and its
history (graph, aligned git arrays, BM25 and token indexes, built lazily and reused);
:func:`rank` runs per query and per parameter point, which is what the trainer calls
thousands of times, so it only does vector arithmetic and one PageRank.
"""
from __future__ import annotations

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
    _memo: dict = field(default_factory=dict, repr=False)

    def _get(self, key, make):
        v = self._memo.get(key)
        if v is None:
            v = make()
            self._memo[key] = v
        return v

    @property
    def lexical(self) -> Lexical:
        return self._get("lexical", lambda: Lexical(self.graph))

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

    def cochange(self, chat_idx: np.ndarray) -> np.ndarray:
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

    @property
    def symbols(self) -> list[RankedSymbol]:
        if self._symbols is None:
            self._symbols = self._symbol_maker() if self._symbol_maker else []
        return self._symbols

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
        if not qtoks and (chat_idx.size or ment_idx.size):
            qtoks = ctx.lexical.tokens_of_files(np.concatenate([chat_idx, ment_idx]))
        for m in idents:
            qtoks.extend(split_identifier(m))
        if qtoks:
            lex = ctx.lexical.scores(qtoks)
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

    def make_symbols() -> list[RankedSymbol]:
        if tags is None:
            return []
        return _rank_symbols(ctx, params, scores, tags, idents, name_strength)

    return Ranking(files=files, scores=score_map, signals=sig, params=params, order=order,
                   file_index=fi, _symbol_maker=make_symbols)


def _rank_symbols(ctx: RankContext, params: Params, file_scores: np.ndarray,
                  tags: Mapping[str, Sequence[Tag]], idents: set[str],
                  name_strength: np.ndarray | None) -> list[RankedSymbol]:
    """Symbol score = file score × the symbol's share of its file.

    A definition's share grows with the references to its name, each weighted by the
    score of the referring file (so symbols used by the files that matter come first),
    times a small prior by kind (types before fields).
    """
    g = ctx.graph
    R = reference_matrix(g, params)
    incoming = np.asarray(R.T @ file_scores).ravel()  # per name
    ni = g.name_index
    out: list[RankedSymbol] = []
    k = params["symbol_ref_weight"]
    boost_ident = params["boost_mentioned_ident"]
    for fidx, rel in enumerate(g.files):
        defs = definitions(tags, rel)
        if not defs:
            continue
        raw = np.array([incoming[ni[t.name]] if t.name in ni else 0.0 for t in defs])
        mx = raw.max()
        rel_in = raw / mx if mx > 0 else raw
        kind_of = {t.name: t.kind for t in defs}
        # definitions local to a function (closures, test helpers) are rarely what a map reader needs
        local = np.array([0.15 if kind_of.get(t.parent) in ("function", "method") else 1.0 for t in defs])
        share = np.array([_KIND_PRIOR.get(t.kind, 0.7) for t in defs]) * local * (1.0 + k * rel_in)
        for j, t in enumerate(defs):
            if t.name in idents:
                share[j] *= boost_ident
            elif name_strength is not None and t.name in ni and name_strength[ni[t.name]] > 0:
                share[j] *= 1.0 + (boost_ident - 1.0) * name_strength[ni[t.name]]
        share = share / share.sum()
        fs = float(file_scores[fidx])
        out.extend(RankedSymbol(rel, t, fs * float(s)) for t, s in zip(defs, share))
    out.sort(key=lambda s: (-s.score, s.path, s.tag.line, s.tag.name))
    return out
