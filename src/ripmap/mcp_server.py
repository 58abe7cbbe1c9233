"""``ripmap-mcp``: the repository map as Model Context Protocol tools, over stdio.

An MCP client (Claude Code, Claude Desktop, Cursor, ...) starts this process and
talks JSON-RPC on its stdin/stdout, so nothing here may write to stdout: logs and
ripmap's own warnings go to stderr (the SDK also points fd 1 at stderr while it
serves, so a stray print from a library or a child cannot corrupt the wire).

Three tools, each a thin front end over :class:`ripmap.api.RepoMap`:

* ``repo_map``            the ranked, token-budgeted map (what ``ripmap`` prints);
* ``search_identifiers``  where a name is defined and used;
* ``explain_rank``        why one file ranks where it does.

Callers are language models, so arguments are accepted the way models tend to send
them (numbers as strings, "" for "not given", one string for a list) and every
failure comes back as a one-line tool error the model can read and act on, never as
a traceback.

Warm calls: one :class:`RepoMap` per project root stays in a small LRU, so the graph,
git signals and BM25 index are reused across calls. Before each reuse the file list
is re-discovered (cheap: ``git ls-files`` plus a stat per file) and compared, with
git HEAD and the config, against the stamp taken when the RepoMap was built; any
difference builds a fresh one (itself fast: unchanged files come from the on-disk
tag cache). Measured on a ~1000-file tree: fresh RepoMap ≈1.1 s per call, reused
≈0.6 s, the staleness check ≈0.03 s.
"""
from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Collection, Iterator, Sequence

# The SDK is an optional extra (``ripmap[mcp]``). Without it this module still imports,
# so ``main`` can say what to install instead of dying in a traceback.
try:  # mcp 2.x renamed FastMCP to MCPServer; 1.x (still allowed by the extra) has the old name
    from mcp.server.mcpserver import MCPServer as _Server
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import CallToolResult
except ImportError:  # pragma: no cover - exercised only without mcp 2.x
    try:
        from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef]
        from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef]
        from mcp.types import CallToolResult
    except ImportError:
        _Server = None  # type: ignore[assignment,misc]

        class ToolError(Exception):  # type: ignore[no-redef]
            """Stand-in so the tool functions stay importable without the SDK."""
try:  # the SDK's own dependency: it validates tool arguments against the signatures below
    from pydantic import BeforeValidator, ValidationError
except ImportError:  # pragma: no cover - only without the SDK
    BeforeValidator = None  # type: ignore[assignment,misc]

    class ValidationError(Exception):  # type: ignore[no-redef]
        """Stand-in: without pydantic nothing raises it."""

from . import __version__, languages
from .api import RepoMap
from .config import Config, load_config
from .discover import discover
from .errors import RipmapError, finish_stdout
from .gitinfo import git_head
from .rank import Ranking
from .rank.params import Params
from .rank.signals import split_identifier

log = logging.getLogger("ripmap.mcp")

DEFAULT_TOKENS = 8192
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
LRU_SIZE = 4

INSTRUCTIONS = """\
ripmap maps a code repository for you: it parses every source file, builds the graph of \
which files define and reference which symbols, ranks files and symbols (PageRank over \
references, git co-change and recency, your focus), and returns what fits a token budget.
Start with repo_map when you begin work in a repository or a new area of it; pass the \
files you already have open as chat_files and a few words about the task as focus. Use \
search_identifiers to find where a name is defined or used, and explain_rank when you \
want to know why a file is (or is not) near the top. project_root should be an absolute path."""


# ----------------------------------------------------------------------- argument hygiene

def _not_bool(value: object) -> object:
    """JSON ``true``/``false`` is no count: without this the SDK's validation reads
    ``tokens: true`` as a budget of 1 token (pydantic's lax mode takes bools as ints)."""
    if isinstance(value, bool):
        raise ValueError("booleans are not numbers")
    return value


#: A count argument (tokens, limit) as models send it: 4096, "4096", "4,096 tokens"; not true.
_Count = (Annotated[int | str | None, BeforeValidator(_not_bool)] if BeforeValidator is not None
          else int | str | None)

