"""Symbol ranking: each definition's share of its file's score.

A definition's share grows with the references to its name, each weighted by the score
of the referring file (symbols used by the files that matter come first), times a small
prior by kind (types before fields; closures and local helpers far behind), raised for
identifiers the user named and for definitions that match the focus text.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..extract.tags import Tag
from ..graph import GraphData
from ..index import definitions
from .context import RankContext
from .edges import reference_matrix
from .params import Params

_KIND_PRIOR = {"class": 1.3, "interface": 1.3, "struct": 1.3, "trait": 1.3, "enum": 1.1, "type": 1.1,
               "function": 1.0, "method": 0.9, "macro": 0.9, "module": 0.8, "section": 1.0, "impl": 0.8,
               "constant": 0.5, "variable": 0.4, "field": 0.35, "property": 0.4}


_CALLABLE = frozenset({"function", "method"})


class StoredDefinitions(Sequence[Tag]):
    """The symbol table's :class:`Tag` per row, read from the files' tags only when asked.

    The table's columns come from the graph's definition rows (:class:`ripmap.graph.DefRows`),
    so ranking every symbol of a 70,000-file tree decodes no tags; rendering asks for the
    hundred or so it shows. Row ``i`` is definition ``i - first_row[file]`` of its file; a
    file whose tags no longer line up with the stored rows (rewritten by another process
    since) is searched by (line, name), and a row that is gone is given as a bare Tag.
    """

    def __init__(self, table: "SymbolTable", tags: Mapping[str, Sequence[Tag]], strs: Sequence[str],
                 str_id: np.ndarray, kinds: Sequence[str], kind: np.ndarray) -> None:
        self._table = table
        self._tags = tags
        self._strs = strs
        self._str_id = str_id
        self._kinds = kinds
        self._kind = kind
        self._first = table.row_ptr

    def __len__(self) -> int:
        return int(self._table.file_idx.size)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        t = self._table
        f = int(t.file_idx[i])
        defs = definitions(self._tags, t.paths[f])
        name, line = self._strs[int(self._str_id[i])], int(t.line[i])
        local = i - int(self._first[f])
        if local < len(defs) and defs[local].line == line and defs[local].name == name:
            return defs[local]
        for d in defs:
            if d.line == line and d.name == name:
                return d
        return Tag(line, name, True, self._kinds[int(self._kind[i])], line)

    def __iter__(self):
        load = getattr(self._tags, "load_defs", None)
        if load is not None:  # every file's definitions in one batch, not one read per file
            load([self._table.paths[int(f)] for f in self._table.groups])
        return (self[i] for i in range(len(self)))


@dataclass
class SymbolTable:
    """Every definition of the index as parallel arrays, grouped by file (graph order)."""

    paths: tuple[str, ...]
    tags: Sequence[Tag]
    file_idx: np.ndarray
    name_idx: np.ndarray
    prior: np.ndarray  # kind prior × locality (closures and local helpers weigh less)
    line: np.ndarray
    starts: np.ndarray  # first row of each non-empty file group
    groups: np.ndarray  # file index of each group
    span: np.ndarray  # lines from the definition's first to its last (≥ 1)

    @functools.cached_property
    def row_ptr(self) -> np.ndarray:
        """Each file's rows, as a CSR row pointer over the graph's files: rows
        ``row_ptr[f]`` up to ``row_ptr[f + 1]`` are file ``f``'s definitions."""
        counts = np.bincount(self.file_idx, minlength=len(self.paths))
        return np.r_[0, np.cumsum(counts)].astype(np.int64)

    def span_weight(self, power: float) -> np.ndarray | float:
        """Each row's line span to ``power`` (1 for power 0), kept per power."""
        if not power:
            return 1.0
        memo = self.__dict__.setdefault("_span_weights", {})
        got = memo.get(power)
        if got is None:
            got = memo[power] = self.span.astype(np.float64) ** power
            got.setflags(write=False)
        return got

    @classmethod
    def build(cls, g: GraphData, tags: Mapping[str, Sequence[Tag]]) -> "SymbolTable":
        """From the graph's definition rows when it keeps them (no tag is decoded), else
        from every file's definitions."""
        d = g.rows.defs if g.rows is not None else None
        if d is not None and g.def_names is not None and d.size == g.def_names.size:
            return cls._from_rows(g, tags)
        # a file's definitions are the names of its own language family
        by_family = [m.get for m in g.family_name_indexes()]
        fam_of = g.file_family.tolist()
        kind_prior = _KIND_PRIOR.get
        load = getattr(tags, "load_defs", None)
        if load is not None:
            load(g.files)
        all_tags: list[Tag] = []
        fidx: list[int] = []
        nidx: list[int] = []
        prior: list[float] = []
        ends: list[int] = []
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
            ends.extend([t.end_line for t in defs])
        file_idx = np.asarray(fidx, dtype=np.int64)
        starts = _group_starts(file_idx)
        line = np.asarray([t.line for t in all_tags], dtype=np.int64)
        return cls(g.files, all_tags, file_idx, np.asarray(nidx, dtype=np.int64), np.asarray(prior), line, starts,
                   file_idx[starts] if len(file_idx) else np.zeros(0, np.int64),
                   _spans(line, np.asarray(ends, dtype=np.int64)))

    @classmethod
    def _from_rows(cls, g: GraphData, tags: Mapping[str, Sequence[Tag]]) -> "SymbolTable":
        d = g.rows.defs
        kind_prior = np.array([_KIND_PRIOR.get(k, 0.7) for k in d.kinds] or [0.7])
        prior = kind_prior[d.kind] * np.where(d.local, 0.15, 1.0)
        file_idx = d.file.astype(np.int64)
        starts = _group_starts(file_idx)
        line = d.line.astype(np.int64)
        table = cls(g.files, (), file_idx, g.def_names.astype(np.int64), prior, line, starts,
                    file_idx[starts] if len(file_idx) else np.zeros(0, np.int64), _spans(line, d.end))
        table.tags = StoredDefinitions(table, tags, g.rows.strs, d.str_id, d.kinds, d.kind)
        return table


