"""Ranking metrics for the trainer.

A *ranking* is the ordered list of file paths ripmap produced for one case; the
*expected* mapping gives each file that should have been found a graded relevance
(> 0). Files missing from ``expected`` are irrelevant.

Conventions shared by every metric here:

* A ranking may repeat a path (e.g. when several symbols of one file are listed).
  Only the first occurrence counts and later ones are dropped *before* cutting at
  ``k``, so a repeat neither earns gain twice nor pushes a relevant file out of
  the top k.
* The binary metrics (precision, recall, MRR, AP, hit) call a file relevant when
  its relevance is ``>= threshold``. The default threshold of 0 means "any file
  listed in ``expected``". NDCG always uses the graded relevances.
* A case with nothing relevant scores 0.0 on every metric rather than raising:
  such cases carry no signal, and the trainer should be able to drop or down-weight
  them without special-casing every call.
* ``precision_at_k`` divides by ``k`` even when the ranking is shorter, so
  returning fewer files is never rewarded by a smaller denominator.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "METRIC_NAMES",
    "CaseMetrics",
    "aggregate",
    "average_precision",
    "bootstrap_ci",
    "cluster_bootstrap_ci",
    "case_metrics",
    "dcg",
    "hit_at_k",
    "mrr",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
]

METRIC_NAMES: tuple[str, ...] = (
    "ndcg@5",
    "ndcg@10",
    "p@5",
    "p@10",
    "r@5",
    "r@10",
    "mrr",
    "map",
    "hit@5",
    "hit@10",
)


# ----------------------------------------------------------------- helpers


def _check_k(k: int) -> None:
    # A cutoff below 1 is always a caller bug; silently returning 0 would hide it
    # behind a plausible-looking score.
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def _unique(ranking: Iterable[str]) -> list[str]:
    """The ranking with repeats removed, keeping each path's first position."""
    seen: set[str] = set()
    out: list[str] = []
    for path in ranking:
        if path not in seen:
            seen.add(path)
            out.append(path)
    return out


def _relevant(expected: Mapping[str, float], threshold: float) -> set[str]:
    return {path for path, rel in expected.items() if rel >= threshold}


def _hits_at_k(ranking: Sequence[str], expected: Mapping[str, float], k: int, threshold: float) -> tuple[int, int]:
    """(relevant files in the top ``k``, relevant files): what precision and recall divide."""
    _check_k(k)
    relevant = _relevant(expected, threshold)
    return sum(1 for path in _unique(ranking)[:k] if path in relevant), len(relevant)


# ----------------------------------------------------------------- per-case metrics


def dcg(gains: Sequence[float], k: int) -> float:
    """Discounted cumulative gain of the first ``k`` gains.

    Linear gain, ``sum(g_i / log2(i + 2))`` for positions i = 0, 1, ...: the graded
    relevances are already on the scale we want, so the exponential ``2**g - 1``
    variant would only over-reward the single most relevant file.
    """
    _check_k(k)
    return float(sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k])))


def ndcg_at_k(ranking: Sequence[str], expected: Mapping[str, float], k: int) -> float:
    """DCG of the ranking's top ``k`` over the best DCG achievable at ``k``.

    The ideal ranking is the expected relevances sorted descending and cut at ``k``,
    so a case with more relevant files than ``k`` can still reach 1.0.
    """
    _check_k(k)
    if not expected:
        return 0.0
    gains = [float(expected.get(path, 0.0)) for path in _unique(ranking)[:k]]
    ideal = dcg(sorted((float(r) for r in expected.values()), reverse=True), k)
    if ideal <= 0.0:
        return 0.0
    return dcg(gains, k) / ideal


def precision_at_k(
    ranking: Sequence[str], expected: Mapping[str, float], k: int, threshold: float = 0.0
) -> float:
    """Fraction of the ``k`` slots filled by relevant files (denominator is ``k``)."""
    hits, relevant = _hits_at_k(ranking, expected, k, threshold)
    return hits / k if relevant else 0.0


def recall_at_k(
    ranking: Sequence[str], expected: Mapping[str, float], k: int, threshold: float = 0.0
) -> float:
    """Fraction of the relevant files that appear in the top ``k``."""
    hits, relevant = _hits_at_k(ranking, expected, k, threshold)
    return hits / relevant if relevant else 0.0


def hit_at_k(
    ranking: Sequence[str], expected: Mapping[str, float], k: int, threshold: float = 0.0
) -> float:
    """1.0 if any relevant file is in the top ``k``, else 0.0."""
    _check_k(k)
    relevant = _relevant(expected, threshold)
    return 1.0 if any(path in relevant for path in _unique(ranking)[:k]) else 0.0


