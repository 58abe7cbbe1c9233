"""Bounded parsing: a CPU deadline per file, a depth check, and re-parsing what an
error swallowed.

Hostile input must not take unbounded time: the parser is cancelled past a deadline
(process CPU time) and reset for the next file; a tree deeper than a limit is
reported so its tags are looked for only above it. When a top-level error swallows the
rest of a file (an unclosed bracket), parsing resumes at the next line that starts a
definition, and the tags found there are shifted back to the file's line numbers.
(The limits themselves are extraction policy: :mod:`ripmap.extract.treesitter`.)
"""
from __future__ import annotations

import re
from time import process_time

from .tags import Tag

# a line that starts a top-level definition, where re-parsing after an error that
# swallowed it can recover something (see resume_offset)
_FRESH_DEF = re.compile(
    rb"(?:@[A-Za-z_]|(?:async\s+)?(?:def|class|function|fn|func|pub|export|const|let|var|type|struct|enum"
    rb"|interface|impl|trait|module|mod|static|public|private|protected|internal|abstract|final|object"
    rb"|val|sealed|data|defmodule|local|namespace|typedef|extern|unsafe)\b)")
# bytes handed to the parser per read while it parses, and afterwards, when the query
# engine reads back one node's text for a predicate such as ``#match?`` (see parse_within)
_READ_CHUNK = 1 << 14
_TEXT_CHUNK = 64


def resume_offset(data: bytes, root) -> int | None:
    """Where to re-parse after a top-level ERROR that swallowed whole lines: the start
    of the first line after the error's first line that begins at column 0 with
    something that starts a definition (``def``, ``class``, ``@decorator`` ...)."""
    if root.is_error:
        errors = (root,)
    else:
        errors = [c for c in root.children if c.is_error]
    for err in errors:
        if err.end_point[0] - err.start_point[0] < 2:
            continue
        pos = data.find(b"\n", err.start_byte, err.end_byte)
        while pos != -1:
            nxt = pos + 1
            if nxt >= err.end_byte:
                break
            if _FRESH_DEF.match(data, nxt):
                return nxt
            pos = data.find(b"\n", nxt, err.end_byte)
    return None


def parse_within(parser, data: bytes, deadline: float):
    """``parser.parse(data)``, or None when it runs past ``deadline`` (process CPU time).

    Only the callback form of ``parse`` takes a progress callback; the parser reads the
    bytes in chunks through it, which costs nothing measurable. The tree keeps that
    callback to read node texts for query predicates, one name at a time, so once the
    parse is done it hands out small chunks. A cancelled parse leaves the parser mid-way,
    so it is reset for the next file.
    """
    chunk = [_READ_CHUNK]
    calls = [0]

    def read(offset: int, _point) -> bytes:
        return data[offset:offset + chunk[0]]

    def over(_offset: int, _has_error: bool) -> bool:
        # the parser calls this every hundred or so steps; reading the CPU clock (a
        # system call) every eighth time is often enough and keeps the cost unmeasurable
        calls[0] += 1
        return not calls[0] & 7 and process_time() > deadline

    try:
        tree = parser.parse(read, progress_callback=over)
    except ValueError:  # "Parsing failed": cancelled by the callback
        parser.reset()
        return None
    chunk[0] = _TEXT_CHUNK
    return tree


def deeper_than(root, limit: int) -> bool:
    """Whether the tree has a node at depth ``limit`` or more.

    Only nodes that can lead that deep are entered: one at depth d needs at least
    ``limit - d`` descendants, a count every node carries. On ordinary files that is a
    handful of nodes near the root (all of mypy: 0.05 s).
    """
    if root.descendant_count <= limit:
        return False
    stack = [(root, 0)]
    while stack:
        node, d = stack.pop()
        if d >= limit:
            return True
        need = limit - d - 1
        for c in node.children:
            if c.descendant_count > need:
                stack.append((c, d + 1))
    return False


def shift_lines(tags: list[tuple], line_off: int, cut: int | None) -> list[tuple]:
    """Tags (or tag tuples) of a re-parsed chunk moved down by ``line_off`` lines;
    with ``cut``, only those starting before line ``cut`` + 1 (1-based), their ends
    clamped to it. The result keeps the input's type."""
    if cut is None and not line_off:
        return tags
    make = Tag if tags and isinstance(tags[0], Tag) else (lambda *a: a)
    return [make(t[0] + line_off, t[1], t[2], t[3], (t[4] if cut is None else min(t[4], cut)) + line_off,
                 t[5], t[6])
            for t in tags if cut is None or t[0] <= cut]