#: What each argument must be, for one-line errors when a call does not match the schema.
_ARG_HINTS = {
    "project_root": "the absolute path of the repository, as a string",
    "focus": "a string: a few words or identifiers describing the task",
    "chat_files": "a list of file paths (strings) relative to project_root",
    "mentioned_idents": "a list of identifiers (strings)",
    "tokens": "a positive integer such as 4096",
    "preset": 'a preset name (string) such as "debug"',
    "query": "a string: a name or part of one",
    "limit": "a positive integer such as 50",
    "path": "a file path (string) relative to project_root",
}


def _shown(value: object) -> str:
    """A rejected value as the caller sent it (JSON spelling), cut short."""
    try:
        s = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        s = repr(value)
    return s if len(s) <= 40 else s[:37] + "..."


def _argument_errors(e: ValidationError) -> str:
    """The SDK's schema check of a call, as one line naming each bad argument.

    Its own message is pydantic's: one block of lines per union member tried, each
    with a documentation URL, which costs a model tokens and says little it can act
    on. What it needs is which argument, what was wrong, and what to send instead.
    """
    parts: dict[str, str] = {}
    for err in e.errors():
        loc = err.get("loc") or ("arguments",)
        name = str(loc[0])
        if name in parts:
            continue  # one complaint per argument (a union reports once per member)
        hint = _ARG_HINTS.get(name)
        if err.get("type") == "missing":
            parts[name] = f"{name} is required" + (f": {hint}" if hint else "")
        elif hint is not None:
            parts[name] = f"{name} must be {hint} (got {_shown(err.get('input'))})"
        else:
            parts[name] = f"{name}: {_one_line(err.get('msg', 'invalid'))}"
    return "; ".join(parts.values()) or _one_line(e)


if _Server is not None:
    class _RipmapServer(_Server):  # type: ignore[misc,valid-type]
        """The SDK's server with one-line messages for calls that do not match a schema."""

        async def call_tool(self, name, arguments, *args, **kwargs):  # type: ignore[no-untyped-def]
            try:
                return await super().call_tool(name, arguments, *args, **kwargs)
            except ToolError as e:
                if isinstance(e.__cause__, ValidationError):
                    raise ToolError(f"Error executing tool {name}: {_argument_errors(e.__cause__)}") \
                        from e.__cause__
                raise


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _positive_int(value: int | str | None, name: str, default: int, *, example: int) -> int:
    """An integer argument a model may have sent as "4096", " 4,096 ", 4096.0 or ""."""
    if _blank(value):
        return default
    n: int | None = None
    if isinstance(value, bool):  # True is an int to Python, not a budget
        pass
    elif isinstance(value, int):
        n = value
    elif isinstance(value, float):
        n = int(value) if value.is_integer() else None
    elif isinstance(value, str):
        s = re.sub(r"[,_\s]", "", value.strip().lower())
        s = re.sub(r"tokens?$", "", s)
        try:
            f = float(s)
        except ValueError:
            f = None
        if f is not None and f.is_integer():
            n = int(f)
    if n is None:
        raise ToolError(f"{name} must be a positive integer such as {example} (got {value!r})")
    if n < 1:
        raise ToolError(f"{name} must be at least 1 (got {n})")
    return n


def _opt_text(value: str | None) -> str | None:
    """"" and whitespace mean "not given": models fill every optional field."""
    if _blank(value):
        return None
    return str(value).strip()


def _str_list(value: list[str] | str | None, name: str) -> list[str]:
    """A list argument sent as a list, one string, "a.py, b.py" or a JSON array in a string."""
    if _blank(value):
        return []
    items: list[object]
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                parsed = json.loads(s)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return _str_list(parsed, name)  # type: ignore[arg-type]
        items = list(re.split(r"[,\n]", s))
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ToolError(f"{name} must be a list of strings (got {type(value).__name__})")
    out: list[str] = []
    for it in items:
        if not isinstance(it, str):
            raise ToolError(f"{name} must be a list of strings (got an item {it!r})")
        it = it.strip()
        if it:
            out.append(it)
    return list(dict.fromkeys(out))


