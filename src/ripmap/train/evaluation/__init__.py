"""Evaluation: how good a parameter point is on the mined cases.

``metrics`` (NDCG, MRR, MAP, bootstrap intervals), ``evaluator`` (ripmap's real ranking
on every case's snapshot), ``failures`` (why a failing case failed, and which failing
cases to look at), ``measurement`` (one point measured the way every strategy
records it) and ``baseline_rankers`` (plain BM25, co-change and structure-only, the
yardsticks every quality figure is compared with).
"""
