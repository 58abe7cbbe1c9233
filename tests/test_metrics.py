"""Tests for ripmap.train.evaluation.metrics.

Expected values are worked out by hand in each test (the arithmetic is written out)
rather than recomputed with the code under test.
"""
from __future__ import annotations

import dataclasses
from math import log2

import numpy as np
import pytest

from ripmap.train.evaluation.metrics import (
    METRIC_NAMES,
    CaseMetrics,
    aggregate,
    average_precision,
    bootstrap_ci,
    case_metrics,
    dcg,
    hit_at_k,
    mrr,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

# ----------------------------------------------------------------- dcg / ndcg


def test_dcg_linear_gain_log2_discount() -> None:
    assert dcg([3, 0, 2], 10) == pytest.approx(3 / log2(2) + 0 / log2(3) + 2 / log2(4))
    assert dcg([1, 1, 1, 1], 10) == pytest.approx(1 + 1 / log2(3) + 1 / log2(4) + 1 / log2(5))


def test_dcg_truncates_at_k() -> None:
    assert dcg([3, 0, 2], 2) == pytest.approx(3 / log2(2) + 0 / log2(3))
    assert dcg([3, 0, 2], 1) == pytest.approx(3.0)
    assert dcg([], 5) == 0.0


def test_ndcg_graded() -> None:
    ranking = ["a.py", "x.py", "b.py"]
    expected = {"a.py": 3.0, "b.py": 2.0}
    dcg_ = 3 / log2(2) + 0 / log2(3) + 2 / log2(4)
    idcg = 3 / log2(2) + 2 / log2(3)
    assert ndcg_at_k(ranking, expected, 10) == pytest.approx(dcg_ / idcg)


def test_ndcg_uses_grades_not_just_membership() -> None:
    expected = {"a.py": 3.0, "b.py": 1.0}
    best = ndcg_at_k(["a.py", "b.py"], expected, 5)
    swapped = ndcg_at_k(["b.py", "a.py"], expected, 5)
    assert best == pytest.approx(1.0)
    assert swapped == pytest.approx((1 / log2(2) + 3 / log2(3)) / (3 / log2(2) + 1 / log2(3)))
    assert swapped < best


def test_ndcg_k_truncation_of_ranking_and_ideal() -> None:
    ranking = ["x.py", "a.py", "b.py", "c.py"]
    expected = {"a.py": 1.0, "b.py": 2.0, "c.py": 3.0}
    # Only the top 2 of the ranking and the top 2 ideal grades (3, 2) count.
    dcg_ = 0 / log2(2) + 1 / log2(3)
    idcg = 3 / log2(2) + 2 / log2(3)
    assert ndcg_at_k(ranking, expected, 2) == pytest.approx(dcg_ / idcg)


def test_ndcg_perfect_when_more_relevant_files_than_k() -> None:
    expected = {"a.py": 3.0, "b.py": 2.0, "c.py": 1.0}
    # IDCG is cut at k=2, so the ranking can still be perfect without c.py.
    assert ndcg_at_k(["a.py", "b.py", "zzz.py"], expected, 2) == pytest.approx(1.0)


def test_ndcg_ranking_shorter_than_k() -> None:
    expected = {"a.py": 1.0, "b.py": 1.0}
    assert ndcg_at_k(["b.py"], expected, 5) == pytest.approx(
        (1 / log2(2)) / (1 / log2(2) + 1 / log2(3))
    )
    assert ndcg_at_k([], expected, 5) == 0.0


def test_ndcg_empty_expected_is_zero() -> None:
    assert ndcg_at_k(["a.py", "b.py"], {}, 5) == 0.0


def test_ndcg_duplicates_count_once() -> None:
    expected = {"a.py": 1.0, "b.py": 1.0}
    # The repeat is dropped before cutting at k, so b.py still makes the top 2 ...
    assert ndcg_at_k(["a.py", "a.py", "b.py"], expected, 2) == pytest.approx(1.0)
    # ... and a repeated relevant file never earns its gain twice.
    dcg_ = 1 / log2(2)
    idcg = 1 / log2(2) + 1 / log2(3)
    assert ndcg_at_k(["a.py", "a.py", "a.py"], expected, 3) == pytest.approx(dcg_ / idcg)


def test_k_below_one_rejected() -> None:
    with pytest.raises(ValueError):
        dcg([1.0], 0)
    with pytest.raises(ValueError):
        ndcg_at_k(["a"], {"a": 1.0}, 0)
    with pytest.raises(ValueError):
        precision_at_k(["a"], {"a": 1.0}, 0)


# ----------------------------------------------------------------- binary metrics

RANKING = ["a.py", "x.py", "b.py", "y.py", "z.py", "c.py"]
EXPECTED = {"a.py": 1.0, "b.py": 2.0, "c.py": 3.0}


def test_precision_at_k() -> None:
    assert precision_at_k(RANKING, EXPECTED, 5) == pytest.approx(2 / 5)  # a, b
    assert precision_at_k(RANKING, EXPECTED, 1) == pytest.approx(1 / 1)
    assert precision_at_k(RANKING, EXPECTED, 2) == pytest.approx(1 / 2)


def test_precision_divides_by_k_when_ranking_is_short() -> None:
    # 6 files listed, 3 relevant: 3/10, not 3/6.
    assert precision_at_k(RANKING, EXPECTED, 10) == pytest.approx(3 / 10)


def test_precision_threshold() -> None:
    # threshold 2 → relevant = {b, c}; top 5 holds only b.
    assert precision_at_k(RANKING, EXPECTED, 5, threshold=2.0) == pytest.approx(1 / 5)
    assert precision_at_k(RANKING, EXPECTED, 10, threshold=2.0) == pytest.approx(2 / 10)


def test_recall_at_k() -> None:
    assert recall_at_k(RANKING, EXPECTED, 5) == pytest.approx(2 / 3)
    assert recall_at_k(RANKING, EXPECTED, 10) == pytest.approx(3 / 3)
    assert recall_at_k(RANKING, EXPECTED, 5, threshold=2.0) == pytest.approx(1 / 2)
    assert recall_at_k(RANKING, EXPECTED, 1, threshold=3.0) == 0.0


def test_duplicates_count_once_in_binary_metrics() -> None:
    ranking = ["a.py", "a.py", "a.py", "b.py"]
    expected = {"a.py": 1.0, "b.py": 1.0}
    assert precision_at_k(ranking, expected, 2) == pytest.approx(2 / 2)
    assert recall_at_k(ranking, expected, 2) == pytest.approx(2 / 2)
    assert recall_at_k(["a.py", "a.py"], expected, 2) == pytest.approx(1 / 2)
    assert average_precision(ranking, expected) == pytest.approx((1 / 1 + 2 / 2) / 2)


def test_mrr() -> None:
    assert mrr(["x.py", "y.py", "b.py", "a.py"], EXPECTED) == pytest.approx(1 / 3)
    assert mrr(RANKING, EXPECTED) == pytest.approx(1 / 1)
    # threshold 3 → only c.py (6th) is relevant.
    assert mrr(RANKING, EXPECTED, threshold=3.0) == pytest.approx(1 / 6)
    assert mrr(["x.py", "y.py"], EXPECTED) == 0.0
    assert mrr(["x.py", "x.py", "a.py"], EXPECTED) == pytest.approx(1 / 2)


def test_average_precision() -> None:
    # hits at ranks 1, 3, 6: precisions 1/1, 2/3, 3/6, over 3 relevant files.
    assert average_precision(RANKING, EXPECTED) == pytest.approx((1 / 1 + 2 / 3 + 3 / 6) / 3)


def test_average_precision_penalises_missing_relevant_files() -> None:
    # c.py never listed: its term is 0 but it still counts in the denominator.
    ranking = ["a.py", "x.py", "b.py"]
    assert average_precision(ranking, EXPECTED) == pytest.approx((1 / 1 + 2 / 3 + 0) / 3)
    # threshold 2 → relevant {b, c}; b at rank 3 → precision 1/3, c missing.
    assert average_precision(ranking, EXPECTED, threshold=2.0) == pytest.approx((1 / 3) / 2)


def test_hit_at_k() -> None:
    ranking = ["x1", "x2", "x3", "x4", "x5", "a.py"]
    assert hit_at_k(ranking, EXPECTED, 5) == 0.0
    assert hit_at_k(ranking, EXPECTED, 6) == 1.0
    assert hit_at_k(ranking, EXPECTED, 10) == 1.0
    assert hit_at_k(RANKING, EXPECTED, 10, threshold=4.0) == 0.0


def test_empty_expected_scores_zero_everywhere() -> None:
    ranking = ["a.py", "b.py"]
    assert precision_at_k(ranking, {}, 5) == 0.0
    assert recall_at_k(ranking, {}, 5) == 0.0
    assert mrr(ranking, {}) == 0.0
    assert average_precision(ranking, {}) == 0.0
    assert hit_at_k(ranking, {}, 5) == 0.0
    assert case_metrics(ranking, {}) == CaseMetrics(*([0.0] * len(METRIC_NAMES)))


# ----------------------------------------------------------------- case_metrics


def test_case_metrics_by_hand() -> None:
    ranking = ["x", "a", "y", "b", "z", "w", "c", "x"]
    expected = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 1.0}
    cm = case_metrics(ranking, expected)
    idcg = 3 / log2(2) + 2 / log2(3) + 1 / log2(4) + 1 / log2(5)  # same for k=5 and 10
    dcg5 = 0 / log2(2) + 3 / log2(3) + 0 / log2(4) + 2 / log2(5) + 0 / log2(6)
    dcg10 = dcg5 + 0 / log2(7) + 1 / log2(8)
    assert cm.ndcg_5 == pytest.approx(dcg5 / idcg)
    assert cm.ndcg_10 == pytest.approx(dcg10 / idcg)
    assert cm.p_5 == pytest.approx(2 / 5)
    assert cm.p_10 == pytest.approx(3 / 10)
    assert cm.r_5 == pytest.approx(2 / 4)
    assert cm.r_10 == pytest.approx(3 / 4)
    assert cm.mrr == pytest.approx(1 / 2)
    assert cm.map == pytest.approx((1 / 2 + 2 / 4 + 3 / 7) / 4)
    assert cm.hit_5 == 1.0
    assert cm.hit_10 == 1.0


