"""CMA-ES centred on the start point; its state is pickled into the study, so it resumes mid-generation."""
from __future__ import annotations

import warnings

from optuna.samplers import BaseSampler, CmaEsSampler

from ....errors import UsageError
from ..strategy import Strategy
from ..study import StudySetup
from .seeding import strategy_seed


class CmaEs(Strategy):
    name = "cmaes"

    def sampler(self, setup: StudySetup) -> BaseSampler:
        try:
            import cmaes  # noqa: F401  (Optuna's CmaEsSampler needs it)
        except ImportError:
            raise UsageError("--strategy cmaes needs the 'cmaes' package (pip install 'ripmap[train]')") from None
        seed = strategy_seed(setup.seed, self.name)
        try:
            # x0 is deprecated since Optuna 4.9 (still honoured in 5.x); without it CMA-ES
            # would start at the centre of the box instead of the start point.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                return CmaEsSampler(x0=setup.start_params.to_dict(), seed=seed,
                                    warn_independent_sampling=False)
        except TypeError:  # a future Optuna without x0
            return CmaEsSampler(seed=seed, warn_independent_sampling=False)


__all__ = ["CmaEs"]
