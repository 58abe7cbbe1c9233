"""Directives: the machine-readable lines of a promptgram that the offline L1 agent obeys.

A promptgram steers an LLM through prose; the offline ``heuristic`` agent reads no prose,
so without something it can act on, an L2 edit could never change what it proposes and
the outer loop would be steering nothing. A *directive* is one line of the ``Policy`` or
``Heuristics`` section, readable by a person and by an LLM alike, in a small grammar::

    directive: prefer PARAM[, PARAM ...] [increase|decrease]
    directive: avoid PARAM[, PARAM ...] [increase|decrease]
    directive: step small|medium|large
    directive: max-changes N                  (N from 1 to 4)
    directive: explore F                      (F from 0 to 1)
    directive: on plateau N: orthogonal|escalate|hold
    directive: agree N                        (N from 1 to 8)
    directive: revert nearest|same
    directive: stall N                        (N from 1 to 50)

The line may be a list item (``- directive: ...``) and wrapped in backticks; what follows
``#``, ``(``, ``;`` or `` -- `` is a comment. Meanings (how the heuristic agent reads them):

* ``prefer``: moves on these parameters come before the failure evidence's other moves;
  with a direction the parameter is moved that way each episode (unless that move lowered
  NDCG recently), without one it follows the direction the failures lean.
* ``avoid``: never move these parameters (or only never in the given direction).
* ``step``: every move (except a revert) uses this magnitude.
* ``max-changes``: at most N changes per episode.
* ``explore``: on this share of the episodes, add one sideways move on a parameter no
  recent episode touched.
* ``on plateau N``: a plateau is N episodes without movement (default 3); then
  ``orthogonal`` tries an untouched parameter (the default), ``escalate`` repeats the
  current moves with a large step, ``hold`` proposes nothing.
* ``agree N``: a move (other than a revert) is made only when the shown failures of at
  least N different repositories lean that way; a sideways step with no such support is
  not taken. This is the generalization rule: a change one repository's failures ask
  for and the others' do not is the kind that raises train NDCG and loses on
  repositories nobody trained on.
* ``revert``: how a change that lowered NDCG is undone. ``same`` (the default) is the
  opposite direction at the same magnitude, which does not land where the parameter was
  (×1.3 then ×0.7 is ×0.91; a step clamped at a bound and then halved ends far below its
  start), so a run of reverts wanders; ``nearest`` takes the magnitude whose step lands
  closest to the value before the change.
* ``stall N``: after N episodes without a new best train NDCG@10, propose nothing but
  the undoing of a change that just hurt. Every point a run visits is one more chance for
  the validation split to select a point by luck; a run that has stopped improving only
  buys such chances.

Later lines win over earlier ones for the single-valued directives; ``avoid`` wins over
``prefer`` on the same parameter. A line that starts with ``directive:`` but does not
parse is reported with its reason (the outer loop refuses an edit that writes one), and
ignored by the agent.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ...rank.params import NAMES
from ..vocabulary import DIRECTIONS, MAGNITUDES

GRAMMAR = """\
A directive is one line of the Policy or Heuristics section (a list item is fine):

    directive: prefer PARAM[, PARAM ...] [increase|decrease]
    directive: avoid PARAM[, PARAM ...] [increase|decrease]
    directive: step small|medium|large
    directive: max-changes N            (N from 1 to 4)
    directive: explore F                (F from 0 to 1)
    directive: on plateau N: orthogonal|escalate|hold
    directive: agree N                  (N from 1 to 8)
    directive: revert nearest|same
    directive: stall N                  (N from 1 to 50)

- prefer: move these parameters before the failures' other suggestions; with a direction,
  move them that way every episode unless that move lowered NDCG recently; without one,
  the way the failures lean.
- avoid: never move these parameters (or never in the given direction).
- step: use this magnitude for every move except reverts.
- max-changes: at most N changes per episode.
- explore: on this share of episodes, add one move on a parameter no recent episode touched.
- on plateau N: after N episodes without movement, try an untouched parameter (orthogonal),
  repeat the current moves with a large step (escalate), or propose nothing (hold).
- agree: make a move (other than a revert) only when the failures of at least N different
  repositories lean that way; take no sideways step without such support.
- revert: undo a change that lowered NDCG with the same magnitude in the opposite direction
  (same, the default), or with the magnitude that lands closest to the value before it (nearest).
- stall: after N episodes without a new best train NDCG@10, stop proposing changes (a change that
  just hurt is still undone).
