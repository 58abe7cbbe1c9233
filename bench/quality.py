"""Ranking quality on the three tasks agents pose, against plain baselines, with intervals.

    python bench/quality.py REPO [REPO ...] [--corpus FILE] [--tasks A A+msg B]
                            [--preset NAME] [--params FILE] [--json OUT]

For each repository, cases are mined from the commits after a snapshot (the git oracle
of ``ripmap.train.cases.oracle``); every ranker sees the code at the snapshot and the
history before the case's commit, as its author had it (``--history snapshot``: the
history at the snapshot). Each commit poses three tasks:

* ``A``      one changed file is in the chat; the other changed files are expected;
* ``A+msg``  the same file plus the commit message as the focus text;
* ``B``      only the message as the focus; every changed file is expected.

Rankers, on the same cases: ``ripmap`` (the default parameters, or --preset/--params),
``bm25`` (plain BM25 over whole-file identifier and path tokens), ``cochange`` (Jaccard
with the seed; in task B seeded by BM25's top file) and ``structure`` (PageRank only);
see ``ripmap.train.evaluation.baseline_rankers``. Reported per task: case-weighted NDCG@10, Hit@1
and Hit@5 pooled over all repositories, with 95% bootstrap intervals over commits
(resampled within each repository), the paired difference of ripmap against the best
baseline, and a per-repository NDCG@10 table. Also: ripmap's re-rank time per case.

Repositories given here must not be the ones the defaults were fitted on (see
``bench/corpus/``); never use public issue→patch benchmarks (SWE-bench and variants).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ripmap.presets import resolve_params  # noqa: E402
from ripmap.rank.params import Params  # noqa: E402
from ripmap.train.evaluation.baseline_rankers import STRUCTURE_ONLY, PlainRankers  # noqa: E402
from ripmap.train.evaluation.evaluator import Evaluator  # noqa: E402
from ripmap.train.evaluation.metrics import cluster_bootstrap_ci, hit_at_k, ndcg_at_k  # noqa: E402
from ripmap.train.cases.oracle import TASKS, mine_cases  # noqa: E402

RANKERS = ("ripmap", "bm25", "cochange", "structure")
BASELINES = ("bm25", "cochange", "structure")
METRICS = ("ndcg@10", "hit@1", "hit@5")


def corpus_paths(path: str) -> list[Path]:
    from ripmap.train.cases.corpus import load_corpus

    out = []
    for spec in load_corpus(path):
        if spec.path is None:
            raise SystemExit(f"{path}: {spec.name} has no local path (fetch it first; see bench/corpus/README.md)")
        out.append(spec.path)
    return out


def repos_and_cache(ap: argparse.ArgumentParser, a: argparse.Namespace, bench: str) -> tuple[list[Path], Path]:
    """The repositories a bench run names (positional and ``--corpus``; none is a usage
    error) and its cache: ``--cache-dir``, else $RIPMAP_BENCH_CACHE, else a fresh one."""
    repos = list(a.repos) + (corpus_paths(a.corpus) if a.corpus else [])
    if not repos:
        ap.error("give repositories or --corpus")
    cache = Path(a.cache_dir or os.environ.get("RIPMAP_BENCH_CACHE") or tempfile.mkdtemp(prefix=f"ripmap-{bench}-"))
    return repos, cache


def measure_each(repos: list[Path], measure: Callable[[Path], list[dict]]) -> tuple[list[dict], list[str]]:
    """Every repository's rows, and a line per repository that could not be measured (a
    mirror whose snapshot cannot be checked out, a path that is no repository): it is
    skipped with that line on stderr, so one bad entry does not end a corpus run after an
    hour, and the report names what it left out."""
    from ripmap.errors import RipmapError, UsageError

    rows: list[dict] = []
    skipped: list[str] = []
    for repo in repos:
        try:
            rows.extend(measure(repo.resolve()))
        except UsageError:
            raise
        except RipmapError as e:
            print(f"{repo.name}: skipped: {e}", file=sys.stderr)
            skipped.append(f"{repo.name} ({e})")
    return rows, skipped


def skipped_note(skipped: list[str]) -> str:
    """The report's line on the repositories a run left out ("" when none was)."""
    return f"\nNot measured ({len(skipped)}): " + "; ".join(skipped) if skipped else ""


