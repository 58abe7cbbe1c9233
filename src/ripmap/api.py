"""``RepoMap``: the one facade that runs the pipeline.

The CLI, the MCP server, the trainer and users' own code all come through here::

    from ripmap import RepoMap
    rm = RepoMap("/path/to/repo")
    ranking = rm.rank(chat_files=["src/auth/session.py"], focus="token refresh")
    ranking.files[:10], ranking.explain("src/auth/token.py")
    print(rm.render(ranking, tokens=4096))

Everything expensive (index, graph, git history, BM25) is built once per ``RepoMap``
and reused across ``rank`` calls; the graph and git signals are also cached on disk,
keyed by the content fingerprint of the index and by HEAD.
"""
from __future__ import annotations

import posixpath
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .cache import NullCache, TagCache
from .config import Config, load_config
from .discover import CLASSIFY_VERSION
from .errors import RipmapError
from .gitinfo import GitSignals, git_head, load_git_signals
from .graph import GRAPH_PARAMS, GraphData, build_graph, file_graph
from .index import Index, build_index
from .rank import RankContext, Ranking, rank
from .rank.params import DEFAULT, Params


@dataclass
class Timings:
    index_s: float = 0.0
    graph_s: float = 0.0
    git_s: float = 0.0
    rank_s: float = 0.0


def _stderr_warn(msg: str) -> None:
    print(f"ripmap: {msg}", file=sys.stderr)


class RepoMap:
    """A repository, indexed once, ranked as often as you like."""

    def __init__(self, root: str | Path = ".", params: Params | None = None, *, config: Config | None = None,
                 use_cache: bool = True, cache_dir: str | Path | None = None, use_git: bool = True,
                 git_until: str | None = None, progress: bool | None = None,
                 warn: Callable[[str], None] | None = None, verbose: bool = False) -> None:
        root = Path(root).expanduser()
        if not root.exists():
            raise RipmapError(f"{root}: no such directory")
        if not root.is_dir():
            raise RipmapError(f"{root}: not a directory")
        self.root = root.resolve()
        self.params = params or DEFAULT
        self.config = config if config is not None else load_config(self.root)
        self.use_cache = use_cache
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.use_git = use_git
        self.git_until = git_until
        self.progress = progress
        self.verbose = verbose
        self.warn = warn or _stderr_warn
        self.timings = Timings()
        self._cache: TagCache | NullCache | None = None
        self._index: Index | None = None
        self._ctx: RankContext | None = None

    # -- pipeline stages (lazy) ---------------------------------------------------------
    @property
    def cache(self) -> TagCache | NullCache:
        if self._cache is None:
            # rows remember the classes found in file contents: new detection rules, new rows
            self._cache = (TagCache.open(self.root, self.cache_dir, warn=self.warn,
                                         parser_version=f"classify:{CLASSIFY_VERSION}")
                           if self.use_cache else NullCache())
        return self._cache

    @property
    def index(self) -> Index:
        if self._index is None:
            t = time.perf_counter()
            self._index = build_index(self.root, config=self.config, cache=self.cache, progress=self.progress)
            self.timings.index_s = time.perf_counter() - t
            if self.verbose:
                for n in self._index.notes:
                    self.warn(n)
            else:
                self._summarize_notes(self._index.notes)
        return self._index

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
            self.warn(line)
        if len(lines) > 5:
            self.warn(f"... and {len(lines) - 5} more kinds of file problems (use -v to see all)")

    @property
    def graph(self) -> GraphData:
        return self.context.graph

    @property
    def context(self) -> RankContext:
        if self._ctx is None:
            idx = self.index
            t = time.perf_counter()
            key = f"graph:{idx.fingerprint}"
            g = None
            blob = self.cache.get_blob(key)
            if blob is not None:
                try:
                    g = GraphData.from_bytes(blob)
                    if g.files != tuple(f.rel for f in idx.files):
                        g = None
                except Exception:  # stale or corrupt blob: rebuild, never trust it
                    g = None
            if g is None or ("W", *(float(self.params[k]) for k in GRAPH_PARAMS)) not in g._cache:
                if g is None:
                    g = build_graph(tuple(f.rel for f in idx.files), idx.tags)
                file_graph(g, self.params)  # assembled once, stored with the graph
                self.cache.put_blob(key, g.to_bytes())
            self.timings.graph_s = time.perf_counter() - t
            t = time.perf_counter()
            git = self._load_git() if self.use_git else None
            self.timings.git_s = time.perf_counter() - t
            fp = idx.fingerprint
            store = (lambda name: self.cache.get_blob(f"{name}:{fp}"),
                     lambda name, b: self.cache.put_blob(f"{name}:{fp}", b))
            # discovery's file classes reach ranking as one array (ranking never re-classifies)
            flags = np.fromiter((f.flags for f in idx.files), dtype=np.int64, count=len(idx.files))
            self._ctx = RankContext(graph=g, git=git, store=store, flags=flags, defs=idx.tags)
        return self._ctx

    def _load_git(self) -> GitSignals:
        head = git_head(self.root)
        key = f"git:{head}:{self.git_until or ''}"
        if head is not None:
            blob = self.cache.get_blob(key)
            if blob is not None:
                try:
                    return GitSignals.from_bytes(blob)
                except Exception:
                    pass
        sig = load_git_signals(self.root, until=self.git_until)
        for n in sig.notes:
            if self.verbose or "shallow" in n:
                self.warn(n)
        if head is not None and not sig.is_empty:
            self.cache.put_blob(key, sig.to_bytes())
        return sig

    # -- queries ----------------------------------------------------------------------
    def rank(self, chat_files: Iterable[str] = (), focus: str | None = None, mentioned_idents: Iterable[str] = (),
             mentioned_files: Iterable[str] = (), params: Params | None = None) -> Ranking:
        """Rank all files and symbols for one query (paths relative to the root)."""
        ctx = self.context
        t = time.perf_counter()
        r = rank(ctx, params or self.params, chat_files=[self.relpath(p) for p in chat_files], focus=focus,
                 mentioned_idents=mentioned_idents, mentioned_files=[self.relpath(p) for p in mentioned_files],
                 tags=self.index.tags)
        self.timings.rank_s = time.perf_counter() - t
        return r

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
        if self._cache is not None:
            self._cache.close()

    def __enter__(self) -> "RepoMap":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
