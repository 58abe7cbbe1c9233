"""The text map: files in rank order, their top definitions nested by parent, fitted
to a hard token budget. (How one file's block is printed is :mod:`ripmap.render.tree`;
this module chooses what the blocks hold.)

Rank-faithful fitting
---------------------
The blocks of a map are a prefix of one ordered list of *items*, each adding one thing:

- ``top``    file *i* becomes a block: its path and its best symbol;
- ``symbol`` one more of file *i*'s symbols, in the file's own order (symbol score,
  overloads of a name after the other names);
- ``call``   one call edge under a shown function (``--calls``).

Every item has a value. A file's ``top`` is worth the file's score ``F``; its ``j``-th
further symbol ``F / (j + 1)^_DEPTH_EXP``, so detail grows with the file's score and a
lower file never shows more symbols than a higher one that has more to show; a call
edge is worth its confidence times the value of its weaker end, so it comes after its
function. Items are ordered by *key*, the larger of the item's value and the keys of
every item that must come after it (``top`` i before ``top`` i+1 and before any
further symbol of files ranked i or lower), ties going to the higher file. So every
prefix shows a prefix of the ranking, and no lower file gets detail while a higher one
is missing. After the blocks, the "also relevant" tail names the next files by path
(it may use ``_TAIL_SHARE`` of the budget; the blocks get the rest).

The top ``K`` blocks show one-line signatures (with their calls), the others names
only; for a few ``K`` a binary search finds the longest prefix that fits (costs are
sums of memoized per-line counts), and the candidate with the most value wins
(signatures count more than names). The final text is counted exactly once more and
trimmed from the end if needed, so the printed map never exceeds the budget under the
counter in use; an estimating counter also gets its measured margin.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from ..callgraph import CallEdge, call_line
from ..extract.tags import Tag
from ..graph import row_runs
from ..index import definitions
from ..rank import RankedSymbol, Ranking
from .tokens import TokenCounter
from .tree import CALLABLES, PLAIN, FileBlock, Style, parent_map, render_block, repeat_key, restates, sig_line

#: value of an item rendered as a signature, as a bare name
_SIG_WEIGHT = 1.0
_NAME_WEIGHT = 0.45
#: the j-th further symbol of a file is worth its file's score / (j + 1)^_DEPTH_EXP:
#: smaller favours depth (more of the top files), larger breadth (more files);
#: 0.5 gave mypy's top file 287 of 531 symbols at 8192 tokens, 1.0 gson's top file
#: (with a chat file) 2 symbols at 1024
_DEPTH_EXP = 0.7
#: share of the budget the "also relevant" tail of paths may take from the blocks
_TAIL_SHARE = 0.05
#: at most this many paths in the tail
_TAIL_MAX = 400
#: call edges shown per function and direction, at most
_CALLS_PER_LINE = 5
#: a call edge is worth this share of its confidence × its weaker end's value; with
#: confidences below 1 a function's calls always come after its signature (0.5 left
#: flask 2 call lines at 2048 tokens and 6 at 4096; 1.0 gives 14 and 62)
_CALL_SHARE = 1.0
#: how many leading blocks show signatures: the fitter tries each and keeps the best
_K_CHOICES = (10**9, 30, 12, 5, 2, 1)

_TOP, _SYM, _CALL = 1, 2, 3
#: files whose items the first plan holds (widened by 4× as the fitter reaches further)
_FIRST_PLANNED = 512


class CallSource(Protocol):
    """What ``--calls`` needs from a call graph: every edge at one function."""

    def edges_for(self, path: str, t: Tag) -> Sequence[CallEdge]: ...


@dataclass(frozen=True)
class Item:
    """One step of the map (see the module docstring). ``pos`` is the file's position
    among the ranked files that are not in the chat; ``value`` its own value."""

    kind: int
    pos: int
    path: str
    key: float
    value: float
    symbol: RankedSymbol | None = None
    edge: CallEdge | None = None
    #: for a call: the function it hangs under, (line, name)
    under: tuple[int, str] | None = None


@dataclass
class RenderedMap:
    text: str
    tokens: int
    blocks: list[FileBlock]
    also: list[str]
    files_total: int
    symbols_total: int
    budget: int
    call_lines: int = 0

    @property
    def symbols_shown(self) -> int:
        return sum(len(b.symbols) for b in self.blocks)


def _overload_index(file_pos: np.ndarray, name_idx: np.ndarray) -> np.ndarray:
    """For rows in score order: how many rows of the same file and name came before.

    Overloads share their name's references and so their score; the second
    ``fromJson`` tells a reader much less than the first, so the fitter divides a
    symbol's value by one plus this index."""
    n = len(file_pos)
    width = int(name_idx.max()) + 1 if n else 1
    key = np.where(name_idx >= 0, file_pos * width + name_idx, -1 - np.arange(n))  # unknown names: unique
    g = np.argsort(key, kind="stable")
    k = key[g]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    occ = np.empty(n, dtype=np.int64)
    occ[g] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    return occ