def measure_repo(repo: Path, params: Params, tasks: tuple[str, ...], args, cache: Path) -> list[dict]:
    mined = mine_cases(repo, snapshot_back=args.snapshot_back, max_commits=args.max_commits, tasks=tasks)
    if not mined.cases:
        print(f"{repo.name}: no cases", file=sys.stderr)
        return []
    ev = Evaluator([mined], cache_dir=cache, history=args.history)
    snap = next(iter(ev.snapshots.values()))
    plain = PlainRankers(snap.ctx)
    fi = snap.ctx.graph.file_index
    rows = []
    for c in mined.cases:
        if any(f not in fi for f in c.chat_files):
            continue
        exp = c.expected_map
        t = time.perf_counter()
        mine = ev.ranking_for(params, c)
        dt = time.perf_counter() - t
        ranked = {"ripmap": mine, "bm25": plain.bm25(c), "cochange": plain.cochange(c, ev.context_for(c)),
                  "structure": ev.ranking_for(STRUCTURE_ONLY, c)}
        row = {"repo": mined.repo, "commit": c.commit, "task": c.task, "weight": c.case_weight,
               "files": snap.file_count, "rank_s": dt}
        for name, r in ranked.items():
            row[f"{name}:ndcg@10"] = ndcg_at_k(r, exp, 10)
            row[f"{name}:hit@1"] = hit_at_k(r, exp, 1)
            row[f"{name}:hit@5"] = hit_at_k(r, exp, 5)
        rows.append(row)
    print(f"{mined.repo}: {len(rows)} cases, {snap.file_count} files", file=sys.stderr)
    return rows


def pooled(rows: list[dict], key: str) -> float:
    w = np.array([r["weight"] for r in rows])
    v = np.array([r[key] for r in rows])
    return float((w * v).sum() / w.sum()) if w.sum() > 0 else 0.0


def ci(rows: list[dict], keys: list[str] | str, n_boot: int) -> list[tuple[float, float]]:
    ks = [keys] if isinstance(keys, str) else keys
    vals = np.array([[r[k] for k in ks] for r in rows])
    return cluster_bootstrap_ci(vals, [r["weight"] for r in rows], [r["commit"] for r in rows],
                                [r["repo"] for r in rows], n_boot=n_boot)


def diff_ci(rows: list[dict], a: str, b: str, n_boot: int) -> tuple[float, float]:
    vals = np.array([r[a] - r[b] for r in rows])
    return cluster_bootstrap_ci(vals, [r["weight"] for r in rows], [r["commit"] for r in rows],
                                [r["repo"] for r in rows], n_boot=n_boot)


