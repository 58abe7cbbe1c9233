"""``ripmap-train``: mine cases from git history, evaluate, search, reason, distill.

Phases (seed 002): extract cases → evaluate / collect failures → classical search or
L1 reasoning episodes → distill presets. Every phase runs offline with the default
``heuristic`` agent; real LLM agents are opt-in with ``--agent``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from ..errors import RipmapError, UsageError, drop_stdout, finish_stdout

EPILOG = """\
examples:
  ripmap-train --repo ~/src/httpx --extract-only --output cases.json
  ripmap-train --repo ~/src/httpx --repo ~/src/fzf --eval --preset default
  ripmap-train --repo ~/src/httpx --strategy tpe --budget 50 --run-name tpe1
  ripmap-train --repo ~/src/httpx --reason --episodes 20 --agent heuristic --run-name l1
  ripmap-train --reason --agent claude --episodes 20 --run-name l1 --resume
  ripmap-train --list | --show l1 | --show-insights l1
  ripmap-train --distill l1

Runs are written to training/runs/<run>/ (--out to change). Every LLM reply is stored,
so --replay RUN reproduces a run exactly without calling the agent.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        print(f"ripmap-train: error: {message} (see ripmap-train --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ripmap-train", description="Tune ripmap's ranking parameters on cases mined from git history.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("repositories")
    src.add_argument("--repo", action="append", default=[], metavar="PATH", help="a local git repository (repeatable)")
    src.add_argument("--corpus", metavar="FILE", help="TOML list of repositories ([[repo]] path/url, language, notes)")
    src.add_argument("--curated", action="store_true", help="the built-in list of public repositories (needs network to clone)")
    src.add_argument("--clone-dir", default="training/corpus", metavar="DIR", help="where --curated/--corpus URLs are cloned (default: training/corpus)")
    src.add_argument("--cases", metavar="FILE", help="use cases from a file written by --extract-only instead of mining")

    mine = p.add_argument_group("cases")
    mine.add_argument("--snapshot-back", type=int, default=300, metavar="N", help="snapshot N non-merge commits before HEAD (default: 300)")
    mine.add_argument("--max-commits", type=int, default=300, metavar="N", help="commits after the snapshot to mine (default: 300)")
    mine.add_argument("--min-files", type=int, default=2, metavar="N", help="fewest changed source files in a case commit (default: 2)")
    mine.add_argument("--max-files", type=int, default=12, metavar="N", help="most changed source files in a case commit (default: 12)")
    mine.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                      help="which tasks to mine: A (a changed file in the chat), A+msg (that file plus the commit "
                           "message as focus), B (the message alone) (default: all three)")
    mine.add_argument("--holdout", type=float, default=0.3, metavar="F", help="newest fraction of cases kept for reporting only (default: 0.3)")
    mine.add_argument("--seed", type=int, default=0, help="random seed for samplers and bootstrap (default: 0)")

    act = p.add_argument_group("what to do")
    act.add_argument("--extract-only", action="store_true", help="mine cases and write them to --output")
    act.add_argument("--output", metavar="FILE", help="output file for --extract-only / --distill")
    act.add_argument("--eval", action="store_true", help="evaluate parameters and print the metrics table")
    act.add_argument("--params", metavar="FILE", help="parameters to evaluate / start from (JSON; its values override --preset's)")
    act.add_argument("--preset", metavar="NAME", help="named preset to evaluate / start from")
    act.add_argument("--collect-failures", metavar="FILE", help="write the failing cases with explanations to FILE")
    act.add_argument("--failure-threshold", type=float, default=0.5, metavar="X", help="per-case NDCG@10 below which a case fails (default: 0.5)")
    act.add_argument("--strategy", choices=("random", "tpe", "cmaes", "grid", "lhs"), help="classical search on Optuna")
    act.add_argument("--budget", type=int, default=50, metavar="N", help="evaluations for --strategy (default: 50)")
    act.add_argument("--search-params", metavar="A,B,...",
                     help="search only these parameters (comma-separated); the rest stay at the start point "
                          "(default: all)")
    act.add_argument("--storage", metavar="URL", help="Optuna storage URL shared by workers (default: SQLite in the run folder)")
    act.add_argument("--sensitivity", action="store_true", help="ablation, one-at-a-time sweeps and pairwise interactions")
    act.add_argument("--reason", action="store_true", help="L1: LLM reasoning episodes over ranking failures")
    act.add_argument("--episodes", type=int, default=10, metavar="N", help="L1 episodes (default: 10)")
    act.add_argument("--agent", default="heuristic", metavar="NAME",
                     help="heuristic (default, offline) | claude | gemini | codex | openai:MODEL | anthropic:MODEL")
    act.add_argument("--model", metavar="M", help="model passed to the agent CLI")
    act.add_argument("--agentic", action="store_true", help="give CLI agents read-only tools on the run folder")
    act.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    act.add_argument("--timeout", type=float, default=300.0, metavar="S", help="agent call timeout in seconds (default: 300)")
    act.add_argument("--prompt", metavar="FILE", help="promptgram (Markdown: Role, Policy, Heuristics, Style) for L1")
    act.add_argument("--min-confidence", type=float, default=0.3, metavar="X", help="proposals below this confidence are not applied (default: 0.3)")
    act.add_argument("--dangerously-skip-permissions", action="store_true",
                     help="let CLI agents bypass their approval/sandbox prompts (off by default)")
    act.add_argument("--run-name", metavar="NAME", help="run folder name (default: a timestamp)")
    act.add_argument("--resume", action="store_true", help="continue the named run from its last finished episode")
    act.add_argument("--replay", metavar="RUN", help="re-run a loop from RUN's stored agent replies")
    act.add_argument("--list", action="store_true", help="list runs")
    act.add_argument("--show", metavar="RUN", help="episode table of a run")
    act.add_argument("--show-insights", metavar="RUN", nargs="?", const="", help="insights across runs (or one run)")
    act.add_argument("--distill", metavar="RUN", help="distill a run's scratchpad into presets, heuristics, warnings")
    act.add_argument("--out", default="training/runs", metavar="DIR", help="runs folder (default: training/runs)")
    act.add_argument("--cache-dir", metavar="DIR", help="snapshot worktrees and tag caches (default: user cache dir)")
    act.add_argument("--cleanup-snapshots", action="store_true", help="remove snapshot worktrees of the given repos and exit")
    act.add_argument("-v", "--verbose", action="store_true", help="print the traceback of an internal error")
    from .. import __version__

    p.add_argument("--version", action="version", version=f"ripmap-train {__version__}")
    return p


