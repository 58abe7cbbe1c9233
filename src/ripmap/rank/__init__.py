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
from ..fileclass import FileClass, class_labels
from ..gitinfo import GitSignals
from ..index import definitions
import scipy.sparse as sp

from ..graph import GraphData, file_graph, reference_matrix, undirected
from .explain import Explanation, SignalTable, explain_row
from .pagerank import pagerank, transition
from .params import DEFAULT, Params
from .lexical import LexicalIndex
from .pairing import paired_with, pairing_matrix
from .query import ParsedQuery, PathIndex, parse_query
from .signals import (asks_for_docs, churn_factor, class_weights, depth_weights, file_depths, focus_expansion,
                      recency_factor)

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
    #: :class:`~ripmap.fileclass.FileClass` bits per file, aligned with ``graph.files``
    #: (discovery's verdict, handed in by the caller); None: every file is ordinary code
    flags: np.ndarray | None = None
    #: each file's definitions (signatures, parents) for chunk-level lexical retrieval;
    #: None: files are searched by their names and paths only
    defs: Mapping[str, Sequence[Tag]] | None = None
    _memo: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n = self.graph.n_files
        if self.flags is None:
            self.flags = np.zeros(n, dtype=np.int64)
        else:
            self.flags = np.asarray(self.flags, dtype=np.int64)
            if self.flags.shape != (n,):
                raise ValueError(f"flags has shape {self.flags.shape}, expected ({n},) like the graph's files")

    def _get(self, key, make):
        v = self._memo.get(key)
        if v is None:
            v = make()
            self._memo[key] = v
        return v

    @property
    def lexical(self) -> LexicalIndex:
        """The field-aware lexical index (built once; kept in the store when there is one)."""
        def build() -> LexicalIndex:
            g = self.graph
            R = (g.R[0] + g.R[1] + g.R[2]).tocsr()
            defs = None
            if self.defs is not None:
                defs = {rel: definitions(self.defs, rel) for rel in g.files}
            return LexicalIndex.build(g.files, g.names, g.D, R, defs)

        def make() -> LexicalIndex:
            if self.store is not None:
                load, save = self.store
                blob = load("lexical2")
                if blob is not None:
                    try:
                        lx = LexicalIndex.from_bytes(blob)
                        if lx.n_files == self.graph.n_files:
                            return lx
                    except Exception:  # stale or corrupt: rebuild, never trust it
                        pass
                lx = build()
                save("lexical2", lx.to_bytes())
                return lx
            return build()
        return self._get("lexical", make)

    @property
    def paths(self) -> PathIndex:
        return self._get("paths", lambda: PathIndex.build(self.graph.files))

    @property
    def lower_names(self) -> dict[str, list[str]]:
        def make() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for n in dict.fromkeys(self.graph.names):
                out.setdefault(n.lower(), []).append(n)
            return out
        return self._get("lower_names", make)

    @property
    def defined_names(self) -> dict[str, int]:
        """Names some file defines (what a query's identifier must name to count)."""
        def make() -> dict[str, int]:
            g = self.graph
            has_def = np.flatnonzero(g.ndefs > 0)
            return {g.names[int(i)]: 1 for i in has_def}
        return self._get("defined_names", make)

    def parse(self, focus: str) -> ParsedQuery:
        """The focus text read into typed evidence (once per distinct text)."""
        return self.per_query(("parse", focus), lambda: parse_query(focus, self.paths, self.defined_names,
                                                                   self.lower_names))

    @property
    def pairing(self) -> "sp.csr_matrix":
        return self._get("pairing", lambda: pairing_matrix(self.graph.files))

    def association(self, seeds: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Co-change evidence for every file from weighted seed files (graph order)."""
        n = self.graph.n_files
        g = self.git
        nz = np.flatnonzero(seeds > 0)
        if g is None or g.is_empty or nz.size == 0:
            return np.zeros(n)
        half, expo = float(params["cochange_half_life_days"]), float(params["cochange_size_exponent"])
        key = ("assoc", tuple(nz.tolist()), tuple(np.round(seeds[nz], 6).tolist()), half, expo)

        def make() -> np.ndarray:
            _age, _churn, col = self.git_arrays()
            has = col >= 0
            q = np.zeros(len(g.files))
            np.maximum.at(q, col[has], seeds[has])
            cc = g.association_vector(q, half_life_days=half, size_exponent=expo)
            out = np.zeros(n)
            out[has] = cc[col[has]]
            return out
        return self.per_query(key, make)

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

    def depths(self) -> np.ndarray:
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


@dataclass
class Ranking:
    """Files and symbols in rank order, with the signals that put them there."""

    files: list[str]
    scores: dict[str, float]
    signals: SignalTable
    params: Params
    order: np.ndarray  # graph file indices in rank order
    file_index: dict[str, int]
    flags: np.ndarray | None = None  # FileClass bits per graph file
    query: ParsedQuery | None = None  # what the focus text was understood as
    #: the files it was ranked for as already in the LLM's context (the map does not repeat them)
    chat_files: tuple[str, ...] = ()
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
        fl = int(self.flags[i]) if self.flags is not None else 0
        prior = float(class_weights(np.array([fl]), self.params)[0])
        return explain_row(self.signals, self.params, i, path, pos, class_labels(fl), prior, self.query_dict())

    def query_dict(self) -> dict | None:
        """What the focus text was understood as (paths, not indices), or None without a focus."""
        if self.query is None:
            return None
        files = [None] * len(self.file_index)
        for f, i in self.file_index.items():
            files[i] = f
        return self.query.as_dict(files)


def rank(ctx: RankContext, params: Params | None = None, *, chat_files: Iterable[str] = (),
         focus: str | None = None, mentioned_idents: Iterable[str] = (), mentioned_files: Iterable[str] = (),
         tags: Mapping[str, Sequence[Tag]] | None = None) -> Ranking:
    """Rank every file of ``ctx`` for one query. ``tags`` enables symbol ranking.

    The focus text is parsed once (:mod:`ripmap.rank.query`) into files it names,
    identifiers it uses and plain words; each kind feeds its own evidence (see
    :mod:`ripmap.rank.explain` for how the signals combine).
    """
    params = params or DEFAULT
    g = ctx.graph
    n = g.n_files
    fi = g.file_index
    chat_idx = np.array(sorted({fi[f] for f in chat_files if f in fi}), dtype=np.int64)
    ment_idx = np.array(sorted({fi[f] for f in mentioned_files if f in fi}), dtype=np.int64)
    chat = np.zeros(n)
    chat[chat_idx] = 1.0
    q = ctx.parse(focus) if focus and focus.strip() else None

    # files the user named: explicitly, or by path / trace frame / module in the focus
    ment = np.zeros(n)
    ment[ment_idx] = 1.0
    if q is not None:
        for i, st, _why in q.file_hits:
            ment[i] = max(ment[i], st)
    # identifiers the user used (--ident, or code-like pieces of the focus) and their definers
    idents: dict[str, float] = {m: 1.0 for m in mentioned_idents if m}
    if q is not None:
        for name, st in q.ident_hits:
            idents[name] = max(idents.get(name, 0.0), st)
    name_strength = np.zeros(len(g.names))
    for name, st in idents.items():
        ids = g.ids_of(name)
        if ids:
            name_strength[ids] = np.maximum(name_strength[ids], st)
    ident_def = np.zeros(n)
    if idents and name_strength.any():
        hot = np.flatnonzero(name_strength)
        sub = g.D[hot].tocoo()  # names × files
        np.maximum.at(ident_def, sub.col, name_strength[hot][sub.row])

    W, (PT, dangling) = ctx.transition(params)
    depth = depth_weights(ctx.depths(), params)

    # graph expansion is seeded only by what the user pointed at: files and identifiers,
    # never by plain words of the focus text
    pointed = np.maximum(ment, ident_def)
    focus_s = np.zeros(n)
    if pointed.any():
        focus_s = focus_expansion(W, pointed, params["focus_decay"], params["focus_max_hops"], A=ctx.undirected(W))

    # file classes weigh vendored, generated, fixture, stub and docs files down, except
    # where the query asks for them: docs when the focus says so, and any file the user
    # points at (chat, mentioned, or named in the focus) sheds its class weight
    cls = class_weights(ctx.flags, params, int(FileClass.DOCS) if asks_for_docs(focus) else 0)
    named = (chat + ment) > 0
    if named.any():
        cls = np.where(named, 1.0, cls)

    # PageRank personalized by the prior and the user's context
    pers = depth * cls * (1.0 + params["pagerank_chat_multiplier"] * np.minimum(1.0, chat + pointed))
    pr = pagerank(W, pers, alpha=params["pagerank_alpha"], PT=PT, dangling=dangling)
    struct = pr.copy()
    if params["hub_damping"] > 0:
        struct = struct / np.power(1.0 + ctx.indegree(params), params["hub_damping"])
    # normalize against files the user did not point at: a chat, mentioned or focus-
    # matched file holds personalization mass and would otherwise dwarf everyone else
    others = (chat == 0) & (pointed == 0)
    if not others.any():
        others = np.ones(n, dtype=bool)
    struct = _normalized(struct, others)

    # lexical relevance, kept apart by source: the focus text, and the chat files' own terms
    lx = ctx.lexical if n else None
    lex = np.zeros(n)
    chunk_lex = None  # per definition: how well it matches the focus text (for the symbol order)
    if q is not None and lx is not None:
        terms = q.lexical_terms
        if terms:
            lex, chunk_lex, quality = ctx.per_query(("lexq", focus),
                                                    lambda: lx.scores_and_chunks(*lx.query_vector(terms)))
            # relative to the best match, and scaled down when even that is a weak match
            # (its raw score below lexical_floor of what a perfect match would earn)
            lex = _normalized(lex, others) * min(1.0, quality / params["lexical_floor"])
    lex_chat = np.zeros(n)
    strong = sorted(set(chat_idx.tolist()) | set(np.flatnonzero(ment >= 0.9).tolist()))
    if strong and lx is not None:
        lex_chat = ctx.per_query(("lexc", tuple(strong)), lambda: lx.scores(*lx.file_terms(strong)))
        lex_chat = _normalized(lex_chat, others)

    # what co-change and test pairing start from: the user's own files and identifiers.
    # With no file in the chat, also (weighed by cochange_from_lexical) the focus text's
    # best lexical matches: a guess, so it is kept apart and never dilutes the user's own
    # evidence; with chat files it only added noise (fit corpus: A+msg 0.605 → 0.619)
    seeds = np.maximum(chat, pointed)
    cochange = ctx.association(seeds, params)
    pairing = paired_with(ctx.pairing, seeds)
    cfl = params["cochange_from_lexical"] if chat_idx.size == 0 else 0.0
    if lex.any() and cfl > 0:
        top = _top_k(lex * others, 5)
        cochange = np.maximum(cochange, cfl * ctx.association(top, params))
        pairing = np.maximum(pairing, cfl * paired_with(ctx.pairing, top))

    age, churn_n, _col = ctx.git_arrays()
    sig = SignalTable(
        structure=struct,
        cochange=cochange,
        lexical=lex,
        focus=focus_s,
        depth=depth,
        chat=1.0 + (params["boost_chat_file"] - 1.0) * chat,
        mentioned_file=1.0 + (params["boost_mentioned_file"] - 1.0) * ment,
        mentioned_ident=1.0 + (params["boost_mentioned_ident"] - 1.0) * ident_def,
        recency=recency_factor(age, params),
        churn=churn_factor(churn_n, params),
        pagerank=pr,
        file_class=cls,
        lexical_chat=lex_chat,
        pairing=pairing,
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
        return _rank_symbols(ctx, params, scores, tags, name_strength if name_strength.any() else None, chunk_lex)

    return Ranking(files=files, scores=score_map, signals=sig, params=params, order=order,
                   file_index=fi, flags=ctx.flags, query=q, _symbol_maker=make_symbols)


def _normalized(v: np.ndarray, among: np.ndarray) -> np.ndarray:
    """``v`` scaled so its maximum over ``among`` is 1, capped at 1 (zeros stay zeros).

    ``among`` leaves out the files the user pointed at (they would dwarf the rest); when
    only they have any evidence, the scale comes from them instead.
    """
    if not v.size:
        return v
    top = v[among].max() if among.any() else 0.0
    if top <= 0:
        top = v.max()
    return np.minimum(v / top, 1.0) if top > 0 else np.zeros_like(v)


def _top_k(v: np.ndarray, k: int) -> np.ndarray:
    """``v`` with all but its ``k`` largest positive entries zeroed."""
    out = np.zeros_like(v)
    if not v.any():
        return out
    idx = np.argpartition(-v, min(k, v.size - 1))[:k] if v.size > k else np.arange(v.size)
    out[idx] = v[idx]
    out[out < 0] = 0.0
    return out


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
        # a file's definitions are the names of its own language family
        by_family = [m.get for m in g.family_name_indexes()]
        fam_of = g.file_family.tolist()
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
            name_of = by_family[fam_of[f]]
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


SYMBOL_LEXICAL_WEIGHT = 2.0  # a file's best lexical match to the focus gets up to 3× its share


def _rank_symbols(ctx: RankContext, params: Params, file_scores: np.ndarray,
                  tags: Mapping[str, Sequence[Tag]], name_strength: np.ndarray | None,
                  chunk_lex: np.ndarray | None = None):
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
    if name_strength is not None:  # the user's identifiers (exact 1.0, case-insensitive less)
        st = np.where(has, name_strength[np.where(has, table.name_idx, 0)], 0.0)
        share = share * np.where(st > 0, 1.0 + (boost_ident - 1.0) * st, 1.0)
    if chunk_lex is not None and chunk_lex.shape == (n,) and chunk_lex.any():
        # the lexical index's chunks are the same definitions in the same order
        cmx = np.repeat(np.maximum.reduceat(chunk_lex, table.starts), counts)
        share = share * (1.0 + SYMBOL_LEXICAL_WEIGHT * np.divide(chunk_lex, cmx, out=np.zeros(n), where=cmx > 0))
    total = np.repeat(np.add.reduceat(share, table.starts), counts)
    sym_scores = file_scores[table.file_idx] * (share / total)
    # order: score descending, then path (graph order is path order), line, name
    order = np.lexsort((table.line, table.file_idx, -sym_scores))
    return table, order, sym_scores
