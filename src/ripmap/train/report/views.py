"""Read-only views of the runs folder: ``--list``, ``--show RUN``, ``--show-insights [RUN]``.

They read only the files a run leaves behind (``scratchpad.json`` for L1 runs,
``results.json`` for classical searches) and return plain text, so they work on a run
that is still going, on a run copied from another machine, and in a pipe. A folder
they do not understand is skipped, never an error: the runs folder is shared by every
strategy, including ones written after this module.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ..evaluation.failures import tally
from ..l1.episode import Episode
from ..l1.rotation import shown_history
from ..l1.scratchpad import SCRATCHPAD, Scratchpad, insight_occurrences
from ..numbers import fixed
from ..vocabulary import MAGNITUDE_LETTER, arrow

CAPSULE_CHARS = 60
INSIGHT_CHARS = 60


def _short(s: str, n: int) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _n(x: Any, nd: int = 4) -> str:
    return fixed(x, nd, missing="-")


def _trend(before: Any, after: Any) -> str:
    if not isinstance(before, (int, float)) or not isinstance(after, (int, float)):
        return " "
    d = after - before
    return "↑" if d > 1e-9 else "↓" if d < -1e-9 else "→"


def _date(s: Any) -> str:
    if isinstance(s, str) and s:
        try:
            return datetime.fromisoformat(s).astimezone().strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return s[:16]
    return "-"


def _mtime(p: Path) -> str:
    return datetime.fromtimestamp(p.stat().st_mtime, tz=timezone.utc).isoformat()


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass
class RunRow:
    name: str
    kind: str
    count: int
    first: float | None
    best: float | None
    best_holdout: float | None
    started: str
    updated: str


def _l1_row(d: Path) -> RunRow | None:
    try:
        sp = Scratchpad.load(d)
    except Exception:
        return None
    cfg = _json(d / "config.json") or {}
    eps = sp.episodes
    first = sp.start.train if sp.start else None
    b = sp.best()
    # a hybrid search keeps an L1 scratchpad too (its agent's turns); its config says which
    kind = ("hybrid" if cfg.get("strategy") == "hybrid" else "l1") + (f" ({cfg['agent']})" if cfg.get("agent") else "")
    started = cfg.get("created") or (eps[0].timestamp if eps else None) or _mtime(d / SCRATCHPAD)
    updated = (eps[-1].timestamp if eps else None) or _mtime(d / SCRATCHPAD)
    return RunRow(d.name, kind, len(eps), first, b.train, b.holdout, started, updated)


def _search_row(d: Path) -> RunRow | None:
    """A classical search's ``results.json`` ({strategy, trials: [{train_ndcg, holdout_ndcg, start}]})."""
    data = _json(d / "results.json")
    if not isinstance(data, dict) or not isinstance(data.get("trials"), list):
        return None
    trials = [t for t in data["trials"] if isinstance(t, dict) and isinstance(t.get("train_ndcg"), (int, float))]
    start = next((t for t in trials if t.get("start")), trials[0] if trials else None)
    top = max(trials, key=lambda t: t["train_ndcg"], default=None)
    return RunRow(d.name, str(data.get("strategy") or data.get("kind") or "search"), len(trials),
                  start["train_ndcg"] if start else None, top["train_ndcg"] if top else None,
                  top.get("holdout_ndcg") if top else None, str(data.get("created") or ""),
                  _mtime(d / "results.json"))


def _rows(out_dir: Path) -> tuple[list[RunRow], int]:
    rows: list[RunRow] = []
    skipped = 0
    if not out_dir.is_dir():
        return rows, 0
    for d in sorted(p for p in out_dir.iterdir() if p.is_dir()):
        row = _l1_row(d) if (d / SCRATCHPAD).is_file() else _search_row(d) if (d / "results.json").is_file() else None
        if row is None:
            skipped += 1 if any((d / f).exists() for f in (SCRATCHPAD, "results.json")) else 0
            continue
        rows.append(row)
    return rows, skipped


def list_runs(out_dir: str | Path) -> str:
    """One line per run: kind, episodes or trials, first → best train NDCG, dates."""
    out_dir = Path(out_dir)
    rows, skipped = _rows(out_dir)
    if not rows:
        return f"no runs in {out_dir}" + (f" ({skipped} unreadable folder(s) skipped)" if skipped else "")
    table = _table(["run", "kind", "n", "first → best train", "best validation", "started", "updated"],
                   [[r.name, r.kind, str(r.count), f"{_n(r.first)} → {_n(r.best)}", _n(r.best_holdout),
                     _date(r.started), _date(r.updated)] for r in rows])
    tail = f"\n({skipped} unreadable folder(s) skipped)" if skipped else ""
    return f"runs in {out_dir}:\n{table}{tail}"


def _run_dir(out_dir: Path, run: str) -> Path:
    d = out_dir / run
    if not run or "/" in run or "\\" in run or not d.is_dir():
        raise UsageError(f"no run '{run}' in {out_dir} (ripmap-train --list shows the runs)")
    return d


def _changes(e: Episode) -> str:
    return " ".join(f"{p}{arrow(a.direction)}{MAGNITUDE_LETTER.get(a.magnitude, '?')}"
                    for p, a in sorted(e.applied.items())) or "-"


def shown_line(episodes: list[Episode]) -> str | None:
    """What the episodes showed the agent: how many failures, how many distinct, and their
    share per repository, task and kind (None when nothing was shown)."""
    fs = [f for e in episodes for f in e.failures_shown]
    if not fs:
        return None

    def by(attr: str) -> str:
        return ", ".join(f"{k} {n}" for k, n in Counter(getattr(f, attr) for f in fs).most_common())

    return (f"failures shown: {len(fs)} ({len(shown_history(episodes))} distinct); by repo {by('repo')}; "
            f"by task {by('task')}; by kind {tally(f.kind or '?' for f in fs)}")


