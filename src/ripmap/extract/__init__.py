"""Extraction: source bytes → :class:`Tag` records. Never raises on bad input."""
from __future__ import annotations

from .. import languages
from .markdown import extract_markdown
from .tags import Tag
from .treesitter import extract_tree_sitter

#: Bump when extraction output changes, so caches built by an older extractor are dropped.
EXTRACTOR_VERSION = "13"  # 5: C/C++ headers, macros and typedefs; Swift extensions as containers;
# 6: a C return type on a line of its own kept in the signature; a constant whose value goes on
# below its first line shows its bracket closed (`X = {…}`); 7: Rust `use` paths as imports;
# 8: C# properties, constructors, fields, structs, enums, records and their references;
# preprocessor lines dropped from signatures; 9: PHP enums, enum cases and class constants;
# 10: Scala method calls, capitalized objects read from and named types as references;
# 11: a generic parameter list written over several lines printed as on one (`Box<T>`);
# 12: the `>` of an arrow (`=>`, `->`) closes no bracket of a header without a body;
# `type X = {` is `type X`; a constant's string running over lines shown closed (`M = """…"""`)
# 13: a C/C++ header that error recovery ran across statements: a function's piece is the one
# naming it before `(`, cut before a `{` outside brackets

__all__ = ["Tag", "extract_tags", "extract_split", "EXTRACTOR_VERSION"]


def extract_split(data: bytes, language: str) -> tuple[list[Tag], list[tuple], list[str]]:
    """One file's definitions (sorted Tags), references (plain tag tuples, a deterministic
    order) and notes (syntax errors, encoding).

    Any unexpected failure inside a grammar is turned into a note: one bad file must
    never take the map down.
    """
    notes: list[str] = []
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            notes.append("not valid UTF-8; names decoded with replacement characters")
    try:
        if language == "markdown":
            tags, more = extract_markdown(data)
            defs = [t for t in tags if t.is_def]
            refs = [tuple(t) for t in tags if not t.is_def]
        else:
            defs, refs, more = extract_tree_sitter(data, language)
    except Exception as e:  # a grammar bug must not crash the map
        return [], [], notes + [f"extraction failed: {type(e).__name__}: {e}"]
    return defs, refs, notes + more


def extract_tags(data: bytes, language: str) -> tuple[list[Tag], list[str]]:
    """Every tag of one file's bytes in ``language``, sorted, plus notes."""
    defs, refs, notes = extract_split(data, language)
    tags = defs + [Tag._make(r) for r in refs]
    tags.sort(key=Tag.sort_key)
    return tags, notes


def language_for_path(path: str) -> str | None:
    return languages.language_for_path(path)