def _spans(line: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Each definition's lines from its first to its last, at least 1."""
    return np.maximum(end.astype(np.int64) - line + 1, 1)


def _group_starts(file_idx: np.ndarray) -> np.ndarray:
    """The first row of each run of equal file indices."""
    if not len(file_idx):
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.r_[True, file_idx[1:] != file_idx[:-1]])


SYMBOL_LEXICAL_WEIGHT = 2.0  # a file's best lexical match to the focus gets up to 3× its share
#: A definition's share grows with its line span to this power: of a file's definitions, the
#: long ones are where its work is done and where the next change lands (changed
#: definitions of the fit corpus' commits: 67% in the longer half of their file's). Chosen
#: with ``bench/symbols.py`` on ``bench/corpus/fit.toml`` (README, "Which definitions").
SYMBOL_SPAN_POWER = 0.5
#: A definition the focus names comes first in its file (``bench/symbols.py`` variant
#: ``named-not-first`` turns it off to compare).
NAMED_FIRST = 1


def rank_symbols(ctx: RankContext, params: Params, file_scores: np.ndarray,
                  tags: Mapping[str, Sequence[Tag]], name_strength: np.ndarray | None,
                  chunk_lex: np.ndarray | None = None):
    """Symbol score = file score × the symbol's share of its file (vectorized).

    A definition's share grows with the references to its name, each weighted by the
    score of the referring file (so symbols used by the files that matter come first),
    times a small prior by kind (types before fields; local helpers far behind) and a
    power of its line span (:data:`SYMBOL_SPAN_POWER`: a one-line setter behind the
    function that does the work).
    Returns (table, scores) (see :func:`symbol_order` for the rows in rank order).
    """
    g = ctx.graph
    table: SymbolTable = ctx._get(("symbols", id(tags)), lambda: SymbolTable.build(g, tags))
    n = len(table.tags)
    if n == 0:
        return table, np.zeros(0)
    R = reference_matrix(g, params)
    incoming = np.asarray(R.T @ file_scores).ravel()  # per name
    has = table.name_idx >= 0
    raw = np.where(has, incoming[np.where(has, table.name_idx, 0)], 0.0)
    mx = np.maximum.reduceat(raw, table.starts)
    counts = np.diff(np.r_[table.starts, n])
    mx_row = np.repeat(mx, counts)
    rel_in = np.divide(raw, mx_row, out=np.zeros(n), where=mx_row > 0)
    share = table.prior * (1.0 + params["symbol_ref_weight"] * rel_in)
    share = share * table.span_weight(SYMBOL_SPAN_POWER)
    boost_ident = params["boost_mentioned_ident"]
    if name_strength is not None:  # the user's identifiers (exact 1.0, case-insensitive less)
        st = np.where(has, name_strength[np.where(has, table.name_idx, 0)], 0.0)
        named = st > 0
        share = share * np.where(named, 1.0 + (boost_ident - 1.0) * st, 1.0)
        if NAMED_FIRST and named.any():
            # a definition the user named leads its file, however short it is (a one-line
            # `readUtf8Line()` behind a 40-line `copyTo`): its share is raised to the
            # file's largest times its strength, so exact names come first
            top = np.repeat(np.maximum.reduceat(share, table.starts), counts)
            share = np.where(named, np.maximum(share, top * (1.0 + st)), share)
    if chunk_lex is not None and chunk_lex.shape == (n,) and chunk_lex.any():
        # the lexical index's chunks are the same definitions in the same order
        cmx = np.repeat(np.maximum.reduceat(chunk_lex, table.starts), counts)
        share = share * (1.0 + SYMBOL_LEXICAL_WEIGHT * np.divide(chunk_lex, cmx, out=np.zeros(n), where=cmx > 0))
    total = np.repeat(np.add.reduceat(share, table.starts), counts)
    sym_scores = file_scores[table.file_idx] * (share / total)
    return table, sym_scores


def symbol_order(table: SymbolTable, sym_scores: np.ndarray) -> np.ndarray:
    """Every row in rank order: score descending, then path (graph order is path order),
    line. A sort of every definition: the renderer, which shows a few hundred, orders
    only the files it reaches."""
    return np.lexsort((table.line, table.file_idx, -sym_scores))
