"""How fast ``ripmap serve`` feels, measured in the browser (Chromium via Playwright).

For each repository: start ``ripmap serve`` (its index warm once it says it serves),
then

* **first view**: open the page in a fresh browser context, N times; the figure is the
  time from navigation start to the ranked list and the graph painted (the page's own
  ``performance.now()`` when both are on screen, two animation frames after drawing);
* **re-rank**: type a new focus and press Enter, once per query; the figure is the time
  from Enter to the new list and graph painted (the page's ``painted_ms``), with the
  list alone (``list_ms``), the server's share and the text map's arrival beside it.

The focus texts are the repository's own recent commit subjects (what a user would
type: a task in words). Targets (issue 15): first view < 2 s warm, re-rank < 300 ms.

    python bench/serve.py                      # this repository
    python bench/serve.py . /work/repos/mypy --views 5 --queries 12 --json out.json

Needs Playwright and Chromium as the browser tests do (``RIPMAP_CHROMIUM``, default
/usr/bin/chromium). The machine's load average is printed with the figures: on a
shared machine, run it when the load is low, or read the figures with it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser import browser_missing, launch, rank_seq, start_server, wait_ranked  # noqa: E402

FIRST_VIEW_TARGET_MS = 2000
RERANK_TARGET_MS = 300


def commit_subjects(root: Path, n: int) -> list[str]:
    out = subprocess.run(["git", "-C", str(root), "log", "--no-merges", f"-n{n * 3}", "--format=%s"],
                         capture_output=True, text=True)
    seen: list[str] = []
    for s in out.stdout.splitlines():
        s = s.strip()
        if len(s) > 8 and s not in seen:
            seen.append(s[:300])
    return seen[:n] or ["parse config", "render output", "error handling", "cache invalidation"]


def stats(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    if not xs:
        return {}
    p90 = xs[min(len(xs) - 1, round(0.9 * (len(xs) - 1)))]
    return {"median": round(statistics.median(xs), 1), "p90": round(p90, 1), "max": round(xs[-1], 1), "n": len(xs)}


def bench_repo(browser, root: Path, views: int, queries: int, env: dict[str, str],
               screenshot: Path | None = None) -> dict:
    t0 = time.perf_counter()
    served = start_server(root, env)
    startup = time.perf_counter() - t0
    try:
        first: list[float] = []
        for _ in range(views):
            ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
            page = ctx.new_page()
            page.goto(served.url)
            page.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)
            first.append(page.evaluate("window.__ripmap.firstView"))
            ctx.close()
        ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
        page = ctx.new_page()
        page.goto(served.url)
        page.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)
        files = page.evaluate("window.__ripmap.timings[0].files")
        rows = []
        for q in commit_subjects(root, queries):
            seq = rank_seq(page)
            page.fill("[data-testid=focus]", q)
            page.press("[data-testid=focus]", "Enter")
            wait_ranked(page, seq + 1)
            page.wait_for_selector(f"body[data-map-seq='{seq + 1}']", state="attached", timeout=60_000)
            rows.append(page.evaluate("window.__ripmap.timings[window.__ripmap.timings.length - 1]"))
        if screenshot is not None:  # the README's picture: the last query, its second file explained
            page.click("[data-testid=file-list] > li:nth-child(2)")
            page.wait_for_selector("[data-testid=explain-bars]")
            page.wait_for_timeout(300)
            page.screenshot(path=str(screenshot), full_page=True)
        ctx.close()
    finally:
        log = served.stop()
    if "Traceback" in log:
        print(log, file=sys.stderr)
    return {"repo": str(root), "files": files, "startup_s": round(startup, 1), "first_view_ms": stats(first),
            "rerank_painted_ms": stats([r["painted_ms"] for r in rows]),
            "rerank_list_ms": stats([r["list_ms"] for r in rows]),
            "server_ms": stats([r["server_ms"] for r in rows]),
            "map_text_ms": stats([r["map_ms"] for r in rows if "map_ms" in r]),
            "load_avg": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repos", nargs="*", default=["."], help="repositories to serve (default: this one)")
    ap.add_argument("--views", type=int, default=5, help="fresh page loads per repository (default: 5)")
    ap.add_argument("--queries", type=int, default=12, help="focus texts per repository (default: 12)")
    ap.add_argument("--cache-dir", help="RIPMAP_CACHE_DIR for the server (default: the environment's)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the first repository's page (docs/serve.png)")
    args = ap.parse_args(argv)
    missing = browser_missing()
    if missing:
        print(f"bench/serve.py: {missing}", file=sys.stderr)
        return 2
    env = {"RIPMAP_CACHE_DIR": args.cache_dir} if args.cache_dir else {}
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as p:
        browser = launch(p)
        for repo in args.repos:
            shot = Path(args.screenshot) if args.screenshot and repo == args.repos[0] else None
            r = bench_repo(browser, Path(repo).resolve(), args.views, args.queries, env, shot)
            results.append(r)
            fv, rr, ls = r["first_view_ms"], r["rerank_painted_ms"], r["rerank_list_ms"]
            print(f"{Path(r['repo']).name}: {r['files']} files, load {r['load_avg'][0]}")
            print(f"  first view (warm)   median {fv['median']:.0f} ms, max {fv['max']:.0f} ms   "
                  f"[target < {FIRST_VIEW_TARGET_MS} ms: {'ok' if fv['max'] < FIRST_VIEW_TARGET_MS else 'MISSED'}]")
            print(f"  re-rank, painted    median {rr['median']:.0f} ms, p90 {rr['p90']:.0f} ms, max {rr['max']:.0f} ms   "
                  f"[target < {RERANK_TARGET_MS} ms: {'ok' if rr['median'] < RERANK_TARGET_MS else 'MISSED'} at the median]")
            print(f"  re-rank, list only  median {ls['median']:.0f} ms, p90 {ls['p90']:.0f} ms;  server median "
                  f"{r['server_ms']['median']:.0f} ms;  text map after Enter median {r['map_text_ms'].get('median', 0):.0f} ms")
        browser.close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
