"""Random search: uniform on each parameter's own scale (log for multiplicative knobs)."""
from __future__ import annotations

from optuna.samplers import BaseSampler, RandomSampler

from ..strategy import Strategy
from ..study import StudySetup
from .seeding import PerTrialSeeded, strategy_seed


class RandomSearch(Strategy):
    """The floor every other strategy must beat at the same budget; reseeded per trial."""

    name = "random"

    def sampler(self, setup: StudySetup) -> BaseSampler:
        return PerTrialSeeded(lambda s: RandomSampler(seed=s), strategy_seed(setup.seed, self.name))


__all__ = ["RandomSearch"]
