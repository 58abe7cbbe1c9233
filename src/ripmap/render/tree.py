"""The text tree: one file's block of the map, its definitions nested by parent.

What a block shows is decided by the fitter (:mod:`ripmap.render.text`); this module
only prints it: the path, then the chosen definitions with their enclosing definitions
as containers, either as one-line signatures (with ``--calls`` lines under functions)
or, for blocks shown in less detail, as names grouped by kind.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..callgraph import CallEdge, call_line
from ..extract.tags import Tag
from ..rank import RankedSymbol

CONTAINERS = frozenset({"class", "interface", "struct", "trait", "impl", "enum", "module", "type"})
CALLABLES = frozenset({"function", "method", "macro"})
_NAME_LABEL = {"function": "def", "method": "def", "macro": "macro", "constant": "const", "variable": "var",
               "field": "field", "property": "prop", "section": "§"}


@dataclass(frozen=True)
class Style:
    """Terminal colors; the identity style is used for counting and for pipes."""

    path: Callable[[str], str] = lambda s: s
    container: Callable[[str], str] = lambda s: s
    callable: Callable[[str], str] = lambda s: s
    other: Callable[[str], str] = lambda s: s
    dim: Callable[[str], str] = lambda s: s


def ansi_style() -> Style:
    def wrap(code: str) -> Callable[[str], str]:
        return lambda s: f"\x1b[{code}m{s}\x1b[0m"
    return Style(path=wrap("1;34"), container=wrap("35"), callable=wrap("32"), other=wrap("36"), dim=wrap("2"))


PLAIN = Style()


@dataclass
class FileBlock:
    """One file of the map as chosen by the fitter: which symbols, in how much detail."""

    path: str
    rank: int
    score: float
    symbols: list[RankedSymbol] = field(default_factory=list)
    detail: str = "sig"  # "sig" | "names"
    #: call edges shown under a function (line, name), per direction, in order of importance
    calls: dict[tuple[int, str], dict[str, list[CallEdge]]] = field(default_factory=dict)


def _group(t: Tag) -> int:
    if t.kind in CONTAINERS:
        return 0
    if t.kind in CALLABLES:
        return 1
    return 2


def sig_line(t: Tag, holds: bool = False) -> str:
    """The definition's line in a map. A container ends with ``:`` (its members may
    follow), unless it is a one-line declaration with no body to hold any: Rust's
    ``mod cmd;`` and ``struct Marker;``, a type alias (``type ID int``, ``type A = B``, also
    over several lines: a TypeScript union or object type, whose members are never shown).
    A one-line class keeps it: in Python (``class Proxy(Base): ...``) it is the syntax;
    and so does one the map shows members under (``holds``: Go's ``type Kind int`` with
    its methods, C#'s ``enum Color { Red, Green }``)."""
    sig = t.signature or t.name
    if t.kind in CONTAINERS and not sig.endswith(":") and (holds or not (t.kind == "type" or _bodiless(t))):
        return sig + ":"
    return sig


def _bodiless(t: Tag) -> bool:
    return (t.kind != "class" and t.end_line is not None and t.end_line <= t.line
            and not (t.signature or "").rstrip().endswith("{"))


_OWNER_KINDS = frozenset({"class", "interface", "struct", "trait", "impl", "enum", "type"})


def parent_map(all_defs: Sequence[Tag]) -> dict[tuple[int, str], Tag]:
    """Each definition's enclosing definition in the same file: the innermost one named by
    its ``parent`` whose line span holds it; failing that, the file's first type of that
    name, so methods defined outside their type's body (Go receivers, C++ ``Foo::bar``)
    still nest under it.

    Candidates of a name are kept sorted by line and searched from the nearest one
    upwards (a bounded walk), so a file of thousands of same-named definitions costs no
    more than an ordinary one.
    """
    by_name: dict[str, list[Tag]] = {}
    for t in all_defs:
        by_name.setdefault(t.name, []).append(t)
    lines: dict[str, list[int]] = {}
    for name, v in by_name.items():
        v.sort(key=lambda p: p.line)  # stable: same-line candidates keep file order
        lines[name] = [p.line for p in v]
    out: dict[tuple[int, str], Tag] = {}
    for t in all_defs:
        if not t.parent:
            continue
        cands = by_name.get(t.parent)
        if not cands:
            continue
        best = None
        i = bisect.bisect_right(lines[t.parent], t.line) - 1
        for _ in range(256):
            if i < 0:
                break
            p = cands[i]
            if best is not None and p.line < best.line:
                break
            if p.end_line >= t.line and (p.line, p.name) != (t.line, t.name):
                best = p  # the innermost; among equal lines the first in file order
            i -= 1
        if best is None:
            best = next((p for p in cands if p.kind in _OWNER_KINDS and p is not t
                         and not t.line <= p.line <= t.end_line), None)
        if best is not None:
            out[(t.line, t.name)] = best
    return out


#: Containers that a file may open more than once as one and the same scope: a C++
#: namespace (re2.h forward-declares two classes in ``namespace re2 {}`` and then opens it
#: again), a Ruby module reopened.
_REOPENED_KINDS = frozenset({"module"})


def restates(t: Tag, parent: Tag | None) -> bool:
    """Whether ``t``'s line in a map would say nothing that its parent's line does not: a
    definition on its parent's own line whose text that line already holds. JavaScript
    names a function twice in ``request.onload = function handleLoad()`` and
    ``adapter: function barAdapter(config)`` (the property and the function assigned to
    it, two definitions of one line); printed, the second line repeated the first's end."""
    return parent is not None and parent.line == t.line and (t.signature or t.name) in (parent.signature or parent.name)


def repeat_key(t: Tag) -> tuple[str, str] | None:
    """What makes two sibling definitions one line of a map (None: never merged): a scope
    opened again (:data:`_REOPENED_KINDS`), or a function or value printed with the same
    text as a sibling (a test file's ``adapter = () =>`` in three cases, a helper defined
    alike in two branches). Two types of one name stay apart: their members differ."""
    if t.kind in _REOPENED_KINDS:
        return t.kind, sig_line(t)
    if t.kind in CONTAINERS:
        return None
    return "", sig_line(t)


def _merge_repeated(children: dict[tuple[int, str] | None, list[Tag]], apart: Callable[[Tag], bool]) -> None:
    """Print siblings of one :func:`repeat_key` as one line: the first keeps its place and
    takes the others' children (so ``namespace re2:`` is printed once, holding all of
    them). ``apart``: definitions never merged (the ones a block shows calls under)."""
    merged = True
    while merged:  # children moved into a kept scope may repeat one of its own (``a::b`` twice)
        merged = False
        for kids in list(children.values()):
            first: dict[tuple[str, str], Tag] = {}
            kept = []
            for t in kids:
                rk = None if apart(t) else repeat_key(t)
                keep = first.setdefault(rk, t) if rk is not None else t
                if keep is t:
                    kept.append(t)
                    continue
                merged = True
                moved = children.pop((t.line, t.name), [])
                if moved:
                    children.setdefault((keep.line, keep.name), []).extend(moved)
            kids[:] = kept


def render_block(b: FileBlock, parents: dict[tuple[int, str], Tag], style: Style,
                  total_calls: dict[tuple[int, str], dict[str, int]]) -> list[str]:
    """Lines for one file: the path, then its selected definitions nested by parent.

    A block without symbols (a file with no definitions) is its bare path."""
    if not b.symbols:
        return [style.path(b.path)]
    lines = [style.path(b.path + ":")]

    def parent_of(t: Tag) -> Tag | None:
        return parents.get((t.line, t.name))

    # include ancestors of chosen symbols as containers; of two definitions with the
    # same line and name (``app.set = function set``), the first chosen is shown
    nodes: dict[tuple[int, str], Tag] = {}
    for s in b.symbols:
        t = s.tag
        guard = 0
        while t is not None and guard < 16 and (t.line, t.name) not in nodes:
            nodes[(t.line, t.name)] = t
            t = parent_of(t)
            guard += 1
    # a definition restating its parent's line is not printed; its members go to the parent
    def apart(t: Tag) -> bool:
        return bool(b.calls.get((t.line, t.name)))

    def restated(t: Tag) -> bool:
        p = parent_of(t)
        return p is not None and (p.line, p.name) in nodes and not apart(t) and restates(t, p)

    hidden = {key for key, t in nodes.items() if restated(t)}

    def placed(key):  # the printed node that stands for ``key``
        while key in hidden:
            p = parent_of(nodes[key])
            key = (p.line, p.name)  # a restated definition's parent is in ``nodes``
        return key

    children: dict[tuple[int, str] | None, list[Tag]] = {}
    for key, t in nodes.items():
        if key in hidden:
            continue
        p = parent_of(t)
        pk = placed((p.line, p.name)) if p is not None and (p.line, p.name) in nodes else None
        children.setdefault(pk, []).append(t)
    _merge_repeated(children, apart)
    for v in children.values():
        v.sort(key=lambda t: (_group(t), t.line, t.name))

    def color(t: Tag, s: str) -> str:
        if t.kind in CONTAINERS:
            return style.container(s)
        if t.kind in CALLABLES:
            return style.callable(s)
        return style.other(s)

    # Both emitters walk the tree with an explicit stack, not recursion: a file of a
    # thousand nested functions must not raise RecursionError and end the whole map.
    def emit_sig(key, depth: int) -> None:
        stack = [(t, depth) for t in reversed(children.get(key, ()))]
        while stack:
            t, d = stack.pop()
            kids = children.get((t.line, t.name), ())
            lines.append("  " * d + color(t, sig_line(t, holds=bool(kids))))
            shown = b.calls.get((t.line, t.name))
            if shown:
                totals = total_calls.get((t.line, t.name), {})
                for direction in ("calls", "called_by"):
                    edges = shown.get(direction)
                    if edges:
                        text = call_line(direction, edges, b.path, totals.get(direction, len(edges)))
                        lines.append("  " * (d + 1) + style.dim(text))
            stack.extend((c, d + 1) for c in reversed(kids))

    def emit_names(key, depth: int) -> None:
        # frames: (the level's remaining definitions, its depth, its leaves); a level's
        # leaves are printed after all of its containers, as a recursive walk would
        frames = [(iter(children.get(key, ())), depth, {})]
        while frames:
            kids, d, leaves = frames[-1]
            for t in kids:
                sub = children.get((t.line, t.name))
                if t.kind in CONTAINERS or sub:
                    members = list(dict.fromkeys(c.name for c in sub or ()))  # a getter and its setter: one name
                    deeper = bool(sub) and any(children.get((c.line, c.name)) for c in sub)
                    head = f"{t.kind} {t.name}" if t.kind != "section" else f"§ {t.name}"
                    lines.append("  " * d + color(t, head) + (": " + ", ".join(members)
                                                              if members and not deeper else ""))
                    if deeper:
                        frames.append((iter(sub), d + 1, {}))
                        break
                else:
                    leaves.setdefault(_NAME_LABEL.get(t.kind, t.kind), []).append(t.name)
            else:
                frames.pop()
                for label, names in leaves.items():
                    lines.append("  " * d + style.dim(label + ":") + " " + ", ".join(dict.fromkeys(names)))

    if b.detail == "sig":
        emit_sig(None, 1)
    else:
        emit_names(None, 1)
    return lines
