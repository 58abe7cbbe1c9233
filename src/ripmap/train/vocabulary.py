"""The trainer's words, each defined once: signals, directions, magnitudes.

They are shared by the reply parser, the prompt, the step rule, the heuristic agent and
the run views; a word spelled in two places would let the protocol text, the parser and
the agents drift apart. The step sizes behind the magnitude words are the step rule's
(:mod:`ripmap.train.l1.step`).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Literal, Mapping, get_args

from ..rank.explain import ADDITIVE_WEIGHT

Direction = Literal["increase", "decrease"]
Magnitude = Literal["small", "medium", "large"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)
MAGNITUDES: tuple[str, ...] = get_args(Magnitude)
MAGNITUDE_LETTER: Mapping[str, str] = MappingProxyType({m: m[0].upper() for m in MAGNITUDES})
"""``S`` / ``M`` / ``L``: how the run views abbreviate a step."""

ADDITIVE_SIGNALS: tuple[str, ...] = ("structure", "cochange", "lexical", "focus")
"""The additive signals the failures are analysed and shown by. The ranker has more
(``lexical_chat``, ``pairing``); these four are the ones an agent is asked to weigh."""
MULTIPLIER_SIGNALS: tuple[str, ...] = ("depth", "chat", "mentioned_file", "mentioned_ident", "recency", "churn")
"""The multiplicative signals (factors on a file's score) the failures are analysed by."""

SIGNAL_PARAM: Mapping[str, str] = MappingProxyType({
    **{s: ADDITIVE_WEIGHT[s] for s in ADDITIVE_SIGNALS},
    "recency": "git_recency_max_boost",
    "churn": "git_churn_max_boost",
    "chat": "boost_chat_file",
    "mentioned_file": "boost_mentioned_file",
    "mentioned_ident": "boost_mentioned_ident",
})
"""The parameter that sets how much each signal counts."""
DEPTH_PARAM: Mapping[str, str] = MappingProxyType({"root": "depth_weight_root", "moderate": "depth_weight_moderate",
                                                   "deep": "depth_weight_deep"})
"""The depth-prior anchor parameter of each depth band."""


def opposite(direction: str) -> str:
    return DIRECTIONS[1] if direction == DIRECTIONS[0] else DIRECTIONS[0]


def arrow(direction: str) -> str:
    return "↑" if direction == DIRECTIONS[0] else "↓" if direction == DIRECTIONS[1] else "?"


__all__ = ["ADDITIVE_SIGNALS", "DEPTH_PARAM", "DIRECTIONS", "Direction", "MAGNITUDES", "MAGNITUDE_LETTER",
           "MULTIPLIER_SIGNALS", "Magnitude", "SIGNAL_PARAM", "arrow", "opposite"]