def _resolve_root(project_root: str) -> Path:
    """The project root as a directory, with an error that says where a relative path led."""
    if _blank(project_root):
        raise ToolError("project_root is required: the absolute path of the repository to map")
    raw = str(project_root).strip()
    p = Path(raw).expanduser()
    resolved = p if p.is_absolute() else Path.cwd() / p
    if not resolved.exists():
        if p.is_absolute():
            raise ToolError(f"project_root {raw}: no such directory")
        raise ToolError(f"project_root {raw}: no such directory (relative paths are resolved against the "
                        f"server's working directory {Path.cwd()}, giving {resolved}; pass an absolute path)")
    if not resolved.is_dir():
        raise ToolError(f"project_root {raw}: not a directory ({resolved})")
    return resolved.resolve()


def _params(preset: str | None) -> tuple[Params | None, str]:
    """Parameters of a named preset (case-insensitive), plus the name to report."""
    name = _opt_text(preset)
    if name is None:
        return None, "default"
    from .presets import list_presets, load_preset

    presets = list_presets()
    if name not in presets:
        lowered = {k.lower(): k for k in presets}
        name = lowered.get(name.lower(), name)
    return load_preset(name).params, name  # an unknown name raises UsageError listing the choices


def _one_line(msg: object) -> str:
    return " ".join(str(msg).split())


@contextmanager
def _tool_errors(tool: str) -> Iterator[None]:
    """Turn every failure into a ToolError with one readable line.

    The SDK shows a ToolError's text to the model (``isError`` result) but hides any
    other exception behind a generic message, which a model cannot act on. Anything
    that is not a ripmap error is a bug: its traceback goes to the log (stderr).
    """
    try:
        yield
    except ToolError as e:
        raise ToolError(_one_line(e)) from None
    except RipmapError as e:
        raise ToolError(_one_line(e)) from None
    except (ValueError, OSError) as e:
        raise ToolError(_one_line(e) or type(e).__name__) from None
    except Exception as e:
        log.exception("%s failed", tool)
        raise ToolError(f"internal error in {tool}: {type(e).__name__}: {_one_line(e)} "
                        f"(a ripmap bug; details are in the server log)") from None


# ------------------------------------------------------------------------- warm RepoMaps

def _stamp(root: Path, use_git: bool) -> tuple:
    """What a RepoMap's state depends on: config, the mapped files' (path, size, mtime), HEAD.

    Same inputs as ``Index.fingerprint`` (plus config and HEAD, which feed discovery
    and the git signals), so an equal stamp means a reused RepoMap is still exact.
    """
    config: Config = load_config(root)
    disc = discover(root, config, language_of=languages.language_for_path)
    h = hashlib.blake2b(digest_size=16)
    for f in disc.files:
        h.update(f"{f.rel}\0{f.size}\0{f.mtime_ns}\n".encode())
    return (config, h.hexdigest(), git_head(root) if use_git else None)


@dataclass
class _Entry:
    repo: RepoMap
    stamp: tuple
    notes: list[str] = field(default_factory=list)  # warnings not yet shown to the client


class _Pool:
    """An LRU of RepoMaps, one per project root, each used by one call at a time.

    A RepoMap is not meant for concurrent use (its stages build lazily), and the SDK
    runs sync tools on worker threads, so each root has a lock that is held for the
    whole call, including the staleness check and any rebuild.
    """

    def __init__(self, size: int = LRU_SIZE, cache_dir: str | None = None, use_git: bool = True) -> None:
        self.size = size
        self.cache_dir = cache_dir
        self.use_git = use_git
        self._lock = threading.Lock()
        self._entries: OrderedDict[Path, _Entry] = OrderedDict()
        self._root_locks: dict[Path, threading.Lock] = {}

    @contextmanager
    def session(self, root: Path) -> Iterator[_Entry]:
        with self._lock:
            root_lock = self._root_locks.setdefault(root, threading.Lock())
        evicted: list[tuple[Path, _Entry]] = []
        try:
            with root_lock:
                stamp = _stamp(root, self.use_git)
                with self._lock:
                    entry = self._entries.get(root)
                    if entry is not None:
                        self._entries.move_to_end(root)
                if entry is None or entry.stamp != stamp:
                    if entry is not None:
                        log.info("%s changed; rebuilding its map", root)
                        with self._lock:
                            self._entries.pop(root, None)
                        entry.repo.close()
                    entry = self._build(root, stamp)
                    with self._lock:
                        self._entries[root] = entry
                        self._entries.move_to_end(root)
                        while len(self._entries) > self.size:
                            evicted.append(self._entries.popitem(last=False))
                yield entry
        finally:
            # Closed under the evicted root's own lock, after ours is released: never
            # while another call is using it, and without holding two root locks at once.
            for old_root, old in evicted:
                with self._lock:
                    lock = self._root_locks[old_root]
                with lock:
                    old.repo.close()

    def _build(self, root: Path, stamp: tuple) -> _Entry:
        notes: list[str] = []

        def warn(msg: str) -> None:
            log.warning("%s: %s", root, msg)
            notes.append(msg)

        repo = RepoMap(root, use_cache=True, cache_dir=self.cache_dir, use_git=self.use_git,
                       progress=False, warn=warn)
        try:
            repo.index  # noqa: B018 - index now, so its warnings reach this call's output
        except BaseException:
            repo.close()
            raise
        return _Entry(repo, stamp, notes)

    def close(self) -> None:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for e in entries:
            e.repo.close()


