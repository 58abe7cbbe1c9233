"""Charts of training runs: search progress, L1 episodes, sensitivity.

Figures are drawn with matplotlib's object API on an explicit Agg canvas, never through
``pyplot``: pyplot keeps a process-wide registry of open figures and may pick an
interactive backend, while a ``Figure`` on ``FigureCanvasAgg`` is a plain object that is
garbage-collected when the function returns and can never open a window. That makes the
functions safe to call after every trial from a long-running search or from a worker
without a display. Every function accepts degenerate input (no trials, one episode,
missing holdout) and still writes a readable PNG, so a caller never needs a special case.
"""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ...rank.params import SPECS
from ..files import atomic_write_bytes
from ..numbers import finite

_TRAIN = "#1f77b4"
_HOLDOUT = "#ff7f0e"
_GOOD = "#2ca02c"
_BAD = "#d62728"
_MUTED = "#9a9a9a"


def _figure(width: float, height: float, layout: str | None = "constrained"):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> None:
    """Write atomically, so a reader (or a second worker writing the same run folder)
    never sees a half-written PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=_MUTED)
    ax.set_xticks([])
    ax.set_yticks([])


def _running_best(xs: Sequence[float], ys: Sequence[float], holdout: Sequence[float | None]):
    """The point a run would end on so far, as the loop selects it (:func:`..search.study.best_of`):
    the best validation value when every trial has one (train breaking ties), else the best
    train value; its train and validation values at each trial."""
    by_validation = bool(holdout) and all(h is not None for h in holdout)
    bx, by, bh = [], [], []
    key: tuple | None = None
    inc_y: float | None = None
    inc_h: float | None = None
    for x, y, h in zip(xs, ys, holdout):
        k = (h, y) if by_validation else (y,)
        if key is None or k > key:
            key, inc_y, inc_h = k, y, h
        bx.append(x)
        by.append(inc_y)
        bh.append(inc_h)
    return bx, by, bh


def held_out_note(test: Mapping[str, Any] | None) -> str | None:
    """The held-out repositories' figures as one caption line, or None without them."""
    if not isinstance(test, Mapping) or finite(test.get("default")) is None or finite(test.get("best")) is None:
        return None
    ci = test.get("delta_ci95") or (None, None)
    lo, hi = (finite(ci[0]), finite(ci[1])) if len(ci) == 2 else (None, None)
    repos = test.get("repos") if isinstance(test.get("repos"), Mapping) else {}
    names = ", ".join(str(k) for k in repos)
    text = (f"held-out repositories ({names}): start {float(test['default']):.4f} → final "
            f"{float(test['best']):.4f}, Δ {float(test['best']) - float(test['default']):+.4f}")
    if lo is not None and hi is not None:
        text += f" [{lo:+.4f}, {hi:+.4f}] 95% CI"
    return text


def plot_search_progress(trials: list[dict], path: Path, title: str = "", *,
                         test: Mapping[str, Any] | None = None) -> None:
    """Best-so-far NDCG@10 by trial number: train (the objective) and the validation score
    of the current best trial, over the individual trials' values as faint dots; with
    ``test`` (the run's held-out repositories, once it has ended) a caption with their figures."""
    rows = sorted((t for t in trials if finite(t.get("train_ndcg")) is not None),
                  key=lambda t: (t.get("number") if isinstance(t.get("number"), int) else 0))
    fig = _figure(8, 4.5)
    ax = fig.add_subplot()
    if not rows:
        _empty(ax, "no complete trials yet")
    else:
        xs = [int(t.get("number", i)) for i, t in enumerate(rows)]
        ys = [float(t["train_ndcg"]) for t in rows]
        hs = [finite(t.get("holdout_ndcg")) for t in rows]
        ax.scatter(xs, ys, s=12, color=_TRAIN, alpha=0.35, label="trial (train)")
        hx = [x for x, h in zip(xs, hs) if h is not None]
        if hx:
            ax.scatter(hx, [h for h in hs if h is not None], s=12, marker="x", color=_HOLDOUT, alpha=0.35,
                       label="trial (validation)")
        bx, by, bh = _running_best(xs, ys, hs)
        ax.step(bx, by, where="post", color=_TRAIN, lw=2, label="selected point so far (train)")
        pairs = [(x, h) for x, h in zip(bx, bh) if h is not None]
        if pairs:
            ax.step([p[0] for p in pairs], [p[1] for p in pairs], where="post", color=_HOLDOUT, lw=2, ls="--",
                    label="selected point so far (validation)")
        ax.axhline(ys[0], color=_MUTED, lw=1, ls=":", label=f"first trial {ys[0]:.4f}")
        if len(xs) == 1:
            ax.set_xlim(xs[0] - 1, xs[0] + 1)
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("trial")
        ax.set_ylabel("NDCG@10")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"{title + ': ' if title else ''}final point: train {by[-1]:.4f}"
                     + (f", validation {bh[-1]:.4f} (selected by validation)" if bh[-1] is not None else ""),
                     fontsize=10)
    if not rows and title:
        ax.set_title(title, fontsize=10)
    note = held_out_note(test)
    if note:
        fig.suptitle(note, fontsize=9, color=_GOOD if float(test["best"]) >= float(test["default"]) else _BAD)
    _save(fig, path)


