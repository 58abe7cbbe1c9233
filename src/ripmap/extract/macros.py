"""C++ annotation macros that a grammar cannot know, blanked before parsing.

Libraries mark their exported classes with a macro between ``class`` and the name
(``class LEVELDB_EXPORT Slice {``, ``class GTEST_API_ Test :``, ``struct ABSL_ATTR Foo``).
Without the preprocessor a parser reads the macro as the class's name and the real name
as a function returning that class: the class and all its members are lost, and its body
becomes statements (leveldb's map showed ``Slice``'s methods as free functions of the
namespace, with no ``class Slice``).

Such a macro is all capitals, sits right after ``class``/``struct``/``union`` and is
followed by the name and ``{``, ``:`` or ``final``. It is replaced by spaces of the same
length, so every byte offset and line of the file stays where it was.
"""
from __future__ import annotations

import re

_ANNOTATED_CLASS = re.compile(
    rb"\b(?:class|struct|union)[ \t]+((?:[A-Z_][A-Z0-9_]*[ \t\r\n]+)+)(?=[A-Za-z_][A-Za-z0-9_]*[ \t\r\n]*(?:final\b|[:{]))")
_NOT_SPACE = re.compile(rb"[^ \t\r\n]")


def blank_class_macros(data: bytes) -> bytes:
    """``data`` with the annotation macros of class heads turned into spaces (the same
    bytes when there are none)."""
    if b"class" not in data and b"struct" not in data and b"union" not in data:
        return data
    spans = [m.span(1) for m in _ANNOTATED_CLASS.finditer(data)]
    if not spans:
        return data
    out = bytearray(data)
    for a, b in spans:
        out[a:b] = _NOT_SPACE.sub(b" ", data[a:b])
    return bytes(out)
