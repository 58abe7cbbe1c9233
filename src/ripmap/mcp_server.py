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

Warm calls: one :class:`RepoMap` per project root stays in a small LRU (a ``RepoMapPool``,
built in :func:`main`), so the graph, git signals and BM25 index are reused across calls.
Before each reuse ``RepoMap.is_stale`` compares a cheap fingerprint of the tree (a ``stat``
per mapped file and per directory, see ``ListingProbe``) with the last one found current;
when something moved, ``RepoMap.refresh`` brings the map up to date in place: only changed
files are read again, the reference graph and the lexical index are patched with their
rows, git history is read again only when HEAD moved. The same question asked twice on an
unchanged tree is answered from the ranking kept for it.
"""
from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Sequence

# The SDK is an optional extra (``ripmap[mcp]``, mcp>=2). Without it this module still
# imports, so ``main`` can say what to install instead of dying in a traceback.
try:
    from mcp.server.mcpserver import MCPServer as _Server
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import CallToolResult
except ImportError:  # pragma: no cover - exercised only without the SDK
    _Server = None  # type: ignore[assignment,misc]

    class ToolError(Exception):  # type: ignore[no-redef]
        """Stand-in so the tool functions stay importable without the SDK."""
try:  # the SDK's own dependency: it validates tool arguments against the signatures below
    from pydantic import BeforeValidator, ValidationError
except ImportError:  # pragma: no cover - only without the SDK
    BeforeValidator = None  # type: ignore[assignment,misc]

    class ValidationError(Exception):  # type: ignore[no-redef]
        """Stand-in: without pydantic nothing raises it."""

from .api import DEFAULT_TOKENS, WATCH_EVERY_S, WATCH_SHARE, Params, Ranking, RepoMap, RepoMapPool, __version__
from .errors import RipmapError, UsageError, finish_stdout
from .presets import resolve_params

log = logging.getLogger("ripmap.mcp")

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
    "preset": 'a preset name (string) such as "default"',
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
    """Parameters of a named preset, by its exact name, plus the name to report."""
    name = _opt_text(preset)
    if name is None:
        return None, "default"
    return resolve_params(name), name  # an unknown name raises UsageError listing the choices


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


# ------------------------------------------------------------------------ path handling

def _suggest(repo: RepoMap, rel: str) -> str:
    near = repo.suggest(rel)
    return f" (did you mean {', '.join(near)}?)" if near else ""


def _chat_targets(repo: RepoMap, given: list[str], notes: list[str]) -> list[str]:
    """:meth:`RepoMap.chat_targets`, its refusals worded for the ``chat_files`` argument:
    a path outside ``project_root`` or naming nothing there is an error, as it is for
    ``ripmap --chat``."""
    try:
        return repo.chat_targets(given, notes)
    except UsageError as e:
        raise ToolError(f"chat_files: {e}") from None


# ------------------------------------------------------------------------------ the tools

class Tools:
    """ripmap's three MCP tools over one pool of warm RepoMaps (:class:`ripmap.api.RepoMapPool`).

    The pool is the server's only state; :func:`main` builds it (with the command
    line's cache and git options) and registers these bound methods, whose signatures
    and docstrings are the schemas clients see.
    """

    def __init__(self, pool: RepoMapPool) -> None:
        self.pool = pool

    def all(self) -> tuple:
        return (self.repo_map, self.search_identifiers, self.explain_rank)

    def repo_map(self, project_root: str, focus: str | None = None, chat_files: list[str] | str | None = None,
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
            preset: ranking preset: "default" (the fitted defaults, also used when omitted)
                or the name of a preset distilled by training on this machine.

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
            with self.pool.session(root) as entry:
                repo = entry.repo
                notes = entry.drain_notes()
                chat = _chat_targets(repo, _str_list(chat_files, "chat_files"), notes)
                ranking = repo.rank(chat_files=chat, focus=focus_s, mentioned_idents=idents, params=params)
                return _answer(repo, ranking, budget, preset_name, notes, t0)

    def search_identifiers(self, project_root: str, query: str,
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
            with self.pool.session(root) as entry:
                found = entry.repo.search(q, cap)
                nfiles = len(entry.repo.files)
            if not found.total:
                msg = (f"no identifier in the {nfiles} mapped files of {root} matches {q!r} "
                       f"(names only, not text; try a shorter part of the name)")
                return _result(msg, msg)
            rows = [h.as_dict() for h in found.hits]
            head = (f"{found.total} matches for {q!r} ({found.definitions} definitions, "
                    f"{found.references} references)" + (f"; showing the first {cap}" if found.total > cap else ""))
            return _result("\n".join([head, *(h.as_text() for h in found.hits)]) + "\n", rows)

    def explain_rank(self, project_root: str, path: str, chat_files: list[str] | str | None = None,
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
            with self.pool.session(root) as entry:
                repo = entry.repo
                notes = entry.drain_notes()
                mapped = repo.files
                target = repo.locate(str(path))
                if target not in mapped:
                    where = "no such file" if not (root / target).exists() else "not a mapped source file"
                    raise ToolError(f"{path}: {where} among the {len(mapped)} mapped files of {root}"
                                    f"{_suggest(repo, target)}")
                chat = _chat_targets(repo, _str_list(chat_files, "chat_files"), notes)
                ranking = repo.rank(chat_files=chat, focus=focus_s, params=params)
                e = ranking.explain(target)
            n = len(ranking.files)
            lines = [e.table(), f"rank {e.rank} of {n} files"]
            i = e.rank - 1
            for j, label in ((i - 1, "just above"), (i + 1, "just below")):
                if 0 <= j < n:
                    lines.append(f"  {label}: #{j + 1} {ranking.files[j]} (score {ranking.scores[ranking.files[j]]:.6g})")
            lines.extend(f"note: {m}" for m in notes[:5])
            return "\n".join(lines) + "\n"


def _answer(repo: RepoMap, ranking: Ranking, budget: int, preset_name: str, notes: list[str], t0: float) -> str:
    """The map, then the notes and one stats line, together within ``budget`` tokens.

    The footer's largest possible cost (every count at its total, the longest time) is
    reserved before the map is fitted, so one fit is enough: the map gets the rest, and
    the stats line then reports what the whole answer costs, counted with the same
    counter on the joined text. With no room for a map, the footer comes alone, with its
    notes if they fit; when even the stats line does not fit, the call fails with the
    smallest budget that works, rather than answering over budget.
    """
    counter = repo.counter
    arrays = ranking.symbol_scores()
    files_total, symbols_total = len(ranking.files), len(arrays[0].tags) if arrays is not None else 0

    def stats(files: int, symbols: int, used: int, of: int, elapsed_s: float) -> str:
        return (f"[ripmap] shown {files} of {files_total} files, {symbols} of "
                f"{symbols_total} symbols; {used} of {of} tokens ({counter.name}); "
                f"preset {preset_name}; {elapsed_s:.2f}s")

    def tail(text: str, files: int, symbols: int, note_lines: Sequence[str], of: int = budget) -> str:
        lines = [f"note: {n}" for n in note_lines[:5]]
        used = counter.count(text) + 40
        elapsed_s = time.perf_counter() - t0
        for _ in range(3):  # the stats line reports its own tokens too; settle the count
            out = "\n".join([*lines, stats(files, symbols, used, of, elapsed_s)]) + "\n"
            new = counter.count(_join(text, out))
            if new == used:
                break
            used = new
        return out

    def fits(text: str, footer: str) -> bool:
        return counter.count(_join(text, footer)) <= budget

    # numbers cost tokens by their digits: the totals, the budget and 9999.99 s bound them
    worst = "\n".join([*(f"note: {n}" for n in notes[:5]),
                       stats(files_total, symbols_total, budget, budget, 9999.99)]) + "\n"
    reserve = counter.count(worst)
    if reserve < budget:
        rendered = repo.render(ranking, tokens=budget, reserve=reserve)
        if rendered.text:
            footer = tail(rendered.text, len(rendered.files), rendered.symbols_shown, notes)
            if fits(rendered.text, footer):
                return _join(rendered.text, footer)
    for note_lines in (notes, ()):  # no room for a map: the footer alone, with its notes if they fit
        footer = tail("", 0, 0, note_lines)
        if fits("", footer):
            return footer
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


def _result(text: str, data: list[dict] | str) -> CallToolResult:
    # by alias: the same call builds the result whichever field spelling the SDK uses
    return CallToolResult.model_validate({"content": [{"type": "text", "text": text}],
                                          "structuredContent": {"result": data}})


# ------------------------------------------------------------------------------- entry

def build_server(tools: Tools):  # -> MCPServer; unannotated because the SDK is optional
    """The MCP server with ripmap's tools; their signatures and docstrings are the schemas."""
    if _Server is None:
        raise RipmapError("ripmap-mcp needs the MCP SDK: pip install 'ripmap[mcp]'")
    server = _RipmapServer("ripmap", instructions=INSTRUCTIONS)
    for fn in tools.all():
        server.tool(description=inspect.cleandoc(fn.__doc__ or ""))(fn)
    return server


def _seconds(text: str) -> float:
    v = float(text) if re.fullmatch(r"\s*\d+(\.\d*)?\s*", text) else -1.0
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds (0 or more), got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ripmap-mcp",
        description="MCP server (stdio) exposing ripmap's repo_map, search_identifiers and explain_rank tools. "
                    "Started by an MCP client, not by hand: it speaks JSON-RPC on stdin/stdout.")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="tag cache location (default: $RIPMAP_CACHE_DIR or the user cache dir)")
    p.add_argument("--no-git", action="store_true", help="ignore git history (no recency, churn or co-change)")
    p.add_argument("--watch-every", type=_seconds, default=WATCH_EVERY_S, metavar="SECONDS",
                   help=f"between calls, check open repositories for changes this often and read them "
                        f"ahead of the next call (default {WATCH_EVERY_S:g}; a large tree less often, at most "
                        f"{WATCH_SHARE * 100:g}%% of a core; 0: never). Calls still check the tree themselves")
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
    pool = RepoMapPool(LRU_SIZE, cache_dir=args.cache_dir, use_git=not args.no_git, log=log, watch_every=args.watch_every)
    try:
        server = build_server(Tools(pool))
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
        pool.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
