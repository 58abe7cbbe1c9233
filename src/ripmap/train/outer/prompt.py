"""The L2 prompt: L2's role, the outer state, the directive grammar, then L2's protocol (last).

The state is Markdown: where the outer run is, the promptgram that just ran (fenced, so
its ``## `` headings do not mix with the prompt's own), the population with scores, the
outer trajectory (what each step ran, reached, and what its edits did or why they were
refused), the latest inner run (episodes, capsules, the parameters L1 moved and their
measured effects, flags, final point), and the diagnostics. Only training and validation
figures appear; held-out repositories are never measured for L2.

:func:`l2_context` is the structured twin for the offline ``heuristic`` L2 agent, as
:func:`ripmap.train.l1.prompt.agent_context` is for L1. Same state, same text: a resumed
step sends the same prompt, so its stored reply is found again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping, Sequence

from ..agents.directives import GRAMMAR, directives_of
from ..numbers import fixed
from .diagnostics import Diagnosis
from .edits import Edit
from .population import Member
from .scratchpad import OuterStep
from .summary import InnerSummary, transfer_median

HISTORY_SHOWN = 8
PARAMS_SHOWN = 8


@lru_cache(maxsize=None)
def _shipped(name: str) -> str:
    return resources.files("ripmap.train").joinpath(f"prompts/{name}").read_text(encoding="utf-8").strip() + "\n"


def outer_role_text() -> str:
    return _shipped("outer_role.md")


def outer_protocol_text() -> str:
    return _shipped("outer_protocol.md")


@dataclass(frozen=True)
class L2State:
    """Everything an L2 prompt is made of."""

    step: int
    steps_total: int
    episodes_inner: int
    agent_inner: str
    warm_start: bool
    version: str
    parent: str | None
    promptgram_text: str
    promptgram_sections: Mapping[str, str]
    members: tuple[Member, ...]
    version_edits: Mapping[str, tuple[Edit, ...]]
    history: tuple[OuterStep, ...]  # finished steps before this one
    latest: InnerSummary | None  # None: the inner run has not happened yet (--dry)
    diagnostics: tuple[Diagnosis, ...] = ()
    selection: str = ""
    directive_effects: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _g(x: Any) -> str:
    return f"{x:.6g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else "-"


def _signed(x: Any) -> str:
    return f"{x:+.4f}" if isinstance(x, (int, float)) and not isinstance(x, bool) else "-"


def _edits_line(edits: Sequence[Edit]) -> str:
    return "; ".join(e.describe(90) for e in edits) or "(none)"


def pooled_effects(history: Sequence[OuterStep], latest: InnerSummary | None) -> dict[str, dict[str, Any]]:
    """(parameter, direction) → episodes, mean train and validation change, over every inner run so far."""
    rows: list[Mapping[str, Any]] = []
    for s in history:
        eff = s.inner.get("effects") if isinstance(s.inner.get("effects"), Mapping) else {}
        rows += [v for v in eff.values() if isinstance(v, Mapping)]
    if latest is not None:
        rows += [v for v in latest.effects.values() if isinstance(v, Mapping)]
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        key = f"{r.get('param')} {r.get('direction')}"
        o = out.setdefault(key, {"param": r.get("param"), "direction": r.get("direction"), "episodes": 0,
                                 "train_sum": 0.0, "validation_sum": 0.0, "validation_n": 0, "up": 0, "down": 0,
                                 "validation_up": 0, "validation_down": 0})
        n = int(r.get("episodes") or 0)
        o["episodes"] += n
        o["train_sum"] += float(r.get("train") or 0.0) * n
        if isinstance(r.get("validation"), (int, float)):
            o["validation_sum"] += float(r["validation"]) * n
            o["validation_n"] += n
        for k in ("up", "down", "validation_up", "validation_down", "mixed", "repos_agree_up", "repos_agree_down"):
            o[k] = o.get(k, 0) + int(r.get(k) or 0)
    for o in out.values():
        o["train"] = o["train_sum"] / o["episodes"] if o["episodes"] else 0.0
        o["validation"] = o["validation_sum"] / o["validation_n"] if o["validation_n"] else None
        for k in ("train_sum", "validation_sum", "validation_n"):
            del o[k]
    return dict(sorted(out.items()))


def _latest_lines(s: L2State) -> list[str]:
    lt = s.latest
    out = [f"## Latest inner run (step {s.step}, {s.version})", ""]
    if lt is None:
        out.append(f"(step {s.step}'s L1 run of {s.episodes_inner} episode(s) with {s.version} has not run yet; "
                   f"its summary goes here)")
        return out
    out.append(f"{lt.episodes} episode(s). Train NDCG@10 {fixed(lt.start_train)} → final point {fixed(lt.final_train)}"
               f"; validation {fixed(lt.start_validation)} → {fixed(lt.final_validation)} (final point: episode "
               f"{lt.final_episode if lt.final_episode is not None else 0}, selected by {lt.selected_by or 'train'}).")
    if lt.by_repo:
        out.append("Per repository at the final point: " + ", ".join(
            f"{r} train {fixed(v.get('train'))}" + (f" validation {fixed(v.get('holdout'))}" if 'holdout' in v else "")
            for r, v in sorted(lt.by_repo.items())) + ".")
    tr = lt.transfer or {}
    if isinstance(tr.get("repos"), Mapping) and tr["repos"]:
        out.append("Leave-one-repository-out: " + ", ".join(
            f"{r} {_signed(v.get('gain'))} (point {v.get('point')})" for r, v in sorted(tr["repos"].items())
            if isinstance(v, Mapping)) + f"; median {_signed(transfer_median(tr))} (what runs are ranked by), "
                                          f"mean {_signed(tr.get('gain'))}.")
    rv = lt.reverts or {}
    if rv.get("reverts"):
        out.append(f"Moves undone in the next episode: {rv.get('reverts')}; {rv.get('drifted', 0)} of them left the "
                   f"parameter away from where it was" + (f" ({'; '.join(rv.get('examples') or [])})"
                                                           if rv.get("examples") else "") + ".")
    out += ["", "Episodes (train before → after; applied changes):"]
    for t in lt.trajectory:
        applied = ", ".join(f"{p} {d} {m}" for p, (d, m) in sorted((t.get("applied") or {}).items())) or "nothing"
        flags = f" [{', '.join(t['flags'])}]" if t.get("flags") else ""
        out.append(f"- {t.get('episode')}: {fixed(t.get('train_before'))} → {fixed(t.get('train_after'))} "
                   f"(validation {fixed(t.get('validation_after'))}); {applied}{flags}")
    if lt.capsules:
        out += ["", "Strategy capsules: " + " | ".join(lt.capsules[:6])]
    if lt.moved:
        out += ["", "Parameters L1 moved (times up/down; start → final point):"]
        for p, m in sorted(lt.moved.items(), key=lambda kv: -(kv[1].get("increase", 0) + kv[1].get("decrease", 0))):
            out.append(f"- {p}: up {m.get('increase', 0)}, down {m.get('decrease', 0)}; {_g(m.get('from'))} → "
                       f"{_g(m.get('to'))}")
    else:
        out += ["", "L1 moved no parameter."]
    if lt.flags:
        out.append("Episode flags: " + ", ".join(f"{k} {v}" for k, v in sorted(lt.flags.items())))
    return out


def format_outer_state(s: L2State) -> str:
    out = ["## Outer run", ""]
    out.append(f"Outer step {s.step} of {s.steps_total}. Each step runs L1 ({s.agent_inner}) for {s.episodes_inner} "
               f"episode(s) with one promptgram" + (", starting from the best parameters found so far (warm start)."
                                                    if s.warm_start else ", always from the same start point."))
    out.append("Score of a run: the start point's validation NDCG@10 (newest commits of the training repositories) "
               "plus the median leave-one-repository-out gain: each training repository scored at the point the "
               "other repositories' validation selects, against the start (what choosing by validation gains on a "
               "repository that had no say), the median over the repositories so that one gaining much does not "
               "hide most losing; without two repositories with validation cases, validation NDCG@10 of "
               "the final point.")
    out += ["", f"## Promptgram that ran: {s.version}" + (f" (parent {s.parent}; selected: {s.selection})"
                                                          if s.parent else f" (selected: {s.selection or 'root'})"), ""]
    edits = s.version_edits.get(s.version) or ()
    if edits:
        out.append(f"Edits that made it from {s.parent}: {_edits_line(edits)}")
    dv = directives_of(s.promptgram_sections)
    out.append(f"Its directives: {dv.describe() or '(none)'}" + (f"; malformed: {'; '.join(dv.errors)}"
                                                                  if dv.errors else ""))
    out += ["", "~~~~markdown", s.promptgram_text.strip(), "~~~~"]

    out += ["", "## Population", "", f"{'version':<12}{'parent':<12}{'runs':>5}{'mean':>9}{'best':>9}  edits"]
    for m in s.members:
        out.append(f"{m.version:<12}{(m.parent or '-'):<12}{m.runs:>5}{fixed(m.mean, missing='-'):>9}"
                   f"{fixed(m.best, missing='-'):>9}  {_edits_line(s.version_edits.get(m.version) or ())}")

    out += ["", "## Outer trajectory", ""]
    if not s.history:
        out.append("No earlier steps.")
    for h in s.history[-HISTORY_SHOWN:]:
        fm, sm = h.final_metrics, h.start_metrics
        line = (f"- step {h.outer_step}: {h.promptgram} ({h.selection.get('how', '?')}), train {fixed(sm.get('train'))}"
                f" → {fixed(fm.get('train'))}, validation {fixed(fm.get('validation'))}")
        moved = sorted(h.moved_params, key=lambda p: -(h.moved_params[p].get("increase", 0)
                                                         + h.moved_params[p].get("decrease", 0)))[:4]
        if moved:
            line += "; L1 moved " + ", ".join(moved)
        ed = [Edit.from_dict(e) for e in h.proposal.get("edits") or ()]
        line += f"; L2 → {h.child or 'no child'}" + (f" ({_edits_line(ed)})" if ed else "")
        if h.refused:
            line += "; refused: " + "; ".join(str(r.get("reason")) for r in h.refused)
        out.append(line)

    pooled = s.directive_effects or pooled_effects(s.history, s.latest)
    if pooled:
        out += ["", "## Parameter moves and their measured effect (all inner runs so far)", "",
                "move: episodes, mean change of train / validation NDCG@10 (episodes up / down on validation; "
                "episodes that raised validation in some repositories and lowered it in others)"]
        ranked = sorted(pooled.values(), key=lambda o: -abs(o.get("validation") or o.get("train") or 0.0))
        for o in ranked[:PARAMS_SHOWN * 2]:
            out.append(f"- {o['direction']} {o['param']}: {o['episodes']}, {_signed(o['train'])} / "
                       f"{_signed(o['validation'])} ({o['validation_up']} / {o['validation_down']}; mixed "
                       f"{o.get('mixed', 0)})")

    out += [""] + _latest_lines(s)
    out += ["", "## Diagnostics", ""]
    out += [f"- {d.kind}: {d.detail}" for d in s.diagnostics] or ["None."]
    return "\n".join(out).rstrip() + "\n"


def build_l2_prompt(s: L2State) -> str:
    """Role, the state, the directive grammar, then the protocol (always last)."""
    parts = [outer_role_text().strip(), format_outer_state(s).strip(), "## Directive grammar\n\n" + GRAMMAR.strip(),
             outer_protocol_text().strip()]
    return "\n\n".join(parts) + "\n"


def l2_context(s: L2State) -> dict[str, Any]:
    """The structured twin of the L2 prompt, for the offline heuristic L2 agent."""
    return {
        "task": "outer", "step": s.step, "steps_total": s.steps_total, "episodes_inner": s.episodes_inner,
        "warm_start": s.warm_start, "version": s.version, "parent": s.parent,
        "promptgram": dict(s.promptgram_sections),
        "members": [{"version": m.version, "parent": m.parent, "runs": m.runs, "mean": m.mean, "best": m.best,
                     "scores": list(m.scores), "born": m.born} for m in s.members],
        "version_edits": {k: [e.to_dict() for e in v] for k, v in s.version_edits.items()},
        "history": [{"outer_step": h.outer_step, "promptgram": h.promptgram, "parent": h.parent, "score": h.score,
                     "final_params": dict(h.final_params), "moved_params": dict(h.moved_params),
                     "child": h.child, "refused": [dict(r) for r in h.refused]} for h in s.history],
        "latest": s.latest.for_l2() if s.latest is not None else None,
        "effects": s.directive_effects or pooled_effects(s.history, s.latest),
        "diagnostics": [d.to_dict() for d in s.diagnostics],
    }


__all__ = ["L2State", "build_l2_prompt", "format_outer_state", "l2_context", "outer_protocol_text",
           "outer_role_text", "pooled_effects"]
