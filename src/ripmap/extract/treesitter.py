"""Tree-sitter extraction: source bytes → sorted, de-duplicated :class:`Tag` records.

Why the care: tree-sitter reports query matches in an order that depends on the
query's pattern layout, and the same node can be captured by two patterns (Rust and
Python methods match both a "function" and a "method" pattern). Aider's map changes
between runs partly because of this, so here every tag is keyed, de-duplicated and
sorted before it leaves the function: the same bytes always give the same tags.

The shipped ``tags.scm`` queries were written for tag *lists*, not for spans and
parents, so a captured definition node is normalised before use (all of it per
capture, never by walking the tree):

* C/C++ capture the ``function_declarator``; the definition is the enclosing
  ``function_definition`` (or prototype ``declaration``), through pointer/reference
  declarators, so spans cover the body and signatures keep the return type.
* Some queries capture a whole container for each member (Swift captures the
  ``class_declaration`` once per method); when the name sits three or more levels
  below the captured node, the nearest definition-like ancestor of the name is used.
* Dart's signature nodes are followed by their ``function_body`` sibling; the span
  is extended over it.
* A C/C++ ``enum``/``struct`` specifier without a body (``enum Status run(void)``) is
  a use of the type, not a definition: it becomes a ``type`` reference.
* A Rust ``impl`` block is a container of kind ``impl`` named after its type's own
  identifier (``impl<T> Display for Wrapper<T>`` → ``Wrapper``), so its methods nest
  under it with parent ``Wrapper``; it is no definition of that name for the graph.

Signatures are the declaration alone: leading annotations and decorators are left out,
and so is every comment inside the header (``def f():  # TODO``).

Two capture names besides ``definition.*``/``reference.*``/``name`` are honoured:
``@ignore`` (Elixir's and Ruby's shipped queries; no reference is taken from a node
captured so) and ``@local`` (ripmap's Ruby query: names bound in a definition, whose
bare-identifier "calls" in that definition are dropped).

Nothing here raises on bad input: syntax errors yield what tree-sitter recovered
(plus a bounded re-parse of what an unclosed bracket swallowed), undecodable names
are decoded with replacement characters, and a language whose grammar or query fails
to load yields no tags and one note. Nor does hostile input take unbounded time: each
file's parsing has a CPU budget, and nothing nested deeper than ``_MAX_DEPTH`` is
tagged (both with a note), since tree-sitter's own costs grow quadratically there.
"""
from __future__ import annotations

import re
from functools import lru_cache
from time import process_time

from .. import languages
from .tags import Tag, normalize_kind

#: Kinds whose functions are methods. Modules are parents too, but a function in a
#: module (Elixir, Julia, OCaml, TS namespaces, Rust ``mod``) stays a function.
_METHOD_OWNER_KINDS = frozenset({"class", "interface", "struct", "trait", "impl", "enum"})
_MAX_NAME = 200
_VALUE_KINDS = frozenset({"variable", "constant", "property", "field"})

# Grammar node types that say more than the query's capture kind (Rust's and C's
# structs are captured as "class"; Go's type_spec as "type" whatever it declares).
_NODE_KINDS = {
    "struct_item": "struct", "enum_item": "enum", "trait_item": "trait", "union_item": "struct",
    "type_item": "type",
    "struct_specifier": "struct", "enum_specifier": "enum", "union_specifier": "struct",
    "interface_declaration": "interface", "enum_declaration": "enum", "struct_declaration": "struct",
    "type_alias_declaration": "type", "trait_declaration": "trait", "protocol_declaration": "interface",
    "trait_definition": "trait",
}
_GO_TYPE_KINDS = {"struct_type": "struct", "interface_type": "interface"}
# tree-sitter-swift parses class, struct, enum, actor and extension all as
# class_declaration; its declaration_kind field tells them apart
_SWIFT_DECL_KINDS = {"struct": "struct", "enum": "enum", "class": "class", "actor": "class",
                     "extension": "class"}
_MAX_SIG = 200
_MAX_CONST_SIG = 100

