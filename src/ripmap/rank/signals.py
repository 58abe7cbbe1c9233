"""The ranking signals besides PageRank: depth and file-class priors, focus matching and
expansion, lexical relevance (BM25 over identifiers), and git recency / churn / co-change.

Each function returns one number per file (numpy arrays aligned with the graph's file
order) so the scorer combines them with vector arithmetic.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from ..fileclass import FileClass
from ..graph import GraphData

_SPLIT = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def split_identifier(name: str) -> list[str]:
    """``parseHTTPResponse_v2`` → ``["parse", "http", "response", "v", "2"]`` (lowercase).

    One ``findall`` over the whole name: the pattern only matches ASCII letters and
    digits, so separators (``_``, ``.``, ``-``, non-ASCII) split words by themselves.
    """
    parts = _SPLIT.findall(name)
    return " ".join(parts).lower().split(" ") if parts else []


def path_tokens(rel: str) -> list[str]:
    toks: list[str] = []
    for comp in rel.split("/"):
        toks.extend(split_identifier(comp))
    return toks


# -- depth prior ------------------------------------------------------------------------

def file_depths(files: Sequence[str]) -> np.ndarray:
    """Directory depth per file: the query-independent half of the depth prior."""
    return np.fromiter((f.count("/") for f in files), dtype=np.float64, count=len(files))


def depth_weights(files: Sequence[str] | np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    """Prior weight per file from its directory depth, interpolated smoothly in log space.

    Anchors: depth ≤ 1 → ``depth_weight_root``, 3–4 → ``depth_weight_moderate``,
    ≥ 6 → ``depth_weight_deep``. ``files`` may be the precomputed :func:`file_depths`.
    """
    depth = files if isinstance(files, np.ndarray) else file_depths(files)
    lr, lm, ld = (math.log(params["depth_weight_root"]), math.log(params["depth_weight_moderate"]),
                  math.log(params["depth_weight_deep"]))
    return np.exp(np.interp(depth, [1.0, 3.0, 4.0, 6.0], [lr, lm, lm, ld]))


# -- file classes -----------------------------------------------------------------------

#: The parameter weighing each file class. Vendored code keeps its historical name.
CLASS_WEIGHT: dict[FileClass, str] = {
    FileClass.VENDOR: "depth_weight_vendor",
    FileClass.GENERATED: "weight_generated",
    FileClass.FIXTURE: "weight_fixture",
    FileClass.STUB: "weight_stub",
    FileClass.DOCS: "weight_docs",
    FileClass.TEST: "weight_test",
}

#: Focus words that ask for documentation rather than code.
DOCS_WORDS: frozenset[str] = frozenset({
    "doc", "docs", "documentation", "readme", "guide", "guides", "tutorial", "manual", "faq", "changelog",
    "howto", "handbook",
})


def class_weights(flags: np.ndarray, params: Mapping[str, float], lifted: int = 0) -> np.ndarray:
    """Prior weight per file from its classes: the product of its classes' weights.

    ``flags`` holds each file's :class:`~ripmap.fileclass.FileClass` bits. A file in no
    class weighs 1; a fixture stub under ``test-data/`` weighs ``weight_fixture ·
    weight_stub``. Classes in ``lifted`` (the query asked for them) weigh 1. A
    repository made of one class only is therefore ranked as if unweighted.
    """
    flags = np.asarray(flags)
    w = np.ones(len(flags))
    if not flags.any():
        return w
    for cls, name in CLASS_WEIGHT.items():
        if not lifted & cls:
            hit = (flags & int(cls)) != 0
            w[hit] *= params[name]
    return w


def asks_for_docs(query: str | None) -> bool:
    """Whether a focus query asks for documentation ("where is the install guide?")."""
    if not query:
        return False
    return any(w in DOCS_WORDS for t in focus_terms(query) for w in split_identifier(t))


# -- focus ----------------------------------------------------------------------------

@dataclass(frozen=True)
class FocusMatch:
    """Result of matching a focus query against symbol names and paths."""

    file_strength: np.ndarray  # per file, in [0, 1]
    name_strength: np.ndarray  # per name, in [0, 1]
    path_strength: np.ndarray  # per file, in [0, 1]: from its path alone
    exact_names: tuple[str, ...]  # names equal (case-insensitively) to a query term
    terms: tuple[str, ...]


def focus_terms(query: str) -> list[str]:
    return [t for t in re.split(r"[\s,;]+", query.strip()) if t]


class TokenIndex:
    """Inverted index of identifier tokens for names and paths (built once per graph)."""

    def __init__(self, g: GraphData) -> None:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for i, n in enumerate(g.names):
            for t in set(split_identifier(n)):
                rows.append(i)
                cols.append(vocab.setdefault(t, len(vocab)))
        prow: list[int] = []
        pcol: list[int] = []
        for i, f in enumerate(g.files):
            for t in set(path_tokens(f)):
                prow.append(i)
                pcol.append(vocab.setdefault(t, len(vocab)))
        self.vocab = vocab
        self.words = sorted(vocab, key=vocab.__getitem__)
        nv = len(vocab)
        self.name_tokens = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                         shape=(len(g.names), nv))
        self.path_tokens = sp.csr_matrix((np.ones(len(prow), dtype=np.float32), (prow, pcol)),
                                         shape=(len(g.files), nv))
        self.lower_names: dict[str, list[int]] = {}
        for i, n in enumerate(g.names):
            self.lower_names.setdefault(n.lower(), []).append(i)

    def term_vector(self, term: str) -> np.ndarray:
        """Match strength of every vocabulary token against one query token.

        Exact 1.0; the token starts with the term (≥ 3 chars) 0.7; one edit away for
        terms of 4+ chars (two for 8+) 0.6.
        """
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        v = np.zeros(len(self.words), dtype=np.float32)
        t = term.lower()
        if not t:
            return v
        idx = self.vocab.get(t)
        if len(t) >= 3:
            for w, i in self.vocab.items():
                if w.startswith(t) and w != t:
                    v[i] = max(v[i], 0.7)
        if len(t) >= 4:
            k = 2 if len(t) >= 8 else 1
            for _w, _score, i in process.extract(t, self.words, scorer=Levenshtein.distance,
                                                 score_cutoff=k, limit=None):
                v[i] = max(v[i], 0.6)
        if idx is not None:
            v[idx] = 1.0
        return v


def match_focus(g: GraphData, tix: TokenIndex, query: str) -> FocusMatch:
    """Fuzzy-match a focus query to names and paths.

    Each query term is split like an identifier (``tokenRefresh`` → token, refresh);
    a name's strength is the mean over query tokens of the best match among its own
    tokens, so "token refresh" finds ``refresh_token`` and ``TokenRefresher``.
    """
    nn, nf = len(g.names), g.n_files
    terms = focus_terms(query)
    qtoks: list[str] = []
    for t in terms:
        qtoks.extend(split_identifier(t) or [t.lower()])
    qtoks = list(dict.fromkeys(qtoks))
    if not qtoks or nn + nf == 0:
        return FocusMatch(np.zeros(nf), np.zeros(nn), np.zeros(nf), (), tuple(terms))
    name_s = np.zeros(nn)
    path_s = np.zeros(nf)
    for qt in qtoks:
        tv = tix.term_vector(qt)
        if nn:
            name_s += np.asarray(tix.name_tokens.multiply(tv).max(axis=1).todense()).ravel()
        if nf:
            path_s += np.asarray(tix.path_tokens.multiply(tv).max(axis=1).todense()).ravel()
    name_s /= len(qtoks)
    path_s /= len(qtoks)
    exact: list[str] = []
    for t in terms:
        for i in tix.lower_names.get(t.lower(), ()):
            name_s[i] = 1.0
            exact.append(g.names[i])
    name_s[name_s < 0.5] = 0.0
    path_s[path_s < 0.5] = 0.0
    # a file is as strong as its best-matching definition or its path
    if nn and g.D.nnz:
        by_def = np.asarray(g.D.multiply(name_s[:, None]).max(axis=0).todense()).ravel()
    else:
        by_def = np.zeros(nf)
    return FocusMatch(np.maximum(by_def, path_s), name_s, path_s, tuple(sorted(set(exact))), tuple(terms))


def focus_expansion(W: sp.csr_matrix, seed_strength: np.ndarray, decay: float, max_hops: float,
                    A: sp.csr_matrix | None = None) -> np.ndarray:
    """Spread focus from matched files along references in both directions.

    A file ``h`` hops from a seed of strength ``s`` gets ``s · decay^h · fade(h)``
    (the best over seeds), where ``fade`` is 1 up to ``floor(max_hops)`` and fades
    linearly to 0 over the next hop, so the hop limit acts continuously.
    """
    n = W.shape[0]
    out = seed_strength.astype(np.float64).copy()
    if n == 0 or not out.any() or max_hops <= 0:
        return out
    if A is None:
        A = ((W + W.T) > 0).astype(np.float64).tocsr()
    prev = out.copy()
    h = 1
    while h <= math.ceil(max_hops):
        fade = min(1.0, max(0.0, max_hops - h + 1.0))
        spread = np.asarray(A.multiply(prev).max(axis=1).todense()).ravel() * decay
        if not spread.any():
            break
        out = np.maximum(out, spread * fade)
        prev = np.maximum(prev, spread)  # keep propagating at full strength; fade is per hop
        h += 1
    return out


# -- lexical --------------------------------------------------------------------------

class Lexical:
    """BM25 (via ``bm25s``) over each file's identifier tokens and path tokens.

    The index is query-independent, so it is built once per graph and can be stored
    (:meth:`to_bytes`) beside the graph in the cache; a warm run loads it instead of
    re-tokenizing every identifier of the repository.
    """

    def __init__(self, g: GraphData, stored: bytes | None = None) -> None:
        import bm25s

        self.graph = g
        Rt = (g.R[0] + g.R[1] + g.R[2]).tocsr()  # files × names (reference counts)
        Dt = g.D.T.tocsr()
        self.file_name_ids = (Dt, Rt)
        self._name_toks: dict[int, list[str]] = {}
        self.retriever = bm25s.BM25()
        if stored is not None:
            self._load(stored)
        else:
            corpus: list[list[str]] = []
            for i, f in enumerate(g.files):
                toks = path_tokens(f) * 2
                for j in Dt.indices[Dt.indptr[i]:Dt.indptr[i + 1]]:
                    toks.extend(self.name_tokens(j) * 2)  # what a file defines says more than what it uses
                for j in Rt.indices[Rt.indptr[i]:Rt.indptr[i + 1]]:
                    toks.extend(self.name_tokens(j))
                corpus.append(toks or ["∅"])
            self.retriever.index(corpus, show_progress=False)
        self.vocab = set(self.retriever.vocab_dict)

    def name_tokens(self, j: int) -> list[str]:
        t = self._name_toks.get(j)
        if t is None:
            t = self._name_toks[j] = split_identifier(self.graph.names[j])
        return t

    def to_bytes(self) -> bytes:
        import io
        import json as _json

        sc = self.retriever.scores
        buf = io.BytesIO()
        np.savez(buf, data=sc["data"], indices=sc["indices"], indptr=sc["indptr"],
                 num_docs=np.array(sc["num_docs"]), vocab=np.array(_json.dumps(self.retriever.vocab_dict)))
        return buf.getvalue()

    def _load(self, b: bytes) -> None:
        import io
        import json as _json

        with np.load(io.BytesIO(b), allow_pickle=False) as z:
            self.retriever.scores = {"data": z["data"], "indices": z["indices"], "indptr": z["indptr"],
                                     "num_docs": int(z["num_docs"])}
            self.retriever.vocab_dict = _json.loads(str(z["vocab"]))
        # what ``index()`` sets besides the score matrix (bm25s 0.2-0.3, method "lucene")
        self.retriever.nonoccurrence_array = None
        self.retriever.unique_token_ids_set = set(self.retriever.vocab_dict.values())
        if self.retriever.scores["num_docs"] != self.graph.n_files:
            raise ValueError("stored BM25 index does not match the graph")

    def scores(self, tokens: Iterable[str]) -> np.ndarray:
        toks = [t for t in dict.fromkeys(tokens) if t in self.vocab]
        if not toks:
            return np.zeros(self.file_name_ids[0].shape[0])
        return np.asarray(self.retriever.get_scores(toks), dtype=np.float64)

    def tokens_of_files(self, idx: Iterable[int]) -> list[str]:
        """Query tokens standing for a set of chat files: the identifiers they define and use."""
        Dt, Rt = self.file_name_ids
        out: list[str] = []
        for i in idx:
            for m in (Dt, Rt):
                for j in m.indices[m.indptr[i]:m.indptr[i + 1]]:
                    out.extend(self.name_tokens(int(j)))
        return out


# -- git ------------------------------------------------------------------------------

def recency_factor(age_days: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    """1 + (max-1)·2^(-age/half-life); files absent from history (age = inf) get 1."""
    half = params["git_recency_decay_days"]
    with np.errstate(over="ignore"):
        decay = np.exp2(-np.asarray(age_days, dtype=np.float64) / half)
    decay = np.nan_to_num(decay, nan=0.0)
    return 1.0 + (params["git_recency_max_boost"] - 1.0) * decay


def churn_factor(churn: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    """1 + (max-1)·c²/(c²+T²): half the boost at the threshold, smooth on both sides."""
    c2 = np.asarray(churn, dtype=np.float64) ** 2
    t2 = params["git_churn_threshold"] ** 2
    return 1.0 + (params["git_churn_max_boost"] - 1.0) * (c2 / (c2 + t2))
