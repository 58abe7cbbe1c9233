"""The heuristic agent's answer to a distillation request: presets, rules and warnings from numbers.

Input (``context["task"] == "distill"``): the run's scratchpad ``episodes`` (each with
``params_before``/``params_after`` and ``ndcg_before``/``ndcg_after``), its
``best_points`` (``params``, ``train_ndcg``, ``holdout_ndcg``) and the free-text
``interactions``/``insights`` the episodes collected. Presets come from the best point
and from the centroid of the top points (the centroid is the robust choice: a single
best point is partly luck of the evaluation noise). Rules come from parameter moves
that raised NDCG consistently; warnings from moves that consistently lowered it.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ...rank.params import NAMES, SPECS
from ..numbers import finite

TOP_K = 5
CHANGE_EPS = 1e-4  # |ΔNDCG| below this is "no effect"
REL_EPS = 1e-6  # relative parameter change below this is "not changed"
OVERFIT_GAP = 0.05
NEAR_BEST = 0.05  # points further below the best NDCG@10 stay out of the centroid


def _params(d: Any) -> dict[str, float]:
    if isinstance(d, Mapping) and isinstance(d.get("params"), Mapping):
        d = d["params"]
    if not isinstance(d, Mapping):
        return {}
    return {k: float(v) for k, v in d.items() if k in SPECS and finite(v) is not None}


def _round_clamp(name: str, v: float) -> float:
    spec = SPECS[name]
    r = float(f"{v:.4g}")
    return spec.clamp(r)


def _unit(name: str, v: float) -> float:
    return SPECS[name].to_unit(SPECS[name].clamp(v))


@dataclass(frozen=True)
class Move:
    param: str
    direction: str
    before: float
    delta_ndcg: float
    episode: int


def _moves(episodes: Sequence[Mapping[str, Any]]) -> list[Move]:
    out: list[Move] = []
    for i, ep in enumerate(episodes):
        b, a = finite(ep.get("ndcg_before")), finite(ep.get("ndcg_after"))
        if b is None or a is None:
            continue
        pb, pa = _params(ep.get("params_before")), _params(ep.get("params_after"))
        n = int(finite(ep.get("episode")) if finite(ep.get("episode")) is not None else i)
        for name in NAMES:
            if name not in pb or name not in pa:
                continue
            x, y = pb[name], pa[name]
            if abs(y - x) <= REL_EPS * max(1.0, abs(x)):
                continue
            out.append(Move(name, "increase" if y > x else "decrease", x, a - b, n))
    return out


def _holdout_key(p: Mapping[str, Any]) -> tuple[float, float]:
    h, t = finite(p.get("holdout_ndcg")), finite(p.get("train_ndcg"))
    return (h if h is not None else (t if t is not None else -1.0), t if t is not None else -1.0)


def _centroid(points: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per-parameter mean on the parameter's own scale (geometric for log-scaled knobs)."""
    out: dict[str, float] = {}
    for name in NAMES:
        vals = [p[name] for p in points if name in p]
        if not vals:
            continue
        if SPECS[name].scale == "log" and all(v > 0 for v in vals):
            out[name] = math.exp(sum(math.log(v) for v in vals) / len(vals))
        else:
            out[name] = sum(vals) / len(vals)
    return out


