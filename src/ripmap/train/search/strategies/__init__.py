"""The strategies of ``ripmap-train search``, one file each: random, TPE, CMA-ES, grid,
low-discrepancy (LHS), and the hybrid of TPE and the L1 agent.

The classical ones spend the same evaluation budget on the same cases as the L1 agent
with no reasoning at all: what L1 has to beat; the hybrid lets the agent step from the
best point TPE has found. Every one starts with one trial at the start point, so at equal
budgets every curve starts from the same point.
"""
from __future__ import annotations

from ....errors import UsageError
from ..strategy import Strategy

STRATEGIES: tuple[str, ...] = ("random", "tpe", "cmaes", "grid", "lhs", "hybrid")


def make_strategy(name: str) -> Strategy:
    """The strategy called ``name`` (optuna is imported here, not before); the hybrid's agent
    is the offline heuristic one."""
    if name == "random":
        from .random_search import RandomSearch

        return RandomSearch()
    if name == "tpe":
        from .tpe import TPE

        return TPE()
    if name == "cmaes":
        from .cmaes import CmaEs

        return CmaEs()
    if name == "grid":
        from .grid import GridSearch

        return GridSearch()
    if name == "lhs":
        from .lhs import LatinHypercube

        return LatinHypercube()
    if name == "hybrid":
        from .hybrid import Hybrid

        return Hybrid()
    raise UsageError(f"unknown strategy '{name}' (choose from {', '.join(STRATEGIES)})")


__all__ = ["STRATEGIES", "make_strategy"]
