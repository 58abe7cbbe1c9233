"""Promptgram edits: what L2 may change, checked one edit at a time, and applied.

An edit names a section, an ``edit_type`` (``add``, ``replace``, ``delete``), a
``content`` and a ``target``. Only the four promptgram sections (Role, Policy, Heuristics,
Style) can be edited. Everything else is refused *with its reason*, which is recorded in
the outer scratchpad and shown to L2 at the next step:

* a section of the L1 output protocol (``API_contract``, ``Output_schema``): the protocol
  is injected after the promptgram at run time and no edit may reach it (the seeds' bug:
  an outer loop rewrote the schema example, and L1 answered with empty proposals for
  hundreds of episodes);
* an unknown section, an unknown edit type, missing or mistyped fields;
* content that would break the promptgram's structure (a ``## `` heading starts a new
  section) or that speaks for the protocol (a ``proposed_changes`` example, a
  ``REASONING:`` / ``JSON:`` line): the same bug through the back door;
* a malformed directive line (:mod:`ripmap.train.agents.directives`), so L2 learns the
  grammar instead of writing lines no agent obeys;
* a ``replace`` or ``delete`` whose target is not in the section, an ``add`` of text that
  is already there, a promptgram grown past :data:`MAX_PROMPTGRAM_CHARS`.

Valid edits apply in order; the refused ones change nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ...errors import UsageError
from ..agents.directives import parse_line
from ..l1.promptgram import REQUIRED_SECTIONS, Promptgram, parse_promptgram
from ..l1.protocol import JSON_MARKER, PROTOCOL_SECTIONS, REASONING_MARKER

EDITABLE: tuple[str, ...] = REQUIRED_SECTIONS
"""The sections L2 may edit: Role, Policy, Heuristics, Style."""
EDIT_TYPES: tuple[str, ...] = ("add", "replace", "delete")
MAX_EDITS = 4
"""Edits beyond this many in one reply are refused: small steps can be attributed."""
MAX_CONTENT_CHARS = 2000
MAX_PROMPTGRAM_CHARS = 24000
"""A promptgram longer than this is refused: every L1 prompt pays for it."""

_HEADING = re.compile(r"^##[ \t]")
_PROTOCOL_WORDS = re.compile(r"proposed_changes|^\s*(" + re.escape(REASONING_MARKER) + "|" + re.escape(JSON_MARKER)
                             + r")", re.MULTILINE | re.IGNORECASE)


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", "_", str(name).strip()).lower()


@dataclass(frozen=True)
class Edit:
    """One validated edit (``target`` is ``""`` when not given)."""

    section: str
    edit_type: str
    content: str = ""
    target: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"section": self.section, "edit_type": self.edit_type, "content": self.content, "target": self.target}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Edit":
        return cls(str(d.get("section", "")), str(d.get("edit_type", "")), str(d.get("content") or ""),
                   str(d.get("target") or ""))

    def describe(self, width: int = 70) -> str:
        text = " ".join((self.content or self.target).split())
        text = text if len(text) <= width else text[: width - 1] + "…"
        return f"{self.edit_type} {self.section}: {text}"


@dataclass(frozen=True)
class Refusal:
    """An edit (as L2 sent it; ``None`` for the whole reply) that was not applied, and why."""

    edit: Any
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"edit": self.edit, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Refusal":
        return cls(d.get("edit"), str(d.get("reason", "")))


def _section_name(raw: str) -> tuple[str | None, str | None]:
    k = _key(raw)
    for s in EDITABLE:
        if _key(s) == k:
            return s, None
    if k in {_key(s) for s in PROTOCOL_SECTIONS} or k in ("output", "schema", "protocol", "api", "output_format"):
        return None, (f"section '{raw}' belongs to the L1 output protocol, which is injected after the promptgram "
                      f"at run time; no edit can change it (editable: {', '.join(EDITABLE)})")
    return None, f"section '{raw}' is not an editable promptgram section (editable: {', '.join(EDITABLE)})"


def _check_text(field: str, text: str) -> str | None:
    if len(text) > MAX_CONTENT_CHARS:
        return f"{field} is {len(text)} characters (at most {MAX_CONTENT_CHARS})"
    for line in text.splitlines():
        if _HEADING.match(line):
            return f"{field} contains a section heading ('{line.strip()}'); sections cannot be added or split"
    if _PROTOCOL_WORDS.search(text):
        return (f"{field} restates the L1 output protocol (proposed_changes, {REASONING_MARKER} / {JSON_MARKER}); "
                f"the protocol is injected at run time and a promptgram must not speak for it")
    for line in text.splitlines():
        _d, err = parse_line(line)
        if err:
            return f"malformed directive {err}"
    return None


def validate_edit(raw: Any) -> tuple[Edit | None, str | None]:
    """An :class:`Edit`, or the reason ``raw`` is refused (structure and content only;
    whether its target is in the section is checked when it is applied)."""
    if not isinstance(raw, Mapping):
        return None, f"an edit must be an object with section, edit_type, content, target; got {type(raw).__name__}"
    section = raw.get("section")
    if not isinstance(section, str) or not section.strip():
        return None, "section missing (one of: " + ", ".join(EDITABLE) + ")"
    name, why = _section_name(section)
    if name is None:
        return None, why
    et = raw.get("edit_type")
    if not isinstance(et, str) or et.strip().lower() not in EDIT_TYPES:
        return None, f"edit_type {et!r} is not one of {', '.join(EDIT_TYPES)}"
    et = et.strip().lower()
    content, target = raw.get("content", ""), raw.get("target", "")
    if content is None:
        content = ""
    if target is None:
        target = ""
    if not isinstance(content, str) or not isinstance(target, str):
        return None, "content and target must be strings"
    if et in ("add", "replace") and not content.strip():
        return None, f"{et} needs a non-empty content"
    if et == "delete" and not target.strip():
        return None, "delete needs a target (the text of the line(s) to remove)"
    if content:
        why = _check_text("content", content)
        if why:
            return None, why
    return Edit(name, et, content.strip(), target.strip()), None


def _apply_one(pg: Promptgram, e: Edit) -> tuple[Promptgram | None, str | None]:
    body = pg.section(e.section)
    if e.edit_type == "add":
        if e.content in body:
            return None, f"already in {e.section}"
        new = (body.rstrip() + "\n" + e.content) if body.strip() else e.content
    elif e.edit_type == "replace":
        if not e.target:
            new = e.content
        elif e.target not in body:
            return None, f"target not found in {e.section}: {e.target[:80]!r}"
        else:
            new = body.replace(e.target, e.content, 1)
    else:
        lines = body.splitlines()
        kept = [ln for ln in lines if e.target not in ln]
        if len(kept) == len(lines):
            if e.target not in body:
                return None, f"target not found in {e.section}: {e.target[:80]!r}"
            new = body.replace(e.target, "", 1)
        else:
            new = "\n".join(kept)
    if new.strip() == body.strip():
        return None, f"the edit leaves {e.section} unchanged"
    try:
        return pg.with_section(e.section, new), None
    except UsageError as err:  # pragma: no cover - with_section refuses only protocol names, checked above
        return None, str(err)


@dataclass(frozen=True)
class EditOutcome:
    """What a list of raw edits did to a promptgram."""

    child: Promptgram
    applied: tuple[Edit, ...]
    refused: tuple[Refusal, ...]

    @property
    def changed(self) -> bool:
        return bool(self.applied)


def apply_edits(parent: Promptgram, raw_edits: Sequence[Any]) -> EditOutcome:
    """Validate and apply ``raw_edits`` in order; the child always parses as a promptgram."""
    pg = parent
    applied: list[Edit] = []
    refused: list[Refusal] = []
    for i, raw in enumerate(raw_edits):
        if i >= MAX_EDITS:
            refused.append(Refusal(raw, f"more than {MAX_EDITS} edits in one reply"))
            continue
        e, why = validate_edit(raw)
        if e is None:
            refused.append(Refusal(raw, str(why)))
            continue
        new, why = _apply_one(pg, e)
        if new is None:
            refused.append(Refusal(raw, str(why)))
            continue
        text = new.render()
        if len(text) > MAX_PROMPTGRAM_CHARS:
            refused.append(Refusal(raw, f"the promptgram would grow to {len(text)} characters "
                                        f"(at most {MAX_PROMPTGRAM_CHARS}); delete or replace instead"))
            continue
        again = parse_promptgram(text, source=parent.source)
        if again.names() != new.names():  # pragma: no cover - headings are refused above
            refused.append(Refusal(raw, "the edit would change the promptgram's sections"))
            continue
        pg = again
        applied.append(e)
    return EditOutcome(pg, tuple(applied), tuple(refused))


__all__ = ["EDITABLE", "EDIT_TYPES", "Edit", "EditOutcome", "MAX_EDITS", "Refusal", "apply_edits", "validate_edit"]
