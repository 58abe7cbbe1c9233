"""Markdown headings as ``section`` definitions.

A tree-sitter Markdown grammar would be overkill for what the map needs: the heading
outline. ATX (``## Title``) and setext (``Title`` over ``===``/``---``) headings are
recognised outside fenced code blocks; each section's parent is the nearest shallower
heading and it ends where the next heading of the same or a shallower level begins.
"""
from __future__ import annotations

import re

from .tags import Tag

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_MAX = 200  # longest name, and longest signature


def extract_markdown(data: bytes) -> tuple[list[Tag], list[str]]:
    text = data.decode("utf-8", "replace")
    lines = text.splitlines()
    heads: list[tuple[int, int, str]] = []  # (line, level, title)
    fence: str | None = None
    prev_plain: str | None = None
    for i, line in enumerate(lines, 1):
        f = _FENCE.match(line)
        if fence is not None:
            if f and f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence):
                fence = None
            prev_plain = None
            continue
        if f:
            fence = f.group(1)
            prev_plain = None
            continue
        m = _ATX.match(line)
        if m:
            title = (m.group(2) or "").strip()
            if title:
                heads.append((i, len(m.group(1)), title))
            prev_plain = None
            continue
        s = _SETEXT.match(line)
        if s and prev_plain:
            heads.append((i - 1, 1 if s.group(1)[0] == "=" else 2, prev_plain))
            prev_plain = None
            continue
        stripped = line.strip()
        prev_plain = stripped if stripped and not stripped.startswith(("-", "*", ">", "|")) else None
    return _sections(heads, len(lines)), []


def _sections(heads: list[tuple[int, int, str]], n: int) -> list[Tag]:
    """Headings → section tags: each ends before the next heading of the same or a
    shallower level and has the nearest shallower heading before it as parent. One pass
    with a stack of open headings (strictly deepening), so a file of 10^5 headings costs
    no more per heading than a short README."""
    ends = [n] * len(heads)
    parents: list[str | None] = [None] * len(heads)
    open_: list[int] = []  # indexes of headings not yet closed, levels strictly increasing
    for idx, (line, level, _title) in enumerate(heads):
        while open_ and heads[open_[-1]][1] >= level:
            ends[open_.pop()] = line - 1
        parents[idx] = heads[open_[-1]][2] if open_ else None
        open_.append(idx)
    tags: list[Tag] = []
    for idx, (line, level, title) in enumerate(heads):
        name = title[:_MAX]
        sig = "#" * level + " " + name
        if len(sig) > _MAX:  # signatures are at most _MAX characters, as in the other languages
            sig = sig[: _MAX - 1].rstrip() + "…"
        tags.append(Tag(line, name, True, "section", max(line, ends[idx]), parents[idx], sig))
    tags.sort(key=Tag.sort_key)
    return tags
