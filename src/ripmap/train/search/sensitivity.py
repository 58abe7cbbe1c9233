"""Which knobs matter on these cases: ablation, one-at-a-time sweeps, pairwise interactions.

Deterministic (the evaluator is, and nothing here samples), so two runs on the same
cases give the same figures.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping

from ...rank.params import REGISTRY, ParamSpec, Params
from ..console import Status, say
from ..evaluation.measurement import measure, objective
from ..files import atomic_write_json
from .loop import check_run_name

if TYPE_CHECKING:
    from ..evaluation.evaluator import Evaluator


@dataclass(frozen=True)
class Neutral:
    value: float
    why: str


# The value that switches each mechanism off (or makes it treat every file alike), within
# the registry's bounds. Ablating a parameter means moving it here; the NDCG it loses is
# its importance. Multipliers are neutral at 1.0 ("no boost"); additive weights have no
# zero in their log range, so their low bound stands for "off".
NEUTRAL: Mapping[str, Neutral] = MappingProxyType({
    "pagerank_alpha": Neutral(0.5, "weakest propagation allowed: importance stays near the personalization"),
    "pagerank_chat_multiplier": Neutral(1.0, "chat files get (almost) no extra personalization weight"),
    "depth_weight_root": Neutral(1.0, "no depth prior: shallow files weigh like any other"),
    "depth_weight_moderate": Neutral(1.0, "no depth prior: mid-depth files weigh like any other"),
    "depth_weight_deep": Neutral(1.0, "no depth prior: deep files weigh like any other"),
    "depth_weight_vendor": Neutral(1.0, "vendored files weigh like any other"),
    "boost_mentioned_ident": Neutral(1.0, "no boost for files defining a mentioned identifier"),
    "boost_mentioned_file": Neutral(1.0, "no boost for mentioned files"),
    "boost_chat_file": Neutral(1.0, "no boost for chat files"),
    "boost_temporal_coupling": Neutral(0.01, "co-change evidence off (lowest additive weight)"),
    "boost_focus_expansion": Neutral(0.01, "focus evidence off (lowest additive weight)"),
    "git_recency_decay_days": Neutral(1.0, "shortest half-life: the recency boost reaches almost no file"),
    "git_recency_max_boost": Neutral(1.0, "no recency boost"),
    "git_churn_threshold": Neutral(200.0, "highest threshold: almost no file reaches the churn boost"),
    "git_churn_max_boost": Neutral(1.0, "no churn boost"),
    "focus_decay": Neutral(0.05, "focus evidence barely survives one hop"),
    "focus_max_hops": Neutral(0.0, "no focus expansion through the graph"),
    "weight_structure": Neutral(0.01, "PageRank evidence off (lowest additive weight)"),
    "boost_lexical": Neutral(0.01, "BM25 evidence off (lowest additive weight)"),
    "edge_weight_call": Neutral(1.0, "call references weigh like every other kind"),
    "edge_weight_type": Neutral(1.0, "type references weigh like every other kind"),
    "edge_weight_other": Neutral(1.0, "other references weigh like every other kind"),
    "import_resolution_bias": Neutral(1.0, "no preference for definitions in imported files"),
    "common_name_penalty": Neutral(0.0, "no penalty for names defined in many files"),
    "private_name_weight": Neutral(1.0, "private names count like public ones"),
    "hub_damping": Neutral(0.0, "no damping of high in-degree hubs"),
    "symbol_ref_weight": Neutral(0.0, "symbols are not lifted by incoming references (file ranking ignores it)"),
    "weight_generated": Neutral(1.0, "generated files weigh like any other"),
    "weight_fixture": Neutral(1.0, "fixtures and samples weigh like any other file"),
    "weight_stub": Neutral(1.0, "stub trees weigh like any other file"),
    "weight_docs": Neutral(1.0, "documentation weighs like code"),
    "weight_test": Neutral(1.0, "tests weigh like any other file"),
})

SWEEP_POINTS = 7
TOP_INTERACTIONS = 6


def neutral_for(spec: ParamSpec) -> Neutral:
    """The table entry, or for a parameter added to the registry since: 1.0 when that
    is inside its bounds (the "no boost" of a multiplier), else its low bound."""
    n = NEUTRAL.get(spec.name)
    if n is not None:
        return Neutral(spec.clamp(n.value), n.why)
    if spec.low <= 1.0 <= spec.high:
        return Neutral(1.0, "no table entry: 1.0 (no boost)")
    return Neutral(spec.low, "no table entry: low bound")


def sensitivity(ev: "Evaluator", base: Params, *, progress: Callable[[int, int], None] | None = None) -> dict:
    """Ablation, one-at-a-time sweeps and pairwise interactions around ``base``.

    * ablation: each parameter alone to its :data:`NEUTRAL` value; importance =
      base NDCG − ablated NDCG (positive: the mechanism helps on these cases);
    * sweeps: :data:`SWEEP_POINTS` evenly spaced positions of each parameter's own scale
      (log for multiplicative knobs), everything else at ``base``;
    * interactions among the :data:`TOP_INTERACTIONS` parameters with the largest
      |importance| (ties: the larger sweep range): effect(both ablated) − (effect(a) +
      effect(b)), where effect = ablated − base. Zero: the two act independently;
      negative: ablating both costs more than the two costs added (each covers for the
      other, so ablating one alone hides its worth); positive: ablating both costs less
      (each helps mainly together with the other).

    Deterministic: the evaluator is, and nothing here samples.
    """
    memo: dict[Params, float] = {}
    total = 1 + len(REGISTRY) * (1 + SWEEP_POINTS) + math.comb(TOP_INTERACTIONS, 2)
    done = [0]

    def f(p: Params) -> float:
        if p not in memo:
            memo[p] = objective(ev, p)
        done[0] += 1
        if progress:
            progress(min(done[0], total), total)
        return memo[p]

    base_score = measure(ev, base)
    memo[base] = base_score.ndcg
    b = base_score.ndcg
    per: dict[str, dict] = {}
    for spec in REGISTRY:
        n = neutral_for(spec)
        ablated = base.replace(**{spec.name: n.value})
        abl = f(ablated)
        sweep = []
        for i in range(SWEEP_POINTS):
            u = i / (SWEEP_POINTS - 1)
            v = spec.clamp(spec.from_unit(u))
            sweep.append({"u": u, "value": v, "ndcg": f(base.replace(**{spec.name: v}))})
        per[spec.name] = {"base": base[spec.name], "neutral": n.value, "neutral_why": n.why,
                          "ablated_ndcg": abl, "importance": b - abl, "changed": n.value != base[spec.name],
                          "scale": spec.scale, "low": spec.low, "high": spec.high, "stage": spec.stage,
                          "sweep": sweep}
    for rec in per.values():
        ys = [pt["ndcg"] for pt in rec["sweep"]]
        rec["sweep_range"] = max(ys) - min(ys)
    # Ties in importance (typically at zero, when another mechanism covers for an ablated
    # one) go to the parameter whose sweep moves NDCG most: it matters somewhere in range.
    order = sorted(per, key=lambda k: (-abs(per[k]["importance"]), -per[k]["sweep_range"], k))
    top = [k for k in order if per[k]["changed"]][:TOP_INTERACTIONS]
    interactions = []
    for i, a in enumerate(top):
        for c in top[i + 1:]:
            both = f(base.replace(**{a: per[a]["neutral"], c: per[c]["neutral"]}))
            ea, ec, eb = per[a]["ablated_ndcg"] - b, per[c]["ablated_ndcg"] - b, both - b
            interactions.append({"a": a, "b": c, "effect_a": ea, "effect_b": ec, "effect_both": eb,
                                 "interaction": eb - (ea + ec)})
    if progress:
        progress(total, total)
    return {"objective": "train ndcg@10", "base": {"params": base.to_dict(), "train_ndcg": b,
                                                    "holdout_ndcg": base_score.holdout,
                                                    "by_repo": base_score.by_repo},
            "cases": {"train": len(ev.train_cases), "holdout": len(ev.holdout_cases)},
            "importance": {k: per[k]["importance"] for k in order}, "ranking": order,
            "params": per, "interactions": interactions, "evaluations": len(memo)}


def run_sensitivity(ev: "Evaluator", base: Params, out_dir: str | Path, run_name: str | None = None) -> Path:
    """Write ``sensitivity.json`` and ``sensitivity.png`` for ``base`` to the run folder
    (``out_dir/<run_name or sensitivity-YYYYmmdd-HHMMSS>/``); returns the folder."""
    from ..report.plots import plot_sensitivity

    run_dir = Path(out_dir) / check_run_name(run_name or f"sensitivity-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.mkdir(parents=True, exist_ok=True)
    status = Status()
    try:
        data = sensitivity(ev, base, progress=lambda i, n: status.show(f"sensitivity: {i}/{n} evaluations"))
    finally:
        status.close()
    atomic_write_json(run_dir / "sensitivity.json", data)
    plot_sensitivity(data, run_dir / "sensitivity.png")
    top = ", ".join(f"{k} {data['importance'][k]:+.4f}" for k in data["ranking"][:5])
    say(f"sensitivity: base train NDCG@10 {data['base']['train_ndcg']:.4f}; most important: {top}; "
        f"results in {run_dir}")
    return run_dir


__all__ = ["NEUTRAL", "Neutral", "SWEEP_POINTS", "neutral_for", "run_sensitivity", "sensitivity"]
