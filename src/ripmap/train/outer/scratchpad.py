"""``outer_scratchpad.json``: an outer run's memory, one episode per finished outer step.

Each episode (the seeds' name for a step record) says which promptgram ran and why
(selection), the inner run it made (a complete L1 run folder under ``inner_runs/``), where
that run started and ended (``final_params``, ``final_metrics``), its strategy capsules and
the parameters L1 moved, the diagnostics, what L2 was asked and answered (``proposal``,
``rationale``, the refused edits with their reasons) and the child promptgram, if any.

The file also holds ``pending``: the step being run (its version and start point),
written before its inner run starts, so a run killed mid-step resumes the same step with
the same promptgram, and the inner run continues from its last finished episode. The
file is written atomically after every step: a finished step is never lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ...errors import RipmapError
from ..files import atomic_write_json, read_json

OUTER_SCRATCHPAD = "outer_scratchpad.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class OuterStep:
    """A finished outer step."""

    outer_step: int
    promptgram: str
    parent: str | None
    timestamp: str = ""
    selection: Mapping[str, Any] = field(default_factory=dict)
    inner_run: str = ""
    warm_start: Mapping[str, Any] | None = None
    start_params: Mapping[str, float] = field(default_factory=dict)
    start_metrics: Mapping[str, Any] = field(default_factory=dict)
    final_params: Mapping[str, float] = field(default_factory=dict)
    final_metrics: Mapping[str, Any] = field(default_factory=dict)
    strategy_capsules: tuple[str, ...] = ()
    moved_params: Mapping[str, Any] = field(default_factory=dict)
    inner: Mapping[str, Any] = field(default_factory=dict)  # the inner summary (trajectory, effects, flags)
    diagnostics: tuple[Mapping[str, Any], ...] = ()
    l2: Mapping[str, Any] = field(default_factory=dict)
    proposal: Mapping[str, Any] = field(default_factory=dict)  # {"edits": [the edits applied]}
    rationale: str = ""
    refused: tuple[Mapping[str, Any], ...] = ()
    child: str | None = None
    child_note: str = ""
    duration_s: float = 0.0

    @property
    def score(self) -> float | None:
        v = self.final_metrics.get("score")
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def to_dict(self) -> dict[str, Any]:
        return {"outer_step": self.outer_step, "timestamp": self.timestamp, "promptgram": self.promptgram,
                "parent": self.parent, "selection": dict(self.selection), "inner_run": self.inner_run,
                "warm_start": dict(self.warm_start) if self.warm_start else None,
                "start_params": dict(self.start_params), "start_metrics": dict(self.start_metrics),
                "final_params": dict(self.final_params), "final_metrics": dict(self.final_metrics),
                "strategy_capsules": list(self.strategy_capsules), "moved_params": dict(self.moved_params),
                "inner": dict(self.inner), "diagnostics": [dict(d) for d in self.diagnostics], "l2": dict(self.l2),
                "proposal": dict(self.proposal), "rationale": self.rationale,
                "refused": [dict(r) for r in self.refused], "child": self.child, "child_note": self.child_note,
                "duration_s": self.duration_s}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "OuterStep":
        def m(k: str) -> dict:
            v = d.get(k)
            return dict(v) if isinstance(v, Mapping) else {}

        return cls(outer_step=int(d["outer_step"]), promptgram=str(d.get("promptgram", "")),
                   parent=d.get("parent") or None, timestamp=str(d.get("timestamp") or ""),
                   selection=m("selection"), inner_run=str(d.get("inner_run") or ""),
                   warm_start=m("warm_start") or None, start_params=m("start_params"),
                   start_metrics=m("start_metrics"), final_params=m("final_params"),
                   final_metrics=m("final_metrics"),
                   strategy_capsules=tuple(str(c) for c in d.get("strategy_capsules") or ()),
                   moved_params=m("moved_params"), inner=m("inner"),
                   diagnostics=tuple(x for x in d.get("diagnostics") or () if isinstance(x, Mapping)),
                   l2=m("l2"), proposal=m("proposal"), rationale=str(d.get("rationale") or ""),
                   refused=tuple(x for x in d.get("refused") or () if isinstance(x, Mapping)),
                   child=d.get("child") or None, child_note=str(d.get("child_note") or ""),
                   duration_s=float(d.get("duration_s") or 0.0))


@dataclass
class OuterScratchpad:
    """The outer run's record: finished steps, the population, the pending step, the judgement."""

    run: str
    population: list[dict[str, Any]] = field(default_factory=list)  # {"version", "parent", "born"} in order
    episodes: list[OuterStep] = field(default_factory=list)
    pending: dict[str, Any] | None = None
    judge: dict[str, Any] | None = None

    @property
    def last_step(self) -> int:
        return self.episodes[-1].outer_step if self.episodes else 0

    def add_member(self, version: str, parent: str | None, born: int) -> None:
        if not any(p["version"] == version for p in self.population):
            self.population.append({"version": version, "parent": parent, "born": born})

    def add_step(self, rec: OuterStep) -> None:
        if rec.outer_step != self.last_step + 1:
            raise RipmapError(f"outer scratchpad {self.run}: step {rec.outer_step} recorded after {self.last_step}")
        self.episodes.append(rec)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "run": self.run, "population": [dict(p) for p in self.population],
                "episodes": [e.to_dict() for e in self.episodes], "pending": self.pending, "judge": self.judge}

    @classmethod
    def from_dict(cls, d: Any, run: str = "") -> "OuterScratchpad":
        if not isinstance(d, dict) or not isinstance(d.get("episodes"), list):
            raise RipmapError(f"outer scratchpad {run or '?'}: not an outer scratchpad (no 'episodes' list)")
        sp = cls(run=str(d.get("run") or run), population=[dict(p) for p in d.get("population") or ()
                                                           if isinstance(p, Mapping) and p.get("version")],
                 pending=d.get("pending") if isinstance(d.get("pending"), dict) else None,
                 judge=d.get("judge") if isinstance(d.get("judge"), dict) else None)
        for i, e in enumerate((e for e in d["episodes"] if isinstance(e, Mapping)), 1):
            try:
                rec = OuterStep.from_dict(e)
            except (KeyError, TypeError, ValueError) as err:
                raise RipmapError(f"outer scratchpad {sp.run}: step at position {i} is unreadable ({err})") from None
            if rec.outer_step != i:
                raise RipmapError(f"outer scratchpad {sp.run}: steps are not numbered 1..{i}")
            sp.episodes.append(rec)
        return sp

    def save(self, run_dir: str | Path) -> None:
        atomic_write_json(Path(run_dir) / OUTER_SCRATCHPAD, self.to_dict())

    @classmethod
    def load(cls, run_dir: str | Path) -> "OuterScratchpad":
        run_dir = Path(run_dir)
        return cls.from_dict(read_json(run_dir / OUTER_SCRATCHPAD), run=run_dir.name)


__all__ = ["OUTER_SCRATCHPAD", "OuterScratchpad", "OuterStep"]