def mrr(ranking: Sequence[str], expected: Mapping[str, float], threshold: float = 0.0) -> float:
    """Reciprocal rank (1-based) of the first relevant file; 0.0 if none appears.

    Called ``mrr`` because averaging it over cases (:func:`aggregate`) gives the mean
    reciprocal rank.
    """
    relevant = _relevant(expected, threshold)
    for rank, path in enumerate(_unique(ranking), start=1):
        if path in relevant:
            return 1.0 / rank
    return 0.0


def average_precision(
    ranking: Sequence[str], expected: Mapping[str, float], threshold: float = 0.0
) -> float:
    """Mean of precision@rank at each relevant hit, over *all* relevant files.

    Dividing by the number of relevant files (not the number found) means a relevant
    file the ranking never lists contributes 0, so AP also penalises missing files.
    Averaged over cases this is MAP.
    """
    relevant = _relevant(expected, threshold)
    if not relevant:
        return 0.0
    hits = 0
    total = 0.0
    for rank, path in enumerate(_unique(ranking), start=1):
        if path in relevant:
            hits += 1
            total += hits / rank
    return total / len(relevant)


@dataclass(frozen=True)
class CaseMetrics:
    """All metrics of one case; :meth:`as_dict` keys them by :data:`METRIC_NAMES`."""

    ndcg_5: float
    ndcg_10: float
    p_5: float
    p_10: float
    r_5: float
    r_10: float
    mrr: float
    map: float
    hit_5: float
    hit_10: float

    def as_dict(self) -> dict[str, float]:
        # Field order matches METRIC_NAMES, so zipping is exact; asserted in tests.
        return dict(zip(METRIC_NAMES, asdict(self).values()))

    @classmethod
    def from_dict(cls, values: Mapping[str, float]) -> CaseMetrics:
        return cls(*(float(values[name]) for name in METRIC_NAMES))


def _positions(ranking: Sequence[str], expected: Mapping[str, float]) -> list[tuple[int, str]]:
    """(first position, path) of each expected file the ranking lists, best first."""
    found = []
    for p in expected:
        try:
            found.append((ranking.index(p), p))
        except ValueError:
            pass
    found.sort()
    return found


def case_metrics(
    ranking: Sequence[str], expected: Mapping[str, float], threshold: float = 0.0
) -> CaseMetrics:
    """Every metric of :data:`METRIC_NAMES` for one ranked case.

    The same numbers as the functions above, computed from the positions of the
    expected files alone: the trainer calls this for every case of every evaluation, and
    walking a ranking of every mapped file six times in Python was most of its cost.
    """
    if not isinstance(ranking, (list, tuple)):
        ranking = list(ranking)
    found = _positions(ranking, expected)
    # only the top 10 and the expected files' positions matter: a repeat beyond both changes nothing
    cut = max(10, found[-1][0] + 1) if found else 10
    if len(set(ranking[:cut])) != len(ranking[:cut]):
        found = _positions(_unique(ranking), expected)
    gains = [(i, float(expected[p])) for i, p in found]
    ideal = dcg(sorted((float(r) for r in expected.values()), reverse=True), 10)
    ideal5 = dcg(sorted((float(r) for r in expected.values()), reverse=True), 5)

    def ndcg(k: int, best: float) -> float:
        if not expected or best <= 0.0:
            return 0.0
        return float(sum(g / math.log2(i + 2) for i, g in gains if i < k)) / best

    relevant = [i for i, p in found if expected[p] >= threshold]
    n_rel = sum(1 for r in expected.values() if r >= threshold)

    def hits(k: int) -> int:
        return sum(1 for i in relevant if i < k)

    ap = 0.0
    if n_rel:
        total = 0.0
        for h, i in enumerate(relevant, start=1):
            total += h / (i + 1)
        ap = total / n_rel
    return CaseMetrics(
        ndcg_5=ndcg(5, ideal5),
        ndcg_10=ndcg(10, ideal),
        p_5=hits(5) / 5 if n_rel else 0.0,
        p_10=hits(10) / 10 if n_rel else 0.0,
        r_5=hits(5) / n_rel if n_rel else 0.0,
        r_10=hits(10) / n_rel if n_rel else 0.0,
        mrr=1.0 / (relevant[0] + 1) if relevant else 0.0,
        map=ap,
        hit_5=1.0 if relevant and relevant[0] < 5 else 0.0,
        hit_10=1.0 if relevant and relevant[0] < 10 else 0.0,
    )


# ----------------------------------------------------------------- across cases

# CaseMetrics field names, in METRIC_NAMES order.
_FIELDS: tuple[str, ...] = tuple(CaseMetrics.__dataclass_fields__)