_pool = _Pool()


def _drain_notes(entry: _Entry) -> list[str]:
    out = list(entry.notes)
    entry.notes.clear()
    return out


# ------------------------------------------------------------------------ path handling

def _mapped_rel(repo: RepoMap, raw: str, mapped: Collection[str]) -> str:
    """A path the model gave (root-relative, './'-prefixed or absolute) as a root-relative one."""
    rel = repo.relpath(raw.strip())
    if rel.startswith("./"):
        rel = rel[2:]
    if rel not in mapped and not Path(raw).is_absolute():
        # a model sometimes repeats the root's own name: "myrepo/src/x.py"
        head, _, rest = rel.partition("/")
        if rest and head == repo.root.name and rest in mapped:
            rel = rest
    return rel


def _suggest(rel: str, mapped: Sequence[str]) -> str:
    base = rel.rsplit("/", 1)[-1]
    near = [m for m in mapped if m.rsplit("/", 1)[-1] == base][:3]
    near += [m for m in difflib.get_close_matches(rel, mapped, n=3, cutoff=0.6) if m not in near]
    return f" (did you mean {', '.join(near[:3])}?)" if near else ""


def _chat_targets(repo: RepoMap, given: list[str], notes: list[str]) -> list[str]:
    """Chat files as mapped root-relative paths; directories expand to their mapped files.

    A path that does not exist, or lies outside the root, is an error, as it is for
    ``ripmap --chat``: a map ranked without the file the model meant looks like an
    answer but is not, and the message says what to correct. A file or directory
    that exists but holds no mapped source (a README, an image) only earns a note.
    """
    mapped = [f.rel for f in repo.index.files]
    mapped_set = set(mapped)
    out: list[str] = []
    for raw in given:
        rel = _mapped_rel(repo, raw, mapped_set)
        if rel in mapped_set:
            out.append(rel)
            continue
        if Path(rel).is_absolute() or rel == ".." or rel.startswith("../"):
            raise ToolError(f"chat_files: {raw} is outside project_root {repo.root}")
        target = repo.root / rel
        if target.is_dir():
            prefix = "" if rel in (".", "") else rel.rstrip("/") + "/"
            inside = [m for m in mapped if m.startswith(prefix)]
            if inside:
                out.extend(inside)
            else:
                notes.append(f"chat file {raw}: a directory without mapped source files; ignored")
        elif target.exists():
            notes.append(f"chat file {raw} is not a mapped source file; ignored")
        else:
            raise ToolError(f"chat_files: {raw}: no such file under {repo.root}{_suggest(rel, mapped)}")
    return list(dict.fromkeys(out))


# ------------------------------------------------------------------------------ the tools