# Node types that look like a definition of their own (see _def_node)
_DEF_SUFFIXES = ("_declaration", "_definition", "_item", "_signature", "function", "method")
# C/C++: what may sit between a function_declarator and its function_definition
_C_DECLARATOR_WRAPPERS = frozenset({
    "pointer_declarator", "reference_declarator", "parenthesized_declarator", "function_declarator",
    "attributed_declarator",
})
_C_FUNCTION_HOLDERS = frozenset({"function_definition", "declaration", "field_declaration"})
# C/C++ type specifiers: only those with a body define the type; `enum Status f()`
# and `struct Foo *p` merely use it
_SPECIFIERS = frozenset({"enum_specifier", "struct_specifier", "union_specifier", "class_specifier"})
# Generic/qualified type names whose reference name is their bare identifier
_GENERIC_NAME_TYPES = frozenset({"generic_name", "generic_type", "template_type", "qualified_name"})
# Leading annotations/decorators/attributes left out of signatures
_ANNOTATION_TYPES = frozenset({
    "annotation", "marker_annotation", "decorator", "attribute_list", "attribute", "attribute_item",
})
_WS = b" \t\r\n\f\v"
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# a line that starts a top-level definition, where re-parsing after an error that
# swallowed it can recover something (see _resume_offset)
_FRESH_DEF = re.compile(
    rb"(?:@[A-Za-z_]|(?:async\s+)?(?:def|class|function|fn|func|pub|export|const|let|var|type|struct|enum"
    rb"|interface|impl|trait|module|mod|static|public|private|protected|internal|abstract|final|object"
    rb"|val|sealed|data|defmodule|local|namespace|typedef|extern|unsafe)\b)")
#: At most this many re-parses per file after errors that swallow the rest of it.
_MAX_REPARSES = 3
#: Syntax-tree depth below which no tag is looked for. Real code stays far above it (the
#: deepest node in mypy, ripgrep, gson, flask and express is at depth 153, outside one
#: generated lookup table), and 1,000 nested JavaScript functions reach about 2,000;
#: deeper, tree-sitter's ``Node.parent`` (a walk down from the root) and its query engine
#: turn quadratic, and past 65,535 levels the engine's depth counter wraps. A file that
#: goes deeper is tagged down to this depth, with a note.
_MAX_DEPTH = 2500
#: CPU seconds one file may spend in the parser: a base plus 10 µs a byte, more than ten
#: times the slowest real code measured (C++ headers parsed as C, ~2 µs a byte; ordinary
#: code ~0.3). Pathological input (thousands of unclosed comments, deeply nested blocks
#: that never close) can take minutes; it is cut off, and the file is skipped or kept as
#: far as it was parsed, with a note.
_PARSE_BASE_S = 2.0
_PARSE_S_PER_BYTE = 1e-5
# bytes handed to the parser per read while it parses, and afterwards, when the query
# engine reads back one node's text for a predicate such as ``#match?`` (see _parse)
_READ_CHUNK = 1 << 14
_TEXT_CHUNK = 64


@lru_cache(maxsize=None)
def _parser(name: str):
    from tree_sitter import Parser

    loaded = languages.load(name)
    return Parser(loaded.language)


@lru_cache(maxsize=None)
def _cursor_query(name: str):
    return languages.load(name).query


def _text(data: bytes, node) -> str:
    return data[node.start_byte:node.end_byte].decode("utf-8", "replace")


def _good_name(name: str) -> bool:
    if name.isidentifier():  # the common case, without a per-character loop
        return len(name) <= _MAX_NAME and name.strip("_") != ""
    return 0 < len(name) <= _MAX_NAME and any(c.isalnum() for c in name)


_ROLES: dict[str, tuple[bool, str] | None] = {}


def _role(capture: str) -> tuple[bool, str] | None:
    """``definition.class`` → (True, "class"); ``reference.call`` → (False, "call")."""
    r = _ROLES.get(capture, False)
    if r is not False:
        return r
    r = None
    if capture.startswith("definition."):
        r = True, normalize_kind(capture[11:])
    elif capture.startswith("reference."):
        r = False, normalize_kind(capture[10:])
    elif capture.startswith("name.definition."):
        r = True, normalize_kind(capture[16:])
    elif capture.startswith("name.reference."):
        r = False, normalize_kind(capture[15:])
    _ROLES[capture] = r
    return r


def _name_text(data: bytes, node) -> str:
    """A name node's text. A name cut short by invalid UTF-8 (a Latin-1 ``café``
    parses as ``caf`` + ERROR) keeps its undecodable tail as replacement characters."""
    return _name_text_span(data, node.start_byte, node.end_byte)


