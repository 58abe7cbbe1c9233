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
from ..rank.signals import CLASS_WEIGHT

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
CLASS_PARAM: Mapping[str, str] = MappingProxyType({str(c.name).lower(): p for c, p in CLASS_WEIGHT.items()})
"""The weight parameter of each file class, by the class label explanations carry (``test``, ``docs``, ...)."""


FAILURE_KINDS: tuple[str, ...] = ("structure", "cochange", "lexical", "focus", "pairing", "depth", "file_class",
                                  "recency", "churn", "unreachable", "unmapped", "other")
"""Why a failing case's expected file ranked low: the signal in which it is furthest behind
the top-ranked file (see :func:`ripmap.train.evaluation.failures.classify`), or
``unreachable`` (its score is zero), ``unmapped`` (it is not in the map), ``other``."""
SIGNAL_KIND: Mapping[str, str] = MappingProxyType({
    "structure": "structure", "cochange": "cochange", "lexical": "lexical", "lexical_chat": "lexical",
    "focus": "focus", "mentioned_file": "focus", "mentioned_ident": "focus", "chat": "focus",
    "pairing": "pairing", "depth": "depth", "file_class": "file_class", "recency": "recency", "churn": "churn",
})
"""The failure kind each of the ranker's signals (:mod:`ripmap.rank.explain`) stands for."""
KIND_MEANING: Mapping[str, str] = MappingProxyType({
    "structure": "structure (PageRank)", "cochange": "co-change with the seeds", "lexical": "lexical match",
    "focus": "focus expansion and mentions", "pairing": "test pairing", "depth": "the depth prior",
    "file_class": "the file-class weight", "recency": "recency", "churn": "churn",
    "unreachable": "no signal reaches the expected file (score 0)",
    "unmapped": "the expected file is not among the mapped files",
    "other": "no single signal (the expected files are not behind the top file)",
})
"""A few words per failure kind, for prompts and run views."""


def opposite(direction: str) -> str:
    return DIRECTIONS[1] if direction == DIRECTIONS[0] else DIRECTIONS[0]


def arrow(direction: str) -> str:
    return "↑" if direction == DIRECTIONS[0] else "↓" if direction == DIRECTIONS[1] else "?"


__all__ = ["ADDITIVE_SIGNALS", "CLASS_PARAM", "DEPTH_PARAM", "DIRECTIONS", "Direction", "FAILURE_KINDS", "KIND_MEANING", "MAGNITUDES",
           "MAGNITUDE_LETTER", "MULTIPLIER_SIGNALS", "Magnitude", "SIGNAL_KIND", "SIGNAL_PARAM", "arrow", "opposite"]
