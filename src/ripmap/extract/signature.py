"""Signatures: the declaration of a definition as one line, without its body.

The text of the definition node from its start (after leading annotations, decorators
and comments among them) up to where its body begins, whitespace collapsed; constants
and fields keep their first line; every comment inside the header is dropped
(``def f():  # TODO`` is ``def f()``). Long headers are cut with an ellipsis.
"""
from __future__ import annotations

import re

_MAX_SIG = 200
_MAX_CONST_SIG = 100
# Leading annotations/decorators/attributes left out of signatures
_ANNOTATION_TYPES = frozenset({
    "annotation", "marker_annotation", "decorator", "attribute_list", "attribute", "attribute_item",
})
WS = b" \t\r\n\f\v"


# Fields that hold a definition's body in the common grammars; the signature is the
# text of the definition node up to where its body starts.
_BODY_FIELDS = ("body", "value_body", "class_body", "members")
_BODY_TYPES = frozenset({
    "block", "class_body", "declaration_list", "field_declaration_list", "statement_block",
    "enum_body", "interface_body", "compound_statement", "function_body", "do_block",
    "enum_variant_list", "object_type", "template_body", "suite",
})


def _body(node):
    for f in _BODY_FIELDS:
        b = node.child_by_field_name(f)
        if b is not None and b.start_byte > node.start_byte:
            return b
    for c in node.named_children:
        if c.type in _BODY_TYPES and c.start_byte > node.start_byte:
            return c
    # `describe = function(a) ... end`, `go: function(a) {...}`: the body of the
    # function value
    v = node.child_by_field_name("value")
    if v is not None:
        b = v.child_by_field_name("body")
        if b is not None and b.start_byte > node.start_byte:
            return b
    return None


#: a generic parameter list written a parameter per line: `interface Box<\n  T,\n>`
_OPEN_ANGLE_BREAK = re.compile(r"<[ \t]*\r?\n\s*")
_CLOSE_ANGLE_BREAK = re.compile(r",?[ \t]*\r?\n\s*>")


def _clean_sig(s: str, limit: int, tails: tuple[str, ...] = ("{", ":", "=>", "=", "where", "do", "->")) -> str:
    if "\n" in s and ("<" in s or ">" in s):  # `Box< T, >` reads as `Box<T>`, as `f( a, )` reads `f(a)`
        s = _CLOSE_ANGLE_BREAK.sub(">", _OPEN_ANGLE_BREAK.sub("<", s))
    s = " ".join(s.split())
    s = s.replace("( ", "(").replace(" )", ")").replace("[ ", "[").replace(" ]", "]").replace(",)", ")")
    s = s.rstrip()
    if s.endswith(";") and len(s) > 1:  # body-less declarations: prototypes, abstract methods
        s = s[:-1].rstrip()
    if s.endswith(",") and " where " in s:  # Rust: `impl<F> Sink for W<F> where F: Fn(u8),`
        s = s[:-1].rstrip()
    if tails and s.endswith(tails):
        for tail in tails:
            if s.endswith(tail) and len(s) > len(tail):
                s = s[: -len(tail)].rstrip()
                break
        if "=" in tails and s.endswith(" ="):  # `type Headers = {` is `type Headers`, not `type Headers =`
            s = s[:-2].rstrip()
    if len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return s


def _is_comment(node_type: str) -> bool:
    """Comment node types of the supported grammars (``comment``, ``line_comment``,
    ``block_comment``, ``doc_comment``, ``multiline_comment``, Haskell's ``haddock`` ...)."""
    return node_type.endswith("comment") or node_type == "haddock"


def _sig_start(data: bytes, node) -> int:
    """Where a signature starts: after leading annotations (``@Override``, ``[Obsolete]``)
    and any comments among them (``@SuppressWarnings("x") // why``)."""
    if data[node.start_byte:node.start_byte + 1] not in (b"@", b"[", b"#", b"/"):
        return node.start_byte
    first = node.child(0)
    if first is None:
        return node.start_byte
    start = node.start_byte
    if first.type == "modifiers":  # Java/Kotlin: annotations live in the modifiers
        for c in first.children:
            if c.type in _ANNOTATION_TYPES or _is_comment(c.type):
                start = c.end_byte
            else:
                break
        if start < first.end_byte:
            return start
        # nothing but annotations in the modifiers: go on past what follows them
    for c in node.children:
        if c.type in _ANNOTATION_TYPES or _is_comment(c.type) or (c.type == "modifiers" and c.end_byte <= start):
            start = max(start, c.end_byte)
        else:
            break
    return start


#: What may open a comment in some supported language. A header without any of it
#: (nearly all) is used as it is, without looking at its nodes.
_COMMENT_MARK = re.compile(rb"#|//|/\*|--|\(\*|\{-")