def _name_text_span(data: bytes, s: int, e: int) -> str:
    raw = data[s:e]
    if e < len(data) and data[e] >= 0x80:
        n = len(data)
        while e < n and (data[e] >= 0x80 or data[e] in _WORD):
            e += 1
        try:
            data[s:e].decode("utf-8")
        except UnicodeDecodeError:
            raw = data[s:e]
    return raw.decode("utf-8", "replace").strip()


def _ref_name_node(node):
    """``IRepository<Product>`` → ``IRepository``; ``System.IDisposable`` → ``IDisposable``."""
    for _ in range(4):
        t = node.type
        if t == "qualified_name" or t == "qualified_identifier":
            sub = node.child_by_field_name("name")
        elif t in _GENERIC_NAME_TYPES:
            sub = node.child_by_field_name("name") or node.named_child(0)
        else:
            break
        if sub is None:
            break
        node = sub
    return node


# Rust type nodes → the field holding the type they are built on (`&'a mut S` → `S`,
# `Box<S>` → `Box`, `io::Error` → `Error`, `[T; 3]` → `T`, `dyn Error` → `Error`)
_RUST_TYPE_INNER = {"reference_type": "type", "pointer_type": "type", "generic_type": "type",
                    "scoped_type_identifier": "name", "array_type": "element", "dynamic_type": "trait",
                    "abstract_type": "trait"}


def _impl_type_name(data: bytes, node) -> str:
    """The name an ``impl`` block is filed under: its type's own identifier."""
    for _ in range(8):
        field = _RUST_TYPE_INNER.get(node.type)
        sub = node.child_by_field_name(field) if field else None
        if sub is None:
            break
        node = sub
    return _name_text(data, node)


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


def _clean_sig(s: str, limit: int, tails: tuple[str, ...] = ("{", ":", "=>", "=", "where", "do", "->")) -> str:
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


def _header_text(data: bytes, node, begin: int, stop: int) -> str:
    """``data[begin:stop]`` (a part of ``node``) decoded, without the comments in it.

    A comment inside a header (``def f():  # TODO``, ``def g(  # type: ignore``,
    ``public boolean remove(Object o) // why``) is no part of the declaration, and in a
    one-line signature it swallows what follows it; each is dropped.
    """
    raw = data[begin:stop]
    if _COMMENT_MARK.search(raw) is None:
        return raw.decode("utf-8", "replace")
    spans = _comment_spans(node, begin, stop)
    if not spans:
        return raw.decode("utf-8", "replace")
    pieces: list[tuple[bytes, bool]] = []  # (kept text, line break among the blanks before it)
    broken = False
    pos = begin
    for s, e in spans + [(stop, stop)]:
        seg = data[pos:s] if s > pos else b""
        piece = seg.strip(_WS)
        if piece:
            lead = seg[:len(seg) - len(seg.lstrip(_WS))]
            pieces.append((piece, broken or b"\n" in lead))
            broken = b"\n" in seg[len(seg.rstrip(_WS)):]
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


def _signature(data: bytes, node, kind: str) -> str:
    # C/C++ capture the declarator; the header with its return type is the parent's
    if node.type == "function_declarator" and node.parent is not None and node.parent.type in (
            "function_definition", "declaration", "field_declaration"):
        node = node.parent
    if node.type == "type_spec":  # Go: `type Server struct {` → "type Server struct"
        brace = data.find(b"{", node.start_byte, node.end_byte)
        stop = brace if brace >= 0 else node.end_byte
        return _clean_sig("type " + _header_text(data, node, node.start_byte, stop), _MAX_SIG)
    begin = _sig_start(data, node)
    if kind in ("constant", "variable", "field", "property"):
        # the first line of the definition, from its first non-blank character
        end = node.end_byte
        while begin < end and data[begin] in _WS:
            begin += 1
        nl = data.find(b"\n", begin, end)
        return _clean_sig(_header_text(data, node, begin, end if nl < 0 else nl), _MAX_CONST_SIG)
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
        depth = 0
        for i, ch in enumerate(raw):
            if ch in "([<":
                depth += 1
            elif ch in ")]>":
                depth = max(0, depth - 1)
            elif ch == "\n" and depth == 0:
                raw = raw[:i]
                break
    return _clean_sig(raw, _MAX_SIG)


