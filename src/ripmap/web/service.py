"""What the page's API answers, over a warm :class:`~ripmap.api.RepoMapPool`.

No HTTP here: :class:`Inputs` is one request's inputs, validated from a JSON body or a
query string into the same record, and :class:`MapService` turns inputs into the
page's JSON views (the same ones ``ripmap --format html`` inlines, from
:mod:`ripmap.render.html`). Every problem a user can fix is a :class:`UsageError` with a
one-line message the page shows as it is.

The served root is the only repository: paths are resolved against it and anything
that would reach outside (``..``, an absolute path elsewhere, a symlink out) is refused.
:class:`LiveRepo` keeps its RepoMap warm and brings it up to date in place when ``moved``
sees files, config or HEAD move, so an edit shows within seconds with no restart.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..api import DEFAULT_TOKENS, GRAPH_TOP, Params, RepoMap, __version__
from ..errors import UsageError
from ..presets import list_presets, resolve_params
from . import runs


#: the longest focus text read (a long traceback or issue fits; a pasted log file does not)
MAX_FOCUS_CHARS = 50_000
MAX_CHAT = 500
MAX_TOKENS = 1_000_000
MAX_GRAPH_TOP = 200
MAX_SEARCH = 1000


@dataclass(frozen=True)
class Inputs:
    """One request's inputs: what ``ripmap`` takes on its command line, as the page sends it."""

    chat: tuple[str, ...] = ()
    focus: str | None = None
    preset: str | None = None
    params: tuple[tuple[str, float], ...] = ()  # overrides over the preset's values
    tokens: int = DEFAULT_TOKENS
    path: str | None = None  # the file to explain
    top: int = GRAPH_TOP  # files drawn in the graph

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "Inputs":
        """Inputs from a JSON body or a query string (lists there are repeated keys)."""
        if not isinstance(raw, Mapping):
            raise UsageError("the request body must be a JSON object")
        known = {"chat", "focus", "preset", "params", "tokens", "path", "explain", "top"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UsageError(f"unknown field(s) {', '.join(unknown)} (expected {', '.join(sorted(known))})")
        chat = raw.get("chat") or ()
        if isinstance(chat, str):
            chat = (chat,)
        if not isinstance(chat, (list, tuple)) or not all(isinstance(c, str) for c in chat):
            raise UsageError("chat must be a list of file paths")
        chat = tuple(c.strip() for c in chat if c.strip())
        if len(chat) > MAX_CHAT:
            raise UsageError(f"{len(chat)} chat files; at most {MAX_CHAT} are taken")
        focus = raw.get("focus")
        if focus is not None and not isinstance(focus, str):
            raise UsageError("focus must be a text")
        if focus is not None and len(focus) > MAX_FOCUS_CHARS:
            raise UsageError(f"the focus text is {len(focus):,} characters long; at most {MAX_FOCUS_CHARS:,} are "
                             f"read: keep the part that says what the task is (the error line, the issue's title)")
        preset = raw.get("preset")
        if preset is not None and not isinstance(preset, str):
            raise UsageError("preset must be a preset name")
        params = raw.get("params") or {}
        if isinstance(params, str):
            try:
                params = json.loads(params) if params.strip() else {}
            except ValueError as e:
                raise UsageError(f"params are not valid JSON ({e})") from None
        if not isinstance(params, Mapping):
            raise UsageError("params must be an object of parameter name → number")
        path = raw.get("path", raw.get("explain"))
        if path is not None and not isinstance(path, str):
            raise UsageError("path must be a file path")
        return cls(chat=chat, focus=focus if focus and focus.strip() else None,
                   preset=preset.strip() if preset and preset.strip() else None,
                   params=tuple((str(k), v) for k, v in params.items()),
                   tokens=_count(raw.get("tokens"), "tokens", DEFAULT_TOKENS, MAX_TOKENS),
                   path=path.strip() if path and path.strip() else None,
                   top=_count(raw.get("top"), "top", GRAPH_TOP, MAX_GRAPH_TOP))

    def ranking_params(self) -> Params:
        """The preset's parameters with this request's overrides (the CLI's rule)."""
        base = resolve_params(self.preset)
        if not self.params:
            return base
        try:
            return Params({**base.to_dict(), **dict(self.params)})
        except UsageError as e:
            raise UsageError(f"params: {e}") from None


def _count(x: Any, name: str, default: int, most: int) -> int:
    if x is None or x == "":
        return default
    if isinstance(x, bool):
        raise UsageError(f"{name} must be a whole number")
    try:
        n = int(x)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a whole number (got {str(x)[:40]!r})") from None
    if n < 1 or n > most:
        raise UsageError(f"{name} must be between 1 and {most:,} (got {n:,})")
    return n


#: how often the served files are checked for changes (a ``git ls-files`` and a stat per file)
REFRESH_EVERY_S = 2.0


def warm(rm: RepoMap) -> RepoMap:
    """Run every stage of ``rm`` once (index, graph, git signals, lexical index and its
    columns, the focus parser's tables, the weighted graph, token counter:
    :meth:`RepoMap.warm_steps`), so the first request it answers is a warm one."""
    for step in rm.warm_steps(build_lexical=True):  # the page is for asking: its word index comes first
        step()
    return rm


class LiveRepo:
    """The served root's :class:`RepoMap`, kept warm and fresh for a long-lived server.

    Requests use the RepoMap one at a time (its stages build lazily and are not meant
    for concurrent use). A background thread asks ``RepoMap.moved`` every
    :data:`REFRESH_EVERY_S` seconds (cheap after :meth:`RepoMap.watch`: a ``stat`` per
    file), so no request pays for the staleness check; when files, config or HEAD moved
    it brings the same RepoMap up to date in place (:meth:`RepoMap.refresh`: only the
    changed files are re-read, the graph and lexical index are patched, git signals are
    re-read only when HEAD moved), so an edit on a large tree costs the edit, not a new
    index. Requests wait for that patch instead of being answered from a stale map.
    ``generation`` counts the refreshes that changed something (the page polls it).

    :class:`~ripmap.api.RepoMapPool` does the same for the MCP server, checking on every
    call; with one root and a page that re-ranks per keystroke of Enter, checking off
    the request path keeps a re-rank on a 1,500-file repository inside its budget.
    """

    def __init__(self, root: Path, make: Callable[[Path], RepoMap], *, refresh_every: float = REFRESH_EVERY_S,
                 log: logging.Logger | None = None) -> None:
        self.root = root.resolve()
        self.make = make
        self.refresh_every = refresh_every
        self.log = log or logging.getLogger("ripmap.serve")
        self.generation = 0
        self.notes: list[str] = []
        self._lock = threading.Lock()  # held by a request for its whole use of the RepoMap
        self._repo: RepoMap | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Build and warm the RepoMap now, then watch for changes in the background."""
        rm = self.make(self.root)
        rm.watch()  # before the first build, so the first fingerprint predates it
        self._repo = warm(rm)
        if self.refresh_every > 0:
            self._thread = threading.Thread(target=self._watch, name="ripmap-refresh", daemon=True)
            self._thread.start()

    @contextmanager
    def session(self) -> Iterator[RepoMap]:
        """The current RepoMap, for one request."""
        if self._repo is None:
            raise RuntimeError("LiveRepo.start() was not called")
        with self._lock:
            yield self._repo

    def refresh(self) -> bool:
        """Bring the RepoMap up to date if the tree moved; whether anything changed.

        The check (a ``stat`` per file) runs outside the lock, so requests are not held
        up by it; a change goes straight to the refresh, whose own listing tells what
        changed (no full listing before it: on a 70,000-file tree each costs a second)."""
        current = self._repo
        probe = None if current is None else current.moved()
        if current is None or probe is None:
            return False
        self.log.info("%s changed; refreshing", self.root)
        with self._lock:
            changed = current.refresh(probe=probe)
            if changed:
                warm(current)
                self.generation += 1
        return changed

    def flush_if_settled(self) -> None:
        """Store what the map kept back (:meth:`RepoMap.flush_writes`) once it has not
        changed for :data:`~ripmap.api.FLUSH_AFTER_S` (:meth:`RepoMap.writes_due`)."""
        current = self._repo
        if current is not None and current.writes_due():
            with self._lock:
                current.flush_writes()

    def _watch(self) -> None:
        while not self._stop.wait(self.refresh_every):
            try:
                self.refresh()
                self.flush_if_settled()
            except Exception as e:  # a failed refresh is retried at the next check
                self.log.warning("refreshing %s failed: %s: %s", self.root, type(e).__name__, e)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            if self._repo is not None:
                self._repo.close()
                self._repo = None


class MapService:
    """The page's API over one served root, kept warm by a :class:`LiveRepo`."""

    def __init__(self, live: LiveRepo) -> None:
        self.live = live
        self.root = live.root
        # the last ranking and what it was made from: the page asks for the list, then the
        # text map, then (on a click) an explanation, all for the same inputs; only the
        # first of them ranks. Read and written under the LiveRepo's lock.
        self._last: tuple[tuple, Any] | None = None

    # -- the API ------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What the page needs before its first ranking: title, presets, parameters."""
        with self.live.session() as rm:
            n = len(rm.files)
        presets = [{"name": name, "description": p.description, "source": p.source}
                   for name, p in list_presets().items()]
        return {"root": str(self.root), "name": self.root.name, "version": __version__, "files": n,
                "generation": self.live.generation,
                "presets": presets, "tokens": DEFAULT_TOKENS, "graph_top": GRAPH_TOP,
                "max_focus_chars": MAX_FOCUS_CHARS,
                "params": Params().to_dict()}

    def rank(self, inp: Inputs) -> dict[str, Any]:
        """The list, the graph, how the focus was read, and (with ``path``) its explanation."""
        def make(rm: RepoMap, r, notes) -> dict[str, Any]:
            out = rm.view(r, inp.top)
            if inp.path:  # the selected file may have gone since: the ranking still stands
                try:
                    out["explain"] = self._explain(rm, r, inp.path)
                except UsageError as e:
                    out["explain_error"] = str(e)
            return out
        return self._with_ranking(inp, make)

    def explain(self, inp: Inputs) -> dict[str, Any]:
        if not inp.path:
            raise UsageError("name the file to explain (path)")
        return self._with_ranking(inp, lambda rm, r, notes: self._explain(rm, r, inp.path or ""))

    def map(self, inp: Inputs) -> dict[str, Any]:
        """The text map ``ripmap`` prints for these inputs, with its token count."""
        def make(rm: RepoMap, r, notes) -> dict[str, Any]:
            out = rm.render(r, tokens=inp.tokens)
            return {"text": out.text, "tokens": out.tokens, "budget": out.budget, "counter": out.counter,
                    "files_shown": len(out.files)}
        return self._with_ranking(inp, make)

    def search(self, query: str, limit: int | None) -> dict[str, Any]:
        if len(query) > 200:
            raise UsageError("the search query is longer than 200 characters; name an identifier")
        with self.live.session() as rm:
            res = rm.search(query, limit)
        return {"query": res.query, "total": res.total, "definitions": res.definitions,
                "hits": [h.as_dict() for h in res.hits]}

    def status(self) -> dict[str, Any]:
        """What changed since the page last looked: ``generation`` grows with each re-index."""
        return {"generation": self.live.generation}

    def runs(self) -> dict[str, Any]:
        return runs.list_runs(self.root)

    def run(self, folder: str, name: str) -> dict[str, Any]:
        return runs.run_detail(self.root, folder, name)

    # -- helpers ------------------------------------------------------------------------
    def _with_ranking(self, inp: Inputs, make: Callable[[RepoMap, Any, list[str]], dict[str, Any]]) -> dict[str, Any]:
        params = inp.ranking_params()  # before the session: a bad preset costs no ranking
        t = time.perf_counter()
        notes: list[str] = []
        with self.live.session() as rm:
            chat = chat_targets(rm, inp.chat, notes)
            key = (self.live.generation, tuple(chat), inp.focus, params)
            if self._last is not None and self._last[0] == key:
                r = self._last[1]
            else:
                r = rm.rank(chat_files=chat, focus=inp.focus, params=params)
                self._last = (key, r)
            out = make(rm, r, notes)
        out["notes"] = notes
        out["generation"] = self.live.generation
        out["elapsed_ms"] = round((time.perf_counter() - t) * 1000, 1)
        return out

    @staticmethod
    def _explain(rm: RepoMap, r, path: str) -> dict[str, Any]:
        rel = inside(rm, path, "path")
        if rel not in r.scores:
            near = rm.suggest(rel)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise UsageError(f"{path}: not among the mapped files{hint}")
        return r.explain(rel).as_dict()


def inside(rm: RepoMap, raw: str, what: str) -> str:
    """``raw`` as a root-relative path, refusing one that leads out of the served root."""
    rel = rm.locate(raw)
    if Path(rel).is_absolute() or rel == ".." or rel.startswith("../") or "\0" in rel:
        raise UsageError(f"{what} {raw}: outside the served root {rm.root}")
    target = rm.root / rel
    try:
        target.resolve().relative_to(rm.root)
    except (ValueError, OSError):
        raise UsageError(f"{what} {raw}: leads outside the served root {rm.root}") from None
    return rel


def chat_targets(rm: RepoMap, given: tuple[str, ...], notes: list[str]) -> list[str]:
    """:meth:`RepoMap.chat_targets`, confined as every path the page sends is (:func:`inside`)."""
    return rm.chat_targets(given, notes, confine=lambda raw: inside(rm, raw, "chat file"))
