"""Ranking: from the graph, git signals and the user's context to ordered files and symbols.

One concept per module:

* :mod:`.params`: THE coordinate space (every tunable number, its range and default);
* :mod:`.query`: the focus text → typed evidence (paths, identifiers, words), parsed once;
* :mod:`.edges`: parameter-dependent graph weights (the weighted file graph);
* :mod:`.lexical`: field-aware retrieval; :mod:`.pairing`: tests ↔ the code they test;
* :mod:`.pagerank`, :mod:`.signals`: the structural and prior signals;
* :mod:`.context`: :class:`RankContext`, what depends only on the indexed code and its
  history, with its memos (built lazily, reused by every query);
* :mod:`.score`: :func:`rank`, the fusion of one query's evidence into file scores, and
  :func:`rank_many`, the same for many :class:`Query` at one parameter point (the trainer's path);
* :mod:`.symbols`: each definition's share of its file's score;
* :mod:`.ranking`: the :class:`Ranking` record; :mod:`.explain`: its per-signal breakdown.
"""
from __future__ import annotations

from .context import LexicalStore, RankContext
from .params import Params
from .ranking import RankedSymbol, Ranking
from .score import Query, rank, rank_many
from .symbols import SymbolTable

__all__ = ["LexicalStore", "Query", "RankContext", "Ranking", "RankedSymbol", "Params", "SymbolTable", "rank",
           "rank_many"]