def _container_name(data: bytes, node, name_node) -> str | None:
    """Owner type of a method defined outside a class body (Go receivers, Rust impls,
    C++ ``Circle::area``, Lua ``Account:deposit``)."""
    np = name_node.parent if name_node.start_byte and data[name_node.start_byte - 1] == 58 else None  # ':'
    if np is not None:
        if np.type == "qualified_identifier":  # C++: double Circle::area() const {}
            scope = np.child_by_field_name("scope")
            if scope is not None:
                name = _text(data, scope).split("<", 1)[0].strip()
                return name.rsplit("::", 1)[-1] or None
        elif np.type == "method_index_expression":  # Lua: function Account:deposit()
            table = np.child_by_field_name("table")
            if table is not None:
                if table.type == "dot_index_expression":
                    table = table.child_by_field_name("field") or table
                return _text(data, table).strip() or None
    recv = node.child_by_field_name("receiver")
    if recv is not None:  # Go: func (s *Server) Serve(...)
        for sub in _walk_named(recv, limit=12):
            if sub.type == "type_identifier":
                return _text(data, sub)
    p = node.parent
    for _ in range(3):
        if p is None:
            break
        if p.type == "impl_item":  # Rust: impl Foo { fn bar() }
            t = p.child_by_field_name("type")
            if t is not None:
                name = _text(data, t)
                return name.split("<", 1)[0].strip()
        if p.type == "class_declaration":  # Swift: extension Canvas { func f() }
            t = p.child_by_field_name("name")
            if t is not None and t.type == "user_type":
                return _text(data, t).split("<", 1)[0].strip() or None
            break
        p = p.parent
    return None


def _python_from_imports(data: bytes, node, module: str) -> list[str]:
    """``from M import a, b as c`` → ["M.a", "M.b"] (relative M keeps its dots)."""
    out: list[str] = []
    sep = "" if module.endswith(".") else "."
    for child in node.children_by_field_name("name"):
        target = child.child_by_field_name("name") if child.type == "aliased_import" else child
        if target is None:
            continue
        text = _text(data, target).strip()
        if text and text.replace(".", "").replace("_", "").isalnum():
            out.append(f"{module}{sep}{text}")
    return out


def _walk_named(node, limit: int):
    stack = [node]
    seen = 0
    while stack and seen < limit:
        n = stack.pop()
        seen += 1
        yield n
        stack.extend(reversed(n.named_children))


def _def_node(node, name_node):
    """The node that really is the definition named by ``name_node`` (see the module
    docstring), or None when the capture is no definition (a body-less C specifier)."""
    t = node.type
    if t == "function_declarator":  # C/C++
        p = node.parent
        hops = 0
        while p is not None and hops < 4 and p.type in _C_DECLARATOR_WRAPPERS:
            p = p.parent
            hops += 1
        if p is not None and p.type in _C_FUNCTION_HOLDERS:
            return p
        return node
    np = name_node.parent
    if np is None or np == node:
        pass
    elif t == "declaration" and np.type in _SPECIFIERS:  # C: union Value {...} v;
        node = np
    elif t == "table_constructor" and np.type == "field":  # Lua: { f = function() end }
        return np
    else:
        # the name deep below the captured node: the query captured a container once
        # per member (Swift); take the member's own declaration
        cand = None
        depth = 1
        p = np
        while p is not None and depth < 6 and p != node:
            if cand is None and p.type.endswith(_DEF_SUFFIXES):
                cand = p
            p = p.parent
            depth += 1
        if depth >= 3 and cand is not None and p == node:
            node = cand
    if node.type in _SPECIFIERS and node.child_by_field_name("body") is None:
        return None
    return node


def _resume_offset(data: bytes, root) -> int | None:
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


def _parse(parser, data: bytes, deadline: float):
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


def _deeper_than(root, limit: int) -> bool:
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