def _unit(name: str, value: Any) -> float | None:
    spec = SPECS.get(name)
    v = finite(value)
    if spec is None or v is None:
        return None
    return min(1.0, max(0.0, spec.to_unit(spec.clamp(v))))


def most_moved(episodes: Sequence[Mapping[str, Any]], k: int = 4) -> list[str]:
    """The ``k`` parameters with the largest total movement over the episodes, measured as
    position on their own scale (0 = low bound, 1 = high bound), so a log-scaled boost
    moving 10 → 20 and a linear damping moving 0.5 → 0.6 compare fairly."""
    total: dict[str, float] = {}
    for e in episodes:
        before = e.get("params_before") or {}
        after = e.get("params_after") or {}
        for name in set(before) | set(after):
            a, b = _unit(name, before.get(name)), _unit(name, after.get(name))
            if a is not None and b is not None and a != b:
                total[name] = total.get(name, 0.0) + abs(b - a)
    return [n for n, _ in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def _series(xs: Iterable[float], ys: Iterable[float | None]) -> tuple[list[float], list[float]]:
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_l1_progress(episodes: list[dict], path: Path, title: str = "", *,
                     test: Mapping[str, Any] | None = None) -> None:
    """A 3×2 dashboard of an L1 run: NDCG per episode (train and validation, before and after
    the episode's change), the NDCG change, failures shown, the agent's confidence, and the
    trajectories of the four most-moved parameters on their own scale; with ``test`` (the
    run's held-out repositories, once it has ended) their figures under the title."""
    eps = list(episodes)
    xs = [float(e["episode"]) if finite(e.get("episode")) is not None else float(i + 1) for i, e in enumerate(eps)]
    fig = _figure(11, 10)
    note = held_out_note(test)
    if title or note:
        fig.suptitle("\n".join(x for x in (title, note) if x), fontsize=11 if not note else 10)
    gs = fig.add_gridspec(3, 2)
    ax_ndcg, ax_delta = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
    ax_fail, ax_conf = fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[1, 1])
    ax_par = fig.add_subplot(gs[2, :])
    if not eps:
        for ax in (ax_ndcg, ax_delta, ax_fail, ax_conf, ax_par):
            _empty(ax, "no episodes yet")
        _save(fig, path)
        return

    col = {k: [finite(e.get(k)) for e in eps] for k in ("ndcg_before", "ndcg_after", "holdout_before",
                                                      "holdout_after", "confidence")}
    # NDCG
    for key, color, ls, label in (("ndcg_after", _TRAIN, "-", "train (after)"),
                                  ("holdout_after", _HOLDOUT, "--", "validation (after)")):
        x, y = _series(xs, col[key])
        if y:
            ax_ndcg.plot(x, y, color=color, ls=ls, marker="o", ms=4, label=label)
    for key, color, label in (("ndcg_before", _TRAIN, "train (before)"),
                              ("holdout_before", _HOLDOUT, "validation (before)")):
        x, y = _series(xs, col[key])
        if y:
            ax_ndcg.scatter(x, y, facecolors="none", edgecolors=color, s=22, label=label)
    x, y = _series(xs, col["ndcg_after"])
    if y:
        best, run = [], -math.inf
        for v in y:
            run = max(run, v)
            best.append(run)
        ax_ndcg.step(x, best, where="post", color=_MUTED, lw=1, ls=":", label="best train so far")
    ax_ndcg.set_title("NDCG@10 per episode", fontsize=10)
    ax_ndcg.set_xlabel("episode")
    ax_ndcg.grid(alpha=0.3)
    if ax_ndcg.has_data():
        ax_ndcg.legend(fontsize=7, loc="best")
    else:
        _empty(ax_ndcg, "no NDCG recorded")

    # change per episode
    dt = [(a - b) if a is not None and b is not None else None for a, b in zip(col["ndcg_after"], col["ndcg_before"])]
    dh = [(a - b) if a is not None and b is not None else None
          for a, b in zip(col["holdout_after"], col["holdout_before"])]
    x, y = _series(xs, dt)
    if y:
        ax_delta.bar(x, y, width=0.6, color=[_GOOD if v >= 0 else _BAD for v in y], label="train")
        ax_delta.axhline(0, color="black", lw=0.8)
        hx, hy = _series(xs, dh)
        if hy:
            ax_delta.scatter(hx, hy, marker="_", s=160, color=_HOLDOUT, label="validation", zorder=3)
        ax_delta.legend(fontsize=7)
        ax_delta.grid(alpha=0.3, axis="y")
    else:
        _empty(ax_delta, "no before/after pairs")
    ax_delta.set_title("NDCG@10 change (after − before)", fontsize=10)
    ax_delta.set_xlabel("episode")

    # failures
    fails = [finite(e.get("failures")) for e in eps]
    x, y = _series(xs, fails)
    if y:
        ax_fail.bar(x, y, width=0.6, color=_BAD, alpha=0.7)
        ax_fail.grid(alpha=0.3, axis="y")
    else:
        _empty(ax_fail, "no failure counts")
    ax_fail.set_title("failing cases per episode", fontsize=10)
    ax_fail.set_xlabel("episode")

    # confidence
    x, y = _series(xs, col["confidence"])
    if y:
        ax_conf.plot(x, y, color="#6a3d9a", marker="o", ms=4)
        ax_conf.set_ylim(-0.02, 1.02)
        ax_conf.grid(alpha=0.3)
    else:
        _empty(ax_conf, "no confidence reported")
    ax_conf.set_title("agent confidence", fontsize=10)
    ax_conf.set_xlabel("episode")

    # most-moved parameters, as unit position on their own scale
    names = most_moved(eps)
    if names:
        x0 = xs[0] - 1
        for name in names:
            pts: list[tuple[float, float]] = []
            first = _unit(name, (eps[0].get("params_before") or {}).get(name))
            if first is not None:
                pts.append((x0, first))
            for xe, e in zip(xs, eps):
                u = _unit(name, (e.get("params_after") or {}).get(name))
                if u is None:
                    u = _unit(name, (e.get("params_before") or {}).get(name))
                if u is not None:
                    pts.append((xe, u))
            if pts:
                ax_par.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
        ax_par.set_ylim(-0.03, 1.03)
        ax_par.set_ylabel("position in range (0 = low, 1 = high)")
        ax_par.set_xlabel("episode (leftmost point: before the first episode)")
        ax_par.legend(fontsize=8, loc="best")
        ax_par.grid(alpha=0.3)
    else:
        _empty(ax_par, "no parameter moved")
    ax_par.set_title("most-moved parameters", fontsize=10)
    _save(fig, path)