def report(rows: list[dict], tasks: tuple[str, ...], n_boot: int) -> str:
    out = []
    repos = sorted({r["repo"] for r in rows})
    out.append(f"Pooled over {len(repos)} repositories ({', '.join(repos)}); case-weighted; "
               f"95% bootstrap intervals over commits, resampled within each repository.\n")
    out.append("| task | cases | metric | ripmap | BM25 | co-change | structure | ripmap / best baseline | ripmap − best [95% CI] |")
    out.append("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for task in tasks:
        tr = [r for r in rows if r["task"] == task]
        if not tr:
            continue
        for m in METRICS:
            keys = [f"{n}:{m}" for n in RANKERS]
            vals = {n: pooled(tr, f"{n}:{m}") for n in RANKERS}
            cis = ci(tr, keys, n_boot)
            best = max(BASELINES, key=lambda n: vals[n])
            d = diff_ci(tr, f"ripmap:{m}", f"{best}:{m}", n_boot)
            cells = [f"{vals[n]:.3f} [{lo:.3f}, {hi:.3f}]" for n, (lo, hi) in zip(RANKERS, cis)]
            ratio = vals["ripmap"] / vals[best] if vals[best] > 0 else float("inf")
            out.append(f"| {task} | {len(tr)} | {m} | " + " | ".join(cells)
                       + f" | {ratio:.2f}× ({best}) | {vals['ripmap'] - vals[best]:+.3f} [{d[0]:+.3f}, {d[1]:+.3f}] |")
    out.append("")
    out.append("Per repository, NDCG@10 (ripmap / best baseline, and the paired difference's 95% CI):\n")
    out.append("| repository | files | " + " | ".join(f"{t}: ripmap | {t}: best base | {t}: Δ [95% CI]" for t in tasks) + " |")
    out.append("| --- | ---: | " + " | ".join("---: | ---: | ---:" for _ in tasks) + " |")
    for repo in repos:
        rr = [r for r in rows if r["repo"] == repo]
        cells = [repo, str(rr[0]["files"])]
        for task in tasks:
            tr = [r for r in rr if r["task"] == task]
            if not tr:
                cells += ["–", "–", "–"]
                continue
            vals = {n: pooled(tr, f"{n}:ndcg@10") for n in RANKERS}
            best = max(BASELINES, key=lambda n: vals[n])
            d = diff_ci(tr, "ripmap:ndcg@10", f"{best}:ndcg@10", n_boot)
            flag = " ⚠" if d[1] < 0 else ""
            cells += [f"{vals['ripmap']:.3f}", f"{vals[best]:.3f} ({best})",
                      f"{vals['ripmap'] - vals[best]:+.3f} [{d[0]:+.3f}, {d[1]:+.3f}]{flag}"]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    for task in tasks:
        tr = [r for r in rows if r["task"] == task]
        if tr:
            ms = np.array([r["rank_s"] for r in tr]) * 1000
            out.append(f"ripmap re-rank, task {task}: median {np.median(ms):.1f} ms, p90 {np.percentile(ms, 90):.1f} ms "
                       f"over {len(tr)} cases")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repos", nargs="*", type=Path)
    ap.add_argument("--corpus", help="TOML list of repositories (see bench/corpus/)")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--snapshot-back", type=int, default=300)
    ap.add_argument("--max-commits", type=int, default=300)
    ap.add_argument("--preset", help="evaluate this preset instead of the defaults")
    ap.add_argument("--params", help="evaluate this parameters file instead of the defaults")
    ap.add_argument("--history", choices=("case", "snapshot"), default="case",
                    help="git history each case is ranked with: its own, every commit before it (default), "
                         "or the snapshot's, cut where the code was indexed")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--json", help="also write every per-case row to this file")
    ap.add_argument("--rows", help="skip mining: report from rows written earlier by --json")
    ap.add_argument("--cache-dir", default=None)
    a = ap.parse_args()
    tasks = tuple(a.tasks)
    if a.rows:
        rows = json.loads(Path(a.rows).read_text())
        print(report(rows, tasks, a.n_boot))
        return
    params = resolve_params(a.preset, a.params)  # the front ends' rule: the file's values over the preset's
    repos, cache = repos_and_cache(ap, a, "quality")
    rows, skipped = measure_each(repos, lambda repo: measure_repo(repo, params, tasks, a, cache))
    if a.json:
        Path(a.json).write_text(json.dumps(rows))
    if rows:
        print(report(rows, tasks, a.n_boot) + skipped_note(skipped))
    elif skipped:
        raise SystemExit(f"quality.py: no repository could be measured ({len(skipped)} skipped)")


if __name__ == "__main__":
    from ripmap.errors import RipmapError, UsageError

    try:
        main()
    except RipmapError as e:  # a bad preset, params file or repository: one line, no traceback
        print(f"quality.py: {e}", file=sys.stderr)
        raise SystemExit(2 if isinstance(e, UsageError) else 1) from None
