"""Tree-sitter extraction: source bytes → sorted, de-duplicated :class:`Tag` records.

Why the care: tree-sitter reports query matches in an order that depends on the
query's pattern layout, and the same node can be captured by two patterns (Rust and
Python methods match both a "function" and a "method" pattern). Aider's map changes
between runs partly because of this, so here every tag is keyed, de-duplicated and
sorted before it leaves the function: the same bytes always give the same tags.

Nothing here raises on bad input: syntax errors yield what tree-sitter recovered,
undecodable names are decoded with replacement characters, and a language whose
grammar or query fails to load yields no tags and one note.
"""
from __future__ import annotations

from functools import lru_cache

from .. import languages
from .tags import Tag, normalize_kind

_CONTAINER_KINDS = frozenset({"class", "interface", "struct", "trait", "impl", "enum", "module"})
_MAX_NAME = 200

# Grammar node types that say more than the query's capture kind (Rust's and C's
# structs are captured as "class"; Go's type_spec as "type" whatever it declares).
_NODE_KINDS = {
    "struct_item": "struct", "enum_item": "enum", "trait_item": "trait", "union_item": "struct",
    "struct_specifier": "struct", "enum_specifier": "enum", "union_specifier": "struct",
    "interface_declaration": "interface", "enum_declaration": "enum", "struct_declaration": "struct",
    "type_alias_declaration": "type", "trait_declaration": "trait", "protocol_declaration": "interface",
}
_GO_TYPE_KINDS = {"struct_type": "struct", "interface_type": "interface"}
_MAX_SIG = 200
_MAX_CONST_SIG = 100


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
    return 0 < len(name) <= _MAX_NAME and any(c.isalnum() for c in name)


def _role(capture: str) -> tuple[bool, str] | None:
    """``definition.class`` → (True, "class"); ``reference.call`` → (False, "call")."""
    if capture.startswith("definition."):
        return True, normalize_kind(capture[11:])
    if capture.startswith("reference."):
        return False, normalize_kind(capture[10:])
    if capture.startswith("name.definition."):
        return True, normalize_kind(capture[16:])
    if capture.startswith("name.reference."):
        return False, normalize_kind(capture[15:])
    return None


# Fields that hold a definition's body in the common grammars; the signature is the
# text of the definition node up to where its body starts.
_BODY_FIELDS = ("body", "value_body", "class_body", "members")
_BODY_TYPES = frozenset({
    "block", "class_body", "declaration_list", "field_declaration_list", "statement_block",
    "enum_body", "interface_body", "compound_statement", "function_body", "do_block",
    "enum_variant_list", "object_type", "template_body", "suite",
})


def _body_start(node) -> int | None:
    for f in _BODY_FIELDS:
        b = node.child_by_field_name(f)
        if b is not None and b.start_byte > node.start_byte:
            return b.start_byte
    for c in node.named_children:
        if c.type in _BODY_TYPES and c.start_byte > node.start_byte:
            return c.start_byte
    return None


def _clean_sig(s: str, limit: int) -> str:
    s = " ".join(s.split())
    s = s.replace("( ", "(").replace(" )", ")").replace("[ ", "[").replace(" ]", "]").replace(",)", ")")
    s = s.rstrip()
    for tail in ("{", ":", "=>", "=", "where", "do", "->"):
        if s.endswith(tail) and len(s) > len(tail):
            s = s[: -len(tail)].rstrip()
            break
    if len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return s


def _signature(data: bytes, node, kind: str) -> str:
    # C/C++ capture the declarator; the header with its return type is the parent's
    if node.type == "function_declarator" and node.parent is not None and node.parent.type in (
            "function_definition", "declaration", "field_declaration"):
        node = node.parent
    if node.type == "type_spec":  # Go: `type Server struct {` → "type Server struct"
        return _clean_sig("type " + _text(data, node).split("{", 1)[0], _MAX_SIG)
    if kind in ("constant", "variable", "field", "property"):
        text = _text(data, node)
        first = text.split("\n", 1)[0]
        return _clean_sig(first, _MAX_CONST_SIG)
    start = _body_start(node)
    if start is not None:
        raw = data[node.start_byte:start].decode("utf-8", "replace")
    else:
        raw = _text(data, node)
        if len(raw) > 4 * _MAX_SIG:
            raw = raw[: 4 * _MAX_SIG]
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