def extract_tree_sitter(data: bytes, language: str) -> tuple[list[Tag], list[tuple], list[str]]:
    """Parse ``data`` with ``language``'s grammar and run its tags query.

    Returns the definitions (sorted Tags), the references as plain tag tuples in
    a deterministic order (most of a file's tags: building a Tag for each is left to whoever
    needs one) and notes.

    When an error swallows the rest of the file (an unclosed bracket in Python eats
    every definition after it), the remainder is re-parsed from the next line that
    starts at column 0, at most ``_MAX_REPARSES`` times, and its tags replace what the
    broken tree gave for those lines.

    Hostile input is bounded: all parses of one file share one CPU-time budget
    (``_PARSE_BASE_S`` + ``_PARSE_S_PER_BYTE`` a byte), and nothing deeper than
    ``_MAX_DEPTH`` levels is tagged; either limit adds a note.
    """
    loaded = languages.load(language)
    if isinstance(loaded, languages.LoadFailure):
        return [], [], [f"{language}: {loaded.reason}"]
    notes: list[str] = []
    parser = _parser(language)
    budget = _PARSE_BASE_S + len(data) * _PARSE_S_PER_BYTE
    deadline = process_time() + budget
    tree = _parse(parser, data, deadline)
    if tree is None:
        return [], [], [f"parsing took over {budget:.0f} s of CPU (pathological input?); skipped"]
    root = tree.root_node
    if _deeper_than(root, _MAX_DEPTH):
        notes.append(f"nested deeper than {_MAX_DEPTH} levels; tags below that depth left out")
    if not root.has_error:
        defs, refs = _extract(data, root, loaded)
        return defs, refs, notes
    notes.append("syntax errors; tags recovered partially")
    out_defs: list[Tag] = []
    out_refs: list[tuple] = []
    chunk = data
    line_off = 0
    for attempt in range(_MAX_REPARSES + 1):
        defs, refs = _extract(chunk, root, loaded)
        resume = _resume_offset(chunk, root) if root.has_error and attempt < _MAX_REPARSES else None
        if resume is None:
            out_defs.extend(_shift(defs, line_off, None))
            out_refs.extend(_shift(refs, line_off, None))
            break
        cut = chunk.count(b"\n", 0, resume)  # lines (0-based) before the resume line
        nxt = _parse(parser, chunk[resume:], deadline)
        if nxt is None:  # out of time: keep what the broken tree gave for the rest
            out_defs.extend(_shift(defs, line_off, None))
            out_refs.extend(_shift(refs, line_off, None))
            notes.append(f"re-parsing after line {line_off + cut} ran out of time; tags after it recovered partially")
            break
        out_defs.extend(_shift(defs, line_off, cut))
        out_refs.extend(_shift(refs, line_off, cut))
        line_off += cut
        chunk = chunk[resume:]
        root = nxt.root_node
    out_defs.sort(key=Tag.sort_key)
    return out_defs, out_refs, notes


def _shift(tags: list[tuple], line_off: int, cut: int | None) -> list[tuple]:
    """Tags (or tag tuples) of a re-parsed chunk moved down by ``line_off`` lines;
    with ``cut``, only those starting before line ``cut`` + 1 (1-based), their ends
    clamped to it. The result keeps the input's type."""
    if cut is None and not line_off:
        return tags
    make = Tag if tags and isinstance(tags[0], Tag) else (lambda *a: a)
    return [make(t[0] + line_off, t[1], t[2], t[3], (t[4] if cut is None else min(t[4], cut)) + line_off,
                 t[5], t[6])
            for t in tags if cut is None or t[0] <= cut]


def _rstrip_pos(data: bytes, start: int, end: int) -> int:
    """The end of ``data[start:end]`` without its trailing whitespace (in C, by windows)."""
    while end > start:
        lo = max(start, end - 4096)
        kept = len(data[lo:end].rstrip(_WS))
        if kept:
            return lo + kept
        end = lo
    return start


_SIDE_CAPTURES: dict[int, tuple[object, bool]] = {}


def _has_side_captures(query) -> bool:
    """Whether a query has @ignore or @local captures (looked up once per query)."""
    hit = _SIDE_CAPTURES.get(id(query))
    if hit is None or hit[0] is not query:
        names = {query.capture_name(i) for i in range(query.capture_count)}
        hit = _SIDE_CAPTURES[id(query)] = (query, bool(names & {"ignore", "local"}))
    return hit[1]


def _pattern_info(caps: dict) -> tuple:
    """(role capture name, (is_def, kind), capture-is-the-name) of one match's captures."""
    for cname in caps:
        r = _role(cname)
        if r is not None:
            return cname, r, cname.startswith("name.")
    return None, None, False


def _fast_ref_patterns(query) -> dict[int, tuple[str, str]]:
    """Pattern index → (name capture, kind) for the reference patterns whose matches
    need nothing but the name node's span. Most matches of every query (calls, type
    uses) take this path, around the general per-match logic.

    A pattern qualifies when its only role capture is a reference other than an
    import, and the name capture is required in it (read from the query's capture
    quantifiers, so an optional capture never sends a match down the wrong path).
    """
    hit = _FAST_REFS.get(id(query))
    if hit is not None and hit[0] is query:
        return hit[1]
    out: dict[int, tuple[str, str]] = {}
    if not _has_side_captures(query):
        names = [query.capture_name(i) for i in range(query.capture_count)]
        for pi in range(query.pattern_count):
            present = {}
            for ci, cname in enumerate(names):
                q = _quantifier(query, pi, ci)
                if q is not None:
                    present[cname] = q
            roles = [(c, _role(c)) for c in present if _role(c) is not None]
            if len(roles) != 1:
                continue
            cname, (is_def, kind) = roles[0]
            if is_def or kind == "import":
                continue
            name_cap = cname if cname.startswith("name.") else "name"
            if present.get(name_cap) in ("", "+") and present.get(cname) in ("", "+"):
                out[pi] = (name_cap, kind)
    _FAST_REFS[id(query)] = (query, out)
    return out


