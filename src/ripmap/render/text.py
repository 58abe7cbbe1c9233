"""The text map: files in rank order, their top definitions nested by parent, fitted
to a hard token budget.

Fitting: symbols are admitted in global rank order. The top ``K`` files show full
one-line signatures, the others names only; for a few values of ``K`` a binary search
finds the longest prefix of ranked symbols whose rendering fits, and the candidate
with the most rank mass wins (signatures count a bit more than bare names). Then an
"also relevant" tail of paths takes what budget is left. The final text is counted
once more and trimmed if needed, so the printed map never exceeds the budget.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..extract.tags import Tag
from ..index import definitions
from ..rank import RankedSymbol, Ranking
from .tokens import TokenCounter

_CONTAINERS = frozenset({"class", "interface", "struct", "trait", "impl", "enum", "module", "type"})
_CALLABLES = frozenset({"function", "method", "macro"})
_NAME_LABEL = {"function": "def", "method": "def", "macro": "macro", "constant": "const", "variable": "var",
               "field": "field", "property": "prop", "section": "§"}
_SIG_WEIGHT = 1.0
_NAME_WEIGHT = 0.45
_K_CHOICES = (10**9, 30, 12, 5, 0)


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
    path: str
    rank: int
    score: float
    symbols: list[RankedSymbol] = field(default_factory=list)
    detail: str = "sig"  # "sig" | "names"


@dataclass
class RenderedMap:
    text: str
    tokens: int
    blocks: list[FileBlock]
    also: list[str]
    files_total: int
    symbols_total: int
    budget: int

    @property
    def symbols_shown(self) -> int:
        return sum(len(b.symbols) for b in self.blocks)


def _group(t: Tag) -> int:
    if t.kind in _CONTAINERS:
        return 0
    if t.kind in _CALLABLES:
        return 1
    return 2


def _sig_line(t: Tag) -> str:
    sig = t.signature or t.name
    if t.kind in _CONTAINERS and not sig.endswith(":"):
        return sig + ":"
    return sig


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


def _render_block(b: FileBlock, parents: dict[tuple[int, str], Tag], style: Style,
                  calls: Callable[[str, Tag], list[str]] | None) -> list[str]:
    """Lines for one file: the path, then its selected definitions nested by parent."""
    lines = [style.path(b.path + ":")]

    def parent_of(t: Tag) -> Tag | None:
        return parents.get((t.line, t.name))

    # include ancestors of chosen symbols as containers
    nodes: dict[tuple[int, str], Tag] = {}
    for s in b.symbols:
        t = s.tag
        guard = 0
        while t is not None and guard < 16:
            nodes[(t.line, t.name)] = t
            t = parent_of(t)
            guard += 1
    children: dict[tuple[int, str] | None, list[Tag]] = {}
    for key, t in nodes.items():
        p = parent_of(t)
        pk = (p.line, p.name) if p is not None and (p.line, p.name) in nodes else None
        children.setdefault(pk, []).append(t)
    for v in children.values():
        v.sort(key=lambda t: (_group(t), t.line, t.name))

    def color(t: Tag, s: str) -> str:
        if t.kind in _CONTAINERS:
            return style.container(s)
        if t.kind in _CALLABLES:
            return style.callable(s)
        return style.other(s)

    # Both emitters walk the tree with an explicit stack, not recursion: a file of a
    # thousand nested functions must not raise RecursionError and end the whole map.
    def emit_sig(key, depth: int) -> None:
        stack = [(t, depth) for t in reversed(children.get(key, ()))]
        while stack:
            t, d = stack.pop()
            lines.append("  " * d + color(t, _sig_line(t)))
            if calls is not None and t.kind in _CALLABLES:
                for extra in calls(b.path, t):
                    lines.append("  " * (d + 1) + style.dim(extra))
            stack.extend((c, d + 1) for c in reversed(children.get((t.line, t.name), ())))

    def emit_names(key, depth: int) -> None:
        # frames: (the level's remaining definitions, its depth, its leaves); a level's
        # leaves are printed after all of its containers, as a recursive walk would
        frames = [(iter(children.get(key, ())), depth, {})]
        while frames:
            kids, d, leaves = frames[-1]
            for t in kids:
                sub = children.get((t.line, t.name))
                if t.kind in _CONTAINERS or sub:
                    members = [c.name for c in sub or ()]
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


class MapFitter:
    """Chooses what to show for a ranking within a token budget."""

    def __init__(self, ranking: Ranking, tags: dict[str, Sequence[Tag]], counter: TokenCounter, *,
                 chat_files: Sequence[str] = (), title: str = "", calls=None) -> None:
        self.ranking = ranking
        self.tags = tags
        self.counter = counter
        self.chat = set(chat_files)
        self.title = title
        self.calls = calls
        self.file_rank = {f: i + 1 for i, f in enumerate(ranking.files)}
        self.syms: list[RankedSymbol] = []
        self.defs = {f: definitions(tags, f) for f in tags}
        self.symbols_total = sum(len(v) for v in self.defs.values())
        self._line_costs: dict[str, int] = {}
        self._parents: dict[str, dict] = {}
        # a block is determined by its file, detail and how many of the file's ranked
        # symbols it holds (symbols are always admitted in rank order)
        self._block_memo: dict[tuple, list[str]] = {}

    def _header(self, nfiles: int, nsyms: int, used: int | str, budget: int) -> str:
        t = f" {self.title}" if self.title else ""
        head = (f"# ripmap{t}: {nfiles} of {len(self.ranking.files)} files, {nsyms} of {self.symbols_total} "
                f"symbols, {used} of {budget} tokens")
        if self.chat:
            head += "\n# in chat (not repeated): " + ", ".join(sorted(self.chat))
        return head

    def _blocks(self, m: int, k: int) -> list[FileBlock]:
        blocks: dict[str, FileBlock] = {}
        for s in self.syms[:m]:
            b = blocks.get(s.path)
            if b is None:
                r = self.file_rank[s.path]
                b = blocks[s.path] = FileBlock(s.path, r, self.ranking.scores[s.path])
            b.symbols.append(s)
        out = sorted(blocks.values(), key=lambda b: b.rank)
        for i, b in enumerate(out):
            b.detail = "sig" if i < k else "names"
        return out

    def _text(self, blocks: list[FileBlock], also: list[str], budget: int, style: Style, used: int | str) -> str:
        lines = [self._header(len(blocks), sum(len(b.symbols) for b in blocks), used, budget)]
        for b in blocks:
            lines.extend(self._block_lines(b, style))
        if also:
            lines.append(style.dim("# also relevant:"))
            lines.extend(style.path(a) for a in also)
        return "\n".join(lines) + "\n"

    def _block_lines(self, b: FileBlock, style: Style) -> list[str]:
        key = (b.path, b.detail, len(b.symbols), b.symbols[-1].tag if b.symbols else None)
        plain = style is PLAIN
        if plain:
            hit = self._block_memo.get(key)
            if hit is not None:
                return hit
        parents = self._parents.get(b.path)
        if parents is None:
            parents = self._parents[b.path] = parent_map(self.defs.get(b.path, ()))
        lines = _render_block(b, parents, style, self.calls)
        if plain:
            self._block_memo[key] = lines
        return lines

    def _line_cost(self, line: str) -> int:
        c = self._line_costs.get(line)
        if c is None:
            c = self._line_costs[line] = self.counter.count(line + "\n")
        return c

    def _cost(self, blocks, also, budget) -> int:
        """Search-time cost: the sum of memoized per-line counts.

        Counting each distinct line once keeps the binary search cheap even with an
        exact tokenizer; BPE merges across line breaks make the true count differ by a
        token or two, which :meth:`fit` settles with exact counts of the final text.
        The header carries a 6-digit placeholder so it is never underestimated.
        """
        text = self._text(blocks, also, budget, PLAIN, "000000")
        return sum(self._line_cost(line) for line in text.split("\n"))

    def fit(self, budget: int) -> RenderedMap:
        if budget < 1:
            raise ValueError("budget must be at least 1 token")
        # A rendered symbol costs at least a couple of tokens, so at most budget/2 fit.
        # Search a smaller prefix first and widen only when all of it fits.
        limit = budget // 8 + 32
        while True:
            self.syms = self.ranking.top_symbols(limit, exclude=frozenset(self.chat))
            best = self._search(budget)
            if best[1] < len(self.syms) or len(self.syms) < limit or limit > budget // 2:
                break
            limit *= 4
        _u, m, k = best
        blocks = self._blocks(m, k)
        shown = {b.path for b in blocks} | self.chat
        also: list[str] = []
        rest = [f for f in self.ranking.files if f not in shown]
        if rest:
            base = self._cost(blocks, [], budget)
            lo, hi = 0, min(len(rest), 400)
            if base + self.counter.count("# also relevant:\n" + rest[0] + "\n") <= budget:
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    if self._cost(blocks, rest[:mid], budget) <= budget:
                        lo = mid
                    else:
                        hi = mid - 1
                also = rest[:lo]
        text = self._final(blocks, also, budget)
        while self.counter.count(text) > budget and (also or blocks):  # safety net; rarely taken
            if also:
                also = also[:-1]
            else:
                last = blocks[-1]
                last.symbols.pop()
                if not last.symbols:
                    blocks.pop()
            text = self._final(blocks, also, budget)
        if self.counter.count(text) > budget:  # not even the header fits
            text = self._tiny(budget)
        return RenderedMap(text=text, tokens=self.counter.count(text), blocks=blocks, also=also,
                           files_total=len(self.ranking.files), symbols_total=self.symbols_total, budget=budget)

    def _search(self, budget: int) -> tuple[float, int, int]:
        """(utility, symbols, files with signatures) of the best fitting candidate."""
        n = len(self.syms)
        best: tuple[float, int, int] | None = None
        for k in _K_CHOICES:
            lo, hi = 0, n
            while lo < hi:  # largest m whose rendering fits
                mid = (lo + hi + 1) // 2
                if self._cost(self._blocks(mid, k), [], budget) <= budget:
                    lo = mid
                else:
                    hi = mid - 1
            blocks = self._blocks(lo, k)
            util = sum(s.score * (_SIG_WEIGHT if b.detail == "sig" else _NAME_WEIGHT) for b in blocks for s in b.symbols)
            if best is None or util > best[0] + 1e-15:
                best = (util, lo, k)
            if k >= len(blocks) and lo == n:  # everything fits with full detail
                break
        return best if best is not None else (0.0, 0, 0)

    def _final(self, blocks, also, budget) -> str:
        used = self.counter.count(self._text(blocks, also, budget, PLAIN, "000000"))
        for _ in range(3):  # the count appears in the header; settle it
            text = self._text(blocks, also, budget, PLAIN, used)
            new = self.counter.count(text)
            if new == used:
                break
            used = new
        return text

    def _tiny(self, budget: int) -> str:
        for text in ("# ripmap: budget too small for a map\n", "# ripmap\n", ""):
            if self.counter.count(text) <= budget:
                return text
        return ""

    def colorize(self, rm: RenderedMap, style: Style) -> str:
        """The same map with colors (never counted: colors cost no tokens)."""
        return self._text(rm.blocks, rm.also, rm.budget, style, rm.tokens)