def repo_map(project_root: str, focus: str | None = None, chat_files: list[str] | str | None = None,
             mentioned_idents: list[str] | str | None = None, tokens: _Count = DEFAULT_TOKENS,
             preset: str | None = None) -> str:
    """Ranked map of a repository: its most important files with their key classes, functions
    and signatures, in rank order, cut to fit a token budget.

    Call this first when you start working in a repository (or a new part of it), before
    reading files one by one: it shows where things live and which files matter for the
    task, so you can choose what to open. Call it again with a different focus or
    chat_files when the task moves.

    Args:
        project_root: absolute path of the repository (its top directory).
        focus: a few words or identifiers describing the task, e.g. "token refresh" or
            "parse_config"; files and symbols matching it (and their neighbours in the
            reference graph) rank higher. Omit for a general overview.
        chat_files: files you already have in context or are editing (paths relative to
            project_root, or absolute; a directory means all files in it). They are not
            repeated in the map; files that use them or change with them rank higher.
            A path that does not exist or lies outside project_root is an error.
        mentioned_idents: identifiers the user mentioned; their definitions rank higher.
        tokens: token budget of the whole returned text, stats line included (default 8192).
            Use 1024-2048 for a quick look, 8192+ for a thorough overview.
        preset: ranking preset: "default", "debug" (favour recently changed, co-changing
            files), "explore" (broad structural overview), "refactor" (follow references),
            or a trained preset name.

    Returns the map text followed by one stats line (files and symbols shown of the total,
    tokens used of the budget).
    """
    with _tool_errors("repo_map"):
        budget = _positive_int(tokens, "tokens", DEFAULT_TOKENS, example=4096)
        params, preset_name = _params(preset)
        root = _resolve_root(project_root)
        focus_s = _opt_text(focus)
        idents = _str_list(mentioned_idents, "mentioned_idents")
        t0 = time.perf_counter()
        with _pool.session(root) as entry:
            repo = entry.repo
            notes = _drain_notes(entry)
            chat = _chat_targets(repo, _str_list(chat_files, "chat_files"), notes)
            ranking = repo.rank(chat_files=chat, focus=focus_s, mentioned_idents=idents, params=params)
            text, footer = _fit(repo, ranking, chat, budget, preset_name, notes, t0)
        return text + footer


def _fit(repo: RepoMap, ranking: Ranking, chat: list[str], budget: int, preset_name: str,
         notes: list[str], t0: float) -> tuple[str, str]:
    """Render so that map + notes + stats line together stay within the budget.

    The map gets what the footer leaves: the footer is counted with the same counter
    (on the joined text, since BPE merges across the seam) and taken off the map's
    share until the whole answer fits. When even an empty map is too much, the notes
    go; when the stats line alone does not fit, the call fails with the smallest
    budget that works, rather than answering over budget.
    """
    from .render import render_map
    from .render.tokens import default_counter

    counter = default_counter()
    rendered, fitter = render_map(ranking, repo.index.tags, tokens=budget, counter=counter,
                                  chat_files=chat, title=repo.root.name)
    files_total, symbols_total = rendered.files_total, rendered.symbols_total

    def tail(text: str, files: int, symbols: int, note_lines: Sequence[str], of: int = budget) -> str:
        lines = [f"note: {n}" for n in note_lines[:5]]
        used = counter.count(text) + 40
        elapsed_s = time.perf_counter() - t0
        for _ in range(3):  # the stats line reports its own tokens too; settle the count
            stats = (f"[ripmap] shown {files} of {files_total} files, {symbols} of "
                     f"{symbols_total} symbols; {used} of {of} tokens ({counter.name}); "
                     f"preset {preset_name}; {elapsed_s:.2f}s")
            out = "\n".join([*lines, stats]) + "\n"
            new = counter.count(_join(text, out))
            if new == used:
                break
            used = new
        return out

    def fits(text: str, footer: str) -> bool:
        return counter.count(_join(text, footer)) <= budget

    footer = tail(rendered.text, len(rendered.blocks), rendered.symbols_shown, notes)
    for _ in range(6):
        over = counter.count(_join(rendered.text, footer)) - budget
        if over <= 0:
            return _join(rendered.text, ""), footer
        share = min(rendered.tokens, budget) - over - 2
        if share < 1:
            break
        rendered = fitter.fit(share)
        footer = tail(rendered.text, len(rendered.blocks), rendered.symbols_shown, notes)
    if fits(rendered.text, footer):
        return _join(rendered.text, ""), footer
    for note_lines in (notes, ()):  # no room for a map: the footer alone, with its notes if they fit
        footer = tail("", 0, 0, note_lines)
        if fits("", footer):
            return "", footer
    need = counter.count(footer)
    for _ in range(3):  # the budget is printed in the stats line: count it with that number
        again = counter.count(tail("", 0, 0, (), of=need))
        if again <= need:
            break
        need = again
    raise ToolError(f"tokens must be at least {need} (the stats line alone takes {need} tokens); "
                    f"got {budget}")


