"""C/C++ macros that a grammar cannot know, blanked before parsing.

Without the preprocessor a tree-sitter grammar reads a macro as whatever its text looks
like, and one misread macro can take a whole class or struct down with it. Two kinds are
blanked, each replaced by spaces of the same length, so every byte offset and line of the
file stays where it was:

**Annotations between ``class`` and the name** (C++). Libraries mark their exported
classes with a macro between ``class`` and the name (``class LEVELDB_EXPORT Slice {``,
``class GTEST_API_ Test :``, ``struct ABSL_ATTR Foo``).
Without the preprocessor a parser reads the macro as the class's name and the real name
as a function returning that class: the class and all its members are lost, and its body
becomes statements (leveldb's map showed ``Slice``'s methods as free functions of the
namespace, with no ``class Slice``).

Such a macro is all capitals, sits right after ``class``/``struct``/``union`` and is
followed by the name and ``{``, ``:`` or ``final``.

**A macro that is a line of its own** (C and C++): ``UV_HANDLE_FIELDS`` in a struct
body, ``Q_OBJECT`` in a class, ``GLOG_MSVC_PUSH_DISABLE_WARNING(4275)`` before one,
``FMT_BEGIN_NAMESPACE``. With no semicolon after it the parser glued it to the next
declaration: libuv's ``uv.h`` nested one struct inside another and lost most of its
members. Such a line is all capitals (with at most one argument list) and starts a
declaration or statement: the line before it (or the macro lines before it) ends one
(``;``, ``{``, ``}``, ``:``, a comment or a directive). It is left alone where it may
be part of a definition: when the next line opens a body (``TEST(a, b)`` then ``{``) or
names a function (a return type on its own line, ``U32`` then ``f(``).
"""
from __future__ import annotations

import re

_ANNOTATED_CLASS = re.compile(
    rb"\b(?:class|struct|union)[ \t]+((?:[A-Z_][A-Z0-9_]*[ \t\r\n]+)+)(?=[A-Za-z_][A-Za-z0-9_]*[ \t\r\n]*(?:final\b|[:{]))")
_NOT_SPACE = re.compile(rb"[^ \t\r\n]")
#: run over the text between two added line breaks; possessive, and anchored on the line
#: break rather than ``^``: 5x faster (4 ms a megabyte)
_MACRO_LINE = re.compile(rb"\n[ \t]*+([A-Z_][A-Z0-9_]{2,}+(?:[ \t]*\([^()\n]*\))?)[ \t]*(?=\r?\n)")
#: what the next line starts with when the macro line may be part of a definition
_DEFINITION_NEXT = re.compile(rb"\{|[*&]*[A-Za-z_][A-Za-z0-9_]*[ \t]*\(")
#: how the line before a macro line ends (or starts) when the macro line starts something
_ENDS = (b";", b"{", b"}", b":", b"*/")
_STARTS = (b"#", b"//", b"/*", b"*")


def blank_macros(data: bytes, language: str) -> bytes:
    """``data`` with the macros a ``language`` ("c" or "cpp") grammar would misread
    blanked (see the module docstring); the same bytes when there are none."""
    if language == "cpp":
        data = blank_class_macros(data)
    return blank_line_macros(data)


def blank_line_macros(data: bytes) -> bytes:
    """``data`` with the macros that are a line of their own and start a declaration or
    statement turned into spaces."""
    spans: list[tuple[int, int]] = []
    blanked_to = -1  # where the last blanked macro ends: only blanks after it, and the next
    # line still starts a declaration (each gap is read once: linear in the file, even for
    # thousands of macro lines in a row)
    for m in _MACRO_LINE.finditer(b"\n" + data + b"\n"):
        a, b = m.start(1) - 1, m.end(1) - 1  # in ``data``; its line starts at m.start()
        if _DEFINITION_NEXT.match(data[b:b + 400].lstrip()):
            continue
        if blanked_to < 0 or data[blanked_to:m.start()].strip():
            last = _last_line(data, m.start())
            if last is not None and (last.endswith(b"\\") or not (last.endswith(_ENDS) or last.startswith(_STARTS))):
                continue
        spans.append((a, b))
        blanked_to = b
    return _blanked(data, spans)


def blank_class_macros(data: bytes) -> bytes:
    """``data`` with the annotation macros of class heads turned into spaces (the same
    bytes when there are none)."""
    if b"class" not in data and b"struct" not in data and b"union" not in data:
        return data
    return _blanked(data, [m.span(1) for m in _ANNOTATED_CLASS.finditer(data)])


def _blanked(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    """``data`` with every non-blank byte of ``spans`` turned into a space (line breaks
    stay); ``data`` itself when there are none."""
    if not spans:
        return data
    out = bytearray(data)
    for a, b in spans:
        out[a:b] = _NOT_SPACE.sub(b" ", data[a:b])
    return bytes(out)


def _last_line(buf: bytes, pos: int) -> bytes | None:
    """The last non-blank line of ``buf[:pos]``, stripped (None: there is none);
    ``pos`` is the start of a line. Reads back line by line, never the whole prefix."""
    end = pos
    while end > 0:
        start = buf.rfind(b"\n", 0, end) + 1
        line = buf[start:end].strip()
        if line:
            return line
        end = start - 1
    return None