_FAST_REFS: dict[int, tuple[object, dict]] = {}


def _quantifier(query, pattern: int, capture: int) -> str | None:
    """A capture's quantifier in a pattern ("" one, "?", "*", "+"), or None when the
    pattern does not use it (the bindings raise for that case)."""
    try:
        q = query.capture_quantifier(pattern, capture)
    except Exception:
        return None
    return q if q in ("", "?", "*", "+") else None


def _generic_ids(language) -> frozenset[int]:
    """Node kind ids whose reference name is an inner identifier (see _ref_name_node)."""
    got = _GENERIC_IDS.get(id(language))
    if got is None:
        ids = set()
        for t in _GENERIC_NAME_TYPES | {"qualified_identifier"}:
            for named in (True, False):
                i = language.id_for_node_kind(t, named)
                if i:
                    ids.add(i)
        got = _GENERIC_IDS[id(language)] = frozenset(ids)
    return got


_GENERIC_IDS: dict[int, frozenset[int]] = {}


def _extract(data: bytes, root, loaded) -> tuple[list[Tag], list[tuple]]:
    """(definitions as sorted Tags, references as plain tuples in a deterministic order (see _collect_refs))."""
    from tree_sitter import QueryCursor

    query = loaded.query
    cursor = QueryCursor(query)
    cursor.set_max_start_depth(_MAX_DEPTH)
    # def key (start, end, name) → [kind, node, name, name_node, line, end_line]
    defs: dict[tuple[int, int, str], list] = {}
    # references whose name the general path worked out: (key start, name, kind, line start)
    named_refs: list[tuple[int, str, str, int]] = []
    # references on the fast path: the name node's start, end and the kind, as
    # parallel lists (the cheapest thing to append half a million times)
    span_s: list[int] = []
    span_e: list[int] = []
    span_k: list[str] = []
    add_s, add_e, add_k = span_s.append, span_e.append, span_k.append
    def_name_starts: set[int] = set()
    ignored: set[int] = set()  # start bytes of nodes captured as @ignore
    local_binds: list[tuple[int, str]] = []  # (start byte, name) of @local captures
    side = _has_side_captures(query)
    fast = _fast_ref_patterns(query)
    generic = _generic_ids(loaded.language)
    ndata = len(data)
    # pattern index → (role capture, (is_def, kind), role capture is on the name);
    # the capture scan runs once per pattern instead of once per match
    pinfo: dict[int, tuple] = {}
    for pattern, caps in cursor.matches(root):
        f = fast.get(pattern)
        if f is not None:
            nodes = caps.get(f[0])
            if nodes:
                n = nodes[0]
                if n.kind_id not in generic:
                    add_s(n.start_byte)
                    add_e(n.end_byte)
                    add_k(f[1])
                    continue
        if side:
            ign = caps.get("ignore")
            if ign is not None:
                for n in ign:
                    ignored.add(n.start_byte)
            loc = caps.get("local")
            if loc is not None:
                for n in loc:
                    local_binds.append((n.start_byte, _text(data, n)))
        info = pinfo.get(pattern)
        if info is None:
            info = pinfo[pattern] = _pattern_info(caps)
        rcap = info[0]
        if rcap is None:
            continue
        nodes = caps.get(rcap)
        if nodes is None:  # the role capture was optional in this pattern
            info = _pattern_info(caps)
            rcap = info[0]
            if rcap is None:
                continue
            nodes = caps[rcap]
        if info[2]:  # `@name.definition.x`: the capture is the name itself
            name_node = nodes[0]
            node = name_node.parent or name_node
        else:
            names = caps.get("name")
            if not names:
                continue
            name_node = names[0]
            node = nodes[0]
        is_def, kind = info[1]
        s = name_node.start_byte
        e = name_node.end_byte
        if kind == "impl" and is_def:
            name = _impl_type_name(data, name_node)
        elif e < ndata and data[e] >= 0x80:
            name = _name_text(data, name_node)
        else:
            name = data[s:e].decode("utf-8", "replace").strip()
        if not is_def and ("<" in name or "." in name) and name_node.type in _GENERIC_NAME_TYPES:
            name_node = _ref_name_node(name_node)
            name = _name_text(data, name_node)
        if kind == "import" and node.type == "import_from_statement":
            # Python `from M import a, b`: also record "M.a", "M.b", which resolve to
            # submodules when they are modules (`from . import views`, `from pkg import
            # sub`); `from . import x` has no usable module name of its own.
            for full in _python_from_imports(data, node, name):
                named_refs.append((node.start_byte + len(full), full, "import", node.start_byte))
        if not _good_name(name):
            continue
        if is_def:
            dnode = _def_node(node, name_node)
            if dnode is None:  # `enum Status run(void)`: a use of the type
                named_refs.append((name_node.start_byte, name, "type", name_node.start_byte))
                continue
            node = dnode
            nt = node.type
            kind = _NODE_KINDS.get(nt, kind)
            if nt == "type_spec":
                t = node.child_by_field_name("type")
                kind = _GO_TYPE_KINDS.get(t.type, "type") if t is not None else "type"
            elif nt == "class_declaration":
                dk = node.child_by_field_name("declaration_kind")
                if dk is not None:
                    kind = _SWIFT_DECL_KINDS.get(dk.type, kind)
            if kind != "impl":  # `impl Foo` still refers to Foo (see rust-extra.scm)
                def_name_starts.add(name_node.start_byte)
            start = node.start_byte
            end_node = node
            if nt.endswith("_signature"):  # Dart: the body follows the signature
                nxt = node.next_named_sibling
                if nxt is not None and nxt.type == "function_body":
                    end_node = nxt
            end = end_node.end_byte
            end_row = end_node.end_point[0]
            if end > start and data[end - 1] in _WS:
                # a node ending in whitespace (Scala's indented blocks) ends on its
                # last non-blank line
                e = _rstrip_pos(data, start, end)
                end_row -= data.count(b"\n", e, end)
                end = e
            key = (start, end, name)
            prev = defs.get(key)
            if prev is None or (prev[0] == "function" and kind == "method"):
                defs[key] = [kind, node, name, name_node, node.start_point[0] + 1, end_row + 1]
        else:
            named_refs.append((s, name, kind, name_node.start_byte))

    # Parents by a sweep over byte offsets: defs sorted by (start, -end) form a
    # nesting; each def/ref's parent is the innermost open def that contains it.
    order = sorted(defs.items(), key=lambda kv: (kv[0][0], -kv[0][1], kv[0][2]))
    tags: list[Tag] = []
    stack: list[tuple[int, str, str]] = []  # (end_byte, name, kind)
    def_spans: list[tuple[int, int, str]] = []
    for (start, end, name), (kind, node, _n, name_node, line, end_line) in order:
        while stack and stack[-1][0] <= start:
            stack.pop()
        parent = stack[-1][1] if stack else None
        parent_kind = stack[-1][2] if stack else None
        if kind in _VALUE_KINDS and (parent_kind == "function" or parent_kind == "method"):
            continue  # a local variable (Swift `let`, Scala `val` in a body) is no API
        if kind == "function" and parent_kind in _METHOD_OWNER_KINDS:
            kind = "method"
        elif (kind == "method" or kind == "function") and (parent is None or parent_kind == "module"):
            owner = _container_name(data, node, name_node)
            if owner:
                parent = owner
                kind = "method"
            elif kind == "method" and node.type == "function_item":
                kind = "function"  # Rust: fn in `mod tests {}` (the query's declaration_list)
        sig = _signature(data, node, kind)
        tags.append(Tag(line, name, True, kind, max(line, end_line), parent, sig))
        stack.append((end, name, kind))
        def_spans.append((start, end, name))
    tags.sort(key=Tag.sort_key)

    if not (named_refs or span_s):
        return tags, []
    # a definition's own name is sometimes also matched by a reference pattern (Go's
    # type_identifier); it is not a use of the name; nor are @ignore'd nodes (Elixir's
    # `def`, `alias`)
    skip = def_name_starts | ignored if ignored else def_name_starts
    refs = _collect_refs(data, named_refs, span_s, span_e, span_k, skip)
    if local_binds:
        refs = _drop_locals(sorted(refs), local_binds, def_spans)
    return tags, _ref_tuples(data, refs, def_spans)


