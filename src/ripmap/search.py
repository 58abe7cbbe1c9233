"""Identifier search: where a name is defined and where it is used.

This is lookup by *name*, not retrieval by meaning: a model or a person who already
knows (part of) a symbol's name wants its definition and its uses, in an order that
needs no score to read. Rows come definitions first, then by match quality (the exact
name, the name in another case, a prefix, a substring, all of the query's identifier
words), then by file and line, so the same query always gives the same list.

It reads the index's tags and nothing else: no graph, no git, no ranking, so a search
answers on a repository that has only been indexed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from .extract.tags import Tag
from .rank.signals import split_identifier

#: match qualities, best first (the second key of a row's order)
EXACT, EXACT_NOCASE, PREFIX, SUBSTRING, WORDS = range(5)


@dataclass(frozen=True)
class Hit:
    """One definition or use of a matching identifier."""

    file: str
    line: int
    name: str
    kind: str
    role: str  # "definition" | "reference"
    signature: str | None
    parent: str | None

    def as_text(self) -> str:
        """The hit as one line of about 20 tokens (indented JSON of it costs 3-4 times more)."""
        out = f"{self.file}:{self.line} {self.role} {self.kind} {self.name}"
        if self.parent:
            out += f" in {self.parent}"
        if self.signature:
            out += f": {self.signature}"
        return out

    def as_dict(self) -> dict[str, object]:
        """The row as the MCP tool returns it (the keys are part of its contract)."""
        return {"file": self.file, "line": self.line, "name": self.name, "kind": self.kind, "role": self.role,
                "signature": self.signature, "parent": self.parent}


@dataclass(frozen=True)
class SearchResult:
    """The best ``limit`` hits of a query and how many there were in all."""

    query: str
    hits: tuple[Hit, ...]
    total: int
    definitions: int  # among all ``total`` matches, not only the hits kept

    @property
    def references(self) -> int:
        return self.total - self.definitions


def match_quality(name: str, query: str, query_words: frozenset[str] | set[str]) -> int | None:
    """How well ``name`` matches ``query`` (a quality above), or None when it does not.

    Case-insensitive throughout; an exact spelling beats another case. The last resort
    compares identifier words, so "token refresh", "refreshToken" and "refresh_token"
    find each other.
    """
    nl, ql = name.lower(), query.lower()
    if nl == ql:
        return EXACT if name == query else EXACT_NOCASE
    if nl.startswith(ql):
        return PREFIX
    if ql in nl:
        return SUBSTRING
    if query_words and query_words <= set(split_identifier(name)):
        return WORDS
    return None


def search(tags: Mapping[str, Sequence[Tag]], query: str, limit: int | None = None) -> SearchResult:
    """Every tag whose name matches ``query``, best first; ``hits`` keeps the first ``limit``.

    A name's quality is worked out once, however often it occurs: a common name used
    thousands of times costs one comparison, not thousands.
    """
    words = frozenset(split_identifier(query))
    quality: dict[str, int | None] = {}
    found: list[tuple[tuple, Tag, str]] = []
    for rel in sorted(tags):
        for t in tags[rel]:
            q = quality.get(t.name, -1)
            if q == -1:
                q = quality[t.name] = match_quality(t.name, query, words)
            if q is not None:
                found.append(((0 if t.is_def else 1, q, rel, t.line, t.name), t, rel))
    found.sort(key=lambda f: f[0])  # stable: equal keys keep file order
    ndefs = sum(1 for _k, t, _r in found if t.is_def)
    kept = found if limit is None else found[:max(0, limit)]
    hits = tuple(Hit(rel, t.line, t.name, t.kind, "definition" if t.is_def else "reference", t.signature, t.parent)
                 for _k, t, rel in kept)
    return SearchResult(query, hits, len(found), ndefs)
