"""The ranking record: files and symbols in rank order, with the signals that put them there.

What :func:`~ripmap.rank.score.rank` returns and every consumer reads (the renderers,
``--explain``, the trainer's metrics); symbols are materialized only when asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..extract.tags import Tag
from ..fileclass import class_labels
from .explain import Explanation, SignalTable, explain_row
from .params import Params
from .query import ParsedQuery
from .signals import class_weights
from .symbols import symbol_order


@dataclass(frozen=True)
class RankedSymbol:
    path: str
    tag: Tag
    score: float


@dataclass
class Ranking:
    """Files and symbols in rank order, with the signals that put them there."""

    paths: Sequence[str]  # the graph's files, in graph order
    score_values: np.ndarray  # score per graph file
    signals: SignalTable
    params: Params
    order: np.ndarray  # graph file indices in rank order
    file_index: dict[str, int]
    flags: np.ndarray | None = None  # FileClass bits per graph file
    query: ParsedQuery | None = None  # what the focus text was understood as
    #: the files it was ranked for as already in the LLM's context (the map does not repeat them)
    chat_files: tuple[str, ...] = ()
    _symbols: list[RankedSymbol] | None = None
    _files: list[str] | None = None
    _scores: dict[str, float] | None = None
    _symbol_maker: object = None
    _symbol_arrays: tuple | None = None
    _symbol_scores: tuple | None = None

    @property
    def files(self) -> list[str]:
        """Every file's path in rank order (built on first use: an evaluation that only
        scores the top of many rankings never needs most of them as strings)."""
        if self._files is None:
            paths = self.paths
            if isinstance(paths, np.ndarray):
                self._files = paths[self.order].tolist()
            else:
                self._files = [paths[i] for i in self.order.tolist()]
        return self._files

    @property
    def scores(self) -> dict[str, float]:
        """Score per path, in rank order (built on first use)."""
        if self._scores is None:
            self._scores = dict(zip(self.files, self.score_values[self.order].tolist()))
        return self._scores

    def _arrays(self):
        """(table, order, scores); the order (a sort of every definition) on first use."""
        if self._symbol_arrays is None:
            got = self.symbol_scores()
            if got is not None:
                got = (got[0], symbol_order(got[0], got[1]), got[1])
            self._symbol_arrays = got
        return self._symbol_arrays

    def symbol_scores(self):
        """``(table, scores)``: every definition's score, indexed like the
        :class:`~ripmap.rank.symbols.SymbolTable`, or None without tags (computed once)."""
        if self._symbol_scores is None and self._symbol_maker:
            self._symbol_scores = self._symbol_maker()
        return self._symbol_scores

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
