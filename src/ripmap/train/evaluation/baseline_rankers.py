"""The yardsticks every quality figure is measured against, on the same cases.

None of these uses ripmap's ranker, so a change to ripmap's lexical or co-change
signals can never move its own baseline:

* **BM25** (``bm25``): plain Okapi BM25 (``bm25s``, its defaults) over each whole file's
  identifier and path tokens (every name the file defines or references, split into
  lowercase sub-words, each once per file, plus the path's sub-words). The query is the
  task's evidence: the seed file's own tokens (task A), the commit message's sub-words
  (task B), or both (A+msg). No stop words, no stemming, no fields.
* **co-change** (``cochange``): Jaccard similarity of commit sets with the seed file,
  from the history the case is ranked with (its own, before its commit, by default). In task B nothing is in the chat, so the seed is
  BM25's top file for the message (ranked first). Files with no co-change follow in
  BM25 order.
* **structure** (``structure``): ripmap's own PageRank personalized on the seed (or the
  focus-matched files) with every other signal switched off: roughly aider's map.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ...rank import RankContext
from ...rank.params import DEFAULT
from ...rank.signals import path_tokens, split_identifier
from ..cases.oracle import Case

def _structure_only():
    """ripmap's parameters with every evidence but PageRank at its floor and every boost
    neutral: what is left is the personalized PageRank (and the file-class prior)."""
    from ...rank.explain import ADDITIVE_WEIGHT
    from ...rank.params import SPECS

    off = {w: SPECS[w].low for k, w in ADDITIVE_WEIGHT.items() if k != "structure"}
    return DEFAULT.replace(**off, boost_mentioned_ident=1.0, boost_mentioned_file=1.0,
                           git_recency_max_boost=1.0, git_churn_max_boost=1.0, cochange_recent_weight=0.0,
                           cochange_jaccard=0.0)


STRUCTURE_ONLY = _structure_only()

_WORD = re.compile(r"[A-Za-z0-9_]+")


def message_tokens(text: str) -> list[str]:
    """Sub-word tokens of free text, as plain BM25 sees them (lowercase, split like identifiers)."""
    out: list[str] = []
    for w in _WORD.findall(text):
        out.extend(split_identifier(w))
    return out


@dataclass
class PlainRankers:
    """BM25 and co-change baselines over one snapshot's files (built once, reused)."""

    ctx: RankContext
    _file_tokens: list[list[str]] = field(default_factory=list, repr=False)
    _bm25: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import bm25s

        g = self.ctx.graph
        names_of = (g.D.T.tocsr(), (g.R[0] + g.R[1] + g.R[2]).tocsr())
        memo: dict[int, list[str]] = {}
        docs: list[list[str]] = []
        for i, f in enumerate(g.files):
            ids: set[int] = set()
            for m in names_of:
                ids.update(int(j) for j in m.indices[m.indptr[i]:m.indptr[i + 1]])
            toks = list(path_tokens(f))
            for j in sorted(ids):
                t = memo.get(j)
                if t is None:
                    t = memo[j] = split_identifier(g.names[j])
                toks.extend(t)
            docs.append(toks or ["∅"])
        self._file_tokens = docs
        self._bm25 = bm25s.BM25()
        self._bm25.index(docs, show_progress=False)
        self._vocab = set(self._bm25.vocab_dict)

    def _query(self, case: Case) -> list[str]:
        q: list[str] = []
        fi = self.ctx.graph.file_index
        for f in case.chat_files:
            if f in fi:
                q.extend(self._file_tokens[fi[f]])
        if case.focus:
            q.extend(message_tokens(case.focus))
        return [t for t in dict.fromkeys(q) if t in self._vocab]

    def bm25_scores(self, case: Case) -> np.ndarray:
        q = self._query(case)
        n = self.ctx.graph.n_files
        if not q:
            return np.zeros(n)
        return np.asarray(self._bm25.get_scores(q), dtype=np.float64)

    def bm25(self, case: Case) -> list[str]:
        return self._order(self.bm25_scores(case), case)

    def cochange(self, case: Case, ctx: RankContext | None = None) -> list[str]:
        """Co-change order for ``case``; history from ``ctx`` (the case's own, from
        :meth:`~ripmap.train.evaluation.evaluator.Evaluator.context_for`), else this
        snapshot's."""
        g = self.ctx.graph
        lex = self.bm25_scores(case)
        seeds = [g.file_index[f] for f in case.chat_files if f in g.file_index]
        first = np.zeros(g.n_files)
        if not seeds and lex.any():
            top = int(np.argmax(lex))
            seeds = [top]
            first[top] = 1.0
        cc = self._jaccard(seeds, self.ctx if ctx is None else ctx)
        # lexicographic: seed first (task B), then co-change, then BM25
        order = np.lexsort((np.arange(g.n_files), -lex, -cc, -first))
        chat = set(case.chat_files)
        return [g.files[i] for i in order if g.files[i] not in chat]

    def _jaccard(self, seeds: list[int], ctx: RankContext) -> np.ndarray:
        """Max Jaccard similarity of commit sets with the seeds (graph order)."""
        g, git = ctx.graph, ctx.git
        out = np.zeros(g.n_files)
        if not seeds or git is None or git.is_empty:
            return out
        _age, _churn, col = ctx.git_arrays()
        cols = col[np.asarray(seeds)]
        cols = cols[cols >= 0]
        if cols.size == 0:
            return out
        cc = git.cochange_vector(np.unique(cols))
        has = col >= 0
        out[has] = cc[col[has]]
        return out

    def _order(self, scores: np.ndarray, case: Case) -> list[str]:
        g = self.ctx.graph
        order = np.lexsort((np.arange(g.n_files), -scores))
        chat = set(case.chat_files)
        return [g.files[i] for i in order if g.files[i] not in chat]
