"""The classical strategies, one file each: random, TPE, CMA-ES, grid, low-discrepancy (LHS).

They spend the same evaluation budget on the same cases as the L1 agent with no
reasoning at all: what L1 has to beat. Every one starts with one trial at the start
point, so at equal budgets every curve starts from the same point.
"""
from __future__ import annotations

from ....errors import UsageError
from ..strategy import Strategy

STRATEGIES: tuple[str, ...] = ("random", "tpe", "cmaes", "grid", "lhs")


def make_strategy(name: str) -> Strategy:
    """The classical strategy called ``name`` (optuna is imported here, not before)."""
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
    raise UsageError(f"unknown strategy '{name}' (choose from {', '.join(STRATEGIES)})")


__all__ = ["STRATEGIES", "make_strategy"]
