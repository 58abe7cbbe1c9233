"""The ranking signals besides PageRank: depth and file-class priors, focus expansion
through the graph, and git recency / churn. (Query parsing, a request for docs
included, lives in ``query``, lexical
retrieval in ``lexical``, co-change in :mod:`ripmap.gitinfo`, test pairing in ``pairing``.)

Each function returns one number per file (numpy arrays aligned with the graph's file
order) so the scorer combines them with vector arithmetic.
"""
from __future__ import annotations

import math
import re
from typing import Mapping, Sequence

import numpy as np
from ..lazy import sparse as sp

from ..fileclass import FileClass

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


#: the parameters :func:`depth_weights` reads
DEPTH_PARAMS = ("depth_weight_root", "depth_weight_moderate", "depth_weight_deep")


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


# -- focus ----------------------------------------------------------------------------

def focus_expansion(W: sp.csr_matrix, seed_strength: np.ndarray, decay: float, max_hops: float,
                    A: sp.csr_matrix | None = None) -> np.ndarray:
    """Spread focus from matched files along references in both directions.

    A file ``h`` hops from a seed of strength ``s`` gets ``s · decay^h · fade(h)``
    (the best over seeds), where ``fade`` is 1 up to ``floor(max_hops)`` and fades
    linearly to 0 over the next hop, so the hop limit acts continuously.

    ``A`` is the symmetric adjacency (:func:`~ripmap.rank.edges.undirected`), or a
    factored :class:`~ripmap.rank.edges.FileGraph` that walks its names. Each hop
    only walks the neighbours of the files whose strength rose in the hop before (a
    file's best neighbour can only have changed there), so a hop costs the edges of its
    frontier, not of the whole graph: the trainer expands every focused query at every
    parameter point.
    """
    n = W.shape[0]
    out = seed_strength.astype(np.float64).copy()
    if n == 0 or not out.any() or max_hops <= 0:
        return out
    if A is None:
        A = ((W + W.T) > 0).astype(np.float64).tocsr()
    factored = hasattr(A, "spread_max")  # a FileGraph walks its names instead of file pairs
    if not factored:
        indptr, indices, data = A.indptr, A.indices, A.data
        binary = bool((data == 1.0).all())  # an adjacency: edge weight × strength is the strength
        rows = np.flatnonzero(indptr[1:] > indptr[:-1])
    prev = out.copy()
    best = np.zeros(n)  # per file: its strongest neighbour's strength (times the edge's weight)
    changed = np.flatnonzero(prev)
    h = 1
    while h <= math.ceil(max_hops):
        fade = min(1.0, max(0.0, max_hops - h + 1.0))
        if factored:
            A.spread_max(best, prev, changed)
            spread = best * decay
            if not spread.any():
                break
            out = np.maximum(out, spread * fade)
            nxt = np.maximum(prev, spread)
            changed = np.flatnonzero(nxt > prev)
            prev = nxt
            h += 1
            continue
        starts = indptr[changed]
        lens = indptr[changed + 1] - starts
        total = int(lens.sum())
        if total * 4 > indices.size:
            # most of the graph moved: one pass over every row is cheaper than the runs
            vals = np.take(prev, indices)
            if not binary:
                vals = data * vals
            if rows.size:
                best[rows] = np.maximum.reduceat(vals, indptr[rows])
        elif total:
            # the stored entries of the changed files' rows, one run per file
            pos = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total)
            vals = np.repeat(prev[changed], lens)
            np.maximum.at(best, indices[pos], vals if binary else data[pos] * vals)
        spread = best * decay
        if not spread.any():
            break
        out = np.maximum(out, spread * fade)
        nxt = np.maximum(prev, spread)  # keep propagating at full strength; fade is per hop
        changed = np.flatnonzero(nxt > prev)
        prev = nxt
        h += 1
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