def _fmt_ndcg(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def distill_from_context(context: Mapping[str, Any]) -> str:
    episodes = [e for e in (context.get("episodes") or ()) if isinstance(e, Mapping)]
    points = [p for p in (context.get("best_points") or ()) if isinstance(p, Mapping) and _params(p)]
    presets: dict[str, dict[str, Any]] = {}
    heuristics: list[str] = []
    warnings: list[str] = []
    intuitions: list[str] = []
    reasoning: list[str] = [f"{len(episodes)} episodes and {len(points)} evaluated points."]

    # only parameters the run actually moved say anything about the optimum
    seen_vals: dict[str, set[float]] = {}
    for src in [*(_params(p) for p in points), *(_params(e.get("params_before")) for e in episodes),
                *(_params(e.get("params_after")) for e in episodes)]:
        for k, v in src.items():
            seen_vals.setdefault(k, set()).add(v)
    varied = {k for k, vs in seen_vals.items() if len(vs) > 1}

    ranked = sorted(points, key=_holdout_key, reverse=True)
    if not ranked:
        # no best points recorded: fall back to the best episode outcome
        eps = [e for e in episodes if finite(e.get("ndcg_after")) is not None and _params(e.get("params_after"))]
        eps.sort(key=lambda e: finite(e.get("ndcg_after")) or 0.0, reverse=True)
        ranked = [{"params": _params(e.get("params_after")), "train_ndcg": finite(e.get("ndcg_after")),
                   "holdout_ndcg": None} for e in eps]
    if ranked:
        best = ranked[0]
        bp = _params(best)
        t, h = finite(best.get("train_ndcg")), finite(best.get("holdout_ndcg"))
        presets["tuned_best"] = {
            "description": f"Best point of the run: train NDCG@10 {_fmt_ndcg(t)}, validation {_fmt_ndcg(h)}.",
            "when_to_use": "repositories like the training corpus, when the measured optimum is what you want",
            "params": {k: _round_clamp(k, v) for k, v in bp.items()},
        }
        reasoning.append(f"The best point scores train {_fmt_ndcg(t)} / validation {_fmt_ndcg(h)}.")
        if t is not None and h is not None and t - h > OVERFIT_GAP:
            warnings.append(f"⚠ the best point loses {t - h:.3f} NDCG@10 from train to validation: it is partly "
                            f"fitted to the training cases; prefer tuned_robust on new repositories")
        for name in NAMES:
            if name in bp and name in varied:
                u = _unit(name, bp[name])
                if u >= 0.99 or u <= 0.01:
                    edge = "upper" if u >= 0.99 else "lower"
                    warnings.append(f"⚠ {name} sits at its {edge} bound ({bp[name]:.4g}) in the best point: the "
                                    f"optimum may lie outside the searched range")
        # the top points, minus any far below the best: a centroid with a bad point is not robust
        best_score = _holdout_key(best)[0]
        near = [p for p in ranked[:TOP_K] if _holdout_key(p)[0] >= best_score - NEAR_BEST]
        top = [_params(p) for p in near]
        if len(top) >= 2:
            cen = _centroid(top)
            hs = [_holdout_key(p)[0] for p in near]
            presets["tuned_robust"] = {
                "description": f"Centroid of the top {len(top)} points (NDCG@10 {min(hs):.4f}-{max(hs):.4f}); "
                               f"averages out the evaluation noise of any single point.",
                "when_to_use": "new or unlike repositories, or when the best point's train/validation gap is large",
                "params": {k: _round_clamp(k, v) for k, v in cen.items()},
            }
            if len(top) >= 3:
                for name in NAMES:
                    if name not in varied:
                        continue
                    vals = [p[name] for p in top if name in p]
                    if len(vals) < 3:
                        continue
                    us = [_unit(name, v) for v in vals]
                    spread = max(us) - min(us)
                    if spread < 0.1:
                        intuitions.append(f"the top {len(vals)} points agree on {name} ~ {cen[name]:.4g} (spread "
                                          f"{spread:.2f} of its range): it is well determined")
                    elif spread > 0.5:
                        intuitions.append(f"{name} ranges {min(vals):.4g}-{max(vals):.4g} across the top {len(vals)} "
                                          f"points: NDCG@10 is insensitive to it here")

    moves = _moves(episodes)
    groups: dict[tuple[str, str], list[Move]] = {}
    for m in moves:
        groups.setdefault((m.param, m.direction), []).append(m)
    order = {n: i for i, n in enumerate(NAMES)}
    for (param, direction), ms in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        ups = [m for m in ms if m.delta_ndcg > CHANGE_EPS]
        downs = [m for m in ms if m.delta_ndcg < -CHANGE_EPS]
        mean = sum(m.delta_ndcg for m in ms) / len(ms)
        if len(ms) >= 2 and len(ups) * 3 >= len(ms) * 2 and mean > 0:
            befores = [m.before for m in ups]
            if direction == "increase":
                cond = f"{param} <= {max(befores):.4g}"
            else:
                cond = f"{param} >= {min(befores):.4g}"
            heuristics.append(f"if {cond}: {direction} {param} - raised NDCG@10 in {len(ups)} of {len(ms)} "
                              f"episodes (mean {mean:+.4f}) when it was {min(befores):.4g}-{max(befores):.4g}")
        elif len(ms) >= 2 and len(downs) * 3 >= len(ms) * 2 and mean < 0:
            warnings.append(f"⚠ {direction} {param} lowered NDCG@10 in {len(downs)} of {len(ms)} episodes "
                            f"(mean {mean:+.4f})")
        elif len(ms) == 1 and ms[0].delta_ndcg <= -0.01:
            warnings.append(f"⚠ {direction} {param} lowered NDCG@10 by {-ms[0].delta_ndcg:.4f} in episode "
                            f"{ms[0].episode} (one observation)")
        elif len(ms) == 1 and ms[0].delta_ndcg >= 0.01:
            heuristics.append(f"if {param} is near {ms[0].before:.4g}: {direction} {param} - raised NDCG@10 by "
                              f"{ms[0].delta_ndcg:.4f} in episode {ms[0].episode} (one observation, weak evidence)")
    reasoning.append(f"{len(moves)} parameter moves over {len(groups)} (parameter, direction) pairs gave "
                     f"{len(heuristics)} rules and {len(warnings)} warnings.")

    for key in ("interactions", "insights"):
        seen: set[str] = set()
        for s in context.get(key) or ():
            if isinstance(s, str) and s.strip() and s.strip() not in seen and len(seen) < 5:
                seen.add(s.strip())
                intuitions.append(s.strip())
    answer = {"presets": presets, "heuristics": heuristics, "warnings": warnings, "intuitions": intuitions}
    return (f"REASONING: {' '.join(reasoning)}\n\n"
            f"JSON:\n{json.dumps(answer, indent=2, ensure_ascii=False)}\n")
