"""Reading L2's reply: ``{"proposal": {"edits": [...]}, "rationale": "..."}``.

The object may stand alone, sit in a ```json fence or after a ``JSON:`` line, with prose
around it: the same search as L1's replies (:func:`ripmap.train.l1.reply.split_reply`).
Nothing is coerced: a reply without that object, without ``proposal.edits`` as a list, or
with no edit at all is refused as a whole, with its reason; each edit is then checked on
its own by :mod:`.edits`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..l1.reply import split_reply


@dataclass(frozen=True)
class L2Reply:
    """What was found in a reply: the raw edits, the rationale, and why the whole reply is refused (if it is)."""

    edits: tuple[Any, ...]
    rationale: str
    prose: str
    error: str | None = None
    data: Mapping[str, Any] | None = None


def parse_l2_reply(text: str | None) -> L2Reply:
    if not text or not text.strip():
        return L2Reply((), "", "", "empty reply")
    prose, data, err = split_reply(text)
    if data is None:
        return L2Reply((), "", prose, err or "no JSON object in the reply")
    rationale = data.get("rationale")
    rationale = rationale.strip() if isinstance(rationale, str) else ""
    proposal = data.get("proposal")
    if not isinstance(proposal, Mapping):
        return L2Reply((), rationale, prose, "the reply has no 'proposal' object ({\"proposal\": {\"edits\": [...]}, "
                                             "\"rationale\": \"...\"})", data)
    edits = proposal.get("edits")
    if not isinstance(edits, list):
        return L2Reply((), rationale, prose, "proposal.edits must be a list of edits", data)
    if not edits:
        return L2Reply((), rationale, prose, "proposal.edits is empty: no edit proposed", data)
    return L2Reply(tuple(edits), rationale, prose, None, data)


__all__ = ["L2Reply", "parse_l2_reply"]
