"""The L1 prompt: promptgram, then the episode state, then the shipped protocol (last).

The state is Markdown: metrics, every parameter with its bounds and meaning, the
trajectory (best points and recent episodes, with what was rejected and why), the
failures shown (sampled across repositories, tasks and kinds; see :mod:`.rotation`) with
NDCG per task and repository, each with its task, repository, kind and a per-signal
table, and the insights gathered so far.

Only train figures are shown. The validation split selects the run's final point, so an
agent that steered by it would make that selection meaningless; held-out repositories
(test cases) are never measured before the run ends. Neither reaches the prompt or the
structured context. The same state gives
the same text byte for byte, which is what makes a run replayable from its stored replies.
:func:`agent_context` is the structured twin of the same state, for agents that compute
rather than read (the offline ``heuristic`` agent).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ...rank.params import NAMES, REGISTRY, Params
from ..cases.oracle import TASKS
from ..evaluation.evaluator import EvalResult, Failure
from ..evaluation.failures import diagnose, tally
from ..numbers import fixed
from ..vocabulary import ADDITIVE_SIGNALS, KIND_MEANING
from .episode import FLAG_AGENT_ERROR, FLAG_LOW_CONF, Episode, StartPoint
from .promptgram import Promptgram
from .protocol import assemble
from .scratchpad import BestPoint, evaluated_points

RECENT_EPISODES_SHOWN = 6
BEST_POINTS_SHOWN = 5
INSIGHTS_SHOWN = 8
LOCK_IN_EPISODES = 5
"""Identical parameters after this many consecutive episodes is "basin lock-in"."""
TASK_QUERY = {"A": "the seed file in the chat", "A+msg": "the seed file in the chat + the commit message as focus",
              "B": "the commit message as focus (no file in the chat)"}
"""What the ranker was given for each task."""


@dataclass(frozen=True)
class Slice:
    """One row of the per-task / per-repository table: train cases, NDCG@10, failing, shown."""

    group: str  # "task" | "repo"
    name: str
    cases: int
    ndcg: float
    failing: int
    shown: int


def slices(res: EvalResult, threshold: float, shown: Sequence[Failure]) -> tuple[Slice, ...]:
    """Rows per task (in task order) and per repository (by name) of a train result."""
    out: list[Slice] = []
    for group, attr, table in (("task", "task", res.by_task), ("repo", "repo", res.by_repo)):
        names = [t for t in TASKS if t in table] if group == "task" else sorted(table)
        for name in names:
            failing = sum(1 for c, m in res.per_case if getattr(c, attr) == name and m.ndcg_10 < threshold)
            out.append(Slice(group, name, int(table[name].get("n", 0)), float(table[name].get("ndcg@10", 0.0)),
                             failing, sum(1 for f in shown if getattr(f, attr) == name)))
    return tuple(out)


@dataclass(frozen=True)
class PromptState:
    """Everything an episode's prompt is made of; the same state gives the same text."""

    episode: int
    episodes_total: int
    params: Params
    ndcg: float
    best: BestPoint
    n_train: int
    n_failing: int
    failure_threshold: float
    failures: tuple[Failure, ...]
    history: tuple[Episode, ...]  # finished episodes
    start: StartPoint | None
    insights: Mapping[str, Sequence[str]] = field(default_factory=dict)
    unchanged_for: int = 0  # trailing finished episodes that all ended on the current parameters
    failure_pool: int = 0  # explained failing cases the shown ones were drawn from
    new_failures: int | None = None  # of the shown ones, never shown before (None: not tracked)
    slices: tuple[Slice, ...] = ()  # per task and per repository


def _g(x: float) -> str:
    return f"{x:.6g}"


def _points(start: StartPoint | None, history: Sequence[Episode]) -> list[tuple[float, dict, str]]:
    """Distinct evaluated points (train, params, label), first label wins."""
    return [(tr, ps, "start" if ep == 0 else f"after episode {ep}")
            for tr, _ho, ps, ep in evaluated_points(start, history)]


def _diff(ps: Mapping[str, float], ref: Mapping[str, float]) -> str:
    d = [f"{n}={_g(ps[n])}" for n in NAMES if n in ps and ps[n] != ref[n]]
    return ", ".join(d) if d else "(the current parameters)"


