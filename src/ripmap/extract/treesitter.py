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

This module runs the query and assembles the tags; its helpers sit beside it:
:mod:`.captures` (what a query's captures mean), :mod:`.nodes` (names, owners and
definition nodes), :mod:`.signature` (one-line declarations) and :mod:`.parsing`
(the CPU deadline, the depth check and re-parsing after errors).
"""
from __future__ import annotations

from functools import lru_cache
from time import process_time

from .. import languages
from .captures import fast_ref_patterns, generic_ids, has_side_captures, pattern_info
from .nodes import (GENERIC_NAME_TYPES, MAX_NAME, container_name, def_node, good_name, impl_type_name, name_text,
                    name_text_span, node_text, python_from_imports, ref_name_node)
from .macros import blank_macros
from .parsing import deeper_than, parse_within, resume_offset, shift_lines
from .signature import WS, signature
from .tags import Tag

#: Kinds whose functions are methods. Modules are parents too, but a function in a
#: module (Elixir, Julia, OCaml, TS namespaces, Rust ``mod``) stays a function.
_METHOD_OWNER_KINDS = frozenset({"class", "interface", "struct", "trait", "impl", "enum"})
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


@lru_cache(maxsize=None)
def _parser(name: str):
    from tree_sitter import Parser

    loaded = languages.load(name)
    return Parser(loaded.language)


@lru_cache(maxsize=None)
def _cursor_query(name: str):
    return languages.load(name).query


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
    if language in ("c", "cpp"):
        data = blank_macros(data, language)
    parser = _parser(language)
    budget = _PARSE_BASE_S + len(data) * _PARSE_S_PER_BYTE
    deadline = process_time() + budget
    tree = parse_within(parser, data, deadline)
    if tree is None:
        return [], [], [f"parsing took over {budget:.0f} s of CPU (pathological input?); skipped"]
    root = tree.root_node
    if deeper_than(root, _MAX_DEPTH):
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
        resume = resume_offset(chunk, root) if root.has_error and attempt < _MAX_REPARSES else None
        if resume is None:
            out_defs.extend(shift_lines(defs, line_off, None))
            out_refs.extend(shift_lines(refs, line_off, None))
            break
        cut = chunk.count(b"\n", 0, resume)  # lines (0-based) before the resume line
        nxt = parse_within(parser, chunk[resume:], deadline)
        if nxt is None:  # out of time: keep what the broken tree gave for the rest
            out_defs.extend(shift_lines(defs, line_off, None))
            out_refs.extend(shift_lines(refs, line_off, None))
            notes.append(f"re-parsing after line {line_off + cut} ran out of time; tags after it recovered partially")
            break
        out_defs.extend(shift_lines(defs, line_off, cut))
        out_refs.extend(shift_lines(refs, line_off, cut))
        line_off += cut
        chunk = chunk[resume:]
        root = nxt.root_node
    out_defs.sort(key=Tag.sort_key)
    return out_defs, out_refs, notes


def _rstrip_pos(data: bytes, start: int, end: int) -> int:
    """The end of ``data[start:end]`` without its trailing whitespace (in C, by windows)."""
    while end > start:
        lo = max(start, end - 4096)
        kept = len(data[lo:end].rstrip(WS))
        if kept:
            return lo + kept
        end = lo
    return start


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
    side = has_side_captures(query)
    fast = fast_ref_patterns(query)
    generic = generic_ids(loaded.language)
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
                    local_binds.append((n.start_byte, node_text(data, n)))
        info = pinfo.get(pattern)
        if info is None:
            info = pinfo[pattern] = pattern_info(caps)
        rcap = info[0]
        if rcap is None:
            continue
        nodes = caps.get(rcap)
        if nodes is None:  # the role capture was optional in this pattern
            info = pattern_info(caps)
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
            name = impl_type_name(data, name_node)
        elif e < ndata and data[e] >= 0x80:
            name = name_text(data, name_node)
        else:
            name = data[s:e].decode("utf-8", "replace").strip()
        if not is_def and ("<" in name or "." in name) and name_node.type in GENERIC_NAME_TYPES:
            name_node = ref_name_node(name_node)
            name = name_text(data, name_node)
        if kind == "import" and node.type == "import_from_statement":
            # Python `from M import a, b`: also record "M.a", "M.b", which resolve to
            # submodules when they are modules (`from . import views`, `from pkg import
            # sub`); `from . import x` has no usable module name of its own.
            for full in python_from_imports(data, node, name):
                named_refs.append((node.start_byte + len(full), full, "import", node.start_byte))
        if not good_name(name):
            continue
        if is_def:
            dnode = def_node(node, name_node)
            if dnode is None:  # `enum Status run(void)`: a use of the type
                named_refs.append((name_node.start_byte, name, "type", name_node.start_byte))
                continue
            node = dnode
            nt = node.type
            kind = _NODE_KINDS.get(nt, kind)
            if nt == "type_spec":
                t = node.child_by_field_name("type")
                kind = _GO_TYPE_KINDS.get(t.type, "type") if t is not None else "type"
            elif nt == "class_declaration" and kind != "impl":  # a Swift extension stays a container
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
            if end > start and data[end - 1] in WS:
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
            owner = container_name(data, node, name_node)
            if owner:
                parent = owner
                kind = "method"
            elif kind == "method" and node.type == "function_item":
                kind = "function"  # Rust: fn in `mod tests {}` (the query's declaration_list)
        sig = signature(data, node, kind, name)
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
        names = [name_text_span(data, s, e) for s, e in keys]
    good, most = good_name, MAX_NAME
    # good_name, with its common case (an identifier) inline
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
