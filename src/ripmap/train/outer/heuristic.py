"""The offline L2 agent: writes promptgram directives from the outer evidence.

It is to L2 what the ``heuristic`` agent is to L1: deterministic, no LLM, reading the
structured twin of the L2 prompt (:func:`.prompt.l2_context`) and answering in the L2
protocol. Its policy, in order:

1. **Undo what hurt.** When the promptgram that just ran scored below its parent, delete
   the directive lines its edits added (and never add a directive again that a worse
   child introduced).
2. **Stop reverts from wandering.** When most moves undone in the next episode left the
   parameter away from where it was (asymmetric or clamped steps: ×1.3 then ×0.7), each
   revert is a new, untested point and the run drifts: ``revert nearest``.
   Then, when train NDCG@10 stopped improving early and the final point still came from
   the stretch after (validation picking a point by luck): ``stall N`` (a quarter of K).
3. **Ask for agreement when moves do not carry over.** The run's leave-one-repository-out
   figure (:func:`.summary.transfer_estimate`: each training repository scored at the point
   the other repositories' validation selects; its median over the repositories, so one
   repository that gains much does not hide the others losing) below zero means L1's moves help the
   repositories that chose them and hurt the one left out: ``agree N`` (one more
   repository than the promptgram asks for now, from 2), unless a child that added it
   scored worse.
4. **Answer the diagnostics.** Lock-in → ``explore`` (more of it if there is some already);
   oscillation → ``step small``; a ``prefer`` L1 could not follow (L2-not-steering) → delete it.
5. **Follow the evidence L1 does not have.** L1 optimizes train NDCG; L2 also sees what
   each move did to validation NDCG (newer commits). Across every inner run so far, the
   (parameter, direction) move that lowered validation NDCG@10 in the most episodes (net of
   those it raised) becomes ``avoid``; the one that raised it most becomes ``prefer``, unless
   L1 already makes that move in most episodes (a directive would change nothing).
   Parameters a directive already names are left alone.
6. **Set the pace.** A move that raised validation NDCG and that L1 repeats in most
   episodes asks for a larger ``step`` than L1 used; when most applied moves lowered
   validation NDCG, ``step small``.
7. **Never stand still.** With nothing else to say, try a directive not tried yet
   (``explore 0.25``, ``on plateau 2: orthogonal``, ``max-changes 2``, ``step small``), so
   every step tests something.

At most :data:`MAX_EDITS_PER_STEP` edits per step, so the next run can attribute its
effect; at most :data:`MAX_DIRECTIVES` directive lines in a promptgram (the oldest
``prefer``/``avoid`` is replaced beyond that).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..agents.base import AgentReply
from ..agents.directives import Directive, directives_of, parse_line
from ..numbers import finite
from .summary import transfer_median

MAX_EDITS_PER_STEP = 2
MAX_NEW_PER_STEP = 1
"""New directives per step (undoing one does not count): one idea at a time can be attributed."""
MIN_NET_EPISODES = 2
"""A move becomes ``prefer``/``avoid`` only when it raised (lowered) validation NDCG in at least this many
more episodes than the other way: one episode is noise."""
SINGLE = ("step", "max-changes", "explore", "on-plateau", "agree", "revert", "stall")
"""Directives of which only the last line counts: a new value replaces the old line."""
MAX_DIRECTIVES = 6
EPS = 1e-6
FALLBACKS: tuple[tuple[str, str], ...] = (
    ("Policy", "- directive: explore 0.25"),
    ("Policy", "- directive: on plateau 2: orthogonal"),
    ("Policy", "- directive: max-changes 2"),
    ("Policy", "- directive: step small"),
)


@dataclass(frozen=True)
class _Line:
    section: str
    text: str
    directive: Directive


def _lines(sections: Mapping[str, str]) -> list[_Line]:
    out = []
    for name in ("Policy", "Heuristics"):
        body = next((v for k, v in sections.items() if str(k).lower() == name.lower()), "")
        for ln in str(body or "").splitlines():
            d, _err = parse_line(ln)
            if d is not None:
                out.append(_Line(name, ln.strip(), d))
    return out


def _canon(text: str) -> str | None:
    d, _err = parse_line(text)
    return d.text() if d is not None else None


def _added_directives(edits: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for e in edits:
        if e.get("edit_type") in ("add", "replace"):
            for ln in str(e.get("content") or "").splitlines():
                c = _canon(ln)
                if c:
                    out.append(c)
    return out


def _score(o: Mapping[str, Any]) -> tuple[int, float]:
    """(net episodes that raised validation, mean validation change) — train when validation is missing."""
    if o.get("validation") is not None:
        return int(o.get("validation_up") or 0) - int(o.get("validation_down") or 0), float(o["validation"])
    return int(o.get("up") or 0) - int(o.get("down") or 0), float(o.get("train") or 0.0)


def propose_outer(ctx: Mapping[str, Any]) -> str:
    """The full L2 answer for the structured context ``ctx``."""
    version, parent = str(ctx.get("version")), ctx.get("parent")
    sections = ctx.get("promptgram") if isinstance(ctx.get("promptgram"), Mapping) else {}
    members = {m["version"]: m for m in ctx.get("members") or () if isinstance(m, Mapping) and "version" in m}
    vedits = ctx.get("version_edits") if isinstance(ctx.get("version_edits"), Mapping) else {}
    effects = ctx.get("effects") if isinstance(ctx.get("effects"), Mapping) else {}
    diags = [d for d in ctx.get("diagnostics") or () if isinstance(d, Mapping)]
    kinds = {str(d.get("kind")) for d in diags}
    dv = directives_of(sections)
    lines = _lines(sections)
    present = {ln.directive.text() for ln in lines}
    named = set(dv.named())

    # directives a worse child introduced: not to be tried again
    tried_bad: set[str] = set()
    for name, m in members.items():
        p = members.get(m.get("parent"))
        mm, pm = finite(m.get("mean")), finite(p.get("mean")) if p else None
        if mm is not None and pm is not None and mm < pm - EPS:
            tried_bad.update(_added_directives(vedits.get(name) or ()))

    edits: list[dict[str, str]] = []
    why: list[str] = []
    removed: set[str] = set()

    def delete(line: _Line, reason: str) -> None:
        if line.text in removed or len(edits) >= MAX_EDITS_PER_STEP:
            return
        removed.add(line.text)
        edits.append({"section": line.section, "edit_type": "delete", "content": "",
                      "target": line.text.lstrip("-*+ ").strip()})
        why.append(reason)

    added = [0]

    def add(section: str, text: str, reason: str) -> bool:
        c = _canon(text)
        if len(edits) >= MAX_EDITS_PER_STEP or added[0] >= MAX_NEW_PER_STEP or c in present or c in tried_bad:
            return False
        added[0] += 1
        live = [ln for ln in lines if ln.text not in removed]
        d, _err = parse_line(text)
        same = next((ln for ln in live if d is not None and d.verb in SINGLE and ln.directive.verb == d.verb), None)
        if same is not None:  # one line per single-valued directive: replace it
            edits.append({"section": same.section, "edit_type": "replace", "content": text.strip(),
                          "target": same.text})
            removed.add(same.text)
        elif len(live) >= MAX_DIRECTIVES:
            old = next((ln for ln in live if ln.directive.verb in ("prefer", "avoid")), None)
            if old is None:
                return False
            edits.append({"section": old.section, "edit_type": "replace", "content": text.strip(),
                          "target": old.text})
            removed.add(old.text)
        else:
            edits.append({"section": section, "edit_type": "add", "content": text.strip(), "target": ""})
        present.add(str(c))
        why.append(reason)
        return True

    # 1. undo what hurt
    me, par = members.get(version), members.get(parent) if parent else None
    my_mean = finite(me.get("mean")) if me else None
    par_mean = finite(par.get("mean")) if par else None
    if my_mean is not None and par_mean is not None and my_mean < par_mean - EPS:
        mine = set(_added_directives(vedits.get(version) or ()))
        for ln in lines:
            if ln.directive.text() in mine:
                delete(ln, f"{version} scored {my_mean:.4f}, below its parent {parent} ({par_mean:.4f}): undo "
                           f"'{ln.directive.text()}'")
                named.difference_update(ln.directive.params)

    # 2. reverts that wander: a mechanical fact of the trajectory, fixed by one directive
    latest = ctx.get("latest") if isinstance(ctx.get("latest"), Mapping) else {}
    rv = latest.get("reverts") if isinstance(latest.get("reverts"), Mapping) else {}
    drifted = int(rv.get("drifted") or 0)
    if dv.revert != "nearest" and drifted >= MIN_NET_EPISODES and drifted * 2 >= int(rv.get("reverts") or 0):
        add("Policy", "- directive: revert nearest",
            f"{drifted} of {rv.get('reverts')} moves undone in the next episode left the parameter away from where "
            f"it was ({'; '.join(rv.get('examples') or [])}): each revert is a new untested point, and the run "
            f"wanders; revert to the nearest step instead")

    # 2b. a run that goes on after it stopped improving only gives the validation split more
    # points to pick by luck: when the final point came from that tail, stop it
    traj0 = [t for t in latest.get("trajectory") or () if isinstance(t, Mapping)]
    k = len(traj0)
    best_train, last_best = finite(latest.get("start_train")), 0
    for t in traj0:
        a = finite(t.get("train_after"))
        if a is not None and (best_train is None or a > best_train + 1e-4):
            best_train, last_best = a, int(t.get("episode") or 0)
    fe = latest.get("final_episode")
    if dv.stall is None and k and k - last_best >= max(4, k // 3) and isinstance(fe, int) and fe > last_best:
        n = max(3, min(50, k // 4))
        add("Policy", f"- directive: stall {n}",
            f"train NDCG@10 last improved in episode {last_best} of {k}, yet the final point is episode {fe}: "
            f"validation picked a point from the stretch where L1 no longer improved; stop after {n} episodes "
            f"without a new best")

    # 3. transfer: when the point the other repositories' validation selects lowers the
    # repository left out, L1's moves do not generalize; ask for cross-repository agreement
    latest = ctx.get("latest") if isinstance(ctx.get("latest"), Mapping) else {}
    tr = latest.get("transfer") if isinstance(latest.get("transfer"), Mapping) else {}
    gain = transfer_median(tr)
    repos = tr.get("repos") if isinstance(tr.get("repos"), Mapping) else {}
    if gain is not None and gain < -EPS and len(repos) >= 2:
        losers = sorted(r for r, v in repos.items() if isinstance(v, Mapping) and (finite(v.get("gain")) or 0) < -EPS)
        for n in range(max(2, (dv.agree or 1) + 1), len(repos) + 1):
            if add("Policy", f"- directive: agree {n}",
                   f"leave-one-repository-out: the point the other repositories' validation selects lowers "
                   f"{', '.join(losers)} (median {gain:+.4f}), so L1's moves do not carry over; require the "
                   f"failures of {n} repositories to agree before a move"):
                break

    # 4. answer the diagnostics
    if "basin_lock_in" in kinds:
        if dv.explore is None:
            add("Policy", "- directive: explore 0.3", "lock-in: L1 keeps returning to the same point; explore")
        elif dv.explore < 0.6:
            add("Policy", f"- directive: explore {min(0.6, dv.explore + 0.2):g}", "lock-in persists: explore more often")
    if "oscillation" in kinds and dv.step != "small":
        add("Policy", "- directive: step small", "oscillation: L1 overshoots back and forth; smaller steps")
    for d in diags:
        if d.get("kind") == "l2_not_steering":
            for p in d.get("params") or ():
                for ln in lines:
                    if ln.directive.verb == "prefer" and p in ln.directive.params:
                        delete(ln, f"L1 could not act on '{ln.directive.text()}' (at a bound, or the move hurt); "
                                   f"drop it")
                        named.discard(p)

    # 5. follow the evidence: validation is what L2 knows and L1 does not
    moved = latest.get("moved") if isinstance(latest.get("moved"), Mapping) else {}
    n_eps = max(1, int(latest.get("episodes") or 0))

    def share(o: Mapping[str, Any]) -> float:
        m = moved.get(o["param"]) if isinstance(moved.get(o["param"]), Mapping) else {}
        return int(m.get(o["direction"]) or 0) / n_eps

    ranked = sorted((o for o in effects.values() if isinstance(o, Mapping) and o.get("param")),
                    key=lambda o: (_score(o)[0], _score(o)[1], str(o.get("param")), str(o.get("direction"))))
    for o in ranked:  # most harmful first
        net, mean = _score(o)
        if net > -MIN_NET_EPISODES or mean >= -EPS or o["param"] in named:
            continue
        if add("Heuristics", f"- directive: avoid {o['param']} {o['direction']}  # lowered validation NDCG@10 in "
                             f"{o.get('validation_down', o.get('down'))} of {o['episodes']} episode(s), mean "
                             f"{mean:+.4f}", f"{o['direction']} {o['param']} lowered validation NDCG@10 across the "
                                             f"inner runs"):
            named.add(o["param"])
            break
    for o in reversed(ranked):  # most helpful first; a move L1 makes anyway needs no directive
        net, mean = _score(o)
        if net < MIN_NET_EPISODES or mean <= EPS or o["param"] in named or share(o) >= 0.75:
            continue
        if add("Heuristics", f"- directive: prefer {o['param']} {o['direction']}  # raised validation NDCG@10 in "
                             f"{o.get('validation_up', o.get('up'))} of {o['episodes']} episode(s), mean "
                             f"{mean:+.4f}", f"{o['direction']} {o['param']} raised validation NDCG@10 across the "
                                             f"inner runs, but L1 made that move in few episodes"):
            named.add(o["param"])
            break

    # 6. the pace: a helpful move L1 keeps repeating in small steps asks for larger ones;
    # moves that lower validation half the time ask for smaller ones
    traj = [t for t in latest.get("trajectory") or () if isinstance(t, Mapping)]
    order = ("small", "medium", "large")
    steady = [o for o in reversed(ranked) if share(o) >= 0.75 and _score(o)[0] >= MIN_NET_EPISODES
              and _score(o)[1] > EPS]
    if steady and dv.step != "large":
        o = steady[0]
        mags = [str((t.get("applied") or {}).get(o["param"], ["", "small"])[1]) for t in traj
                if o["param"] in (t.get("applied") or {})]
        used = max((order.index(m) for m in mags if m in order), default=0)
        want = order[min(2, max(used + 1, order.index(dv.step) + 1 if dv.step in order else 0))]
        add("Policy", f"- directive: step {want}", f"L1 repeats {o['direction']} {o['param']} (it raised validation "
                                                   f"NDCG@10) in {mags[0] if mags else 'small'} steps: larger steps "
                                                   f"reach further in {n_eps} episodes")
    deltas = [finite(t.get("validation_after")) - finite(t.get("validation_before"))  # type: ignore[operator]
              for t in traj if finite(t.get("validation_after")) is not None
              and finite(t.get("validation_before")) is not None and t.get("applied")]
    if deltas and dv.step != "small" and sum(1 for d in deltas if d < -EPS) * 2 >= len(deltas) + 1:
        add("Policy", "- directive: step small", "most applied moves lowered validation NDCG@10: smaller steps")

    # 7. never stand still
    if not edits:
        for section, text in FALLBACKS:
            if add(section, text, "no evidence points anywhere new: test a directive not tried yet"):
                break

    answer = {"proposal": {"edits": edits},
              "rationale": "; ".join(why) if why else "nothing left to try: every candidate directive is present "
                                                       "or made a child worse"}
    head = (f"Step {ctx.get('step')}: {version}" + (f" (parent {parent})" if parent else "")
            + (f", mean score {my_mean:.4f}" if my_mean is not None else "") + ".")
    return f"{head}\n\n```json\n{json.dumps(answer, indent=1, ensure_ascii=False)}\n```\n"


class HeuristicOuterAgent:
    """Deterministic, offline L2 agent."""

    name = "heuristic"

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        t0 = time.perf_counter()
        if not isinstance(context, Mapping) or context.get("task") != "outer":
            return AgentReply(text="", latency_s=time.perf_counter() - t0,
                              error="heuristic L2: no outer context was passed (it reads the structured state, "
                                    "not the prompt text)")
        return AgentReply(text=propose_outer(context), latency_s=time.perf_counter() - t0)


__all__ = ["HeuristicOuterAgent", "MAX_DIRECTIVES", "MAX_EDITS_PER_STEP", "propose_outer"]
