"""Seeds: each strategy's own stream from ``--seed``, and per-trial seeding.

Two rules keep comparisons honest. A strategy's randomness is derived from (``--seed``,
the strategy's name), so random search and TPE run with the same ``--seed`` never draw
the same points (TPE's first trials are random draws: with one shared seed they were the
very points random search evaluated, and a table "comparing" the two compared the same
trials). Within a strategy, trial k's draw depends on (its seed, k) alone
(:class:`PerTrialSeeded`).
"""
from __future__ import annotations

import zlib
from typing import Callable

import numpy as np
from optuna.samplers import BaseSampler


def mix(seed: int, number: int) -> int:
    """A 32-bit seed that depends on (seed, trial number) and on nothing else."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(number)]).generate_state(1)[0])


def strategy_seed(seed: int, strategy: str) -> int:
    """The 32-bit seed a strategy's sampler uses for ``--seed seed``: distinct per strategy
    name (and per seed), stable across processes and Python versions (CRC-32 of the name,
    not ``hash``, which is salted per process)."""
    salt = zlib.crc32(strategy.encode("utf-8"))
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, salt]).generate_state(1)[0])


class PerTrialSeeded(BaseSampler):
    """Rebuilds a stateless sampler for every trial, seeded by (seed, trial number).

    A seeded RandomSampler or TPESampler draws from one RNG stream that starts over in
    every process: after a resume its first draws would repeat the points the killed
    process already evaluated, and two workers with the same seed would propose the same
    points. Trial numbers are unique within a study, so seeding each trial from its
    number makes trial k's proposal a function of (seed, k, the study's history) alone:
    identical across reruns, distinct across workers and resumes.
    """

    def __init__(self, factory: Callable[[int], BaseSampler], seed: int) -> None:
        self._factory = factory
        self._seed = seed
        self._inner = factory(seed)

    def before_trial(self, study, trial) -> None:  # noqa: ANN001 - Optuna's signatures
        self._inner = self._factory(mix(self._seed, trial.number))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):  # noqa: ANN001
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # noqa: ANN001
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # noqa: ANN001
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


__all__ = ["PerTrialSeeded", "mix", "strategy_seed"]
