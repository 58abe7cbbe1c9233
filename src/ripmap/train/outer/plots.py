"""``outer_progress.png``: an outer run's progress and its promptgram lineage.

Left: the score of every outer step (the inner run's score: start validation NDCG@10 plus the median leave-one-repository-out gain),
one colour per promptgram, the running best as a step line, and where held-out
repositories exist the held-out NDCG@10 of each step's final point (hollow markers; never
used for selection). Right: the lineage, each version at the step that created it and at
its mean score, joined to its parent. Drawn like the other training charts (an explicit
Agg canvas, written atomically), and readable with a single step.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..numbers import finite
from ..report.plots import _empty, _figure, _save
from .population import build_members
from .scratchpad import OuterScratchpad


def _colours(names: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def plot_outer_progress(sp: OuterScratchpad, path: Path) -> None:
    fig = _figure(12, 4.8)
    ax, lx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    names = [p["version"] for p in sp.population]
    col = _colours(names)
    steps = sp.episodes
    if not steps:
        _empty(ax, "no finished outer step yet")
    else:
        xs = [s.outer_step for s in steps]
        for v in names:
            pts = [(s.outer_step, s.score) for s in steps if s.promptgram == v and s.score is not None]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=col[v], s=46, zorder=3, label=v)
        best, run = [], float("-inf")
        for s in steps:
            if s.score is not None:
                run = max(run, s.score)
            best.append(run if run > float("-inf") else None)
        bx = [x for x, b in zip(xs, best) if b is not None]
        ax.step(bx, [b for b in best if b is not None], where="post", color="black", lw=1.2, label="best so far")
        tx, ty = [], []
        for s in steps:
            t = s.final_metrics.get("test") if isinstance(s.final_metrics.get("test"), dict) else None
            y = finite(t.get("best")) if t else None
            if y is not None:
                tx.append(s.outer_step)
                ty.append(y)
        if tx:
            ax.scatter(tx, ty, facecolors="none", edgecolors="#555555", s=46, zorder=2,
                       label="held-out repos (not used for selection)")
        ax.set_xlabel("outer step")
        ax.set_ylabel("NDCG@10 (score: leave-one-repository-out)")
        ax.set_xticks(xs)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    title = f"outer run {sp.run}: {len(steps)} step(s), {len(names)} promptgram(s)"
    j = sp.judge or {}
    if isinstance(j.get("delta"), (int, float)):
        lo, hi = (list(j.get("delta_ci95") or []) + [0.0, 0.0])[:2]
        title += (f"\nheld-out: {j.get('baseline')} {j.get('default', 0):.4f} vs {j.get('candidate')} "
                  f"{j.get('best', 0):.4f} (Δ {j['delta']:+.4f} [{lo:+.4f}, {hi:+.4f}])")
    ax.set_title(title, fontsize=10)

    members = build_members([(p["version"], p.get("parent"), int(p.get("born") or 0)) for p in sp.population],
                            [(e.promptgram, e.score) for e in steps])
    pos = {}
    for m in members:
        pos[m.version] = (m.born, m.mean)
    drawn = False
    for m in members:
        x, y = pos[m.version]
        if y is None:
            continue
        drawn = True
        if m.parent in pos and pos[m.parent][1] is not None:
            px, py = pos[m.parent]
            lx.plot([px, x], [py, y], color="#888888", lw=1, zorder=1)
        lx.scatter([x], [y], color=col.get(m.version), s=30 + 20 * m.runs, zorder=3)
        lx.annotate(f"{m.version} ({m.runs})", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if not drawn:
        _empty(lx, "no promptgram has run yet")
    else:
        lx.set_xlabel("outer step that created the version (0: root)")
        lx.set_ylabel("mean score over its runs")
        lx.set_title("lineage (marker size: runs)", fontsize=10)
        lx.grid(alpha=0.3)
    _save(fig, path)


__all__ = ["plot_outer_progress"]
