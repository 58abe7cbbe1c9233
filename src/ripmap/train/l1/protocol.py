"""The L1 output protocol: the one part of the prompt no promptgram can change.

The protocol (``API_contract`` + ``Output_schema``) is a Markdown file shipped inside
the package and appended at run time *after* the promptgram and the episode state, so
it is always the last thing the agent reads. Promptgrams evolve (by hand or by the L2
loop) but only ever contribute Role / Policy / Heuristics / Style: the original system
once let its outer loop rewrite the schema, the example degraded to an empty
``proposed_changes`` and the inner model copied it for hundreds of episodes. Keeping
the schema here, with a non-empty example, makes that failure impossible by
construction.

The reply markers are defined here too, so the text and the parser cannot drift apart;
the direction and magnitude words are :mod:`ripmap.train.vocabulary`'s, the step sizes
behind them :mod:`ripmap.train.l1.step`'s (the protocol's table states the same).
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

PROTOCOL_SECTIONS: tuple[str, ...] = ("API_contract", "Output_schema")
"""Section names that belong to the protocol; they are stripped from any promptgram."""

REASONING_MARKER = "REASONING:"
JSON_MARKER = "JSON:"
"""The two markers a reply is split at (see :func:`ripmap.train.l1.reply.split_reply`)."""


@lru_cache(maxsize=1)
def protocol_text() -> str:
    """The shipped protocol, read once from the package (works from a wheel or a zip too)."""
    return resources.files("ripmap.train").joinpath("prompts/protocol.md").read_text(encoding="utf-8").strip() + "\n"


def protocol_sha256() -> str:
    """Identifies the protocol version a run was made with (recorded in config.json)."""
    return hashlib.sha256(protocol_text().encode("utf-8")).hexdigest()


def assemble(promptgram_text: str, state_text: str) -> str:
    """The full prompt: promptgram, then the episode state, then the protocol, last.

    The protocol goes last so that nothing a promptgram says can come after (and so
    override) the output contract.
    """
    parts = [promptgram_text.strip(), state_text.strip(), protocol_text().strip()]
    return "\n\n".join(p for p in parts if p) + "\n"
