"""A space-filling design: a scrambled Halton sequence (Optuna's ``QMCSampler``).

What Latin hypercubes are used for, but extensible one point at a time, so it needs no
budget fixed in advance and resumes from the sequence position stored in the study.
"""
from __future__ import annotations

from optuna.samplers import BaseSampler, QMCSampler

from ..strategy import Strategy
from ..study import StudySetup
from .seeding import strategy_seed


class LatinHypercube(Strategy):
    name = "lhs"

    def sampler(self, setup: StudySetup) -> BaseSampler:
        return QMCSampler(qmc_type="halton", scramble=True, seed=strategy_seed(setup.seed, self.name), warn_independent_sampling=False,
                          warn_asynchronous_seeding=False)


__all__ = ["LatinHypercube"]
