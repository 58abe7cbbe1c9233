"""Does the default ranking predict co-edited files? A sanity check against baselines.

    python bench/quality.py REPO [REPO ...] [--snapshot-back 300] [--max-commits 300]

For each repository, cases are mined from the commits after a snapshot (the git oracle
of ``ripmap.train.oracle``: seed = one changed file, expected = the other files of the
commit). Every ranker sees only the code and history at the snapshot. Reported: case-
weighted NDCG@10 of

* ripmap   — the default parameters;
* bm25     — BM25 over identifiers and path tokens, queried with the seed file's identifiers;
* cochange — Jaccard of commit sets with the seed, from history before the snapshot;
* pagerank — structure only (PageRank personalized on the seed: roughly aider's ranking).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from ripmap.rank.params import DEFAULT
from ripmap.train.metrics import aggregate, case_metrics
from ripmap.train.evaluate import Evaluator
from ripmap.train.oracle import mine_cases

STRUCTURE_ONLY = DEFAULT.replace(boost_temporal_coupling=0.01, boost_lexical=0.01, git_recency_max_boost=1.0,
                                 git_churn_max_boost=1.0)


def ordered(files: tuple[str, ...], scores: np.ndarray, drop: str) -> list[str]:
    order = np.lexsort((np.arange(len(files)), -scores))
    return [files[i] for i in order if files[i] != drop]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repos", nargs="+")
    ap.add_argument("--snapshot-back", type=int, default=300)
    ap.add_argument("--max-commits", type=int, default=300)
    ap.add_argument("--cache-dir", default=None)
    a = ap.parse_args()
    cache = Path(a.cache_dir or tempfile.mkdtemp(prefix="ripmap-quality-"))
    rows = []
    for repo in a.repos:
        mined = mine_cases(repo, snapshot_back=a.snapshot_back, max_commits=a.max_commits)
        if not mined.cases:
            print(f"{repo}: no cases", file=sys.stderr)
            continue
        ev = Evaluator([mined], cache_dir=cache)
        snap = next(iter(ev.snapshots.values()))
        ctx, g = snap.ctx, snap.ctx.graph
        res = {name: [] for name in ("ripmap", "bm25", "cochange", "pagerank")}
        w = []
        for c in mined.cases:
            if c.seed_file not in g.file_index:
                continue
            i = g.file_index[c.seed_file]
            exp = c.expected_map
            w.append(c.case_weight)
            res["ripmap"].append(case_metrics(ev.ranking_for(DEFAULT, c), exp))
            res["pagerank"].append(case_metrics(ev.ranking_for(STRUCTURE_ONLY, c), exp))
            lex = ctx.lexical.scores(ctx.lexical.tokens_of_files([i]))
            res["bm25"].append(case_metrics(ordered(g.files, lex, c.seed_file), exp))
            cc = ctx.cochange(np.array([i]))
            res["cochange"].append(case_metrics(ordered(g.files, cc, c.seed_file), exp))
        agg = {k: aggregate(v, w)["ndcg@10"] for k, v in res.items()}
        rows.append((Path(repo).name, len(w), snap.file_count, agg))
        print(f"{Path(repo).name}: {len(w)} cases, {snap.file_count} files: "
              + "  ".join(f"{k} {v:.3f}" for k, v in agg.items()), file=sys.stderr)
    print("| repository | cases | files | ripmap | bm25 | co-change | pagerank only |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, n, nf, agg in rows:
        print(f"| {name} | {n} | {nf} | {agg['ripmap']:.3f} | {agg['bm25']:.3f} | {agg['cochange']:.3f} | {agg['pagerank']:.3f} |")
    if rows:
        mean = {k: float(np.mean([r[3][k] for r in rows])) for k in rows[0][3]}
        print(f"| mean | | | {mean['ripmap']:.3f} | {mean['bm25']:.3f} | {mean['cochange']:.3f} | {mean['pagerank']:.3f} |")


if __name__ == "__main__":
    main()