def default_cache_dir() -> Path:
    env = os.environ.get("RIPMAP_CACHE_DIR")
    if env:
        return Path(env) / "train"
    import platformdirs

    return Path(platformdirs.user_cache_dir("ripmap")) / "train"


def say(msg: str) -> None:
    print(f"ripmap-train: {msg}", file=sys.stderr)


def repo_specs(args) -> list:
    from .corpus import CURATED, RepoSpec, load_corpus

    specs = [RepoSpec(Path(r).resolve().name, path=Path(r).expanduser().resolve()) for r in args.repo]
    if args.corpus:
        specs += load_corpus(args.corpus)
    if args.curated:
        specs += list(CURATED)
    return specs


def mine_all(args) -> list:
    """Mine (or load) cases for every repository; returns MinedRepo objects."""
    from .corpus import ensure_local
    from .oracle import TASKS, MinedRepo, mine_cases

    if args.cases:
        return _load_cases_file(args.cases)
    specs = repo_specs(args)
    if not specs:
        raise UsageError("no repositories: give --repo PATH, --corpus FILE, --curated or --cases FILE")
    out = []
    for s in specs:
        root = ensure_local(s, args.clone_dir)
        m = mine_cases(root, snapshot_back=args.snapshot_back, max_commits=args.max_commits,
                       min_files=args.min_files, max_files=args.max_files, holdout=args.holdout, name=s.name,
                       tasks=tuple(args.tasks or TASKS))
        say(f"{s.name}: {len(m.cases)} cases from commits after {m.snapshot[:10]} "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(m.skipped.items())) or 'none skipped'})")
        out.append(m)
    if not any(m.cases for m in out):
        raise RipmapError("no training cases: the repositories have no qualifying commits after their snapshots "
                          "(try a larger --snapshot-back / --max-commits or --max-files)")
    return out


def _load_cases_file(path: str) -> list:
    """MinedRepo objects from a file written by ``--extract-only``; any other file is
    bad usage with one line saying so, never a traceback from deep in the parsing."""
    from .oracle import MinedRepo

    what = "not a cases file written by --extract-only"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    except ValueError as e:
        raise UsageError(f"{path}: {what} (not JSON: {e})") from None
    if not isinstance(data, dict) or "repos" not in data:
        raise UsageError(f"{path}: {what}")
    try:
        cases = load_cases_from(data)
        out = []
        for r in data["repos"]:
            mine = [c for c in cases if c.repo == r["name"]]
            out.append(MinedRepo(r["name"], Path(r["root"]), r["snapshot"], int(r.get("snapshot_time", 0)), mine,
                                 files_at_snapshot=int(r.get("files", 0))))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        raise UsageError(f"{path}: {what} ({detail})") from None
    return out