def _by_file(rows: np.ndarray, file_key: np.ndarray, scores: np.ndarray,
             name_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symbol-table ``rows`` (in score order, ``file_key`` the file of each) grouped by
    file, each file's best first with repeated overloads pushed back (ties keep score
    order): ``(rows, file_key, place within its file)``."""
    order_value = scores[rows] / (1.0 + _overload_index(file_key, name_idx[rows]))
    g = np.lexsort((-order_value, file_key))
    rows, fr = rows[g], file_key[g]
    starts = np.flatnonzero(np.r_[True, fr[1:] != fr[:-1]]) if fr.size else fr
    within = np.arange(len(fr)) - np.repeat(starts, np.diff(np.r_[starts, len(fr)]))
    return rows, fr, within


def _suffix_max(a: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(a[::-1])[::-1] if a.size else a


class _SigCost:
    """The cost of file ``p``'s signature block after each of its items, grown on demand.

    A block's cost is the sum of its lines' costs, whatever their order, so adding a
    symbol adds its line and the lines of ancestors not yet shown, and adding a call
    edge replaces its function's call line by a longer one. This prices a big file's
    block for every prefix in one pass instead of rendering it once per prefix."""

    def __init__(self, fitter: "MapFitter", p: int) -> None:
        self.f = fitter
        self.path = fitter.files[p]
        self.items = fitter._per_file.get(p, [])
        self.parents = fitter._parents_of(self.path)
        self.depth: dict[tuple[int, str], int] = {}
        #: per placed definition, the printed node standing for it (itself, the parent it
        #: restates, or the sibling it repeats: see :func:`render_block`), and per (that
        #: node's parent, repeat key) the first sibling printed
        self.stands: dict[tuple[int, str], tuple[int, str] | None] = {}
        self.first: dict[tuple, tuple[int, str]] = {}
        self.unpriced: dict[tuple[int, str], str] = {}  # placed at no cost: the line, if calls come
        self.call_lines: dict[tuple, str] = {}
        self.edges: dict[tuple, list[CallEdge]] = {}
        self.total = 0.0
        self.cum = [0.0]

    def at(self, n: int) -> float:
        cost = self.f._line_cost
        while len(self.cum) <= n and len(self.cum) <= len(self.items):
            it = self.items[len(self.cum) - 1]
            if it.kind == _CALL:
                line = self.unpriced.pop(it.under, None)
                if line is not None:  # a block shows calls under a definition as its own line
                    self.total += cost(line)
                key = (it.under, it.edge.direction)
                shown = self.edges.setdefault(key, [])
                shown.append(it.edge)
                totals = self.f._total_calls.get(self.path, {}).get(it.under, {})
                line = "  " * (self.depth.get(it.under, 1) + 1) + call_line(
                    it.edge.direction, shown, self.path, totals.get(it.edge.direction, len(shown)))
                old = self.call_lines.get(key)
                self.total += cost(line) - (cost(old) if old is not None else 0)
                self.call_lines[key] = line
            elif it.symbol is None:  # a file without definitions: its bare path
                self.total += cost(self.path)
            else:
                if not self.depth:
                    self.total += cost(self.path + ":")
                chain = []
                t: Tag | None = it.symbol.tag
                while t is not None and len(chain) < 16 and (t.line, t.name) not in self.depth:
                    chain.append(t)
                    t = self.parents.get((t.line, t.name))
                for t in reversed(chain):  # outermost first
                    p = self.parents.get((t.line, t.name))
                    pk = (p.line, p.name) if p is not None and (p.line, p.name) in self.depth else None
                    key = (t.line, t.name)
                    d = self.depth[pk] + 1 if pk is not None else 1
                    line = "  " * d + sig_line(t)
                    if pk is not None and restates(t, p):  # printed by its parent's line
                        self.depth[key], self.stands[key] = d - 1, self.stands[pk]
                        self.unpriced[key] = line
                        continue
                    rk = repeat_key(t)
                    at = self.stands[pk] if pk is not None else None
                    same = self.first.setdefault((at, rk), key) if rk is not None else key
                    self.depth[key], self.stands[key] = d, same
                    if same != key:  # printed as the sibling it repeats
                        self.unpriced[key] = line
                        continue
                    self.total += cost(line)
            self.cum.append(self.total)
        return self.cum[min(n, len(self.cum) - 1)]


class RenderMemo:
    """What drawing one map works out that the next map of the same files can reuse, for
    a long-lived caller (the MCP server, ``ripmap serve``): each file's parent map, kept
    while the file's definitions are the same list (an index lends an unchanged file's
    list to the next one), and each line's token count under one counter. Bounded: a
    table that grows past its size starts again."""

    MAX_FILES = 4096
    MAX_LINES = 200_000

    def __init__(self) -> None:
        self._parents: dict[str, tuple[Sequence[Tag], dict]] = {}
        self._counter: object | None = None
        self._line_costs: dict[str, float] = {}

    def parents(self, path: str, defs: Sequence[Tag]) -> dict | None:
        got = self._parents.get(path)
        return got[1] if got is not None and got[0] is defs else None

    def keep_parents(self, path: str, defs: Sequence[Tag], parents: dict) -> None:
        if len(self._parents) >= self.MAX_FILES:
            self._parents = {}
        self._parents[path] = (defs, parents)

    def line_costs(self, counter: object) -> dict[str, float]:
        """The line → token count table of ``counter`` (a new counter, a new table)."""
        if self._counter is not counter or len(self._line_costs) > self.MAX_LINES:
            self._counter, self._line_costs = counter, {}
        return self._line_costs


class MapFitter:
    """Chooses what to show for a ranking within a token budget."""

    def __init__(self, ranking: Ranking, tags: dict[str, Sequence[Tag]], counter: TokenCounter, *,
                 chat_files: Sequence[str] = (), title: str = "", calls: CallSource | None = None,
                 memo: RenderMemo | None = None) -> None:
        self.ranking = ranking
        self.tags = tags
        self.counter = counter
        self.chat = set(chat_files)
        self.title = title
        self.calls = calls
        self.file_rank = {f: i + 1 for i, f in enumerate(ranking.files)}
        self.files = [f for f in ranking.files if f not in self.chat]  # what the map may show, in rank order
        arrays = ranking.symbol_scores()
        self._arrays = arrays
        self.symbols_total = len(arrays[0].tags) if arrays is not None else 0
        self._setup_plan(arrays)
        # a plan of the first files first (a map shows a few hundred of tens of thousands),
        # widened when the fitter reaches past what it holds exactly; with calls, all of it
        self._replan(len(self.files) if calls is not None else _FIRST_PLANNED)
        self.items: list[Item] = []
        self._memo = memo
        self._line_costs: dict[str, float] = memo.line_costs(counter) if memo is not None else {}
        # an additive counter's unrounded measure: line sums are then the whole text's count
        self._measure = getattr(counter, "measure", None) or counter.count
        self._parents: dict[str, dict] = {}
        self._total_calls: dict[str, dict[tuple[int, str], dict[str, int]]] = {}
        self._value_of: dict[tuple[str, str, int], float] | None = None
        # rendered lines per block, the cost of a names-only block per (file, symbols),
        # and the growing cost of each file's signature block
        self._block_memo: dict[tuple, list[str]] = {}
        self._block_costs: dict[tuple, float] = {}
        self._sig_costs: dict[int, _SigCost] = {}

    # -- the plan: every non-call item's key, in order -----------------------------------
    def _setup_plan(self, arrays) -> None:
        """What every plan reads: the shown files' graph indices and scores, each file's
        rows in the symbol table, and the number of items of the whole plan."""
        r = self.ranking
        ranked = np.asarray(r.order, dtype=np.int64)  # graph index per rank
        shown = np.ones(ranked.size, dtype=bool)
        for f in self.chat:
            i = r.file_index.get(f)
            if i is not None:
                shown[np.flatnonzero(ranked == i)] = False
        self._shown_g = ranked[shown]
        self._F = np.asarray(r.score_values, dtype=np.float64)[self._shown_g]
        nf = self._shown_g.size
        # each graph file's rows of the symbol table: ``_row_ptr[f]`` up to ``_row_ptr[f + 1]``
        self._row_ptr = arrays[0].row_ptr if arrays is not None else np.zeros(len(r.paths) + 1, dtype=np.int64)
        per_file = np.diff(self._row_ptr)[self._shown_g]
        self._has_symbols = per_file > 0
        #: every top item plus every further symbol of a shown file
        self._n_items = int(nf + np.maximum(per_file - 1, 0).sum())
        self._top_key = _suffix_max(self._F)

    def _replan(self, upto: int) -> None:
        """The sorted keys of every top/symbol item of the first ``upto`` shown files.

        A file's items depend on that file alone, and no item of a later file is worth
        more than ``_bound`` (its score, at most the suffix maximum of the scores from
        there on), so the first items of this plan are the whole plan's first items as
        long as their keys reach ``_bound`` (ties go to the earlier file either way)."""
        F = self._F
        nf = F.size
        c = min(max(int(upto), 1), nf)
        self._planned = c
        self._bound = float(self._top_key[c]) if c < nf else -np.inf
        top_row = np.full(c, -1, dtype=np.int64)
        sym_rows = sym_pos = sym_stage = np.zeros(0, dtype=np.int64)
        sym_values = np.zeros(0)
        if self._arrays is not None and len(self._arrays[0].tags):
            table, scores = self._arrays
            rows, pos_of = row_runs(self._row_ptr, self._shown_g[:c])
            # each file's rows in score order (score, then line: the ranking's own order)
            o = np.lexsort((table.line[rows], pos_of, -scores[rows]))
            rows, fr, within = _by_file(rows[o], pos_of[o], scores, table.name_idx)
            value = F[fr] / np.power(within + 1.0, _DEPTH_EXP)
            top = within == 0
            top_row[fr[top]] = rows[top]
            more = ~top
            sym_rows, sym_pos, sym_stage, sym_values = rows[more], fr[more], within[more] + 1, value[more]
        # a file's further symbols are worth less than its score, and scores fall with
        # rank: the suffix maximum only guards the order against float ties
        keys = np.concatenate([self._top_key[:c], sym_values])
        values = np.concatenate([F[:c], sym_values])
        kinds = np.concatenate([np.full(c, _TOP), np.full(sym_rows.size, _SYM)])
        poss = np.concatenate([np.arange(c, dtype=np.int64), sym_pos])
        stages = np.concatenate([np.ones(c, np.int64), sym_stage])
        rowss = np.concatenate([top_row, sym_rows])
        o = np.lexsort((stages, poss, -keys))
        self._keys, self._kinds, self._pos, self._rows, self._values = keys[o], kinds[o], poss[o], rowss[o], values[o]

    def _row_values(self) -> np.ndarray:
        """Every definition's value (chat files' too: the far ends of call edges), indexed
        like the symbol table: its file's score over its place in the file."""
        table, scores = self._arrays
        r = self.ranking
        Fall = np.asarray(r.score_values, dtype=np.float64)
        rank_pos = np.empty(len(r.paths), dtype=np.int64)
        rank_pos[np.asarray(r.order, dtype=np.int64)] = np.arange(len(r.paths))
        so = np.lexsort((table.line, table.file_idx, -scores))
        rows, _fr, within = _by_file(so, rank_pos[table.file_idx[so]], scores, table.name_idx)
        out = np.zeros(len(table.tags))
        out[rows] = Fall[table.file_idx[rows]] / np.power(within + 1.0, _DEPTH_EXP)
        return out

    def _materialize(self, limit: int) -> list[Item]:
        """The first ``limit`` top/symbol items as objects (the plan widened first when
        they reach past what it holds exactly)."""
        while self._planned < len(self.files) and (
                limit > len(self._keys) or self._keys[min(limit, len(self._keys)) - 1] < self._bound):
            self._replan(self._planned * 4)
        n = min(limit, len(self._keys))
        table = self._arrays[0] if self._arrays is not None else None
        scores = self._arrays[1] if self._arrays is not None else None
        load = getattr(self.tags, "load_defs", None)
        if load is not None and n:  # the files these items show, read in one batch
            load(dict.fromkeys(self.files[p] for p in self._pos[:n].tolist()))
        out: list[Item] = []
        for k in range(n):
            kind, p, row = int(self._kinds[k]), int(self._pos[k]), int(self._rows[k])
            path = self.files[p]
            sym = RankedSymbol(path, table.tags[row], float(scores[row])) if row >= 0 else None
            out.append(Item(kind, p, path, float(self._keys[k]), float(self._values[k]), sym))
        return out

    def _with_calls(self, items: list[Item], fitting: int) -> list[Item]:
        """``items`` with the call edges that can be shown merged in by key.

        ``fitting`` items fit without calls; calls only take room, so a map with calls
        holds fewer symbol items, and every call it can hold ranks above item
        ``fitting`` (under a function ranked above it): only those are looked up."""
        if self.calls is None or not items:
            return items
        floor = items[fitting].key if fitting < len(items) else (
            items[-1].key if len(items) < self._n_items else -np.inf)
        calls = [c for c in self._call_items(items[:fitting]) if c.key >= floor]
        # a call's key is below its function's own value, so sorting by key alone puts
        # it after its function; ties go to the higher file, then to symbols before calls
        return sorted(items + calls, key=lambda it: (-it.key, it.pos, it.kind == _CALL))

    def _call_items(self, items: list[Item]) -> list[Item]:
        """Call edges of the shown callables: importance = confidence × the value of the
        weaker end (an edge matters when both its ends do), the strongest few per
        function and direction. Below its function's own value, so never before it."""
        if self._value_of is None:
            table = self._arrays[0]
            paths, fidx, value = table.paths, table.file_idx, self._row_values()
            self._value_of = {(paths[fidx[i]], t.name, t.line): float(value[i]) for i, t in enumerate(table.tags)}
        get = self._value_of.get
        out: list[Item] = []
        for it in items:
            s = it.symbol
            if s is None or s.tag.kind not in CALLABLES:
                continue
            edges = self.calls.edges_for(s.path, s.tag)
            if not edges:
                continue
            under = (s.tag.line, s.tag.name)
            v = it.value
            totals: dict[str, int] = {}
            for direction in ("calls", "called_by"):
                scored = [(-_CALL_SHARE * e.confidence * min(v, get((e.file, e.name, e.line), 0.0)), e.file, e.line, e)
                          for e in edges if e.direction == direction]
                if not scored:
                    continue
                totals[direction] = len(scored)
                for neg, _f, _l, e in heapq.nsmallest(_CALLS_PER_LINE, scored):
                    out.append(Item(_CALL, it.pos, s.path, -neg, -neg, None, e, under))
            self._total_calls.setdefault(s.path, {})[under] = totals
        return out

    # -- text ---------------------------------------------------------------------------
    def _header(self, nfiles: int, nsyms: int, used: int | str, budget: int) -> str:
        t = f" {self.title}" if self.title else ""
        head = (f"# ripmap{t}: {nfiles} of {len(self.ranking.files)} files, {nsyms} of {self.symbols_total} "
                f"symbols, {used} of {budget} tokens")
        if self.chat:
            head += "\n# in chat (not repeated): " + ", ".join(sorted(self.chat))
        return head

    def _layout(self, m: int, k: int) -> list[FileBlock]:
        """Blocks of the first ``m`` items, the first ``k`` of them with signatures."""
        syms, calls = self._counts(m)
        return [self._block(p, p < k, int(syms[p]), int(calls[p]) if p < k else 0) for p in range(len(syms))]

    def _lines(self, blocks: list[FileBlock], also: list[str], budget: int, style: Style,
               used: int | str) -> list[str]:
        lines = self._header(len(blocks), sum(len(b.symbols) for b in blocks), used, budget).split("\n")
        for b in blocks:
            lines.extend(self._block_lines(b, style))
        if also:
            lines.append(style.dim("# also relevant:"))
            lines.extend(style.path(a) for a in also)
        return lines

    def _text(self, blocks: list[FileBlock], also: list[str], budget: int, style: Style, used: int | str) -> str:
        return "\n".join(self._lines(blocks, also, budget, style, used)) + "\n"

    def _block_lines(self, b: FileBlock, style: Style) -> list[str]:
        # within one item list a file's items enter in one order, so its symbol and call
        # counts name the block; a prefix without calls is the same in the list with calls
        key = (b.path, b.detail, len(b.symbols), sum(len(v) for d in b.calls.values() for v in d.values()))
        plain = style is PLAIN
        if plain:
            hit = self._block_memo.get(key)
            if hit is not None:
                return hit
        lines = render_block(b, self._parents_of(b.path), style, self._total_calls.get(b.path, {}))
        if plain:
            self._block_memo[key] = lines
        return lines

    def _parents_of(self, path: str) -> dict[tuple[int, str], Tag]:
        parents = self._parents.get(path)
        if parents is None:
            defs = definitions(self.tags, path)
            parents = self._memo.parents(path, defs) if self._memo is not None else None
            if parents is None:
                parents = parent_map(defs)
                if self._memo is not None:
                    self._memo.keep_parents(path, defs, parents)
            self._parents[path] = parents
        return parents

    def _line_cost(self, line: str) -> float:
        c = self._line_costs.get(line)
        if c is None:
            c = self._line_costs[line] = self._measure(line + "\n")
        return c

    def _index_items(self) -> None:
        """Arrays over ``self.items`` so that a prefix's blocks are counted, not built:
        the binary searches price hundreds of prefixes."""
        items = self.items
        n = len(items)
        self._ipos = np.fromiter((it.pos for it in items), dtype=np.int64, count=n)
        self._icall = np.fromiter((it.kind == _CALL for it in items), dtype=bool, count=n)
        self._ival = np.fromiter((it.value for it in items), dtype=np.float64, count=n)
        per: dict[int, list[Item]] = {}
        for it in items:
            per.setdefault(it.pos, []).append(it)
        self._per_file = per
        self._sig_costs = {}  # they follow the item order, which a new list may change

    def _counts(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Per block (the files ranked 0..P-1: `top` items enter in rank order), how many
        of its symbol items and of its call items the first ``m`` items hold."""
        if m <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pos, call = self._ipos[:m], self._icall[:m]
        nblocks = int(pos.max()) + 1
        return np.bincount(pos[~call], minlength=nblocks), np.bincount(pos[call], minlength=nblocks)

    def _block(self, p: int, sig: bool, nsym: int, ncall: int) -> FileBlock:
        path = self.files[p]
        b = FileBlock(path, self.file_rank[path], self.ranking.scores[path], detail="sig" if sig else "names")
        taken_sym = taken_call = 0
        for it in self._per_file.get(p, ()):
            if taken_sym >= nsym and taken_call >= ncall:
                break
            if it.kind == _CALL:
                if taken_call < ncall:
                    taken_call += 1
                    b.calls.setdefault(it.under, {}).setdefault(it.edge.direction, []).append(it.edge)
            elif taken_sym < nsym:
                taken_sym += 1
                if it.symbol is not None:
                    b.symbols.append(it.symbol)
        return b

    def _block_cost(self, p: int, sig: bool, nsym: int, ncall: int) -> float:
        if sig:
            grow = self._sig_costs.get(p)
            if grow is None:
                grow = self._sig_costs[p] = _SigCost(self, p)
            return grow.at(nsym + ncall)
        key = (p, nsym)
        c = self._block_costs.get(key)
        if c is None:
            cost = self._line_cost
            c = self._block_costs[key] = sum(cost(line) for line in
                                             self._block_lines(self._block(p, False, nsym, 0), PLAIN))
        return c

    def _cost(self, m: int, k: int, also: Sequence[str], budget: int) -> float:
        """Search-time cost of the first ``m`` items (``k`` blocks with signatures) and a
        tail: the sum of memoized per-line counts.

        Counting each distinct line once keeps the binary search cheap even with an
        exact tokenizer; BPE merges across line breaks make the true count differ by a
        token or two, which :meth:`fit` settles with exact counts of the final text.
        The header carries a 6-digit placeholder so it is never underestimated.
        """
        syms, calls = self._counts(m)
        cost = self._line_cost
        block = self._block_cost
        nsym = int(syms[self._has_symbols[:len(syms)]].sum())
        total = sum(cost(line) for line in self._header(len(syms), nsym, "000000", budget).split("\n"))
        for p in range(len(syms)):
            sig = p < k
            total += block(p, sig, int(syms[p]), int(calls[p]) if sig else 0)
        if also:
            total += cost("# also relevant:") + sum(cost(a) for a in also)
        return total

    def _utility(self, m: int, k: int) -> float:
        pos, call, val = self._ipos[:m], self._icall[:m], self._ival[:m]
        sig = pos < k
        return float((val * np.where(call, sig, np.where(sig, _SIG_WEIGHT, _NAME_WEIGHT))).sum())

    # -- fitting ------------------------------------------------------------------------
    def fit(self, budget: int) -> RenderedMap:
        if budget < 1:
            raise ValueError("budget must be at least 1 token")
        margin = float(getattr(self.counter, "margin", 0.0) or 0.0)
        target = max(1, int(budget / (1.0 + margin))) if margin > 0 else budget
        reserve = int(target * _TAIL_SHARE)
        m, k = self._best(target - reserve, budget)
        blocks = self._layout(m, k)
        rest = self.files[len(blocks):len(blocks) + _TAIL_MAX]
        whole_tail = math.ceil(sum(self._line_cost(p) for p in rest) + self._line_cost("# also relevant:")) \
            if rest else 0
        if whole_tail < reserve:  # few files left: give the blocks what the tail cannot use
            m, k = self._best(target - whole_tail, budget)
            blocks = self._layout(m, k)
            rest = self.files[len(blocks):len(blocks) + _TAIL_MAX]
        also = self._tail(m, k, rest, target, budget)
        text = self._final(blocks, also, budget)
        while self.counter.count(text) > target and (also or m > 0):  # settle BPE merges: drop from the end
            if also:
                also = also[:-1]
            else:
                m -= 1
                blocks = self._layout(m, k)
            text = self._final(blocks, also, budget)
        if not blocks and not also and self.counter.count(text) > target:  # not even the header fits
            text = self._tiny(target)
        calls = sum(len(dirs) for b in blocks if b.detail == "sig" for dirs in b.calls.values())
        return RenderedMap(text=text, tokens=self.counter.count(text), blocks=blocks, also=also,
                           files_total=len(self.ranking.files), symbols_total=self.symbols_total, budget=budget,
                           call_lines=calls)

    def _best(self, target: int, budget: int) -> tuple[int, int]:
        """(items, blocks with signatures) of the best map of blocks within ``target``.

        How many blocks show signatures is chosen without calls, so ``--calls`` never
        turns a block's signatures into bare names; the calls then share the budget with
        the symbols at that choice. An item costs at least a token, so at most
        ``target`` fit: a shorter prefix is searched first, widened when all of it fits."""
        limit = target // 6 + 64
        while True:
            self.items = self._materialize(limit)
            _u, m, k = self._search(target, budget, _K_CHOICES)
            if self.calls is not None:
                self.items = self._with_calls(self.items, m)
                _u, m, k = self._search(target, budget, (k,))
            if m < len(self.items) or limit >= self._n_items or limit > target:
                return m, k
            limit *= 4

    def _tail(self, m: int, k: int, rest: list[str], target: int, budget: int) -> list[str]:
        """The longest run of the next files' paths that fits after the blocks."""
        if not rest or self._cost(m, k, rest[:1], budget) > target:
            return []
        lo, hi = 1, len(rest)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._cost(m, k, rest[:mid], budget) <= target:
                lo = mid
            else:
                hi = mid - 1
        return rest[:lo]

    def _largest(self, k: int, target: int, budget: int, start: int | None) -> int:
        """The largest prefix that fits with ``k`` blocks of signatures: a binary search,
        or, from a neighbouring choice's answer ``start``, a gallop (the answers of
        neighbouring ``k`` are close, so this prices few prefixes)."""
        n = len(self.items)

        def fits(m: int) -> bool:
            return self._cost(m, k, (), budget) <= target

        if start is None:
            lo, hi = 0, n
        elif start > 0 and not fits(start):
            lo, hi = 0, start - 1
        else:
            lo, step = start, 1
            while lo + step <= n and fits(lo + step):
                lo += step
                step *= 2
            hi = min(n, lo + step - 1)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _search(self, target: int, budget: int, choices: Sequence[int]) -> tuple[float, int, int]:
        """(utility, items, blocks with signatures) of the best fitting candidate."""
        self._index_items()
        n = len(self.items)
        best: tuple[float, int, int] | None = None
        start = None
        for k in choices:
            lo = start = self._largest(k, target, budget, start)
            util = self._utility(lo, k)
            if best is None or util > best[0] + 1e-15:
                best = (util, lo, k)
            if lo == n and k >= len(self._counts(lo)[0]):  # everything fits with full detail
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