def episode_line(e: Episode) -> str:
    """One finished episode as the agent sees it in the trajectory."""
    n = e.episode
    if FLAG_AGENT_ERROR in e.flags:
        return f"- episode {n}: agent error ({e.error or 'unknown'}); nothing applied"
    delta = e.delta if e.ndcg_after is not None else 0.0
    parts = [f"- episode {n}: train {fixed(e.ndcg_before)} → {fixed(e.ndcg_after)} ({(delta or 0.0):+.4f})"]
    parts.append(f"confidence {fixed(e.confidence, 2) if e.confidence is not None else 'missing'}")
    if e.capsule:
        parts.append(f'capsule "{e.capsule}"')
    if e.applied:
        parts.append("applied " + ", ".join(
            f"{p} {a.direction} {a.magnitude} ({_g(a.before)} → {_g(a.after)})" for p, a in sorted(e.applied.items())))
    else:
        parts.append("nothing applied")
    if e.rejected:
        parts.append("rejected " + "; ".join(f"{r.param}: {r.reason}" for r in e.rejected))
    if e.parse_errors:
        parts.append("reply problems: " + "; ".join(e.parse_errors))
    flags = [f for f in e.flags if f != FLAG_LOW_CONF]
    if flags:
        parts.append("flags " + ", ".join(flags))
    return "; ".join(parts)


def why_line(f: Failure) -> str:
    """The failure's kind in words: which signal held its best expected file back most."""
    d = diagnose(f.explanations)
    kind = f.kind or d.kind  # a record from an older run has no kind: classify it now
    meaning = KIND_MEANING.get(kind, kind)
    if d.expected is None or d.top is None or kind in ("unmapped", "other"):
        return f"kind {kind}: {meaning}"
    if kind == "unreachable":
        return f"kind {kind}: {d.expected} (rank {d.expected_rank}) scores 0; no signal reaches it"
    parts = ", ".join(f"{n} {t:.2f}" for t, n in sorted(((t, n) for n, t in d.signal_terms.items() if t > 0.005),
                                                         reverse=True)[:3])
    return (f"kind {kind}: {d.expected} (rank {d.expected_rank}) is furthest behind {d.top} (rank {d.top_rank}) "
            f"in {meaning}; log-score gap {d.gap:.2f}" + (f", of which {parts}" if parts else ""))


def format_failure(i: int, f: Failure) -> str:
    """A failure as text: task, repository, kind and the case, then one compact table row per explained file."""
    lines = [f"### Failure {i}: task {f.task}, repo \"{f.repo}\" ({f.file_count} files), NDCG@10 {fixed(f.ndcg)}, "
             f"kind {f.kind or diagnose(f.explanations).kind}",
             why_line(f),
             f"query: {TASK_QUERY.get(f.task, f.task)}",
             f"commit {f.commit[:10]} ({f.intent}): {f.message}"]
    if f.seed_file:
        lines.append(f"seed file (the file being worked on): {f.seed_file}")
    lines += [f"expected ({'changed in the commit' if not f.seed_file else 'changed with it'}): "
              f"{', '.join(f.expected_top) or '-'}",
              f"ranked top 5 instead: {', '.join(f.actual_top) or '-'}"]
    rows = sorted(f.explanations, key=lambda r: (r.get("rank", 0), r.get("path", "")))
    if rows:
        weights: dict[str, Any] = {}
        for s in rows[0].get("signals", []):
            if s.get("kind") == "additive":
                weights[s["signal"]] = s.get("weight")
        lines.append("additive weights: " + ", ".join(
            f"{k} {_g(w) if isinstance(w, (int, float)) else '?'}" for k, w in weights.items())
            + "; cells are contribution to the score (raw signal value)")
        header = f"{'rank':>4}  {'score':>9}  " + "  ".join(f"{k:>18}" for k in ADDITIVE_SIGNALS) + \
                 f"  {'multipliers (≠1)':<28} exp  file"
        lines.append(header)
        for r in rows:
            sig = {s["signal"]: s for s in r.get("signals", [])}
            cells = []
            for k in ADDITIVE_SIGNALS:
                s = sig.get(k)
                cells.append(f"{'-':>18}" if s is None else
                             f"{format(s['contribution'], '.4g') + ' (' + format(s['value'], '.3g') + ')':>18}")
            mult = " ".join(f"{s['signal']}×{s['contribution']:.3g}" for s in r.get("signals", [])
                            if s.get("kind") == "multiplier" and abs(float(s["contribution"]) - 1.0) > 1e-9)
            lines.append(f"{r.get('rank', '?'):>4}  {float(r.get('score', 0.0)):>9.4g}  " + "  ".join(cells)
                         + f"  {mult or 'none':<28} {'yes' if r.get('expected') else 'no ':<4} {r.get('path')}")
    return "\n".join(lines)


