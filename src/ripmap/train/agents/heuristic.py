"""The offline agent: reads the failure evidence and the episode trajectory, answers in the L1 protocol.

It is the default agent, so it has to be a real (if modest) analyst, not a stub: it
turns the signal gaps of :mod:`.evidence` into parameter moves, reverts a change that
made things worse, and steps sideways when NDCG stops moving. The failures' kinds (which
signal holds each expected file back most) say where to step sideways, and are the
evidence for file-class weights. It needs the structured
``context`` the L1 loop renders its prompt from; it never parses the prompt text.
Everything is computed from the context alone — same context, byte-identical reply.

The promptgram's *directives* (:mod:`.directives`: ``prefer``, ``avoid``, ``step``,
``max-changes``, ``explore``, ``on plateau``), passed in the context as the promptgram's
sections, bias these choices: they are how an L2 edit of the promptgram changes what this
agent proposes. A promptgram without directives (the shipped default) leaves it as it is.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from ...rank.params import NAMES, SPECS
from ..numbers import finite
from ..vocabulary import DEPTH_PARAM, DIRECTIONS, FAILURE_KINDS, MAGNITUDES, SIGNAL_PARAM, opposite
from .base import AgentReply
from ..evaluation.failures import tally
from .directives import Directives, directives_of
from .evidence import BLOCKER_PARAM, Evidence, SignalEvidence, analyse

MIN_SUPPORT = 0.5  # a move needs at least half of the usable failures to agree
MIN_KIND_FAILURES = 2  # a failure kind is a pattern (worth a move) from this many failures on
HARMFUL_EPS = 1e-4  # an NDCG drop larger than this counts as "the change hurt"
PLATEAU_EPS = 0.002  # |ΔNDCG| below this for PLATEAU_EPISODES in a row is a plateau
PLATEAU_EPISODES = 3
AVOID_WINDOW = 20  # episodes during which a harmful (param, direction) is not re-proposed
CONF_MIN, CONF_MAX = 0.2, 0.9

# Known couplings between parameters, reported when a proposal touches one of them.
INTERACTIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("weight_structure", "boost_temporal_coupling", "boost_lexical", "boost_focus_expansion"),
     "weight_structure, boost_temporal_coupling, boost_lexical and boost_focus_expansion weight one additive "
     "base: only their ratios reorder files, so raising one is equivalent to lowering the others"),
    (("weight_structure", "pagerank_alpha"),
     "pagerank_alpha decides what structure measures (importance near the seed vs across the whole graph); "
     "weight_structure decides how much that counts"),
    (("pagerank_alpha", "pagerank_chat_multiplier"),
     "pagerank_chat_multiplier sets how strongly PageRank restarts at the seed; with a low pagerank_alpha the "
     "restart dominates, so the two together set how local structure is"),
    (("depth_weight_root", "depth_weight_moderate", "depth_weight_deep"),
     "depth_weight_root/moderate/deep are anchors interpolated in log space and also personalize PageRank: "
     "moving one shifts the depths between it and its neighbours"),
    (("git_recency_max_boost", "git_recency_decay_days"),
     "the recency multiplier is git_recency_max_boost decayed with git_recency_decay_days: a longer half-life "
     "spreads the same boost over older files"),
    (("git_churn_max_boost", "git_churn_threshold"),
     "the churn multiplier saturates at git_churn_max_boost; git_churn_threshold sets how many commits earn half of it"),
    (("boost_focus_expansion", "focus_decay", "focus_max_hops"),
     "boost_focus_expansion weights focus evidence whose reach is set by focus_decay and focus_max_hops"),
)


@dataclass(frozen=True)
class Proposal:
    param: str
    direction: str
    magnitude: str
    rationale: str
    support: float  # how much of the evidence agrees, for the confidence
    source: str  # "evidence" | "revert" | "explore"


@dataclass(frozen=True)
class TrajectoryView:
    """What the recent episodes say, reduced to the facts the policy uses."""

    last_episode: int | None
    last_harmful: bool
    last_applied: dict[str, tuple[str, str]]
    last_before: float | None
    last_after: float | None
    avoid: dict[tuple[str, str], int]  # (param, direction) that hurt → the episode it hurt in
    plateau: bool
    touched: tuple[str, ...]  # params applied in the recent window, oldest first
    last_from: Mapping[str, float] = field(default_factory=dict)  # the values before the last change, when known


def _applied(d: Any) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    if not isinstance(d, Mapping):
        return out
    for k in sorted(d):
        v = d[k]
        if k in SPECS and isinstance(v, Sequence) and not isinstance(v, str) and len(v) >= 1 and v[0] in DIRECTIONS:
            mag = v[1] if len(v) >= 2 and v[1] in MAGNITUDES else "small"
            out[k] = (v[0], mag)
    return out


def read_trajectory(traj: Any, plateau_episodes: int = PLATEAU_EPISODES) -> TrajectoryView:
    entries = [t for t in (traj or ()) if isinstance(t, Mapping)]
    entries = sorted(entries, key=lambda t: (finite(t.get("episode")) or 0.0))
    done = [t for t in entries if finite(t.get("ndcg_after")) is not None and finite(t.get("ndcg_before")) is not None]
    if not done:
        return TrajectoryView(None, False, {}, None, None, {}, False, ())
    last = done[-1]
    last_ep = int(finite(last.get("episode")) or 0)
    before, after = finite(last.get("ndcg_before")), finite(last.get("ndcg_after"))
    applied = _applied(last.get("applied"))
    harmful = bool(applied) and after is not None and before is not None and after < before - HARMFUL_EPS
    avoid: dict[tuple[str, str], int] = {}
    recent = [t for t in done if last_ep - int(finite(t.get("episode")) or 0) < AVOID_WINDOW]
    for t in recent:
        b, a = finite(t.get("ndcg_before")), finite(t.get("ndcg_after"))
        if a is not None and b is not None and a < b - HARMFUL_EPS:
            for p, (d, _m) in _applied(t.get("applied")).items():
                avoid[(p, d)] = int(finite(t.get("episode")) or 0)
    tail = done[-plateau_episodes:]
    plateau = len(tail) == plateau_episodes and all(
        abs((finite(t.get("ndcg_after")) or 0.0) - (finite(t.get("ndcg_before")) or 0.0)) < PLATEAU_EPS for t in tail)
    touched: list[str] = []
    for t in recent:
        for p in _applied(t.get("applied")):
            if p not in touched:
                touched.append(p)
    raw = last.get("applied") if isinstance(last.get("applied"), Mapping) else {}
    last_from = {p: float(v[2]) for p, v in raw.items() if p in applied and isinstance(v, Sequence)
                 and not isinstance(v, str) and len(v) >= 3 and finite(v[2]) is not None}
    return TrajectoryView(last_ep, harmful, applied, before, after, avoid, plateau, tuple(touched), last_from)


class Space:
    """Current values and bounds, from the context when given, else the registry."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        params = context.get("params") if isinstance(context.get("params"), Mapping) else {}
        bounds = context.get("bounds") if isinstance(context.get("bounds"), Mapping) else {}
        self.values: dict[str, float] = {}
        self.bounds: dict[str, tuple[float, float, str]] = {}
        for name in NAMES:
            spec = SPECS[name]
            b = bounds.get(name)
            lo, hi, scale = spec.low, spec.high, spec.scale
            if isinstance(b, Sequence) and len(b) >= 2 and finite(b[0]) is not None and finite(b[1]) is not None:
                lo, hi = float(b[0]), float(b[1])
                scale = b[2] if len(b) >= 3 and b[2] in ("log", "linear") else scale
            v = finite(params.get(name))
            self.values[name] = min(hi, max(lo, v if v is not None else spec.default))
            self.bounds[name] = (lo, hi, scale)

    def unit(self, name: str) -> float:
        lo, hi, scale = self.bounds[name]
        v = self.values[name]
        if hi <= lo:
            return 0.5
        if scale == "log" and lo > 0:
            return (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return (v - lo) / (hi - lo)

    def has_room(self, name: str, direction: str) -> bool:
        u = self.unit(name)
        return u < 0.98 if direction == "increase" else u > 0.02


def _magnitude_from_factor(k: float | None) -> str:
    """small below x1.65 (or /1.65), medium below x4.5, large beyond (log distances 0.5 and 1.5)."""
    if k is None or k <= 0:
        return "small"
    move = abs(math.log(k)) if math.isfinite(k) else math.inf
    return "small" if move < 0.5 else ("medium" if move < 1.5 else "large")


def _magnitude_from_log_gap(gap: float) -> str:
    g = abs(gap)
    return "small" if g < 0.25 else ("medium" if g < 0.7 else "large")


def _pct(x: float) -> str:
    return f"{100.0 * x:.0f}%"


def _additive_rationale(e: SignalEvidence, param: str, space: Space, ratio: float | None) -> str:
    if e.gap < 0:
        text = (f"{e.signal} supplies {_pct(e.side_wrong)} of the outranking files' score vs "
                f"{_pct(e.side_expected)} of the expected files' (mean value {e.value_wrong:.2f} vs "
                f"{e.value_expected:.2f}) in {e.agreeing} of {e.n} failures; lowering {param} "
                f"(now {space.values[param]:.4g}) lifts the expected files relative to them")
    else:
        text = (f"{e.signal} supplies {_pct(e.side_expected)} of the expected files' score vs "
                f"{_pct(e.side_wrong)} of the outranking files' (mean value {e.value_expected:.2f} vs "
                f"{e.value_wrong:.2f}) in {e.agreeing} of {e.n} failures, so it is underweighted; raising "
                f"{param} (now {space.values[param]:.4g}) lifts the expected files")
    k = e.needed_factor
    if k is not None and not math.isfinite(k):
        text += "; even switching it off would not close the score gap on its own in the median failure"
    elif k is not None:
        at = f"x{k:.3g} the weight" if k >= 1 else f"1/{1 / k:.3g} of the weight"
        text += (f"; the expected files would catch up in the median failure at about {at}"
                 + (f" (the outranking files score x{ratio:.2f} the expected ones)" if ratio is not None else ""))
    return text


def _evidence_proposals(ev: Evidence, space: Space) -> tuple[list[Proposal], list[str]]:
    """Candidate moves from the failure evidence, strongest first, and notes on moves left out."""
    out: list[Proposal] = []
    notes: list[str] = []

    def admit(p: Proposal) -> None:
        if not space.has_room(p.param, p.direction):
            lo, hi, _s = space.bounds[p.param]
            edge = f"upper bound ({hi:g})" if p.direction == "increase" else f"lower bound ({lo:g})"
            notes.append(f"the evidence says {p.direction} {p.param}, but it is already at its {edge}")
            return
        if p.support < MIN_SUPPORT:
            return
        out.append(p)

    additive = ev.ranked("additive")
    for want in ("decrease", "increase"):
        for e in additive:
            if e.direction == want and e.support >= MIN_SUPPORT:
                param = SIGNAL_PARAM[e.signal]
                admit(Proposal(param, want, _magnitude_from_factor(e.needed_factor),
                               _additive_rationale(e, param, space, ev.score_ratio), e.support, "evidence"))
                break
    st = ev.signals.get("structure")
    if st is not None and st.direction == "decrease" and st.support >= MIN_SUPPORT and st.side_wrong > 0.5:
        admit(Proposal("pagerank_alpha", "decrease", "medium" if st.side_wrong >= 0.7 else "small",
                       f"structure dominates the outranking files' score ({_pct(st.side_wrong)}); a lower "
                       f"pagerank_alpha (now {space.values['pagerank_alpha']:.4g}) keeps PageRank near the seed "
                       f"file, so structure stops favouring globally central files", st.support * 0.8, "evidence"))
    dp = ev.signals.get("depth")
    if dp is not None and dp.direction is not None and dp.support >= MIN_SUPPORT \
            and ev.band_wrong and ev.band_expected and ev.band_wrong != ev.band_expected:
        if dp.gap < 0:
            param, direction = DEPTH_PARAM[ev.band_wrong], "decrease"
        else:
            param, direction = DEPTH_PARAM[ev.band_expected], "increase"
        admit(Proposal(param, direction, _magnitude_from_log_gap(dp.gap),
                       f"the depth prior gives the outranking files (mostly {ev.band_wrong}, mean depth "
                       f"{ev.depth_wrong or 0:.1f}) x{dp.side_wrong:.2f} vs x{dp.side_expected:.2f} for the expected "
                       f"files (mostly {ev.band_expected}, mean depth {ev.depth_expected or 0:.1f}) in "
                       f"{dp.agreeing} of {dp.n} failures", dp.support, "evidence"))
    for e in ev.ranked("multiplier"):
        if e.signal == "depth" or e.signal in ev.inert or e.signal not in SIGNAL_PARAM or e.support < MIN_SUPPORT:
            continue
        param = SIGNAL_PARAM[e.signal]
        if e.gap < 0:
            why = (f"{e.signal} multiplies the outranking files by x{e.side_wrong:.2f} vs x{e.side_expected:.2f} "
                   f"for the expected ones in {e.agreeing} of {e.n} failures; lowering {param} "
                   f"(now {space.values[param]:.4g}) takes that edge away")
        else:
            why = (f"{e.signal} multiplies the expected files by x{e.side_expected:.2f} vs x{e.side_wrong:.2f} "
                   f"for the outranking ones in {e.agreeing} of {e.n} failures; raising {param} "
                   f"(now {space.values[param]:.4g}) strengthens that edge")
        admit(Proposal(param, e.direction or "increase", _magnitude_from_log_gap(e.gap), why, e.support, "evidence"))
        break
    # file-class weights: no gap covers them, the file_class failures do
    n_class = ev.kinds.get("file_class", 0)
    for (kind, param, direction), votes in _kind_moves(ev):
        if kind == "file_class" and votes >= MIN_KIND_FAILURES:
            admit(Proposal(param, direction, "medium",
                           f"in {votes} of the {n_class} failures held back most by the file-class weight, {direction} "
                           f"{param} (now {space.values[param]:.4g}) narrows the gap between the expected file and "
                           f"the top-ranked one", votes / max(n_class, 1), "evidence"))
            break
    return out, notes


def _kind_moves(ev: Evidence) -> list[tuple[tuple[str, str, str], int]]:
    """The kinds' moves, most failures first (ties: kind order, then parameter name)."""
    order = {k: i for i, k in enumerate(FAILURE_KINDS)}
    return sorted(ev.kind_moves.items(), key=lambda kv: (-kv[1], order.get(kv[0][0], len(order)), kv[0][1]))


def _kind_explore(ev: Evidence, space: Space, exclude: set[str], why: str, support: float) -> Proposal | None:
    """A sideways step aimed by the failures' kinds: take away the top files' lead in the
    signal that holds back the most failures (at least :data:`MIN_KIND_FAILURES`)."""
    for (kind, param, direction), votes in _kind_moves(ev):
        if votes < MIN_KIND_FAILURES or param in exclude or not space.has_room(param, direction):
            continue
        return Proposal(param, direction, "medium",
                        f"{why}; {votes} of {ev.n_failures} failures are held back most by {kind} (the top-ranked "
                        f"file leads the expected one there), so {direction} {param} (now {space.values[param]:.4g}) "
                        f"is tried", support, "explore")
    return None


def _explore(space: Space, episode: int, exclude: set[str], inert_params: set[str],
             why: str | None = None, support: float = 0.3) -> Proposal | None:
    """A deterministic sideways step: the registry order rotated by the episode number."""
    candidates = [n for n in NAMES if n not in exclude and n not in inert_params]
    if not candidates:
        return None
    for k in range(len(candidates)):
        name = candidates[(episode + k) % len(candidates)]
        direction = "increase" if space.unit(name) < 0.5 else "decrease"
        if space.has_room(name, direction):
            reason = why or f"NDCG has not moved for {PLATEAU_EPISODES} episodes"
            return Proposal(name, direction, "medium",
                            f"{reason}; {name} (now {space.values[name]:.4g}) has not been touched recently and "
                            f"has more room to {direction} ({SPECS[name].meaning})", support, "explore")
    return None


def _interactions(params: Sequence[str]) -> list[str]:
    ps = set(params)
    return [text for group, text in INTERACTIONS if ps & set(group)]


def _lean(ev: Evidence, param: str) -> str | None:
    """The direction the failures lean for ``param``, however weakly (None: no evidence about it)."""
    for sig, e in sorted(ev.signals.items()):
        if BLOCKER_PARAM.get(sig) == param and e.n and abs(e.gap) > 1e-9:
            return "increase" if e.gap > 0 else "decrease"
    for (kind, p, direction), votes in _kind_moves(ev):
        if p == param and votes:
            return direction
    return None


def _directive_moves(dv: Directives, ev: Evidence, space: Space, tv: TrajectoryView,
                     cands: Sequence[Proposal]) -> tuple[list[Proposal], list[str]]:
    """The moves the promptgram's ``prefer`` directives ask for, in their order, and notes on
    the ones that cannot be made (at a bound, recently harmful, no direction to follow)."""
    out: list[Proposal] = []
    notes: list[str] = []
    by_param = {c.param: c for c in cands}
    for param, direction in dv.prefer:
        if any(p.param == param for p in out):
            continue
        c = by_param.get(param)
        if c is not None and (direction is None or c.direction == direction):
            out.append(replace(c, rationale=c.rationale + f" (the promptgram prefers {param})",
                               source="directive"))
            continue
        d = direction or _lean(ev, param)
        if d is None:
            notes.append(f"the promptgram prefers {param}, but no failure says which way to move it")
            continue
        if (param, d) in tv.avoid:
            notes.append(f"the promptgram prefers {d} {param}, but it lowered NDCG in episode {tv.avoid[(param, d)]}")
            continue
        if not space.has_room(param, d):
            notes.append(f"the promptgram prefers {d} {param}, but it is at its "
                         f"{'upper' if d == 'increase' else 'lower'} bound")
            continue
        how = f"the promptgram's directive 'prefer {param}{' ' + direction if direction else ''}'"
        out.append(Proposal(param, d, "medium",
                            f"{how}: {d} {param} (now {space.values[param]:.4g})"
                            + ("" if direction else " the way the failures lean"), 0.6, "directive"))
    return out, notes


def _agreed(proposals: Sequence[Proposal], failures: Sequence[Mapping[str, Any]],
            need: int) -> tuple[list[Proposal], list[str]]:
    """The proposals that the failures of at least ``need`` repositories lean toward (reverts
    always pass), and a note per one left out. Each repository's shown failures are analysed
    on their own, so a move counts a repository only when its own evidence asks for it."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for f in failures:
        groups.setdefault(str(f.get("repo") or ""), []).append(f)
    leans = {r: analyse(fs) for r, fs in sorted(groups.items())}
    kept: list[Proposal] = []
    left: list[str] = []
    for p in proposals:
        if p.source == "revert":
            kept.append(p)
            continue
        repos = [r for r, e in leans.items() if _lean(e, p.param) == p.direction]
        if len(repos) >= need:
            kept.append(replace(p, rationale=p.rationale + f" (the failures of {len(repos)} repositories agree: "
                                                            f"{', '.join(repos)})"))
        else:
            left.append(f"{p.direction} {p.param} ({len(repos)} of {len(leans)} repositories lean that way)")
    return kept, left


def _episodes_since_best(traj: Any) -> int | None:
    """Episodes since the last one that set a new best train NDCG@10 (the start counts as
    the first best); None without a finished episode."""
    done = sorted((t for t in traj or () if isinstance(t, Mapping) and finite(t.get("ndcg_after")) is not None
                   and finite(t.get("ndcg_before")) is not None), key=lambda t: finite(t.get("episode")) or 0.0)
    if not done:
        return None
    best = finite(done[0].get("ndcg_before")) or 0.0
    since = 0
    for t in done:
        after = finite(t.get("ndcg_after")) or 0.0
        if after > best + HARMFUL_EPS:
            best, since = after, 0
        else:
            since += 1
    return since


def _nearest_magnitude(param: str, now: float, direction: str, target: float, default: str) -> str:
    """The magnitude whose step from ``now`` in ``direction`` lands closest to ``target``
    (in the parameter's own scale); ``default`` wins ties."""
    from ..l1.step import step_value

    spec = SPECS[param]

    def dist(m: str) -> float:
        v = step_value(spec, now, direction, m)
        if spec.scale == "log" and v > 0 and target > 0:
            return abs(math.log(v) - math.log(target))
        return abs(v - target)

    return min((default, *[m for m in MAGNITUDES if m != default]), key=dist)


def _explore_now(episode: int, share: float) -> bool:
    """Whether episode ``episode`` is one of the ``share`` of episodes that explore: evenly
    spread and deterministic (share 0.3 explores in episodes 4, 7, 10, ...)."""
    return share > 0 and math.floor(episode * share + 1e-9) > math.floor((episode - 1) * share + 1e-9)


def propose_from_context(context: Mapping[str, Any]) -> str:
    """The full protocol answer (``REASONING:`` paragraph, then ``JSON:`` object)."""
    space = Space(context)
    failures = [f for f in (context.get("failures") or ()) if isinstance(f, Mapping)]
    ev = analyse(failures)
    dv = directives_of(context.get("promptgram"))
    plateau_n = dv.plateau_after or PLATEAU_EPISODES
    plateau_action = dv.plateau_action or "orthogonal"
    tv = read_trajectory(context.get("trajectory"), plateau_n)
    episode = int(finite(context.get("episode")) or 0)
    ndcg, best = finite(context.get("ndcg")), finite(context.get("best_ndcg"))
    # A multiplier equal to 1 everywhere carries no information only if its boost is on
    # (> 1): then no file has the trait (no chat/mentioned file among the ranked ones, no
    # git data). With the boost at 1 the trait is merely switched off, and raising it matters.
    inert = tuple(m for m in ev.inert if m in SIGNAL_PARAM and space.values[SIGNAL_PARAM[m]] > 1.0 + 1e-9)
    inert_params = {SIGNAL_PARAM[m] for m in inert}
    avoided_params = {p for p, _d in dv.avoid}  # explore never picks an avoided parameter

    proposals: list[Proposal] = []
    insights: list[str] = []
    sentences: list[str] = []

    head = f"Episode {episode}"
    if ndcg is not None:
        head += f": NDCG@10 {ndcg:.4f}" + (f" (best so far {best:.4f})" if best is not None else "")
    sentences.append(head + ".")
    if not dv.empty:
        sentences.append(f"The promptgram's directives: {dv.describe()}.")
    if dv.errors:
        sentences.append("Ignored malformed directive lines: " + "; ".join(dv.errors) + ".")

    if tv.last_harmful:
        for p, (d, m) in tv.last_applied.items():
            if dv.revert == "nearest" and p in tv.last_from:
                m = _nearest_magnitude(p, space.values[p], opposite(d), tv.last_from[p], m)
            proposals.append(Proposal(p, opposite(d), m,
                                      f"revert: {d} {p} ({m}) in episode {tv.last_episode} lowered NDCG@10 from "
                                      f"{tv.last_before:.4f} to {tv.last_after:.4f}", 1.0, "revert"))
        changes = ", ".join(f"{d} {p} ({m})" for p, (d, m) in tv.last_applied.items())
        sentences.append(f"The last change (episode {tv.last_episode}: {changes}) lowered NDCG@10 from "
                         f"{tv.last_before:.4f} to {tv.last_after:.4f}, so it is reverted and not re-proposed.")

    hold = tv.plateau and plateau_action == "hold" and not tv.last_harmful
    if not failures:
        sentences.append("There are no failures to analyse: every case ranks its expected files above the "
                         "failure threshold, so there is no evidence for any change.")
    else:
        sentences.append(f"{ev.n_failures} failures (mean per-case NDCG@10 {ev.mean_case_ndcg:.3f}); "
                         f"{ev.n_usable} have both scored expected files and outranking files "
                         f"({ev.n_expected_rows} expected rows, {ev.n_wrong_rows} outranking rows)"
                         + (f", and the outranking files score x{ev.score_ratio:.2f} the expected ones (median)."
                            if ev.score_ratio is not None else "."))
        if ev.kinds:
            sentences.append("By kind (the signal in which each failure's best expected file is furthest behind the "
                             "top-ranked file): " + tally(ev.kinds) + ".")
        cands, notes = _evidence_proposals(ev, space)
        insights.extend(notes)
        if not dv.empty:
            for c in cands:
                if dv.avoids(c.param, c.direction):
                    sentences.append(f"The evidence says {c.direction} {c.param}, but the promptgram avoids it.")
            cands = [c for c in cands if not dv.avoids(c.param, c.direction)]
            wanted, dnotes = _directive_moves(dv, ev, space, tv, cands)
            sentences.extend(n[0].upper() + n[1:] + "." for n in dnotes)
            cands = wanted + [c for c in cands if c.param not in {w.param for w in wanted}]
        taken = {p.param for p in proposals}
        limit = 1 if proposals else 3
        # NDCG is a step function of rank swaps, so a flat stretch can hide steady progress
        # toward the swap: parameters the evidence still pushes the same way in nearly every
        # failure keep moving; only the others are held during a plateau.
        consistent = {SIGNAL_PARAM.get(e.signal) for e in ev.ranked("additive") if e.support >= 0.8}
        escalate = tv.plateau and plateau_action == "escalate"
        plateau_touched = (set(tv.touched) - consistent) if tv.plateau and not escalate else set()
        kept = 0
        for c in ([] if hold else cands):
            if c.param in taken:
                continue
            if (c.param, c.direction) in tv.avoid:
                insights.append(f"not re-proposing {c.direction} {c.param}: it lowered NDCG in episode "
                                f"{tv.avoid[(c.param, c.direction)]}")
                continue
            if c.param in plateau_touched:
                insights.append(f"{c.param} was already moved during the plateau without effect; holding it")
                continue
            if kept >= limit:
                continue
            if tv.plateau and c.param in tv.touched and c.magnitude != "large":
                c = replace(c, magnitude="large",
                            rationale=c.rationale + " (escalated: smaller steps through the plateau have not "
                                                    "swapped any ranks yet)")
            proposals.append(c)
            taken.add(c.param)
            kept += 1
        for e in ev.ranked("additive")[:2]:
            if e.gap < 0:
                sentences.append(f"In {e.agreeing} of {e.n} failures the files that outranked the expected ones got "
                                 f"{_pct(e.side_wrong)} of their score from {e.signal} vs {_pct(e.side_expected)} "
                                 f"for the expected files (mean value {e.value_wrong:.2f} vs {e.value_expected:.2f}).")
            else:
                sentences.append(f"In {e.agreeing} of {e.n} failures the expected files got {_pct(e.side_expected)} "
                                 f"of their score from {e.signal} vs {_pct(e.side_wrong)} for the files that "
                                 f"outranked them (mean value {e.value_expected:.2f} vs {e.value_wrong:.2f}), "
                                 f"so {e.signal} is underweighted.")
        for e in ev.ranked("multiplier")[:1]:
            if e.signal in ev.inert:
                continue
            who = "outranking" if e.gap < 0 else "expected"
            hi, lo = (e.side_wrong, e.side_expected) if e.gap < 0 else (e.side_expected, e.side_wrong)
            sentences.append(f"The {e.signal} multiplier favours the {who} files (x{hi:.2f} vs x{lo:.2f}, "
                             f"{e.agreeing} of {e.n} failures).")
        if not ev.ranked("additive") and ev.n_usable:
            sentences.append("No additive signal separates the expected files from the outranking ones by more "
                             "than 5 points of score share.")
        if ev.unreachable:
            insights.append(f"{ev.unreachable} expected file(s) have a zero score: no signal reaches them, so no "
                            f"weight change can rank them")
            sentences.append(f"{ev.unreachable} expected file(s) score zero and are out of reach of any weight.")
        if inert:
            insights.append("multipliers equal to 1 for every ranked file although their boost is on, so no "
                            "file has the trait and their parameters cannot matter here: "
                            + ", ".join(f"{m} ({SIGNAL_PARAM[m]})" for m in inert))
        if ev.depth_expected is not None and ev.depth_wrong is not None \
                and abs(ev.depth_expected - ev.depth_wrong) >= 1.0:
            insights.append(f"expected files sit at mean path depth {ev.depth_expected:.1f} vs "
                            f"{ev.depth_wrong:.1f} for the outranking files")
        if tv.plateau and not tv.last_harmful:
            what = {"orthogonal": "", "escalate": " (the promptgram says: escalate)",
                    "hold": " (the promptgram says: hold)"}[plateau_action]
            x = None
            if plateau_action == "orthogonal":
                exclude = set(tv.touched) | {p.param for p in proposals} | avoided_params
                x = _kind_explore(ev, space, exclude | inert_params,
                                  f"NDCG has not moved for {plateau_n} episodes", 0.3) \
                    or _explore(space, episode, exclude, inert_params,
                                why=f"NDCG has not moved for {plateau_n} episodes")
            sentences.append(f"NDCG@10 moved less than {PLATEAU_EPS} in each of the last {plateau_n} "
                             f"episodes: a plateau{what}" + (f", so {x.param} is explored." if x else "."))
            if x is not None:
                proposals.append(x)
        elif dv.explore and _explore_now(episode, dv.explore) and not tv.last_harmful:
            exclude = set(tv.touched) | {p.param for p in proposals} | avoided_params
            why = f"the promptgram explores on {dv.explore:g} of the episodes"
            x = _kind_explore(ev, space, exclude | inert_params, why, 0.4) \
                or _explore(space, episode, exclude, inert_params, why=why, support=0.4)
            if x is not None:
                sentences.append(f"This episode explores (directive 'explore {dv.explore:g}'): {x.param}.")
                proposals.append(x)

    if not proposals and failures and not tv.last_harmful and not hold:
        # Holding forever is a stall: with failures left but no consistent evidence, take
        # one sideways step on a parameter not tried recently (and not known to hurt);
        # if it hurts, the next episode reverts it and remembers.
        avoided = {p for p, _d in tv.avoid} | avoided_params
        x = _kind_explore(ev, space, set(tv.touched) | avoided | inert_params, "the failures agree on no signal",
                          0.4) \
            or _explore(space, episode, set(tv.touched) | avoided, inert_params,
                        why="the failures agree on no signal", support=0.4)
        if x is not None:
            sentences.append(f"No signal separates the failures consistently, so {x.param} is explored.")
            proposals.append(x)

    since = _episodes_since_best(context.get("trajectory"))
    if dv.stall and since is not None and since >= dv.stall:
        left = [f"{p.direction} {p.param}" for p in proposals if p.source != "revert"]
        proposals = [p for p in proposals if p.source == "revert"]
        sentences.append(f"No new best train NDCG@10 for {since} episodes (the promptgram's 'stall {dv.stall}'): "
                         f"the run holds" + (", only undoing the last change" if proposals else "")
                         + (f"; not proposed: {', '.join(left)}" if left else "") + ".")

    if dv.agree and proposals:
        proposals, left = _agreed(proposals, failures, dv.agree)
        if left:
            sentences.append(f"The promptgram moves a parameter only when the failures of {dv.agree} or more "
                             f"repositories lean that way; left out: " + "; ".join(left) + ".")

    if dv.step:
        proposals = [p if p.source == "revert" or p.magnitude == dv.step
                     else replace(p, magnitude=dv.step, rationale=p.rationale + f" (step {dv.step}: the promptgram)")
                     for p in proposals]
    if dv.max_changes is not None and len(proposals) > dv.max_changes:
        dropped = proposals[dv.max_changes:]
        proposals = proposals[:dv.max_changes]
        sentences.append(f"The promptgram allows {dv.max_changes} change(s) per episode; left out: "
                         + ", ".join(f"{p.direction} {p.param}" for p in dropped) + ".")

    if proposals:
        sentences.append("Proposed: " + "; ".join(f"{p.direction} {p.param} ({p.magnitude})" for p in proposals) + ".")
    confidence = (min(CONF_MAX, max(CONF_MIN, sum(p.support for p in proposals) / len(proposals)))
                  if proposals else CONF_MIN)

    evid = [p for p in proposals if p.source in ("evidence", "directive")]
    if not failures and not proposals:
        capsule = "no failures: hold the parameters"
        diagnosis = "no failures to analyse: every case is above the failure threshold, so nothing to correct"
    elif not proposals and hold:
        capsule = "plateau: hold the parameters (the promptgram says so)"
        diagnosis = f"NDCG@10 has plateaued for {plateau_n} episodes and the promptgram says to hold"
    elif not proposals and ev.n_usable == 0 and ev.unreachable:
        capsule = "expected files out of reach: hold the weights"
        diagnosis = (f"{ev.unreachable} expected file(s) score zero (no signal reaches them), so no weight change "
                     "can lift them; the fix is structural, not a parameter")
    elif not proposals:
        capsule = "no consistent evidence: hold the parameters"
        diagnosis = ("the failures do not agree on any signal that separates the expected files from the ones "
                     "that outrank them")
    else:
        parts = []
        if any(p.source == "revert" for p in proposals):
            parts.append("revert " + ", ".join(p.param for p in proposals if p.source == "revert"))
        downs = [p.param for p in evid if p.direction == "decrease"]
        ups = [p.param for p in evid if p.direction == "increase"]
        if downs and ups:
            parts.append(f"shift weight from {', '.join(downs)} to {', '.join(ups)}")
        elif downs:
            parts.append(f"lower {', '.join(downs)}")
        elif ups:
            parts.append(f"raise {', '.join(ups)}")
        if any(p.source == "explore" for p in proposals):
            parts.append("explore " + ", ".join(p.param for p in proposals if p.source == "explore"))
        capsule = "; ".join(parts)
        diag = []
        for e in ev.ranked("additive")[:2]:
            if e.gap < 0:
                diag.append(f"outranking files are lifted by {e.signal} ({_pct(e.side_wrong)} of their score vs "
                            f"{_pct(e.side_expected)})")
            else:
                diag.append(f"expected files carry {e.signal} evidence that is underweighted "
                            f"({_pct(e.side_expected)} of their score vs {_pct(e.side_wrong)})")
        if tv.last_harmful:
            diag.append(f"the last change lowered NDCG@10 by {tv.last_before - tv.last_after:.4f}")
        if tv.plateau and not tv.last_harmful:
            diag.append(f"NDCG@10 has plateaued for {plateau_n} episodes")
        diagnosis = "; ".join(diag) or "see proposed changes"

    answer = {
        "strategy_capsule": capsule,
        "diagnosis": diagnosis,
        "param_interactions": _interactions([p.param for p in proposals]),
        "proposed_changes": {p.param: [p.direction, p.magnitude, p.rationale] for p in proposals},
        "structural_insights": insights,
        "confidence": round(confidence, 2),
    }
    reasoning = " ".join(sentences)
    return f"REASONING: {reasoning}\n\nJSON:\n{json.dumps(answer, indent=2, ensure_ascii=False)}\n"


class HeuristicAgent:
    """Deterministic, offline agent for L1 proposals and distillation."""

    name = "heuristic"

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        t0 = time.perf_counter()
        if not isinstance(context, Mapping):
            return AgentReply(text="", latency_s=time.perf_counter() - t0,
                              error="heuristic: no structured context was passed (it analyses the context the "
                                    "prompt is built from, not free text)")
        if context.get("task") == "distill":
            from .heuristic_distill import distill_from_context

            text = distill_from_context(context)
        else:
            text = propose_from_context(context)
        return AgentReply(text=text, latency_s=time.perf_counter() - t0)


__all__ = ["HeuristicAgent", "propose_from_context"]