#: A preprocessor line inside a header (C#'s ``class Logger : IDisposable`` then ``#if
#: FEATURE`` ``, IAsyncDisposable`` ``#endif``; C's ``#ifdef`` in a parameter list): no part of
#: the declaration, and one line of the signature would hold it between the names
_DIRECTIVE = re.compile(rb"^[ \t]*#[ \t]*(?:if|ifdef|ifndef|elif|else|endif|define|undef|pragma|region|endregion"
                        rb"|nullable|line|error|warning)\b[^\n]*", re.M)


def _blank(m: re.Match) -> bytes:
    return b" " * (m.end() - m.start())  # the same length: byte offsets stay put


def _header_text(data: bytes, node, begin: int, stop: int) -> str:
    """``data[begin:stop]`` (a part of ``node``) decoded, without the comments in it.

    A comment inside a header (``def f():  # TODO``, ``def g(  # type: ignore``,
    ``public boolean remove(Object o) // why``) is no part of the declaration, and in a
    one-line signature it swallows what follows it; each is dropped.
    """
    raw = data[begin:stop]
    if _COMMENT_MARK.search(raw) is None:
        return raw.decode("utf-8", "replace")
    if _DIRECTIVE.search(raw) is not None:
        text = _header_text(data[:begin] + _DIRECTIVE.sub(_blank, raw) + data[stop:], node, begin, stop)
        return re.sub(r"\s+(?=[,)\]])", "", text)  # `IDisposable\n, IAsyncDisposable`: one list
    spans = _comment_spans(node, begin, stop)
    if not spans:
        return raw.decode("utf-8", "replace")
    pieces: list[tuple[bytes, bool]] = []  # (kept text, line break among the blanks before it)
    broken = False
    pos = begin
    for s, e in spans + [(stop, stop)]:
        seg = data[pos:s] if s > pos else b""
        piece = seg.strip(WS)
        if piece:
            lead = seg[:len(seg) - len(seg.lstrip(WS))]
            pieces.append((piece, broken or b"\n" in lead))
            broken = b"\n" in seg[len(seg.rstrip(WS)):]
        else:
            broken = broken or b"\n" in seg
        pos = max(pos, e)
    out = pieces[0][0] if pieces else b""
    for piece, brk in pieces[1:]:
        # a line break around a comment stays one (a header without a body ends at the
        # first); else `f(int /*x*/, T y)` → `f(int, T y)` and `int/*c*/x` → `int x`
        out += (b"\n" if brk else b"" if piece[:1] in b",)];:" else b" ") + piece
    return out.decode("utf-8", "replace")


def _comment_spans(node, begin: int, stop: int, limit: int = 4096) -> list[tuple[int, int]]:
    """Byte spans of the comment nodes under ``node`` that overlap ``[begin, stop)``,
    sorted. Only nodes overlapping the range are entered, at most ``limit`` of them."""
    out: list[tuple[int, int]] = []
    stack = [node]
    while stack and limit > 0:
        n = stack.pop()
        limit -= 1
        for c in n.children:
            if c.end_byte <= begin:
                continue
            if c.start_byte >= stop:
                break
            if _is_comment(c.type):
                out.append((max(begin, c.start_byte), min(stop, c.end_byte)))
            elif c.child_count:
                stack.append(c)
    out.sort()
    return out