def format_state(s: PromptState) -> str:
    """The episode state as Markdown sections: metrics, parameters, trajectory, failures, insights."""
    out: list[str] = ["## Metrics", ""]
    out.append(f"Episode {s.episode} of {s.episodes_total}.")
    out.append(f"Train NDCG@10: {fixed(s.ndcg)} ({s.n_train} train cases; {s.n_failing} below the failure "
               f"threshold {s.failure_threshold:g}).")
    where = "the starting point" if not s.best.episode else f"after episode {s.best.episode}"
    out.append(f"Best so far: train {fixed(s.best.train)} ({where}).")
    if s.unchanged_for >= 2:
        out.append(f"The last {s.unchanged_for} episodes all ended on these same parameter values"
                   + (" (basin lock-in): make a bold move on a parameter no recent episode touched."
                      if s.unchanged_for >= LOCK_IN_EPISODES else "."))

    out += ["", "## Parameters", "", "name = value [low, high] scale: meaning"]
    for p in REGISTRY:
        v = s.params[p.name]
        at = " (at lower bound)" if v <= p.low else " (at upper bound)" if v >= p.high else ""
        out.append(f"- {p.name} = {_g(v)}{at} [{_g(p.low)}, {_g(p.high)}] {p.scale}: {p.meaning}")

    out += ["", "## Trajectory", ""]
    pts = _points(s.start, s.history)
    if len(pts) <= 1 and not s.history:
        out.append("No episodes yet: this is the starting point.")
    else:
        best = sorted(pts, key=lambda t: -t[0])[:BEST_POINTS_SHOWN]
        out.append("Best points so far (best last; parameter values that differ from the current ones):")
        for tr, ps, label in reversed(best):
            out.append(f"- train {fixed(tr)} ({label}): {_diff(ps, s.params)}")
        recent = s.history[-RECENT_EPISODES_SHOWN:]
        out += ["", f"Recent episodes (oldest first, last {len(recent)} of {len(s.history)}):"]
        out += [episode_line(e) for e in recent]

    out += ["", "## Failures", ""]
    if not s.failures:
        out.append(f"No train case is below the failure threshold {s.failure_threshold:g}. Look for changes that "
                   f"raise NDCG further without lowering it on any case.")
    else:
        pool = f" from {s.failure_pool} explained failing cases" if s.failure_pool else ""
        new = (f"; {s.new_failures} of them not shown in an earlier episode"
               if s.new_failures is not None and s.history else "")
        out.append(f"{s.n_failing} of {s.n_train} train cases fail. {len(s.failures)} are shown, sampled across "
                   f"repositories, tasks and failure kinds{pool} (failures not shown before come first{new}).")
    if s.slices:
        out += ["", f"{'':<16}{'cases':>7}{'NDCG@10':>9}{'failing':>9}{'shown':>7}"]
        out += [f"{s_.group + ' ' + s_.name:<16}{s_.cases:>7}{s_.ndcg:>9.4f}{s_.failing:>9}{s_.shown:>7}"
                for s_ in s.slices]
    if s.failures:
        out += ["", "Kinds shown (the signal in which a failure's best expected file is furthest behind the "
                    "top-ranked file): " + tally(f.kind or diagnose(f.explanations).kind for f in s.failures)]
        for i, f in enumerate(s.failures, 1):
            out += ["", format_failure(i, f)]

    out += ["", "## Insights", ""]
    titles = (("param_interactions", "Parameter interactions stated in earlier episodes"),
              ("structural_insights", "Structural insights from earlier episodes"),
              ("success_patterns", "Changes that raised train NDCG"),
              ("failure_patterns", "Changes that lowered train NDCG"))
    any_ = False
    for key, title in titles:
        items = list(s.insights.get(key) or [])
        if key in ("param_interactions", "structural_insights"):
            items = items[-INSIGHTS_SHOWN:]
        if items:
            any_ = True
            out.append(f"{title}:")
            out += [f"- {x}" for x in items]
            out.append("")
    if not any_:
        out.append("None yet.")
    return "\n".join(out).rstrip() + "\n"


def build_prompt(promptgram: Promptgram, state: PromptState) -> str:
    """Promptgram, then the state, then the shipped protocol (always last)."""
    return assemble(promptgram.render(), format_state(state))


def agent_context(s: PromptState, promptgram: Promptgram | None = None) -> dict:
    """Structured twin of the prompt for agents that compute rather than read (``heuristic``).

    With ``promptgram``, its sections (name → body) are part of it: the promptgram is part
    of the prompt, and its directives are how it steers an agent that does not read prose."""
    return {
        **({"promptgram": dict(promptgram.sections)} if promptgram is not None else {}),
        "params": s.params.to_dict(),
        "bounds": {p.name: [p.low, p.high, p.scale] for p in REGISTRY},
        "ndcg": s.ndcg,
        "best_ndcg": s.best.train,
        "episode": s.episode,
        "episodes_total": s.episodes_total,
        "trajectory": [{"episode": e.episode, "ndcg_before": e.ndcg_before, "ndcg_after": e.ndcg_after,
                        "applied": {p: [a.direction, a.magnitude, a.before] for p, a in e.applied.items()}}
                       for e in s.history],
        "failures": [f.to_dict() for f in s.failures],
    }


__all__ = ["LOCK_IN_EPISODES", "PromptState", "Slice", "TASK_QUERY", "agent_context", "build_prompt", "episode_line",
           "format_failure", "format_state", "slices", "why_line"]