Text after #, (, ; or -- is a comment. Later lines win; avoid wins over prefer. PARAM is a
name from the parameter list of L1's prompt.
"""
"""The grammar as L2 is told it (the same text the README documents)."""

PREFIX = "directive:"
READ_SECTIONS: tuple[str, ...] = ("Policy", "Heuristics")
"""The promptgram sections directives are read from."""
PLATEAU_ACTIONS: tuple[str, ...] = ("orthogonal", "escalate", "hold")
MAX_CHANGES_RANGE = (1, 4)
PLATEAU_RANGE = (1, 20)
AGREE_RANGE = (1, 8)
REVERT_MODES: tuple[str, ...] = ("nearest", "same")
STALL_RANGE = (1, 50)

_LINE = re.compile(r"^\s*(?:[-*+]\s+)?`?\s*directive\s*:\s*(?P<body>.*?)\s*`?\s*$", re.IGNORECASE)
_COMMENT = re.compile(r"\s+--\s|\s*[#(;]|\s+—\s")
_PLATEAU = re.compile(r"^on\s+plateau\s+(?P<n>\d+)\s*:\s*(?P<action>[a-z-]+)$")


@dataclass(frozen=True)
class Directive:
    """One parsed directive line."""

    verb: str  # prefer | avoid | step | max-changes | explore | on-plateau | agree | revert | stall
    params: tuple[str, ...] = ()
    direction: str | None = None
    value: str | float | int | None = None
    line: str = ""

    def text(self) -> str:
        """The canonical spelling (what an L2 agent writes)."""
        if self.verb in ("prefer", "avoid"):
            return f"directive: {self.verb} {', '.join(self.params)}" + (f" {self.direction}" if self.direction else "")
        if self.verb == "on-plateau":
            n, action = self.value if isinstance(self.value, tuple) else (None, None)
            return f"directive: on plateau {n}: {action}"
        return f"directive: {self.verb} {self.value:g}" if isinstance(self.value, float) else \
            f"directive: {self.verb} {self.value}"


@dataclass(frozen=True)
class Directives:
    """Everything the directives of one promptgram say, folded (later lines win)."""

    items: tuple[Directive, ...] = ()
    errors: tuple[str, ...] = ()
    prefer: tuple[tuple[str, str | None], ...] = ()
    avoid: frozenset[tuple[str, str | None]] = field(default_factory=frozenset)
    step: str | None = None
    max_changes: int | None = None
    explore: float | None = None
    plateau_after: int | None = None
    plateau_action: str | None = None
    agree: int | None = None
    revert: str | None = None
    stall: int | None = None

    @property
    def empty(self) -> bool:
        return not self.items

    def avoids(self, param: str, direction: str | None = None) -> bool:
        """Whether moving ``param`` (in ``direction``; None: in any direction) is ruled out."""
        if (param, None) in self.avoid:
            return True
        return direction is not None and (param, direction) in self.avoid

    def named(self) -> dict[str, tuple[str, str | None]]:
        """parameter → (verb, direction) for every parameter a directive names (avoid wins)."""
        out: dict[str, tuple[str, str | None]] = {}
        for p, d in self.prefer:
            out[p] = ("prefer", d)
        for p, d in sorted(self.avoid, key=lambda x: (x[0], x[1] or "")):
            out[p] = ("avoid", d)
        return out

    def describe(self) -> str:
        return "; ".join(d.text().removeprefix(PREFIX).strip() for d in self.items)


def _closest(name: str) -> str:
    near = difflib.get_close_matches(name, NAMES, n=1, cutoff=0.75)
    return f" (did you mean '{near[0]}'?)" if near else ""


#: verbs taking one word of a fixed set
_CHOICE_VERBS: dict[str, tuple[str, ...]] = {"step": MAGNITUDES, "revert": REVERT_MODES}
#: verbs taking a whole number in a range, and what the number counts (for the error)
_COUNT_VERBS: dict[str, tuple[tuple[int, int], str]] = {
    "max-changes": (MAX_CHANGES_RANGE, "a whole number"),
    "stall": (STALL_RANGE, "a number of episodes"),
    "agree": (AGREE_RANGE, "a number of repositories"),
}


def parse_line(line: str) -> tuple[Directive | None, str | None]:
    """(directive, None), (None, reason) for a malformed directive line, (None, None) for any other line."""
    m = _LINE.match(line)
    if not m:
        return None, None
    raw = m.group("body")
    body = _COMMENT.split(raw, maxsplit=1)[0].strip().strip("`").strip().lower()
    shown = line.strip()
    if not body:
        return None, f"'{shown}': empty directive"
    words = body.replace(",", " , ").split()
    verb = words[0]
    if verb in ("prefer", "avoid"):
        rest = [w for w in words[1:] if w != ","]
        direction = rest[-1] if rest and rest[-1] in DIRECTIONS else None
        params = rest[:-1] if direction else rest
        if not params:
            return None, f"'{shown}': {verb} needs at least one parameter name"
        for p in params:
            if p not in NAMES:
                return None, f"'{shown}': unknown parameter '{p}'{_closest(p)}"
        return Directive(verb, tuple(dict.fromkeys(params)), direction, None, shown), None
    if verb in _CHOICE_VERBS:
        choices = _CHOICE_VERBS[verb]
        if len(words) != 2 or words[1] not in choices:
            return None, f"'{shown}': {verb} takes one of {', '.join(choices)}"
        return Directive(verb, value=words[1], line=shown), None
    if verb in _COUNT_VERBS:
        (lo, hi), what = _COUNT_VERBS[verb]
        if len(words) != 2 or not words[1].isdigit() or not lo <= int(words[1]) <= hi:
            return None, f"'{shown}': {verb} takes {what} from {lo} to {hi}"
        return Directive(verb, value=int(words[1]), line=shown), None
    if verb == "explore":
        try:
            f = float(words[1]) if len(words) == 2 else -1.0
        except ValueError:
            f = -1.0
        if not 0.0 <= f <= 1.0:
            return None, f"'{shown}': explore takes a share from 0 to 1"
        return Directive("explore", value=f, line=shown), None
    if verb == "on":
        pm = _PLATEAU.match(" ".join(body.split()))
        lo, hi = PLATEAU_RANGE
        if not pm or not lo <= int(pm.group("n")) <= hi or pm.group("action") not in PLATEAU_ACTIONS:
            return None, (f"'{shown}': write 'on plateau N: ACTION' with N from {lo} to {hi} and ACTION one of "
                          f"{', '.join(PLATEAU_ACTIONS)}")
        return Directive("on-plateau", value=(int(pm.group("n")), pm.group("action")), line=shown), None
    return None, (f"'{shown}': unknown directive '{verb}' (known: prefer, avoid, step, max-changes, explore, "
                  f"on plateau, agree, revert, stall)")


def parse_directives(texts: Iterable[str]) -> Directives:
    """Fold the directive lines of ``texts`` (section bodies, in order) into one :class:`Directives`."""
    items: list[Directive] = []
    errors: list[str] = []
    in_fence = False
    for text in texts:
        for line in str(text or "").splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                in_fence = not in_fence
                continue
            if in_fence:
                continue  # a quoted example is not an instruction
            d, err = parse_line(line)
            if err:
                errors.append(err)
            elif d is not None:
                items.append(d)
    prefer: dict[tuple[str, str | None], None] = {}
    avoid: set[tuple[str, str | None]] = set()
    step = max_changes = explore = plateau_after = plateau_action = agree = revert = stall = None
    for d in items:
        if d.verb == "prefer":
            for p in d.params:
                prefer[(p, d.direction)] = None
        elif d.verb == "avoid":
            avoid.update((p, d.direction) for p in d.params)
        elif d.verb == "step":
            step = d.value
        elif d.verb == "max-changes":
            max_changes = d.value
        elif d.verb == "explore":
            explore = d.value
        elif d.verb == "on-plateau":
            plateau_after, plateau_action = d.value  # type: ignore[misc]
        elif d.verb == "agree":
            agree = d.value
        elif d.verb == "revert":
            revert = d.value
        elif d.verb == "stall":
            stall = d.value
    kept = tuple((p, dr) for p, dr in prefer if (p, None) not in avoid and (p, dr) not in avoid)
    return Directives(tuple(items), tuple(errors), kept, frozenset(avoid), step, max_changes, explore,
                      plateau_after, plateau_action, agree, revert, stall)


def directives_of(sections: Mapping[str, str] | None) -> Directives:
    """The directives of a promptgram given as section name → body (only Policy and Heuristics count)."""
    if not isinstance(sections, Mapping):
        return Directives()
    keyed = {str(k).strip().lower(): v for k, v in sections.items() if isinstance(v, str)}
    return parse_directives(keyed.get(s.lower(), "") for s in READ_SECTIONS)


__all__ = ["AGREE_RANGE", "REVERT_MODES", "STALL_RANGE", "Directive", "Directives", "GRAMMAR", "PLATEAU_ACTIONS", "PREFIX", "READ_SECTIONS", "directives_of",
           "parse_directives", "parse_line"]
