"""The step rule: what a direction and magnitude word do to a parameter.

Steps follow each parameter's own scale and are clamped to the registry bounds, so no
magnitude word can push a parameter out of range or to zero:

* log-scaled parameters move multiplicatively: ×1.1 / ×1.3 / ×2 up, ×0.9 / ×0.7 / ÷2
  down (a "large decrease" halves);
* linear parameters move by 5% / 15% / 30% of their range.

The shipped protocol's table states the same numbers to the agent.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from ...rank.params import SPECS, ParamSpec, Params
from ..vocabulary import DIRECTIONS
from .reply import Change, Rejection

LOG_FACTORS: Mapping[str, float] = MappingProxyType({"small": 0.1, "medium": 0.3})
"""Log-scaled parameters: ×(1 ± f); "large" doubles or halves instead."""
LINEAR_FRACTIONS: Mapping[str, float] = MappingProxyType({"small": 0.05, "medium": 0.15, "large": 0.30})
"""Linear parameters: ± this fraction of the parameter's range."""


def step_value(spec: ParamSpec, value: float, direction: str, magnitude: str) -> float:
    """One step of ``magnitude`` in ``direction`` along the parameter's own scale, clamped."""
    if direction not in DIRECTIONS or magnitude not in LINEAR_FRACTIONS:
        raise ValueError(f"bad step {direction!r} {magnitude!r}")
    up = direction == DIRECTIONS[0]
    if spec.scale == "log":
        v = value if value > 0 else spec.low
        if magnitude == "large":
            new = v * 2.0 if up else v / 2.0
        else:
            f = LOG_FACTORS[magnitude]
            new = v * (1.0 + f if up else 1.0 - f)
    else:
        delta = LINEAR_FRACTIONS[magnitude] * (spec.high - spec.low)
        new = value + delta if up else value - delta
    new = float(f"{new:.12g}")  # drop binary noise (0.8500000000000001) so values print and compare cleanly
    return spec.clamp(new)


@dataclass(frozen=True)
class Applied:
    """One change that moved a parameter: from where to where, and the agent's words."""

    before: float
    after: float
    direction: str
    magnitude: str
    rationale: str

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.before, "to": self.after, "direction": self.direction, "magnitude": self.magnitude,
                "rationale": self.rationale}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Applied":
        return cls(float(d.get("from", 0.0)), float(d.get("to", 0.0)), str(d.get("direction", "?")),
                   str(d.get("magnitude", "?")), str(d.get("rationale", "")))


@dataclass(frozen=True)
class Decision:
    """The point after a reply: the new parameters, what moved, and what did not and why."""

    params: Params
    applied: Mapping[str, Applied]
    rejected: tuple[Rejection, ...]


def apply_changes(params: Params, changes: Sequence[Change], *, confidence: float | None,
                  min_confidence: float) -> Decision:
    """Apply validated changes when confidence allows; changes that cannot move (at a bound) are rejected."""
    conf = 0.0 if confidence is None else confidence
    if conf < min_confidence:
        why = ("confidence missing or invalid (treated as 0)" if confidence is None
               else f"confidence {conf:g} below --min-confidence {min_confidence:g}")
        return Decision(params, {}, tuple(Rejection(c.param, f"not applied: {why}") for c in changes))
    values: dict[str, float] = {}
    applied: dict[str, Applied] = {}
    rejected: list[Rejection] = []
    for c in changes:
        old = params[c.param]
        new = step_value(SPECS[c.param], old, c.direction, c.magnitude)
        if new == old:
            bound = "upper" if c.direction == DIRECTIONS[0] else "lower"
            rejected.append(Rejection(c.param, f"already at its {bound} bound ({old:g}); no change"))
            continue
        values[c.param] = new
        applied[c.param] = Applied(old, new, c.direction, c.magnitude, c.rationale)
    return Decision(params.replace(**values) if values else params, applied, tuple(rejected))


__all__ = ["Applied", "Decision", "LINEAR_FRACTIONS", "LOG_FACTORS", "apply_changes", "step_value"]
