"""TPE: Optuna's Tree-structured Parzen Estimator (multivariate)."""
from __future__ import annotations

from optuna.samplers import BaseSampler, TPESampler

from ..strategy import Strategy
from ..study import StudySetup
from .seeding import PerTrialSeeded, strategy_seed


class TPE(Strategy):
    """Reseeded per trial: its history lives in the study, so rebuilding it loses nothing."""

    name = "tpe"

    def sampler(self, setup: StudySetup) -> BaseSampler:
        return PerTrialSeeded(lambda s: TPESampler(seed=s, multivariate=True), strategy_seed(setup.seed, self.name))


__all__ = ["TPE"]