def _collect_refs(data: bytes, named: list[tuple[int, str, str, int]], span_s: list[int], span_e: list[int],
                  span_k: list[str], skip: set[int]) -> list[tuple[int, str, str, int]]:
    """Unique references as (key start, name, kind, line start), in a deterministic
    order (the general path's first, then the fast path's by position).

    The first match of a (start, name) key decides its kind, as tree-sitter reports
    matches. Fast-path spans are de-duplicated before decoding (several patterns often
    capture the same node); every step is a comprehension or a C-level call, since a
    big file has 10^4 references.
    """
    out: list[tuple[int, str, str, int]] = []
    seen: set[tuple[int, str]] = set()
    for s, name, kind, pos in named:
        if s not in skip and (s, name) not in seen:
            seen.add((s, name))
            out.append((s, name, kind, pos))
    if not span_s:
        return out
    # first occurrence wins: build the dict from the reversed lists
    first = dict(zip(zip(reversed(span_s), reversed(span_e)), reversed(span_k)))
    keys = sorted(first)
    if skip:
        keys = [k for k in keys if k[0] not in skip]
    if data.isascii():
        names = [data[s:e].decode("ascii").strip() for s, e in keys]
    else:
        names = [_name_text_span(data, s, e) for s, e in keys]
    good, most = _good_name, _MAX_NAME
    # _good_name, with its common case (an identifier) inline
    kept = [(k[0], n, first[k], k[0]) for k, n in zip(keys, names)
            if (len(n) <= most and n.strip("_") if n.isidentifier() else good(n))]
    out.extend(kept if not seen else [r for r in kept if (r[0], r[1]) not in seen])
    return out


