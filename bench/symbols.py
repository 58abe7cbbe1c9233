"""Which definitions a map shows: the ones the commit then changed, or others?

    python bench/symbols.py REPO [REPO ...] [--corpus FILE] [--tokens 4096]
                            [--tasks A A+msg B] [--max-cases 40] [--variant NAME] [--json OUT]

``bench/quality.py`` scores the order of *files*; a map is read as the definitions it
prints, and within a shown file the renderer chooses which ones fit. This bench asks
whether those are the right ones. Cases are the git oracle's (``ripmap.train.cases``,
snapshot 300 commits back, the same three tasks; the first ``--max-cases`` commits after
the snapshot per task); each is mapped at the snapshot (``RepoMap`` over the snapshot's
worktree, its history cut there) within ``--tokens``.

The answer is what the commit changed: for each expected file, the definitions of its
parent version (``commit^``) that hold a changed line of ``git diff -U0`` (the innermost
one; an insertion counts for the definition it lands in), kept when the snapshot's
version of the file still defines that name. Reported, case-weighted and pooled over
repositories, with 95% bootstrap intervals over commits:

* ``file shown``: the share of expected files (with a changed definition) the map shows;
* ``recall in shown files``: of the changed definitions of the expected files the map
  shows, the share printed (the symbol choice itself, whatever the file order);
* ``chance``: the same share if the map had printed as many of that file's definitions
  picked at random (the file's shown count over its definition count): what the choice
  adds over filling the room blindly.

``--variant`` runs a named alternative of the symbol priors (see :data:`VARIANTS`) so
two choices can be compared on the same cases.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import measure_each, repos_and_cache, skipped_note  # noqa: E402
from ripmap import RepoMap, languages  # noqa: E402
from ripmap.extract import extract_tags  # noqa: E402
from ripmap.index import definitions  # noqa: E402
from ripmap.rank import symbols as symbol_rank  # noqa: E402
from ripmap.rank.params import Params  # noqa: E402
from ripmap.train.cases.oracle import TASKS, mine_cases  # noqa: E402
from ripmap.train.cases.snapshots import materialize  # noqa: E402
from ripmap.train.evaluation.metrics import cluster_bootstrap_ci  # noqa: E402

#: alternatives to compare on the same cases: kinds of :data:`ripmap.rank.symbols._KIND_PRIOR`
#: changed, parameters (``param:NAME``) and constants of :mod:`ripmap.rank.symbols`
#: (``const:NAME``) set
VARIANTS: dict[str, dict[str, float]] = {
    "default": {},
    "flat": {k: 1.0 for k in symbol_rank._KIND_PRIOR},
    "types-as-functions": {"type": 1.0, "enum": 1.0},
    "no-references": {"param:symbol_ref_weight": 0.0},
    "references-x3": {"param:symbol_ref_weight": 3.0},
    "no-span": {"const:SYMBOL_SPAN_POWER": 0.0},
    "span-0.25": {"const:SYMBOL_SPAN_POWER": 0.25},
    "span-1": {"const:SYMBOL_SPAN_POWER": 1.0},
    "focus-lexical-1": {"const:SYMBOL_LEXICAL_WEIGHT": 1.0},
    "focus-lexical-4": {"const:SYMBOL_LEXICAL_WEIGHT": 4.0},
    "named-not-first": {"const:NAMED_FIRST": 0},
}

_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", re.M)


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False).stdout


def changed_lines(repo: Path, commit: str, path: str) -> list[int]:
    """Lines of ``path`` in ``commit^`` that the commit changed (an insertion: the line it follows)."""
    out: list[int] = []
    for m in _HUNK.finditer(_git(repo, "diff", "-U0", "--no-color", "--no-ext-diff", f"{commit}^", commit, "--", path)):
        start, count = int(m.group(1)), int(m.group(2) or 1)
        out.extend(range(start, start + count) if count else [max(start, 1)])
    return out


def changed_definitions(repo: Path, commit: str, path: str) -> set[str]:
    """Names of the innermost definitions of ``path`` in ``commit^`` holding a changed line."""
    lines = changed_lines(repo, commit, path)
    if not lines:
        return set()
    data = _git(repo, "show", f"{commit}^:{path}")
    lang = languages.language_for_path(path)
    if not data or lang is None:
        return set()
    lang = languages.content_language(lang, path, data)
    tags, _notes = extract_tags(data, lang)
    defs = [t for t in tags if t.is_def and t.end_line >= t.line]
    names = set()
    for ln in lines:
        holding = [t for t in defs if t.line <= ln <= t.end_line]
        if holding:
            names.add(min(holding, key=lambda t: (t.end_line - t.line, -t.line)).name)
    return names


def measure_repo(repo: Path, args, cache: Path) -> list[dict]:
    mined = mine_cases(repo, snapshot_back=300, max_commits=300, tasks=tuple(args.tasks))
    cases = mined.cases
    if not cases:
        return []
    by_task: dict[str, list] = {}
    for c in cases:
        by_task.setdefault(c.task, []).append(c)
    # the oracle lists cases oldest first: these are the commits right after the snapshot,
    # whose authors' history is (nearly) the snapshot's, which the map is drawn with
    cases = [c for t in args.tasks for c in by_task.get(t, [])[: args.max_cases]]
    root = materialize(repo, cases[0].snapshot, cache)
    rm = RepoMap(root, cache_dir=cache, params=args.params)
    known = {f.rel for f in rm.index.files}
    changed_memo: dict[tuple[str, str], set[str]] = {}
    defined: dict[str, set[str]] = {}  # the snapshot's names per file (asked again by every task of a commit)
    rows = []
    for c in cases:
        chat = [f for f in c.chat_files if f in known]
        if len(chat) != len(c.chat_files):
            continue
        ranking = rm.rank(chat_files=chat, focus=c.focus)
        # the JSON lists every ranked file; a file the map prints with definitions has them
        shown = {f["path"]: {s["name"] for s in f["symbols"]}
                 for f in json.loads(rm.render(ranking, tokens=args.tokens, format="json").text)["files"]
                 if f["symbols"]}
        want = shown_files = hit = total = chance = every = 0.0
        for e in c.expected:
            path = e.path
            if path in c.chat_files:
                continue
            key = (c.commit, path)
            if key not in changed_memo:
                changed_memo[key] = changed_definitions(repo, c.commit, path)
            now = defined.get(path)
            if now is None:
                now = defined[path] = {t.name for t in definitions(rm.index.tags, path)} if path in known else set()
            names = changed_memo[key] & now
            if not names:
                continue
            want += 1
            every += len(names)
            if path not in shown:
                continue
            shown_files += 1
            total += len(names)
            hit += len(names & shown[path])
            chance += len(names) * min(1.0, len(shown[path]) / max(len(now), 1))
        if want == 0:
            continue
        rows.append({"repo": mined.repo, "commit": c.commit, "task": c.task, "seed": c.seed_file, "weight": c.case_weight,
                     "file_shown": shown_files / want, "names": total, "hit": hit, "chance": chance,
                     "names_all": every})
    print(f"{mined.repo}: {len(rows)} cases", file=sys.stderr)
    return rows


def _ci(rows: list[dict], values: list[float], weights: list[float]) -> tuple[float, float]:
    lo, hi = cluster_bootstrap_ci(np.array(values)[:, None], weights, [r["commit"] for r in rows],
                                  [r["repo"] for r in rows], n_boot=1000)[0]
    return lo, hi


def _recall(rows: list[dict]) -> tuple[float, float, list[float], list[float]]:
    """Recall in shown files and chance, pooled over the rows that have shown names (each
    case weighs its names by its weight), with the per-case recalls and their weights."""
    sr = [r for r in rows if r["names"] > 0]
    ws = [r["weight"] * r["names"] for r in sr]
    rec = [r["hit"] / r["names"] for r in sr]
    wsum = sum(ws) or 1.0
    recall = sum(a * b for a, b in zip(ws, rec)) / wsum
    chance = sum(w * r["chance"] / r["names"] for w, r in zip(ws, sr)) / wsum
    return recall, chance, rec, ws


def report(rows: list[dict], tasks: list[str]) -> str:
    out = ["| task | cases | file shown | recall in shown files [95% CI] | chance | recall − chance |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for task in tasks:
        tr = [r for r in rows if r["task"] == task]
        if not tr:
            continue
        w = np.array([r["weight"] for r in tr])
        fs = float((w * [r["file_shown"] for r in tr]).sum() / w.sum())
        recall, chance, rec, ws = _recall(tr)
        lo, hi = _ci([r for r in tr if r["names"] > 0], rec, ws) if rec else (0.0, 0.0)
        out.append(f"| {task} | {len(tr)} | {fs:.3f} | {recall:.3f} [{lo:.3f}, {hi:.3f}] | {chance:.3f} | "
                   f"{recall - chance:+.3f} |")
    out += ["", "Per repository, all tasks (recall in shown files / chance):", ""]
    for repo in sorted({r["repo"] for r in rows}):
        recall, chance, rec, ws = _recall([r for r in rows if r["repo"] == repo])
        if rec and sum(ws) > 0:
            out.append(f"- {repo}: {recall:.3f} / {chance:.3f} ({len(rec)} cases)")
    return "\n".join(out)


def paired(rows: list[dict], base: list[dict], tasks: list[str]) -> str:
    """This run against ``base`` on the same cases: the share of a case's changed
    definitions the map prints (over every expected file's, shown or not; each case
    weighs its case weight, so one commit that rewrote fifty functions does not outweigh
    fifty small ones), and the paired difference's 95% CI."""
    key = lambda r: (r["repo"], r["commit"], r["task"], r["seed"])  # noqa: E731  (a commit: one case per seed)
    before = {key(r): r for r in base}
    out = ["| task | cases | printed, base | printed, this | Δ [95% CI] |", "| --- | ---: | ---: | ---: | ---: |"]
    for task in tasks:
        both = [(r, before[key(r)]) for r in rows if r["task"] == task and key(r) in before and r["names_all"] > 0]
        if not both:
            continue
        w = [r["weight"] for r, _b in both]  # each case's share, whatever its size
        a = [b["hit"] / b["names_all"] for _r, b in both]
        c = [r["hit"] / r["names_all"] for r, _b in both]
        d = [x - y for x, y in zip(c, a)]
        ws = sum(w)
        lo, hi = _ci([r for r, _b in both], d, w)
        out.append(f"| {task} | {len(both)} | {sum(x * y for x, y in zip(w, a)) / ws:.4f} | "
                   f"{sum(x * y for x, y in zip(w, c)) / ws:.4f} | {sum(x * y for x, y in zip(w, d)) / ws:+.4f} "
                   f"[{lo:+.4f}, {hi:+.4f}] |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repos", nargs="*", type=Path)
    ap.add_argument("--corpus")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--max-cases", type=int, default=40,
                    help="per task and repository (the first commits after the snapshot)")
    ap.add_argument("--variant", default="default", choices=sorted(VARIANTS))
    ap.add_argument("--json")
    ap.add_argument("--rows", help="report from rows written earlier by --json")
    ap.add_argument("--against", help="rows of another run (--json) to compare with, case by case")
    ap.add_argument("--cache-dir")
    a = ap.parse_args()
    if a.rows:
        rows = json.loads(Path(a.rows).read_text())
        print(report(rows, a.tasks))
        if a.against:
            print("\n" + paired(rows, json.loads(Path(a.against).read_text()), a.tasks))
        return
    variant = VARIANTS[a.variant]
    symbol_rank._KIND_PRIOR.update({k: v for k, v in variant.items() if ":" not in k})
    for k, v in variant.items():
        if k.startswith("const:"):
            setattr(symbol_rank, k[6:], v)
    a.params = Params().replace(**{k[6:]: v for k, v in variant.items() if k.startswith("param:")})
    repos, cache = repos_and_cache(ap, a, "symbols")
    rows, skipped = measure_each(repos, lambda repo: measure_repo(repo, a, cache))
    if not rows and skipped:
        raise SystemExit(f"symbols.py: no repository could be measured ({len(skipped)} skipped)")
    if a.json:
        Path(a.json).write_text(json.dumps(rows))
    print(report(rows, a.tasks) + skipped_note(skipped))
    if a.against:
        print("\n" + paired(rows, json.loads(Path(a.against).read_text()), a.tasks))


if __name__ == "__main__":
    from ripmap.errors import RipmapError, UsageError

    try:
        main()
    except RipmapError as e:  # a bad corpus file or repository: one line, no traceback
        print(f"symbols.py: {e}", file=sys.stderr)
        raise SystemExit(2 if isinstance(e, UsageError) else 1) from None