def load_cases_from(data: dict) -> list:
    from .oracle import Case

    return [Case.from_dict(d) for d in data["cases"]]


def write_cases(mined: Sequence, path: str) -> None:
    data = {"repos": [{"name": m.repo, "root": str(m.root), "snapshot": m.snapshot, "snapshot_time": m.snapshot_time,
                       "files": m.files_at_snapshot} for m in mined],
            "cases": [c.to_dict() for m in mined for c in m.cases]}
    Path(path).write_text(json.dumps(data, indent=1), encoding="utf-8")


def start_params(args):
    from ..presets import resolve_params

    return resolve_params(args.preset or None, args.params or None)  # the CLI's rule: the file over the preset


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out_dir = Path(args.out)
    if args.list:
        from .views import list_runs

        print(list_runs(out_dir))
        return 0
    if args.show:
        from .views import show_run

        print(show_run(out_dir, args.show))
        return 0
    if args.show_insights is not None:
        from .views import show_insights

        print(show_insights(out_dir, args.show_insights or None))
        return 0
    if args.distill and not (args.repo or args.corpus or args.curated or args.cases):
        from .distill import distill_run

        print(distill_run(out_dir, args.distill, args=args, evaluator=None))
        return 0
    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    if args.cleanup_snapshots:
        from .corpus import ensure_local
        from .oracle import cleanup_snapshots

        n = sum(cleanup_snapshots(ensure_local(s, args.clone_dir), cache_dir) for s in repo_specs(args))
        say(f"removed {n} snapshot worktree(s)")
        return 0
    for name, v in (("--holdout", args.holdout),):
        if not 0.0 <= v < 1.0:
            raise UsageError(f"{name} must be in [0, 1)")
    if args.budget < 1 or args.episodes < 1:
        raise UsageError("--budget and --episodes must be at least 1")
    if args.extract_only and not args.output:  # before mining, which takes a while
        raise UsageError("--extract-only needs --output FILE")
    params = start_params(args)  # a bad --preset / --params is usage: say so before the slow part
    mined = mine_all(args)
    if args.extract_only:
        write_cases(mined, args.output)
        say(f"wrote {sum(len(m.cases) for m in mined)} cases to {args.output}")
        return 0

    from .evaluate import Evaluator

    ev = Evaluator(mined, cache_dir=cache_dir, failure_threshold=args.failure_threshold, progress=say)
    if args.distill:
        from .distill import distill_run

        print(distill_run(out_dir, args.distill, args=args, evaluator=ev))
        return 0
    if args.strategy or args.sensitivity:
        from . import baselines

        if args.strategy:
            baselines.run_search(ev, args, out_dir, start=params)
        if args.sensitivity:
            baselines.run_sensitivity(ev, args, out_dir, base=params)
        return 0
    if args.reason or args.replay:
        from .inner import run_l1

        run_l1(ev, args, out_dir, start=params)
        return 0
    # default action: evaluate
    res = ev.evaluate(params)
    print(res.table())
    if args.collect_failures:
        Path(args.collect_failures).write_text(json.dumps([f.to_dict() for f in res.failures], indent=1),
                                               encoding="utf-8")
        say(f"wrote {len(res.failures)} failures to {args.collect_failures}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = run(argv)
        sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
        return code
    except BrokenPipeError:  # ripmap-train --list | head -1: the reader has all it wants
        drop_stdout()
        return 0
    except SystemExit:  # argparse: --help, bad usage
        finish_stdout()
        raise
    except RipmapError as e:
        print(f"ripmap-train: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("ripmap-train: interrupted (finished episodes are saved; use --resume)", file=sys.stderr)
        return 130
    except Exception as e:
        if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] in (
                "optuna", "matplotlib", "httpx", "cmaes"):
            print(f"ripmap-train: error: this needs the training extras ({e.name} is missing): "
                  "pip install 'ripmap[train]'", file=sys.stderr)
            return 1
        if os.environ.get("RIPMAP_DEBUG"):
            raise
        verbose = _verbose(argv)
        if verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        first = (str(e).strip().splitlines() or [""])[0]
        print(f"ripmap-train: internal error: {type(e).__name__}: {first} (please report"
              + ("; the traceback is above)" if verbose else "; run with -v for the traceback)"), file=sys.stderr)
        return 1


def _verbose(argv: Sequence[str] | None) -> bool:
    """Whether the failed run asked for -v; its arguments parsed once already, so they parse again."""
    try:
        return bool(build_parser().parse_args(argv).verbose)
    except (SystemExit, Exception):
        return False


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
