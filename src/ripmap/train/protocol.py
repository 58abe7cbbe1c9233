"""The L1 output protocol: the one part of the prompt no promptgram can change.

The protocol (``API_contract`` + ``Output_schema``) is a Markdown file shipped inside
the package and appended at run time *after* the promptgram and the episode state, so
it is always the last thing the agent reads. Promptgrams evolve (by hand or by the L2
loop) but only ever contribute Role / Policy / Heuristics / Style: the original system
once let its outer loop rewrite the schema, the example degraded to an empty
``proposed_changes`` and the inner model copied it for hundreds of episodes. Keeping
the schema here, with a non-empty example, makes that failure impossible by
construction.

The words the parser accepts (directions, magnitudes, reply markers, JSON keys) are
defined here too, so the text and the code that reads replies cannot drift apart.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

PROTOCOL_SECTIONS: tuple[str, ...] = ("API_contract", "Output_schema")
"""Section names that belong to the protocol; they are stripped from any promptgram."""

DIRECTIONS: tuple[str, ...] = ("increase", "decrease")
MAGNITUDES: tuple[str, ...] = ("small", "medium", "large")
REASONING_MARKER = "REASONING:"
JSON_MARKER = "JSON:"
REPLY_KEYS: tuple[str, ...] = ("strategy_capsule", "diagnosis", "param_interactions", "proposed_changes",
                               "structural_insights", "confidence")

# Step sizes behind the magnitude words (documented in protocol.md's table).
LOG_FACTORS: dict[str, float] = {"small": 0.1, "medium": 0.3}
"""Log-scaled parameters: ×(1 ± f); "large" doubles or halves instead."""
LINEAR_FRACTIONS: dict[str, float] = {"small": 0.05, "medium": 0.15, "large": 0.30}
"""Linear parameters: ± this fraction of the parameter's range."""


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