def plot_sensitivity(data: dict, path: Path) -> None:
    """Importance bars (NDCG lost when a parameter is set neutral), the pairwise
    interaction matrix of the top parameters, and one small sweep plot per parameter."""
    imp: Mapping[str, float] = data.get("importance") or {}
    per: Mapping[str, Mapping[str, Any]] = data.get("params") or {}
    inter: Sequence[Mapping[str, Any]] = data.get("interactions") or []
    base_ndcg = finite((data.get("base") or {}).get("train_ndcg"))
    names = sorted(imp, key=lambda k: (-abs(finite(imp[k]) or 0.0), k))
    swept = [n for n in (data.get("ranking") or names) if (per.get(n) or {}).get("sweep")]
    ncols = 6
    nrows = max(1, math.ceil(len(swept) / ncols))
    top_h = max(3.0, 0.24 * len(names) + 1.0)
    # Laid out by hand in inches: constrained layout over ~30 axes costs seconds, and two
    # separate grids keep the heatmap's colorbar from shifting the columns of the sweeps.
    bottom_h = 1.9 * nrows
    height = top_h + 1.3 + bottom_h
    fig = _figure(16, height, layout=None)
    head = fig.add_gridspec(1, 2, width_ratios=[2.2, 1], left=0.14, right=0.95, top=1 - 0.35 / height,
                            bottom=1 - (top_h + 0.9) / height, wspace=0.35)
    ax_imp, ax_int = fig.add_subplot(head[0, 0]), fig.add_subplot(head[0, 1])
    if names:
        vals = [finite(imp[n]) or 0.0 for n in names]
        ys = list(range(len(names)))[::-1]
        ax_imp.barh(ys, vals, color=[_TRAIN if v >= 0 else _HOLDOUT for v in vals])
        ax_imp.set_yticks(ys, names, fontsize=7)
        ax_imp.axvline(0, color="black", lw=0.8)
        ax_imp.grid(alpha=0.3, axis="x")
        ax_imp.set_xlabel("importance: base NDCG@10 − NDCG@10 with the parameter neutral")
    else:
        _empty(ax_imp, "no importances")
    ax_imp.set_title("ablation" + (f" (base train NDCG@10 {base_ndcg:.4f})" if base_ndcg is not None else ""),
                     fontsize=10)

    top = []
    for r in inter:
        for k in (r.get("a"), r.get("b")):
            if k and k not in top:
                top.append(k)
    if top:
        import numpy as np

        m = np.full((len(top), len(top)), np.nan)
        for r in inter:
            v = finite(r.get("interaction"))
            if v is not None and r.get("a") in top and r.get("b") in top:
                i, j = top.index(r["a"]), top.index(r["b"])
                m[i, j] = m[j, i] = v
        lim = float(np.nanmax(np.abs(m))) if np.isfinite(m).any() else 0.0
        lim = lim or 1e-9
        im = ax_int.imshow(m, cmap="RdBu", vmin=-lim, vmax=lim)
        ax_int.set_xticks(range(len(top)), top, rotation=60, ha="right", fontsize=7)
        ax_int.set_yticks(range(len(top)), top, fontsize=7)
        fig.colorbar(im, ax=ax_int, fraction=0.046, pad=0.04)
    else:
        _empty(ax_int, "no interactions")
    ax_int.set_title("interaction: effect(both) − effect(a) − effect(b)\n"
                     "red: each covers for the other · blue: complementary", fontsize=8)

    from matplotlib.ticker import MaxNLocator, NullLocator

    grid = fig.add_gridspec(nrows, ncols, left=0.04, right=0.99, top=(bottom_h - 0.25) / height,
                            bottom=0.35 / height, wspace=0.3, hspace=0.6)
    # one y range for every sweep, so a flat-looking panel really is flat next to the others
    all_y = [y for n in swept for y in (finite(pt.get("ndcg")) for pt in per[n].get("sweep", [])) if y is not None]
    if base_ndcg is not None:
        all_y.append(base_ndcg)
    ylim = None
    if all_y:
        lo, hi = min(all_y), max(all_y)
        pad = max(0.01, 0.05 * (hi - lo))
        ylim = (lo - pad, hi + pad)
    if swept:
        for idx, name in enumerate(swept):
            ax = fig.add_subplot(grid[idx // ncols, idx % ncols])
            rec = per[name]
            pts = [(finite(p.get("value")), finite(p.get("ndcg"))) for p in rec.get("sweep", [])]
            pts = [(v, y) for v, y in pts if v is not None and y is not None]
            log = rec.get("scale") == "log" and all(v > 0 for v, _ in pts)
            if pts:
                flat = max(y for _, y in pts) - min(y for _, y in pts) < 1e-12
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3,
                        color=_MUTED if flat else _TRAIN)
            if log:
                ax.set_xscale("log")
            bv = finite(rec.get("base"))
            if bv is not None and (bv > 0 or not log):
                ax.axvline(bv, color=_BAD, lw=0.8, ls=":")
            if base_ndcg is not None:
                ax.axhline(base_ndcg, color=_MUTED, lw=0.8, ls="--")
            if ylim:
                ax.set_ylim(*ylim)
            ax.set_title(name, fontsize=7)
            ax.tick_params(labelsize=6)
            # few ticks: tick labels and minor log ticks are most of the drawing time here
            ax.xaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_major_locator(MaxNLocator(4))
            ax.grid(alpha=0.3)
    else:
        _empty(fig.add_subplot(grid[:, :]), "no sweeps")
    _save(fig, path)


__all__ = ["held_out_note", "most_moved", "plot_l1_progress", "plot_search_progress", "plot_sensitivity"]
