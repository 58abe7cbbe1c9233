"""The seeds' failure modes of a two-level run, computed from its records.

After each inner run, before L2 is asked, the outer steps so far are checked for:

* ``basin_lock_in``: the same final parameters for :data:`LOCK_IN_STEPS` outer steps in a
  row, or L1 repeating the same point for several episodes inside the latest inner run;
* ``schema_corruption``: L1 replies with long reasoning and no usable change in most
  episodes (the seeds' 500-episode bug), or L2 answering with a long rationale and no
  valid edit two steps running;
* ``collapse``: the outer score falling :data:`COLLAPSE_STEPS` steps in a row, or L1
  ending its run well below the best point it had reached;
* ``oscillation``: a parameter L1 moved up and down and up again within the latest run,
  or an outer score that alternates up and down;
* ``l2_not_steering``: the parameters the running promptgram's edits name (directives,
  or parameter names in prose) against what L1 then did with them; edits that name no
  parameter at all are reported too (prose L1 may not act on).

Each finding is a :class:`Diagnosis`; the list is stored with the step, shown by
``--show``, and written into the next L2 prompt.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ...rank.params import NAMES
from ..agents.directives import parse_line
from .edits import Edit
from .scratchpad import OuterStep

LOCK_IN_STEPS = 5
COLLAPSE_STEPS = 3
COLLAPSE_DROP = 0.02
"""Train NDCG@10 lost between L1's best point and where its run ended that counts as a collapse."""
SCHEMA_SHARE = 0.5
STEERING_SHARE = 0.5
_EPS = 1e-9
_PARAM_WORD = re.compile(r"\b(" + "|".join(sorted(NAMES, key=len, reverse=True)) + r")\b")


@dataclass(frozen=True)
class Diagnosis:
    kind: str
    detail: str
    params: tuple[str, ...] = ()
    step: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "params": list(self.params), "step": self.step}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Diagnosis":
        return cls(str(d.get("kind", "")), str(d.get("detail", "")), tuple(str(p) for p in d.get("params") or ()),
                   int(d.get("step") or 0))


def named_params(edits: Sequence[Edit]) -> dict[str, tuple[str, str | None]]:
    """parameter → (what the edits ask: prefer | avoid | mention, direction) over the added or replacing text."""
    out: dict[str, tuple[str, str | None]] = {}
    for e in edits:
        if e.edit_type == "delete":
            continue
        for line in e.content.splitlines():
            d, _err = parse_line(line)
            if d is not None and d.verb in ("prefer", "avoid"):
                for p in d.params:
                    out[p] = (d.verb, d.direction)
            elif d is None:
                for p in _PARAM_WORD.findall(line):
                    out.setdefault(p, ("mention", None))
    return out


