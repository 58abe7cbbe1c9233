"""One L1 episode as a record: what was shown, what the agent said, what was done, what it did.

An :class:`Episode` is written to ``scratchpad.json`` once, when the episode has finished,
and read back by resume, replay, the run views and distillation. Its JSON form (keys and
order) is the scratchpad's contract; :meth:`Episode.from_dict` is lenient, so a
scratchpad written by an older ripmap (a key missing) still loads, and keys it does not
know are kept in :attr:`Episode.extra` and written back unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from ..evaluation.evaluator import Failure
from .reply import Rejection
from .step import Applied

FLAG_SCHEMA = "schema_corruption"
"""Long reasoning and no usable change: the seeds' "schema corruption"."""
FLAG_LOCK_IN = "basin_lock_in"
"""The same parameters after several episodes in a row."""
FLAG_LOW_CONF = "low_confidence"
"""The reply's confidence was below --min-confidence (nothing was applied)."""
FLAG_AGENT_ERROR = "agent_error"
"""The agent failed (timeout, crash, HTTP error); nothing was applied."""


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


@dataclass(frozen=True)
class StartPoint:
    """Where a run started (episode 0 of its trajectory)."""

    params: Mapping[str, float]
    train: float | None
    holdout: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"params": dict(self.params), "train": self.train, "holdout": self.holdout}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "StartPoint | None":
        if not isinstance(d, Mapping) or not d.get("params"):
            return None
        return cls(dict(d["params"]), _num(d.get("train")), _num(d.get("holdout")))


@dataclass(frozen=True)
class Episode:
    """A finished episode. ``params_*`` are plain name → value maps (as written), so a
    scratchpad naming a parameter this ripmap no longer has still loads."""

    episode: int
    timestamp: str = ""
    episodes_total: int = 0
    min_confidence: float = 0.0
    params_before: Mapping[str, float] = field(default_factory=dict)
    params_after: Mapping[str, float] = field(default_factory=dict)
    ndcg_before: float | None = None
    ndcg_after: float | None = None
    holdout_before: float | None = None
    holdout_after: float | None = None
    failures: int = 0  # train cases below the failure threshold at the start of the episode
    failures_shown: tuple[Failure, ...] = ()
    prompt_sha256: str = ""
    raw_reply: str = ""
    reasoning: str = ""
    proposed_changes: Any = None  # the reply's proposed_changes exactly as sent (None without JSON)
    proposal: Mapping[str, Any] = field(default_factory=dict)  # what of the reply passed validation
    applied: Mapping[str, Applied] = field(default_factory=dict)
    rejected: tuple[Rejection, ...] = ()
    parse_errors: tuple[str, ...] = ()
    confidence: float | None = None
    agent: str = ""
    error: str | None = None
    latency_s: float | None = None
    attempts: int | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    flags: tuple[str, ...] = ()
    duration_s: float = 0.0
    trial: int | None = None  # the study trial that recorded it (None: written before episodes went to the study)
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys written by another version, kept as they were

    @property
    def delta(self) -> float | None:
        """Train NDCG@10 change the episode made (None when either end is missing)."""
        if self.ndcg_after is None or self.ndcg_before is None:
            return None
        return self.ndcg_after - self.ndcg_before

    @property
    def capsule(self) -> str:
        return str(self.proposal.get("strategy_capsule") or "")

    def stated(self, kind: str) -> list[str]:
        """The agent's ``param_interactions`` or ``structural_insights`` in this episode."""
        return [s for s in self.proposal.get(kind) or () if isinstance(s, str)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "episode": self.episode, "timestamp": self.timestamp, "episodes_total": self.episodes_total,
            "min_confidence": self.min_confidence, "params_before": dict(self.params_before),
            "params_after": dict(self.params_after), "ndcg_before": self.ndcg_before, "ndcg_after": self.ndcg_after,
            "holdout_before": self.holdout_before, "holdout_after": self.holdout_after, "failures": self.failures,
            "failures_shown": [f.to_dict() for f in self.failures_shown], "prompt_sha256": self.prompt_sha256,
            "raw_reply": self.raw_reply, "reasoning": self.reasoning, "proposed_changes": self.proposed_changes,
            "proposal": dict(self.proposal), "applied": {p: a.to_dict() for p, a in self.applied.items()},
            "rejected": [r.to_dict() for r in self.rejected], "parse_errors": list(self.parse_errors),
            "confidence": self.confidence, "agent": self.agent, "error": self.error, "latency_s": self.latency_s,
            "attempts": self.attempts, "tokens": {"in": self.tokens_in, "out": self.tokens_out},
            "flags": list(self.flags), "duration_s": self.duration_s,
            **({"trial": self.trial} if self.trial is not None else {}), **self.extra,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Episode":
        """The record of a scratchpad entry; raises ``KeyError`` / ``ValueError`` only
        when ``episode`` itself is missing or not a number."""
        known = {f.name for f in fields(cls)} | {"tokens"}
        tokens = d.get("tokens") if isinstance(d.get("tokens"), Mapping) else {}
        applied = d.get("applied") if isinstance(d.get("applied"), Mapping) else {}
        return cls(
            episode=int(d["episode"]), timestamp=str(d.get("timestamp") or ""),
            episodes_total=int(d.get("episodes_total") or 0), min_confidence=float(d.get("min_confidence") or 0.0),
            params_before=dict(d.get("params_before") or {}), params_after=dict(d.get("params_after") or {}),
            ndcg_before=_num(d.get("ndcg_before")), ndcg_after=_num(d.get("ndcg_after")),
            holdout_before=_num(d.get("holdout_before")), holdout_after=_num(d.get("holdout_after")),
            failures=int(d.get("failures") or 0),
            failures_shown=tuple(Failure.from_dict(f) for f in d.get("failures_shown") or () if isinstance(f, Mapping)),
            prompt_sha256=str(d.get("prompt_sha256") or ""), raw_reply=str(d.get("raw_reply") or ""),
            reasoning=str(d.get("reasoning") or ""), proposed_changes=d.get("proposed_changes"),
            proposal=dict(d.get("proposal") or {}),
            applied={str(p): Applied.from_dict(a) for p, a in applied.items() if isinstance(a, Mapping)},
            rejected=tuple(Rejection.from_dict(r) for r in d.get("rejected") or () if isinstance(r, Mapping)),
            parse_errors=tuple(str(x) for x in d.get("parse_errors") or ()), confidence=_num(d.get("confidence")),
            agent=str(d.get("agent") or ""), error=None if d.get("error") is None else str(d["error"]),
            latency_s=_num(d.get("latency_s")), attempts=d.get("attempts"),
            tokens_in=tokens.get("in"), tokens_out=tokens.get("out"),
            flags=tuple(str(x) for x in d.get("flags") or ()), duration_s=float(d.get("duration_s") or 0.0),
            trial=d["trial"] if isinstance(d.get("trial"), int) and not isinstance(d.get("trial"), bool) else None,
            extra={k: v for k, v in d.items() if k not in known},
        )


__all__ = ["Episode", "FLAG_AGENT_ERROR", "FLAG_LOCK_IN", "FLAG_LOW_CONF", "FLAG_SCHEMA", "StartPoint"]