def _ref_tuples(data: bytes, refs: list[tuple[int, str, str, int]],
                def_spans: list[tuple[int, int, str]]) -> list[tuple]:
    """Reference tag tuples ``(line, name, False, kind, line, parent, None)``: lines by a
    binary search over the file's line starts and parents by painting each definition's
    byte span, outer ones first (both vectorised: a file may hold 10^4 references)."""
    import numpy as np

    n = len(data)
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    pos = np.array([r[3] for r in refs], dtype=np.int64)
    lines = (np.searchsorted(newlines, pos, side="left") + 1).tolist()
    if def_spans:
        owner = np.full(n + 1, -1, dtype=np.int32)
        for i, (s, e, _n) in enumerate(def_spans):  # sorted by (start, -end): parents first
            owner[s:e] = i
        starts = np.array([r[0] for r in refs], dtype=np.int64)
        np.clip(starts, 0, n, out=starts)
        dnames = [d[2] for d in def_spans]
        dnames.append(None)  # owner -1 → None
        parents = [dnames[o] for o in owner[starts].tolist()]
    else:
        parents = [None] * len(refs)
    return [(ln, r[1], False, r[2], ln, p, None) for ln, r, p in zip(lines, refs, parents)]


def _owners(positions: list[int], def_spans: list[tuple[int, int, str]]) -> list[int]:
    """For sorted byte positions, the index in ``def_spans`` (sorted by start, -end) of
    the innermost definition containing each, or -1."""
    out: list[int] = []
    stack: list[tuple[int, int]] = []  # (end, index)
    di = 0
    n = len(def_spans)
    for pos in positions:
        while di < n and def_spans[di][0] <= pos:
            s, e, _dn = def_spans[di]
            while stack and stack[-1][0] <= s:
                stack.pop()
            stack.append((e, di))
            di += 1
        while stack and stack[-1][0] <= pos:
            stack.pop()
        out.append(stack[-1][1] if stack else -1)
    return out


def _drop_locals(refs: list[tuple[int, str, str, int]], local_binds: list[tuple[int, str]],
                 def_spans) -> list[tuple[int, str, str, int]]:
    """Ruby: bare identifiers are captured as calls (the query's ``#is-not? local``
    needs a locals pass the bindings do not run); drop those whose name is bound as a
    parameter or assigned variable in the same definition."""
    local_binds.sort()
    bound = {(o, name) for (_s, name), o in zip(local_binds, _owners([s for s, _n in local_binds], def_spans))}
    owners = _owners([r[0] for r in refs], def_spans)
    return [r for r, o in zip(refs, owners) if (o, r[1]) not in bound]