def signature(data: bytes, node, kind: str, name: str | None = None) -> str:
    # C/C++ capture the declarator; the header with its return type is the parent's
    if node.type == "function_declarator" and node.parent is not None and node.parent.type in (
            "function_definition", "declaration", "field_declaration"):
        node = node.parent
    if node.type == "type_spec":  # Go: `type Server struct {` → "type Server struct"
        brace = data.find(b"{", node.start_byte, node.end_byte)
        stop = brace if brace >= 0 else node.end_byte
        return _clean_sig("type " + _header_text(data, node, node.start_byte, stop), _MAX_SIG)
    begin = _sig_start(data, node)
    if node.type == "type_definition":  # C/C++: the name comes after the body
        spec = node.child_by_field_name("type")
        body = spec.child_by_field_name("body") if spec is not None else None
        if body is not None and body.start_byte > begin:
            # `typedef struct {` alone said nothing: "typedef struct {…} ZSTD_bounds"
            return _clean_sig(_header_text(data, node, begin, body.start_byte) + " {…} "
                              + _header_text(data, node, body.end_byte, node.end_byte), _MAX_SIG, ())
    if kind in ("constant", "variable", "field", "property"):
        # the first line of the definition, from its first non-blank character
        end = node.end_byte
        while begin < end and data[begin] in WS:
            begin += 1
        nl = data.find(b"\n", begin, end)
        first = _header_text(data, node, begin, end if nl < 0 else nl).rstrip()
        if nl >= 0 and first[-1:] in _CLOSER:
            # a value that goes on below: `ALIASES = {` said `ALIASES =`; now `ALIASES = {…}`
            return _clean_sig(first + "…" + _CLOSER[first[-1]], _MAX_CONST_SIG, ())
        if nl >= 0:  # a string that goes on below: flask's `_no_app_msg = """\` is `= """…"""`
            opened = first.rstrip("\\").rstrip()
            for quote in _LONG_QUOTES:
                if opened.endswith(quote) and opened.count(quote) % 2 == 1:
                    return _clean_sig(opened + "…" + quote, _MAX_CONST_SIG, ())
        return _clean_sig(first, _MAX_CONST_SIG)
    body = _body(node)
    if body is not None and body.start_byte > begin:
        raw = _header_text(data, node, begin, body.start_byte)
        if body.parent is not None and body.parent.type == "arrow_function":
            return _clean_sig(raw, _MAX_SIG, ())  # `logItem = (item) =>`
    else:
        # 4 bytes a character at most: enough bytes for the first 4 * _MAX_SIG characters
        raw = _header_text(data, node, begin, min(node.end_byte, begin + 16 * _MAX_SIG))[: 4 * _MAX_SIG]
        raw = raw.lstrip()
        # without a body field, keep the header: up to the first line break that is
        # not inside brackets
        cuts = _outside_brackets(raw, "\n", "([<", ")]>")
        cut = next(cuts, None)
        if cut is not None and name and node.type in _C_DECLARATIONS and name not in raw[:cut]:
            # a C return type on a line of its own (`size_t` then `ZSTD_compress(...)`,
            # GNU style): the header runs on to the line that names the definition
            cut = next((c for c in cuts if name in raw[:c]), None)
        if cut is not None:
            raw = raw[:cut]
    if name and node.type in _C_DECLARATIONS and (";" in raw or "}" in raw):
        raw = _own_statement(raw, name, call=kind in ("function", "method"))
    return _clean_sig(raw, _MAX_SIG)


#: the bracket that closes each opener a constant's first line may end with
_CLOSER = {"{": "}", "[": "]", "(": ")"}
#: quotes that open a string running over lines (Python, Scala, Kotlin, Swift; JavaScript)
_LONG_QUOTES = ('"""', "'''", "`")

#: C/C++ definition nodes whose header error recovery can run across earlier statements
_C_DECLARATIONS = frozenset({"function_definition", "declaration", "field_declaration"})


def _own_statement(raw: str, name: str, call: bool = False) -> str:
    """A header cut to the piece, between ``;`` or ``}`` outside brackets, that names
    ``name`` (the first such piece; the whole header when none or no cut), and that piece
    cut before a ``{`` outside brackets. ``call``: a function's piece is the first that
    names it followed by ``(``, when one does.

    No C or C++ header has either outside brackets (``f(Opts o = {})`` has it inside
    parentheses), but error recovery around macros can start a definition statements
    earlier: a gtest file's ``TEST`` had ``PARSE_FOR_TYPE(uint32_t, 3); } TEST(RE2ArgTest,
    Int64Test)``, and fmt's constructor ``named_arg_store(T&... values)`` was printed as
    ``struct named_arg_store { arg_t<Context, NUM_ARGS> args[NUM_ARGS + 1u]``, the first
    piece naming it.
    """
    pieces = []
    start = 0
    for i in _outside_brackets(raw, ";}", "([", ")]"):
        pieces.append(raw[start:i])
        start = i + 1
    if not pieces:
        return raw
    pieces.append(raw[start:])
    word = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])")
    named = [piece for piece in pieces if word.search(piece)]
    if not named:
        return raw
    if call:
        calls = re.compile(word.pattern + r"\s*\(")
        named = [piece for piece in named if calls.search(piece)] or named
    piece = named[0]
    brace = next(_outside_brackets(piece, "{", "([<", ")]>"), None)
    return (piece[:brace] if brace else piece).strip()


def _outside_brackets(raw: str, stops: str, opens: str, closes: str):
    """The positions in ``raw`` of the characters of ``stops`` that are outside every
    bracket pair of ``opens``/``closes`` (an unmatched closer is ignored). The ``>`` of an
    arrow (``=>``, ``->``) closes nothing: a TypeScript parameter typed as a function,
    ``(value: T) => V,``, had ended the header in the middle of its parameter list."""
    depth = 0
    for i, ch in enumerate(raw):
        if ch in opens:
            depth += 1
        elif ch in closes:
            if ch == ">" and i and raw[i - 1] in "=-":
                continue
            depth = max(0, depth - 1)
        elif ch in stops and depth == 0:
            yield i