def _same(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return bool(a) and dict(a) == dict(b)


def steering(named: Mapping[str, tuple[str, str | None]], moved: Mapping[str, Mapping[str, Any]]
             ) -> tuple[list[str], list[str]]:
    """(parameters L1 treated as the edits asked, parameters it did not)."""
    followed, ignored = [], []
    for p, (verb, direction) in sorted(named.items()):
        m = moved.get(p) or {}
        ups, downs = int(m.get("increase") or 0), int(m.get("decrease") or 0)
        if verb == "avoid":
            ok = (ups + downs == 0) if direction is None else (ups if direction == "increase" else downs) == 0
        elif direction is not None:
            ok = (ups if direction == "increase" else downs) > 0
        else:
            ok = ups + downs > 0
        (followed if ok else ignored).append(p)
    return followed, ignored


def reversals(directions: Sequence[str]) -> int:
    """How many times a sequence of directions changes sign."""
    return sum(1 for a, b in zip(directions, directions[1:]) if a != b)


def diagnose(steps: Sequence[OuterStep], version_edits: Mapping[str, Sequence[Edit]]) -> list[Diagnosis]:
    """The diagnoses of an outer run after its last step (see the module docstring)."""
    if not steps:
        return []
    out: list[Diagnosis] = []
    last = steps[-1]
    n = last.outer_step

    # basin lock-in
    streak = 1
    for a, b in zip(reversed(steps[:-1]), reversed(steps[1:])):
        if not _same(a.final_params, b.final_params):
            break
        streak += 1
    if streak >= LOCK_IN_STEPS:
        out.append(Diagnosis("basin_lock_in", f"the last {streak} outer steps ended on the same parameters: L1 keeps "
                                              f"finding the same point; add exploration (directive: explore, on "
                                              f"plateau N: orthogonal) or stop warm-starting", (), n))
    flags = last.inner.get("flags") if isinstance(last.inner.get("flags"), Mapping) else {}
    episodes = int(last.inner.get("episodes") or 0)
    if int(flags.get("basin_lock_in", 0)) > 0:
        out.append(Diagnosis("basin_lock_in", f"inside step {n}'s inner run, L1 stayed on the same parameters for 5 or "
                                              f"more episodes ({flags['basin_lock_in']} episode(s) flagged)", (), n))

    # schema corruption
    if episodes and int(flags.get("schema_corruption", 0)) >= SCHEMA_SHARE * episodes:
        out.append(Diagnosis("schema_corruption", f"{flags['schema_corruption']} of {episodes} L1 replies had long "
                                                  f"reasoning and no usable change (the reply format is not being "
                                                  f"followed)", (), n))
    prev_l2 = [s for s in steps[:-1]][-2:]
    if len(prev_l2) == 2 and all(not (s.proposal.get("edits") or []) and len(s.rationale) >= 200 for s in prev_l2):
        out.append(Diagnosis("schema_corruption", "L2's last two replies had a long rationale and no valid edit: "
                                                  "answer with proposal.edits as the L2 protocol says", (), n))

    # collapse
    scores = [s.score for s in steps]
    tail = scores[-(COLLAPSE_STEPS + 1):]
    if len(tail) == COLLAPSE_STEPS + 1 and all(x is not None for x in tail) and \
            all(b < a - _EPS for a, b in zip(tail, tail[1:])):  # type: ignore[operator]
        out.append(Diagnosis("collapse", f"the outer score fell {COLLAPSE_STEPS} steps in a row "
                                         f"({' → '.join(f'{x:.4f}' for x in tail)})", (), n))  # type: ignore[str-format]
    traj = [t for t in last.inner.get("trajectory") or () if isinstance(t, Mapping)]
    afters = [t.get("train_after") for t in traj if isinstance(t.get("train_after"), (int, float))]
    if afters:
        peak = max([*afters, *([last.start_metrics["train"]] if isinstance(last.start_metrics.get("train"), float)
                               else [])])
        if afters[-1] < peak - COLLAPSE_DROP:
            out.append(Diagnosis("collapse", f"step {n}'s L1 ended at train {afters[-1]:.4f}, {peak - afters[-1]:.4f} "
                                             f"below the best point it reached ({peak:.4f})", (), n))

    # oscillation
    moved = last.moved_params if isinstance(last.moved_params, Mapping) else {}
    osc = sorted(p for p, m in moved.items() if isinstance(m, Mapping) and reversals(m.get("directions") or ()) >= 2)
    if osc:
        out.append(Diagnosis("oscillation", f"L1 moved {', '.join(osc)} back and forth (up, down, up) within step "
                                            f"{n}'s run: the steps overshoot; smaller steps or leaving them alone "
                                            f"may help", tuple(osc), n))
    signs = [(1 if b > a + _EPS else -1 if b < a - _EPS else 0)
             for a, b in zip(scores, scores[1:]) if a is not None and b is not None][-3:]
    if len(signs) == 3 and 0 not in signs and signs[0] == signs[2] != signs[1]:
        out.append(Diagnosis("oscillation", "the outer score alternates up and down over the last steps: edits "
                                            "are being undone by the next ones", (), n))

    # L2 not steering
    edits = list(version_edits.get(last.promptgram) or ())
    if edits:
        named = named_params(edits)
        directive_lines = any(parse_line(ln)[0] is not None for e in edits if e.edit_type != "delete"
                              for ln in e.content.splitlines())
        if not named and not directive_lines and any(e.edit_type != "delete" for e in edits):
            out.append(Diagnosis("l2_not_steering", f"the edits that made {last.promptgram} name no parameter: prose "
                                                    f"L1 may not act on; name parameters (directive: prefer/avoid)",
                                 (), n))
        if named:
            followed, ignored = steering(named, moved)
            if len(followed) < STEERING_SHARE * len(named):
                out.append(Diagnosis("l2_not_steering", f"{last.promptgram}'s edits name {', '.join(sorted(named))}; "
                                                        f"L1 acted as asked on {', '.join(followed) or 'none'} and not "
                                                        f"on {', '.join(ignored)}", tuple(ignored), n))
    return out


__all__ = ["COLLAPSE_STEPS", "Diagnosis", "LOCK_IN_STEPS", "diagnose", "named_params", "reversals", "steering"]
