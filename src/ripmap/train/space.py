"""The parameter registry as an Optuna search space (bounds and scales from rank/params)."""
from __future__ import annotations

from ..rank.params import REGISTRY, Params


def search_space() -> dict:
    """name → optuna FloatDistribution, log-scaled where the registry says so."""
    from optuna.distributions import FloatDistribution

    return {p.name: FloatDistribution(p.low, p.high, log=(p.scale == "log")) for p in REGISTRY}


def params_from_trial(values: dict[str, float]) -> Params:
    """A Params point from sampled values, clamped into bounds (samplers may round)."""
    from ..rank.params import SPECS

    return Params({k: SPECS[k].clamp(float(v)) for k, v in values.items() if k in SPECS})
