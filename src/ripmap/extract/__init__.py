"""Extraction: source bytes → :class:`Tag` records. Never raises on bad input."""
from __future__ import annotations

from .. import languages
from .markdown import extract_markdown
from .tags import Tag
from .treesitter import extract_tree_sitter

#: Bump when extraction output changes, so caches built by an older extractor are dropped.
EXTRACTOR_VERSION = "3"

__all__ = ["Tag", "extract_tags", "EXTRACTOR_VERSION"]


def extract_tags(data: bytes, language: str) -> tuple[list[Tag], list[str]]:
    """Tags of one file's bytes in ``language``, plus notes (syntax errors, encoding).

    Any unexpected failure inside a grammar is turned into a note: one bad file must
    never take the map down.
    """
    notes: list[str] = []
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        notes.append("not valid UTF-8; names decoded with replacement characters")
    try:
        if language == "markdown":
            tags, more = extract_markdown(data)
        else:
            tags, more = extract_tree_sitter(data, language)
    except Exception as e:  # a grammar bug must not crash the map
        return [], notes + [f"extraction failed: {type(e).__name__}: {e}"]
    return tags, notes + more


def language_for_path(path: str) -> str | None:
    return languages.language_for_path(path)