def _weights_array(weights: Sequence[float] | None, n: int) -> np.ndarray:
    """Validated case weights as a float array (ones when ``weights`` is None)."""
    if weights is None:
        return np.ones(n, dtype=float)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"expected {n} weights, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    if n and w.sum() <= 0:
        raise ValueError("weights must not all be zero")
    return w


def aggregate(
    cases: Sequence[CaseMetrics], weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Weighted mean of every metric over ``cases``, plus ``"n"`` (the case count).

    ``weights`` are the cases' case weights (None = equal). An empty input gives all
    zeros and ``n == 0`` so a trial with no usable cases still yields a well-formed
    record instead of an exception.
    """
    n = len(cases)
    w = _weights_array(weights, n)
    if n == 0:
        out = {name: 0.0 for name in METRIC_NAMES}
    else:
        table = np.array([[getattr(c, f) for f in _FIELDS] for c in cases], dtype=float)
        means = w @ table / w.sum()
        out = {name: float(m) for name, m in zip(METRIC_NAMES, means)}
    # An int is a valid float for typing, and keeps the count exact in JSON records.
    out["n"] = n
    return out


def bootstrap_ci(
    values: Sequence[float],
    weights: Sequence[float] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap ``1 - alpha`` interval of the weighted mean of ``values``.

    Whole cases are resampled with replacement (each keeping its weight), all
    ``n_boot`` resamples drawn at once as an ``n_boot × n`` index matrix from a
    ``numpy`` Generator seeded with ``seed``, so the same inputs always give the same
    interval. Zero-weight cases are dropped first: they are not part of the estimate,
    and resampling them would only shrink the effective sample at random. With no
    cases the interval is ``(0.0, 0.0)``, matching :func:`aggregate`; with a single
    case it collapses to that case's value.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError("values must be one-dimensional")
    w = _weights_array(weights, v.size)
    keep = w > 0
    v, w = v[keep], w[keep]
    n = v.size
    if n == 0:
        return (0.0, 0.0)
    if n == 1:
        return (float(v[0]), float(v[0]))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    wi = w[idx]
    means = (wi * v[idx]).sum(axis=1) / wi.sum(axis=1)
    lo, hi = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (float(lo), float(hi))


def cluster_bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    weights: Sequence[float] | None,
    clusters: Sequence[object],
    strata: Sequence[object] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a weighted mean when cases come in clusters.

    Cases of one commit (one per seed file) are not independent, so whole *clusters*
    (commits) are resampled, each keeping all its cases; with ``strata`` (the
    repository of each case) clusters are resampled within each stratum, so every
    resample keeps each repository's share of commits. ``values`` may be 2-D
    (cases × k): the interval is then computed for each column on the same resamples,
    which is what a paired comparison needs (pass the per-case differences as one
    column). Same inputs and ``seed`` → same interval.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    v = np.asarray(values, dtype=float)
    one = v.ndim == 1
    if one:
        v = v[:, None]
    n = v.shape[0]
    w = _weights_array(weights, n)
    if len(clusters) != n or (strata is not None and len(strata) != n):
        raise ValueError("values, clusters and strata must have the same length")
    if n == 0 or w.sum() <= 0:
        out = [(0.0, 0.0)] * v.shape[1]
        return out[0] if one else out  # type: ignore[return-value]
    # per-cluster sums of w·v and w
    keys = list(zip(strata if strata is not None else [None] * n, clusters))
    uniq: dict[tuple, int] = {}
    cid = np.fromiter((uniq.setdefault(k, len(uniq)) for k in keys), dtype=np.int64, count=n)
    nc = len(uniq)
    cw = np.bincount(cid, weights=w, minlength=nc)
    cwv = np.stack([np.bincount(cid, weights=w * v[:, j], minlength=nc) for j in range(v.shape[1])], axis=1)
    stratum_of = [k[0] for k in uniq]
    groups: dict[object, list[int]] = {}
    for c, s in enumerate(stratum_of):
        groups.setdefault(s, []).append(c)
    rng = np.random.default_rng(seed)
    tot_w = np.zeros(n_boot)
    tot_wv = np.zeros((n_boot, v.shape[1]))
    for members in groups.values():
        m = np.asarray(members)
        idx = m[rng.integers(0, m.size, size=(n_boot, m.size))]
        tot_w += cw[idx].sum(axis=1)
        tot_wv += cwv[idx].sum(axis=1)
    means = tot_wv / np.where(tot_w > 0, tot_w, 1.0)[:, None]
    lo, hi = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    res = [(float(a), float(b)) for a, b in zip(lo, hi)]
    return res[0] if one else res  # type: ignore[return-value]
