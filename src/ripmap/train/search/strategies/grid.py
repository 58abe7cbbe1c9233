"""Grid search over the few parameters most likely to matter, the rest at the start point.

The grid is fixed when the study is created (its axes depend on the budget and the start
point) and stored in the study, so every worker and every resume walks the same grid.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from optuna.distributions import FloatDistribution
from optuna.samplers import BaseSampler, GridSampler
from optuna.trial import FrozenTrial

from ....rank.params import SPECS, Params
from ..strategy import Strategy
from ..study import StudySetup
from .seeding import strategy_seed

# Parameters the grid varies, most promising first. The oracle's ground truth *is*
# co-change, so its weight comes first; the two other additive weights set the balance
# against it (structure pulls toward central hubs, lexical toward name overlap); PageRank
# damping and hub damping decide how far structure spreads and whether hubs dominate;
# the recency boost is the strongest git prior. The rest stay at the start values: a full
# factorial over 27 parameters (3^27 points) could never fit any budget.
GRID_PRIORITY = ("boost_temporal_coupling", "weight_structure", "boost_lexical", "pagerank_alpha",
                 "hub_damping", "git_recency_max_boost")


def grid_axes(budget: int, start: Mapping[str, float],
              priority: Sequence[str] = GRID_PRIORITY) -> dict[str, list[float]]:
    """The grid for ``budget`` evaluations: a few important parameters, the rest at ``start``.

    One evaluation goes to the start point, so the grid gets ``budget - 1`` points. It
    varies the first ``k`` parameters of ``priority``, with ``k`` as large as three levels
    each allow (3^k ≤ budget - 1), then adds levels to the leading parameters while the
    product still fits. Levels sit at the midpoints of equal cells of each parameter's own
    scale (log for multiplicative knobs), shifted if one would fall on the start value:
    the bounds are extreme by design and the start point is already evaluated.
    Examples: budget 4 → 3 levels of the first parameter; budget 10 → 3 × 3;
    budget 50 → 4 × 4 × 3 = 48 points; budget 100 → 3^4 = 81 points.
    """
    n = budget - 1
    names = [p for p in priority if p in SPECS]
    if n < 1 or not names:
        return {}
    k = 1
    while k < len(names) and 3 ** (k + 1) <= n:
        k += 1
    m = 1
    while (m + 1) ** k <= n:
        m += 1
    levels = [m] * k
    grew = True
    while grew:
        grew = False
        for i in range(k):
            if math.prod(levels) // levels[i] * (levels[i] + 1) <= n:
                levels[i] += 1
                grew = True
    axes: dict[str, list[float]] = {}
    for name, lv in zip(names[:k], levels):
        spec = SPECS[name]
        at = spec.to_unit(spec.clamp(float(start.get(name, spec.default))))
        us = [(j + 0.5) / lv for j in range(lv)]  # midpoints of lv equal cells
        if any(abs(u - at) < 1e-6 for u in us):
            # a level on the start value would re-evaluate the start point along this axis
            us = [(j + 1) / (lv + 1) for j in range(lv)]
        axes[name] = [spec.clamp(float(f"{spec.from_unit(u):.6g}")) for u in us]
    return axes


class _AskTellGrid(GridSampler):
    """GridSampler minus its ``study.stop()`` in ``after_trial``, which Optuna only allows
    inside ``optimize``; the loop stops when :meth:`GridSearch.remaining` is zero."""

    def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001 - Optuna's signature
        return None


class GridSearch(Strategy):
    name = "grid"

    def design(self, budget: int, start: Params) -> dict[str, list[float]]:
        return grid_axes(budget, start)

    def sampler(self, setup: StudySetup) -> BaseSampler:
        return _AskTellGrid(dict(setup.design or {}), seed=strategy_seed(setup.seed, self.name))

    def space(self, setup: StudySetup, only: Sequence[str] | None) -> dict[str, FloatDistribution]:
        return {k: v for k, v in super().space(setup, only).items() if k in (setup.design or {})}

    def remaining(self, setup: StudySetup, trials: Sequence[FrozenTrial]) -> int:
        """Grid points no trial has taken yet (running, complete, or failed: GridSampler never
        returns to a failed point by itself, so the loop re-enqueues an abandoned one). Asking
        while this is zero would make GridSampler re-evaluate a point another worker is running."""
        taken = {t.system_attrs.get("grid_id") for t in trials} - {None}
        return math.prod(len(v) for v in (setup.design or {}).values()) - len(taken)


__all__ = ["GRID_PRIORITY", "GridSearch", "grid_axes"]