def _test_lines(results: Any) -> list[str]:
    """The run's held-out repositories' figures (results.json's test block), if it has them."""
    from ..evaluation.comparison import held_out_line

    test = results.get("test") if isinstance(results, dict) else None
    return [held_out_line(test)] if isinstance(test, dict) else []


def show_run(out_dir: str | Path, run: str) -> str:
    """The episode table of an L1 run (or the trial table of a classical search)."""
    out_dir = Path(out_dir)
    d = _run_dir(out_dir, run)
    if not (d / SCRATCHPAD).is_file():
        row = _search_row(d)
        if row is None:
            raise UsageError(f"run '{run}' in {out_dir} has neither a scratchpad.json nor a readable results.json")
        data = _json(d / "results.json") or {}
        trials = [t for t in data.get("trials", []) if isinstance(t, dict)]
        table = _table(["trial", "train", "validation", "note"],
                       [[str(t.get("number", i)), _n(t.get("train_ndcg")), _n(t.get("holdout_ndcg")),
                         "start" if t.get("start") else str(t.get("state", ""))] for i, t in enumerate(trials)])
        return "\n".join([f"run {run} ({row.kind}): {row.count} trials, train {_n(row.first)} → best {_n(row.best)}",
                          *_test_lines(data), table])
    sp = Scratchpad.load(d)
    cfg = _json(d / "config.json") or {}
    rows = []
    for e in sp.episodes:
        insights = e.stated("param_interactions") + e.stated("structural_insights")
        rows.append([str(e.episode),
                     f"{_n(e.ndcg_before)}→{_n(e.ndcg_after)} {_trend(e.ndcg_before, e.ndcg_after)}",
                     _n(e.holdout_after), _n(e.confidence, 2) if e.confidence is not None else "-", _changes(e),
                     _short(e.capsule or "-", CAPSULE_CHARS),
                     _short(insights[0], INSIGHT_CHARS) if insights else "-",
                     ",".join(e.flags) or "-"])
    best = max((e for e in sp.episodes if e.ndcg_after is not None), key=lambda e: e.ndcg_after or 0.0,
               default=None)
    start = sp.start
    head = [f"run {sp.run or run}: {len(sp.episodes)} episode(s), agent {cfg.get('agent', '?')}"
            + (f" ({cfg['model']})" if cfg.get("model") else "")
            + f", promptgram {cfg.get('promptgram', '?')}",
            f"start train {_n(start.train if start else None)} (validation {_n(start.holdout if start else None)})"
            + (f"; best train {_n(best.ndcg_after)} (validation {_n(best.holdout_after)}) after episode "
               f"{best.episode}" if best else ""),
            *_test_lines(_json(d / "results.json") or {})]
    if not rows:
        return "\n".join(head + ["no finished episodes yet"])
    shown = shown_line(sp.episodes)
    if shown:
        head.append(shown)
    table = _table(["ep", "train", "validation", "conf", "changes", "capsule", "first insight", "flags"], rows)
    return "\n".join(head + [table])


def show_insights(out_dir: str | Path, run: str | None = None) -> str:
    """Each distinct insight or interaction with the runs and episodes where it was stated."""
    out_dir = Path(out_dir)
    if run:
        d = _run_dir(out_dir, run)
        if not (d / SCRATCHPAD).is_file():
            raise UsageError(f"run '{run}' is not an L1 run (no scratchpad.json); insights come from L1 runs")
        dirs = [d]
    else:
        dirs = sorted(p for p in out_dir.iterdir() if (p / SCRATCHPAD).is_file()) if out_dir.is_dir() else []
    kinds = {"param_interactions": "Parameter interactions", "structural_insights": "Structural insights"}
    merged: dict[str, dict[str, dict[str, list[int]]]] = {k: {} for k in kinds}
    canon: dict[str, dict[str, str]] = {k: {} for k in kinds}
    patterns: dict[str, list[tuple[str, str]]] = {"success_patterns": [], "failure_patterns": []}
    read = 0
    for d in dirs:
        try:
            sp = Scratchpad.load(d)
        except Exception:
            continue  # unreadable: skipped, like --list does
        read += 1
        for kind, items in insight_occurrences(sp.episodes).items():
            for text, eps in items.items():
                key = " ".join(text.split()).casefold()
                t = canon[kind].setdefault(key, text)
                merged[kind].setdefault(t, {})[d.name] = eps
        for k in patterns:
            patterns[k] += [(d.name, p) for p in getattr(sp, k)]
    scope = f"run {run}" if run else f"{read} L1 run(s) in {out_dir}"
    if len(dirs) > read:
        scope += f" ({len(dirs) - read} unreadable skipped)"
    out = [f"insights from {scope}"]
    for kind, title in kinds.items():
        items = sorted(merged[kind].items(), key=lambda kv: (-sum(len(v) for v in kv[1].values()), kv[0]))
        out += ["", f"{title} ({len(items)}):"]
        if not items:
            out.append("  none")
        for text, where in items:
            out.append(f"  - {text}")
            for r, eps in sorted(where.items()):
                out.append(f"      {r}: episode{'s' if len(eps) > 1 else ''} {', '.join(map(str, eps))}")
    for key, title in (("success_patterns", "Changes that raised train NDCG"),
                       ("failure_patterns", "Changes that lowered train NDCG")):
        out += ["", f"{title} ({len(patterns[key])}):"]
        out += [f"  - [{r}] {p}" for r, p in patterns[key]] or ["  none"]
    return "\n".join(out)
