"""The query-independent state of ranking one snapshot, and its memos.

Everything here depends only on the indexed code and its history (the graph, the
assembled file graph per graph-parameter point, git arrays aligned with the graph,
the lexical and path indexes), so it is built lazily once and reused by every
:func:`~ripmap.rank.score.rank` call; the trainer ranks thousands of parameter points
against one context.
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, Sequence

import numpy as np
from ..lazy import sparse as sp

from ..extract.tags import Tag
from ..gitinfo import GitSignals
from ..graph import GraphData, positions
from ..index import changed_files, definitions
from .edges import FileGraph, GraphKey, factored_file_graph, graph_key, structural_referrers
from .lexical import LexicalIndex
from .pagerank import DirectSolver, transition
from .pairing import pairing_matrix
from .query import ParsedQuery, PathIndex, parse_query
from .signals import file_depths


class LexicalStore(Protocol):
    """Where a context keeps its lexical index between runs (one index's worth)."""

    def load_lexical(self, n_files: int) -> LexicalIndex | None:
        """The stored index, if there is one for ``n_files`` files (its term counts may be
        left out: :meth:`load_previous_lexical` gives them to an update)."""
        ...

    def save_lexical(self, lx: LexicalIndex) -> None: ...

    def load_previous_lexical(self) -> LexicalIndex | None:
        """The index stored last, for whatever files: what an incremental update starts from
        (its term counts and stamps are all the update reads; the rest may be left empty)."""
        ...


class _DefsOnly:
    """``.get(rel)`` gives a file's definitions only (a TagTable's full tags would decode
    every file's references)."""

    def __init__(self, tags: Mapping[str, Sequence[Tag]]) -> None:
        self.tags = tags

    def get(self, rel: str, default: Sequence[Tag] = ()) -> Sequence[Tag]:
        return definitions(self.tags, rel) if rel in self.tags else default


class _StreamedDefs:
    """``.get(rel)`` over a TagTable for a caller that walks the files in order: decoded a
    window of files at a time and let go of with the next window (see
    :meth:`~ripmap.index.TagTable.peek_defs`)."""

    WINDOW = 4096

    def __init__(self, table, order: Sequence[str]) -> None:
        self.table = table
        self.order = list(order)
        self.pos = {r: i for i, r in enumerate(self.order)}
        self.window: dict[str, list[Tag]] = {}

    def get(self, rel: str, default: Sequence[Tag] = ()) -> Sequence[Tag]:
        if rel not in self.window:
            i = self.pos.get(rel)
            if i is None:
                return default
            self.window = self.table.peek_defs(self.order[i:i + self.WINDOW])
        return self.window.get(rel, default)


#: how many of a seed's newest commits say what its current work goes with
#: (:meth:`RankContext.recent_cochange`)
RECENT_COMMITS = 2

#: assembled file graphs kept per context (oldest dropped first); a search or L1 run moves
#: graph parameters in few of its steps, and each graph (its factors) costs about as much
#: as the reference matrices
MAX_FILE_GRAPHS = 8


@dataclass
class RankContext:
    """Query-independent state for ranking one snapshot of a repository."""

    graph: GraphData
    git: GitSignals | None = None
    #: where the lexical index is kept between runs (e.g. :class:`ripmap.cache.blobs.BlobStore`);
    #: None: built in memory each time
    store: LexicalStore | None = None
    #: :class:`~ripmap.fileclass.FileClass` bits per file, aligned with ``graph.files``
    #: (discovery's verdict, handed in by the caller); None: every file is ordinary code
    flags: np.ndarray | None = None
    #: each file's definitions (signatures, parents) for chunk-level lexical retrieval;
    #: None: files are searched by their names and paths only
    defs: Mapping[str, Sequence[Tag]] | None = None
    #: the assembled (factored) file graph per :func:`~ripmap.rank.edges.graph_key`: filled
    #: as parameter points are ranked; a caller may seed it with one it already has
    file_graphs: dict[GraphKey, FileGraph] = field(default_factory=dict, repr=False)
    #: (size, mtime_ns) per graph file and the files parsed by this snapshot's index: what
    #: tells an incremental lexical update which files changed (None: never patch)
    stamps: np.ndarray | None = field(default=None, repr=False)
    fresh: frozenset[str] = frozenset()
    #: the lexical index of an earlier snapshot held in memory (a refreshed server's), to
    #: patch instead of the stored one
    lexical_seed: LexicalIndex | None = field(default=None, repr=False)
    #: whether the store may be given what ranking derives from the graph (the weighted
    #: graph, PageRank vectors); it is read from the store either way
    keep_derived: bool = True
    #: whether the store may be given the weighted graph (None: as ``keep_derived``); after
    #: a change it is kept for the next edit in place to start from
    keep_file_graphs: bool | None = None
    #: whether the store may be given PageRank vectors (None: as ``keep_derived``); after a
    #: change they are kept for the next edit's solve to start from
    keep_pageranks: bool | None = None
    #: after an edit in place: the weighted file graph of the graph patched, per point
    #: (None: not stored), from which only the rows the edit can change are redone
    file_graph_base: Callable[[GraphKey], FileGraph | None] | None = field(default=None, repr=False)
    #: the index this graph was patched from: its files and its store (None: built afresh
    #: or not known); its PageRank vectors, moved onto this graph's files, start a solve
    earlier: tuple[tuple[str, ...], object] | None = field(default=None, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n = self.graph.n_files
        if self.flags is None:
            self.flags = np.zeros(n, dtype=np.int64)
        else:
            self.flags = np.asarray(self.flags, dtype=np.int64)
            if self.flags.shape != (n,):
                raise ValueError(f"flags has shape {self.flags.shape}, expected ({n},) like the graph's files")

    def _get(self, key, make):
        v = self._memo.get(key)
        if v is None:
            v = make()
            self._memo[key] = v
        return v

    @property
    def lexical(self) -> LexicalIndex:
        """The field-aware lexical index (built once; kept in the store when there is one)."""
        def build() -> LexicalIndex:
            g = self.graph
            R = (g.R[0] + g.R[1] + g.R[2]).tocsr()
            defs: Mapping[str, Sequence[Tag]] | _StreamedDefs | None = None
            if hasattr(self.defs, "peek_defs"):
                defs = _StreamedDefs(self.defs, g.files)
            elif self.defs is not None:
                defs = {rel: definitions(self.defs, rel) for rel in g.files}
            return LexicalIndex.build(g.files, g.names, g.D, R, defs)  # type: ignore[arg-type]

        def patched() -> LexicalIndex | None:
            prev = self.lexical_seed
            if prev is None and self.store is not None and hasattr(self.store, "load_previous_lexical"):
                prev = self.store.load_previous_lexical()
            if prev is None or prev.stamps is None or self.stamps is None:
                return None
            g = self.graph
            changed = changed_files(prev.counts.files, prev.stamps, g.files, self.stamps, self.fresh)
            if len(changed) > g.n_files // 2:  # most files moved: a build is as cheap
                return None
            R = (g.R[0] + g.R[1] + g.R[2]).tocsr()
            return LexicalIndex.patch(prev, g.files, g.names, g.D, R,
                                      _DefsOnly(self.defs) if self.defs is not None else None, changed)

        def make() -> LexicalIndex:
            lx = self.store.load_lexical(self.graph.n_files) if self.store is not None else None
            if lx is None:
                lx = patched() or build()
                lx.stamps = self.stamps
                if self.store is not None:
                    self.store.save_lexical(lx)
            return lx
        return self._get("lexical", make)

    def lexical_at_hand(self) -> bool:
        """Whether :attr:`lexical` would be had without a build from scratch: held, to be
        patched from the index held or stored before, or stored (a build takes a minute on
        a 70,000-file tree: only a query that needs it should wait for that)."""
        return ("lexical" in self._memo or self.lexical_seed is not None
                or (self.store is not None and hasattr(self.store, "has_lexical") and self.store.has_lexical()))

    @property
    def paths(self) -> PathIndex:
        return self._get("paths", lambda: PathIndex.build(self.graph.files))

    @property
    def lower_names(self) -> dict[str, list[str]]:
        def make() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for n in dict.fromkeys(self.graph.names):
                out.setdefault(n.lower(), []).append(n)
            return out
        return self._get("lower_names", make)

    @property
    def defined_names(self) -> dict[str, int]:
        """Names some file defines (what a query's identifier must name to count)."""
        def make() -> dict[str, int]:
            g = self.graph
            has_def = np.flatnonzero(g.ndefs > 0)
            return {g.names[int(i)]: 1 for i in has_def}
        return self._get("defined_names", make)

    def parse(self, focus: str) -> ParsedQuery:
        """The focus text read into typed evidence (once per distinct text)."""
        return self.per_query(("parse", focus), lambda: parse_query(focus, self.paths, self.defined_names,
                                                                   self.lower_names))

    #: memos that read the file paths alone: a context of the same files may take them over
    PATH_MEMOS = ("paths", "pairing", "paths_array", "depths")

    def take_path_memos(self, other: "RankContext") -> None:
        """Take over ``other``'s memos that depend on the file paths alone, when both
        graphs have the same files (an edit): the test↔source pairing of a 70,000-file
        tree costs 0.35 s to build again, the path index and depths less."""
        if other is self or other.graph.files != self.graph.files:
            return
        for k in self.PATH_MEMOS:
            if k in other._memo and k not in self._memo:
                self._memo[k] = other._memo[k]

    @property
    def pairing(self) -> "sp.csc_matrix":
        # column-compressed: a query reads its seeds' columns (:func:`~ripmap.rank.pairing.paired_with`)
        return self._get("pairing", lambda: pairing_matrix(self.graph.files).tocsc())

    def association(self, seeds: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Co-change evidence for every file from weighted seed files (graph order)."""
        half, expo = float(params["cochange_half_life_days"]), float(params["cochange_size_exponent"])
        nz = np.flatnonzero(seeds > 0)
        return self._from_history(
            seeds, ("assoc", tuple(nz.tolist()), tuple(np.round(seeds[nz], 6).tolist()), half, expo),
            lambda g, q: g.association_vector(q, half_life_days=half, size_exponent=expo))

    def recent_cochange(self, seeds: np.ndarray) -> np.ndarray:
        """What the seeds' own newest commits touched besides them (graph order): see
        :meth:`~ripmap.gitinfo.GitSignals.recent_partners`."""
        return self._from_history(seeds, ("recent", tuple(np.flatnonzero(seeds > 0).tolist())),
                                  lambda g, q: g.recent_partners(q, RECENT_COMMITS))

    def jaccard_cochange(self, seeds: np.ndarray) -> np.ndarray:
        """Each file's largest Jaccard overlap of commit sets with a seed (graph order):
        see :meth:`~ripmap.gitinfo.GitSignals.cochange_vector`."""
        return self._from_history(seeds, ("jaccard", tuple(np.flatnonzero(seeds > 0).tolist())),
                                  lambda g, q: g.cochange_vector(np.flatnonzero(q > 0)))

    def _from_history(self, seeds: np.ndarray, key: tuple,
                      compute: Callable[[GitSignals, np.ndarray], np.ndarray]) -> np.ndarray:
        """``compute(git, seeds in git's file order)`` back in graph order (zeros for files
        git does not know, or with no history or no seed), memoized per query under
        ``key`` and this context's history."""
        g = self.git
        if g is None or g.is_empty or not (seeds > 0).any():
            return np.zeros(self.graph.n_files)

        def make() -> np.ndarray:
            _age, _churn, col = self.git_arrays()
            has = col >= 0
            q = np.zeros(len(g.files))
            np.maximum.at(q, col[has], seeds[has])
            got = compute(g, q)
            out = np.zeros(self.graph.n_files)
            out[has] = got[col[has]]
            return out
        return self.per_query((g.serial, *key), make)

    def stored_pagerank(self, key: str) -> np.ndarray | None:
        """A PageRank vector the store keeps under ``key`` for this graph, or None."""
        if self.store is None or not hasattr(self.store, "load_pagerank"):
            return None
        return self.store.load_pagerank(self.graph, key)

    def earlier_pagerank(self, key: str) -> np.ndarray | None:
        """The answer to the same PageRank question for the index this graph was patched
        from, moved onto this graph's files by path (a new file starts at the mean; after
        an edit in place nothing moves), to start the solve from; when that index is not
        known or kept no answer, the store's last answer for a tree of as many files; or
        None."""
        if self.store is None:
            return None
        if self.earlier is not None:
            before, store = self.earlier
            old = store.load_pagerank(self.graph, key, n_files=len(before)) \
                if hasattr(store, "load_pagerank") else None
            if old is not None and old.size:
                at = positions(before, self.graph.files)  # each earlier file's place here (-1: gone)
                start = np.full(self.graph.n_files, float(old.mean()))
                kept = at >= 0
                start[at[kept]] = old[kept]
                return start / start.sum()
        if not hasattr(self.store, "load_earlier_pagerank"):
            return None
        return self.store.load_earlier_pagerank(self.graph, key)

    def keep_pagerank(self, key: str, r: np.ndarray) -> None:
        keep = self.keep_derived if self.keep_pageranks is None else self.keep_pageranks
        if keep and self.store is not None and hasattr(self.store, "save_pagerank"):
            self.store.save_pagerank(self.graph, key, r)

    def git_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(age_days, churn, git column index or -1) aligned with the graph's files.

        Keyed by the signals' serial: contexts made by :meth:`with_history` share this
        context's memos, and each has its own history."""
        def make():
            n = self.graph.n_files
            age = np.full(n, np.inf)
            churn = np.zeros(n)
            g = self.git
            if g is None or g.is_empty:
                return age, churn, np.full(n, -1, dtype=np.int64)
            # the views of one timeline share their files: their columns are found once
            col = self.per_query(("git columns", g.files), lambda: self._git_columns(g))
            has = col >= 0
            age[has] = g.age_days[col[has]]
            churn[has] = g.churn[col[has]]
            return age, churn, col
        # bounded with the per-query memos: an evaluation with each case's own history
        # makes one set per commit
        return self.per_query(("git", None if self.git is None else self.git.serial), make)

    def _git_columns(self, g: GitSignals) -> np.ndarray:
        """Each graph file's column in ``g`` (-1: not in its history)."""
        col = np.full(self.graph.n_files, -1, dtype=np.int64)
        for i, f in enumerate(self.graph.files):
            j = g.index.get(f)
            if j is not None:
                col[i] = j
        return col

    def with_history(self, git: GitSignals | None) -> "RankContext":
        """This snapshot ranked with another history (its state as of a later commit):
        the graph, indexes and every history-free memo are shared, not rebuilt."""
        if git is self.git:
            return self
        return dataclasses.replace(self, git=git)

    def file_graph(self, params: Mapping[str, float]) -> FileGraph:
        """The weighted file graph for ``params`` (kept factored: see
        :class:`~ripmap.rank.edges.FileGraph`), assembled once per graph-parameter point
        (or read from the store, which keeps it for large graphs)."""
        key = graph_key(params)
        W = self.file_graphs.get(key)
        if W is None:
            keeps = self.store is not None and hasattr(self.store, "load_file_graph")
            W = self.store.load_file_graph(self.graph, key) if keeps else None  # type: ignore[union-attr]
            if W is None:
                base = self.file_graph_base(key) if self.file_graph_base is not None \
                    and self.graph.reweigh is not None else None
                W = factored_file_graph(self.graph, params, base)
                if keeps and (self.keep_derived if self.keep_file_graphs is None else self.keep_file_graphs):
                    self.store.save_file_graph(self.graph, key, W)  # type: ignore[union-attr]
            self.file_graphs[key] = W
            while len(self.file_graphs) > MAX_FILE_GRAPHS:  # a long search visits hundreds of points
                self._forget_graph(self.file_graphs.pop(next(iter(self.file_graphs))))
        return W

    def _forget_graph(self, W: FileGraph) -> None:
        """Drop the memos keyed by an evicted graph's ``id``: once it is freed, a new graph
        could be given the same id and read another graph's transition or degrees."""
        gone = id(W)
        for k in [k for k in self._memo if isinstance(k, tuple) and len(k) == 2 and k[1] == gone]:
            del self._memo[k]

    def transition(self, params: Mapping[str, float]):
        W = self.file_graph(params)
        key = ("PT", id(W))
        return W, self._get(key, lambda: transition(W))

    @property
    def paths_array(self) -> np.ndarray:
        """The graph's files as an object array: a ranking's paths in order are one take."""
        def make() -> np.ndarray:
            a = np.empty(len(self.graph.files), dtype=object)
            a[:] = list(self.graph.files)
            return a
        return self._get("paths_array", make)

    def by_query(self, kind: str, key) -> dict:
        """Per-query vectors of one kind (``"pagerank"``, ``"focus"``) at one key: the
        values of the parameters that vector depends on (for PageRank
        :func:`~ripmap.rank.score.personalization_key`). Filled by the ranking; of each
        kind the two latest keys are kept (the current point and the one before it), so
        a step that moves none of a kind's parameters reuses its vectors."""
        memo = self._memo.setdefault(("by_query", kind), OrderedDict())
        d = memo.get(key)
        if d is None:
            d = memo[key] = {}
            while len(memo) > 2:
                memo.popitem(last=False)
        else:
            memo.move_to_end(key)
        return d

    def pagerank_solver(self, params: Mapping[str, float]) -> DirectSolver:
        """PageRank's factorization for ``params``' graph and α (kept for the last few
        (graph, α) pairs: an L1 episode that moves neither reuses it, a search trial
        that moves either pays one factorization for all its queries)."""
        key = (graph_key(params), float(params["pagerank_alpha"]))
        memo = self._memo.setdefault("solvers", OrderedDict())
        s = memo.get(key)
        if s is None:
            # the direct solver factors Pᵀ itself, so it takes W multiplied out (it serves
            # graphs of at most DIRECT_MAX_FILES files only)
            PT, dangling = transition(self.file_graph(params).tocsr())
            s = memo[key] = DirectSolver(PT, dangling, key[1])
            while len(memo) > 2:  # each holds two dense n × n factors
                memo.popitem(last=False)
        else:
            memo.move_to_end(key)
        return s

    def depths(self) -> np.ndarray:
        return self._get("depths", lambda: file_depths(self.graph.files))

    def undirected(self, W: FileGraph) -> FileGraph:
        """What focus expansion walks: the factored graph itself (it spreads through names,
        never through the file × file adjacency)."""
        return W

    def indegree(self, params: Mapping[str, float]) -> np.ndarray:
        """Files with an edge to each file: counted once per graph without forming it (and
        without assembling the weighted graph at all while every weight is positive: a
        warm map whose PageRank is stored never needs it)."""
        if structural_referrers(params):
            return self.graph.referrer_counts()
        return self.file_graph(params).referrers

    def per_query(self, key, make):
        """Memoize a query-dependent but parameter-independent vector (bounded LRU).

        The trainer ranks the same seed files under thousands of parameter points; the
        seed's BM25 scores and co-change vector never change between them.
        """
        memo = self._memo.setdefault("per_query", OrderedDict())
        v = memo.get(key)
        if v is None:
            v = make()
            memo[key] = v
            if len(memo) > 4096:
                memo.popitem(last=False)
        else:
            memo.move_to_end(key)
        return v