def test_case_metrics_dict_keys_follow_metric_names() -> None:
    assert METRIC_NAMES == (
        "ndcg@5", "ndcg@10", "p@5", "p@10", "r@5", "r@10", "mrr", "map", "hit@5", "hit@10",
    )
    cm = CaseMetrics(*[float(i) for i in range(10)])
    d = cm.as_dict()
    assert list(d) == list(METRIC_NAMES)
    assert d["ndcg@5"] == 0.0 and d["ndcg@10"] == 1.0
    assert d["p@5"] == 2.0 and d["p@10"] == 3.0
    assert d["r@5"] == 4.0 and d["r@10"] == 5.0
    assert d["mrr"] == 6.0 and d["map"] == 7.0
    assert d["hit@5"] == 8.0 and d["hit@10"] == 9.0
    assert CaseMetrics.from_dict(d) == cm


def test_case_metrics_is_frozen() -> None:
    cm = case_metrics(["a"], {"a": 1.0})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cm.mrr = 0.0  # type: ignore[misc]


# ----------------------------------------------------------------- aggregate


def _cm(base: float) -> CaseMetrics:
    """A CaseMetrics whose i-th metric is base + i/100 (distinct per metric)."""
    return CaseMetrics(*[base + i / 100 for i in range(10)])


def test_aggregate_weighted_mean_matches_manual() -> None:
    cases = [_cm(0.1), _cm(0.5), _cm(0.3)]
    weights = [1.0, 3.0, 0.5]
    out = aggregate(cases, weights)
    assert out["n"] == 3
    for i, name in enumerate(METRIC_NAMES):
        manual = (1.0 * (0.1 + i / 100) + 3.0 * (0.5 + i / 100) + 0.5 * (0.3 + i / 100)) / (
            1.0 + 3.0 + 0.5
        )
        assert out[name] == pytest.approx(manual), name