def _join(text: str, footer: str) -> str:
    return (text if not text or text.endswith("\n") else text + "\n") + footer


def search_identifiers(project_root: str, query: str,
                       limit: _Count = DEFAULT_LIMIT) -> Annotated[CallToolResult, list[dict] | str]:
    """Find where an identifier (function, class, method, variable...) is defined and used.

    Use it to locate a symbol before opening files ("where is parse_config defined?",
    "who calls refresh_token?"). Matching is case-insensitive on names: exact name,
    prefix, substring, or all words of the query as identifier parts (so "token refresh",
    "refreshToken" and "refresh_token" find each other). It searches names, not file
    contents or comments.

    Args:
        project_root: absolute path of the repository.
        query: the name or part of a name, e.g. "RepoMap", "render", "user id".
        limit: maximum rows returned (default 50); the first line says how many matched
            in all, so refine the query when it is much larger.

    Returns rows {file, line, name, kind, role: "definition"|"reference", signature,
    parent}, definitions first, then exact matches before partial ones, then by file and
    line (as structured content, and as one compact text line per row); or a one-line
    message when nothing matches.
    """
    with _tool_errors("search_identifiers"):
        q = _opt_text(query)
        if q is None:
            raise ToolError("query must be a non-empty identifier or part of one, e.g. 'parse_config'")
        cap = min(_positive_int(limit, "limit", DEFAULT_LIMIT, example=50), MAX_LIMIT)
        root = _resolve_root(project_root)
        with _pool.session(root) as entry:
            hits = _search(entry.repo.index.tags, q)
            nfiles = len(entry.repo.index.files)
        if not hits:
            msg = (f"no identifier in the {nfiles} mapped files of {root} matches {q!r} "
                   f"(names only, not text; try a shorter part of the name)")
            return _result(msg, msg)
        rows = [row for _key, row in hits[:cap]]
        ndefs = sum(1 for _k, r in hits if r["role"] == "definition")
        head = (f"{len(hits)} matches for {q!r} ({ndefs} definitions, {len(hits) - ndefs} references)"
                + (f"; showing the first {cap}" if len(hits) > cap else ""))
        return _result("\n".join([head, *map(_row_line, rows)]) + "\n", rows)


def _row_line(r: dict) -> str:
    """One row as ~20 tokens of text: what the model reads (indented JSON costs 3-4x more)."""
    line = f"{r['file']}:{r['line']} {r['role']} {r['kind']} {r['name']}"
    if r["parent"]:
        line += f" in {r['parent']}"
    if r["signature"]:
        line += f": {r['signature']}"
    return line


def _result(text: str, data: list[dict] | str) -> CallToolResult:
    # by alias, so the same call builds the result under mcp 1.x (camelCase fields) and 2.x
    return CallToolResult.model_validate({"content": [{"type": "text", "text": text}],
                                          "structuredContent": {"result": data}})


def _search(tags, q: str) -> list[tuple[tuple, dict]]:
    ql = q.lower()
    qtok = set(split_identifier(q))
    tok_memo: dict[str, bool] = {}
    hits: list[tuple[tuple, dict]] = []
    for rel in sorted(tags):
        for t in tags[rel]:
            name = t.name
            nl = name.lower()
            if nl == ql:
                quality = 0 if name == q else 1
            elif nl.startswith(ql):
                quality = 2
            elif ql in nl:
                quality = 3
            else:
                ok = tok_memo.get(name)
                if ok is None:
                    ok = bool(qtok) and qtok <= set(split_identifier(name))
                    tok_memo[name] = ok
                if not ok:
                    continue
                quality = 4
            row = {"file": rel, "line": t.line, "name": name, "kind": t.kind,
                   "role": "definition" if t.is_def else "reference", "signature": t.signature,
                   "parent": t.parent}
            hits.append(((0 if t.is_def else 1, quality, rel, t.line, name), row))
    hits.sort(key=lambda h: h[0])
    return hits


