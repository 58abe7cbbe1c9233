"""The parameter registry as an Optuna search space (bounds and scales from rank/params)."""
from __future__ import annotations

from typing import Iterable, Mapping

from ...errors import UsageError
from ...rank.params import REGISTRY, SPECS, Params


def search_space(names: Iterable[str] | None = None) -> dict:
    """name → optuna FloatDistribution, log-scaled where the registry says so; only
    ``names`` when given (the others stay at the starting point)."""
    from optuna.distributions import FloatDistribution

    wanted = None if names is None else set(names)
    if wanted is not None:
        bad = sorted(wanted - set(SPECS))
        if bad:
            raise UsageError(f"unknown parameter(s) to search: {', '.join(bad)}")
    return {p.name: FloatDistribution(p.low, p.high, log=(p.scale == "log")) for p in REGISTRY
            if wanted is None or p.name in wanted}


def params_from_trial(values: Mapping[str, float]) -> Params:
    """A Params point from sampled values, clamped into bounds (samplers may round)."""
    return Params({k: SPECS[k].clamp(float(v)) for k, v in values.items() if k in SPECS})


__all__ = ["params_from_trial", "search_space"]
