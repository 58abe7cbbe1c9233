"""Reading an agent's reply: find the JSON, validate it field by field, never coerce.

A reply is free text with a ``REASONING:`` part and a ``JSON:`` object (see the shipped
protocol). Every entry is validated on its own: an unknown parameter, a direction or
magnitude outside the protocol's words, a wrong type or a missing confidence is rejected
*with its reason*, recorded in the episode and shown to the agent next time. A parser
that silently "fixed" replies would hide a broken prompt.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter, ValidationError

from ...rank.params import SPECS, ParamSpec
from ..vocabulary import Direction, Magnitude
from .protocol import JSON_MARKER, REASONING_MARKER


@dataclass(frozen=True)
class Rejection:
    """A proposed change (or a whole reply's changes) that was not applied, and why."""

    param: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"param": self.param, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Rejection":
        return cls(str(d.get("param", "")), str(d.get("reason", "")))


class Change(BaseModel):
    """One validated proposed change. Strict: the protocol's words or nothing."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    param: StrictStr
    direction: Direction
    magnitude: Magnitude
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
_TEXT_FIELDS: tuple[tuple[str, TypeAdapter, str], ...] = (
    ("strategy_capsule", _STR, ""), ("diagnosis", _STR, ""),
    ("param_interactions", _STR_LIST, "must be a list of strings, "),
    ("structural_insights", _STR_LIST, "must be a list of strings, "))
"""The reply's free-text fields: (key, validator, what the error says it must be)."""


@dataclass(frozen=True)
class ParsedReply:
    """What a reply said, what of it is usable, and every reason something was not."""

    reasoning: str
    data: dict | None  # the JSON object as sent (None when none could be read)
    proposal: Proposal
    changes: tuple[Change, ...]
    rejected: tuple[Rejection, ...]  # individual changes
    errors: tuple[str, ...]  # problems with the reply as a whole (no JSON, bad confidence, ...)

    @property
    def confidence(self) -> float | None:
        return self.proposal.confidence


_REASONING, _JSON = REASONING_MARKER.rstrip(":"), JSON_MARKER.rstrip(":")
_MARKER = re.compile(rf"^[ \t>*_#]*({_REASONING}|{_JSON})[ \t*_]*:[*_]*", re.IGNORECASE | re.MULTILINE)
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
    json_marks = [m for m in marks if m.group(1).upper() == _JSON]
    reason_marks = [m for m in marks if m.group(1).upper() == _REASONING]
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


def validate_proposal(data: dict, known: Mapping[str, ParamSpec] = SPECS
                      ) -> tuple[Proposal, list[Change], list[Rejection], list[str]]:
    """Validate a reply object field by field: keep what is valid, record the rest."""
    errors: list[str] = []
    fields: dict[str, Any] = {}
    for key, adapter, what in _TEXT_FIELDS:
        if key in data:
            try:
                fields[key] = adapter.validate_python(data[key])
            except ValidationError as e:
                errors.append(f"{key}: {what}{_first_error(e)}; ignored")
    changes: list[Change] = []
    rejected: list[Rejection] = []
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
                rejected.append(Rejection(param, str(why)))
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
        return ParsedReply("", None, Proposal(), (), (), ("empty reply",))
    reasoning, data, error = split_reply(text)
    if data is None:
        return ParsedReply(reasoning, None, Proposal(), (), (), (error or "no JSON object found in the reply",))
    proposal, changes, rejected, errors = validate_proposal(data, known)
    return ParsedReply(reasoning, data, proposal, tuple(changes), tuple(rejected), tuple(errors))


__all__ = ["Change", "ParsedReply", "Proposal", "Rejection", "parse_reply", "split_reply", "validate_change",
           "validate_proposal"]