def test_aggregate_unweighted_is_plain_mean() -> None:
    out = aggregate([_cm(0.2), _cm(0.6)])
    assert out["mrr"] == pytest.approx((0.2 + 0.06 + 0.6 + 0.06) / 2)
    assert out["ndcg@5"] == pytest.approx((0.2 + 0.6) / 2)
    assert out["n"] == 2
    assert set(out) == set(METRIC_NAMES) | {"n"}


def test_aggregate_weights_change_result() -> None:
    cases = [_cm(0.0), _cm(1.0)]
    assert aggregate(cases, [1.0, 1.0])["map"] == pytest.approx(0.57)
    assert aggregate(cases, [3.0, 1.0])["map"] == pytest.approx((3 * 0.07 + 1 * 1.07) / 4)
    # A zero-weight case is ignored.
    assert aggregate(cases, [0.0, 2.0])["map"] == pytest.approx(1.07)


def test_aggregate_empty() -> None:
    out = aggregate([])
    assert out == {**{name: 0.0 for name in METRIC_NAMES}, "n": 0}
    assert aggregate([], []) == out


def test_aggregate_rejects_bad_weights() -> None:
    with pytest.raises(ValueError):
        aggregate([_cm(0.1), _cm(0.2)], [1.0])
    with pytest.raises(ValueError):
        aggregate([_cm(0.1)], [-1.0])
    with pytest.raises(ValueError):
        aggregate([_cm(0.1), _cm(0.2)], [0.0, 0.0])


# ----------------------------------------------------------------- bootstrap_ci


def _values(n: int, seed: int = 123) -> list[float]:
    return list(np.random.default_rng(seed).uniform(0.0, 1.0, size=n))


def test_bootstrap_deterministic_for_same_seed() -> None:
    vals = _values(40)
    w = list(np.linspace(0.5, 2.0, 40))
    assert bootstrap_ci(vals, w, seed=7) == bootstrap_ci(vals, w, seed=7)
    assert bootstrap_ci(vals, seed=7) == bootstrap_ci(vals, seed=7)
    assert bootstrap_ci(vals, seed=7) != bootstrap_ci(vals, seed=8)