def _container_name(data: bytes, node) -> str | None:
    """Owner type of a method defined outside a class body (Go receivers, Rust impls)."""
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
        p = p.parent
    return None


def _walk_named(node, limit: int):
    stack = [node]
    seen = 0
    while stack and seen < limit:
        n = stack.pop()
        seen += 1
        yield n
        stack.extend(reversed(n.named_children))


def extract_tree_sitter(data: bytes, language: str) -> tuple[list[Tag], list[str]]:
    """Parse ``data`` with ``language``'s grammar and run its tags query."""
    loaded = languages.load(language)
    if isinstance(loaded, languages.LoadFailure):
        return [], [f"{language}: {loaded.reason}"]
    from tree_sitter import QueryCursor

    notes: list[str] = []
    tree = _parser(language).parse(data)
    root = tree.root_node
    if root.has_error:
        notes.append("syntax errors; tags recovered partially")
    cursor = QueryCursor(loaded.query)
    # def key (start, end, name) → [kind, node, name]; keeps the most specific kind
    defs: dict[tuple[int, int, str], list] = {}
    refs: dict[tuple[int, str], tuple[int, str, str]] = {}
    def_name_starts: set[int] = set()
    for _pattern, caps in cursor.matches(root):
        role = None
        node = None
        for cname, nodes in caps.items():
            r = _role(cname)
            if r is not None:
                role, node = r, nodes[0]
                if cname.startswith("name."):
                    caps = {**caps, "name": nodes}
                    node = nodes[0].parent or nodes[0]
                break
        if role is None:
            continue
        names = caps.get("name")
        if not names:
            continue
        name_node = names[0]
        name = _text(data, name_node).strip()
        if not _good_name(name):
            continue
        is_def, kind = role
        if is_def:
            kind = _NODE_KINDS.get(node.type, kind)
            if node.type == "type_spec":
                t = node.child_by_field_name("type")
                kind = _GO_TYPE_KINDS.get(t.type, "type") if t is not None else "type"
            def_name_starts.add(name_node.start_byte)
            key = (node.start_byte, node.end_byte, name)
            prev = defs.get(key)
            if prev is None or (prev[0] == "function" and kind == "method"):
                defs[key] = [kind, node, name]
        else:
            rkey = (name_node.start_byte, name)
            if rkey not in refs:
                refs[rkey] = (name_node.start_point[0] + 1, name, kind)

    # Parents by a sweep over byte offsets: defs sorted by (start, -end) form a
    # nesting; each def/ref's parent is the innermost open def that contains it.
    order = sorted(defs.items(), key=lambda kv: (kv[0][0], -kv[0][1], kv[0][2]))
    tags: list[Tag] = []
    stack: list[tuple[int, str, str]] = []  # (end_byte, name, kind)
    def_spans: list[tuple[int, int, str]] = []
    for (start, end, name), (kind, node, _n) in order:
        while stack and stack[-1][0] <= start:
            stack.pop()
        parent = stack[-1][1] if stack else None
        parent_kind = stack[-1][2] if stack else None
        if kind == "function" and parent_kind in _CONTAINER_KINDS:
            kind = "method"
        if parent is None and kind in ("method", "function"):
            owner = _container_name(data, node)
            if owner:
                parent = owner
                kind = "method"
        sig = _signature(data, node, kind)
        tags.append(Tag(node.start_point[0] + 1, name, True, kind, node.end_point[0] + 1, parent, sig))
        stack.append((end, name, kind))
        def_spans.append((start, end, name))

    if refs:
        # a definition's own name is sometimes also matched by a reference pattern
        # (Go's type_identifier); it is not a use of the name
        ref_items = sorted(kv for kv in refs.items() if kv[0][0] not in def_name_starts)
        stack2: list[tuple[int, str]] = []
        di = 0
        for (rstart, name), (line, _n, kind) in ref_items:
            while di < len(def_spans) and def_spans[di][0] <= rstart:
                s, e, dn = def_spans[di]
                while stack2 and stack2[-1][0] <= s:
                    stack2.pop()
                stack2.append((e, dn))
                di += 1
            while stack2 and stack2[-1][0] <= rstart:
                stack2.pop()
            parent = stack2[-1][1] if stack2 else None
            tags.append(Tag(line, name, False, kind, line, parent, None))
    tags.sort(key=Tag.sort_key)
    return tags, notes
