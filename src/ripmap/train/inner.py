"""L1: the reasoning loop that tunes ranking parameters from ranking failures.

One episode: evaluate the current point → show the worst failures (with per-signal
attributions), the trajectory and the accumulated insights to an agent → parse its
``{param: [direction, magnitude, rationale]}`` reply → step the parameters → evaluate
the new point, which is also the next episode's starting measurement (each point is
evaluated once).

Three rules keep a long run trustworthy:

* **Nothing is coerced.** A reply is validated field by field; an unknown parameter, a
  direction or magnitude outside the protocol's words, a wrong type or a missing
  confidence is rejected *with its reason*, recorded in the episode and shown to the
  agent next time. A parse that silently "fixed" replies would hide a broken prompt.
* **Steps follow each parameter's own scale** (log: multiplicative, linear: a fraction
  of the range) and are clamped to the registry bounds, so no magnitude word can push
  a parameter out of range or to zero.
* **Every finished episode is on disk before the next one starts**, written
  atomically; ``--resume`` continues from the last finished episode and ``--replay``
  re-runs a loop from the stored replies, reproducing it exactly.

A change that lowers train NDCG is kept: the next episode starts from the new point and
its prompt shows the measured effect, so the agent can revert (or learn why). The best
point is tracked separately and is what ``results.trained.json`` holds.

Each episode is also added to the run's Optuna study as a trial, so an L1 run can be
compared with the classical samplers on the same footing.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter, ValidationError

from ..errors import RipmapError, UsageError
from ..rank.params import NAMES, REGISTRY, SPECS, ParamSpec, Params
from .promptgram import Promptgram, load_promptgram, parse_promptgram
from .protocol import JSON_MARKER, LINEAR_FRACTIONS, LOG_FACTORS, assemble, protocol_sha256
from .scratchpad import Scratchpad, atomic_write_json, atomic_write_text, evaluated_points, read_json

MAX_FAILURES_SHOWN = 5
RECENT_EPISODES_SHOWN = 6
BEST_POINTS_SHOWN = 5
INSIGHTS_SHOWN = 8
SCHEMA_CORRUPTION_CHARS = 200
"""Reasoning longer than this with no usable change is the seeds' "schema corruption"."""
PLOT_EVERY_S = 15.0
"""progress.png is redrawn at most this often (and always after the last episode): a
matplotlib dashboard costs about a second, more than a heuristic episode itself."""
LOCK_IN_EPISODES = 5
"""Identical parameters after this many consecutive episodes is "basin lock-in"."""

FLAG_SCHEMA = "schema_corruption"
FLAG_LOCK_IN = "basin_lock_in"
FLAG_LOW_CONF = "low_confidence"
FLAG_AGENT_ERROR = "agent_error"


# =========================================================================================
# Reply parsing and validation
# =========================================================================================