def test_bootstrap_matches_seeded_index_matrix() -> None:
    vals = np.array(_values(25))
    w = np.linspace(1.0, 3.0, 25)
    rng = np.random.default_rng(5)
    idx = rng.integers(0, 25, size=(400, 25))
    means = (w[idx] * vals[idx]).sum(axis=1) / w[idx].sum(axis=1)
    lo, hi = np.quantile(means, [0.05, 0.95])
    got = bootstrap_ci(list(vals), list(w), n_boot=400, seed=5, alpha=0.1)
    assert got == pytest.approx((lo, hi))


def test_bootstrap_ci_contains_weighted_mean() -> None:
    vals = _values(60)
    w = list(np.random.default_rng(9).uniform(0.5, 2.0, size=60))
    lo, hi = bootstrap_ci(vals, w)
    mean = sum(v * x for v, x in zip(vals, w)) / sum(w)
    assert lo < mean < hi
    assert 0.0 <= lo < hi <= 1.0


def test_bootstrap_ci_narrows_with_more_cases() -> None:
    small = [0.0, 1.0] * 10  # 20 cases, mean 0.5
    large = [0.0, 1.0] * 1000  # 2000 cases, mean 0.5
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s < 0.5 < hi_s and lo_l < 0.5 < hi_l
    # Width shrinks like 1/sqrt(n): ~10x here; demand at least 4x.
    assert (hi_l - lo_l) < (hi_s - lo_s) / 4


def test_bootstrap_smaller_alpha_is_wider() -> None:
    vals = _values(50)
    lo90, hi90 = bootstrap_ci(vals, alpha=0.1)
    lo99, hi99 = bootstrap_ci(vals, alpha=0.01)
    assert lo99 <= lo90 and hi90 <= hi99
    assert (hi99 - lo99) > (hi90 - lo90)


def test_bootstrap_weights_shift_interval() -> None:
    vals = [0.0] * 10 + [1.0] * 10
    lo_eq, hi_eq = bootstrap_ci(vals)
    lo_w, hi_w = bootstrap_ci(vals, [1.0] * 10 + [9.0] * 10)
    # Weighted mean = (10*0 + 90*1) / 100 = 0.9.
    assert lo_eq < 0.5 < hi_eq
    assert lo_w < 0.9 < hi_w
    assert lo_w > hi_eq


def test_bootstrap_degenerate_inputs() -> None:
    assert bootstrap_ci([0.42]) == (0.42, 0.42)
    assert bootstrap_ci([0.42], [3.0]) == (0.42, 0.42)
    assert bootstrap_ci([]) == (0.0, 0.0)
    # Zero-weight cases drop out, leaving a single case.
    assert bootstrap_ci([0.2, 0.9], [1.0, 0.0]) == (0.2, 0.2)
    lo, hi = bootstrap_ci([0.3] * 15)
    assert lo == pytest.approx(0.3) and hi == pytest.approx(0.3)


def test_bootstrap_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        bootstrap_ci([0.1, 0.2], n_boot=0)
    with pytest.raises(ValueError):
        bootstrap_ci([0.1, 0.2], alpha=1.0)
    with pytest.raises(ValueError):
        bootstrap_ci([0.1, 0.2], [1.0])


def test_cluster_bootstrap_resamples_whole_commits_within_repos() -> None:
    from ripmap.train.evaluation.metrics import cluster_bootstrap_ci

    # two repos; in each, commits hold several identical cases: resampling commits,
    # not cases, is what keeps the interval honest (3 commits, not 30 cases)
    vals, clusters, strata = [], [], []
    for repo, per_commit in (("r1", [0.0, 1.0, 0.5]), ("r2", [0.2, 0.4, 0.9])):
        for k, v in enumerate(per_commit):
            vals += [v] * 10
            clusters += [f"{repo}-{k}"] * 10
            strata += [repo] * 10
    lo, hi = cluster_bootstrap_ci(vals, None, clusters, strata, n_boot=2000, seed=1)
    naive = bootstrap_ci(vals, None, n_boot=2000, seed=1)
    assert lo < np.mean(vals) < hi
    assert (hi - lo) > (naive[1] - naive[0])  # clustered is wider than treating cases as independent
    # 2-D values: one interval per column on the same resamples (a paired difference works)
    both = cluster_bootstrap_ci(np.c_[vals, np.asarray(vals) + 1.0], None, clusters, strata, n_boot=500)
    assert abs(both[1][0] - both[0][0] - 1.0) < 1e-9 and abs(both[1][1] - both[0][1] - 1.0) < 1e-9
    # same inputs, same seed → same interval
    assert cluster_bootstrap_ci(vals, None, clusters, strata, seed=3) == cluster_bootstrap_ci(vals, None, clusters, strata, seed=3)
