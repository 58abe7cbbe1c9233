"""Syntax nodes → names, owners and the node that really is a definition.

The shipped ``tags.scm`` queries were written for tag *lists*, so what they capture is
normalised here, node by node (see :mod:`ripmap.extract.treesitter` for why): a name's
text (undecodable bytes kept as replacement characters), a generic or qualified type
reference's bare name, a Rust ``impl``'s type, the owner of a method defined outside its
type's body, and the enclosing definition of a C/C++ declarator or of a member that a
query captured through its container.
"""
from __future__ import annotations

MAX_NAME = 200

# Node types that look like a definition of their own (see def_node)
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
GENERIC_NAME_TYPES = frozenset({"generic_name", "generic_type", "template_type", "qualified_name"})
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def node_text(data: bytes, node) -> str:
    return data[node.start_byte:node.end_byte].decode("utf-8", "replace")


def good_name(name: str) -> bool:
    if name.isidentifier():  # the common case, without a per-character loop
        return len(name) <= MAX_NAME and name.strip("_") != ""
    return 0 < len(name) <= MAX_NAME and any(c.isalnum() for c in name)


def name_text(data: bytes, node) -> str:
    """A name node's text. A name cut short by invalid UTF-8 (a Latin-1 ``café``
    parses as ``caf`` + ERROR) keeps its undecodable tail as replacement characters."""
    return name_text_span(data, node.start_byte, node.end_byte)


def name_text_span(data: bytes, s: int, e: int) -> str:
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


def ref_name_node(node):
    """``IRepository<Product>`` → ``IRepository``; ``System.IDisposable`` → ``IDisposable``."""
    for _ in range(4):
        t = node.type
        if t == "qualified_name" or t == "qualified_identifier":
            sub = node.child_by_field_name("name")
        elif t in GENERIC_NAME_TYPES:
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


def impl_type_name(data: bytes, node) -> str:
    """The name an ``impl`` block is filed under: its type's own identifier."""
    for _ in range(8):
        field = _RUST_TYPE_INNER.get(node.type)
        sub = node.child_by_field_name(field) if field else None
        if sub is None:
            break
        node = sub
    return name_text(data, node)


def container_name(data: bytes, node, name_node) -> str | None:
    """Owner type of a method defined outside a class body (Go receivers, Rust impls,
    C++ ``Circle::area``, Lua ``Account:deposit``)."""
    np = name_node.parent if name_node.start_byte and data[name_node.start_byte - 1] == 58 else None  # ':'
    if np is not None:
        if np.type == "qualified_identifier":  # C++: double Circle::area() const {}
            scope = np.child_by_field_name("scope")
            if scope is not None:
                name = node_text(data, scope).split("<", 1)[0].strip()
                return name.rsplit("::", 1)[-1] or None
        elif np.type == "method_index_expression":  # Lua: function Account:deposit()
            table = np.child_by_field_name("table")
            if table is not None:
                if table.type == "dot_index_expression":
                    table = table.child_by_field_name("field") or table
                return node_text(data, table).strip() or None
    recv = node.child_by_field_name("receiver")
    if recv is not None:  # Go: func (s *Server) Serve(...)
        for sub in _walk_named(recv, limit=12):
            if sub.type == "type_identifier":
                return node_text(data, sub)
    p = node.parent
    for _ in range(3):
        if p is None:
            break
        if p.type == "impl_item":  # Rust: impl Foo { fn bar() }
            t = p.child_by_field_name("type")
            if t is not None:
                name = node_text(data, t)
                return name.split("<", 1)[0].strip()
        if p.type == "class_declaration":  # Swift: extension Canvas { func f() }
            t = p.child_by_field_name("name")
            if t is not None and t.type == "user_type":
                return node_text(data, t).split("<", 1)[0].strip() or None
            break
        p = p.parent
    return None


def python_from_imports(data: bytes, node, module: str) -> list[str]:
    """``from M import a, b as c`` → ["M.a", "M.b"] (relative M keeps its dots)."""
    out: list[str] = []
    sep = "" if module.endswith(".") else "."
    for child in node.children_by_field_name("name"):
        target = child.child_by_field_name("name") if child.type == "aliased_import" else child
        if target is None:
            continue
        text = node_text(data, target).strip()
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


def def_node(node, name_node):
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
