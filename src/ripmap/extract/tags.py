"""The ``Tag`` record: one definition or reference found in a source file."""
from __future__ import annotations

from collections import Counter
from typing import Iterable, NamedTuple

#: Kinds a definition may have. Grammar queries use a few more spellings; they are
#: normalised to these by :func:`normalize_kind`.
DEF_KINDS = (
    "class", "interface", "struct", "enum", "type", "trait", "impl", "module",
    "function", "method", "constant", "variable", "field", "property", "macro", "section",
)

_KIND_ALIASES = {
    "object": "class",
    "mixin": "module",
    "extension": "class",
    "implementation": "impl",
    "enum_variant": "constant",
    "operator": "function",
    "call": "call",
    "send": "call",
    "subsection": "section",
}


def normalize_kind(kind: str) -> str:
    """Map a capture suffix (``definition.<kind>``) to one of ripmap's kinds."""
    return _KIND_ALIASES.get(kind, kind)


class Tag(NamedTuple):
    """A named definition (``is_def``) or reference in one file.

    ``line``/``end_line`` are 1-based and inclusive. ``parent`` is the name of the
    innermost enclosing definition (methods nest under their class; references
    under the function they occur in). ``signature`` is a one-line rendering of a
    definition's header (``def fetch(url: str) -> Response``), ``None`` for refs.

    A NamedTuple rather than a dataclass: a warm run rebuilds ~10^5 tags from the
    cache, and tuple construction is several times cheaper than a frozen dataclass's.
    """

    line: int
    name: str
    is_def: bool
    kind: str
    end_line: int
    parent: str | None = None
    signature: str | None = None

    def to_tuple(self) -> tuple:
        return tuple(self)

    @classmethod
    def from_tuple(cls, t) -> "Tag":
        return cls._make(t)

    def sort_key(self) -> tuple:
        return (self.line, self.name, self.is_def, self.kind, self.end_line, self.parent or "", self.signature or "")


def ref_counts(refs: Iterable[tuple]) -> list[tuple[str, str, int]]:
    """A file's references as ``(name, kind, count)``, first-seen order: all the
    reference graph needs, about a third the size of the references themselves."""
    c = Counter((r[1], r[3]) for r in refs)
    return [(name, kind, n) for (name, kind), n in c.items()]


def graph_row(tags: Iterable[tuple]) -> tuple[list[tuple], list[tuple[str, str, int]]]:
    """A full tag list as the graph reads it: (definitions, :func:`ref_counts` of the rest)."""
    tags = list(tags)
    return [t for t in tags if t[2]], ref_counts(t for t in tags if not t[2])