def explain_rank(project_root: str, path: str, chat_files: list[str] | str | None = None,
                 focus: str | None = None, preset: str | None = None) -> str:
    """Explain why one file ranks where it does in the repo map: its rank and the
    per-signal breakdown of its score.

    Use it when a file you expected is missing from (or surprisingly high in) repo_map,
    to decide whether to pass it as a chat file, change the focus, or use another preset.
    Pass the same chat_files, focus and preset you gave repo_map to explain that ranking.

    Args:
        project_root: absolute path of the repository.
        path: the file to explain, relative to project_root (or absolute).
        chat_files: as in repo_map.
        focus: as in repo_map.
        preset: as in repo_map.

    Returns a table: score = base × multiplier, where base sums weighted signals
    (structure = PageRank over references, cochange = changed together with the chat files
    in git, lexical = text match with focus/chat identifiers, focus = focus match spread
    over the reference graph) and the multipliers are boosts (depth, chat, mentions,
    recency, churn); then the rank among all files and its neighbours.
    """
    with _tool_errors("explain_rank"):
        if _blank(path):
            raise ToolError("path is required: the file to explain, relative to project_root")
        params, _name = _params(preset)
        root = _resolve_root(project_root)
        focus_s = _opt_text(focus)
        with _pool.session(root) as entry:
            repo = entry.repo
            notes = _drain_notes(entry)
            mapped = [f.rel for f in repo.index.files]
            target = _mapped_rel(repo, str(path), set(mapped))
            if target not in set(mapped):
                where = "no such file" if not (root / target).exists() else "not a mapped source file"
                raise ToolError(f"{path}: {where} among the {len(mapped)} mapped files of {root}"
                                f"{_suggest(target, mapped)}")
            chat = _chat_targets(repo, _str_list(chat_files, "chat_files"), notes)
            ranking = repo.rank(chat_files=chat, focus=focus_s, params=params)
            e = ranking.explain(target)
        n = len(ranking.files)
        lines = [e.table(), f"rank {e.rank} of {n} files"]
        i = e.rank - 1
        if i > 0:
            lines.append(f"  just above: #{i} {ranking.files[i - 1]} (score {ranking.scores[ranking.files[i - 1]]:.6g})")
        if i + 1 < n:
            lines.append(f"  just below: #{i + 2} {ranking.files[i + 1]} (score {ranking.scores[ranking.files[i + 1]]:.6g})")
        lines.extend(f"note: {m}" for m in notes[:5])
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- entry

TOOLS = (repo_map, search_identifiers, explain_rank)


def build_server():  # -> MCPServer; unannotated because the SDK is optional
    """The MCP server with ripmap's tools; their signatures and docstrings are the schemas."""
    if _Server is None:
        raise RipmapError("ripmap-mcp needs the MCP SDK: pip install 'ripmap[mcp]'")
    server = _RipmapServer("ripmap", instructions=INSTRUCTIONS)
    for fn in TOOLS:
        server.tool()(fn)
    return server


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ripmap-mcp",
        description="MCP server (stdio) exposing ripmap's repo_map, search_identifiers and explain_rank tools. "
                    "Started by an MCP client, not by hand: it speaks JSON-RPC on stdin/stdout.")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="tag cache location (default: $RIPMAP_CACHE_DIR or the user cache dir)")
    p.add_argument("--no-git", action="store_true", help="ignore git history (no recency, churn or co-change)")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), default="WARNING",
                   help="stderr log level (default: WARNING)")
    p.add_argument("--version", action="version", version=f"ripmap-mcp {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:  # --help / --version printed: flush now, so `ripmap-mcp --help | head` ends quietly
        finish_stdout()
        raise
    try:
        server = build_server()
    except RipmapError as e:
        print(f"ripmap-mcp: error: {e}", file=sys.stderr)
        return 1
    # Creating the server configured INFO logging (a line per request, to stderr). The
    # chosen level goes on the handlers too: some libraries (bm25s) give their loggers
    # a level of their own, which a root level alone cannot override.
    root_logger = logging.getLogger()
    root_logger.setLevel(args.log_level)
    for h in root_logger.handlers:
        h.setLevel(args.log_level)
    if args.cache_dir:
        _pool.cache_dir = args.cache_dir
    _pool.use_git = not args.no_git
    try:
        server.run()  # stdio
    except KeyboardInterrupt:
        pass
    except Exception as e:  # the transport itself failed: one line on stderr, never stdout
        print(f"ripmap-mcp: error: {type(e).__name__}: {_one_line(e)}", file=sys.stderr)
        if os.environ.get("RIPMAP_DEBUG"):
            raise
        return 1
    finally:
        _pool.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