class Change(BaseModel):
    """One validated proposed change. Strict: the protocol's words or nothing."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    param: StrictStr
    direction: Literal["increase", "decrease"]
    magnitude: Literal["small", "medium", "large"]
    rationale: StrictStr

    def as_list(self) -> list[str]:
        return [self.direction, self.magnitude, self.rationale]


class Proposal(BaseModel):
    """The validated content of a reply: only fields that passed validation survive."""

    model_config = ConfigDict(frozen=True)

    strategy_capsule: str = ""
    diagnosis: str = ""
    param_interactions: list[str] = Field(default_factory=list)
    structural_insights: list[str] = Field(default_factory=list)
    proposed_changes: dict[str, list[str]] = Field(default_factory=dict)
    confidence: float | None = None


_STR = TypeAdapter(StrictStr)
_STR_LIST = TypeAdapter(list[StrictStr])
_CONFIDENCE = TypeAdapter(Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)])


@dataclass
class ParsedReply:
    """What a reply said, what of it is usable, and every reason something was not."""

    reasoning: str
    data: dict | None  # the JSON object as sent (None when none could be read)
    proposal: Proposal
    changes: list[Change]
    rejected: list[dict]  # [{param, reason}] for individual changes
    errors: list[str]  # problems with the reply as a whole (no JSON, bad confidence, ...)

    @property
    def confidence(self) -> float | None:
        return self.proposal.confidence


_MARKER = re.compile(r"^[ \t>*_#]*(REASONING|JSON)[ \t*_]*:[*_]*", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)


def _scan_object(text: str, start: int) -> int | None:
    """End (exclusive) of the balanced ``{...}`` starting at ``start``; braces inside strings don't count."""
    depth = 0
    in_str = esc = False
    for i in range(start, len(text)):
        c = text[i]
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _top_level_objects(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i = 0
    while (j := text.find("{", i)) >= 0:
        end = _scan_object(text, j)
        if end is None:
            i = j + 1
            continue
        out.append((j, end))
        i = end
    return out


def _loads_object(s: str, where: str) -> tuple[dict | None, str | None]:
    try:
        obj = json.loads(s)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON {where}: {e.msg} (line {e.lineno}, column {e.colno})"
    if not isinstance(obj, dict):
        return None, f"JSON {where} is a {type(obj).__name__}, not an object"
    return obj, None


def split_reply(text: str) -> tuple[str, dict | None, str | None]:
    """(reasoning, JSON object or None, error or None) from a free-form reply.

    Where the JSON is looked for, in order: after the last ``JSON:`` marker; else in the
    last fenced code block holding an object; else the last balanced ``{...}`` in the
    text that parses. When a marker or fence is present only that is tried, since an
    earlier object is more likely an example quoted in the reasoning than the answer.
    """
    marks = list(_MARKER.finditer(text))
    json_marks = [m for m in marks if m.group(1).upper() == "JSON"]
    reason_marks = [m for m in marks if m.group(1).upper() == "REASONING"]
    data: dict | None = None
    error: str | None = None
    json_start = len(text)
    fences = [m for m in _FENCE.finditer(text) if m.group(1).strip().startswith("{")]
    if json_marks:
        jm = json_marks[-1]
        json_start = jm.start()
        j = text.find("{", jm.end())
        end = _scan_object(text, j) if j >= 0 else None
        if j < 0:
            error = f"no JSON object after the {JSON_MARKER} marker"
        elif end is None:
            error = f"unbalanced braces in the JSON after the {JSON_MARKER} marker"
        else:
            data, error = _loads_object(text[j:end], f"after the {JSON_MARKER} marker")
    elif fences:
        fm = fences[-1]
        json_start = fm.start()
        data, error = _loads_object(fm.group(1).strip(), "in the fenced block")
    else:
        objs = _top_level_objects(text)
        last_error = None
        for a, b in reversed(objs):
            obj, err = _loads_object(text[a:b], "in the reply")
            if obj is not None:
                data, json_start = obj, a
                break
            last_error = last_error or err
        if data is None:
            error = last_error or "no JSON object found in the reply"
    if reason_marks:
        a = reason_marks[0].end()
        b = json_start if json_start > a else len(text)
        reasoning = text[a:b].strip()
    else:
        reasoning = text[:json_start].strip()
    return reasoning, data, error


def _fmt_error(err: Mapping[str, Any]) -> str:
    loc = ".".join(str(x) for x in err.get("loc", ()))
    return f"{loc + ': ' if loc else ''}{err.get('msg', 'invalid')} (got {err.get('input')!r})"


def _first_error(e: ValidationError) -> str:
    return _fmt_error(e.errors()[0])


def _closest(name: str, known: Iterable[str]) -> str:
    near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f"; did you mean '{near[0]}'?" if near else ""


def validate_change(param: str, value: Any, known: Mapping[str, ParamSpec] = SPECS) -> tuple[Change | None, str | None]:
    """A :class:`Change`, or the reason the entry is rejected."""
    if param not in known:
        return None, f"unknown parameter{_closest(param, known)}"
    if not isinstance(value, list):
        return None, f"expected a list [direction, magnitude, rationale], got {type(value).__name__} {value!r}"
    if len(value) != 3:
        return None, f"expected 3 elements [direction, magnitude, rationale], got {len(value)}"
    try:
        return Change.model_validate({"param": param, "direction": value[0], "magnitude": value[1],
                                      "rationale": value[2]}), None
    except ValidationError as e:
        return None, "; ".join(_fmt_error(x) for x in e.errors())


def validate_proposal(data: dict, known: Mapping[str, ParamSpec] = SPECS) -> tuple[Proposal, list[Change], list[dict], list[str]]:
    """Validate a reply object field by field: keep what is valid, record the rest."""
    errors: list[str] = []
    fields: dict[str, Any] = {}
    for key in ("strategy_capsule", "diagnosis"):
        if key in data:
            try:
                fields[key] = _STR.validate_python(data[key])
            except ValidationError as e:
                errors.append(f"{key}: {_first_error(e)}; ignored")
    for key in ("param_interactions", "structural_insights"):
        if key in data:
            try:
                fields[key] = _STR_LIST.validate_python(data[key])
            except ValidationError as e:
                errors.append(f"{key}: must be a list of strings, {_first_error(e)}; ignored")
    changes: list[Change] = []
    rejected: list[dict] = []
    raw = data.get("proposed_changes")
    if "proposed_changes" not in data:
        errors.append("proposed_changes missing")
    elif not isinstance(raw, dict):
        errors.append(f"proposed_changes must be an object {{param: [direction, magnitude, rationale]}}, "
                      f"got {type(raw).__name__}")
    else:
        for param, value in raw.items():
            ch, why = validate_change(param, value, known)
            if ch is None:
                rejected.append({"param": param, "reason": why})
            else:
                changes.append(ch)
    if "confidence" not in data:
        errors.append("confidence missing (treated as 0: nothing applied)")
    else:
        try:
            fields["confidence"] = _CONFIDENCE.validate_python(data["confidence"])
        except ValidationError as e:
            errors.append(f"confidence: {_first_error(e)}; must be a number in [0, 1] (treated as 0: nothing applied)")
    fields["proposed_changes"] = {c.param: c.as_list() for c in changes}
    return Proposal(**fields), changes, rejected, errors


def parse_reply(text: str, known: Mapping[str, ParamSpec] = SPECS) -> ParsedReply:
    """Extract ``REASONING:`` / ``JSON:`` from a reply and validate the proposal."""
    if not text or not text.strip():
        return ParsedReply("", None, Proposal(), [], [], ["empty reply"])
    reasoning, data, error = split_reply(text)
    if data is None:
        return ParsedReply(reasoning, None, Proposal(), [], [], [error or "no JSON object found in the reply"])
    proposal, changes, rejected, errors = validate_proposal(data, known)
    return ParsedReply(reasoning, data, proposal, changes, rejected, errors)


# =========================================================================================
# Applying changes
# =========================================================================================

def step_value(spec: ParamSpec, value: float, direction: str, magnitude: str) -> float:
    """One step of ``magnitude`` in ``direction`` along the parameter's own scale, clamped.

    Log-scaled parameters move multiplicatively (×1.1 / ×1.3 / ×2 up; ×0.9 / ×0.7 / ÷2
    down), so a "large decrease" halves and can never reach zero; linear parameters move
    by 5% / 15% / 30% of their range. Both are clamped to the registry bounds.
    """
    if direction not in ("increase", "decrease") or magnitude not in LINEAR_FRACTIONS:
        raise ValueError(f"bad step {direction!r} {magnitude!r}")
    up = direction == "increase"
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


@dataclass
class Decision:
    params: Params
    applied: dict[str, dict]  # param → {from, to, direction, magnitude, rationale}
    rejected: list[dict]


def apply_changes(params: Params, changes: Sequence[Change], *, confidence: float | None,
                  min_confidence: float) -> Decision:
    """Apply validated changes when confidence allows; changes that cannot move (at a bound) are rejected."""
    conf = 0.0 if confidence is None else confidence
    if conf < min_confidence:
        why = ("confidence missing or invalid (treated as 0)" if confidence is None
               else f"confidence {conf:g} below --min-confidence {min_confidence:g}")
        return Decision(params, {}, [{"param": c.param, "reason": f"not applied: {why}"} for c in changes])
    values: dict[str, float] = {}
    applied: dict[str, dict] = {}
    rejected: list[dict] = []
    for c in changes:
        spec = SPECS[c.param]
        old = params[c.param]
        new = step_value(spec, old, c.direction, c.magnitude)
        if new == old:
            bound = "upper" if c.direction == "increase" else "lower"
            rejected.append({"param": c.param, "reason": f"already at its {bound} bound ({old:g}); no change"})
            continue
        values[c.param] = new
        applied[c.param] = {"from": old, "to": new, "direction": c.direction, "magnitude": c.magnitude,
                            "rationale": c.rationale}
    return Decision(params.replace(**values) if values else params, applied, rejected)


# =========================================================================================
# The prompt
# =========================================================================================

@dataclass(frozen=True)
class PromptState:
    """Everything an episode's prompt is made of; the same state gives the same text."""

    episode: int
    episodes_total: int
    params: Params
    ndcg: float
    holdout: float | None
    best: dict  # {"train", "holdout", "episode", "params"}
    n_train: int
    n_failing: int
    failure_threshold: float
    failures: tuple[dict, ...]
    history: tuple[dict, ...]  # finished episode records
    start: dict  # {"params", "train", "holdout"}
    insights: dict[str, list[str]] = field(default_factory=dict)
    unchanged_for: int = 0  # trailing finished episodes that all ended on the current parameters


def _f(x: float | None, nd: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _g(x: float) -> str:
    return f"{x:.6g}"


def _arrow(d: str) -> str:
    return "↑" if d == "increase" else "↓" if d == "decrease" else "?"


def _points(start: dict, history: Sequence[dict]) -> list[tuple[float, float | None, dict, str]]:
    """Distinct evaluated points (train, holdout, params, label), first label wins."""
    return [(tr, ho, ps, "start" if ep == 0 else f"after episode {ep}")
            for tr, ho, ps, ep in evaluated_points(start, history)]


def _diff(ps: Mapping[str, float], ref: Mapping[str, float]) -> str:
    d = [f"{n}={_g(ps[n])}" for n in NAMES if n in ps and ps[n] != ref[n]]
    return ", ".join(d) if d else "(the current parameters)"


def _episode_line(e: dict) -> str:
    n = e["episode"]
    if FLAG_AGENT_ERROR in (e.get("flags") or []):
        return f"- episode {n}: agent error ({e.get('error') or 'unknown'}); nothing applied"
    delta = (e["ndcg_after"] - e["ndcg_before"]) if e.get("ndcg_after") is not None else 0.0
    parts = [f"- episode {n}: train {_f(e.get('ndcg_before'))} → {_f(e.get('ndcg_after'))} ({delta:+.4f}), "
             f"holdout {_f(e.get('holdout_before'))} → {_f(e.get('holdout_after'))}"]
    conf = e.get("confidence")
    parts.append(f"confidence {_f(conf, 2) if conf is not None else 'missing'}")
    cap = (e.get("proposal") or {}).get("strategy_capsule")
    if cap:
        parts.append(f'capsule "{cap}"')
    applied = e.get("applied") or {}
    if applied:
        parts.append("applied " + ", ".join(
            f"{p} {a['direction']} {a['magnitude']} ({_g(a['from'])} → {_g(a['to'])})" for p, a in sorted(applied.items())))
    else:
        parts.append("nothing applied")
    rej = e.get("rejected") or []
    if rej:
        parts.append("rejected " + "; ".join(f"{r['param']}: {r['reason']}" for r in rej))
    errs = e.get("parse_errors") or []
    if errs:
        parts.append("reply problems: " + "; ".join(errs))
    flags = [f for f in e.get("flags") or [] if f != FLAG_LOW_CONF]
    if flags:
        parts.append("flags " + ", ".join(flags))
    return "; ".join(parts)


_ADDITIVE = ("structure", "cochange", "lexical", "focus")


def format_failure(i: int, f: Mapping[str, Any]) -> str:
    """A failure as text: the case, then one compact table row per explained file."""
    lines = [f"### Failure {i}: NDCG@10 {_f(f.get('ndcg'))} in repo \"{f.get('repo')}\" ({f.get('file_count')} files)",
             f"commit {str(f.get('commit', ''))[:10]} ({f.get('intent', '?')}): {f.get('message', '')}",
             f"seed file (the file being worked on): {f.get('seed_file')}",
             f"expected (changed with it): {', '.join(f.get('expected_top') or []) or '-'}",
             f"ranked top 5 instead: {', '.join(f.get('actual_top') or []) or '-'}"]
    rows = sorted(f.get("explanations") or [], key=lambda r: (r.get("rank", 0), r.get("path", "")))
    if rows:
        weights: dict[str, Any] = {}
        for s in rows[0].get("signals", []):
            if s.get("kind") == "additive":
                weights[s["signal"]] = s.get("weight")
        lines.append("additive weights: " + ", ".join(
            f"{k} {_g(w) if isinstance(w, (int, float)) else '?'}" for k, w in weights.items())
            + "; cells are contribution to the score (raw signal value)")
        header = f"{'rank':>4}  {'score':>9}  " + "  ".join(f"{k:>18}" for k in _ADDITIVE) + \
                 f"  {'multipliers (≠1)':<28} exp  file"
        lines.append(header)
        for r in rows:
            sig = {s["signal"]: s for s in r.get("signals", [])}
            cells = []
            for k in _ADDITIVE:
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
    out.append(f"Train NDCG@10: {_f(s.ndcg)} ({s.n_train} train cases; {s.n_failing} below the failure "
               f"threshold {s.failure_threshold:g}).")
    out.append(f"Holdout NDCG@10: {_f(s.holdout)} (reported only; holdout cases are never shown).")
    where = "the starting point" if not s.best.get("episode") else f"after episode {s.best['episode']}"
    out.append(f"Best so far: train {_f(s.best.get('train'))}, holdout {_f(s.best.get('holdout'))} ({where}).")
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
        for tr, ho, ps, label in reversed(best):
            out.append(f"- train {_f(tr)}, holdout {_f(ho)} ({label}): {_diff(ps, s.params)}")
        recent = s.history[-RECENT_EPISODES_SHOWN:]
        out += ["", f"Recent episodes (oldest first, last {len(recent)} of {len(s.history)}):"]
        out += [_episode_line(e) for e in recent]

    out += ["", "## Failures", ""]
    if not s.failures:
        out.append(f"No train case is below the failure threshold {s.failure_threshold:g}. Look for changes that "
                   f"raise NDCG further without lowering it on any case.")
    else:
        out.append(f"{s.n_failing} of {s.n_train} train cases fail; the {len(s.failures)} worst:")
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


def agent_context(s: PromptState) -> dict:
    """Structured twin of the prompt for agents that compute rather than read (``heuristic``)."""
    return {
        "params": s.params.to_dict(),
        "bounds": {p.name: [p.low, p.high, p.scale] for p in REGISTRY},
        "ndcg": s.ndcg,
        "holdout_ndcg": s.holdout,
        "best_ndcg": s.best.get("train"),
        "episode": s.episode,
        "episodes_total": s.episodes_total,
        "trajectory": [{"episode": e["episode"], "ndcg_before": e.get("ndcg_before"),
                        "ndcg_after": e.get("ndcg_after"),
                        "applied": {p: [a["direction"], a["magnitude"]] for p, a in (e.get("applied") or {}).items()}}
                       for e in s.history],
        "failures": [dict(f) for f in s.failures],
    }


# =========================================================================================
# The loop
# =========================================================================================

@dataclass
class Measurement:
    """One evaluated point: train result (with failures) and holdout NDCG."""

    params: Params
    train: Any  # EvalResult on the train cases
    holdout: float | None
    n_failing: int

    @property
    def ndcg(self) -> float:
        return float(self.train.ndcg)


@dataclass
class L1Result:
    run: str
    run_dir: Path
    episodes: int
    start_train: float
    best_params: Params
    best_train: float
    best_holdout: float | None
    best_episode: int


def _opt(args: Any, name: str, default: Any = None) -> Any:
    v = getattr(args, name, default)
    return default if v is None else v


def _measure(ev: Any, params: Params) -> Measurement:
    train = ev.evaluate(params, ev.train_cases, explain_failures=True)
    thr = getattr(ev, "failure_threshold", 0.5)
    n_failing = sum(1 for _c, m in train.per_case if m.ndcg_10 < thr)
    hold = ev.holdout_cases
    ho = float(ev.evaluate(params, hold, explain_failures=False).ndcg) if hold else None
    return Measurement(params, train, ho, n_failing)


def worst_failures(res: Any, k: int = MAX_FAILURES_SHOWN) -> list[dict]:
    """The ``k`` worst failures, deterministic (ties broken by repo, commit, seed file)."""
    fs = sorted(res.failures, key=lambda f: (f.ndcg, f.repo, f.commit, f.seed_file))[:k]
    return [f.to_dict() for f in fs]


def _unchanged_streak(episodes: Sequence[dict]) -> int:
    """How many trailing episodes ended on the same parameters as the last one did."""
    if not episodes:
        return 0
    last = episodes[-1].get("params_after")
    n = 0
    for e in reversed(episodes):
        if e.get("params_after") != last:
            break
        n += 1
    return n


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _sanitize_url(url: str | None) -> str | None:
    """Drop user:password from a URL before it is written anywhere."""
    if not url:
        return url
    try:
        u = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    host = u.hostname or ""
    if u.port:
        host = f"{host}:{u.port}"
    return urlunsplit((u.scheme, host, u.path, "", ""))


_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _check_run_name(name: str) -> str:
    if not _RUN_NAME.fullmatch(name):
        raise UsageError(f"run name '{name}' must be letters, digits, '.', '_' or '-' (no path separators)")
    return name


def _live(line: str, args: Any) -> None:
    if sys.stderr.isatty() or _opt(args, "verbose", False):
        print(line, file=sys.stderr, flush=True)


class _Study:
    """The run's Optuna study; each finished episode becomes one trial (idempotent by episode)."""

    def __init__(self, run: str, storage: str) -> None:
        import optuna

        from .space import search_space

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._space = search_space()
        self.study = optuna.create_study(study_name=run, storage=storage, direction="maximize", load_if_exists=True)
        self.study.set_user_attr("strategy", "l1")
        self.done = {t.user_attrs.get("episode") for t in self.study.get_trials(deepcopy=False)}

    def add(self, rec: dict) -> None:
        if rec["episode"] in self.done:
            return
        cap = (rec.get("proposal") or {}).get("strategy_capsule", "")
        trial = self._optuna.trial.create_trial(
            params=dict(rec["params_after"]), distributions=self._space, value=float(rec["ndcg_after"]),
            user_attrs={"reasoning": rec.get("reasoning", ""), "strategy_capsule": cap, "episode": rec["episode"],
                        "agent": rec.get("agent", ""), "holdout_ndcg": rec.get("holdout_after"),
                        "flags": rec.get("flags", [])})
        self.study.add_trial(trial)
        self.done.add(rec["episode"])


class _Loop:
    """State of one run_l1 call: folder, agent, best point, writers."""

    def __init__(self, ev: Any, args: Any, out_dir: Path, start: Params, promptgram: Promptgram | None,
                 agent: Any | None) -> None:
        self.ev = ev
        self.args = args
        self.out_dir = Path(out_dir)
        self.resume = bool(_opt(args, "resume", False))
        self.replay = _opt(args, "replay")
        self.min_conf = float(_opt(args, "min_confidence", 0.3))
        self.episodes_total = int(_opt(args, "episodes", 10))
        if self.episodes_total < 1:
            raise UsageError("--episodes must be at least 1")
        if not ev.train_cases:
            raise UsageError("no train cases to reason about (all cases are holdout; lower --holdout)")
        name = _opt(args, "run_name")
        if self.resume and not name:
            raise UsageError("--resume needs --run-name NAME (ripmap-train --list shows runs)")
        if not name:
            name = datetime.now().strftime("l1-%Y%m%d-%H%M%S")
            base, k = name, 2
            while (self.out_dir / name).exists():
                name, k = f"{base}-{k}", k + 1
        self.run = _check_run_name(name)
        self.run_dir = self.out_dir / self.run
        self.start = start
        self.promptgram = promptgram
        self.injected_agent = agent
        self.source: Path | None = None
        self.plan: list[dict] = []  # the source run's episodes when replaying
        self.last_plot = float("-inf")
        if self.replay:
            self.source = self.out_dir / _check_run_name(str(self.replay))
            if not (self.source / "scratchpad.json").is_file():
                raise UsageError(f"--replay: no run '{self.replay}' with a scratchpad in {self.out_dir}")
            if self.source.resolve() == self.run_dir.resolve():
                raise UsageError("--replay RUN needs a different --run-name for the new run")

    # -- setup -------------------------------------------------------------------------
    def prepare(self) -> Scratchpad:
        sp_path = self.run_dir / "scratchpad.json"
        existing = Scratchpad.load(self.run_dir) if sp_path.is_file() else None
        if self.resume:
            if not self.run_dir.is_dir():
                raise UsageError(f"--resume: no run '{self.run}' in {self.out_dir} (ripmap-train --list shows runs)")
        elif existing is not None and existing.episodes:
            raise UsageError(f"run '{self.run}' already exists in {self.out_dir} with {len(existing.episodes)} "
                             f"episode(s); use --resume to continue it or choose another --run-name")
        if self.replay:
            src_sp = Scratchpad.load(self.source)
            src_cfg = read_json(self.source / "config.json") if (self.source / "config.json").is_file() else {}
            if src_sp.start.get("params"):
                self.start = Params.from_dict(src_sp.start["params"])
            self.min_conf = float(src_cfg.get("min_confidence", self.min_conf))
            self.plan = list(src_sp.episodes)
            if self.plan:
                self.episodes_total = len(self.plan)
            pg_file = self.source / "promptgram.md"
            if pg_file.is_file():
                self.promptgram = parse_promptgram(pg_file.read_text(encoding="utf-8"), source=str(pg_file))
        run_pg = self.run_dir / "promptgram.md"
        if self.resume and run_pg.is_file():
            # the run's own copy: a resumed run keeps the promptgram it started with
            self.promptgram = parse_promptgram(run_pg.read_text(encoding="utf-8"), source=str(run_pg))
        if self.promptgram is None:
            self.promptgram = load_promptgram(_opt(self.args, "prompt"))
        if self.promptgram.stripped:
            print(f"ripmap-train: note: promptgram {self.promptgram.source}: ignored its protocol section(s) "
                  f"{', '.join(self.promptgram.stripped)}; the shipped protocol is always used", file=sys.stderr)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for orphan in self.run_dir.glob(".*.tmp"):  # a kill mid-write leaves the temp file, never a torn real one
            orphan.unlink(missing_ok=True)
        if not run_pg.is_file() or not self.resume:
            atomic_write_text(run_pg, self.promptgram.render())
        sp = existing if (self.resume and existing is not None) else Scratchpad(run=self.run)
        self.agent, self.agent_name = self.make_agent()
        self._write_config()
        return sp

    def _write_config(self) -> None:
        path = self.run_dir / "config.json"
        old = read_json(path) if (self.resume and path.is_file()) else {}
        a = self.args
        cfg = {
            "run": self.run, "kind": "l1", "created": old.get("created") or _now(),
            "agent": self.agent_name,
            "agent_spec": None if (self.replay or self.injected_agent) else str(_opt(a, "agent", "heuristic")),
            "model": _opt(a, "model"), "base_url": _sanitize_url(_opt(a, "base_url")),
            "agentic": bool(_opt(a, "agentic", False)), "timeout": _opt(a, "timeout"),
            "promptgram": (old.get("promptgram", "(run copy) promptgram.md") if self.resume
                           else f"(replay) {self.source / 'promptgram.md'}" if self.replay
                           else str(_opt(a, "prompt") or "(default) inner_default.md")),
            "promptgram_sha256": self.promptgram.sha256, "protocol_sha256": protocol_sha256(),
            "episodes": self.episodes_total, "min_confidence": self.min_conf,
            "failure_threshold": getattr(self.ev, "failure_threshold", None), "seed": _opt(a, "seed"),
            "replay_of": str(self.replay) if self.replay else old.get("replay_of"),
            "repos": self._repos(),
            "resumed": list(old.get("resumed", [])) + ([_now()] if self.resume and old else []),
        }
        atomic_write_json(path, cfg)

    def _repos(self) -> list[dict]:
        out = []
        for (repo, snap), s in sorted(getattr(self.ev, "snapshots", {}).items()):
            cases = [c for c in self.ev.cases if c.repo == repo and c.snapshot == snap]
            out.append({"name": repo, "snapshot": snap, "files": s.file_count, "cases": len(cases),
                        "train": sum(1 for c in cases if c.split == "train"),
                        "holdout": sum(1 for c in cases if c.split == "holdout")})
        return out

    def make_agent(self) -> tuple[Any, str]:
        from .agents import RecordingAgent, ReplayAgent, ReplyStore, make_agent

        if self.replay:
            # recorded again into this run's store, so a replay is itself replayable
            return RecordingAgent(ReplayAgent(ReplyStore(self.source)), ReplyStore(self.run_dir)), \
                f"replay:{self.replay}"
        a = self.args
        inner = self.injected_agent or make_agent(
            str(_opt(a, "agent", "heuristic")), model=_opt(a, "model"), base_url=_opt(a, "base_url"),
            timeout=float(_opt(a, "timeout", 300.0)), agentic=bool(_opt(a, "agentic", False)),
            run_dir=self.run_dir, allow_dangerous=bool(_opt(a, "dangerously_skip_permissions", False)))
        return RecordingAgent(inner, ReplyStore(self.run_dir)), str(getattr(inner, "name", "agent"))

    # -- writers -----------------------------------------------------------------------
    def settings_for(self, n: int) -> tuple[int, float]:
        """(episodes total shown in the prompt, min confidence) for episode ``n``.

        A replay takes both from the original episode record: a run resumed with another
        --episodes or --min-confidence sent different prompts before and after, and only
        the recorded values reproduce each prompt byte for byte.
        """
        if self.plan and n <= len(self.plan):
            e = self.plan[n - 1]
            return int(e.get("episodes_total", self.episodes_total)), float(e.get("min_confidence", self.min_conf))
        return self.episodes_total, self.min_conf

    def write_all(self, sp: Scratchpad, best: dict, study: _Study | None, *, final: bool = False) -> None:
        """Scratchpad first (the source of truth), then what is derived from it."""
        sp.save(self.run_dir)
        rows = [{"episode": e["episode"], "ndcg_before": e["ndcg_before"], "ndcg_after": e["ndcg_after"],
                 "holdout_before": e["holdout_before"], "holdout_after": e["holdout_after"],
                 "failures": e["failures"], "confidence": e["confidence"], "params_before": e["params_before"],
                 "params_after": e["params_after"], "flags": e["flags"], "duration_s": e["duration_s"],
                 "applied": {p: [x["direction"], x["magnitude"]] for p, x in e["applied"].items()}}
                for e in sp.episodes]
        atomic_write_json(self.run_dir / "results.json", {
            "run": self.run, "kind": "l1", "start": sp.start,
            "best": {k: best[k] for k in ("episode", "train", "holdout")}, "episodes": rows})
        atomic_write_json(self.run_dir / "results.trained.json", {
            "run": self.run, "kind": "l1", "episode": best["episode"], "train_ndcg": best["train"],
            "holdout_ndcg": best["holdout"], "params": best["params"]})
        if study is not None:
            for e in sp.episodes:
                study.add(e)
        now = time.monotonic()
        if rows and (final or now - self.last_plot >= PLOT_EVERY_S):
            from .plots import plot_l1_progress

            self.last_plot = now

            try:
                plot_l1_progress(rows, self.run_dir / "progress.png", title=f"L1 {self.run}")  # writes atomically
            except Exception as e:  # a plot must never cost a finished episode
                print(f"ripmap-train: warning: progress.png not written ({type(e).__name__}: {e})", file=sys.stderr)


def _best_of(sp: Scratchpad) -> dict:
    best = {"episode": 0, "train": sp.start.get("train"), "holdout": sp.start.get("holdout"),
            "params": sp.start.get("params")}
    for e in sp.episodes:
        if e.get("ndcg_after") is not None and (best["train"] is None or e["ndcg_after"] > best["train"]):
            best = {"episode": e["episode"], "train": e["ndcg_after"], "holdout": e["holdout_after"],
                    "params": e["params_after"]}
    return best


def run_episode(*, n: int, loop: _Loop, agent: Any, agent_name: str, sp: Scratchpad, cur: Measurement,
                best: dict) -> tuple[dict, Measurement]:
    """One episode: prompt → reply → parse → apply → measure. Returns (record, new measurement)."""
    t0 = time.monotonic()
    ts = _now()
    total, min_conf = loop.settings_for(n)
    shown = worst_failures(cur.train)
    state = PromptState(
        episode=n, episodes_total=total, params=cur.params, ndcg=cur.ndcg, holdout=cur.holdout,
        best=best, n_train=len(cur.train.per_case), n_failing=cur.n_failing,
        failure_threshold=float(getattr(loop.ev, "failure_threshold", 0.5)), failures=tuple(shown),
        history=tuple(sp.episodes), start=sp.start, insights=sp.insights(),
        unchanged_for=_unchanged_streak(sp.episodes))
    prompt = build_prompt(loop.promptgram, state)
    flags: list[str] = []
    error: str | None = None
    try:
        reply = agent.propose(prompt, agent_context(state))
    except RipmapError:
        raise  # e.g. a replay that meets a prompt the original run never sent: stop, do not invent
    except Exception as e:  # an agent bug must not end a long run; the episode records it
        if loop.replay:
            raise
        reply, error = None, f"{type(e).__name__}: {e}"
    if reply is not None and getattr(reply, "error", None):
        error = str(reply.error)
    text = getattr(reply, "text", "") or ""
    if error is not None:
        flags.append(FLAG_AGENT_ERROR)
        parsed = ParsedReply("", None, Proposal(), [], [], [f"agent error: {error}"])
        decision = Decision(cur.params, {}, [])
    else:
        parsed = parse_reply(text)
        decision = apply_changes(cur.params, parsed.changes, confidence=parsed.confidence,
                                 min_confidence=min_conf)
        conf = parsed.confidence if parsed.confidence is not None else 0.0
        if conf < min_conf:
            flags.append(FLAG_LOW_CONF)
        if not parsed.changes and len(parsed.reasoning) > SCHEMA_CORRUPTION_CHARS:
            flags.append(FLAG_SCHEMA)
    new = cur if decision.params == cur.params else _measure(loop.ev, decision.params)
    rec: dict[str, Any] = {
        "episode": n, "timestamp": ts, "episodes_total": total, "min_confidence": min_conf,
        "params_before": cur.params.to_dict(), "params_after": new.params.to_dict(),
        "ndcg_before": cur.ndcg, "ndcg_after": new.ndcg, "holdout_before": cur.holdout, "holdout_after": new.holdout,
        "failures": cur.n_failing, "failures_shown": shown,
        "prompt_sha256": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
        "raw_reply": text, "reasoning": parsed.reasoning,
        "proposed_changes": parsed.data.get("proposed_changes") if parsed.data else None,
        "proposal": parsed.proposal.model_dump(),
        "applied": decision.applied, "rejected": parsed.rejected + decision.rejected,
        "parse_errors": parsed.errors, "confidence": parsed.confidence,
        "agent": agent_name, "error": error,
        "latency_s": getattr(reply, "latency_s", None), "attempts": getattr(reply, "attempts", None),
        "tokens": {"in": getattr(reply, "tokens_in", None), "out": getattr(reply, "tokens_out", None)},
    }
    if _unchanged_streak(list(sp.episodes) + [rec]) >= LOCK_IN_EPISODES:
        flags.append(FLAG_LOCK_IN)
    rec["flags"] = flags
    rec["duration_s"] = round(time.monotonic() - t0, 3)
    return rec, new


def run_l1(ev: Any, args: Any, out_dir: str | Path, *, start: Params, promptgram: Promptgram | None = None,
           agent: Any | None = None) -> L1Result:
    """Run (or resume, or replay) an L1 reasoning loop; see the module docstring.

    ``args`` is the ``ripmap-train`` namespace (missing attributes take their CLI
    defaults). ``promptgram`` and ``agent`` let callers such as the L2 loop or tests
    inject them; the agent is still wrapped in a recorder so every reply is stored.
    """
    loop = _Loop(ev, args, Path(out_dir), start, promptgram, agent)
    sp = loop.prepare()
    agent_obj, agent_name = loop.agent, loop.agent_name
    if sp.episodes:
        params = Params.from_dict(sp.episodes[-1]["params_after"])
    elif loop.resume and sp.start.get("params"):
        params = Params.from_dict(sp.start["params"])
    else:
        params = loop.start
    cur = _measure(ev, params)
    if not sp.start:
        sp.start = {"params": cur.params.to_dict(), "train": cur.ndcg, "holdout": cur.holdout}
    storage = _opt(args, "storage") or f"sqlite:///{(loop.run_dir / 'study.db').resolve()}"
    study = _Study(loop.run, storage)
    best = _best_of(sp)
    first = sp.last_episode + 1
    # reconciles the study with a resumed scratchpad; redraws the plot of a finished run
    loop.write_all(sp, best, study, final=first > loop.episodes_total)
    if first > loop.episodes_total:
        print(f"ripmap-train: run {loop.run} already has {sp.last_episode} episode(s) (--episodes "
              f"{loop.episodes_total}); nothing to do", file=sys.stderr)
    for n in range(first, loop.episodes_total + 1):
        rec, cur = run_episode(n=n, loop=loop, agent=agent_obj, agent_name=agent_name, sp=sp, cur=cur, best=best)
        sp.add_episode(rec)
        best = _best_of(sp)
        loop.write_all(sp, best, study, final=n == loop.episodes_total)
        _live(f"L1 {n}/{loop.episodes_total}  train {_f(rec['ndcg_before'])}→{_f(rec['ndcg_after'])}  holdout "
              f"{_f(rec['holdout_after'])}  best {_f(best['train'])}  failures {rec['failures']}  conf "
              f"{_f(rec['confidence'], 2) if rec['confidence'] is not None else '-'}  "
              f"changes {len(rec['applied'])}" + (f"  [{', '.join(rec['flags'])}]" if rec["flags"] else ""), args)
    print(f"ripmap-train: run {loop.run}: {sp.last_episode} episode(s), train {_f(sp.start.get('train'))} → best "
          f"{_f(best['train'])} (holdout {_f(best['holdout'])}, episode {best['episode']}); {loop.run_dir}",
          file=sys.stderr)
    return L1Result(run=loop.run, run_dir=loop.run_dir, episodes=sp.last_episode,
                    start_train=float(sp.start.get("train") or 0.0), best_params=Params.from_dict(best["params"]),
                    best_train=float(best["train"]), best_holdout=best["holdout"], best_episode=int(best["episode"]))


__all__ = ["Change", "Proposal", "ParsedReply", "PromptState", "L1Result", "parse_reply", "split_reply",
           "validate_proposal", "step_value", "apply_changes", "build_prompt", "format_state", "agent_context",
           "run_l1"]
