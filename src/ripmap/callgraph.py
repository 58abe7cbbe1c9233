"""Function-level call graph behind ``--calls``: who calls what, with a confidence.

A call site ``name(...)`` inside function ``caller`` of file ``F`` is resolved by the
first strategy that applies:

================  ====  ========================================================
strategy          conf  rule
================  ====  ========================================================
same_file         0.95  ``F`` itself defines ``name``
receiver          0.85  the caller is a method of ``C`` and ``C`` has a method ``name``
                        (``self.name()`` / ``s.name()`` on the receiver type)
import            0.90  a file that ``F`` imports defines ``name``
unique_name       0.70  exactly one definition of ``name`` in the repository
ambiguous         0.50  ``k`` definitions: each gets 0.5/k — shared, never a guess
================  ====  ========================================================

When several definitions satisfy a strategy, its confidence is split among them.
Candidates are only definitions in the caller's language family (as in the file
graph): a Python call never resolves to a Dart or Rust function of the same name, and
"unique" means unique within the family.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple, Sequence

from .extract.tags import Tag
from .graph import GraphData
from .languages.families import family_for_path

_CALLABLE = frozenset({"function", "method", "macro"})
STRATEGIES = {"same_file": 0.95, "import": 0.90, "receiver": 0.85, "unique_name": 0.70, "ambiguous": 0.50}

Func = tuple[str, str, int]  # (file, name, line)


@dataclass
class CallGraph:
    calls: dict[Func, dict[Func, tuple[float, str]]] = field(default_factory=dict)
    callers: dict[Func, dict[Func, tuple[float, str]]] = field(default_factory=dict)

    @classmethod
    def build(cls, g: GraphData, tags: Mapping[str, Sequence[Tag]]) -> "CallGraph":
        family = {f: family_for_path(f) for f in tags}
        defs_by_name: dict[tuple[str, str], list[tuple[str, Tag]]] = defaultdict(list)  # (family, name)
        for f, ts in tags.items():
            fam = family[f]
            for t in ts:
                if t.is_def and t.kind in _CALLABLE:
                    defs_by_name[fam, t.name].append((f, t))
        imported: dict[str, set[str]] = {}
        I = g.I.tocsr()
        for i, f in enumerate(g.files):
            cols = I.indices[I.indptr[i]:I.indptr[i + 1]]
            if len(cols):
                imported[f] = {g.files[j] for j in cols}
        cg = cls()
        for f, ts in tags.items():
            fam = family[f]
            fdefs = [t for t in ts if t.is_def]
            for r in ts:
                if r.is_def or r.kind != "call" or r.parent is None:
                    continue
                caller = _enclosing(fdefs, r)
                if caller is None or caller.kind not in _CALLABLE:
                    continue
                cands = defs_by_name.get((fam, r.name))
                if not cands:
                    continue
                targets, strategy = _resolve(f, caller, cands, imported.get(f, set()))
                share = STRATEGIES[strategy] / len(targets)
                src: Func = (f, caller.name, caller.line)
                for tf, tt in targets:
                    dst: Func = (tf, tt.name, tt.line)
                    if dst == src:
                        continue
                    prev = cg.calls.setdefault(src, {}).get(dst)
                    if prev is None or prev[0] < share:
                        cg.calls[src][dst] = (share, strategy)
                        cg.callers.setdefault(dst, {})[src] = (share, strategy)
        return cg

    def edges_for(self, path: str, t: Tag) -> list["CallEdge"]:
        """Every resolved edge at one function: what it calls, then who calls it.

        The renderer ranks these by importance and admits them one by one within the
        budget, so this returns them all, in no particular order within a direction."""
        key: Func = (path, t.name, t.line)
        out: list[CallEdge] = []
        for direction, table in (("calls", self.calls), ("called_by", self.callers)):
            edges = table.get(key)
            if edges:
                out.extend(CallEdge(direction, f, name, line, conf, strategy)
                           for (f, name, line), (conf, strategy) in edges.items())
        return out

    def lines_for(self, path: str, t: Tag, limit: int = 5) -> list[str]:
        """``→ calls: a, b (45%)`` and ``← called by: x`` lines for one function,
        its ``limit`` strongest edges per direction."""
        edges = self.edges_for(path, t)
        out = []
        for direction in ("calls", "called_by"):
            mine = sorted((e for e in edges if e.direction == direction),
                          key=lambda e: (-e.confidence, e.file, e.name, e.line))
            if mine:
                out.append(call_line(direction, mine[:limit], path, len(mine)))
        return out


class CallEdge(NamedTuple):
    """One resolved call seen from a function: ``direction`` is ``calls`` (the other end
    is the callee) or ``called_by`` (the other end is the caller). A NamedTuple, not a
    dataclass: ``--calls`` builds one per edge of every function it considers."""

    direction: str
    file: str
    name: str
    line: int
    confidence: float
    strategy: str


_LABEL = {"calls": "→ calls", "called_by": "← called by"}


def call_line(direction: str, shown: Sequence[CallEdge], path: str, total: int) -> str:
    """One line of edges in one direction, as printed under the function in ``path``.

    The other end's file is named when it is not ``path``; a confidence below the
    same-file level is printed as a percentage, so a reader can tell a sure call from
    a guess shared among namesakes; ``+k`` counts the edges left out."""
    names = []
    for e in shown:
        label_name = e.name if e.file == path else f"{e.name} ({e.file.rsplit('/', 1)[-1]})"
        names.append(label_name if e.confidence >= 0.95 else f"{label_name} {e.confidence:.0%}")
    names = list(dict.fromkeys(names))  # namesakes in one file (overloads) read the same: once
    more = total - len(shown)
    return f"{_LABEL[direction]}: {', '.join(names)}" + (f" +{more}" if more > 0 else "")


def _enclosing(fdefs: Sequence[Tag], r: Tag) -> Tag | None:
    best = None
    for d in fdefs:
        if d.name == r.parent and d.line <= r.line <= d.end_line:
            if best is None or d.line > best.line:
                best = d
    return best


def _resolve(f: str, caller: Tag, cands: list[tuple[str, Tag]], imports: set[str]):
    same = [c for c in cands if c[0] == f]
    if same:
        return same, "same_file"
    if caller.kind == "method" and caller.parent:
        recv = [c for c in cands if c[1].parent == caller.parent]
        if recv:
            return recv, "receiver"
    imp = [c for c in cands if c[0] in imports]
    if imp:
        return imp, "import"
    if len(cands) == 1:
        return cands, "unique_name"
    return cands, "ambiguous"
