"""A sampler that hands out a point decided elsewhere: how an agent's proposal becomes a trial.

A strategy that chooses whole points itself (the L1 agent) stages one with
:meth:`StagedSampler.stage` before suggesting; every ``suggest_float`` of the trial then
returns the staged value, so the study records the trial exactly like any sampler's.
"""
from __future__ import annotations

from typing import Mapping

from optuna.samplers import BaseSampler


class StagedSampler(BaseSampler):
    def __init__(self) -> None:
        self.point: dict[str, float] = {}

    def stage(self, point: Mapping[str, float]) -> None:
        self.point = dict(point)

    def infer_relative_search_space(self, study, trial):  # noqa: ANN001 - Optuna's signature
        return {}

    def sample_relative(self, study, trial, search_space):  # noqa: ANN001
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):  # noqa: ANN001
        if param_name not in self.point:
            raise KeyError(f"no value staged for {param_name}")
        return self.point[param_name]


__all__ = ["StagedSampler"]
